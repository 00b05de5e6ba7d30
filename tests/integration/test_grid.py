"""The library on a real grid: a salt-master serving it and real salt-minions
(``so-manager``, ``so-sensor``, ``so-airgap``), driven the way a grid
administrator does: ``state.highstate`` through the master, pillar edits,
``so-telemetry sync`` (Synchronize Grid) and the minions' own schedules.

The tests run in file order and each sets the whole test pillar it needs.
"""

import configparser
import json
import pathlib
import re
import subprocess
import threading
import time
import urllib.parse

import pytest

from tests.conftest import SO_TELEMETRY
from .conftest import AIRGAP, MANAGER, SENSOR

pytestmark = pytest.mark.integration

ANALYTICS = "/opt/so/conf/soc/analytics.js"
SOC_JSON = "/opt/so/conf/soc/soc.json"
REPO_FILE = "/etc/yum.repos.d/securityonion.repo"
ALL = (MANAGER, SENSOR, AIRGAP)
QUERY = {"version": "2.4.190", "os": "oracle9", "arch": "x86_64"}
OK_LINE = re.compile(r"^\[(\d+)/(\d+)\] (\S+): ok, (\d+) changed$")
SUMMARY = re.compile(r"^Synchronize Grid: (\d+) minion\(s\), (\d+) ok, (\d+) failed(?: \((.*)\))?$")
# Generous retries: right after `patch_os_schedule` is added Salt starts it at once
# (see test_patch_os_schedule_waits_for_its_interval), so a minion can be busy.
RETRY = ("--retries", "20", "--retry-wait", "1")


def repo_section(text):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    assert parser.sections() == ["securityonion"], text
    return parser["securityonion"]


def baseurls(grid, minion):
    return repo_section(grid.path(minion, REPO_FILE).read_text())["baseurl"].split()


def final_lines(stdout):
    """{minion: line} of the final per-minion progress lines, in order."""
    out = {}
    for line in stdout.splitlines():
        match = re.match(r"^\[(\d+)/(\d+)\] (\S+): (ok|FAILED)\b", line)
        if match:
            assert match.group(3) not in out, f"two final lines for {match.group(3)}:\n{stdout}"
            out[match.group(3)] = line
    return out


def summary(stdout):
    lines = [line for line in stdout.splitlines() if SUMMARY.match(line)]
    assert len(lines) == 1, stdout
    return SUMMARY.match(lines[0]).groups()


def assert_synced_ok(proc, minions):
    assert proc.returncode == 0, f"rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    finals = final_lines(proc.stdout)
    assert set(finals) == set(minions), proc.stdout
    assert [int(OK_LINE.match(line).group(1)) for line in finals.values()] == list(range(1, len(minions) + 1))
    assert all(OK_LINE.match(line).group(2) == str(len(minions)) for line in finals.values())
    assert summary(proc.stdout) == (str(len(minions)), str(len(minions)), "0", None)
    return finals


# --------------------------------------------------------------------------
# how one minion's return is read (no daemons needed)

BUSY_MSG = 'The function "state.highstate" is running as PID 4242 and was started at 2026, Nov 26 with jid 1'


def _state(sid, result, run_num, changes=None, comment=""):
    return {f"telemetry_|-{sid}_|-name_|-fun": {
        "result": result, "__run_num__": run_num, "__id__": sid, "changes": changes or {}, "comment": comment}}


