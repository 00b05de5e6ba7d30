"""The rendered repository definition, read by the real dnf.

Each test renders ``/etc/yum.repos.d/securityonion.repo`` the real way
(``salt-call state.apply so_telemetry.repo`` in a sandbox), points its mirrors at two
loopback HTTPS servers through pillar, runs the real ``dnf makecache`` on it
and checks, from the servers' own request logs, exactly what dnf (librepo)
sent: the allow-listed telemetry query on every request when the channel is
on, and no query (or no request at all) otherwise.
"""

import configparser
import shutil
import socket
import urllib.parse

import pytest

from tests.conftest import state_results

pytestmark = [
    pytest.mark.dnf,
    pytest.mark.skipif(
        shutil.which("dnf") is None or shutil.which("createrepo_c") is None,
        reason="needs Debian's dnf and createrepo-c (scripts/bootstrap.sh installs them as root)",
    ),
]

REPO_FILE = "/etc/yum.repos.d/securityonion.repo"
SID = "so-telemetry-repo-telemetry-repo_managed"
ALLOWED = {"version", "os", "arch", "features", "license"}

# Identity of the sandbox minion: none of it may ever reach a server.
MINION_ID = "zq-minion-7431"
IDENTITY_GRAINS = {
    "host": "zq-host-5527",
    "nodename": "zq-host-5527",
    "fqdn": "zq-host-5527.zq-domain.lan",
    "domain": "zq-domain.lan",
    "username": "zq-user-9911",
}
IDENTITY = [MINION_ID, *IDENTITY_GRAINS.values()]

ALL_FIELDS = {"soversion": "2.4.190", "features": ["fips", "luks"], "license_id": "ABC-123"}
EXPECTED_QUERY = {
    "version": "2.4.190",
    "os": "oracle9",
    "arch": "x86_64",
    "features": "fips,luks",
    "license": "ABC-123",
}


def mirrors(first_port, second_port):
    return [
        f"https://localhost:{first_port}/file/so-repo/prod/2.4/{{os}}/{{release}}/",
        f"https://localhost:{second_port}/prod/2.4/{{os}}/{{release}}/",
    ]


def upstream_pillar(first_port, second_port, **extra):
    """Pillar pointing both upstream mirrors (and the key) at the loopback servers."""
    pillar = {
        "repo": {
            "upstream": {
                "mirrors": mirrors(first_port, second_port),
                # makecache never fetches the key; keep it local all the same
                "gpgkey": f"https://localhost:{first_port}/keys/securityonion.pub",
            }
        },
        "global": dict(ALL_FIELDS),
    }
    for key, val in extra.items():
        pillar.setdefault(key, {}).update(val)
    return pillar


def render(make_sandbox, grains=None, pillar=None):
    """A sandbox minion with a distinctive identity, the repo state applied."""
    box = make_sandbox(grains={**IDENTITY_GRAINS, **(grains or {})}, pillar=pillar, minion_id=MINION_ID)
    ret = state_results(box.salt_call("state.apply", "so_telemetry.repo"))[SID]
    assert ret["result"] is True, ret
    path = box.path(REPO_FILE)
    assert path.is_file()
    return box, path


