"""No secret in any return (issue: "One engine, one truth").

A manager whose local pillar (``manager/soc_manager.sls``, as Security
Onion's Configuration screen writes it) holds a proxy password: every
function ``sys.list_functions telemetry`` lists, a highstate (and its
``test=True``), and the ``so-telemetry`` commands that show values: the
password is in none of what they return or print, nor in the minion's log.
It is in the repository file, where dnf needs it, and that file is 0600.
"""

import configparser
import json
import stat
import urllib.parse

import so_telemetry_core as core
import yaml

from tests.dnf.repo_server import closed_port
from tests.functional.inproc import InProcessSandbox

PASSWORD = "S3cretPw"


def test_no_secret_leaves(tmp_path):
    # the functions' returns in process (as salt-call returns them); the
    # highstate and the commands as real processes, the minion logging at debug
    sandbox = InProcessSandbox(tmp_path / "sandbox")
    proxy = f"http://alice:{PASSWORD}@127.0.0.1:{closed_port()}"  # a proxy that refuses: nothing leaves the box
    local = sandbox.pillar_dir / "manager" / "soc_manager.sls"
    local.parent.mkdir(parents=True)
    local.write_text(yaml.safe_dump({"manager": {"proxy": proxy}}))
    sandbox.write_config(log_level_logfile="debug")
    secrets = (PASSWORD, urllib.parse.quote(PASSWORD, safe=""))

    funcs = sandbox.salt_call("sys.list_functions", "telemetry")
    assert "telemetry.report" in funcs and "telemetry.repo_file" not in funcs, funcs
    returns = {}
    for fun in funcs:
        if fun == "telemetry.config":
            for comp in core.config.COMPONENTS:
                returns[f"{fun} {comp}"] = sandbox.salt_call(fun, comp)
        elif fun == "telemetry.check":
            returns[f"{fun} dry_run"] = sandbox.salt_call(fun, "dry_run=True")
            returns[fun] = sandbox.salt_call(fun, "timeout=5", check=False)  # the proxy refuses: result False
        else:
            returns[fun] = sandbox.salt_call(fun, check=False)
    returns["highstate test=True"] = sandbox.salt_call("state.highstate", "test=True")
    returns["highstate"] = sandbox.subprocess_call("state.highstate")
    text = json.dumps(returns)
    for secret in secrets:
        assert secret not in text, f"the proxy password is in a return: {text[text.find(secret) - 300:][:600]}"
    assert "alice:******@127.0.0.1" in json.dumps(returns["telemetry.config manager"])
    assert returns["telemetry.report"]["os_updates"]["proxy"]["password"] == "******"
    assert returns["telemetry.check"]["result"] is False  # it did try, through the proxy

    # what the commands print
    outputs = [sandbox.cli(*args) for args in (["status"], ["status", "--json"],
                                               ["config", "search", "proxy", "--advanced"],
                                               ["config", "search", "proxy", "--json", "--advanced"],
                                               ["check", "--dry-run"],
                                               ["audit"])]
    for proc in outputs:
        assert proc.returncode in (0, 1), proc.stderr
        for secret in secrets:
            assert secret not in proc.stdout + proc.stderr, f"so-telemetry printed the password: {proc.args}"
    hit = {h["id"]: h for h in json.loads(outputs[3].stdout)["settings"]}["manager.proxy"]
    assert hit["sensitive"] is True and hit["value"] == "******"  # the screen
    assert hit["salt"]["value"].startswith("http://alice:******@127.0.0.1:")  # what Salt reads, masked

    # the minion's log, at debug level
    log = sandbox.base / "var" / "log" / "salt" / "minion"
    assert log.exists()
    for secret in secrets:
        assert secret not in log.read_text(errors="replace"), "the proxy password is in the minion log"

    # where dnf needs it: the repository file, 0600
    repo_file = sandbox.path("/etc/yum.repos.d/securityonion.repo")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(repo_file.read_text())
    assert parser["securityonion"]["proxy_password"] == PASSWORD
    assert parser["securityonion"]["proxy_username"] == "alice"
    assert stat.S_IMODE(repo_file.stat().st_mode) == 0o600
