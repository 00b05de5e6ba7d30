"""``so-telemetry status --grid``: has the grid converged? Every matched
minion is asked, through the master, what it has rendered and scheduled now
(``telemetry.converged``: read-only, no state runs, nothing written) against
what the current pillar decides for it. One line per minion, then
``converged N/M; pending: ...; silent: ...``. Exit 0 all converged, 1 some
pending or silent, 2 error."""

import json

from so_telemetry.cli import master
from so_telemetry.cli.output import CliError, one_line

DEFAULT_TIMEOUT = 30.0


def entry(minion, data):
    """One minion's JSON object from its return (``None``: it did not answer)."""
    base = {"id": minion, "role": None, "answered": data is not None, "converged": False, "pending": [],
            "details": {}, "soc": None, "os_updates": None, "last_highstate": None}
    if data is None:
        return base
    ret = data.get("return")
    if not isinstance(ret, dict) or "converged" not in ret:
        base["error"] = one_line(ret if isinstance(ret, str) else repr(ret), limit=300)
        return base
    base.update({k: ret.get(k) for k in ("role", "converged", "pending", "details", "soc", "os_updates",
                                         "decided", "last_highstate")})
    return base


def check(client, minions, timeout):
    """``[entry]`` for ``minions`` (sorted), each asked once within ``timeout``."""
    got = master.collect(client, minions, "telemetry.converged", timeout)
    return [entry(m, got.get(m)) for m in sorted(minions)]


def line(item, width):
    head = f"{item['id']:<{width}}  {item['role'] or '-':<16}"
    if not item["answered"]:
        return f"{head}  silent: no answer"
    if item.get("error"):
        return f"{head}  ERROR: {item['error']}"
    state = f"SOC {item['soc'] or '-':<6} OS updates {item['os_updates'] or '-':<4}"
    verdict = "converged" if item["converged"] else "PENDING: " + "; ".join(
        f"{art} ({detail})" for art, detail in item["details"].items())
    return f"{head}  {state}  {verdict}  last highstate {item['last_highstate'] or 'never'}"


def summary(items):
    """``converged 11/12; pending: sensor3 (analytics, repo); silent: sensor4``."""
    done = [i for i in items if i["converged"]]
    text = f"converged {len(done)}/{len(items)}"
    pending = [i for i in items if i["answered"] and not i["converged"]]
    if pending:
        text += "; pending: " + ", ".join(f"{i['id']} ({', '.join(i['pending']) or 'error'})" for i in pending)
    silent = [i["id"] for i in items if not i["answered"]]
    if silent:
        text += "; silent: " + ", ".join(silent)
    return text


def print_lines(items):
    width = max([len(i["id"]) for i in items] + [2])
    for item in items:
        print(line(item, width))


def run(args):
    target = args.target or "*"
    timeout = float(getattr(args, "minion_timeout", None) or DEFAULT_TIMEOUT)
    with master.session(args.config_dir) as (client, opts):
        minions = master.resolve(opts, target, fun="telemetry.converged")
        if not minions:
            raise CliError(f"no accepted minion matches {target!r} (salt-key -L)")
        items = check(client, minions, timeout)
    if args.json:
        print(json.dumps(items, indent=2, sort_keys=True))
    else:
        print_lines(items)
        print(summary(items) + (f" (silent: no answer within {timeout:g}s)" if any(
            not i["answered"] for i in items) else ""))
    return 0 if all(i["converged"] for i in items) else 1
