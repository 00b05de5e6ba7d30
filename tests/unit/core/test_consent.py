"""The consent trail (``so_telemetry_core.consent``): records that stay one
line whatever they hold, the hash chain and what ``verify`` names, the
atomic append under the lock, and the effective state it records."""

import errno
import json
import os
import stat
import threading

import pytest
import so_telemetry_core as core
from salt.exceptions import CommandExecutionError

from tests.unit.core.helpers import set_grains, set_pillar

C = core.consent
TRAIL = "/opt/so/log/so-telemetry/consent.jsonl"


@pytest.fixture
def rooted(opts, workdir):
    opts["so_telemetry_root"] = str(workdir)
    return workdir


def append(path, *entries):
    with C.locked(path):
        trail = C.read(path)
        return C.write(trail, C.chain(trail, list(entries)))


def ent(channel="soc", old="on", new="off", by="alice", src="/p/soc/soc_soc.sls soc:telemetryEnabled"):
    return C.entry(channel, old, new, "cli", by, src)


def sample(path, count=6):
    """A trail of ``count`` records, soc flipping."""
    states = ["on", "off"]
    for i in range(count):
        append(path, ent(old=states[i % 2], new=states[(i + 1) % 2], by=f"user{i}"))
    return path.read_bytes().splitlines()


def test_trail_path_and_pillar_dir(ctx, pillar, rooted):
    assert C.trail_path(ctx()) == str(rooted) + TRAIL
    assert C.pillar_dir(ctx()) == "/opt/so/saltstack/local/pillar"
    pillar["so_telemetry"] = {"consent": {"path": "/var/log/trail.jsonl", "pillar_dir": "/srv/pillar/"}}
    assert C.trail_path(ctx()) == str(rooted) + "/var/log/trail.jsonl"
    assert C.pillar_dir(ctx()) == "/srv/pillar"


@pytest.mark.parametrize("key,value", [("path", "relative.jsonl"), ("path", 5), ("path", None),
                                       ("pillar_dir", "srv/pillar"), ("pillar_dir", ["/x"])], ids=repr)
def test_bad_location_is_named(ctx, pillar, key, value):
    pillar["so_telemetry"] = {"consent": {key: value}}
    with pytest.raises(CommandExecutionError, match=f"so_telemetry:consent:{key}") as exc:
        C.trail_path(ctx()) if key == "path" else C.pillar_dir(ctx())
    assert repr(value) in str(exc.value)


HOSTILE = ["line\nbreak", 'quote " and \\ backslash', "\u2028sep\u2029", "\x00\x1b[31mred", "\udcff lone",
           "é\U0001f600", "}{\"seq\":1}\n{"]


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_hostile_values_stay_on_one_line(rooted, value):
    path = rooted / "t.jsonl"
    (rec,) = append(str(path), ent(by=value, src=value))
    data = path.read_bytes()
    assert data.count(b"\n") == 1 and data.endswith(b"\n") and data.isascii()
    back = json.loads(data)
    assert back == rec and back["by"] == value and back["source"] == value
    assert C.verify(C.read(str(path)))["ok"]


def test_a_huge_user_name_is_cut_and_marked(rooted):
    path = rooted / "t.jsonl"
    (rec,) = append(str(path), ent(by="A" * 100_000))
    assert rec["by"] == "A" * C.BY_MAX + "...(truncated, 100000 characters)"
    assert len(path.read_bytes()) < 1000


def test_chain_first_prev_and_order(rooted):
    path = rooted / "t.jsonl"
    lines = sample(path, 3)
    recs = [json.loads(ln) for ln in lines]
    assert list(recs[0]) == list(C.FIELDS)
    assert recs[0]["prev"] == C.GENESIS == "0" * 64
    for before, rec in zip(lines, recs[1:]):
        assert rec["prev"] == C.line_hash(before)
    assert [r["seq"] for r in recs] == [1, 2, 3]
    assert all(r["time"].endswith("Z") and "T" in r["time"] for r in recs)
    assert C.verify(C.read(str(path))) == {"ok": True, "records": 3}


def tampered(path, lines):
    path.write_bytes(b"".join(ln + b"\n" for ln in lines))
    return C.verify(C.read(str(path)))


def test_verify_names_an_altered_line(rooted):
    path = rooted / "t.jsonl"
    lines = sample(path)
    lines[2] = lines[2].replace(b'"by":"user2"', b'"by":"mallory"')
    assert tampered(path, lines) == {"ok": False, "line": 3,
                                     "problem": "line 3 was altered (line 4 holds the SHA-256 of another text)"}


