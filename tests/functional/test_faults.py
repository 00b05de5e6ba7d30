"""Faults through Salt: a broken local pillar file (the CLI, and a
highstate), a full and a read-only file system under the rendered files (the
real ``salt-call --local`` in a private mount namespace, as root), the real
``salt-call`` killed mid-render, and a sample of hostile pillars through
``state.apply so_telemetry.repo``. Where a separate process is not the point
(set-up runs, the highstates after a fault, the hostile sample), Salt's
masterless minion runs in this process (``tests/functional/inproc.py``).

The figures (cases, outcomes, damaged files, litter) are written to
``.tmp/figures/salt-<line>/faults-functional.json`` and printed (``pytest -s``).
"""

import collections
import json
import os
import random
import shutil
import signal
import subprocess
import time

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests import hostile as H
from tests.conftest import save_figures, SALT_CALL, state_results
from tests.functional.inproc import inprocess_sandbox  # noqa: F401  (fixture: sandbox)

ANALYTICS = "/opt/so/conf/soc/analytics.js"
SOC_JSON = "/opt/so/conf/soc/soc.json"
REPO_FILE = "/etc/yum.repos.d/securityonion.repo"
FIGURES = collections.defaultdict(collections.Counter)
AS_ROOT = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                             reason="needs root and unshare(1) for a private mount namespace")


@pytest.fixture(scope="module", autouse=True)
def figures():
    yield FIGURES
    save_figures("faults-functional", "faults (functional)", FIGURES)


def salt_cmd(box, *args):
    return [SALT_CALL, "--config-dir", str(box.config_dir), "--local", "--out=json", "--log-level=error", *args]


def entries(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


# --------------------------------------------------------------------------
# 1. an admin's typo in local/pillar/soc/soc_soc.sls
#    (disable + status: tests/functional/test_cli_bounded.py::test_broken_local_pillar_named_with_line,
#    which also checks the error is one line without a traceback)


def test_broken_local_pillar(sandbox):
    sandbox.salt_call("state.highstate")
    before = sandbox.snapshot()
    soc = sandbox.pillar_dir / "soc" / "soc_soc.sls"
    soc.parent.mkdir(parents=True)
    content = "# admin's file\nsoc:\n  telemetryEnabled: false\n   typo: here\n"
    soc.write_text(content)

    proc = sandbox.cli("enable", "soc")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{soc}, line 4: not valid YAML" in proc.stderr and "nothing was changed" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr

    ret = sandbox.salt_call("state.highstate", check=False)
    assert isinstance(ret, list) and "Pillar failed to render" in ret[0], ret
    assert any("soc.soc_soc" in line for line in ret), ret
    assert soc.read_text() == content and entries(soc.parent) == ["soc_soc.sls"]
    assert sandbox.snapshot() == before, "a rendered file changed under a broken pillar"
    FIGURES["broken local pillar"].update(cases=2, refused_named=2, damaged=0)


# --------------------------------------------------------------------------
# 2. full disk and read-only file system under the SOC files


def in_namespace(box, setup, out):
    """Run ``setup`` (shell, as root) then ``salt-call state.apply
    so_telemetry.soc`` in a private mount namespace; the return, rc and the
    directory as the run left it are saved under ``out``."""
    soc_dir = box.path(ANALYTICS).parent
    script = f"""
set -eu
DIR={str(soc_dir)!r}; OUT={str(out)!r}
{setup}
set +e
{" ".join(repr(a) for a in salt_cmd(box, "state.apply", "so_telemetry.soc"))} >"$OUT/ret.json" 2>"$OUT/stderr"
echo $? >"$OUT/rc"
ls -A "$DIR" >"$OUT/ls"
mkdir "$OUT/after"; cp -a "$DIR/analytics.js" "$DIR/soc.json" "$OUT/after/"
"""
    out.mkdir()
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", script],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {
        "rc": int((out / "rc").read_text()),
        "ret": json.loads((out / "ret.json").read_text())["local"],
        "stderr": (out / "stderr").read_text(),
        "ls": (out / "ls").read_text().split(),
        "after": {name: (out / "after" / name).read_bytes() for name in ("analytics.js", "soc.json")},
    }


