"""Living beside Security Onion's own Salt tree in one highstate: never two
writers, SOC's configuration never replaced, the telemetry setting either in
effect or reported as not in effect.

The manager is masterless on the stand-in of Security Onion 2.4's tree
(``tests/security_onion``: its ``file_roots`` and ``pillar_roots`` ``base``,
local before default, its docker and pkgrepo stubs) with this library served
as its own environment ``so_telemetry`` (as ``so-telemetry install
--security-onion`` serves it; the tops merge, Security Onion's stays as it
is), Salt's pkg modules disabled. Salt runs in this process
(``tests/functional/inproc.py``) but for the stand-in's own restart script,
which runs the real ``salt-call``. The stand-in's behaviour is checked on
the way: every one of its states passes and its so-soc container follows SOC
Telemetry; its restart script and soup are checked last."""

import json
import os
import subprocess

import pytest
import yaml

from tests.conftest import REPO, SALT_CALL, _ext_root, state_results
from tests.functional.inproc import InProcessSandbox
from tests.security_onion import build, docker_log, snapshot, soup

ENV = "so_telemetry"  # the library's environment on a Security Onion manager
MINION_ID = "sotest_manager"  # Security Onion's <host>_<role>
ANALYTICS = "/opt/so/conf/soc/analytics.js"
SOC_JSON = "/opt/so/conf/soc/soc.json"
REPO_FILE = "/etc/yum.repos.d/securityonion.repo"
ANALYTICS_BIND = "/opt/so/conf/soc/analytics.js:/opt/sensoroni/html/js/analytics.js:ro"
GTM = "www.googletagmanager.com"
# Every execution module that could provide `pkg` (as tests/integration/conftest.py).
PKG_MODULES = ("aptpkg", "yumpkg", "zypperpkg", "pacmanpkg", "pkgng", "opkg", "ebuildpkg", "mac_brew_pkg", "pkgin")

OURS = {
    "analytics": "so-telemetry-soc-config-telemetry-analytics_managed",
    "soc_json": "so-telemetry-soc-config-telemetry-soc_json_managed",
    "repo": "so-telemetry-repo-telemetry-repo_managed",
    "highstate_schedule": "so-telemetry-resync-telemetry-highstate_schedule",
    "patch_schedule": "so-telemetry-patch-os-schedule-telemetry-patch_schedule",
}
CONSENT = "so-telemetry-consent-telemetry-consent_recorded"
HOSTS = {  # Security Onion's state for each artefact
    "analytics": "socanalytics",
    "soc_json": "socconfig",
    "repo": "so_repo",
    "highstate_schedule": "highstate_schedule",
    "patch_schedule": "patch_os_schedule",
}
# The host tree owns every artefact it writes (README: "On a Security Onion manager").
ON_SO = {"so_telemetry": {"owners": {art: "host" for art in HOSTS}}}


class Manager(InProcessSandbox):
    """A masterless Security Onion manager: the stand-in tree (built under
    ``base/saltstack``) in ``base``, this library in ``so_telemetry``, whose
    pillar root is the sandbox's own (``tests.sls``: ``set_pillar``)."""

    def __init__(self, base, pillar=None):
        config_dir = base / "etc" / "salt"
        self.tree = build(base / "saltstack", {MINION_ID: "so-manager"},
                          salt_call=[SALT_CALL, "--config-dir", str(config_dir), "--local"], root=base / "root")
        super().__init__(base, pillar=pillar, minion_id=MINION_ID)
        (self.pillar_dir / "top.sls").write_text(yaml.safe_dump({ENV: {"*": ["tests"]}}))

    def write_config(self, **extra):
        roots = self.tree.master_settings()
        super().write_config(**{
            "file_roots": {**roots["file_roots"], ENV: [str(REPO / "salt"), str(_ext_root())]},
            "pillar_roots": {**roots["pillar_roots"], ENV: [str(self.pillar_dir)]},
            "env_order": ["base", ENV],
            # SAFETY: no package manager is reachable; the stand-in's own
            # pkgrepo (default/salt/_states) replaces Salt's
            "disable_modules": list(PKG_MODULES),
            "disable_states": ["pkg"],
            **extra,
        })

    def set_security_onion_pillar(self, comp, **keys):
        """Set keys under ``comp`` in ``local/pillar/<comp>/soc_<comp>.sls``
        (as SOC's Configuration screen does)."""
        path = self.tree.saltstack / "local" / "pillar" / comp / f"soc_{comp}.sls"
        data = yaml.safe_load(path.read_text()) or {}
        data.setdefault(comp, {}).update(keys)
        path.write_text(yaml.safe_dump(data, default_flow_style=False))

    def highstate(self):
        return state_results(self.salt_call("state.highstate", check=False))

    def status(self):
        return self.cli("status", env={"SO_TELEMETRY_PILLAR_DIR": str(self.tree.saltstack / "local" / "pillar")})


