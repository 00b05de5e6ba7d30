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

# Components, each with ``salt://so_telemetry/<comp>/defaults.yaml`` and a
# pillar key of the same name; ``so_telemetry`` (who writes which artefact)
# has its defaults at the top of the formula, ``salt://so_telemetry/defaults.yaml``.
COMPONENTS = ("so_telemetry", "global", "soc", "patch", "repo", "resync", "manager")
FORMULA = "so_telemetry"
# Artefacts this library renders; pillar ``so_telemetry:owners:<artefact>``
# says whether the library writes it (``library``) or the host tree does (``host``).
ARTEFACTS = ("analytics", "soc_json", "repo", "highstate_schedule", "patch_schedule")
DOCS_URL = "https://docs.securityonion.net/en/2.4/"
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


def _formula_file(relpath):
    """Text of ``salt://so_telemetry/<relpath>``, or of the copy beside this
    module when it runs from a checkout (or an installed wheel) without a
    file server."""
    cache = globals().get("__context__", {}).setdefault("telemetry.files", {})
    if relpath in cache:
        return cache[relpath]
    text = None
    getter = globals().get("__salt__", {}).get("cp.get_file_str")
    if getter is not None:
        try:
            text = getter(f"salt://{FORMULA}/{relpath}")
        except Exception as exc:  # pylint: disable=broad-except
            log.debug("cp.get_file_str failed for %s: %s", relpath, exc)
            text = None
    if not text:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, os.pardir, "salt", FORMULA, *relpath.split("/"))
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
    if not text:
        raise CommandExecutionError(
            f"salt://{FORMULA}/{relpath} not found: serve this library with file_roots [<repo>/salt, <repo>]"
        )
    cache[relpath] = text
    return text


def _defaults_text(comp):
    """Text of the component's ``defaults.yaml``."""
    return _formula_file("defaults.yaml" if comp == FORMULA else f"{comp}/defaults.yaml")


def _load_defaults(comp):
    cache = __context__.setdefault("telemetry.defaults", {})
    if comp not in cache:
        data = salt.utils.yaml.safe_load(_defaults_text(comp)) or {}
        if not isinstance(data.get(comp), dict):
            raise CommandExecutionError(f"the defaults.yaml of {comp} has no '{comp}' mapping")
        cache[comp] = data[comp]
    return copy.deepcopy(cache[comp])


def _pillar():
    pil = globals().get("__pillar__")
    try:
        return dict(pil or {})
    except (TypeError, ValueError):
        return {}


