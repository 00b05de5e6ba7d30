"""so_telemetry.local and the annotations: the local pillar read without Salt,
merged by the engine's rule, and what ``config search`` shows."""

import os

import pytest

from so_telemetry import annotations
from so_telemetry.local import LocalPillar, local_files, scan_local


def test_local_files_order_and_scan(tmp_path):
    for rel, text in {"global/soc_global.sls": "global:\n  airgap: true\n",
                      "soc/soc_soc.sls": "soc: [bad\n",
                      "patch/soc_patch.sls": "{% if x %}\npatch: {}\n{% endif %}\n"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    files = local_files(str(tmp_path))
    expected = ["global/soc_global.sls", "soc/soc_soc.sls", "patch/soc_patch.sls"]
    assert [os.path.relpath(f, tmp_path) for f in files] == expected
    broken = scan_local(str(tmp_path))
    assert [os.path.relpath(p, tmp_path) for p, _ in broken] == ["soc/soc_soc.sls"]  # Jinja: only Salt knows
    cur = LocalPillar(str(tmp_path))
    assert cur.value("global:airgap") == (True, str(tmp_path / "global" / "soc_global.sls"), None)
    value, source, why = cur.value("soc:telemetryEnabled")
    assert value is None and source is None and "soc_soc.sls, line" in why
    assert "Jinja" in cur.value("patch:os:enabled")[2]
    assert cur.value("repo:id") == ("securityonion", "default", None)


def test_local_top_decides_the_files(tmp_path):
    (tmp_path / "top.sls").write_text("base:\n  '*':\n    - ignore_missing: True\n    - soc.soc_soc\n    - extra\n")
    (tmp_path / "soc").mkdir()
    (tmp_path / "soc" / "soc_soc.sls").write_text("soc:\n  telemetryEnabled: false\n")
    (tmp_path / "extra.sls").write_text("soc:\n  telemetryEnabled: true\n")
    assert [os.path.basename(f) for f in local_files(str(tmp_path))] == ["soc_soc.sls", "extra.sls"]
    assert LocalPillar(str(tmp_path)).value("soc:telemetryEnabled")[:2] == (True, str(tmp_path / "extra.sls"))


@pytest.mark.parametrize("link,url", [
    ("telemetry.html", "https://docs.securityonion.net/en/2.4/telemetry.html"),
    ("https://example.org/x.html", "https://example.org/x.html"),
    (None, None),
])
def test_help_url(link, url):
    assert annotations.help_url(link) == url


def test_minion_config_grains_and_root(tmp_path):
    """Static grains as Salt reads them: <dir>/grains, then grains: of the
    minion file, where a minion.d/*.conf (name order) replaces the key."""
    from so_telemetry.local import minion_config  # pylint: disable=import-outside-toplevel

    assert minion_config(str(tmp_path / "none")) == ({}, "")
    (tmp_path / "grains").write_text("airgap: true\nrole: so-sensor\n")
    (tmp_path / "minion").write_text("id: m\nso_telemetry_root: /sandbox\ngrains:\n  role: so-manager\n")
    assert minion_config(str(tmp_path)) == ({"airgap": True, "role": "so-manager"}, "/sandbox")
    (tmp_path / "minion.d").mkdir()
    (tmp_path / "minion.d" / "a.conf").write_text("grains:\n  role: so-eval\n")
    (tmp_path / "minion.d" / "b.conf").write_text("grains:\n  airgap: false\n")
    (tmp_path / "minion.d" / "c.txt").write_text("grains: [ignored\n")
    assert minion_config(str(tmp_path)) == ({"airgap": False, "role": "so-eval"}, "/sandbox")


@pytest.mark.parametrize("name,text", [("minion", "grains: [unclosed\n"), ("grains", "- a list\n")])
def test_minion_config_unreadable_is_named(tmp_path, name, text):
    from so_telemetry.local import MinionConfigError, minion_config  # pylint: disable=import-outside-toplevel

    (tmp_path / name).write_text(text)
    with pytest.raises(MinionConfigError, match=str(tmp_path / name)):
        minion_config(str(tmp_path))


def test_who_made_the_change(monkeypatch):
    from so_telemetry.cli import trail  # pylint: disable=import-outside-toplevel

    monkeypatch.setenv("SUDO_USER", "alice")
    assert trail.who() == "alice"
    monkeypatch.delenv("SUDO_USER")
    monkeypatch.setattr(trail.os, "getlogin", lambda: "bob")
    assert trail.who() == "bob"

    def no_tty():
        raise OSError(6, "No such device or address")

    monkeypatch.setattr(trail.os, "getlogin", no_tty)
    assert trail.who() == __import__("pwd").getpwuid(os.geteuid()).pw_name
