"""Salt schedule jobs: the grid resync (``highstate_schedule``) and the
automatic OS update (``patch_os_schedule``), validated, and the minion's
persisted schedule."""

import os

from salt.exceptions import CommandExecutionError

from . import decide, timing
from .config import component
from .context import FORMULA
from .validate import PillarError, job_name, strict_bool, whole_number


# The keys of a schedule job that say when it runs: one shape or another
# (``hours: 8`` or ``when: [...]``), never both.
TIMING = ("seconds", "minutes", "hours", "days", "when", "cron", "once")


def stale_timing(saved, job):
    """The timing keys the saved job has and ``job`` no longer has (its
    timing changed shape): ``schedule.present`` would keep them."""
    return sorted(k for k in TIMING if k in (saved or {}) and k not in job)


def job_names(ctx):
    """``{"highstate": name, "patch": name, "legacy": {"highstate": [...],
    "patch": [...]}}``: the job names (``so_telemetry:jobs``) and the names
    earlier releases used (removed where found)."""
    conf = component(ctx, FORMULA).get("jobs") or {}
    if not isinstance(conf, dict):
        raise PillarError(f"pillar key '{FORMULA}:jobs' must be a mapping, got {conf!r}", f"{FORMULA}:jobs")
    names = {key: job_name(conf.get(key), f"{FORMULA}:jobs:{key}") for key in ("highstate", "patch")}
    legacy = conf.get("legacy") or {}
    names["legacy"] = {}
    for key in ("highstate", "patch"):
        old = legacy.get(key) or [] if isinstance(legacy, dict) else None
        if not isinstance(old, list) or not all(isinstance(n, str) and n for n in old):
            raise PillarError(
                f"pillar key '{FORMULA}:jobs:legacy:{key}' must be a list of job names, got {old!r}",
                f"{FORMULA}:jobs:legacy:{key}",
            )
        names["legacy"][key] = [n for n in old if n not in (names["highstate"], names["patch"])]
    return names


def resync_job(ctx):
    """The grid resync job, ``{"name", "job"}``: ``state.highstate`` every
    ``resync:highstate`` interval, ``maxrunning``, a splay, no run at start."""
    conf = component(ctx, "resync").get("highstate")
    if not isinstance(conf, dict):
        raise PillarError(f"pillar key 'resync:highstate' must be a mapping, got {conf!r}", "resync:highstate")
    job = {
        "function": "state.highstate",
        "maxrunning": whole_number(conf.get("maxrunning"), "resync:highstate:maxrunning", 1, 10),
        "run_on_start": strict_bool(conf.get("run_on_start", False), "resync:highstate:run_on_start"),
        "return_job": False,
    }
    if conf.get("seconds") is not None:
        job["seconds"] = whole_number(conf.get("seconds"), "resync:highstate:seconds", 1, 86400)
    else:
        job["minutes"] = whole_number(conf.get("minutes"), "resync:highstate:minutes", 1, 1440)
    splay = whole_number(conf.get("splay", 0), "resync:highstate:splay", 0, 3600)
    if splay:
        job["splay"] = splay
    return {"name": job_names(ctx)["highstate"], "job": job}


def resync_interval(ctx):
    """The resync interval in words (``15 minutes``), from ``resync:highstate``."""
    job = resync_job(ctx)["job"]
    for unit in ("minutes", "seconds"):
        if unit in job:
            value = job[unit]
            return f"{value} {unit if value != 1 else unit[:-1]}"
    return "the resync interval"


def patch_job(ctx):
    """The automatic OS update job: ``{"name", "job", "schedule", "reason"}``
    while OS updates are on; ``job`` None (the job must be absent) when they
    are off or the grid is airgapped."""
    state = decide.checked(ctx, "os_updates").os_updates
    name = job_names(ctx)["patch"]
    if not state["enabled"]:
        return {"name": name, "job": None, "reason": state["reason"]}
    sched_name, when = timing.choice(component(ctx, "patch"))
    # run_on_start False: adding or changing the schedule (or restarting the
    # minion) must not start an OS update there and then.
    job = {
        "function": "state.sls",
        "job_args": [f"{FORMULA}.patch.os"],
        "maxrunning": 1,
        "run_on_start": False,
        "return_job": False,
    }
    job.update(when)
    return {"name": name, "job": job, "schedule": sched_name, "reason": state["reason"]}


def saved(ctx):
    """The minion's persisted schedule, ``{job: settings}`` (``schedule.list
    offline=True``: what ``minion.d/_schedule.conf`` holds)."""
    try:
        data = ctx.saved_schedule()
    except Exception as exc:  # noqa: BLE001  (Salt's YAML loader, an unreadable file)
        raise CommandExecutionError(f"the minion's saved schedule cannot be read: {exc}") from exc
    return data if isinstance(data, dict) else {}


def conf_path(ctx):
    """Where the minion persists its schedule (``minion.d/_schedule.conf``)."""
    conf_dir = os.path.dirname(ctx.opts.get("conf_file") or "/etc/salt/minion")
    include = ctx.opts.get("default_include", "minion.d/*.conf")
    return os.path.join(conf_dir, include.split("/")[0], "_schedule.conf")


def enabled(job):
    """Whether a listed job runs (present and not disabled)."""
    return isinstance(job, dict) and job.get("enabled", True) is not False