def test_verify_names_an_altered_prev(rooted):
    path = rooted / "t.jsonl"
    lines = sample(path)
    rec = json.loads(lines[3])
    lines[3] = C.dumps(dict(rec, prev="f" * 64)).encode()
    res = tampered(path, lines)
    assert (res["ok"], res["line"], res["problem"]) == (False, 4, "line 4 was altered")


@pytest.mark.parametrize("gone,line,problem", [(2, 3, "record 3 removed before line 3"),
                                               (0, 1, "record 1 removed before line 1")])
def test_verify_names_a_removed_line(rooted, gone, line, problem):
    path = rooted / "t.jsonl"
    lines = sample(path)
    del lines[gone]
    assert tampered(path, lines) == {"ok": False, "line": line, "problem": problem}


def test_verify_names_an_inserted_line(rooted):
    path = rooted / "t.jsonl"
    lines = sample(path)
    # a forger who chains the new line to the one before it
    forged = C.dumps(dict(json.loads(lines[1]), seq=3, by="mallory", prev=C.line_hash(lines[1]))).encode()
    assert tampered(path, lines[:2] + [forged] + lines[2:])["line"] == 3
    # ... or who copies a line
    res = tampered(path, lines[:4] + [lines[1]] + lines[4:])
    assert (res["line"], res["problem"]) == (5, "line 5 was inserted (line 6 chains to line 4)")


def test_verify_names_a_line_that_is_no_record(rooted):
    path = rooted / "t.jsonl"
    lines = sample(path)
    res = tampered(path, lines[:2] + [b"# a note"] + lines[2:])
    assert res["line"] == 3 and "not JSON" in res["problem"]
    path.write_bytes(b"".join(ln + b"\n" for ln in lines) + lines[0][:40])
    res = C.verify(C.read(str(path)))
    assert res["line"] == 7 and not res["ok"]


def test_what_the_chain_cannot_show(rooted):
    """Documented limits: a removed tail and a consistent rewrite verify."""
    path = rooted / "t.jsonl"
    lines = sample(path)
    assert tampered(path, lines[:3])["ok"]
    path.unlink()
    append(str(path), ent(by="mallory"))
    assert C.verify(C.read(str(path)))["ok"]


