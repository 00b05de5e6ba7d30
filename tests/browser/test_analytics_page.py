"""SOC's analytics loader in a real browser.

The real ``/opt/so/conf/soc/analytics.js`` is rendered by ``salt-call --local
state.apply so_telemetry.soc`` for each case, copied beside a small SOC-like ``index.html``
that includes it the way SOC's index does, served from 127.0.0.1 and loaded
once per case by Debian's headless Chromium. What the test checks comes from
the browser itself:

* requests: the net-log (``--log-net-log``), every URL_REQUEST_START_JOB. All
  host names are mapped to a resolver failure (``--host-resolver-rules``), so
  the Tag Manager request is *attempted* (it is in the net-log, with the exact
  URL) and then fails with ``net::ERR_NAME_NOT_RESOLVED``; nothing ever leaves
  the machine. Chromium's own background requests (updater, time, accounts)
  are told apart by their network isolation key / initiator (not the page's).
* console: ``--enable-logging=stderr --v=0`` prints every console message,
  ``console.*`` calls and uncaught exceptions ("Uncaught ...") alike.
* the DOM after the scripts ran (``--dump-dom``): the page's own scripts write
  a report there (marker, ``window.dataLayer`` right after the loader ran and
  again after its re-check, and the errors the page saw).

The on-loader re-reads itself (one same-origin ``fetch`` of its own URL)
before it loads Tag Manager, so an on page requests ``analytics.js`` twice
here (a fresh profile: the ``<script>``, then the re-read) and an off page
once; ``test_cached_loader.py`` covers what a cached copy does.

A script error and the blocked gtm.js load are told apart in two independent
ways: (1) in the page, an ``error`` event captured on ``window`` is an
``ErrorEvent`` (message, file, line) when a script threw or failed to parse,
but a plain ``Event`` whose target is the failing ``<script>``/``<img>``
element when a resource failed to load; (2) on the console, a script error is
logged as "Uncaught ..." (or whatever console.error printed) with the script as
source, while a failed load — if this Chromium logs it at all — reads "Failed
to load resource: net::ERR_..." with the failed URL as source. Only the latter,
and only for a URL the page is expected to request, is tolerated.
"""

import pytest

from tests.browser.chromium import console_messages, is_external, load_page
from tests.conftest import Sandbox

ANALYTICS = "/opt/so/conf/soc/analytics.js"
GTM_URL = "https://www.googletagmanager.com/gtm.js?id=GTM-TM46SL7T"
CONSOLE_MARKER = "so-page: loaded"
PAGE_MARKER = "so-page-loaded"

# case: (grains, pillar, expected external requests of the page)
CASES = {
    "on": ({}, {}, [GTM_URL]),
    "off": ({}, {"soc": {"telemetryEnabled": False}}, []),
    "airgap-grain": ({"airgap": True}, {"soc": {"telemetryEnabled": True}}, []),
    "airgap-pillar": ({}, {"soc": {"telemetryEnabled": True}, "global": {"airgap": True}}, []),
}

# A stand-in for SOC's index.html: a script already in <head> (the loader puts
# gtm.js before the first script, as Tag Manager's snippet does), then
# analytics.js, then the app markup and an inline script that runs after the
# loader. The first script also records what the page saw (see module doc).
INDEX_HTML = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Security Onion</title>
<script>
  window.soReport = {jsErrors: [], resourceErrors: [], consoleErrors: []};
  window.addEventListener("error", function (e) {
    if (e instanceof ErrorEvent) {
      soReport.jsErrors.push(e.message + " @ " + e.filename + ":" + e.lineno);
    } else {
      var t = e.target || {};
      soReport.resourceErrors.push(t.src || t.href || String(t.tagName));
    }
  }, true);
  window.addEventListener("unhandledrejection", function (e) {
    soReport.jsErrors.push("unhandled rejection: " + e.reason);
  });
  ["error", "warn"].forEach(function (level) {
    var original = console[level];
    console[level] = function () {
      soReport.consoleErrors.push(level + ": " + Array.prototype.join.call(arguments, " "));
      return original.apply(console, arguments);
    };
  });
</script>
<script src="analytics.js"></script>
</head>
<body>
<div id="app">
  <nav class="so-nav"><a href="#/">Overview</a> <a href="#/alerts">Alerts</a> <a href="#/hunt">Hunt</a></nav>
  <main id="so-main">Security Onion Console</main>
</div>
<pre id="so-report"></pre>
<script>
  soReport.dataLayerAtParse = window.dataLayer === undefined ? null : JSON.parse(JSON.stringify(window.dataLayer));
  function soWriteReport() {
    soReport.marker = "@PAGE_MARKER@";
    soReport.dataLayer = window.dataLayer === undefined ? null : JSON.parse(JSON.stringify(window.dataLayer));
    document.getElementById("so-report").textContent = JSON.stringify(soReport);
  }
  soWriteReport();
  window.addEventListener("load", function () {
    soReport.loaded = true;
    setTimeout(soWriteReport, 200);
  });
  console.log("@CONSOLE_MARKER@");
