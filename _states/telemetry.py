"""
States that put Security Onion telemetry artefacts in place. They only
orchestrate: the ``telemetry`` execution module decides *what* (contents,
owner, mode, schedule jobs, whether this library or the host tree writes an
artefact) and Salt's own states do the writing: ``file.managed`` (ownership,
mode, diffs, ``test=True``, atomic replacement) and ``schedule.present`` /
``schedule.absent``.

A bad pillar value fails the state with a message naming the key, and
nothing on disk changes. Where pillar ``so_telemetry:owners`` gives an
artefact to the host tree, the state writes nothing and says whether the
host's file matches the effective setting. If another state of the same run
also manages the artefact, the state refuses rather than become a second
writer.

.. code-block:: yaml

    /opt/so/conf/soc/analytics.js:
      telemetry.analytics_managed: []
"""

import os

from salt.exceptions import CommandExecutionError

__virtualname__ = "telemetry"


def __virtual__():
    if "telemetry.settings" not in __salt__:
        return False, "the telemetry execution module is not loaded (saltutil.sync_all)"
    return __virtualname__


def _ret(name, result=True, comment=""):
    return {"name": name, "changes": {}, "result": result, "comment": comment}


def _refused(name, exc, what="nothing written"):
    return _ret(name, False, f"Refused, {what}: {exc}")


def _warnings():
    """A malformed airgap value is handled fail-closed; say so where the
    admin watches the highstate."""
    try:
        malformed = __salt__["telemetry.settings"]()["airgap"]["malformed"]
    except CommandExecutionError:
        return []
    return [f"{m}: treated as airgapped (fail closed); fix the value" for m in malformed]


def _other_writer(targets):
    """``(sls, id)`` of another state in this run that manages one of
    ``targets`` (``(state module, name)`` pairs, e.g. ``("file", path)``,
    ``("pkgrepo", "securityonion")``), or None."""
    for chunk in globals().get("__lowstate__") or []:
        if not isinstance(chunk, dict) or chunk.get("state") == __virtualname__:
            continue
        if (chunk.get("state"), chunk.get("name")) in targets:
            return chunk.get("__sls__"), chunk.get("__id__")
    return None


def _host_owned(name, artefact, kind, target, also=()):
    """The return of a state whose artefact the host tree owns (or None when
    this library owns it). Refuses when the library owns it but another
    state in this run writes it too."""
    owner = __salt__["telemetry.owners"]()[artefact]
    other = _other_writer({(kind, target), *also})
    if owner == "library":
        if other:
            return _ret(
                name, False,
                f"Refused, nothing written: state {other[1]} ({other[0]}) also manages {target}; one writer only. "
                f"Set pillar so_telemetry:owners:{artefact}: host to let it own {target}, or remove that state.",
            )
        return None
    check = __salt__["telemetry.host_checks"]().get(artefact) or {}
    verdict = {True: "matches the effective setting", False: "DOES NOT match the effective setting",
               None: "does not say"}[check.get("matches")]
    return _ret(
        name, True,
        f"Owned by the host tree (so_telemetry:owners:{artefact}: host): not written. "
        f"{target}: {verdict}: {check.get('detail', '')}".rstrip(": "),
    )


def _file(name, path, contents, spec, secret=False):
    """``file.managed`` with the decided contents, owner and mode."""
    if path != name:
        return _ret(name, False, f"Refused, nothing written: name must be the configured path {path}")
    kwargs = {
        "contents": contents,
        # the bytes are decided by the telemetry module: no added newline
        "contents_newline": False,
        "user": spec["user"],
        "group": spec["group"],
        "mode": spec["mode"],
        "makedirs": True,
        "dir_mode": "0755",
    }
    if secret:
        # the file holds a password: no diff in the state's changes or logs
        kwargs["show_changes"] = False
    directory = os.path.dirname(name)
    before = set(os.listdir(directory)) if os.path.isdir(directory) else None
    ret = __states__["file.managed"](name, **kwargs)
    if ret.get("result") is False and before is not None and not __opts__["test"]:
        _remove_litter(name, before)
    return ret


def _remove_litter(name, before):
    """Salt's copy into place makes ``<name>XXXXXXXX`` beside the file and
    leaves it when the copy fails (a full disk): remove what this failed
    write added, so a full disk does not fill up further every resync."""
    directory, base = os.path.split(name)
    try:
        added = set(os.listdir(directory)) - before
    except OSError:
        return
    for entry in added:
        if entry.startswith(base) and entry != base and len(entry) - len(base) <= 16:
            try:
                os.unlink(os.path.join(directory, entry))
            except OSError:
                pass


def _with_warnings(ret):
    warnings = _warnings()
    if warnings:
        ret.setdefault("warnings", []).extend(warnings)
    return ret


def analytics_managed(name):
    """
    SOC's analytics loader at ``name`` (``soc:analytics:path``): the Google
    Tag Manager loader when SOC Telemetry is on, an empty file when it is off
    or the grid is airgapped. Owner and mode from ``soc:file_user``,
    ``file_group``, ``file_mode`` (939:939 0600).
    """
    try:
        owned = _host_owned(name, "analytics", "file", name)
        if owned:
            return _with_warnings(owned)
        spec = __salt__["telemetry.file_spec"]("soc")
        path = __salt__["telemetry.paths"]()["analytics"]
        contents = __salt__["telemetry.analytics_js"]()
    except CommandExecutionError as exc:
        return _with_warnings(_refused(name, exc))
    return _with_warnings(_file(name, path, contents, spec))