def config(comp, pillar=None, strict=True):
    """
    The merged map of one component: ``salt://so_telemetry/<comp>/defaults.yaml``
    with the pillar of the same name merged over it (mappings merge, lists
    replace). This is the one merge rule: every ``map.jinja`` reads it.

    A pillar value of the component that is not a mapping is an error naming
    the key; with ``strict=False`` (what the ``clean`` states use, so a bad
    pillar never blocks cleaning up) the defaults are returned instead.

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
        if not strict:
            return merged
        raise CommandExecutionError(
            f"pillar key '{comp}' must be a mapping, got {override!r} ({type(override).__name__})"
        )
    merged = salt.utils.dictupdate.update(merged, copy.deepcopy(override), merge_lists=False)
    if comp == "patch":
        _replace_schedule_timings(merged, override)
    return merged


def _replace_schedule_timings(merged, override):
    """A schedule's timing is one choice, not a set of keys: where the pillar
    gives ``patch:os:schedules:<name>:schedule`` (or the flat keys of earlier
    releases, ``{hours: 8}``), it replaces the default timing instead of
    merging into it (``{hours: 8}`` and ``{Monday: [...]}`` do not mix)."""
    schedules = ((override.get("os") or {}) if isinstance(override.get("os"), dict) else {}).get("schedules")
    target = (merged.get("os") or {}).get("schedules") if isinstance(merged.get("os"), dict) else None
    if not isinstance(schedules, dict) or not isinstance(target, dict):
        return
    for name, sched in schedules.items():
        if not isinstance(sched, dict) or not isinstance(target.get(name), dict):
            continue
        if "schedule" in sched:
            target[name]["schedule"] = copy.deepcopy(sched["schedule"])
        elif any(k in sched for k in _INTERVALS):
            target[name].pop("schedule", None)


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


def manager_like():
    """
    Whether this node's ``role`` grain is manager-like
    (``global:manager_roles``): it mirrors upstream and serves SOC.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.manager_like
    """
    return _is_manager_like(config("global"))


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

    soc_pillar = pillar_switch(
        "soc", lambda: _strict_bool(config("soc").get("telemetryEnabled"), "soc:telemetryEnabled")
    )

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
            return False, f"airgapped ({airgap['reason']}); {key} is ignored"
        return bool(pillar_on), f"{key} is {'true' if pillar_on else 'false'} ({_origin(key)})"

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


def _origin(key):
    """Where the value of ``key`` (``a:b:c``) comes from: a pillar, or the
    shipped default because no pillar sets it."""
    cur = _pillar()
    for part in key.split(":"):
        if not isinstance(cur, dict) or part not in cur:
            comp = key.split(":")[0]
            return f"default of salt://{FORMULA}/{comp}/defaults.yaml; no pillar sets it"
        cur = cur[part]
    return "set in pillar"


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_INTERVALS = ("seconds", "minutes", "hours", "days")
_TIME_RE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def _int(value, key, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CommandExecutionError(f"pillar key '{key}' must be a whole number from {low} to {high}, got {value!r}")
    return value


def _schedule_choice(patch):
    """``(name, timing)`` of the schedule ``patch:os:schedule_to_run`` names,
    validated. Security Onion 2.4's shape, ``{splay: N, schedule: {hours: N}}``
    or ``{splay: N, schedule: {Monday: ['08:00', ...], ...}}``, becomes Salt
    scheduler keywords (``hours``/``when``, ``splay``); the flat shape of
    earlier releases of this library (``{hours: 8, splay: 1800}``) is read too."""
    name = _get(patch, ("os", "schedule_to_run"), "patch:os:schedule_to_run")
    schedules = _get(patch, ("os", "schedules"), "patch:os:schedules")
    if not isinstance(schedules, dict):
        raise CommandExecutionError(f"pillar key 'patch:os:schedules' must be a mapping, got {schedules!r}")
    if not isinstance(name, str) or name not in schedules:
        raise CommandExecutionError(
            f"pillar key 'patch:os:schedule_to_run' names an unknown schedule {name!r}; "
            f"known: {', '.join(sorted(map(str, schedules)))}"
        )
    key = f"patch:os:schedules:{name}"
    sched = schedules[name]
    if not isinstance(sched, dict):
        raise CommandExecutionError(
            f"pillar key '{key}' must be a mapping like {{splay: 900, schedule: {{hours: 8}}}}, got {sched!r}"
        )
    unknown = set(sched) - {"splay", "schedule", *_INTERVALS}
    if unknown:
        raise CommandExecutionError(
            f"pillar key '{key}' has unknown keys {sorted(map(str, unknown))}; "
            "expected splay and schedule (e.g. {splay: 900, schedule: {hours: 8}})"
        )
    timing = {}
    splay = sched.get("splay", 0)
    if _int(splay, f"{key}:splay", 0, 86400):
        timing["splay"] = splay
    when = sched.get("schedule")
    flat = {k: sched[k] for k in _INTERVALS if k in sched}
    if when is None and flat:
        when, key_when = flat, key
    elif when is not None and not flat:
        key_when = f"{key}:schedule"
    else:
        raise CommandExecutionError(
            f"pillar key '{key}' must hold exactly one 'schedule' (e.g. {{hours: 8}} or {{Monday: ['08:00']}}), "
            f"got {sched!r}"
        )
    if not isinstance(when, dict) or not when:
        raise CommandExecutionError(f"pillar key '{key_when}' must be a mapping like {{hours: 8}}, got {when!r}")
    intervals = [k for k in when if k in _INTERVALS]
    days = [k for k in when if k in _WEEKDAYS]
    other = [k for k in when if k not in _INTERVALS and k not in _WEEKDAYS]
    if other or (intervals and days) or len(intervals) > 1:
        raise CommandExecutionError(
            f"pillar key '{key_when}' must be one of {', '.join(_INTERVALS)} or weekday names "
            f"({', '.join(_WEEKDAYS)}) with lists of HH:MM times, got {when!r}"
        )
    if intervals:
        unit = intervals[0]
        timing[unit] = _int(when[unit], f"{key_when}:{unit}", 1, 10**6)
    else:
        timing["when"] = []
        for day in _WEEKDAYS:
            if day not in when:
                continue
            times = when[day]
            if isinstance(times, str):
                times = [times]
            if not isinstance(times, list) or not times or not all(
                isinstance(t, str) and _TIME_RE.fullmatch(t) for t in times
            ):
                raise CommandExecutionError(
                    f"pillar key '{key_when}:{day}' must be a list of HH:MM times like ['08:00'], got {when[day]!r}"
                )
            timing["when"].extend(f"{day} {t}" for t in times)
    return name, timing


def owners():
    """
    Who writes each artefact, ``{artefact: "library" | "host"}`` (pillar
    ``so_telemetry:owners``). Where the host tree (Security Onion's own
    states) owns one, this library writes nothing there and only reports
    whether the host's file matches the effective setting.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.owners
    """
    conf = config(FORMULA).get("owners")
    if not isinstance(conf, dict):
        raise CommandExecutionError(f"pillar key '{FORMULA}:owners' must be a mapping, got {conf!r}")
    unknown = set(conf) - set(ARTEFACTS)
    if unknown:
        raise CommandExecutionError(
            f"pillar key '{FORMULA}:owners' has unknown artefacts {sorted(map(str, unknown))}; "
            f"known: {', '.join(ARTEFACTS)}"
        )
    out = {}
    for art in ARTEFACTS:
        val = conf.get(art, "library")
        if val not in ("library", "host"):
            raise CommandExecutionError(f"pillar key '{FORMULA}:owners:{art}' must be library or host, got {val!r}")
        out[art] = val
    return out


def job_names():
    """Salt schedule job names: ``{"highstate": name, "patch": name,
    "legacy": {"highstate": [...], "patch": [...]}}`` (names earlier
    releases used, removed where found)."""
    conf = config(FORMULA).get("jobs") or {}
    if not isinstance(conf, dict):
        raise CommandExecutionError(f"pillar key '{FORMULA}:jobs' must be a mapping, got {conf!r}")
    names = {}
    for key in ("highstate", "patch"):
        val = conf.get(key)
        if not isinstance(val, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", val):
            raise CommandExecutionError(f"pillar key '{FORMULA}:jobs:{key}' must be a job name, got {val!r}")
        names[key] = val
    legacy = conf.get("legacy") or {}
    names["legacy"] = {}
    for key in ("highstate", "patch"):
        old = legacy.get(key) or [] if isinstance(legacy, dict) else None
        if not isinstance(old, list) or not all(isinstance(n, str) and n for n in old):
            raise CommandExecutionError(
                f"pillar key '{FORMULA}:jobs:legacy:{key}' must be a list of job names, got {old!r}"
            )
        names["legacy"][key] = [n for n in old if n not in (names["highstate"], names["patch"])]
    return names


def resync_job():
    """
    The grid resync job (``state.highstate`` every ``resync:highstate``
    interval, ``maxrunning``, splay, no run at start), validated:
    ``{"name": ..., "job": {...}}``.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.resync_job
    """
    conf = config("resync").get("highstate")
    if not isinstance(conf, dict):
        raise CommandExecutionError(f"pillar key 'resync:highstate' must be a mapping, got {conf!r}")
    run_on_start = conf.get("run_on_start", False)
    job = {
        "function": "state.highstate",
        "maxrunning": _int(conf.get("maxrunning"), "resync:highstate:maxrunning", 1, 10),
        "run_on_start": _strict_bool(run_on_start, "resync:highstate:run_on_start"),
        "return_job": False,
    }
    if conf.get("seconds") is not None:
        job["seconds"] = _int(conf.get("seconds"), "resync:highstate:seconds", 1, 86400)
    else:
        job["minutes"] = _int(conf.get("minutes"), "resync:highstate:minutes", 1, 1440)
    splay = _int(conf.get("splay", 0), "resync:highstate:splay", 0, 3600)
    if splay:
        job["splay"] = splay
    return {"name": job_names()["highstate"], "job": job}


def resync_interval():
    """The resync interval in words (``15 minutes``), from ``resync:highstate``."""
    job = resync_job()["job"]
    for unit in ("minutes", "seconds"):
        if unit in job:
            value = job[unit]
            return f"{value} {unit if value != 1 else unit[:-1]}"
    return "the resync interval"


def patch_job():
    """
    The automatic OS update job, validated: ``{"name": ..., "job": {...}}``
    while OS updates are on, ``{"name": ..., "job": None, "reason": ...}``
    when they are off or the grid is airgapped (the job must be absent).

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.patch_job
    """
    state = settings("os_updates")
    name = job_names()["patch"]
    if not state["os_updates"]["enabled"]:
        return {"name": name, "job": None, "reason": state["os_updates"]["reason"]}
    sched_name, timing = _schedule_choice(config("patch"))
    # run_on_start False: adding or changing the schedule (or restarting the
    # minion) must not start an OS update there and then.
    job = {
        "function": "state.sls",
        "job_args": [f"{FORMULA}.patch.os"],
        "maxrunning": 1,
        "run_on_start": False,
        "return_job": False,
    }
    job.update(timing)
    return {"name": name, "job": job, "schedule": sched_name, "reason": state["os_updates"]["reason"]}


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
    if not isinstance(ids, dict):
        raise CommandExecutionError(f"pillar key 'repo:os_ids' must be a mapping of os grain to OS id, got {ids!r}")
    name = __grains__.get("os")
    osid = ids.get(name, "unknown") if isinstance(name, str) else "unknown"
    if not isinstance(osid, str) or not re.fullmatch(r"[a-z]{1,16}", osid):
        raise CommandExecutionError(f"pillar key 'repo:os_ids:{name}' must be a lower-case word, got {osid!r}")
    rel = __grains__.get("osmajorrelease")
    rel = str(rel) if isinstance(rel, (int, str)) and re.fullmatch(r"[0-9]{1,3}", str(rel)) else "unknown"
    arch = __grains__.get("cpuarch")
    arches = repo.get("arches") or []
    if not isinstance(arches, list):
        raise CommandExecutionError(f"pillar key 'repo:arches' must be a list, got {arches!r}")
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


def path(abspath, key=None):
    """A default path placed under :func:`root`; ``key`` is the pillar key it
    comes from (named in the error)."""
    if not isinstance(abspath, str) or not abspath.startswith("/"):
        where = f"pillar key '{key}': " if key else ""
        raise CommandExecutionError(f"{where}rendered file path must be absolute, got {abspath!r}")
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


_PROXY_SCHEMES = ("http", "https")
_SECRET = "********"


def proxy(hosts=None):
    """
    The upstream proxy from Security Onion's ``manager:proxy``
    (``http://[user:password@]host:port``) and ``manager:no_proxy`` (comma
    list of host names or domain suffixes), validated. ``{}`` when unset.
    With ``hosts``, ``applies`` tells whether the proxy is used for them
    (not when every one of them is in ``no_proxy``). The password is in
    ``password``; never log or report it (see :func:`proxy_public`).
    """
    conf = config("manager")
    url = conf.get("proxy")
    if url in (None, ""):
        return {}
    key = "manager:proxy"
    if not isinstance(url, str) or not _SAFE_TEXT_RE.fullmatch(url) or any(c.isspace() for c in url):
        raise CommandExecutionError(f"pillar key '{key}' has a value that would break the repository file")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise CommandExecutionError(f"pillar key '{key}' must look like http://host:port, got an invalid URL") from None
    if parts.scheme not in _PROXY_SCHEMES or not parts.hostname or port is None:
        raise CommandExecutionError(
            f"pillar key '{key}' must look like http://[user:password@]host:port (scheme http or https, a host "
            f"and a port), got {_redact_url(url)!r}"
        )
    host = parts.hostname
    if not (_HOST_RE.fullmatch(host) or _is_ip(host)):
        raise CommandExecutionError(f"pillar key '{key}' has an invalid host {host!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise CommandExecutionError(f"pillar key '{key}' must be scheme://host:port only, got {_redact_url(url)!r}")
    netloc_host = f"[{host}]" if ":" in host else host
    out = {
        "url": f"{parts.scheme}://{netloc_host}:{port}",
        "username": urllib.parse.unquote(parts.username) if parts.username else "",
        "password": urllib.parse.unquote(parts.password) if parts.password else "",
    }
    for field in ("username", "password"):
        if not _SAFE_TEXT_RE.fullmatch(out[field]) or out[field] != out[field].strip():
            raise CommandExecutionError(f"pillar key '{key}' has a {field} that would break the repository file")
    no_proxy = conf.get("no_proxy") or ""
    if not isinstance(no_proxy, str) or not re.fullmatch(r"[A-Za-z0-9.,:*_\[\] -]*", no_proxy):
        raise CommandExecutionError(
            f"pillar key 'manager:no_proxy' must be a comma list of host names, got {no_proxy!r}"
        )
    out["no_proxy"] = [h.strip().lower().lstrip("*") for h in no_proxy.split(",") if h.strip()]
    if hosts is not None:
        out["applies"] = not all(_bypassed(h, out["no_proxy"]) for h in hosts)
    return out


def _is_ip(text):
    import ipaddress  # pylint: disable=import-outside-toplevel

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _bypassed(host, no_proxy):
    host = (host or "").lower()
    for entry in no_proxy:
        if entry == "*" or not entry:
            return True
        entry = entry.lstrip(".")
        if host == entry or host.endswith("." + entry):
            return True
    return False


def _redact_url(url):
    """``url`` with any password replaced by ``********``."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:{_SECRET}@{netloc[-1]}"))
    except ValueError:
        return "<invalid URL>"


