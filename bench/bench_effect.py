"""Benchmark 6: time to effect on a real grid, and the picture of it.

One salt-master and 16 salt-minions (``bench_grid.GridRig``: loopback, under
/tmp, no package manager reachable, the shipped master settings; ``bench-m1``
is the manager). An opt-out is written into the local pillar the way an admin
writes it (``so-telemetry disable soc`` and ``disable os-updates``: every
minion has something to change, the manager most), and the clock runs until
``so-telemetry status --grid --target <N minions>`` says every one of them has
converged. For N = 1, 2, 4, 8, 16 (``--sizes``):

* (a) with ``so-telemetry sync --target <N>``: seconds from the write until
  sync's own closing line says ``Convergence: converged N/N`` (the check of
  ``status --grid``), beside the same with a bare ``salt -L <N>
  state.highstate`` followed by ``status --grid`` in the same round;
* (b) with the schedule only (``--effect-sizes``, default 1, 4, 8, 16): the
  resync interval of those N minions shortened through pillar
  (``resync:highstate: {seconds: 60, splay: 15}``, targeted at those minions
  in the pillar top, so the others stay at 15 minutes), then the opt-out and
  nothing else;
  seconds beside interval + splay (the most it should take, plus one highstate);
* the cost of ``status --grid`` itself at each N (converged grid, median of 3).

After each measurement the opt-out is undone and synced (not measured). The
plots (matplotlib, the ``bench`` extra) go to ``bench/plots/``: the sync
scaling (sync and bare salt, wall seconds by N) and the time to effect.

    .venv/bin/python bench/bench_effect.py [--runs 1] [--sizes 1,2,4,8,16] [--effect-sizes 1,4,8,16]
"""

import argparse
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  pylint: disable=wrong-import-position
from bench_grid import SALT, SO_TELEMETRY, GridRig, glob_for, shipped_settings  # noqa: E402
from bench_highstate import export_library  # noqa: E402  pylint: disable=wrong-import-position

PLOTS = common.REPO / "bench" / "plots"
INTERVAL, SPLAY = 60, 15
POLL = 5.0
FAST_RESYNC = {"resync": {"highstate": {"seconds": INTERVAL, "splay": SPLAY}}}


