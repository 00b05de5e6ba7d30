"""Artefacts the host tree owns (pillar ``so_telemetry:owners``): does the
host's file or job match the effective telemetry setting? Each check gives
``{"path", "matches": True | False | None, "detail"}`` (None: the host's
artefact does not say)."""

import configparser
import json
import urllib.parse

from . import decide, files, schedule, soc


def _analytics(ctx, state):
    conf = soc.analytics(ctx)
    soc_on = state.soc["enabled"]
    text = files.read_text(conf["path"])
    loads = bool(text) and conf["host"] in text
    if text is None:
        matches, detail = (not soc_on), "the host tree has not written it (the browser loads nothing)"
    elif loads == soc_on:
        matches = True
        detail = ("loads Tag Manager, as SOC Telemetry is on" if loads
                  else "loads no Tag Manager, as SOC Telemetry is off")
    elif loads:
        matches = False
        detail = f"SOC Telemetry is off ({state.soc['reason']}) but the host's file still loads {conf['host']}"
    else:
        matches, detail = False, "SOC Telemetry is on but the host's file loads no Tag Manager"
    return {"path": conf["path"], "matches": matches, "detail": detail}


def _soc_json(ctx, state):
    fname = files.artefact_path(ctx, "soc_json")
    soc_on = state.soc["enabled"]
    text = files.read_text(fname)
    try:
        data = json.loads(text) if text is not None else None
    except ValueError:
        data = "invalid"
    if text is None:
        matches, detail = None, "the host tree has not written it"
    elif not isinstance(data, dict):
        matches, detail = False, "not a valid JSON object"
    else:
        flag = ((data.get("server") or {}).get("client") or {}).get("telemetryEnabled")
        if flag is None:
            matches, detail = None, "does not carry server.client.telemetryEnabled (SOC decides by analytics.js)"
        else:
            matches = flag is soc_on
            detail = f"server.client.telemetryEnabled is {str(flag).lower()}, effective setting {str(soc_on).lower()}"
    return {"path": fname, "matches": matches, "detail": detail}


def baseurls(text):
    """Every ``baseurl`` of a repository file's text (``["<unparsable>"]`` when it does not parse)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return ["<unparsable>"]
    return [u for sec in parser.sections() for u in parser[sec].get("baseurl", "").split() if u]


def _repo(ctx, state):
    fname = files.artefact_path(ctx, "repo")
    text = files.read_text(fname)
    urls = baseurls(text) if text is not None else []
    queried = [u for u in urls if urllib.parse.urlsplit(u).query]
    external = [u for u in urls if urllib.parse.urlsplit(u).scheme not in ("file", "")]
    if text is None:
        matches, detail = None, "the host tree has not written it"
    elif state.airgap["enabled"] and external:
        matches, detail = False, f"airgapped, but the host's repository file names {len(external)} network URL(s)"
    elif queried and not state.os_updates["telemetry"]:
        matches, detail = False, "OS Updates Telemetry is off but the host's repository URLs carry a query"
    else:
        matches, detail = True, f"{len(urls)} baseurl(s), {len(queried)} with a query"
    return {"path": fname, "matches": matches, "detail": detail}


def _job(art, job_name, saved, state):
    present = schedule.enabled(saved.get(job_name))
    if art == "highstate_schedule":
        matches, detail = present, "present" if present else "absent or disabled: the grid does not resync"
    elif state.os_updates["enabled"]:
        matches = present
        detail = "present, as OS updates are on" if present else "OS updates are on but the host has no such job"
    else:
        matches = not present
        detail = ("absent, as OS updates are off" if not present
                  else f"OS updates are off ({state.os_updates['reason']}) but the host's job is still enabled")
    return {"path": f"schedule job {job_name}", "matches": matches, "detail": detail}


def host_checks(ctx):
    """``{artefact: check}`` for every artefact the host tree owns."""
    own = files.owners(ctx)
    state = decide.decision(ctx)
    out = {}
    for art, check in (("analytics", _analytics), ("soc_json", _soc_json), ("repo", _repo)):
        if own[art] == "host":
            out[art] = check(ctx, state)
    names = schedule.job_names(ctx)
    jobs = [(art, names[kind]) for art, kind in (("highstate_schedule", "highstate"), ("patch_schedule", "patch"))
            if own[art] == "host"]
    saved = schedule.saved(ctx) if jobs else {}
    for art, job_name in jobs:
        out[art] = _job(art, job_name, saved, state)
    return out
