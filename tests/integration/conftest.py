"""A real grid for the integration tests: one salt-master serving this
library, and real salt-minions (pytest-salt-factories).

All fixtures are package-scoped: the daemons start once for every test in
``tests/integration``.

* The master serves ``file_roots: base: [<repo>/salt, <repo>]`` and
  ``pillar_roots: base: [<local pillar>, <repo>/pillar]`` (``overrides``, not
  ``defaults``: the factories' own temporary trees stay outside the repo).
* The local pillar root holds a ``top.sls`` copying the shipped entries plus
  a last ``tests`` SLS: a ``#!py`` file reading ``tests.json``, so a test can
  set pillar for every minion (``"*"``) or for one minion id
  (:meth:`Grid.set_pillar`). It is written atomically, so a highstate started
  by a schedule never reads half of it.
* Minions: ``so-manager`` (role so-manager, OEL 9, x86_64), ``so-sensor``
  (role so-sensor) and ``so-airgap`` (role so-sensor, grain airgap true).
  Each renders under its own ``so_telemetry_root``; nothing touches /etc or
  /opt. ``saltutil.sync_all`` runs once the minions start (a state.apply does not sync them);
  ``autoload_dynamic_modules`` is off so a highstate does not re-sync every
  module type (slow with the whole checkout as a file root).
* SAFETY: the minions run on the test host, as root in CI. No package
  manager is reachable from them (``disable_modules``/``disable_states``,
  checked before any test runs): ``patch_os_schedule`` runs ``pkg.uptodate``, and Salt
  starts it as soon as the schedule is added.
"""

import contextlib
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

# Before anything touches logging.
import salt.config  # noqa: F401  pylint: disable=unused-import
import pytest
import yaml

from tests.conftest import REPO, SO_TELEMETRY, TMP

MANAGER = "so-manager"
SENSOR = "so-sensor"
AIRGAP = "so-airgap"

GRAINS = {
    MANAGER: {"role": "so-manager", "os": "OEL", "osmajorrelease": 9, "cpuarch": "x86_64"},
    SENSOR: {"role": "so-sensor", "os": "OEL", "osmajorrelease": 9, "cpuarch": "x86_64"},
    AIRGAP: {"role": "so-sensor", "os": "OEL", "osmajorrelease": 9, "cpuarch": "x86_64", "airgap": True},
}

# Every execution module that could provide `pkg` on a test host.
PKG_MODULES = ("aptpkg", "yumpkg", "zypperpkg", "pacmanpkg", "pkgng", "opkg", "ebuildpkg", "mac_brew_pkg", "pkgin")

_TESTS_SLS = '''#!py
"""Test pillar: tests.json beside this file, "*" then this minion's id merged over it."""
import json


def _merge(dest, upd):
    for key, val in upd.items():
        if isinstance(val, dict) and isinstance(dest.get(key), dict):
            _merge(dest[key], val)
        else:
            dest[key] = val
    return dest


def run():
    with open({path!r}, encoding="utf-8") as fh:
        data = json.load(fh)
    out = {{}}
    for key in ("*", __grains__["id"]):
        _merge(out, data.get(key) or {{}})
    return out
'''


class Grid:
    """The master, its minions and the local pillar the tests write."""

    def __init__(self, master, minions, pillar_dir):
        self.master = master
        self.minions = minions  # id -> factory
        self.pillar_dir = pillar_dir
        self.pillar = {}

    # -- pillar
    def set_pillar(self, data=None, **per_minion):
        """Replace the test pillar: ``data`` for every minion, ``per_minion``
        (keyword = minion id with ``-`` as ``_``) merged over it."""
        doc = {"*": data or {}}
        for key, val in per_minion.items():
            doc[key.replace("_", "-")] = val
        self.pillar = doc
        path = self.pillar_dir / "tests.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, path)

    # -- paths
    def root(self, minion_id):
        return pathlib.Path(self.minions[minion_id].config["so_telemetry_root"])

    def path(self, minion_id, abspath):
        return self.root(minion_id) / abspath.lstrip("/")

    def files(self, minion_id):
        root = self.root(minion_id)
        return {
            "/" + str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".so-telemetry-")
        }

    @property
    def config_dir(self):
        return str(self.master.config_dir)

    # -- salt
    def salt(self, target, fun, *args, timeout=300, **kwargs):
        """``salt <target> fun`` through the master: ``{minion: return}``."""
        ret = self.master.salt_cli(timeout=timeout).run(fun, *args, minion_tgt=target, **kwargs)
        assert isinstance(ret.data, dict), f"salt {target} {fun}: rc {ret.returncode}\n{ret.stdout}\n{ret.stderr}"
        return ret

    def call(self, minion_id, fun, *args, **kwargs):
        ret = self.minions[minion_id].salt_call_cli(timeout=300).run(fun, *args, **kwargs)
        assert ret.returncode == 0, f"{minion_id}: salt-call {fun}: rc {ret.returncode}\n{ret.stdout}\n{ret.stderr}"
        return ret.data

    def schedule(self, minion_id):
        """The live schedule of a running minion, ``{job: settings}``."""
        data = self.call(minion_id, "schedule.list", return_yaml=False)
        return data or {}

    def sync(self, *args, timeout=600):
        """``so-telemetry --config-dir <master> sync ...`` as a subprocess."""
        cmd = [SO_TELEMETRY, "--config-dir", self.config_dir, "sync", *args]
        env = dict(os.environ)
        env.pop("SO_TELEMETRY_LOCAL", None)
        return subprocess.run(
            cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False, timeout=timeout, env=env
        )

    def highstate(self, target="*"):
        """A plain highstate through the master; asserts every state passed."""
        ret = self.master.salt_cli(timeout=300).run("state.highstate", minion_tgt=target)
        assert isinstance(ret.data, dict), f"highstate: rc {ret.returncode}\n{ret.stdout}\n{ret.stderr}"
        for minion, states in ret.data.items():
            assert isinstance(states, dict), f"{minion}: highstate did not run: {states!r}"
            bad = {k: v["comment"] for k, v in states.items() if v.get("result") is False}
            assert not bad, f"{minion}: failed states {bad}"
        return ret.data

    def wait_for(self, predicate, timeout=60, interval=0.5, what="condition"):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(interval)


