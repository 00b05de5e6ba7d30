"""Configuration: the shipped defaults, *the* merge rule, key lookup, and
where a value comes from.

Every component has ``salt://so_telemetry/<comp>/defaults.yaml`` and a
pillar key of the same name (``so_telemetry`` itself: who writes which
artefact, at the top of the formula). The merged map of a component is its
defaults with the pillar merged over them: mappings merge, lists replace, and
a schedule's timing replaces the default timing. The execution module, the
states, every ``map.jinja`` and the command line all read :func:`component`
(or :func:`merge` over local pillar files), so there is one rule."""

import copy

import salt.utils.dictupdate
import salt.utils.yaml

from . import secret
from .context import FORMULA
from .validate import PillarError

COMPONENTS = (FORMULA, "global", "soc", "patch", "repo", "resync", "manager")
# The local pillar files Security Onion's Configuration screen and the
# `so-telemetry enable|disable` command write, in the pillar top's order
# (later wins). pillar/top.sls lists the same (a unit test keeps them equal).
LOCAL_SLS = ("global.soc_global", "soc.soc_soc", "patch.soc_patch", "manager.soc_manager")
# Keys whose value may hold a secret: shown masked wherever a value is shown
# (their annotations say `sensitive: True`).
SENSITIVE = ("manager:proxy",)
INTERVALS = ("seconds", "minutes", "hours", "days")
# The library's annotations for Security Onion's Configuration screen, in the formula.
ANNOTATIONS_FILE = "soc_so_telemetry.yaml"
MISSING = object()


def local_sls(key):
    """The local pillar file (an SLS name of :data:`LOCAL_SLS`) that holds
    ``key`` (``soc:telemetryEnabled`` -> ``soc.soc_soc``): the one of its
    component."""
    comp = key.split(":")[0]
    for sls in LOCAL_SLS:
        if sls.split(".")[0] == comp:
            return sls
    raise PillarError(f"no local pillar file holds the {comp} settings")


def defaults_relpath(comp):
    return "defaults.yaml" if comp == FORMULA else f"{comp}/defaults.yaml"


def prefetch(ctx):
    """Through Salt's file server, read every formula file the engine may
    need (each component's defaults and the shipped SOC loader template) at
    the first need, once per cache. A highstate's first need is its render,
    when the master has just answered: its states then ask the master for no
    file, so a master that goes away mid-highstate (Salt 3006.9 waits 3 x 60 s
    per file request to a master that restarted) no longer stalls them."""
    if ctx.files.fetch is None or ctx.cache.get("telemetry.prefetched"):
        return
    ctx.cache["telemetry.prefetched"] = True
    ctx.files.prefetch_all([*(defaults_relpath(comp) for comp in COMPONENTS), ANNOTATIONS_FILE])
    try:
        template = defaults(ctx, "soc")["analytics"]["template"]
    except (PillarError, KeyError, TypeError):
        return
    if isinstance(template, str):
        ctx.files.prefetch(f"soc/files/{template}")


def defaults(ctx, comp):
    """A fresh copy of the parsed ``defaults.yaml`` of ``comp`` (parsed once per cache)."""
    cache = ctx.cache.setdefault("telemetry.defaults", {})
    if comp not in cache:
        prefetch(ctx)
        data = salt.utils.yaml.safe_load(ctx.files.text(defaults_relpath(comp))) or {}
        if not isinstance(data.get(comp), dict):
            raise PillarError(f"the defaults.yaml of {comp} has no '{comp}' mapping")
        cache[comp] = data[comp]
    return copy.deepcopy(cache[comp])


def merge(comp, base, override):
    """THE merge rule: ``override`` (a component's pillar) over ``base`` (its
    defaults): mappings merge recursively, anything else (lists included)
    replaces; for ``patch``, a schedule's timing replaces the default timing.
    Returns a new map; neither argument is changed."""
    merged = salt.utils.dictupdate.update(copy.deepcopy(base), copy.deepcopy(override), merge_lists=False)
    if comp == "patch":
        _replace_schedule_timings(merged, override)
    return merged


def _replace_schedule_timings(merged, override):
    """A schedule's timing is one choice, not a set of keys: where the pillar
    gives ``patch:os:schedules:<name>:schedule`` (or the flat keys of earlier
    releases, ``{hours: 8}``), it replaces the default timing instead of
    merging into it (``{hours: 8}`` and ``{Monday: [...]}`` do not mix)."""
    schedules = lookup(override, "os:schedules", None)
    target = lookup(merged, "os:schedules", None)
    if not isinstance(schedules, dict) or not isinstance(target, dict):
        return
    for name, sched in schedules.items():
        if not isinstance(sched, dict) or not isinstance(target.get(name), dict):
            continue
        if "schedule" in sched:
            target[name]["schedule"] = copy.deepcopy(sched["schedule"])
        elif any(k in sched for k in INTERVALS):
            target[name].pop("schedule", None)


def component(ctx, comp, strict=True):
    """The merged map of one component (computed once per context: do not
    change it). A pillar value of the component that is not a mapping is an
    error naming the key; with ``strict=False`` (the ``clean`` states, so a
    bad pillar never blocks cleaning up) the defaults are returned instead."""
    if comp not in COMPONENTS:
        raise PillarError(f"unknown component {comp!r}; one of {', '.join(COMPONENTS)}")
    return ctx.memo(("component", comp, strict), lambda: _component(ctx, comp, strict))


def _component(ctx, comp, strict):
    base = defaults(ctx, comp)
    override = ctx.pillar.get(comp)
    if override is None:
        return base
    if not isinstance(override, dict):
        if not strict:
            return base
        raise PillarError(f"pillar key '{comp}' must be a mapping, got {override!r} ({type(override).__name__})", comp)
    return merge(comp, base, override)


def lookup(data, key, default=MISSING):
    """The value at ``key`` (``a:b:c``) in nested mappings, or ``default``
    (:data:`MISSING` unless given) when a part is absent."""
    cur = data
    for part in key.split(":") if key else ():
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def require(data, path, key):
    """The value at ``path`` (``a:b``) of a component's map; an error naming
    the pillar ``key`` when it is missing."""
    value = lookup(data, path)
    if value is MISSING:
        raise PillarError(f"pillar key '{key}' is missing", key)
    return value


def origin(ctx, key):
    """Where the value of ``key`` (``a:b:c``) comes from: a pillar, or the
    shipped default because no pillar sets it."""
    if lookup(ctx.pillar, key) is MISSING:
        return f"default of salt://{FORMULA}/{defaults_relpath(key.split(':')[0])}; no pillar sets it"
    return "set in pillar"


def masked(key, value):
    """``value`` as it may be shown for ``key``: a secret in a sensitive key masked."""
    if key in SENSITIVE and isinstance(value, str):
        return secret.mask_url(value)
    return value


def shown(ctx, comp, strict=True):
    """:func:`component` as it may be shown (returned, printed, logged): a
    fresh copy with every sensitive value masked."""
    conf = copy.deepcopy(component(ctx, comp, strict))
    for key in SENSITIVE:
        path = key.split(":")
        parent = lookup(conf, ":".join(path[1:-1]), None) if path[0] == comp else None
        if isinstance(parent, dict) and path[-1] in parent:
            parent[path[-1]] = masked(key, parent[path[-1]])
    return conf


def pillar_layers(layers):
    """Pillar SLS data merged in order, as Salt merges the files of a pillar
    top (``pillar_source_merging_strategy: smart``, lists replaced)."""
    out = {}
    for data in layers:
        if isinstance(data, dict):
            out = salt.utils.dictupdate.merge(out, data, strategy="smart", merge_lists=False)
    return out
