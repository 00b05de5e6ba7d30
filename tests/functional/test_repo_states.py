"""Repository definition and schedules through Salt's state system: Salt's
masterless minion in this process (``tests/functional/inproc.py``: Salt's
loader, ``file.managed``, ``schedule.*``, ``test=True``, modes and owners)
and, once, the real ``salt-call --local`` subprocess. What the engine
decides for every input is proven in ``tests/unit/core`` (``test_repo.py``,
``test_query.py``, ``test_validate.py``, the sweep in ``test_hostile.py``)."""

import configparser
import json
import urllib.parse

import pytest

from tests.conftest import state_results
from tests.functional.inproc import inprocess_sandbox, inprocess_sandboxes  # noqa: F401  (fixtures: sandbox, make_sandbox)

REPO_FILE = "/etc/yum.repos.d/securityonion.repo"
SID = "so-telemetry-repo-telemetry-repo_managed"
HS = "highstate_schedule"  # Security Onion 2.4's job names
PO = "patch_os_schedule"
HS_SID = "so-telemetry-resync-telemetry-highstate_schedule"
PO_SID = "so-telemetry-patch-os-schedule-telemetry-patch_schedule"
SCHEDULES = "so_telemetry.resync,so_telemetry.patch.os.schedule"

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


def sched(box):
    return box.schedule_conf()


def test_through_the_real_salt_call(make_sandbox):
    """One ``salt-call --local`` subprocess per step, three state files in
    each: test=True predicts and writes nothing; the run writes the
    repository file (root 0644) and Security Onion's two jobs; a second run
    changes nothing."""
    box = make_sandbox()
    sls = f"so_telemetry.repo,{SCHEDULES}"
    predicted = state_results(box.subprocess_call("state.apply", sls, "test=True"))
    assert predicted[SID]["result"] is None and predicted[SID]["changes"], predicted[SID]
    assert predicted[HS_SID]["result"] is None and predicted[HS_SID]["changes"] == {HS: "added"}
    assert predicted[PO_SID]["result"] is None and predicted[PO_SID]["changes"] == {PO: "added"}
    assert box.files() == {} and sched(box) == {}, "test=True wrote something"

    ret = state_results(box.subprocess_call("state.apply", sls))
    assert all(v["result"] is True and v["changes"] for v in ret.values()), ret
    section = parse(box.path(REPO_FILE).read_text())
    assert "version=2.4.190&os=oracle9&arch=x86_64" in section["baseurl"]
    st = box.path(REPO_FILE).stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o644)
    jobs = sched(box)
    assert set(jobs) == {HS, PO}, "Security Onion's job names, one job each"
    assert jobs[HS]["function"] == "state.highstate"
    assert jobs[HS]["minutes"] == 15 and jobs[HS]["maxrunning"] == 1
    assert jobs[HS]["splay"] == 120 and jobs[HS]["run_on_start"] is False
    assert jobs[PO]["function"] == "state.sls" and jobs[PO]["args"] == ["so_telemetry.patch.os"]
    assert jobs[PO]["hours"] == 8 and jobs[PO]["splay"] == 900, "Security Onion's auto schedule"
    assert jobs[PO]["run_on_start"] is False, "adding the schedule must not start an OS update"

    before = box.snapshot()
    again = state_results(box.subprocess_call("state.apply", sls))
    assert all(v["result"] is True and v["changes"] == {} for v in again.values()), again
    assert box.snapshot() == before


@pytest.mark.parametrize("case", list(CASES))
def test_repo_file(make_sandbox, case):
    grains, pillar, mode = CASES[case]
    box = make_sandbox(grains=grains, pillar=pillar)
    predicted = state_results(box.salt_call("state.apply", "so_telemetry.repo", "test=True"))[SID]
    assert predicted["result"] is None and predicted["changes"], predicted
    assert predicted["name"] == str(box.path(REPO_FILE)), "the state is named after the file it manages"
    assert box.files() == {}
    ret = state_results(box.salt_call("state.apply", "so_telemetry.repo"))[SID]
    assert ret["result"] is True and ret["changes"]
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
    st = box.path(REPO_FILE).stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o644)
    assert "proxy" not in text
    before = box.snapshot()
    again = state_results(box.salt_call("state.apply", "so_telemetry.repo"))[SID]
    assert again["changes"] == {} and box.snapshot() == before


