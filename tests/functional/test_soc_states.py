"""SOC files through the real salt-call: on / off / airgapped x test mode."""

import json

import pytest

from tests.conftest import state_results

ANALYTICS = "/opt/so/conf/soc/analytics.js"
SOC_JSON = "/opt/so/conf/soc/soc.json"
SID = "so-telemetry-soc-config-telemetry-soc_config"
RELOAD = "so-telemetry-soc-config-cmd-run-reload"

CASES = {
    "on": ({}, {}, True),
    "off": ({}, {"soc": {"telemetryEnabled": False}}, False),
    "airgap-grain": ({"airgap": True}, {}, False),
    "airgap-pillar": ({}, {"global": {"airgap": True}}, False),
    "airgap-malformed-grain": ({"airgap": "maybe"}, {}, False),
}


@pytest.fixture
def soc_sandbox(make_sandbox, tmp_path):
    def make(grains, pillar):
        box = make_sandbox(grains=grains)
        marker = tmp_path / "reloads.log"
        pil = {"soc": {"reload_cmd": f"sh -c 'echo reload >> {marker}'"}}
        for key, val in pillar.items():
            pil.setdefault(key, {}).update(val)
        box.set_pillar(pil)
        box.marker = marker
        return box

    return make


def reloads(box):
    return box.marker.read_text().count("reload") if box.marker.exists() else 0


@pytest.mark.parametrize("test_mode", [True, False], ids=["test", "real"])
@pytest.mark.parametrize("case", list(CASES))
def test_soc_files(soc_sandbox, case, test_mode):
    grains, pillar, enabled = CASES[case]
    box = soc_sandbox(grains, pillar)
    predicted = state_results(box.salt_call("state.apply", "soc", "test=True"))
    assert predicted[SID]["result"] is None
    assert set(predicted[SID]["changes"]) == {str(box.path(ANALYTICS)), str(box.path(SOC_JSON))}
    assert box.files() == {}, "test=True wrote files"
    assert reloads(box) == 0
    if test_mode:
        return

    ret = state_results(box.salt_call("state.apply", "soc"))
    assert ret[SID]["result"] is True
    assert ret[SID]["changes"] == predicted[SID]["changes"], "test=True did not predict the real run"
    files = box.files()
    script = files[ANALYTICS].decode()
    if enabled:
        assert "https://www.googletagmanager.com/gtm.js" in script
        assert '"GTM-TM46SL7T"' in script
    else:
        assert script == "", "the browser must load nothing"
        assert "googletagmanager" not in files[SOC_JSON].decode()
    soc = json.loads(files[SOC_JSON])
    assert soc["server"]["client"]["telemetryEnabled"] is enabled
    assert soc["server"]["client"]["docsUrl"] == "/docs/"
    for path in (ANALYTICS, SOC_JSON):
        assert box.path(path).stat().st_mode & 0o777 == 0o600
    assert reloads(box) == 1, "SOC reload must fire once when a SOC file changed"

    before = box.snapshot()
    again = state_results(box.salt_call("state.apply", "soc"))
    assert again[SID]["changes"] == {}
    assert again[SID]["result"] is True
    assert box.snapshot() == before, "second run rewrote a file (content, mode or mtime)"
    assert reloads(box) == 1, "SOC reload fired with nothing changed"


def test_toggle_reports_old_and_new(soc_sandbox):
    box = soc_sandbox({}, {})
    box.salt_call("state.apply", "soc")
    old_script = box.path(ANALYTICS).read_text()
    box.set_pillar({"soc": {"telemetryEnabled": False, "reload_cmd": f"sh -c 'echo reload >> {box.marker}'"}})
    ret = state_results(box.salt_call("state.apply", "soc"))
    change = ret[SID]["changes"][str(box.path(ANALYTICS))]
    assert change == {"old": old_script, "new": ""}
    assert reloads(box) == 2


def test_pillar_config_merges_but_cannot_force_telemetry(soc_sandbox):
    box = soc_sandbox(
        {"airgap": True},
        {"soc": {"config": {"server": {"developerEnabled": True, "client": {"telemetryEnabled": True}}}}},
    )
    box.salt_call("state.apply", "soc")
    soc = json.loads(box.path(SOC_JSON).read_text())
    assert soc["server"]["developerEnabled"] is True
    assert soc["server"]["client"]["docsUrl"] == "/docs/", "defaults lost in the merge"
    assert soc["server"]["client"]["telemetryEnabled"] is False
    assert box.path(ANALYTICS).read_bytes() == b""


@pytest.mark.parametrize("bad", ["maybe", 2, ["yes"]], ids=["maybe", "int", "list"])
def test_bad_value_fails_naming_key_and_changes_nothing(soc_sandbox, bad):
    box = soc_sandbox({}, {})
    box.salt_call("state.apply", "soc")
    before = box.snapshot()
    box.set_pillar({"soc": {"telemetryEnabled": bad, "reload_cmd": f"sh -c 'echo reload >> {box.marker}'"}})
    ret = state_results(box.salt_call("state.apply", "soc", check=False))
    assert ret[SID]["result"] is False
    assert "soc:telemetryEnabled" in ret[SID]["comment"]
    assert repr(bad) in ret[SID]["comment"]
    assert ret[SID]["changes"] == {}
    assert box.snapshot() == before, "a refused state touched files"
    # the reload hook (or, with no reload command installed, its notice) did not run
    hooks = {k: v for k, v in ret.items() if k.startswith("so-telemetry-soc-config-") and k != SID}
    assert len(hooks) == 1 and all(v["changes"] == {} for v in hooks.values()), hooks


def test_bad_soc_value_does_not_hold_up_the_other_channel(sandbox):
    sandbox.set_pillar({"soc": {"telemetryEnabled": "maybe"}, "patch": {"os": {"enabled": False}}})
    ret = state_results(sandbox.salt_call("state.highstate", check=False))
    assert ret[SID]["result"] is False and "soc:telemetryEnabled" in ret[SID]["comment"]
    prefixes = ("so-telemetry-repo", "so-telemetry-resync", "so-telemetry-patch")
    others = {k: v for k, v in ret.items() if k.startswith(prefixes)}
    assert len(others) == 3 and all(v["result"] is True for v in others.values()), others
    assert "?" not in sandbox.path("/etc/yum.repos.d/securityonion.repo").read_text()
    assert not sandbox.path(ANALYTICS).exists()


def test_missing_reload_command_is_said_not_failed(sandbox):
    sandbox.set_pillar({"soc": {"reload_cmd": "so-soc-restart-not-installed-here"}})
    ret = state_results(sandbox.salt_call("state.apply", "soc"))
    notice = ret["so-telemetry-soc-config-test-show_notification-no-reload"]
    assert notice["result"] is True and "is not installed here" in notice["comment"]
    again = state_results(sandbox.salt_call("state.apply", "soc"))
    assert again["so-telemetry-soc-config-test-show_notification-no-reload"]["comment"].startswith(
        "State was not run because none of the onchanges reqs changed"
    )
