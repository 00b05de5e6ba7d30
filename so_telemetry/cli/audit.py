"""``so-telemetry audit``: ``telemetry.audit`` on this node, in words."""

import json

from so_telemetry.cli.output import CliError, one_line
from so_telemetry.cli.saltcall import salt_call


def run(args):
    res = salt_call(args, "telemetry.audit")
    if not isinstance(res, dict):
        raise CliError(f"telemetry.audit returned {one_line(res)}")
    if args.json:
        print(json.dumps(res, indent=2, sort_keys=True))
        return 0 if res["result"] else 1
    print(f"Scanned {len(res['scanned'])} file(s){' (airgapped node)' if res['airgapped'] else ''}:")
    for fname in res["scanned"]:
        print(f"  {fname}")
    print(f"Hosts named: {', '.join(res['hosts']) or 'none'}")
    for hit in res["failures"]:
        print(f"FAIL {hit['file']}:{hit['line']}: {hit['host']} ({hit['url']})")
    print("audit: clean" if res["result"] else f"audit: {len(res['failures'])} external host reference(s)")
    return 0 if res["result"] else 1
