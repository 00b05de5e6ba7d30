"""Eight concurrent so-telemetry enable|disable processes (the real console
script) on pillar files an admin also edits: the file always parses, keeps the
comment and the other keys, no update is lost, no temporary file remains."""

import os
import subprocess
import threading

import pytest
from ruamel.yaml import YAML

from tests.conftest import SO_TELEMETRY

ADMIN = """\
# Admin: keep this comment (SOC settings)
soc:
  telemetryEnabled: true   # decided at setup
  other_setting: keep-me
  servers:
    - a.example
zzz_other: 3
"""


def env_for(pillar_dir):
    """The pillar root, and a minion configuration beside it whose
    ``so_telemetry_root`` keeps the consent trail there (not in /opt)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SO_TELEMETRY_")}
    env["SO_TELEMETRY_PILLAR_DIR"] = str(pillar_dir)
    config = pillar_dir.parent / "etc-salt"
    config.mkdir(exist_ok=True)
    (config / "minion").write_text(f"so_telemetry_root: {pillar_dir.parent / 'root'}\n")
    env["SO_TELEMETRY_CONFIG_DIR"] = str(config)
    return env


def run_all(commands, env):
    procs = [subprocess.Popen([SO_TELEMETRY, *cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True) for cmd in commands]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (out, err)


class Watcher:
    """Parses the file over and over while the writers run."""

    def __init__(self, path):
        self.path, self.stop, self.bad, self.reads = path, threading.Event(), [], 0
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while not self.stop.is_set():
            try:
                text = self.path.read_text()
            except FileNotFoundError:
                self.bad.append("file missing")
                continue
            try:
                data = YAML(typ="safe", pure=True).load(text)
                assert data["soc"]["other_setting"] == "keep-me" and data["zzz_other"] == 3
                assert "# Admin: keep this comment" in text
            except Exception as exc:  # noqa: BLE001
                self.bad.append(f"{exc!r}: {text!r}")
            self.reads += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


def check_file(path, expect):
    text = path.read_text()
    data = YAML(typ="safe", pure=True).load(text)
    assert "# Admin: keep this comment (SOC settings)" in text and "# decided at setup" in text
    assert data["soc"]["other_setting"] == "keep-me" and data["soc"]["servers"] == ["a.example"]
    assert data["zzz_other"] == 3
    for keys, allowed in expect.items():
        cur = data
        for key in keys:
            cur = cur[key]
        assert cur in allowed, (keys, cur, text)
    return data


def leftovers(directory):
    return sorted(n for n in os.listdir(directory) if n.startswith("."))


def test_same_key_eight_writers(tmp_path):
    soc = tmp_path / "pillar" / "soc" / "soc_soc.sls"
    soc.parent.mkdir(parents=True)
    soc.write_text(ADMIN)
    os.chmod(soc, 0o600)
    env = env_for(tmp_path / "pillar")
    with Watcher(soc) as watch:
        for _round in range(3):
            run_all([["enable" if i % 2 else "disable", "soc"] for i in range(8)], env)
    assert watch.bad == [], watch.bad[:3]
    assert watch.reads > 0
    check_file(soc, {("soc", "telemetryEnabled"): (True, False)})
    assert os.stat(soc).st_mode & 0o7777 == 0o600
    assert leftovers(soc.parent) == []


@pytest.mark.parametrize("value", [True, False], ids=["enable", "disable"])
def test_two_keys_one_file_no_lost_update(tmp_path, value):
    """soc and os-updates alternating on one file (patch/soc_patch.sls is a
    symlink to soc/soc_soc.sls): both keys end with the value every writer
    wrote, and the symlink stays a symlink."""
    pillar = tmp_path / "pillar"
    soc = pillar / "soc" / "soc_soc.sls"
    soc.parent.mkdir(parents=True)
    soc.write_text(ADMIN.replace("telemetryEnabled: true ", f"telemetryEnabled: {str(not value).lower()}"))
    (pillar / "patch").mkdir()
    (pillar / "patch" / "soc_patch.sls").symlink_to("../soc/soc_soc.sls")
    env = env_for(pillar)
    action = "enable" if value else "disable"
    with Watcher(soc) as watch:
        run_all([[action, "soc" if i % 2 else "os-updates"] for i in range(8)], env)
    assert watch.bad == [], watch.bad[:3]
    check_file(soc, {("soc", "telemetryEnabled"): (value,), ("patch", "os", "enabled"): (value,)})
    assert (pillar / "patch" / "soc_patch.sls").is_symlink()
    assert leftovers(soc.parent) == [] and leftovers(pillar / "patch") == []
