"""``so-telemetry install|uninstall --security-onion`` on the stand-in of
Security Onion's tree, files only (the real grid's day is
``tests/integration/security_onion``): what install writes into the master
configuration, that soup's own edit of that file does not stop uninstall,
that settings saved since are never lost, and that the salt-master is
restarted only when asked."""

import os
import subprocess

import pytest
import yaml

from tests.conftest import SO_TELEMETRY
from tests.security_onion import build, snapshot


@pytest.fixture
def manager(tmp_path):
    tree = build(tmp_path / "saltstack", {"so_manager": "so-manager"}).saltstack
    config = tmp_path / "etc-salt"
    config.mkdir()
    (config / "master").write_text(
        "# Security Onion's master configuration (stand-in)\n"
        + yaml.safe_dump({"file_roots": {"base": [f"{tree}/local/salt", f"{tree}/default/salt"]},
                          "pillar_roots": {"base": [f"{tree}/local/pillar", f"{tree}/default/pillar"]},
                          "log_level": "info"}))
    return tree, config


def run(tree, config, verb, *args, path=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SO_TELEMETRY_")}
    if path:
        env["PATH"] = f"{path}:{env['PATH']}"
    return subprocess.run([SO_TELEMETRY, verb, "--security-onion", "--saltstack", str(tree), "--salt-config",
                           str(config), *args], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          check=False, timeout=120, env=env)


def test_the_master_gets_an_environment_and_keeps_the_rest(manager):
    tree, config = manager
    before = (config / "master").read_text()
    proc = run(tree, config, "install")
    assert proc.returncode == 0, proc.stderr
    after = (config / "master").read_text()
    assert after.startswith("# Security Onion's master configuration (stand-in)\n")
    data = yaml.safe_load(after)
    old = yaml.safe_load(before)
    assert data["file_roots"]["base"] == old["file_roots"]["base"]
    assert data["pillar_roots"]["base"] == old["pillar_roots"]["base"]
    assert data["file_roots"]["so_telemetry"] == [f"{tree}/local/so-telemetry/salt"]
    assert data["pillar_roots"]["so_telemetry"] == [f"{tree}/local/so-telemetry/pillar", f"{tree}/local/pillar"]
    assert data["env_order"] == ["base", "so_telemetry"] and data["log_level"] == "info"


def test_uninstall_after_soup_rewrote_the_master(manager):
    """soup edits the master with so-yaml (a full YAML dump: comments gone,
    the library's keys kept, its own root added): uninstall removes only the
    library's keys, and every file it wrote."""
    tree, config = manager
    pristine = snapshot(tree)
    assert run(tree, config, "install").returncode == 0
    data = yaml.safe_load((config / "master").read_text())
    data["file_roots"]["base"].append("/nsm/new-root")
    (config / "master").write_text(yaml.safe_dump(data))
    proc = run(tree, config, "uninstall")
    assert proc.returncode == 0, proc.stderr
    left = yaml.safe_load((config / "master").read_text())
    assert "so_telemetry" not in left["file_roots"] and "so_telemetry" not in left["pillar_roots"]
    assert "env_order" not in left and left["file_roots"]["base"][-1] == "/nsm/new-root"
    assert snapshot(tree) == pristine


def test_settings_saved_since_install_are_kept(manager):
    tree, config = manager
    assert run(tree, config, "install").returncode == 0
    settings = tree / "local" / "pillar" / "so_telemetry" / "soc_so_telemetry.sls"
    data = yaml.safe_load(settings.read_text())
    data["so_telemetry"]["owners"]["analytics"] = "host"  # as SOC's screen saves it
    settings.write_text(yaml.safe_dump(data))
    again = run(tree, config, "install")
    assert again.returncode == 0, again.stderr
    assert yaml.safe_load(settings.read_text())["so_telemetry"]["owners"]["analytics"] == "host"
    proc = run(tree, config, "uninstall")
    assert proc.returncode == 0 and f"kept {settings}" in proc.stdout, proc.stdout
    assert yaml.safe_load(settings.read_text()) == data


def test_the_master_is_restarted_only_when_asked(manager, tmp_path):
    tree, config = manager
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "systemctl.calls"
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "systemctl").chmod(0o755)
    proc = run(tree, config, "install", path=bin_dir)
    assert proc.returncode == 0 and "must restart" in proc.stdout and not calls.exists()
    assert run(tree, config, "uninstall", path=bin_dir).returncode == 0
    proc = run(tree, config, "install", "--restart-master", "--timeout", "5", path=bin_dir)
    assert calls.read_text().splitlines().count("restart salt-master") == 1  # (Salt itself asks --version)
    # no salt-master answers here: installed, but the engine could not be synced (said, exit 1)
    assert proc.returncode == 1 and "the engine was not synced to the minions" in proc.stderr, proc.stderr


def test_not_a_security_onion_master_is_refused(manager, tmp_path):
    tree, _config = manager
    other = tmp_path / "other-etc"
    other.mkdir()
    (other / "master").write_text(yaml.safe_dump({"file_roots": {"base": ["/srv/salt"]}}))
    before = snapshot(tree), (other / "master").read_bytes()
    proc = run(tree, other, "install")
    assert proc.returncode == 2 and "does not serve" in proc.stderr and "nothing was changed" in proc.stderr
    assert (snapshot(tree), (other / "master").read_bytes()) == before
