"""Convergence (``so_telemetry_core.converge``): what a node has rendered and
scheduled against what the pillar decides, per artefact, in words."""

import os

import pytest
import so_telemetry_core as core
import yaml

from tests.unit.core.helpers import repo_text, soc_files


@pytest.fixture
def node(opts, workdir):
    """A node rendering under ``workdir/root`` with its config in ``workdir``."""
    opts.update(so_telemetry_root=str(workdir / "root"), conf_file=str(workdir / "minion"), id="so-manager",
                cachedir=str(workdir / "cache"))
    return workdir


def render(ctx, workdir):
    """Write every artefact as a highstate would (files and the saved schedule)."""
    c = ctx()
    for path, text in {**soc_files(c), core.files.artefact_path(c, "repo"): repo_text(c)}.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(core.saltcompat.managed_text(text))
    # as Salt persists a job: job_args as args
    jobs = {j["name"]: {("args" if k == "job_args" else k): v for k, v in j["job"].items()}
            for j in (core.schedule.resync_job(c), core.schedule.patch_job(c)) if j["job"]}
    (workdir / "minion.d").mkdir(exist_ok=True)
    (workdir / "minion.d" / "_schedule.conf").write_text(yaml.safe_dump({"schedule": jobs}))


def test_converged_after_rendering(ctx, node):
    render(ctx, node)
    res = core.converge.converged(ctx())
    assert res["converged"] is True and res["pending"] == [] and res["details"] == {}
    assert (res["soc"], res["os_updates"]) == ("on", "on")
    assert res["decided"] == {"soc": "on", "os_updates": "on"}
    assert res["id"] == "so-manager" and res["role"] == "so-manager" and res["last_highstate"] is None


def test_nothing_rendered_yet(ctx, node):
    res = core.converge.converged(ctx())
    assert res["converged"] is False
    assert res["pending"] == ["analytics", "highstate_schedule", "patch_schedule", "repo", "soc_json"]
    assert res["details"]["analytics"] == "analytics.js is missing; pillar says on"
    assert res["details"]["highstate_schedule"] == "highstate_schedule is not scheduled; the grid resyncs on it"
    assert res["soc"] == "absent" and res["os_updates"] == "off"


def test_soc_opt_out_pending_until_rendered(ctx, node, pillar):
    render(ctx, node)
    pillar["soc"] = {"telemetryEnabled": False}
    res = core.converge.converged(ctx())
    assert res["pending"] == ["analytics", "soc_json"]
    assert res["details"] == {"analytics": "analytics.js loads Tag Manager; pillar says off",
                              "soc_json": "soc.json has telemetryEnabled true; pillar says off"}
    assert res["soc"] == "on" and res["decided"]["soc"] == "off"
    render(ctx, node)
    assert core.converge.converged(ctx())["converged"] is True


def test_os_updates_off_and_airgap(ctx, node, pillar, grains):
    render(ctx, node)
    pillar["patch"] = {"os": {"enabled": False}}
    res = core.converge.converged(ctx())
    assert res["pending"] == ["patch_schedule", "repo"]
    assert res["details"]["patch_schedule"] == "patch_os_schedule is scheduled; pillar says off"
    assert res["details"]["repo"] == "securityonion.repo carries the telemetry query; pillar says off"
    pillar.clear()
    grains["airgap"] = True
    res = core.converge.converged(ctx())
    assert res["details"]["analytics"] == "analytics.js loads Tag Manager; airgapped: off"
    assert "repo" in res["pending"] and res["decided"] == {"soc": "off", "os_updates": "off"}


def test_a_node_has_no_soc_artefacts(ctx, node, grains, pillar):
    grains["role"] = "so-sensor"
    pillar["global"] = {"manager": "so-manager.lan"}
    render(ctx, node)
    res = core.converge.converged(ctx())
    assert res["converged"] is True and res["soc"] == "n/a"


def test_changed_timing_and_broken_pillar(ctx, node, pillar):
    render(ctx, node)
    pillar["resync"] = {"highstate": {"minutes": 5}}
    assert core.converge.converged(ctx())["details"] == {"highstate_schedule": "highstate_schedule differs in minutes"}
    pillar["soc"] = {"telemetryEnabled": "maybe"}
    res = core.converge.converged(ctx())
    assert res["decided"]["soc"] == "invalid pillar"
    assert res["details"]["analytics"].startswith("cannot tell: pillar key 'soc:telemetryEnabled'")


def test_last_highstate_is_the_highstate_cache(ctx, node):
    (node / "cache").mkdir()
    (node / "cache" / "highstate.cache.p").write_bytes(b"x")
    os.utime(node / "cache" / "highstate.cache.p", (1764748800, 1764748800))
    assert core.converge.converged(ctx())["last_highstate"] == "2025-12-03T08:00:00+00:00"


def test_a_proxy_password_is_never_in_the_result(ctx, node, pillar):
    pillar["manager"] = {"proxy": "http://alice:S3cretPw@proxy.corp:3128"}
    render(ctx, node)
    pillar["manager"] = {"proxy": "http://alice:0therPw@proxy.corp:3128"}
    res = core.converge.converged(ctx())
    assert res["pending"] == ["repo"] and "Pw" not in repr(res)
