"""Living beside Security Onion's own Salt tree (a stand-in, see
``so_standin/README.md``) in one highstate: never two writers, SOC's
configuration never replaced, the telemetry setting either in effect or
reported as not in effect."""

import json
import pathlib

import pytest

from tests.conftest import REPO, _ext_root, state_results

STANDIN = pathlib.Path(__file__).resolve().parent / "so_standin"
ANALYTICS = "/opt/so/conf/soc/analytics.js"
SOC_JSON = "/opt/so/conf/soc/soc.json"
REPO_FILE = "/etc/yum.repos.d/securityonion.repo"
GTM = "googletagmanager.com"

OURS = {
    "analytics": "so-telemetry-soc-config-telemetry-analytics_managed",
    "soc_json": "so-telemetry-soc-config-telemetry-soc_json_managed",
    "repo": "so-telemetry-repo-telemetry-repo_managed",
    "highstate_schedule": "so-telemetry-resync-telemetry-highstate_schedule",
    "patch_schedule": "so-telemetry-patch-os-schedule-telemetry-patch_schedule",
}
HOSTS = {  # the stand-in's state for each artefact, as Security Onion names it
    "analytics": "socanalytics",
    "soc_json": "socconfig",
    "highstate_schedule": "highstate_schedule",
    "patch_schedule": "patch_os_schedule",
}
# What a Security Onion manager's pillar says (README: "On a Security Onion manager").
ON_SO = {"so_telemetry": {"owners": {art: "host" for art in HOSTS}}}


@pytest.fixture
def so_manager(make_sandbox):
    """A manager whose file roots hold the stand-in tree first (its top file
    applies both trees), then this library."""

    def make(pillar):
        box = make_sandbox(pillar=pillar)
        box.write_config(file_roots={"base": [str(STANDIN), str(REPO / "salt"), str(_ext_root())]})
        return box

    return make


def changed(ret):
    return {sid: val["changes"] for sid, val in state_results(ret).items() if val["changes"]}


def highstate_twice(box):
    first = box.salt_call("state.highstate", check=False)
    snap = box.snapshot()
    second = box.salt_call("state.highstate", check=False)
    assert changed(second) == {}, "the second highstate changed something: two writers?"
    assert box.snapshot() == snap, "a file flipped between writers (content, mode or mtime)"
    return state_results(first), state_results(second)


def standin_soc_json(box):
    """SOC's configuration as the stand-in alone renders it."""
    text = box.path(SOC_JSON).read_text()
    return text, json.loads(text)


def test_host_owns_what_it_manages(so_manager):
    box = so_manager(ON_SO)
    first, second = highstate_twice(box)
    for art, sid in HOSTS.items():
        assert first[sid]["result"] is True, (sid, first[sid]["comment"])
        assert first[OURS[art]]["result"] is True and first[OURS[art]]["changes"] == {}
        assert "Owned by the host tree" in first[OURS[art]]["comment"]
        verdict = "does not say" if art == "soc_json" else "matches the effective setting"
        assert verdict in second[OURS[art]]["comment"], second[OURS[art]]["comment"]
    # SOC's whole configuration is the host's, untouched by this library
    text, soc = standin_soc_json(box)
    assert soc["server"]["modules"]["elastic"]["hostUrl"] == "https://so-manager:9200"
    assert "telemetryEnabled" not in text
    # the artefact the host tree does not manage is still this library's
    assert first[OURS["repo"]]["result"] is True and "version=" in box.path(REPO_FILE).read_text()
    jobs = box.schedule_conf()
    assert set(jobs) == {"highstate_schedule", "patch_os_schedule"}, "one resync job and one update job"
    assert jobs["patch_os_schedule"]["return_job"] is True, "the host's job, not rewritten by this library"
    audit = box.salt_call("telemetry.audit")
    assert audit["result"] is True and audit["mismatches"] == {}


def test_host_file_not_matching_the_setting_is_reported(so_manager):
    """Telemetry off, but the host tree's analytics.js still loads Tag Manager
    and its patch job is still there: a failure that says so."""
    box = so_manager(ON_SO)
    box.salt_call("state.highstate", check=False)
    box.set_pillar({**ON_SO, "soc": {"telemetryEnabled": False}, "global": {"airgap": True}})
    first, _second = highstate_twice(box)
    comment = first[OURS["analytics"]]["comment"]
    assert "DOES NOT match" in comment and "still loads www.googletagmanager.com" in comment
    assert GTM in box.path(ANALYTICS).read_text(), "the host's file is the host's: not rewritten"
    audit = box.salt_call("telemetry.audit", check=False)
    assert audit["result"] is False
    assert set(audit["mismatches"]) == {"analytics", "patch_schedule"}
    assert "airgap" in audit["mismatches"]["patch_schedule"]["detail"]
    report = box.salt_call("telemetry.report")
    assert report["host_checks"]["analytics"]["matches"] is False
    status = box.cli("status")
    assert status.returncode == 0, status.stderr
    assert "DOES NOT match" in status.stdout and "analytics.js" in status.stdout, status.stdout


def test_library_owner_refuses_to_be_a_second_writer(so_manager):
    """The library is told it owns everything, but the host tree writes the
    same files and jobs in the same run: it refuses, naming the other state,
    and nothing flips."""
    box = so_manager({})
    first, second = highstate_twice(box)
    for art, other in HOSTS.items():
        ret = first[OURS[art]]
        assert ret["result"] is False and ret["changes"] == {}, (art, ret)
        assert f"state {other} " in ret["comment"] and f"so_telemetry:owners:{art}: host" in ret["comment"]
        assert second[OURS[art]]["result"] is False
    text, soc = standin_soc_json(box)
    assert "telemetryEnabled" not in text, "the library merged into a file another state writes"
    assert soc["server"]["srvKey"] == "stand-in-key="
    assert set(box.schedule_conf()) == {"highstate_schedule", "patch_os_schedule"}


def test_library_merges_into_socs_configuration_when_it_owns_it(make_sandbox):
    """Where no other state writes soc.json, the library owns it: it merges
    its keys into the file SOC already has (here left by an earlier run of
    the host tree) and keeps every other key."""
    box = make_sandbox(pillar={"soc": {"telemetryEnabled": False}})
    standin = make_sandbox()
    standin.write_config(file_roots={"base": [str(STANDIN)]})
    standin.salt_call("state.apply", "soc.config")
    box.path(SOC_JSON).parent.mkdir(parents=True)
    box.path(SOC_JSON).write_bytes(standin.path(SOC_JSON).read_bytes())
    _text, before = standin_soc_json(standin)
    box.salt_call("state.apply", "so_telemetry.soc")
    after = json.loads(box.path(SOC_JSON).read_text())
    expected = json.loads(json.dumps(before))
    expected["server"]["client"]["telemetryEnabled"] = False
    assert after == expected
