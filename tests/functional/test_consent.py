"""The consent trail through the real ``salt-call --local`` and the real
``so-telemetry`` console script: each change recorded exactly once (CLI,
prompt, a hand edit found by a highstate, an airgap), ``history`` and
``--verify``, ``status``; and its faults: writers killed mid-append, racing
CLI edits, a full disk, hostile values, a proxy password.

The figures are written to ``.tmp/figures/salt-<line>/consent.json`` (``pytest -s`` prints them).
"""

import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
import so_telemetry_core as core
import yaml

from tests.conftest import REPO, save_figures, SO_TELEMETRY, state_results
from tests.functional.test_cli import run_tty
from tests.functional.test_faults import AS_ROOT, salt_cmd

TRAIL = "/opt/so/log/so-telemetry/consent.jsonl"
SID = "so-telemetry-consent-telemetry-consent_recorded"
PASSWORD = "Tr41lS3cret"
FIGURES = collections.defaultdict(collections.Counter)


@pytest.fixture(scope="module", autouse=True)
def figures():
    yield FIGURES
    save_figures("consent", "consent trail", FIGURES)


def records(box):
    path = box.path(TRAIL)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def summary(recs):
    return [(r["channel"], r["old"], r["new"], r["via"], r["by"]) for r in recs]


def consent_state(box, *args, check=True):
    return state_results(box.salt_call("state.highstate", *args, check=check))[SID]


def verify(box):
    return core.trail.verify(core.trail.read(str(box.path(TRAIL))))


@pytest.fixture
def manager(sandbox):
    """A manager whose highstate names its own local pillar root in ``source``."""
    sandbox.base_pillar = {"so_telemetry": {"consent": {"pillar_dir": str(sandbox.pillar_dir)}}}
    sandbox.set_pillar(sandbox.base_pillar)
    return sandbox


def test_each_change_recorded_exactly_once(manager):
    box = manager
    box.set_pillar(dict(box.base_pillar, manager={"proxy": f"http://svc:{PASSWORD}@proxy.corp.lan:3128"}))
    soc_file = box.pillar_dir / "soc" / "soc_soc.sls"
    alice = {"SUDO_USER": "alice"}

    predicted = consent_state(box, "test=True")  # says what, writes nothing
    assert predicted["result"] is None and predicted["comment"].startswith("Would record")
    assert summary(predicted["changes"]["records"]) == [(c, None, s, "highstate", "unknown") for c, s in
                                                        (("soc", "on"), ("os_updates", "on"), ("airgap", "off"))]
    assert not box.path(TRAIL).parent.exists()

    first = consent_state(box)  # the starting state, once
    assert first["result"] is True and len(first["changes"]["records"]) == 3
    assert records(box) == first["changes"]["records"]
    assert records(box)[0]["source"] == f"{soc_file} soc:telemetryEnabled"
    st = box.path(TRAIL).stat()
    assert st.st_mode & 0o7777 == 0o640
    assert (st.st_uid, st.st_gid) == (0, 0) or os.geteuid() != 0  # root:root where the test may chown
    assert box.path(TRAIL).parent.stat().st_mode & 0o7777 == 0o750
    before = (box.path(TRAIL).read_bytes(), st.st_mtime_ns)
    again = consent_state(box)
    assert again["changes"] == {} and "up to date" in again["comment"]
    assert (box.path(TRAIL).read_bytes(), box.path(TRAIL).stat().st_mtime_ns) == before

    # a CLI change: one record; repeating it or an enable that changes nothing: none
    proc = box.cli("disable", "soc", env=alice)
    assert proc.returncode == 0 and "Consent trail: recorded soc: on -> off (record 4 of" in proc.stdout, proc.stdout
    for args in (("disable", "soc"), ("enable", "os-updates")):
        proc = box.cli(*args, env=alice)
        assert proc.returncode == 0 and "Consent trail: nothing to record" in proc.stdout, proc.stdout
    assert summary(records(box)[3:]) == [("soc", "on", "off", "cli", "alice")]
    assert records(box)[3]["source"] == f"{soc_file} soc:telemetryEnabled"
    before = (box.path(TRAIL).read_bytes(), box.path(TRAIL).stat().st_mtime_ns)
    assert consent_state(box)["changes"] == {}  # the highstate after a CLI change
    assert (box.path(TRAIL).read_bytes(), box.path(TRAIL).stat().st_mtime_ns) == before

    # a hand edit (the Configuration screen) is found by the next highstate
    soc_file.write_text("soc:\n  telemetryEnabled: true\n")
    found = consent_state(box)
    assert summary(found["changes"]["records"]) == [("soc", "off", "on", "highstate", "unknown")]
    assert found["changes"]["records"][0]["source"] == f"{soc_file} soc:telemetryEnabled"

    # an airgap grain turns both channels off: recorded at the highstate
    box.set_grains(airgap=True)
    air = consent_state(box)
    assert summary(air["changes"]["records"]) == [("soc", "on", "off", "highstate", "unknown"),
                                                  ("os_updates", "on", "off", "highstate", "unknown"),
                                                  ("airgap", "off", "on", "highstate", "unknown")]
    assert {r["source"] for r in air["changes"]["records"]} == {"grain airgap"}
    assert len(records(box)) == 8 and verify(box) == {"ok": True, "records": 8}

    # ... and an enable on an airgapped grid changes nothing that leaves the network
    proc = box.cli("enable", "soc", env=alice)
    assert proc.returncode == 0 and "nothing to record (SOC Telemetry stays off)" in proc.stdout
    status_and_history(box)
    FIGURES["exactly once"].update(cases=1, highstates=6, cli_runs=5, records=8, duplicates=0)


