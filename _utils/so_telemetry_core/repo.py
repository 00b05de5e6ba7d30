"""The yum/dnf repository definition: upstream mirrors with the telemetry
query (manager-like, updates on), without it (updates off), the local
repository (airgapped) or the manager's repository (nodes); the upstream proxy
on manager-like nodes."""

import configparser
import io
import re
import urllib.parse

from . import decide, files, proxy, query
from .config import component
from .secret import SECRET
from .validate import HOST_RE, SAFE_TEXT_RE, PillarError, file_url, fill, https_url, mapping


def manager_host(ctx):
    """The host name nodes reach their manager by: ``global:manager``, else the minion's ``master``."""
    host = component(ctx, "global").get("manager") or ctx.opts.get("master") or ""
    if isinstance(host, list):
        host = host[0] if host else ""
    if not isinstance(host, str) or not HOST_RE.fullmatch(host):
        raise PillarError(f"pillar key 'global:manager' must be a host name, got {host!r}", "global:manager")
    return host


def _airgap_source(repo):
    conf = mapping(repo, "repo:airgap")
    return [file_url(conf.get("baseurl"), "repo:airgap:baseurl")], file_url(conf.get("gpgkey"), "repo:airgap:gpgkey")


def _node_source(ctx, repo):
    manager = manager_host(ctx)
    node = mapping(repo, "repo:node")
    urls = [https_url(fill(node.get("baseurl"), "repo:node:baseurl", manager=manager), "repo:node:baseurl")]
    key = node.get("gpgkey")
    if str(key).startswith("file:"):
        return urls, file_url(key, "repo:node:gpgkey")
    return urls, https_url(fill(key, "repo:node:gpgkey", manager=manager), "repo:node:gpgkey")


def _upstream_source(ctx, repo):
    mirrors = mapping(repo, "repo:upstream").get("mirrors")
    if not isinstance(mirrors, list) or not mirrors:
        raise PillarError(
            f"pillar key 'repo:upstream:mirrors' must be a non-empty list, got {mirrors!r}", "repo:upstream:mirrors"
        )
    ident = query.os_id(ctx)
    qs = query.string(ctx)
    urls = []
    for i, tmpl in enumerate(mirrors):
        key = f"repo:upstream:mirrors:{i}"
        url = https_url(fill(tmpl, key, os=ident["os"], release=ident["release"]), key)
        urls.append(f"{url}?{qs}" if qs else url)
    return urls, https_url(repo["upstream"].get("gpgkey"), "repo:upstream:gpgkey")


def _check_names(repo):
    for key in ("id", "description"):
        val = repo.get(key)
        if not isinstance(val, str) or not val or not SAFE_TEXT_RE.fullmatch(val) or "=" in val:
            raise PillarError(f"pillar key 'repo:{key}' has a value that would break the file: {val!r}", f"repo:{key}")
    # DEFAULT is configparser's (and dnf's ini reader's) defaults section, not a repository
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", repo["id"]) or repo["id"] == "DEFAULT":
        raise PillarError(f"pillar key 'repo:id' must be a plain word, got {repo['id']!r}", "repo:id")


def definition(ctx):
    """``mode`` (upstream, airgap, node), ``baseurls``, ``gpgkey``, the
    upstream ``proxy`` (password masked), the file path, owner and mode, and
    ``secret`` (the file holds a proxy password)."""
    return ctx.memo("repo.definition", lambda: _definition(ctx))


def _definition(ctx):
    repo = component(ctx, "repo")
    state = decide.checked(ctx, "os_updates")
    query.os_id(ctx)  # validated whatever the mode
    if state.airgap["enabled"]:
        mode, (urls, gpgkey) = "airgap", _airgap_source(repo)
    elif not state.manager_like:
        mode, (urls, gpgkey) = "node", _node_source(ctx, repo)
    else:
        mode, (urls, gpgkey) = "upstream", _upstream_source(ctx, repo)
    _check_names(repo)
    # The proxy is the manager's way out to upstream: nodes reach their
    # manager directly, airgapped grids reach nothing.
    prox = {}
    if mode == "upstream":
        prox = proxy.shown(ctx, [urllib.parse.urlsplit(u).hostname for u in urls + [gpgkey]])
        if prox and not prox["applies"]:
            prox = {}
    spec = files.file_spec(ctx, "repo")
    if prox.get("password"):
        spec["mode"] = "0600"  # holds a secret: never world- or group-readable
    return {
        "mode": mode,
        "path": files.rendered_path(ctx, repo["path"], "repo:path"),
        "id": repo["id"],
        "description": repo["description"],
        "baseurls": urls,
        "gpgkey": gpgkey,
        "query": query.params(ctx) if mode == "upstream" else {},
        "proxy": prox,
        "file": spec,
        "secret": bool(prox.get("password")),
    }


def text(ctx, reveal=False):
    """Text of the ``.repo`` file for this node. Its ``proxy_password`` is
    ``******`` unless ``reveal`` (only the state that writes the file, which
    dnf reads, reveals it: then the file is mode 0600)."""
    defn = definition(ctx)
    section = {
        "name": defn["description"],
        "baseurl": "\n".join(defn["baseurls"]),
        "enabled": "1",
        "gpgcheck": "1",
        "repo_gpgcheck": "0",
        "gpgkey": defn["gpgkey"],
        "sslverify": "1",
        "skip_if_unavailable": "0",
    }
    if defn["proxy"]:
        clear = proxy.real(ctx)
        section["proxy"] = clear["url"]
        if clear["username"]:
            section["proxy_username"] = clear["username"]
        if clear["password"]:
            section["proxy_password"] = clear["password"] if reveal else SECRET
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser[defn["id"]] = section
    out = io.StringIO()
    out.write(f"# Managed by so-telemetry (Salt). Local edits are overwritten.\n# mode: {defn['mode']}\n")
    parser.write(out, space_around_delimiters=False)
    rendered = out.getvalue().rstrip("\n") + "\n"
    # The structure must be exactly one section with the keys above.
    check = configparser.ConfigParser(interpolation=None)
    check.optionxform = str
    check.read_string(rendered)
    if check.sections() != [defn["id"]] or set(check[defn["id"]]) != set(section):
        raise PillarError("repository definition would not parse back to one section")
    return rendered


def holds_password(path):
    """Whether the file at ``path`` has a ``proxy_password`` line."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return any(line.lstrip().startswith("proxy_password") for line in fh)
    except OSError:
        return False
