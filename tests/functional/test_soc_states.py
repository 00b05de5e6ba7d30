"""SOC files through Salt's state system (Salt's masterless minion in this
process, ``tests/functional/inproc.py``; the highstate warning through the
real ``salt-call``): on / off / airgapped, test=True first, ownership and
mode as SOC needs them, soc.json merged into SOC's own file."""

import json
import os

import pytest

from tests.conftest import state_results
from tests.functional.inproc import inprocess_sandbox, inprocess_sandboxes  # noqa: F401  (fixtures: sandbox, make_sandbox)

ANALYTICS = "/opt/so/conf/soc/analytics.js"
SOC_JSON = "/opt/so/conf/soc/soc.json"
JS_SID = "so-telemetry-soc-config-telemetry-analytics_managed"
JSON_SID = "so-telemetry-soc-config-telemetry-soc_json_managed"
SIDS = (JS_SID, JSON_SID)
RELOAD = "so-telemetry-soc-config-cmd-run-reload"
GTM = "https://www.googletagmanager.com/gtm.js"

CASES = {
    "on": ({}, {}, True),
    "off": ({}, {"soc": {"telemetryEnabled": False}}, False),
    "airgap-grain": ({"airgap": True}, {}, False),
    "airgap-pillar": ({}, {"global": {"airgap": True}}, False),
    "airgap-malformed-grain": ({"airgap": "maybe"}, {}, False),
}

# A SOC configuration as Security Onion renders it (sorted, four-space
# indents), with keys this library does not own.
SO_SOC_JSON = {
    "licenseKey": "",
    "server": {
        "airgapEnabled": False,
        "baseUrl": "/",
        "client": {"docsUrl": "/docs/", "enableReverseLookup": False, "apiTimeoutMs": 300000,
                   "hunt": {"groupItemsPerPage": 10, "queries": [{"name": "Default", "query": "*"}]}},
        "modules": {"elastic": {"hostUrl": "https://manager:9200", "timeoutMs": 300000}},
        "srvKey": "abc=",
    },
}


@pytest.fixture
def soc_sandbox(make_sandbox, tmp_path):
    def make(grains, pillar):
        box = make_sandbox(grains=grains)
        marker = tmp_path / f"reloads-{id(box)}.log"
        pil = {"soc": {"reload_cmd": f"sh -c 'echo reload >> {marker}'"}}
        for key, val in pillar.items():
            pil.setdefault(key, {}).update(val)
        box.set_pillar(pil)
        box.marker = marker
        box.base_pillar = pil
        return box

    return make


def reloads(box):
    return box.marker.read_text().count("reload") if box.marker.exists() else 0


def owner(box, path):
    st = box.path(path).stat()
    return st.st_uid, st.st_gid, st.st_mode & 0o7777


@pytest.mark.parametrize("case", list(CASES))
def test_soc_files(soc_sandbox, case):
    grains, pillar, enabled = CASES[case]
    box = soc_sandbox(grains, pillar)
    predicted = state_results(box.salt_call("state.apply", "so_telemetry.soc", "test=True"))
    for sid in SIDS:
        assert predicted[sid]["result"] is None, predicted[sid]
        assert predicted[sid]["changes"], "test=True must predict the new file"
    assert predicted[JS_SID]["name"] == str(box.path(ANALYTICS)), "the state is named after the file it manages"
    assert predicted[JSON_SID]["name"] == str(box.path(SOC_JSON))
    assert box.files() == {}, "test=True wrote files"
    assert reloads(box) == 0

    ret = state_results(box.salt_call("state.apply", "so_telemetry.soc"))
    for sid in SIDS:
        assert ret[sid]["result"] is True and ret[sid]["changes"], ret[sid]
    files = box.files()
    script = files[ANALYTICS].decode()
    if enabled:
        assert f'{GTM}?id=" + encodeURIComponent(container)' in script
        assert '"GTM-TM46SL7T"' in script
    else:
        assert script == "", "the browser must load nothing"
        assert "googletagmanager" not in files[SOC_JSON].decode()
    soc = json.loads(files[SOC_JSON])
    assert soc == {"server": {"client": {"telemetryEnabled": enabled}}}, "a new soc.json holds only owned keys"
    for path in (ANALYTICS, SOC_JSON):
        assert owner(box, path) == (939, 939, 0o600), "SOC (socore, 939) must be able to read its files"
    assert reloads(box) == 1, "SOC reload must fire once when a SOC file changed"

    before = box.snapshot()
    again = state_results(box.salt_call("state.apply", "so_telemetry.soc"))
    for sid in SIDS:
        assert again[sid]["changes"] == {} and again[sid]["result"] is True
    assert box.snapshot() == before, "second run rewrote a file (content, mode or mtime)"
    assert reloads(box) == 1, "SOC reload fired with nothing changed"


