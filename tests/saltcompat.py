"""Every difference between the supported Salt lines (3006.9, 3008.x) that the
tests must know about. The package's own differences are in
``_utils/so_telemetry_core/saltcompat.py``.

* ``SALT_LINE``: ``"3006"`` or ``"3008"``, the major release under test (for
  messages and the run banner; behaviour is detected, not keyed on it).
* ``quiet_salt_import_logging()``: importing ``salt.config`` puts a deferred
  stderr handler on the root logger, flushed at exit into pytest's closed
  capture stream. 3008 swallows that error in its atexit hook; 3006.9
  registers the handler's bare ``flush`` and prints ``Exception ignored in
  atexit callback ... I/O operation on closed file`` after every run. Drop the
  handlers and, where registered, their atexit flush.
* ``UNMASK``: the argument that makes ``pillar.get`` show a value as it is
  (3008 masks sensitive-looking values unless ``unmask=True``; 3006.9's
  ``pillar.get`` has no such argument and masks nothing).
* hypothesis must be imported before salt: 3006.9's vendored
  importlib_metadata finder breaks the stdlib ``entry_points()`` hypothesis
  reads at import (``tests/conftest.py`` imports it first).

(Under ``test=True``, Salt 3006.9's ``schedule.present`` predicts no change
for a job it would add, where 3008 says ``{<job>: "added"}``: telemetry's
schedule states report ``{<job>: "added"}`` on both lines, see
``so_telemetry_core.saltcompat.schedule_prediction``.)
"""

import inspect

import salt.modules.pillar
import salt.version

SALT_VERSION = salt.version.__saltstack_version__
SALT_LINE = str(SALT_VERSION.major)
UNMASK = ("unmask=True",) if "unmask" in inspect.signature(salt.modules.pillar.get).parameters else ()


def quiet_salt_import_logging():
    """Remove the handlers ``import salt.config`` left on the root logger
    (the engine's own :func:`so_telemetry_core.saltcompat.quiet_import_logging`)."""
    from so_telemetry_core import saltcompat  # pylint: disable=import-outside-toplevel

    saltcompat.quiet_import_logging()