def proxy_public(hosts=None):
    """:func:`proxy` with the password masked: what reports and states show."""
    out = proxy(hosts)
    if out.get("password"):
        out["password"] = _SECRET
    return out


def _mapping(conf, key):
    """``conf[<last part of key>]``, which must be a mapping (the error names ``key``)."""
    val = conf.get(key.rsplit(":", 1)[-1])
    if not isinstance(val, dict):
        raise CommandExecutionError(f"pillar key '{key}' must be a mapping, got {val!r}")
    return val


def _url_host(url):
    """Host name of ``url`` (lower case), or None for a value that is not a URL with a host."""
    try:
        return urllib.parse.urlsplit(str(url)).hostname
    except ValueError:
        return None


def file_spec(comp):
    """``{"user", "group", "mode"}`` of the files a component renders
    (``<comp>:file_user``, ``file_group``, ``file_mode``). Numeric ids stay
    numbers, so they work where the account does not exist."""
    conf = config(comp)
    spec = {}
    for field in ("user", "group"):
        val = conf.get(f"file_{field}")
        if isinstance(val, str) and val.isascii() and val.isdigit():
            val = int(val)
        number = isinstance(val, int) and not isinstance(val, bool) and 0 <= val < 2**31
        name = isinstance(val, str) and re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", val)
        if not (number or name):
            raise CommandExecutionError(
                f"pillar key '{comp}:file_{field}' must be an account name or a number, got {val!r}"
            )
        spec[field] = val
    spec["mode"] = "0" + oct(file_mode(comp))[2:].zfill(3)
    return spec


