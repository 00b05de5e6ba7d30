"""The net-log / console / DOM extraction on its own (no browser needed): it
must catch a wrong container, an extra external request, a redirect and a
script error, and keep Chromium's own background requests apart."""

import json

from tests.browser.chromium import (
    console_messages,
    external_urls,
    is_external,
    page_report,
    page_requests,
    parse_netlog,
    resolved_hosts,
    url_requests,
)

ORIGIN = "http://127.0.0.1:41234"
GTM = "https://www.googletagmanager.com/gtm.js?id=GTM-TM46SL7T"
CONSTANTS = {
    # ids deliberately not in name order: names come from the constants only
    "logEventTypes": {"REQUEST_ALIVE": 7, "URL_REQUEST_START_JOB": 3, "HOST_RESOLVER_MANAGER_REQUEST": 11},
    "logSourceType": {"NONE": 0, "URL_REQUEST": 2, "NETWORK_QUALITY_ESTIMATOR": 5},
}


def _start(source, url, initiator=ORIGIN, nik="http://127.0.0.1 http://127.0.0.1"):
    return {
        "type": 3, "phase": 1, "source": {"id": source, "type": 2}, "time": "1",
        "params": {"url": url, "initiator": initiator, "network_isolation_key": nik, "method": "GET"},
    }


def _end(source, net_error):
    return {"type": 3, "phase": 2, "source": {"id": source, "type": 2}, "time": "2", "params": {"net_error": net_error}}


EVENTS = [
    # Chromium's own traffic: no page initiator, not the page's isolation key
    _start(1, "https://update.googleapis.com/service/update2/json", "not an origin", "null null"),
    _end(1, -105),
    {"type": 7, "phase": 1, "source": {"id": 1, "type": 2}, "params": {"url": "https://ignored.example/"}},
    _start(2, f"{ORIGIN}/on/index.html", "not an origin"),
    _start(3, f"{ORIGIN}/on/analytics.js"),
    _start(4, GTM),
    _end(4, -105),
    _start(5, "https://www.googletagmanager.com/gtm.js?id=GTM-ABCDEF1"),
    _start(6, "https://pixel.example.com/p.gif"),
    # a page request redirected elsewhere: both legs count
    _start(7, f"{ORIGIN}/redirect"),
    _start(7, "https://elsewhere.example.net/x"),
    # a request of a frame inside the page, started by another origin
    _start(8, "https://frame.example.org/f.js", "https://frame.example.org", "http://127.0.0.1 https://example.org"),
    # not a URL request
    {"type": 3, "phase": 1, "source": {"id": 9, "type": 5}, "params": {"url": "https://not-a-request.example/"}},
    {"type": 11, "phase": 1, "source": {"id": 10, "type": 5}, "params": {"host": "https://~notfound"}},
    {"type": 11, "phase": 1, "source": {"id": 11, "type": 5}, "params": {"host": "http://127.0.0.1:41234"}},
]


def test_netlog_requests_and_attribution():
    text = json.dumps({"constants": CONSTANTS, "events": EVENTS})
    requests = url_requests(*parse_netlog(text))
    assert [r.source_id for r in requests] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert requests[0].net_error == -105 and requests[3].net_error == -105 and requests[2].net_error == 0
    page = page_requests(requests, ORIGIN)
    assert [r.source_id for r in page] == [2, 3, 4, 5, 6, 7, 8]
    assert external_urls(page) == [
        GTM,
        "https://www.googletagmanager.com/gtm.js?id=GTM-ABCDEF1",
        "https://pixel.example.com/p.gif",
        "https://elsewhere.example.net/x",
        "https://frame.example.org/f.js",
    ]
    assert external_urls(requests)[0] == "https://update.googleapis.com/service/update2/json"
    assert resolved_hosts(*parse_netlog(text)) == ["~notfound", "127.0.0.1"]


def test_netlog_wrong_container_or_extra_request_is_not_the_expected_list():
    """What the browser test compares: only [GTM] passes."""
    only_gtm = [_start(2, f"{ORIGIN}/on/index.html", "not an origin"), _start(4, GTM)]
    for extra in ([], [_start(5, GTM)], [_start(6, "https://pixel.example.com/p.gif")]):
        text = json.dumps({"constants": CONSTANTS, "events": only_gtm + extra})
        urls = external_urls(page_requests(url_requests(*parse_netlog(text)), ORIGIN))
        assert (urls == [GTM]) is (not extra), urls
    wrong = json.dumps({"constants": CONSTANTS, "events": [_start(4, GTM.replace("TM46SL7T", "TM46SL7X"))]})
    assert external_urls(page_requests(url_requests(*parse_netlog(wrong)), ORIGIN)) != [GTM]


def test_netlog_unterminated_file():
    """A browser that did not exit cleanly leaves no closing "]}"."""
    text = json.dumps({"constants": CONSTANTS, "events": EVENTS})
    for cut in (text[: text.rindex("]")] + ",\n", text[: text.rindex("]")]):
        assert len(url_requests(*parse_netlog(cut))) == 8


def test_is_external():
    assert is_external(GTM)
    assert is_external("http://10.0.0.1/x") and is_external("https://[2001:db8::1]/")
    for url in (f"{ORIGIN}/x", "http://localhost:9/", "http://[::1]:80/", "file:///tmp/a.js", "data:text/plain,x"):
        assert not is_external(url), url


def test_console_messages():
    stderr = "\n".join([
        "/usr/bin/chromium: 9: [: 1: unexpected operator",
        "[1:1:1127/063410.3:ERROR:dbus/bus.cc:405] Failed to connect to the bus",
        '[1:1:1127/063411.1:INFO:CONSOLE:6] "so-page: loaded", source: http://127.0.0.1:1/on/index.html (6)',
        '[1:1:1127/063411.2:INFO:CONSOLE(4)] "Uncaught ReferenceError: x is not defined", source: '
        + "http://127.0.0.1:1/on/analytics.js (4)",
        '[1:1:1127/063411.3:INFO:CONSOLE:0] "Failed to load resource: net::ERR_NAME_NOT_RESOLVED", source: '
        + GTM
        + " (0)",
        '[1:1:1127/063411.4:INFO:CONSOLE:2] "two', 'lines", source: http://127.0.0.1:1/on/analytics.js (2)',
        "[1:1:1127/063411.5:INFO:CONSOLE:1] garbled",
    ])
    messages, unparsed = console_messages(stderr)
    assert [(m.message, m.line, m.is_network_failure) for m in messages] == [
        ("so-page: loaded", 6, False),
        ("Uncaught ReferenceError: x is not defined", 4, False),
        ("Failed to load resource: net::ERR_NAME_NOT_RESOLVED", 0, True),
        ("two\nlines", 2, False),
    ]
    assert messages[2].source == GTM
    assert unparsed == ["[1:1:1127/063411.5:INFO:CONSOLE:1] garbled"]


def test_page_report():
    report = {"marker": "m", "jsErrors": ["a < b & \"c\""], "dataLayer": [{"event": "gtm.js"}]}
    text = json.dumps(report).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert page_report(f'<body><pre id="so-report">{text}</pre></body>') == report
    assert page_report("<body></body>") is None
