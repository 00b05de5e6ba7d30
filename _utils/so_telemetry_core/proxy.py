"""The manager's upstream proxy: Security Onion's ``manager:proxy``
(``http://[user:password@]host:port``) and ``manager:no_proxy`` (comma list of
host names or domain suffixes), validated. :func:`real` holds the password,
for the repository file and the preflight's own requests only; everything
that is shown uses :func:`shown` (``******``)."""

import re
import urllib.parse
import urllib.request

import salt.utils.network

from .config import component
from .secret import SECRET, mask_url
from .validate import HOST_RE, SAFE_TEXT_RE, PillarError

KEY = "manager:proxy"
_SCHEMES = ("http", "https")


def _parts(url):
    """``urlsplit`` of a valid proxy URL (scheme, host, port, nothing else)."""
    if not isinstance(url, str) or not SAFE_TEXT_RE.fullmatch(url) or any(c.isspace() for c in url):
        raise PillarError(f"pillar key '{KEY}' has a value that would break the repository file", KEY)
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise PillarError(f"pillar key '{KEY}' must look like http://host:port, got an invalid URL", KEY) from None
    if parts.scheme not in _SCHEMES or not parts.hostname or port is None:
        raise PillarError(
            f"pillar key '{KEY}' must look like http://[user:password@]host:port (scheme http or https, a host "
            f"and a port), got {mask_url(url)!r}",
            KEY,
        )
    if not (HOST_RE.fullmatch(parts.hostname) or salt.utils.network.is_ip(parts.hostname)):
        raise PillarError(f"pillar key '{KEY}' has an invalid host {parts.hostname!r}", KEY)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise PillarError(f"pillar key '{KEY}' must be scheme://host:port only, got {mask_url(url)!r}", KEY)
    return parts


def _no_proxy(value):
    value = value or ""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9.,:*_\[\] -]*", value):
        raise PillarError(
            f"pillar key 'manager:no_proxy' must be a comma list of host names, got {value!r}", "manager:no_proxy"
        )
    return [h.strip().lower().lstrip("*") for h in value.split(",") if h.strip()]


def real(ctx, hosts=None):
    """``{"url", "username", "password", "no_proxy"}`` (``{}`` when no proxy
    is set), the password in clear. With ``hosts``, ``applies`` tells whether
    the proxy is used for them (not when ``no_proxy`` covers every one)."""
    conf = component(ctx, "manager")
    url = conf.get("proxy")
    if url in (None, ""):
        return {}
    parts = _parts(url)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    out = {
        "url": f"{parts.scheme}://{host}:{parts.port}",
        "username": urllib.parse.unquote(parts.username) if parts.username else "",
        "password": urllib.parse.unquote(parts.password) if parts.password else "",
    }
    for field in ("username", "password"):
        if not SAFE_TEXT_RE.fullmatch(out[field]) or out[field] != out[field].strip():
            raise PillarError(f"pillar key '{KEY}' has a {field} that would break the repository file", KEY)
    out["no_proxy"] = _no_proxy(conf.get("no_proxy"))
    if hosts is not None:
        out["applies"] = not all(bypassed(h, out["no_proxy"]) for h in hosts)
    return out


def shown(ctx, hosts=None):
    """:func:`real` with the password masked: what reports and states show."""
    out = real(ctx, hosts)
    if out.get("password"):
        out["password"] = SECRET
    return out


def bypassed(host, no_proxy):
    """Whether ``manager:no_proxy`` (parsed) covers ``host``: the standard
    library's ``no_proxy`` rule (an exact host, or a domain suffix; ``*``
    alone covers all). Where it differs: a leading ``*`` (``*.corp.lan``) is
    taken as the suffix ``.corp.lan``, and ``*`` as one entry of a list covers
    every host too (as curl reads it)."""
    if "" in no_proxy:  # an entry that was "*"
        return True
    return bool(no_proxy) and urllib.request.proxy_bypass_environment(host or "", {"no": ",".join(no_proxy)})
