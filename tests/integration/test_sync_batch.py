"""``so-telemetry sync --batch`` and ``--queue``, and a minion busy with
another highstate, on the real grid (the package-scoped master + 3 minions of
conftest.py). The window logic itself (sizes, order, retries) is proven over
a fake client in tests/unit/cli/test_sync_batch.py; here, what only real
daemons show: the jobs the master publishes, Salt's busy answer, a queued
highstate.

How many minions run at a time is read from the master's own job events, not
from the command's output: each minion's job is published
(``salt/job/<jid>/new``, stamped by the master) and returns
(``salt/job/<jid>/ret/<minion>``).
"""

import re
import subprocess
import time

import pytest

from .conftest import ALL, ANALYTICS, MANAGER, RETRY, assert_synced_ok, final_lines, summary

pytestmark = pytest.mark.integration


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


def test_batch_runs_at_most_n_at_a_time(grid, event_listener):
    """``--batch 50%`` of 3 minions is 1.5, rounded up: 2. Every minion ok,
    the usual lines and summary, and the master's job events show no job
    for more than 2 minions and never 3 highstates in flight (the third is
    published once one returns)."""
    grid.set_pillar({})
    started = time.time()
    proc = grid.sync("--batch", "50%", *RETRY)
    print(proc.stdout)
    assert_synced_ok(proc, ALL)
    assert proc.stdout.splitlines()[0] == (
        f"Synchronize Grid: highstate on 3 minion(s), at most 2 at a time (--batch 50%): {', '.join(sorted(ALL))}"
    )
    # the ret events can trail the command's exit by a moment
    intervals, published = grid.wait_for(
        lambda: (lambda got: got if all(got[0].values()) else None)(
            job_intervals(event_listener, grid.master, started, ALL)),
        timeout=30, what="every minion's job events")
    print({m: [(a.isoformat(), b.isoformat()) for a, b in v] for m, v in intervals.items()})
    jobs = [minions for _stamp, minions in sorted(published.values())]
    assert len(jobs[0]) == 2 and all(len(minions) <= 2 for minions in jobs), published
    flat = [iv for v in intervals.values() for iv in v]
    assert all(a <= b for a, b in flat)
    assert max_overlap(flat) <= 2, intervals


def test_busy_minion_fails_or_queues(grid):
    """A highstate already runs on the manager (held in its SOC reload):

    * plain sync, no retry left: counted failed with Salt's busy answer,
      never a silent success;
    * ``--queue``: our highstate queues behind it (``queue=True``) instead of
      answering busy, and is ok once it ends, with no retry at all;
    * a queued run still ends at ``--minion-timeout``: named, failed, exit 1
      (given as ``--timeout``, the spelling before 0.3.0: it still means
      this, with a note on stderr; the one test of the old spelling here).
    """
    gate = grid.gate("busy")
    # soc:config changes soc.json whatever the manager had: the reload runs
    grid.set_pillar({}, so_manager={"soc": {"config": {"tests": {"run": gate.dir.name}}, "reload_cmd": gate.cmd}})
    queued = None
    try:
        ret = grid.master.salt_cli(timeout=60).run("state.highstate", "--async", minion_tgt=MANAGER)
        assert ret.returncode == 0, ret.stdout + ret.stderr
        grid.wait_for(gate.is_reached, timeout=120, interval=0.1, what="the manager's highstate in the SOC reload")

        proc = grid.sync("--target", MANAGER, "--retries", "0")
        print(proc.stdout, proc.stderr)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert final_lines(proc.stdout)[MANAGER].startswith(
            f'[1/1] {MANAGER}: FAILED, busy: a highstate was still running after 0 retries (The function '
            f'"state.highstate" is running as PID'), proc.stdout
        assert summary(proc.stdout) == ("1", "0", "1", MANAGER)

        queued = grid.start_sync("--target", MANAGER, "--queue", "--retries", "0", "--minion-timeout", "300")
        proc = grid.sync("--target", MANAGER, "--queue", "--timeout", "3")
        print(proc.stdout, proc.stderr)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert final_lines(proc.stdout)[MANAGER] == f"[1/1] {MANAGER}: FAILED, no answer within 3s"
        assert summary(proc.stdout) == ("1", "0", "1", MANAGER)
        assert proc.stderr.startswith("so-telemetry: note: --timeout for sync is deprecated"), proc.stderr
        assert "use --minion-timeout 3 " in proc.stderr, proc.stderr
        # both queued highstates are on the manager, behind the held one
        grid.wait_for(lambda: len(grid.state_jobs(MANAGER)) >= 3, timeout=60, interval=0.5,
                      what="two queued highstates on the manager")
    except BaseException:
        if queued:
            queued.kill()
        raise
    finally:
        gate.open()
    out, err = queued.communicate(timeout=300)
    print(out, err)
    assert ": busy:" not in out, out
    assert_synced_ok(subprocess.CompletedProcess(queued.args, queued.returncode, out, err), [MANAGER])
    assert "googletagmanager" in grid.path(MANAGER, ANALYTICS).read_text()
    # the timed-out sync's queued highstate still runs; let it finish
    grid.wait_for(lambda: not grid.state_jobs(MANAGER), timeout=180, interval=1, what="the manager to be idle")
    grid.set_pillar({})