def status_and_history(box):
    """What ``status``, ``history`` and their JSON say of the trail above."""
    status = box.cli("status")
    assert status.returncode == 0, status.stderr
    out = status.stdout
    recs = records(box)
    for title, rec in (("Airgap:", recs[7]), ("SOC Telemetry:", recs[5]), ("Automatic OS updates:", recs[6])):
        at = out.index(title)
        assert out[at:].splitlines()[1] == f"  since {rec['time']} (highstate, by unknown)", out[at:at + 300]
    rep = json.loads(box.cli("status", "--json").stdout)
    assert rep["soc"]["since"] == {"time": recs[5]["time"], "via": "highstate", "by": "unknown", "line": 6,
                                   "state": "off", "current": True}
    assert rep["consent"]["path"] == str(box.path(TRAIL)) and rep["consent"]["records"] == 8

    text = box.cli("history").stdout.splitlines()
    assert text[0] == f"Consent trail {box.path(TRAIL)} (8 records; oldest first):"
    assert text[4].split()[:2] == ["4", recs[3]["time"]]
    assert text[4].endswith(f"SOC Telemetry: on -> off, via cli, by alice "
                            f"({box.pillar_dir}/soc/soc_soc.sls soc:telemetryEnabled)")
    assert "Airgap: off (first record), via highstate, by unknown" in text[3]
    soc = json.loads(box.cli("history", "--json", "--channel", "soc").stdout)["records"]
    assert [(r["line"], r["old"], r["new"], r["via"]) for r in soc] == [
        (1, None, "on", "highstate"), (4, "on", "off", "cli"), (5, "off", "on", "highstate"),
        (6, "on", "off", "highstate")]
    proc = box.cli("history", "--verify")
    assert proc.returncode == 0 and "Verify: the chain is intact (8 lines)" in proc.stdout
    for out in (box.path(TRAIL).read_text(), status.stdout, json.dumps(rep), "\n".join(text)):
        assert PASSWORD not in out


def test_prompt_records_its_answer(manager, monkeypatch):
    monkeypatch.setenv("SUDO_USER", "installer")
    rc, out, asked = run_tty(manager, ["prompt", "--during", "setup"], "n")
    assert rc == 0 and asked, out
    assert "Consent trail: recorded soc: on -> off" in out
    assert summary(records(manager)) == [("soc", "on", "off", "prompt:setup", "installer")]


def test_verify_names_the_line(manager):
    box = manager
    for action in ("disable", "enable"):
        assert box.cli(action, "soc").returncode == 0
    # a hand edit no highstate has seen, then a CLI change of the same channel
    (box.pillar_dir / "soc" / "soc_soc.sls").write_text("soc:\n  telemetryEnabled: false\n")
    for action in ("enable", "disable"):
        assert box.cli(action, "soc").returncode == 0
    shown = box.cli("history").stdout.splitlines()
    assert shown[3].endswith("[the record before says on: a change in between was not recorded]"), shown
    assert "[" not in shown[4]
    lines = box.path(TRAIL).read_bytes().splitlines(keepends=True)
    assert len(lines) == 4 and box.cli("history", "--verify").returncode == 0
    forged = core.trail.dumps(dict(json.loads(lines[1]), by="mallory", prev=core.trail.line_hash(lines[1][:-1])))
    cases = {
        "altered": (lines[:1] + [lines[1].replace(b'"old":"off"', b'"old":"on"')] + lines[2:],
                    "Verify: FAILED at line 2: line 2 was altered"),
        "removed": (lines[:1] + lines[2:], "Verify: FAILED at line 2: record 2 removed before line 2"),
        "inserted": (lines[:2] + [forged.encode() + b"\n"] + lines[2:],
                     "Verify: FAILED at line 3: line 3 was inserted"),
    }
    for name, (data, said) in cases.items():
        box.path(TRAIL).write_bytes(b"".join(data))
        proc = box.cli("history", "--verify")
        assert proc.returncode == 1 and said in proc.stdout, (name, proc.stdout)
        res = json.loads(box.cli("history", "--verify", "--json").stdout)["verify"]
        assert res["ok"] is False and f"line {res['line']}" in said, (name, res)
    FIGURES["verify"].update(cases=3, named_right_line=3)


