"""Fixtures for the real-dnf tests: one createrepo_c repository, one TLS
certificate and two loopback HTTPS servers (``primary`` and ``alt``) per
session, and a time-bounded ``dnf makecache`` runner.

Nothing here contacts a real host: every URL the tests render points at
127.0.0.1 (``localhost``) or at a local ``file://`` directory.
"""

import os
import shutil
import subprocess

import pytest

from tests.connect_proxy import ConnectProxy
from tests.dnf.repo_server import RepoServer, closed_port, make_tls

DNF = shutil.which("dnf")
CREATEREPO = shutil.which("createrepo_c")
DNF_TIMEOUT = 120


def _createrepo(path):
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [CREATEREPO, "--quiet", str(path)], check=True, capture_output=True, text=True, timeout=60
    )
    assert (path / "repodata" / "repomd.xml").is_file()
    return path


@pytest.fixture(scope="session")
def dnf_repo_dir(tmp_path_factory):
    """An empty createrepo_c repository (repomd.xml, primary, filelists, other)."""
    return _createrepo(tmp_path_factory.mktemp("dnf-upstream") / "repo")


@pytest.fixture(scope="session")
def dnf_airgap_dir(tmp_path_factory):
    """A second, local-only repository for the airgapped ``file://`` baseurl."""
    return _createrepo(tmp_path_factory.mktemp("dnf-airgap") / "repo")


@pytest.fixture(scope="session")
def dnf_tls(tmp_path_factory):
    return make_tls(tmp_path_factory.mktemp("dnf-tls"))


@pytest.fixture(scope="session")
def _dnf_servers(dnf_repo_dir, dnf_tls):
    servers = {
        "primary": RepoServer(dnf_repo_dir, dnf_tls, "primary").start(),
        "alt": RepoServer(dnf_repo_dir, dnf_tls, "alt").start(),
    }
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def repo_servers(_dnf_servers):
    """The two loopback HTTPS servers, their request logs cleared for this test."""
    for server in _dnf_servers.values():
        server.clear()
    yield _dnf_servers
    for server in _dnf_servers.values():
        server.clear()


@pytest.fixture
def dead_port():
    """A loopback port with nothing listening (connection refused)."""
    return closed_port()


@pytest.fixture
def connect_proxy():
    """``connect_proxy(credentials=..., routes=...)``: a started loopback
    CONNECT proxy (tests/connect_proxy.py), stopped after the test."""
    started = []

    def make(**kwargs):
        started.append(ConnectProxy(**kwargs).start())
        return started[-1]

    yield make
    for proxy in started:
        proxy.stop()


# A proxy from the environment would take dnf (curl) somewhere else, and
# no_proxy would make it ignore the rendered proxy= line.
_PROXY_ENV = {"http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy"}


@pytest.fixture
def run_dnf(tmp_path, dnf_tls):
    """``run_dnf(reposdir)``: the real ``dnf makecache`` for the one repository
    ``securityonion`` found in ``reposdir``, in a throw-away install root.
    Returns ``(CompletedProcess, argv)``."""
    count = [0]

    def run(reposdir, *extra):
        count[0] += 1
        work = tmp_path / f"dnf{count[0]}"
        work.mkdir()
        conf = work / "dnf.conf"
        conf.write_text("[main]\n")
        argv = [
            DNF,
            f"--config={conf}",
            f"--installroot={work / 'installroot'}",
            "--releasever=9",
            "--disablerepo=*",
            "--enablerepo=securityonion",
            f"--setopt=reposdir={reposdir}",
            # as root dnf puts this under the install root; unprivileged it
            # uses it as is (a relative /var/cache/dnf would be refused there)
            f"--setopt=cachedir={work / 'cache'}",
            f"--setopt=sslcacert={dnf_tls['ca']}",
            "--setopt=timeout=5",
            "--setopt=retries=1",
            "-y",
            "-v",
            *extra,
            "makecache",
        ]
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k.lower() not in _PROXY_ENV
        }
        env.update(LC_ALL="C.UTF-8", LANG="C.UTF-8")
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=DNF_TIMEOUT, stdin=subprocess.DEVNULL,
            env=env, check=False,
        )
        return proc, argv

    return run
