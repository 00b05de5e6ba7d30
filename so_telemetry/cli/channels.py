"""``so-telemetry enable|disable soc|os-updates`` and ``prompt``: a channel's
setting in the local pillar (the file SOC's Configuration screen writes),
checked against the pillar Salt compiles before and after."""

import sys

import so_telemetry_core as core

from so_telemetry.cli import trail
from so_telemetry.cli.output import CliError
from so_telemetry.cli.saltcall import salt_calls


def effect(ctx):
    """When a change takes effect: the resync interval this pillar sets."""
    try:
        every = f"within {core.schedule.resync_interval(ctx)}"
    except core.validate.PillarError:
        every = "within one resync interval"
    return (f"Takes effect at the next grid resync (automatic, {every}) or now with "
            "`so-telemetry sync` (Synchronize Grid).")


def browsers(ctx, on):
    """When the analysts' browsers follow, as this grid's loader allows."""
    try:
        host_owned = core.files.owners(ctx)["analytics"] == "host"
    except core.validate.PillarError:
        host_owned = False
    if host_owned:
        return "Then hard-refresh SOC in the browser (CTRL+SHIFT+R or CMD+SHIFT+R): it caches the old setting."
    if on:
        return ("Browsers start at their next hard refresh of SOC (CTRL+SHIFT+R or CMD+SHIFT+R) or when their "
                "cached copy of analytics.js expires.")
    return "Browsers stop loading Tag Manager at their next SOC page load (no hard refresh needed)."


def _recorded(done):
    """Print what the consent trail says; its failure (exit 3) once the change is reported."""
    print(done.note or "Consent trail: NOT recorded (see the error below).")
    if done.error:
        raise done.error


def _report(done, chan, value):
    if done.old_set and done.old is not trail.UNKNOWN and done.old == value and type(done.old) is type(value):
        print(f"{done.key} was already {'true' if value else 'false'} (as Salt reads it; {done.path} says so).")
    else:
        print(f"{done.describe()} in {done.path} (as Salt reads it, before and after)")
    ctx = done.pillar.context() if done.pillar is not None else None
    print(f"{chan.title} {'enabled' if value else 'disabled'}. "
          + (effect(ctx) if ctx else "Takes effect at the next grid resync or now with `so-telemetry sync`."))
    if chan.name == "soc" and ctx is not None:
        print(browsers(ctx, value))


def toggle(args):
    value = args.action == "enable"
    chan = core.channels.get(args.channel)
    done = trail.change(args, chan.name, value, "cli")
    _report(done, chan, value)
    print("On an airgapped grid both channels stay off whatever this setting says.")
    _recorded(done)
    return 0


def _explain(rep):
    soc = rep["soc"]
    return "\n".join([
        "SOC Telemetry",
        "-------------",
        "The Security Onion Console (SOC) in your browser can send feature-usage data",
        f"to Google Analytics through {soc['destination_when_on']} over TLS, to help the",
        "Security Onion developers decide what to improve and what to retire.",
        f"What is sent: {soc['sent_by']}",
        f"What the receiver sees: {'; '.join(soc['receiver_sees'])}.",
        f"Retention: {soc['retention']}.",
        "You can change this later: search 'SOC Telemetry' in the Configuration screen,",
        "or run `so-telemetry enable soc` / `so-telemetry disable soc`.",
    ])


def _ask():
    """True, False, or None after three answers that are neither."""
    for _ in range(3):
        sys.stdout.write("Enable SOC Telemetry? [Y/n] ")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            return None
        reply = line.strip().lower()
        if reply in ("", "y", "yes"):
            return True
        if reply in ("n", "no"):
            return False
        print("Please answer y or n.")
    return None


def prompt(args):
    if args.unattended or not sys.stdin.isatty():
        # never waits on anything: no Salt, no question
        why = "unattended" if args.unattended else "no terminal"
        print(f"{args.during}: {why}; not asking. Nothing changed "
              "(change it later with `so-telemetry enable soc` / `so-telemetry disable soc`).")
        return 0
    try:
        state, rep = salt_calls(args, [("telemetry.settings", []), ("telemetry.report", [])])
    except CliError as exc:
        raise CliError(f"could not read the telemetry settings, not asking (nothing changed): {exc}") from None
    if state["airgap"]["enabled"]:
        print(f"Airgapped grid ({state['airgap']['reason']}): telemetry is off; not asking.")
        return 0
    if args.during == "soup" and state["soc"]["pillar"] is False:
        print("soup: SOC Telemetry was disabled earlier; it stays disabled (not asked again).")
        print("To turn it on: so-telemetry enable soc")
        return 0
    print(_explain(rep))
    print()
    answer = _ask()
    if answer is None:
        print("No answer; nothing changed.")
        return 1
    done = trail.change(args, "soc", answer, f"prompt:{args.during}")
    print(f"SOC Telemetry {'enabled' if answer else 'disabled'} ({done.describe()} in {done.path}).")
    if args.during == "soup" and done.pillar is not None:
        print(effect(done.pillar.context()))
    _recorded(done)
    return 0
