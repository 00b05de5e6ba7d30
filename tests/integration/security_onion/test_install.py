"""The library on a Security Onion 2.4 manager, as an admin meets it: one
command installs it beside Security Onion's own states (their top files
untouched), every node's highstate runs it, an opt-out restarts SOC once
in the same run (never through ``so-soc-restart``, which queues a state run
that waits for the running one), soup does not undo it, and uninstall puts
Security Onion's tree back byte for byte.

The tests build on each other, in file order (one grid, one day)."""

import json
import os
import pathlib
import subprocess
import time

import pytest
import yaml

from tests.conftest import SO_TELEMETRY
from tests.integration.security_onion.conftest import MANAGER, SENSOR
from tests.security_onion import docker_log, snapshot, soup

pytestmark = pytest.mark.integration

LOADER_MARK = "so-telemetry-loader on GTM-TM46SL7T"
ANALYTICS = "/opt/so/conf/soc/analytics.js"
ASIDE = "/opt/so/conf/soc/analytics.so-default.js"
ANALYTICS_BIND = "/opt/so/conf/soc/analytics.js:/opt/sensoroni/html/js/analytics.js:ro"
STATE = {}  # what the tests hand on: the tree before the install, timings


def cli(so, *args, timeout=300, minion=MANAGER):
    """``so-telemetry`` on the manager: the manager minion's configuration,
    Security Onion's local pillar root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SO_TELEMETRY_")}
    cmd = [SO_TELEMETRY, "--config-dir", str(so.minions[minion].config_dir),
           "--pillar-dir", str(so.tree.saltstack / "local" / "pillar"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
                          timeout=timeout, env=env)


def install(so, *args, verb="install"):
    return cli(so, verb, "--security-onion", "--saltstack", str(so.tree.saltstack),
               "--salt-config", str(so.salt_config), *args)


def trees(so):
    """Security Onion's tree and the master's configuration, byte for byte."""
    return snapshot(so.tree.saltstack), snapshot(so.salt_config)


def recreations(so, since=0):
    return [e for e in docker_log(so.root(MANAGER))[since:] if e["name"] == "so-soc" and e["action"] in
            ("create", "recreate")]


def library_changes(states):
    return {sid: st["changes"] for sid, st in states.items() if sid.startswith("so-telemetry-") and st["changes"]}


def owners_before(so):
    """For a failure message: the owners the files had before the last highstate."""
    return {p: o for p, o in so.last_owners.items() if "/opt/so/conf/soc" in p}


def test_dry_run_shows_every_file_and_changes_nothing(security_onion):
    so = security_onion
    STATE["before"] = trees(so)
    proc = install(so, "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert trees(so) == STATE["before"]
    master = so.salt_config / "master"
    assert f"would change {master}" in proc.stdout
    assert "+  so_telemetry:" in proc.stdout and "+env_order:" in proc.stdout
    STATE["dry_run"] = sorted(line.split()[2] for line in proc.stdout.splitlines() if line.startswith("would "))


def test_install_then_nothing_to_do(security_onion):
    so = security_onion
    started = time.monotonic()
    proc = install(so)
    STATE["install_seconds"] = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "The salt-master must restart" in proc.stdout
    written = sorted(line.split()[1] for line in proc.stdout.splitlines() if line.startswith(("create ", "change ")))
    assert written == STATE["dry_run"], "the dry run listed other files than the install wrote"
    # nothing under default/ but the library's own annotation file; the top files untouched
    saltstack, _config = trees(so)
    before = STATE["before"][0]
    added = {p for p in saltstack if p not in before}
    assert {p for p in added if p.startswith("default/")} == {"default/so-telemetry/soc_so_telemetry.yaml"}
    assert all(saltstack[p] == before[p] for p in before), "a file of Security Onion's tree changed"
    again = trees(so)
    proc = install(so)
    assert proc.returncode == 0 and "nothing to do" in proc.stdout, proc.stdout + proc.stderr
    assert trees(so) == again


def test_every_highstate_runs_the_library_beside_security_onion(security_onion):
    so = security_onion
    so.restart_master()
    assert set(so.salt("*", "saltutil.sync_all")) == {MANAGER, SENSOR}
    shown = so.salt(MANAGER, "state.show_top")
    assert MANAGER in shown, shown
    top = shown[MANAGER]
    assert top.get("so_telemetry") == ["so_telemetry"] and "soc" in top.get("base", []), top
    logged = len(docker_log(so.root(MANAGER)))
    states = so.highstate()
    # Security Onion's own states ran, with the library's
    assert {"socanalytics", "socconfig", "so-soc", "so_repo"} <= set(states[MANAGER])
    assert "so-telemetry-soc-config-telemetry-analytics_managed" in states[MANAGER]
    assert "so-telemetry-repo-telemetry-repo_managed" in states[SENSOR]
    # one writer per artefact: the library's loader, Security Onion's moved aside
    assert LOADER_MARK in so.path(MANAGER, ANALYTICS).read_text()
    assert "googletagmanager" in so.path(MANAGER, ASIDE).read_text()
    assert LOADER_MARK not in so.path(MANAGER, ASIDE).read_text()
    repo = states[SENSOR]["so-telemetry-repo-telemetry-repo_managed"]
    assert "Owned by the host tree" in repo["comment"] and not repo["changes"]
    assert (so.tree.saltstack / "default" / "so-telemetry" / "soc_so_telemetry.yaml").is_file()
    assert len(recreations(so, logged)) == 1, docker_log(so.root(MANAGER))[logged:]
    for minion in (MANAGER, SENSOR):
        owners = so.pillar(minion, "so_telemetry:owners")
        assert owners["analytics"] == "library" and owners["repo"] == "host", owners
    # a second highstate: the library changes nothing and SOC is not restarted
    logged = len(docker_log(so.root(MANAGER)))
    states = so.highstate()
    assert {m: library_changes(s) for m, s in states.items()} == {MANAGER: {}, SENSOR: {}}, owners_before(so)
    assert recreations(so, logged) == []
    # the library asks for its files in its own environment: no error in the minions' logs
    for minion in (MANAGER, SENSOR):
        conf = so.minions[minion].config
        log = pathlib.Path(conf["root_dir"], conf["log_file"]).read_text(errors="replace")
        assert "Unable to cache file 'salt://so_telemetry" not in log, minion


def test_opt_out_restarts_soc_once_in_the_same_run(security_onion):
    so = security_onion
    # If the library ran Security Onion's so-soc-restart from inside the
    # highstate, this stand-in (salt-call state.apply soc queue=True) would
    # wait for the highstate, which would wait for it.
    soc_file = so.tree.saltstack / "local" / "pillar" / "soc" / "soc_soc.sls"
    STATE["soc_soc"] = soc_file.read_bytes()
    data = yaml.safe_load(soc_file.read_text()) or {}
    data.setdefault("soc", {})["reload_cmd"] = str(so.tree.bin / "so-soc-restart")
    soc_file.write_text(yaml.safe_dump(data))
    proc = cli(so, "disable", "soc")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Security Onion sets it in its soc defaults.yaml, not in the pillar: Salt reads the default
    assert "soc:telemetryEnabled: (not set, default true) -> false" in proc.stdout, proc.stdout
    assert "recorded soc: on -> off" in proc.stdout
    assert so.pillar(MANAGER, "soc:telemetryEnabled") is False
    logged = len(docker_log(so.root(MANAGER)))
    started = time.monotonic()
    states = so.highstate(MANAGER)[MANAGER]
    assert time.monotonic() - started < 150
    assert so.path(MANAGER, ANALYTICS).read_text() == ""
    again = recreations(so, logged)
    assert len(again) == 1, docker_log(so.root(MANAGER))[logged:]
    assert ANALYTICS_BIND not in again[0]["binds"]
    assert not any(e["by"] == "cli" for e in docker_log(so.root(MANAGER))[logged:]), "so-restart ran"
    assert states["so-telemetry-soc-config-telemetry-analytics_managed"]["changes"]


def test_what_the_cli_reads_is_what_salt_reads(security_onion):
    so = security_onion
    settings = so.tree.saltstack / "local" / "pillar" / "so_telemetry" / "soc_so_telemetry.sls"
    STATE["settings"] = settings.read_bytes()
    trail = so.root(MANAGER) / "var" / "log" / "so-telemetry-elsewhere" / "consent.jsonl"
    data = yaml.safe_load(settings.read_text())
    data["so_telemetry"]["consent"] = {"path": "/var/log/so-telemetry-elsewhere/consent.jsonl"}
    settings.write_text(yaml.safe_dump(data))  # as SOC's screen saves it: the whole mapping again
    so.salt(MANAGER, "saltutil.refresh_pillar", wait=True)
    assert so.salt(MANAGER, "telemetry.paths")[MANAGER]["consent"] == str(trail)
    proc = cli(so, "history", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["path"] == str(trail)
    proc = cli(so, "config", "search", "SOC Telemetry", "--json", "--saltstack", str(so.tree.saltstack))
    found = json.loads(proc.stdout)
    assert [s["id"] for s in found["settings"]] == ["soc.telemetryEnabled"], proc.stdout
    assert found["settings"][0]["salt"]["value"] is so.pillar(MANAGER, "soc:telemetryEnabled")
    settings.write_bytes(STATE["settings"])


def test_survives_soup(security_onion):
    so = security_onion
    annotations = so.tree.saltstack / "default" / "so-telemetry" / "soc_so_telemetry.yaml"
    soup(so.tree.saltstack)
    assert not annotations.exists()
    logged = len(docker_log(so.root(MANAGER)))
    states = so.highstate()
    assert annotations.is_file()
    # the same settings, no admin action: SOC Telemetry still off, SOC not restarted again
    assert so.path(MANAGER, ANALYTICS).read_text() == ""
    assert recreations(so, logged) == [], owners_before(so)
    assert "so-telemetry-security_onion-telemetry-annotations_managed" in library_changes(states[MANAGER])


def test_uninstall_restores_security_onion_byte_for_byte(security_onion):
    so = security_onion
    soc_file = so.tree.saltstack / "local" / "pillar" / "soc" / "soc_soc.sls"
    soc_file.write_bytes(STATE["soc_soc"])  # the opt-out above was the admin's, not the install's
    trail = so.root(MANAGER) / "opt" / "so" / "log" / "so-telemetry" / "consent.jsonl"
    assert trail.is_file()
    proc = install(so, verb="uninstall")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    saltstack, config = trees(so)
    before_stack, before_config = STATE["before"]
    assert config == before_config
    # soup (above) put Security Onion's default/ back as it ships
    assert {p: b for p, b in saltstack.items()} == before_stack
    assert trail.is_file(), "uninstall removed the consent trail"
    print(f"\ninstall took {STATE['install_seconds']:.2f}s")
