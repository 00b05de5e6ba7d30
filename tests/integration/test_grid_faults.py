"""Grid faults during ``so-telemetry sync`` (Synchronize Grid): the master
gone while every minion's state run waits on it, and a minion killed
mid-highstate (then, still down, named silent by ``status --grid``). Each
fault is made at a known point (a :class:`~.conftest.Gate`), never after a
guessed sleep. Every daemon stopped here is started again and the grid is
left idle on the empty test pillar. (The resync schedule firing during a sync
is in test_grid.py.)
"""

import concurrent.futures
import json
import time

import pytest

from tests.conftest import save_figures

from .conftest import (AIRGAP, ALL, ANALYTICS, MANAGER, OK_LINE, REPO_FILE, RETRY, SENSOR, SOC_JSON, Lines,
                       final_lines, summary)

pytestmark = pytest.mark.integration

FIGURES = {}


@pytest.fixture(scope="module", autouse=True)
def figures():
    yield FIGURES
    save_figures("grid-faults", "grid faults", FIGURES)


def test_master_stopped_during_sync(grid, event_listener):
    """The master dies (SIGKILL) while every minion's highstate waits on it
    (for its pillar): every minion is reported failed, exit 1, within
    --minion-timeout, no traceback."""
    minion_timeout = 8
    grid.set_pillar({})
    started = time.monotonic()
    proc = None
    try:
        with grid.hold_pillar("master-stopped") as gate:
            proc = grid.start_sync("--minion-timeout", str(minion_timeout), "--retries", "0")
            grid.wait_for(lambda: gate.held() == sorted(ALL), timeout=60, interval=0.1,
                          what="every minion's highstate to wait for its pillar")
            assert proc.poll() is None, "the sync ended before the master stopped: test is void"
            grid.master.terminate()  # SIGKILL: the master and every process it started
            stdout, stderr = proc.communicate(timeout=minion_timeout + 60)
        elapsed = time.monotonic() - started
    except BaseException:
        if proc and proc.poll() is None:
            proc.kill()
        raise
    finally:
        restarted = time.time()
        if not grid.master.is_running():
            grid.master.start(start_timeout=120)
    print(stdout, stderr)
    finals = final_lines(stdout)
    FIGURES["master stopped"] = {"rc": proc.returncode, "seconds": round(elapsed, 1), "reported": len(finals),
                                 "tracebacks": stderr.count("Traceback"), "lines": sorted(finals.values())}
    assert "Traceback" not in stderr, stderr
    assert proc.returncode == 1, stdout + stderr
    assert set(finals) == set(ALL) and all(": FAILED, no answer" in line for line in finals.values()), stdout
    assert summary(stdout) == ("3", "0", "3", ", ".join(sorted(ALL)))
    assert elapsed < minion_timeout + 30, f"took {elapsed:.0f}s with --minion-timeout {minion_timeout}"

    # Their pillar request was lost with the master (Salt 3006.9 waits 3 x
    # 60 s on it): killed, so the next tests find an idle grid.
    grid.reconnect(event_listener, restarted)
    FIGURES["master stopped"]["jobs killed after the restart"] = grid.kill_jobs()
    grid.wait_idle(timeout=60)


# --------------------------------------------------------------------------
# one minion killed mid-highstate, then silent


MINION_TIMEOUT = 12  # each live minion's highstate, on a loaded 2-core box
STATUS_TIMEOUT = 15  # telemetry.converged (a fresh pillar from the master), likewise


