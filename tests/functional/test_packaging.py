"""The pip install exposes the modules to salt through the salt.loader entry point."""

import yaml


def test_entry_point_exposes_modules_without_file_roots(sandbox, tmp_path):
    empty = tmp_path / "empty-file-root"
    empty.mkdir()
    conf = yaml.safe_load((sandbox.config_dir / "minion").read_text())
    sandbox.write_config(file_roots={"base": [str(empty)]}, pillar_roots={"base": [str(empty)]})
    assert conf["file_roots"] != {"base": [str(empty)]}
    sandbox.set_grains(airgap=True)
    state = sandbox.salt_call("telemetry.settings")
    assert state["airgap"]["enabled"] is True
    assert state["soc"]["enabled"] is False and "airgap" in state["soc"]["reason"]
    assert sandbox.salt_call("sys.list_state_functions", "telemetry") == [
        "telemetry.analytics_managed",
        "telemetry.annotations_managed",
        "telemetry.consent_recorded",
        "telemetry.highstate_schedule",
        "telemetry.patch_schedule",
        "telemetry.repo_managed",
        "telemetry.soc_json_managed",
    ]


def test_settings_airgap_grain_overrides_pillar_on(sandbox):
    sandbox.set_pillar({"soc": {"telemetryEnabled": True}, "patch": {"os": {"enabled": True}}})
    sandbox.set_grains(airgap=True)
    state = sandbox.salt_call("telemetry.settings")
    assert state["soc"]["enabled"] is False and state["os_updates"]["enabled"] is False
    assert state["soc"]["reason"].startswith("airgapped (grain airgap is true)")
    assert state["os_updates"]["reason"].startswith("airgapped (grain airgap is true)")
    assert sandbox.salt_call("telemetry.query_params") == {}
