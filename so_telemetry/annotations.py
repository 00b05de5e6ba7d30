"""Search the annotation files (``salt/<comp>/soc_<comp>.yaml``) the way
SOC's Configuration screen does: case-insensitive over title, key and
description."""

import copy
import glob
import os

import yaml

from so_telemetry.loader import salt_dir

ANNOTATION_KEYS = {"title", "description", "global", "helpLink", "readonly", "advanced", "forcedType"}


def _walk(node, trail):
    if isinstance(node, dict) and ("title" in node or "description" in node):
        yield ":".join(trail), node
        return
    if isinstance(node, dict):
        for key, val in node.items():
            yield from _walk(val, trail + [str(key)])


def annotations(root=None):
    """``[(key, annotation)]`` from every annotation file, in file order."""
    root = root or salt_dir()
    found = []
    for path in sorted(glob.glob(os.path.join(root, "*", "soc_*.yaml"))):
        with open(path, encoding="utf-8") as fh:
            found.extend(_walk(yaml.safe_load(fh) or {}, []))
    return found


def _lookup(data, key):
    cur = data
    for part in key.split(":"):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _defaults(root):
    merged = {}
    paths = glob.glob(os.path.join(root, "defaults.yaml")) + sorted(glob.glob(os.path.join(root, "*", "defaults.yaml")))
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            merged.update(yaml.safe_load(fh) or {})
    return merged


def _leaves(node, trail):
    if isinstance(node, dict) and node:
        for key, val in node.items():
            yield from _leaves(val, trail + [str(key)])
    else:
        yield ":".join(trail)


def settings(root=None):
    """``[(key, annotation)]``: every annotated setting, then every other key
    of the defaults (title = key, no description), as the Configuration screen
    lists settings that have no annotation too."""
    root = root or salt_dir()
    found = annotations(root)
    annotated = [key for key, _ann in found]
    for key in _leaves(_defaults(root), []):
        if not any(key == a or key.startswith(a + ":") for a in annotated):
            found.append((key, {"title": key, "description": ""}))
    return found


DOCS = "https://docs.securityonion.net/en/2.4/"


def help_url(link):
    """An annotation's ``helpLink`` (a bare file name such as ``telemetry.html``)
    as a full documentation URL; an absolute URL is left alone."""
    if not link or "://" in str(link):
        return link
    return DOCS + str(link).lstrip("/")


def _merge(base, over):
    """Pillar merge: mappings merge recursively, anything else replaces."""
    for key, val in over.items():
        if isinstance(val, dict) and isinstance(base.get(key), dict):
            _merge(base[key], val)
        else:
            base[key] = val
    return base


class Current:
    """Current values from the local pillar files merged over the defaults,
    read without Salt. ``value(key)`` -> ``(value, source, unknown_reason)``:
    source is ``"default"`` or the file that sets the key; a key a broken
    file might set is unknown (reason given)."""

    def __init__(self, pillar_dir, root=None):
        from so_telemetry import pillar  # pylint: disable=import-outside-toplevel

        self.defaults = _defaults(root or salt_dir())
        self.files = []  # [(path, data)] readable, in merge order
        self.broken = []  # [(path, why)]
        if not os.path.isdir(pillar_dir):
            self.broken.append((pillar_dir, f"{pillar_dir}: no such directory"))
            return
        for path in pillar.local_files(pillar_dir):
            data, why = pillar.load_local(path)
            if data is None:
                self.broken.append((path, why))
            else:
                self.files.append((path, data))

    def _may_set(self, path, key):
        """A broken file under ``<comp>/`` may only set ``<comp>:...``; any other may set anything."""
        comp = os.path.basename(os.path.dirname(path))
        return comp not in self.defaults or key.split(":")[0] == comp

    def value(self, key):
        for path, why in self.broken:
            if self._may_set(path, key):
                return None, None, f"local pillar not readable: {why}"
        value, source = _lookup(self.defaults, key), "default"
        for path, data in self.files:
            found = _lookup(data, key)
            if found is not None:
                if isinstance(found, dict) and isinstance(value, dict):
                    value = _merge(copy.deepcopy(value), found)
                else:
                    value = found
                source = path
        return value, source, None


def search(term, current=None, root=None, pillar_dir=None):
    """Settings whose title, key or description contains ``term``. Current
    values come from ``current`` (a merged map) or, with ``pillar_dir``, from
    the local pillar files (``source`` and ``unknown`` say where from)."""
    root = root or salt_dir()
    needle = term.strip().lower()
    defaults = _defaults(root)
    local = Current(pillar_dir, root) if pillar_dir is not None and current is None else None
    hits = []
    for key, ann in settings(root):
        hay = " ".join([key, str(ann.get("title", "")), str(ann.get("description", ""))]).lower()
        if needle and needle in hay:
            hit = {k: ann[k] for k in ANNOTATION_KEYS if k in ann}
            hit["key"] = key
            hit.setdefault("title", key)
            hit.setdefault("description", "")
            hit["default"] = _lookup(defaults, key)
            if "helpLink" in hit:
                hit["helpLink"] = help_url(hit["helpLink"])
            if local is not None:
                hit["current"], hit["source"], why = local.value(key)
                if why:
                    hit["unknown"] = why
            else:
                hit["current"] = _lookup(current, key) if current is not None else None
            hits.append(hit)
    return hits


def default_value(key, root=None):
    """The shipped default of ``key`` (``a:b:c``), or None."""
    return _lookup(_defaults(root or salt_dir()), key)
