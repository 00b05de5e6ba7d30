"""What goes on the wire for the preflight, as plain functions: the Host
header, the probe URL beside a baseurl, and the cause of a failed request."""

import socket
import urllib.parse


def wire_host(url):
    """The Host header http.client sends for ``url`` (no userinfo, no :443)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return host if parts.port in (None, 443) else f"{host}:{parts.port}"


def probe_url(base, tail):
    """``tail`` under the directory ``base`` (a baseurl with its query), the
    query kept exactly as it is (dnf keeps a baseurl's query on every request)."""
    parts = urllib.parse.urlsplit(base)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urllib.parse.urlunsplit(parts._replace(path=path + tail))


def exc_chain(exc):
    """``exc`` and everything it wraps (``__cause__``, ``__context__``,
    urllib3's ``reason``, args that are exceptions)."""
    todo, seen = [exc], []
    while todo:
        cur = todo.pop(0)
        if not isinstance(cur, BaseException) or any(cur is s for s in seen):
            continue
        seen.append(cur)
        todo.extend([cur.__cause__, cur.__context__, getattr(cur, "reason", None)])
        todo.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
    return seen


def _is_dns(chain, names, low):
    return (
        "NameResolutionError" in names
        or any(isinstance(e, socket.gaierror) for e in chain)
        or "name or service not known" in low
        or "temporary failure in name resolution" in low
        or "nodename nor servname" in low
    )


def classify(exc):
    """``(cause, detail)`` of a failed request: ``proxy error``, ``TLS
    verification failed``, ``TLS error``, ``timeout``, ``DNS failure``,
    ``connection refused`` or ``connection failed``."""
    import requests  # pylint: disable=import-outside-toplevel

    chain = exc_chain(exc)
    text = " ".join(str(e) for e in chain)
    low = text.lower()
    # the innermost message says it best ("[Errno 111] Connection refused")
    detail = next((str(e) for e in reversed(chain) if str(e)), str(exc))
    if isinstance(exc, requests.exceptions.ProxyError):
        return "proxy error", detail
    if isinstance(exc, requests.exceptions.SSLError):
        if "certificate_verify_failed" in low or "certificate verify failed" in low:
            return "TLS verification failed", detail
        return "TLS error", detail
    timed_out = any(isinstance(e, (socket.timeout, TimeoutError)) for e in chain)
    if isinstance(exc, requests.exceptions.Timeout) or timed_out:
        return "timeout", detail
    if _is_dns(chain, {type(e).__name__ for e in chain}, low):
        return "DNS failure", detail
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in low:
        return "connection refused", detail
    return "connection failed", detail
