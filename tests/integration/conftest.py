"""A real grid for the integration tests: one salt-master serving this
library, and real salt-minions (pytest-salt-factories).

All fixtures are package-scoped: the daemons start once for every test in
``tests/integration``.

* The master serves ``file_roots: base: [<repo>/salt, <repo>]`` and
  ``pillar_roots: base: [<local pillar>, <repo>/pillar]`` (``overrides``, not
  ``defaults``: the factories' own temporary trees stay outside the repo).
  It accepts minion keys as they come (``auto_accept``: no ``salt-key`` run
  and no re-authentication wait per minion).
* The local pillar root holds a ``top.sls`` copying the shipped entries plus
  a last ``tests`` SLS: a ``#!py`` file reading ``tests.json``, so a test can
  set pillar for every minion (``"*"``) or for one minion id
  (:meth:`Grid.set_pillar`). It is written atomically, so a highstate started
  by a schedule never reads half of it. :meth:`Grid.hold_pillar` makes the
  master's pillar render wait at a :class:`Gate` (every minion's state run
  is then in flight, waiting on the master).
* Minions: ``so-manager`` (role so-manager, OEL 9, x86_64), ``so-sensor``
  (role so-sensor) and ``so-airgap`` (role so-sensor, grain airgap true),
  started at the same time. Each renders under its own ``so_telemetry_root``;
  nothing touches /etc or /opt. The library's own module types
  (``_utils``, ``_modules``, ``_states``) are synced once the minions start (a
  state.apply does not sync them); ``autoload_dynamic_modules`` is off so a
  highstate does not re-sync every module type (slow with the whole checkout
  as a file root).
* Every daemon is stopped with SIGKILL (its whole process tree): a 3008
  minion takes 5 s to exit on SIGTERM, and a killed one is what the fault
  tests need anyway.
* SAFETY: the minions run on the test host, as root in CI. No package
  manager is reachable from them (``disable_modules``/``disable_states``,
  checked before any test runs): ``patch_os_schedule`` runs ``pkg.uptodate``, and Salt
  starts it as soon as the schedule is added.
"""

import concurrent.futures
import contextlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import threading
import time

# Before anything touches logging.
import salt.config  # noqa: F401  pylint: disable=unused-import
import pytest
import yaml

from tests.conftest import REPO, SO_TELEMETRY, TMP

MANAGER = "so-manager"
SENSOR = "so-sensor"
AIRGAP = "so-airgap"
ALL = (MANAGER, SENSOR, AIRGAP)

GRAINS = {
    MANAGER: {"role": "so-manager", "os": "OEL", "osmajorrelease": 9, "cpuarch": "x86_64"},
    SENSOR: {"role": "so-sensor", "os": "OEL", "osmajorrelease": 9, "cpuarch": "x86_64"},
    AIRGAP: {"role": "so-sensor", "os": "OEL", "osmajorrelease": 9, "cpuarch": "x86_64", "airgap": True},
}

# Every execution module that could provide `pkg` on a test host.
PKG_MODULES = ("aptpkg", "yumpkg", "zypperpkg", "pacmanpkg", "pkgng", "opkg", "ebuildpkg", "mac_brew_pkg", "pkgin")

# The library's module types: what `saltutil.sync_all` would bring (its other
# 15 types are empty here and cost seconds each with <repo> as a file root).
SYNC = ("saltutil.sync_utils", "saltutil.sync_modules", "saltutil.sync_states")

_TESTS_SLS = '''#!py
"""Test pillar: tests.json beside this file, "*" then this minion's id merged
over it. With "__hold__" (Grid.hold_pillar) the render first says it is here
and waits for the gate to open."""
import json
import os
import time


def _merge(dest, upd):
    for key, val in upd.items():
        if isinstance(val, dict) and isinstance(dest.get(key), dict):
            _merge(dest[key], val)
        else:
            dest[key] = val
    return dest


def _hold(gate):
    with open(os.path.join(gate["dir"], __grains__["id"] + ".held"), "w", encoding="utf-8"):
        pass
    deadline = time.monotonic() + gate["seconds"]
    while not os.path.exists(gate["open"]) and time.monotonic() < deadline:
        time.sleep(0.1)


def run():
    with open({path!r}, encoding="utf-8") as fh:
        data = json.load(fh)
    if data.get("__hold__"):
        _hold(data["__hold__"])
    out = {{}}
    for key in ("*", __grains__["id"]):
        _merge(out, data.get(key) or {{}})
    return out
'''

