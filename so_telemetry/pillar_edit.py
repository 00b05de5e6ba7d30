"""Editing the local pillar files in place: comments, key order and other keys
survive; a malformed file is an error that leaves it untouched.

Concurrency: ``set_value`` holds an exclusive ``fcntl.flock`` of the pillar
file's directory for the whole read-modify-write, so two ``so-telemetry
enable|disable`` runs never lose each other's update (no lock file: nothing is
left in Security Onion's tree). The new text is written with Salt's
``salt.utils.atomicfile.atomic_open`` (a temporary file in the same
directory, fsync'd, renamed over the old file, owner and mode of the file it
replaces kept), so a reader (the pillar renderer, the Configuration screen)
sees the old file or the new one, never half of one.
"""

import io
import os
import re

import so_telemetry_core as core

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

DEFAULT_PILLAR_DIR = "/opt/so/saltstack/local/pillar"



# the one error a pillar value or file that cannot be used raises (a Salt
# CommandExecutionError, as in the engine); nothing was written
PillarError = core.validate.PillarError


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


def locked(path):
    """Exclusive ``flock`` for a read-modify-write of ``path`` (its
    directory's: :func:`so_telemetry_core.files.locked`)."""
    return core.files.locked(path)


def set_value(path, keys, value):
    """Set ``keys`` to ``value`` in the YAML file at ``path`` (created when
    missing, mode 0640), under the file's lock. Returns the old value (None
    when absent). A symlinked pillar file is edited where it points (the
    link stays a link), under the lock of that target."""
    path = os.path.realpath(path)
    if os.path.exists(path):
        _load(path)  # a file we would refuse is refused before the lock is taken
    with locked(path):
        return _set_value_locked(path, keys, value)


def _set_value_locked(path, keys, value):
    text = _read(path)
    new_text, old = edited(path, text, [(keys, value)])
    atomic_write(path, new_text)
    return old


def edited(path, text, changes, keep=False):
    """``(new text, old value of the first change)``: ``text`` (the YAML of
    ``path``, named in errors) with each ``(keys, value)`` of ``changes``
    set, its comments, key order and style kept. ``keep``: a key that is
    already set keeps its value. Nothing is written."""
    from ruamel.yaml.comments import CommentedMap  # pylint: disable=import-outside-toplevel

    data = _load(path, text)
    prefix = ""
    if data is None:
        data = CommentedMap()
        # a file of only comments keeps them, above the new keys
        if text.strip() and all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
            prefix = text if text.endswith("\n") else text + "\n"
    first_old = None
    for index, (keys, value) in enumerate(changes):
        cur = data
        trail = []
        for key in keys[:-1]:
            trail.append(key)
            if key not in cur or cur[key] is None:
                cur[key] = CommentedMap()
            elif not isinstance(cur[key], dict):
                raise PillarError(
                    f"{path}: key '{':'.join(trail)}' holds {cur[key]!r}, not a mapping; nothing was changed"
                )
            cur = cur[key]
        old = cur.get(keys[-1])
        if index == 0:
            first_old = old
        if not (keep and keys[-1] in cur):
            cur[keys[-1]] = value
    out = io.StringIO()
    _yaml(text).dump(data, out)
    return prefix + out.getvalue(), first_old


def atomic_write(path, text, mode=0o640, owner=None):
    """Replace ``path`` with ``text`` atomically (Salt's writer:
    :func:`so_telemetry_core.saltcompat.atomic_write`): an existing file keeps
    its owner and mode, a new one gets ``mode`` (0640 unless given) and
    ``owner``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    core.saltcompat.atomic_write(path, text.encode("utf-8"), 0o640 if mode is None else mode, owner)
