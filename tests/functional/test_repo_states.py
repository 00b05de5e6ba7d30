"""Repository definition and schedules through the real salt-call."""

import configparser
import urllib.parse

import pytest

from tests.conftest import state_results
from tests.saltcompat import assert_schedule_add_predicted

REPO_FILE = "/etc/yum.repos.d/securityonion.repo"
SID = "so-telemetry-repo-telemetry-repo_managed"

CASES = {
    # grains, pillar, expected mode
    "manager-on": ({}, {}, "upstream-query"),
    "standalone-on": ({"role": "so-standalone"}, {}, "upstream-query"),
    "manager-updates-off": ({}, {"patch": {"os": {"enabled": False}}}, "upstream-plain"),
    "airgap-grain": ({"airgap": True}, {}, "airgap"),
    "airgap-pillar": ({}, {"global": {"airgap": True}}, "airgap"),
    "node": ({"role": "so-sensor"}, {"global": {"manager": "manager.example.lan"}}, "node"),
}


def parse(text):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    assert parser.sections() == ["securityonion"]
    return parser["securityonion"]


@pytest.mark.parametrize("test_mode", [True, False], ids=["test", "real"])
@pytest.mark.parametrize("case", list(CASES))
def test_repo_file(make_sandbox, case, test_mode):
    grains, pillar, mode = CASES[case]
    box = make_sandbox(grains=grains, pillar=pillar)
    predicted = state_results(box.salt_call("state.apply", "repo", "test=True"))[SID]
    assert predicted["result"] is None and list(predicted["changes"]) == [str(box.path(REPO_FILE))]
    assert box.files() == {}
    if test_mode:
        return
    ret = state_results(box.salt_call("state.apply", "repo"))[SID]
    assert ret["result"] is True and ret["changes"] == predicted["changes"]
    text = box.path(REPO_FILE).read_text()
    section = parse(text)
    urls = section["baseurl"].split()
    query = box.salt_call("telemetry.query_params")
    assert section["gpgcheck"] == "1" and section["sslverify"] == "1" and section["enabled"] == "1"
    if mode.startswith("upstream"):
        assert [urllib.parse.urlsplit(u).hostname for u in urls] == [
            "repo.securityonion.net",
            "repo-alt.securityonion.net",
        ]
        assert all(u.startswith("https://") for u in urls)
        assert section["gpgkey"].startswith("https://sigs.securityonion.net/")
        if mode == "upstream-query":
            assert query == {"version": "2.4.190", "os": "oracle9", "arch": "x86_64"}
            for url in urls:
                assert dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)) == query
        else:
            assert query == {} and "?" not in text
    elif mode == "airgap":
        assert urls == ["file:///nsm/repo/"] and section["gpgkey"].startswith("file:///")
        assert "http" not in text and query == {}
    else:
        assert urls == ["https://manager.example.lan/repo/"]
        assert "securityonion.net" not in text and "?" not in text and query == {}
    assert box.path(REPO_FILE).stat().st_mode & 0o777 == 0o644
    before = box.snapshot()
    again = state_results(box.salt_call("state.apply", "repo"))[SID]
    assert again["changes"] == {} and box.snapshot() == before


