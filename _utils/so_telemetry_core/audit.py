"""The audit: every file this library renders (or, where the host tree owns
it, would render) scanned for URLs naming an external host. On an airgapped
node any external host is a failure; elsewhere a host outside the expected
destinations is, and so is a host artefact that does not match the setting."""

import json
import os
import re
import urllib.parse

from . import decide, files, hostcheck, report, repo, schedule, soc
from .validate import PillarError

_URL_RE = re.compile(r"\b([a-z][a-z0-9+.-]*)://([^/\s'\"?#<>)]*)", re.IGNORECASE)
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "")


def rendered_files(ctx):
    return [
        files.artefact_path(ctx, "repo"),
        soc.analytics(ctx)["path"],
        files.artefact_path(ctx, "soc_json"),
        schedule.conf_path(ctx),
    ]


def owned_lines(ctx, lines):
    """The values of soc.json at the keys this library owns, as text lines
    (``key.path: value``): soc.json is SOC's whole configuration (grid
    hosts, rule repositories...), only the library's own keys are audited."""
    try:
        data = json.loads("\n".join(lines))
        owned = soc.owned_config(ctx)
    except (ValueError, PillarError):
        return lines  # unparsable or unknown: scan it all

    def walk(mine, theirs, trail):
        if isinstance(mine, dict) and isinstance(theirs, dict):
            for key, val in mine.items():
                if key in theirs:
                    yield from walk(val, theirs[key], trail + [str(key)])
        else:
            yield f"{'.'.join(trail)}: {json.dumps(theirs)}"

    return list(walk(owned, data, []))


def _allowed_hosts(ctx, state):
    """The hosts a rendered file may name: this node and its manager; unless
    airgapped, the Security Onion repositories (when updates are on or not:
    the OS update job may be turned on again) and Tag Manager while SOC
    Telemetry is on."""
    allowed = set(LOCAL_HOSTS)
    try:
        allowed.add(repo.manager_host(ctx).lower())
    except PillarError:
        pass
    if not state.airgap["enabled"]:
        allowed.update(h.lower() for h in report.upstream_hosts(ctx))
        if state.soc["enabled"]:
            allowed.add(soc.analytics(ctx)["host"])
    return allowed


def _hits(fname, lines, allowed, by_key):
    for lineno, line in enumerate(lines, 1):
        for match in _URL_RE.finditer(line):
            if match.group(1).lower() == "file":
                continue
            hostport = match.group(2)
            try:
                host = urllib.parse.urlsplit(f"//{hostport}").hostname or ""
            except ValueError:  # not a valid host (e.g. an unclosed [): never an allowed one
                host = hostport.lower()
            where = line.split(": ", 1)[0] if by_key else lineno
            yield {"file": fname, "line": where, "host": host, "url": match.group(0), "allowed": host in allowed}


def audit(ctx, extra_files=None):
    """``{"result", "airgapped", "scanned", "hosts", "failures",
    "host_checks", "mismatches"}``."""
    state = decide.checked(ctx)
    allowed = _allowed_hosts(ctx, state)
    json_path = files.artefact_path(ctx, "soc_json")
    hits, scanned = [], []
    for fname in rendered_files(ctx) + list(extra_files or []):
        if not os.path.isfile(fname):
            continue
        scanned.append(fname)
        with open(fname, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
        if fname == json_path:
            lines = owned_lines(ctx, lines)
        hits.extend(_hits(fname, lines, allowed, fname == json_path))
    failures = [h for h in hits if not h["allowed"]]
    checks = hostcheck.host_checks(ctx)
    mismatches = {art: chk for art, chk in checks.items() if chk["matches"] is False}
    return {
        "result": not failures and not mismatches,
        "airgapped": state.airgap["enabled"],
        "scanned": scanned,
        "hosts": sorted({h["host"] for h in hits}),
        "failures": failures,
        "host_checks": checks,
        "mismatches": mismatches,
    }