def section(path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(path.read_text())
    assert parser.sections() == ["securityonion"]
    return parser["securityonion"]


def baseurls(path):
    return section(path)["baseurl"].split()


def makecache_ok(run_dnf, repo_file):
    proc, argv = run_dnf(repo_file.parent)
    assert proc.returncode == 0, f"{' '.join(argv)}\nrc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "securityonion: using metadata from" in proc.stdout, proc.stdout
    return proc


def request_paths(server):
    return [r["path"] for r in server.requests]


def assert_no_identity(*servers):
    """No request line or header names the minion (id, host names, user)."""
    tokens = [t.lower() for t in IDENTITY]
    real = socket.gethostname().lower()
    for server in servers:
        for req in server.requests:
            seen = " ".join([req["path"], *req["headers"].values()]).lower()
            hits = [t for t in tokens if t in seen]
            assert not hits, f"{server.name} got {hits} in {req}"
            if real and real not in ("localhost", "localhost.localdomain"):
                assert real not in req["path"].lower(), f"{server.name}: machine host name in {req['path']}"


def assert_metadata_fetched(paths):
    """makecache fetched the index and the package list (dnf 4.14 also
    fetches filelists; `other` and the sqlite files are never fetched)."""
    tails = [urllib.parse.urlsplit(p).path.rsplit("/", 1)[-1] for p in paths]
    assert "repomd.xml" in tails, paths
    assert any(t.endswith("-primary.xml.gz") for t in tails), paths


def assert_query_on_every_request(paths, expected):
    assert paths
    for path in paths:
        split = urllib.parse.urlsplit(path)
        assert split.query, f"request without the telemetry query: {path}"
        parsed = urllib.parse.parse_qs(split.query, keep_blank_values=True, strict_parsing=True)
        assert set(parsed) <= ALLOWED, f"non-allow-listed parameter in {path}"
        assert all(len(v) == 1 for v in parsed.values()), f"repeated parameter in {path}"
        assert {k: v[0] for k, v in parsed.items()} == expected, path


# --------------------------------------------------------------------------


@pytest.mark.parametrize("fields", ["all", "defaults"])
def test_query_on_every_request(make_sandbox, repo_servers, run_dnf, fields):
    primary, alt = repo_servers["primary"], repo_servers["alt"]
    pillar = upstream_pillar(primary.port, alt.port)
    if fields == "defaults":
        del pillar["global"]  # shipped defaults: no features, no license
    box, repo_file = render(make_sandbox, pillar=pillar)

    query = box.salt_call("telemetry.query_params")
    expected = EXPECTED_QUERY if fields == "all" else {"version": "2.4.190", "os": "oracle9", "arch": "x86_64"}
    assert query == expected
    urls = baseurls(repo_file)
    assert [urllib.parse.urlsplit(u).port for u in urls] == [primary.port, alt.port]
    for url in urls:
        assert urllib.parse.parse_qs(urllib.parse.urlsplit(url).query) == {k: [v] for k, v in query.items()}
    if fields == "all":
        assert all(u.endswith("?version=2.4.190&os=oracle9&arch=x86_64&features=fips%2Cluks&license=ABC-123")
                   for u in urls), urls

    makecache_ok(run_dnf, repo_file)

    paths = request_paths(primary)
    assert_metadata_fetched(paths)
    assert all(p.startswith("/file/so-repo/prod/2.4/oracle/9/repodata/") for p in paths), paths
    assert_query_on_every_request(paths, query)
    assert alt.requests == [], "the first mirror answered: the second is never asked"
    assert_no_identity(primary, alt)


def test_primary_down_fails_over_to_alt_with_query(make_sandbox, repo_servers, run_dnf, dead_port):
    primary, alt = repo_servers["primary"], repo_servers["alt"]
    box, repo_file = render(make_sandbox, pillar=upstream_pillar(dead_port, alt.port))
    query = box.salt_call("telemetry.query_params")
    assert query == EXPECTED_QUERY
    assert urllib.parse.urlsplit(baseurls(repo_file)[0]).port == dead_port

    makecache_ok(run_dnf, repo_file)

    paths = request_paths(alt)
    assert_metadata_fetched(paths)
    assert all(p.startswith("/prod/2.4/oracle/9/repodata/") for p in paths), paths
    assert_query_on_every_request(paths, query)
    assert primary.requests == []
    assert_no_identity(primary, alt)


def test_updates_off_sends_no_query(make_sandbox, repo_servers, run_dnf):
    primary, alt = repo_servers["primary"], repo_servers["alt"]
    pillar = upstream_pillar(primary.port, alt.port, patch={"os": {"enabled": False}})
    box, repo_file = render(make_sandbox, pillar=pillar)
    assert box.salt_call("telemetry.query_params") == {}
    urls = baseurls(repo_file)
    assert len(urls) == 2 and all("?" not in u for u in urls), urls
    assert "?" not in repo_file.read_text()

    makecache_ok(run_dnf, repo_file)

    paths = request_paths(primary)
    assert_metadata_fetched(paths)
    assert all("?" not in p for p in paths), paths
    assert alt.requests == []
    assert_no_identity(primary, alt)


@pytest.mark.parametrize(
    "grains,pillar",
    [({"airgap": True}, {}), ({}, {"global": {"airgap": True}})],
    ids=["grain", "pillar"],
)
def test_airgapped_reads_local_repo_only(make_sandbox, repo_servers, run_dnf, dnf_airgap_dir, grains, pillar):
    primary, alt = repo_servers["primary"], repo_servers["alt"]
    full = upstream_pillar(primary.port, alt.port, patch={"os": {"enabled": True}}, **pillar)
    full["repo"]["airgap"] = {"baseurl": f"file://{dnf_airgap_dir}/"}
    box, repo_file = render(make_sandbox, grains=grains, pillar=full)
    assert box.salt_call("telemetry.query_params") == {}
    assert baseurls(repo_file) == [f"file://{dnf_airgap_dir}/"]
    text = repo_file.read_text()
    assert "https://" not in text and "localhost" not in text and "?" not in text

    makecache_ok(run_dnf, repo_file)

    assert primary.requests == [] and alt.requests == []


def test_shipped_airgap_baseurl_is_nsm_repo(make_sandbox, repo_servers):
    """Without the test override the airgapped file points at file:///nsm/repo/."""
    primary, alt = repo_servers["primary"], repo_servers["alt"]
    _, repo_file = render(make_sandbox, grains={"airgap": True}, pillar=upstream_pillar(primary.port, alt.port))
    assert baseurls(repo_file) == ["file:///nsm/repo/"]


def test_node_uses_manager_repo_without_query(make_sandbox, repo_servers, run_dnf):
    primary, alt = repo_servers["primary"], repo_servers["alt"]
    pillar = upstream_pillar(primary.port, alt.port)
    pillar["global"]["manager"] = "localhost"
    pillar["repo"]["node"] = {"baseurl": f"https://{{manager}}:{alt.port}/repo/"}
    box, repo_file = render(make_sandbox, grains={"role": "so-sensor"}, pillar=pillar)
    assert box.salt_call("telemetry.query_params") == {}
    assert baseurls(repo_file) == [f"https://localhost:{alt.port}/repo/"]
    assert "?" not in repo_file.read_text()

    makecache_ok(run_dnf, repo_file)

    paths = request_paths(alt)
    assert_metadata_fetched(paths)
    assert all(p.startswith("/repo/repodata/") and "?" not in p for p in paths), paths
    assert primary.requests == [], "a node never asks upstream"
    assert_no_identity(primary, alt)


def test_report_discloses_dnf_user_agent(make_sandbox, repo_servers, run_dnf):
    primary, alt = repo_servers["primary"], repo_servers["alt"]
    box, repo_file = render(make_sandbox, pillar=upstream_pillar(primary.port, alt.port))
    makecache_ok(run_dnf, repo_file)
    agents = {r["headers"].get("User-Agent", "") for r in primary.requests}
    # what the receiver really learns besides the query: "libdnf (<OS> <version>; <variant>; Linux.<arch>)"
    assert len(agents) == 1 and next(iter(agents)).startswith("libdnf ("), agents
    report = box.salt_call("telemetry.report")["os_updates"]
    assert "user-agent" in report["also_known_to_receiver"].lower(), report["also_known_to_receiver"]
