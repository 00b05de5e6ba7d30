"""Benchmark 2: idempotence of the highstate.

Each run: a fresh sandbox, ``salt-call --local state.highstate`` (the
baseline: it renders everything), a snapshot of every rendered file and of
``minion.d/_schedule.conf`` (bytes, mode, mtime_ns), a second highstate, a
second snapshot. Reported: states with changes in the second run (target 0)
and files whose mtime (or content, or mode) changed (target 0).

Runs: ``--runs`` times as a manager (so-manager), plus once as a node
(so-sensor) and once airgapped (grain airgap true); the reported value is the
worst run. The library is served from an export of the checkout (see
bench_highstate.py; the result does not depend on the layout, only the speed).

    .venv/bin/python bench/bench_idempotence.py [--runs N]
"""

import argparse
import pathlib
import shutil
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402  pylint: disable=wrong-import-position
from bench_highstate import Layout, export_library  # noqa: E402  pylint: disable=wrong-import-position


def one_run(layout, grains):
    box = layout.sandbox()
    if grains:
        box.set_grains(**grains)
    first = box.salt_call("state.highstate")
    snap1 = box.snapshot()
    time.sleep(0.05)  # any rewrite now gets a visibly different mtime_ns
    with common.Timer() as tmr:
        second = box.salt_call("state.highstate")
    snap2 = box.snapshot()
    changed_states = sorted(v.get("__id__", k) for k, v in second.items() if v.get("changes"))
    failed = sorted(v.get("__id__", k) for k, v in second.items() if v.get("result") is False)
    touched, rewritten, remode, appeared, vanished = [], [], [], [], []
    for path in sorted(set(snap1) | set(snap2)):
        if path not in snap1:
            appeared.append(path)
            continue
        if path not in snap2:
            vanished.append(path)
            continue
        (b1, m1, t1), (b2, m2, t2) = snap1[path], snap2[path]
        if t1 != t2:
            touched.append(path)
        if b1 != b2:
            rewritten.append(path)
        if m1 != m2:
            remode.append(path)
    root = str(box.base)
    rel = lambda paths: [p.replace(root, "<sandbox>") for p in paths]  # noqa: E731
    return {
        "grains": grains,
        "first_run_states": len(first),
        "first_run_changed": sum(1 for v in first.values() if v.get("changes")),
        "files_watched": rel(sorted(snap1)),
        "second_run_s": tmr.elapsed,
        "second_run_changed_states": changed_states,
        "second_run_failed_states": failed,
        "mtime_changed": rel(touched),
        "content_changed": rel(rewritten),
        "mode_changed": rel(remode),
        "appeared": rel(appeared),
        "vanished": rel(vanished),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=common.RUNS)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    work = common.tmpdir("idem")
    try:
        empty = common.empty_root(work)
        layout = Layout("export", export_library(work / "export"), work, empty)
        cases = [("manager", {})] * args.runs + [
            ("sensor", {"role": "so-sensor"}),
            ("airgap", {"airgap": True}),
        ]
        runs = []
        for name, grains in cases:
            res = one_run(layout, grains)
            res["case"] = name
            runs.append(res)
            print(f"  {name}: first run {res['first_run_changed']}/{res['first_run_states']} states changed, "
                  f"{len(res['files_watched'])} files; second run: {len(res['second_run_changed_states'])} "
                  f"changed {res['second_run_changed_states']}, mtime changed {len(res['mtime_changed'])} "
                  f"{res['mtime_changed']}, content changed {len(res['content_changed'])}", flush=True)
        worst_states = max(len(r["second_run_changed_states"]) for r in runs)
        worst_mtime = max(len(r["mtime_changed"]) + len(r["appeared"]) + len(r["vanished"]) for r in runs)
        first_changed = common.median([r["first_run_changed"] for r in runs])
        watched = common.median([len(r["files_watched"]) for r in runs])
        rows = [
            common.row("2. second highstate: states with changes (worst run)", first_changed, worst_states,
                       "0", worst_states == 0, unit="states",
                       note="baseline = states with changes in the first highstate (median)"),
            common.row("2. second highstate: files with a new mtime (worst run)", watched, worst_mtime,
                       "0", worst_mtime == 0, unit="files",
                       note="baseline = files watched: rendered files + minion.d/_schedule.conf"),
        ]
        for r in rows:
            r["ratio"] = None  # counts against a target of 0: a ratio means nothing here
        common.write_result("idempotence", {"benchmark": "idempotence", "runs": runs, "rows": rows})
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
