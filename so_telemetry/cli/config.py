"""``so-telemetry config search TERM``: the settings, as the Configuration
screen finds them, with their current values (no Salt)."""

import json

from so_telemetry import annotations
from so_telemetry.cli.output import CliError, one_line


def _current(hit):
    if hit.get("unknown"):
        return f"unknown ({hit['unknown']})"
    source = "default" if hit["source"] == "default" else f"from {hit['source']}"
    return f"{json.dumps(hit['current'])} ({source})"


def search(args):
    try:
        hits = annotations.search(args.term, args.pillar_dir)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read the settings shipped with so-telemetry: {one_line(exc)}") from None
    if args.json:
        print(json.dumps(hits, indent=2, sort_keys=True, default=str))
        return 0 if hits else 1
    if not hits:
        print(f"No setting matches {args.term!r}.")
        return 1
    for hit in hits:
        print(f"{hit['key']}  ({hit['title']})")
        if hit["description"]:
            print(f"  {hit['description']}")
        print(f"  current: {_current(hit)}   default: {json.dumps(hit['default'])}"
              + ("   [global]" if hit.get("global") else "")
              + ("   [sensitive: shown masked]" if hit.get("sensitive") else ""))
        if hit.get("helpLink"):
            print(f"  help: {hit['helpLink']}")
    return 0
