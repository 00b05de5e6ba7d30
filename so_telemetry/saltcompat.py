"""Every difference between the supported Salt lines, for the ``so_telemetry`` package.

Supported: Salt 3006.9 (the onedir Security Onion 2.4 ships) and 3008.x. A
difference is detected by feature (signature, attribute), not by the version
string, so a patched 3006 or a later 3008 release takes the right branch.

* ``check_minions``: 3008's ``CkMinions.check_minions()`` takes ``fun`` (the
  function about to run, which decides whether resources are merged in);
  3006.9's has no such keyword.
* ``get_event``: reading the master's event bus. Once the salt-master stops,
  3006.9's ``SaltEvent.get_event(wait=...)`` never returns (its sync wrapper
  joins a thread that keeps reconnecting); 3008 returns. The read runs in a
  daemon thread and gives up after ``wait`` plus a grace period, raising
  ``EventBusStuck``; the stuck thread is then left behind (the caller ends
  the process with ``os._exit``).
* ``new_file_mode``: a file that ``salt.utils.atomicfile.atomic_open``
  creates (none was there) is ``0666 & ~umask`` on 3008 and mkstemp's 0600 on
  3006.9; set the mode the caller wants on both.
"""

import functools
import inspect


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


def new_file_mode(path, mode):
    """Give a file ``atomic_open`` just created ``mode`` on every Salt line."""
    import os  # pylint: disable=import-outside-toplevel

    os.chmod(path, mode)


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
