"""Security Onion's ``manager:proxy`` in the rendered repository definition,
read by the real dnf.

The upstream mirrors (and the key) point at ``https://localhost:<dead_port>``,
where nothing listens: dnf can only reach them through the loopback CONNECT
proxy (tests/connect_proxy.py), which requires Basic credentials and maps
``localhost:<dead_port>`` to the primary HTTPS server. So a successful
``dnf makecache`` proves dnf went through the rendered ``proxy=`` with the
rendered ``proxy_username`` / ``proxy_password``; the proxy's log says which
tunnels it opened for whom, the server's log what went through them. The
password never shows in the state's return, salt-call's output or the
minion log; a bad ``manager:proxy`` is refused and the file left as it was.
"""

import base64
import http.client
import json
import shutil
import socket
import ssl
import subprocess
import urllib.parse

import pytest

from tests.conftest import SALT_CALL, state_results
from tests.dnf.test_dnf_repo import (
    EXPECTED_QUERY,
    IDENTITY,
    IDENTITY_GRAINS,
    MINION_ID,
    REPO_FILE,
    SID,
    assert_metadata_fetched,
    assert_no_identity,
    assert_query_on_every_request,
    baseurls,
    makecache_ok,
    request_paths,
    section,
    upstream_pillar,
)

pytestmark = [
    pytest.mark.dnf,
    pytest.mark.skipif(
        shutil.which("dnf") is None or shutil.which("createrepo_c") is None,
        reason="needs Debian's dnf and createrepo-c (scripts/bootstrap.sh installs them as root)",
    ),
]

USER, PASSWORD = "sotest", "p@ss"
QUOTED = urllib.parse.quote(PASSWORD, safe="")  # p%40ss, as it is written in the proxy URL
PROXY_KEYS = {"proxy", "proxy_username", "proxy_password"}


def proxied_pillar(dead_port, proxy_url=None, **extra):
    """Both upstream mirrors and the key at localhost:<dead_port>; ``manager:proxy`` if given."""
    if proxy_url is not None:
        extra["manager"] = {"proxy": proxy_url}
    return upstream_pillar(dead_port, dead_port, **extra)


def make_box(make_sandbox, pillar, grains=None):
    return make_sandbox(grains={**IDENTITY_GRAINS, **(grains or {})}, pillar=pillar, minion_id=MINION_ID)


def apply_repo(box, *args):
    """``salt-call state.apply so_telemetry.repo`` as Sandbox.salt_call runs it:
    ``(the state's return, salt-call's stdout + stderr + the minion log)``."""
    cmd = [
        SALT_CALL, "--config-dir", str(box.config_dir), "--local", "--out=json", "--log-level=error",
        "state.apply", "so_telemetry.repo", *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, timeout=300)
    ret = state_results(json.loads(proc.stdout)["local"])[SID]
    log = box.base / "var" / "log" / "salt" / "minion"
    return ret, proc.stdout + proc.stderr + (log.read_text() if log.exists() else "")


def assert_no_secret(ret, output, *secrets):
    seen = json.dumps(ret) + output
    for secret in secrets:
        assert secret not in seen, f"{secret!r} leaked: {ret}\n{output}"


def file_mode(path):
    return path.stat().st_mode & 0o777


def dnf_output(proc):
    return f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def tunnel_to(proxy, target, user=None, password=None):
    """A raw socket with ``CONNECT target`` sent; returns (socket, status line)."""
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    head = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    if user is not None:
        head += f"Proxy-Authorization: {basic(user, password)}\r\n"
    sock.sendall((head + "\r\n").encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
    return sock, reply.split(b"\r\n", 1)[0].decode()


# --------------------------------------------------------------------------


def test_connect_proxy_helper(repo_servers, dnf_tls, dead_port, connect_proxy, tmp_path):
    """The helper itself: 407 without credentials, the route to the real
    server, 403 for a non-loopback target, a log without the password, and
    stop() closes an open tunnel."""
    primary = repo_servers["primary"]
    log_path = tmp_path / "proxy.log"
    proxy = connect_proxy(
        credentials=("u", "pw-9z"), routes={("localhost", dead_port): ("127.0.0.1", primary.port)}, log_path=log_path
    )
    ctx = ssl.create_default_context(cafile=str(dnf_tls["ca"]))
    target = f"localhost:{dead_port}"

    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=ctx, timeout=5)
    conn.set_tunnel("localhost", dead_port)
    with pytest.raises(OSError, match="407"):
        conn.request("GET", "/x/repodata/repomd.xml")
    conn.close()

    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=ctx, timeout=5)
    conn.set_tunnel("localhost", dead_port, headers={"Proxy-Authorization": basic("u", "pw-9z")})
    conn.request("GET", "/x/repodata/repomd.xml?a=1")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read().startswith(b"<?xml")
    conn.close()
    assert request_paths(primary) == ["/x/repodata/repomd.xml?a=1"]

    sock, status = tunnel_to(proxy, "example.invalid:443", "u", "pw-9z")
    sock.close()
    assert status.split()[1] == "403"

    sock, status = tunnel_to(proxy, target, "u", "pw-9z")
    assert status.split()[1] == "200"
    proxy.stop()
    assert sock.recv(1) == b"", "stop() closes open tunnels"
    sock.close()

    expected = [
        {"method": "CONNECT", "target": target, "user": None, "status": 407},
        {"method": "CONNECT", "target": target, "user": "u", "status": 200},
        {"method": "CONNECT", "target": "example.invalid:443", "user": "u", "status": 403},
        {"method": "CONNECT", "target": target, "user": "u", "status": 200},
    ]
    assert proxy.log == expected
    text = log_path.read_text()
    assert [json.loads(line) for line in text.splitlines()] == expected
    assert "pw-9z" not in text