def soc_json_managed(name):
    """
    SOC's ``soc.json`` at ``name`` (``soc:config_path``): the keys this
    library owns (the effective ``server.client.telemetryEnabled`` and
    ``soc:config``) merged into the existing file, every other key kept. A
    file that is not valid JSON is refused and left as it is.
    """
    try:
        owned = _host_owned(name, "soc_json", "file", name)
        if owned:
            return owned
        path = __salt__["telemetry.paths"]()["soc_json"]
        spec = __salt__["telemetry.file_spec"]("soc")
        try:
            with open(name, encoding="utf-8") as fh:
                existing = fh.read()
        except FileNotFoundError:
            existing = None
        contents = __salt__["telemetry.soc_json"](existing, name)
    except (CommandExecutionError, OSError) as exc:
        return _refused(name, exc)
    return _file(name, path, contents, spec)


def repo_managed(name):
    """
    The yum/dnf repository definition at ``name`` (``repo:path``): upstream
    mirrors with the telemetry query (manager-like, updates on), without it
    (updates off), the local repository (airgapped) or the manager's
    repository (nodes); the upstream proxy (``manager:proxy``) on
    manager-like nodes. ``root:root 0644``; 0600 and no diff when it holds a
    proxy password.
    """
    try:
        definition = __salt__["telemetry.repo_definition"]()
        # Security Onion writes the same file with pkgrepo.managed
        owned = _host_owned(name, "repo", "file", name, also=[("pkgrepo", definition["id"])])
        if owned:
            return _with_warnings(owned)
        contents = __salt__["telemetry.repo_file"]()
    except CommandExecutionError as exc:
        return _with_warnings(_refused(name, exc))
    # A password in the new file or in the one on disk: no diff (it would show
    # the old password when the proxy is removed), and no moment at 0644.
    secret = definition["secret"] or _holds_password(name)
    if secret and not __opts__["test"] and os.path.isfile(name):
        os.chmod(name, 0o600)
    return _with_warnings(_file(name, definition["path"], contents, definition["file"], secret=secret))


def _holds_password(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return any(line.lstrip().startswith("proxy_password") for line in fh)
    except OSError:
        return False


def _schedule_kwargs(offline):
    return {"offline": True} if offline else {}


def _test_result(ret):
    # schedule.present/absent answer test=True with result True: say None
    # when they predict a change, as every other state does.
    if __opts__["test"] and ret.get("result") is True and (
        ret.get("changes") or "would" in ret.get("comment", "").lower()
    ):
        ret["result"] = None
    return ret


def _present(name, job, offline):
    ret = __states__["schedule.present"](name, **job, **_schedule_kwargs(offline))
    comment = ret.get("comment", "").lower()
    if __opts__["test"] and ret.get("result") is True and "would" in comment and not ret.get("changes"):
        # Salt 3006.9 predicts no change where 3008 says {name: "added"}:
        # report what the real run will (the same on both lines).
        ret["changes"] = {name: "added"} if "add" in comment else {name: {"old": "present", "new": job}}
    return _test_result(ret)


def _absent(name, offline, why=None):
    ret = __states__["schedule.absent"](name, **_schedule_kwargs(offline))
    if __opts__["test"] and ret.get("result") is True and "would" in ret.get("comment", "").lower():
        ret["changes"] = {name: "removed"}  # what the real run reports
    if why:
        ret["comment"] = f"{ret.get('comment', '')} ({why})".strip()
    return _test_result(ret)


def _legacy_absent(ret, kind, offline):
    """Remove the job names earlier releases of this library used for this
    job, so a grid never runs two copies of one job."""
    names = __salt__["telemetry.job_names"]()["legacy"][kind]
    saved = set(__salt__["telemetry.saved_schedule"]())
    live = set(__opts__.get("schedule") or {})
    for legacy in names:
        if legacy not in saved and legacy not in live:
            continue
        sub = _absent(legacy, offline, "replaced by " + ret["name"])
        if sub.get("changes"):
            ret["changes"][legacy] = sub["changes"].get(legacy, sub["changes"])
        if sub.get("result") is False:
            ret["result"] = False
        elif sub.get("result") is None and ret["result"] is True:
            ret["result"] = None
        ret["comment"] = f"{ret['comment']}; {sub.get('comment', '')}".strip("; ")
    return ret


def _job_state(name, artefact, kind, build, offline):
    try:
        decided = build()
        if decided["name"] != name:
            return _ret(name, False, f"Refused, schedule unchanged: name must be the configured job {decided['name']}")
        owned = _host_owned(name, artefact, "schedule", name)
        if owned:
            return owned
    except CommandExecutionError as exc:
        return _refused(name, exc, "schedule unchanged")
    if decided["job"] is None:
        ret = _absent(name, offline, decided.get("reason"))
    else:
        ret = _present(name, decided["job"], offline)
    ret.setdefault("changes", {})
    return _legacy_absent(ret, kind, offline)


def highstate_schedule(name="highstate_schedule", offline=False):
    """
    The grid resync job ``name`` (``so_telemetry:jobs:highstate``, Security
    Onion's ``highstate_schedule``): ``state.highstate`` every
    ``resync:highstate`` interval (15 minutes), ``maxrunning: 1``, a splay,
    no run at start. The job is built by ``telemetry.resync_job``.
    """
    return _job_state(name, "highstate_schedule", "highstate", __salt__["telemetry.resync_job"], offline)


def patch_schedule(name="patch_os_schedule", offline=False):
    """
    The automatic OS update job ``name`` (Security Onion's
    ``patch_os_schedule``) from ``patch:os:schedule_to_run``; absent when OS
    updates are off or the grid is airgapped, whatever the pillar says. The
    job is built by ``telemetry.patch_job``.
    """
    return _job_state(name, "patch_schedule", "patch", __salt__["telemetry.patch_job"], offline)