def repo_definition():
    """
    The repository definition this node gets: ``mode`` (upstream, airgap,
    node), ``baseurls``, ``gpgkey``, the upstream ``proxy`` (password
    masked), the file path, owner and mode.

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
        airgap = _mapping(repo, "repo:airgap")
        urls = [_check_file_url(airgap.get("baseurl"), "repo:airgap:baseurl")]
        gpgkey = _check_file_url(airgap.get("gpgkey"), "repo:airgap:gpgkey")
    elif not state["manager_like"]:
        mode = "node"
        manager = _manager_host(glob)
        node = _mapping(repo, "repo:node")
        urls = [_check_https(_fill(node.get("baseurl"), "repo:node:baseurl", manager=manager), "repo:node:baseurl")]
        key = node.get("gpgkey")
        gpgkey = (
            _check_file_url(key, "repo:node:gpgkey")
            if str(key).startswith("file:")
            else _check_https(_fill(key, "repo:node:gpgkey", manager=manager), "repo:node:gpgkey")
        )
    else:
        mode = "upstream"
        mirrors = _mapping(repo, "repo:upstream").get("mirrors")
        if not isinstance(mirrors, list) or not mirrors:
            raise CommandExecutionError(f"pillar key 'repo:upstream:mirrors' must be a non-empty list, got {mirrors!r}")
        query = query_string()
        urls = []
        for i, tmpl in enumerate(mirrors):
            key = f"repo:upstream:mirrors:{i}"
            url = _check_https(_fill(tmpl, key, os=ident["os"], release=ident["release"]), key)
            urls.append(f"{url}?{query}" if query else url)
        gpgkey = _check_https(repo["upstream"].get("gpgkey"), "repo:upstream:gpgkey")
    for key in ("id", "description"):
        val = repo.get(key)
        if not isinstance(val, str) or not val or not _SAFE_TEXT_RE.fullmatch(val) or "=" in val:
            raise CommandExecutionError(f"pillar key 'repo:{key}' has a value that would break the file: {val!r}")
    # DEFAULT is configparser's (and dnf's ini reader's) defaults section, not a repository
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", repo["id"]) or repo["id"] == "DEFAULT":
        raise CommandExecutionError(f"pillar key 'repo:id' must be a plain word, got {repo['id']!r}")
    # The proxy is the manager's way out to upstream: nodes reach their
    # manager directly, airgapped grids reach nothing.
    prox = {}
    if mode == "upstream":
        hosts = [urllib.parse.urlsplit(u).hostname for u in urls + [gpgkey]]
        prox = proxy_public(hosts)
        if prox and not prox["applies"]:
            prox = {}
    spec = file_spec("repo")
    if prox.get("password"):
        spec["mode"] = "0600"  # holds a secret: never world- or group-readable
    return {
        "mode": mode,
        "path": path(repo["path"], "repo:path"),
        "id": repo["id"],
        "description": repo["description"],
        "baseurls": urls,
        "gpgkey": gpgkey,
        "query": query_params() if mode == "upstream" else {},
        "proxy": prox,
        "file": spec,
        "secret": bool(prox.get("password")),
    }


def repo_file():
    """Text of the yum/dnf ``.repo`` file for this node (it holds the proxy
    password when ``manager:proxy`` has one: then the file is mode 0600)."""
    import configparser  # pylint: disable=import-outside-toplevel
    import io  # pylint: disable=import-outside-toplevel

    definition = repo_definition()
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    section = {
        "name": definition["description"],
        "baseurl": "\n".join(definition["baseurls"]),
        "enabled": "1",
        "gpgcheck": "1",
        "repo_gpgcheck": "0",
        "gpgkey": definition["gpgkey"],
        "sslverify": "1",
        "skip_if_unavailable": "0",
    }
    if definition["proxy"]:
        real = proxy()
        section["proxy"] = real["url"]
        if real["username"]:
            section["proxy_username"] = real["username"]
        if real["password"]:
            section["proxy_password"] = real["password"]
    parser[definition["id"]] = section
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


# --------------------------------------------------------------------------
# SOC


def _analytics_settings():
    soc = config("soc")
    analytics = soc.get("analytics")
    if not isinstance(analytics, dict):
        raise CommandExecutionError(f"pillar key 'soc:analytics' must be a mapping, got {analytics!r}")
    container = analytics.get("container_id")
    if not isinstance(container, str) or not re.fullmatch(r"GTM-[A-Z0-9]{4,12}", container):
        raise CommandExecutionError(
            f"pillar key 'soc:analytics:container_id' must look like GTM-XXXXXXX, got {container!r}"
        )
    url = _check_https(analytics.get("url"), "soc:analytics:url")
    template = analytics.get("template")
    if not isinstance(template, str) or not re.fullmatch(r"[A-Za-z0-9_./-]+\.jinja", template) or ".." in template:
        raise CommandExecutionError(
            f"pillar key 'soc:analytics:template' must name a file under soc/files, got {template!r}"
        )
    return {
        "path": path(analytics.get("path", ""), "soc:analytics:path"),
        "container": container,
        "url": url,
        "host": urllib.parse.urlsplit(url).hostname,
        "src": f"{url}?id={container}",
        "template": template,
    }


def analytics_js():
    """
    The SOC analytics loader for this node: the Google Tag Manager loader
    (template ``salt://so_telemetry/soc/files/<soc:analytics:template>``)
    when SOC Telemetry is on, an empty text when it is off or the grid is
    airgapped, so the browser loads nothing.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.analytics_js
    """
    import jinja2  # pylint: disable=import-outside-toplevel

    conf = _analytics_settings()
    if not settings("soc")["soc"]["enabled"]:
        return ""
    try:
        text = _formula_file(f"soc/files/{conf['template']}")
    except CommandExecutionError as exc:
        raise CommandExecutionError(f"pillar key 'soc:analytics:template' names a missing template: {exc}") from None
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    try:
        return env.from_string(text).render(
            container=conf["container"], url=conf["url"], host=conf["host"], src=conf["src"]
        )
    except jinja2.TemplateError as exc:
        raise CommandExecutionError(f"soc/files/{conf['template']} does not render: {exc}") from exc


def _owned_soc_config():
    """The keys this library owns in soc.json: pillar ``soc:config`` and the
    effective flag at ``server:client:telemetryEnabled``."""
    cfg = config("soc").get("config")
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise CommandExecutionError(f"pillar key 'soc:config' must be a mapping, got {cfg!r}")
    import json  # pylint: disable=import-outside-toplevel

    try:
        # as it will read back from the file (keys are strings in JSON), so a
        # second run compares like with like
        cfg = json.loads(json.dumps(cfg, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise CommandExecutionError(f"pillar key 'soc:config' cannot be written as JSON: {exc}") from None
    server = cfg.setdefault("server", {})
    if not isinstance(server, dict) or not isinstance(server.setdefault("client", {}), dict):
        raise CommandExecutionError("pillar key 'soc:config:server:client' must be a mapping")
    server["client"]["telemetryEnabled"] = settings("soc")["soc"]["enabled"]
    return cfg


def soc_json(existing=None, source=None):
    """
    Text of SOC's ``soc.json`` with the keys this library owns merged into
    ``existing`` (the file's current text; None when there is no file).
    Every other key and value is kept; when nothing owned differs the
    existing text is returned unchanged (so the file is not rewritten). A
    file that is not a JSON object is refused, naming ``source``.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.soc_json
    """
    import json  # pylint: disable=import-outside-toplevel

    owned = _owned_soc_config()
    if existing is None:
        base = {}
    else:
        try:
            # strict JSON: NaN and Infinity are Python's, not JSON (SOC refuses them)
            base = json.loads(existing, parse_constant=_reject_constant)
        except ValueError as exc:
            raise CommandExecutionError(
                f"{source or 'soc.json'} is not valid JSON ({exc}); refusing to overwrite SOC's configuration"
            ) from None
        if not isinstance(base, dict):
            raise CommandExecutionError(f"{source or 'soc.json'} does not hold a JSON object; refusing to overwrite it")
    merged = salt.utils.dictupdate.merge_recurse(copy.deepcopy(base), owned)
    if existing is not None and merged == base:
        return existing
    try:
        # Security Onion renders soc.json sorted, with four-space indents.
        return json.dumps(merged, indent=4, sort_keys=True, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise CommandExecutionError(f"pillar key 'soc:config' cannot be written as JSON: {exc}") from exc


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _read_text(fname):
    try:
        with open(fname, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def soc_json_path():
    return path(config("soc").get("config_path", ""), "soc:config_path")


def paths(strict=True):
    """
    Where each file artefact lives on this node, ``{artefact: path}`` (under
    ``so_telemetry_root`` when that minion option is set). With
    ``strict=False`` a bad component pillar falls back to the defaults, so
    the clean states can always find the files.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.paths
    """
    soc = config("soc", strict=strict)
    analytics = soc.get("analytics") if isinstance(soc.get("analytics"), dict) else {}
    defaults = _load_defaults("soc")

    def pick(value, default):
        return value if isinstance(value, str) and value.startswith("/") else default

    repo = config("repo", strict=strict)
    return {
        "analytics": path(pick(analytics.get("path"), defaults["analytics"]["path"]) if not strict
                          else analytics.get("path", ""), "soc:analytics:path"),
        "soc_json": path(pick(soc.get("config_path"), defaults["config_path"]) if not strict
                         else soc.get("config_path", ""), "soc:config_path"),
        "repo": path(pick(repo.get("path"), _load_defaults("repo")["path"]) if not strict else repo.get("path", ""),
                     "repo:path"),
    }


def soc_files():
    """
    The SOC files for this node, ``{path: text}``: the analytics loader
    (empty when SOC Telemetry is off or the grid is airgapped) and
    ``soc.json`` as it would be after merging (see :func:`soc_json`).

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.soc_files
    """
    json_path = soc_json_path()
    return {
        _analytics_settings()["path"]: analytics_js(),
        json_path: soc_json(_read_text(json_path), json_path),
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
# artefacts owned by the host tree: does the host's file match the setting?


def _schedule_conf():
    conf_dir = os.path.dirname(__opts__.get("conf_file") or "/etc/salt/minion")
    return os.path.join(conf_dir, __opts__.get("default_include", "minion.d/*.conf").split("/")[0], "_schedule.conf")


def saved_schedule():
    """The minion's saved schedule (``minion.d/_schedule.conf``), ``{job: settings}``."""
    text = _read_text(_schedule_conf())
    if not text:
        return {}
    try:
        data = salt.utils.yaml.safe_load(text) or {}
    except Exception as exc:  # pylint: disable=broad-except
        raise CommandExecutionError(f"{_schedule_conf()} is not valid YAML: {exc}") from exc
    sched = data.get("schedule") if isinstance(data, dict) else None
    return sched if isinstance(sched, dict) else {}


def _job_enabled(job):
    return isinstance(job, dict) and job.get("enabled", True) is not False


def host_checks():
    """
    For every artefact the host tree owns (``so_telemetry:owners``), whether
    the host's file or job matches the effective telemetry setting:
    ``{artefact: {"path", "matches": True|False|None, "detail"}}``
    (``None``: the host's artefact does not say).

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.host_checks
    """
    import configparser  # pylint: disable=import-outside-toplevel
    import json  # pylint: disable=import-outside-toplevel

    own = owners()
    state = settings()
    out = {}
    soc_on = state["soc"]["enabled"]
    if own["analytics"] == "host":
        conf = _analytics_settings()
        text = _read_text(conf["path"])
        loads = bool(text) and conf["host"] in text
        if text is None:
            matches, detail = (not soc_on), "the host tree has not written it (the browser loads nothing)"
        elif loads == soc_on:
            matches = True
            detail = ("loads Tag Manager, as SOC Telemetry is on" if loads
                      else "loads no Tag Manager, as SOC Telemetry is off")
        elif loads:
            matches = False
            detail = f"SOC Telemetry is off ({state['soc']['reason']}) but the host's file still loads {conf['host']}"
        else:
            matches = False
            detail = "SOC Telemetry is on but the host's file loads no Tag Manager"
        out["analytics"] = {"path": conf["path"], "matches": matches, "detail": detail}
    if own["soc_json"] == "host":
        fname = soc_json_path()
        text = _read_text(fname)
        try:
            data = json.loads(text) if text is not None else None
        except ValueError:
            data = "invalid"
        flag = None
        if isinstance(data, dict):
            flag = ((data.get("server") or {}).get("client") or {}).get("telemetryEnabled")
        if text is None:
            matches, detail = None, "the host tree has not written it"
        elif not isinstance(data, dict):
            matches, detail = False, "not a valid JSON object"
        elif flag is None:
            matches, detail = None, "does not carry server.client.telemetryEnabled (SOC decides by analytics.js)"
        else:
            matches = flag is soc_on
            detail = f"server.client.telemetryEnabled is {str(flag).lower()}, effective setting {str(soc_on).lower()}"
        out["soc_json"] = {"path": fname, "matches": matches, "detail": detail}
    if own["repo"] == "host":
        fname = path(config("repo")["path"], "repo:path")
        text = _read_text(fname)
        urls = []
        if text is not None:
            parser = configparser.ConfigParser(interpolation=None, strict=False)
            try:
                parser.read_string(text)
                for sec in parser.sections():
                    urls.extend(u for u in parser[sec].get("baseurl", "").split() if u)
            except configparser.Error:
                urls = ["<unparsable>"]
        queried = [u for u in urls if urllib.parse.urlsplit(u).query]
        external = [u for u in urls if urllib.parse.urlsplit(u).scheme not in ("file", "")]
        if text is None:
            matches, detail = None, "the host tree has not written it"
        elif state["airgap"]["enabled"] and external:
            matches, detail = False, f"airgapped, but the host's repository file names {len(external)} network URL(s)"
        elif queried and not state["os_updates"]["telemetry"]:
            matches, detail = False, "OS Updates Telemetry is off but the host's repository URLs carry a query"
        else:
            matches, detail = True, f"{len(urls)} baseurl(s), {len(queried)} with a query"
        out["repo"] = {"path": fname, "matches": matches, "detail": detail}
    names = job_names()
    sched = None
    for art, job_name in (("highstate_schedule", names["highstate"]), ("patch_schedule", names["patch"])):
        if own[art] != "host":
            continue
        if sched is None:
            sched = saved_schedule()
        present = _job_enabled(sched.get(job_name))
        where = f"schedule job {job_name}"
        if art == "highstate_schedule":
            matches, detail = present, "present" if present else "absent or disabled: the grid does not resync"
        elif state["os_updates"]["enabled"]:
            matches = present
            detail = "present, as OS updates are on" if present else "OS updates are on but the host has no such job"
        else:
            matches = not present
            detail = ("absent, as OS updates are off" if not present
                      else f"OS updates are off ({state['os_updates']['reason']}) but the host's job is still enabled")
        out[art] = {"path": where, "matches": matches, "detail": detail}
    return out


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
    soc_host = _url_host(_mapping(soc, "soc:analytics").get("url"))
    every = resync_interval()
    try:
        prox = proxy_public()
    except CommandExecutionError as exc:
        prox = {"error": str(exc)}
    upstream = _mapping(repo, "repo:upstream")
    mirrors = upstream.get("mirrors")
    if not isinstance(mirrors, list):
        raise CommandExecutionError(f"pillar key 'repo:upstream:mirrors' must be a non-empty list, got {mirrors!r}")
    os_hosts = [h for h in map(_url_host, mirrors + [upstream.get("gpgkey")]) if h]
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
            "destinations": [soc_host] if state["soc"]["enabled"] and soc_host else [],
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
            f"Configuration screen; takes effect at the next grid resync (within {every}, or "
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
            f"Configuration screen; takes effect at the next grid resync (within {every}, or "
            "so-telemetry sync)",
            "proxy": prox if state["os_updates"]["telemetry"] else {},
        },
        "resync": every,
        "owners": owners(),
        "host_checks": host_checks(),
        "spec": SPEC_URL,
    }


