"""The library on a real grid: a salt-master serving it and real salt-minions
(``so-manager``, ``so-sensor``, ``so-airgap``), driven the way a grid
administrator does: ``state.highstate`` through the master, pillar edits,
``so-telemetry sync`` (Synchronize Grid) and the minions' own schedules.

The tests run in file order and each sets the whole test pillar it needs.
"""

import concurrent.futures
import configparser
import json
import os
import pty
import re
import select
import subprocess
import threading
import time
import urllib.parse

import pytest

from tests.conftest import save_figures
from .conftest import (AIRGAP, ALL, ANALYTICS, MANAGER, OK_LINE, REPO_FILE, RETRY, SENSOR, SOC_JSON, Lines,
                       assert_synced_ok, final_lines)

pytestmark = pytest.mark.integration

QUERY = {"version": "2.4.190", "os": "oracle9", "arch": "x86_64"}


def repo_section(text):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    assert parser.sections() == ["securityonion"], text
    return parser["securityonion"]


def baseurls(grid, minion):
    return repo_section(grid.path(minion, REPO_FILE).read_text())["baseurl"].split()


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
    files = grid.one(MANAGER, "cp.list_master")
    assert "_modules/telemetry.py" in files and "so_telemetry/soc/init.sls" in files, files[:20]
    hidden = [f for f in files if any(p in (".git", ".tmp") or p.startswith(".venv") for p in f.split("/")[:-1])]
    assert hidden == [], hidden[:20]


def test_highstate_renders_the_grid(grid):
    """A highstate through the master: the manager mirrors upstream with the
    query and serves the SOC files, the node points at its manager, the
    airgapped node at its local repo; every minion gets the resync schedule,
    and no job starts when it is added (run_on_start false: the OS patch job
    would run at once)."""
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

    schedules = grid.schedules()
    assert set(schedules) == set(ALL), schedules
    for minion, sched in schedules.items():
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
            assert patch["run_on_start"] is False


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
    schedules = grid.schedules()
    for minion in ALL:
        assert "?" not in grid.path(minion, REPO_FILE).read_text(), minion
        sched = schedules[minion]
        assert "patch_os_schedule" not in sched, f"{minion}: {sched}"
        assert sched["highstate_schedule"]["minutes"] == 15  # resync is not telemetry


def status_grid(proc):
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode, {item["id"]: item for item in json.loads(proc.stdout)}


def sync_on_a_terminal(grid, timeout=600):
    """``so-telemetry sync`` with its stdout on a pseudo-terminal: everything it wrote."""
    env = dict(grid.env(), TERM="xterm", COLUMNS="160")
    master_fd, slave_fd = pty.openpty()
    proc = subprocess.Popen(grid.command("sync", *RETRY), stdout=slave_fd, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env)
    os.close(slave_fd)
    out, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master_fd], [], [], 1)
        if ready:
            try:
                chunk = os.read(master_fd, 65536)
            except OSError:  # the other end closed: the command is done
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master_fd)
    return proc.wait(60), out.decode(), proc.stderr.read().decode()


