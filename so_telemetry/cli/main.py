"""The ``so-telemetry`` command: its options, its commands, and the one place
that prints an error (``so-telemetry: error: ...``, exit 2, or 3 when a change
was made but the consent trail could not record it)."""

import argparse
import os
import sys

import so_telemetry_core as core

from so_telemetry import pillar_edit
from so_telemetry.cli import audit, channels, check, config, grid, history, install, status, sync
from so_telemetry.cli.output import PROG, CliError, error_line
from so_telemetry.cli.saltcall import DEFAULT_CONFIG_DIR, DEFAULT_TIMEOUT

DESCRIPTION = """\
Security Onion telemetry from the command line: what leaves the network and
why, SOC Telemetry and the automatic OS updates (OS Updates Telemetry) on or
off in the local pillar, and the change applied to the grid."""
EPILOG = f"""\
examples:
  so-telemetry status                    the transparency report (asks Salt)
  so-telemetry disable soc               edits <pillar-dir>/soc/soc_soc.sls in place
  so-telemetry enable os-updates         edits <pillar-dir>/patch/soc_patch.sls in place
  so-telemetry config search "SOC Telemetry"
  so-telemetry history --verify          the consent trail, its hash chain checked
  so-telemetry sync                      Synchronize Grid (on the manager)
  so-telemetry status --grid             has every minion converged? (on the manager)
  so-telemetry --local --config-dir DIR status    masterless
  so-telemetry install --security-onion --dry-run  what installing on a Security Onion manager would write

Global options may be given before or after the command. Commands that ask
Salt give up after --timeout seconds with one line on stderr and exit 2.
Documentation: {core.report.SPEC_URL}
"""


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def _positive(text):
    try:
        val = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if val <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return val


def _global_options(parser, suppress, with_json):
    """Add the global options. ``suppress``: the copy on a subcommand, whose
    defaults must not overwrite a value given before the subcommand."""
    def default(value):
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options (before or after the command)")
    env_timeout = os.environ.get("SO_TELEMETRY_TIMEOUT")
    group.add_argument("-c", "--config-dir", default=default(os.environ.get("SO_TELEMETRY_CONFIG_DIR")),
                       help=f"Salt configuration directory (default {DEFAULT_CONFIG_DIR})")
    group.add_argument("--local", action="store_true", default=default(_env_flag("SO_TELEMETRY_LOCAL")),
                       help="masterless: Salt reads the local file and pillar roots (like salt-call --local)")
    group.add_argument("--pillar-dir",
                       default=default(os.environ.get("SO_TELEMETRY_PILLAR_DIR", pillar_edit.DEFAULT_PILLAR_DIR)),
                       help=f"local pillar root the settings are read from and written to "
                            f"(default {pillar_edit.DEFAULT_PILLAR_DIR})")
    group.add_argument("--timeout", type=_positive, action=_Given,
                       default=default(_positive(env_timeout) if env_timeout else None), metavar="S",
                       help=f"give up on the command's own Salt calls after S seconds (default {DEFAULT_TIMEOUT:g}); "
                            "how long sync and status --grid wait for each minion is --minion-timeout, what each "
                            "request of check may take --request-timeout")
    if with_json:
        group.add_argument("--json", action="store_true", default=default(False),
                           help="print JSON (status, status --grid, sync, config search, audit, check, history)")


