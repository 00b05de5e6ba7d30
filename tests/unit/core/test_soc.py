"""SOC's files (``so_telemetry_core.soc``): the analytics loader and the owned keys of soc.json."""

import json

import pytest
from salt.exceptions import CommandExecutionError

from tests.unit.conftest import IDENTITY_GRAINS
from tests.unit.core.helpers import (
    ANALYTICS,
    SOC_JSON,
    assert_no_identity,
    soc_files,
)


# --------------------------------------------------------------------------
# 6. SOC files

SOC_CASES = {
    "on": ({}, {}, True),
    "on-node": ({"role": "so-sensor"}, {}, True),
    "off-pillar": ({}, {"soc": {"telemetryEnabled": False}}, False),
    "airgap-grain": ({"airgap": True}, {}, False),
    "airgap-pillar": ({}, {"global": {"airgap": True}}, False),
    "airgap-malformed-grain": ({"airgap": "maybe"}, {}, False),
    "airgap-malformed-pillar": ({}, {"global": {"airgap": "sometimes"}}, False),
}


@pytest.mark.parametrize("config_says", [None, True, False], ids=["config-silent", "config-true", "config-false"])
@pytest.mark.parametrize("case", list(SOC_CASES))
def test_soc_files(ctx, grains, pillar, case, config_says):
    extra_grains, pil, enabled = SOC_CASES[case]
    grains.update(IDENTITY_GRAINS)
    grains.update(extra_grains)
    pillar.update(pil)
    if config_says is not None:
        pillar.setdefault("soc", {})["config"] = {
            "server": {"client": {"telemetryEnabled": config_says}, "extra": "kept"}
        }
    files = soc_files(ctx())
    assert set(files) == {ANALYTICS, SOC_JSON}
    script = files[ANALYTICS]
    if enabled:
        assert "https://www.googletagmanager.com/gtm.js" in script
        assert "GTM-TM46SL7T" in script
    else:
        assert script == ""
    conf = json.loads(files[SOC_JSON])
    assert conf["server"]["client"]["telemetryEnabled"] is enabled
    # no soc.json on disk: the new file holds only the keys this library owns
    assert set(conf) == {"server"}
    assert set(conf["server"]["client"]) == {"telemetryEnabled"}
    if config_says is not None:
        assert conf["server"]["extra"] == "kept"
    for text in files.values():
        assert_no_identity(text)
    if not enabled:
        assert "googletagmanager" not in "".join(files.values())


@pytest.mark.parametrize("container", ["GTM-abc", "UA-1234", "GTM-ABCD\");alert(1);//", None], ids=repr)
def test_soc_container_validated(ctx, pillar, container):
    pillar["soc"] = {"analytics": {"container_id": container}}
    with pytest.raises(CommandExecutionError, match="soc:analytics:container_id"):
        soc_files(ctx())


def test_soc_container_trailing_newline(ctx, pillar):
    pillar["soc"] = {"analytics": {"container_id": "GTM-ABCD1234\n"}}
    with pytest.raises(CommandExecutionError, match="soc:analytics:container_id"):
        soc_files(ctx())


def test_soc_analytics_url_must_be_https(ctx, pillar):
    pillar["soc"] = {"analytics": {"url": "http://www.googletagmanager.com/gtm.js"}}
    with pytest.raises(CommandExecutionError, match="soc:analytics:url"):
        soc_files(ctx())
