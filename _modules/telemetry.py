"""
Security Onion telemetry: one engine that decides every channel.

Every SLS and state of this library asks this module; nothing else decides
whether SOC Telemetry or the OS Updates Telemetry is on. The rules:

* Airgapped = grain ``airgap`` true OR pillar ``global:airgap`` true. A value
  that is not a recognisable boolean counts as airgapped (fail closed).
* SOC Telemetry = pillar ``soc:telemetryEnabled`` and not airgapped.
* OS updates = pillar ``patch:os:enabled`` and not airgapped. The manager-like
  roles carry the telemetry query on their upstream repository requests.
* Grains (which a minion controls) can only ever turn telemetry off.

Bad pillar values raise :class:`CommandExecutionError` naming the key and the
value; nothing is ever coerced to "enabled".
"""

import copy
import logging
import os
import re
import urllib.parse

import salt.utils.dictupdate
import salt.utils.yaml
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "telemetry"

COMPONENTS = ("global", "soc", "patch", "repo", "resync")
QUERY_FIELDS = ("version", "os", "arch", "features", "license")
SPEC_URL = "https://docs.securityonion.net/en/2.4/telemetry.html"

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
# Patterns are used with fullmatch: `$` would also accept a trailing newline.
_VERSION_RE = re.compile(r"[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,6}(-[0-9A-Za-z]{1,16})?")
_FEATURE_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_LICENSE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_HOST_RE = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_URL_RE = re.compile(r"\b([a-z][a-z0-9+.-]*)://([^/\s'\"?#<>)]*)", re.IGNORECASE)
_SAFE_TEXT_RE = re.compile(r"[^\x00-\x1f\x7f\[\]]*")


def __virtual__():
    return __virtualname__


# --------------------------------------------------------------------------
# configuration: defaults.yaml < pillar, validated


def _defaults_text(comp):
    """Text of ``salt://<comp>/defaults.yaml``, or of the copy beside this
    module when it runs from a checkout without a file server."""
    text = None
    getter = globals().get("__salt__", {}).get("cp.get_file_str")
    if getter is not None:
        try:
            text = getter(f"salt://{comp}/defaults.yaml")
        except Exception as exc:  # pylint: disable=broad-except
            log.debug("cp.get_file_str failed for %s: %s", comp, exc)
            text = None
    if not text:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, os.pardir, "salt", comp, "defaults.yaml")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
    if not text:
        raise CommandExecutionError(
            f"salt://{comp}/defaults.yaml not found: serve this library with "
            "file_roots [<repo>/salt, <repo>]"
        )
    return text


def _load_defaults(comp):
    cache = __context__.setdefault("telemetry.defaults", {})
    if comp not in cache:
        data = salt.utils.yaml.safe_load(_defaults_text(comp)) or {}
        if not isinstance(data.get(comp), dict):
            raise CommandExecutionError(f"salt://{comp}/defaults.yaml has no '{comp}' mapping")
        cache[comp] = data[comp]
    return copy.deepcopy(cache[comp])


def _pillar():
    pil = globals().get("__pillar__")
    try:
        return dict(pil or {})
    except (TypeError, ValueError):
        return {}


def config(comp, pillar=None):
    """
    The merged map of one component: ``salt://<comp>/defaults.yaml`` with the
    pillar of the same name merged over it (mappings merge, lists replace).

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.config soc
    """
    if comp not in COMPONENTS:
        raise CommandExecutionError(f"unknown component {comp!r}; one of {', '.join(COMPONENTS)}")
    merged = _load_defaults(comp)
    override = (_pillar() if pillar is None else pillar).get(comp)
    if override is None:
        return merged
    if not isinstance(override, dict):
        raise CommandExecutionError(
            f"pillar key '{comp}' must be a mapping, got {override!r} ({type(override).__name__})"
        )
    return salt.utils.dictupdate.update(merged, copy.deepcopy(override), merge_lists=False)


