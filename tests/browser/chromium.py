"""Load a page in Debian's headless Chromium and read the browser's own record
of it: every URL its network stack was asked for (the net-log), the console
(stderr logging) and the DOM after the scripts ran (``--dump-dom``).

* :func:`find_chromium` locates ``/usr/bin/chromium`` (Debian's package, which
  ``scripts/bootstrap.sh --system-packages`` installs as root).
* :class:`LoopbackServer` serves a directory over HTTP on 127.0.0.1 only, as
  SOC serves its index.html and analytics.js.
* :func:`load_page` runs one headless Chromium, with every host name mapped to
  a resolver failure (``--host-resolver-rules``) except 127.0.0.1: nothing ever
  leaves the machine, an external request is attempted and fails with
  ``net::ERR_NAME_NOT_RESOLVED``.
* :func:`parse_netlog` / :func:`url_requests` / :func:`console_messages` /
  :func:`page_report` turn the raw artefacts into plain data (tested on their
  own, without a browser, in ``test_extraction.py``).
"""

import dataclasses
import functools
import html
import http.server
import ipaddress
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.parse

CHROMIUM_TIMEOUT = 60
# Virtual time the page gets (timers and network waits fast-forwarded): far
# more than the page needs, and it costs well under a second of real time.
VIRTUAL_TIME_BUDGET_MS = 3000

FLAGS = (
    "--headless=new",
    "--no-sandbox",  # tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    # Every host name resolves to nothing: no byte can reach a real host
    # (googletagmanager.com included); 127.0.0.1 is an IP literal and exempt.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    # The console, on stderr: '[...:INFO:CONSOLE:<line>] "<message>", source: <url> (<line>)'.
    "--enable-logging=stderr",
    "--v=0",
)


def find_chromium():
    """Path of Debian's chromium, or None."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


# --- loopback HTTP server --------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # the base class's signature
        self.server.requests.append(self.requestline)

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class LoopbackServer:
    """HTTP on 127.0.0.1:<free port>, serving ``directory``; logs request lines."""

    def __init__(self, directory):
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.requests = []
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def origin(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def requests(self):
        return self.httpd.requests

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


# --- net-log ---------------------------------------------------------------


def parse_netlog(text):
    """A Chromium ``--log-net-log`` file as ``(constants, events)``.

    The file is one JSON object ``{"constants": {...}, "events": [...]}``; a
    browser that did not shut down cleanly leaves it unterminated (no closing
    ``]}``, possibly a trailing comma), which is repaired here."""
    try:
        data = json.loads(text)
    except ValueError:
        data = json.loads(text.rstrip().rstrip(",") + "]}")
    return data.get("constants") or {}, data.get("events") or []


@dataclasses.dataclass
class UrlRequest:
    """One URL_REQUEST source of the net-log: a request the network stack ran."""

    source_id: int
    urls: list  # every URL a job was started for (the original, then each redirect)
    initiator: str = ""
    isolation_key: str = ""  # network_isolation_key: "<top-frame site> <frame site>"
    net_error: int = 0  # 0: completed; e.g. -105 ERR_NAME_NOT_RESOLVED

    @property
    def top_frame_site(self):
        return self.isolation_key.split(" ")[0] if self.isolation_key else ""


def url_requests(constants, events):
    """``[UrlRequest]`` in net-log order, from the URL_REQUEST_START_JOB
    events (type ids mapped to names through ``constants``)."""
    names = {v: k for k, v in (constants.get("logEventTypes") or {}).items()}
    source_types = {v: k for k, v in (constants.get("logSourceType") or {}).items()}
    requests = {}
    for event in events:
        source = event.get("source") or {}
        if source_types.get(source.get("type")) != "URL_REQUEST":
            continue
        params = event.get("params") or {}
        req = requests.setdefault(source.get("id"), UrlRequest(source.get("id"), []))
        name = names.get(event.get("type"))
        if name == "URL_REQUEST_START_JOB" and "url" in params:
            req.urls.append(params["url"])
            req.initiator = params.get("initiator", req.initiator)
            req.isolation_key = params.get("network_isolation_key", req.isolation_key)
        if isinstance(params.get("net_error"), int) and params["net_error"] != 0 and not req.net_error:
            req.net_error = params["net_error"]
    return [req for req in requests.values() if req.urls]


def resolved_hosts(constants, events):
    """Every host the resolver was asked for (after --host-resolver-rules)."""
    names = {v: k for k, v in (constants.get("logEventTypes") or {}).items()}
    hosts = []
    for event in events:
        if names.get(event.get("type")) == "HOST_RESOLVER_MANAGER_REQUEST":
            host = (event.get("params") or {}).get("host")
            if host:
                hosts.append(urllib.parse.urlsplit(host if "//" in host else "//" + host).hostname or host)
    return hosts


def is_external(url):
    """True unless ``url`` is file:, data:, blob:, about: or on a loopback address."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("file", "data", "blob", "about", "chrome", "devtools"):
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def page_requests(requests, page_origin):
    """The requests the page made: started by a document of ``page_origin``
    (``initiator``) or inside a tab whose top frame is the page's site
    (``network_isolation_key``). Chromium's own background requests (time
    sync, component updater, account checks) carry neither."""
    site = urllib.parse.urlsplit(page_origin)
    page_site = f"{site.scheme}://{site.hostname}"
    return [req for req in requests if req.initiator == page_origin or req.top_frame_site == page_site]


