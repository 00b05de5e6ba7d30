"""so-telemetry never hangs: no Salt configuration, an unreachable or silent
master, global options before or after the command, Salt-free commands,
broken local pillar files named with their line."""

import json
import os
import socket
import subprocess
import time

import pytest
import yaml

from tests.conftest import SO_TELEMETRY

# what a hang is caught by (the harness), not a timing assertion
HARNESS_TIMEOUT = 60


def clean_env(home):
    """An environment without SO_TELEMETRY_* and with an empty HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SO_TELEMETRY_")}
    env["HOME"] = str(home)
    return env


def run(args, env, stdin=subprocess.DEVNULL):
    start = time.monotonic()
    proc = subprocess.run([SO_TELEMETRY, *args], capture_output=True, text=True, env=env, stdin=stdin,
                          check=False, timeout=HARNESS_TIMEOUT)
    proc.elapsed = time.monotonic() - start
    return proc


def assert_one_line_error(proc, *words):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("so-telemetry: error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for word in words:
        assert word in lines[0], lines[0]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def remote_minion(box, port):
    """The sandbox minion, but with a master at 127.0.0.1:port."""
    conf = yaml.safe_load((box.config_dir / "minion").read_text())
    conf.pop("file_client")
    conf.update(master="127.0.0.1", master_port=port, acceptance_wait_time=1, auth_timeout=2)
    (box.config_dir / "minion").write_text(yaml.safe_dump(conf))


# --------------------------------------------------------------------------
# no Salt configuration at all


@pytest.mark.parametrize("command", [["status"], ["audit"], ["status", "--json"]], ids=" ".join)
def test_no_minion_configuration(tmp_path, command):
    empty = tmp_path / "etc-salt"
    empty.mkdir()
    proc = run([*command, "--config-dir", str(empty)], clean_env(tmp_path))
    assert_one_line_error(proc, f"no salt-minion configuration at {empty}/minion", "--config-dir", "--local")
    assert proc.stdout == ""


def test_default_config_dir_without_environment(tmp_path):
    if os.path.exists("/etc/salt/minion"):
        pytest.skip("this machine has /etc/salt/minion")
    proc = run(["status", "--timeout", "5"], clean_env(tmp_path))
    assert_one_line_error(proc, "no salt-minion configuration at /etc/salt/minion")


def test_default_master_salt_that_does_not_resolve(tmp_path):
    conf = tmp_path / "etc-salt"
    conf.mkdir()
    (conf / "minion").write_text("id: nowhere\n")  # master: salt, the default
    proc = run(["--config-dir", str(conf), "--timeout", "10", "status"], clean_env(tmp_path))
    assert_one_line_error(proc, "salt master")
    assert "'salt'" in proc.stderr or "unreachable" in proc.stderr


def test_master_refuses(sandbox, tmp_path):
    remote_minion(sandbox, free_port())  # nothing listens there
    proc = sandbox.cli("status", "--timeout", "5", env={"SO_TELEMETRY_LOCAL": ""})
    assert_one_line_error(proc, "salt master 127.0.0.1", "unreachable")


def test_master_that_never_answers_ends_at_the_timeout(sandbox):
    # accepts TCP connections (kernel backlog) and never says a word
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        remote_minion(sandbox, silent.getsockname()[1])
        start = time.monotonic()
        proc = sandbox.cli("--timeout", "3", "status", env={"SO_TELEMETRY_LOCAL": ""})
        elapsed = time.monotonic() - start
    assert_one_line_error(proc, "127.0.0.1", "within 3s")
    assert elapsed < HARNESS_TIMEOUT
    # the child and whatever it started are gone
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert str(sandbox.config_dir) not in ps


def test_local_overrides_a_dead_master(sandbox):
    remote_minion(sandbox, free_port())
    rep = json.loads(sandbox.cli("status", "--local", "--json", "--timeout", "30", check=True).stdout)
    assert rep["soc"]["enabled"] is True


# --------------------------------------------------------------------------
# global options before or after the command


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_global_options_either_side(sandbox, tmp_path, before):
    env = clean_env(tmp_path)
    opts = ["--config-dir", str(sandbox.config_dir), "--local", "--pillar-dir", str(sandbox.pillar_dir),
            "--timeout", "30"]

    def cmd(*words):
        return [*opts, *words] if before else [*words, *opts]

    rep = json.loads(run(cmd("status", "--json"), env).stdout)
    assert rep["soc"]["enabled"] is True
    json_first = run(["--json", *opts, "status"] if before else ["status", *opts, "--json"], env)
    assert json.loads(json_first.stdout)["soc"]["enabled"] is True

    proc = run(cmd("disable", "soc"), env)
    assert proc.returncode == 0, proc.stderr
    assert "telemetryEnabled: false" in (sandbox.pillar_dir / "soc" / "soc_soc.sls").read_text()

    hits = json.loads(run(cmd("config", "search", "SOC Telemetry", "--json"), env).stdout)["settings"]
    assert {h["id"]: h["salt"]["value"] for h in hits}["soc.telemetryEnabled"] is False

    # sync reads --config-dir wherever it is: the sandbox has no master config
    sync = run([w for w in cmd("sync") if w not in ("--timeout", "30")], env)
    assert_one_line_error(sync, f"no salt-master configuration at {sandbox.config_dir}/master")


def test_option_after_subcommand_wins_over_environment(sandbox, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    # the sandbox's environment says --local and its config dir; the command line says otherwise
    proc = sandbox.cli("status", "--config-dir", str(empty), env={"SO_TELEMETRY_LOCAL": ""})
    assert_one_line_error(proc, f"no salt-minion configuration at {empty}/minion")


# --------------------------------------------------------------------------
# commands that never start Salt


def test_prompt_unattended_needs_no_salt(tmp_path):
    env = clean_env(tmp_path)
    empty = tmp_path / "etc-salt"
    empty.mkdir()
    pillar = tmp_path / "pillar"
    for args in (["prompt", "--during", "setup", "--unattended"], ["prompt", "--during", "soup"]):
        proc = run([*args, "--config-dir", str(empty), "--pillar-dir", str(pillar)], env)
        assert proc.returncode == 0, proc.stderr
        assert "not asking" in proc.stdout and "Nothing changed" in proc.stdout, proc.stdout
        assert proc.stderr == ""
    assert not pillar.exists()


def test_config_search_bounded_by_a_dead_master(tmp_path):
    """The screen needs no Salt; Salt's view is asked within --timeout and
    said unknown when the master does not answer."""
    env = clean_env(tmp_path)
    pillar = tmp_path / "local" / "pillar"
    (pillar / "soc").mkdir(parents=True)
    (pillar / "soc" / "soc_soc.sls").write_text("# admin\nsoc:\n  telemetryEnabled: false\n")
    conf = tmp_path / "etc-salt"
    conf.mkdir()
    (conf / "minion").write_text(f"master: 127.0.0.1\nmaster_port: {free_port()}\n")
    args = ["config", "search", "SOC Telemetry", "--pillar-dir", str(pillar), "--config-dir", str(conf),
            "--timeout", "5"]
    out = json.loads(run([*args, "--json"], env).stdout)
    (soc,) = out["settings"]
    assert soc["id"] == "soc.telemetryEnabled" and soc["value"] == "false"  # the screen: the local file
    assert "unreachable" in soc["salt"]["error"]
    text = run(args, env).stdout
    assert 'screen: "false"' in text and "Salt reads: unknown (salt master 127.0.0.1" in text


# --------------------------------------------------------------------------
# enable / disable wording, broken local pillar


def test_toggle_says_old_value_in_yaml_words(sandbox):
    soc = sandbox.pillar_dir / "soc" / "soc_soc.sls"
    out = sandbox.cli("disable", "soc", check=True).stdout
    assert f"soc:telemetryEnabled: (not set, default true) -> false in {soc} (as Salt reads it" in out
    out = sandbox.cli("enable", "soc", check=True).stdout
    assert "soc:telemetryEnabled: false -> true in" in out
    out = sandbox.cli("enable", "soc", check=True).stdout
    assert "soc:telemetryEnabled was already true" in out
    out = sandbox.cli("disable", "os-updates", check=True).stdout
    assert "patch:os:enabled: (not set, default true) -> false in" in out
    for text in (out,):
        assert "None" not in text and "False" not in text and "True" not in text


def test_broken_local_pillar_named_with_line(sandbox):
    soc = sandbox.pillar_dir / "soc" / "soc_soc.sls"
    soc.parent.mkdir(parents=True)
    content = "# admin's file\nsoc:\n  telemetryEnabled: true\n   typo: here\n"
    soc.write_bytes(content.encode())
    proc = sandbox.cli("disable", "soc")
    assert_one_line_error(proc, str(soc), "line 4", "nothing was changed")
    assert soc.read_bytes() == content.encode()
    assert sorted(p.name for p in soc.parent.iterdir()) == ["soc_soc.sls"]

    status = sandbox.cli("status")
    assert_one_line_error(status, str(soc), "line 4")
    assert status.stdout == ""


def test_help_is_plain_text():
    out = subprocess.run([SO_TELEMETRY, "--help"], capture_output=True, text=True, check=True,
                         timeout=HARNESS_TIMEOUT).stdout
    assert "``" not in out and ".. " not in out
    for cmd in ("status", "enable", "disable", "prompt", "sync", "config", "audit"):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(cmd + " "))
        assert len(line.split(None, 1)) == 2, line  # a one-line help beside it
    assert "--timeout" in out and "before or after the command" in out
    sub = subprocess.run([SO_TELEMETRY, "config", "--help"], capture_output=True, text=True, check=True,
                         timeout=HARNESS_TIMEOUT).stdout
    assert "search" in sub
