"""Benchmark 1: the cost of a masterless highstate of the library.

Measured: ``salt-call --local state.highstate`` in a fresh sandbox each run
(fresh cache dir, so every SLS really renders and every file is written).
Baseline: ``salt-call --local state.apply bench_empty`` (one ``test.nop``)
with the very same minion config, also in a fresh sandbox each run. The two
alternate, after one discarded warm-up pair. Target: ratio <= 1.5.

Two file-root layouts are measured:

* ``checkout``: what ``tests/conftest.py``'s ``Sandbox`` and ``README.rst``
  use, ``file_roots: [<repo>/salt, <repo>]`` on this checkout (which holds
  ``.venv``, ``.git``, ``.tmp`` ...: Salt's file server lists all of it);
* ``export``: the same library exported alone (``git ls-files`` copied to
  /tmp), i.e. what an installed ``/opt/so-telemetry`` tree looks like.

When the target is missed, one run of each side is profiled with cProfile
and the main cost centres are written to the JSON (and ``*_profile.txt``).

    .venv/bin/python bench/bench_highstate.py [--runs N] [--no-profile]
"""

import argparse
import io
import json
import os
import pathlib
import pstats
import shutil
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402  pylint: disable=wrong-import-position

from tests.conftest import SALT_CALL, Sandbox  # noqa: E402  pylint: disable=wrong-import-position

TARGET = 1.5
NOP_TOP = "bench_top"
TARGET_SHARE = 1.10

# cost centres looked up in the profile (pstats regex -> label)
CENTRES = [
    (r"salt/state.py:\d+\(load_dynamic\)", "highstate's saltutil.sync_all (autoload_dynamic_modules)"),
    (r"salt/fileserver/roots.py:\d+\(_file_lists\)", "file server: list every file under the file roots"),
    (r"salt/fileclient.py:\d+\(cache_dir\)", "file client cache_dir (sync_* of _modules, _states ...)"),
    (r"salt/utils/data.py:\d+\(decode\)", "salt.utils.data.decode (of file lists)"),
    (r"salt/state.py:\d+\(render_highstate\)", "render the SLS (top + includes + Jinja)"),
    (r"salt/state.py:\d+\(call_high\)", "execute the states"),
    (r"salt/pillar/__init__.py:\d+\(compile_pillar\)", "compile pillar"),
    (r"salt/loader/lazy.py:\d+\(_inner_load\)", "loader: import Salt modules"),
    (r"salt/cli/caller.py:\d+\(__init__\)", "salt-call start-up (opts, grains, loader)"),
]