def test_write_mode_owner_and_directory(rooted):
    path = rooted / "opt/so/log/so-telemetry/consent.jsonl"
    append(str(path), ent())
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750
    if os.geteuid() == 0:
        assert (path.stat().st_uid, path.stat().st_gid) == (0, 0)
    os.chmod(path, 0o644)
    append(str(path), ent(old="off", new="on"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(os.listdir(path.parent)) == [".consent.jsonl.lock", "consent.jsonl"]


def test_a_failed_write_keeps_the_trail_and_leaves_nothing(rooted, monkeypatch):
    path = rooted / "t.jsonl"
    append(str(path), ent())
    before = path.read_bytes()

    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(C.os, "fsync", full)
    with pytest.raises(C.TrailError) as exc:
        append(str(path), ent(old="off", new="on"))
    assert exc.value.errno == errno.ENOSPC
    assert str(exc.value) == f"cannot write the consent trail {path}: [Errno 28] No space left on device"
    assert path.read_bytes() == before
    assert sorted(os.listdir(rooted)) == [".t.jsonl.lock", "t.jsonl"]


def test_litter_of_a_killed_writer_is_removed_by_the_next(rooted):
    path = rooted / "t.jsonl"
    append(str(path), ent())
    (rooted / ".t.jsonl.k1ll3d.tmp").write_text('{"seq":2,"ti')
    append(str(path), ent(old="off", new="on"))
    assert sorted(os.listdir(rooted)) == [".t.jsonl.lock", "t.jsonl"]
    assert C.verify(C.read(str(path))) == {"ok": True, "records": 2}


def test_threads_racing_on_the_lock_each_append_once(rooted):
    path = str(rooted / "t.jsonl")
    barrier = threading.Barrier(8)

    def writer(i):
        barrier.wait()
        append(path, ent(by=f"w{i}"))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    trail = C.read(path)
    assert sorted(ln.record["by"] for ln in trail.lines) == [f"w{i}" for i in range(8)]
    assert C.verify(trail) == {"ok": True, "records": 8}


def test_read_refuses_what_is_not_a_file(rooted):
    assert C.read(str(rooted / "none")).exists is False
    with pytest.raises(C.TrailError, match="not a regular file"):
        C.read(str(rooted))
    fifo = rooted / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(C.TrailError, match="not a regular file"):
        C.read(str(fifo))


def test_effective_state_and_source(ctx, grains, pillar):
    assert C.effective(ctx()) == ({"soc": "on", "os_updates": "on", "airgap": "off"}, {})
    assert C.source(ctx(), "soc", "/pil") == "/pil/soc/soc_soc.sls soc:telemetryEnabled"
    assert C.source(ctx(), "os_updates", "/pil") == "/pil/patch/soc_patch.sls patch:os:enabled"
    assert C.source(ctx(), "airgap", "/pil") == "grain airgap, /pil/global/soc_global.sls global:airgap"
    set_grains(grains, airgap=True)
    assert C.effective(ctx())[0] == {"soc": "off", "os_updates": "off", "airgap": "on"}
    assert C.source(ctx(), "soc", "/pil") == "grain airgap"
    set_grains(grains, airgap="maybe")  # malformed: airgapped, fail closed
    assert C.effective(ctx())[0]["airgap"] == "on"
    set_pillar(pillar, soc="yes", airgap=True)
    set_grains(grains, airgap=False)
    states, broken = C.effective(ctx())
    assert states == {"os_updates": "off", "airgap": "on"} and "soc:telemetryEnabled" in str(broken["soc"])
    assert C.source(ctx(), "airgap", "/pil") == "/pil/global/soc_global.sls global:airgap"


def test_found_records_each_change_once(ctx, pillar, rooted):
    path = C.trail_path(ctx())
    trail = C.read(path)
    first = C.found(ctx(), trail, C.effective(ctx())[0])
    assert [(e["channel"], e["old"], e["new"], e["via"], e["by"]) for e in first] == [
        ("soc", None, "on", "highstate", "unknown"), ("os_updates", None, "on", "highstate", "unknown"),
        ("airgap", None, "off", "highstate", "unknown")]
    append(path, *first)
    assert C.found(ctx(), C.read(path), C.effective(ctx())[0]) == []
    set_pillar(pillar, soc=False)
    (again,) = C.found(ctx(), C.read(path), C.effective(ctx())[0])
    assert (again["channel"], again["old"], again["new"]) == ("soc", "on", "off")


def test_report_says_since(ctx, pillar, rooted):
    rep = core.report.report(ctx())
    assert rep["consent"] == {"path": str(rooted) + TRAIL, "exists": False, "records": 0, "error": None}
    assert rep["soc"]["since"] is None and rep["airgap"]["since"] is None
    path = C.trail_path(ctx())
    append(path, ent(old="on", new="on"), ent(channel="airgap", old=None, new="off", by="root"))
    rep = core.report.report(ctx())
    assert rep["soc"]["since"] == {"time": rep["soc"]["since"]["time"], "via": "cli", "by": "alice", "line": 1,
                                   "state": "on", "current": True}
    assert rep["airgap"]["since"]["line"] == 2 and rep["os_updates"]["since"] is None
    set_pillar(pillar, soc=False)  # changed, not recorded yet
    assert core.report.report(ctx())["soc"]["since"]["current"] is False
    pillar["so_telemetry"] = {"consent": {"path": "nope"}}
    rep = core.report.report(ctx())
    assert "so_telemetry:consent:path" in rep["consent"]["error"] and rep["soc"]["since"] is None


def test_process_started_is_a_lower_bound_of_a_new_process():
    """A child process's own start, read from /proc, lies between the moment
    the parent launched it and the child's first line of Python."""
    import subprocess
    import sys
    import time

    launched = time.time()
    out = subprocess.run(
        [sys.executable, "-c", "import time; t = time.time(); import so_telemetry_core.consent as c; "
         "print(c.process_started(), t)"],
        check=True, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    ).stdout.split()
    started, first_line = float(out[0]), float(out[1])
    assert launched - 2 <= started <= first_line


def test_written_since(rooted, tmp_path):
    path = tmp_path / "consent.jsonl"
    assert core.consent.written_since(str(path), 0) is False, "no trail: nothing was written"
    path.write_text("")
    os.utime(path, (1_000_000, 1_000_000))
    assert core.consent.written_since(str(path), 2_000_000) is False
    assert core.consent.written_since(str(path), 1_000_004) is True, "a clock step of a few seconds is allowed for"
    assert core.consent.written_since(str(path), None) is True, "an unknown start is never taken for an old trail"