FULL = """
mkdir -p "$OUT/saved"; cp -a "$DIR/." "$OUT/saved/"
mount -t tmpfs -o size=64k,mode=0755 so-telemetry-full "$DIR"
cp -a "$OUT/saved/." "$DIR/"
dd if=/dev/zero of="$DIR/zz-filler" bs=4k 2>/dev/null || true
dd if=/dev/zero of="$DIR/zz-filler2" bs=1 2>/dev/null || true
"""
READ_ONLY = """
mount --bind "$DIR" "$DIR"
mount -o remount,bind,ro "$DIR"
"""


@AS_ROOT
@pytest.mark.parametrize("fault, setup, cause", [("full", FULL, "No space left on device"),
                                                 ("read-only", READ_ONLY, "Read-only file system")],
                         ids=["enospc", "erofs"])
def test_file_system_faults(sandbox, tmp_path, fault, setup, cause):
    sandbox.set_pillar({"soc": {"telemetryEnabled": False}})
    sandbox.salt_call("state.apply", "so_telemetry.soc")
    old = {name: sandbox.path(f"/opt/so/conf/soc/{name}").read_bytes() for name in ("analytics.js", "soc.json")}
    sandbox.set_pillar({"soc": {"telemetryEnabled": True, "config": {"pad": "x" * 8192}}})

    res = in_namespace(sandbox, setup, tmp_path / "out")
    states = state_results(res["ret"])
    print({sid: r["comment"] for sid, r in states.items()})
    for sid, path in (("so-telemetry-soc-config-telemetry-analytics_managed", ANALYTICS),
                      ("so-telemetry-soc-config-telemetry-soc_json_managed", SOC_JSON)):
        st_ret = states[sid]
        assert st_ret["result"] is False, st_ret
        assert cause in st_ret["comment"], st_ret["comment"]
        assert str(sandbox.path(path).parent) in st_ret["comment"], st_ret["comment"]
    assert res["rc"] != 0
    assert "Traceback" not in res["stderr"], res["stderr"]
    assert res["after"] == old, "the old file changed"
    litter = [n for n in res["ls"] if n not in ("analytics.js", "soc.json") and not n.startswith("zz-filler")]
    FIGURES[f"file system: {fault}"].update(cases=2, failed_named=2, damaged=0, tracebacks=0, litter=len(litter))
    # Salt's copy into place (salt.utils.files.copyfile) leaves its
    # <name>XXXXXXXX temporary file when the copy fails (ENOSPC); the state
    # removes what its failed write added.
    assert litter == [], f"temporary files left in the directory: {litter}"


# --------------------------------------------------------------------------
# 3. salt-call killed at random points of a render

KILLS = 10


def versions(i):
    """Pillar of round ``i``: two full analytics.js texts (one per container)
    and a soc.json that changes every round."""
    return {"soc": {"telemetryEnabled": True, "analytics": {"container_id": ("GTM-TM46SL7T", "GTM-FAULT42")[i % 2]},
                    "config": {"faults": {"round": i}}}}


