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

Writing (:func:`append`, the one way records are added, by the state and
by the command line): under an exclusive ``flock`` of the trail's directory,
the trail is read, the new records chained to it, and the
whole trail (small: a line per change) written with Salt's atomic writer
(``salt.utils.atomicfile``: a temporary file in the same directory, fsync'd,
renamed over it). A writer killed at any point leaves the old trail or the
new one, never a torn line; a full disk leaves the old trail and no
temporary file.
"""

import contextlib
import datetime
import hashlib
import json
import os
import stat

from salt.exceptions import CommandExecutionError

from . import files, saltcompat
from .channels import NAMES as CHANNELS

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

    def with_records(self, records):
        """The trail as it reads once ``records`` (from :func:`chain`) are written."""
        if not records:
            return self
        added = b"".join(dumps(r).encode("ascii") + b"\n" for r in records)
        return Trail(self.path, self.data + (b"\n" if self.torn else b"") + added)


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
    """When this process started (epoch seconds, from ``psutil``, which Salt
    itself requires); ``None`` when it cannot be told."""
    try:
        import psutil  # pylint: disable=import-outside-toplevel

        return psutil.Process().create_time()
    except Exception:  # noqa: BLE001  (no psutil, no /proc): unknown
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


def _makedirs(directory):
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
        os.chmod(directory, DIR_MODE)


def _failed(what, path, exc):
    return TrailError(f"cannot {what} the consent trail {path}: [Errno {exc.errno}] {exc.strerror or exc}", exc.errno)


@contextlib.contextmanager
def locked(path):
    """Exclusive ``flock`` for a read-append of the trail
    (:func:`so_telemetry_core.files.locked`: its directory); blocks until any
    other writer is done."""
    try:
        _makedirs(os.path.dirname(os.path.realpath(path)))
        lock = files.locked(path)
        lock.__enter__()
    except OSError as exc:
        raise _failed("lock", path, exc) from None
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def _remove_litter(directory):
    """Remove the temporary files (Salt's atomic writer's) of trail writers
    killed mid-write (SIGKILL): under the lock no other writer can be writing
    one in the trail's directory."""
    for entry_name in os.listdir(directory):
        if entry_name.startswith(".___atomic_write"):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, entry_name))


def write(trail, records):
    """Append ``records`` (from :func:`chain`) to ``trail`` (read under the
    lock): the trail rewritten whole by Salt's atomic writer
    (:func:`~so_telemetry_core.saltcompat.atomic_write`), ``root:root 0640``.
    On failure the old trail stays as it was and no temporary file remains
    (one left by a writer killed mid-write is removed by the next)."""
    data = trail.data + (b"\n" if trail.torn else b"") + b"".join(dumps(r).encode("ascii") + b"\n" for r in records)
    real = os.path.realpath(trail.path)
    directory = os.path.dirname(real)
    try:
        _makedirs(directory)
        _remove_litter(directory)
        saltcompat.atomic_write(real, data, FILE_MODE, owner=(0, 0), force=True)
        saltcompat.sync_directory(directory)
    except OSError as exc:
        raise _failed("write", trail.path, exc) from None
    return records


def append(path, entries):
    """Add records to the trail at ``path``, under its lock: the trail read
    once, ``entries`` (a list, or a function of the :class:`Trail` read
    returning one) chained to it and written. ``(trail as read, records
    written)``; nothing is written when there is nothing to add."""
    with locked(path):
        trail = read(path)
        wanted = entries(trail) if callable(entries) else entries
        records = write(trail, chain(trail, wanted)) if wanted else []
    return trail, records


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