HOSTILE = {
    "newline-in-version": ({"global": {"soversion": "2.4.190\ngpgcheck=0"}}, "global:soversion"),
    "cr-in-version": ({"global": {"soversion": "2.4.190\r"}}, "global:soversion"),
    "amp-in-version": ({"global": {"soversion": "2.4.190&extra=1"}}, "global:soversion"),
    "hash-in-license": ({"global": {"license_id": "ABC#1"}}, "global:license_id"),
    "equals-in-license": ({"global": {"license_id": "gpgcheck=0"}}, "global:license_id"),
    "section-in-license": ({"global": {"license_id": "[main]"}}, "global:license_id"),
    "section-in-feature": ({"global": {"features": ["fips", "\n[main]"]}}, "global:features"),
    "http-upstream": (
        {"repo": {"upstream": {"mirrors": ["http://repo.securityonion.net/x/"]}}},
        "repo:upstream:mirrors:0",
    ),
    "newline-in-mirror": (
        {"repo": {"upstream": {"mirrors": ["https://a.example/x/", "https://b.example/\ngpgcheck=0"]}}},
        "repo:upstream:mirrors:1",
    ),
    "http-gpgkey": ({"repo": {"upstream": {"gpgkey": "http://sigs.securityonion.net/k"}}}, "repo:upstream:gpgkey"),
    "section-in-description": ({"repo": {"description": "x\n[main]"}}, "repo:description"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_values_are_refused_and_file_kept(sandbox, case):
    pillar, key = HOSTILE[case]
    sandbox.salt_call("state.apply", "repo")
    before = sandbox.snapshot()
    sandbox.set_pillar(pillar)
    for test_mode in ("test=True", "test=False"):
        ret = state_results(sandbox.salt_call("state.apply", "repo", test_mode, check=False))[SID]
        assert ret["result"] is False, ret
        assert key in ret["comment"], ret["comment"]
        assert ret["changes"] == {}
    assert sandbox.snapshot() == before


def sched(box):
    return box.schedule_conf()


@pytest.mark.parametrize("test_mode", [True, False], ids=["test", "real"])
def test_schedules_present(sandbox, test_mode):
    ret = state_results(sandbox.salt_call("state.apply", "schedule,patch.os.schedule", f"test={test_mode}"))
    hs = ret["so-telemetry-resync-telemetry-highstate_schedule"]
    po = ret["so-telemetry-patch-os-schedule-telemetry-patch_schedule"]
    if test_mode:
        assert_schedule_add_predicted(hs, "highstate", "state.highstate")
        assert_schedule_add_predicted(po, "patch_os", "state.sls")
        assert sched(sandbox) == {}
        return
    jobs = sched(sandbox)
    assert jobs["highstate"]["function"] == "state.highstate"
    assert jobs["highstate"]["minutes"] == 15 and jobs["highstate"]["maxrunning"] == 1
    assert jobs["highstate"]["splay"] == 120 and jobs["highstate"]["run_on_start"] is False
    assert jobs["patch_os"]["function"] == "state.sls" and jobs["patch_os"]["args"] == ["patch.os"]
    assert jobs["patch_os"]["hours"] == 8 and jobs["patch_os"]["splay"] == 1800
    assert jobs["patch_os"]["run_on_start"] is False, "adding the schedule must not start an OS update"
    before = sandbox.snapshot()
    again = state_results(sandbox.salt_call("state.apply", "schedule,patch.os.schedule"))
    assert all(v["changes"] == {} for v in again.values())
    assert sandbox.snapshot() == before


@pytest.mark.parametrize(
    "grains,pillar",
    [
        ({}, {"patch": {"os": {"enabled": False}}}),
        ({"airgap": True}, {"patch": {"os": {"enabled": True}}}),
        ({}, {"global": {"airgap": "sometimes"}}),
    ],
    ids=["disabled", "airgap-grain", "airgap-malformed-pillar"],
)
def test_patch_schedule_absent_when_off(sandbox, grains, pillar):
    sandbox.salt_call("state.apply", "schedule,patch.os.schedule")
    assert "patch_os" in sched(sandbox)
    sandbox.set_grains(**grains)
    sandbox.set_pillar(pillar)
    predicted = state_results(sandbox.salt_call("state.apply", "patch.os.schedule", "test=True"))
    po = predicted["so-telemetry-patch-os-schedule-telemetry-patch_schedule"]
    assert po["result"] is None and po["changes"] == {"patch_os": {"old": "present", "new": None}}
    assert "patch_os" in sched(sandbox)
    sandbox.salt_call("state.apply", "schedule,patch.os.schedule")
    jobs = sched(sandbox)
    assert "patch_os" not in jobs and "highstate" in jobs, "resync is not telemetry: it stays"


def test_schedule_choice_and_unknown_name(sandbox):
    sandbox.set_pillar({"patch": {"os": {"schedule_to_run": "weekly"}}})
    sandbox.salt_call("state.apply", "patch.os.schedule")
    assert sched(sandbox)["patch_os"]["days"] == 7
    before = sandbox.snapshot()
    sandbox.set_pillar({"patch": {"os": {"schedule_to_run": "fortnightly"}}})
    ret = state_results(sandbox.salt_call("state.apply", "patch.os.schedule", check=False))
    po = ret["so-telemetry-patch-os-schedule-telemetry-patch_schedule"]
    assert po["result"] is False
    assert "patch:os:schedule_to_run" in po["comment"] and "fortnightly" in po["comment"]
    assert sandbox.snapshot() == before


def test_resync_interval_from_pillar(sandbox):
    sandbox.set_pillar({"resync": {"highstate": {"minutes": 5, "splay": 30}}})
    sandbox.salt_call("state.apply", "schedule")
    job = sched(sandbox)["highstate"]
    assert job["minutes"] == 5 and job["splay"] == 30
    sandbox.set_pillar({"resync": {"highstate": {"minutes": "soon"}}})
    ret = state_results(sandbox.salt_call("state.apply", "schedule", check=False))
    hs = ret["so-telemetry-resync-telemetry-highstate_schedule"]
    assert hs["result"] is False and "resync:highstate:minutes" in hs["comment"]
    assert sched(sandbox)["highstate"]["minutes"] == 5


@pytest.mark.parametrize("grains,pillar,why", [
    ({}, {"patch": {"os": {"enabled": False}}}, "pillar patch:os:enabled is false"),
    ({"airgap": True}, {}, "airgapped (grain airgap is true)"),
], ids=["disabled", "airgapped"])
def test_patch_run_does_nothing_when_off(make_sandbox, grains, pillar, why):
    box = make_sandbox(grains=grains, pillar=pillar)
    ret = state_results(box.salt_call("state.apply", "patch.os"))
    assert "so-telemetry-patch-os-pkg-uptodate" not in ret
    note = ret["so-telemetry-patch-os-test-show_notification"]
    assert note["result"] is True and why in note["comment"]