def test_toggle_shows_a_diff_and_reloads(soc_sandbox):
    box = soc_sandbox({}, {})
    box.salt_call("state.apply", "so_telemetry.soc")
    box.set_pillar({**box.base_pillar, "soc": {**box.base_pillar["soc"], "telemetryEnabled": False}})
    predicted = state_results(box.salt_call("state.apply", "so_telemetry.soc", "test=True"))
    assert predicted[JS_SID]["result"] is None and "googletagmanager" in predicted[JS_SID]["changes"]["diff"]
    assert GTM in box.path(ANALYTICS).read_text(), "test=True changed the file"
    ret = state_results(box.salt_call("state.apply", "so_telemetry.soc"))
    assert ret[JS_SID]["changes"]["diff"] == predicted[JS_SID]["changes"]["diff"], "test=True did not predict the run"
    assert "-// Managed by so-telemetry" in ret[JS_SID]["changes"]["diff"]
    assert box.path(ANALYTICS).read_bytes() == b""
    assert '"telemetryEnabled": false' in box.path(SOC_JSON).read_text()
    assert reloads(box) == 2


def test_soc_json_is_merged_never_replaced(soc_sandbox):
    box = soc_sandbox({}, {"soc": {"config": {"server": {"client": {"apiTimeoutMs": 60000}}}}})
    target = box.path(SOC_JSON)
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(SO_SOC_JSON, indent=4, sort_keys=True))
    ret = state_results(box.salt_call("state.apply", "so_telemetry.soc"))
    assert ret[JSON_SID]["result"] is True and ret[JSON_SID]["changes"]
    soc = json.loads(target.read_text())
    expected = json.loads(json.dumps(SO_SOC_JSON))
    expected["server"]["client"]["apiTimeoutMs"] = 60000  # soc:config sets it
    expected["server"]["client"]["telemetryEnabled"] = True  # the effective flag
    assert soc == expected, "a key of SOC's configuration was lost or changed"
    assert owner(box, SOC_JSON) == (939, 939, 0o600)
    before = box.snapshot()
    again = state_results(box.salt_call("state.apply", "so_telemetry.soc"))
    assert again[JSON_SID]["changes"] == {} and box.snapshot() == before


def test_soc_json_already_right_is_not_rewritten(soc_sandbox):
    """Formatting is SOC's business: a file whose owned keys already hold the
    right values is left byte for byte, whatever its indentation."""
    box = soc_sandbox({}, {})
    target = box.path(SOC_JSON)
    target.parent.mkdir(parents=True)
    data = json.loads(json.dumps(SO_SOC_JSON))
    data["server"]["client"]["telemetryEnabled"] = True
    text = json.dumps(data, indent=2)  # not how this library would write it
    target.write_text(text)
    os.chown(target, 939, 939)
    os.chmod(target, 0o600)
    mtime = target.stat().st_mtime_ns
    ret = state_results(box.salt_call("state.apply", "so_telemetry.soc"))
    assert ret[JSON_SID]["result"] is True and ret[JSON_SID]["changes"] == {}
    assert target.read_text() == text and target.stat().st_mtime_ns == mtime


def test_ownership_and_mode_are_restored(soc_sandbox):
    box = soc_sandbox({}, {})
    box.salt_call("state.apply", "so_telemetry.soc")
    os.chown(box.path(ANALYTICS), 0, 0)
    os.chmod(box.path(SOC_JSON), 0o644)
    predicted = state_results(box.salt_call("state.apply", "so_telemetry.soc", "test=True"))
    assert predicted[JS_SID]["result"] is None and predicted[JSON_SID]["result"] is None
    assert owner(box, ANALYTICS)[:2] == (0, 0), "test=True changed the owner"
    ret = state_results(box.salt_call("state.apply", "so_telemetry.soc"))
    assert set(ret[JS_SID]["changes"]) == {"user", "group"}
    assert set(ret[JSON_SID]["changes"]) == {"mode"}
    assert owner(box, ANALYTICS) == owner(box, SOC_JSON) == (939, 939, 0o600)


def test_owner_and_mode_from_pillar(soc_sandbox):
    box = soc_sandbox({}, {"soc": {"file_user": "root", "file_group": 0, "file_mode": "0640"}})
    box.salt_call("state.apply", "so_telemetry.soc")
    assert owner(box, ANALYTICS) == owner(box, SOC_JSON) == (0, 0, 0o640)


