"""Break each decision point of the library on purpose, one at a time, and
see which test catches it: a decision no test catches is a decision nothing
proves. Not part of CI (it runs the suite once per mutation).

    .venv/bin/python scripts/mutations.py [--only NAME] [--salt-line-venv .venv]

Each mutation replaces one exact text in one file (it must be there once);
the file is restored after its run, whatever happens. A mutation is caught
when pytest fails (``-x``: the first failing test is named). Results go to
``.tmp/mutations.json`` and a table on stdout."""

import argparse
import json
import pathlib
import re
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
CORE = "_utils/so_telemetry_core"

# (name, file, old text, new text, what the mutation breaks, tests to run)
UNIT = ["tests/unit"]
FUNCTIONAL = ["tests/unit", "tests/functional"]
MUTATIONS = [
    ("airgap-grain-ignored", f"{CORE}/decide.py", '            sources.append("grain")', "            pass",
     "grain airgap: true no longer airgaps", UNIT),
    ("airgap-malformed-fails-open", f"{CORE}/decide.py", "    return True, True\n", "    return False, True\n",
     "a malformed airgap value counts as not airgapped", UNIT),
    ("airgap-does-not-turn-off", f"{CORE}/decide.py", '        if self.airgap["enabled"]:\n            return False,',
     '        if False:\n            return False,', "an airgapped grid keeps its channels on", UNIT),
    ("query-on-nodes", f"{CORE}/decide.py", '"telemetry": os_on and self.manager_like,', '"telemetry": os_on,',
     "a node's requests carry the telemetry query", UNIT),
    ("bool-coerced", f"{CORE}/validate.py", "    if isinstance(value, bool):\n        return value",
     "    if isinstance(value, (bool, str, int)):\n        return bool(value)",
     "a non-boolean switch is coerced instead of refused", UNIT),
    ("query-names-the-node", f"{CORE}/query.py",
     '        if key in _SOURCES and {val.lower(), *val.lower().split(",")} & tokens:', "        if False:",
     "a pillar value that names this node goes into the query", UNIT),
    ("node-goes-upstream", f"{CORE}/repo.py", "    elif not state.manager_like:",
     "    elif False:", "a node points at the upstream mirrors", UNIT),
    ("host-owner-ignored", f"{CORE}/files.py", "        out[art] = val\n", '        out[art] = "library"\n',
     "an artefact the host tree owns is written by the library", FUNCTIONAL),
    ("second-writer-allowed", "_states/telemetry.py",
     "        if (chunk.get(\"state\"), chunk.get(\"name\")) in targets:", "        if False:",
     "another state writing the same artefact is not refused", FUNCTIONAL),
    ("consent-duplicates", f"{CORE}/consent.py", "        if old != states[channel]:", "        if True:",
     "a highstate records a channel that did not change", UNIT),
    ("secret-shown", f"{CORE}/config.py", "        return secret.mask_url(value)", "        return value",
     "the proxy password is shown", FUNCTIONAL),
    ("loader-when-off", f"{CORE}/soc.py", '    if not decide.checked(ctx, "soc").soc["enabled"]:\n        return ""',
     '    if False:\n        return ""', "SOC Telemetry off still serves the Tag Manager loader", UNIT),
    ("trail-chain-unchecked", f"{CORE}/trail.py",
     '        if line.record["prev"] != (hashes[i - 1] if i else GENESIS) or line.record["seq"] != before + 1:',
     "        if False:", "history --verify passes an altered trail", UNIT),
    ("screen-sensitive-shown", "so_telemetry/screen.py",
     "                        setting.update(value=MASK, default=\"\")", "                        pass",
     "config search shows a sensitive value as SOC would not", FUNCTIONAL),
    # (Not a mutation: dropping the screen's "a matching branch shows its
    # whole subtree" changes nothing a tree can show, as a branch's id is the
    # start of each of its leaves' ids, which match the same term.)
    ("screen-description-less-basic", "so_telemetry/screen.py",
     '        if not setting["description"]:\n            setting["advanced"] = True',
     '        if False:\n            setting["advanced"] = True',
     "config search shows a setting without a description in the basic view, as SOC does not", FUNCTIONAL),
    ("annotation-proxy-clear", "salt/so_telemetry/soc_so_telemetry.yaml", "  proxy:\n    sensitive: True\n",
     "  proxy:\n    sensitive: False\n", "SOC's screen shows the proxy password", FUNCTIONAL),
    ("annotation-says-soc-telemetry", "salt/so_telemetry/soc_so_telemetry.yaml",
     "        Who writes SOC's analytics loader", "        Who writes the SOC Telemetry loader",
     "searching \"SOC Telemetry\" finds more than soc.telemetryEnabled", FUNCTIONAL),
    ("install-without-env-order", "so_telemetry/master_config.py",
     '               (["env_order"], _env_order(data))]', "               ]",
     "install leaves Salt's top merge order to chance", FUNCTIONAL),
    ("uninstall-leaves-annotations", "so_telemetry/security_onion.py",
     "        changes.append(Change(path, data, None))\n    for path in (layout.backup",
     "        pass\n    for path in (layout.backup", "uninstall leaves the library's files behind", FUNCTIONAL),
    ("edit-not-read-kept", "so_telemetry/cli/trail.py",
     "            _check_took(args, after, target, key, value, saved)",
     "            pass", "an edit Salt does not read is kept and reported as done", FUNCTIONAL),
    ("schedule-keeps-old-timing", "_states/telemetry.py",
     '        ret = _reshaped(ctx, name, decided["job"], offline) or _present(name, decided["job"], offline)',
     '        ret = _present(name, decided["job"], offline)', "a patch job keeps hours beside its new weekdays",
     FUNCTIONAL),
    ("pillar-edit-unlocked", "so_telemetry/pillar_edit.py", "    with locked(path):\n        return _set_value_locked",
     "    if True:\n        return _set_value_locked", "two edits of one pillar file can lose one", UNIT),
]


def run_tests(python, paths, timeout):
    cmd = [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--basetemp", "/tmp/so-mutations",
           "-o", "addopts=", *paths]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)
    failed = re.findall(r"^FAILED (\S+)", proc.stdout, re.M) or re.findall(r"^ERROR (\S+)", proc.stdout, re.M)
    return proc.returncode, failed[0] if failed else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--venv", default=".venv")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    python = str(REPO / args.venv / "bin" / "python")
    results = []
    for name, rel, old, new, what, paths in MUTATIONS:
        if args.only and name not in args.only:
            continue
        path = REPO / rel
        original = path.read_text()
        if original.count(old) != 1:
            print(f"{name}: the text to mutate is in {rel} {original.count(old)} times; skipped", file=sys.stderr)
            results.append({"name": name, "what": what, "caught": None, "test": "text not found"})
            continue
        start = time.monotonic()
        try:
            path.write_text(original.replace(old, new))
            code, test = run_tests(python, paths, args.timeout)
        finally:
            path.write_text(original)
        caught = code not in (0, 5)
        results.append({"name": name, "file": rel, "what": what, "caught": caught, "test": test,
                        "seconds": round(time.monotonic() - start, 1)})
        print(f"{name:32} {'CAUGHT' if caught else 'SURVIVED':8} {test or ''} ({results[-1]['seconds']} s)",
              flush=True)
    out = REPO / ".tmp" / "mutations.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    survived = [r["name"] for r in results if r["caught"] is False]
    print(f"{len(results)} mutations, {len(survived)} survived: {', '.join(survived) or 'none'} -> {out}")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