# --------------------------------------------------------------------------
# audit


def rendered_files():
    """Every file this library renders (or, where the host tree owns it,
    would render) on this node."""
    return [
        path(config("repo")["path"], "repo:path"),
        _analytics_settings()["path"],
        soc_json_path(),
        _schedule_conf(),
    ]


def _host_allowed(host, allowed):
    if not host:
        return True
    return host.lower() in allowed


def _owned_lines(lines):
    """The values of soc.json at the keys this library owns, as text lines
    (``key.path: value``), for the audit."""
    import json  # pylint: disable=import-outside-toplevel

    try:
        data = json.loads("\n".join(lines))
        owned = _owned_soc_config()
    except (ValueError, CommandExecutionError):
        return lines  # unparsable or unknown: scan it all

    def walk(mine, theirs, trail):
        if isinstance(mine, dict) and isinstance(theirs, dict):
            for key, val in mine.items():
                if key in theirs:
                    yield from walk(val, theirs[key], trail + [str(key)])
        else:
            yield f"{'.'.join(trail)}: {json.dumps(theirs)}"

    return list(walk(owned, data, []))


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
        allowed.update(h.lower() for h in rep["soc"]["destinations"] if h)
        allowed.update(h.lower() for h in rep["os_updates"]["destinations_when_on"] if h)
    files = rendered_files() + list(extra_files or [])
    json_path = soc_json_path()
    hits = []
    scanned = []
    for fname in files:
        if not os.path.isfile(fname):
            continue
        scanned.append(fname)
        with open(fname, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
        if fname == json_path:
            # soc.json is SOC's whole configuration (grid hosts, rule
            # repositories...): scan only the keys this library puts there.
            lines = _owned_lines(lines)
        for lineno, line in enumerate(lines, 1):
            for match in _URL_RE.finditer(line):
                scheme = match.group(1).lower()
                hostport = match.group(2)
                try:
                    host = urllib.parse.urlsplit(f"//{hostport}").hostname or ""
                except ValueError:  # not a valid host (e.g. an unclosed [): never an allowed one
                    host = hostport.lower()
                if scheme == "file":
                    continue
                ok = _host_allowed(host, allowed)
                where = lineno if fname != json_path else line.split(": ", 1)[0]
                hits.append({"file": fname, "line": where, "host": host, "url": match.group(0), "allowed": ok})
    failures = [h for h in hits if not h["allowed"]]
    checks = host_checks()
    mismatches = {art: chk for art, chk in checks.items() if chk["matches"] is False}
    result = not failures and not mismatches
    if not result:
        __context__["retcode"] = 1
    return {
        "result": result,
        "airgapped": airgapped,
        "scanned": scanned,
        "hosts": sorted({h["host"] for h in hits}),
        "failures": failures,
        "host_checks": checks,
        "mismatches": mismatches,
    }


# --------------------------------------------------------------------------
# check: network preflight and the exact wire preview
#
# What is checked is what the engine decides (settings, repo_definition,
# query_params, proxy); this section only builds the requests (with
# ``requests``), sends at most one per destination and classifies the outcome.

VERSION = "0.1.0"
USER_AGENT = f"so-telemetry/{VERSION}"
CHECK_TIMEOUT = 10
# The system CA store, as dnf (libcurl) trusts it, first match wins;
# certifi's bundle (requests' default) only when none of these exists.
_SYSTEM_CA_FILES = (
    "/etc/pki/tls/certs/ca-bundle.crt",  # Oracle Linux, Rocky, RHEL
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
)


def _check_trust(ca_bundle):
    """``(verify, description)``: ``ca_bundle``, else ``REQUESTS_CA_BUNDLE``
    (honoured explicitly: the session ignores the environment), else the
    system CA store."""
    import ssl  # pylint: disable=import-outside-toplevel

    for value, origin in ((ca_bundle, "ca_bundle"), (os.environ.get("REQUESTS_CA_BUNDLE"), "REQUESTS_CA_BUNDLE")):
        if value in (None, ""):
            continue
        if not isinstance(value, str) or not os.path.exists(value):
            raise CommandExecutionError(f"{origin} {value!r} is not a CA bundle file or directory")
        return value, f"{origin} {value}"
    candidates = [ssl.get_default_verify_paths().cafile, *_SYSTEM_CA_FILES]
    for cafile in candidates:
        if cafile and os.path.isfile(cafile):
            return cafile, f"system CA store {cafile}"
    return True, "certifi CA bundle (no system CA store found)"


def _check_timeout(timeout):
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        value = -1
    if isinstance(timeout, bool) or not 0 < value <= 300:
        raise CommandExecutionError(f"timeout must be a number of seconds from 0 to 300, got {timeout!r}")
    return value


def _wire_host(url):
    """The Host header http.client sends for ``url`` (no userinfo, no :443)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return host if parts.port in (None, 443) else f"{host}:{parts.port}"


def _probe_url(base, tail):
    """``tail`` under the directory ``base`` (a baseurl with its query), the
    query kept exactly as it is (dnf keeps a baseurl's query on every request)."""
    parts = urllib.parse.urlsplit(base)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urllib.parse.urlunsplit(parts._replace(path=path + tail))


def _check_proxies(host, real):
    """``(proxies, shown)`` for one destination host: the ``requests``
    proxies mapping with the credentials (percent-encoded), and the proxy
    URL with the password masked. ``({}, "direct")`` when no proxy applies."""
    if not real or _bypassed(host, real.get("no_proxy") or []):
        return {}, "direct" if not real else f"direct: manager:no_proxy covers {host}"
    parts = urllib.parse.urlsplit(real["url"])
    auth = shown_auth = ""
    if real.get("username"):
        user = urllib.parse.quote(real["username"], safe="")
        auth = shown_auth = user
        if real.get("password"):
            auth += ":" + urllib.parse.quote(real["password"], safe="")
            shown_auth += ":" + _SECRET
        auth += "@"
        shown_auth += "@"
    url = f"{parts.scheme}://{auth}{parts.netloc}"
    return {"https": url}, f"proxy {parts.scheme}://{shown_auth}{parts.netloc}"


def _check_plan():
    """The destinations this node contacts, as the engine decides them:
    ``{"mode", "reason", "airgap", "destinations": [...], "notes": [...]}``.
    Pure: no network, no ``requests``."""
    state = settings()
    if state["airgap"]["enabled"]:
        return {
            "mode": "airgap",
            "airgap": True,
            "reason": f"airgapped ({state['airgap']['reason']}): this node contacts nothing; no connection, "
            "no DNS lookup",
            "destinations": [],
            "notes": [],
        }
    definition = repo_definition()
    mode = definition["mode"]
    dests = []
    notes = []
    if mode == "upstream":
        if state["os_updates"]["telemetry"]:
            reason = ("manager-like node, OS updates on: each upstream mirror with the telemetry query "
                      "(exactly the query the repository file carries), and the signing key")
        else:
            reason = f"manager-like node, OS updates off ({state['os_updates']['reason']}): upstream without a query"
        label = "mirror"
    else:
        reason = "node: only its manager's repository, never upstream, never a query"
        label = "manager repository"
    many = len(definition["baseurls"]) > 1
    for i, base in enumerate(definition["baseurls"], 1):
        dests.append({
            "name": f"{label} {i}" if many else label,
            "kind": "mirror",
            "url": _probe_url(base, "repodata/repomd.xml"),
            "probe": True,
        })
    key = definition["gpgkey"]
    if urllib.parse.urlsplit(key).scheme == "https":
        dests.append({"name": "GPG key", "kind": "gpgkey", "url": key, "probe": True})
    else:
        notes.append(f"GPG key {key} is a local file: nothing to contact")
    if state["manager_like"] and state["soc"]["enabled"]:
        gtm = _analytics_settings()
        dests.append({
            "name": "SOC Tag Manager",
            "kind": "soc",
            "url": gtm["src"],
            "probe": False,
            "detail": "loaded by the analysts' browsers from the SOC web UI, not by this node: not probed "
            "from here; allow it on the browsers' way out",
        })
    elif state["manager_like"]:
        notes.append(f"SOC Telemetry off ({state['soc']['reason']}): browsers load no Tag Manager")
    seen = set()
    unique = []
    for dest in dests:  # at most one request per destination
        if dest["url"] not in seen:
            seen.add(dest["url"])
            unique.append(dest)
    # Nothing but the allow-listed query may ride on a request.
    expected = query_params() if mode == "upstream" else {}
    for dest in unique:
        if dest["kind"] != "mirror":
            continue
        got = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(dest["url"]).query, keep_blank_values=True))
        if not set(got) <= set(QUERY_FIELDS) or got != expected:
            raise CommandExecutionError(
                f"refusing to send {dest['url']}: its query is not exactly the allow-listed one"
            )
    return {"mode": mode, "airgap": False, "reason": reason, "destinations": unique, "notes": notes}


