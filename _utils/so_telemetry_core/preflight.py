"""Network preflight: exactly the destinations this node contacts (as the
decision has them: repository definition, query, proxy), one request each,
and the exact wire preview. Airgapped: no connection and no DNS lookup."""

import os
import ssl
import time
import urllib.parse

from salt.exceptions import CommandExecutionError

from . import __version__, decide, proxy, query, repo, soc
from .secret import SECRET, mask_text
from .wire import classify, probe_url, wire_host

USER_AGENT = f"so-telemetry/{__version__}"
CHECK_TIMEOUT = 10
# The system CA store, as dnf (libcurl) trusts it, first match wins;
# certifi's bundle (requests' default) only when none of these exists.
SYSTEM_CA_FILES = (
    "/etc/pki/tls/certs/ca-bundle.crt",  # Oracle Linux, Rocky, RHEL
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
)


def trust(ca_bundle):
    """``(verify, description)``: ``ca_bundle``, else ``REQUESTS_CA_BUNDLE``
    (honoured explicitly: the session ignores the environment), else the
    system CA store."""
    for value, where in ((ca_bundle, "ca_bundle"), (os.environ.get("REQUESTS_CA_BUNDLE"), "REQUESTS_CA_BUNDLE")):
        if value in (None, ""):
            continue
        if not isinstance(value, str) or not os.path.exists(value):
            raise CommandExecutionError(f"{where} {value!r} is not a CA bundle file or directory")
        return value, f"{where} {value}"
    for cafile in (ssl.get_default_verify_paths().cafile, *SYSTEM_CA_FILES):
        if cafile and os.path.isfile(cafile):
            return cafile, f"system CA store {cafile}"
    return True, "certifi CA bundle (no system CA store found)"


def seconds(timeout):
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        value = -1
    if isinstance(timeout, bool) or not 0 < value <= 300:
        raise CommandExecutionError(f"timeout must be a number of seconds from 0 to 300, got {timeout!r}")
    return value


def proxies_for(host, clear):
    """``(proxies, shown)`` for one destination host: the ``requests``
    proxies mapping with the credentials (percent-encoded), and the proxy
    URL with the password masked. ``({}, "direct")`` when no proxy applies."""
    if not clear or proxy.bypassed(host, clear.get("no_proxy") or []):
        return {}, "direct" if not clear else f"direct: manager:no_proxy covers {host}"
    parts = urllib.parse.urlsplit(clear["url"])
    auth = shown_auth = ""
    if clear.get("username"):
        user = urllib.parse.quote(clear["username"], safe="")
        auth = shown_auth = user
        if clear.get("password"):
            auth += ":" + urllib.parse.quote(clear["password"], safe="")
            shown_auth += ":" + SECRET
        auth += "@"
        shown_auth += "@"
    return {"https": f"{parts.scheme}://{auth}{parts.netloc}"}, f"proxy {parts.scheme}://{shown_auth}{parts.netloc}"


def _airgap_plan(state):
    return {
        "mode": "airgap",
        "airgap": True,
        "reason": f"airgapped ({state.airgap['reason']}): this node contacts nothing; no connection, no DNS lookup",
        "destinations": [],
        "notes": [],
    }


def _reason(mode, state):
    if mode != "upstream":
        return "node: only its manager's repository, never upstream, never a query"
    if state.os_updates["telemetry"]:
        return ("manager-like node, OS updates on: each upstream mirror with the telemetry query "
                "(exactly the query the repository file carries), and the signing key")
    return f"manager-like node, OS updates off ({state.os_updates['reason']}): upstream without a query"


def _soc_destination(ctx, state, notes):
    if state.manager_like and state.soc["enabled"]:
        return [{
            "name": "SOC Tag Manager",
            "kind": "soc",
            "url": soc.analytics(ctx)["src"],
            "probe": False,
            "detail": "loaded by the analysts' browsers from the SOC web UI, not by this node: not probed "
            "from here; allow it on the browsers' way out",
        }]
    if state.manager_like:
        notes.append(f"SOC Telemetry off ({state.soc['reason']}): browsers load no Tag Manager")
    return []


