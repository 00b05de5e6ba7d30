"""The consent trail's file: one JSON line per record, a SHA-256 hash chain,
written whole and atomically under a lock. What goes into a record (the
channels, their effective states, where each is set) is
:mod:`so_telemetry_core.consent`'s.

A record is one line of ASCII JSON, keys in the order of :data:`FIELDS`::

    {"seq":4,"time":"2026-12-03T10:05:12Z","channel":"soc","old":"on","new":"off",
     "via":"cli","by":"alice","source":"/opt/so/saltstack/local/pillar/soc/soc_soc.sls soc:telemetryEnabled",
     "prev":"<sha256 hex of line 3>"}

``ensure_ascii`` escapes every control and non-ASCII character (``\\n``,
``\\u2028``), so no value can break a line. ``prev`` is the SHA-256 (hex) of
the previous line's bytes without its newline; the first record's is
:data:`GENESIS` (64 zeros). ``seq`` numbers the records from 1, so a removed
record shows as a gap.

What the chain proves, and what not: an edit, a removal or an insertion
*inside* the trail breaks it (:func:`verify` names the first such line). It
holds no secret key: whoever can write the file can rewrite the whole chain
consistently; removing records from the end, or altering the last record,
leaves a valid chain. Copy the trail off the manager to keep that evidence.

Writing: under an exclusive ``flock`` of ``.<name>.lock`` beside the trail,
the whole trail (small: a line per change) is rewritten into a temporary file
in the same directory, fsync'd and renamed over it. A writer killed at any
point leaves the old trail or the new one, never a torn line; a full disk
leaves the old trail and no temporary file.
"""

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import stat
import tempfile

from salt.exceptions import CommandExecutionError

CHANNELS = ("soc", "os_updates", "airgap")
FIELDS = ("seq", "time", "channel", "old", "new", "via", "by", "source", "prev")
GENESIS = "0" * 64
FILE_MODE = 0o640
DIR_MODE = 0o750

class TrailError(CommandExecutionError):
    """The trail cannot be read or written (``errno`` of the cause, when one)."""

    def __init__(self, message, errno=None):
        super().__init__(message)
        self.errno = errno


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def dumps(record):
    """The record as its line (no newline): ASCII JSON, keys in :data:`FIELDS` order."""
    return json.dumps({k: record[k] for k in FIELDS}, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def line_hash(raw):
    return hashlib.sha256(raw).hexdigest()


class Line:
    """One line of the trail: its ``number`` (from 1), ``raw`` bytes (no
    newline), the ``record`` when it is one, else the ``error``."""

    def __init__(self, number, raw):
        self.number, self.raw = number, raw
        self.record, self.error = _parse(raw)


def _parse(raw):
    try:
        rec = json.loads(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"not JSON ({exc})"
    if not isinstance(rec, dict) or set(rec) != set(FIELDS):
        return None, f"not a record (fields {sorted(rec) if isinstance(rec, dict) else type(rec).__name__})"
    checks = (isinstance(rec["seq"], int) and not isinstance(rec["seq"], bool), rec["channel"] in CHANNELS,
              rec["old"] in (None, "on", "off"), rec["new"] in ("on", "off"),
              all(isinstance(rec[k], str) for k in ("time", "via", "by", "source", "prev")))
    if not all(checks):
        return None, "not a record (a field has a value no record holds)"
    return rec, None


class Trail:
    """The trail at ``path`` as read: ``exists``, ``data`` (its bytes),
    ``lines`` (:class:`Line`), ``torn`` (the data ends without a newline)."""

    def __init__(self, path, data=None):
        self.path, self.exists, self.data = path, data is not None, data or b""
        chunks = self.data.split(b"\n")
        self.torn = chunks[-1] != b""
        if not self.torn:
            chunks.pop()
        self.lines = [Line(i, raw) for i, raw in enumerate(chunks, 1)]

    def records(self, channel=None):
        return [ln for ln in self.lines if ln.record and channel in (None, ln.record["channel"])]

    def last(self):
        """``{channel: Line}`` of each channel's last record."""
        return {ln.record["channel"]: ln for ln in self.records()}


def read(path):
    """The :class:`Trail` at ``path`` (``exists`` False when there is none).
    Only a regular file is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return Trail(path)
    except OSError as exc:
        raise _failed("read", path, exc) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise TrailError(f"the consent trail {path} is not a regular file")
    try:
        with os.fdopen(fd, "rb") as fh:
            return Trail(path, fh.read())
    except OSError as exc:
        raise _failed("read", path, exc) from None


def process_started():
    """A lower bound (epoch seconds) of when this process started: Linux's
    ``/proc/self/stat`` start time after boot plus ``/proc/stat``'s ``btime``
    (whole seconds, rounded down). ``None`` when it cannot be read."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat", encoding="ascii") as fh:
            btime = next(int(ln.split()[1]) for ln in fh if ln.startswith("btime "))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def written_since(path, started, slack=5):
    """Whether the trail at ``path`` was (re)written at ``started`` or later
    (``slack`` seconds of clock step allowed for); True when ``started`` is
    unknown, False when there is no trail."""
    try:
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return started is None or mtime >= started - slack


def chain(trail, entries, when=None):
    """The records ``entries`` (:func:`entry`) become once appended to
    ``trail``: numbered, timed and chained."""
    out = []
    prev = line_hash(trail.lines[-1].raw) if trail.lines else GENESIS
    last = trail.lines[-1].record if trail.lines else None
    seq = (last["seq"] if last else len(trail.lines)) + 1
    for ent in entries:
        rec = dict(ent, seq=seq, time=when or now(), prev=prev)
        rec = {k: rec[k] for k in FIELDS}
        prev, seq = line_hash(dumps(rec).encode("ascii")), seq + 1
        out.append(rec)
    return out


def lock_path(path):
    directory, name = os.path.split(os.path.realpath(path))
    return os.path.join(directory, f".{name}.lock")


def _makedirs(directory):
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
        os.chmod(directory, DIR_MODE)


def _failed(what, path, exc):
    return TrailError(f"cannot {what} the consent trail {path}: [Errno {exc.errno}] {exc.strerror or exc}", exc.errno)


@contextlib.contextmanager
def locked(path):
    """Exclusive ``flock`` of the trail's lock file (``.<name>.lock``, never
    removed) for a read-append; blocks until any other writer is done."""
    try:
        _makedirs(os.path.dirname(os.path.realpath(path)))
        fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise _failed("lock", path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _remove_litter(directory, name):
    """Remove the temporary files of writers killed mid-write (SIGKILL): under
    the lock no other writer can be writing one."""
    for entry_name in os.listdir(directory):
        if entry_name.startswith(f".{name}.") and entry_name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, entry_name))


