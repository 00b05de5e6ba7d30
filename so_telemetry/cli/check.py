"""``so-telemetry check``: network preflight and the exact wire preview.

Calls ``telemetry.check`` on this node through Salt (the engine decides what
is checked) and prints one line per destination plus a summary.

Exit codes: 0 every destination answered (or airgapped: nothing to check,
or ``--dry-run``), 1 a destination did not answer, 2 Salt failed.
"""

import json
import os

from so_telemetry.cli.output import CliError
from so_telemetry.cli.saltcall import salt_call, timeout_of


REQUEST_TIMEOUT = 10.0


def add_arguments(parser):
    """``check``'s own options: ``--request-timeout`` is what each request
    may take (default 10 s); Salt is given ``--timeout`` plus enough time for
    every destination."""
    parser.add_argument("--dry-run", action="store_true", help="show each exact request (URL, headers); send nothing")
    parser.add_argument("--request-timeout", metavar="S", type=float, default=None,
                        help=f"what each request may take (default {REQUEST_TIMEOUT:g} s)")
    parser.add_argument("--ca-bundle", metavar="FILE", default=None,
                        help="CA bundle to trust (default: REQUESTS_CA_BUNDLE, else the system CA store)")



def request_timeout(args):
    """What each request may take: ``--request-timeout``, default 10 s."""
    return float(getattr(args, "request_timeout", None) or REQUEST_TIMEOUT)


def salt_args(args):
    """The ``telemetry.check`` keyword arguments for ``salt-call``."""
    out = [f"timeout={request_timeout(args):g}"]
    if args.dry_run:
        out.append("dry_run=True")
    if args.ca_bundle:
        out.append(f"ca_bundle={os.path.abspath(args.ca_bundle)}")
    return out


def _headers(headers, indent="    "):
    return [f"{indent}{key}: {val}" for key, val in headers.items()]


def format_result(res):
    """Lines for a person: the plan, one line per destination, a summary."""
    lines = []
    dry = res.get("dry_run")
    lines.append(f"{'Dry run' if dry else 'Network preflight'} ({res['mode']}): {res['reason']}")
    if res.get("airgap"):
        lines.append("Nothing was contacted (no connection, no DNS lookup).")
        return lines
    prox = res.get("proxy") or {}
    if prox:
        shown = prox["url"]
        if prox.get("username"):
            scheme, rest = shown.split("://", 1)
            shown = f"{scheme}://{prox['username']}{':' + prox['password'] if prox.get('password') else ''}@{rest}"
        lines.append(f"Proxy: {shown} (manager:proxy); no_proxy: {', '.join(prox.get('no_proxy') or []) or 'none'}")
    lines.append(f"Trust: {res['trust']}; timeout {res['timeout']:g} s; User-Agent {res['user_agent']}")
    for dest in res["destinations"]:
        if not dest["probe"]:
            lines.append(f"listed   {dest['name']}: {dest['url']} ({dest['detail']})")
            continue
        if dry:
            req = dest["request"]
            lines.append(f"would    {dest['name']}: {req['method']} {req['url']} ({dest['via']})")
            if dest.get("connect"):
                lines.append(f"    (to the proxy first: CONNECT {dest['connect']['target']})")
                lines.extend(_headers(dest["connect"]["headers"], "      "))
            lines.extend(_headers(req["headers"]))
        elif dest["ok"]:
            extra = f"; {dest['detail']}" if str(dest.get("http_status", "")).startswith("3") else ""
            lines.append(f"ok       {dest['name']}: HTTP {dest['http_status']} in {dest['latency_ms']:g} ms, "
                         f"GET {dest['url']} ({dest['via']}){extra}")
        else:
            lines.append(f"FAILED   {dest['name']}: {dest['error']}, GET {dest['url']} ({dest['via']}): "
                         f"{dest['detail']}")
    for note in res.get("notes") or []:
        lines.append(f"note     {note}")
    lines.append(f"Summary: {res['summary']}")
    if not dry:
        for item in res.get("unreachable") or []:
            lines.append(f"  unreachable: {item}")
        if res.get("updates"):
            lines.append(f"  {res['updates']}")
    return lines


def run(args):
    """``so-telemetry check``: 0 ok, 1 a destination unreachable, 2 Salt failed."""
    # Salt itself gets enough time for every destination (at most 4) on top
    # of its own start-up.
    res = salt_call(args, "telemetry.check", *salt_args(args), timeout=timeout_of(args) + 4 * request_timeout(args))
    if not isinstance(res, dict) or "destinations" not in res:
        raise CliError(f"telemetry.check failed: {res}")
    if args.json:
        print(json.dumps(res, indent=2, sort_keys=True))
    else:
        print("\n".join(format_result(res)))
    return 0 if res.get("result") else 1