def plan(ctx):
    """The destinations this node contacts: ``{"mode", "reason", "airgap",
    "destinations", "notes"}``. Pure: no network."""
    state = decide.checked(ctx)
    if state.airgap["enabled"]:
        return _airgap_plan(state)
    defn = repo.definition(ctx)
    mode = defn["mode"]
    label = "mirror" if mode == "upstream" else "manager repository"
    many = len(defn["baseurls"]) > 1
    dests = [{"name": f"{label} {i}" if many else label, "kind": "mirror",
              "url": probe_url(base, "repodata/repomd.xml"), "probe": True}
             for i, base in enumerate(defn["baseurls"], 1)]
    notes = []
    if urllib.parse.urlsplit(defn["gpgkey"]).scheme == "https":
        dests.append({"name": "GPG key", "kind": "gpgkey", "url": defn["gpgkey"], "probe": True})
    else:
        notes.append(f"GPG key {defn['gpgkey']} is a local file: nothing to contact")
    dests += _soc_destination(ctx, state, notes)
    seen, unique = set(), []
    for dest in dests:  # at most one request per destination
        if dest["url"] not in seen:
            seen.add(dest["url"])
            unique.append(dest)
    # Nothing but the allow-listed query may ride on a request.
    expected = query.params(ctx) if mode == "upstream" else {}
    for dest in unique:
        got = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(dest["url"]).query, keep_blank_values=True))
        if dest["kind"] == "mirror" and (not set(got) <= set(query.QUERY_FIELDS) or got != expected):
            raise CommandExecutionError(
                f"refusing to send {dest['url']}: its query is not exactly the allow-listed one"
            )
    return {"mode": mode, "airgap": False, "reason": _reason(mode, state), "destinations": unique, "notes": notes}


def session():
    """A ``requests`` session that sends only what we set: no environment
    proxies, netrc or CA bundle (``trust_env=False``), and exactly these
    headers (``Host`` and ``Accept-Encoding`` named so http.client adds none)."""
    import requests  # pylint: disable=import-outside-toplevel

    sess = requests.Session()
    sess.trust_env = False
    sess.headers.clear()
    sess.headers.update({"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"})
    return sess


def prepare(sess, url):
    import requests  # pylint: disable=import-outside-toplevel

    return sess.prepare_request(requests.Request("GET", url, headers={"Host": wire_host(url)}))


def send(sess, prepared, proxies, verify, timeout):
    """Send one prepared request (no retry, no redirect, body not read):
    ``{"ok", "status", "http_status", "latency_ms", "error", "detail"}``."""
    import requests  # pylint: disable=import-outside-toplevel

    start = time.monotonic()
    try:
        resp = sess.send(
            prepared, proxies=proxies, verify=verify, timeout=(timeout, timeout), allow_redirects=False, stream=True
        )
    except requests.exceptions.RequestException as exc:
        cause, detail = classify(exc)
        return {"ok": False, "status": "failed", "error": cause, "detail": detail, "exception": str(exc),
                "latency_ms": round((time.monotonic() - start) * 1000, 1)}
    out = {"http_status": resp.status_code, "latency_ms": round((time.monotonic() - start) * 1000, 1)}
    location = resp.headers.get("Location")
    resp.close()
    if resp.status_code >= 400:
        out.update(ok=False, status="failed", error=f"HTTP error {resp.status_code}", detail=resp.reason or "")
    elif 300 <= resp.status_code < 400:
        out.update(ok=True, status="ok",
                   detail=f"redirect to {location} (not followed; dnf follows it: allow that host too)")
    else:
        out.update(ok=True, status="ok", detail=resp.reason or "")
    return out