def _minion_overrides(tmp_root, minion_id):
    root = tmp_root / "render" / minion_id
    root.mkdir(parents=True, exist_ok=True)
    return {
        "grains": GRAINS[minion_id],
        "so_telemetry_root": str(root),
        "enable_fqdns_grains": False,
        "log_level_logfile": "info",
        # a scheduled highstate must see the pillar of the moment
        "pillar_cache": False,
        # _modules/_states are synced once at start (saltutil.sync_all, as on
        # a grid); re-syncing all 17 module types at every highstate costs
        # seconds each here, with <repo> (and its .venv) as a file root.
        "autoload_dynamic_modules": False,
        # SAFETY: these minions run on the test host itself. `patch_os_schedule` runs
        # `state.sls patch.os` (pkg.uptodate: a real OS upgrade) and Salt
        # starts interval jobs at once unless run_on_start is false. No
        # package manager may ever be reachable from them: `pkg.*` fails here.
        "disable_modules": list(PKG_MODULES),
        "disable_states": ["pkg", "pkgrepo"],
    }


@pytest.fixture(scope="package")
def grid_tmp():
    """The grid's pillar and render roots, under <repo>/.tmp/integration but
    outside pytest's basetemp: another pytest run in this checkout wipes
    .tmp/pytest when it starts, which must not pull files from under live
    daemons."""
    base = TMP / "integration"
    base.mkdir(parents=True, exist_ok=True)
    path = pathlib.Path(tempfile.mkdtemp(prefix="grid-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="package")
def local_pillar(grid_tmp):
    """The local pillar root (first in pillar_roots)."""
    pdir = grid_tmp / "local-pillar"
    pdir.mkdir()
    shipped = yaml.safe_load((REPO / "pillar" / "top.sls").read_text())
    top = {"base": {"*": list(shipped["base"]["*"]) + ["tests"]}}
    (pdir / "top.sls").write_text(yaml.safe_dump(top))
    (pdir / "tests.json").write_text("{}\n")
    (pdir / "tests.sls").write_text(_TESTS_SLS.format(path=str(pdir / "tests.json")))
    return pdir


@pytest.fixture(scope="package")
def master(salt_factories, local_pillar):
    factory = salt_factories.salt_master_daemon(
        "so-telemetry-master",
        overrides={
            "file_roots": {"base": [str(REPO / "salt"), str(REPO)]},
            "pillar_roots": {"base": [str(local_pillar), str(REPO / "pillar")]},
            "log_level_logfile": "info",
            # <repo> is a file root (for salt://_modules): keep the virtualenvs
            # (.venv, .venv-3006), git and .tmp (salt-factories' own keys live
            # there) out of the file server, and out of every minion's reach.
            "file_ignore_regex": [r"(^|/)\.(venv[^/]*|tmp|git)(/|$)", r"(^|/)(sandbox|__pycache__)(/|$)"],
            "fileserver_list_cache_time": 600,
            # a stopped minion is given up on quickly by plain `salt` calls
            "gather_job_timeout": 5,
        },
    )
    with factory.started(start_timeout=120):
        yield factory


def _start_minion(master, grid_tmp, minion_id):
    factory = master.salt_minion_daemon(minion_id, overrides=_minion_overrides(grid_tmp, minion_id))
    return factory


@pytest.fixture(scope="package")
def grid(master, grid_tmp, local_pillar):
    """The started grid. Every minion synced (saltutil.sync_all)."""
    with contextlib.ExitStack() as stack:
        minions = {}
        for minion_id in (MANAGER, SENSOR, AIRGAP):
            factory = _start_minion(master, grid_tmp, minion_id)
            stack.enter_context(factory.started(start_timeout=120))
            minions[minion_id] = factory
        the_grid = Grid(master, minions, local_pillar)
        ret = master.salt_cli(timeout=300).run("saltutil.sync_all", minion_tgt="*")
        assert ret.returncode == 0 and set(ret.data) == set(minions), ret.stdout + ret.stderr
        # Guard: no minion can reach a package manager (see PKG_MODULES).
        ret = master.salt_cli(timeout=120).run("sys.list_functions", "pkg", minion_tgt="*")
        assert set(ret.data) == set(minions), ret.stdout + ret.stderr
        assert all(funs == [] for funs in ret.data.values()), f"pkg functions reachable: {ret.data}"
        ret = master.salt_cli(timeout=120).run("sys.list_state_functions", "pkg", minion_tgt="*")
        assert all(funs == [] for funs in ret.data.values()), f"pkg states reachable: {ret.data}"
        yield the_grid