def export_library(dest):
    """Copy the tracked files of the checkout (the library alone) to ``dest``."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=common.REPO, capture_output=True, check=True
    ).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = common.REPO / rel
        if not src.is_file():
            continue
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, out)
    return dest


def export_revision(rev, dest):
    """The tracked files of git revision ``rev``, in ``dest``."""
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev], cwd=common.REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def count_files(paths):
    total = 0
    for path in paths:
        for _dirpath, _dirs, files in os.walk(path):
            total += len(files)
    return total


class Layout:
    def __init__(self, name, lib_root, work, empty):
        self.name = name
        self.lib_root = pathlib.Path(lib_root)
        self.work = work
        self.empty = empty
        self.count = 0
        self.file_roots = [str(self.lib_root / "salt"), str(self.lib_root), str(empty)]
        self.pillar_root = self.lib_root / "pillar"

    def sandbox(self, **extra):
        self.count += 1
        box = Sandbox(self.work / f"{self.name}-{self.count}")
        box.write_config(
            file_roots={"base": self.file_roots},
            pillar_roots={"base": [str(box.pillar_dir), str(self.pillar_root)]},
            **extra,
        )
        return box


def run_highstate(box):
    with common.Timer() as tmr:
        ret = box.salt_call("state.highstate")
    durations = {val.get("__id__", key): val.get("duration") for key, val in ret.items()}
    failed = [key for key, val in ret.items() if val.get("result") is False]
    return tmr.elapsed, durations, failed


def run_baseline(box):
    with common.Timer() as tmr:
        ret = box.salt_call("state.apply", common.EMPTY_SLS_NAME)
    assert all(v.get("result") is True for v in ret.values()), ret
    return tmr.elapsed


def run_nop_highstate(box):
    """Supplementary: a highstate whose top holds only the nop SLS (the
    highstate machinery, e.g. its saltutil.sync_all, without the library)."""
    with common.Timer() as tmr:
        ret = box.salt_call("state.highstate")
    assert ret and all(v.get("result") is True for v in ret.values()), ret
    return tmr.elapsed


def measure_all(layouts, runs):
    """``{name: result}`` of every layout, the layouts interleaved run by run
    (so a drift of the machine's load hits them all alike)."""
    samples = {name: {"base": [], "hs": [], "nop": [], "ms": [], "per_state": {}, "failed": []} for name in layouts}
    for i in range(runs + 1):  # the first round is a warm-up
        for name, layout in layouts.items():
            tb = run_baseline(layout.sandbox())
            th, durations, failed = run_highstate(layout.sandbox())
            tn = run_nop_highstate(layout.sandbox(state_top=f"{NOP_TOP}.sls"))
            tag = "warm-up" if i == 0 else f"run {i}"
            print(f"  [{name}] {tag}: baseline {tb:.2f} s, highstate {th:.2f} s (states "
                  f"{sum(d or 0 for d in durations.values()):.0f} ms), nop-top highstate {tn:.2f} s", flush=True)
            if i == 0:
                continue
            got = samples[name]
            got["base"].append(tb)
            got["hs"].append(th)
            got["nop"].append(tn)
            got["ms"].append(sum(d or 0 for d in durations.values()))
            for sid, dur in durations.items():
                got["per_state"].setdefault(sid, []).append(dur)
            got["failed"].extend(failed)
    return {name: summarise(layouts[name], got) for name, got in samples.items()}


def summarise(layout, got):
    base_times, hs_times, nop_times, state_ms = got["base"], got["hs"], got["nop"], got["ms"]
    per_state, failures = got["per_state"], got["failed"]
    return {
        "file_roots": layout.file_roots,
        "files_under_file_roots": count_files(layout.file_roots[1:2]),
        "baseline_s": common.summary(base_times),
        "highstate_s": common.summary(hs_times),
        "nop_top_highstate_s": common.summary(nop_times),
        "states_total_ms": common.summary(state_ms),
        "per_state_ms_median": {sid: common.median(v) for sid, v in per_state.items()},
        "failed_states": sorted(set(failures)),
    }


def profile(layout, label, args, top=35):
    """cProfile one salt-call in a fresh sandbox: cost centres and the top list."""
    box = layout.sandbox()
    prof = layout.work / f"{layout.name}-{label}.prof"
    cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), SALT_CALL, "--config-dir", str(box.config_dir),
           "--local", "--out=json", "--log-level=quiet", *args]
    subprocess.run(cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, timeout=600)
    stats = pstats.Stats(str(prof))
    total = stats.total_tt
    centres = {}
    for pattern, desc in CENTRES:
        import re  # pylint: disable=import-outside-toplevel

        best = 0.0
        for func, (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
            name = f"{func[0]}:{func[1]}({func[2]})"
            if re.search(pattern, name):
                best = max(best, ct)
        centres[desc] = {"cum_s": round(best, 3), "share": round(best / total, 3) if total else None}
    buf = io.StringIO()
    pstats.Stats(str(prof), stream=buf).sort_stats("cumulative").print_stats(top)
    return {"profiled_total_s": round(total, 3), "centres": centres, "top": buf.getvalue()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=common.RUNS)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--layouts", default="checkout,export")
    parser.add_argument("--keep", action="store_true", help="keep the temporary sandboxes")
    parser.add_argument("--before", metavar="REV", default=None,
                        help="also an export of git revision REV (layout export@REV), measured in the same run, "
                             "for a before/after comparison of the library's share")
    args = parser.parse_args(argv)

    work = common.tmpdir("highstate")
    try:
        empty = common.empty_root(work)
        (empty / f"{NOP_TOP}.sls").write_text(f"base:\n  '*':\n    - {common.EMPTY_SLS_NAME}\n")
        layouts = {}
        wanted = args.layouts.split(",")
        if "checkout" in wanted:
            layouts["checkout"] = Layout("checkout", common.REPO, work, empty)
        if "export" in wanted:
            layouts["export"] = Layout("export", export_library(work / "export"), work, empty)
        if args.before:
            # the synced modules of the served tree win over the pip-installed (entry point) ones
            layouts[f"export@{args.before}"] = Layout("before", export_revision(args.before, work / "before"),
                                                      work, empty)
        results, rows = {}, []
        print(f"== highstate vs state.apply {common.EMPTY_SLS_NAME} ({', '.join(layouts)} file roots, "
              f"interleaved, {args.runs} runs each, fresh sandbox per run)", flush=True)
        measured = measure_all(layouts, args.runs)
        for name, layout in layouts.items():
            res = measured[name]
            base, hs = res["baseline_s"]["median"], res["highstate_s"]["median"]
            rat = common.ratio(hs, base)
            res["ratio"] = rat
            nop = res["nop_top_highstate_s"]["median"]
            note = (f"{res['files_under_file_roots']} files under the repo file root; "
                    f"states themselves {res['states_total_ms']['median']:.0f} ms; "
                    f"a highstate of a nop-only top takes {nop:.2f} s ({nop / base:.2f}x the baseline)")
            if res["failed_states"]:
                note += f"; FAILED states: {res['failed_states']}"
            rows.append(common.row(f"1. highstate / empty SLS ({name} file roots)", base, hs,
                                   f"<= {TARGET}x", rat <= TARGET, unit="s", note=note))
            # The library's own share: the same highstate machinery (top
            # file, sync of dynamic modules, pillar) with only a nop in the top.
            share = common.ratio(hs, nop)
            res["library_share"] = share
            rows.append(common.row(f"1. library share: highstate / nop-only-top highstate ({name} file roots)",
                                   nop, hs, f"<= {TARGET_SHARE}x", share <= TARGET_SHARE, unit="s",
                                   note="what the library adds to a highstate: its SLS, its module, its states"))
            if rat > TARGET and not args.no_profile:
                print(f"  [{name}] ratio {rat:.2f} > {TARGET}: profiling one run of each side", flush=True)
                res["profile"] = {
                    "highstate": profile(layout, "highstate", ["state.highstate"]),
                    "baseline": profile(layout, "baseline", ["state.apply", common.EMPTY_SLS_NAME]),
                }
                txt = common.OUT / f"highstate_profile_{name}.txt"
                common.OUT.mkdir(parents=True, exist_ok=True)
                with txt.open("w") as fh:
                    for side, prof in res["profile"].items():
                        fh.write(f"===== {side} ({name} file roots)\n")
                        fh.write(json.dumps(prof["centres"], indent=1) + "\n")
                        fh.write(prof["top"] + "\n")
                        prof.pop("top")
                for side, prof in res["profile"].items():
                    print(f"  [{name}] {side}: profiled {prof['profiled_total_s']} s")
                    for desc, val in prof["centres"].items():
                        if val["cum_s"]:
                            print(f"      {val['cum_s']:7.3f} s ({val['share']:.0%})  {desc}")
            results[name] = res
        common.write_result("highstate", {"benchmark": "highstate", "target_ratio": TARGET,
                                          "layouts": results, "rows": rows})
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
