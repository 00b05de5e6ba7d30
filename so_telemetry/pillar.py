"""Editing the local pillar files in place: comments, key order and other keys
survive; the write is atomic; a malformed file is an error that leaves it
untouched."""

import io
import os
import re
import tempfile

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

DEFAULT_PILLAR_DIR = "/opt/so/saltstack/local/pillar"

# channel -> (file under the local pillar root, key path)
CHANNELS = {
    "soc": ("soc/soc_soc.sls", ("soc", "telemetryEnabled")),
    "os-updates": ("patch/soc_patch.sls", ("patch", "os", "enabled")),
}


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
    first = re.search(r"^( +)[^\s#-]", text, re.M)
    if first:
        mapping = len(first.group(1))
    if re.search(r"^ *- ", text, re.M):
        try:
            _data, ind, bsi = load_yaml_guess_indent(text)
        except YAMLError:
            ind, bsi = None, None
        if ind is not None and bsi is not None:
            sequence, offset = ind, bsi
    yaml.indent(mapping=mapping, sequence=max(sequence, offset + 2), offset=offset)
    yaml.explicit_start = text.lstrip().startswith("---")
    return yaml


def pillar_file(pillar_dir, channel):
    return os.path.join(pillar_dir, CHANNELS[channel][0])


def read_value(path, keys):
    """The value at ``keys`` in the file, or None when file or key is absent."""
    data = _load(path)
    cur = data
    for key in keys:
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return cur


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
        raise PillarError(f"{path} is not valid YAML, nothing was changed: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise PillarError(f"{path} must hold a YAML mapping, found {type(data).__name__}; nothing was changed")
    return data


def set_value(path, keys, value):
    """Set ``keys`` to ``value`` in the YAML file at ``path`` (created when
    missing). Returns the old value (None when absent)."""
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
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o640
    fd, tmp = tempfile.mkstemp(prefix=".so-telemetry-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
