"""
States that put Security Onion telemetry artefacts in place. They only
orchestrate: the engine (``so_telemetry_core``) decides *what* (contents,
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
core = None  # so_telemetry_core, imported once the execution module has checked it


def __virtual__():
    """Loads when the ``telemetry`` execution module does: its
    ``__virtual__`` has then checked (or re-imported) the engine this
    imports, and otherwise says why not."""
    global core  # pylint: disable=global-statement
    if "telemetry.settings" not in __salt__:
        return False, "the telemetry execution module is not loaded (salt-call telemetry.settings says why)"
    import so_telemetry_core  # pylint: disable=import-outside-toplevel

    core = so_telemetry_core
    return __virtualname__


def _ctx():
    """One context per state call: the decision is made once and shared."""
    return core.Context.from_loader(__opts__, __grains__, __pillar__, __salt__, __context__)


def _ret(name, result=True, comment=""):
    return {"name": name, "changes": {}, "result": result, "comment": comment}


def _refused(name, exc, what="nothing written"):
    return _ret(name, False, f"Refused, {what}: {exc}")


def _warnings(ctx):
    """A malformed airgap value is handled fail-closed; say so where the
    admin watches the highstate."""
    try:
        malformed = core.decide.airgap(ctx)["malformed"]
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


def _host_owned(ctx, name, artefact, kind, target, also=()):
    """The return of a state whose artefact the host tree owns (or None when
    this library owns it). Refuses when the library owns it but another
    state in this run writes it too."""
    owner = core.files.owners(ctx)[artefact]
    other = _other_writer({(kind, target), *also})
    if owner == "library":
        if other:
            return _ret(
                name, False,
                f"Refused, nothing written: state {other[1]} ({other[0]}) also manages {target}; one writer only. "
                f"Set pillar so_telemetry:owners:{artefact}: host to let it own {target}, or remove that state.",
            )
        return None
    check = core.hostcheck.host_checks(ctx).get(artefact) or {}
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
        # no newline added (an empty analytics.js stays empty); Salt strips a
        # trailing one: saltcompat.managed_text says what lands on disk
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
        core.files.remove_litter(name, before)
    return ret


def _with_warnings(ctx, ret):
    warnings = _warnings(ctx)
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
    ctx = _ctx()
    try:
        owned = _host_owned(ctx, name, "analytics", "file", name)
        if owned:
            return _with_warnings(ctx, owned)
        spec = core.files.file_spec(ctx, "soc")
        path = core.files.artefact_path(ctx, "analytics")
        contents = core.soc.analytics_js(ctx)
    except CommandExecutionError as exc:
        return _with_warnings(ctx, _refused(name, exc))
    return _with_warnings(ctx, _file(name, path, contents, spec))


def soc_json_managed(name):
    """
    SOC's ``soc.json`` at ``name`` (``soc:config_path``): the keys this
    library owns (the effective ``server.client.telemetryEnabled`` and
    ``soc:config``) merged into the existing file, every other key kept. A
    file that is not valid JSON is refused and left as it is.
    """
    ctx = _ctx()
    try:
        owned = _host_owned(ctx, name, "soc_json", "file", name)
        if owned:
            return owned
        path = core.files.artefact_path(ctx, "soc_json")
        spec = core.files.file_spec(ctx, "soc")
        contents = core.soc.soc_json(ctx, core.files.read_text(name), name)
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
    proxy password (rendered here, handed only to ``file.managed``).
    """
    ctx = _ctx()
    try:
        definition = core.repo.definition(ctx)
        # Security Onion writes the same file with pkgrepo.managed
        owned = _host_owned(ctx, name, "repo", "file", name, also=[("pkgrepo", definition["id"])])
        if owned:
            return _with_warnings(ctx, owned)
        contents = core.repo.text(ctx, reveal=True)
    except CommandExecutionError as exc:
        return _with_warnings(ctx, _refused(name, exc))
    # A password in the new file or in the one on disk: no diff (it would show
    # the old password when the proxy is removed), and no moment at 0644.
    secret = definition["secret"] or core.repo.holds_password(name)
    if secret and not __opts__["test"] and os.path.isfile(name):
        os.chmod(name, 0o600)
    return _with_warnings(ctx, _file(name, definition["path"], contents, definition["file"], secret=secret))


