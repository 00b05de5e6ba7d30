"""Every difference between the supported Salt lines, in one place: for
the engine, the states and the command line.

Supported: Salt 3006.9 (the onedir Security Onion 2.4 ships) and 3008.x. A
difference is detected by feature (signature, attribute, behaviour), not by
the version string, so a patched 3006 or a later 3008 release takes the
right branch.

* ``check_minions``: 3008's ``CkMinions.check_minions()`` takes ``fun`` (the
  function about to run, which decides whether resources are merged in);
  3006.9's has no such keyword.
* ``quiet_import_logging``: ``import salt.config`` leaves a deferred
  stderr handler on the root logger; 3006.9 also registers its ``flush``
  at exit.
* ``local_client``: a ``LocalClient`` that, when its construction fails,
  does not print a traceback as it is collected (Salt's ``__del__``, both
  lines).
* ``get_event``: reading the master's event bus. Once the salt-master stops,
  3006.9's ``SaltEvent.get_event(wait=...)`` never returns (its sync wrapper
  joins a thread that keeps reconnecting); 3008 returns. The read runs in a
  daemon thread and gives up after ``wait`` plus a grace period, raising
  ``EventBusStuck``; the stuck thread is then left behind (the caller ends
  the process with ``os._exit``).
* ``schedule_prediction``: ``schedule.present`` / ``schedule.absent``
  under ``test=True`` answer ``result: True`` (every other state says None
  when it would change something), and 3006.9 predicts no ``changes`` where
  3008 says ``{name: "added"}``: both lines report what the real run will.
* ``managed_text``: what ``file.managed(contents=..., contents_newline=False)``
  puts on disk (the text without its trailing newline), so the library can
  tell whether a file it would write is already there.
* The synced engine (``salt://_utils``) is put first on ``sys.path`` by
  3006.9 and last by 3008; :mod:`so_telemetry_core.loadcheck` does not
  branch on it: it compares the imported engine's version with the one that
  ships beside the module, whichever came first.
* ``atomic_write``: ``salt.utils.atomicfile.atomic_open`` is the one
  atomic writer (the consent trail, pillar edits, the install). A file it
  creates (none was there) gets ``0666 & ~umask`` on 3008 and mkstemp's 0600
  on 3006.9, and 3006.9's ``close`` does not fsync before the rename: both
  are set here so every line writes the same file.
"""

import contextlib
import functools
import inspect
import sys


@functools.lru_cache(maxsize=None)
def _accepts_keyword(func, name):
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins, C callables: assume the old signature
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def check_minions(opts, target, tgt_type="glob", fun=None):
    """Sorted ids of the accepted minions matching ``target`` on the master
    whose configuration is ``opts``. ``fun`` is passed to Salt only where
    ``check_minions`` accepts it (3008); 3006.9 ignores it."""
    import salt.utils.minions  # pylint: disable=import-outside-toplevel

    ckminions = salt.utils.minions.CkMinions(opts)
    kwargs = {}
    if fun is not None and _accepts_keyword(type(ckminions).check_minions, "fun"):
        kwargs["fun"] = fun
    res = ckminions.check_minions(target, tgt_type, **kwargs)
    return sorted(set(res.get("minions") or []))


def schedule_prediction(ret, test, name, job):
    """``ret`` of ``schedule.present`` (``job``: its settings) or
    ``schedule.absent`` (``job`` None) as the same on every Salt line: under
    ``test=True`` a predicted change says ``result: None`` and what the real
    run will report in ``changes``."""
    comment = str(ret.get("comment", "")).lower()
    if test and ret.get("result") is True and "would" in comment and not ret.get("changes"):
        if job is None:
            ret["changes"] = {name: "removed"}
        else:
            ret["changes"] = {name: "added"} if "add" in comment else {name: {"old": "present", "new": job}}
    if test and ret.get("result") is True and (ret.get("changes") or "would" in comment):
        ret["result"] = None
    return ret


def managed_text(text):
    """What ``file.managed(contents=text, contents_newline=False)`` puts on
    disk: the text without its trailing newline (an empty text stays empty)."""
    return text.rstrip("\n").rstrip("\r")


