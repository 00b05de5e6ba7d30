"""What this node has now, one observer per artefact: its analytics loader,
its ``soc.json``, its repository file, its schedule jobs. Read from the disk
and the persisted schedule, judged against nothing: the host checks
(:mod:`~so_telemetry_core.hostcheck`), the grid's convergence
(:mod:`~so_telemetry_core.converge`) and the audit
(:mod:`~so_telemetry_core.audit`) are views over these observations."""

import configparser
import json
import urllib.parse

from . import files, schedule, soc

ABSENT = "absent"


def analytics(ctx):
    """``{"path", "text", "state"}``: the loader at ``soc:analytics:path``;
    ``state`` ``on`` (it names the Tag Manager host), ``off`` or ``absent``."""
    conf = soc.analytics(ctx)
    text = files.read_text(conf["path"])
    state = ABSENT if text is None else ("on" if text and conf["host"] in text else "off")
    return {"path": conf["path"], "text": text, "state": state}


def soc_json(ctx):
    """``{"path", "text", "data", "flag"}``: SOC's configuration; ``data`` the
    JSON object (None: absent or not an object), ``flag`` its
    ``server.client.telemetryEnabled`` (None where it has none)."""
    path = files.artefact_path(ctx, "soc_json")
    text = files.read_text(path)
    try:
        data = json.loads(text) if text is not None else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = None
    flag = ((data or {}).get("server") or {}).get("client") or {}
    flag = flag.get("telemetryEnabled") if isinstance(flag, dict) else None
    return {"path": path, "text": text, "data": data, "flag": flag}


def baseurls(text):
    """Every ``baseurl`` of a repository file's text (``["<unparsable>"]`` when it does not parse)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return ["<unparsable>"]
    return [u for sec in parser.sections() for u in parser[sec].get("baseurl", "").split() if u]


def repo(ctx):
    """``{"path", "text", "baseurls", "queried", "external"}``: the repository
    file, its URLs, those carrying a query, those that are not ``file:``."""
    path = files.artefact_path(ctx, "repo")
    text = files.read_text(path)
    urls = baseurls(text) if text is not None else []
    return {
        "path": path,
        "text": text,
        "baseurls": urls,
        "queried": [u for u in urls if urllib.parse.urlsplit(u).query],
        "external": [u for u in urls if urllib.parse.urlsplit(u).scheme not in ("file", "")],
    }


def job(ctx, name, saved=None):
    """``{"name", "saved", "enabled"}``: the persisted schedule job ``name``
    (``saved``: the schedule already read)."""
    saved = schedule.saved(ctx) if saved is None else saved
    return {"name": name, "saved": saved.get(name), "enabled": schedule.enabled(saved.get(name))}
