"""Benchmark 4: Synchronize Grid scaling on a real master and minions.

One salt-master and 8 salt-minions, started once with pytest-salt-factories'
``FactoriesManager`` used as a library (outside pytest), everything on
127.0.0.1 and under /tmp. ``bench-m1`` is the manager (role so-manager), the
others are sensors (role so-sensor); every minion renders under its own
``so_telemetry_root``, no minion can reach a package manager (same guard as
tests/integration/conftest.py), ``saltutil.sync_all`` runs once.

For N = 1, 2, 4, 8 minions (globs ``bench-m1``, ``bench-m[12]``,
``bench-m[1-4]``, ``bench-m*``: always the manager plus N-1 sensors), each
round runs, in this order:

* ``so-telemetry --config-dir <master> sync --target <glob>`` (measured);
* ``salt <glob> state.apply bench_empty`` (baseline: one test.nop);
* ``salt <glob> state.highstate`` (supplementary: the highstate without the
  so-telemetry command, to split the command's overhead from the states').

Wall times of the subprocesses, medians of ``--runs`` rounds after one
warm-up sync of all 8 (which renders everything; the measured syncs are the
steady state: a highstate that changes nothing). Targets: sync(N=8) /
sync(N=1) <= 2, sync(N) / bare state.apply(N) <= 1.2.

The master serves an export of the library (``git ls-files`` copied to
/tmp, as an installed /opt/so-telemetry would be) plus a tiny root holding
``bench_empty.sls``; ``--layout checkout`` serves this checkout instead (with
its .venv: every minion's highstate then lists ~14,000 files).

    .venv/bin/python bench/bench_grid.py [--runs N] [--sizes 1,2,4,8] [--layout export|checkout]
"""

import argparse
import contextlib
import json
import logging
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402  pylint: disable=wrong-import-position
import yaml  # noqa: E402  pylint: disable=wrong-import-position
from bench_highstate import export_library  # noqa: E402  pylint: disable=wrong-import-position


TARGET_SCALE = 2.0
TARGET_BARE = 1.2
SO_TELEMETRY = common.tool("so-telemetry")
SALT = common.tool("salt")
GLOBS = {1: "bench-m1", 2: "bench-m[12]", 4: "bench-m[1-4]", 8: "bench-m*"}
PKG_MODULES = ("aptpkg", "yumpkg", "zypperpkg", "pacmanpkg", "pkgng", "opkg", "ebuildpkg", "mac_brew_pkg", "pkgin")
SUMMARY_RE = re.compile(r"^Synchronize Grid: (\d+) minion\(s\), (\d+) ok, (\d+) failed")


def minion_ids(count=8):
    return [f"bench-m{i}" for i in range(1, count + 1)]


def minion_overrides(work, minion_id):
    root = work / "render" / minion_id
    root.mkdir(parents=True, exist_ok=True)
    role = "so-manager" if minion_id == "bench-m1" else "so-sensor"
    return {
        "grains": {"role": role, "os": "OEL", "osmajorrelease": 9, "cpuarch": "x86_64"},
        "so_telemetry_root": str(root),
        # light minions: no fqdn/DNS grains, quiet logs
        "enable_fqdns_grains": False,
        "enable_gpu_grains": False,
        "log_level_logfile": "warning",
        "log_level": "error",
        # SAFETY (tests/integration/conftest.py): the library's patch_os
        # schedule runs pkg.uptodate; no package manager may be reachable.
        "disable_modules": list(PKG_MODULES),
        "disable_states": ["pkg", "pkgrepo"],
    }


