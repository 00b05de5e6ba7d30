"""The transparency report (``so_telemetry_core.report``)."""

import json

import pytest
import so_telemetry_core as core

from tests.unit.conftest import IDENTITY_GRAINS
from tests.unit.core.helpers import (
    DEFAULT_QUERY,
    QUERY_FIELDS,
    UPSTREAM_HOSTS,
    assert_no_identity,
)


# --------------------------------------------------------------------------
# 7. report

REPORT_CASES = {
    "all-on": ({}, {}, True, True),
    "soc-off": ({}, {"soc": {"telemetryEnabled": False}}, False, True),
    "patch-off": ({}, {"patch": {"os": {"enabled": False}}}, True, False),
    "airgap-grain": ({"airgap": True}, {}, False, False),
    "airgap-pillar": ({}, {"global": {"airgap": True}}, False, False),
    "airgap-malformed": ({"airgap": ["x"]}, {}, False, False),
    "node": ({"role": "so-sensor"}, {"global": {"manager": "manager.example.lan"}}, True, False),
}


@pytest.mark.parametrize("case", list(REPORT_CASES))
def test_report(ctx, grains, pillar, case):
    extra_grains, pil, soc_on, os_tel = REPORT_CASES[case]
    grains.update(IDENTITY_GRAINS)
    grains.update(extra_grains)
    pillar.update(pil)
    rep = core.report.report(ctx())
    state = core.decide.settings(ctx())
    soc, osu = rep["soc"], rep["os_updates"]
    for chan in (soc, osu):
        assert {"enabled", "reason", "destinations"} <= set(chan)
        assert isinstance(chan["reason"], str) and chan["reason"]
        assert chan["tls"] is True
        assert "change" in chan and chan["change"]
        if not chan["enabled"]:
            assert chan["destinations"] == []
    assert soc["enabled"] is soc_on and soc["reason"] == state["soc"]["reason"]
    assert osu["enabled"] is state["os_updates"]["enabled"] and osu["reason"] == state["os_updates"]["reason"]
    assert osu["telemetry"] is os_tel
    assert "two months" in soc["retention"]
    assert osu["fields"] == core.query.params(ctx())
    assert set(osu["fields"]) <= QUERY_FIELDS and set(osu["allow_list"]) == QUERY_FIELDS
    if soc_on:
        assert soc["destinations"] == ["www.googletagmanager.com"]
    if os_tel:
        assert osu["fields"] == DEFAULT_QUERY
        assert osu["destinations"] == sorted(UPSTREAM_HOSTS + ["sigs.securityonion.net"])
    else:
        assert osu["destinations"] == [] and osu["fields"] == {}
    assert rep["airgap"]["enabled"] is case.startswith("airgap")
    if case == "airgap-malformed":
        assert rep["airgap"]["malformed"] and "malformed" in rep["airgap"]["reason"]
    text = json.dumps(rep)  # serialisable, and names nothing of the node
    assert_no_identity(text)