WRITER = """
import sys, so_telemetry_core as core
path, big = sys.argv[1], "x" * 20000
i = 0
while True:
    new = ("on", "off")[i % 2]
    core.trail.append(path, [core.consent.entry("soc", ("off", "on")[i % 2], new, "cli", f"w{i}", big)])
    i += 1
"""
ROUNDS = 6


def test_writers_killed_mid_append(manager):
    """SIGKILL at random points of the real CLI (toggling soc) and of a loop
    that appends 20 kB records through the same engine call: every line
    parses and the chain verifies after each kill."""
    box, rng = manager, random.Random(20261203)
    trail = box.path(TRAIL)
    started = time.monotonic()
    box.cli("disable", "soc")
    full = time.monotonic() - started
    figures = FIGURES["killed mid-append"]
    env = dict(os.environ, SO_TELEMETRY_CONFIG_DIR=str(box.config_dir), SO_TELEMETRY_PILLAR_DIR=str(box.pillar_dir))
    for i in range(2 * ROUNDS):
        if i % 2:
            cmd, wait = [sys.executable, "-c", WRITER, str(trail)], rng.uniform(0.3, 1.5)
        else:
            cmd, wait = [SO_TELEMETRY, "enable" if i % 4 else "disable", "soc"], rng.uniform(0.2, 1.2) * full
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(wait)
        figures["killed" if proc.poll() is None else "finished before the kill"] += 1
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        # a kill inside the write leaves its temporary file (the next writer removes it)
        figures["killed inside the write (temporary file left)"] += any(
            n.startswith(".___atomic_write") for n in os.listdir(trail.parent))
        for line in trail.read_bytes().splitlines():
            assert isinstance(json.loads(line), dict)  # never torn
        assert verify(box)["ok"], verify(box)
        figures["rounds"] += 1
    figures["lines"] = len(trail.read_bytes().splitlines())
    assert box.cli("enable", "soc").returncode == 0 and box.cli("disable", "soc").returncode == 0
    assert sorted(os.listdir(trail.parent)) == ["consent.jsonl"]
    proc = box.cli("history", "--verify")
    assert proc.returncode == 0, proc.stdout
    figures["damaged"] += 0


WRITERS = 8


