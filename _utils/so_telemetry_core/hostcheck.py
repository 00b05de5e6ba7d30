"""Artefacts the host tree owns (pillar ``so_telemetry:owners``): does the
host's file or job match the effective telemetry setting? A view over
:mod:`~so_telemetry_core.observe`. Each check gives ``{"path", "matches":
True | False | None, "detail"}`` (None: the host's artefact does not say)."""

from . import decide, files, observe, schedule, soc

JOBS = (("highstate_schedule", "highstate"), ("patch_schedule", "patch"))


def _analytics(ctx, state):
    seen, host = observe.analytics(ctx), soc.analytics(ctx)["host"]
    soc_on = state.soc["enabled"]
    if seen["state"] == observe.ABSENT:
        matches, detail = (not soc_on), "the host tree has not written it (the browser loads nothing)"
    elif (seen["state"] == "on") == soc_on:
        matches = True
        detail = ("loads Tag Manager, as SOC Telemetry is on" if soc_on
                  else "loads no Tag Manager, as SOC Telemetry is off")
    elif seen["state"] == "on":
        matches = False
        detail = f"SOC Telemetry is off ({state.soc['reason']}) but the host's file still loads {host}"
    else:
        matches, detail = False, "SOC Telemetry is on but the host's file loads no Tag Manager"
    return {"path": seen["path"], "matches": matches, "detail": detail}


def _soc_json(ctx, state):
    seen = observe.soc_json(ctx)
    soc_on = state.soc["enabled"]
    if seen["text"] is None:
        matches, detail = None, "the host tree has not written it"
    elif seen["data"] is None:
        matches, detail = False, "not a valid JSON object"
    elif seen["flag"] is None:
        matches, detail = None, "does not carry server.client.telemetryEnabled (SOC decides by analytics.js)"
    else:
        matches = seen["flag"] is soc_on
        detail = (f"server.client.telemetryEnabled is {str(seen['flag']).lower()}, "
                  f"effective setting {str(soc_on).lower()}")
    return {"path": seen["path"], "matches": matches, "detail": detail}


def _repo(ctx, state):
    seen = observe.repo(ctx)
    if seen["text"] is None:
        matches, detail = None, "the host tree has not written it"
    elif state.airgap["enabled"] and seen["external"]:
        matches = False
        detail = f"airgapped, but the host's repository file names {len(seen['external'])} network URL(s)"
    elif seen["queried"] and not state.os_updates["telemetry"]:
        matches, detail = False, "OS Updates Telemetry is off but the host's repository URLs carry a query"
    else:
        matches, detail = True, f"{len(seen['baseurls'])} baseurl(s), {len(seen['queried'])} with a query"
    return {"path": seen["path"], "matches": matches, "detail": detail}


def _job(art, seen, state):
    present = seen["enabled"]
    if art == "highstate_schedule":
        matches, detail = present, "present" if present else "absent or disabled: the grid does not resync"
    elif state.os_updates["enabled"]:
        matches = present
        detail = "present, as OS updates are on" if present else "OS updates are on but the host has no such job"
    else:
        matches = not present
        detail = ("absent, as OS updates are off" if not present
                  else f"OS updates are off ({state.os_updates['reason']}) but the host's job is still enabled")
    return {"path": f"schedule job {seen['name']}", "matches": matches, "detail": detail}


def host_checks(ctx):
    """``{artefact: check}`` for every artefact the host tree owns."""
    own = files.owners(ctx)
    state = decide.checked(ctx)
    out = {}
    for art, check in (("analytics", _analytics), ("soc_json", _soc_json), ("repo", _repo)):
        if own[art] == "host":
            out[art] = check(ctx, state)
    jobs = [(art, kind) for art, kind in JOBS if own[art] == "host"]
    if jobs:
        names, saved = schedule.job_names(ctx), schedule.saved(ctx)
        for art, kind in jobs:
            out[art] = _job(art, observe.job(ctx, names[kind], saved), state)
    return out
