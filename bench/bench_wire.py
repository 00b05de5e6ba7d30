"""Benchmark 3: the wire cost of OS Updates Telemetry, with the real dnf.

The repository definition is rendered the real way (``salt-call --local
state.apply repo`` in a sandbox, role so-manager) with its upstream mirrors
pointed, through pillar, at two loopback HTTPS servers
(``tests/dnf/repo_server.py``) serving an empty createrepo_c repository.
Then the real ``dnf makecache`` (same command line as tests/dnf/conftest.py,
fresh cache each run) reads it, and the servers' request logs say what it sent.

Three renderings:

* ``off``: ``patch:os:enabled: false`` (the baseline: no query);
* ``default``: telemetry on with the shipped fields (version, os, arch);
* ``all``: all five fields (``features: [fips, luks]``, ``license_id``).

Reported: requests per ``makecache`` (on vs off; target equal) and the bytes
the query adds to each request line (len of the request line with the query
minus without, request by request; target <= 120), medians over ``--runs``
makecache runs of each rendering, interleaved. Nothing leaves 127.0.0.1.

    .venv/bin/python bench/bench_wire.py [--runs N]
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import urllib.parse

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402  pylint: disable=wrong-import-position

from tests.conftest import Sandbox  # noqa: E402  pylint: disable=wrong-import-position
from tests.dnf.repo_server import RepoServer, make_tls  # noqa: E402  pylint: disable=wrong-import-position

TARGET_BYTES = 120
REPO_FILE = "/etc/yum.repos.d/securityonion.repo"
SID = "so-telemetry-repo-telemetry-repo_managed"
DNF = shutil.which("dnf")
CREATEREPO = shutil.which("createrepo_c")

CASES = {
    "off": {"patch": {"os": {"enabled": False}}, "global": {"soversion": "2.4.190"}},
    "default": {"global": {"soversion": "2.4.190"}},
    "all": {"global": {"soversion": "2.4.190", "features": ["fips", "luks"], "license_id": "ABC-123"}},
}


def pillar_for(case, primary, alt):
    pillar = {
        "repo": {
            "upstream": {
                "mirrors": [
                    f"https://localhost:{primary.port}/file/so-repo/prod/2.4/{{os}}/{{release}}/",
                    f"https://localhost:{alt.port}/prod/2.4/{{os}}/{{release}}/",
                ],
                "gpgkey": f"https://localhost:{primary.port}/keys/securityonion.pub",
            }
        }
    }
    for key, val in CASES[case].items():
        pillar[key] = val
    return pillar


def request_line(req):
    # what the server received: "<METHOD> <path?query> HTTP/1.1"
    return f"{req['method']} {req['path']} HTTP/1.1"


def makecache(work, reposdir, tls, tag):
    work = pathlib.Path(work) / tag
    work.mkdir(parents=True)
    conf = work / "dnf.conf"
    conf.write_text("[main]\n")
    argv = [
        DNF, f"--config={conf}", f"--installroot={work / 'installroot'}", "--releasever=9",
        "--disablerepo=*", "--enablerepo=securityonion", f"--setopt=reposdir={reposdir}",
        f"--setopt=cachedir={work / 'cache'}", f"--setopt=sslcacert={tls['ca']}",
        "--setopt=timeout=5", "--setopt=retries=1", "-y", "-v", "makecache",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(LC_ALL="C.UTF-8", LANG="C.UTF-8")
    with common.Timer() as tmr:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                              env=env, check=False)
    if proc.returncode != 0 or "securityonion: using metadata from" not in proc.stdout:
        raise RuntimeError(f"dnf makecache failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    shutil.rmtree(work, ignore_errors=True)
    return tmr.elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=common.RUNS)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if not DNF or not CREATEREPO:
        print("bench_wire: needs Debian's dnf and createrepo-c (scripts/bootstrap.sh --system-packages "
              "installs them as root); skipped")
        common.write_result("wire", {"benchmark": "wire", "skipped": "dnf or createrepo_c missing", "rows": [
            common.row("3. dnf requests per makecache, telemetry on / off", None, None, "equal", None),
            common.row("3. request line: bytes the query adds", None, None, f"+<= {TARGET_BYTES} bytes", None),
        ]})
        return 0

    work = common.tmpdir("wire")
    servers = []
    try:
        repo_dir = work / "repo"
        repo_dir.mkdir()
        subprocess.run([CREATEREPO, "--quiet", str(repo_dir)], check=True, capture_output=True, timeout=60)
        tls = make_tls(work / "tls")
        primary = RepoServer(repo_dir, tls, "primary").start()
        alt = RepoServer(repo_dir, tls, "alt").start()
        servers = [primary, alt]

        reposdirs, queries = {}, {}
        for case in CASES:
            box = Sandbox(work / f"sandbox-{case}", pillar=pillar_for(case, primary, alt))
            ret = box.salt_call("state.apply", "so_telemetry.repo")
            state = next(v for v in ret.values() if v.get("__id__") == SID)
            assert state["result"] is True, state
            queries[case] = box.salt_call("telemetry.query_params")
            reposdirs[case] = box.path(REPO_FILE).parent
            print(f"  rendered {case}: query {queries[case] or '(none)'}", flush=True)

        per_case = {case: {"requests": [], "lines": [], "seconds": []} for case in CASES}
        for i in range(args.runs):
            for case in CASES:
                primary.clear()
                alt.clear()
                secs = makecache(work, reposdirs[case], tls, f"dnf-{case}-{i}")
                reqs = primary.requests + alt.requests
                assert not alt.requests, "the first mirror answered: the second is never asked"
                per_case[case]["requests"].append(len(reqs))
                per_case[case]["lines"].append([request_line(r) for r in reqs])
                per_case[case]["seconds"].append(secs)
            print(f"  run {i + 1}: requests " + ", ".join(
                f"{c} {per_case[c]['requests'][-1]}" for c in CASES), flush=True)

        # bytes added: each request of an `on` run against the same request of
        # the `off` run of the same round (same order: same files).
        added = {}
        for case in ("default", "all"):
            diffs = []
            for on_lines, off_lines in zip(per_case[case]["lines"], per_case["off"]["lines"]):
                for on, off in zip(on_lines, off_lines):
                    assert on.split("?", 1)[0] == off.split(" HTTP/", 1)[0], (on, off)
                    diffs.append(len(on.encode()) - len(off.encode()))
            qs = urllib.parse.urlencode(queries[case], quote_via=urllib.parse.quote, safe="")
            added[case] = {
                "per_request": common.summary(diffs),
                "query_string": qs,
                "expected_len": len("?" + qs),
            }
        results = {
            case: {
                "query": queries[case],
                "requests": common.summary(per_case[case]["requests"]),
                "makecache_s": common.summary(per_case[case]["seconds"]),
                "example_request_lines": per_case[case]["lines"][0],
            }
            for case in CASES
        }
        off_req = results["off"]["requests"]["median"]
        rows = []
        for case in ("default", "all"):
            on_req = results[case]["requests"]["median"]
            rows.append(common.row(
                f"3. dnf requests per makecache, telemetry on ({case} fields) / off", off_req, on_req,
                "equal", on_req == off_req, unit="requests",
                note=f"makecache {results[case]['makecache_s']['median']:.2f} s on vs "
                     f"{results['off']['makecache_s']['median']:.2f} s off"))
        for case in ("default", "all"):
            med = added[case]["per_request"]["median"]
            off_len = common.median([len(line) for lines in per_case["off"]["lines"] for line in lines])
            on_len = common.median([len(line) for lines in per_case[case]["lines"] for line in lines])
            row = common.row(
                f"3. request line: bytes the query adds ({case} fields)", off_len, on_len,
                f"+<= {TARGET_BYTES} bytes",
                med <= TARGET_BYTES and added[case]["per_request"]["max"] <= TARGET_BYTES, unit="bytes",
                note=f"'?{added[case]['query_string']}' (+{med:g} bytes median, "
                     f"+{added[case]['per_request']['max']} max per request)")
            row["measured_text"] = f"{on_len:g} bytes (+{med:g})"
            rows.append(row)
        common.write_result("wire", {"benchmark": "wire", "cases": results, "bytes_added": added, "rows": rows})
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
