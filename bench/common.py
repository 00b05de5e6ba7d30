"""Shared helpers for the so-telemetry benchmarks.

* every benchmark measures a ratio against a baseline run in the same
  invocation (medians of ``RUNS`` runs, interleaved so drift hits both sides);
* temporary trees go under ``/tmp/sotb-*`` (never under the
  repository: the repository itself is a Salt file root, and every file put
  under it is listed by Salt's file server on each run and would skew the
  numbers); JSON results go to ``bench/out/`` (git-ignored);
* nothing here fails on timing: a missed target is reported, never raised.
"""

import contextlib
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

OUT = REPO / "bench" / "out"
BIN = pathlib.Path(sys.executable).parent
RUNS = int(os.environ.get("BENCH_RUNS", "5"))

# The baseline SLS: one test.nop (Salt answers an SLS with no state at all
# with retcode 1, which would make the baseline an error path).
EMPTY_SLS_NAME = "bench_empty"
EMPTY_SLS = "bench-nop:\n  test.nop: []\n"


def tool(name):
    path = BIN / name
    return str(path) if path.exists() else shutil.which(name)


def tmpdir(prefix):
    """A fresh directory under /tmp (see the module docstring for why not bench/out)."""
    return pathlib.Path(tempfile.mkdtemp(prefix=f"sotb-{prefix}-"))


def empty_root(base):
    """A tiny file root holding only the baseline SLS."""
    root = pathlib.Path(base) / "empty-root"
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{EMPTY_SLS_NAME}.sls").write_text(EMPTY_SLS)
    return root


def median(values):
    return statistics.median(values) if values else None


def summary(values):
    """{median, min, max, runs, values} of a list of numbers."""
    vals = list(values)
    return {
        "median": median(vals),
        "min": min(vals) if vals else None,
        "max": max(vals) if vals else None,
        "runs": len(vals),
        "values": vals,
    }


def ratio(measured, baseline):
    if measured is None or not baseline:
        return None
    return measured / baseline


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.perf_counter() - self.start


def _version(cmd):
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        return (proc.stdout or proc.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return None


def machine():
    """What the numbers were measured on, read now."""
    mem_kb = None
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = None
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        import salt.version  # pylint: disable=import-outside-toplevel

        salt_version = salt.version.__version__
    except ImportError:
        salt_version = None
    try:
        import importlib.metadata as md  # pylint: disable=import-outside-toplevel

        saltfactories_version = md.version("pytest-salt-factories")
    except Exception:  # pylint: disable=broad-except
        saltfactories_version = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_mib": mem_kb // 1024 if mem_kb else None,
        "loadavg_at_start": list(os.getloadavg()),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "salt": salt_version,
        "pytest_salt_factories": saltfactories_version,
        "dnf": _version(["dnf", "--version"]) if shutil.which("dnf") else None,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def row(metric, baseline, measured, target, met, unit="", note=""):
    """One line of the results table. ``baseline``/``measured`` are numbers
    (or None); ``target`` is text (e.g. "<= 1.5x"); ``met`` True/False/None."""
    numbers = isinstance(measured, (int, float)) and isinstance(baseline, (int, float))
    rat = ratio(measured, baseline) if numbers else None
    return {
        "metric": metric,
        "unit": unit,
        "baseline": baseline,
        "measured": measured,
        "ratio": rat,
        "target": target,
        "met": met,
        "note": note,
    }


def fmt(val, unit=""):
    if val is None:
        return "-"
    if isinstance(val, bool):
        return "yes" if val else "no"
    if isinstance(val, str):
        return val
    if unit == "s":
        return f"{val:.2f} s"
    if unit == "us":
        return f"{val:.2f} µs"
    if isinstance(val, float):
        val = int(val) if val.is_integer() else float(f"{val:.3g}")
    return f"{val}{(' ' + unit) if unit else ''}"


def table(rows):
    """Markdown table of result rows."""
    lines = [
        "| metric | baseline | measured | ratio | target | met? |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        rat = f"{r['ratio']:.2f}x" if r.get("ratio") is not None else "-"
        met = {True: "yes", False: "**no**", None: "n/a"}[r.get("met")]
        lines.append(
            f"| {r['metric']} | {r.get('baseline_text') or fmt(r['baseline'], r.get('unit', ''))} "
            f"| {r.get('measured_text') or fmt(r['measured'], r.get('unit', ''))} "
            f"| {rat} | {r['target']} | {met} |"
        )
    return "\n".join(lines)


def write_result(name, data):
    """Print the table and write ``bench/out/<name>.json``; return the path."""
    OUT.mkdir(parents=True, exist_ok=True)
    data = dict(data)
    data.setdefault("machine", machine())
    data.setdefault("runs_per_side", RUNS)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(data, indent=1, sort_keys=False, default=str) + "\n")
    print()
    print(table(data.get("rows", [])))
    for r in data.get("rows", []):
        if r.get("note"):
            print(f"  - {r['metric']}: {r['note']}")
    print(f"\n-> {path}")
    return path