# A gate's command: says it was reached (touch $1), then waits until the gate
# is opened ($2 exists), at most $3 seconds.
_GATE_SH = """#!/bin/sh
touch "$1"
end=$(( $(date +%s) + ${3:-120} ))
while [ ! -e "$2" ] && [ "$(date +%s)" -lt "$end" ]; do sleep 0.1; done
"""


class Gate:
    """A point a state run stops at until the test opens it, so a test waits
    for an event instead of guessing how long a run takes. ``cmd`` is a
    shell command for ``soc:reload_cmd``: the SOC reload (run only when a SOC
    file changed, after the files are written) touches ``reached`` and waits.
    Bounded: a gate nobody opens lets go after ``seconds``."""

    def __init__(self, base, name, seconds=120):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix=f"gate-{name}-", dir=base))
        self.reached = self.dir / "reached"
        self.opened = self.dir / "open"
        self.seconds = seconds
        script = base / "gate.sh"
        if not script.exists():
            tmp = base / "gate.sh.tmp"
            tmp.write_text(_GATE_SH)
            tmp.chmod(0o755)
            os.replace(tmp, script)
        self.cmd = f"{script} {self.reached} {self.opened} {seconds}"

    def open(self):
        self.opened.touch()

    def is_reached(self):
        return self.reached.exists()

    def held(self):
        """The minions whose pillar render waits here (:meth:`Grid.hold_pillar`)."""
        return sorted(p.name[: -len(".held")] for p in self.dir.glob("*.held"))


class Lines(threading.Thread):
    """Reads a started command's stdout as it comes: ``lines`` so far."""

    def __init__(self, proc):
        super().__init__(daemon=True)
        self.proc, self.lines = proc, []
        self.start()

    def run(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self):
        return "\n".join(self.lines)

    def finish(self, timeout):
        """The exit code, stdout and stderr once the command ends."""
        rc = self.proc.wait(timeout)
        self.join(30)
        return rc, self.text, self.proc.stderr.read()


