"""The transparency report: per channel on/off and why, the destination
hosts, every field with its exact value (OS updates) or category (SOC), TLS,
retention, and how to change it."""

from . import consent, decide, files, hostcheck, proxy, query, schedule
from .config import component
from .validate import PillarError, mapping, url_host

DOCS_URL = "https://docs.securityonion.net/en/2.4/"
# What Google Analytics receives from a SOC page by its defaults (GA4's
# page_location, page_title, page_referrer, and the request itself). What
# Security Onion's Tag Manager container really sends is decided in that
# container, which is not public: the library cannot see it or limit it.
RECEIVER_SEES = (
    "the page URL: this manager's host name and SOC's route, which can hold a hunt query",
    "the page title, where SOC puts the hunt query or the case title",
    "the referrer",
    "the browser's IP address",
    "the browser's User-Agent",
)


def analytics_container(soc):
    analytics = soc.get("analytics")
    return analytics.get("container_id") if isinstance(analytics, dict) else None
SPEC_URL = DOCS_URL + "telemetry.html"


def _airgap(state):
    air = state.airgap
    return {
        "enabled": air["enabled"],
        "reason": air["reason"],
        "malformed": air["malformed"],
        "effect": "nothing is sent: SOC Telemetry off, automatic OS updates off" if air["enabled"] else "none",
    }


def _soc(ctx, state, every):
    soc = component(ctx, "soc")
    host = url_host(mapping(soc, "soc:analytics").get("url"))
    return {
        "enabled": state.soc["enabled"],
        "reason": state.soc["reason"],
        "origin": "the SOC web UI in the analyst's browser",
        "destinations": [host] if state.soc["enabled"] and host else [],
        "destination_when_on": host,
        "purpose": "which SOC features are used (user-interface navigation flows), as Security Onion states it",
        "sent_by": f"Security Onion's Google Tag Manager container ({analytics_container(soc)}) decides what the "
        "browser sends to Google Analytics; this library decides only whether the browser loads it",
        "receiver_sees": list(RECEIVER_SEES),
        "enforced": "when off or airgapped the loader is an empty file: the browser loads nothing from Google, "
        "from its next SOC page load" + ("" if files.owners(ctx)["analytics"] == "library" else
                                         " after a hard refresh (the host tree writes the loader)"),
        "tls": True,
        "retention": soc.get("retention"),
        "change": "so-telemetry disable soc | enable soc, or search 'SOC Telemetry' in the "
        f"Configuration screen; takes effect at the next grid resync (within {every}, or "
        f"so-telemetry sync){browsers(ctx)}",
    }


def browsers(ctx):
    """When the analysts' browsers follow a SOC Telemetry change: this
    library's loader re-checks itself at every page load (an opt-out needs no
    hard refresh); a loader the host tree writes stays cached until one."""
    if files.owners(ctx)["analytics"] == "host":
        return ", then hard-refresh the browser (CTRL+SHIFT+R): the host tree's loader stays cached until then"
    return (": turning it off reaches each browser at its next SOC page load; turning it on, at the browser's "
            "next hard refresh (CTRL+SHIFT+R) or when its cached copy of analytics.js expires")


def upstream_hosts(ctx):
    """Every host the manager's updates reach when on: the mirrors and the key."""
    upstream = mapping(component(ctx, "repo"), "repo:upstream")
    mirrors = upstream.get("mirrors")
    if not isinstance(mirrors, list):
        raise PillarError(
            f"pillar key 'repo:upstream:mirrors' must be a non-empty list, got {mirrors!r}", "repo:upstream:mirrors"
        )
    return sorted({h for h in map(url_host, mirrors + [upstream.get("gpgkey")]) if h})


def _os_updates(ctx, state, every):
    osu = state.os_updates
    try:
        prox = proxy.shown(ctx)
    except PillarError as exc:
        prox = {"error": str(exc)}
    hosts = upstream_hosts(ctx)
    fields = query.fields(ctx)
    return {
        "enabled": osu["enabled"],
        "reason": osu["reason"],
        "telemetry": osu["telemetry"],
        "telemetry_reason": osu["telemetry_reason"],
        "origin": "the manager node's package manager (dnf)",
        "destinations": list(hosts) if osu["telemetry"] else [],
        "destinations_when_on": hosts,
        "fields": query.params(ctx),
        "fields_when_on": fields,
        "allow_list": list(query.QUERY_FIELDS),
        "never_in_query": ["host names", "minion ids", "IP addresses", "user names", "event data"],
        "also_known_to_receiver": "the manager's IP address and dnf's User-Agent header "
        "(libdnf (<OS name> <version>; <variant>; Linux.<arch>)), inherent to dnf's requests",
        "tls": True,
        "change": "so-telemetry disable os-updates | enable os-updates, or search 'patch' in the "
        f"Configuration screen; takes effect at the next grid resync (within {every}, or "
        "so-telemetry sync)",
        "proxy": prox if osu["telemetry"] else {},
    }


def report(ctx):
    """The report (a mapping; ``so-telemetry status`` prints it in words).
    Where the consent trail exists on this node (the manager), each channel
    says ``since`` when it holds, by the trail's last record of it."""
    state = decide.checked(ctx)
    every = schedule.resync_interval(ctx)
    rep = {
        "airgap": _airgap(state),
        "soc": _soc(ctx, state, every),
        "os_updates": _os_updates(ctx, state, every),
        "resync": every,
        "owners": files.owners(ctx),
        "host_checks": hostcheck.host_checks(ctx),
        "spec": SPEC_URL,
    }
    states, _errors = consent.effective(ctx)
    rep["consent"], since = consent.since(ctx, states)
    for channel in consent.CHANNELS:
        rep[channel]["since"] = since[channel]
    return rep
