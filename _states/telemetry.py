"""
States that render Security Onion telemetry artefacts from the decisions of
the ``telemetry`` execution module.

Each state compares first and returns early when nothing would change (no
write, no mtime change); under ``test=True`` it returns ``result: None`` with
exactly the changes a real run would make and writes nothing; otherwise it
writes atomically (temporary file in the same directory, fsync, rename) and
reports ``{old, new}`` changes. A bad pillar value fails the state with a
message naming the key, and nothing on disk changes.

.. code-block:: yaml

    so-telemetry-soc-config-telemetry-soc_config:
      telemetry.soc_config: []
"""

import os
import tempfile

from salt.exceptions import CommandExecutionError

__virtualname__ = "telemetry"


def __virtual__():
    if "telemetry.settings" not in __salt__:
        return False, "the telemetry execution module is not loaded (saltutil.sync_all)"
    return __virtualname__


def _ret(name):
    return {"name": name, "changes": {}, "result": True, "comment": ""}


def _read(path):
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", errors="replace"), os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return None, None


def _atomic_write(path, text, mode):
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".so-telemetry-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _plan(files, mode):
    """{path: change} for every file whose content or mode differs."""
    plan = {}
    for path, text in files.items():
        old, old_mode = _read(path)
        change = {}
        if old != text:
            change["old"] = old
            change["new"] = text
        if old is not None and old_mode != mode:
            change["mode"] = {"old": oct(old_mode)[2:].zfill(4), "new": oct(mode)[2:].zfill(4)}
        if old is None:
            change["mode"] = {"old": None, "new": oct(mode)[2:].zfill(4)}
        if change:
            plan[path] = change
    return plan


def _manage(name, render, mode_of):
    ret = _ret(name)
    try:
        files = render()
        mode = mode_of()
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = f"Refused, nothing written: {exc}"
        return ret
    plan = _plan(files, mode)
    if not plan:
        ret["comment"] = "Files already in the correct state: " + ", ".join(sorted(files))
        return ret
    ret["changes"] = plan
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = "Would update: " + ", ".join(sorted(plan))
        return ret
    for path, change in plan.items():
        if "new" in change:
            _atomic_write(path, files[path], mode)
        else:
            os.chmod(path, mode)
    ret["comment"] = "Updated: " + ", ".join(sorted(plan))
    return ret


def soc_config(name):
    """
    Render the SOC analytics loader (empty when SOC Telemetry is off or the
    grid is airgapped) and ``soc.json`` with the effective telemetry flag.

    name
        Any label; the files come from ``soc:analytics:path`` and
        ``soc:config_path``.
    """
    return _manage(name, __salt__["telemetry.soc_files"], lambda: __salt__["telemetry.file_mode"]("soc"))


def repo_managed(name):
    """
    Render the yum/dnf repository definition: upstream mirrors with the
    telemetry query (manager-like, updates on), without it (updates off), the
    local repository (airgapped) or the manager's repository (nodes).
    """

    def render():
        definition = __salt__["telemetry.repo_definition"]()
        return {definition["path"]: __salt__["telemetry.repo_file"]()}

    return _manage(name, render, lambda: __salt__["telemetry.file_mode"]("repo"))


def _schedule(name, job, offline):
    present = __states__["schedule.present"]
    kwargs = dict(job)
    if offline:
        kwargs["offline"] = True
    ret = present(name, **kwargs)
    # schedule.present answers test=True with result True: say None when it
    # predicts a change, as every other state does.
    would = ret.get("changes") or "would be" in ret.get("comment", "").lower()
    if __opts__["test"] and ret.get("result") is True and would:
        ret["result"] = None
        ret["changes"] = ret.get("changes") or {name: {"old": None, "new": job}}
    return ret


def _absent(name, offline, why):
    kwargs = {"offline": True} if offline else {}
    ret = __states__["schedule.absent"](name, **kwargs)
    if __opts__["test"] and ret.get("result") is True and "would" in ret.get("comment", "").lower():
        ret["result"] = None
        ret["changes"] = {name: {"old": "present", "new": None}}
    ret["comment"] = f"{ret.get('comment', '')} ({why})".strip()
    return ret


def _int(value, key, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CommandExecutionError(f"pillar key '{key}' must be a whole number from {low} to {high}, got {value!r}")
    return value


def _bool(value, key):
    if not isinstance(value, bool):
        raise CommandExecutionError(f"pillar key '{key}' must be true or false, got {value!r}")
    return value


def highstate_schedule(name="highstate", offline=False):
    """
    The grid resync: ``state.highstate`` every ``resync:highstate:minutes``
    (15) with ``maxrunning: 1``, a splay, and no run at start.
    """
    ret = _ret(name)
    try:
        conf = __salt__["telemetry.config"]("resync")["highstate"]
        job = {
            "function": "state.highstate",
            "maxrunning": _int(conf.get("maxrunning"), "resync:highstate:maxrunning", 1, 10),
            "run_on_start": _bool(conf.get("run_on_start", False), "resync:highstate:run_on_start"),
            "return_job": False,
        }
        if conf.get("seconds") is not None:
            job["seconds"] = _int(conf.get("seconds"), "resync:highstate:seconds", 1, 86400)
        else:
            job["minutes"] = _int(conf.get("minutes"), "resync:highstate:minutes", 1, 1440)
        splay = _int(conf.get("splay"), "resync:highstate:splay", 0, 3600)
        if splay:
            job["splay"] = splay
    except (CommandExecutionError, KeyError, TypeError) as exc:
        ret["result"] = False
        ret["comment"] = f"Refused, schedule unchanged: {exc}"
        return ret
    return _schedule(name, job, offline)


def patch_schedule(name="patch_os", offline=False):
    """
    The automatic OS update schedule (``state.sls patch.os``) from
    ``patch:os:schedule_to_run``; absent when OS updates are off or the grid
    is airgapped, whatever the pillar says.
    """
    ret = _ret(name)
    try:
        state = __salt__["telemetry.settings"]("os_updates")
        patch = __salt__["telemetry.config"]("patch")
        sched_name = patch["os"]["schedule_to_run"]
        sched = dict(patch["os"]["schedules"][sched_name])
    except (CommandExecutionError, KeyError, TypeError) as exc:
        ret["result"] = False
        ret["comment"] = f"Refused, schedule unchanged: {exc}"
        return ret
    if not state["os_updates"]["enabled"]:
        return _absent(name, offline, state["os_updates"]["reason"])
    allowed = {"seconds", "minutes", "hours", "days", "when", "cron", "splay", "range"}
    unknown = set(sched) - allowed
    if unknown:
        ret["result"] = False
        ret["comment"] = (
            f"Refused, schedule unchanged: pillar key 'patch:os:schedules:{sched_name}' has unknown "
            f"keys {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
        return ret
    for key in ("seconds", "minutes", "hours", "days", "splay"):
        if key in sched:
            try:
                _int(sched[key], f"patch:os:schedules:{sched_name}:{key}", 0 if key == "splay" else 1, 10**6)
            except CommandExecutionError as exc:
                ret["result"] = False
                ret["comment"] = f"Refused, schedule unchanged: {exc}"
                return ret
    # run_on_start False: adding or changing the schedule (or restarting the
    # minion) must not start an OS update there and then.
    job = {
        "function": "state.sls",
        "job_args": ["patch.os"],
        "maxrunning": 1,
        "run_on_start": False,
        "return_job": False,
    }
    job.update(sched)
    return _schedule(name, job, offline)
