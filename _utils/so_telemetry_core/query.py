"""The OS Updates Telemetry query: the allow-listed fields, their values from
pillar (validated) and from fixed lists (OS, architecture), and the exact
query the repository URLs carry. Nothing that names the node is ever sent."""

import re
import urllib.parse

from . import decide
from .config import component
from .validate import PillarError

QUERY_FIELDS = ("version", "os", "arch", "features", "license")
_VERSION_RE = re.compile(r"[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,6}(-[0-9A-Za-z]{1,16})?")
_FEATURE_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_LICENSE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
# the pillar-sourced fields, and their keys
_SOURCES = {"version": "global:soversion", "features": "global:features", "license": "global:license_id"}


def grain_tokens(grains):
    """Values that identify this node; none may ever appear in a query."""
    tokens = set()
    for key in ("id", "host", "fqdn", "nodename", "localhost", "domain", "username"):
        val = grains.get(key)
        if isinstance(val, str) and val:
            tokens.add(val.lower())
            tokens.add(val.split(".")[0].lower())
    for key in ("ipv4", "ipv6", "fqdn_ip4", "fqdn_ip6"):
        vals = grains.get(key) or []
        if isinstance(vals, str):
            vals = [vals]
        for val in vals if isinstance(vals, list) else []:
            if isinstance(val, str):
                tokens.add(val.lower())
    tokens.discard("")
    return tokens


def os_id(ctx):
    """Normalised OS id, major release and architecture (``oracle``, ``9``,
    ``x86_64``), each from an allow-list (``unknown`` otherwise)."""
    repo = component(ctx, "repo")
    ids = repo.get("os_ids") or {}
    if not isinstance(ids, dict):
        raise PillarError(
            f"pillar key 'repo:os_ids' must be a mapping of os grain to OS id, got {ids!r}", "repo:os_ids"
        )
    name = ctx.grains.get("os")
    osid = ids.get(name, "unknown") if isinstance(name, str) else "unknown"
    if not isinstance(osid, str) or not re.fullmatch(r"[a-z]{1,16}", osid):
        raise PillarError(f"pillar key 'repo:os_ids:{name}' must be a lower-case word, got {osid!r}", "repo:os_ids")
    rel = ctx.grains.get("osmajorrelease")
    rel = str(rel) if isinstance(rel, (int, str)) and re.fullmatch(r"[0-9]{1,3}", str(rel)) else "unknown"
    arch = ctx.grains.get("cpuarch")
    arches = repo.get("arches") or []
    if not isinstance(arches, list):
        raise PillarError(f"pillar key 'repo:arches' must be a list, got {arches!r}", "repo:arches")
    arch = arch if isinstance(arch, str) and arch in arches else "unknown"
    return {"os": osid, "release": rel, "arch": arch}


def _pillar_values(glob):
    """``(version, features, license_id)`` from ``global``, validated."""
    version = glob.get("soversion")
    if not isinstance(version, str) or not _VERSION_RE.fullmatch(version):
        raise PillarError(f"pillar key 'global:soversion' must be a version like 2.4.190, got {version!r}",
                          "global:soversion")
    features = glob.get("features")
    if features in (None, ""):
        features = []
    if not isinstance(features, list) or not all(isinstance(f, str) and _FEATURE_RE.fullmatch(f) for f in features):
        raise PillarError(
            f"pillar key 'global:features' must be a list of lower-case feature names, got {features!r}",
            "global:features",
        )
    license_id = glob.get("license_id")
    if license_id is None:
        license_id = ""
    if not isinstance(license_id, str) or (license_id and not _LICENSE_RE.fullmatch(license_id)):
        raise PillarError(
            f"pillar key 'global:license_id' must be letters, digits and dashes, got {license_id!r}",
            "global:license_id",
        )
    return version, features, license_id


def fields(ctx):
    """The allow-listed fields with their values, validated, whatever the
    state of the channel (what the report shows as "when on")."""
    version, features, license_id = _pillar_values(component(ctx, "global"))
    ident = os_id(ctx)
    out = {
        "version": version,
        # an unknown OS is just `unknown`; an unknown release leaves the OS id alone
        "os": ident["os"] if "unknown" in (ident["os"], ident["release"]) else f"{ident['os']}{ident['release']}",
        "arch": ident["arch"],
    }
    if features:
        out["features"] = ",".join(sorted(set(features)))
    if license_id:
        out["license"] = license_id
    # os and arch come from fixed allow-lists; the pillar-sourced values must not name this node.
    tokens = grain_tokens(ctx.grains)
    for key, val in out.items():
        if key in _SOURCES and {val.lower(), *val.lower().split(",")} & tokens:
            raise PillarError(
                f"pillar key '{_SOURCES[key]}' value {val!r} names this node "
                "(its id, host name or an address); it is never sent",
                _SOURCES[key],
            )
    return out


def params(ctx):
    """The exact query parameters the upstream repository URLs carry now:
    empty when OS updates are off, the grid is airgapped or the node is not
    manager-like."""
    if not decide.checked(ctx, "os_updates").os_updates["telemetry"]:
        return {}
    return fields(ctx)


def string(ctx):
    """:func:`params` URL-encoded, as appended to the repository URLs."""
    return urllib.parse.urlencode(params(ctx), quote_via=urllib.parse.quote, safe="")
