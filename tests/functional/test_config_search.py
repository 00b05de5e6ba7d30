"""``so-telemetry config search`` reads the local pillar without Salt, by the
engine's own rules: for a table of local pillars (Security Onion's schedule
shapes, the manager proxy file, a value in each local file), every current
value ``config search --json`` shows equals what the real ``salt-call
telemetry.config`` gives for that key. And the resync interval the CLI
announces is the pillar's."""

import json

import pytest
import so_telemetry_core as core
import yaml

# local file -> data, per case
CASES = {
    "so-weekday-schedule": {
        "patch/soc_patch.sls": {"patch": {"os": {"schedules": {"auto": {"schedule": {"Monday": ["08:00"]}}}}}},
    },
    "so-flat-schedule": {
        "patch/soc_patch.sls": {"patch": {"os": {"schedule_to_run": "custom",
                                                 "schedules": {"custom": {"hours": 4, "splay": 60}}}}},
    },
    "manager-proxy": {
        "manager/soc_manager.sls": {"manager": {"proxy": "http://alice:S3cretPw@proxy.corp:3128",
                                                "no_proxy": "corp.lan"}},
    },
    "every-local-file": {
        "global/soc_global.sls": {"global": {"features": ["fips"], "license_id": "ABC-123", "soversion": "2.4.200"}},
        "soc/soc_soc.sls": {"soc": {"telemetryEnabled": False, "analytics": {"container_id": "GTM-ABCD123"}}},
        "patch/soc_patch.sls": {"patch": {"os": {"enabled": False, "schedule_to_run": "weekends"}}},
        "manager/soc_manager.sls": {"manager": {"proxy": "http://proxy.corp:3128"}},
    },
}
RENDER_ALL = "{{ {%s} | json }}" % ", ".join(f"'{c}': salt['telemetry.config']('{c}')" for c in core.config.COMPONENTS)


@pytest.mark.parametrize("case", list(CASES))
def test_config_search_equals_the_engine(sandbox, case):
    for rel, data in CASES[case].items():
        path = sandbox.pillar_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {case}, written by the Configuration screen\n" + yaml.safe_dump(data))
    # every component's merged map, through the real module, in one salt-call
    rendered = sandbox.salt_call("slsutil.renderer", f"string={RENDER_ALL}", "default_renderer=jinja")
    engine = json.loads(rendered) if isinstance(rendered, str) else rendered
    proc = sandbox.cli("config", "search", ":", "--json")
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    annotated = [h for h in hits if h["description"]]
    assert {h["key"] for h in annotated} >= {"soc:telemetryEnabled", "patch:os:enabled", "patch:os:schedules",
                                              "manager:proxy", "global:airgap"}
    for hit in hits:
        comp, _, rest = hit["key"].partition(":")
        expected = core.config.lookup(engine[comp], rest, None)
        assert hit["current"] == expected, f"{hit['key']}: config search {hit['current']!r}, engine {expected!r}"
    for rel in CASES[case]:
        comp = rel.split("/")[0]
        assert any(h["source"].endswith(rel) for h in hits if h["key"].startswith(comp + ":")), rel


def test_the_announced_interval_is_the_pillars(sandbox):
    """The interval and when browsers follow, as this grid's pillar has them."""
    sandbox.set_pillar({"resync": {"highstate": {"minutes": 5}}})
    proc = sandbox.cli("disable", "soc")
    assert proc.returncode == 0, proc.stderr
    assert "within 5 minutes" in proc.stdout
    assert "Browsers stop loading Tag Manager at their next SOC page load (no hard refresh needed)." in proc.stdout
    change = sandbox.salt_call("telemetry.report")["soc"]["change"]
    assert "within 5 minutes" in change and "turning it off reaches each browser at its next SOC page load" in change
    proc = sandbox.cli("enable", "soc")
    assert "Browsers start at their next hard refresh of SOC" in proc.stdout
    # where the host tree writes the loader (Security Onion's own), a hard refresh it is
    sandbox.set_pillar({"so_telemetry": {"owners": {"analytics": "host"}}})
    proc = sandbox.cli("disable", "soc")
    assert "Then hard-refresh SOC in the browser" in proc.stdout, proc.stdout
    assert "hard-refresh the browser" in sandbox.salt_call("telemetry.report")["soc"]["change"]
