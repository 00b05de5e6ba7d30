"""Benchmark 5: the engine's per-call cost, in process, before and after a change.

"after" is this checkout's execution module (``_modules/telemetry.py`` over
``so_telemetry_core``); "before" is the execution module of a git revision
(``--before``, default the last commit before the core split), loaded the
same way: by path, with the loader dunders injected by hand (``__grains__``,
``__pillar__``, ``__opts__``, ``__context__``, and ``__salt__`` with a
``cp.get_file_str`` reading the formula from this checkout, as a master's file
server would). A manager (so-manager, Oracle Linux 9, x86_64) with the shipped
default pillar plus all five query fields.

Measured per call (µs, median of ``--runs`` timeit repeats, each auto-ranged
to >= 0.2 s): ``settings()``, ``query_params()``, ``report()``,
``audit()``, and the three together; baseline: a trivial Python call.
``__context__`` keeps the parsed defaults between calls, as within one
salt-call run; the cold cost (a fresh ``__context__``) is reported beside it.
The ratio after / before is the change's cost (< 1: faster).

    .venv/bin/python bench/bench_engine.py [--runs N] [--before REV]
"""

import argparse
import importlib.util
import pathlib
import statistics
import subprocess
import sys
import tempfile
import timeit

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402  pylint: disable=wrong-import-position

GRAINS = {"role": "so-manager", "os": "OEL", "osmajorrelease": 9, "cpuarch": "x86_64", "id": "so-bench"}
PILLAR = {"global": {"soversion": "2.4.190", "features": ["fips", "luks"], "license_id": "ABC-123"}}
BEFORE = "2e98f87"  # the last commit with the 1,900-line execution module
MIN_TIME = 0.2


def formula_file(url):
    return (common.REPO / "salt" / url[len("salt://"):]).read_text()


def load_module(path, name, context, workdir):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.__grains__ = dict(GRAINS)
    module.__pillar__ = dict(PILLAR)
    module.__opts__ = {"so_telemetry_root": str(workdir), "conf_file": str(workdir / "minion")}
    module.__context__ = context
    module.__salt__ = {"cp.get_file_str": formula_file, "schedule.list": lambda **_kw: {}}
    if hasattr(module, "__virtual__"):
        assert module.__virtual__() == "telemetry", module.__virtual__()
    return module


def per_call_us(func, runs):
    """Median per-call time in µs over ``runs`` auto-ranged repeats."""
    timer = timeit.Timer(func)
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= MIN_TIME:
            break
        number *= 2 if elapsed > MIN_TIME / 10 else 10
    samples = [timer.timeit(number) / number * 1e6 for _ in range(runs)]
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "loops": number, "runs": runs, "values": samples}


def cases(mod):
    def cold():
        mod.__context__ = {}
        return mod.report()

    return {
        "settings()": mod.settings,
        "query_params()": mod.query_params,
        "report()": mod.report,
        "audit()": mod.audit,
        "settings()+query_params()+report()": lambda: (mod.settings(), mod.query_params(), mod.report()),
        "report() cold (fresh __context__)": cold,
    }


def comparable(report):
    """A report without what came after the "before" revision: the consent
    trail (``consent``, each channel's ``since``) and the SOC ``change``
    wording (opt-out at the next page load)."""
    report = {k: v for k, v in report.items() if k != "consent"}
    for channel, value in report.items():
        if isinstance(value, dict):
            report[channel] = {k: v for k, v in value.items() if k != "since" and (channel, k) != ("soc", "change")}
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=max(common.RUNS, 7))
    parser.add_argument("--before", default=BEFORE, help=f"git revision of the 'before' module (default {BEFORE})")
    args = parser.parse_args(argv)

    work = pathlib.Path(tempfile.mkdtemp(prefix="sotb-engine-"))
    old_src = subprocess.run(["git", "-C", str(common.REPO), "show", f"{args.before}:_modules/telemetry.py"],
                             capture_output=True, text=True, check=True).stdout
    (work / "before.py").write_text(old_src)
    mods = {
        "before": load_module(work / "before.py", "telemetry_before", {}, work),
        "after": load_module(common.REPO / "_modules" / "telemetry.py", "telemetry_after", {}, work),
    }
    for name, mod in mods.items():  # sanity: both answer the same, with all five fields
        assert set(mod.query_params()) == {"version", "os", "arch", "features", "license"}, name
    assert comparable(mods["before"].report()) == comparable(mods["after"].report()), "the two engines disagree"

    results = {"trivial function call": per_call_us(lambda: None, args.runs)}
    print(f"  {'trivial function call':40s} {results['trivial function call']['median']:10.2f} µs/call")
    for side, mod in mods.items():
        for name, func in cases(mod).items():
            key = f"{name} [{side}]"
            results[key] = per_call_us(func, args.runs)
            mod.__context__ = {}
            mod.report()  # warm the context again after a cold case
            print(f"  {key:48s} {results[key]['median']:10.2f} µs/call", flush=True)
    rows = []
    for name in cases(mods["after"]):
        before, after = results[f"{name} [before]"]["median"], results[f"{name} [after]"]["median"]
        rows.append(common.row(f"5. {name} per call, after / before ({args.before})", before, after, "<= 1x",
                               after <= before, unit="us", note=f"before {before:,.0f} µs, after {after:,.0f} µs"))
    common.write_result("engine", {"benchmark": "engine", "before": args.before, "per_call_us": results,
                                   "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
