"""Salt's masterless minion inside the test process.

``salt-call --local`` costs a Python start, Salt's import and a loader per
call (0.7-3 s on 2 shared cores). Where a separate process is not the point,
:class:`InProcessSandbox` runs the same call in this process:
``salt.minion.SMinion`` (what ``salt-call`` builds: grains, pillar, the
execution and state loaders) over the sandbox's own minion configuration,
the arguments parsed as ``salt-call`` parses them
(``salt.utils.args.parse_input`` then ``salt.minion.load_args_and_kwargs``),
the return passed through JSON as ``--out=json`` prints it, and the exit code
``salt-call`` would give (``__context__["retcode"]``, else a false
``result``/``success``). So a test still runs Salt's loader, the library's
modules as synced into the sandbox, ``file.managed``, ``schedule.*``,
``test=True``, file modes and owners, and a second run for idempotence.

Each call starts as a new ``salt-call`` would:

* the minion (grains, loaders) is built again when the sandbox's ``minion``
  file changed (grains, roots), else reused: ``minion.d/_schedule.conf``
  read again, its ``__context__`` emptied and its pillar dropped (Salt
  merges a new compile into the pillar already in ``opts``: a reused minion
  would keep keys the test has since removed);
* a ``state.*`` function compiles the pillar itself (as in ``salt-call``);
  any other function gets the minion's modules loaded again over a pillar
  compiled now (as ``salt-call`` does at its start);
* Salt's records of level WARNING and above (the sandbox's
  ``log_level_logfile``) are kept in :attr:`InProcessSandbox.log` instead of
  ``var/log/salt/minion``; lower levels are not produced at all (pytest's
  capture would format every TRACE record of the loader), nor are
  DeprecationWarnings (3006.9's loader: one per module it loads);
* ``sys.path`` is put back afterwards (Salt's loader adds the sandbox's
  ``extmods/utils``, where a later import in this process would find it).

``subprocess_call`` (and ``salt_call(..., out="highstate")``, any output
other than JSON) is the real ``salt-call`` subprocess. Tried on Salt 3006.9
and 3008.4; saltfactories' ``Loaders`` works too but builds each minion in
about 2 s (a ``sync_all`` and two loader reloads), more than a ``salt-call``.
"""

import contextlib
import json
import logging
import os
import sys
import warnings

import pytest
import salt.config
import salt.minion
import salt.utils.args
import salt.utils.jid

from tests.conftest import Sandbox, SaltCallError


class _Keep(logging.Handler):
    def __init__(self, lines):
        super().__init__(logging.WARNING)
        self.lines = lines

    def emit(self, record):
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"[{record.levelname}] {record.name}: {text}")


@contextlib.contextmanager
def _in_process(lines):
    root = logging.getLogger()
    level = root.level
    handler = _Keep(lines)
    path = list(sys.path)
    root.setLevel(logging.WARNING)
    root.addHandler(handler)
    try:
        with warnings.catch_warnings():
            # 3006.9's loader: "load_module() is deprecated", once per module
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        # Salt's loader puts the sandbox's extmods/utils on sys.path (3006.9
        # first, 3008 last): not for the rest of this test process
        sys.path[:] = path


def _set(opts, key, value):
    if hasattr(opts, "mutate_key"):  # 3008: an OptsDict
        opts.mutate_key(key, value)
    else:
        opts[key] = value


class InProcessSandbox(Sandbox):
    """A :class:`tests.conftest.Sandbox` whose ``salt_call`` (JSON out)
    runs in this process; see the module's docstring."""

    def __init__(self, *args, **kwargs):
        self._minion = None
        self._conf = None
        self._context = {}
        self.log = []
        super().__init__(*args, **kwargs)

    def subprocess_call(self, *args, **kwargs):
        """The real ``salt-call --local`` subprocess."""
        return Sandbox.salt_call(self, *args, **kwargs)

    def logged(self):
        return "\n".join(self.log)

    def _sminion(self):
        conf_file = self.config_dir / "minion"
        conf = conf_file.read_bytes()
        opts = salt.config.minion_config(str(conf_file))
        opts["file_client"] = "local"  # --local
        opts["local"] = True
        if self._minion is None or conf != self._conf:
            self._context = {}
            self._minion = salt.minion.SMinion(opts, context=self._context)
            self._conf = conf
        else:
            # minion.d/_schedule.conf as read now (the schedule states change it)
            for mopts in (self._minion.opts, self._minion.functions.opts):
                _set(mopts, "schedule", opts.get("schedule", {}))
        return self._minion

    def salt_call(self, *args, check=True, out="json"):
        if out != "json":
            return self.subprocess_call(*args, check=check, out=out)
        fun, rest = args[0], list(args[1:])
        with _in_process(self.log):
            minion = self._sminion()
            self._context.clear()
            # Salt merges a pillar compile into the pillar already in opts:
            # start from nothing. A state run compiles its own; any other
            # function gets the modules loaded again over a pillar compiled now.
            for opts in (minion.opts, minion.functions.opts):  # 3006.9: the loader's is a copy
                _set(opts, "pillar", {})
            if not fun.startswith("state."):
                minion.gen_modules(initial_load=True, context=self._context)
            func = minion.functions[fun]
            jid = salt.utils.jid.gen_jid(minion.opts)
            data = {"fun": fun, "pid": os.getpid(), "jid": jid, "tgt": "salt-call"}
            pos, kwargs = salt.minion.load_args_and_kwargs(func, salt.utils.args.parse_input(rest), data=data)
            ret = func(*pos, **kwargs)
        retcode = self._context.get("retcode", 0)
        if retcode == 0 and isinstance(ret, dict) and not all(ret.get(k, True) for k in ("result", "success")):
            retcode = 1
        ret = json.loads(json.dumps(ret, default=repr))
        if check and retcode != 0:
            raise SaltCallError(f"{' '.join(args)} -> rc {retcode} (in process)\n{json.dumps(ret, indent=1)}")
        return ret


@pytest.fixture(name="sandbox")
def inprocess_sandbox(tmp_path):
    """``sandbox`` for a module that imports it: an :class:`InProcessSandbox`
    (the masterless manager of ``tests/conftest.py``, its Salt in the test
    process)."""
    return InProcessSandbox(tmp_path / "sandbox")


@pytest.fixture(name="make_sandbox")
def inprocess_sandboxes(tmp_path):
    """``make_sandbox`` for a module that imports it: ``make(**kwargs)``, a
    new :class:`InProcessSandbox` under ``tmp_path`` for each call."""
    count = [0]

    def make(**kwargs):
        count[0] += 1
        return InProcessSandbox(tmp_path / f"sandbox{count[0]}", **kwargs)

    return make
