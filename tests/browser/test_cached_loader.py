"""Opt-out at the next ordinary page load, with the browser's HTTP cache in
play (issue 19).

SOC serves ``js/analytics.js?v=VERSION`` with ``Last-Modified`` and no
``Cache-Control``, so a browser keeps it heuristically (a tenth of the file's
age) and, at the next ordinary load, runs its cached copy without asking SOC.
Security Onion 2.4's plain loader then requests Tag Manager after the grid
opted out. This library's loader re-reads itself (``fetch``, ``no-store``,
same origin) at every page load and loads Tag Manager only if SOC still
serves the on-loader for the same container.

The set-up, as on a manager:

* ``analytics.js`` is the file a real ``salt-call --local state.apply
  so_telemetry.soc`` renders; the loopback SOC (:class:`SocServer`, answering
  as SOC's Go file server does) serves that very file, so the opt-out
  highstate (pillar ``soc:telemetryEnabled: false``, or the grain
  ``airgap: true``) changes what SOC serves, as Security Onion's bind mount
  does. The file is given a mtime 30 days back (as a file Security Onion
  wrote long ago), so a browser keeps it fresh for three days.
* the pages are SOC's ``index.html`` and ``login/index.html`` in the shape
  that matters (securityonion-soc ``html/index.html``,
  ``html/login/index.html``): ``<script src="js/analytics.js?v=VERSION">`` in
  ``<head>``, before any other script; the login page under
  ``<base href="../">``. A script at the end of ``<body>`` reports what the
  page saw (``window.dataLayer``, the browser's Resource Timing entries for
  ``analytics.js``).
* each analyst is one Debian headless ``chromium`` profile
  (``--user-data-dir``) kept across loads; each load is a browser started
  anew on the URL: an ordinary page load, no reload, no cache bypass, no
  incognito. Every host name but 127.0.0.1 resolves to nothing, so the Tag
  Manager request is attempted (it is in the net-log) and never leaves the
  machine.

That the cache really was in play on a later load is shown three ways: SOC
saw no ``<script>`` request for ``analytics.js`` (``Sec-Fetch-Dest: script``),
the browser's Resource Timing reports the script with ``transferSize`` 0
(served from its cache), and the page ran a loader although SOC now serves
an empty file (Security Onion's loader requests Tag Manager; this library's
loader sends its re-read, which only the cached on-loader can do).
"""

import pathlib

import pytest

from tests.browser.chromium import console_messages, is_external, load_page
from tests.browser.soc_site import (
    CONSOLE_MARKER,
    DROP,
    SCRIPT,
    SCRIPT_PATH,
    SCRIPT_TAG,
    SocServer,
    age,
    page,
    so24_loader,
)
from tests.conftest import Sandbox

ANALYTICS = "/opt/so/conf/soc/analytics.js"
GTM_URL = "https://www.googletagmanager.com/gtm.js?id=GTM-TM46SL7T"
AGE_DAYS = 30

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    """SOC's html directory: ``index.html``, ``login/index.html`` and the
    image's own ``js/analytics.js`` (empty: what SOC serves where Security
    Onion mounts nothing over it)."""
    root = tmp_path_factory.mktemp("html")
    (root / "login").mkdir()
    (root / "js").mkdir()
    (root / "index.html").write_text(page("home"))
    (root / "login" / "index.html").write_text(page("login_app", base=True))
    (root / "js" / "analytics.js").write_bytes(b"")
    for path in (root / "index.html", root / "login" / "index.html", root / "js" / "analytics.js"):
        age(path, AGE_DAYS)
    return root


def render(box):
    """``state.apply so_telemetry.soc`` in ``box``; the rendered loader's path."""
    ret = box.salt_call("state.apply", "so_telemetry.soc")
    assert all(r["result"] is True for r in ret.values()), ret
    return box.path(ANALYTICS)


@pytest.fixture(scope="module")
def on_loader(tmp_path_factory):
    """The on rendering, from one real state run."""
    text = render(Sandbox(tmp_path_factory.mktemp("render-on"))).read_bytes()
    assert b"\n// so-telemetry-loader on GTM-TM46SL7T\n" in text
    return text


class Site:
    """One SOC and one analyst's browser profile."""

    def __init__(self, chromium, work, html, analytics, index=None):
        self.chromium = chromium
        self.work = work
        self.profile = work / "profile"
        self.server = SocServer({
            "/": index or html / "index.html",
            "/login/": html / "login" / "index.html",
            SCRIPT_PATH: analytics,
        }).start()

    def serve(self, analytics):
        self.server.routes[SCRIPT_PATH] = pathlib.Path(analytics)

    def load(self, path="/"):
        """One ordinary page load; ``.served``: what SOC saw of it."""
        load = load_page(self.chromium, self.server.url(path), self.work, profile=self.profile)
        load.served = self.server.take_log()
        return load


@pytest.fixture
def site(chromium, html, tmp_path):
    """``site(name, analytics_file, index=None)`` -> a started :class:`Site`."""
    sites = []

    def make(name, analytics, index=None):
        work = tmp_path / name
        work.mkdir()
        sites.append(Site(chromium, work, html, analytics, index))
        return sites[-1]

    yield make
    for one in sites:
        one.server.stop()