@pytest.mark.parametrize(
    "ret, retcode, expected",
    [
        ({**_state("a", True, 0, {"x": 1}), **_state("b", True, 1)}, 0, ("ok", "1 changed")),
        ({**_state("b", False, 1, comment="second\nmore"), **_state("a", False, 0, comment="Refused: key 'x'")},
         2, ("failed", "2 failed state(s): a: Refused: key 'x'")),
        ([BUSY_MSG], 1, ("busy", BUSY_MSG)),
        ([BUSY_MSG.replace("highstate", "sls")], 1, ("busy", BUSY_MSG.replace("highstate", "sls"))),
        (["Pillar failed to render with the following messages:", "Rendering SLS 'tests' failed"], 1,
         ("failed", "highstate did not run: Pillar failed to render with the following messages:; "
                    "Rendering SLS 'tests' failed")),
        ({}, 0, ("failed", "highstate returned nothing (no top file match?)")),
        ("'state.highstate' is not available.", 254,
         ("failed", "highstate did not run: 'state.highstate' is not available.")),
        (_state("a", True, 0), 2, ("failed", "highstate exited 2 with 0 changed and no failed state")),
    ],
    ids=["ok", "failed", "busy", "busy-other-state-fn", "render-error", "empty", "string", "retcode"],
)
def test_classify(ret, retcode, expected):
    from so_telemetry.cli import sync  # pylint: disable=import-outside-toplevel

    assert sync.classify(ret, retcode) == expected


# --------------------------------------------------------------------------


def test_file_server_serves_no_virtualenv_git_or_tmp(grid):
    """<repo> is a file root: its virtualenvs (one per Salt line), .git and
    .tmp stay off the file server."""
    files = grid.call(MANAGER, "cp.list_master")
    assert "_modules/telemetry.py" in files and "so_telemetry/soc/init.sls" in files, files[:20]
    hidden = [f for f in files if any(p in (".git", ".tmp") or p.startswith(".venv") for p in f.split("/")[:-1])]
    assert hidden == [], hidden[:20]


def test_highstate_renders_the_grid(grid):
    """A highstate through the master: the manager mirrors upstream with the
    query and serves the SOC files, the node points at its manager, the
    airgapped node at its local repo; every minion gets the resync schedule."""
    grid.set_pillar({})
    grid.highstate()

    # manager: SOC files and upstream mirrors carrying the query
    js = grid.path(MANAGER, ANALYTICS).read_text()
    assert "https://www.googletagmanager.com/gtm.js" in js and '"GTM-TM46SL7T"' in js
    soc = json.loads(grid.path(MANAGER, SOC_JSON).read_text())
    assert soc["server"]["client"]["telemetryEnabled"] is True
    urls = baseurls(grid, MANAGER)
    assert [urllib.parse.urlsplit(u).hostname for u in urls] == ["repo.securityonion.net", "repo-alt.securityonion.net"]
    for url in urls:
        assert dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)) == QUERY
    assert urls[0].startswith("https://repo.securityonion.net/file/so-repo/prod/2.4/oracle/9/?")

    # node: its manager's repository, no query, no SOC files
    manager_host = grid.minions[SENSOR].config["master"]
    assert baseurls(grid, SENSOR) == [f"https://{manager_host}/repo/"]
    assert "?" not in grid.path(SENSOR, REPO_FILE).read_text()
    assert set(grid.files(SENSOR)) == {REPO_FILE}

    # airgapped node: local repository, nothing external
    assert baseurls(grid, AIRGAP) == ["file:///nsm/repo/"]
    assert "http" not in grid.path(AIRGAP, REPO_FILE).read_text()
    assert set(grid.files(AIRGAP)) == {REPO_FILE}

    for minion in ALL:
        sched = grid.schedule(minion)
        job = sched.get("highstate_schedule")
        assert job, f"{minion}: no highstate schedule in {sched}"
        assert job["function"] == "state.highstate"
        assert job["minutes"] == 15 and job["maxrunning"] == 1 and job["run_on_start"] is False
        assert "seconds" not in job
        if minion == AIRGAP:
            assert "patch_os_schedule" not in sched
        else:
            patch = sched.get("patch_os_schedule")
            assert patch and patch["function"] == "state.sls" and patch["args"] == ["so_telemetry.patch.os"]
            assert patch["hours"] == 8 and patch["splay"] == 900 and patch["maxrunning"] == 1