def atomic_write(path, data, mode=0o640, owner=None, force=False):
    """Replace ``path`` with ``data`` (bytes) through Salt's
    ``salt.utils.atomicfile.atomic_open``: a temporary file in the same
    directory, fsync'd, renamed over ``path``. An existing file keeps its
    owner and mode unless ``force``; a new one (or, with ``force``, any) gets
    ``mode`` and ``owner`` (``(uid, gid)``, when run as root). On any failure
    the old file is left as it was and no temporary file remains."""
    import os  # pylint: disable=import-outside-toplevel

    import salt.utils.atomicfile  # pylint: disable=import-outside-toplevel

    new = not os.path.exists(path)
    # 3008 gives a new file 0666 & ~umask when it renames it into place
    old_umask = os.umask(~mode & 0o777) if new else None
    fh = None
    try:
        if force and not new:
            # atomic_open copies the old file's owner and mode onto the new one
            os.chmod(path, mode)
            if owner is not None and os.geteuid() == 0:
                os.chown(path, *owner)
        fh = salt.utils.atomicfile.atomic_open(path, "wb")
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())  # 3006.9's close renames without it
        if new:
            os.chmod(fh.name, mode)  # 3006.9 keeps the temporary file's 0600
            if owner is not None and os.geteuid() == 0:
                os.chown(fh.name, *owner)
        fh.close()
    except BaseException:
        if fh is not None:  # the old file stays; the temporary file goes (a full disk fails its close too)
            with contextlib.suppress(Exception):
                fh.__exit__(*sys.exc_info())  # closes without renaming
            with contextlib.suppress(OSError):
                os.unlink(fh.name)
        raise
    finally:
        if old_umask is not None:
            os.umask(old_umask)


def sync_directory(directory):
    """fsync a directory, so a rename in it survives a crash."""
    import os  # pylint: disable=import-outside-toplevel

    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def local_client(opts):
    """``salt.client.LocalClient(mopts=opts)`` whose failed construction (an
    unreadable master key...) does not print a traceback when it is
    collected: Salt's ``__del__`` (both lines) closes an event bus that was
    never opened."""
    import salt.client  # pylint: disable=import-outside-toplevel

    class LocalClient(salt.client.LocalClient):
        def __del__(self):
            if "event" in vars(self):
                super().__del__()

    return LocalClient(mopts=opts)


def quiet_import_logging():
    """Drop the handlers ``import salt.config`` leaves on the root logger: a
    deferred stderr handler that prints what Salt logged (its raw
    ``[ERROR   ]`` lines) when the process ends. 3008 swallows that handler's
    errors in its atexit hook; 3006.9 registers the handler's bare ``flush``,
    which is unregistered here too. The command line reports Salt's failures
    in its own one line; a test run's capture streams are closed by then."""
    import atexit  # pylint: disable=import-outside-toplevel
    import logging  # pylint: disable=import-outside-toplevel

    for handler in list(logging.root.handlers):
        logging.root.removeHandler(handler)
        atexit.unregister(handler.flush)  # bound methods compare equal: exactly that callback
    logging.root.addHandler(logging.NullHandler())  # and no "last resort" printing either


class EventBusStuck(Exception):
    """The master's event bus did not answer within the wait and grace."""


def get_event(event, wait, grace=5.0, **kwargs):
    """``event.get_event(wait=wait, **kwargs)``, bounded to ``wait + grace``
    seconds on every Salt line (see ``EventBusStuck``)."""
    import threading  # pylint: disable=import-outside-toplevel

    box = {}

    def read():
        try:
            box["event"] = event.get_event(wait=wait, **kwargs)
        except BaseException as exc:  # noqa: BLE001  pylint: disable=broad-except
            box["error"] = exc

    reader = threading.Thread(target=read, name="so-telemetry-event", daemon=True)
    reader.start()
    reader.join(wait + grace)
    if reader.is_alive():
        raise EventBusStuck(f"the salt-master's event bus did not answer within {wait + grace:g}s")
    if "error" in box:
        raise box["error"]
    return box.get("event")