# One value per key family; each value's refusal by the engine (and many
# more values) is proven in tests/unit/core (test_query.py INJECTIONS,
# test_validate.py, test_repo.py, the sweep in test_hostile.py).
HOSTILE = {
    "newline-in-version": ({"global": {"soversion": "2.4.190\ngpgcheck=0"}}, "global:soversion"),
    "section-in-license": ({"global": {"license_id": "[main]"}}, "global:license_id"),
    "newline-in-mirror": (
        {"repo": {"upstream": {"mirrors": ["https://a.example/x/", "https://b.example/\ngpgcheck=0"]}}},
        "repo:upstream:mirrors:1",
    ),
    "http-gpgkey": ({"repo": {"upstream": {"gpgkey": "http://sigs.securityonion.net/k"}}}, "repo:upstream:gpgkey"),
}


def test_hostile_values_are_refused_and_file_kept(sandbox):
    sandbox.salt_call("state.apply", "so_telemetry.repo")
    before = sandbox.snapshot()
    for case, (pillar, key) in HOSTILE.items():
        sandbox.set_pillar(pillar)
        for test_mode in ("test=True", "test=False"):
            ret = state_results(sandbox.salt_call("state.apply", "so_telemetry.repo", test_mode, check=False))[SID]
            assert ret["result"] is False, (case, test_mode, ret)
            assert key in ret["comment"], (case, ret["comment"])
            assert ret["changes"] == {}, case
        assert sandbox.snapshot() == before, case


def test_patch_schedule_absent_when_off(sandbox):
    """Each way OS updates are off (the switch, a malformed pillar airgap, the
    airgap grain) removes the update job, test=True first; resync stays."""
    for case, grains, pillar in (
        ("disabled", {}, {"patch": {"os": {"enabled": False}}}),
        ("airgap-malformed-pillar", {}, {"global": {"airgap": "sometimes"}}),
        ("airgap-grain", {"airgap": True}, {"patch": {"os": {"enabled": True}}}),
    ):
        sandbox.set_pillar({})
        sandbox.salt_call("state.apply", SCHEDULES)
        assert PO in sched(sandbox), case
        sandbox.set_grains(**grains)
        sandbox.set_pillar(pillar)
        predicted = state_results(sandbox.salt_call("state.apply", "so_telemetry.patch.os.schedule", "test=True"))
        assert predicted[PO_SID]["result"] is None and predicted[PO_SID]["changes"] == {PO: "removed"}, case
        assert PO in sched(sandbox), case
        sandbox.salt_call("state.apply", SCHEDULES)
        jobs = sched(sandbox)
        assert PO not in jobs and HS in jobs, f"{case}: resync is not telemetry: it stays"


def test_schedule_choice_and_unknown_name(sandbox):
    sandbox.set_pillar({"patch": {"os": {"schedule_to_run": "monday"}}})
    sandbox.salt_call("state.apply", "so_telemetry.patch.os.schedule")
    job = sched(sandbox)[PO]
    assert job["when"] == ["Monday 08:00"] and job["splay"] == 900 and "hours" not in job
    before = sandbox.snapshot()
    sandbox.set_pillar({"patch": {"os": {"schedule_to_run": "fortnightly"}}})
    ret = state_results(sandbox.salt_call("state.apply", "so_telemetry.patch.os.schedule", check=False))
    po = ret[PO_SID]
    assert po["result"] is False
    assert "patch:os:schedule_to_run" in po["comment"] and "fortnightly" in po["comment"]
    assert sandbox.snapshot() == before


def test_resync_interval_from_pillar(sandbox):
    sandbox.set_pillar({"resync": {"highstate": {"minutes": 5, "splay": 30}}})
    sandbox.salt_call("state.apply", "so_telemetry.resync")
    job = sched(sandbox)[HS]
    assert job["minutes"] == 5 and job["splay"] == 30
    sandbox.set_pillar({"resync": {"highstate": {"minutes": "soon"}}})
    ret = state_results(sandbox.salt_call("state.apply", "so_telemetry.resync", check=False))
    hs = ret[HS_SID]
    assert hs["result"] is False and "resync:highstate:minutes" in hs["comment"]
    assert sched(sandbox)[HS]["minutes"] == 5


