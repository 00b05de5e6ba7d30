"""Search the annotation files (``salt/so_telemetry/<comp>/soc_<comp>.yaml``)
the way SOC's Configuration screen does: case-insensitive over title, key and
description. Current values come from the local pillar merged by the
engine's own rule (:mod:`so_telemetry.local`)."""

import glob
import os

import so_telemetry_core as core
import yaml

from so_telemetry.loader import salt_dir
from so_telemetry.local import LocalPillar

ANNOTATION_KEYS = {"title", "description", "global", "helpLink", "readonly", "advanced", "forcedType", "sensitive"}


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


def _leaves(node, trail):
    if isinstance(node, dict) and node:
        for key, val in node.items():
            yield from _leaves(val, trail + [str(key)])
    else:
        yield ":".join(trail)


def shipped_defaults(ctx):
    """``{component: defaults}`` of every component."""
    return {comp: core.config.defaults(ctx, comp) for comp in core.config.COMPONENTS}


def settings(ctx, root=None):
    """``[(key, annotation)]``: every annotated setting, then every other key
    of the defaults (title = key, no description), as the Configuration screen
    lists settings that have no annotation too."""
    found = annotations(root)
    annotated = [key for key, _ann in found]
    for key in _leaves(shipped_defaults(ctx), []):
        if not any(key == a or key.startswith(a + ":") for a in annotated):
            found.append((key, {"title": key, "description": ""}))
    return found


def help_url(link):
    """An annotation's ``helpLink`` (a bare file name such as ``telemetry.html``)
    as a full documentation URL; an absolute URL is left alone."""
    if not link or "://" in str(link):
        return link
    return core.report.DOCS_URL + str(link).lstrip("/")


def search(term, pillar_dir, root=None):
    """Settings whose title, key or description contains ``term``, each with
    its default and its current value from the local pillar files in
    ``pillar_dir`` (``source`` says where from; ``unknown`` why it cannot be known)."""
    local = LocalPillar(pillar_dir)
    ctx = local.context()
    needle = term.strip().lower()
    defaults = shipped_defaults(ctx)
    hits = []
    for key, ann in settings(ctx, root):
        hay = " ".join([key, str(ann.get("title", "")), str(ann.get("description", ""))]).lower()
        if not needle or needle not in hay:
            continue
        hit = {k: ann[k] for k in ANNOTATION_KEYS if k in ann}
        hit.update(key=key, title=hit.get("title", key), description=hit.get("description", ""))
        hit["default"] = core.config.masked(key, core.config.lookup(defaults, key, None))
        if "helpLink" in hit:
            hit["helpLink"] = help_url(hit["helpLink"])
        hit["current"], hit["source"], why = local.value(key, ctx)
        if why:
            hit["unknown"] = why
        hits.append(hit)
    return hits


def default_value(ctx, key):
    """The shipped default of ``key`` (``a:b:c``), or None."""
    comp, _, rest = key.partition(":")
    return core.config.lookup(core.config.defaults(ctx, comp), rest, None)
