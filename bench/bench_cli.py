"""The command line's own cost: a call that reads the pillar (``config search``,
``disable`` + ``enable``) before and after the CLI asked Salt's compiler for
the pillar instead of reading YAML itself, and ``install --security-onion``
(+ ``uninstall``) on the test stand-in of Security Onion's tree.

Every measure is a median of ``BENCH_RUNS`` runs (default 5), interleaved
with its baseline: ``so-telemetry --help`` (Python, the CLI's imports,
argparse; no work) of the same revision. ``--before REV`` (default
``28208ac``, the last release before the change) runs an export of that
revision's CLI in the same run, on the same sandbox.

    .venv/bin/python bench/bench_cli.py [--before REV]

Results: a table on stdout and ``bench/out/bench_cli.json``."""

import argparse
import shutil
import subprocess
import sys
import time

import common  # noqa: E402  (bench/ is on sys.path when run as a script)

sys.path.insert(0, str(common.REPO))

from tests.conftest import Sandbox  # noqa: E402
from tests.security_onion import build  # noqa: E402

RUNNER = (
    "import sys; sys.meta_path = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]; "
    "sys.path[:0] = sys.argv[1:3]; from so_telemetry.cli.main import main; sys.exit(main(sys.argv[3:]))"
)


def cli(tree, *args, env=None, check=True):
    """``so-telemetry`` of the source ``tree`` (this checkout or an export)."""
    cmd = [sys.executable, "-c", RUNNER, str(tree), str(tree / "_utils"), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False)
    if check and proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(args)}: exit {proc.returncode}\n{proc.stderr}")
    return proc


def timed(func):
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def measure(tree, work, label):
    """``{measure: [seconds]}`` for one source tree."""
    box = Sandbox(work / f"sandbox-{label}")
    env = box_env(box)
    out = {"baseline --help": [], "config search": [], "disable+enable soc": []}
    for _ in range(common.RUNS):
        out["baseline --help"].append(timed(lambda: cli(tree, "--help", env=env)))
        out["config search"].append(timed(lambda: cli(tree, "config", "search", "SOC Telemetry", env=env)))
        out["disable+enable soc"].append(timed(lambda: (cli(tree, "disable", "soc", env=env, check=False),
                                                        cli(tree, "enable", "soc", env=env, check=False))))
    return out


def box_env(box):
    import os  # pylint: disable=import-outside-toplevel

    env = {k: v for k, v in os.environ.items() if not k.startswith("SO_TELEMETRY_")}
    env.update(SO_TELEMETRY_CONFIG_DIR=str(box.config_dir), SO_TELEMETRY_LOCAL="1",
               SO_TELEMETRY_PILLAR_DIR=str(box.pillar_dir))
    return env


def install_times(work):
    """Seconds of ``install --security-onion`` and ``uninstall`` on fresh stand-in trees."""
    out = {"baseline --help": [], "install --security-onion": [], "uninstall --security-onion": []}
    for run in range(common.RUNS):
        tree = build(work / f"so-{run}" / "saltstack", {"so_manager": "so-manager"}).saltstack
        config = work / f"so-{run}" / "etc-salt"
        config.mkdir()
        roots = {"file_roots": {"base": [f"{tree}/local/salt", f"{tree}/default/salt"]},
                 "pillar_roots": {"base": [f"{tree}/local/pillar", f"{tree}/default/pillar"]}}
        import yaml  # pylint: disable=import-outside-toplevel

        (config / "master").write_text(yaml.safe_dump(roots))
        args = ["--security-onion", "--saltstack", str(tree), "--salt-config", str(config)]
        out["baseline --help"].append(timed(lambda: cli(common.REPO, "--help")))
        out["install --security-onion"].append(timed(lambda: cli(common.REPO, "install", *args)))
        out["uninstall --security-onion"].append(timed(lambda: cli(common.REPO, "uninstall", *args)))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", metavar="REV", default="28208ac")
    args = parser.parse_args()
    work = common.tmpdir("cli")
    try:
        before = work / "before"
        before.mkdir()
        archive = subprocess.run(["git", "archive", args.before], cwd=common.REPO, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        results = {f"before ({args.before})": measure(before, work, "before"),
                   "after": measure(common.REPO, work, "after"),
                   "install": install_times(work)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for side, measures in results.items():
        base = common.median(measures["baseline --help"])
        for name, values in measures.items():
            if name.startswith("baseline"):
                continue
            med = common.median(values)
            rows.append(f"| {side} | {name} | {med:.2f} s | {base:.2f} s | {med / base:.1f}x |")
    print("| revision | command | median | baseline (--help) | ratio |\n|---|---|---|---|---|")
    print("\n".join(rows))
    common.write_result("bench_cli", {"runs": common.RUNS, "machine": common.machine(), "results": results})


if __name__ == "__main__":
    main()