class GridRig:
    """Master + minions, started and stopped by this process."""

    def __init__(self, work, lib_root, empty_root, count, master_opts=None):
        from saltfactories.manager import FactoriesManager  # pylint: disable=import-outside-toplevel
        from saltfactories.plugins.event_listener import EventListener  # pylint: disable=import-outside-toplevel
        from saltfactories.plugins.log_server import LogServer  # pylint: disable=import-outside-toplevel

        self.work = work
        self.stack = contextlib.ExitStack()
        self.log_server = LogServer(log_host="127.0.0.1", log_level="critical")
        self.log_server.start()
        self.stack.callback(self.log_server.stop)
        self.events = EventListener()
        # loopback only (its default is 0.0.0.0)
        self.events.host = "127.0.0.1"
        self.events.address = f"tcp://127.0.0.1:{self.events.port}"
        self.events.start()
        self.stack.callback(self.events.stop)
        self.manager = FactoriesManager(
            root_dir=work / "factories",
            log_server_host="127.0.0.1",
            log_server_port=self.log_server.log_port,
            log_server_level="critical",
            event_listener=self.events,
            inject_sitecustomize=False,
            code_dir=str(common.REPO),
        )
        pillar_dir = work / "local-pillar"
        pillar_dir.mkdir(exist_ok=True)
        (pillar_dir / "top.sls").write_text((lib_root / "pillar" / "top.sls").read_text())
        self.master = self.manager.salt_master_daemon(
            "bench-master",
            overrides={
                "interface": "127.0.0.1",
                "file_roots": {"base": [str(lib_root / "salt"), str(lib_root), str(empty_root)]},
                "pillar_roots": {"base": [str(pillar_dir), str(lib_root / "pillar")]},
                "log_level_logfile": "warning",
                "gather_job_timeout": 10,
                **(master_opts or {}),
            },
        )
        self.ids = minion_ids(count)
        self.minions = {}

    def start(self):
        t0 = time.perf_counter()
        self.stack.enter_context(self.master.started(start_timeout=180))
        print(f"  master up in {time.perf_counter() - t0:.1f} s", flush=True)
        for minion_id in self.ids:
            t1 = time.perf_counter()
            factory = self.master.salt_minion_daemon(minion_id, overrides=minion_overrides(self.work, minion_id))
            self.stack.enter_context(factory.started(start_timeout=180))
            self.minions[minion_id] = factory
            print(f"  {minion_id} up in {time.perf_counter() - t1:.1f} s", flush=True)
        self.startup_s = time.perf_counter() - t0
        ret = self.salt("*", "saltutil.sync_all", timeout=600)
        assert set(ret) == set(self.ids), f"sync_all answered by {sorted(ret)}"
        funs = self.salt("*", "sys.list_functions", "pkg", timeout=300)
        assert all(v == [] for v in funs.values()), f"pkg functions reachable on a minion: {funs}"
        return self

    def stop(self):
        self.stack.close()

    @property
    def config_dir(self):
        return str(self.master.config_dir)

    def salt_cmd(self, target, fun, *args, timeout=600):
        return [SALT, "-c", self.config_dir, "--out=json", "--static", f"--timeout={timeout}",
                "--log-level=quiet", target, fun, *args]

    def salt(self, target, fun, *args, timeout=600):
        proc = subprocess.run(self.salt_cmd(target, fun, *args, timeout=timeout), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout + 60, check=False)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            raise RuntimeError(f"salt {target} {fun}: rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}") from None

    def timed_salt(self, target, fun, *args, expect):
        """Wall time of ``salt <target> fun``; None when a minion was busy or failed."""
        cmd = self.salt_cmd(target, fun, *args)
        with common.Timer() as tmr:
            proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=700,
                                  check=False)
        try:
            data = json.loads(proc.stdout)
        except ValueError:
            return None, f"rc {proc.returncode}: {proc.stdout[-500:]} {proc.stderr[-500:]}"
        bad = {m: v for m, v in data.items()
               if not (isinstance(v, dict) and v and all(isinstance(s, dict) and s.get("result") is True
                                                          for s in v.values()))}
        if set(data) != set(expect) or bad:
            return None, f"answers from {sorted(data)}; not ok: {json.dumps(bad)[:500]}"
        return tmr.elapsed, None

    def timed_sync(self, target, expect):
        env = dict(os.environ)
        env.pop("SO_TELEMETRY_LOCAL", None)
        cmd = [SO_TELEMETRY, "--config-dir", self.config_dir, "sync", "--target", target,
               "--retries", "20", "--retry-wait", "1", "--timeout", "600"]
        with common.Timer() as tmr:
            proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=700,
                                  check=False, env=env)
        lines = proc.stdout.splitlines()
        summary = [m for m in (SUMMARY_RE.match(line) for line in lines) if m]
        busy = sum(1 for line in lines if ": busy:" in line)
        if proc.returncode != 0 or not summary or int(summary[0].group(2)) != len(expect):
            return None, busy, f"rc {proc.returncode}\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"
        if busy:
            return None, busy, "a minion was busy (scheduled job): sample discarded"
        return tmr.elapsed, busy, None

    def wait_idle(self, target="*", timeout=120):
        """Wait until no minion runs a job (e.g. a just-added schedule)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running = self.salt(target, "saltutil.running", timeout=60)
            if all(not v for v in running.values()):
                return True
            time.sleep(1)
        return False


def sample(func, what, attempts=3):
    for attempt in range(attempts):
        result = func()
        elapsed, err = result[0], result[-1]
        if elapsed is not None:
            return elapsed
        print(f"    {what}: attempt {attempt + 1} discarded: {err}", flush=True)
        time.sleep(2)
    raise RuntimeError(f"{what}: no clean sample in {attempts} attempts")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=common.RUNS)
    parser.add_argument("--sizes", default="1,2,4,8")
    parser.add_argument("--layout", choices=("export", "checkout"), default="export")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--master-opt", action="append", default=[], metavar="KEY=YAML",
                        help="extra master option for an experiment, e.g. fileserver_list_cache_time=3600")
    parser.add_argument("--name", default="grid", help="result name: bench/out/<name>.json")
    parser.add_argument("--wait-for-sync", type=float, default=0,
                        help="seconds to wait for so_telemetry/sync.py to appear (it is being written)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    sync_py = common.REPO / "so_telemetry" / "sync.py"
    deadline = time.monotonic() + args.wait_for_sync
    while not sync_py.exists() and time.monotonic() < deadline:
        time.sleep(10)
    if not sync_py.exists():
        print("bench_grid: so_telemetry/sync.py is not there: `so-telemetry sync` cannot be measured; skipped")
        common.write_result(args.name, {"benchmark": "grid", "skipped": "so_telemetry/sync.py missing", "rows": []})
        return 0

    # the daemons' log records are forwarded here: keep the console to ours
    logging.basicConfig(level=logging.CRITICAL)
    work = common.tmpdir("grid")
    rig = None
    try:
        empty = common.empty_root(work)
        lib_root = common.REPO if args.layout == "checkout" else export_library(work / "export")
        print(f"== grid: 1 master + {max(sizes)} minions ({args.layout} file roots), under {work}", flush=True)
        master_opts = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.master_opt)}
        rig = GridRig(work, lib_root, empty, max(sizes), master_opts).start()
        print(f"  grid up and synced ({rig.startup_s:.0f} s to start)", flush=True)
        # warm-up: render everything once, then let just-added schedules settle
        elapsed = sample(lambda: rig.timed_sync("bench-m*", rig.ids), "warm-up sync")
        print(f"  warm-up sync of all {len(rig.ids)}: {elapsed:.2f} s (renders everything)", flush=True)
        rig.wait_idle()

        data = {n: {"sync": [], "bare_nop": [], "bare_highstate": []} for n in sizes}
        for rnd in range(args.runs + 1):  # round 0 is a warm-up of every command and size
            for n in sizes:
                glob, expect = GLOBS[n], rig.ids[:n]
                ts = sample(lambda: rig.timed_sync(glob, expect), f"sync N={n}")
                tb = sample(lambda: rig.timed_salt(glob, "state.apply", common.EMPTY_SLS_NAME, expect=expect),
                            f"salt state.apply N={n}")
                th = sample(lambda: rig.timed_salt(glob, "state.highstate", expect=expect),
                            f"salt state.highstate N={n}")
                tag = "warm-up" if rnd == 0 else f"round {rnd}"
                print(f"  {tag} N={n}: sync {ts:.2f} s, salt state.apply nop {tb:.2f} s, "
                      f"salt state.highstate {th:.2f} s", flush=True)
                if rnd:
                    data[n]["sync"].append(ts)
                    data[n]["bare_nop"].append(tb)
                    data[n]["bare_highstate"].append(th)

        results = {n: {k: common.summary(v) for k, v in d.items()} for n, d in data.items()}
        rows = []
        base1 = results[min(sizes)]["sync"]["median"]
        for n in sizes:
            if n == min(sizes):
                continue
            med = results[n]["sync"]["median"]
            met = (med / base1 <= TARGET_SCALE) if n == 8 else None
            rows.append(common.row(f"4. sync N={n} / sync N={min(sizes)}", base1, med,
                                   f"<= {TARGET_SCALE}x at N=8" if n == 8 else "report", met, unit="s"))
        for n in sizes:
            res = results[n]
            med, base = res["sync"]["median"], res["bare_nop"]["median"]
            hs = res["bare_highstate"]["median"]
            rows.append(common.row(
                f"4. sync N={n} / bare `salt` state.apply nop", base, med, f"<= {TARGET_BARE}x",
                med / base <= TARGET_BARE, unit="s",
                note=f"bare `salt state.highstate` {hs:.2f} s: sync / bare highstate = {med / hs:.2f}x; "
                     f"bare highstate / nop = {hs / base:.2f}x"))
        for n in sizes:
            res = results[n]
            rows.append(common.row(
                f"4. (supplementary) bare `salt` state.highstate N={n} / state.apply nop",
                res["bare_nop"]["median"], res["bare_highstate"]["median"], "report", None, unit="s"))
        if master_opts:
            tag = ", ".join(f"{k}={v}" for k, v in master_opts.items())
            for r in rows:
                r["metric"] += f" [experiment: master {tag}]"
        common.write_result(args.name, {
            "benchmark": "grid", "layout": args.layout, "master_opts": master_opts,
            "globs": {n: GLOBS[n] for n in sizes},
            "roles": {m: ("so-manager" if m == "bench-m1" else "so-sensor") for m in rig.ids},
            "startup_s": rig.startup_s, "results": results, "rows": rows,
        })
    finally:
        if rig is not None:
            rig.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
