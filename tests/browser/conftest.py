"""Fixtures for the real-browser tests: Debian's chromium and a loopback site."""

import os

import pytest

from tests.browser.chromium import LoopbackServer, find_chromium


@pytest.fixture(scope="session")
def chromium():
    """Path of Debian's ``/usr/bin/chromium``. Missing as root is a failure
    (the test set-up installs it), missing otherwise a skip."""
    path = find_chromium()
    if path:
        return path
    if os.geteuid() != 0:
        pytest.skip("chromium is not installed (scripts/bootstrap.sh --system-packages installs it when run as root)")
    pytest.fail(
        "Debian's chromium (/usr/bin/chromium) is not installed: `bash scripts/bootstrap.sh --system-packages` "
        "run as root installs it (apt-get install chromium); then rerun the browser tests",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("site")


@pytest.fixture(scope="module")
def loopback(site_dir):
    """HTTP on 127.0.0.1 serving ``site_dir`` (as SOC serves its UI)."""
    server = LoopbackServer(site_dir).start()
    yield server
    server.stop()
