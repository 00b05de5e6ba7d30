"""Knowing when the grid has converged, on the real master and minions:
``so-telemetry status --grid`` (``telemetry.converged`` on every minion,
read-only), ``sync``'s live line on a terminal and JSON on a pipe, and a
stopped minion named silent within ``--timeout``.

The settings change is a pillar change on the master (the grid's test
pillar: ``so-telemetry disable soc`` on this grid's local root is refused a
record of the consent trail, as its ``#!py`` test pillar cannot be read
without Salt)."""

import json
import os
import pty
import re
import select
import subprocess
import time

import pytest

from tests.conftest import SO_TELEMETRY

from .conftest import AIRGAP, MANAGER, SENSOR

ALL = (MANAGER, SENSOR, AIRGAP)
RETRY = ("--retries", "20", "--retry-wait", "1")
ANALYTICS = "/opt/so/conf/soc/analytics.js"


def so_telemetry(grid, *args, timeout=600):
    env = dict(os.environ)
    env.pop("SO_TELEMETRY_LOCAL", None)
    return subprocess.run([SO_TELEMETRY, "--config-dir", grid.config_dir, "--pillar-dir", str(grid.pillar_dir),
                           *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
                          timeout=timeout, env=env)


def status_grid(grid, *args):
    proc = so_telemetry(grid, "status", "--grid", "--json", *args)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode, {item["id"]: item for item in json.loads(proc.stdout)}


def sync_on_a_terminal(grid, timeout=600):
    """``so-telemetry sync`` with its stdout on a pseudo-terminal: everything it wrote."""
    env = dict(os.environ, TERM="xterm", COLUMNS="160")
    env.pop("SO_TELEMETRY_LOCAL", None)
    master_fd, slave_fd = pty.openpty()
    proc = subprocess.Popen([SO_TELEMETRY, "--config-dir", grid.config_dir, "sync", *RETRY], stdout=slave_fd,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    os.close(slave_fd)
    out, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master_fd], [], [], 1)
        if ready:
            try:
                chunk = os.read(master_fd, 65536)
            except OSError:  # the other end closed: the command is done
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master_fd)
    return proc.wait(60), out.decode(), proc.stderr.read().decode()


@pytest.fixture
def soc_back_on(grid):
    yield
    grid.set_pillar({})
    assert so_telemetry(grid, "sync", *RETRY).returncode == 0


def test_convergence_after_a_change(grid, soc_back_on):
    grid.set_pillar({})
    # a sync, JSON on a pipe: per-minion results, each converged after it
    proc = so_telemetry(grid, "sync", "--json", *RETRY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = {r["id"]: r for r in json.loads(proc.stdout)}
    assert set(results) == set(ALL)
    assert all(r["result"] == "ok" and r["converged"] and r["pending"] == [] for r in results.values()), proc.stdout
    code, items = status_grid(grid)
    assert code == 0 and all(i["converged"] and i["answered"] for i in items.values()), items
    assert items[MANAGER]["role"] == "so-manager" and items[MANAGER]["soc"] == "on"
    assert items[SENSOR]["soc"] == "n/a" and items[AIRGAP]["os_updates"] == "off"
    assert all(i["last_highstate"] and i["last_highstate"].endswith("+00:00") for i in items.values())

    # the admin opts out: pending on the manager until a resync, and nothing was written by asking
    grid.set_pillar({"soc": {"telemetryEnabled": False}})
    before = grid.path(MANAGER, ANALYTICS).stat().st_mtime_ns
    code, items = status_grid(grid)
    assert code == 1
    assert items[MANAGER]["pending"] == ["analytics", "soc_json"], items[MANAGER]
    assert items[MANAGER]["details"]["analytics"] == "analytics.js loads Tag Manager; pillar says off"
    assert items[SENSOR]["converged"] and items[AIRGAP]["converged"]
    assert grid.path(MANAGER, ANALYTICS).stat().st_mtime_ns == before
    text = so_telemetry(grid, "status", "--grid")
    assert text.returncode == 1 and "converged 2/3; pending: so-manager (analytics, soc_json)" in text.stdout
    assert "analytics (analytics.js loads Tag Manager; pillar says off)" in text.stdout

    # sync on a terminal: the live line, the per-minion lines, convergence, the browsers' note
    rc, out, err = sync_on_a_terminal(grid)
    print(out)
    assert rc == 0, out + err
    assert "\r\x1b[2KSynchronize Grid: 0/3 done, 3 running, 0 failed, 00:0" in out
    assert "\x1b[2KSynchronize Grid: 3/3 done, 0 running, 0 failed" in out
    # the per-minion lines stay on screen, each on its own line once the live line is erased
    lines = re.split(r"[\r\n]+", out.replace("\x1b[2K", ""))
    assert any(ln.startswith("[1/3] ") for ln in lines) and any(ln.startswith("[3/3] ") for ln in lines), out
    assert "Synchronize Grid: 3 minion(s), 3 ok, 0 failed" in out
    assert "Convergence: converged 3/3" in out
    assert f"SOC Telemetry changed on {MANAGER} (its loader is now off)" in out
    assert "next page load" in out
    code, items = status_grid(grid)
    assert code == 0 and items[MANAGER]["soc"] == "off", items


def test_stopped_minion_is_silent_within_the_timeout(grid):
    grid.set_pillar({})
    with grid.minions[AIRGAP].stopped():
        started = time.monotonic()
        proc = so_telemetry(grid, "status", "--grid", "--timeout", "8")
        elapsed = time.monotonic() - started
        json_proc = so_telemetry(grid, "status", "--grid", "--timeout", "8", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"silent: {AIRGAP}" in proc.stdout and "no answer within 8s" in proc.stdout
    assert elapsed < 8 + 30, elapsed  # bounded by the timeout (plus start-up), never a hang
    items = {i["id"]: i for i in json.loads(json_proc.stdout)}
    assert items[AIRGAP]["answered"] is False and items[AIRGAP]["converged"] is False
    assert items[MANAGER]["answered"] and items[SENSOR]["answered"]
