"""SOC's files: the analytics loader (``analytics.js``) and the keys this
library owns in SOC's ``soc.json``."""

import copy
import json
import re

import jinja2
import salt.utils.dictupdate

from . import decide, files
from .config import component
from .validate import PillarError, https_url, url_host


def analytics(ctx):
    """The validated ``soc:analytics`` settings: ``path``, ``container``,
    ``url``, ``host``, ``src`` (the Tag Manager URL) and ``template``."""
    conf = component(ctx, "soc").get("analytics")
    if not isinstance(conf, dict):
        raise PillarError(f"pillar key 'soc:analytics' must be a mapping, got {conf!r}", "soc:analytics")
    container = conf.get("container_id")
    if not isinstance(container, str) or not re.fullmatch(r"GTM-[A-Z0-9]{4,12}", container):
        raise PillarError(
            f"pillar key 'soc:analytics:container_id' must look like GTM-XXXXXXX, got {container!r}",
            "soc:analytics:container_id",
        )
    url = https_url(conf.get("url"), "soc:analytics:url")
    template = conf.get("template")
    if not isinstance(template, str) or not re.fullmatch(r"[A-Za-z0-9_./-]+\.jinja", template) or ".." in template:
        raise PillarError(
            f"pillar key 'soc:analytics:template' must name a file under soc/files, got {template!r}",
            "soc:analytics:template",
        )
    return {
        "path": files.artefact_path(ctx, "analytics"),
        "container": container,
        "url": url,
        "host": url_host(url),
        "src": f"{url}?id={container}",
        "template": template,
    }


def analytics_js(ctx):
    """The loader for this node: the Google Tag Manager loader (template
    ``salt://so_telemetry/soc/files/<soc:analytics:template>``) when SOC
    Telemetry is on; empty when it is off or the grid is airgapped, so the
    browser loads nothing."""
    conf = analytics(ctx)
    if not decide.checked(ctx, "soc").soc["enabled"]:
        return ""
    try:
        text = ctx.files.text(f"soc/files/{conf['template']}")
    except PillarError as exc:
        raise PillarError(
            f"pillar key 'soc:analytics:template' names a missing template: {exc}", "soc:analytics:template"
        ) from None
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    try:
        return env.from_string(text).render(
            container=conf["container"], url=conf["url"], host=conf["host"], src=conf["src"]
        )
    except jinja2.TemplateError as exc:
        raise PillarError(f"soc/files/{conf['template']} does not render: {exc}") from exc


def owned_config(ctx):
    """The keys this library owns in soc.json: pillar ``soc:config`` and the
    effective flag at ``server:client:telemetryEnabled``."""
    cfg = component(ctx, "soc").get("config")
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise PillarError(f"pillar key 'soc:config' must be a mapping, got {cfg!r}", "soc:config")
    try:
        # as it will read back from the file (keys are strings in JSON), so a
        # second run compares like with like
        cfg = json.loads(json.dumps(cfg, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise PillarError(f"pillar key 'soc:config' cannot be written as JSON: {exc}", "soc:config") from None
    server = cfg.setdefault("server", {})
    if not isinstance(server, dict) or not isinstance(server.setdefault("client", {}), dict):
        raise PillarError("pillar key 'soc:config:server:client' must be a mapping", "soc:config:server:client")
    server["client"]["telemetryEnabled"] = decide.checked(ctx, "soc").soc["enabled"]
    return cfg


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def parse_json(text, source):
    """The JSON object in ``text`` (strict: NaN and Infinity are Python's, not
    JSON, and SOC refuses them); an error naming ``source`` otherwise."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise PillarError(
            f"{source or 'soc.json'} is not valid JSON ({exc}); refusing to overwrite SOC's configuration"
        ) from None
    if not isinstance(data, dict):
        raise PillarError(f"{source or 'soc.json'} does not hold a JSON object; refusing to overwrite it")
    return data


def soc_json(ctx, existing=None, source=None):
    """Text of ``soc.json`` with the keys this library owns merged into
    ``existing`` (the file's current text; None when there is no file). Every
    other key is kept; when nothing owned differs the existing text comes back
    unchanged (the file is not rewritten)."""
    owned = owned_config(ctx)
    base = {} if existing is None else parse_json(existing, source)
    merged = salt.utils.dictupdate.merge_recurse(copy.deepcopy(base), owned)
    if existing is not None and merged == base:
        return existing
    try:
        # Security Onion renders soc.json sorted, with four-space indents.
        return json.dumps(merged, indent=4, sort_keys=True, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise PillarError(f"pillar key 'soc:config' cannot be written as JSON: {exc}", "soc:config") from exc
