"""``so-telemetry install|uninstall --security-onion``: the library on a
Security Onion 2.4 manager (what is written and why:
:mod:`so_telemetry.security_onion`). Run as root on the manager, after
installing the package with the pip of Salt's own Python (``salt-pip``).

Exit 0 done (or nothing to do); 1 done, but the salt-master restart or the
engine's sync to the minions failed (said on stderr); 2 nothing was changed."""

import shlex
import subprocess
import sys

from so_telemetry import security_onion as so
from so_telemetry.cli.output import CliError, one_line

RESTART = ("systemctl", "restart", "salt-master")


def add_arguments(parser):
    parser.add_argument("--security-onion", action="store_true", required=True,
                        help="a Security Onion 2.4 manager (the only target so far)")
    parser.add_argument("--saltstack", metavar="DIR", default=so.DEFAULT_SALTSTACK,
                        help=f"Security Onion's Salt tree (default {so.DEFAULT_SALTSTACK})")
    parser.add_argument("--salt-config", metavar="DIR", default=so.DEFAULT_SALT_CONFIG,
                        help=f"the salt-master's configuration directory (default {so.DEFAULT_SALT_CONFIG})")
    parser.add_argument("--dry-run", action="store_true",
                        help="show every file that would be written, changed or removed, with a diff; change nothing")
    parser.add_argument("--restart-master", action="store_true",
                        help="restart the salt-master when its configuration changed "
                             f"({' '.join(RESTART)}), then sync the engine to every minion")


def _describe(change):
    what = {"create": "create", "change": "change", "remove": "remove"}[change.verb]
    why = f" ({change.why})" if change.why else ""
    return f"{what} {change.path}{why}"


def _show(changes, dry_run):
    prefix = "would " if dry_run else ""
    for change in changes:
        print(prefix + _describe(change))
        if not dry_run:
            continue
        if change.copy_of and change.verb == "create":
            lines = change.new.count(b"\n")
            print(f"    a copy of {change.copy_of} ({lines} lines; not shown)")
        else:
            print("".join(f"    {line}" for line in change.diff().splitlines(keepends=True)), end="")


def _restart_and_sync(args, master_changed):
    """After a change of the master's configuration: restart it when asked,
    then sync the engine to every minion. Returns 0, or 1 on a failure."""
    if master_changed and not args.restart_master:
        print(f"The salt-master must restart to serve the change: {' '.join(RESTART)} (or run again with "
              "--restart-master); then salt '*' saltutil.sync_all (every highstate syncs it too).")
        return 0
    if not args.restart_master:
        return 0
    if master_changed:
        proc = subprocess.run(RESTART, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
                              timeout=float(args.timeout or 120))
        if proc.returncode != 0:
            print(f"so-telemetry: {shlex.join(RESTART)} failed (exit {proc.returncode}): "
                  f"{one_line(proc.stderr or proc.stdout)}", file=sys.stderr)
            return 1
        print(f"Restarted the salt-master ({shlex.join(RESTART)}).")
    return _sync(args)


def _sync(args):
    """``saltutil.sync_all`` on every minion through the master (its file
    list cache cleared first: right after a restart the master reuses a list
    younger than about 20 s)."""
    from so_telemetry.cli import master  # pylint: disable=import-outside-toplevel

    timeout = float(args.timeout or 60)
    try:
        with master.session(args.salt_config) as (client, opts):
            import salt.runner  # pylint: disable=import-outside-toplevel

            salt.runner.RunnerClient(opts).cmd("fileserver.clear_file_list_cache", print_event=False)
            minions = master.resolve(opts, "*", fun="saltutil.sync_all")
            got = master.collect(client, minions, "saltutil.sync_all", timeout)
    except CliError as exc:
        print(f"so-telemetry: the engine was not synced to the minions: {exc}; run salt '*' saltutil.sync_all",
              file=sys.stderr)
        return 1
    silent = sorted(set(minions) - set(got))
    print(f"Synced the engine to {len(got)} of {len(minions)} minion(s)"
          + (f"; no answer within {timeout:g}s: {', '.join(silent)}" if silent else "") + ".")
    return 1 if silent else 0


def _plan(args, plan):
    """``(layout, plan's answer)``; an :class:`InstallError` is the command's one-line error."""
    layout = so.Layout(args.saltstack, args.salt_config)
    try:
        return layout, plan(layout)
    except so.InstallError as exc:
        raise CliError(str(exc)) from None


def _apply(layout, changes, manifest=None):
    try:
        so.apply(layout, changes, manifest)
    except OSError as exc:
        raise CliError(f"cannot write {getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}") from None
    _show(changes, False)


def install(args):
    layout, (changes, manifest) = _plan(args, so.plan_install)
    if not changes:
        print(f"so-telemetry install: nothing to do (installed under {layout.root}; "
              f"{len(manifest['files'])} files as they should be).")
        return _restart_and_sync(args, False) if args.restart_master else 0
    master_changed = any(c.path == layout.master for c in changes)
    if args.dry_run:
        print(f"so-telemetry install --security-onion --dry-run: nothing is changed. Saltstack {layout.saltstack}, "
              f"salt configuration {layout.salt_config}, library under {layout.root}.")
        _show(changes, True)
        print(f"{len(changes)} file(s) would be written or removed"
              + ("; the salt-master would have to restart." if master_changed else "."))
        return 0
    _apply(layout, changes, manifest)
    print(f"so-telemetry installed under {layout.root}: every node's highstate runs it (environment {so.ENV}); "
          "SOC's Configuration screen shows its settings.")
    return _restart_and_sync(args, master_changed)


def uninstall(args):
    layout, (changes, kept) = _plan(args, so.plan_uninstall)
    if not changes and not kept:
        print(f"so-telemetry uninstall: nothing to do (not installed under {layout.root}).")
        return 0
    master_changed = any(c.path == layout.master for c in changes)
    if args.dry_run:
        print("so-telemetry uninstall --security-onion --dry-run: nothing is changed.")
        _show(changes, True)
    else:
        _apply(layout, changes)
    for path, why in kept:
        print(f"kept {path}: {why}")
    if args.dry_run:
        return 0
    print("The consent trail stays. At the manager's next highstate Security Onion writes its own analytics loader "
          "again; the library's modules leave the minions at their next saltutil.sync_all.")
    return _restart_and_sync(args, master_changed)
