"""Schedule timings: Security Onion 2.4's shape of ``patch:os:schedules``
turned into Salt scheduler keywords, validated. Pure: no context."""

import re

from .config import INTERVALS, require
from .validate import PillarError, whole_number

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TIME_RE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def choice(patch):
    """``(name, timing)`` of the schedule ``patch:os:schedule_to_run`` names
    in the merged ``patch`` map. ``{splay: N, schedule: {hours: N}}`` or
    ``{splay: N, schedule: {Monday: ['08:00', ...], ...}}`` becomes Salt
    keywords (``hours``/``when``, ``splay``); the flat shape of earlier
    releases of this library (``{hours: 8, splay: 1800}``) is read too."""
    name = require(patch, "os:schedule_to_run", "patch:os:schedule_to_run")
    schedules = require(patch, "os:schedules", "patch:os:schedules")
    if not isinstance(schedules, dict):
        raise PillarError(f"pillar key 'patch:os:schedules' must be a mapping, got {schedules!r}", "patch:os:schedules")
    if not isinstance(name, str) or name not in schedules:
        raise PillarError(
            f"pillar key 'patch:os:schedule_to_run' names an unknown schedule {name!r}; "
            f"known: {', '.join(sorted(map(str, schedules)))}",
            "patch:os:schedule_to_run",
        )
    key = f"patch:os:schedules:{name}"
    sched = _checked_schedule(schedules[name], key)
    timing = {}
    if whole_number(sched.get("splay", 0), f"{key}:splay", 0, 86400):
        timing["splay"] = sched.get("splay", 0)
    when, key_when = _when(sched, key)
    timing.update(_keywords(when, key_when))
    return name, timing


def _checked_schedule(sched, key):
    if not isinstance(sched, dict):
        raise PillarError(
            f"pillar key '{key}' must be a mapping like {{splay: 900, schedule: {{hours: 8}}}}, got {sched!r}", key
        )
    unknown = set(sched) - {"splay", "schedule", *INTERVALS}
    if unknown:
        raise PillarError(
            f"pillar key '{key}' has unknown keys {sorted(map(str, unknown))}; "
            "expected splay and schedule (e.g. {splay: 900, schedule: {hours: 8}})",
            key,
        )
    return sched


def _when(sched, key):
    """``(timing mapping, its pillar key)``: ``schedule``, or the flat keys."""
    when = sched.get("schedule")
    flat = {k: sched[k] for k in INTERVALS if k in sched}
    if when is None and flat:
        when, key_when = flat, key
    elif when is not None and not flat:
        key_when = f"{key}:schedule"
    else:
        raise PillarError(
            f"pillar key '{key}' must hold exactly one 'schedule' (e.g. {{hours: 8}} or {{Monday: ['08:00']}}), "
            f"got {sched!r}",
            key,
        )
    if not isinstance(when, dict) or not when:
        raise PillarError(f"pillar key '{key_when}' must be a mapping like {{hours: 8}}, got {when!r}", key_when)
    return when, key_when


def _keywords(when, key_when):
    """Salt keywords for one interval (``{hours: 8}``) or weekday times (``{when: [...]}``)."""
    intervals = [k for k in when if k in INTERVALS]
    days = [k for k in when if k in WEEKDAYS]
    other = [k for k in when if k not in INTERVALS and k not in WEEKDAYS]
    if other or (intervals and days) or len(intervals) > 1:
        raise PillarError(
            f"pillar key '{key_when}' must be one of {', '.join(INTERVALS)} or weekday names "
            f"({', '.join(WEEKDAYS)}) with lists of HH:MM times, got {when!r}",
            key_when,
        )
    if intervals:
        unit = intervals[0]
        return {unit: whole_number(when[unit], f"{key_when}:{unit}", 1, 10**6)}
    out = []
    for day in WEEKDAYS:
        if day not in when:
            continue
        times = [when[day]] if isinstance(when[day], str) else when[day]
        if not isinstance(times, list) or not times or not all(
            isinstance(t, str) and _TIME_RE.fullmatch(t) for t in times
        ):
            raise PillarError(
                f"pillar key '{key_when}:{day}' must be a list of HH:MM times like ['08:00'], got {when[day]!r}",
                f"{key_when}:{day}",
            )
        out.extend(f"{day} {t}" for t in times)
    return {"when": out}
