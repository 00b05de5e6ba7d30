"""The repository file (``so_telemetry_core.repo``): its structure per mode, and values that would break it."""

import urllib.parse

import pytest
import so_telemetry_core as core
from salt.exceptions import CommandExecutionError

from tests.unit.conftest import IDENTITY_GRAINS
from tests.unit.core.helpers import (
    DEFAULT_QUERY,
    UPSTREAM_HOSTS,
    assert_no_identity,
    parse_repo,
    repo_text,
)


# --------------------------------------------------------------------------
# 5. repo_file structure

REPO_CASES = {
    "manager-on": ({}, {}, "upstream-query"),
    "standalone-on": ({"role": "so-standalone"}, {}, "upstream-query"),
    "manager-updates-off": ({}, {"patch": {"os": {"enabled": False}}}, "upstream-plain"),
    "airgap-grain": ({"airgap": True}, {}, "airgap"),
    "airgap-pillar": ({}, {"global": {"airgap": True}}, "airgap"),
    "airgap-malformed-grain": ({"airgap": "maybe"}, {}, "airgap"),
    "airgap-node": ({"role": "so-sensor", "airgap": True}, {"global": {"manager": "manager.example.lan"}}, "airgap"),
    "node": ({"role": "so-sensor"}, {"global": {"manager": "manager.example.lan"}}, "node"),
    "node-updates-off": ({"role": "so-sensor"},
                         {"global": {"manager": "manager.example.lan"}, "patch": {"os": {"enabled": False}}}, "node"),
}


@pytest.mark.parametrize("case", list(REPO_CASES))
def test_repo_file(ctx, grains, pillar, case):
    extra_grains, pil, mode = REPO_CASES[case]
    grains.update(IDENTITY_GRAINS)
    grains.update(extra_grains)
    pillar.update(pil)
    text = repo_text(ctx())
    parser = parse_repo(text)
    assert parser.sections() == ["securityonion"]
    section = parser["securityonion"]
    assert section["gpgcheck"] == "1" and section["sslverify"] == "1" and section["enabled"] == "1"
    urls = section["baseurl"].split("\n")
    qstr = core.query.string(ctx())
    definition = core.repo.definition(ctx())
    assert definition["baseurls"] == urls and definition["path"] == "/etc/yum.repos.d/securityonion.repo"
    assert_no_identity(text)
    if mode.startswith("upstream"):
        assert definition["mode"] == "upstream"
        assert [urllib.parse.urlsplit(u).hostname for u in urls] == UPSTREAM_HOSTS
        assert all(u.startswith("https://") for u in urls)
        assert "/oracle/9/" in urls[0]
        assert section["gpgkey"].startswith("https://sigs.securityonion.net/")
        if mode == "upstream-query":
            assert qstr == "version=2.4.190&os=oracle9&arch=x86_64"
            assert all(u.endswith("?" + qstr) for u in urls)
            assert definition["query"] == core.query.params(ctx()) == DEFAULT_QUERY
        else:
            assert qstr == "" and "?" not in text and definition["query"] == {}
    elif mode == "airgap":
        assert definition["mode"] == "airgap"
        assert urls == ["file:///nsm/repo/"]
        assert section["gpgkey"].startswith("file:///")
        assert "http" not in text and "?" not in text
        assert qstr == ""
    else:
        assert definition["mode"] == "node"
        assert urls == ["https://manager.example.lan/repo/"]
        assert "securityonion.net" not in text and "?" not in text
        assert qstr == ""
    # the written text parses back to exactly the keys we set
    assert set(section) == {"name", "baseurl", "enabled", "gpgcheck", "repo_gpgcheck", "gpgkey",
                            "sslverify", "skip_if_unavailable"}


def test_node_falls_back_to_master_opt(ctx, grains, opts):
    grains["role"] = "so-sensor"
    opts["master"] = "salt.example.lan"
    assert core.repo.definition(ctx())["baseurls"] == ["https://salt.example.lan/repo/"]


@pytest.mark.parametrize("manager", ["", "manager.example.lan/evil", "a b", "manager\ngpgcheck=0",
                                     "http://manager", 5], ids=repr)
def test_node_needs_a_valid_manager(ctx, grains, pillar, manager):
    grains["role"] = "so-sensor"
    pillar["global"] = {"manager": manager}
    with pytest.raises(CommandExecutionError, match="global:manager|repo:node:baseurl"):
        repo_text(ctx())


def test_repo_root_prefix(ctx, opts):
    opts["so_telemetry_root"] = "/tmp/sandbox/root/"
    assert core.repo.definition(ctx())["path"] == "/tmp/sandbox/root/etc/yum.repos.d/securityonion.repo"


@pytest.mark.parametrize("key,value", [("id", "secur ity"), ("id", "a]\n[b"), ("description", "x\ngpgcheck=0"),
                                       ("description", "a=b"), ("description", "")], ids=repr)
def test_repo_id_and_description_cannot_break_the_file(ctx, pillar, key, value):
    pillar["repo"] = {key: value}
    with pytest.raises(CommandExecutionError, match=f"repo:{key}"):
        repo_text(ctx())


@pytest.mark.parametrize("key,value", [("airgap", {"baseurl": "https://evil.example/"}),
                                       ("airgap", {"gpgkey": "file:///k?x"})], ids=repr)
def test_airgap_urls_must_be_local(ctx, grains, pillar, key, value):
    grains["airgap"] = True
    pillar["repo"] = {key: value}
    with pytest.raises(CommandExecutionError, match="repo:airgap"):
        repo_text(ctx())
