"""Benchmark 4: Synchronize Grid at scale on a real master and minions.

One salt-master and 16 salt-minions (``--sizes``), started once with
pytest-salt-factories' ``FactoriesManager`` used as a library (outside
pytest), everything on 127.0.0.1 and under /tmp. ``bench-m1`` is the manager
(role so-manager), the others are sensors (role so-sensor); every minion
renders under its own ``so_telemetry_root``; SAFETY: no minion can reach a
package manager (``disable_modules``/``disable_states`` for pkg, exactly as
tests/integration/conftest.py, checked before anything is measured);
``saltutil.sync_all`` runs once, then one warm-up sync of all (renders
everything: the measured runs are steady-state highstates changing nothing).

The master runs with ``--settings shipped`` (every setting of
``docs/master.d/so-telemetry.conf`` except its ``file_roots``/``pillar_roots``,
which point at /opt: the bench serves an export of the library instead) or
``--settings salt-defaults`` (nothing but the roots). For N = 1, 2, 4, 8, 16
minions (the manager plus N-1 sensors: ``bench-m1``, ``L@bench-m1,bench-m2``
...), each round runs, order alternating between rounds:

* ``so-telemetry sync --target <N minions>`` beside a bare
  ``salt -L <N minions> state.highstate`` (no ``--static``: Salt's plain CLI);
* at the sizes of ``--batch-sizes`` (default the largest), also
  ``so-telemetry sync --batch 25%`` beside ``salt --batch 25% state.highstate``.

For each command: wall time, and CPU seconds of the master (the salt-master
process and all its children, psutil), of the minions (every minion process
plus its reaped job processes) and of the client command itself
(RUSAGE_CHILDREN). The CPU-bound floor of a point is its total CPU seconds
divided by the cores: no scheduling on this host can finish faster.

Targets: sync <= 1.05x bare ``salt`` at every N; N=16 with ``--batch 25%``
has no failed minion; sync(N=8) / sync(N=1) <= 3x with the shipped settings.

    .venv/bin/python bench/bench_grid.py [--runs 3] [--sizes 1,2,4,8,16] [--settings shipped|salt-defaults]
        [--batch-sizes 16|none] [--warmup-round] [--master-opt KEY=YAML]
"""

import argparse
import contextlib
import json
import logging
import os
import pathlib
import re
import resource
import shutil
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402  pylint: disable=wrong-import-position
import yaml  # noqa: E402  pylint: disable=wrong-import-position
from bench_highstate import export_library  # noqa: E402  pylint: disable=wrong-import-position


TARGET_SCALE = 3.0  # sync N=8 / N=1, shipped settings
TARGET_BARE = 1.05  # sync / bare salt, every N
BATCH = "25%"
SO_TELEMETRY = common.tool("so-telemetry")
SALT = common.tool("salt")
SNIPPET = common.REPO / "docs" / "master.d" / "so-telemetry.conf"
PKG_MODULES = ("aptpkg", "yumpkg", "zypperpkg", "pacmanpkg", "pkgng", "opkg", "ebuildpkg", "mac_brew_pkg", "pkgin")
SUMMARY_RE = re.compile(r"^Synchronize Grid: (\d+) minion\(s\), (\d+) ok, (\d+) failed")


def minion_ids(count=16):
    return [f"bench-m{i}" for i in range(1, count + 1)]


def glob_for(n, count):
    """A glob matching bench-m1 .. bench-m<n> of ``count`` minions."""
    if n >= count:
        return "bench-m*"
    if n == 1:
        return "bench-m1"
    if n <= 9:
        return f"bench-m[1-{n}]"
    raise ValueError(f"no single glob for the first {n} of {count} minions")


def shipped_settings():
    """The master settings of docs/master.d/so-telemetry.conf, without the
    roots (they point at /opt; the bench serves its own export)."""
    conf = yaml.safe_load(SNIPPET.read_text()) or {}
    return {k: v for k, v in conf.items() if k not in ("file_roots", "pillar_roots")}


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


