"""The Security Onion 2.4 stand-in (``tests/security_onion``) alone, masterless
with the real ``salt-call --local``: it converges, it is then quiet, and
turning SOC telemetry off recreates so-soc once without the analytics bind.
Also its restart script and soup."""

import json
import os
import pathlib
import subprocess

import yaml

from tests.conftest import SALT_CALL, state_results
from tests.security_onion import build, docker_log, snapshot, soup

MINION_ID = "sotest_manager"
ANALYTICS_BIND = "/opt/so/conf/soc/analytics.js:/opt/sensoroni/html/js/analytics.js:ro"
GTM_URL = "https://www.googletagmanager.com/gtm.js?id=GTM-TM46SL7T"
# Every execution module that could provide `pkg` (as tests/integration/conftest.py).
PKG_MODULES = ("aptpkg", "yumpkg", "zypperpkg", "pacmanpkg", "pkgng", "opkg", "ebuildpkg", "mac_brew_pkg", "pkgin")


class Manager:
    """A masterless Security Onion manager on the stand-in tree."""

    def __init__(self, base):
        base = pathlib.Path(base).resolve()
        self.root = base / "root"
        self.config_dir = base / "etc" / "salt"
        (self.config_dir / "minion.d").mkdir(parents=True)
        self.root.mkdir()
        self.salt_call_cmd = [SALT_CALL, "--config-dir", str(self.config_dir), "--local"]
        self.tree = build(base / "saltstack", {MINION_ID: "so-manager"}, salt_call=self.salt_call_cmd, root=self.root)
        conf = {
            "id": MINION_ID,
            "file_client": "local",
            "root_dir": str(base),
            "user": "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody"),
            "so_telemetry_root": str(self.root),
            "grains": {"role": "so-manager", "os": "OEL", "osmajorrelease": 9, "cpuarch": "x86_64"},
            "enable_fqdns_grains": False,
            "log_level_logfile": "warning",
            # SAFETY: no package manager is reachable. `pkgrepo` stays enabled:
            # the stand-in's own pkgrepo (default/salt/_states) replaces Salt's.
            "disable_modules": list(PKG_MODULES),
            "disable_states": ["pkg"],
            **self.tree.master_settings(),
        }
        (self.config_dir / "minion").write_text(yaml.safe_dump(conf))

    def salt_call(self, *args):
        proc = subprocess.run(
            [*self.salt_call_cmd, "--out=json", "--log-level=error", *args],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False, timeout=300,
        )
        try:
            return proc.returncode, json.loads(proc.stdout)["local"]
        except (ValueError, KeyError):
            raise AssertionError(f"{args} -> rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}") from None

    def highstate(self):
        """A highstate every state of which passed: ``{state id: result}``."""
        rc, ret = self.salt_call("state.highstate")
        results = state_results(ret)
        failed = {sid: val["comment"] for sid, val in results.items() if val["result"] is not True}
        assert rc == 0 and not failed, f"highstate rc {rc}: {failed}"
        return results

    def path(self, abspath):
        return self.root / abspath.lstrip("/")

    def schedule(self):
        path = self.config_dir / "minion.d" / "_schedule.conf"
        if not path.exists():
            return {}
        return (yaml.safe_load(path.read_text()) or {}).get("schedule") or {}

    def rendered(self):
        """{path: (bytes, mode, mtime_ns)} of every file under the root, and the schedules."""
        paths = sorted(p for p in self.root.rglob("*") if p.is_file())
        paths.append(self.config_dir / "minion.d" / "_schedule.conf")
        return {str(p): (p.read_bytes(), p.stat().st_mode & 0o7777, p.stat().st_mtime_ns) for p in paths}

    def set_soc_pillar(self, **keys):
        """Set keys under `soc` in local/pillar/soc/soc_soc.sls (as so-yaml.py does)."""
        path = self.tree.saltstack / "local" / "pillar" / "soc" / "soc_soc.sls"
        data = yaml.safe_load(path.read_text())
        data["soc"].update(keys)
        path.write_text(yaml.safe_dump(data, default_flow_style=False))


