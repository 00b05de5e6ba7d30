"""``so-telemetry sync``: Synchronize Grid.

Runs ``state.highstate`` on every accepted minion matching the target, through
the local salt-master, and prints one line per minion as it returns::

    [1/3] so-manager: ok, 2 changed
    [-/3] so-sensor: busy: a highstate is already running, retry 1/3 in 10s
    [2/3] so-sensor: ok, 0 changed
    [3/3] so-idh: no answer within 900s
    Synchronize Grid: 3 minion(s), 2 ok, 1 failed (so-idh)

The minions are resolved from the master's accepted keys first, so a minion
that never answers is known and named. A minion already running a highstate
(the 15-minute schedule, another sync) answers with Salt's "is running as PID"
conflict: it is retried after ``--retry-wait`` seconds up to ``--retries``
times and counted failed if still busy. ``--queue`` passes ``queue=True`` to
``state.highstate``: a busy minion queues its run behind the running one
instead of answering busy (the retry stays for the non-queue path); the wait
still ends at ``--timeout``.

``--batch N`` or ``--batch N%`` (of the matched minions, rounded up, at least
1): at most that many minions run at a time, as a sliding window over Salt's
job API (``LocalClient.run_job`` + the master event bus, the same machinery as
without ``--batch``): the first N are published in one job, and each time a
minion returns (or times out, or answers busy) the next waiting minion is
published at once. This is what ``salt --batch`` (``salt.cli.batch``) does
too, but Salt's batch prints its own output, polls the minions with
``saltutil.find_job`` every ``gather_job_timeout`` and returns no per-minion
job to retry; here each minion keeps its own job, progress line, busy retry
and ``--timeout`` (counted from its own publish). A busy minion gives its slot
back while it waits for its retry, and is published again before minions not
yet started. Exit 0 when every minion is ok, 1 when
any failed, 2 when nothing could be run (no master configuration, no matching
minion, no master) or Salt itself failed: any exception from Salt (client,
event bus, key resolution) ends as a :class:`CliError` (one
``so-telemetry: error: ...`` line on stderr), never a traceback. The
differences between the Salt lines (3006.9, 3008.x) are in
``so_telemetry.saltcompat``.
"""

import os
import re
import sys
import time

from so_telemetry import saltcompat
from so_telemetry.cli.output import CliError

# Default --timeout of a sync, per minion (a highstate may take minutes).
SYNC_TIMEOUT = 900

# Salt's answer when another state run (schedule, another sync) holds the minion.
BUSY_RE = re.compile(r'^The function "state\.[a-z_]+" is running as PID \d+')
# A minion's return on the master event bus.
RET_TAG_RE = re.compile(r"^salt/job/(?P<jid>\d+)/ret/(?P<id>.+)$")


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


def _out(line):
    print(line, flush=True)


def _first_line(text, limit=300):
    text = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def _load(config_dir):
    """``(LocalClient, opts)`` for the master config in ``config_dir``."""
    import salt.client  # pylint: disable=import-outside-toplevel
    import salt.config  # pylint: disable=import-outside-toplevel
    import salt.exceptions  # pylint: disable=import-outside-toplevel

    master_conf = os.path.join(config_dir or "/etc/salt", "master")
    if not os.path.isfile(master_conf):
        raise SyncError(
            f"no salt-master configuration at {master_conf} (run this on the manager, or pass --config-dir)"
        )
    # The configuration is read before the client exists: Salt exits the
    # process (SystemExit) on a configuration it cannot parse, and a
    # LocalClient half-built by that prints a traceback when collected.
    try:
        opts = salt.config.client_config(master_conf)
    except SystemExit as exc:
        raise SyncError(f"cannot read the salt-master configuration {master_conf} (Salt exited {exc.code})") from None
    except (salt.exceptions.SaltException, OSError) as exc:
        raise SyncError(f"cannot use the salt-master configuration {master_conf}: {exc}") from exc
    class Client(salt.client.LocalClient):
        """A LocalClient whose failed ``__init__`` (unreadable master key...)
        does not print a traceback when collected: Salt's ``__del__`` closes
        an event bus that was never opened."""

        def __del__(self):
            if "event" in vars(self):
                super().__del__()

    try:
        client = Client(mopts=opts)
    except (salt.exceptions.SaltException, OSError) as exc:
        raise SyncError(f"cannot use the salt-master configuration {master_conf}: {exc}") from exc
    return client, client.opts


def resolve(opts, target):
    """Sorted ids of the accepted minions matching the glob ``target``."""
    return saltcompat.check_minions(opts, target, "glob", fun="state.highstate")