class _Given(argparse.Action):
    """Stores the value and remembers that it was given on the command line."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.timeout_given = True


# --timeout meant these until 0.3.0; the old spelling still works for one release
DEPRECATED_TIMEOUT = {"sync": "minion_timeout", "status --grid": "minion_timeout", "check": "request_timeout"}


def _deprecated_timeout(args):
    """``--timeout`` given to sync, status --grid or check sets, as before
    0.3.0, how long each minion or request may take (with a note on stderr),
    unless the new option is given too."""
    command = "status --grid" if args.command == "status" and getattr(args, "grid", False) else args.command
    new = DEPRECATED_TIMEOUT.get(command)
    if not new or not getattr(args, "timeout_given", False) or getattr(args, new, None) is not None:
        return
    setattr(args, new, args.timeout)
    option = "--" + new.replace("_", "-")
    print(f"{PROG}: note: --timeout for {command} is deprecated and will stop meaning this in the next release; "
          f"use {option} {args.timeout:g} (--timeout now bounds the command's own Salt calls)", file=sys.stderr)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog):
        super().__init__(prog, max_help_position=36, width=100)


def _sync_arguments(p):
    p.add_argument("--target", default="*", help="minion target (glob), default every accepted minion")
    p.add_argument("--retries", type=int, default=3, help="retries for a minion already running a highstate")
    p.add_argument("--retry-wait", type=float, default=10.0, help="seconds between those retries")
    p.add_argument("--batch", metavar="N|N%", default=None,
                   help="at most N minions (or N%% of the matched, rounded up) run at a time; "
                        "the next starts as one returns (default: all at once)")
    p.add_argument("--queue", action="store_true",
                   help="state.highstate queue=True: a busy minion queues behind its running highstate "
                        "instead of answering busy (still bounded by --minion-timeout)")
    p.add_argument("--minion-timeout", metavar="S", type=_positive, default=None,
                   help=f"how long each minion's highstate may take (default {sync.SYNC_TIMEOUT} s)")


def build_parser():
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=_Formatter)
    _global_options(parser, suppress=False, with_json=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, help_text, func, parent=sub, with_json=True, **defaults):
        p = parent.add_parser(name, help=help_text, description=help_text, formatter_class=_Formatter)
        p.set_defaults(func=func, **defaults)
        _global_options(p, suppress=True, with_json=with_json)
        return p

    p = add("status", "show what telemetry leaves the network, and why (asks Salt); --grid: has every minion "
                      "converged on the current settings (on the manager)", status.run)
    p.add_argument("--grid", action="store_true",
                   help="ask every matched minion through the master whether what it has rendered and scheduled "
                        "matches the current pillar (read-only); exit 0 all converged, 1 pending or silent")
    p.add_argument("--target", default="*", help="with --grid: minion target (glob), default every accepted minion")
    p.add_argument("--minion-timeout", metavar="S", type=_positive, default=None,
                   help=f"with --grid: a minion not answering within S is named silent "
                        f"(default {grid.DEFAULT_TIMEOUT:g} s)")
    for action in ("enable", "disable"):
        p = add(action, f"{action} a telemetry channel in the local pillar", channels.toggle,
                with_json=False, action=action)
        p.add_argument("channel", choices=core.channels.SWITCHES,
                       help="soc: SOC Telemetry; os-updates: automatic OS updates and the OS Updates Telemetry")
    p = add("prompt", "ask the SOC Telemetry opt-out question (setup, soup)", channels.prompt, with_json=False)
    p.add_argument("--during", choices=("setup", "soup"), required=True, help="which installer step asks")
    p.add_argument("--unattended", action="store_true", help="do not ask and change nothing (never calls Salt)")
    _sync_arguments(add("sync", "Synchronize Grid: run a highstate on every minion now (on the manager)", sync.run))
    p = add("config", "the settings as SOC's Configuration screen shows them", None)
    csub = p.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    config.add_arguments(add("search", "what SOC's Configuration screen shows for TERM, and what Salt reads",
                             config.search, parent=csub))
    history.add_arguments(add(
        "history", "the consent trail: every change of what leaves the network, oldest first", history.run,
    ))
    add("audit", "scan the rendered files for external hosts (asks Salt)", audit.run)
    check.add_arguments(add(
        "check", "network preflight: reach exactly the destinations updates and telemetry use (asks Salt)", check.run,
    ))
    install.add_arguments(add(
        "install", "on a Security Onion 2.4 manager: join the library to every highstate (root)", install.install,
        with_json=False,
    ))
    install.add_arguments(add(
        "uninstall", "on a Security Onion 2.4 manager: take the library out again (root)", install.uninstall,
        with_json=False,
    ))
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    _deprecated_timeout(args)
    try:
        return _run(args)
    finally:
        # Salt's own log lines never reach the terminal: a failure is the command's one line
        core.saltcompat.quiet_import_logging()


def _run(args):
    try:
        return args.func(args)
    except CliError as exc:
        print(error_line(exc), file=sys.stderr, flush=True)
        return exc.code
    except BrokenPipeError:  # the reader went away (| head): say nothing more
        sys.stderr.close()
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; nothing changed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