</script>
</body>
</html>
""".replace("@PAGE_MARKER@", PAGE_MARKER).replace("@CONSOLE_MARKER@", CONSOLE_MARKER)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """{case: analytics.js bytes}, each rendered once by the real state run."""
    out = {}
    for case, (grains, pillar, _) in CASES.items():
        box = Sandbox(tmp_path_factory.mktemp(f"render-{case}"), grains=grains, pillar=pillar)
        box.salt_call("state.apply", "so_telemetry.soc")
        out[case] = box.path(ANALYTICS).read_bytes()  # as root: whatever its owner and mode
    return out


@pytest.fixture(scope="module")
def publish(site_dir, loopback):
    """``publish(name, analytics_bytes)`` -> URL of ``/<name>/index.html``."""

    def publish(name, script):
        page = site_dir / name
        page.mkdir()
        (page / "index.html").write_text(INDEX_HTML)
        (page / "analytics.js").write_bytes(script)
        return f"{loopback.origin}/{name}/index.html"

    return publish


@pytest.fixture(scope="module")
def loads(chromium, rendered, publish, tmp_path_factory):
    """{case: PageLoad}, each page loaded once (lazily)."""
    cache = {}
    work = tmp_path_factory.mktemp("chromium")

    def load(case):
        if case not in cache:
            cache[case] = load_page(chromium, publish(case, rendered[case]), work)
        return cache[case]

    return load


def check_page(load, expected_external, name):
    """Every assertion on one page load; returns nothing, raises on the first failure."""
    origin = load.page_origin
    assert load.returncode == 0, f"chromium exited {load.returncode}\n{load.stderr[-3000:]}"

    # -- the page loaded and its scripts ran
    report = load.report
    assert report is not None, f"no report in the DOM (page did not load or its script did not run):\n{load.dom}"
    assert report["marker"] == PAGE_MARKER
    assert report.get("loaded") is True, "the load event never fired"
    # the net-log saw the page's own loopback requests (it is not just empty)
    page_urls = [url for req in load.page_requests for url in req.urls]
    assert f"{origin}/{name}/index.html" in page_urls, page_urls
    assert f"{origin}/{name}/analytics.js" in page_urls, page_urls

    # -- requests: exactly the expected external URLs, each once
    assert load.page_external_urls == expected_external, (
        f"external requests of the page: {load.page_external_urls}, expected {expected_external}"
    )
    # ... and from SOC: the <script>, and for the on-loader its one re-read
    assert page_urls.count(f"{origin}/{name}/analytics.js") == (2 if expected_external else 1), page_urls
    # nothing external completed, and nothing but loopback was ever resolved
    for req in load.requests:
        if any(is_external(url) for url in req.urls):
            assert req.net_error != 0, f"an external request completed: {req}"
    assert set(load.resolved) <= {"127.0.0.1", "~notfound"}, load.resolved
    if not expected_external:
        # not even from the browser's own background traffic
        assert not [u for u in load.all_external_urls if "googletagmanager" in u], load.all_external_urls

    # -- the page's data layer: nothing before the re-check passed
    assert report["dataLayerAtParse"] is None, report["dataLayerAtParse"]
    if expected_external:
        data_layer = report["dataLayer"]
        assert isinstance(data_layer, list) and len(data_layer) == 1, data_layer
        assert data_layer[0]["event"] == "gtm.js"
        assert isinstance(data_layer[0]["gtm.start"], (int, float))
    else:
        assert report["dataLayer"] is None, report["dataLayer"]

    # -- no JavaScript error, in the page's view ...
    assert report["jsErrors"] == [], report["jsErrors"]
    assert report["consoleErrors"] == [], report["consoleErrors"]
    # ... a failed load is only the blocked request we expect
    assert report["resourceErrors"] == expected_external, report["resourceErrors"]
    # ... and in the browser's console log
    messages, unparsed = console_messages(load.stderr)
    assert unparsed == [], f"console lines that did not parse: {unparsed}"
    script_messages = [(m.message, m.source) for m in messages if not m.is_network_failure]
    assert script_messages == [(CONSOLE_MARKER, load.url)], f"console: {script_messages}"
    failed_loads = [m.source for m in messages if m.is_network_failure]
    assert set(failed_loads) <= set(expected_external), f"unexpected failed loads: {failed_loads}"


@pytest.mark.parametrize("case", list(CASES))
def test_page_requests(loads, rendered, case):
    expected = CASES[case][2]
    script = rendered[case]
    if expected:
        assert b"GTM-TM46SL7T" in script
    else:
        assert script == b"", f"{case}: analytics.js should be empty, got {script[:200]!r}"
    check_page(loads(case), expected, case)


def test_tampered_loader_is_caught(chromium, rendered, publish, loads, tmp_path_factory):
    """The same checks on a loader for another container that also adds an
    external <img> and throws: the browser's records show all of it."""
    other = rendered["on"].replace(b"GTM-TM46SL7T", b"GTM-ABCDEF1")
    extra = (
        b'var img = document.createElement("img"); img.src = "https://pixel.example.com/p.gif";'
        b" document.head.appendChild(img);\nnotDefinedAnywhere();\n"
    )
    load = load_page(chromium, publish("tampered", other + extra), tmp_path_factory.mktemp("chromium-tampered"))
    wrong = "https://www.googletagmanager.com/gtm.js?id=GTM-ABCDEF1"
    assert sorted(load.page_external_urls) == sorted([wrong, "https://pixel.example.com/p.gif"])
    assert load.report["jsErrors"] and "notDefinedAnywhere" in load.report["jsErrors"][0]
    assert any(m.message.startswith("Uncaught ReferenceError") for m in load.console), load.console
    with pytest.raises(AssertionError, match="external requests of the page"):
        check_page(load, [GTM_URL], "tampered")
    # and the real "on" page fails the "off" expectation
    with pytest.raises(AssertionError, match="external requests of the page"):
        check_page(loads("on"), [], "on")
