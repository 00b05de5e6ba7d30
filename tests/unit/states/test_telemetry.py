"""The state module (``_states/telemetry.py``) with Salt's loader dunders
injected: the states ask the real engine (``so_telemetry_core``) over
``__opts__``/``__grains__``/``__pillar__``, and ``__states__`` records what
they hand to Salt's own ``file.managed`` and ``schedule.*`` (those run for
real in tests/functional). Every case runs with ``test=True`` and
``test=False``: the states only orchestrate, so both modes must hand Salt the
same decision."""

import copy
import os

import pytest
import so_telemetry_core as core
from salt.exceptions import CommandExecutionError

from tests.unit.conftest import load_module, saved_schedule

ANALYTICS = "/opt/so/conf/soc/analytics.js"
SOC_JSON = "/opt/so/conf/soc/soc.json"
REPO_FILE = "/etc/yum.repos.d/securityonion.repo"


STATES = load_module("_states/telemetry.py", "telemetry_states")


class FakeStates(dict):
    """``__states__``: records each call; answers like Salt would when
    something changes."""

    def __init__(self):
        super().__init__()
        self.calls = []
        for fun in ("file.managed", "schedule.present", "schedule.absent"):
            self[fun] = self._recorder(fun)

    def _recorder(self, fun):
        def call(name, **kwargs):
            self.calls.append((fun, name, kwargs))
            return {"name": name, "result": True, "changes": {"recorded": fun}, "comment": f"{fun} called"}

        return call


@pytest.fixture(params=[True, False], ids=["test", "real"])
def salt_test_mode(request):
    return request.param


@pytest.fixture
def states():
    return FakeStates()


@pytest.fixture
def lowstate(monkeypatch):
    """``__lowstate__``: the other states of this run (salt-factories' loader
    mock does not know this dunder, so it is set on the module directly)."""
    chunks = []
    monkeypatch.setattr(STATES, "__lowstate__", chunks, raising=False)
    return chunks


@pytest.fixture(autouse=True)
def loader(grains, pillar, opts, context, states, lowstate, salt_test_mode, workdir):
    """The loader dunders, injected by hand (salt-factories'
    ``configure_loader_modules`` cannot take a parametrised fixture).
    ``__salt__`` has what the states ask Salt for: that the execution module
    is loaded, and ``schedule.list``."""
    from unittest.mock import patch  # pylint: disable=import-outside-toplevel

    opts.update(test=salt_test_mode, so_telemetry_root="", conf_file=str(workdir / "minion"))
    salt_funs = {"telemetry.settings": None, "schedule.list": lambda **_kw: saved_schedule(opts),
                 # a fresh compile of the same pillar (the consent state asks it before recording)
                 "pillar.items": lambda **_kw: copy.deepcopy(pillar)}
    with patch.multiple(STATES, create=True, __grains__=grains, __pillar__=pillar, __opts__=opts,
                        __context__=context, __salt__=salt_funs, __states__=states):
        assert STATES.__virtual__() == "telemetry"
        yield


def only_call(states, fun):
    assert [c[0] for c in states.calls] == [fun], states.calls
    return states.calls[0]


def test_analytics_hands_the_decision_to_file_managed(states):
    ret = STATES.analytics_managed(ANALYTICS)
    assert ret["result"] is True
    _fun, name, kwargs = only_call(states, "file.managed")
    assert name == ANALYTICS
    assert "googletagmanager.com/gtm.js" in kwargs["contents"] and "GTM-TM46SL7T" in kwargs["contents"]
    assert (kwargs["user"], kwargs["group"], kwargs["mode"]) == (939, 939, "0600")
    assert kwargs["contents_newline"] is False and "show_changes" not in kwargs


@pytest.mark.parametrize("grains_airgap,pillar_soc", [(True, True), (False, False)], ids=["airgapped", "off"])
def test_analytics_off_is_an_empty_file(states, grains, pillar, grains_airgap, pillar_soc):
    if grains_airgap:
        grains["airgap"] = True
    pillar["soc"] = {"telemetryEnabled": pillar_soc}
    STATES.analytics_managed(ANALYTICS)
    assert only_call(states, "file.managed")[2]["contents"] == ""