def configs():
    """
    Every component's merged map, ``{component: map}`` (what the
    Configuration screen shows as current values).

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.configs
    """
    return {comp: config(comp) for comp in COMPONENTS}


def _get(data, path, key):
    cur = data
    for part in path:
        if not isinstance(cur, dict) or part not in cur:
            raise CommandExecutionError(f"pillar key '{key}' is missing")
        cur = cur[part]
    return cur


def _strict_bool(value, key):
    if isinstance(value, bool):
        return value
    raise CommandExecutionError(
        f"pillar key '{key}' must be true or false, got {value!r} ({type(value).__name__})"
    )


def _parse_airgap(value):
    """(airgapped, malformed) for a grain or pillar airgap value."""
    if isinstance(value, bool):
        return value, False
    if isinstance(value, int) and value in (0, 1):
        return bool(value), False
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True, False
        if low in _FALSE:
            return False, False
    return True, True


def _is_manager_like(glob):
    role = __grains__.get("role")
    roles = glob.get("manager_roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise CommandExecutionError(f"pillar key 'global:manager_roles' must be a list of role names, got {roles!r}")
    return isinstance(role, str) and role in roles


def _airgap(glob):
    sources = []
    malformed = []
    if "airgap" in __grains__:
        on, bad = _parse_airgap(__grains__["airgap"])
        if bad:
            malformed.append(f"grain airgap={__grains__['airgap']!r} is not a boolean")
        if on:
            sources.append("grain")
    pil_value = glob.get("airgap", False)
    on, bad = _parse_airgap(pil_value)
    if bad:
        malformed.append(f"pillar global:airgap={pil_value!r} is not a boolean")
    if on:
        sources.append("pillar")
    enabled = bool(sources)
    parts = []
    if malformed:
        parts.append("malformed value counts as airgapped (fail closed): " + "; ".join(malformed))
    for src in sources:
        if not any(m.startswith(f"{src} ") for m in malformed):
            parts.append({"grain": "grain airgap is true", "pillar": "pillar global:airgap is true"}[src])
    reason = " and ".join(parts) or "neither grain airgap nor pillar global:airgap is true"
    return {"enabled": enabled, "sources": sources, "malformed": malformed, "reason": reason}


def settings(channel=None):
    """
    The effective state of each channel and of airgap, with the reason.

    A bad pillar value raises an error naming the key. With ``channel``
    (``soc`` or ``os_updates``) only that channel's keys must be valid: the
    other channel, if broken, shows as off with the error as its reason, so
    one mistyped setting does not hold up the other channel's states.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.settings
    """
    glob = config("global")
    airgap = _airgap(glob)
    manager_like = _is_manager_like(glob)
    errors = {}

    def pillar_switch(name, read):
        try:
            return read()
        except CommandExecutionError as exc:
            errors[name] = exc
            return False

    soc_pillar = pillar_switch("soc", lambda: _strict_bool(config("soc").get("telemetryEnabled"), "soc:telemetryEnabled"))

    def read_patch():
        patch = config("patch")
        value = _strict_bool(_get(patch, ("os", "enabled"), "patch:os:enabled"), "patch:os:enabled")
        _schedule_choice(patch)
        return value

    os_pillar = pillar_switch("os_updates", read_patch)
    if channel is not None and channel not in ("soc", "os_updates"):
        raise CommandExecutionError(f"unknown channel {channel!r}; one of soc, os_updates")
    for name in ("soc", "os_updates") if channel is None else (channel,):
        if name in errors:
            raise errors[name]

    def decide(name, pillar_on, key):
        if name in errors:
            return False, f"invalid pillar: {errors[name]}"
        if airgap["enabled"]:
            return False, f"airgapped ({airgap['reason']}); pillar {key} is ignored"
        if not pillar_on:
            return False, f"pillar {key} is false"
        return True, f"pillar {key} is true"

    soc_on, soc_reason = decide("soc", soc_pillar, "soc:telemetryEnabled")
    os_on, os_reason = decide("os_updates", os_pillar, "patch:os:enabled")
    if os_on and manager_like:
        tel_reason = "manager-like role mirrors upstream with the telemetry query"
    elif os_on:
        tel_reason = "node role updates from its manager's repository: no query, no upstream"
    else:
        tel_reason = os_reason
    return {
        "airgap": airgap,
        "role": __grains__.get("role"),
        "manager_like": manager_like,
        "soc": {"enabled": soc_on, "pillar": soc_pillar, "reason": soc_reason},
        "os_updates": {
            "enabled": os_on,
            "pillar": os_pillar,
            "reason": os_reason,
            "telemetry": os_on and manager_like,
            "telemetry_reason": tel_reason,
        },
    }


def _schedule_choice(patch):
    name = _get(patch, ("os", "schedule_to_run"), "patch:os:schedule_to_run")
    schedules = _get(patch, ("os", "schedules"), "patch:os:schedules")
    if not isinstance(schedules, dict):
        raise CommandExecutionError(f"pillar key 'patch:os:schedules' must be a mapping, got {schedules!r}")
    if not isinstance(name, str) or name not in schedules:
        raise CommandExecutionError(
            f"pillar key 'patch:os:schedule_to_run' names an unknown schedule {name!r}; "
            f"known: {', '.join(sorted(map(str, schedules)))}"
        )
    sched = schedules[name]
    if not isinstance(sched, dict):
        raise CommandExecutionError(f"pillar key 'patch:os:schedules:{name}' must be a mapping, got {sched!r}")
    return name, sched


# --------------------------------------------------------------------------
# the OS Updates Telemetry query


def _grain_tokens():
    """Values that identify this node; none may ever appear in a query."""
    tokens = set()
    for key in ("id", "host", "fqdn", "nodename", "localhost", "domain", "username"):
        val = __grains__.get(key)
        if isinstance(val, str) and val:
            tokens.add(val.lower())
            tokens.add(val.split(".")[0].lower())
    for key in ("ipv4", "ipv6", "fqdn_ip4", "fqdn_ip6"):
        vals = __grains__.get(key) or []
        if isinstance(vals, str):
            vals = [vals]
        for val in vals if isinstance(vals, list) else []:
            if isinstance(val, str):
                tokens.add(val.lower())
    tokens.discard("")
    return tokens


def os_id():
    """Normalised OS id and major release (``oracle``, ``9``), from an allow-list."""
    repo = config("repo")
    ids = repo.get("os_ids") or {}
    name = __grains__.get("os")
    osid = ids.get(name, "unknown") if isinstance(name, str) else "unknown"
    if not isinstance(osid, str) or not re.fullmatch(r"[a-z]{1,16}", osid):
        raise CommandExecutionError(f"pillar key 'repo:os_ids:{name}' must be a lower-case word, got {osid!r}")
    rel = __grains__.get("osmajorrelease")
    rel = str(rel) if isinstance(rel, (int, str)) and re.fullmatch(r"[0-9]{1,3}", str(rel)) else "unknown"
    arch = __grains__.get("cpuarch")
    arches = repo.get("arches") or []
    arch = arch if isinstance(arch, str) and arch in arches else "unknown"
    return {"os": osid, "release": rel, "arch": arch}


def _fields():
    """The allow-listed fields with their values, validated, whatever the state of the channel."""
    glob = config("global")
    version = glob.get("soversion")
    if not isinstance(version, str) or not _VERSION_RE.fullmatch(version):
        raise CommandExecutionError(
            f"pillar key 'global:soversion' must be a version like 2.4.190, got {version!r}"
        )
    features = glob.get("features")
    if features in (None, ""):
        features = []
    if not isinstance(features, list) or not all(
        isinstance(f, str) and _FEATURE_RE.fullmatch(f) for f in features
    ):
        raise CommandExecutionError(
            f"pillar key 'global:features' must be a list of lower-case feature names, got {features!r}"
        )
    license_id = glob.get("license_id")
    if license_id is None:
        license_id = ""
    if not isinstance(license_id, str) or (license_id and not _LICENSE_RE.fullmatch(license_id)):
        raise CommandExecutionError(
            f"pillar key 'global:license_id' must be letters, digits and dashes, got {license_id!r}"
        )
    ident = os_id()
    fields = {
        "version": version,
        # an unknown OS is just `unknown`; an unknown release leaves the OS id alone
        "os": ident["os"] if "unknown" in (ident["os"], ident["release"]) else f"{ident['os']}{ident['release']}",
        "arch": ident["arch"],
    }
    if features:
        fields["features"] = ",".join(sorted(set(features)))
    if license_id:
        fields["license"] = license_id
    # os and arch come from fixed allow-lists; the pillar-sourced values must
    # not name this node.
    tokens = _grain_tokens()
    sources = {"version": "global:soversion", "features": "global:features", "license": "global:license_id"}
    for key, val in fields.items():
        if key not in sources:
            continue
        parts = {val.lower(), *val.lower().split(",")}
        if parts & tokens:
            raise CommandExecutionError(
                f"pillar key '{sources.get(key, key)}' value {val!r} names this node "
                "(its id, host name or an address); it is never sent"
            )
    if not set(fields) <= set(QUERY_FIELDS):  # the allow-list is the contract
        raise CommandExecutionError(f"query fields outside the allow-list: {sorted(set(fields) - set(QUERY_FIELDS))}")
    return fields


def query_params():
    """
    The exact query parameters the upstream repository URLs carry now: empty
    when OS updates are off, the grid is airgapped or the node is not
    manager-like.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.query_params
    """
    state = settings("os_updates")
    if not state["os_updates"]["telemetry"]:
        return {}
    return _fields()


def query_string():
    """``query_params`` URL-encoded, as appended to the repository URLs."""
    return urllib.parse.urlencode(query_params(), quote_via=urllib.parse.quote, safe="")


# --------------------------------------------------------------------------
# rendering


def root():
    """Directory every rendered path is placed under (minion option
    ``so_telemetry_root``; empty on a real node)."""
    val = __opts__.get("so_telemetry_root") or ""
    return val.rstrip("/")


def path(abspath):
    """A default path placed under :func:`root`."""
    if not isinstance(abspath, str) or not abspath.startswith("/"):
        raise CommandExecutionError(f"rendered file path must be absolute, got {abspath!r}")
    return root() + abspath


def _check_https(url, key):
    if not isinstance(url, str) or not _SAFE_TEXT_RE.fullmatch(url) or any(c.isspace() for c in url):
        raise CommandExecutionError(f"pillar key '{key}' has a value that would break the file: {url!r}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https":
        raise CommandExecutionError(f"pillar key '{key}' must be an https:// URL, got {url!r}")
    if not parts.hostname or not _HOST_RE.fullmatch(parts.hostname) or parts.query or parts.fragment:
        raise CommandExecutionError(
            f"pillar key '{key}' must be an https URL with a host name and no query, got {url!r}"
        )
    return url


def _check_file_url(url, key):
    if not isinstance(url, str) or not url.startswith("file:///") or not _SAFE_TEXT_RE.fullmatch(url) or any(
        c.isspace() or c in "?#" for c in url
    ):
        raise CommandExecutionError(f"pillar key '{key}' must be a file:/// URL, got {url!r}")
    return url


def _fill(template, key, **values):
    """``template.format(**values)`` with an error naming the key."""
    if not isinstance(template, str):
        raise CommandExecutionError(f"pillar key '{key}' must be a URL, got {template!r}")
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        names = ", ".join("{" + v + "}" for v in values)
        raise CommandExecutionError(
            f"pillar key '{key}' has an unknown placeholder ({exc}); only {names} exist: {template!r}"
        ) from None


def _manager_host(glob):
    host = glob.get("manager") or __opts__.get("master") or ""
    if isinstance(host, list):
        host = host[0] if host else ""
    if not isinstance(host, str) or not _HOST_RE.fullmatch(host):
        raise CommandExecutionError(f"pillar key 'global:manager' must be a host name, got {host!r}")
    return host


def repo_definition():
    """
    The repository definition this node gets: ``mode`` (upstream, airgap,
    node), ``baseurls``, ``gpgkey`` and the file path.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.repo_definition
    """
    repo = config("repo")
    state = settings("os_updates")
    ident = os_id()
    glob = config("global")
    if state["airgap"]["enabled"]:
        mode = "airgap"
        urls = [_check_file_url(repo["airgap"]["baseurl"], "repo:airgap:baseurl")]
        gpgkey = _check_file_url(repo["airgap"]["gpgkey"], "repo:airgap:gpgkey")
    elif not state["manager_like"]:
        mode = "node"
        manager = _manager_host(glob)
        urls = [_check_https(_fill(repo["node"]["baseurl"], "repo:node:baseurl", manager=manager), "repo:node:baseurl")]
        key = repo["node"]["gpgkey"]
        gpgkey = (
            _check_file_url(key, "repo:node:gpgkey")
            if str(key).startswith("file:")
            else _check_https(_fill(key, "repo:node:gpgkey", manager=manager), "repo:node:gpgkey")
        )
    else:
        mode = "upstream"
        mirrors = repo["upstream"]["mirrors"]
        if not isinstance(mirrors, list) or not mirrors:
            raise CommandExecutionError(f"pillar key 'repo:upstream:mirrors' must be a non-empty list, got {mirrors!r}")
        query = query_string()
        urls = []
        for i, tmpl in enumerate(mirrors):
            key = f"repo:upstream:mirrors:{i}"
            url = _check_https(_fill(tmpl, key, os=ident["os"], release=ident["release"]), key)
            urls.append(f"{url}?{query}" if query else url)
        gpgkey = _check_https(repo["upstream"]["gpgkey"], "repo:upstream:gpgkey")
    for key in ("id", "description"):
        val = repo.get(key)
        if not isinstance(val, str) or not val or not _SAFE_TEXT_RE.fullmatch(val) or "=" in val:
            raise CommandExecutionError(f"pillar key 'repo:{key}' has a value that would break the file: {val!r}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", repo["id"]):
        raise CommandExecutionError(f"pillar key 'repo:id' must be a plain word, got {repo['id']!r}")
    return {
        "mode": mode,
        "path": path(repo["path"]),
        "id": repo["id"],
        "description": repo["description"],
        "baseurls": urls,
        "gpgkey": gpgkey,
        "query": query_params() if mode == "upstream" else {},
    }


def repo_file():
    """Text of the yum/dnf ``.repo`` file for this node."""
    import configparser  # pylint: disable=import-outside-toplevel
    import io  # pylint: disable=import-outside-toplevel

    definition = repo_definition()
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser[definition["id"]] = {
        "name": definition["description"],
        "baseurl": "\n".join(definition["baseurls"]),
        "enabled": "1",
        "gpgcheck": "1",
        "repo_gpgcheck": "0",
        "gpgkey": definition["gpgkey"],
        "sslverify": "1",
        "skip_if_unavailable": "0",
    }
    out = io.StringIO()
    out.write(
        "# Managed by so-telemetry (Salt). Local edits are overwritten.\n"
        f"# mode: {definition['mode']}\n"
    )
    parser.write(out, space_around_delimiters=False)
    text = out.getvalue().rstrip("\n") + "\n"
    # The structure must be exactly one section with the keys above.
    check = configparser.ConfigParser(interpolation=None)
    check.optionxform = str
    check.read_string(text)
    if check.sections() != [definition["id"]] or set(check[definition["id"]]) != set(parser[definition["id"]]):
        raise CommandExecutionError("repository definition would not parse back to one section")
    return text


_GTM_LOADER = """\
// Managed by so-telemetry (Salt): SOC Telemetry is ON (pillar soc:telemetryEnabled).
// Loads Google Tag Manager container {container} over TLS from {host}.
// Turn it off: so-telemetry disable soc (or search "SOC Telemetry" in Configuration).
(function (w, d, container) {{
  w.dataLayer = w.dataLayer || [];
  w.dataLayer.push({{ "gtm.start": new Date().getTime(), event: "gtm.js" }});
  var first = d.getElementsByTagName("script")[0];
  var tag = d.createElement("script");
  tag.async = true;
  tag.src = "{url}?id=" + encodeURIComponent(container);
  first.parentNode.insertBefore(tag, first);
}})(window, document, "{container}");
"""


def soc_files():
    """
    The SOC files for this node, ``{path: text}``: the analytics loader (an
    empty file when SOC Telemetry is off or the grid is airgapped) and
    ``soc.json`` carrying the effective telemetry flag.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.soc_files
    """
    import json  # pylint: disable=import-outside-toplevel

    soc = config("soc")
    enabled = settings("soc")["soc"]["enabled"]
    analytics = soc.get("analytics") or {}
    container = analytics.get("container_id")
    if not isinstance(container, str) or not re.fullmatch(r"GTM-[A-Z0-9]{4,12}", container):
        raise CommandExecutionError(f"pillar key 'soc:analytics:container_id' must look like GTM-XXXXXXX, got {container!r}")
    url = _check_https(analytics.get("url"), "soc:analytics:url")
    host = urllib.parse.urlsplit(url).hostname
    script = _GTM_LOADER.format(container=container, url=url, host=host) if enabled else ""
    cfg = soc.get("config")
    if not isinstance(cfg, dict):
        raise CommandExecutionError(f"pillar key 'soc:config' must be a mapping, got {cfg!r}")
    cfg = copy.deepcopy(cfg)
    server = cfg.setdefault("server", {})
    if not isinstance(server, dict) or not isinstance(server.setdefault("client", {}), dict):
        raise CommandExecutionError("pillar key 'soc:config:server:client' must be a mapping")
    server["client"]["telemetryEnabled"] = enabled
    try:
        text = json.dumps(cfg, indent=2, sort_keys=True) + "\n"
    except (TypeError, ValueError) as exc:
        raise CommandExecutionError(f"pillar key 'soc:config' cannot be written as JSON: {exc}") from exc
    return {
        path(analytics.get("path", "")): script,
        path(soc.get("config_path", "")): text,
    }


def file_mode(comp):
    """File mode (an int) of the files a component renders."""
    mode = config(comp).get("file_mode")
    if isinstance(mode, int) and not isinstance(mode, bool):
        # YAML reads an unquoted 0600 as the number 600: take its digits, as
        # Salt's own file states do.
        mode = str(mode)
    if not isinstance(mode, str) or not re.fullmatch(r"0?[0-7]{3}", mode):
        raise CommandExecutionError(f"pillar key '{comp}:file_mode' must be an octal mode like '0600', got {mode!r}")
    return int(mode, 8)


# --------------------------------------------------------------------------
# the transparency report


def report():
    """
    The transparency report: per channel on/off and why, the destination
    hosts, every field with its exact value (OS updates) or category (SOC),
    TLS, retention and how to change it.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.report
    """
    state = settings()
    soc = config("soc")
    repo = config("repo")
    soc_host = urllib.parse.urlsplit(str(soc["analytics"]["url"])).hostname
    os_hosts = [urllib.parse.urlsplit(str(m)).hostname for m in repo["upstream"]["mirrors"]]
    os_hosts.append(urllib.parse.urlsplit(str(repo["upstream"]["gpgkey"])).hostname)
    fields = _fields()
    sent = query_params()
    return {
        "airgap": {
            "enabled": state["airgap"]["enabled"],
            "reason": state["airgap"]["reason"],
            "malformed": state["airgap"]["malformed"],
            "effect": "nothing is sent: SOC Telemetry off, automatic OS updates off"
            if state["airgap"]["enabled"]
            else "none",
        },
        "soc": {
            "enabled": state["soc"]["enabled"],
            "reason": state["soc"]["reason"],
            "origin": "the SOC web UI in the analyst's browser",
            "destinations": [soc_host] if state["soc"]["enabled"] else [],
            "destination_when_on": soc_host,
            "data": [
                "user-interface navigation flows (which SOC features are used)",
                "software version",
                "viewed page path",
            ],
            "never": ["usernames", "event data", "node hostnames"],
            "also_known_to_receiver": "browser IP address and User-Agent (inherent to web requests)",
            "tls": True,
            "retention": soc.get("retention"),
            "change": "so-telemetry disable soc | enable soc, or search 'SOC Telemetry' in the "
            "Configuration screen; takes effect at the next grid resync (within 15 minutes, or "
            "so-telemetry sync), then hard-refresh the browser (CTRL+SHIFT+R)",
        },
        "os_updates": {
            "enabled": state["os_updates"]["enabled"],
            "reason": state["os_updates"]["reason"],
            "telemetry": state["os_updates"]["telemetry"],
            "telemetry_reason": state["os_updates"]["telemetry_reason"],
            "origin": "the manager node's package manager (dnf)",
            "destinations": sorted(set(os_hosts)) if state["os_updates"]["telemetry"] else [],
            "destinations_when_on": sorted(set(os_hosts)),
            "fields": sent,
            "fields_when_on": fields,
            "allow_list": list(QUERY_FIELDS),
            "never": ["hostnames", "minion ids", "IP addresses", "user names", "event data"],
            "also_known_to_receiver": "the manager's IP address and dnf's User-Agent header "
            "(libdnf (<OS name> <version>; <variant>; Linux.<arch>)), inherent to dnf's requests",
            "tls": True,
            "change": "so-telemetry disable os-updates | enable os-updates, or search 'patch' in the "
            "Configuration screen; takes effect at the next grid resync (within 15 minutes, or "
            "so-telemetry sync)",
        },
        "spec": SPEC_URL,
    }


# --------------------------------------------------------------------------
# audit


def _schedule_conf():
    conf_dir = os.path.dirname(__opts__.get("conf_file") or "/etc/salt/minion")
    return os.path.join(conf_dir, __opts__.get("default_include", "minion.d/*.conf").split("/")[0], "_schedule.conf")


def rendered_files():
    """Every file this library renders on this node."""
    files = [repo_definition()["path"], *soc_files()]
    files.append(_schedule_conf())
    return files


def _host_allowed(host, allowed):
    if not host:
        return True
    return host.lower() in allowed


def audit(extra_files=None):
    """
    Scan every rendered file for URLs naming an external host. On an airgapped
    node any external host is a failure; elsewhere a host outside the expected
    destinations is. Exits non-zero on failure.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.audit
    """
    state = settings()
    airgapped = state["airgap"]["enabled"]
    local = {"localhost", "127.0.0.1", "::1", ""}
    try:
        local.add(_manager_host(config("global")).lower())
    except CommandExecutionError:
        pass
    allowed = set(local)
    if not airgapped:
        rep = report()
        allowed.update(h.lower() for h in rep["soc"]["destinations"])
        allowed.update(h.lower() for h in rep["os_updates"]["destinations_when_on"])
    files = rendered_files() + list(extra_files or [])
    hits = []
    scanned = []
    for fname in files:
        if not os.path.isfile(fname):
            continue
        scanned.append(fname)
        with open(fname, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                for match in _URL_RE.finditer(line):
                    scheme = match.group(1).lower()
                    hostport = match.group(2)
                    host = urllib.parse.urlsplit(f"//{hostport}").hostname or ""
                    if scheme == "file":
                        continue
                    ok = _host_allowed(host, allowed)
                    hits.append({"file": fname, "line": lineno, "host": host, "url": match.group(0), "allowed": ok})
    failures = [h for h in hits if not h["allowed"]]
    result = not failures
    if not result:
        __context__["retcode"] = 1
    return {
        "result": result,
        "airgapped": airgapped,
        "scanned": scanned,
        "hosts": sorted({h["host"] for h in hits}),
        "failures": failures,
    }