class Grid:
    """The master, its minions and the local pillar the tests write."""

    def __init__(self, master, minions, pillar_dir, tmp):
        self.master = master
        self.minions = minions  # id -> factory
        self.pillar_dir = pillar_dir
        self.tmp = tmp
        self.pillar = {}
        self._hold = None

    # -- pillar
    def set_pillar(self, data=None, **per_minion):
        """Replace the test pillar: ``data`` for every minion, ``per_minion``
        (keyword = minion id with ``-`` as ``_``) merged over it."""
        doc = {"*": data or {}}
        for key, val in per_minion.items():
            doc[key.replace("_", "-")] = val
        self.pillar = doc
        self._write_pillar()

    def _write_pillar(self):
        doc = dict(self.pillar, __hold__=self._hold) if self._hold else self.pillar
        path = self.pillar_dir / "tests.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, path)

    @contextlib.contextmanager
    def hold_pillar(self, name, seconds=60):
        """While in the block, the master's render of this pillar for any
        minion waits: ``held()`` lists the minions whose render is waiting.
        Yields the gate; it is opened (and the hold removed) on the way out."""
        gate = Gate(self.tmp, name, seconds)
        self._hold = {"dir": str(gate.dir), "open": str(gate.opened), "seconds": seconds}
        self._write_pillar()
        try:
            yield gate
        finally:
            gate.open()
            self._hold = None
            self._write_pillar()

    def gate(self, name, seconds=120):
        return Gate(self.tmp, name, seconds)

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

    def log(self, minion_id):
        conf = self.minions[minion_id].config
        return pathlib.Path(conf["root_dir"]) / conf["log_file"]

    @property
    def config_dir(self):
        return str(self.master.config_dir)

    # -- salt
    def salt(self, target, fun, *args, timeout=300, **kwargs):
        """``salt <target> fun`` through the master: ``{minion: return}``."""
        ret = self.master.salt_cli(timeout=timeout).run(fun, *args, minion_tgt=target, **kwargs)
        assert isinstance(ret.data, dict), f"salt {target} {fun}: rc {ret.returncode}\n{ret.stdout}\n{ret.stderr}"
        return ret

    def one(self, minion_id, fun, *args, timeout=120):
        """``salt <minion_id> fun ...``: that minion's return (None when it did not answer)."""
        ret = self.master.salt_cli(timeout=timeout).run(fun, *args, minion_tgt=minion_id)
        # salt-factories unwraps the return of a single-minion target
        return ret.data.get(minion_id) if isinstance(ret.data, dict) and minion_id in ret.data else ret.data

    def schedules(self, target="*"):
        """The live schedules of the running minions, ``{minion: {job: settings}}``
        (one call through the master)."""
        ret = self.master.salt_cli(timeout=120).run("schedule.list", "return_yaml=False", minion_tgt=target)
        data = ret.data if isinstance(ret.data, dict) else {}
        if target in self.minions and target not in data:  # a single-minion return comes unwrapped
            data = {target: data}
        return {minion: sched or {} for minion, sched in data.items()}

    def highstate(self, target="*"):
        """A plain highstate through the master; asserts every state passed."""
        ret = self.master.salt_cli(timeout=300).run("state.highstate", minion_tgt=target)
        assert isinstance(ret.data, dict), f"highstate: rc {ret.returncode}\n{ret.stdout}\n{ret.stderr}"
        for minion, states in ret.data.items():
            assert isinstance(states, dict), f"{minion}: highstate did not run: {states!r}"
            bad = {k: v["comment"] for k, v in states.items() if v.get("result") is False}
            assert not bad, f"{minion}: failed states {bad}"
        return ret.data

    def state_jobs(self, minion_id):
        """The jids of the jobs a minion runs or has queued: Salt 3006.9 keeps
        a ``queue=True`` run waiting as a job; 3008 as a file in its state
        queue, until it starts."""
        jobs = self.one(minion_id, "saltutil.running", timeout=30)
        jids = {job["jid"] for job in jobs if isinstance(job, dict)} if isinstance(jobs, list) else set()
        cachedir = pathlib.Path(self.minions[minion_id].config["cachedir"])
        queued = {p.name[: -len(".p")].split("_")[2] for p in cachedir.glob("queues/*/state_queue/queued_*.p")}
        return jids | queued

    def running(self):
        """{minion: [jid, ...]} of the jobs each minion runs, or None when not
        every minion answered."""
        ret = self.master.salt_cli(timeout=15).run("saltutil.running", minion_tgt="*")
        if not isinstance(ret.data, dict) or set(ret.data) != set(self.minions):
            return None
        return {m: [job["jid"] for job in jobs if isinstance(job, dict)] for m, jobs in ret.data.items()
                if isinstance(jobs, list)}

    def reconnect(self, event_listener, since, timeout=120):
        """After the master's restart at ``since`` (``time.time()``): every
        minion authenticated again and answering. A minion notices the
        master's new session key only when a publish reaches it (that
        publish is lost to it): each round publishes a ping without waiting,
        then watches the master's ``salt/auth`` events."""
        deadline = time.monotonic() + timeout

        def authenticated():
            events = event_listener.get_events([(self.master.id, "salt/auth")], after_time=since)
            return {ev.data.get("id") for ev in events if ev.data.get("act") == "accept"} >= set(self.minions)

        while not authenticated():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for every minion to authenticate again")
            self.master.salt_cli(timeout=10).run("test.ping", "--async", minion_tgt="*")
            self.wait_for(authenticated, timeout=1.5, interval=0.1, what="salt/auth", fail=False)
        ret = self.master.salt_cli(timeout=30).run("test.ping", minion_tgt="*")
        assert isinstance(ret.data, dict) and all(ret.data.get(m) is True for m in self.minions), ret.stdout

    def wait_idle(self, timeout=240):
        """Until no minion runs a job; the seconds it took."""
        started = time.monotonic()

        def idle():
            jobs = self.running()
            return jobs is not None and len(jobs) == len(self.minions) and not any(jobs.values())
        self.wait_for(idle, timeout=timeout, interval=1, what="every minion to finish its running jobs")
        return round(time.monotonic() - started, 1)

    def kill_jobs(self):
        """Kills every job the minions run; ``{minion: [jid]}`` of those killed."""
        stuck = {m: jids for m, jids in (self.running() or {}).items() if jids}
        if stuck:
            self.master.salt_cli(timeout=30).run("saltutil.kill_all_jobs", minion_tgt="*")
        return stuck

    # -- so-telemetry
    def env(self):
        """The command's environment: an administrator's shell (no
        PYTHONUNBUFFERED: the command flushes each line itself)."""
        env = dict(os.environ)
        for name in ("SO_TELEMETRY_LOCAL", "PYTHONUNBUFFERED"):
            env.pop(name, None)
        return env

    def command(self, *args):
        """``so-telemetry --config-dir <master> --pillar-dir <test pillar> ...``"""
        return [SO_TELEMETRY, "--config-dir", self.config_dir, "--pillar-dir", str(self.pillar_dir), *args]

    def cli(self, *args, timeout=600):
        """``so-telemetry ...`` run to its end."""
        return subprocess.run(self.command(*args), capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              check=False, timeout=timeout, env=self.env())

    def sync(self, *args, timeout=600):
        return self.cli("sync", *args, timeout=timeout)

    def start_sync(self, *args):
        """``so-telemetry sync ...`` started: the Popen, its output read as it comes."""
        return subprocess.Popen(self.command("sync", *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, env=self.env())

    @staticmethod
    def wait_for(predicate, timeout=60, interval=0.5, what="condition", fail=True):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                if not fail:
                    return value
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
        # _modules/_states are synced once at start (as on a grid); re-syncing
        # all 17 module types at every highstate costs seconds each here, with
        # <repo> (and its .venv) as a file root.
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
    yield from fresh_dir("grid-")


def fresh_dir(prefix):
    """A new directory under ``<repo>/.tmp/integration``, removed after."""
    base = TMP / "integration"
    base.mkdir(parents=True, exist_ok=True)
    path = pathlib.Path(tempfile.mkdtemp(prefix=prefix, dir=base))
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
            "auto_accept": True,
        },
    )
    factory.slow_stop = False  # SIGKILL, see the module's docstring
    with factory.started(start_timeout=120):
        yield factory