class Effect:
    """The measurements, over a started :class:`GridRig`."""

    def __init__(self, rig, pillar_dir):
        self.rig = rig
        self.pillar_dir = pillar_dir
        self.top = yaml.safe_load((pillar_dir / "top.sls").read_text())
        self.env = {k: v for k, v in os.environ.items() if k != "SO_TELEMETRY_LOCAL"}

    def cli(self, *args, timeout=900):
        cmd = [SO_TELEMETRY, "--config-dir", self.rig.config_dir, "--pillar-dir", str(self.pillar_dir), *args]
        return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout,
                              check=False, env=self.env)

    def fast_resync(self, ids):
        """The short resync for ``ids`` (none: every minion back at 15 minutes),
        targeted in the pillar top (plain YAML: ``so-telemetry`` reads the
        local pillar without Salt for its consent trail)."""
        top = dict(self.top)
        if ids:
            top["base"] = dict(top["base"], **{",".join(ids): [{"match": "list"}, "bench_fast"]})
        tmp = self.pillar_dir / "top.sls.tmp"
        tmp.write_text(yaml.safe_dump(top))
        os.replace(tmp, self.pillar_dir / "top.sls")

    def opt(self, action):
        for channel in ("soc", "os-updates"):
            proc = self.cli(action, channel)
            assert proc.returncode == 0, proc.stderr

    def converged(self, glob):
        proc = self.cli("status", "--grid", "--target", glob, "--json", "--timeout", "60")
        return proc.returncode == 0, proc

    def wait_converged(self, glob, started, deadline_s=900, poll=POLL):
        """Seconds from ``started`` until ``status --grid`` says converged, and the number of polls."""
        polls = 0
        while time.monotonic() - started < deadline_s:
            polls += 1
            done, proc = self.converged(glob)
            if done:
                return time.monotonic() - started, polls
            time.sleep(poll)
        raise RuntimeError(f"{glob}: not converged after {deadline_s}s:\n{proc.stdout[-2000:]}")

    def sync(self, glob):
        proc = self.cli("sync", "--target", glob, "--retries", "20", "--retry-wait", "1", "--timeout", "600")
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout

    def bare(self, ids):
        cmd = [SALT, "-c", self.rig.config_dir, "--out=json", "--static", "--timeout=600", "--log-level=quiet",
               "-L", ",".join(ids), "state.highstate"]
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900,
                              check=False)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return ""

    def restore(self, glob):
        self.opt("enable")
        self.sync(glob)
        self.wait_converged(glob, time.monotonic(), poll=1)
        self.rig.wait_idle()

    def with_command(self, glob, n, apply):
        """(a): opt-out, then ``apply()``; seconds until converged (sync says so
        itself as it ends: ``Convergence: converged N/N``; after a bare salt,
        ``status --grid`` is asked) and the command's own wall time."""
        started = time.monotonic()
        self.opt("disable")
        with common.Timer() as tmr:
            out = apply()
        if f"Convergence: converged {n}/{n}" in out:
            effect = time.monotonic() - started
        else:
            effect, _polls = self.wait_converged(glob, started, poll=1)
        self.restore(glob)
        return {"effect": effect, "command": tmr.elapsed}

    def with_schedule(self, glob, ids):
        """(b): the short resync on ``ids``, then the opt-out alone."""
        self.fast_resync(ids)
        self.sync(glob)  # the short schedule is itself a library artefact
        self.rig.wait_idle()
        started = time.monotonic()
        self.opt("disable")
        effect, polls = self.wait_converged(glob, started)
        self.fast_resync([])
        self.restore(glob)
        return {"effect": effect, "polls": polls}

    def status_cost(self, glob, runs=3):
        walls = []
        for _ in range(runs):
            with common.Timer() as tmr:
                done, proc = self.converged(glob)
            assert done, proc.stdout[-2000:]
            walls.append(tmr.elapsed)
        return common.median(walls)


def setup_manager(rig, work):
    """The short resync SLS of (b), and the manager's minion configuration
    beside the master's (as on a Security Onion manager's /etc/salt): the
    command line keeps the consent trail where the manager's highstate does,
    under its render root, never in this host's /opt."""
    (work / "local-pillar" / "bench_fast.sls").write_text(yaml.safe_dump(FAST_RESYNC))
    manager = {"so_telemetry_root": str(work / "render" / "bench-m1"),
               "grains": {"role": "so-manager", "os": "OEL", "osmajorrelease": 9, "cpuarch": "x86_64"}}
    (pathlib.Path(rig.config_dir) / "minion").write_text(yaml.safe_dump(manager))


def plots(results, sizes, effect_sizes):
    """The sync scaling and the time to effect, as PNG files in bench/plots/."""
    import matplotlib  # pylint: disable=import-outside-toplevel

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    PLOTS.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot(sizes, [results["a"][n]["sync"]["command"] for n in sizes], "o-", label="so-telemetry sync")
    ax.plot(sizes, [results["a"][n]["bare"]["command"] for n in sizes], "s--", label="salt -L … state.highstate")
    ax.set(xlabel="minions (N)", ylabel="wall seconds", title="Synchronize Grid: sync beside bare salt", xticks=sizes)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(PLOTS / "sync-scaling.png", dpi=110)
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot(sizes, [results["a"][n]["sync"]["effect"] for n in sizes], "o-", label="with so-telemetry sync")
    ax.plot(sizes, [results["a"][n]["bare"]["effect"] for n in sizes], "s--", label="with bare salt highstate")
    ax.plot(effect_sizes, [results["b"][n]["effect"] for n in effect_sizes], "^-", label="schedule only")
    ax.axhline(INTERVAL + SPLAY, color="grey", linestyle=":", label=f"interval + splay ({INTERVAL + SPLAY} s)")
    ax.set(xlabel="minions (N)", ylabel="seconds until converged N/N",
           title="Opt-out written → every minion converged", xticks=sizes)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(PLOTS / "time-to-effect.png", dpi=110)
    return [PLOTS / "sync-scaling.png", PLOTS / "time-to-effect.png"]