def aged_copy(directory, name, data):
    path = directory / name
    path.write_bytes(data)
    age(path, AGE_DAYS)
    return path


# --- what one load did ----------------------------------------------------


def script_requests(load):
    """``[(Sec-Fetch-Dest, status)]`` of the requests SOC saw for analytics.js:
    ``script`` is the page's ``<script>``, ``empty`` the loader's re-read."""
    return [(s.dest, s.status) for s in load.served if s.path == SCRIPT_PATH]


def check(load, external, requests, tolerated=()):
    """Every assertion on one load: the external URLs the page requested (in
    order, repeats kept) and the analytics.js requests SOC saw; no script
    error, in the page or on the console. The only console lines besides the
    page's own are the browser's reports of a failed load ("Failed to load
    resource: ...") for the blocked Tag Manager URL or one of ``tolerated``
    (``[(message, url)]``); Chromium 156 headless printed none of these to
    its stderr log in these tests, so tolerated, not required."""
    assert load.returncode == 0, f"chromium exited {load.returncode}\n{load.stderr[-3000:]}"
    report = load.report
    assert report is not None and report.get("done") is True, f"the page did not finish:\n{load.dom[-2000:]}"
    assert script_requests(load) == requests, load.served
    for served in load.served:
        if served.path == SCRIPT_PATH and served.dest == "empty":
            # the re-read: never from the cache, and never cached
            assert served.headers.get("cache-control") == "no-cache", served.headers
            assert "if-modified-since" not in served.headers, served.headers
            assert served.headers.get("sec-fetch-mode") == "same-origin", served.headers
    assert load.page_external_urls == external, f"external requests: {load.page_external_urls}, expected {external}"
    for req in load.requests:
        if any(is_external(url) for url in req.urls):
            assert req.net_error != 0, f"an external request completed: {req}"
    assert set(load.resolved) <= {"127.0.0.1", "~notfound"}, load.resolved
    if not external:
        assert not [u for u in load.all_external_urls if "googletagmanager" in u], load.all_external_urls
    messages, unparsed = console_messages(load.stderr)
    assert unparsed == [], unparsed
    assert [(m.message, m.source) for m in messages if not m.is_network_failure] == [(CONSOLE_MARKER, load.url)]
    network = [(m.message, m.source) for m in messages if m.is_network_failure]
    assert [m for m in network if m[1] not in external and m not in tolerated] == [], network
    assert report["jsErrors"] == [], report["jsErrors"]
    assert report["resourceErrors"] == external, report["resourceErrors"]  # the blocked gtm.js <script>
    return report


def check_ours_on(load, cold):
    """This library's loader, SOC still serving it: the re-read, then Tag Manager once."""
    report = check(load, [GTM_URL], [("script", 200), ("empty", 200)] if cold else [("empty", 200)])
    assert report["dataLayerAtParse"] is None, "nothing may be pushed before the re-check"
    assert [e["event"] for e in report["dataLayer"]] == ["gtm.js"], report["dataLayer"]
    check_cache(report, cold)


def check_ours_off(load, requests=(("empty", 200),), tolerated=()):
    """This library's cached loader, SOC no longer serving it: the re-read only."""
    report = check(load, [], list(requests), tolerated)
    assert report["dataLayerAtParse"] is None and report["dataLayer"] is None, report
    return report


def check_cache(report, cold):
    """The browser's own account of where analytics.js came from."""
    scripts = [e for e in report["analytics"] if e["initiator"] == "script"]
    assert len(scripts) == 1, report["analytics"]
    if cold:
        assert scripts[0]["transferSize"] > 0, report["analytics"]
    else:
        assert scripts[0]["transferSize"] == 0, f"analytics.js was not served from the cache: {report['analytics']}"


# --- the tests ------------------------------------------------------------


@pytest.mark.parametrize("change", ["pillar-off", "airgap-grain"])
def test_opt_out_at_the_next_page_load(site, html, tmp_path, change):
    """Load with telemetry on; opt out by a highstate; load again normally:
    this library's loader sends its re-read and nothing else, Security Onion
    2.4's cached plain loader requests Tag Manager again."""
    box = Sandbox(tmp_path / "minion")
    ours_file = render(box)
    assert b"so-telemetry-loader on GTM-TM46SL7T" in ours_file.read_bytes()
    age(ours_file, AGE_DAYS)
    ours = site("ours", ours_file)
    theirs = site("so-2.4", aged_copy(tmp_path, "so-analytics.js", so24_loader()))

    check_ours_on(ours.load("/"), cold=True)
    so_first = check(theirs.load("/"), [GTM_URL], [("script", 200)])
    assert so_first["dataLayerAtParse"] == 1
    check_cache(so_first, cold=True)

    # the opt-out, by a highstate
    if change == "pillar-off":
        box.set_pillar({"soc": {"telemetryEnabled": False}})
    else:
        box.set_grains(airgap=True)
    assert render(box) == ours_file and ours_file.read_bytes() == b"", "the off rendering loads nothing"
    # Security Onion unmounts its file: SOC serves the image's empty analytics.js
    theirs.serve(html / "js" / "analytics.js")

    # the next ordinary page load
    second = ours.load("/")
    report = check_ours_off(second)
    check_cache(report, cold=False)
    reread = [s for s in second.served if s.path == SCRIPT_PATH]
    assert reread[0].body == 0, "SOC answered the re-read with the empty file"
    so_second = check(theirs.load("/"), [GTM_URL], [])
    check_cache(so_second, cold=False)  # the cached plain loader ran: Tag Manager although SOC serves nothing

    # SOC's login page runs the same cached script
    check_cache(check_ours_off(ours.load("/login/")), cold=False)