def test_name_must_be_the_configured_path(states):
    ret = STATES.analytics_managed("/tmp/elsewhere.js")
    assert ret["result"] is False and ANALYTICS in ret["comment"] and states.calls == []


def test_bad_pillar_is_refused_before_salt_is_asked(states, pillar):
    pillar["soc"] = {"telemetryEnabled": "maybe"}
    for fun, name in ((STATES.analytics_managed, ANALYTICS), (STATES.soc_json_managed, SOC_JSON)):
        ret = fun(name)
        assert ret["result"] is False and ret["changes"] == {}
        assert "soc:telemetryEnabled" in ret["comment"] and "'maybe'" in ret["comment"]
    assert states.calls == []


def test_malformed_airgap_is_a_warning(states, pillar):
    pillar["global"] = {"airgap": "perhaps"}
    ret = STATES.repo_managed(REPO_FILE)
    assert any("global:airgap='perhaps'" in w and "fail closed" in w for w in ret["warnings"])
    assert "file:///nsm/repo/" in only_call(states, "file.managed")[2]["contents"]


def test_repo_with_a_proxy_password_shows_no_diff(states, pillar):
    pillar["manager"] = {"proxy": "http://u:pw%21@proxy.corp.lan:3128"}
    STATES.repo_managed(REPO_FILE)
    kwargs = only_call(states, "file.managed")[2]
    assert kwargs["show_changes"] is False and kwargs["mode"] == "0600"
    assert "proxy_password=pw!" in kwargs["contents"]


def test_soc_json_merges_into_what_is_on_disk(states, opts, workdir):
    root = workdir / "root"
    target = root / SOC_JSON.lstrip("/")
    target.parent.mkdir(parents=True)
    target.write_text('{"server": {"baseUrl": "/", "client": {"docsUrl": "/docs/"}}}')
    opts["so_telemetry_root"] = str(root)
    STATES.soc_json_managed(str(target))
    contents = only_call(states, "file.managed")[2]["contents"]
    assert '"baseUrl": "/"' in contents and '"docsUrl": "/docs/"' in contents
    assert '"telemetryEnabled": true' in contents


def test_unparsable_soc_json_is_never_handed_to_salt(states, opts, workdir):
    root = workdir / "root"
    target = root / SOC_JSON.lstrip("/")
    target.parent.mkdir(parents=True)
    target.write_text("{oops")
    opts["so_telemetry_root"] = str(root)
    ret = STATES.soc_json_managed(str(target))
    assert ret["result"] is False and "refusing to overwrite" in ret["comment"] and states.calls == []


def test_host_owned_artefact_is_not_written(states, pillar):
    pillar["so_telemetry"] = {"owners": {"analytics": "host", "repo": "host", "patch_schedule": "host"}}
    for ret in (STATES.analytics_managed(ANALYTICS), STATES.repo_managed(REPO_FILE),
                STATES.patch_schedule("patch_os_schedule")):
        assert ret["result"] is True and ret["changes"] == {}
        assert "Owned by the host tree" in ret["comment"]
    assert states.calls == []


@pytest.mark.parametrize(
    "chunk,fun,name",
    [
        ({"state": "file", "fun": "managed", "name": ANALYTICS, "__id__": "socanalytics", "__sls__": "soc.config"},
         "analytics_managed", ANALYTICS),
        ({"state": "pkgrepo", "fun": "managed", "name": "securityonion", "__id__": "so_repo",
          "__sls__": "repo.client.oracle"}, "repo_managed", REPO_FILE),
        ({"state": "schedule", "fun": "present", "name": "patch_os_schedule", "__id__": "patch_os_schedule",
          "__sls__": "patch.os.schedule"}, "patch_schedule", "patch_os_schedule"),
    ],
    ids=["analytics", "pkgrepo", "patch-job"],
)
def test_second_writer_in_the_same_run_is_refused(states, lowstate, chunk, fun, name):
    lowstate.append(chunk)
    ret = getattr(STATES, fun)(name)
    assert ret["result"] is False and f"state {chunk['__id__']} ({chunk['__sls__']})" in ret["comment"]
    assert states.calls == []


