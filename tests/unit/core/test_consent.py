"""What the consent trail records (``so_telemetry_core.consent``): where
the trail is, records that stay one line whatever they hold, each channel's
effective state and where it is set, each change found once, and ``since``
in the report. The file itself: ``test_trail.py``."""

import json

import pytest
import so_telemetry_core as core
from salt.exceptions import CommandExecutionError

from tests.unit.core.helpers import append, ent, set_grains, set_pillar

C = core.consent
TRAIL = "/opt/so/log/so-telemetry/consent.jsonl"


@pytest.fixture
def rooted(opts, workdir):
    opts["so_telemetry_root"] = str(workdir)
    return workdir


def test_trail_path_and_pillar_dir(ctx, pillar, rooted):
    assert C.trail_path(ctx()) == str(rooted) + TRAIL
    assert C.pillar_dir(ctx()) == "/opt/so/saltstack/local/pillar"
    pillar["so_telemetry"] = {"consent": {"path": "/var/log/trail.jsonl", "pillar_dir": "/srv/pillar/"}}
    assert C.trail_path(ctx()) == str(rooted) + "/var/log/trail.jsonl"
    assert C.pillar_dir(ctx()) == "/srv/pillar"


@pytest.mark.parametrize("key,value", [("path", "relative.jsonl"), ("path", 5), ("path", None),
                                       ("pillar_dir", "srv/pillar"), ("pillar_dir", ["/x"])], ids=repr)
def test_bad_location_is_named(ctx, pillar, key, value):
    pillar["so_telemetry"] = {"consent": {key: value}}
    with pytest.raises(CommandExecutionError, match=f"so_telemetry:consent:{key}") as exc:
        C.trail_path(ctx()) if key == "path" else C.pillar_dir(ctx())
    assert repr(value) in str(exc.value)


HOSTILE = ["line\nbreak", 'quote " and \\ backslash', "\u2028sep\u2029", "\x00\x1b[31mred", "\udcff lone",
           "é\U0001f600", "}{\"seq\":1}\n{"]


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_hostile_values_stay_on_one_line(rooted, value):
    path = rooted / "t.jsonl"
    (rec,) = append(str(path), ent(by=value, src=value))
    data = path.read_bytes()
    assert data.count(b"\n") == 1 and data.endswith(b"\n") and data.isascii()
    back = json.loads(data)
    assert back == rec and back["by"] == value and back["source"] == value
    assert core.trail.verify(core.trail.read(str(path)))["ok"]


def test_a_huge_user_name_is_cut_and_marked(rooted):
    path = rooted / "t.jsonl"
    (rec,) = append(str(path), ent(by="A" * 100_000))
    assert rec["by"] == "A" * C.BY_MAX + "...(truncated, 100000 characters)"
    assert len(path.read_bytes()) < 1000


def test_effective_state_and_source(ctx, grains, pillar):
    assert C.effective(ctx()) == ({"soc": "on", "os_updates": "on", "airgap": "off"}, {})
    assert C.source(ctx(), "soc", "/pil") == "/pil/soc/soc_soc.sls soc:telemetryEnabled"
    assert C.source(ctx(), "os_updates", "/pil") == "/pil/patch/soc_patch.sls patch:os:enabled"
    assert C.source(ctx(), "airgap", "/pil") == "grain airgap, /pil/global/soc_global.sls global:airgap"
    set_grains(grains, airgap=True)
    assert C.effective(ctx())[0] == {"soc": "off", "os_updates": "off", "airgap": "on"}
    assert C.source(ctx(), "soc", "/pil") == "grain airgap"
    set_grains(grains, airgap="maybe")  # malformed: airgapped, fail closed
    assert C.effective(ctx())[0]["airgap"] == "on"
    set_pillar(pillar, soc="yes", airgap=True)
    set_grains(grains, airgap=False)
    states, broken = C.effective(ctx())
    assert states == {"os_updates": "off", "airgap": "on"} and "soc:telemetryEnabled" in str(broken["soc"])
    assert C.source(ctx(), "airgap", "/pil") == "/pil/global/soc_global.sls global:airgap"


def test_unrecorded_records_each_change_once(ctx, pillar, rooted):
    path = C.trail_path(ctx())
    trail = C.read(path)
    first = C.unrecorded(ctx(), trail, C.effective(ctx())[0])
    assert [(e["channel"], e["old"], e["new"], e["via"], e["by"]) for e in first] == [
        ("soc", None, "on", "highstate", "unknown"), ("os_updates", None, "on", "highstate", "unknown"),
        ("airgap", None, "off", "highstate", "unknown")]
    append(path, *first)
    assert C.unrecorded(ctx(), C.read(path), C.effective(ctx())[0]) == []
    set_pillar(pillar, soc=False)
    (again,) = C.unrecorded(ctx(), C.read(path), C.effective(ctx())[0])
    assert (again["channel"], again["old"], again["new"]) == ("soc", "on", "off")


def test_report_says_since(ctx, pillar, rooted):
    rep = core.report.report(ctx())
    assert rep["consent"] == {"path": str(rooted) + TRAIL, "exists": False, "records": 0, "error": None}
    assert rep["soc"]["since"] is None and rep["airgap"]["since"] is None
    path = C.trail_path(ctx())
    append(path, ent(old="on", new="on"), ent(channel="airgap", old=None, new="off", by="root"))
    rep = core.report.report(ctx())
    assert rep["soc"]["since"] == {"time": rep["soc"]["since"]["time"], "via": "cli", "by": "alice", "line": 1,
                                   "state": "on", "current": True}
    assert rep["airgap"]["since"]["line"] == 2 and rep["os_updates"]["since"] is None
    set_pillar(pillar, soc=False)  # changed, not recorded yet
    assert core.report.report(ctx())["soc"]["since"]["current"] is False
    pillar["so_telemetry"] = {"consent": {"path": "nope"}}
    rep = core.report.report(ctx())
    assert "so_telemetry:consent:path" in rep["consent"]["error"] and rep["soc"]["since"] is None
