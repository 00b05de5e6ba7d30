"""A loopback stand-in for SOC's web server, for tests where the browser's
HTTP cache matters.

SOC serves its UI with Go's ``http.FileServer`` (securityonion-soc
``web/host.go``: ``http.Handle("/", http.FileServer(http.Dir(host.htmlDir)))``)
and Security Onion's nginx passes ``/js/``, ``/login/`` … through without
adding caching headers. :class:`SocServer` answers the way that file server
does, which is what makes a browser cache ``js/analytics.js`` heuristically:

* ``Last-Modified`` from the file's mtime (whole seconds), ``Date``,
  ``Content-Length``, ``Accept-Ranges: bytes``, ``Content-Type`` by extension
  (``text/javascript; charset=utf-8``, ``text/html; charset=utf-8``);
  no ``Cache-Control``, no ``ETag``, no ``Server`` header;
* ``If-Modified-Since`` no older than the mtime → ``304 Not Modified``;
* the query string is ignored (``js/analytics.js?v=2.4.190`` is the file);
* ``/`` and ``/login/`` serve the ``index.html`` of that directory;
  an unknown path is ``404 page not found``;
* HTTP/1.1 with keep-alive.

The served paths map to files (``routes``), read at every request: point
``/js/analytics.js`` at the rendered ``/opt/so/conf/soc/analytics.js`` and a
highstate that rewrites it changes what SOC serves, as Security Onion's bind
mount does. ``fail[path] = 503`` makes that path answer an error instead;
``reread[path]`` answers a ``fetch()`` of that path (``Sec-Fetch-Dest:
empty``) differently from a ``<script>`` load: a status, other bytes,
``(content type, bytes)``, or ``DROP`` (the connection closes unanswered).

Every request is logged (:class:`Served`): path, status, the request headers
the tests look at (``Sec-Fetch-Dest`` tells a ``<script>`` load, ``script``,
from a ``fetch()``, ``empty``) and the bytes on the wire both ways.

Also here, for the tests and ``bench/bench_loader.py``: :func:`page`, SOC's
``index.html`` / ``login/index.html`` in the shape that matters, and
:func:`so24_loader`, Security Onion 2.4's own ``analytics.js``.
"""

import dataclasses
import email.utils
import hashlib
import http.server
import os
import pathlib
import threading
import time
import urllib.parse

HERE = pathlib.Path(__file__).resolve().parent
VERSION = "2.4.190"
SCRIPT_PATH = "/js/analytics.js"
SCRIPT = f"{SCRIPT_PATH}?v={VERSION}"
CONSOLE_MARKER = "so-page: loaded"
SO24_FIXTURE = HERE / "so24_analytics.js"
SO24_BLOB = "6a0d72d5d4b07a3249f9931e86eabbaf70a1af58"  # git blob id of SO's salt/soc/files/soc/analytics.js
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".html": "text/html; charset=utf-8"}
DROP = "drop"  # close the connection without an answer (a network error in the browser)


@dataclasses.dataclass
class Served:
    """One request SOC answered."""

    method: str
    target: str  # path and query, as requested
    status: int
    headers: dict  # request headers, lower-case names
    received: int  # bytes of the request (request line and headers)
    sent: int  # bytes of the response (status line, headers, body)
    body: int  # bytes of the response body

    @property
    def path(self):
        return urllib.parse.urlsplit(self.target).path

    @property
    def dest(self):
        """``Sec-Fetch-Dest``: ``document``, ``script``, ``empty`` (fetch) …"""
        return self.headers.get("sec-fetch-dest", "")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # the base class's signature
        pass

    def version_string(self):
        return ""

    def send_response(self, code, message=None):
        # Go sends Date and no Server header
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head):
        site = self.server.site
        # logged before answering: in the log by the time the browser has the answer
        served = Served(
            method=self.command, target=self.path, status=0,
            headers={k.lower(): v for k, v in self.headers.items()},
            received=len(self.raw_requestline) + len(bytes(self.headers)), sent=0, body=0,
        )
        site.record(served)
        answer = site.answer(urllib.parse.urlsplit(self.path).path, self.headers)
        if answer == DROP:
            self.close_connection = True
            return
        status, body, headers = answer
        served.status = status
        served.body = 0 if head or status == 304 else len(body)
        self.send_response(status)
        for key, val in headers:
            self.send_header(key, val)
        self.send_header("Content-Length", str(len(body)))
        served.sent = len(b"".join(self._headers_buffer)) + 2 + served.body  # the status line, headers, CRLF, body
        self.end_headers()
        if served.body:
            self.wfile.write(body)
        self.wfile.flush()


