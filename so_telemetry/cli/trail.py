"""The consent trail from the command line, without Salt: the manager as the
engine sees it (the local pillar files, the static grains and the
``so_telemetry_root`` option of the minion configuration in
``--config-dir``), and a channel's pillar edit with its record.

``enable``, ``disable`` and ``prompt`` hold the trail's lock over the whole
"read the pillar, edit it, decide old and new, append", so racing edits are
each recorded once, chained in the order they happened. Only the edited
channel is recorded, and only when its effective state changed (``old`` is
its effective state before the edit). A change of another channel found in
passing is the next highstate's to record; a hand edit of the edited channel
that no highstate has recorded yet shows as a record whose ``old`` is not
the previous record's ``new`` (``history`` points it out). The pillar edit
comes first: a failure to record never undoes it, it is reported
(exit 3, :data:`~so_telemetry.cli.output.EXIT_NOT_RECORDED`), and the next
highstate on the manager records the change (``via: highstate``).
"""

import contextlib
import os
import pwd

import so_telemetry_core as core

from so_telemetry.cli.output import EXIT_NOT_RECORDED, CliError
from so_telemetry.cli.saltcall import DEFAULT_CONFIG_DIR
from so_telemetry.local import LocalPillar, MinionConfigError, minion_config

# the command line's channel names -> the engine's
ENGINE = {"soc": "soc", "os-updates": "os_updates", "os_updates": "os_updates", "airgap": "airgap"}


class NotRecorded(Exception):
    """The trail cannot say what changed (its location, the grains or the
    local pillar cannot be read), or cannot be written."""


def who():
    """Who makes the change: ``SUDO_USER`` when set, else the login user,
    else the effective user's name."""
    sudo = os.environ.get("SUDO_USER")
    if sudo:
        return sudo
    try:
        return os.getlogin()
    except OSError:
        pass
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def node_context(args):
    """An engine context of this manager: the local pillar of
    ``--pillar-dir``, the grains and root of ``--config-dir``."""
    local = LocalPillar(args.pillar_dir)
    if local.broken:
        raise NotRecorded("the local pillar is not readable: " + "; ".join(why for _p, why in local.broken))
    try:
        grains, root = minion_config(args.config_dir or DEFAULT_CONFIG_DIR)
    except MinionConfigError as exc:
        raise NotRecorded(f"the grains are not readable: {exc}") from None
    return local.context(grains=grains, opts={"so_telemetry_root": root})


def path(args):
    """The trail of this manager (as the ``so_telemetry.consent`` state writes it)."""
    try:
        return core.consent.trail_path(node_context(args))
    except core.validate.PillarError as exc:
        raise NotRecorded(str(exc)) from None


def _state(args, channel):
    try:
        states, broken = core.consent.effective(node_context(args))
    except core.validate.PillarError as exc:
        raise NotRecorded(str(exc)) from None
    if channel in broken:
        raise NotRecorded(str(broken[channel]))
    return states[channel]


class Change:
    """The outcome of :func:`change`: the pillar ``path``, ``key``, ``old``
    value, and what the trail says (``note``) or why it could not (``error``,
    a :class:`CliError` with exit 3 to raise once the change is reported)."""

    def __init__(self, path, key, old):
        self.path, self.key, self.old = path, key, old
        self.note, self.error = None, None


def change(args, channel, value, via, set_channel):
    """``set_channel(pillar_dir, channel, value)`` (the pillar edit, which
    raises :class:`CliError` when nothing changed) and, under the trail's
    lock, its record ``via`` (``cli``, ``prompt:setup``, ``prompt:soup``)."""
    name = ENGINE[channel]
    problem, trail = None, None
    with contextlib.ExitStack() as stack:
        try:
            trail = path(args)
            stack.enter_context(core.trail.locked(trail))
            before = _state(args, name)
        except (NotRecorded, core.trail.TrailError) as exc:
            problem = exc
        done = Change(*set_channel(args.pillar_dir, channel, value))
        try:
            if problem is not None:
                raise problem
            after = _state(args, name)
            if after == before:
                done.note = f"Consent trail: nothing to record ({core.consent.NAMES[name]} stays {after})."
                return done
            rec = _append(trail, core.consent.entry(name, before, after, via, who(), f"{done.path} {done.key}"))
            done.note = f"Consent trail: recorded {core.consent.describe(rec)} (record {rec['seq']} of {trail})."
        except (NotRecorded, core.trail.TrailError) as exc:
            done.error = CliError(
                f"the change was made but the consent trail{'' if trail is None else ' ' + trail} could not "
                f"record it: {exc}. The next highstate on the manager records it (via highstate, by unknown).",
                kind="trail", code=EXIT_NOT_RECORDED)
    return done


def _append(trail, ent):
    current = core.trail.read(trail)
    (rec,) = core.trail.write(current, core.trail.chain(current, [ent]))
    return rec
