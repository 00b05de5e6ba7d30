"""Every difference between the supported Salt lines (3006.9, 3008.x) that the
tests must know about. The package's own differences are in
``so_telemetry/saltcompat.py``.

* ``SALT_LINE``: ``"3006"`` or ``"3008"``, the major release under test (for
  messages and the run banner; behaviour is detected, not keyed on it).
* ``quiet_salt_import_logging()``: importing ``salt.config`` puts a deferred
  stderr handler on the root logger, flushed at exit into pytest's closed
  capture stream. 3008 swallows that error in its atexit hook; 3006.9
  registers the handler's bare ``flush`` and prints ``Exception ignored in
  atexit callback ... I/O operation on closed file`` after every run. Drop the
  handlers and, where registered, their atexit flush.
* ``assert_schedule_add_predicted()``: under ``test=True``, Salt's
  ``schedule.present`` for a job not yet scheduled reports
  ``changes: {<job>: "added"}`` on 3008 and no change at all on 3006.9, where
  telemetry's schedule states fill in ``{<job>: {"old": None, "new": <job
  settings>}}``. Detected by running Salt's own ``schedule.present`` once.
"""

import atexit
import functools
import logging

import salt.version

SALT_VERSION = salt.version.__saltstack_version__
SALT_LINE = str(SALT_VERSION.major)


def quiet_salt_import_logging():
    """Remove the handlers ``import salt.config`` left on the root logger."""
    for handler in list(logging.root.handlers):
        logging.root.removeHandler(handler)
        # 3006.9: atexit.register(handler.flush); bound methods compare equal,
        # so this unregisters exactly that callback (a no-op on 3008).
        atexit.unregister(handler.flush)


@functools.lru_cache(maxsize=None)
def schedule_present_reports_test_add():
    """Whether Salt's ``schedule.present`` names the job it would add under
    ``test=True`` (3008: ``{name: "added"}``; 3006.9: no changes)."""
    import salt.states.schedule as schedule_state  # pylint: disable=import-outside-toplevel

    missing = object()
    saved = {key: getattr(schedule_state, key, missing) for key in ("__opts__", "__salt__")}
    schedule_state.__opts__ = {"test": True}
    schedule_state.__salt__ = {
        "schedule.list": lambda **_kw: {},
        "schedule.add": lambda name, **_kw: {"result": True, "comment": f"Job {name} would be added", "changes": {}},
    }
    try:
        ret = schedule_state.present("probe", function="test.ping", minutes=1)
    finally:
        for key, val in saved.items():
            if val is missing:
                delattr(schedule_state, key)
            else:
                setattr(schedule_state, key, val)
    return ret["changes"] == {"probe": "added"}


def assert_schedule_add_predicted(ret, name, function):
    """``ret``: a telemetry schedule state's test=True result for job ``name``
    not yet scheduled: result None, and the change each Salt line reports."""
    assert ret["result"] is None, ret
    if schedule_present_reports_test_add():
        assert ret["changes"] == {name: "added"}, ret
    else:
        assert set(ret["changes"]) == {name}, ret
        change = ret["changes"][name]
        assert change["old"] is None and change["new"]["function"] == function, ret