def test_resync_job_is_built_by_the_engine(states, ctx):
    STATES.highstate_schedule("highstate_schedule")
    _fun, name, kwargs = only_call(states, "schedule.present")
    assert name == "highstate_schedule"
    assert kwargs == core.schedule.resync_job(ctx())["job"]


def test_patch_job_security_onion_days(states, pillar):
    pillar["patch"] = {"os": {"schedule_to_run": "weekends"}}
    STATES.patch_schedule("patch_os_schedule")
    kwargs = only_call(states, "schedule.present")[2]
    assert kwargs["when"] == ["Saturday 08:00", "Sunday 08:00"] and kwargs["splay"] == 900
    assert kwargs["job_args"] == ["so_telemetry.patch.os"] and kwargs["run_on_start"] is False


def test_patch_job_absent_when_off(states, pillar):
    pillar["patch"] = {"os": {"enabled": False}}
    ret = STATES.patch_schedule("patch_os_schedule")
    assert only_call(states, "schedule.absent")[1] == "patch_os_schedule"
    assert "patch:os:enabled is false" in ret["comment"]


def test_legacy_job_removed_alongside(states, opts, workdir):
    (workdir / "minion.d").mkdir()
    (workdir / "minion.d" / "_schedule.conf").write_text("schedule:\n  highstate: {function: state.highstate}\n")
    STATES.highstate_schedule("highstate_schedule", offline=True)
    assert [(c[0], c[1], c[2].get("offline")) for c in states.calls] == [
        ("schedule.present", "highstate_schedule", True),
        ("schedule.absent", "highstate", True),
    ]


def test_job_name_must_be_the_configured_one(states):
    ret = STATES.highstate_schedule("highstate")
    assert ret["result"] is False and "highstate_schedule" in ret["comment"] and states.calls == []


def test_engine_errors_are_command_execution_errors(ctx, pillar):
    pillar["so_telemetry"] = {"owners": {"analytics": "salt"}}
    with pytest.raises(CommandExecutionError, match="so_telemetry:owners:analytics"):
        core.files.owners(ctx())
    pillar["so_telemetry"] = {"owners": {"nope": "host"}}
    with pytest.raises(CommandExecutionError, match="unknown artefacts"):
        core.files.owners(ctx())



# --------------------------------------------------------------------------
# the consent trail

TRAIL = "/opt/so/log/so-telemetry/consent.jsonl"


@pytest.fixture
def trail(opts, workdir):
    opts["so_telemetry_root"] = str(workdir)
    return workdir / TRAIL.lstrip("/")


def test_consent_first_run_records_each_channel_once(trail, salt_test_mode):
    ret = STATES.consent_recorded(str(trail))
    recs = ret["changes"]["records"]
    assert [(r["channel"], r["old"], r["new"], r["via"], r["by"]) for r in recs] == [
        ("soc", None, "on", "highstate", "unknown"), ("os_updates", None, "on", "highstate", "unknown"),
        ("airgap", None, "off", "highstate", "unknown")]
    assert recs[1]["source"] == "/opt/so/saltstack/local/pillar/patch/soc_patch.sls patch:os:enabled"
    if salt_test_mode:
        assert ret["result"] is None and ret["comment"].startswith("Would record") and not trail.exists()
        assert not trail.parent.exists(), "test=True created the directory"
        return
    assert ret["result"] is True and ret["comment"].startswith("Recorded")
    assert [core.trail.dumps(r) for r in recs] == trail.read_text().splitlines()
    before = trail.stat().st_mtime_ns
    again = STATES.consent_recorded(str(trail))
    assert again["result"] is True and again["changes"] == {} and "up to date" in again["comment"]
    assert trail.stat().st_mtime_ns == before


