"""Unit tests: the engine (``_utils/so_telemetry_core``) as plain functions
over a :class:`so_telemetry_core.Context`, and the thin execution and state
modules with Salt's loader dunders injected.

A test changes its environment by mutating the ``grains``, ``pillar`` and
``opts`` dicts in place, then asks ``ctx()`` for a fresh context over them
(one context = one engine call: it memoises the decision).
"""

import copy
import importlib.util
import os
import pathlib

import pytest
import so_telemetry_core as core
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]

# A manager on Oracle Linux 9, x86_64, with no airgap grain.
BASE_GRAINS = {"role": "so-manager", "os": "OEL", "osmajorrelease": 9, "cpuarch": "x86_64"}

# Identity grains a node really has; none of these may ever reach a query.
HOSTNAME = "sensor-zx9.corp.example"
IPV4 = "10.9.8.7"
IPV6 = "fd00:9:8::7"
IDENTITY_GRAINS = {
    "id": HOSTNAME,
    "host": "sensor-zx9",
    "fqdn": HOSTNAME,
    "nodename": HOSTNAME,
    "domain": "corp.example",
    "localhost": HOSTNAME,
    "username": "analyst-jdoe",
    "ipv4": ["127.0.0.1", IPV4],
    "ipv6": ["::1", IPV6],
    "fqdn_ip4": [IPV4],
    "fqdn_ip6": [IPV6],
}
IDENTITY_STRINGS = ("sensor-zx9", "corp.example", IPV4, IPV6, "analyst-jdoe")


def load_module(relpath, name):
    """A module file of the checkout (``_modules/telemetry.py``...), loaded
    the way Salt's loader does: by path, under its own name."""
    spec = importlib.util.spec_from_file_location(name, REPO / relpath)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def saved_schedule(opts):
    """What ``schedule.list offline=True`` gives: the jobs of ``minion.d/_schedule.conf``."""
    path = core.schedule.conf_path(core.Context(opts=opts))
    if not os.path.isfile(path):
        return {}
    return (yaml.safe_load(pathlib.Path(path).read_text()) or {}).get("schedule") or {}


@pytest.fixture(scope="session")
def defaults_cache():
    """Every component's parsed defaults.yaml, read once (the engine keeps
    the same cache in ``__context__``), so hundreds of table cases stay fast."""
    cache = {}
    ctx = core.Context(cache=cache)
    for comp in core.config.COMPONENTS:
        core.config.defaults(ctx, comp)
    return cache["telemetry.defaults"]


@pytest.fixture
def grains():
    return copy.deepcopy(BASE_GRAINS)


@pytest.fixture
def pillar():
    return {}


@pytest.fixture
def opts():
    return {"so_telemetry_root": ""}


@pytest.fixture
def context(defaults_cache):
    """The cache kept between calls (Salt's ``__context__``)."""
    return {"telemetry.defaults": copy.deepcopy(defaults_cache)}


@pytest.fixture
def ctx(grains, pillar, opts, context):
    """``ctx()``: a fresh engine context over the fixture dicts as they are now."""

    def make():
        return core.Context(opts=opts, grains=grains, pillar=pillar, cache=context,
                            saved_schedule=lambda: saved_schedule(opts))

    return make


@pytest.fixture
def workdir():
    """A private directory under <repo>/.tmp/unit (git-ignored). Not pytest's
    tmp_path: that lives under the shared basetemp, which a concurrent pytest
    run of this repo wipes when it starts."""
    import shutil  # pylint: disable=import-outside-toplevel
    import tempfile  # pylint: disable=import-outside-toplevel

    base = REPO / ".tmp" / "unit"
    base.mkdir(parents=True, exist_ok=True)
    path = pathlib.Path(tempfile.mkdtemp(prefix="t-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)
