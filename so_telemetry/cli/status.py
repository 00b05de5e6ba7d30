"""``so-telemetry status``: the transparency report, in words or JSON."""

import json

from so_telemetry.cli import grid
from so_telemetry.cli.output import CliError, one_line, onoff, printable
from so_telemetry.cli.saltcall import salt_call


def since_line(since, trail):
    """``since <time> (<via>, by <who>)`` from the consent trail's last record
    of a channel (the report's ``since``), or why there is none."""
    if trail is None or not trail.get("exists"):
        why = (trail or {}).get("error") or f"no consent trail on this node ({(trail or {}).get('path')})"
        return f"  since: not recorded ({one_line(why)})"
    if since is None:
        return f"  since: not recorded (no record in {trail['path']})"
    told = f"{printable(since['time'], 40)} ({printable(since['via'], 40)}, by {printable(since['by'], 80)})"
    if not since["current"]:
        return (f"  since: not recorded yet (the last record, {told}, says {since['state']}; "
                "the next highstate on the manager records the change)")
    return f"  since {told}"


def _soc_lines(soc, trail=None):
    return [
        f"SOC Telemetry: {onoff(soc['enabled'])} ({soc['reason']})",
        since_line(soc.get("since"), trail),
        f"  from: {soc['origin']}",
        f"  to: {', '.join(soc['destinations']) or 'nothing'}"
        + ("" if soc["enabled"] else f" (when on: {soc['destination_when_on']})"),
        f"  what is sent: {soc['sent_by']} (purpose: {soc['purpose']})",
        f"  what the receiver sees: {'; '.join(soc['receiver_sees'])}",
        f"  enforced here: {soc['enforced']}",
        f"  TLS: {'yes' if soc['tls'] else 'no'}; retention: {soc['retention']}",
        f"  change: {soc['change']}",
    ]


def _fields_lines(osu):
    if osu["fields"]:
        return ["  fields sent (query parameters on every repository request):"] + [
            f"    {key}={val}" for key, val in osu["fields"].items()
        ]
    lines = ["  fields sent: none"]
    if osu["fields_when_on"]:
        shown = ", ".join(f"{k}={v}" for k, v in osu["fields_when_on"].items())
        lines.append(f"  (when on this node would send: {shown})")
    return lines


def _os_lines(osu, trail=None):
    lines = [
        f"Automatic OS updates: {onoff(osu['enabled'])} ({osu['reason']})",
        since_line(osu.get("since"), trail),
        f"OS Updates Telemetry: {onoff(osu['telemetry'])} ({osu['telemetry_reason']})",
        f"  from: {osu['origin']}",
        f"  to: {', '.join(osu['destinations']) or 'nothing'}"
        + ("" if osu["telemetry"] else f" (when on: {', '.join(osu['destinations_when_on'])})"),
    ]
    lines += _fields_lines(osu)
    lines.append(f"  allow-list: {', '.join(osu['allow_list'])}; never in the query: "
                 f"{', '.join(osu['never_in_query'])}")
    lines.append(f"  also seen by the receiver: {osu['also_known_to_receiver']}")
    lines.append(f"  TLS: {'yes' if osu['tls'] else 'no'}")
    if osu.get("proxy"):
        prox = osu["proxy"]
        user = f" as {prox['username']}" if prox.get("username") else ""
        lines.append(f"  through proxy: {prox.get('url', prox.get('error'))}{user} (manager:proxy)")
    lines.append(f"  change: {osu['change']}")
    return lines


def _host_lines(rep):
    host = rep.get("host_checks") or {}
    if not host:
        return []
    lines = ["", "Written by the host tree (so_telemetry:owners), checked against the effective setting:"]
    for art in rep.get("owners") or {}:
        chk = host.get(art)
        if chk is not None:
            verdict = {True: "matches", False: "DOES NOT match", None: "does not say"}[chk["matches"]]
            lines.append(f"  {art}: {chk['path']}: {verdict}: {chk['detail']}")
    return lines


def format_report(rep):
    air, trail = rep["airgap"], rep.get("consent")
    lines = [f"Airgap: {'YES' if air['enabled'] else 'no'} ({air['reason']})", since_line(air.get("since"), trail)]
    if air["enabled"]:
        lines.append(f"  {air['effect']}")
    lines += [""] + _soc_lines(rep["soc"], trail) + [""] + _os_lines(rep["os_updates"], trail) + _host_lines(rep)
    lines += ["", f"Documentation: {rep['spec']}"]
    return "\n".join(lines)


def run(args):
    if getattr(args, "grid", False):
        return grid.run(args)
    rep = salt_call(args, "telemetry.report")
    if not isinstance(rep, dict):
        raise CliError(f"telemetry.report returned {one_line(rep)}")
    print(json.dumps(rep, indent=2, sort_keys=True) if args.json else format_report(rep))
    return 0