def test_consent_records_only_what_changed(trail, pillar, grains, salt_test_mode):
    core.trail.write(core.trail.read(str(trail)), core.trail.chain(core.trail.Trail(str(trail)), [
        core.consent.entry(c, None, s, "highstate", "unknown", "x") for c, s in
        (("soc", "on"), ("os_updates", "on"), ("airgap", "off"))]))
    grains["airgap"] = True
    ret = STATES.consent_recorded(str(trail))
    assert [(r["channel"], r["old"], r["new"], r["seq"]) for r in ret["changes"]["records"]] == [
        ("soc", "on", "off", 4), ("os_updates", "on", "off", 5), ("airgap", "off", "on", 6)]
    assert ret["changes"]["records"][0]["source"] == "grain airgap"
    assert len(trail.read_text().splitlines()) == (3 if salt_test_mode else 6)


def test_consent_pillar_changed_during_the_run_is_left_to_the_next(trail, pillar, salt_test_mode):
    STATES.__opts__["test"] = False
    STATES.consent_recorded(str(trail))
    STATES.__opts__["test"] = salt_test_mode
    before = trail.read_bytes()
    pillar["soc"] = {"telemetryEnabled": False}  # this run's pillar; the pillar on disk says true again
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(STATES.__salt__, "pillar.items", lambda **_kw: {"soc": {"telemetryEnabled": True}})
        ret = STATES.consent_recorded(str(trail))
    assert ret["result"] is True and ret["changes"] == {}
    assert "the pillar of soc changed during this run: the next highstate records it" in ret["comment"]
    assert trail.read_bytes() == before


def test_consent_trail_older_than_the_job_compiles_no_pillar_again(trail, pillar, salt_test_mode):
    """The pillar is compiled again only when the trail was written after this
    job began (only a writer of the trail can make this run's pillar record a
    wrong change): an older trail, and the change this run's pillar shows is
    recorded without asking for the pillar again."""
    STATES.__opts__["test"] = False
    STATES.consent_recorded(str(trail))
    STATES.__opts__["test"] = salt_test_mode
    old = core.trail.process_started() - 3600
    os.utime(trail, (old, old))
    pillar["soc"] = {"telemetryEnabled": False}

    def compiled(**_kw):
        raise AssertionError("pillar compiled again for a trail older than the job")

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(STATES.__salt__, "pillar.items", compiled)
        ret = STATES.consent_recorded(str(trail))
    assert [(r["channel"], r["old"], r["new"]) for r in ret["changes"]["records"]] == [("soc", "on", "off")]
    assert len(trail.read_text().splitlines()) == (3 if salt_test_mode else 4)


def test_consent_broken_channel_fails_the_others_recorded(trail, pillar, salt_test_mode):
    pillar["soc"] = {"telemetryEnabled": "maybe"}
    ret = STATES.consent_recorded(str(trail))
    assert ret["result"] is False and "soc not recorded: pillar key 'soc:telemetryEnabled'" in ret["comment"]
    assert [r["channel"] for r in ret["changes"]["records"]] == ["os_updates", "airgap"]
    assert trail.exists() is not salt_test_mode


def test_consent_refuses_another_name_and_a_bad_path(trail, pillar):
    ret = STATES.consent_recorded("/tmp/elsewhere.jsonl")
    assert ret["result"] is False and str(trail) in ret["comment"]
    pillar["so_telemetry"] = {"consent": {"path": "relative"}}
    ret = STATES.consent_recorded(str(trail))
    assert ret["result"] is False and "so_telemetry:consent:path" in ret["comment"] and not trail.exists()


def test_consent_trail_that_does_not_verify_is_a_warning(trail, salt_test_mode):
    STATES.__opts__["test"] = False
    STATES.consent_recorded(str(trail))
    STATES.__opts__["test"] = salt_test_mode
    lines = trail.read_bytes().splitlines()
    trail.write_bytes(b"\n".join([lines[0], lines[2]]) + b"\n")
    ret = STATES.consent_recorded(str(trail))
    assert any("does not verify: record 2 removed before line 2" in w for w in ret["warnings"]), ret
    # the removed os_updates record is no longer the trail's: recorded again as found
    assert [(r["channel"], r["old"], r["seq"]) for r in ret["changes"]["records"]] == [("os_updates", None, 4)]
    assert len(trail.read_bytes().splitlines()) == (2 if salt_test_mode else 3)