def measure(eff, ids_all, sizes, effect_sizes, runs):
    results = {"a": {}, "b": {}, "status": {}}
    for n in sizes:
        glob, ids = glob_for(n, len(ids_all)), ids_all[:n]
        samples = {"sync": [], "bare": []}
        for rnd in range(runs):
            order = ("sync", "bare") if rnd % 2 == 0 else ("bare", "sync")
            for kind in order:
                apply = (lambda g=glob: eff.sync(g)) if kind == "sync" else (lambda i=ids: eff.bare(i))
                samples[kind].append(eff.with_command(glob, n, apply))
        results["a"][n] = {k: {"effect": common.median([s["effect"] for s in v]),
                               "command": common.median([s["command"] for s in v]), "samples": v}
                           for k, v in samples.items()}
        results["status"][n] = eff.status_cost(glob)
        a = results["a"][n]
        print(f"  N={n}: sync {a['sync']['effect']:.1f} s to converged (command {a['sync']['command']:.1f} s), "
              f"bare salt {a['bare']['effect']:.1f} s (command {a['bare']['command']:.1f} s); "
              f"status --grid {results['status'][n]:.2f} s", flush=True)
    for n in effect_sizes:
        glob, ids = glob_for(n, len(ids_all)), ids_all[:n]
        results["b"][n] = eff.with_schedule(glob, ids)
        print(f"  N={n}: schedule only {results['b'][n]['effect']:.1f} s to converged "
              f"(interval + splay {INTERVAL + SPLAY} s)", flush=True)
    return results


def rows_of(results, sizes, effect_sizes):
    rows = []
    for n in sizes:
        a = results["a"][n]
        rows.append(common.row(f"6a. time to effect with sync / with bare salt highstate, N={n}",
                               a["bare"]["effect"], a["sync"]["effect"], "report", None, unit="s",
                               note=f"commands alone: sync {a['sync']['command']:.2f} s, bare "
                                    f"{a['bare']['command']:.2f} s"))
    for n in effect_sizes:
        b = results["b"][n]
        rows.append(common.row(f"6b. time to effect, schedule only / (interval + splay), N={n}",
                               INTERVAL + SPLAY, b["effect"], "report", None, unit="s",
                               note=f"status --grid polled every {POLL:g} s ({b['polls']} polls)"))
    for n in sizes:
        rows.append(common.row(f"6c. status --grid on a converged grid, N={n}", None, results["status"][n],
                               "report", None, unit="s"))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_EFFECT_RUNS", "1")))
    parser.add_argument("--sizes", default="1,2,4,8,16")
    parser.add_argument("--effect-sizes", default="1,4,8,16")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    effect_sizes = [int(s) for s in args.effect_sizes.split(",")] if args.effect_sizes != "none" else []
    count = max(sizes + effect_sizes)
    logging.basicConfig(level=logging.CRITICAL)
    work = common.tmpdir("effect")
    rig = None
    try:
        lib_root = export_library(work / "export")
        rig = GridRig(work, lib_root, count, shipped_settings())
        setup_manager(rig, work)
        rig.start()
        eff = Effect(rig, work / "local-pillar")
        print(f"== time to effect: 1 master + {count} minions, under {work}", flush=True)
        eff.sync("bench-m*")  # renders everything once
        eff.wait_converged("bench-m*", time.monotonic(), poll=1)
        rig.wait_idle()
        results = measure(eff, rig.ids, sizes, effect_sizes, args.runs)
        pngs = plots(results, sizes, effect_sizes)
        common.write_result("effect", {"benchmark": "effect", "sizes": sizes, "effect_sizes": effect_sizes,
                                       "interval": INTERVAL, "splay": SPLAY, "poll": POLL, "results": results,
                                       "plots": [str(p.relative_to(common.REPO)) for p in pngs],
                                       "rows": rows_of(results, sizes, effect_sizes)})
    finally:
        if rig is not None:
            rig.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