def changed(results):
    return {sid: val["changes"] for sid, val in results.items() if val["changes"]}


def test_converges_is_quiet_and_follows_telemetry(tmp_path):
    box = Manager(tmp_path)
    rc, funcs = box.salt_call("sys.list_functions", "pkg")
    assert rc == 0 and funcs == [], f"pkg functions reachable: {funcs}"

    first = box.highstate()
    for sid in ("so_repo", "yumconf", "highstate_schedule", "patch_os_schedule", "socanalytics", "socconfig", "so-soc"):
        assert first[sid]["changes"], (sid, first[sid]["comment"])
    assert GTM_URL in box.path("/opt/so/conf/soc/analytics.js").read_text()
    soc_json = json.loads(box.path("/opt/so/conf/soc/soc.json").read_text())
    assert soc_json["server"]["airgapEnabled"] is False and soc_json["server"]["proxy"] == ""
    repo = box.path("/etc/yum.repos.d/securityonion.repo").read_text()
    assert repo == "[securityonion]\nbaseurl=file:///nsm/repo/\nenabled=1\ngpgcheck=1\nname=Security Onion Repo\n\n"
    jobs = box.schedule()
    assert {k: jobs["highstate_schedule"].get(k) for k in ("function", "minutes", "maxrunning")} == {
        "function": "state.highstate", "minutes": 15, "maxrunning": 1}
    patch = jobs["patch_os_schedule"]
    assert (patch["function"], patch["args"], patch["hours"], patch["splay"]) == ("state.sls", ["patch.os"], 8, 900)
    log = docker_log(box.root)
    assert [(line["action"], line["name"]) for line in log] == [("create", "so-soc")]
    assert ANALYTICS_BIND in log[0]["binds"]

    before = box.rendered()
    second = box.highstate()
    assert changed(second) == {}
    assert box.rendered() == before, "the second highstate rewrote a file or a schedule"
    assert docker_log(box.root) == log

    box.set_soc_pillar(telemetryEnabled=False)
    third = box.highstate()
    assert set(changed(third)) == {"so-soc"}, changed(third)
    new = docker_log(box.root)[len(log):]
    assert [(line["action"], line["name"]) for line in new] == [("recreate", "so-soc")]
    assert ANALYTICS_BIND not in new[0]["binds"]
    assert "/opt/so/conf/soc/soc.json:/opt/sensoroni/sensoroni.json:ro" in new[0]["binds"]
    # Security Onion keeps writing the loader; only the bind goes
    assert box.path("/opt/so/conf/soc/analytics.js").read_bytes() == before[str(box.path(
        "/opt/so/conf/soc/analytics.js"))][0]


def test_restart_script_and_soup(tmp_path):
    box = Manager(tmp_path)
    box.highstate()
    pristine = snapshot(box.tree.saltstack / "default")

    proc = subprocess.run(
        [str(box.tree.bin / "so-soc-restart")], capture_output=True, text=True, stdin=subprocess.DEVNULL,
        check=False, timeout=300, env={**os.environ, "SO_TELEMETRY_ROOT": str(box.root)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    actions = [(line["action"], line["by"]) for line in docker_log(box.root)]
    assert actions == [("create", "salt"), ("stop", "cli"), ("rm", "cli"), ("create", "salt")]

    # soup replaces default/ wholesale and keeps local/
    default = box.tree.saltstack / "default"
    (default / "salt" / "soc" / "defaults.yaml").write_text("soc: {}\n")
    (default / "salt" / "extra.sls").write_text("{}\n")
    box.set_soc_pillar(telemetryEnabled=False)
    local = snapshot(box.tree.saltstack / "local")
    soup(box.tree.saltstack)
    assert snapshot(default) == pristine
    assert snapshot(box.tree.saltstack / "local") == local
    other = build(tmp_path / "other", {MINION_ID: "so-manager"})
    soup(box.tree.saltstack, other.saltstack)
    assert snapshot(default) == snapshot(other.saltstack / "default") != pristine
