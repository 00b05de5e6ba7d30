"""``salt '*' telemetry.check dry_run=True`` on the real grid: each minion
checks its own destinations (manager: upstream with the query; sensor: only
its manager; airgapped: nothing, and why). A dry run opens no socket, so the
real upstream names are safe here.
"""

import urllib.parse

import pytest
import so_telemetry_core

from .conftest import AIRGAP, MANAGER, SENSOR

pytestmark = pytest.mark.integration

QUERY = "version=2.4.190&os=oracle9&arch=x86_64"
UA = f"so-telemetry/{so_telemetry_core.__version__}"


def test_grid_wide_dry_run(grid):
    grid.set_pillar({"global": {"manager": "so-manager.grid.lan"}})
    try:
        grid.salt("*", "saltutil.refresh_pillar", "wait=True")
        ret = grid.salt("*", "telemetry.check", "dry_run=True")
        assert ret.returncode == 0, ret.stdout + ret.stderr
        res = ret.data
        assert set(res) == {MANAGER, SENSOR, AIRGAP}, res

        man = res[MANAGER]
        assert man["mode"] == "upstream" and man["dry_run"] is True and man["result"] is True
        probed = [d for d in man["destinations"] if d["probe"]]
        assert [d["url"] for d in probed] == [
            f"https://repo.securityonion.net/file/so-repo/prod/2.4/oracle/9/repodata/repomd.xml?{QUERY}",
            f"https://repo-alt.securityonion.net/prod/2.4/oracle/9/repodata/repomd.xml?{QUERY}",
            "https://sigs.securityonion.net/file/so-repo/prod/2.4/keys/securityonion.pub",
        ]
        for dest in probed:
            assert dest["status"] == "planned" and dest["request"]["url"] == dest["url"]
            host = urllib.parse.urlsplit(dest["url"]).hostname
            assert dest["request"]["headers"] == {
                "User-Agent": UA, "Accept": "*/*", "Accept-Encoding": "identity", "Host": host}
            assert MANAGER not in str(dest["request"])
        listed = [d for d in man["destinations"] if not d["probe"]]
        assert [d["url"] for d in listed] == ["https://www.googletagmanager.com/gtm.js?id=GTM-TM46SL7T"]

        sensor = res[SENSOR]
        assert sensor["mode"] == "node"
        assert [d["url"] for d in sensor["destinations"]] == ["https://so-manager.grid.lan/repo/repodata/repomd.xml"]
        assert SENSOR not in str(sensor["destinations"])

        air = res[AIRGAP]
        assert air["mode"] == "airgap" and air["destinations"] == [] and air["result"] is True
        assert air["reason"].startswith("airgapped (grain airgap is true)")
    finally:
        grid.set_pillar({})
        grid.salt("*", "saltutil.refresh_pillar", "wait=True")
