"""Convergence: does what this node has rendered and scheduled now match what
the current pillar decides for it? A view over
:mod:`~so_telemetry_core.observe`. Read-only: nothing is written, no state
runs. Per artefact, ``converged`` and, where not, a ``detail`` in words
(``analytics.js loads Tag Manager; pillar says off``); with the node's
SOC Telemetry and OS updates as its files and jobs have them, and when its
last highstate ran."""

import datetime
import functools
import os

from salt.exceptions import CommandExecutionError

from . import decide, files, hostcheck, observe, repo, saltcompat, schedule, soc
from .validate import PillarError


_SAVED_AS = {"job_args": "args", "job_kwargs": "kwargs"}


def fresh_pillar(opts, grains):
    """The pillar as the master (or the local roots) renders it now, not the
    copy the minion process holds: a settings change made a moment ago
    counts. An error when it does not render."""
    import salt.pillar  # pylint: disable=import-outside-toplevel

    pillar = salt.pillar.get_pillar(opts, dict(grains), opts["id"], saltenv=opts.get("saltenv"),
                                    pillarenv=opts.get("pillarenv"))
    try:
        data = pillar.compile_pillar()
    finally:
        getattr(pillar, "destroy", lambda: None)()
    if data.get("_errors"):
        raise CommandExecutionError(f"the pillar does not render: {data['_errors'][0]}")
    return data


def _said(state, channel):
    """What the decision says of a channel, in words."""
    if state.airgap["enabled"]:
        return "airgapped: off"
    return f"pillar says {'on' if getattr(state, channel)['enabled'] else 'off'}"


def _analytics(ctx, state, seen):
    """What differs in the loader (None: converged)."""
    if seen["text"] == saltcompat.managed_text(soc.analytics_js(ctx)):
        return None
    what = {"absent": "is missing", "on": "loads Tag Manager", "off": "loads nothing"}[seen["state"]]
    if seen["state"] != observe.ABSENT and (seen["state"] == "on") == state.soc["enabled"]:
        return "analytics.js differs from what the pillar renders"
    return f"analytics.js {what}; {_said(state, 'soc')}"


def _soc_json(ctx, state, seen):
    try:
        if soc.soc_json(ctx, seen["text"], seen["path"]) == seen["text"]:
            return None
    except PillarError:
        return "soc.json is not a JSON object SOC can read"
    return f"soc.json has telemetryEnabled {str(seen['flag']).lower()}; {_said(state, 'soc')}"


def _repo(ctx, state, seen):
    if seen["text"] == saltcompat.managed_text(repo.text(ctx, reveal=True)):
        return None
    if bool(seen["queried"]) != bool(repo.definition(ctx)["query"]):
        has = "carries the telemetry query" if seen["queried"] else "has no telemetry query"
        return f"securityonion.repo {has}; {_said(state, 'os_updates')}"
    return "securityonion.repo differs from what the pillar renders"


def _file(observer, check, missing):
    """A file's check: ``missing`` when the node has none, else ``check(seen)``."""
    seen = observer()
    return missing if seen["text"] is None else check(seen)


def _job(seen, decided, what):
    """None when the saved job is what ``decided`` (``{"name", "job"}``) says."""
    name, job = decided["name"], decided["job"]
    if job is None:
        return f"{name} is scheduled; {what}" if seen["enabled"] else None
    if not seen["enabled"]:
        return f"{name} is not scheduled; {what}"
    # Salt keeps job_args and job_kwargs as args and kwargs
    differs = sorted(k for k, v in job.items() if seen["saved"].get(_SAVED_AS.get(k, k)) != v)
    return f"{name} differs in {', '.join(differs)}" if differs else None


def _checks(ctx, state, manager_like, analytics):
    """``{artefact: callable -> detail or None}`` of this node's library-owned artefacts."""
    saved = schedule.saved(ctx)

    def job(build, what):
        decided = build(ctx)
        return _job(observe.job(ctx, decided["name"], saved), decided, what)

    checks = {
        "repo": lambda: _file(lambda: observe.repo(ctx), lambda seen: _repo(ctx, state, seen),
                              "securityonion.repo is missing"),
        "highstate_schedule": lambda: job(schedule.resync_job, "the grid resyncs on it"),
        "patch_schedule": lambda: job(schedule.patch_job, _said(state, "os_updates")),
    }
    if manager_like:
        checks["analytics"] = lambda: _analytics(ctx, state, analytics())
        checks["soc_json"] = lambda: _file(lambda: observe.soc_json(ctx), lambda seen: _soc_json(ctx, state, seen),
                                           "soc.json is missing")
    return checks


def last_highstate(opts):
    """When this minion's last highstate started (Salt writes its
    ``highstate.cache.p`` then), ISO 8601 UTC, or None."""
    try:
        mtime = os.path.getmtime(os.path.join(opts.get("cachedir") or "", "highstate.cache.p"))
    except OSError:
        return None
    return datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc).isoformat(timespec="seconds")


def _host_checks(ctx, owners):
    """The host checks of the host-owned artefacts (none: nothing is asked)."""
    host = [art for art, owner in owners.items() if owner == "host"]
    if not host:
        return {}
    try:
        return hostcheck.host_checks(ctx)
    except PillarError as exc:
        return {art: {"matches": False, "detail": f"cannot tell: {exc}"} for art in host}


def _observed_soc(state, analytics):
    if not state.manager_like:
        return "n/a"
    try:
        return analytics()["state"]
    except PillarError:
        return "unknown"


def _decided(state, channel):
    if channel in state.errors:
        return "invalid pillar"
    return "on" if getattr(state, channel)["enabled"] else "off"


def converged(ctx):
    """``{"id", "role", "converged", "pending", "details", "soc", "os_updates",
    "decided", "last_highstate"}``; ``soc`` and ``os_updates`` are what the
    node's files and jobs have (``on``, ``off``, ``absent``, ``n/a``)."""
    state = decide.decision(ctx)
    owners = files.owners(ctx)
    analytics = functools.lru_cache(maxsize=None)(lambda: observe.analytics(ctx))
    details = {}
    for art, check in _checks(ctx, state, state.manager_like, analytics).items():
        if owners[art] == "library":
            try:
                details[art] = check()
            except PillarError as exc:
                details[art] = f"cannot tell: {exc}"
    for art, chk in _host_checks(ctx, owners).items():
        if state.manager_like or art not in ("analytics", "soc_json"):
            details[art] = f"(host) {chk['detail']}" if chk["matches"] is False else None
    pending = sorted(art for art, detail in details.items() if detail)
    patch = observe.job(ctx, schedule.job_names(ctx)["patch"])
    return {
        "id": ctx.opts.get("id"),
        "role": state.role,
        "converged": not pending,
        "pending": pending,
        "details": {art: details[art] for art in pending},
        "soc": _observed_soc(state, analytics),
        "os_updates": "on" if patch["enabled"] else "off",
        "decided": {"soc": _decided(state, "soc"), "os_updates": _decided(state, "os_updates")},
        "last_highstate": last_highstate(ctx.opts),
    }