@pytest.fixture
def so_manager(tmp_path):
    count = [0]

    def make(pillar):
        count[0] += 1
        return Manager(tmp_path / f"manager{count[0]}", pillar=pillar)

    return make


def changed(results):
    return {sid: val["changes"] for sid, val in results.items() if val["changes"]}


def security_onion_passed(results):
    failed = {sid: val["comment"] for sid, val in results.items()
              if not sid.startswith("so-telemetry-") and val["result"] is not True}
    assert not failed, f"Security Onion's states failed: {failed}"


def highstate_twice(box):
    """Two highstates; the second changes nothing and rewrites nothing (one
    writer per file and job)."""
    first = box.highstate()
    snap = box.snapshot()
    second = box.highstate()
    assert changed(second) == {}, "the second highstate changed something: two writers?"
    assert box.snapshot() == snap, "a file flipped between writers (content, mode or mtime)"
    security_onion_passed(first)
    security_onion_passed(second)
    return first, second


def test_host_owns_what_it_manages_and_a_mismatch_is_reported(so_manager):
    """The host tree owns every artefact it writes: the library writes none
    of them and checks each. Then SOC Telemetry is turned off in Security
    Onion's pillar: Security Onion recreates so-soc once without the
    analytics bind but keeps writing its loader, which the library reports
    as not matching; then airgapped, its patch job too. Each a failure that
    says so."""
    box = so_manager(ON_SO)
    assert box.salt_call("sys.list_functions", "pkg") == [], "pkg functions reachable"
    first, second = highstate_twice(box)
    for sid in ("so_repo", "yumconf", "highstate_schedule", "patch_os_schedule", "socanalytics", "socconfig", "so-soc"):
        assert first[sid]["changes"], (sid, first[sid]["comment"])
    for art, sid in OURS.items():
        assert first[sid]["result"] is True and first[sid]["changes"] == {}, (art, first[sid])
        assert "Owned by the host tree" in first[sid]["comment"], first[sid]["comment"]
        verdict = "does not say" if art == "soc_json" else "matches the effective setting"
        assert verdict in second[sid]["comment"], second[sid]["comment"]
    # every file and job is the host's, untouched by this library
    text = box.path(SOC_JSON).read_text()
    assert "telemetryEnabled" not in text
    soc = json.loads(text)
    assert soc["server"]["bindAddress"] == "0.0.0.0:9822" and soc["server"]["srvKey"].startswith("c3RhbmQtaW4")
    assert soc["server"]["airgapEnabled"] is False and soc["server"]["proxy"] == ""
    assert GTM in box.path(ANALYTICS).read_text()
    assert "?" not in box.path(REPO_FILE).read_text() and "baseurl=file:///nsm/repo/" in box.path(REPO_FILE).read_text()
    jobs = box.schedule_conf()
    assert set(jobs) == {"highstate_schedule", "patch_os_schedule"}, "one resync job and one update job"
    assert {k: jobs["highstate_schedule"].get(k) for k in ("function", "minutes", "maxrunning")} == {
        "function": "state.highstate", "minutes": 15, "maxrunning": 1}
    patch = jobs["patch_os_schedule"]
    assert (patch["function"], patch["args"], patch["hours"], patch["splay"]) == ("state.sls", ["patch.os"], 8, 900)
    assert patch["return_job"] is True, "the host's job, not rewritten by this library"
    log = docker_log(box.root)
    assert [(line["action"], line["name"]) for line in log] == [("create", "so-soc")]
    assert ANALYTICS_BIND in log[0]["binds"]
    audit = box.salt_call("telemetry.audit")
    assert audit["result"] is True and audit["mismatches"] == {}
    created = log

    box.set_security_onion_pillar("soc", telemetryEnabled=False)
    off = box.highstate()
    security_onion_passed(off)
    # Security Onion recreates SOC; the library writes only its own consent trail
    assert set(changed(off)) == {"so-soc", CONSENT}, changed(off)
    assert [(r["channel"], r["old"], r["new"]) for r in off[CONSENT]["changes"]["records"]] == [("soc", "on", "off")]
    new = docker_log(box.root)[len(created):]
    assert [(line["action"], line["name"]) for line in new] == [("recreate", "so-soc")]
    assert ANALYTICS_BIND not in new[0]["binds"]
    assert "/opt/so/conf/soc/soc.json:/opt/sensoroni/sensoroni.json:ro" in new[0]["binds"]
    comment = off[OURS["analytics"]]["comment"]
    assert "DOES NOT match" in comment and f"still loads {GTM}" in comment, comment
    assert GTM in box.path(ANALYTICS).read_text(), "the host's file is the host's: not rewritten"

    box.set_security_onion_pillar("global", airgap=True)
    highstate_twice(box)
    audit = box.salt_call("telemetry.audit", check=False)
    assert audit["result"] is False
    assert set(audit["mismatches"]) == {"analytics", "patch_schedule"}, audit["mismatches"]
    assert "airgap" in audit["mismatches"]["patch_schedule"]["detail"]
    report = box.salt_call("telemetry.report")
    assert report["host_checks"]["analytics"]["matches"] is False
    status = box.status()
    assert status.returncode == 0, status.stderr
    assert "DOES NOT match" in status.stdout and "analytics.js" in status.stdout, status.stdout