def tree_cpu(pids):
    """CPU seconds (user+system, own and reaped children) of these processes
    and all their live descendants."""
    import psutil  # pylint: disable=import-outside-toplevel

    seen, total = set(), 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            procs = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            continue
        for child in procs:
            if child.pid in seen:
                continue
            seen.add(child.pid)
            try:
                t = child.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system + t.children_user + t.children_system
    return total


def client_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def parse_json_stream(text):
    """The JSON documents the plain ``salt --out=json`` prints (one per minion)."""
    dec, out, idx = json.JSONDecoder(), {}, 0
    text = text.strip()
    while idx < len(text):
        while idx < len(text) and text[idx].isspace():
            idx += 1
        if idx >= len(text):
            break
        doc, idx = dec.raw_decode(text, idx)
        if isinstance(doc, dict):
            out.update(doc)
    return out


class GridRig:
    """Master + minions, started and stopped by this process."""

    def __init__(self, work, lib_root, count, master_opts=None):
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
                "file_roots": {"base": [str(lib_root / "salt"), str(lib_root)]},
                "pillar_roots": {"base": [str(pillar_dir), str(lib_root / "pillar")]},
                "log_level_logfile": "warning",
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
        # SAFETY guard (tests/integration/conftest.py): no pkg function or state anywhere
        funs = self.salt("*", "sys.list_functions", "pkg", timeout=300)
        assert set(funs) == set(self.ids) and all(v == [] for v in funs.values()), f"pkg reachable: {funs}"
        funs = self.salt("*", "sys.list_state_functions", "pkg", timeout=300)
        assert set(funs) == set(self.ids) and all(v == [] for v in funs.values()), f"pkg states reachable: {funs}"
        return self

    def stop(self):
        self.stack.close()

    @property
    def config_dir(self):
        return str(self.master.config_dir)

    def master_cpu(self):
        return tree_cpu([self.master.pid])

    def minions_cpu(self):
        return tree_cpu([f.pid for f in self.minions.values() if f.pid])

    def salt(self, target, fun, *args, timeout=600):
        cmd = [SALT, "-c", self.config_dir, "--out=json", "--static", f"--timeout={timeout}", "--log-level=quiet",
               target, fun, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout + 60,
                              check=False)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            raise RuntimeError(f"salt {target} {fun}: rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}") from None

    def measured(self, cmd, env=None):
        """Run ``cmd``: (proc, {wall, master_cpu, minions_cpu, client_cpu})."""
        m0, n0, c0 = self.master_cpu(), self.minions_cpu(), client_cpu()
        with common.Timer() as tmr:
            proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900,
                                  check=False, env=env)
        # the minions' job processes are reaped just after their return
        time.sleep(0.3)
        cost = {"wall": tmr.elapsed, "master_cpu": self.master_cpu() - m0, "minions_cpu": self.minions_cpu() - n0,
                "client_cpu": client_cpu() - c0}
        return proc, cost

    def timed_salt(self, target, expect, batch=None):
        """Bare ``salt <target> state.highstate`` (plain CLI, or ``--batch``)."""
        opts = ["--static", f"--batch={batch}"] if batch else []
        cmd = [SALT, "-c", self.config_dir, "--out=json", *opts, "--timeout=600", "--log-level=quiet",
               target, "state.highstate"]
        proc, cost = self.measured(cmd)
        try:
            data = parse_json_stream(proc.stdout)
        except ValueError:
            return None, f"rc {proc.returncode}: {proc.stdout[-500:]} {proc.stderr[-500:]}"
        bad = {m: v for m, v in data.items()
               if not (isinstance(v, dict) and v and all(isinstance(s, dict) and s.get("result") is True
                                                          for s in v.values()))}
        if set(data) != set(expect) or bad:
            return None, f"answers from {len(data)}/{len(expect)}; not ok: {json.dumps(bad)[:500]}"
        return cost, None

    def timed_sync(self, target, expect, batch=None):
        env = dict(os.environ)
        env.pop("SO_TELEMETRY_LOCAL", None)
        cmd = [SO_TELEMETRY, "--config-dir", self.config_dir, "sync", "--target", target,
               "--retries", "20", "--retry-wait", "1", "--timeout", "600"]
        if batch:
            cmd += ["--batch", batch]
        proc, cost = self.measured(cmd, env=env)
        lines = proc.stdout.splitlines()
        summary = [m for m in (SUMMARY_RE.match(line) for line in lines) if m]
        busy = sum(1 for line in lines if ": busy:" in line)
        cost["failed"] = int(summary[0].group(3)) if summary else None
        if proc.returncode != 0 or not summary or int(summary[0].group(2)) != len(expect):
            return None, f"rc {proc.returncode}\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"
        if busy:
            return None, "a minion was busy (scheduled job): sample discarded"
        return cost, None

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
        cost, err = func()
        if cost is not None:
            return cost
        print(f"    {what}: attempt {attempt + 1} discarded: {err}", flush=True)
        time.sleep(2)
    raise RuntimeError(f"{what}: no clean sample in {attempts} attempts")


