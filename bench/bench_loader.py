"""Benchmark 6: what the SOC loader's re-check costs per page load.

This library's on-loader re-reads ``js/analytics.js`` from SOC at every page
load (``fetch``, ``cache: "no-store"``, same origin) before it loads Tag
Manager; Security Onion 2.4's plain loader does not. Both are loaded side by
side in the same invocation, the same way as ``tests/browser/
test_cached_loader.py`` does: the loader a real ``salt-call --local
state.apply so_telemetry.soc`` renders (beside SO's own file, from
``tests/browser/so24_analytics.js``), both aged 30 days, served by the
loopback SOC of ``tests/browser/soc_site.py`` (Go file server semantics:
``Last-Modified``, no ``Cache-Control``), loaded by Debian's headless
``chromium`` with a persistent profile, every host but 127.0.0.1 resolving to
nothing (the Tag Manager request is attempted, never sent).

Per run and side (sides alternate), one fresh profile:

* ``on, cold``: the first load (nothing cached);
* ``on, warm``: the next ordinary load (``analytics.js`` cached);
* ``opted out, stale cache``: SOC now serves the empty file (off), the next
  ordinary load with the on-loader still cached;
* ``off, cold``: a fresh profile, SOC serving the empty file.

Reported per page load, from the server's log: the requests SOC answered
for ``analytics.js`` and their bytes on the wire (request line and headers
as received, status line, headers and body as sent: HTTP/1.1, no TLS, no
compression), and from the net-log the Tag Manager requests. Medians over
``--runs`` runs. Wall time is not reported: the loads run under
``--virtual-time-budget``, which stops the page clock while requests are in
flight. Nothing leaves 127.0.0.1.

    .venv/bin/python bench/bench_loader.py [--runs N] [--keep]
"""

import argparse
import pathlib
import shutil
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402  pylint: disable=wrong-import-position

from tests.browser.chromium import find_chromium, load_page  # noqa: E402  pylint: disable=wrong-import-position
from tests.browser.soc_site import (  # noqa: E402  pylint: disable=wrong-import-position
    SCRIPT_PATH,
    SocServer,
    age,
    page,
    so24_loader,
)
from tests.conftest import Sandbox  # noqa: E402  pylint: disable=wrong-import-position

ANALYTICS = "/opt/so/conf/soc/analytics.js"
AGE_DAYS = 30
SIDES = ("so24", "ours")
STEPS = ("on, cold", "on, warm", "opted out, stale cache", "off, cold")
OFF_STEPS = ("opted out, stale cache", "off, cold")


def one_side(chromium, work, html, loader):
    """The four loads of one side; ``{step: {requests, bytes, body, gtm}}``."""
    work.mkdir(parents=True)
    served_file = work / "analytics.js"
    served_file.write_bytes(loader)
    age(served_file, AGE_DAYS)
    server = SocServer({"/": html / "index.html", SCRIPT_PATH: served_file}).start()
    out = {}
    try:
        def step(name, profile):
            load = load_page(chromium, server.url("/"), work, profile=profile)
            assert load.returncode == 0, load.stderr[-2000:]
            served = [s for s in server.take_log() if s.path == SCRIPT_PATH]
            out[name] = {
                "requests": len(served),
                "dests": [s.dest for s in served],
                "bytes": sum(s.received + s.sent for s in served),
                "received": sum(s.received for s in served),
                "sent": sum(s.sent for s in served),
                "body": sum(s.body for s in served),
                "gtm": sum("googletagmanager.com/gtm.js" in u for u in load.page_external_urls),
            }

        step("on, cold", work / "profile")
        step("on, warm", work / "profile")
        server.routes[SCRIPT_PATH] = html / "empty.js"  # the opt-out: SOC serves an empty file
        step("opted out, stale cache", work / "profile")
        step("off, cold", work / "profile-off")
    finally:
        server.stop()
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=common.RUNS)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if not chromium:
        print("bench_loader: needs Debian's chromium (scripts/bootstrap.sh --system-packages installs it as root); "
              "skipped")
        common.write_result("loader", {"benchmark": "loader", "skipped": "chromium missing", "rows": [
            common.row("6. SOC requests for analytics.js per page load, ours / SO 2.4", None, None, "report", None),
        ]})
        return 0

    work = common.tmpdir("loader")
    try:
        box = Sandbox(work / "sandbox")
        box.salt_call("state.apply", "so_telemetry.soc")
        loaders = {"ours": box.path(ANALYTICS).read_bytes(), "so24": so24_loader()}
        assert b"so-telemetry-loader on " in loaders["ours"]
        html = work / "html"
        html.mkdir()
        (html / "index.html").write_text(page("home"))
        (html / "empty.js").write_bytes(b"")
        age(html / "index.html", AGE_DAYS)
        print(f"  loader sizes: ours {len(loaders['ours'])} bytes, SO 2.4 {len(loaders['so24'])} bytes", flush=True)

        runs = {side: [] for side in SIDES}
        for i in range(args.runs):
            order = SIDES if i % 2 == 0 else SIDES[::-1]
            for side in order:
                runs[side].append(one_side(chromium, work / f"run{i}-{side}", html, loaders[side]))
            print(f"  run {i + 1}: " + "; ".join(
                f"{side} " + ", ".join(f"{runs[side][-1][s]['requests']} req/{runs[side][-1][s]['bytes']} B"
                                       for s in STEPS) for side in SIDES), flush=True)

        med = {side: {step: {key: common.median([r[step][key] for r in runs[side]])
                             for key in ("requests", "bytes", "received", "sent", "body", "gtm")}
                      for step in STEPS} for side in SIDES}
        rows = []
        for step in STEPS:
            so, ours = med["so24"][step], med["ours"][step]
            rows.append(common.row(
                f"6. SOC requests for analytics.js per page load, {step}: SO 2.4 / ours", so["requests"],
                ours["requests"], "report", None, note=f"ours: {runs['ours'][0][step]['dests']}"))
            rows.append(common.row(
                f"6. bytes on the wire for analytics.js per page load, {step}: SO 2.4 / ours", so["bytes"],
                ours["bytes"], "report", None, unit="B",
                note=f"difference {ours['bytes'] - so['bytes']:+g} B (ours: received {ours['received']:g}, "
                f"sent {ours['sent']:g} of which body {ours['body']:g})"))
            rows.append(common.row(
                f"6. Tag Manager requests per page load, {step}: SO 2.4 / ours", so["gtm"], ours["gtm"],
                "0 when off" if step in OFF_STEPS else "1 when on",
                ours["gtm"] == (0 if step in OFF_STEPS else 1)))
        common.write_result("loader", {
            "benchmark": "loader",
            "loader_bytes": {side: len(loaders[side]) for side in SIDES},
            "medians": med,
            "runs": runs,
            "rows": rows,
        })
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
