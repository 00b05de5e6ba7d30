"""``so-telemetry sync``: Synchronize Grid.

Runs ``state.highstate`` on every accepted minion matching the target, through
the local salt-master, and prints one line per minion as it returns::

    [1/3] so-manager: ok, 2 changed
    [-/3] so-sensor: busy: a highstate is already running, retry 1/3 in 10s
    [2/3] so-sensor: ok, 0 changed
    [3/3] so-idh: no answer within 900s
    Synchronize Grid: 3 minion(s), 2 ok, 1 failed (so-idh)

On a terminal one live line (done/total, running, failed, elapsed) is
redrawn in place under the per-minion lines; ``--json`` prints the
per-minion results as JSON at the end instead. Every run ends with the
grid's convergence (``status --grid``'s check, ``converged N/M``) and,
where the SOC analytics loader changed, when the analysts' browsers follow.

The minions are resolved from the master's accepted keys first, so a minion
that never answers is known and named. A minion already running a highstate
(the 15-minute schedule, another sync) answers with Salt's "is running as PID"
conflict: it is retried after ``--retry-wait`` seconds up to ``--retries``
times and counted failed if still busy. ``--queue`` passes ``queue=True`` to
``state.highstate``: a busy minion queues its run behind the running one
instead of answering busy (the retry stays for the non-queue path); the wait
still ends at ``--minion-timeout``.

``--batch N`` or ``--batch N%`` (of the matched minions, rounded up, at least
1): at most that many minions run at a time, as a sliding window over Salt's
job API (``LocalClient.run_job`` + the master event bus, the same machinery as
without ``--batch``): the first N are published in one job, and each time a
minion returns (or times out, or answers busy) the next waiting minion is
published at once. This is what ``salt --batch`` (``salt.cli.batch``) does
too, but Salt's batch prints its own output, polls the minions with
``saltutil.find_job`` every ``gather_job_timeout`` and returns no per-minion
job to retry; here each minion keeps its own job, progress line, busy retry
and ``--minion-timeout`` (counted from its own publish). A busy minion gives its slot
back while it waits for its retry, and is published again before minions not
yet started. Exit 0 when every minion is ok, 1 when
any failed, 2 when nothing could be run (no master configuration, no matching
minion, no master) or Salt itself failed: any exception from Salt (client,
event bus, key resolution) ends as a :class:`CliError` (one
``so-telemetry: error: ...`` line on stderr), never a traceback. The
differences between the Salt lines (3006.9, 3008.x) are in
``so_telemetry_core.saltcompat``.
"""

import json
import os
import re
import sys
import time

from so_telemetry_core import saltcompat
from so_telemetry.cli import grid as grid_check
from so_telemetry.cli import master
from so_telemetry.cli.master import first_line as _first_line
from so_telemetry.cli.output import CliError
from so_telemetry.cli.progress import Progress, is_terminal

# Default --timeout of a sync, per minion (a highstate may take minutes).
SYNC_TIMEOUT = 900
# Salt's answer when another state run (schedule, another sync) holds the minion.
BUSY_RE = re.compile(r'^The function "state\.[a-z_]+" is running as PID \d+')
# How long the closing convergence check waits for each minion.
CONVERGENCE_TIMEOUT = 60


class SyncError(CliError):
    """Nothing could be run: exit 2."""


def parse_batch(text):
    """``--batch`` value: ``("count", n)`` for ``N``, ``("percent", p)`` for
    ``N%`` (0 < p <= 100), ``None`` when not given. Raises :class:`SyncError`
    with a one-line message on anything else."""
    if text is None:
        return None
    value = str(text).strip()
    match = re.fullmatch(r"(\d+)(%?)", value)
    if not match:
        raise SyncError(f"--batch must be a number of minions (N) or a percentage (N%), not {text!r}")
    number, percent = int(match.group(1)), bool(match.group(2))
    if percent:
        if not 0 < number <= 100:
            raise SyncError(f"--batch percentage must be 1% to 100%, not {text!r}")
        return ("percent", number)
    if number < 1:
        raise SyncError(f"--batch must be at least 1 minion, not {text!r}")
    return ("count", number)


