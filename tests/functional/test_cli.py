"""The so-telemetry command against a masterless sandbox (real salt-call)."""

import json
import os
import pty
import select
import subprocess
import time

import pytest

from tests.conftest import SO_TELEMETRY

COMMENTED = """\
# Local SOC settings (written by the Configuration screen)
soc:
  # keep the UI quiet
  telemetryEnabled: false   # opted out during setup
  other_setting: keep-me
# trailing comment
"""


def soc_file(box):
    return box.pillar_dir / "soc" / "soc_soc.sls"


def run_tty(box, args, answer, timeout=90):
    """Run so-telemetry on a pseudo-terminal; type `answer` at the [Y/n] question."""
    env = dict(os.environ)
    env.update(
        SO_TELEMETRY_CONFIG_DIR=str(box.config_dir),
        SO_TELEMETRY_LOCAL="1",
        SO_TELEMETRY_PILLAR_DIR=str(box.pillar_dir),
    )
    master, slave = pty.openpty()
    proc = subprocess.Popen([SO_TELEMETRY, *args], stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out = b""
    sent = False
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if not sent and b"[Y/n]" in out and answer is not None:
                os.write(master, answer.encode() + b"\n")
                sent = True
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(master)
    return proc.returncode, out.decode(errors="replace"), sent


@pytest.mark.parametrize("answer,expected", [("y", True), ("n", False), ("", True), ("no", False)],
                         ids=["yes", "no", "empty-default-yes", "no-word"])
def test_prompt_setup_interactive(sandbox, answer, expected):
    rc, out, asked = run_tty(sandbox, ["prompt", "--during", "setup"], answer)
    assert rc == 0, out
    assert asked, out
    assert "www.googletagmanager.com" in out and "Tag Manager container" in out and "page URL" in out
    assert "never" not in out.lower()
    assert f"telemetryEnabled: {str(expected).lower()}" in soc_file(sandbox).read_text()
    assert sandbox.salt_call("telemetry.settings")["soc"]["enabled"] is expected


def test_prompt_keeps_comments(sandbox):
    soc_file(sandbox).parent.mkdir(parents=True)
    soc_file(sandbox).write_text(COMMENTED)
    rc, out, asked = run_tty(sandbox, ["prompt", "--during", "setup"], "y")
    assert rc == 0 and asked, out
    # exactly the one value changes; every comment, key and the order survive
    assert soc_file(sandbox).read_text() == COMMENTED.replace("telemetryEnabled: false  ", "telemetryEnabled: true   ")


def test_soup_never_turns_an_opt_out_back_on(sandbox):
    soc_file(sandbox).parent.mkdir(parents=True)
    soc_file(sandbox).write_text(COMMENTED)
    rc, out, asked = run_tty(sandbox, ["prompt", "--during", "soup"], "y")
    assert rc == 0 and not asked, out
    assert "stays disabled" in out
    assert soc_file(sandbox).read_text() == COMMENTED


def test_soup_asks_when_enabled(sandbox):
    rc, out, asked = run_tty(sandbox, ["prompt", "--during", "soup"], "n")
    assert rc == 0 and asked, out
    assert "telemetryEnabled: false" in soc_file(sandbox).read_text()
    assert "so-telemetry sync" in out


@pytest.mark.parametrize("during", ["setup", "soup"])
def test_unattended_and_no_tty_never_ask(sandbox, during):
    rc, out, asked = run_tty(sandbox, ["prompt", "--during", during, "--unattended"], "n")
    assert rc == 0 and not asked and "not asking" in out, out
    proc = sandbox.cli("prompt", "--during", during)  # stdin is /dev/null: no terminal
    assert proc.returncode == 0 and "no terminal" in proc.stdout, proc.stdout + proc.stderr
    assert "[Y/n]" not in proc.stdout
    assert not soc_file(sandbox).exists()


@pytest.mark.parametrize("grains,pillar", [({"airgap": True}, {}), ({}, {"global": {"airgap": True}})],
                         ids=["grain", "pillar"])
def test_airgapped_is_not_asked(sandbox, grains, pillar):
    sandbox.set_grains(**grains)
    sandbox.set_pillar(pillar)
    rc, out, asked = run_tty(sandbox, ["prompt", "--during", "setup"], "y")
    assert rc == 0 and not asked and "Airgapped" in out, out
    assert not soc_file(sandbox).exists()


def test_disable_enable_edits_in_place(sandbox):
    soc_file(sandbox).parent.mkdir(parents=True)
    soc_file(sandbox).write_text(COMMENTED.replace("telemetryEnabled: false", "telemetryEnabled: true "))
    proc = sandbox.cli("disable", "soc", check=True)
    assert "next grid resync" in proc.stdout and "so-telemetry sync" in proc.stdout
    text = soc_file(sandbox).read_text()
    assert "telemetryEnabled: false" in text
    for line in ("# Local SOC settings", "# keep the UI quiet", "# opted out during setup", "other_setting: keep-me",
                 "# trailing comment"):
        assert line in text
    state = sandbox.salt_call("telemetry.settings")
    assert state["soc"] == {"enabled": False, "pillar": False,
                            "reason": "soc:telemetryEnabled is false (set in pillar)"}

    sandbox.cli("disable", "os-updates", check=True)
    patch = (sandbox.pillar_dir / "patch" / "soc_patch.sls").read_text()
    assert patch == "patch:\n  os:\n    enabled: false\n"
    assert sandbox.salt_call("telemetry.query_params") == {}
    sandbox.cli("enable", "os-updates", check=True)
    assert sandbox.salt_call("telemetry.query_params")["os"] == "oracle9"


@pytest.mark.parametrize("content", ["soc: [unclosed\n", "- a\n- b\n", "soc: {{ salt['x']() }}\n",
                                     "soc:\n  telemetryEnabled: true\nsoc: twice\n"],
                         ids=["bad-yaml", "list", "jinja", "duplicate-key"])
def test_malformed_pillar_is_left_untouched(sandbox, content):
    soc_file(sandbox).parent.mkdir(parents=True)
    soc_file(sandbox).write_text(content)
    before = soc_file(sandbox).stat().st_mtime_ns
    proc = sandbox.cli("disable", "soc")
    assert proc.returncode == 2, proc.stdout
    assert "nothing was changed" in proc.stderr or "edit it by hand" in proc.stderr, proc.stderr
    assert str(soc_file(sandbox)) in proc.stderr
    assert soc_file(sandbox).read_text() == content
    assert soc_file(sandbox).stat().st_mtime_ns == before
    assert [p.name for p in soc_file(sandbox).parent.iterdir()] == ["soc_soc.sls"], "temp file left behind"


def test_config_search(sandbox):
    sandbox.cli("disable", "soc", check=True)
    out = json.loads(sandbox.cli("config", "search", "soc telemetry", "--json", check=True).stdout)
    (hit,) = out["settings"]
    assert hit["id"] == "soc.telemetryEnabled" and hit["title"] == "SOC Telemetry"
    assert hit["value"] == "false" and hit["salt"]["value"] is False
    proc = sandbox.cli("config", "search", "patch", check=True)
    assert "so_telemetry.owners.patch_schedule" in proc.stdout and "soc.telemetryEnabled" not in proc.stdout
    none = sandbox.cli("config", "search", "no-such-setting-xyz")
    assert none.returncode == 1 and "No setting matches" in none.stdout


def test_status(sandbox):
    rep = json.loads(sandbox.cli("status", "--json", check=True).stdout)
    assert rep["soc"]["enabled"] is True and rep["soc"]["destinations"] == ["www.googletagmanager.com"]
    assert rep["os_updates"]["fields"] == {"version": "2.4.190", "os": "oracle9", "arch": "x86_64"}
    human = sandbox.cli("status", check=True).stdout
    assert "SOC Telemetry: ON" in human and "version=2.4.190" in human and "two months" in human
    sandbox.set_grains(airgap=True)
    human = sandbox.cli("status", check=True).stdout
    assert "Airgap: YES (grain airgap is true)" in human
    assert "SOC Telemetry: off (airgapped" in human and "Automatic OS updates: off (airgapped" in human
    assert "fields sent: none" in human


def test_audit(sandbox):
    sandbox.set_grains(airgap=True)
    ret = sandbox.salt_call("state.highstate")
    assert all(v["result"] for v in ret.values())
    proc = sandbox.cli("audit", check=True)
    assert "audit: clean" in proc.stdout and "Hosts named: none" in proc.stdout
    repo = sandbox.path("/etc/yum.repos.d/securityonion.repo")
    repo.write_text(repo.read_text() + "# mirror: https://evil.example.com/x\n")
    proc = sandbox.cli("audit")
    assert proc.returncode == 1
    assert f"FAIL {repo}:" in proc.stdout and "evil.example.com" in proc.stdout


def test_highstate_idempotent_and_audit_clean_when_on(sandbox):
    first = sandbox.salt_call("state.highstate")
    assert all(v["result"] for v in first.values())
    # resync, repo, patch job, analytics.js, soc.json, the consent trail's starting state
    assert sum(1 for v in first.values() if v["changes"]) == 6
    before = sandbox.snapshot()
    second = sandbox.salt_call("state.highstate")
    assert [k for k, v in second.items() if v["changes"]] == []
    assert sandbox.snapshot() == before
    audit = sandbox.salt_call("telemetry.audit")
    assert audit["result"] is True
    assert audit["hosts"] == ["repo-alt.securityonion.net", "repo.securityonion.net", "sigs.securityonion.net",
                              "www.googletagmanager.com"]
