"""A Security Onion 2.4 manager and sensor to install the library on: the
stand-in of Security Onion's tree (``tests/security_onion``) served by a
real salt-master with Security Onion's master settings (``file_roots`` and
``pillar_roots`` ``base``: local before default, nothing else), and real
salt-minions named as Security Onion names them (``<host>_<role>``).

Package-scoped: the daemons start once for the tests of this package, which
run in file order and build on each other (install, highstate, opt-out,
soup, uninstall), as an admin's day on a manager does.

SAFETY: as ``tests/integration/conftest.py``: no package manager is
reachable from these minions (the stand-in's own ``pkgrepo`` and
``docker_container`` stubs write under each minion's ``so_telemetry_root``).
"""

import contextlib
import pathlib
import time

import pytest

from tests.conftest import SALT_CALL
from tests.integration.conftest import PKG_MODULES, fresh_dir
from tests.security_onion import build

MANAGER = "sotest_manager"
SENSOR = "sotest_sensor"
GRAINS = {
    MANAGER: {"role": "so-manager", "os": "OEL", "osmajorrelease": 9, "cpuarch": "x86_64"},
    SENSOR: {"role": "so-sensor", "os": "OEL", "osmajorrelease": 9, "cpuarch": "x86_64"},
}


class SecurityOnion:
    """The grid: ``master`` and ``minions`` (factories), the stand-in
    ``tree`` (``tree.saltstack``: /opt/so/saltstack), ``salt_config`` (the
    master's configuration directory) and each minion's render root."""

    def __init__(self, master, minions, tree, base):
        self.master, self.minions, self.tree, self.base = master, minions, tree, base
        self.salt_config = pathlib.Path(master.config_dir)

    def root(self, minion_id):
        return pathlib.Path(self.minions[minion_id].config["so_telemetry_root"])

    def path(self, minion_id, abspath):
        return self.root(minion_id) / abspath.lstrip("/")

    def salt(self, target, fun, *args, timeout=300, **kwargs):
        """``{minion: return}`` (salt-factories gives one minion's return bare)."""
        ret = self.master.salt_cli(timeout=timeout).run(fun, *args, minion_tgt=target, **kwargs)
        assert ret.data is not None, f"salt {target} {fun}: rc {ret.returncode}\n{ret.stdout}\n{ret.stderr}"
        if target in self.minions:
            return {target: ret.data}
        assert isinstance(ret.data, dict), f"salt {target} {fun}: rc {ret.returncode}\n{ret.stdout}\n{ret.stderr}"
        return ret.data

    def pillar(self, minion_id, key):
        """``key`` (``a:b``) of the pillar Salt compiles for the minion now
        (``pillar.items``: fresh, not the minion's in-memory copy; unmasked)."""
        data = self.salt(minion_id, "pillar.items", unmask=True)[minion_id]
        for part in key.split(":"):
            data = data[part]
        return data

    def run(self, fun, *args, timeout=120):
        """``salt-run fun``."""
        return self.master.salt_run_cli(timeout=timeout).run(fun, *args)

    def idle(self, timeout=180):
        """Wait until no state run is under way on any minion. Salt starts
        Security Onion's highstate_schedule about a second after a highstate
        adds it; a highstate started beside it would see its half-done work."""
        deadline = time.monotonic() + timeout
        while True:
            running = self.salt("*", "saltutil.running")
            busy = {m: [j.get("fun") for j in jobs] for m, jobs in running.items()
                    if any(str(j.get("fun", "")).startswith("state.") for j in jobs or [])}
            if not busy:
                return
            assert time.monotonic() < deadline, f"state runs still under way after {timeout}s: {busy}"
            time.sleep(1)

    def highstate(self, target="*"):
        """``salt <target> state.highstate queue=True`` once no state run is
        under way (see ``idle``): ``{minion: {state id: result}}``; every
        state must pass."""
        self.idle()
        owners = self.owners()
        data = self.salt(target, "state.highstate", queue=True)
        out = {}
        for minion, states in data.items():
            assert isinstance(states, dict), f"{minion}: highstate did not run: {states!r}"
            bad = {k: v.get("comment") for k, v in states.items() if v.get("result") is False}
            assert not bad, f"{minion}: failed states {bad}"
            out[minion] = {k.split("_|-")[1]: v for k, v in states.items()}
        self.last_owners = owners  # what the files' owners were before this run, for a failure message
        return out

    def owners(self):
        """``{path: (uid, gid)}`` of every file the minions' states write."""
        found = {}
        for minion in self.minions:
            for path in self.root(minion).rglob("*"):
                with contextlib.suppress(FileNotFoundError):
                    st = path.lstat()
                    found[str(path.relative_to(self.base))] = (st.st_uid, st.st_gid)
        return found

    def restart_master(self, timeout=120):
        """What `systemctl restart salt-master` does on the manager, then the
        file list cache cleared (right after a restart the master reuses a
        list younger than about 20 s) and every minion answering again. A
        minion notices the master's new session key only when a publish
        reaches it (that publish is lost to it): each round publishes a ping
        without waiting, then asks with a short timeout."""
        self.master.terminate()
        self.master.start()
        self.run("fileserver.clear_file_list_cache")
        deadline = time.monotonic() + timeout
        while True:
            self.master.salt_cli(timeout=10).run("test.ping", "--async", minion_tgt="*")
            ret = self.master.salt_cli(timeout=5).run("test.ping", minion_tgt="*")
            if isinstance(ret.data, dict) and set(ret.data) == set(self.minions):
                return
            assert time.monotonic() < deadline, f"minions not back {timeout}s after the master restart"
            time.sleep(1)


@pytest.fixture(scope="package")
def so_base():
    yield from fresh_dir("security-onion-")


@pytest.fixture(scope="package")
def security_onion(salt_factories, so_base):
    saltstack = so_base / "saltstack"
    # the manager's salt-call, for the stand-in of so-restart: its minion
    # configuration is known once the factory exists (written below)
    salt_call = so_base / "salt-call-manager"
    tree = build(saltstack, {m: g["role"] for m, g in GRAINS.items()}, salt_call=[str(salt_call)],
                 root=so_base / "render" / MANAGER)
    master = salt_factories.salt_master_daemon(
        "so-master", overrides={**tree.master_settings(), "log_level_logfile": "info"})
    minions = {}
    for minion_id, grains in GRAINS.items():
        root = so_base / "render" / minion_id
        root.mkdir(parents=True, exist_ok=True)
        minions[minion_id] = master.salt_minion_daemon(minion_id, overrides={
            "grains": grains,
            "so_telemetry_root": str(root),
            "enable_fqdns_grains": False,
            "log_level_logfile": "info",
            "pillar_cache": False,
            # SAFETY: see tests/integration/conftest.py; the stand-in's
            # pkgrepo stub replaces Salt's (which would reach apt here)
            "disable_modules": list(PKG_MODULES),
            "disable_states": ["pkg"],
        })
    salt_call.write_text(f'#!/bin/sh\nexec {SALT_CALL} --config-dir {minions[MANAGER].config_dir} "$@"\n')
    salt_call.chmod(0o755)
    with contextlib.ExitStack() as stack:
        stack.enter_context(master.started(start_timeout=120))
        for factory in minions.values():
            stack.enter_context(factory.started(start_timeout=120))
        grid = SecurityOnion(master, minions, tree, so_base)
        data = grid.salt("*", "saltutil.sync_all")
        assert set(data) == set(minions)
        data = grid.salt("*", "sys.list_functions", "pkg")
        assert all(funs == [] for funs in data.values()), f"pkg functions reachable: {data}"
        yield grid