def _check_session():
    """A ``requests`` session that sends only what we set: no environment
    proxies, netrc or CA bundle (``trust_env=False``), and exactly these
    headers (``Host`` and ``Accept-Encoding`` named so http.client adds none)."""
    import requests  # pylint: disable=import-outside-toplevel

    session = requests.Session()
    session.trust_env = False
    session.headers.clear()
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"})
    return session


def _check_prepare(session, url):
    import requests  # pylint: disable=import-outside-toplevel

    req = requests.Request("GET", url, headers={"Host": _wire_host(url)})
    return session.prepare_request(req)


def _exc_chain(exc):
    """``exc`` and everything it wraps (``__cause__``, ``__context__``,
    urllib3's ``reason``, args that are exceptions)."""
    todo, seen = [exc], []
    while todo:
        cur = todo.pop(0)
        if not isinstance(cur, BaseException) or any(cur is s for s in seen):
            continue
        seen.append(cur)
        todo.extend([cur.__cause__, cur.__context__, getattr(cur, "reason", None)])
        todo.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
    return seen


def _check_classify(exc):
    """``(cause, detail)`` of a failed request: ``proxy error``, ``TLS
    verification failed``, ``TLS error``, ``timeout``, ``DNS failure``,
    ``connection refused`` or ``connection failed``."""
    import socket  # pylint: disable=import-outside-toplevel

    import requests  # pylint: disable=import-outside-toplevel

    chain = _exc_chain(exc)
    text = " ".join(str(e) for e in chain)
    # the innermost message says it best ("[Errno 111] Connection refused")
    detail = next((str(e) for e in reversed(chain) if str(e)), str(exc))
    if isinstance(exc, requests.exceptions.ProxyError):
        return "proxy error", detail
    if isinstance(exc, requests.exceptions.SSLError):
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text.lower():
            return "TLS verification failed", detail
        return "TLS error", detail
    timed_out = any(isinstance(e, (socket.timeout, TimeoutError)) for e in chain)
    if isinstance(exc, requests.exceptions.Timeout) or timed_out:
        return "timeout", detail
    names = {type(e).__name__ for e in chain}
    low = text.lower()
    if (
        "NameResolutionError" in names
        or any(isinstance(e, socket.gaierror) for e in chain)
        or "name or service not known" in low
        or "temporary failure in name resolution" in low
        or "nodename nor servname" in low
    ):
        return "DNS failure", detail
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in low:
        return "connection refused", detail
    return "connection failed", detail


