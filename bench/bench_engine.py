"""Benchmark 5: the engine's per-call cost, in process.

``_modules/telemetry.py`` is loaded the way tests/unit/conftest.py does
(``importlib.util.spec_from_file_location`` + the loader dunders injected by
hand: ``__grains__``, ``__pillar__``, ``__opts__``, ``__context__``,
``__salt__ = {}``), on a manager (so-manager, Oracle Linux 9, x86_64) with the
shipped default pillar plus all five query fields.

Measured per call (µs, median of ``--runs`` timeit repeats, each repeat
auto-ranged to >= 0.2 s): ``settings()``, ``query_params()``, ``report()``.
Baselines, same invocation: a trivial Python function call, and
``config('soc')`` alone (the unit every public function is built from).
``__context__`` keeps the parsed defaults.yaml between calls, as it does
within one salt-call run; the cold cost (a fresh ``__context__``: every
defaults.yaml parsed again) is reported beside it.

    .venv/bin/python bench/bench_engine.py [--runs N]
"""

import argparse
import importlib.util
import pathlib
import statistics
import sys
import timeit

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402  pylint: disable=wrong-import-position

import yaml  # noqa: E402  pylint: disable=wrong-import-position

ENGINE = common.REPO / "_modules" / "telemetry.py"
GRAINS = {"role": "so-manager", "os": "OEL", "osmajorrelease": 9, "cpuarch": "x86_64", "id": "so-bench"}
MIN_TIME = 0.2


def load_engine(pillar, grains, context):
    spec = importlib.util.spec_from_file_location("telemetry_bench", ENGINE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.__grains__ = grains
    module.__pillar__ = pillar
    module.__opts__ = {"so_telemetry_root": ""}
    module.__context__ = context
    module.__salt__ = {}
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


def trivial():
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=max(common.RUNS, 7))
    args = parser.parse_args(argv)

    pillar = yaml.safe_load((common.REPO / "pillar" / "telemetry" / "init.sls").read_text())
    pillar["global"].update({"soversion": "2.4.190", "features": ["fips", "luks"], "license_id": "ABC-123"})
    context = {}
    eng = load_engine(pillar, dict(GRAINS), context)
    # sanity: the engine answers, with all five fields
    assert set(eng.query_params()) == {"version", "os", "arch", "features", "license"}, eng.query_params()

    cases = {
        "trivial function call": trivial,
        "config('soc')": lambda: eng.config("soc"),
        "settings()": eng.settings,
        "query_params()": eng.query_params,
        "report()": eng.report,
        "settings()+query_params()+report()": lambda: (eng.settings(), eng.query_params(), eng.report()),
    }
    results = {}
    for name, func in cases.items():
        results[name] = per_call_us(func, args.runs)
        print(f"  {name:40s} {results[name]['median']:10.2f} µs/call", flush=True)

    def cold():
        eng.__context__ = {}
        return eng.report()

    results["report() cold (fresh __context__)"] = per_call_us(cold, args.runs)
    eng.__context__ = context
    print(f"  {'report() cold (fresh __context__)':40s} "
          f"{results['report() cold (fresh __context__)']['median']:10.2f} µs/call", flush=True)

    triv = results["trivial function call"]["median"]
    conf = results["config('soc')"]["median"]
    rows = []
    for name in ("config('soc')", "settings()", "query_params()", "report()",
                 "settings()+query_params()+report()", "report() cold (fresh __context__)"):
        med = results[name]["median"]
        base_name = "trivial function call" if name == "config('soc')" else "config('soc')"
        base = triv if name == "config('soc')" else conf
        row = common.row(f"5. {name} per call (vs {base_name})", base, med, "report", None, unit="us",
                         note=f"{med / triv:,.0f}x a trivial call")
        rows.append(row)
    common.write_result("engine", {"benchmark": "engine", "per_call_us": results, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
