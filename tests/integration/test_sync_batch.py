"""``so-telemetry sync --batch`` and ``--queue`` on the real grid (the
package-scoped master + 3 minions of conftest.py).

How many minions run at a time is read from the master's own job events, not
from the command's output: each minion's job is published
(``salt/job/<jid>/new``, stamped by the master) and returns
(``salt/job/<jid>/ret/<minion>``); with ``--batch 1`` those intervals never
overlap.
"""

import re
import subprocess
import time

import pytest

from tests.conftest import SO_TELEMETRY
from .conftest import AIRGAP, MANAGER, SENSOR
from .test_grid import ANALYTICS, RETRY, assert_synced_ok, final_lines, summary

pytestmark = pytest.mark.integration

ALL = (MANAGER, SENSOR, AIRGAP)


def job_intervals(event_listener, master, started, minions):
    """{minion: [(published, returned)]} of the ``state.highstate`` jobs the
    master published to ``minions`` since ``started`` (master event stamps)."""
    news = event_listener.get_events([(master.id, "salt/job/*/new")], after_time=started)
    rets = event_listener.get_events([(master.id, "salt/job/*/ret/*")], after_time=started)
    published = {}
    for ev in news:
        if ev.data.get("fun") == "state.highstate" and set(ev.data.get("minions") or []) & set(minions):
            published[ev.data["jid"]] = (ev.stamp, list(ev.data["minions"]))
    out = {m: [] for m in minions}
    for ev in rets:
        match = re.match(r"^salt/job/(\d+)/ret/(.+)$", ev.tag)
        if match and match.group(1) in published and match.group(2) in out:
            out[match.group(2)].append((published[match.group(1)][0], ev.stamp))
    return out, published


def max_overlap(intervals):
    """The largest number of intervals open at one instant."""
    points = sorted([(a, 1) for a, _b in intervals] + [(b, -1) for _a, b in intervals], key=lambda p: (p[0], p[1]))
    cur = best = 0
    for _t, step in points:
        cur += step
        best = max(best, cur)
    return best


@pytest.mark.parametrize("batch, size", [("1", 1), ("2", 2)])
def test_batch_runs_at_most_n_at_a_time(grid, event_listener, batch, size):
    """``--batch N``: every minion ok, the usual lines and summary, and the
    master's job events show at most N highstates in flight at any time
    (batch 1: the intervals never overlap)."""
    grid.set_pillar({})
    started = time.time()
    proc = grid.sync("--batch", batch, *RETRY)
    print(proc.stdout)
    assert_synced_ok(proc, ALL)
    assert proc.stdout.splitlines()[0] == (
        f"Synchronize Grid: highstate on 3 minion(s), at most {size} at a time (--batch {batch}): "
        f"{', '.join(sorted(ALL))}"
    )
    # the ret events can trail the command's exit by a moment
    intervals, published = grid.wait_for(
        lambda: (lambda got: got if all(got[0].values()) else None)(
            job_intervals(event_listener, grid.master, started, ALL)),
        timeout=30, what="every minion's job events")
    print({m: [(a.isoformat(), b.isoformat()) for a, b in v] for m, v in intervals.items()})
    assert all(len(v) >= 1 for v in intervals.values()), intervals
    # every published job carries at most `size` minions
    assert all(len(minions) <= size for _stamp, minions in published.values()), published
    flat = [iv for v in intervals.values() for iv in v]
    assert all(a <= b for a, b in flat)
    assert max_overlap(flat) <= size, intervals
    if size == 1:
        ordered = sorted(flat)
        for (_a1, b1), (a2, _b2) in zip(ordered, ordered[1:]):
            assert b1 <= a2, f"two highstates in flight at once: {ordered}"


def test_batch_percent_rounds_up(grid):
    """25% of 3 minions is 0.75: rounded up to 1."""
    grid.set_pillar({})
    proc = grid.sync("--batch", "25%", *RETRY)
    assert_synced_ok(proc, ALL)
    assert "at most 1 at a time (--batch 25%)" in proc.stdout.splitlines()[0]


def test_bad_batch_exits_2_before_salt(grid):
    proc = grid.sync("--batch", "0%")
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout + proc.stderr
    assert proc.stderr == "so-telemetry: error: --batch percentage must be 1% to 100%, not '0%'\n"


def _slow_highstate_running(grid):
    """A highstate on the manager that sleeps 15 s in the SOC reload (the
    SOC files change: telemetry off, then on)."""
    grid.set_pillar({}, so_manager={"soc": {"telemetryEnabled": False}})
    assert_synced_ok(grid.sync("--target", MANAGER, *RETRY), [MANAGER])
    grid.set_pillar({}, so_manager={"soc": {"telemetryEnabled": True, "reload_cmd": "sleep 15"}})
    ret = grid.master.salt_cli(timeout=60).run("state.highstate", "--async", minion_tgt=MANAGER)
    assert ret.returncode == 0, ret.stdout + ret.stderr
    grid.wait_for(
        lambda: grid.call(MANAGER, "saltutil.is_running", "state.highstate"), timeout=30, what="the slow highstate"
    )
    return time.monotonic()


def test_queue_waits_behind_a_running_highstate(grid):
    """``--queue``: a minion busy with a highstate queues ours behind it
    (``queue=True``) instead of answering busy: ok with no retry at all."""
    began = _slow_highstate_running(grid)
    proc = grid.sync("--target", MANAGER, "--batch", "1", "--queue", "--retries", "0", "--timeout", "120")
    print(proc.stdout)
    assert ": busy:" not in proc.stdout
    assert_synced_ok(proc, [MANAGER])
    assert time.monotonic() - began >= 5  # it did wait for the slow run
    assert "googletagmanager" in grid.path(MANAGER, ANALYTICS).read_text()


def test_queue_wait_ends_at_timeout(grid):
    """A queued run still ends within ``--timeout``: named, failed, exit 1."""
    began = _slow_highstate_running(grid)
    proc = subprocess.run(
        [SO_TELEMETRY, "--config-dir", grid.config_dir, "sync", "--target", MANAGER, "--queue", "--timeout", "4"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, check=False,
    )
    took = time.monotonic() - began
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert final_lines(proc.stdout)[MANAGER] == f"[1/1] {MANAGER}: FAILED, no answer within 4s"
    assert summary(proc.stdout) == ("1", "0", "1", MANAGER)
    assert took < 15, took  # gave up before the slow highstate ended
    # the queued highstate still runs once the slow one ends; let it finish
    for _ in range(2):
        grid.wait_for(lambda: not grid.call(MANAGER, "saltutil.is_running", "state.highstate"), timeout=120,
                      interval=1, what="the manager to be idle")
        time.sleep(3)
    grid.set_pillar({})
