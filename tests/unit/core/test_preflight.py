"""The network preflight (``so_telemetry_core.preflight`` and ``wire``): the
plan, the exact requests and the classification of failures.

Nothing here contacts a real host: dry runs and airgapped runs must open no
socket at all (``socket`` is patched to fail the test), live runs go through
a fake ``send`` or a loopback port.
"""

import configparser
import importlib.metadata
import json
import pathlib
import socket
import ssl
import urllib.parse
from unittest.mock import patch

import pytest
import requests
import urllib3
from salt.exceptions import CommandExecutionError

import so_telemetry_core as core

from tests.unit.conftest import IDENTITY_GRAINS, REPO
from tests.unit.core.helpers import assert_no_identity

QUERY = "version=2.4.190&os=oracle9&arch=x86_64"
MIRRORS = [
    "https://repo.securityonion.net/file/so-repo/prod/2.4/oracle/9/",
    "https://repo-alt.securityonion.net/prod/2.4/oracle/9/",
]
GPGKEY = "https://sigs.securityonion.net/file/so-repo/prod/2.4/keys/securityonion.pub"
GTM = "https://www.googletagmanager.com/gtm.js?id=GTM-TM46SL7T"
HEADERS = {"User-Agent": f"so-telemetry/{core.__version__}", "Accept": "*/*", "Accept-Encoding": "identity"}


@pytest.fixture(autouse=True)
def manager(grains, pillar):
    """A manager with a real node's identity grains; SOC Telemetry off unless
    a test turns it on (then the Tag Manager is listed)."""
    grains.update(IDENTITY_GRAINS)
    pillar["soc"] = {"telemetryEnabled": False}