def test_manager_goes_upstream_through_proxy(make_sandbox, repo_servers, run_dnf, dead_port, connect_proxy):
    primary, alt = repo_servers["primary"], repo_servers["alt"]
    proxy = connect_proxy(
        credentials=(USER, PASSWORD), routes={("localhost", dead_port): ("127.0.0.1", primary.port)}
    )
    box = make_box(make_sandbox, proxied_pillar(dead_port, proxy.url(USER, QUOTED)))
    ret, output = apply_repo(box)
    assert ret["result"] is True, ret
    assert ret["changes"], ret
    assert_no_secret(ret, output, PASSWORD, QUOTED)

    repo_file = box.path(REPO_FILE)
    conf = section(repo_file)
    assert conf["proxy"] == f"http://127.0.0.1:{proxy.port}"
    assert conf["proxy_username"] == USER
    assert conf["proxy_password"] == PASSWORD
    assert file_mode(repo_file) == 0o600
    assert {urllib.parse.urlsplit(u).port for u in baseurls(repo_file)} == {dead_port}
    assert box.salt_call("telemetry.query_params") == EXPECTED_QUERY

    makecache_ok(run_dnf, repo_file)

    # librepo (curl, proxy auth "any") asks without credentials first, gets
    # 407 + Proxy-Authenticate: Basic, and asks again as sotest.
    log = proxy.log
    assert log, "dnf never used the proxy"
    assert all(e["method"] == "CONNECT" and e["target"] == f"localhost:{dead_port}" for e in log), log
    assert all(e["status"] == 200 for e in log if e["user"] is not None), log
    assert {e["user"] for e in log if e["status"] == 200} == {USER}, log
    assert all(e["status"] == 407 for e in log if e["user"] is None), log
    assert not any(t.lower() in json.dumps(log).lower() for t in IDENTITY), log

    paths = request_paths(primary)
    assert_metadata_fetched(paths)
    assert all(p.startswith("/file/so-repo/prod/2.4/oracle/9/repodata/") for p in paths), paths
    assert_query_on_every_request(paths, EXPECTED_QUERY)
    assert alt.requests == []
    assert_no_identity(primary, alt)

    # A new password: the file changes, the state's changes still show no diff.
    box.set_pillar(proxied_pillar(dead_port, proxy.url(USER, "n3w%23pw")))
    ret, output = apply_repo(box)
    assert ret["result"] is True and ret["changes"], ret
    assert_no_secret(ret, output, PASSWORD, QUOTED, "n3w#pw", "n3w%23pw")
    assert section(repo_file)["proxy_password"] == "n3w#pw"
    assert file_mode(repo_file) == 0o600


@pytest.mark.parametrize("how", ["wrong-password", "no-proxy"])
def test_dead_route_fails_without_the_right_proxy(make_sandbox, repo_servers, run_dnf, dead_port, connect_proxy, how):
    """The same dead direct route: a wrong password (407) or no
    ``manager:proxy`` at all and dnf fails, with nothing reaching a server."""
    primary, alt = repo_servers["primary"], repo_servers["alt"]
    proxy = connect_proxy(
        credentials=(USER, PASSWORD), routes={("localhost", dead_port): ("127.0.0.1", primary.port)}
    )
    url = proxy.url(USER, "wr0ng") if how == "wrong-password" else None
    box = make_box(make_sandbox, proxied_pillar(dead_port, url))
    ret, _ = apply_repo(box)
    assert ret["result"] is True, ret
    repo_file = box.path(REPO_FILE)
    conf = section(repo_file)

    proc, _ = run_dnf(repo_file.parent)
    assert proc.returncode != 0, dnf_output(proc)
    assert primary.requests == [] and alt.requests == []
    if how == "wrong-password":
        assert conf["proxy_password"] == "wr0ng"
        assert "407" in proc.stdout + proc.stderr, dnf_output(proc)
        assert proxy.log and all(e["status"] == 407 for e in proxy.log), proxy.log
        assert {e["user"] for e in proxy.log} <= {None, USER}, proxy.log
    else:
        assert not PROXY_KEYS & set(conf), dict(conf)
        assert file_mode(repo_file) == 0o644
        assert proxy.log == []