@pytest.mark.parametrize("grains,pillar,why", [
    ({}, {"patch": {"os": {"enabled": False}}}, "patch:os:enabled is false (set in pillar)"),
    ({"airgap": True}, {}, "airgapped (grain airgap is true)"),
], ids=["disabled", "airgapped"])
def test_patch_run_does_nothing_when_off(make_sandbox, grains, pillar, why):
    box = make_sandbox(grains=grains, pillar=pillar)
    ret = state_results(box.salt_call("state.apply", "so_telemetry.patch.os"))
    assert "so-telemetry-patch-os-pkg-uptodate" not in ret
    note = ret["so-telemetry-patch-os-test-show_notification"]
    assert note["result"] is True and why in note["comment"]


# --------------------------------------------------------------------------
# Security Onion 2.4's patch schedules and job names


SO_SCHEDULES = {
    "hours": ({"splay": 600, "schedule": {"hours": 4}}, {"hours": 4, "splay": 600}),
    "weekday-times": (
        {"splay": 900, "schedule": {"Tuesday": ["08:00", "20:30"], "Saturday": ["06:15"]}},
        {"when": ["Tuesday 08:00", "Tuesday 20:30", "Saturday 06:15"], "splay": 900},
    ),
    "flat-legacy": ({"hours": 6, "splay": 60}, {"hours": 6, "splay": 60}),
}


def test_security_onion_schedule_shapes(sandbox):
    """A pillar written for Security Onion 2.4 (or an earlier release of this
    library) keeps working; its timing replaces the default's, and the job's
    earlier timing goes when its shape changes (each shape in turn on one
    minion: ``hours`` never stays beside ``when``); a second run changes
    nothing."""
    for case, (entry, expected) in SO_SCHEDULES.items():
        sandbox.set_pillar({"patch": {"os": {"schedule_to_run": "auto", "schedules": {"auto": entry}}}})
        ret = state_results(sandbox.salt_call("state.apply", "so_telemetry.patch.os.schedule"))
        assert ret[PO_SID]["result"] is True, case
        job = sched(sandbox)[PO]
        timing = {k: v for k, v in job.items() if k in ("hours", "minutes", "days", "when", "splay")}
        assert timing == expected, case
        again = state_results(sandbox.salt_call("state.apply", "so_telemetry.patch.os.schedule"))
        assert again[PO_SID]["changes"] == {}, case


BAD_SCHEDULES = {
    "unknown-day": ({"splay": 900, "schedule": {"Funday": ["08:00"]}}, "patch:os:schedules:auto:schedule"),
    "bad-time": ({"splay": 900, "schedule": {"Monday": ["8am"]}}, "patch:os:schedules:auto:schedule:Monday"),
    "bad-splay": ({"splay": "soon", "schedule": {"hours": 8}}, "patch:os:schedules:auto:splay"),
    "unknown-key": ({"splay": 900, "schedule": {"hours": 8}, "cron": "* * * * *"}, "patch:os:schedules:auto"),
}


def test_bad_schedule_refused_naming_key(sandbox):
    sandbox.salt_call("state.apply", "so_telemetry.patch.os.schedule")
    before = sandbox.snapshot()
    for case, (entry, key) in BAD_SCHEDULES.items():
        sandbox.set_pillar({"patch": {"os": {"schedules": {"auto": entry}}}})
        ret = state_results(sandbox.salt_call("state.apply", "so_telemetry.patch.os.schedule", check=False))
        assert ret[PO_SID]["result"] is False and key in ret[PO_SID]["comment"], (case, ret[PO_SID]["comment"])
        assert sandbox.snapshot() == before, case


def test_legacy_job_names_are_replaced_never_doubled(sandbox):
    """A minion that ran an earlier release (jobs `highstate`, `patch_os`)
    ends with one resync job and one update job, under Security Onion's names."""
    conf = sandbox.config_dir / "minion.d" / "_schedule.conf"
    conf.write_text(
        "schedule:\n"
        "  highstate: {function: state.highstate, minutes: 15, maxrunning: 1}\n"
        "  patch_os: {function: state.sls, job_args: [patch.os], hours: 8}\n"
        "  unrelated: {function: test.ping, hours: 1}\n"
    )
    predicted = state_results(sandbox.salt_call("state.apply", SCHEDULES, "test=True"))
    assert predicted[HS_SID]["result"] is None and set(predicted[HS_SID]["changes"]) == {HS, "highstate"}
    assert predicted[PO_SID]["result"] is None and set(predicted[PO_SID]["changes"]) == {PO, "patch_os"}
    assert set(sched(sandbox)) == {"highstate", "patch_os", "unrelated"}, "test=True changed the schedule"
    ret = state_results(sandbox.salt_call("state.apply", SCHEDULES))
    assert set(sched(sandbox)) == {HS, PO, "unrelated"}
    assert ret[HS_SID]["changes"] == {HS: "added", "highstate": "removed"}
    assert ret[PO_SID]["changes"] == {PO: "added", "patch_os": "removed"}
    again = state_results(sandbox.salt_call("state.apply", SCHEDULES))
    assert all(v["changes"] == {} for v in again.values())


