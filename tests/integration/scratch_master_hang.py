"""Scratch (not collected): the master killed after some minions returned."""
import time

from .conftest import AIRGAP, MANAGER, SENSOR, Lines, final_lines


def test_master_killed_after_some_returned(grid, event_listener):
    gate = grid.gate("hang")
    grid.set_pillar({}, so_manager={"soc": {"config": {"tests": {"run": gate.dir.name}}, "reload_cmd": gate.cmd}})
    proc = grid.start_sync("--minion-timeout", "8", "--retries", "0")
    out = Lines(proc)
    t0 = time.monotonic()
    grid.wait_for(lambda: gate.is_reached() and {SENSOR, AIRGAP} <= set(final_lines(out.text)), timeout=60)
    t_kill = time.monotonic()
    grid.master.terminate()
    try:
        rc, stdout, stderr = out.finish(180)
    finally:
        t_end = time.monotonic()
        gate.open()
        since = time.time()
        grid.master.start(start_timeout=120)
        grid.reconnect(event_listener, since)
        grid.kill_jobs()
        grid.wait_idle(60)
        grid.set_pillar({})
    print(f"\nHANG: killed at {t_kill - t0:.1f}s, sync ended {t_end - t0:.1f}s after start, rc {rc}\n{stdout}\n{stderr}")