@pytest.mark.parametrize("kind", ["node", "airgap"])
def test_proxy_not_used_by_nodes_or_airgapped(
    make_sandbox, repo_servers, run_dnf, dead_port, connect_proxy, dnf_airgap_dir, kind
):
    """``manager:proxy`` is for the manager's way upstream: a node reaches its
    manager directly, an airgapped manager reads its local repository."""
    primary, alt = repo_servers["primary"], repo_servers["alt"]
    proxy = connect_proxy(
        credentials=(USER, PASSWORD), routes={("localhost", dead_port): ("127.0.0.1", primary.port)}
    )
    pillar = proxied_pillar(dead_port, proxy.url(USER, QUOTED))
    if kind == "node":
        grains = {"role": "so-sensor"}
        pillar["global"]["manager"] = "localhost"
        pillar["repo"]["node"] = {"baseurl": f"https://{{manager}}:{alt.port}/repo/"}
        expected_urls = [f"https://localhost:{alt.port}/repo/"]
    else:
        grains = {"airgap": True}
        pillar["repo"]["airgap"] = {"baseurl": f"file://{dnf_airgap_dir}/"}
        expected_urls = [f"file://{dnf_airgap_dir}/"]
    box = make_box(make_sandbox, pillar, grains)
    ret, output = apply_repo(box)
    assert ret["result"] is True, ret
    assert_no_secret(ret, output, PASSWORD, QUOTED)

    repo_file = box.path(REPO_FILE)
    conf = section(repo_file)
    assert baseurls(repo_file) == expected_urls
    assert not PROXY_KEYS & set(conf), dict(conf)
    assert PASSWORD not in repo_file.read_text()
    assert file_mode(repo_file) == 0o644

    makecache_ok(run_dnf, repo_file)

    assert proxy.log == []
    assert primary.requests == []
    if kind == "node":
        assert all(p.startswith("/repo/repodata/") and "?" not in p for p in request_paths(alt))
    else:
        assert alt.requests == []


@pytest.mark.parametrize(
    "bad,secret",
    [
        ("http://127.0.0.1:3128\ngpgcheck=0", None),
        ("ftp://x:1", None),
        ("http://h", None),
        ("http://sotest:s3cr%40t@127.0.0.1", "s3cr@t"),
    ],
    ids=["newline", "ftp", "no-port", "no-port-with-password"],
)
def test_bad_proxy_refused_file_kept(make_sandbox, dead_port, bad, secret):
    box = make_box(make_sandbox, proxied_pillar(dead_port, f"http://{USER}:{QUOTED}@127.0.0.1:3128"))
    ret, _ = apply_repo(box)
    assert ret["result"] is True, ret
    repo_file = box.path(REPO_FILE)
    before = repo_file.read_bytes(), repo_file.stat().st_mtime_ns, file_mode(repo_file)
    assert before[2] == 0o600

    box.set_pillar(proxied_pillar(dead_port, bad))
    ret, output = apply_repo(box)
    assert ret["result"] is False, ret
    assert "manager:proxy" in ret["comment"], ret
    assert ret["changes"] == {}, ret
    assert (repo_file.read_bytes(), repo_file.stat().st_mtime_ns, file_mode(repo_file)) == before
    secrets = [PASSWORD, QUOTED] + ([secret, urllib.parse.quote(secret, safe="")] if secret else [])
    assert_no_secret(ret, output, *secrets)


@pytest.mark.parametrize("change", ["proxy-removed", "now-airgapped"])
def test_old_password_not_in_diff(make_sandbox, dead_port, change):
    box = make_box(make_sandbox, proxied_pillar(dead_port, f"http://{USER}:{QUOTED}@127.0.0.1:3128"))
    ret, _ = apply_repo(box)
    assert ret["result"] is True, ret
    if change == "proxy-removed":
        box.set_pillar(proxied_pillar(dead_port, ""))
    else:
        box.set_grains(airgap=True)
    ret, output = apply_repo(box)
    assert ret["result"] is True and ret["changes"], ret
    repo_file = box.path(REPO_FILE)
    assert PASSWORD not in repo_file.read_text() and file_mode(repo_file) == 0o644
    assert_no_secret(ret, output, PASSWORD, QUOTED)