def test_sync_is_idempotent_with_progress_and_summary(grid):
    """Synchronize Grid after a highstate: one progress line per minion, 0
    changed everywhere, no file rewritten, exit 0."""
    grid.set_pillar({})
    before = {m: {p: grid.path(m, p).stat().st_mtime_ns for p in grid.files(m)} for m in ALL}
    proc = grid.sync(*RETRY)
    finals = assert_synced_ok(proc, ALL)
    assert all(line.endswith(": ok, 0 changed") for line in finals.values()), proc.stdout
    assert proc.stdout.splitlines()[0] == f"Synchronize Grid: highstate on 3 minion(s): {', '.join(sorted(ALL))}"
    after = {m: {p: grid.path(m, p).stat().st_mtime_ns for p in grid.files(m)} for m in ALL}
    assert after == before


def test_patch_os_schedule_waits_for_its_interval(grid):
    grid.set_pillar({})
    grid.salt(MANAGER, "state.apply", "so_telemetry.patch.os.schedule")
    assert grid.schedule(MANAGER)["patch_os_schedule"].get("run_on_start") is False


def test_sync_applies_disabled_telemetry(grid):
    """Pillar turns SOC Telemetry and OS updates off; `so-telemetry sync`
    pushes it to every minion at once."""
    grid.set_pillar({"soc": {"telemetryEnabled": False}, "patch": {"os": {"enabled": False}}})
    proc = grid.sync(*RETRY)
    finals = assert_synced_ok(proc, ALL)
    changed = {m: int(OK_LINE.match(line).group(4)) for m, line in finals.items()}
    assert changed[MANAGER] >= 3 and changed[SENSOR] >= 1, proc.stdout  # soc files, repo file, patch_os

    assert grid.path(MANAGER, ANALYTICS).read_bytes() == b""
    soc = json.loads(grid.path(MANAGER, SOC_JSON).read_text())
    assert soc["server"]["client"]["telemetryEnabled"] is False
    urls = baseurls(grid, MANAGER)
    assert [urllib.parse.urlsplit(u).hostname for u in urls] == ["repo.securityonion.net", "repo-alt.securityonion.net"]
    for minion in ALL:
        assert "?" not in grid.path(minion, REPO_FILE).read_text(), minion
        sched = grid.schedule(minion)
        assert "patch_os_schedule" not in sched, f"{minion}: {sched}"
        assert sched["highstate_schedule"]["minutes"] == 15  # resync is not telemetry