class SocServer:
    """HTTP on 127.0.0.1:<free port> answering as SOC's Go file server does,
    for the URL paths in ``routes`` (``{"/": file, "/js/analytics.js": file}``)."""

    def __init__(self, routes):
        self.routes = {path: pathlib.Path(file) for path, file in routes.items()}
        self.fail = {}  # path -> status answered instead of the file
        self.reread = {}  # path -> answer to a fetch() of it (see the module doc)
        self.log = []
        self._lock = threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.site = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def origin(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path):
        return self.origin + path

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def record(self, served):
        with self._lock:
            self.log.append(served)

    def take_log(self):
        """The requests logged since the last call (and forget them)."""
        with self._lock:
            out, self.log = self.log, []
        return out

    def answer(self, path, headers):
        """``(status, body, [(header, value)])`` for a GET of ``path``, or ``DROP``."""
        status = self.fail.get(path)
        special = self.reread.get(path) if headers.get("Sec-Fetch-Dest") == "empty" else None
        if special == DROP:
            return DROP
        if isinstance(special, int):
            status = special
        if status:
            text = f"{status} {http.HTTPStatus(status).phrase}\n".encode()
            return status, text, [("Content-Type", "text/plain; charset=utf-8")]
        if special is not None:
            content_type, body = special if isinstance(special, tuple) else (CONTENT_TYPES[".js"], special)
            return 200, body, [("Accept-Ranges", "bytes"), ("Content-Type", content_type)]
        file = self.routes.get(path)
        if file is None or not file.is_file():
            return 404, b"404 page not found\n", [
                ("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")]
        mtime = int(file.stat().st_mtime)
        common = [("Last-Modified", email.utils.formatdate(mtime, usegmt=True))]
        since = headers.get("If-Modified-Since")
        if since and not headers.get("If-None-Match"):
            try:
                when = email.utils.parsedate_to_datetime(since).timestamp()
            except (TypeError, ValueError):
                when = None
            if when is not None and mtime <= when:
                return 304, b"", common
        content_type = CONTENT_TYPES.get(file.suffix, "application/octet-stream")
        return 200, file.read_bytes(), [
            ("Accept-Ranges", "bytes"), ("Content-Type", content_type), *common]


def age(path, days):
    """Set ``path``'s mtime ``days`` ago (a file Security Onion wrote long
    ago): a browser then keeps it fresh for a tenth of that."""
    when = time.time() - days * 86400
    os.utime(path, (when, when))


# --- SOC's pages -----------------------------------------------------------

# What the page reports, written into <pre id="so-report"> (read from --dump-dom).
REPORT = """\
    <pre id="so-report"></pre>
    <script>
      var soReport = {dataLayerAtParse: window.dataLayer === undefined ? null : window.dataLayer.length,
                      jsErrors: [], resourceErrors: []};
      window.addEventListener("error", function (e) {
        if (e instanceof ErrorEvent) {
          soReport.jsErrors.push(e.message + " @ " + e.filename + ":" + e.lineno);
        } else {
          soReport.resourceErrors.push((e.target && e.target.src) || String(e.target));
        }
      }, true);
      window.addEventListener("unhandledrejection", function (e) {
        soReport.jsErrors.push("unhandled rejection: " + e.reason);
      });
      function soWriteReport() {
        soReport.dataLayer = window.dataLayer === undefined ? null : JSON.parse(JSON.stringify(window.dataLayer));
        soReport.analytics = performance.getEntriesByType("resource").filter(function (e) {
          return e.name.indexOf("/js/analytics.js") !== -1;
        }).map(function (e) {
          return {initiator: e.initiatorType, transferSize: e.transferSize};
        });
        soReport.loaderRan = window.soLoaderRan === true;
        document.getElementById("so-report").textContent = JSON.stringify(soReport);
      }
      window.addEventListener("load", function () {
        soReport.loaded = true;
        soWriteReport();
        setTimeout(function () { soReport.done = true; soWriteReport(); }, 1500);
      });
      console.log("@MARKER@");
    </script>
""".replace("@MARKER@", CONSOLE_MARKER)

# SOC's pages, reduced to what matters here (no stylesheets: nothing else to
# request; an empty icon: no /favicon.ico request).
PAGE = """\
<!doctype html>
<html lang="en">
  <head>
@BASE@    <meta charset="utf-8">
    <link rel="icon" href="data:,">
    <title>Security Onion</title>
@LOADER@  </head>
  <body style="background-color: #242424;">
    <div id="app" data-aid="@AID@">Security Onion Console</div>
@REPORT@  </body>
</html>
""".replace("@REPORT@", REPORT)

SCRIPT_TAG = f'    <script src="js/analytics.js?v={VERSION}"></script>\n'


def page(aid, base=False, loader=SCRIPT_TAG):
    """A SOC page: ``<script src="js/analytics.js?v=VERSION">`` in ``<head>``
    before any other script (securityonion-soc ``html/index.html``); ``base``:
    under ``<base href="../">`` as ``html/login/index.html``; ``loader``: other
    markup in its place. The page reports what it saw in ``<pre id="so-report">``."""
    text = PAGE.replace("@BASE@", '    <base href="../">\n' if base else "").replace("@AID@", aid)
    return text.replace("@LOADER@", loader)


def so24_loader():
    """Security Onion 2.4's ``analytics.js``, exactly (the fixture minus its header)."""
    text = SO24_FIXTURE.read_bytes()
    body = text[text.index(b"\n// ---") + 1:].split(b"\n", 1)[1]
    blob = hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()
    assert blob == SO24_BLOB, f"{SO24_FIXTURE.name} is not Security Onion's analytics.js (blob {blob})"
    return body
