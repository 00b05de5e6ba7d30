"""so_telemetry.pillar_edit: the lock, Salt's atomic write and error lines."""

import os
import threading
import time

import pytest

from so_telemetry import pillar_edit as P
from tests.unit.cli.test_pillar_edit import read_value

SOC_KEYS = ("soc", "telemetryEnabled")


def test_error_names_file_and_line(tmp_path):
    path = tmp_path / "soc_soc.sls"
    path.write_text("# admin\nsoc:\n  telemetryEnabled: true\n   typo: x\n")
    with pytest.raises(P.PillarError) as err:
        P.set_value(str(path), SOC_KEYS, False)
    assert f"{path}, line 4: not valid YAML" in str(err.value)
    assert "\n" not in str(err.value)
    assert os.listdir(tmp_path) == ["soc_soc.sls"]  # refused before any lock file


def test_duplicate_key_line(tmp_path):
    path = tmp_path / "soc_soc.sls"
    path.write_text("soc:\n  telemetryEnabled: true\n  telemetryEnabled: false\n")
    with pytest.raises(P.PillarError, match=r"line 3: not valid YAML \(.*duplicate key"):
        P.set_value(str(path), SOC_KEYS, False)


def test_writer_waits_for_the_lock(tmp_path):
    path = tmp_path / "soc_soc.sls"
    path.write_text("soc:\n  telemetryEnabled: true\n")
    done = []
    with P.locked(str(path)):
        thread = threading.Thread(target=lambda: done.append(P.set_value(str(path), SOC_KEYS, False)))
        thread.start()
        time.sleep(0.5)
        assert done == [] and "true" in path.read_text()
    thread.join(10)
    assert done == [True] and read_value(str(path), SOC_KEYS) is False
    assert sorted(os.listdir(tmp_path)) == ["soc_soc.sls"]


def test_new_file_is_0640_whatever_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        path = tmp_path / "soc" / "soc_soc.sls"
        P.set_value(str(path), SOC_KEYS, True)
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o7777 == 0o640
    assert os.umask(old) == old  # restored


def test_owner_and_mode_kept(tmp_path):
    path = tmp_path / "soc_soc.sls"
    path.write_text("soc:\n  telemetryEnabled: true\n")
    os.chmod(path, 0o604)
    before = os.stat(path)
    P.set_value(str(path), SOC_KEYS, False)
    after = os.stat(path)
    assert (after.st_uid, after.st_gid, after.st_mode & 0o7777) == (before.st_uid, before.st_gid, 0o604)
    assert after.st_ino != before.st_ino  # replaced, not rewritten in place


def test_symlink_edits_its_target(tmp_path):
    real = tmp_path / "real.sls"
    real.write_text("soc:\n  telemetryEnabled: true\n")
    link = tmp_path / "soc_soc.sls"
    link.symlink_to(real.name)
    P.set_value(str(link), SOC_KEYS, False)
    assert link.is_symlink() and read_value(str(real), SOC_KEYS) is False


def _writer(path, index, barrier):
    barrier.wait()
    for value in (False, True, False, True):
        P.set_value(path, ("soc", f"w{index}"), value)


def test_processes_racing_on_one_file_lose_nothing(tmp_path):
    """Eight writer processes (as eight ``so-telemetry enable|disable`` runs)
    on one file an admin also edits, each on its own key: every update lands
    (a lost update would drop a key or leave it false), the comments and the
    other keys stay, no temporary file remains."""
    import multiprocessing

    path = tmp_path / "soc_soc.sls"
    path.write_text("# Admin: keep this comment\nsoc:\n  telemetryEnabled: true   # setup\n  other: keep-me\n")
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(8)
    procs = [ctx.Process(target=_writer, args=(str(path), i, barrier)) for i in range(8)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    text = path.read_text()
    assert "# Admin: keep this comment" in text and "other: keep-me" in text and "# setup" in text
    assert [read_value(str(path), ("soc", f"w{i}")) for i in range(8)] == [True] * 8
    assert read_value(str(path), SOC_KEYS) is True
    assert sorted(os.listdir(tmp_path)) == ["soc_soc.sls"]
