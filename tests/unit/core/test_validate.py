"""Validation across the engine: every bad value is refused naming the key; a broken channel does not hold
up the other; the merge rule (``so_telemetry_core.config``)."""

import json

import pytest
import so_telemetry_core as core
from salt.exceptions import CommandExecutionError

from tests.unit.core.helpers import (
    ANALYTICS,
    DEFAULT_QUERY,
    configs,
    repo_text,
    soc_files,
)


# --------------------------------------------------------------------------
# 3. validation

BAD_BOOLS = ["maybe", 2, [], "true", None, "false", 0, 1, {}]


@pytest.mark.parametrize("value", BAD_BOOLS, ids=repr)
def test_soc_switch_must_be_bool(ctx, pillar, value):
    pillar["soc"] = {"telemetryEnabled": value}
    with pytest.raises(CommandExecutionError) as err:
        core.decide.settings(ctx())
    assert "soc:telemetryEnabled" in str(err.value)
    assert repr(value) in str(err.value)


@pytest.mark.parametrize("value", BAD_BOOLS, ids=repr)
def test_patch_switch_must_be_bool(ctx, pillar, value):
    pillar["patch"] = {"os": {"enabled": value}}
    with pytest.raises(CommandExecutionError) as err:
        core.decide.settings(ctx())
    assert "patch:os:enabled" in str(err.value)
    assert repr(value) in str(err.value)


@pytest.mark.parametrize("airgapped", [False, True])
@pytest.mark.parametrize("value", ["maybe", "true", None], ids=repr)
def test_bad_switch_is_an_error_even_when_airgapped(ctx, pillar, value, airgapped):
    """A wrong type is reported, never silently ignored or coerced."""
    pillar["soc"] = {"telemetryEnabled": value}
    pillar["global"] = {"airgap": airgapped}
    with pytest.raises(CommandExecutionError, match="soc:telemetryEnabled"):
        core.decide.settings(ctx())


@pytest.mark.parametrize("name", ["nope", "Auto", "", 5, None, ["auto"]], ids=repr)
def test_unknown_schedule(ctx, pillar, name):
    pillar["patch"] = {"os": {"schedule_to_run": name}}
    with pytest.raises(CommandExecutionError) as err:
        core.decide.settings(ctx())
    assert "patch:os:schedule_to_run" in str(err.value)
    assert repr(name) in str(err.value)


@pytest.mark.parametrize("name", ["daily", "monday", "weekends", "custom"])
def test_known_schedule(ctx, pillar, name):
    pillar["patch"] = {"os": {"schedule_to_run": name, "schedules": {"custom": {"hours": 2}}}}
    assert core.decide.settings(ctx())["os_updates"]["enabled"] is True


@pytest.mark.parametrize(
    "mirrors,index",
    [
        (["http://repo.securityonion.net/x/"], 0),
        (["ftp://repo.securityonion.net/x/"], 0),
        (["repo.securityonion.net/x/"], 0),
        (["https://repo.securityonion.net/x/", "http://repo-alt.securityonion.net/x/"], 1),
        (["https://repo.securityonion.net/x/?a=b"], 0),
        (["https://repo.securityonion.net/x/#frag"], 0),
        (["https://repo.securityonion.net/x/\ngpgcheck=0"], 0),
        (["https:///x/"], 0),
        ([5], 0),
    ],
    ids=repr,
)
def test_upstream_mirror_must_be_https(ctx, pillar, mirrors, index):
    pillar["repo"] = {"upstream": {"mirrors": mirrors}}
    with pytest.raises(CommandExecutionError) as err:
        core.repo.definition(ctx())
    assert f"repo:upstream:mirrors:{index}" in str(err.value)


@pytest.mark.parametrize("mirrors", [[], "https://repo.securityonion.net/x/", None], ids=repr)
def test_upstream_mirrors_must_be_a_list(ctx, pillar, mirrors):
    pillar["repo"] = {"upstream": {"mirrors": mirrors}}
    with pytest.raises(CommandExecutionError, match="repo:upstream:mirrors"):
        core.repo.definition(ctx())