def external_urls(requests):
    """Every external URL in ``requests``, in order, repeats kept."""
    return [url for req in requests for url in req.urls if is_external(url)]


# --- console ---------------------------------------------------------------

# Chromium's stderr console line (the line-number suffix differs by version:
# "CONSOLE(12)" or "CONSOLE:12"); a message may span several lines.
_CONSOLE = re.compile(
    r':CONSOLE(?:\(\d+\)|:\d+)?\] "(?P<message>.*?)", source: (?P<source>\S*) \((?P<line>\d+)\)$',
    re.MULTILINE | re.DOTALL,
)
# What Chromium logs when a resource fails to load: a network failure, not a
# script error.
_NETWORK_FAILURE = re.compile(r"^Failed to load resource: (net::ERR_\w+|the server responded with a status of .*)$")


@dataclasses.dataclass(frozen=True)
class ConsoleMessage:
    message: str
    source: str
    line: int

    @property
    def is_network_failure(self):
        return bool(_NETWORK_FAILURE.match(self.message))


def console_messages(stderr):
    """``([ConsoleMessage], [CONSOLE lines that did not parse])`` from Chromium's stderr."""
    found, starts = [], set()
    for m in _CONSOLE.finditer(stderr):
        found.append(ConsoleMessage(m.group("message"), m.group("source"), int(m.group("line"))))
        starts.add(stderr.count("\n", 0, m.start()))
    unparsed = [line for i, line in enumerate(stderr.split("\n")) if ":CONSOLE" in line and i not in starts]
    return found, unparsed


# --- the page --------------------------------------------------------------

_REPORT = re.compile(r'<pre id="so-report">(.*?)</pre>', re.DOTALL)


def page_report(dom):
    """The JSON the page's own scripts wrote into ``<pre id="so-report">``."""
    match = _REPORT.search(dom)
    if not match:
        return None
    return json.loads(html.unescape(match.group(1)))


@dataclasses.dataclass
class PageLoad:
    url: str
    returncode: int
    dom: str
    stderr: str
    requests: list  # [UrlRequest], the whole browser
    resolved: list  # host names the resolver was asked for
    page_origin: str

    @property
    def page_requests(self):
        return page_requests(self.requests, self.page_origin)

    @property
    def page_external_urls(self):
        return external_urls(self.page_requests)

    @property
    def all_external_urls(self):
        return external_urls(self.requests)

    @property
    def console(self):
        return console_messages(self.stderr)[0]

    @property
    def report(self):
        return page_report(self.dom)


def load_page(chromium, url, workdir, profile=None):
    """Load ``url`` once in a headless Chromium under ``workdir``: in a fresh
    profile, or in ``profile`` (a ``--user-data-dir`` kept across calls, with
    its disk HTTP cache: each call is one ordinary page load by a browser
    started anew, no reload, no cache bypass)."""
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="chromium-", dir=workdir))
    netlog = workdir / "netlog.json"
    argv = [
        chromium,
        *FLAGS,
        f"--user-data-dir={profile or workdir / 'profile'}",
        f"--log-net-log={netlog}",
        f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
        "--dump-dom",
        url,
    ]
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT, stdin=subprocess.DEVNULL, check=False,
        env={**os.environ, "HOME": str(workdir)},
    )
    constants, events = parse_netlog(netlog.read_text()) if netlog.exists() else ({}, [])
    parts = urllib.parse.urlsplit(url)
    return PageLoad(
        url=url, returncode=proc.returncode, dom=proc.stdout, stderr=proc.stderr,
        requests=url_requests(constants, events), resolved=resolved_hosts(constants, events),
        page_origin=f"{parts.scheme}://{parts.netloc}",
    )
