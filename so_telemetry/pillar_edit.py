"""Editing the local pillar files in place: comments, key order and other keys
survive; a malformed file is an error that leaves it untouched.

Concurrency: ``set_value`` holds an exclusive ``fcntl.flock`` on a lock file
beside the pillar file (``.<name>.lock``, never removed: removing it would let
two writers lock two different inodes) for the whole read-modify-write, so two
``so-telemetry enable|disable`` runs never lose each other's update. The new
text is written with Salt's ``salt.utils.atomicfile.atomic_open`` (a temporary
file in the same directory, fsync'd, renamed over the old file, owner and mode
of the file it replaces kept), so a reader (the pillar renderer, the
Configuration screen) sees the old file or the new one, never half of one.
"""

import contextlib
import fcntl
import io
import os
import re
import sys

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

DEFAULT_PILLAR_DIR = "/opt/so/saltstack/local/pillar"

# channel (as the command line names it) -> pillar key
CHANNELS = {"soc": "soc:telemetryEnabled", "os-updates": "patch:os:enabled"}


class PillarError(Exception):
    """The pillar file cannot be edited safely; nothing was written."""


def _yaml(text=""):
    """A round-trip YAML that writes in the style ``text`` already has
    (mapping indent, list indent, document start), so an edit changes only
    the edited line."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    mapping, sequence, offset = 2, 4, 2
    first = re.search(r"^( +)[^\s#-]", text, re.MULTILINE)
    if first:
        mapping = len(first.group(1))
    if re.search(r"^ *- ", text, re.MULTILINE):
        try:
            _data, ind, bsi = load_yaml_guess_indent(text)
        except YAMLError:
            ind, bsi = None, None
        if ind is not None and bsi is not None:
            sequence, offset = ind, bsi
    yaml.indent(mapping=mapping, sequence=max(sequence, offset + 2), offset=offset)
    yaml.explicit_start = text.lstrip().startswith("---")
    return yaml


def _read(path):
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _load(path, text=None):
    if text is None:
        if not os.path.exists(path):
            return None
        text = _read(path)
    if "{%" in text or "{{" in text:
        raise PillarError(f"{path} contains Jinja; edit it by hand (nothing was changed)")
    try:
        data = _yaml().load(text)
    except YAMLError as exc:
        raise PillarError(f"{describe_yaml_error(path, exc)}; nothing was changed") from exc
    if data is not None and not isinstance(data, dict):
        raise PillarError(f"{path} must hold a YAML mapping, found {type(data).__name__}; nothing was changed")
    return data


def describe_yaml_error(path, exc):
    """``<path>, line N: not valid YAML (<problem>)`` for a ruamel/PyYAML
    error (line from ``problem_mark``, 1-based), without the multi-line
    context ruamel appends."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
    context = getattr(exc, "context", None)
    if context and "duplicate" in str(problem) + str(context):
        problem = f"{context.strip()}: {problem}"
    problem = " ".join(str(problem).split())
    return f"{where}: not valid YAML ({problem})"


def lock_path(path):
    """The lock file of ``path``: ``.<name>.lock`` in the same directory."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{name}.lock")


@contextlib.contextmanager
def locked(path):
    """Exclusive ``flock`` for a read-modify-write of ``path`` (blocks until
    any other writer is done)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def set_value(path, keys, value):
    """Set ``keys`` to ``value`` in the YAML file at ``path`` (created when
    missing, mode 0640), under the file's lock. Returns the old value (None
    when absent). A symlinked pillar file is edited where it points (the
    link stays a link), under the lock of that target."""
    path = os.path.realpath(path)
    if os.path.exists(path):
        _load(path)  # a file we would refuse is refused before any lock file is created
    with locked(path):
        return _set_value_locked(path, keys, value)


def _set_value_locked(path, keys, value):
    text = _read(path)
    data = _load(path, text)
    prefix = ""
    if data is None:
        from ruamel.yaml.comments import CommentedMap  # pylint: disable=import-outside-toplevel

        data = CommentedMap()
        # a file of only comments keeps them, above the new keys
        if text.strip() and all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
            prefix = text if text.endswith("\n") else text + "\n"
    cur = data
    trail = []
    for key in keys[:-1]:
        trail.append(key)
        if key not in cur or cur[key] is None:
            from ruamel.yaml.comments import CommentedMap  # pylint: disable=import-outside-toplevel

            cur[key] = CommentedMap()
        elif not isinstance(cur[key], dict):
            raise PillarError(
                f"{path}: key '{':'.join(trail)}' holds {cur[key]!r}, not a mapping; nothing was changed"
            )
        cur = cur[key]
    old = cur.get(keys[-1])
    cur[keys[-1]] = value
    out = io.StringIO()
    _yaml(text).dump(data, out)
    atomic_write(path, prefix + out.getvalue())
    return old


def atomic_write(path, text):
    """Replace ``path`` with ``text`` through ``salt.utils.atomicfile.atomic_open``
    (keeps owner and mode of an existing file; a new file gets 0640). On any
    failure the old file is left as it was and no temporary file remains."""
    import salt.utils.atomicfile  # pylint: disable=import-outside-toplevel

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # atomic_open gives a new file 0666 & ~umask: a umask of 0137 makes it 0640
    old_umask = None if os.path.exists(path) else os.umask(0o137)
    fh = None
    try:
        fh = salt.utils.atomicfile.atomic_open(path, "wb")
        try:
            fh.write(text.encode("utf-8"))
        except BaseException:
            fh.__exit__(*sys.exc_info())
            raise
        fh.close()  # fsync, copy owner and mode, rename over path
        if old_umask is not None:
            from so_telemetry import saltcompat  # pylint: disable=import-outside-toplevel

            saltcompat.new_file_mode(path, 0o640)
    except BaseException:
        # close() does not remove its temporary file when the rename fails
        tmp = getattr(fh, "_tmp_filename", None)
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        if old_umask is not None:
            os.umask(old_umask)
