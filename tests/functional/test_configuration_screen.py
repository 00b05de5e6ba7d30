"""SOC's Configuration screen on a Security Onion manager with the library
installed (``so-telemetry install --security-onion`` on the stand-in of
Security Onion's tree; files only, no daemon), read by a test client that
follows SOC's own code (``tests/socscreen.py``), and
``so-telemetry config search``, which must show what the screen shows.

Security Onion's documentation says: search for ``SOC Telemetry``, and for
``patch``. Here: ``SOC Telemetry`` finds exactly ``soc.telemetryEnabled``,
``patch`` every patch setting Security Onion shows without the library and
no error (basic and advanced), ``proxy`` shows ``manager.proxy`` masked."""

import json
import os
import shutil
import subprocess

import pytest
import yaml

from tests import socscreen
from tests.conftest import SO_TELEMETRY, save_figures
from tests.security_onion import build

PASSWORD = "s3cr3t-Pw"
TERMS = ("SOC Telemetry", "patch", "proxy")


def cli(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SO_TELEMETRY_")}
    env.update(env_extra or {})
    return subprocess.run([SO_TELEMETRY, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          check=False, timeout=120, env=env)


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """``(alone, installed)``: Security Onion's tree as setup leaves it (a
    proxy with a password set), and the same with the library installed."""
    base = tmp_path_factory.mktemp("screen")
    alone = build(base / "alone", {"so_manager": "so-manager"}).saltstack
    proxy = alone / "local" / "pillar" / "manager" / "soc_manager.sls"
    data = yaml.safe_load(proxy.read_text())
    data["manager"]["proxy"] = f"http://alice:{PASSWORD}@proxy.corp:3128"
    proxy.write_text(yaml.safe_dump(data))
    installed = base / "installed"
    shutil.copytree(alone, installed, symlinks=True)
    config = base / "etc-salt"
    config.mkdir()
    (config / "master").write_text(yaml.safe_dump({
        "file_roots": {"base": [str(installed / "local" / "salt"), str(installed / "default" / "salt")]},
        "pillar_roots": {"base": [str(installed / "local" / "pillar"), str(installed / "default" / "pillar")]},
    }))
    proc = cli("install", "--security-onion", "--saltstack", str(installed), "--salt-config", str(config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return alone, installed


def test_the_screen_finds_what_security_onion_says_to_search_for(trees):
    alone, installed = trees
    figures = {}
    for advanced in (False, True):
        before, after = socscreen.screen(alone, advanced), socscreen.screen(installed, advanced)
        assert after.errors == [], after.errors
        mode = "advanced" if advanced else "basic"
        for term in TERMS:
            figures[f"{term} ({mode})"] = {"before": len(before.search(term)), "after": len(after.search(term))}
        assert after.search("SOC Telemetry") == ["soc.telemetryEnabled"]
        patch_before, patch_after = set(before.search("patch")), set(after.search("patch"))
        assert patch_before <= patch_after, sorted(patch_before - patch_after)
        assert {s for s in patch_before if s.startswith("patch.os.schedules.")}, "the stand-in has schedules"
        # the library adds only its own settings (which name patch jobs) to that search
        assert all(s.startswith("so_telemetry.") for s in patch_after - patch_before)
        proxy = {s["id"]: s for s in after.settings}["manager.proxy"]
        assert proxy["value"] == "******" and proxy["default"] == ""
        assert "manager.proxy" in after.search("proxy")
        # without the library SOC shows the password: the library's annotation masks it
        assert PASSWORD in {s["id"]: s for s in before.settings}["manager.proxy"]["value"]
        # not "customised": Security Onion ships no default for it (SOC compares a default it has)
        assert proxy["defaultAvailable"] is False and not socscreen._is_customized(proxy)  # noqa: SLF001
    save_figures("configuration_screen", "Configuration screen hits, stand-in tree (before -> after install)",
                 figures)


def test_the_library_texts_are_true_where_the_screen_shows_them(trees):
    _alone, installed = trees
    shown = {s["id"]: s for s in socscreen.get_settings(installed, True)}
    text = shown["soc.telemetryEnabled"]["description"]
    for fact in ("page URL", "host name", "page title", "referrer", "IP address", "User-Agent",
                 "container decides", "next page load"):
        assert fact in text, fact
    assert "never" not in text.lower() and "hard-refresh" not in text
    for sid, setting in shown.items():
        if sid.startswith("so_telemetry."):
            assert setting["title"] and setting["description"] and setting["helpLink"] and setting["forcedType"]
    # what install set shows as the value, where SOC shows values: the local file
    assert shown["so_telemetry.owners.analytics"]["value"] == "library"
    assert shown["so_telemetry.owners.repo"]["value"] == "host"


@pytest.mark.parametrize("advanced", [False, True], ids=["basic", "advanced"])
def test_config_search_shows_what_the_screen_shows(trees, advanced):
    _alone, installed = trees
    client = socscreen.screen(installed, advanced)
    by_id = {s["id"]: s for s in client.settings}
    flags = ("global", "readonly", "sensitive", "advanced")  # what the screen keeps of each (config.js create)
    for term in (*TERMS, "telemetry", "so_telemetry", "airgap", "GTM", "library", ""):
        args = ["config", "search", term, "--json", "--saltstack", str(installed), "--pillar-dir",
                str(installed / "local" / "pillar"), "--config-dir", str(installed / "no-salt-here")]
        proc = cli(*args, *(["--advanced"] if advanced else []))
        out = json.loads(proc.stdout)
        assert out["errors"] == []
        assert [s["id"] for s in out["settings"]] == client.search(term), term
        for hit in out["settings"]:
            want = by_id[hit["id"]]
            assert (hit["value"], hit["default"], hit["defaultAvailable"]) == (
                want["value"], want["default"], want["defaultAvailable"]), hit["id"]
            assert {f: hit[f] for f in flags} == {f: want[f] for f in flags}, hit["id"]
            assert "no salt-minion configuration" in hit["salt"]["error"]
        assert PASSWORD not in proc.stdout + proc.stderr


def test_annotations_name_settings_and_never_a_branch(trees):
    """Every annotation of the library names a setting (one of its own
    defaults' leaves, or one Security Onion's screen has) and never a key
    whose children are settings (SOC would drop that branch)."""
    alone, installed = trees
    from so_telemetry.loader import salt_dir

    with open(os.path.join(salt_dir(), "soc_so_telemetry.yaml"), encoding="utf-8") as fh:
        annotations = yaml.safe_load(fh)
    with open(os.path.join(salt_dir(), "defaults.yaml"), encoding="utf-8") as fh:
        own = yaml.safe_load(fh)

    def annotated(node, trail):
        if any(not isinstance(v, dict) for v in node.values()):
            yield ".".join(trail)
            return
        for key, val in node.items():
            yield from annotated(val, trail + [key])

    def leaves(node, trail):
        for key, val in node.items():
            if isinstance(val, dict) and val:
                yield from leaves(val, trail + [key])
            else:
                yield ".".join(trail + [key])

    ids = set(annotated(annotations, []))
    own_leaves = set(leaves(own, []))
    security_onion = {s["id"] for s in socscreen.get_settings(alone, True)}
    assert {i for i in ids if i.startswith("so_telemetry.")} == own_leaves
    assert {i for i in ids if not i.startswith("so_telemetry.")} <= security_onion
    every = [s["id"] for s in socscreen.get_settings(installed, True)]
    assert not [i for i in ids if any(o.startswith(i + ".") for o in every)]