def test_sync_config_errors_exit_2(grid, tmp_path):
    proc = subprocess.run([SO_TELEMETRY, "--config-dir", str(tmp_path), "sync"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120, check=False)
    assert proc.returncode == 2 and f"no salt-master configuration at {tmp_path}/master" in proc.stderr, proc.stderr
    proc = grid.sync("--target", "no-such-minion*")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no accepted minion matches 'no-such-minion*'" in proc.stderr and "Synchronize Grid:" not in proc.stdout


def test_wrong_type_resync_seconds_fails_naming_the_key(grid):
    grid.set_pillar({}, so_sensor={"resync": {"highstate": {"seconds": "5"}}})
    try:
        ret = grid.salt(SENSOR, "state.apply", "so_telemetry.resync")
        data = ret.data.get(SENSOR, ret.data)  # a single-minion return comes unwrapped
        (state,) = data.values()
        assert state["result"] is False and "resync:highstate:seconds" in state["comment"], state
    finally:
        grid.set_pillar({})


def test_busy_minion_is_reported_and_retried(grid):
    """A highstate already running on a minion: the sync says so, retries,
    and counts it failed when it stays busy, never as a silent success."""
    # A slow highstate: the SOC reload command runs when the SOC files change.
    grid.set_pillar({}, so_manager={"soc": {"telemetryEnabled": True, "reload_cmd": "sleep 15"}})
    ret = grid.master.salt_cli(timeout=60).run("state.highstate", "--async", minion_tgt=MANAGER)
    assert ret.returncode == 0, ret.stdout + ret.stderr
    grid.wait_for(
        lambda: grid.call(MANAGER, "saltutil.is_running", "state.highstate"), timeout=30, what="the slow highstate"
    )

    proc = grid.sync("--target", MANAGER, "--retries", "0")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert f"[1/1] {MANAGER}: FAILED, busy: a highstate was still running after 0 retries" in "\n".join(lines)
    assert summary(proc.stdout) == ("1", "0", "1", MANAGER)

    proc = grid.sync("--target", MANAGER, "--retries", "60", "--retry-wait", "1")
    print(proc.stdout)
    busy_line = f"{MANAGER}: busy: a highstate is already running, retry "
    busy = [line for line in proc.stdout.splitlines() if busy_line in line]
    assert busy, f"the slow highstate ended before the second sync: test is void\n{proc.stdout}"
    assert busy[0].startswith(f"[-/1] {MANAGER}: busy: a highstate is already running, retry 1/60 in 1s (The function")
    assert_synced_ok(proc, [MANAGER])
    assert proc.stdout.index(busy[-1]) < proc.stdout.index(final_lines(proc.stdout)[MANAGER])
    assert "googletagmanager" in grid.path(MANAGER, ANALYTICS).read_text()


# The manager's resync schedule every 5 seconds, no splay; a 3-second SOC
# reload widens the window in which scheduled and manual runs overlap.
FAST = {"resync": {"highstate": {"seconds": 5, "splay": 0}}}
ON = {"soc": {"telemetryEnabled": True, "reload_cmd": "sleep 3"}, "patch": {"os": {"enabled": True}}}
OFF = {"soc": {"telemetryEnabled": False, "reload_cmd": "sleep 3"}, "patch": {"os": {"enabled": False}}}


def manager_versions(grid):
    return {p: grid.path(MANAGER, p).read_bytes() for p in (ANALYTICS, SOC_JSON, REPO_FILE)}


def scheduled_highstates(grid):
    """How many times the manager's scheduler has started `highstate`."""
    conf = grid.minions[MANAGER].config
    log = pathlib.Path(conf["root_dir"]) / conf["log_file"]
    return log.read_text(errors="replace").count("Running scheduled job: highstate_schedule ")


@pytest.fixture(scope="class")
def fast_manager(grid):
    """The manager on the 5-second resync schedule; the 15-minute one is
    restored afterwards so no other test is disturbed."""
    grid.set_pillar({}, so_manager=dict(FAST, **ON))
    assert_synced_ok(grid.sync("--target", MANAGER, *RETRY), [MANAGER])
    job = grid.schedule(MANAGER)["highstate_schedule"]
    assert job["seconds"] == 5 and "minutes" not in job and "splay" not in job, job
    yield grid
    grid.set_pillar({})
    assert_synced_ok(grid.sync("--target", MANAGER, *RETRY), [MANAGER])
    job = grid.schedule(MANAGER)["highstate_schedule"]
    assert job["minutes"] == 15 and job["splay"] == 120 and "seconds" not in job, job


@pytest.mark.usefixtures("fast_manager")
class TestFastSchedule:
    def test_schedule_applies_pillar_without_sync(self, grid):
        assert grid.path(MANAGER, ANALYTICS).read_text() != ""
        fired = scheduled_highstates(grid)
        grid.set_pillar({}, so_manager=dict(FAST, **OFF))
        grid.wait_for(lambda: grid.path(MANAGER, ANALYTICS).read_bytes() == b"", timeout=60,
                      what="the scheduled highstate to empty analytics.js")
        assert "?" not in grid.path(MANAGER, REPO_FILE).read_text()
        assert scheduled_highstates(grid) > fired

    def test_overlapping_runs_never_expose_a_partial_file(self, grid):
        # the two complete versions of every file, from the real states
        grid.set_pillar({}, so_manager=dict(FAST, **ON))
        assert_synced_ok(grid.sync("--target", MANAGER, *RETRY), [MANAGER])
        on = manager_versions(grid)
        grid.set_pillar({}, so_manager=dict(FAST, **OFF))
        assert_synced_ok(grid.sync("--target", MANAGER, *RETRY), [MANAGER])
        off = manager_versions(grid)
        assert all(on[p] != off[p] for p in on)
        allowed = {p: {on[p], off[p]} for p in on}

        stop = threading.Event()
        reads, bad = [0], []

        def reader():
            while not stop.is_set():
                for p in allowed:
                    data = grid.path(MANAGER, p).read_bytes()
                    reads[0] += 1
                    if data not in allowed[p]:
                        bad.append((p, data[:200]))
                time.sleep(0.002)

        thread = threading.Thread(target=reader, daemon=True)
        fired = scheduled_highstates(grid)
        thread.start()
        outputs = []
        try:
            for i in range(4):
                want = ON if i % 2 == 0 else OFF
                grid.set_pillar({}, so_manager=dict(FAST, **want))
                # sync right after the scheduler has started a run (which will
                # rewrite the files and then sleep in the reload): they overlap
                count = scheduled_highstates(grid)
                grid.wait_for(lambda: scheduled_highstates(grid) > count, timeout=30, interval=0.1,
                              what="a scheduled highstate")
                proc = grid.sync("--target", MANAGER, *RETRY)
                outputs.append(proc.stdout)
                assert_synced_ok(proc, [MANAGER])
                assert manager_versions(grid) == (on if want is ON else off)
            # and once more with the scheduler alone
            grid.set_pillar({}, so_manager=dict(FAST, **ON))
            grid.wait_for(lambda: manager_versions(grid) == on, timeout=60, what="the scheduled run")
        finally:
            stop.set()
            thread.join(10)
        assert not bad, f"partial or unexpected file contents seen: {bad[:3]}"
        assert reads[0] > 100
        assert scheduled_highstates(grid) > fired, "the schedule never ran during the test"
        # every busy answer was reported and retried before the final line
        busy = 0
        for out in outputs:
            final = final_lines(out)[MANAGER]
            for line in out.splitlines():
                if ": busy:" in line:
                    busy += 1
                    assert out.index(line) < out.index(final)
        print(f"{reads[0]} reads, {scheduled_highstates(grid) - fired} scheduled runs, {busy} busy answers")
        assert busy, "no sync ever met a running scheduled highstate: the overlap was not exercised"


def test_stopped_minion_is_named_and_others_converge(grid):
    """A minion that does not answer: named, counted failed, exit 1; the
    others still apply the change, and their lines come as they return."""
    grid.set_pillar({"soc": {"telemetryEnabled": False}})
    assert "googletagmanager" in grid.path(MANAGER, ANALYTICS).read_text()
    with grid.minions[AIRGAP].stopped():
        started = time.monotonic()
        proc = subprocess.Popen(
            [SO_TELEMETRY, "--config-dir", grid.config_dir, "sync", "--timeout", "15", *RETRY],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        )
        seen = []
        for line in proc.stdout:
            seen.append((time.monotonic() - started, line.rstrip("\n")))
        rc = proc.wait(60)
        stderr = proc.stderr.read()
    stdout = "\n".join(line for _t, line in seen)
    print(stdout)
    assert rc == 1, stdout + stderr
    finals = final_lines(stdout)
    assert set(finals) == set(ALL), stdout
    assert finals[AIRGAP] == f"[3/3] {AIRGAP}: FAILED, no answer within 15s"
    assert OK_LINE.match(finals[MANAGER]) and OK_LINE.match(finals[SENSOR])
    assert summary(stdout) == ("3", "2", "1", AIRGAP)
    when = {line.split()[1].rstrip(":"): t for t, line in seen if line.startswith("[") and not line.startswith("[-")}
    assert when[MANAGER] < 15 and when[SENSOR] < 15 <= when[AIRGAP], seen  # printed as each returned
    assert int(OK_LINE.match(finals[MANAGER]).group(4)) >= 1, stdout  # the SOC files state
    assert grid.path(MANAGER, ANALYTICS).read_bytes() == b""
    assert json.loads(grid.path(MANAGER, SOC_JSON).read_text())["server"]["client"]["telemetryEnabled"] is False
    assert grid.path(MANAGER, REPO_FILE).read_text().count("?") == 2  # OS updates still on
