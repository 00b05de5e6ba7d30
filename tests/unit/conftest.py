"""Unit tests: the engine's pure functions with Salt's loader dunders injected.

The engine (``_modules/telemetry.py``) is imported straight from the checkout,
so it reads ``salt/<comp>/defaults.yaml`` beside it (there is no ``cp``
module in ``__salt__``). The test modules define ``configure_loader_modules``
(pytest-salt-factories) from the ``grains``, ``pillar`` and ``opts`` fixtures
below; a test changes its environment by mutating those dicts in place (the
loader mock patches the very same objects into the module).
"""

import copy
import importlib.util
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
# SO_TELEMETRY_ENGINE: run these tests against another copy (e.g. a candidate fix)
ENGINE_PATH = pathlib.Path(os.environ.get("SO_TELEMETRY_ENGINE") or REPO / "_modules" / "telemetry.py")

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


def load_engine():
    spec = importlib.util.spec_from_file_location("telemetry", ENGINE_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def engine():
    """The engine module, loaded once from the checkout."""
    return load_engine()


@pytest.fixture(scope="session")
def defaults_cache(engine):
    """Every component's parsed defaults.yaml, read once (the same cache the
    engine keeps in ``__context__``), so hundreds of table cases stay fast."""
    from unittest.mock import patch  # pylint: disable=import-outside-toplevel

    context = {}
    with patch.multiple(engine, create=True, __context__=context, __salt__={}):
        for comp in engine.COMPONENTS:
            engine._load_defaults(comp)  # pylint: disable=protected-access
    return context["telemetry.defaults"]


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
    return {"telemetry.defaults": copy.deepcopy(defaults_cache)}


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