def test_convergence_after_a_change(grid):
    """Knowing when the grid has converged: ``status --grid``
    (``telemetry.converged`` on every minion, read-only) right after the
    sync above, after a settings change (pending on the manager only, and
    nothing written by asking), and ``sync``'s live line on a terminal, its
    convergence line and the browsers' note. (``sync --json``: the
    fast-schedule test below; a silent minion: test_grid_faults.py.)

    The settings change is a pillar change on the master (the grid's test
    pillar: ``so-telemetry disable soc`` on this grid's local root is refused
    a record of the consent trail, as its ``#!py`` test pillar cannot be read
    without Salt)."""
    # converged on the pillar of test_sync_applies_disabled_telemetry; the
    # admin turns SOC Telemetry back on: pending on the manager until a
    # resync, and nothing was written by asking (JSON and text at once)
    grid.set_pillar({"patch": {"os": {"enabled": False}}})
    before = grid.path(MANAGER, ANALYTICS).stat().st_mtime_ns
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        as_json = pool.submit(grid.cli, "status", "--grid", "--json")
        text = pool.submit(grid.cli, "status", "--grid").result()
        code, items = status_grid(as_json.result())
    assert code == 1 and all(i["answered"] for i in items.values()), items
    assert items[MANAGER]["pending"] == ["analytics", "soc_json"], items[MANAGER]
    assert items[MANAGER]["details"]["analytics"] == "analytics.js loads nothing; pillar says on"
    assert items[SENSOR]["converged"] and items[AIRGAP]["converged"]
    # what each has now: the manager's files still off, OS updates off everywhere
    assert items[MANAGER]["role"] == "so-manager" and items[MANAGER]["soc"] == "off"
    assert items[SENSOR]["soc"] == "n/a" and items[AIRGAP]["os_updates"] == "off"
    assert all(i["last_highstate"] and i["last_highstate"].endswith("+00:00") for i in items.values())
    assert grid.path(MANAGER, ANALYTICS).stat().st_mtime_ns == before
    assert text.returncode == 1 and "converged 2/3; pending: so-manager (analytics, soc_json)" in text.stdout
    assert "analytics (analytics.js loads nothing; pillar says on)" in text.stdout

    # sync on a terminal: the live line, the per-minion lines, convergence, the browsers' note
    rc, out, err = sync_on_a_terminal(grid)
    print(out)
    assert rc == 0, out + err
    assert "\r\x1b[2KSynchronize Grid: 0/3 done, 3 running, 0 failed, 00:0" in out
    assert "\x1b[2KSynchronize Grid: 3/3 done, 0 running, 0 failed" in out
    # the per-minion lines stay on screen, each on its own line once the live line is erased
    lines = re.split(r"[\r\n]+", out.replace("\x1b[2K", ""))
    assert any(ln.startswith("[1/3] ") for ln in lines) and any(ln.startswith("[3/3] ") for ln in lines), out
    assert "Synchronize Grid: 3 minion(s), 3 ok, 0 failed" in out
    assert "Convergence: converged 3/3" in out
    assert f"SOC Telemetry changed on {MANAGER} (its loader is now on)" in out
    assert "next hard refresh" in out


def test_sync_names_a_target_that_matches_no_minion(grid):
    """Resolved from the master's accepted keys: exit 2, one error line, no run."""
    proc = grid.sync("--target", "no-such-minion*")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no accepted minion matches 'no-such-minion*'" in proc.stderr and "Synchronize Grid:" not in proc.stdout


# --------------------------------------------------------------------------
# the resync schedule on the manager, every few seconds


FAST = {"resync": {"highstate": {"seconds": 3, "splay": 0}}}
FIGURES = {}


def soc(enabled, reload_cmd="true"):
    """SOC Telemetry and OS updates on or off; the SOC reload command."""
    return {"soc": {"telemetryEnabled": enabled, "reload_cmd": reload_cmd}, "patch": {"os": {"enabled": enabled}}}


def manager_versions(grid):
    return {p: grid.path(MANAGER, p).read_bytes() for p in (ANALYTICS, SOC_JSON, REPO_FILE)}


def scheduled_highstates(grid):
    """How many times the manager's scheduler has started `highstate`."""
    return grid.log(MANAGER).read_text(errors="replace").count("Running scheduled job: highstate_schedule ")


class Reader(threading.Thread):
    """Reads the manager's rendered files in a loop: every content seen."""

    def __init__(self, grid):
        super().__init__(daemon=True)
        self.grid, self.stop, self.reads = grid, threading.Event(), 0
        self.seen = {p: set() for p in (ANALYTICS, SOC_JSON, REPO_FILE)}

    def run(self):
        while not self.stop.is_set():
            for path, seen in self.seen.items():
                seen.add(self.grid.path(MANAGER, path).read_bytes())
                self.reads += 1
            time.sleep(0.002)

    def close(self):
        self.stop.set()
        self.join(10)