def _mask(text, secrets):
    text = str(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, _SECRET)
    return text


def _check_send(session, prepared, proxies, verify, timeout):
    """Send one prepared request (no retry, no redirect, body not read):
    ``{"ok", "status", "http_status", "latency_ms", "error", "detail"}``."""
    import time  # pylint: disable=import-outside-toplevel

    import requests  # pylint: disable=import-outside-toplevel

    start = time.monotonic()
    try:
        resp = session.send(
            prepared, proxies=proxies, verify=verify, timeout=(timeout, timeout), allow_redirects=False, stream=True
        )
    except requests.exceptions.RequestException as exc:
        cause, detail = _check_classify(exc)
        return {"ok": False, "status": "failed", "error": cause, "detail": detail, "exception": str(exc),
                "latency_ms": round((time.monotonic() - start) * 1000, 1)}
    latency = round((time.monotonic() - start) * 1000, 1)
    code = resp.status_code
    location = resp.headers.get("Location")
    resp.close()
    out = {"http_status": code, "latency_ms": latency}
    if code >= 400:
        out.update(ok=False, status="failed", error=f"HTTP error {code}", detail=resp.reason or "")
    elif 300 <= code < 400:
        out.update(ok=True, status="ok",
                   detail=f"redirect to {location} (not followed; dnf follows it: allow that host too)")
    else:
        out.update(ok=True, status="ok", detail=resp.reason or "")
    return out


