"""Check a full test run's JUnit XML (one file per pytest process): every layer (unit, functional, dnf,
browser, integration) ran at least one test, so a layer that was not collected or was
skipped whole never passes CI unnoticed.

    python scripts/check_layers.py <junit.xml>... [--allow-skipped-layer dnf]

Prints one line per layer; exits 1 when a layer did not run.
"""

import argparse
import sys
import xml.etree.ElementTree as ET

LAYERS = ("unit", "functional", "dnf", "browser", "integration")


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("junit", nargs="+")
    parser.add_argument("--allow-skipped-layer", action="append", default=[], choices=LAYERS)
    args = parser.parse_args(argv)
    counts = {layer: {"ran": 0, "skipped": 0} for layer in LAYERS}
    cases = [case for junit in args.junit for case in ET.parse(junit).getroot().iter("testcase")]
    for case in cases:
        parts = (case.get("classname") or "").split(".")
        if len(parts) < 2 or parts[0] != "tests" or parts[1] not in counts:
            continue
        skipped = case.find("skipped") is not None
        counts[parts[1]]["skipped" if skipped else "ran"] += 1
    bad = []
    for layer in LAYERS:
        ran, skipped = counts[layer]["ran"], counts[layer]["skipped"]
        print(f"  layer {layer}: {ran} ran, {skipped} skipped")
        if ran == 0 and not (skipped and layer in args.allow_skipped_layer):
            bad.append(layer)
    if bad:
        print(f"check_layers: no test ran in layer(s): {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