def _entry(sess, dest, clear, run):
    """One destination's result; ``run`` is ``(verify, timeout, secrets)``,
    or None for a dry run."""
    host = urllib.parse.urlsplit(dest["url"]).hostname
    entry = {k: dest[k] for k in ("name", "kind", "url", "probe")}
    entry["host"] = host
    if not dest["probe"]:
        entry.update(status="listed", ok=None, detail=dest["detail"])
        return entry
    prepared = prepare(sess, dest["url"])
    proxies, entry["via"] = proxies_for(host, clear)
    entry["request"] = {"method": prepared.method, "url": prepared.url, "headers": dict(prepared.headers)}
    if proxies:
        import requests  # pylint: disable=import-outside-toplevel

        parts = urllib.parse.urlsplit(dest["url"])
        connect = {k: f"Basic {SECRET}" if k.lower() == "proxy-authorization" else v
                   for k, v in requests.adapters.HTTPAdapter().proxy_headers(proxies["https"]).items()}
        entry["connect"] = {"target": f"{parts.hostname}:{parts.port or 443}", "headers": connect}
    if run is None:
        entry.update(status="planned", ok=None)
        return entry
    verify, timeout, secrets = run
    entry.update(send(sess, prepared, proxies, verify, timeout))
    for field in ("detail", "exception"):
        if field in entry:
            entry[field] = mask_text(entry[field], secrets)
    return entry


def _updates_verdict(probed):
    mirrors = [d for d in probed if d["kind"] == "mirror"]
    good = [d for d in mirrors if d["ok"]]
    if not mirrors:
        verdict = "no network repository"
    elif len(good) == len(mirrors):
        verdict = "updates work: every repository answers"
    elif good:
        verdict = f"updates still work through {good[0]['name']} ({good[0]['host']}): dnf tries the mirrors in order"
    else:
        verdict = "updates do NOT work: no repository answers"
    if any(d["kind"] == "gpgkey" and not d["ok"] for d in probed):
        verdict += "; the GPG key is unreachable: dnf cannot import the signing key from it"
    return verdict


def _summarise(out):
    probed = [d for d in out["destinations"] if d["probe"]]
    listed = [d for d in out["destinations"] if not d["probe"]]
    if out["dry_run"]:
        out["summary"] = (f"dry run: {len(probed)} request(s) prepared, none sent"
                          + (f"; {len(listed)} destination(s) listed, never probed" if listed else ""))
        return out
    bad = [d for d in probed if not d["ok"]]
    out["unreachable"] = [f"{d['name']} ({d['url']}): {d['error']}" for d in bad]
    out["updates"] = _updates_verdict(probed)
    out["result"] = not bad
    out["summary"] = (f"{len(probed) - len(bad)} of {len(probed)} destination(s) answered"
                      + (f"; unreachable: {', '.join(d['name'] for d in bad)}" if bad else ""))
    return out


def check(ctx, dry_run=False, timeout=CHECK_TIMEOUT, ca_bundle=None):
    """Per destination the exact request (method, URL with its query, every
    header) and, unless ``dry_run``, one GET of it (through ``manager:proxy``
    when it applies; no retry, no redirect followed, each bounded by
    ``timeout`` seconds) with the outcome. ``result`` is False when a probed
    destination does not answer. The proxy password is never shown."""
    timeout = seconds(timeout)
    the_plan = plan(ctx)
    out = {"result": True, "dry_run": bool(dry_run), "airgap": the_plan["airgap"], "mode": the_plan["mode"],
           "reason": the_plan["reason"], "notes": the_plan["notes"], "user_agent": USER_AGENT, "timeout": timeout,
           "destinations": [], "unreachable": [], "updates": "", "proxy": {}, "trust": ""}
    if the_plan["airgap"]:
        out.update(summary=the_plan["reason"], updates="from the local repository only")
        return out
    verify, out["trust"] = trust(ca_bundle)
    # The proxy is the manager's way out to upstream (see repo.definition):
    # only when it applies there, and per host unless manager:no_proxy covers it.
    clear = proxy.real(ctx) if the_plan["mode"] == "upstream" else {}
    if clear:
        out["proxy"] = proxy.shown(ctx)
    run = None if dry_run else (verify, timeout, [clear.get("password")] if clear else [])
    sess = session()
    try:
        out["destinations"] = [_entry(sess, dest, clear, run) for dest in the_plan["destinations"]]
    finally:
        sess.close()
    return _summarise(out)