def check(dry_run=False, timeout=CHECK_TIMEOUT, ca_bundle=None):
    """
    Network preflight of exactly the destinations this node contacts for OS
    updates (and, listed only, SOC Telemetry's Tag Manager, which the
    analysts' browsers load): per destination the exact request (method, URL
    with its query, every header) and, unless ``dry_run``, one GET of it
    (through ``manager:proxy`` when it applies; no retry, no redirect
    followed, each bounded by ``timeout`` seconds) with the outcome: ok with
    the HTTP status and latency, or the cause (DNS failure, connection
    refused, TLS verification failed, HTTP error, timeout, proxy error).

    Airgapped: no connection and no DNS lookup at all, and the reason. The
    proxy password is never shown. Sets exit code 1 when a probed
    destination does not answer.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.check dry_run=True
        salt '*' telemetry.check
        salt-call telemetry.check timeout=5 ca_bundle=/etc/pki/tls/certs/ca-bundle.crt
    """
    timeout = _check_timeout(timeout)
    plan = _check_plan()
    out = {
        "result": True,
        "dry_run": bool(dry_run),
        "airgap": plan["airgap"],
        "mode": plan["mode"],
        "reason": plan["reason"],
        "notes": plan["notes"],
        "user_agent": USER_AGENT,
        "timeout": timeout,
        "destinations": [],
        "unreachable": [],
        "updates": "",
        "proxy": {},
        "trust": "",
    }
    if plan["airgap"]:
        out["summary"] = plan["reason"]
        out["updates"] = "from the local repository only"
        return out
    verify, out["trust"] = _check_trust(ca_bundle)
    # The proxy is the manager's way out to upstream (see repo_definition):
    # only when it applies there, and per host unless manager:no_proxy covers it.
    real = proxy() if plan["mode"] == "upstream" else {}
    secrets = []
    if real:
        out["proxy"] = proxy_public()
        secrets = [real["password"], urllib.parse.quote(real["password"], safe="")] if real["password"] else []
    session = _check_session()
    try:
        for dest in plan["destinations"]:
            host = urllib.parse.urlsplit(dest["url"]).hostname
            entry = {k: dest[k] for k in ("name", "kind", "url", "probe")}
            entry["host"] = host
            if not dest["probe"]:
                entry.update(status="listed", ok=None, detail=dest["detail"])
                out["destinations"].append(entry)
                continue
            prepared = _check_prepare(session, dest["url"])
            proxies, via = _check_proxies(host, real)
            entry["via"] = via
            entry["request"] = {"method": prepared.method, "url": prepared.url, "headers": dict(prepared.headers)}
            if proxies:
                import requests  # pylint: disable=import-outside-toplevel

                parts = urllib.parse.urlsplit(dest["url"])
                connect = {k: f"Basic {_SECRET}" if k.lower() == "proxy-authorization" else v
                           for k, v in requests.adapters.HTTPAdapter().proxy_headers(proxies["https"]).items()}
                entry["connect"] = {"target": f"{parts.hostname}:{parts.port or 443}", "headers": connect}
            if dry_run:
                entry.update(status="planned", ok=None)
            else:
                entry.update(_check_send(session, prepared, proxies, verify, timeout))
                for field in ("detail", "exception"):
                    if field in entry:
                        entry[field] = _mask(entry[field], secrets)
            out["destinations"].append(entry)
    finally:
        session.close()
    probed = [d for d in out["destinations"] if d["probe"]]
    listed = [d for d in out["destinations"] if not d["probe"]]
    if dry_run:
        out["summary"] = (f"dry run: {len(probed)} request(s) prepared, none sent"
                          + (f"; {len(listed)} destination(s) listed, never probed" if listed else ""))
        return out
    bad = [d for d in probed if not d["ok"]]
    out["unreachable"] = [f"{d['name']} ({d['url']}): {d['error']}" for d in bad]
    mirrors = [d for d in probed if d["kind"] == "mirror"]
    good = [d for d in mirrors if d["ok"]]
    if not mirrors:
        out["updates"] = "no network repository"
    elif len(good) == len(mirrors):
        out["updates"] = "updates work: every repository answers"
    elif good:
        out["updates"] = (f"updates still work through {good[0]['name']} ({good[0]['host']}): dnf tries the "
                          "mirrors in order")
    else:
        out["updates"] = "updates do NOT work: no repository answers"
    key = [d for d in probed if d["kind"] == "gpgkey" and not d["ok"]]
    if key:
        out["updates"] += "; the GPG key is unreachable: dnf cannot import the signing key from it"
    out["result"] = not bad
    out["summary"] = (f"{len(probed) - len(bad)} of {len(probed)} destination(s) answered"
                      + (f"; unreachable: {', '.join(d['name'] for d in bad)}" if bad else ""))
    if bad:
        __context__["retcode"] = 1
    return out