def test_library_owner_refuses_to_be_a_second_writer(so_manager):
    """The library is told it owns everything, but the host tree writes the
    same files, repository and jobs in the same run: it refuses, naming the
    other state, and nothing flips."""
    box = so_manager({})
    first, second = highstate_twice(box)
    for art, other in HOSTS.items():
        for run in (first, second):
            ret = run[OURS[art]]
            assert ret["result"] is False and ret["changes"] == {}, (art, ret)
            assert f"state {other} " in ret["comment"] and f"so_telemetry:owners:{art}: host" in ret["comment"], ret
    text = box.path(SOC_JSON).read_text()
    assert "telemetryEnabled" not in text, "the library merged into a file another state writes"
    assert json.loads(text)["server"]["srvKey"].startswith("c3RhbmQtaW4")  # Security Onion's pillar
    assert "?" not in box.path(REPO_FILE).read_text()
    assert set(box.schedule_conf()) == {"highstate_schedule", "patch_os_schedule"}


def test_standin_restart_script_and_soup(so_manager):
    """The stand-in's so-soc-restart (docker stop, rm, then the real
    ``salt-call state.apply soc``) and soup (default/ replaced wholesale,
    local/ kept), which the integration tests rely on."""
    box = so_manager(ON_SO)
    box.highstate()  # syncs the stand-in's docker_container and pkgrepo stubs, creates so-soc
    pristine = snapshot(box.tree.saltstack / "default")

    proc = subprocess.run(
        [str(box.tree.bin / "so-soc-restart")], capture_output=True, text=True, stdin=subprocess.DEVNULL,
        check=False, timeout=300, env={**os.environ, "SO_TELEMETRY_ROOT": str(box.root)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    actions = [(line["action"], line["by"]) for line in docker_log(box.root)]
    assert actions == [("create", "salt"), ("stop", "cli"), ("rm", "cli"), ("create", "salt")]

    default = box.tree.saltstack / "default"
    (default / "salt" / "soc" / "defaults.yaml").write_text("soc: {}\n")
    (default / "salt" / "extra.sls").write_text("{}\n")
    box.set_security_onion_pillar("soc", telemetryEnabled=False)
    local = snapshot(box.tree.saltstack / "local")
    soup(box.tree.saltstack)
    assert snapshot(default) == pristine
    assert snapshot(box.tree.saltstack / "local") == local
    other = build(box.base / "other", {MINION_ID: "so-manager"})
    soup(box.tree.saltstack, other.saltstack)
    assert snapshot(default) == snapshot(other.saltstack / "default") != pristine
