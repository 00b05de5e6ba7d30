"""``so-telemetry``: Security Onion telemetry from the command line.

status [--json]                  the transparency report
enable|disable soc|os-updates    edit the local pillar in place
prompt --during setup|soup       the opt-out question
sync                             "Synchronize Grid": highstate on every minion
config search TERM               search settings like SOC's Configuration screen
audit                            scan rendered files for external hosts
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

from so_telemetry import pillar as pillar_edit

EFFECT = (
    "Takes effect at the next grid resync (automatic, within 15 minutes) or now with "
    "`so-telemetry sync` (Synchronize Grid)."
)


class CliError(Exception):
    """A failure reported to the user as one line, exit code 2."""


# --------------------------------------------------------------------------
# salt-call


def _salt_call_bin():
    here = os.path.join(os.path.dirname(sys.executable), "salt-call")
    return here if os.path.exists(here) else (shutil.which("salt-call") or "salt-call")


def salt_call(args, fun, *fun_args):
    """Run ``salt-call fun`` and return its JSON return value."""
    cmd = [_salt_call_bin(), "--out=json", "--log-level=quiet"]
    if args.config_dir:
        cmd += ["--config-dir", args.config_dir]
    if args.local:
        cmd.append("--local")
    cmd += [fun, *fun_args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    try:
        data = json.loads(proc.stdout)["local"]
    except (ValueError, KeyError, TypeError):
        raise CliError(
            f"salt-call {fun} failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[:2000]}"
        ) from None
    if proc.returncode != 0 and not isinstance(data, dict):
        raise CliError(f"salt-call {fun} failed: {data}")
    if isinstance(data, str) and (data.startswith("ERROR") or "Traceback" in data or "Error" in data[:60]):
        raise CliError(f"salt-call {fun} failed: {data}")
    return data


# --------------------------------------------------------------------------
# status


def _onoff(flag):
    return "ON" if flag else "off"


def format_report(rep):
    lines = []
    air = rep["airgap"]
    lines.append(f"Airgap: {'YES' if air['enabled'] else 'no'} ({air['reason']})")
    if air["enabled"]:
        lines.append(f"  {air['effect']}")
    soc = rep["soc"]
    lines.append("")
    lines.append(f"SOC Telemetry: {_onoff(soc['enabled'])} ({soc['reason']})")
    lines.append(f"  from: {soc['origin']}")
    lines.append(f"  to: {', '.join(soc['destinations']) or 'nothing'}"
                 + ("" if soc["enabled"] else f" (when on: {soc['destination_when_on']})"))
    lines.append(f"  data: {'; '.join(soc['data'])}")
    lines.append(f"  never: {', '.join(soc['never'])}")
    lines.append(f"  also seen by the receiver: {soc['also_known_to_receiver']}")
    lines.append(f"  TLS: {'yes' if soc['tls'] else 'no'}; retention: {soc['retention']}")
    lines.append(f"  change: {soc['change']}")
    osu = rep["os_updates"]
    lines.append("")
    lines.append(f"Automatic OS updates: {_onoff(osu['enabled'])} ({osu['reason']})")
    lines.append(f"OS Updates Telemetry: {_onoff(osu['telemetry'])} ({osu['telemetry_reason']})")
    lines.append(f"  from: {osu['origin']}")
    lines.append(f"  to: {', '.join(osu['destinations']) or 'nothing'}"
                 + ("" if osu["telemetry"] else f" (when on: {', '.join(osu['destinations_when_on'])})"))
    if osu["fields"]:
        lines.append("  fields sent (query parameters on every repository request):")
        for key, val in osu["fields"].items():
            lines.append(f"    {key}={val}")
    else:
        lines.append("  fields sent: none")
        if osu["fields_when_on"]:
            shown = ", ".join(f"{k}={v}" for k, v in osu["fields_when_on"].items())
            lines.append(f"  (when on this node would send: {shown})")
    lines.append(f"  allow-list: {', '.join(osu['allow_list'])}; never: {', '.join(osu['never'])}")
    lines.append(f"  also seen by the receiver: {osu['also_known_to_receiver']}")
    lines.append(f"  TLS: {'yes' if osu['tls'] else 'no'}")
    lines.append(f"  change: {osu['change']}")
    lines.append("")
    lines.append(f"Documentation: {rep['spec']}")
    return "\n".join(lines)


def cmd_status(args):
    rep = salt_call(args, "telemetry.report")
    if not isinstance(rep, dict):
        raise CliError(f"telemetry.report failed: {rep}")
    print(json.dumps(rep, indent=2, sort_keys=True) if args.json else format_report(rep))
    return 0


# --------------------------------------------------------------------------
# enable / disable


def set_channel(pillar_dir, channel, value):
    path = pillar_edit.pillar_file(pillar_dir, channel)
    keys = pillar_edit.CHANNELS[channel][1]
    old = pillar_edit.set_value(path, keys, value)
    return path, ":".join(keys), old


def cmd_toggle(args):
    value = args.action == "enable"
    try:
        path, key, old = set_channel(args.pillar_dir, args.channel, value)
    except pillar_edit.PillarError as exc:
        raise CliError(str(exc)) from exc
    word = "enabled" if value else "disabled"
    if old is value:
        print(f"{key} was already {str(value).lower()} in {path} (rewritten unchanged).")
    else:
        print(f"{key}: {old!r} -> {str(value).lower()} in {path}")
    print(f"{'SOC Telemetry' if args.channel == 'soc' else 'Automatic OS updates'} {word}. {EFFECT}")
    if args.channel == "soc":
        print("Then hard-refresh SOC in the browser (CTRL+SHIFT+R or CMD+SHIFT+R): it caches the old setting.")
    print("On an airgapped grid both channels stay off whatever this setting says.")
    return 0


# --------------------------------------------------------------------------
# prompt


def _explain(rep):
    soc = rep["soc"]
    return "\n".join(
        [
            "SOC Telemetry",
            "-------------",
            "The Security Onion Console (SOC) in your browser can send feature-usage data",
            f"to Google Analytics through {soc['destination_when_on']} over TLS, to help the",
            "Security Onion developers decide what to improve and what to retire.",
            f"Sent: {'; '.join(soc['data'])}.",
            f"Never sent: {', '.join(soc['never'])}.",
            f"The receiver also sees the {soc['also_known_to_receiver']}.",
            f"Retention: {soc['retention']}.",
            "You can change this later: search 'SOC Telemetry' in the Configuration screen,",
            "or run `so-telemetry enable soc` / `so-telemetry disable soc`.",
        ]
    )


def cmd_prompt(args):
    try:
        state = salt_call(args, "telemetry.settings")
    except CliError as exc:
        print(f"Could not read the telemetry settings; not asking, nothing changed: {exc}")
        return 1
    if state["airgap"]["enabled"]:
        print(f"Airgapped grid ({state['airgap']['reason']}): telemetry is off; not asking.")
        return 0
    current = state["soc"]["pillar"]
    if args.unattended or not sys.stdin.isatty():
        why = "unattended" if args.unattended else "no terminal"
        print(f"{args.during}: {why}; not asking. SOC Telemetry stays {'enabled' if current else 'disabled'}.")
        return 0
    if args.during == "soup" and current is False:
        print("soup: SOC Telemetry was disabled earlier; it stays disabled (not asked again).")
        print("To turn it on: so-telemetry enable soc")
        return 0
    print(_explain(salt_call(args, "telemetry.report")))
    print()
    answer = None
    for _ in range(3):
        sys.stdout.write("Enable SOC Telemetry? [Y/n] ")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            break
        reply = line.strip().lower()
        if reply in ("", "y", "yes"):
            answer = True
            break
        if reply in ("n", "no"):
            answer = False
            break
        print("Please answer y or n.")
    if answer is None:
        print("No answer; nothing changed.")
        return 1
    try:
        path, key, _old = set_channel(args.pillar_dir, "soc", answer)
    except pillar_edit.PillarError as exc:
        raise CliError(str(exc)) from exc
    print(f"SOC Telemetry {'enabled' if answer else 'disabled'} ({key}: {str(answer).lower()} in {path}).")
    if args.during == "soup":
        print(EFFECT)
    return 0


# --------------------------------------------------------------------------
# config search


def cmd_config_search(args):
    from so_telemetry import annotations  # pylint: disable=import-outside-toplevel

    try:
        current = salt_call(args, "telemetry.configs")
        note = None
    except CliError as exc:
        current, note = None, str(exc).splitlines()[0]
    hits = annotations.search(args.term, current=current)
    if args.json:
        print(json.dumps(hits, indent=2, sort_keys=True, default=str))
        return 0 if hits else 1
    if not hits:
        print(f"No setting matches {args.term!r}.")
        return 1
    for hit in hits:
        print(f"{hit['key']}  ({hit['title']})")
        print(f"  {hit['description']}")
        print(f"  current: {json.dumps(hit['current'])}   default: {json.dumps(hit['default'])}"
              + ("   [global]" if hit.get("global") else ""))
        if hit.get("helpLink"):
            print(f"  help: {hit['helpLink']}")
    if note:
        print(f"(current values unavailable: {note})")
    return 0


# --------------------------------------------------------------------------
# audit / sync


def cmd_audit(args):
    res = salt_call(args, "telemetry.audit")
    if not isinstance(res, dict):
        raise CliError(f"telemetry.audit failed: {res}")
    if args.json:
        print(json.dumps(res, indent=2, sort_keys=True))
    else:
        print(f"Scanned {len(res['scanned'])} file(s){' (airgapped node)' if res['airgapped'] else ''}:")
        for fname in res["scanned"]:
            print(f"  {fname}")
        print(f"Hosts named: {', '.join(res['hosts']) or 'none'}")
        for hit in res["failures"]:
            print(f"FAIL {hit['file']}:{hit['line']}: {hit['host']} ({hit['url']})")
        print("audit: clean" if res["result"] else f"audit: {len(res['failures'])} external host reference(s)")
    return 0 if res["result"] else 1


def cmd_sync(args):
    from so_telemetry import sync  # pylint: disable=import-outside-toplevel

    return sync.run(args)


# --------------------------------------------------------------------------


def build_parser():
    parser = argparse.ArgumentParser(prog="so-telemetry", description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config-dir", default=os.environ.get("SO_TELEMETRY_CONFIG_DIR"),
                        help="Salt configuration directory (default: /etc/salt)")
    parser.add_argument("--local", action="store_true", default=bool(os.environ.get("SO_TELEMETRY_LOCAL")),
                        help="masterless: salt-call --local")
    parser.add_argument("--pillar-dir", default=os.environ.get("SO_TELEMETRY_PILLAR_DIR", pillar_edit.DEFAULT_PILLAR_DIR),
                        help=f"local pillar root the settings are written to (default {pillar_edit.DEFAULT_PILLAR_DIR})")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("status", help="the telemetry report")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    for action in ("enable", "disable"):
        p = sub.add_parser(action, help=f"{action} a telemetry channel in the local pillar")
        p.add_argument("channel", choices=sorted(pillar_edit.CHANNELS))
        p.set_defaults(func=cmd_toggle, action=action)

    p = sub.add_parser("prompt", help="the SOC Telemetry opt-out question")
    p.add_argument("--during", choices=("setup", "soup"), required=True)
    p.add_argument("--unattended", action="store_true")
    p.set_defaults(func=cmd_prompt)

    p = sub.add_parser("sync", help="Synchronize Grid: highstate on every minion")
    p.add_argument("--target", default="*", help="minion target (glob), default every accepted minion")
    p.add_argument("--timeout", type=int, default=900, help="seconds to wait for each minion")
    p.add_argument("--retries", type=int, default=3, help="retries for a minion already running a highstate")
    p.add_argument("--retry-wait", type=float, default=10.0, help="seconds between those retries")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("config", help="search settings like the Configuration screen")
    csub = p.add_subparsers(dest="config_command", required=True)
    ps = csub.add_parser("search")
    ps.add_argument("term")
    ps.add_argument("--json", action="store_true")
    ps.set_defaults(func=cmd_config_search)

    p = sub.add_parser("audit", help="scan rendered files for external hosts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_audit)

    from so_telemetry import check  # pylint: disable=import-outside-toplevel

    check.add_parser(sub)  # `check`: network preflight (so_telemetry/check.py)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"so-telemetry: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; nothing changed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