def annotations_managed(name):
    """
    On a Security Onion manager (``so_telemetry:security_onion:saltstack``):
    the library's annotations for SOC's Configuration screen at ``name``
    (``<saltstack>/default/so-telemetry/soc_so_telemetry.yaml``, where SOC
    reads them; soup replaces ``default/``, so every highstate puts the file
    back). Owner and group those of ``<saltstack>/default`` (Security
    Onion's socore), mode 0644: SOC reads it.
    """
    ctx = _ctx()
    try:
        found = core.files.security_onion(ctx)
        if not found:
            return _ret(name, False, "Refused, nothing written: pillar so_telemetry:security_onion:saltstack "
                                     "is not set (run so-telemetry install --security-onion)")
        contents = ctx.files.text(core.config.ANNOTATIONS_FILE)
    except CommandExecutionError as exc:
        return _refused(name, exc)
    default_dir = os.path.join(found["saltstack"], "default")
    try:
        st = os.stat(default_dir)
    except OSError as exc:
        return _ret(name, False, f"Refused, nothing written: {default_dir}: {exc.strerror or exc}")
    return _file(name, found["annotations"], contents, {"user": st.st_uid, "group": st.st_gid, "mode": "0644"})


def _schedule_kwargs(offline):
    return {"offline": True} if offline else {}


def _present(name, job, offline):
    ret = __states__["schedule.present"](name, **job, **_schedule_kwargs(offline))
    return core.saltcompat.schedule_prediction(ret, __opts__["test"], name, job)


def _absent(name, offline, why=None):
    ret = __states__["schedule.absent"](name, **_schedule_kwargs(offline))
    ret = core.saltcompat.schedule_prediction(ret, __opts__["test"], name, None)
    if why:
        ret["comment"] = f"{ret.get('comment', '')} ({why})".strip()
    return ret


def _legacy_absent(ctx, ret, kind, offline):
    """Remove the job names earlier releases of this library used for this
    job, so a grid never runs two copies of one job."""
    names = core.schedule.job_names(ctx)["legacy"][kind]
    saved = set(core.schedule.saved(ctx))
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
    ctx = _ctx()
    try:
        decided = build(ctx)
        if decided["name"] != name:
            return _ret(name, False, f"Refused, schedule unchanged: name must be the configured job {decided['name']}")
        owned = _host_owned(ctx, name, artefact, "schedule", name)
        if owned:
            return owned
    except CommandExecutionError as exc:
        return _refused(name, exc, "schedule unchanged")
    if decided["job"] is None:
        ret = _absent(name, offline, decided.get("reason"))
    else:
        ret = _reshaped(ctx, name, decided["job"], offline) or _present(name, decided["job"], offline)
    ret.setdefault("changes", {})
    return _legacy_absent(ctx, ret, kind, offline)


def _reshaped(ctx, name, job, offline):
    """A job whose timing changes shape (``{hours: 4}`` to weekdays) is
    removed and added again: ``schedule.present`` keeps the timing keys the
    new job no longer has (``hours`` beside ``when``). None when the shape
    is the same."""
    saved = core.schedule.saved(ctx).get(name) or (__opts__.get("schedule") or {}).get(name) or {}
    stale = core.schedule.stale_timing(saved, job)
    if not stale:
        return None
    removed = _absent(name, offline)
    if removed.get("result") is False:
        return removed
    ret = _present(name, job, offline)
    ret["changes"] = {name: {"old": {k: saved[k] for k in core.schedule.TIMING if k in saved}, "new": job}}
    ret["comment"] = f"{ret.get('comment', '')} (its timing changed shape: {', '.join(stale)} removed)".strip()
    return ret


def highstate_schedule(name="highstate_schedule", offline=False):
    """
    The grid resync job ``name`` (``so_telemetry:jobs:highstate``, Security
    Onion's ``highstate_schedule``): ``state.highstate`` every
    ``resync:highstate`` interval (15 minutes), ``maxrunning: 1``, a splay,
    no run at start (built by ``so_telemetry_core.schedule.resync_job``).
    """
    return _job_state(name, "highstate_schedule", "highstate", core.schedule.resync_job, offline)