def med(samples, key):
    return common.median([s[key] for s in samples])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_GRID_RUNS", "3")))
    parser.add_argument("--sizes", default="1,2,4,8,16")
    parser.add_argument("--batch-sizes", default=None,
                        help="sizes also measured with --batch 25%% (default: the largest; 'none')")
    parser.add_argument("--warmup-round", action="store_true",
                        help="one discarded round of every command and size first (the warm-up sync of all "
                             "minions always runs)")
    parser.add_argument("--settings", choices=("shipped", "salt-defaults"), default="shipped",
                        help="master settings: docs/master.d/so-telemetry.conf, or Salt's defaults")
    parser.add_argument("--layout", choices=("export", "checkout"), default="export")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--master-opt", action="append", default=[], metavar="KEY=YAML",
                        help="extra master option for an experiment, e.g. worker_threads=8")
    parser.add_argument("--name", default=None, help="result name: bench/out/<name>.json")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    count = max(sizes)
    if args.batch_sizes == "none":
        batch_sizes = []
    else:
        batch_sizes = [int(s) for s in args.batch_sizes.split(",")] if args.batch_sizes else [count]
    name = args.name or ("grid" if args.settings == "shipped" else "grid_defaults")
    cores = os.cpu_count() or 1

    # the daemons' log records are forwarded here: keep the console to ours
    logging.basicConfig(level=logging.CRITICAL)
    work = common.tmpdir("grid")
    rig = None
    try:
        lib_root = common.REPO if args.layout == "checkout" else export_library(work / "export")
        master_opts = shipped_settings() if args.settings == "shipped" else {}
        master_opts.update({k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.master_opt)})
        print(f"== grid: 1 master + {count} minions ({args.layout} file roots), master settings "
              f"{args.settings} {master_opts}, under {work}", flush=True)
        load0 = os.getloadavg()
        rig = GridRig(work, lib_root, count, master_opts).start()
        print(f"  grid up and synced ({rig.startup_s:.0f} s to start)", flush=True)
        cost = sample(lambda: rig.timed_sync("bench-m*", rig.ids), "warm-up sync")
        print(f"  warm-up sync of all {count}: {cost['wall']:.2f} s (renders everything)", flush=True)
        rig.wait_idle()

        sides = [("sync", None), ("salt", None)]
        data = {n: {} for n in sizes}
        loads = []
        first = 0 if args.warmup_round else 1
        for rnd in range(first, args.runs + 1):  # round 0 (--warmup-round) is discarded
            for n in sizes:
                glob, expect = glob_for(n, count), rig.ids[:n]
                todo = sides + ([("sync", BATCH), ("salt", BATCH)] if n in batch_sizes else [])
                if rnd % 2:
                    todo = [t for pair in zip(todo[1::2], todo[0::2]) for t in pair]
                got = {}
                for kind, batch in todo:
                    func = rig.timed_sync if kind == "sync" else rig.timed_salt
                    label = f"{kind}{' --batch ' + batch if batch else ''}"
                    got[label] = sample(lambda f=func, b=batch: f(glob, expect, batch=b), f"{label} N={n}")
                tag = "warm-up" if rnd == 0 else f"round {rnd}"
                print(f"  {tag} N={n}: " + ", ".join(
                    f"{k} {v['wall']:.2f} s (master {v['master_cpu']:.1f} cpu-s, minions {v['minions_cpu']:.1f})"
                    for k, v in got.items()), flush=True)
                if rnd:
                    for k, v in got.items():
                        data[n].setdefault(k, []).append(v)
            loads.append(os.getloadavg())

        results = {}
        for n in sizes:
            results[n] = {}
            for k, samples in data[n].items():
                res = {key: med(samples, key) for key in ("wall", "master_cpu", "minions_cpu", "client_cpu")}
                res["cpu_total"] = res["master_cpu"] + res["minions_cpu"] + res["client_cpu"]
                res["floor"] = res["cpu_total"] / cores
                res["walls"] = [s["wall"] for s in samples]
                res["failed_max"] = max((s.get("failed") or 0) for s in samples)
                results[n][k] = res
        tag = f" [{args.settings} master settings]"
        rows = []
        for n in sizes:
            for label in ("sync",) + ((f"sync --batch {BATCH}",) if n in batch_sizes else ()):
                base_label = "salt" if label == "sync" else f"salt --batch {BATCH}"
                mine, base = results[n][label], results[n][base_label]
                target = TARGET_BARE if label == "sync" else None
                met = (mine["wall"] / base["wall"] <= TARGET_BARE) if target else None
                note = (f"CPU-s per run: master {mine['master_cpu']:.2f}, minions {mine['minions_cpu']:.2f}, "
                        f"client {mine['client_cpu']:.2f} (bare: master {base['master_cpu']:.2f}, minions "
                        f"{base['minions_cpu']:.2f}, client {base['client_cpu']:.2f}); CPU-bound floor "
                        f"{mine['floor']:.2f} s on {cores} cores; walls {[round(w, 2) for w in mine['walls']]}")
                if label != "sync":
                    note += f"; failed minions (worst run) {mine['failed_max']}"
                rows.append(common.row(f"4. `{label}` / bare `{base_label} state.highstate`, N={n}{tag}",
                                       base["wall"], mine["wall"],
                                       f"<= {TARGET_BARE}x" if target else "no failed minion",
                                       met if target else mine["failed_max"] == 0, unit="s", note=note))
        if 1 in results and 8 in results:
            one, eight = results[1]["sync"]["wall"], results[8]["sync"]["wall"]
            rows.append(common.row(f"4. sync N=8 / sync N=1{tag}", one, eight,
                                   f"<= {TARGET_SCALE}x" if args.settings == "shipped" else "report",
                                   (eight / one <= TARGET_SCALE) if args.settings == "shipped" else None, unit="s",
                                   note=f"CPU-bound floor N=8 {results[8]['sync']['floor']:.2f} s"))
        per_hs = {n: {"master_cpu": results[n]["sync"]["master_cpu"] / n,
                      "minions_cpu": results[n]["sync"]["minions_cpu"] / n,
                      "total_cpu": results[n]["sync"]["cpu_total"] / n} for n in sizes}
        for n in sizes:
            rows.append(common.row(
                f"4. (floor) sync N={n}: CPU-bound floor (CPU-s / {cores} cores) -> wall{tag}",
                results[n]["sync"]["floor"], results[n]["sync"]["wall"], "report", None, unit="s",
                note=f"per highstate: master {per_hs[n]['master_cpu']:.3f} CPU-s, minion "
                     f"{per_hs[n]['minions_cpu']:.3f} CPU-s"))
        common.write_result(name, {
            "benchmark": "grid", "layout": args.layout, "settings": args.settings, "master_opts": master_opts,
            "sizes": sizes, "batch": BATCH, "batch_sizes": batch_sizes,
            "globs": {n: glob_for(n, count) for n in sizes}, "cores": cores,
            "roles": {m: ("so-manager" if m == "bench-m1" else "so-sensor") for m in rig.ids},
            "startup_s": rig.startup_s, "loadavg_start": load0, "loadavg_per_round": loads,
            "per_highstate_cpu": per_hs, "results": results, "rows": rows,
        })
    finally:
        if rig is not None:
            rig.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
