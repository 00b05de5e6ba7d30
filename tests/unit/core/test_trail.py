"""The consent trail's file (``so_telemetry_core.trail``): the hash chain
and what ``verify`` names, what the chain cannot show, the atomic append under
the lock (mode, owner, a full disk, a killed writer's litter, racing
threads), and the process-start check the consent state uses."""

import errno
import json
import os
import stat
import threading

import pytest
import so_telemetry_core as core

from tests.unit.core.helpers import append, ent

T = core.trail


def sample(path, count=6):
    """A trail of ``count`` records, soc flipping."""
    states = ["on", "off"]
    for i in range(count):
        append(path, ent(old=states[i % 2], new=states[(i + 1) % 2], by=f"user{i}"))
    return path.read_bytes().splitlines()


def test_chain_first_prev_and_order(workdir):
    path = workdir / "t.jsonl"
    lines = sample(path, 3)
    recs = [json.loads(ln) for ln in lines]
    assert list(recs[0]) == list(T.FIELDS)
    assert recs[0]["prev"] == T.GENESIS == "0" * 64
    for before, rec in zip(lines, recs[1:]):
        assert rec["prev"] == T.line_hash(before)
    assert [r["seq"] for r in recs] == [1, 2, 3]
    assert all(r["time"].endswith("Z") and "T" in r["time"] for r in recs)
    assert T.verify(T.read(str(path))) == {"ok": True, "records": 3}


def tampered(path, lines):
    path.write_bytes(b"".join(ln + b"\n" for ln in lines))
    return T.verify(T.read(str(path)))


def test_verify_names_an_altered_line(workdir):
    path = workdir / "t.jsonl"
    lines = sample(path)
    lines[2] = lines[2].replace(b'"by":"user2"', b'"by":"mallory"')
    assert tampered(path, lines) == {"ok": False, "line": 3,
                                     "problem": "line 3 was altered (line 4 holds the SHA-256 of another text)"}


def test_verify_names_an_altered_prev(workdir):
    path = workdir / "t.jsonl"
    lines = sample(path)
    rec = json.loads(lines[3])
    lines[3] = T.dumps(dict(rec, prev="f" * 64)).encode()
    res = tampered(path, lines)
    assert (res["ok"], res["line"], res["problem"]) == (False, 4, "line 4 was altered")


@pytest.mark.parametrize("gone,line,problem", [(2, 3, "record 3 removed before line 3"),
                                               (0, 1, "record 1 removed before line 1")])
def test_verify_names_a_removed_line(workdir, gone, line, problem):
    path = workdir / "t.jsonl"
    lines = sample(path)
    del lines[gone]
    assert tampered(path, lines) == {"ok": False, "line": line, "problem": problem}


def test_verify_names_an_inserted_line(workdir):
    path = workdir / "t.jsonl"
    lines = sample(path)
    # a forger who chains the new line to the one before it
    forged = T.dumps(dict(json.loads(lines[1]), seq=3, by="mallory", prev=T.line_hash(lines[1]))).encode()
    assert tampered(path, lines[:2] + [forged] + lines[2:])["line"] == 3
    # ... or who copies a line
    res = tampered(path, lines[:4] + [lines[1]] + lines[4:])
    assert (res["line"], res["problem"]) == (5, "line 5 was inserted (line 6 chains to line 4)")


def test_verify_names_a_line_that_is_no_record(workdir):
    path = workdir / "t.jsonl"
    lines = sample(path)
    res = tampered(path, lines[:2] + [b"# a note"] + lines[2:])
    assert res["line"] == 3 and "not JSON" in res["problem"]
    path.write_bytes(b"".join(ln + b"\n" for ln in lines) + lines[0][:40])
    res = T.verify(T.read(str(path)))
    assert res["line"] == 7 and not res["ok"]


def test_what_the_chain_cannot_show(workdir):
    """Documented limits: a removed tail and a consistent rewrite verify."""
    path = workdir / "t.jsonl"
    lines = sample(path)
    assert tampered(path, lines[:3])["ok"]
    path.unlink()
    append(str(path), ent(by="mallory"))
    assert T.verify(T.read(str(path)))["ok"]


def test_write_mode_owner_and_directory(workdir):
    path = workdir / "opt/so/log/so-telemetry/consent.jsonl"
    append(str(path), ent())
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750
    if os.geteuid() == 0:
        assert (path.stat().st_uid, path.stat().st_gid) == (0, 0)
    os.chmod(path, 0o644)
    append(str(path), ent(old="off", new="on"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(os.listdir(path.parent)) == ["consent.jsonl"]


def test_a_failed_write_keeps_the_trail_and_leaves_nothing(workdir, monkeypatch):
    path = workdir / "t.jsonl"
    append(str(path), ent())
    before = path.read_bytes()

    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(T.os, "fsync", full)
    with pytest.raises(T.TrailError) as exc:
        append(str(path), ent(old="off", new="on"))
    assert exc.value.errno == errno.ENOSPC
    assert str(exc.value) == f"cannot write the consent trail {path}: [Errno 28] No space left on device"
    assert path.read_bytes() == before
    assert sorted(os.listdir(workdir)) == ["t.jsonl"]


def test_litter_of_a_killed_writer_is_removed_by_the_next(workdir):
    path = workdir / "t.jsonl"
    append(str(path), ent())
    (workdir / ".___atomic_writek1ll3d").write_text('{"seq":2,"ti')
    append(str(path), ent(old="off", new="on"))
    assert sorted(os.listdir(workdir)) == ["t.jsonl"]
    assert T.verify(T.read(str(path))) == {"ok": True, "records": 2}


def test_threads_racing_on_the_lock_each_append_once(workdir):
    path = str(workdir / "t.jsonl")
    barrier = threading.Barrier(8)

    def writer(i):
        barrier.wait()
        append(path, ent(by=f"w{i}"))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    trail = T.read(path)
    assert sorted(ln.record["by"] for ln in trail.lines) == [f"w{i}" for i in range(8)]
    assert T.verify(trail) == {"ok": True, "records": 8}


def test_read_refuses_what_is_not_a_file(workdir):
    assert T.read(str(workdir / "none")).exists is False
    with pytest.raises(T.TrailError, match="not a regular file"):
        T.read(str(workdir))
    fifo = workdir / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(T.TrailError, match="not a regular file"):
        T.read(str(fifo))


def test_process_started_is_a_lower_bound_of_a_new_process():
    """A child process's own start, read from /proc, lies between the moment
    the parent launched it and the child's first line of Python."""
    import subprocess
    import sys
    import time

    launched = time.time()
    out = subprocess.run(
        [sys.executable, "-c", "import time; t = time.time(); import so_telemetry_core.trail as c; "
         "print(c.process_started(), t)"],
        check=True, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    ).stdout.split()
    started, first_line = float(out[0]), float(out[1])
    assert launched - 2 <= started <= first_line


def test_written_since(tmp_path):
    path = tmp_path / "consent.jsonl"
    assert T.written_since(str(path), 0) is False, "no trail: nothing was written"
    path.write_text("")
    os.utime(path, (1_000_000, 1_000_000))
    assert T.written_since(str(path), 2_000_000) is False
    assert T.written_since(str(path), 1_000_004) is True, "a clock step of a few seconds is allowed for"
    assert T.written_since(str(path), None) is True, "an unknown start is never taken for an old trail"