def patch_schedule(name="patch_os_schedule", offline=False):
    """
    The automatic OS update job ``name`` (Security Onion's
    ``patch_os_schedule``) from ``patch:os:schedule_to_run``; absent when OS
    updates are off or the grid is airgapped, whatever the pillar says
    (built by ``so_telemetry_core.schedule.patch_job``).
    """
    return _job_state(name, "patch_schedule", "patch", core.schedule.patch_job, offline)


def _stale(path, entries):
    """The channels of ``entries`` whose pillar changed while this run was
    under way (a ``so-telemetry`` edit, a concurrent highstate): a freshly
    compiled pillar decides them otherwise than this run's. They are left to
    the next highstate, so a change is never recorded from a stale pillar.
    Only a writer of the trail can make this run's pillar record a wrong
    change, so the pillar is compiled again (seconds on a large grid) only when
    the trail was written after this job's process started, whose pillar was
    compiled after that. (``unmask``: Salt 3008 masks ``pillar.items`` by
    default; 3006.9 ignores it.)"""
    if not entries or not core.trail.written_since(path, core.trail.process_started()):
        return set()
    pillar = __salt__["pillar.items"](unmask=True)
    if not isinstance(pillar, dict) or pillar.get("_errors"):
        return {e["channel"] for e in entries}
    fresh = core.Context.from_loader(__opts__, __grains__, pillar, __salt__, __context__)
    states, _broken = core.consent.effective(fresh)
    return {e["channel"] for e in entries if states.get(e["channel"]) != e["new"]}


def _consent_comment(ret, path, records, stale, broken):
    said = "; ".join(core.consent.describe(r) for r in records)
    if records:
        verb = "Would record" if __opts__["test"] else "Recorded"
        ret["comment"] = f"{verb} in {path} (via highstate, by unknown): {said}"
    else:
        ret["comment"] = f"The consent trail {path} is up to date"
    if stale:
        ret["comment"] += (f"; the pillar of {', '.join(sorted(stale))} changed during this run: "
                           "the next highstate records it")
    for channel, exc in sorted(broken.items()):
        ret["result"] = False
        ret["comment"] += f"; {channel} not recorded: {exc}"
    return ret


def consent_recorded(name):
    """
    The consent trail at ``name`` (``so_telemetry:consent:path``, manager-like
    nodes only): for each channel (``soc``, ``os_updates``, ``airgap``) whose
    effective state differs from the trail's last record of it, one record
    ``via: highstate``, ``by: unknown`` (a change that reached the pillar
    another way than ``so-telemetry``: the Configuration screen, a hand edit).
    The first run records each channel's starting state (``old: null``).
    Nothing to record: the file is not touched. ``test=True``: the records it
    would write, nothing written. A channel with an invalid pillar fails the
    state, naming the key. The trail is written by the engine
    (``so_telemetry_core.consent``: an append under the trail's lock, the file
    replaced atomically), not by ``file.managed``.
    """
    ctx = _ctx()
    stale = set()

    def unrecorded(trail):
        entries = core.consent.unrecorded(ctx, trail, states)
        stale.update(_stale(path, entries))
        return [e for e in entries if e["channel"] not in stale]

    try:
        path = core.consent.trail_path(ctx)
        if path != name:
            return _ret(name, False, f"Refused, nothing recorded: name must be the configured path {path}")
        states, broken = core.consent.effective(ctx)
        ret = _ret(name)
        if __opts__["test"]:
            trail = core.trail.read(path)
            records = core.trail.chain(trail, unrecorded(trail))
            if records:
                ret.update(result=None, changes={"records": records})
        else:
            trail, records = core.trail.append(path, unrecorded)
            if records:
                ret["changes"] = {"records": records}
        after = trail.with_records(records)
        check = core.trail.verify(after) if after.exists or records else {"ok": True}
    except CommandExecutionError as exc:
        return _refused(name, exc, "nothing recorded")
    if not check["ok"]:
        ret["warnings"] = [f"the consent trail {path} does not verify: {check['problem']}"]
    return _consent_comment(ret, path, records, stale, broken)
