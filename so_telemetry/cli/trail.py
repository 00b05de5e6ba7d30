"""A channel's pillar edit from the command line, with its consent record.

Everything the command decides from is the pillar Salt compiles for this
manager (:mod:`so_telemetry.pillar`): the trail's location and each
channel's effective state, exactly as the ``so_telemetry.consent`` state
sees them. ``enable``, ``disable`` and ``prompt`` hold the trail's lock over
the whole "compile, edit, compile again, append", so racing edits are each
recorded once, chained in the order they happened. Only the edited channel
is recorded, and only when its effective state changed (``old`` is its
effective state before the edit). An edit Salt does not read (no pillar top
lists the file, or a file Salt reads later sets the key too) is undone and
refused, naming the file that wins. The pillar edit comes first: a failure
to record never undoes it, it is reported (exit 3,
:data:`~so_telemetry.cli.output.EXIT_NOT_RECORDED`), and the next highstate
on the manager records the change (``via: highstate``).
"""

import contextlib
import os
import pwd

import so_telemetry_core as core

from so_telemetry import pillar_edit
from so_telemetry.cli.output import EXIT_NOT_RECORDED, CliError, yaml_word
from so_telemetry.pillar import compiled


UNKNOWN = object()  # Salt could not say what the value was


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


def path(args):
    """The trail of this manager (as the ``so_telemetry.consent`` state writes it)."""
    try:
        return core.consent.trail_path(compiled(args, attribute=False).context())
    except core.validate.PillarError as exc:
        raise CliError(str(exc), kind="trail") from None


def _state(pillar, channel):
    states, broken = core.consent.effective(pillar.context())
    if channel in broken:
        raise CliError(str(broken[channel]), kind="pillar")
    return states[channel]


class Change:
    """The outcome of :func:`change`: the pillar ``path`` edited, ``key``,
    ``old`` and ``new`` value as Salt reads them, ``pillar`` (compiled after
    the edit, or None), and what the trail says (``note``) or why it could not
    (``error``, a :class:`CliError` with exit 3 to raise once the change is
    reported)."""

    def __init__(self, path, key, old, new):
        self.path, self.key, self.old, self.new = path, key, old, new
        self.pillar, self.note, self.error = None, None, None
        self.old_set = True

    def describe(self):
        """``soc:telemetryEnabled: true -> false``, as Salt read it before and
        after: ``(not set, default true)`` when no pillar set it, ``unknown``
        when Salt could not say."""
        if self.old is UNKNOWN:
            old = "unknown"
        elif self.old_set:
            old = yaml_word(self.old)
        else:
            old = f"(not set, default {yaml_word(self.old)})"
        return f"{self.key}: {old} -> {yaml_word(self.new)}"


def _edit(target, key, value):
    """Write ``value`` at ``key`` in ``target``: the file's bytes before (None: it was not there)."""
    before = None
    with contextlib.suppress(FileNotFoundError), open(target, "rb") as fh:
        before = fh.read()
    try:
        pillar_edit.set_value(target, key.split(":"), value)
    except pillar_edit.PillarError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror or exc}; nothing was changed") from None
    return before


def _undo(target, before):
    if before is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
    else:
        pillar_edit.atomic_write(target, before.decode("utf-8"))


def _value(pillar, key, default):
    """``(value Salt reads at key, whether a pillar sets it)``."""
    found = core.config.lookup(pillar.pillar, key)
    return (default, False) if found is core.config.MISSING else (found, True)


def _check_took(args, after, target, key, value, before):
    """Undo the edit and refuse when Salt does not read ``value`` at ``key``
    now, naming why (the pillar compiled again, each file alone)."""
    if core.config.lookup(after.pillar, key) == value and type(core.config.lookup(after.pillar, key)) is type(value):
        return
    _undo(target, before)
    after = compiled(args, grains=after.grains)
    if not after.reads(target):
        why = f"Salt does not read {target} (no pillar top gives it to {after.node['id']})"
    else:
        why = f"{key} is also set in {after.source(key)}, which Salt reads after {target}: change it there"
    raise CliError(f"{why}; the edit was undone, nothing changed")


def change(args, channel, value, via):
    """Set ``channel`` (``soc``, ``os_updates``) to ``value`` in its local
    pillar file and record the change ``via`` (``cli``, ``prompt:setup``,
    ``prompt:soup``) under the trail's lock."""
    chan = core.channels.get(channel)
    key = chan.key
    target = os.path.join(args.pillar_dir, *core.config.local_sls(key).split(".")) + ".sls"
    problem, trail, first, before_state = None, None, None, None
    default = core.config.lookup(core.config.defaults(core.Context(), key.split(":")[0]), key.split(":", 1)[1], None)
    with contextlib.ExitStack() as stack:
        try:
            first = compiled(args, attribute=False)
            trail = core.consent.trail_path(first.context())
            stack.enter_context(core.trail.locked(trail))
            # again under the lock: no edit of another writer missed
            first = compiled(args, grains=first.grains, attribute=False)
            before_state = _state(first, channel)
        except (CliError, core.validate.PillarError) as exc:
            problem = exc
        old, old_set = _value(first, key, default) if problem is None else (UNKNOWN, True)
        saved = _edit(target, key, value)
        done = Change(target, key, old, value)
        done.old_set = old_set
        try:
            if problem is not None:
                raise problem
            after = compiled(args, grains=first.grains, attribute=False)
            _check_took(args, after, target, key, value, saved)
            done.pillar = after
            after_state = _state(after, channel)
            if after_state == before_state:
                done.note = f"Consent trail: nothing to record ({chan.title} stays {after_state})."
                return done
            _trail, (rec,) = core.trail.append(trail, [core.consent.entry(channel, before_state, after_state, via,
                                                                           who(), f"{target} {key}")])
            done.note = f"Consent trail: recorded {core.consent.describe(rec)} (record {rec['seq']} of {trail})."
        except CliError as exc:
            if exc.kind is None:  # the edit was undone: nothing changed
                raise
            done.error = _not_recorded(trail, exc)
        except (core.validate.PillarError, core.trail.TrailError) as exc:
            done.error = _not_recorded(trail, exc)
    return done


def _not_recorded(trail, exc):
    return CliError(
        f"the change was made but the consent trail{'' if trail is None else ' ' + trail} could not record it: "
        f"{exc}. The next highstate on the manager records it (via highstate, by unknown).",
        kind="trail", code=EXIT_NOT_RECORDED)