@pytest.fixture(scope="class")
def manager_killed(grid):
    """A sync that turns SOC Telemetry and OS updates off; the manager's
    minion is killed (its whole process tree, the highstate job too) once
    its SOC files are written and its highstate waits in the SOC reload.
    While the sync waits for it, ``status --grid`` asks the grid (text and
    JSON at once). The manager stays down for the class, then is started
    again."""
    gate = grid.gate("killed")
    # soc:config changes soc.json whatever the manager had: the reload runs
    grid.set_pillar({"soc": {"telemetryEnabled": False}, "patch": {"os": {"enabled": False}}},
                    so_manager={"soc": {"config": {"tests": {"run": gate.dir.name}}, "reload_cmd": gate.cmd}})
    minion = grid.minions[MANAGER]
    record = {}
    proc = None
    try:
        started = time.monotonic()
        proc = grid.start_sync("--minion-timeout", str(MINION_TIMEOUT), *RETRY)
        out = Lines(proc)

        def others_returned():
            finals = final_lines(out.text)
            return gate.is_reached() and SENSOR in finals and AIRGAP in finals

        grid.wait_for(others_returned, timeout=MINION_TIMEOUT + 30, interval=0.05,
                      what="the manager's highstate in the SOC reload, the others' lines")
        # the others' lines came as they returned: before the sync ended, before the manager's
        record["running at the kill"] = proc.poll() is None
        record["lines before the kill"] = len(out.lines)
        minion.terminate()  # SIGKILL: the minion and every process it started
        status = {  # a hang ends in TimeoutExpired
            "text": ("status", "--grid", "--minion-timeout", str(STATUS_TIMEOUT)),
            "json": ("status", "--grid", "--json", "--minion-timeout", str(STATUS_TIMEOUT)),
        }
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(status)) as pool:
            futures = {key: pool.submit(grid.cli, *args, timeout=STATUS_TIMEOUT + 60) for key, args in status.items()}
            record["status"] = {key: future.result() for key, future in futures.items()}
        record["rc"], record["stdout"], record["stderr"] = out.finish(MINION_TIMEOUT + 120)
        record["seconds"] = round(time.monotonic() - started, 1)
        record["lines"] = out.lines
        yield record
    finally:
        if proc and proc.poll() is None:
            proc.kill()
        gate.open()
        if not minion.is_running():
            minion.start(start_timeout=120)
        grid.set_pillar({})


class TestManagerKilled:
    def test_killed_minion_is_named_and_the_others_converge(self, grid, manager_killed):
        """Named failed at --minion-timeout, exit 1; the other minions still
        apply the change, and their lines come as they return."""
        rec = manager_killed
        stdout = rec["stdout"]
        print(stdout, rec["stderr"])
        finals = final_lines(stdout)
        FIGURES["minion killed"] = {"rc": rec["rc"], "reported": len(finals), "seconds": rec["seconds"],
                                    "tracebacks": rec["stderr"].count("Traceback"), "manager line": finals.get(MANAGER)}
        assert "Traceback" not in rec["stderr"], rec["stderr"]
        assert rec["rc"] == 1, stdout + rec["stderr"]
        assert set(finals) == set(ALL), stdout
        assert finals[MANAGER] == f"[3/3] {MANAGER}: FAILED, no answer within {MINION_TIMEOUT}s"
        assert OK_LINE.match(finals[SENSOR]) and OK_LINE.match(finals[AIRGAP]), stdout
        assert summary(stdout) == ("3", "2", "1", MANAGER)
        # printed as each returned: the others' lines were read while the sync
        # still waited for the manager, which was then killed, and only then
        # named failed (the command flushes each line; no PYTHONUNBUFFERED)
        assert rec["running at the kill"], rec["lines"]
        assert rec["lines"].index(finals[MANAGER]) >= rec["lines before the kill"], rec["lines"]
        assert "Convergence: converged 2/3; silent: so-manager" in stdout, stdout
        # the others applied the change
        schedules = grid.schedules(SENSOR)
        assert "patch_os_schedule" not in schedules[SENSOR], schedules
        assert "?" not in grid.path(SENSOR, REPO_FILE).read_text()
        # the manager had written its files before it was killed
        assert grid.path(MANAGER, ANALYTICS).read_bytes() == b""
        soc = json.loads(grid.path(MANAGER, SOC_JSON).read_text())
        assert soc["server"]["client"]["telemetryEnabled"] is False and "tests" in soc

    def test_status_grid_names_the_silent_minion(self, manager_killed):
        """``status --grid``: a minion not answering within --minion-timeout is
        named silent, exit 1, never a hang (text and JSON)."""
        text, js = manager_killed["status"]["text"], manager_killed["status"]["json"]
        assert text.returncode == 1, text.stdout + text.stderr
        assert f"silent: {MANAGER} (silent: no answer within {STATUS_TIMEOUT}s)" in text.stdout, text.stdout
        assert "deprecated" not in text.stderr, text.stderr
        assert js.returncode == 1, js.stdout + js.stderr
        items = {i["id"]: i for i in json.loads(js.stdout)}
        assert items[MANAGER]["answered"] is False and items[MANAGER]["converged"] is False, items
        assert items[SENSOR]["answered"] and items[AIRGAP]["answered"], items