class Grid:
    """The state of one Synchronize Grid run."""

    def __init__(self, client, minions, args, size=None):
        self.client = client
        self.total = len(minions)
        self.size = size or max(1, self.total)  # at most this many jobs at a time
        self.kwarg = {"queue": True} if getattr(args, "queue", False) else None
        self.waiting = list(minions)  # not yet published (a retry goes first)
        self.timeout = max(1, int(args.timeout or SYNC_TIMEOUT))
        self.retries = max(0, int(args.retries))
        self.retry_wait = max(0.0, float(args.retry_wait))
        self.done = 0
        self.ok = []
        self.failed = []
        self.pending = {}  # minion -> (jid, deadline)
        self.retry_at = {}  # minion -> monotonic time of the next attempt
        self.attempts = {m: 0 for m in minions}
        self.stuck = False  # the master's event bus stopped answering

    # -- output
    def final(self, minion, status, detail):
        self.done += 1
        (self.ok if status == "ok" else self.failed).append(minion)
        word = "ok" if status == "ok" else "FAILED"
        prefix = f"[{self.done}/{self.total}] {minion}: {word}"
        _out(f"{prefix}, {detail}" if detail else prefix)

    # -- jobs
    def publish(self, minions):
        import salt.exceptions  # pylint: disable=import-outside-toplevel

        try:
            # the publish itself is quick; the minions' answers are awaited below
            pub = self.client.run_job(
                sorted(minions), "state.highstate", tgt_type="list", timeout=min(self.timeout, 15),
                kwarg=self.kwarg, listen=True,
            )
        except (salt.exceptions.SaltClientError, salt.exceptions.EauthAuthenticationError) as exc:
            raise SyncError(f"cannot publish to the salt-master: {exc}") from exc
        if not pub or not pub.get("jid"):
            raise SyncError(f"the salt-master refused the job for {', '.join(sorted(minions))}: {pub!r}")
        deadline = time.monotonic() + self.timeout
        for minion in minions:
            self.attempts[minion] += 1
            self.pending[minion] = (str(pub["jid"]), deadline)

    def handle(self, minion, data):
        status, detail = classify(data.get("return"), data.get("retcode"))
        del self.pending[minion]
        if status == "busy":
            tries = self.attempts[minion]  # 1 for the first run
            if tries <= self.retries:
                wait = self.retry_wait
                _out(
                    f"[-/{self.total}] {minion}: busy: a highstate is already running, "
                    f"retry {tries}/{self.retries} in {wait:g}s ({detail})"
                )
                self.retry_at[minion] = time.monotonic() + wait
                return
            self.final(
                minion, "failed",
                f"busy: a highstate was still running after {self.retries} "
                f"retr{'y' if self.retries == 1 else 'ies'} ({detail})",
            )
            return
        self.final(minion, status, detail)

    def fill(self):
        """Publish waiting minions into the free slots (one job for all of them)."""
        free = self.size - len(self.pending)
        if free > 0 and self.waiting:
            batch, self.waiting = self.waiting[:free], self.waiting[free:]
            self.publish(batch)

    def run(self):
        event = self.client.event
        while self.pending or self.retry_at or self.waiting:
            now = time.monotonic()
            due = sorted((at, m) for m, at in self.retry_at.items() if at <= now)
            if due:
                for _at, minion in due:
                    del self.retry_at[minion]
                self.waiting[:0] = [m for _at, m in due]
            self.fill()
            for minion, (_jid, deadline) in sorted(self.pending.items()):
                if deadline <= now:
                    del self.pending[minion]
                    self.final(minion, "failed", f"no answer within {self.timeout}s")
            if not self.pending:
                if self.waiting:
                    continue
                if self.retry_at:
                    time.sleep(max(0.0, min(self.retry_at.values()) - time.monotonic()))
                continue
            wait = 0.5
            if self.retry_at:
                wait = max(0.01, min(wait, min(self.retry_at.values()) - time.monotonic()))
            try:
                ev = saltcompat.get_event(event, wait, tag="salt/job/", match_type="startswith", full=True)
            except saltcompat.EventBusStuck as exc:
                self.bus_lost(str(exc))
                return
            if not ev:
                continue
            match = RET_TAG_RE.match(ev.get("tag", ""))
            data = ev.get("data") or {}
            if not match:
                continue
            minion = match.group("id")
            if minion in self.pending and self.pending[minion][0] == match.group("jid"):
                self.handle(minion, data)

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
        line = f"Synchronize Grid: {self.total} minion(s), {len(self.ok)} ok, {len(self.failed)} failed"
        if self.failed:
            line += f" ({', '.join(sorted(self.failed))})"
        _out(line)
        return 0 if not self.failed and len(self.ok) == self.total else 1


def run(args):
    """Synchronize Grid. Returns the exit code; raises :class:`CliError`
    when nothing could be run or Salt failed."""
    target = getattr(args, "target", None) or "*"
    try:
        spec = parse_batch(getattr(args, "batch", None))
        client, opts = _load(getattr(args, "config_dir", None))
        try:
            return _sync(client, opts, target, spec, args)
        finally:
            try:
                client.destroy()
            except Exception:  # pylint: disable=broad-except
                pass
    except CliError:
        raise
    except SystemExit as exc:
        # Salt exits the process on some errors (configuration, permissions)
        raise CliError(f"Salt gave up (exit {exc.code})") from None
    except Exception as exc:  # pylint: disable=broad-except
        # Salt raises from deep inside (LocalClient, the event bus, the key
        # cache), with types that differ between Salt lines: one line, exit 2.
        raise CliError(f"Salt failed: {type(exc).__name__}: {_first_line(exc) or 'no detail'}") from None


def _sync(client, opts, target, spec, args):
    minions = resolve(opts, target)
    if not minions:
        raise SyncError(f"no accepted minion matches {target!r} (salt-key -L)")
    size = batch_size(spec, len(minions))
    how = f", at most {size} at a time (--batch {args.batch})" if spec else ""
    _out(f"Synchronize Grid: highstate on {len(minions)} minion(s){how}: {', '.join(minions)}")
    grid = Grid(client, minions, args, size=size)
    grid.run()
    code = grid.summary()
    if grid.stuck:
        # Salt's reader thread is stuck for good (saltcompat.get_event), and
        # the interpreter would wait for it at exit.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # pylint: disable=protected-access
    return code
