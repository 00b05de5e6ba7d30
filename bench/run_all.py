"""Run every so-telemetry benchmark, then write the combined table.

Each benchmark runs as its own process (``.venv/bin/python bench/<script>``)
and writes ``bench/out/<name>.json``; this script collects the rows into
``bench/out/summary.json`` and ``bench/out/summary.md`` (machine included).
A benchmark never fails on timing; a crashed one is reported and the others
still run (exit 1 only if some benchmark crashed).

    .venv/bin/python bench/run_all.py [--only highstate,wire,...] [--runs N]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402  pylint: disable=wrong-import-position

# (result name, script, extra args)
BENCHMARKS = [
    ("engine", "bench_engine.py", []),
    ("wire", "bench_wire.py", []),
    ("idempotence", "bench_idempotence.py", []),
    ("highstate", "bench_highstate.py", []),
    # the SOC loader's re-check per page load, in headless chromium (~1-2 min)
    ("loader", "bench_loader.py", []),
    # Synchronize Grid at scale: 1 master + 16 minions, with the master settings
    # of docs/master.d/so-telemetry.conf, then with Salt's defaults (~17 min together)
    ("grid", "bench_grid.py", ["--settings", "shipped"]),
    ("grid_defaults", "bench_grid.py", ["--settings", "salt-defaults", "--batch-sizes", "none"]),
    # time to effect and its plots (bench/plots/), 1 master + 16 minions (~25 min)
    ("effect", "bench_effect.py", []),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="comma list of result names to run")
    parser.add_argument("--runs", type=int, help="runs per side (default 5; env BENCH_RUNS)")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    env = dict(os.environ)
    if args.runs:
        env["BENCH_RUNS"] = str(args.runs)
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    common.OUT.mkdir(parents=True, exist_ok=True)
    info = common.machine()
    print("machine: " + json.dumps(info), flush=True)
    crashed, timings = [], {}
    for name, script, extra in BENCHMARKS:
        if only and name not in only:
            continue
        print(f"\n######## {name} ({script})", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(common.REPO / "bench" / script), *extra], env=env,
                              cwd=common.REPO, check=False)
        timings[name] = round(time.perf_counter() - t0, 1)
        if proc.returncode != 0:
            crashed.append(name)
            print(f"!! {name} exited {proc.returncode}", flush=True)
    rows, parts = [], {}
    for name, _script, _extra in BENCHMARKS:
        path = common.OUT / f"{name}.json"
        if not path.exists() or (only and name not in only):
            continue
        data = json.loads(path.read_text())
        parts[name] = {"file": str(path.relative_to(common.REPO)), "skipped": data.get("skipped")}
        rows.extend(data.get("rows", []))
    summary = {"machine": info, "runs_per_side": int(env.get("BENCH_RUNS", common.RUNS)),
               "wall_s": timings, "crashed": crashed, "parts": parts, "rows": rows}
    (common.OUT / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    md = ["# so-telemetry benchmarks", "",
          f"Machine: {info['nproc']} CPU ({info['cpu']}), {info['memory_mib']} MiB, Python {info['python']}, "
          f"Salt {info['salt']}, pytest-salt-factories {info['pytest_salt_factories']}, "
          f"{info['dnf'] and 'dnf ' + info['dnf']}, "
          f"kernel {info['kernel']}, {info['date_utc']}.", "",
          common.table(rows), ""]
    md += [f"- {r['metric']}: {r['note']}" for r in rows if r.get("note")]
    md += ["", "Wall time per benchmark (s): " + ", ".join(f"{k} {v}" for k, v in timings.items())]
    (common.OUT / "summary.md").write_text("\n".join(md) + "\n")
    print("\n" + "\n".join(md))
    print(f"\n-> {common.OUT / 'summary.json'}, {common.OUT / 'summary.md'}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
