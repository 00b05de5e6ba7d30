"""The consent trail: every change of what leaves the network, one record
per change, on the manager (``so_telemetry:consent:path``, default
``/opt/so/log/so-telemetry/consent.jsonl``, ``root:root 0640``, its directory
``0750``).

This module says what a record holds: each channel's effective state from
the engine's decision, where the setting lives (its local pillar file and
key), which changes a highstate finds, and what ``status`` shows as
``since``. The file itself (format, hash chain, locked atomic writes,
verification) is :mod:`so_telemetry_core.trail`'s.
"""

import os

from salt.exceptions import CommandExecutionError

from . import decide, files
from .config import component, local_sls
from .context import FORMULA
from .channels import NAMES as CHANNELS
from .channels import TELEMETRY, get
from .trail import read
from .validate import PillarError

VIAS = ("cli", "prompt:setup", "prompt:soup", "highstate")
BY_MAX = 256  # a login name is at most 32 characters; anything longer is cut, marked


def trail_path(ctx):
    """The trail on this node: ``so_telemetry:consent:path`` under the minion
    option ``so_telemetry_root``."""
    return files.artefact_path(ctx, "consent")


def pillar_dir(ctx):
    """The grid's local pillar root (``so_telemetry:consent:pillar_dir``),
    named in the ``source`` of the records a highstate writes."""
    conf = component(ctx, FORMULA).get("consent")
    key = f"{FORMULA}:consent:pillar_dir"
    value = conf.get("pillar_dir") if isinstance(conf, dict) else None
    if not isinstance(value, str) or not value.startswith("/"):
        raise PillarError(f"pillar key '{key}' must be an absolute directory path, got {value!r}", key)
    return value.rstrip("/") or "/"


def onoff(flag):
    return "on" if flag else "off"


def effective(ctx):
    """``({channel: "on"|"off"}, {channel: error})``: the effective state of
    each channel (airgap on = airgapped), from the engine's decision; a channel
    whose pillar is invalid is left out, its error given instead."""
    state = decide.decision(ctx)
    states = {"airgap": onoff(state.airgap["enabled"])}
    for channel in TELEMETRY:
        if channel not in state.errors:
            states[channel] = onoff(getattr(state, channel)["enabled"])
    return states, dict(state.errors)


def key_source(root, key):
    """``<local pillar file> <key>``: the file of :data:`LOCAL_SLS` that holds ``key``."""
    return os.path.join(root, *local_sls(key).split(".")) + ".sls " + key


def source(ctx, channel, root):
    """Where the setting that decides ``channel`` lives: its local pillar file
    and key; for a channel an airgap turns off, the airgap's; for the airgap,
    ``grain airgap`` and/or the pillar file of ``global:airgap``."""
    air = decide.decision(ctx).airgap
    if channel != "airgap" and not air["enabled"]:
        return key_source(root, get(channel).key)
    where = air["sources"] or ["grain", "pillar"]  # off: both places it could be set
    parts = ["grain airgap" if src == "grain" else key_source(root, "global:airgap") for src in where]
    return (" and " if air["enabled"] else ", ").join(parts)


def unrecorded(ctx, trail, states):
    """The entries a highstate records: one for each channel whose effective
    state (``states``) differs from its last record in ``trail`` (or that has
    none), ``via: highstate``, ``by: unknown`` (the change reached the pillar
    another way than the command line)."""
    root = pillar_dir(ctx)
    last = trail.last()
    out = []
    for channel in CHANNELS:
        if channel not in states:
            continue
        old = last[channel].record["new"] if channel in last else None
        if old != states[channel]:
            out.append(entry(channel, old, states[channel], "highstate", "unknown", source(ctx, channel, root)))
    return out


def describe(rec):
    """``soc: on -> off`` (``soc: on (first record)`` for a starting state)."""
    if rec["old"] is None:
        return f"{rec['channel']}: {rec['new']} (first record)"
    return f"{rec['channel']}: {rec['old']} -> {rec['new']}"


def _text(value, limit=None):
    text = str(value)
    if limit and len(text) > limit:
        text = f"{text[:limit]}...(truncated, {len(text)} characters)"
    return text


def entry(channel, old, new, via, by, src):
    """A record before it is chained (no ``seq``, ``time``, ``prev`` yet)."""
    if channel not in CHANNELS or via not in VIAS or new not in ("on", "off") or old not in (None, "on", "off"):
        raise ValueError(f"not a consent record: {channel!r} {old!r} -> {new!r} via {via!r}")
    return {"channel": channel, "old": old, "new": new, "via": via, "by": _text(by, BY_MAX), "source": _text(src)}


def since(ctx, states):
    """``(trail summary, {channel: since})`` for the report: where the trail
    is, and per channel the last record (``time``, ``via``, ``by``, ``line``,
    ``current``: whether it is still the effective state), or None."""
    try:
        path = trail_path(ctx)
        trail = read(path)
    except CommandExecutionError as exc:
        return {"path": None, "exists": False, "records": 0, "error": str(exc)}, dict.fromkeys(CHANNELS)
    last = trail.last()
    out = {}
    for channel in CHANNELS:
        line = last.get(channel)
        out[channel] = line and {
            "time": line.record["time"], "via": line.record["via"], "by": line.record["by"], "line": line.number,
            "state": line.record["new"], "current": line.record["new"] == states.get(channel),
        }
    summary = {"path": path, "exists": trail.exists, "records": len(trail.records()), "error": None}
    return summary, out
