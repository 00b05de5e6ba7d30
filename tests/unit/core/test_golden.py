"""Golden snapshots of the merged maps and the report per role, like
template-formula's ``_mapdata``: a change of a default (or of what the report
says) shows up in review as a readable diff of ``tests/unit/core/golden/*.yaml``.

Regenerate after an intended change:
``SO_TELEMETRY_GOLDEN=update .venv/bin/python -m pytest tests/unit/core/test_golden.py``
and review the diff."""

import os
import pathlib

import pytest
import so_telemetry_core as core
import yaml

from tests.unit.core.helpers import configs

GOLDEN = pathlib.Path(__file__).resolve().parent / "golden"
ROLES = {
    "manager": ({"role": "so-manager"}, {}),
    "node": ({"role": "so-sensor"}, {"global": {"manager": "so-manager.grid.lan"}}),
    "airgapped": ({"role": "so-standalone", "airgap": True}, {}),
}


@pytest.mark.parametrize("role", list(ROLES))
def test_golden(ctx, grains, pillar, opts, role, tmp_path):
    extra_grains, extra_pillar = ROLES[role]
    grains.update(extra_grains)
    pillar.update(extra_pillar)
    opts["conf_file"] = str(tmp_path / "minion")  # no saved schedule
    # the consent trail under tmp_path, never the host's real one (a box where it exists gives another report)
    opts["so_telemetry_root"] = str(tmp_path)
    snapshot = {
        "configs": configs(ctx()),
        "report": core.report.report(ctx()),
        "repo_file": core.repo.text(ctx()),
        "resync_job": core.schedule.resync_job(ctx()),
        "patch_job": core.schedule.patch_job(ctx()),
    }
    text = yaml.safe_dump(snapshot, sort_keys=True, width=100, default_flow_style=False).replace(str(tmp_path), "")
    path = GOLDEN / f"{role}.yaml"
    if os.environ.get("SO_TELEMETRY_GOLDEN") == "update":
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with SO_TELEMETRY_GOLDEN=update"
    assert text == path.read_text(), f"{role}: the merged maps or the report changed; review, then update {path}"