@pytest.mark.parametrize("template", ["https://repo.example/{arch}/", "https://repo.example/{0}/"])
def test_mirror_template_unknown_placeholder(ctx, pillar, template):
    pillar["repo"] = {"upstream": {"mirrors": [template]}}
    with pytest.raises(CommandExecutionError, match="repo:upstream:mirrors:0"):
        core.repo.definition(ctx())


@pytest.mark.parametrize("comp", ["soc", "global", "patch", "repo"])
@pytest.mark.parametrize("value", ["x", ["a"], 5, True], ids=repr)
def test_component_pillar_must_be_a_mapping(ctx, pillar, comp, value):
    pillar[comp] = value
    second = core.repo.definition if comp == "repo" else core.decide.settings
    for func in (lambda: core.config.component(ctx(), comp), lambda: second(ctx())):
        with pytest.raises(CommandExecutionError) as err:
            func()
        assert f"'{comp}'" in str(err.value)
        assert repr(value) in str(err.value)


@pytest.mark.parametrize(
    "broken,pil",
    [("soc", {"soc": "x"}), ("soc", {"soc": {"telemetryEnabled": "maybe"}}),
     ("os_updates", {"patch": {"os": {"enabled": "maybe"}}}),
     ("os_updates", {"patch": {"os": {"schedule_to_run": "nope"}}})],
    ids=repr,
)
def test_a_broken_channel_does_not_hold_up_the_other(ctx, pillar, broken, pil):
    """settings(channel) only requires that channel's keys to be valid; the
    broken one shows as off, with the error as its reason."""
    pillar.update(pil)
    other = "os_updates" if broken == "soc" else "soc"
    with pytest.raises(CommandExecutionError):
        core.decide.settings(ctx())
    with pytest.raises(CommandExecutionError):
        core.decide.settings(ctx(), broken)
    state = core.decide.settings(ctx(), other)
    assert state[other]["enabled"] is True
    assert state[broken]["enabled"] is False and "invalid pillar" in state[broken]["reason"]
    if broken == "soc":
        assert core.query.params(ctx()) == DEFAULT_QUERY
        assert "?" in repo_text(ctx())
        with pytest.raises(CommandExecutionError):
            soc_files(ctx())
    else:
        assert soc_files(ctx())[ANALYTICS] != ""
        with pytest.raises(CommandExecutionError):
            repo_text(ctx())


def test_unknown_channel(ctx):
    with pytest.raises(CommandExecutionError, match="unknown channel"):
        core.decide.settings(ctx(), "nope")


def test_empty_component_pillar_means_defaults(ctx, pillar):
    pillar.update({"soc": None, "global": None, "patch": None})
    assert core.decide.settings(ctx())["soc"]["enabled"] is True


def test_unknown_component(ctx):
    with pytest.raises(CommandExecutionError, match="unknown component"):
        core.config.component(ctx(), "nope")


def test_defaults_read_beside_the_checkout(ctx, context):
    """With no cp module and an empty context, defaults come from salt/<comp>/defaults.yaml."""
    context.clear()
    conf = configs(ctx())
    assert set(conf) == set(core.config.COMPONENTS)
    assert conf["soc"]["telemetryEnabled"] is True
    assert conf["patch"]["os"]["enabled"] is True
    assert conf["global"]["airgap"] is False


def test_pillar_merges_over_defaults(ctx, pillar):
    pillar["soc"] = {"analytics": {"container_id": "GTM-ABCD123"}}
    conf = core.config.component(ctx(), "soc")
    assert conf["analytics"]["container_id"] == "GTM-ABCD123"
    assert conf["analytics"]["url"] == "https://www.googletagmanager.com/gtm.js"
    assert conf["telemetryEnabled"] is True


def test_config_does_not_mutate_pillar(ctx, pillar):
    pillar["soc"] = {"config": {"server": {"client": {"telemetryEnabled": True}}}}
    pillar["global"] = {"airgap": True}
    before = json.dumps(pillar, sort_keys=True)
    soc_files(ctx())
    core.report.report(ctx())
    assert json.dumps(pillar, sort_keys=True) == before