def test_concurrent_cli_edits_each_recorded_once(manager):
    box = manager
    env = dict(os.environ, SO_TELEMETRY_CONFIG_DIR=str(box.config_dir), SO_TELEMETRY_PILLAR_DIR=str(box.pillar_dir),
               SO_TELEMETRY_LOCAL="1")
    outs = []
    procs = [subprocess.Popen([SO_TELEMETRY, "enable" if i % 2 else "disable", "soc"], env=env, text=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(WRITERS)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (out, err)
        outs.append(out)
    recorded = sum("Consent trail: recorded soc" in out for out in outs)
    unchanged = sum("Consent trail: nothing to record" in out for out in outs)
    recs = records(box)
    assert recorded + unchanged == WRITERS and len(recs) == recorded > 0
    for before, rec in zip([{"new": "on"}] + recs, recs):  # the effective state starts on (default)
        assert (rec["old"], rec["new"]) == (before["new"], "off" if before["new"] == "on" else "on"), recs
    value = yaml.safe_load((box.pillar_dir / "soc" / "soc_soc.sls").read_text())["soc"]["telemetryEnabled"]
    assert recs[-1]["new"] == ("on" if value else "off")
    assert verify(box) == {"ok": True, "records": recorded}
    FIGURES["concurrent CLI"].update(writers=WRITERS, recorded=recorded, unchanged=unchanged, duplicates=0, lost=0)


FULL = """
set -eu
DIR={dir!r}; OUT={out!r}
mkdir -p "$OUT/saved"; cp -a "$DIR/." "$OUT/saved/"
mount -t tmpfs -o size=64k,mode=0750 so-telemetry-full "$DIR"
cp -a "$OUT/saved/." "$DIR/"
dd if=/dev/zero of="$DIR/zz-filler" bs=4k 2>/dev/null || true
dd if=/dev/zero of="$DIR/zz-filler2" bs=1 2>/dev/null || true
set +e
SO_TELEMETRY_CONFIG_DIR={config!r} SO_TELEMETRY_PILLAR_DIR={pillar!r} {cli!r} disable soc >"$OUT/stdout" 2>"$OUT/stderr"
echo $? >"$OUT/rc"
{salt} >"$OUT/state.json" 2>/dev/null
ls -A "$DIR" >"$OUT/ls"
cp "$DIR/consent.jsonl" "$OUT/after"
"""


@AS_ROOT
def test_full_disk_keeps_the_change_and_says_so(manager, tmp_path):
    box = manager
    assert len(consent_state(box)["changes"]["records"]) == 3  # the trail and its lock exist
    old = box.path(TRAIL).read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    salt = " ".join(repr(a) for a in salt_cmd(box, "state.apply", "so_telemetry.consent"))
    script = FULL.format(dir=str(box.path(TRAIL).parent), out=str(out), config=str(box.config_dir),
                         pillar=str(box.pillar_dir), cli=SO_TELEMETRY, salt=salt)
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", script],
                          capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rc, stderr = int((out / "rc").read_text()), (out / "stderr").read_text()
    assert rc == 3, stderr
    assert stderr.startswith("so-telemetry: error: the change was made but the consent trail ")
    assert f"cannot write the consent trail {box.path(TRAIL)}: [Errno 28] No space left on device" in stderr
    assert "Traceback" not in stderr and "soc:telemetryEnabled: (not set, default true) -> false" in (
        out / "stdout").read_text()
    assert yaml.safe_load((box.pillar_dir / "soc" / "soc_soc.sls").read_text()) == {"soc": {"telemetryEnabled": False}}
    assert (out / "after").read_bytes() == old, "the trail changed on a full disk"
    litter = [n for n in (out / "ls").read_text().split() if not n.startswith("zz-filler")]
    assert litter == ["consent.jsonl"]
    (state,) = json.loads((out / "state.json").read_text())["local"].values()
    assert state["result"] is False and "[Errno 28] No space left on device" in state["comment"], state
    # back on a disk with room: the next highstate records what the CLI could not
    found = consent_state(box)
    soc = [r for r in found["changes"]["records"] if r["channel"] == "soc"]
    assert summary(soc) == [("soc", "on", "off", "highstate", "unknown")]
    FIGURES["full disk"].update(cases=2, pillar_changed=1, exit_3=1, state_failed_named=1, damaged=0,
                                litter=len(litter) - 2, tracebacks=0, recorded_at_next_highstate=1)


def test_hostile_values_cannot_break_a_line(manager, tmp_path):
    box = manager
    odd = tmp_path / 'pil"lar\n\'dir\\ \u00e9\u2028'
    shutil.copytree(box.pillar_dir, odd, ignore=shutil.ignore_patterns("soc", "patch"))
    cases = [("disable", {"SUDO_USER": 'al"ice\n{"seq":1}'}, box.pillar_dir),
             ("enable", {"SUDO_USER": "B" * 100_000}, box.pillar_dir),
             ("disable", {"SUDO_USER": "\udcff\x1b[2J"}, odd)]
    for action, env, pillar in cases:
        if pillar == odd:  # Salt reads the odd directory as its local pillar root from now on
            box.write_config(pillar_roots={"base": [str(odd), str(REPO / "pillar")]})
        proc = box.cli("--pillar-dir", str(pillar), action, "soc", env=env)
        assert proc.returncode == 0 and "Consent trail: recorded" in proc.stdout, proc.stdout + proc.stderr
    box.write_config()  # Salt reads the sandbox's own local pillar root again
    data = box.path(TRAIL).read_bytes()
    assert data.isascii() and data.count(b"\n") == 3
    recs = records(box)
    assert recs[0]["by"] == 'al"ice\n{"seq":1}' and recs[2]["source"] == f"{odd}/soc/soc_soc.sls soc:telemetryEnabled"
    assert recs[1]["by"].startswith("B" * 256 + "...(truncated") and len(data) < 3000
    shown = box.cli("history", "--verify")
    assert shown.returncode == 0 and len(shown.stdout.splitlines()) == 5
    assert "\x1b" not in shown.stdout and "by \\udcff\\x1b[2J (" in shown.stdout, shown.stdout
    assert 'by al"ice\\n{"seq":1} (' in shown.stdout
    # a trail path that is not one: the change is made, not recorded, named
    box.set_pillar({"so_telemetry": {"consent": {"path": "consent\n.jsonl"}}})
    proc = box.cli("enable", "soc")
    assert proc.returncode == 3 and "so_telemetry:consent:path" in proc.stderr and "Traceback" not in proc.stderr
    state = consent_state(box, check=False)
    assert state["result"] is False and "so_telemetry:consent:path" in state["comment"]
    assert box.path(TRAIL).read_bytes() == data
    FIGURES["hostile values"].update(cases=4, lines_parse=3, refused_named=2, damaged=0, tracebacks=0)