@pytest.fixture
def no_network():
    """Any DNS lookup or connection attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network used: {args!r}")

    with patch.object(socket, "getaddrinfo", refuse), patch.object(socket, "create_connection", refuse), \
            patch.object(socket.socket, "connect", refuse), patch.object(requests.Session, "send", refuse):
        yield


class FakeResponse:
    def __init__(self, status, location=None):
        self.status_code = status
        self.reason = {200: "OK", 301: "Moved Permanently", 404: "Not Found", 503: "Service Unavailable"}[status]
        self.headers = {"Location": location} if location else {}
        self.closed = False

    def close(self):
        self.closed = True


class FakeSend:
    """``requests.Session.send`` stand-in: an outcome per host, a log of calls."""

    def __init__(self, outcomes):
        self.outcomes = outcomes
        self.calls = []

    def __call__(self, session, prepared, **kwargs):
        self.calls.append((prepared, kwargs))
        out = self.outcomes[urllib.parse.urlsplit(prepared.url).hostname]
        if isinstance(out, BaseException):
            raise out
        return out

    def install(self):
        return patch.object(requests.Session, "send", lambda session, prepared, **kw: self(session, prepared, **kw))


# --------------------------------------------------------------------------
# version


def test_version_is_the_package_version(ctx):
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    # setup.cfg reads the version from the engine: written once
    assert parser["metadata"]["version"] == "attr: so_telemetry_core.__version__"
    assert core.__version__ == importlib.metadata.version("so-telemetry")
    import so_telemetry  # pylint: disable=import-outside-toplevel

    assert so_telemetry.__version__ == core.__version__
    assert core.preflight.USER_AGENT == f"so-telemetry/{core.__version__}"


# --------------------------------------------------------------------------
# what is checked (the engine decides)


def test_manager_updates_on_mirrors_with_the_repo_files_query_and_key(ctx, pillar, no_network):
    pillar["soc"] = {"telemetryEnabled": False}
    res = core.preflight.check(ctx(), dry_run=True)
    assert res["result"] is True and res["dry_run"] is True and res["mode"] == "upstream"
    urls = [d["url"] for d in res["destinations"]]
    assert urls == [f"{MIRRORS[0]}repodata/repomd.xml?{QUERY}", f"{MIRRORS[1]}repodata/repomd.xml?{QUERY}", GPGKEY]
    # exactly the query the repository file carries
    base = core.repo.definition(ctx())["baseurls"]
    for url, repo_url in zip(urls, base):
        assert urllib.parse.urlsplit(url).query == urllib.parse.urlsplit(repo_url).query == core.query.string(ctx())
    assert [d["kind"] for d in res["destinations"]] == ["mirror", "mirror", "gpgkey"]
    assert all(d["status"] == "planned" and d["via"] == "direct" for d in res["destinations"])
    assert any("SOC Telemetry off" in n for n in res["notes"])


def test_allow_listed_query_with_every_field(ctx, pillar, no_network):
    pillar["global"] = {"soversion": "2.4.190", "features": ["luks", "fips"], "license_id": "ABC-123"}
    res = core.preflight.check(ctx(), dry_run=True)
    for dest in res["destinations"][:2]:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(dest["url"]).query, strict_parsing=True)
        assert query == {"version": ["2.4.190"], "os": ["oracle9"], "arch": ["x86_64"], "features": ["fips,luks"],
                         "license": ["ABC-123"]}


def test_updates_off_same_destinations_without_query(ctx, pillar, no_network):
    pillar["patch"] = {"os": {"enabled": False}}
    res = core.preflight.check(ctx(), dry_run=True)
    urls = [d["url"] for d in res["destinations"] if d["probe"]]
    assert urls == [f"{MIRRORS[0]}repodata/repomd.xml", f"{MIRRORS[1]}repodata/repomd.xml", GPGKEY]
    assert "OS updates off" in res["reason"]


def test_soc_on_lists_tag_manager_never_probes_it(ctx, pillar, no_network):
    pillar["soc"] = {"telemetryEnabled": True}
    res = core.preflight.check(ctx(), dry_run=True)
    gtm = [d for d in res["destinations"] if d["kind"] == "soc"]
    assert len(gtm) == 1 and gtm[0]["url"] == GTM
    assert gtm[0]["probe"] is False and gtm[0]["status"] == "listed" and "request" not in gtm[0]
    assert "browsers" in gtm[0]["detail"] and "not probed" in gtm[0]["detail"]


def test_node_only_its_managers_repository(ctx, grains, pillar, no_network):
    grains["role"] = "so-sensor"
    pillar["global"] = {"manager": "so-mgr.grid.lan"}
    pillar["soc"] = {"telemetryEnabled": True}
    res = core.preflight.check(ctx(), dry_run=True)
    assert res["mode"] == "node"
    assert [d["url"] for d in res["destinations"]] == ["https://so-mgr.grid.lan/repo/repodata/repomd.xml"]
    assert res["destinations"][0]["name"] == "manager repository"
    assert any("local file" in n for n in res["notes"])


def test_node_never_uses_the_proxy(ctx, grains, pillar, no_network):
    grains["role"] = "so-sensor"
    pillar["global"] = {"manager": "so-mgr.grid.lan"}
    pillar["manager"] = {"proxy": "http://u:pw@proxy.lan:3128"}
    res = core.preflight.check(ctx(), dry_run=True)
    assert res["proxy"] == {} and all(d["via"] == "direct" and "connect" not in d for d in res["destinations"])


@pytest.mark.parametrize("where", ["grain", "pillar", "malformed"])
def test_airgapped_no_connection_no_dns(ctx, grains, pillar, no_network, where):
    if where == "grain":
        grains["airgap"] = True
    elif where == "pillar":
        pillar["global"] = {"airgap": True}
    else:
        grains["airgap"] = "maybe"
    with patch.object(core.preflight, "session", side_effect=AssertionError("session built")):
        res = core.preflight.check(ctx())  # live, not a dry run
    assert res["result"] is True and res["airgap"] is True and res["mode"] == "airgap"
    assert res["destinations"] == [] and "airgapped" in res["reason"] and "no DNS lookup" in res["reason"]


def test_duplicate_mirrors_are_requested_once(ctx, pillar, no_network):
    tmpl = "https://repo.securityonion.net/file/so-repo/prod/2.4/{os}/{release}/"
    pillar["repo"] = {"upstream": {"mirrors": [tmpl, tmpl]}}
    res = core.preflight.check(ctx(), dry_run=True)
    urls = [d["url"] for d in res["destinations"] if d["probe"]]
    assert len(urls) == len(set(urls)) == 2


# --------------------------------------------------------------------------
# the exact request


def test_prepared_request_has_exactly_these_headers_and_no_identity(ctx, pillar, no_network):
    pillar["global"] = {"features": ["fips"], "license_id": "ABC-123"}
    res = core.preflight.check(ctx(), dry_run=True)
    for dest in res["destinations"]:
        req = dest["request"]
        assert req["method"] == "GET" and req["url"] == dest["url"]
        host = urllib.parse.urlsplit(dest["url"]).hostname
        assert req["headers"] == {**HEADERS, "Host": host}
        assert_no_identity(json.dumps(req))
    assert_no_identity(json.dumps(res))


def test_host_header_keeps_a_non_default_port(ctx):
    assert core.wire.wire_host("https://localhost:8443/x") == "localhost:8443"
    assert core.wire.wire_host("https://repo.securityonion.net:443/x") == "repo.securityonion.net"
    assert core.wire.probe_url("https://h/a/b?x=1&y=2", "repodata/repomd.xml") == "https://h/a/b/repodata/repomd.xml?x=1&y=2"


def test_session_ignores_the_environment(ctx, monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine repo.securityonion.net login leak password leak\n")
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy.invalid:1")
    session = core.preflight.session()
    assert session.trust_env is False
    prepared = core.preflight.prepare(session, "https://repo.securityonion.net/x")
    assert "Authorization" not in prepared.headers
    assert dict(prepared.headers) == {**HEADERS, "Host": "repo.securityonion.net"}


@pytest.mark.parametrize("value", [0, -1, 301, "soon", True, None])
def test_timeout_bounded(ctx, value):
    with pytest.raises(CommandExecutionError, match="timeout"):
        core.preflight.check(ctx(), dry_run=True, timeout=value)


# --------------------------------------------------------------------------
# proxy


def test_proxy_credentials_encoded_password_masked(ctx, pillar, no_network):
    pillar["manager"] = {"proxy": "http://bob:p%40ss%3Aw0rd@proxy.lan:3128", "no_proxy": "sigs.securityonion.net"}
    real = core.proxy.real(ctx())
    assert real["password"] == "p@ss:w0rd"
    proxies, shown = core.preflight.proxies_for("repo.securityonion.net", real)
    assert proxies == {"https": "http://bob:p%40ss%3Aw0rd@proxy.lan:3128"}
    assert shown == "proxy http://bob:******@proxy.lan:3128"
    assert core.preflight.proxies_for("sigs.securityonion.net", real) == (
        {}, "direct: manager:no_proxy covers sigs.securityonion.net")

    res = core.preflight.check(ctx(), dry_run=True)
    text = json.dumps(res)
    assert "p@ss" not in text and "p%40ss" not in text and "w0rd" not in text
    assert res["proxy"]["password"] == "******"
    mirror, _, key = res["destinations"]
    assert mirror["via"] == shown and mirror["connect"] == {
        "target": "repo.securityonion.net:443", "headers": {"Proxy-Authorization": "Basic ******"}}
    # the origin never sees proxy credentials
    assert "Proxy-Authorization" not in mirror["request"]["headers"]
    assert key["via"].startswith("direct") and "connect" not in key


def test_proxy_without_credentials(ctx):
    proxies, shown = core.preflight.proxies_for("h", {"url": "http://proxy.lan:3128", "username": "", "password": "",
                                                    "no_proxy": []})
    assert proxies == {"https": "http://proxy.lan:3128"} and shown == "proxy http://proxy.lan:3128"


def test_live_proxy_passed_to_send_and_password_masked_in_errors(ctx, pillar):
    pillar["manager"] = {"proxy": "http://bob:hunter2@proxy.lan:3128"}
    err = requests.exceptions.ProxyError("Unable to connect to proxy http://bob:hunter2@proxy.lan:3128")
    fake = FakeSend({"repo.securityonion.net": err, "repo-alt.securityonion.net": err,
                     "sigs.securityonion.net": err})
    with fake.install():
        res = core.preflight.check(ctx(), timeout=3)
    assert len(fake.calls) == 3
    for _, kwargs in fake.calls:
        assert kwargs["proxies"] == {"https": "http://bob:hunter2@proxy.lan:3128"}
    assert all(d["error"] == "proxy error" for d in res["destinations"])
    assert "hunter2" not in json.dumps(res)


# --------------------------------------------------------------------------
# live runs through a fake send


def test_live_one_request_each_no_redirect_no_retry(ctx, pillar):
    pillar["soc"] = {"telemetryEnabled": True}
    fake = FakeSend({"repo.securityonion.net": FakeResponse(200), "repo-alt.securityonion.net": FakeResponse(200),
                     "sigs.securityonion.net": FakeResponse(301, "https://cdn.example/key")})
    with fake.install():
        res = core.preflight.check(ctx(), timeout=4, ca_bundle=str(REPO / "setup.cfg"))
    assert res["result"] is True
    assert [p.url for p, _ in fake.calls] == [d["url"] for d in res["destinations"] if d["probe"]]
    for _, kwargs in fake.calls:
        assert kwargs["allow_redirects"] is False and kwargs["timeout"] == (4.0, 4.0)
        assert kwargs["verify"] == str(REPO / "setup.cfg") and kwargs["proxies"] == {}
    key = res["destinations"][2]
    assert key["ok"] is True and key["http_status"] == 301 and "not followed" in key["detail"]
    assert res["destinations"][3]["status"] == "listed"
    assert res["updates"] == "updates work: every repository answers"


def test_live_primary_down_updates_through_the_other_mirror(ctx, pillar):
    refused = requests.exceptions.ConnectionError(
        urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.NewConnectionError(
            None, "Failed to establish a new connection: [Errno 111] Connection refused")))
    fake = FakeSend({"repo.securityonion.net": refused, "repo-alt.securityonion.net": FakeResponse(200),
                     "sigs.securityonion.net": FakeResponse(503)})
    with fake.install():
        res = core.preflight.check(ctx())
    assert res["result"] is False
    first, second, key = res["destinations"]
    assert first["ok"] is False and first["error"] == "connection refused"
    assert second["ok"] is True and second["http_status"] == 200 and second["latency_ms"] >= 0
    assert key["error"] == "HTTP error 503"
    assert res["unreachable"][0].startswith("mirror 1 (https://repo.securityonion.net/")
    assert len(res["unreachable"]) == 2
    assert "updates still work through mirror 2 (repo-alt.securityonion.net)" in res["updates"]
    assert "GPG key is unreachable" in res["updates"]


def test_live_every_mirror_down(ctx, pillar):
    err = requests.exceptions.ConnectTimeout("timed out")
    fake = FakeSend({"repo.securityonion.net": err, "repo-alt.securityonion.net": err,
                     "sigs.securityonion.net": FakeResponse(200)})
    with fake.install():
        res = core.preflight.check(ctx())
    assert res["updates"].startswith("updates do NOT work")
    assert [d.get("error") for d in res["destinations"]] == ["timeout", "timeout", None]


# --------------------------------------------------------------------------
# classification


def _name_error():
    gai = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    reason = urllib3.exceptions.NameResolutionError("repo.securityonion.net", None, gai)
    return requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))


@pytest.mark.parametrize("exc,cause", [
    (_name_error(), "DNS failure"),
    (requests.exceptions.ConnectionError("[Errno -3] Temporary failure in name resolution"), "DNS failure"),
    (requests.exceptions.ConnectionError(ConnectionRefusedError(111, "Connection refused")), "connection refused"),
    (requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local "
                                  "issuer certificate (_ssl.c:1006)"), "TLS verification failed"),
    (requests.exceptions.SSLError("[SSL: WRONG_VERSION_NUMBER] wrong version number"), "TLS error"),
    (requests.exceptions.ReadTimeout("read timed out"), "timeout"),
    (requests.exceptions.ConnectTimeout("connect timed out"), "timeout"),
    (requests.exceptions.ProxyError("Tunnel connection failed: 407 Proxy Authentication Required"), "proxy error"),
    (requests.exceptions.ConnectionError(OSError(101, "Network is unreachable")), "connection failed"),
])
def test_classify(ctx, exc, cause):
    assert core.wire.classify(exc)[0] == cause


def test_classify_tolerates_non_exception_reason(ctx):
    """urllib3 and ssl put strings in ``reason``; the chain walk skips them."""
    inner = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    inner.reason = "CERTIFICATE_VERIFY_FAILED"
    retry = urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.SSLError(inner))
    outer = requests.exceptions.SSLError(retry)
    outer.reason = "a string"
    assert core.wire.classify(outer)[0] == "TLS verification failed"


def test_classify_real_loopback_failures(ctx):
    """Real exceptions from requests: a closed loopback port, and one that
    accepts but never answers."""
    session = core.preflight.session()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    res = core.preflight.send(session, core.preflight.prepare(session, f"https://127.0.0.1:{port}/"), {}, True, 2)
    assert res["ok"] is False and res["error"] == "connection refused", res
    assert res["detail"] == "[Errno 111] Connection refused" and "Max retries" in res["exception"], res

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/"
        res = core.preflight.send(session, core.preflight.prepare(session, url), {}, True, 0.5)
        assert res["ok"] is False and res["error"] == "timeout", res
        assert res["latency_ms"] < 5000
    finally:
        listener.close()


# --------------------------------------------------------------------------
# trust


def test_trust_ca_bundle_then_env_then_system(ctx, monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    other = tmp_path / "env.pem"
    other.write_text("x")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    assert core.preflight.trust(str(bundle)) == (str(bundle), f"ca_bundle {bundle}")
    assert core.preflight.trust(None) == (str(other), f"REQUESTS_CA_BUNDLE {other}")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    verify, desc = core.preflight.trust(None)
    assert desc.startswith("system CA store") and pathlib.Path(verify).is_file()
    with pytest.raises(CommandExecutionError, match="ca_bundle"):
        core.preflight.trust(str(tmp_path / "missing.pem"))