def write(trail, records):
    """Append ``records`` (from :func:`chain`) to ``trail`` (read under the
    lock): the trail rewritten whole into a temporary file beside it, fsync'd,
    ``root:root 0640``, renamed over it. On failure the old trail stays as it
    was and no temporary file remains (one left by a writer killed mid-write
    is removed by the next)."""
    data = trail.data + (b"\n" if trail.torn else b"") + b"".join(dumps(r).encode("ascii") + b"\n" for r in records)
    real = os.path.realpath(trail.path)
    directory, name = os.path.split(real)
    tmp = None
    try:
        _makedirs(directory)
        _remove_litter(directory, name)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), FILE_MODE)
            if os.geteuid() == 0:
                os.fchown(fh.fileno(), 0, 0)
            os.fsync(fh.fileno())
        os.replace(tmp, real)
        tmp = None
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as exc:
        raise _failed("write", trail.path, exc) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return records


def _diagnose(lines, hashes, i):
    """What the break at ``lines[i]`` says (its ``prev`` is not the hash of
    the line before, or its ``seq`` does not follow): ``(line number, problem)``."""
    def expected(j):
        return GENESIS if j == 0 else hashes[j - 1]

    line, nxt = lines[i], lines[i + 1] if i + 1 < len(lines) else None
    num, rec = line.number, line.record
    nxt_prev = nxt.record["prev"] if nxt is not None and nxt.record else None
    if nxt_prev == expected(i):
        to = f"line {num - 1}" if num > 1 else "the start"
        return num, f"line {num} was inserted (line {num + 1} chains to {to})"
    if rec["prev"] == expected(i):
        return num, f"line {num} was altered (its seq)"
    if i >= 1 and rec["prev"] == expected(i - 1):
        to = f"line {num - 2}" if num > 2 else "the start"
        return num - 1, f"line {num - 1} was inserted (line {num} chains to {to})"
    before = lines[i - 1].record["seq"] if i >= 1 else 0
    if rec["seq"] > before + 1:
        gone = f"record {before + 1}" if rec["seq"] == before + 2 else f"records {before + 1} to {rec['seq'] - 1}"
        return num, f"{gone} removed before line {num}"
    if i == 0 or (nxt_prev is not None and nxt_prev != hashes[i]):
        return num, f"line {num} was altered"
    return num - 1, f"line {num - 1} was altered (line {num} holds the SHA-256 of another text)"


def verify(trail):
    """Check the chain: ``{"ok": True, "records": n}``, or ``{"ok": False,
    "line": n, "problem": ...}`` naming the first line that was altered,
    removed or inserted (or that is not a record). Removed tail records and a
    consistent rewrite of the whole chain are not detectable (no key)."""
    lines = trail.lines
    hashes = [line_hash(ln.raw) for ln in lines]
    for i, line in enumerate(lines):
        if line.record is None:
            return {"ok": False, "line": line.number, "problem": f"line {line.number} is {line.error}"}
        before = lines[i - 1].record["seq"] if i else 0
        if line.record["prev"] != (hashes[i - 1] if i else GENESIS) or line.record["seq"] != before + 1:
            num, problem = _diagnose(lines, hashes, i)
            return {"ok": False, "line": num, "problem": problem}
    if trail.torn:
        return {"ok": False, "line": len(lines), "problem": f"line {len(lines)} has no newline (cut short)"}
    return {"ok": True, "records": len(lines)}