def _parallel(calls):
    """Runs the callables at once; their results, or the first exception."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [future.result() for future in [pool.submit(call) for call in calls]]


@pytest.fixture(scope="package")
def grid(master, grid_tmp, local_pillar):
    """The started grid. Every minion synced (the library's module types)."""
    minions = {m: master.salt_minion_daemon(m, overrides=_minion_overrides(grid_tmp, m)) for m in ALL}
    for factory in minions.values():
        factory.slow_stop = False  # SIGKILL, see the module's docstring
    try:
        _parallel([lambda f=factory: f.start(start_timeout=120) for factory in minions.values()])
        the_grid = Grid(master, minions, local_pillar, grid_tmp)
        # One job: sync, then the guard (no minion can reach a package
        # manager, see PKG_MODULES).
        # (the minion reloads its modules once, after the last sync)
        funs = (*SYNC, "sys.list_functions", "sys.list_state_functions")
        args = ["refresh=False"] * (len(SYNC) - 1) + ["", "pkg", "pkg"]
        ret = master.salt_cli(timeout=300).run(",".join(funs), ",".join(args), minion_tgt="*")
        assert ret.returncode == 0 and isinstance(ret.data, dict), ret.stdout + ret.stderr
        assert set(ret.data) == set(minions), ret.stdout + ret.stderr
        for minion, data in ret.data.items():
            assert all(isinstance(data[fun], list) for fun in SYNC), f"{minion}: {data}"
            assert data["sys.list_functions"] == [], f"{minion}: pkg functions reachable: {data}"
            assert data["sys.list_state_functions"] == [], f"{minion}: pkg states reachable: {data}"
        yield the_grid
    finally:
        _parallel([lambda f=factory: f.terminate() for factory in (master, *minions.values())])


# --------------------------------------------------------------------------
# what the tests read: rendered paths, `so-telemetry sync` output

ANALYTICS = "/opt/so/conf/soc/analytics.js"
SOC_JSON = "/opt/so/conf/soc/soc.json"
REPO_FILE = "/etc/yum.repos.d/securityonion.repo"
# Generous retries: right after `patch_os_schedule` is added Salt starts it at
# once (see test_highstate_renders_the_grid), and a schedule may hold a minion.
RETRY = ("--retries", "20", "--retry-wait", "1")
OK_LINE = re.compile(r"^\[(\d+)/(\d+)\] (\S+): ok, (\d+) changed$")
SUMMARY = re.compile(r"^Synchronize Grid: (\d+) minion\(s\), (\d+) ok, (\d+) failed(?: \((.*)\))?$")


def final_lines(stdout):
    """{minion: line} of the final per-minion progress lines, in order."""
    out = {}
    for line in stdout.splitlines():
        match = re.match(r"^\[(\d+)/(\d+)\] (\S+): (ok|FAILED)\b", line)
        if match:
            assert match.group(3) not in out, f"two final lines for {match.group(3)}:\n{stdout}"
            out[match.group(3)] = line
    return out


def summary(stdout):
    lines = [line for line in stdout.splitlines() if SUMMARY.match(line)]
    assert len(lines) == 1, stdout
    return SUMMARY.match(lines[0]).groups()


def assert_synced_ok(proc, minions):
    assert proc.returncode == 0, f"rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    finals = final_lines(proc.stdout)
    assert set(finals) == set(minions), proc.stdout
    assert [int(OK_LINE.match(line).group(1)) for line in finals.values()] == list(range(1, len(minions) + 1))
    assert all(OK_LINE.match(line).group(2) == str(len(minions)) for line in finals.values())
    assert summary(proc.stdout) == (str(len(minions)), str(len(minions)), "0", None)
    return finals