def test_killed_mid_render(sandbox, tmp_path):
    rng = random.Random(20261127)
    tmpdir = tmp_path / "salt-tmp"  # salt's own temp files (TMPDIR), counted too
    tmpdir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir))
    texts = set()
    for i in range(2):
        sandbox.set_pillar(versions(i))
        sandbox.salt_call("state.apply", "so_telemetry.soc")
        texts.add(sandbox.path(ANALYTICS).read_bytes())
    assert len(texts) == 2 and all(b"googletagmanager" in t for t in texts)
    dirs = [sandbox.path(ANALYTICS).parent, sandbox.path(REPO_FILE).parent]
    sandbox.salt_call("state.highstate")
    listing = {d: entries(d) for d in dirs}
    started = time.monotonic()
    sandbox.subprocess_call("state.apply", "so_telemetry.soc")
    full = time.monotonic() - started

    figures = FIGURES["killed mid-render"]
    for i in range(KILLS):
        sandbox.set_pillar(versions(i))
        args = ("state.highstate",) if i % 4 == 3 else ("state.apply", "so_telemetry.soc")
        proc = subprocess.Popen(salt_cmd(sandbox, *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        time.sleep(rng.uniform(0.3, 1.8) * full)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            figures["killed"] += 1
        else:
            figures["finished before the kill"] += 1
        proc.wait(30)
        js = sandbox.path(ANALYTICS).read_bytes()
        assert js in texts, f"round {i}: torn or empty analytics.js: {js[:200]!r}"
        soc = json.loads(sandbox.path(SOC_JSON).read_text())
        # the round of the last run that got to write it (the set-up wrote round 1)
        assert soc["faults"]["round"] in {1, *range(i + 1)} and soc["server"]["client"]["telemetryEnabled"] is True
        figures["runs"] += 1
        figures["new version on disk"] += soc["faults"]["round"] == i
    figures["damaged"] += 0
    litter = {str(d): sorted(set(entries(d)) - set(listing[d])) for d in dirs}
    figures["litter in rendered dirs"] = sum(map(len, litter.values()))
    figures["salt temp files left in TMPDIR"] = len(entries(tmpdir))

    # the next highstate converges, the one after changes nothing
    ret = state_results(sandbox.salt_call("state.highstate"))
    assert all(r["result"] is True for r in ret.values()), ret
    assert sandbox.path(ANALYTICS).read_bytes() in texts
    again = state_results(sandbox.salt_call("state.highstate"))
    assert all(r["result"] is True and not r["changes"] for r in again.values()), again
    figures["converged"] = 1
    assert all(not names for names in litter.values()), f"temporary files left behind: {litter}"


# --------------------------------------------------------------------------
# 5. a sample of hostile pillars through Salt's state run (pillar SLS files
#    rendered by Salt, the library's state; in this process)

REPO_KEYS = [k for k in H.PILLAR_KEYS if k.split(":")[0] in ("repo", "global", "patch", "manager")
             and k not in H.PATH_KEYS]


def _yaml_safe(value):
    try:
        return yaml.safe_load(yaml.safe_dump(value)) == value
    except Exception:  # noqa: BLE001  (not representable: not a pillar an admin could write)
        return False


@settings(max_examples=15, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(pairs=st.lists(st.tuples(st.sampled_from(REPO_KEYS), H.HOSTILE), min_size=1, max_size=2))
def test_hostile_pillar_through_a_state_run(sandbox, pairs):
    pillar = H.nest(pairs)
    assume(_yaml_safe(pillar))
    sandbox.set_pillar({})
    path = sandbox.path(REPO_FILE)
    if not path.exists():
        sandbox.salt_call("state.apply", "so_telemetry.repo")
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    sandbox.set_pillar(pillar)
    ret = sandbox.salt_call("state.apply", "so_telemetry.repo", check=False)
    figures = FIGURES["hostile pillar via state.apply (Salt in process)"]
    figures["cases"] += 1
    assert isinstance(ret, dict), f"no state ran for {pillar!r}: {ret!r}"
    (state,) = state_results(ret).values()
    if state["result"] is True:
        H.check_repo_text(path.read_text())
        figures["ok, parses"] += 1
    else:
        assert state["result"] is False, state
        keys = H.named_keys(state["comment"])
        assert any(H.related(k, [key for key, _v in pairs]) for k in keys) or "names this node" in state["comment"], (
            pillar, state["comment"])
        assert (path.read_bytes(), path.stat().st_mtime_ns) == before, "refused, but the file changed"
        figures["refused, key named, file unchanged"] += 1
    assert "Traceback" not in state["comment"]