# --------------------------------------------------------------------------
# the upstream proxy (manager:proxy, manager:no_proxy)


PROXY = "http://so-proxy.corp.lan:3128"


def test_proxy_on_a_manager(sandbox):
    sandbox.set_pillar({"manager": {"proxy": PROXY}})
    ret = state_results(sandbox.salt_call("state.apply", "so_telemetry.repo"))[SID]
    assert ret["result"] is True
    section = parse(sandbox.path(REPO_FILE).read_text())
    assert section["proxy"] == PROXY and "proxy_password" not in section
    assert sandbox.path(REPO_FILE).stat().st_mode & 0o777 == 0o644


def test_proxy_password_stays_secret(sandbox):
    sandbox.salt_call("state.apply", "so_telemetry.repo")
    secret = "pa55:w0rd/x"
    quoted = urllib.parse.quote(secret, safe="")
    sandbox.set_pillar({"manager": {"proxy": f"http://so-updates:{quoted}@so-proxy.corp.lan:3128"}})
    for mode in ("test=True", "test=False"):
        proc = sandbox.salt_call("state.apply", "so_telemetry.repo", mode, out="json")
        text = json.dumps(proc)
        assert secret not in text and quoted not in text, "the password leaked into the state return"
        ret = state_results(proc)[SID]
        assert ret["result"] is (None if mode == "test=True" else True)
        assert ret["changes"].get("diff") == "<show_changes=False>"
    section = parse(sandbox.path(REPO_FILE).read_text())
    assert section["proxy"] == "http://so-proxy.corp.lan:3128"
    assert section["proxy_username"] == "so-updates" and section["proxy_password"] == secret
    assert sandbox.path(REPO_FILE).stat().st_mode & 0o777 == 0o600, "a file holding a password is not world-readable"
    report = json.dumps(sandbox.salt_call("telemetry.report"))
    assert secret not in report and quoted not in report and "so-updates:******" not in report
    assert json.loads(report)["os_updates"]["proxy"]["password"] == "******"
    # what Salt logged at the minion's log_level_logfile (warning) and above
    assert secret not in sandbox.logged() and quoted not in sandbox.logged()


@pytest.mark.parametrize(
    "grains,pillar",
    [
        ({"role": "so-sensor"}, {"global": {"manager": "manager.example.lan"}}),
        ({"airgap": True}, {}),
        ({}, {"manager": {"no_proxy": "localhost,.securityonion.net"}}),
    ],
    ids=["node", "airgapped", "no_proxy-covers-upstream"],
)
def test_no_proxy_where_it_does_not_apply(make_sandbox, grains, pillar):
    box = make_sandbox(grains=grains, pillar={"manager": {"proxy": PROXY, **pillar.pop("manager", {})}, **pillar})
    box.salt_call("state.apply", "so_telemetry.repo")
    text = box.path(REPO_FILE).read_text()
    assert "proxy" not in text and "so-proxy" not in text


BAD_PROXIES = {
    "newline": "http://so-proxy.corp.lan:3128\ngpgcheck=0",
    "ftp": "ftp://so-proxy.corp.lan:21",
    "no-port": "http://so-proxy.corp.lan",
    "path": "http://u:secret-pw@so-proxy.corp.lan:3128/path?x=1",
    "list": ["http://a:1"],
    "no-scheme": "so-proxy:3128",
}


def test_bad_proxy_refused_naming_key(sandbox):
    sandbox.salt_call("state.apply", "so_telemetry.repo")
    before = sandbox.snapshot()
    for case, value in BAD_PROXIES.items():
        sandbox.set_pillar({"manager": {"proxy": value}})
        ret = state_results(sandbox.salt_call("state.apply", "so_telemetry.repo", check=False))[SID]
        assert ret["result"] is False and "manager:proxy" in ret["comment"], (case, ret["comment"])
        assert "secret-pw" not in ret["comment"], case
        assert ret["changes"] == {} and sandbox.snapshot() == before, case