def test_unparsable_soc_json_is_refused_and_untouched(soc_sandbox):
    box = soc_sandbox({}, {})
    target = box.path(SOC_JSON)
    target.parent.mkdir(parents=True)
    for case, text in (("broken", "{ not json"), ("a-list", "[1, 2]"), ("empty", "")):
        target.write_text(text)
        mtime = target.stat().st_mtime_ns
        for mode in ("test=True", "test=False"):
            ret = state_results(box.salt_call("state.apply", "so_telemetry.soc", mode, check=False))
            assert ret[JSON_SID]["result"] is False, (case, mode)
            assert str(target) in ret[JSON_SID]["comment"] and "refusing to overwrite" in ret[JSON_SID]["comment"]
            assert ret[JSON_SID]["changes"] == {}, (case, mode)
        assert target.read_text() == text and target.stat().st_mtime_ns == mtime, case


def test_pillar_config_merges_but_cannot_force_telemetry(soc_sandbox):
    box = soc_sandbox(
        {"airgap": True},
        {"soc": {"config": {"server": {"developerEnabled": True, "client": {"telemetryEnabled": True}}}}},
    )
    box.salt_call("state.apply", "so_telemetry.soc")
    soc = json.loads(box.path(SOC_JSON).read_text())
    assert soc["server"]["developerEnabled"] is True
    assert soc["server"]["client"]["telemetryEnabled"] is False
    assert box.path(ANALYTICS).read_bytes() == b""


def test_bad_value_fails_naming_key_and_changes_nothing(soc_sandbox):
    box = soc_sandbox({}, {})
    box.salt_call("state.apply", "so_telemetry.soc")
    before = box.snapshot()
    for bad in ("maybe", 2, ["yes"]):
        box.set_pillar({"soc": {"telemetryEnabled": bad, "reload_cmd": f"sh -c 'echo reload >> {box.marker}'"}})
        ret = state_results(box.salt_call("state.apply", "so_telemetry.soc", check=False))
        for sid in SIDS:
            assert ret[sid]["result"] is False, bad
            assert "soc:telemetryEnabled" in ret[sid]["comment"] and repr(bad) in ret[sid]["comment"]
            assert ret[sid]["changes"] == {}, bad
        assert box.snapshot() == before, f"a refused state touched files ({bad!r})"
        hooks = {k: v for k, v in ret.items() if k.startswith("so-telemetry-soc-config-") and k not in SIDS}
        assert len(hooks) == 1 and all(v["changes"] == {} for v in hooks.values()), hooks
    assert reloads(box) == 1, "SOC reloaded for a refused change"


def test_malformed_airgap_is_a_highstate_warning(sandbox):
    """Through the real ``salt-call`` (its highstate output is the point)."""
    sandbox.set_pillar({"global": {"airgap": "perhaps"}})
    ret = sandbox.subprocess_call("state.highstate", out="highstate")
    assert ret.returncode == 0, ret.stdout + ret.stderr
    assert "Warnings:" in ret.stdout and "global:airgap='perhaps'" in ret.stdout, ret.stdout
    assert "fail closed" in ret.stdout
    assert sandbox.path(ANALYTICS).read_bytes() == b""


def test_bad_soc_value_does_not_hold_up_the_other_channel(sandbox):
    sandbox.set_pillar({"soc": {"telemetryEnabled": "maybe"}, "patch": {"os": {"enabled": False}}})
    ret = state_results(sandbox.salt_call("state.highstate", check=False))
    assert ret[JS_SID]["result"] is False and "soc:telemetryEnabled" in ret[JS_SID]["comment"]
    prefixes = ("so-telemetry-repo", "so-telemetry-resync", "so-telemetry-patch")
    others = {k: v for k, v in ret.items() if k.startswith(prefixes)}
    assert len(others) == 3 and all(v["result"] is True for v in others.values()), others
    assert "?" not in sandbox.path("/etc/yum.repos.d/securityonion.repo").read_text()
    assert not sandbox.path(ANALYTICS).exists()


def test_missing_reload_command_is_said_not_failed(sandbox):
    sandbox.set_pillar({"soc": {"reload_cmd": "so-soc-restart-not-installed-here"}})
    ret = state_results(sandbox.salt_call("state.apply", "so_telemetry.soc"))
    notice = ret["so-telemetry-soc-config-test-show_notification-no-reload"]
    assert notice["result"] is True and "is not installed here" in notice["comment"]
    again = state_results(sandbox.salt_call("state.apply", "so_telemetry.soc"))
    assert again["so-telemetry-soc-config-test-show_notification-no-reload"]["comment"].startswith(
        "State was not run because none of the onchanges reqs changed"
    )


def test_clean_removes_the_loader_but_never_socs_configuration(soc_sandbox):
    box = soc_sandbox({}, {})
    box.salt_call("state.apply", "so_telemetry.soc")
    box.set_pillar({"soc": {"telemetryEnabled": "broken"}})  # cleaning never depends on validation
    ret = state_results(box.salt_call("state.apply", "so_telemetry.soc.clean"))
    assert all(v["result"] is True for v in ret.values()), ret
    assert not box.path(ANALYTICS).exists()
    assert box.path(SOC_JSON).exists(), "soc.json is SOC's own configuration"
