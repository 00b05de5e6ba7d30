"""``so-telemetry enable|disable soc|os-updates`` and ``prompt``: the
channels' settings in the local pillar (no Salt, except to explain the
choice at the interactive prompt)."""

import sys

import so_telemetry_core as core

from so_telemetry import pillar_edit
from so_telemetry.annotations import default_value
from so_telemetry.cli import trail
from so_telemetry.cli.output import CliError, yaml_word
from so_telemetry.cli.saltcall import salt_calls
from so_telemetry.local import LocalPillar, context, file_of

NAMES = {"soc": "SOC Telemetry", "os-updates": "Automatic OS updates"}


def effect(pillar_dir):
    """When a change takes effect: the resync interval as the local pillar sets it."""
    try:
        every = f"within {core.schedule.resync_interval(LocalPillar(pillar_dir).context())}"
    except core.validate.PillarError:
        every = "within one resync interval"
    return (f"Takes effect at the next grid resync (automatic, {every}) or now with "
            "`so-telemetry sync` (Synchronize Grid).")


def browsers(pillar_dir, on):
    """When the analysts' browsers follow, as this grid's loader allows."""
    try:
        host_owned = core.files.owners(LocalPillar(pillar_dir).context())["analytics"] == "host"
    except core.validate.PillarError:
        host_owned = False
    if host_owned:
        return "Then hard-refresh SOC in the browser (CTRL+SHIFT+R or CMD+SHIFT+R): it caches the old setting."
    if on:
        return ("Browsers start at their next hard refresh of SOC (CTRL+SHIFT+R or CMD+SHIFT+R) or when their "
                "cached copy of analytics.js expires.")
    return "Browsers stop loading Tag Manager at their next SOC page load (no hard refresh needed)."


def set_channel(pillar_dir, channel, value):
    """Write ``value`` for ``channel`` into its local pillar file:
    ``(path, key, old value)``."""
    key = pillar_edit.CHANNELS[channel]
    path = file_of(pillar_dir, key)
    try:
        old = pillar_edit.set_value(path, key.split(":"), value)
    except pillar_edit.PillarError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}; nothing was changed") from None
    return path, key, old


def describe_change(key, old, new):
    """``soc:telemetryEnabled: true -> false`` in YAML words; an absent key
    reads ``(not set, default true)``."""
    if old is None:
        default = default_value(context(), key)
        before = "(not set" + (f", default {yaml_word(default)})" if default is not None else ")")
    else:
        before = yaml_word(old)
    return f"{key}: {before} -> {yaml_word(new)}"


def _recorded(done):
    """Print what the consent trail says; its failure (exit 3) once the change is reported."""
    print(done.note or "Consent trail: NOT recorded (see the error below).")
    if done.error:
        raise done.error


def toggle(args):
    value = args.action == "enable"
    done = trail.change(args, args.channel, value, "cli", set_channel)
    if done.old is value:
        print(f"{done.key} was already {yaml_word(value)} in {done.path} (unchanged).")
    else:
        print(f"{describe_change(done.key, done.old, value)} in {done.path}")
    print(f"{NAMES[args.channel]} {'enabled' if value else 'disabled'}. {effect(args.pillar_dir)}")
    if args.channel == "soc":
        print(browsers(args.pillar_dir, value))
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
        f"Sent: {'; '.join(soc['data'])}.",
        f"Never sent: {', '.join(soc['never'])}.",
        f"The receiver also sees the {soc['also_known_to_receiver']}.",
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
    done = trail.change(args, "soc", answer, f"prompt:{args.during}", set_channel)
    print(f"SOC Telemetry {'enabled' if answer else 'disabled'} ({done.key}: {yaml_word(answer)} in {done.path}).")
    if args.during == "soup":
        print(effect(args.pillar_dir))
    _recorded(done)
    return 0
