"""``so-telemetry check`` through the real ``salt-call --local``, against
loopback HTTPS servers (``tests/dnf/repo_server.py``) with a test CA.

The mirrors and the key point at ``https://localhost:<port>/...`` through
pillar; each server logs every request line and header, so a test checks
exactly what was sent. Nothing here contacts a real host: the Tag Manager
destination is listed, never probed.
"""

import configparser
import json
import socket
import threading
import urllib.parse

import pytest
import so_telemetry_core

from tests.dnf.repo_server import RepoServer, closed_port, make_tls
from tests.functional.inproc import inprocess_sandboxes  # noqa: F401  (fixture: make_sandbox)

# the distinctive sandbox identity the dnf tests use: none of it may reach a server
from tests.dnf.test_dnf_repo import IDENTITY, IDENTITY_GRAINS, MINION_ID

FIELDS = {"soversion": "2.4.190", "features": ["fips", "luks"], "license_id": "ABC-123"}
QUERY = {"version": "2.4.190", "os": "oracle9", "arch": "x86_64", "features": "fips,luks", "license": "ABC-123"}
UA = f"so-telemetry/{so_telemetry_core.__version__}"
WIRE_HEADERS = {"host", "user-agent", "accept", "accept-encoding"}


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_tls(tmp_path_factory.mktemp("check-tls"))


@pytest.fixture(scope="module")
def untrusted_tls(tmp_path_factory):
    """A second CA: its server certificate is trusted by nothing."""
    return make_tls(tmp_path_factory.mktemp("check-untrusted"))


@pytest.fixture(scope="module")
def content(tmp_path_factory):
    """What the servers serve: repodata/repomd.xml and the key."""
    root = tmp_path_factory.mktemp("check-repo")
    (root / "repodata").mkdir()
    (root / "repodata" / "repomd.xml").write_text("<repomd/>\n")
    (root / "securityonion.pub").write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
    return root


@pytest.fixture(scope="module")
def _servers(content, tls, untrusted_tls):
    servers = {
        "primary": RepoServer(content, tls, "primary").start(),
        "alt": RepoServer(content, tls, "alt").start(),
        "untrusted": RepoServer(content, untrusted_tls, "untrusted").start(),
    }
    yield servers
    # each stop waits for its server's next poll (up to 0.5 s): all at once
    stops = [threading.Thread(target=server.stop) for server in servers.values()]
    for thread in stops:
        thread.start()
    for thread in stops:
        thread.join()


@pytest.fixture
def servers(_servers):
    for server in _servers.values():
        server.clear()
    return _servers


def upstream_pillar(first, second, key=None, **extra):
    pillar = {
        "repo": {
            "upstream": {
                "mirrors": [
                    f"https://localhost:{first}/file/so-repo/prod/2.4/{{os}}/{{release}}/",
                    f"https://localhost:{second}/prod/2.4/{{os}}/{{release}}/",
                ],
                "gpgkey": f"https://localhost:{key or first}/file/so-repo/prod/2.4/keys/securityonion.pub",
            }
        },
        "global": dict(FIELDS),
        "soc": {"telemetryEnabled": True},
    }
    for comp, val in extra.items():
        pillar.setdefault(comp, {}).update(val)
    return pillar


def sandbox(make_sandbox, pillar, grains=None):
    return make_sandbox(grains={**IDENTITY_GRAINS, **(grains or {})}, pillar=pillar, minion_id=MINION_ID)


def check(box, *args, env=None):
    """``so-telemetry check ...``; ambient proxies and CA bundle neutralised,
    and an environment proxy that would fail if it were ever used."""
    full = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": "", "HTTPS_PROXY": f"http://127.0.0.1:{closed_port()}",
            "https_proxy": f"http://127.0.0.1:{closed_port()}", "NO_PROXY": "", "no_proxy": ""}
    full.update(env or {})
    return box.cli("check", *args, env=full)


def lines_for(stdout, name):
    return [line for line in stdout.splitlines() if line.split(":", 1)[0].split(None, 1)[-1] == name]


def assert_no_identity(*servers):
    tokens = [t.lower() for t in IDENTITY]
    real = socket.gethostname().lower()
    for server in servers:
        for req in server.requests:
            seen = " ".join([req["path"], *req["headers"].values()]).lower()
            assert not [t for t in tokens if t in seen], f"{server.name}: identity in {req}"
            if real and real not in ("localhost", "localhost.localdomain"):
                assert real not in seen, f"{server.name}: machine host name in {req}"


def assert_exact_request(req, path):
    split = urllib.parse.urlsplit(req["path"])
    assert req["method"] == "GET" and split.path == path, req
    assert {k.lower() for k in req["headers"]} == WIRE_HEADERS, req["headers"]
    assert req["headers"]["User-Agent"] == UA
    return split.query