def batch_size(spec, total):
    """How many of ``total`` minions may run at once under ``spec`` (from
    :func:`parse_batch`): N, or N% of ``total`` rounded up; at least 1, at
    most ``total``. ``None`` (no ``--batch``): all of them."""
    total = max(0, int(total))
    if spec is None:
        return max(1, total)
    kind, number = spec
    size = number if kind == "count" else -(-total * number // 100)
    return max(1, min(size, total)) if total else 1


def classify(ret, retcode=0):
    """
    ``(status, detail)`` of one minion's ``state.highstate`` return:
    ``("ok", "<c> changed")``, ``("busy", message)`` or ``("failed", why)``.
    """
    if isinstance(ret, list) and ret and all(isinstance(r, str) for r in ret):
        if all(BUSY_RE.match(r) for r in ret):
            return "busy", _first_line(ret[0])
        return "failed", "highstate did not run: " + _first_line("; ".join(ret))
    if isinstance(ret, dict) and ret and all(isinstance(v, dict) and "result" in v for v in ret.values()):
        ordered = sorted(ret.items(), key=lambda kv: kv[1].get("__run_num__", 0))
        failed = [(key, val) for key, val in ordered if val.get("result") is False]
        changed = sum(1 for _key, val in ordered if val.get("changes"))
        if failed:
            key, val = failed[0]
            sid = val.get("__id__") or (key.split("_|-")[1] if "_|-" in key else key)
            return "failed", (
                f"{len(failed)} failed state(s): {sid}: {_first_line(val.get('comment', ''))}"
            )
        if retcode not in (0, None):
            return "failed", f"highstate exited {retcode} with {changed} changed and no failed state"
        return "ok", f"{changed} changed"
    if isinstance(ret, dict) and not ret:
        return "failed", "highstate returned nothing (no top file match?)"
    return "failed", "highstate did not run: " + _first_line(ret if isinstance(ret, str) else repr(ret))


def soc_changed(ret):
    """Whether a highstate return changed SOC's analytics loader."""
    return isinstance(ret, dict) and any(
        key.startswith("telemetry_|-") and key.endswith("_|-analytics_managed") and isinstance(val, dict)
        and val.get("changes") for key, val in ret.items()
    )


class Grid:
    """The state of one Synchronize Grid run."""

    def __init__(self, client, minions, args, size=None, progress=None):
        self.client = client
        self.total = len(minions)
        self.size = size or max(1, self.total)  # at most this many jobs at a time
        self.kwarg = {"queue": True} if getattr(args, "queue", False) else None
        self.waiting = list(minions)  # not yet published (a retry goes first)
        self.timeout = max(1, int(getattr(args, "minion_timeout", None) or SYNC_TIMEOUT))
        self.retries = max(0, int(args.retries))
        self.retry_wait = max(0.0, float(args.retry_wait))
        self.progress = progress or Progress(self.total, "lines")
        self.results = {}  # minion -> {"id", "result", "detail", "attempts", "soc_changed"}
        self.pending = {}  # minion -> (jid, deadline)
        self.retry_at = {}  # minion -> monotonic time of the next attempt
        self.attempts = {m: 0 for m in minions}
        self.stuck = False  # the master's event bus stopped answering

    @property
    def failed(self):
        return sorted(m for m, r in self.results.items() if r["result"] != "ok")

    # -- output
    def final(self, minion, status, detail, ret=None):
        self.results[minion] = {"id": minion, "result": "ok" if status == "ok" else "failed", "detail": detail,
                                "attempts": self.attempts[minion], "soc_changed": soc_changed(ret)}
        word = "ok" if status == "ok" else "FAILED"
        prefix = f"[{len(self.results)}/{self.total}] {minion}: {word}"
        self.progress.line(f"{prefix}, {detail}" if detail else prefix)
        self.tick(force=True)

    def tick(self, force=False):
        self.progress.status(len(self.results), len(self.pending), len(self.failed), force=force)

    # -- jobs
    def publish(self, minions):
        jid = master.publish(self.client, minions, "state.highstate", self.timeout, kwarg=self.kwarg)
        deadline = time.monotonic() + self.timeout
        for minion in minions:
            self.attempts[minion] += 1
            self.pending[minion] = (jid, deadline)
        self.tick(force=True)

    def handle(self, minion, data):
        status, detail = classify(data.get("return"), data.get("retcode"))
        del self.pending[minion]
        if status == "busy":
            tries = self.attempts[minion]  # 1 for the first run
            if tries <= self.retries:
                self.progress.line(
                    f"[-/{self.total}] {minion}: busy: a highstate is already running, "
                    f"retry {tries}/{self.retries} in {self.retry_wait:g}s ({detail})"
                )
                self.retry_at[minion] = time.monotonic() + self.retry_wait
                return
            self.final(
                minion, "failed",
                f"busy: a highstate was still running after {self.retries} "
                f"retr{'y' if self.retries == 1 else 'ies'} ({detail})",
            )
            return
        self.final(minion, status, detail, data.get("return"))

    def fill(self):
        """Publish waiting minions into the free slots (one job for all of them)."""
        free = self.size - len(self.pending)
        if free > 0 and self.waiting:
            batch, self.waiting = self.waiting[:free], self.waiting[free:]
            self.publish(batch)

    def due(self, now):
        """Retries whose wait is over go first; runs past their deadline fail."""
        ready = sorted((at, m) for m, at in self.retry_at.items() if at <= now)
        for _at, minion in ready:
            del self.retry_at[minion]
        self.waiting[:0] = [m for _at, m in ready]
        self.fill()
        for minion, (_jid, deadline) in sorted(self.pending.items()):
            if deadline <= now:
                del self.pending[minion]
                self.final(minion, "failed", f"no answer within {self.timeout}s")

    def run(self):
        while self.pending or self.retry_at or self.waiting:
            self.due(time.monotonic())
            self.tick()
            if not self.pending:
                if self.retry_at and not self.waiting:
                    time.sleep(max(0.0, min(0.5, min(self.retry_at.values()) - time.monotonic())))
                continue
            wait = 0.5
            if self.retry_at:
                wait = max(0.01, min(wait, min(self.retry_at.values()) - time.monotonic()))
            try:
                ret = master.next_return(self.client, wait)
            except saltcompat.EventBusStuck as exc:
                self.bus_lost(str(exc))
                return
            if ret and ret[1] in self.pending and self.pending[ret[1]][0] == ret[0]:
                self.handle(ret[1], ret[2])

    def bus_lost(self, why):
        """The master went away: every minion still running or waiting is
        reported failed, at once."""
        self.stuck = True
        for minion in sorted(self.pending):
            self.final(minion, "failed", f"no answer: {why} (is the salt-master running?)")
        self.pending.clear()
        for minion in sorted(set(self.waiting) | set(self.retry_at)):
            self.final(minion, "failed", f"not started: {why}")
        self.waiting, self.retry_at = [], {}

    def summary(self):
        self.progress.close()
        failed = self.failed
        line = f"Synchronize Grid: {self.total} minion(s), {self.total - len(failed)} ok, {len(failed)} failed"
        if failed:
            line += f" ({', '.join(failed)})"
        self.progress.line(line)
        return 0 if not failed and len(self.results) == self.total else 1


BROWSERS = ("analysts' browsers stop loading Tag Manager at their next page load; turning it on reaches a "
            "browser at its next hard refresh (CTRL+SHIFT+R) or when its cached copy expires")


def closing(grid, client, minions):
    """The grid's convergence after the run, and when the browsers follow a
    SOC change: lines for a person, and the per-minion objects for JSON. A
    minion that gave no answer to the highstate is not asked again: silent."""
    answered = [m for m in minions if not grid.results.get(m, {}).get("detail", "").startswith("no answer")]
    items = {m: grid_check.entry(m, None) for m in minions}
    unknown = None
    if answered and not master.answers(client.opts):
        unknown = "the salt-master does not answer any more"
    elif answered:
        try:
            items.update((i["id"], i) for i in grid_check.check(client, answered,
                                                                min(CONVERGENCE_TIMEOUT, grid.timeout)))
        except CliError as exc:
            unknown = str(exc)
    lines = [f"Convergence: not known ({unknown})" if unknown else
             f"Convergence: {grid_check.summary(list(items.values()))}"]
    for minion in sorted(m for m, r in grid.results.items() if r["soc_changed"]):
        soc = items.get(minion, {}).get("soc") or "unknown"
        lines.append(f"SOC Telemetry changed on {minion} (its loader is now {soc}): {BROWSERS}.")
    results = [dict(grid.results.get(m, {"id": m, "result": "failed", "detail": "not run"}),
                    converged=items[m]["converged"], pending=items[m]["pending"], answered=items[m]["answered"])
               for m in minions]
    return lines, results


def run(args):
    """Synchronize Grid. Returns the exit code; raises :class:`CliError`
    when nothing could be run or Salt failed."""
    target = getattr(args, "target", None) or "*"
    spec = parse_batch(getattr(args, "batch", None))
    with master.session(getattr(args, "config_dir", None)) as (client, opts):
        minions = master.resolve(opts, target)
        if not minions:
            raise SyncError(f"no accepted minion matches {target!r} (salt-key -L)")
        return _sync(client, minions, spec, args)


def _sync(client, minions, spec, args):
    size = batch_size(spec, len(minions))
    mode = "quiet" if getattr(args, "json", False) else ("live" if is_terminal(sys.stdout) else "lines")
    progress = Progress(len(minions), mode)
    how = f", at most {size} at a time (--batch {args.batch})" if spec else ""
    progress.line(f"Synchronize Grid: highstate on {len(minions)} minion(s){how}: {', '.join(minions)}")
    grid = Grid(client, minions, args, size=size, progress=progress)
    grid.run()
    code = grid.summary()
    if grid.stuck:
        # Salt's reader thread is stuck for good (saltcompat.get_event), and
        # the interpreter would wait for it at exit.
        if mode == "quiet":
            print(json.dumps(list(grid.results.values()), indent=2, sort_keys=True))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # pylint: disable=protected-access
    lines, results = closing(grid, client, minions)
    if mode == "quiet":
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        for text in lines:
            progress.line(text)
    return code
