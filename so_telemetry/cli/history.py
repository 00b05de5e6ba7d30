"""``so-telemetry history [--json] [--channel C] [--verify]``: this manager's
consent trail, oldest first, in words or JSON (where the trail is: the
pillar Salt compiles for this manager, as the state finds it). ``--verify`` checks
the hash chain: exit 1 and the line number at the first altered, removed or
inserted record."""

import json

import so_telemetry_core as core

from so_telemetry.cli import trail
from so_telemetry.cli.output import CliError, printable

LIMITS = ("The chain shows a record altered, removed or inserted inside the trail; it cannot show records removed "
          "from the end, an altered last record, or a consistent rewrite of the whole file (no secret key): "
          "keep a copy of the trail off the manager.")


def add_arguments(p):
    p.add_argument("--channel", choices=core.channels.WORDS, type=lambda text: core.channels.get(text).word
                   if text in core.channels.NAMES else text,
                   help="only this channel's records (soc, os-updates, airgap)")
    p.add_argument("--verify", action="store_true",
                   help="check the hash chain: exit 1 and the first line altered, removed or inserted")


def describe(line, before):
    """One record in words; ``before``: the previous record of its channel."""
    rec = line.record
    change = f"{rec['new']} (first record)" if rec["old"] is None else f"{rec['old']} -> {rec['new']}"
    gap = ""
    if before is not None and rec["old"] not in (None, before["new"]):
        gap = f" [the record before says {before['new']}: a change in between was not recorded]"
    return (f"{line.number:>5}  {printable(rec['time'], 40)}  {core.channels.get(rec['channel']).title}: {change}, "
            f"via {printable(rec['via'], 40)}, by {printable(rec['by'], 80)} ({printable(rec['source'], 300)}){gap}")


def _text(current, channel, result):
    if not current.exists:
        lines = [f"No consent trail at {current.path} yet: nothing recorded."]
    else:
        shown = [ln for ln in current.lines if ln.record is None or channel in (None, ln.record["channel"])]
        count = sum(1 for ln in shown if ln.record)
        lines = [f"Consent trail {current.path} ({count} record{'' if count == 1 else 's'}"
                 f"{', ' + core.channels.get(channel).title if channel else ''}; oldest first):"]
        last = {}
        for ln in shown:
            if ln.record is None:
                lines.append(f"{ln.number:>5}  NOT A RECORD: {printable(ln.error, 200)}")
                continue
            lines.append(describe(ln, last.get(ln.record["channel"])))
            last[ln.record["channel"]] = ln.record
    if result is not None:
        if result["ok"]:
            lines.append(f"Verify: the chain is intact ({result['records']} lines). {LIMITS}")
        else:
            lines.append(f"Verify: FAILED at line {result['line']}: {result['problem']}.")
    return "\n".join(lines)


def _json(current, channel, result):
    out = {
        "path": current.path,
        "exists": current.exists,
        "records": [dict(ln.record, line=ln.number) for ln in current.records(channel)],
        "not_records": [{"line": ln.number, "error": ln.error} for ln in current.lines if ln.record is None],
    }
    if result is not None:
        out["verify"] = result
    return json.dumps(out, indent=2)


def run(args):
    try:
        current = core.trail.read(trail.path(args))
    except (CliError, core.trail.TrailError) as exc:
        raise CliError(f"cannot read the consent trail: {exc}", kind=getattr(exc, "kind", None) or "trail") from None
    channel = core.channels.get(args.channel).name if args.channel else None
    result = core.trail.verify(current) if args.verify else None
    print(_json(current, channel, result) if args.json else _text(current, channel, result))
    return 1 if result is not None and not result["ok"] else 0
