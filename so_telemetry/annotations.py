"""Search the annotation files (``salt/<comp>/soc_<comp>.yaml``) the way
SOC's Configuration screen does: case-insensitive over title, key and
description."""

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
    for path in sorted(glob.glob(os.path.join(root, "*", "defaults.yaml"))):
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


def search(term, current=None, root=None):
    """Settings whose title, key or description contains ``term``."""
    root = root or salt_dir()
    needle = term.strip().lower()
    defaults = _defaults(root)
    hits = []
    for key, ann in settings(root):
        hay = " ".join([key, str(ann.get("title", "")), str(ann.get("description", ""))]).lower()
        if needle and needle in hay:
            hit = {k: ann[k] for k in ANNOTATION_KEYS if k in ann}
            hit["key"] = key
            hit.setdefault("title", key)
            hit.setdefault("description", "")
            hit["default"] = _lookup(defaults, key)
            hit["current"] = _lookup(current, key) if current is not None else None
            hits.append(hit)
    return hits