# --------------------------------------------------------------------------


def test_all_reachable(make_sandbox, servers, tls):
    primary, alt = servers["primary"], servers["alt"]
    box = sandbox(make_sandbox, upstream_pillar(primary.port, alt.port))
    proc = check(box, "--ca-bundle", str(tls["ca"]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert lines_for(out, "mirror 1")[0].startswith("ok       mirror 1: HTTP 200 in "), out
    assert lines_for(out, "mirror 2")[0].startswith("ok       mirror 2: HTTP 200 in "), out
    assert lines_for(out, "GPG key")[0].startswith("ok       GPG key: HTTP 200 in "), out
    gtm = lines_for(out, "SOC Tag Manager")
    assert len(gtm) == 1 and gtm[0].startswith("listed") and "not probed" in gtm[0], out
    assert "Summary: 3 of 3 destination(s) answered" in out
    assert "updates work: every repository answers" in out

    # exactly one request per destination, exactly the allow-listed query
    reqs = primary.requests
    assert len(reqs) == 2, reqs
    query = assert_exact_request(reqs[0], "/file/so-repo/prod/2.4/oracle/9/repodata/repomd.xml")
    parsed = urllib.parse.parse_qs(query, strict_parsing=True)
    assert {k: v for k, (v,) in parsed.items()} == QUERY
    assert query == "version=2.4.190&os=oracle9&arch=x86_64&features=fips%2Cluks&license=ABC-123"
    assert assert_exact_request(reqs[1], "/file/so-repo/prod/2.4/keys/securityonion.pub") == ""
    assert reqs[0]["headers"]["Host"] == f"localhost:{primary.port}"
    (alt_req,) = alt.requests
    assert assert_exact_request(alt_req, "/prod/2.4/oracle/9/repodata/repomd.xml") == query
    # the same query the repository file carries
    box.salt_call("state.apply", "so_telemetry.repo")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(box.path("/etc/yum.repos.d/securityonion.repo").read_text())
    baseurls = parser["securityonion"]["baseurl"].split()
    assert [urllib.parse.urlsplit(u).query for u in baseurls] == [query, query]
    assert_no_identity(primary, alt)


def test_primary_dead_other_mirror_serves(make_sandbox, servers, tls):
    primary, alt = servers["primary"], servers["alt"]
    dead = closed_port()
    box = sandbox(make_sandbox, upstream_pillar(dead, alt.port, key=primary.port))
    proc = check(box, env={"REQUESTS_CA_BUNDLE": str(tls["ca"])})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    (line,) = lines_for(out, "mirror 1")
    assert line.startswith("FAILED   mirror 1: connection refused, GET https://localhost:") and f":{dead}/" in line
    assert lines_for(out, "mirror 2")[0].startswith("ok       mirror 2: HTTP 200")
    assert f"unreachable: mirror 1 (https://localhost:{dead}/" in out
    assert "updates still work through mirror 2 (localhost): dnf tries the mirrors in order" in out
    assert "REQUESTS_CA_BUNDLE" in out
    assert len(alt.requests) == 1 and len(primary.requests) == 1  # the key
    assert_no_identity(primary, alt)


def test_airgapped_contacts_nothing(make_sandbox, servers, tls):
    """Airgapped by the grain (the pillar's global:airgap and a malformed
    value lead to the same decision: tests/unit/core/test_preflight.py::
    test_airgapped_no_connection_no_dns)."""
    primary, alt = servers["primary"], servers["alt"]
    box = sandbox(make_sandbox, upstream_pillar(primary.port, alt.port), grains={"airgap": True})
    proc = check(box, "--ca-bundle", str(tls["ca"]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("Network preflight (airgap): airgapped (")
    assert "Nothing was contacted (no connection, no DNS lookup)." in proc.stdout
    assert "localhost" not in proc.stdout
    assert primary.requests == [] and alt.requests == []


def test_node_requests_only_its_managers_repository(make_sandbox, servers, tls):
    primary, alt = servers["primary"], servers["alt"]
    pillar = upstream_pillar(primary.port, alt.port, manager={"proxy": f"http://127.0.0.1:{closed_port()}"})
    pillar["global"]["manager"] = "localhost"
    pillar["repo"]["node"] = {"baseurl": f"https://{{manager}}:{alt.port}/repo/"}
    box = sandbox(make_sandbox, pillar, grains={"role": "so-sensor"})
    proc = check(box, "--ca-bundle", str(tls["ca"]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith(("ok ", "FAILED", "listed"))]
    assert line.startswith("ok       manager repository: HTTP 200 in ") and "(direct)" in line, proc.stdout
    assert "Tag Manager" not in proc.stdout and "Proxy:" not in proc.stdout
    (req,) = alt.requests
    assert assert_exact_request(req, "/repo/repodata/repomd.xml") == ""
    assert primary.requests == [], "a node never asks upstream"
    assert_no_identity(alt)


def test_dry_run_sends_nothing_shows_every_byte(make_sandbox, servers, tls):
    primary, alt = servers["primary"], servers["alt"]
    box = sandbox(make_sandbox, upstream_pillar(primary.port, alt.port))
    proc = check(box, "--dry-run", "--ca-bundle", str(tls["ca"]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    query = "version=2.4.190&os=oracle9&arch=x86_64&features=fips%2Cluks&license=ABC-123"
    url = f"https://localhost:{primary.port}/file/so-repo/prod/2.4/oracle/9/repodata/repomd.xml?{query}"
    assert f"would    mirror 1: GET {url} (direct)" in out, out
    assert f"    Host: localhost:{primary.port}\n" in out
    assert f"    User-Agent: {UA}\n" in out and "    Accept: */*\n" in out and "    Accept-Encoding: identity\n" in out
    assert "Summary: dry run: 3 request(s) prepared, none sent; 1 destination(s) listed, never probed" in out

    proc = check(box, "--dry-run", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(proc.stdout)
    assert res["dry_run"] is True and res["result"] is True
    first = res["destinations"][0]
    assert first["request"] == {
        "method": "GET", "url": url,
        "headers": {"User-Agent": UA, "Accept": "*/*", "Accept-Encoding": "identity",
                    "Host": f"localhost:{primary.port}"},
    }
    for word in IDENTITY:
        assert word not in proc.stdout
    assert primary.requests == [] and alt.requests == []


def test_untrusted_ca_then_trusted(make_sandbox, servers, tls):
    bad, alt = servers["untrusted"], servers["alt"]
    box = sandbox(make_sandbox, upstream_pillar(bad.port, alt.port, key=alt.port))
    proc = check(box, env={"REQUESTS_CA_BUNDLE": str(tls["ca"])})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert lines_for(proc.stdout, "mirror 1")[0].startswith("FAILED   mirror 1: TLS verification failed"), proc.stdout
    assert "updates still work through mirror 2" in proc.stdout

    # the system CA store trusts neither test CA
    proc = check(box, "--json")
    assert proc.returncode == 1
    res = json.loads(proc.stdout)
    assert res["trust"].startswith(("system CA store", "certifi"))
    assert [d.get("error") for d in res["destinations"] if d["probe"]] == ["TLS verification failed"] * 3
    assert res["updates"].startswith("updates do NOT work")


def test_salt_failure_exits_2(make_sandbox):
    box = sandbox(make_sandbox, {"repo": {"upstream": {"mirrors": ["http://plain.example/"]}}})
    proc = check(box, "--dry-run")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "must be an https:// URL" in proc.stderr


def test_through_the_proxy_while_the_direct_route_is_dead(make_sandbox, servers, tls):
    """manager:proxy set, every upstream name:port dead on the direct route:
    check reaches each destination through the loopback CONNECT proxy, one
    tunnel per destination, and never prints the password."""
    from tests.connect_proxy import ConnectProxy  # pylint: disable=import-outside-toplevel

    primary, alt = servers["primary"], servers["alt"]
    dead = {name: closed_port() for name in ("mirror1", "mirror2", "key")}
    routes = {
        ("localhost", dead["mirror1"]): ("127.0.0.1", primary.port),
        ("localhost", dead["mirror2"]): ("127.0.0.1", alt.port),
        ("localhost", dead["key"]): ("127.0.0.1", primary.port),
    }
    password = "pr0xy:pa$$"
    with ConnectProxy(credentials=("so-updates", password), routes=routes) as proxy:
        url = proxy.url("so-updates", urllib.parse.quote(password, safe=""))
        pillar = upstream_pillar(dead["mirror1"], dead["mirror2"], key=dead["key"], manager={"proxy": url})
        box = sandbox(make_sandbox, pillar)
        proc = check(box, "--ca-bundle", str(tls["ca"]))
        log = proxy.log
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Summary: 3 of 3 destination(s) answered" in out
    assert password not in out and urllib.parse.quote(password, safe="") not in out
    tunnels = [e for e in log if e["status"] == 200]
    assert sorted(e["target"] for e in tunnels) == sorted(f"localhost:{p}" for p in dead.values()), log
    assert all(e["user"] == "so-updates" for e in tunnels), log
    assert [r["path"].split("?")[0] for r in alt.requests] == ["/prod/2.4/oracle/9/repodata/repomd.xml"]
    assert len(primary.requests) == 2
    assert_no_identity(primary, alt)