def test_on_twice(site, on_loader, tmp_path):
    """Telemetry stays on: Tag Manager on every load, once, also from the
    cached loader and on the login page."""
    ours = site("ours", aged_copy(tmp_path, "analytics.js", on_loader))
    check_ours_on(ours.load("/"), cold=True)
    check_ours_on(ours.load("/"), cold=False)
    check_ours_on(ours.load("/login/"), cold=False)


def test_reread_503_fails_closed(site, on_loader, tmp_path):
    """SOC answers the re-read with 503 (restarting, or nginx's error page):
    no Tag Manager, no script error. The loader logs nothing; a browser
    console may show its own "Failed to load resource" line for the 503, as
    for any failed request (tolerated, not required)."""
    ours = site("ours", aged_copy(tmp_path, "analytics.js", on_loader))
    check_ours_on(ours.load("/"), cold=True)
    ours.server.fail[SCRIPT_PATH] = 503
    second = ours.load("/")
    tolerated = [("Failed to load resource: the server responded with a status of 503 (Service Unavailable)",
                  ours.server.url(SCRIPT))]
    check_cache(check_ours_off(second, [("empty", 503)], tolerated), cold=False)


def _other_container(on):
    # a longer id that starts with the real one: the marker must match as a whole line
    return on.replace(b"GTM-TM46SL7T", b"GTM-TM46SL7TX")


# variant: (answer to the re-read; its status as SOC logs it, None: dropped; what a browser console may say).
# A dropped connection is retried by Chromium itself (three attempts seen here), each one dropped.
REREAD = {
    "network-error": (DROP, None, "Failed to load resource: net::ERR_EMPTY_RESPONSE"),
    "not-found": (404, 404, "Failed to load resource: the server responded with a status of 404 (Not Found)"),
    "empty": (b"", 200, None),
    "so-2.4-loader": ("so24", 200, None),
    "other-container": ("other", 200, None),
    "html-page": (("text/html; charset=utf-8", b"<!doctype html><title>Security Onion</title>"), 200, None),
}


@pytest.mark.parametrize("variant", [*REREAD, "no-fetch", "no-currentScript", "control-same-loader"])
def test_reread_fails_closed(site, on_loader, html, tmp_path, variant):
    """Anything but the on-loader for the same container, fresh from SOC,
    loads nothing: a network error, a non-2xx answer, other content, no
    ``fetch``, no ``document.currentScript``. (A fresh profile; SOC answers
    the page's ``<script>`` with the on-loader and the re-read as given.)"""
    analytics = aged_copy(tmp_path, "analytics.js", on_loader)
    if variant == "control-same-loader":
        ours = site(variant, analytics)
        ours.server.reread[SCRIPT_PATH] = on_loader  # the same bytes, through the re-read route
        check_ours_on(ours.load("/"), cold=True)
        return
    if variant == "no-fetch":
        index = tmp_path / "index.html"
        index.write_text(page("home", loader="    <script>window.fetch = undefined;</script>\n" + SCRIPT_TAG))
        check_ours_off(site(variant, analytics, index).load("/"), [("script", 200)])
        return
    if variant == "no-currentScript":
        # the loader's text run from a timer: document.currentScript is null there
        index = tmp_path / "index.html"
        index.write_text(page("home", loader=(
            '    <script type="text/plain" id="so-loader">' + on_loader.decode() + "</script>\n"
            "    <script>setTimeout(function () {\n"
            '      (0, eval)(document.getElementById("so-loader").textContent + "\\nwindow.soLoaderRan = true;");\n'
            "    });</script>\n")))
        report = check_ours_off(site(variant, analytics, index).load("/"), [])
        assert report["loaderRan"] is True, "the loader's text did not run to its end"
        return
    answer, status, message = REREAD[variant]
    answer = {"so24": so24_loader(), "other": _other_container(on_loader)}.get(answer, answer)
    ours = site(variant, analytics)
    ours.server.reread[SCRIPT_PATH] = answer
    load = ours.load("/")
    rereads = [(dest, st) for dest, st in script_requests(load) if dest == "empty"]
    tolerated = [(message, ours.server.url(SCRIPT))] if message else []
    check_ours_off(load, [("script", 200), *(rereads if status is None else [("empty", status)])], tolerated)
    assert rereads and all(st == (status or 0) for _, st in rereads), load.served