@pytest.fixture
def fast_manager(grid):
    """The manager on a 3-second resync schedule, its SOC files on (the
    test itself puts the 15-minute schedule back, through the schedule)."""
    grid.set_pillar({}, so_manager=dict(FAST, **soc(True)))
    # JSON on a pipe: the per-minion result, converged after it
    proc = grid.sync("--target", MANAGER, "--json", *RETRY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["id"] == MANAGER and result["result"] == "ok" and result["answered"], result
    assert result["converged"] is True and result["pending"] == [], result
    job = grid.schedules(MANAGER)[MANAGER]["highstate_schedule"]
    assert job["seconds"] == 3 and "minutes" not in job and "splay" not in job, job
    yield grid
    grid.set_pillar({})
    if FIGURES:
        save_figures("grid-schedule", "resync schedule during sync", FIGURES)
    if not FIGURES and "seconds" in grid.schedules(MANAGER).get(MANAGER, {}).get("highstate_schedule", {}):
        # the test failed before the schedule was back to 15 minutes
        assert_synced_ok(grid.sync("--target", MANAGER, *RETRY), [MANAGER])


def test_schedule_applies_pillar_and_a_sync_meets_it(fast_manager):
    """The resync schedule alone applies a pillar change; a sync that meets a
    scheduled highstate is told busy, says so, retries and ends ok; a reader
    never sees a partial file; no scheduled run logs an error."""
    grid = fast_manager
    on = manager_versions(grid)
    log_mark = len(grid.log(MANAGER).read_text(errors="replace"))
    fired = scheduled_highstates(grid)
    reader = Reader(grid)
    reader.start()
    gate = grid.gate("scheduled-run", seconds=180)
    proc = None
    try:
        # the schedule alone, no sync: telemetry off
        grid.set_pillar({}, so_manager=dict(FAST, **soc(False)))
        grid.wait_for(lambda: all(v != on[p] for p, v in manager_versions(grid).items()), timeout=120,
                      interval=0.2, what="the scheduled highstate to apply the pillar")
        off = manager_versions(grid)  # no sync, no highstate of ours: only the schedule runs one
        assert off[ANALYTICS] == b"" and b"?" not in off[REPO_FILE], off

        # telemetry on and the 15-minute schedule again: the next scheduled
        # run writes the files, then holds the minion in the SOC reload
        grid.set_pillar({}, so_manager=soc(True, gate.cmd))
        grid.wait_for(gate.is_reached, timeout=120, interval=0.2, what="a scheduled highstate in the SOC reload")
        # fewer retries than the gate holds: the busy line must come as it
        # happens (the gate opens on it), not when the command ends
        proc = grid.start_sync("--target", MANAGER, "--minion-timeout", "120", "--retries", "30", "--retry-wait", "1")
        out = Lines(proc)
        grid.wait_for(lambda: any(": busy:" in line for line in out.lines), timeout=300, interval=0.1,
                      what="the sync's busy line")
        running_at_busy = proc.poll() is None
        gate.open()
        rc, stdout, stderr = out.finish(300)
    except BaseException:
        if proc:
            proc.kill()
        raise
    finally:
        gate.open()
        reader.close()
    print(stdout, stderr)
    assert rc == 0, stdout + stderr
    assert "Traceback" not in stderr, stderr
    busy = [line for line in stdout.splitlines() if ": busy:" in line]
    assert running_at_busy, f"the busy line came only when the sync ended:\n{stdout}"
    assert busy[0].startswith(f"[-/1] {MANAGER}: busy: a highstate is already running, retry 1/30 in 1s "
                              f'(The function "state.highstate" is running as PID'), busy[0]
    final = final_lines(stdout)[MANAGER]
    assert OK_LINE.match(final) and stdout.index(busy[-1]) < stdout.index(final), stdout
    assert manager_versions(grid) == on
    job = grid.schedules(MANAGER)[MANAGER]["highstate_schedule"]
    assert job["minutes"] == 15 and job["splay"] == 120 and "seconds" not in job, job

    bad = {p: [v[:200] for v in seen if v not in (on[p], off[p])] for p, seen in reader.seen.items()}
    assert not any(bad.values()), f"partial or unexpected file contents seen: {bad}"
    assert reader.reads > 100
    # asyncio's "Task was destroyed but it is pending!" at a job process's
    # exit is Salt's shutdown noise, not a failed run: counted apart
    new_log = grid.log(MANAGER).read_text(errors="replace")[log_mark:].splitlines()
    errors = [ln for ln in new_log if ("[ERROR" in ln or "[CRITICAL" in ln) and "[asyncio" not in ln]
    FIGURES.update({"scheduled runs": scheduled_highstates(grid) - fired, "busy answers retried": len(busy),
                    "reads": reader.reads, "log errors": len(errors),
                    "asyncio noise": sum(1 for ln in new_log if "[asyncio" in ln and "[ERROR" in ln)})
    assert not errors, errors[:5]
