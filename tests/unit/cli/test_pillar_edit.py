"""so_telemetry.pillar_edit: round-trip editing of the local pillar files.

Comments, key order and other keys survive; a write is atomic; a file that
cannot be edited safely raises PillarError and stays exactly as it was.
"""

import difflib
import os
import re

import pytest
import so_telemetry_core as core
import yaml

from so_telemetry import pillar_edit as P

SOC_KEYS = ("soc", "telemetryEnabled")
PATCH_KEYS = ("patch", "os", "enabled")


def read_value(path, keys):
    """The value at ``keys`` in the YAML file, or None when file or key is absent."""
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        cur = yaml.safe_load(fh)
    for key in keys:
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return cur

COMMENTED = """\
# Local SOC settings (written by the Configuration screen)
soc:
  # keep the UI quiet
  telemetryEnabled: false   # opted out during setup
  other_setting: keep-me
  quoted: 'single'
  dquoted: "double"
  servers:
    - a.example
    - b.example
  nested:
    deep: 1   # deep comment
# between the components
zzz_last: 3
aaa_after: {inline: true}
# trailing comment
"""


def changed_lines(before, after):
    """[(old line, new line)] of a line-by-line diff that only replaces lines."""
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    removed = [d[2:] for d in diff if d.startswith("- ")]
    added = [d[2:] for d in diff if d.startswith("+ ")]
    assert len(before.splitlines()) == len(after.splitlines()), "\n".join(diff)
    return list(zip(removed, added))


def snapshot(path):
    st = os.stat(path)
    with open(path, "rb") as fh:
        return fh.read(), st.st_mtime_ns, st.st_mode & 0o7777


def no_temp_files(directory):
    """Nothing but pillar files and their lock files (``.<name>.lock``)."""
    return [n for n in os.listdir(directory) if n.startswith(".") and not n.endswith(".lock")] == []


# --------------------------------------------------------------------------
# keeps comments, order and other keys


@pytest.mark.parametrize("value", [True, False])
def test_set_value_changes_exactly_one_line(workdir, value):
    path = workdir / "soc_soc.sls"
    path.write_text(COMMENTED)
    old = P.set_value(str(path), SOC_KEYS, value)
    assert old is False
    after = path.read_text()
    if value is False:
        assert after == COMMENTED
        return
    changes = changed_lines(COMMENTED, after)
    assert len(changes) == 1, changes
    before_line, after_line = changes[0]
    assert before_line == "  telemetryEnabled: false   # opted out during setup"
    assert re.fullmatch(r"  telemetryEnabled: true\s+# opted out during setup", after_line), after_line
    assert read_value(str(path), SOC_KEYS) is True
    assert read_value(str(path), ("soc", "other_setting")) == "keep-me"
    assert no_temp_files(workdir)


def test_toggle_back_restores_the_text(workdir):
    path = workdir / "soc_soc.sls"
    path.write_text(COMMENTED)
    P.set_value(str(path), SOC_KEYS, True)
    P.set_value(str(path), SOC_KEYS, False)
    # the comment column may shift with the value's width; everything else is identical
    assert [re.sub(r"\s+#", " #", line) for line in path.read_text().splitlines()] == [
        re.sub(r"\s+#", " #", line) for line in COMMENTED.splitlines()
    ]


def test_adds_a_missing_key_and_keeps_the_rest(workdir):
    path = workdir / "soc_patch.sls"
    text = "# patch settings\npatch:\n  os:\n    schedule_to_run: daily   # nightly window\nother: 1\n"
    path.write_text(text)
    assert P.set_value(str(path), PATCH_KEYS, False) is None
    after = path.read_text()
    assert after.startswith("# patch settings\npatch:\n  os:\n    schedule_to_run: daily   # nightly window\n")
    assert "    enabled: false\n" in after and after.endswith("other: 1\n")
    assert read_value(str(path), PATCH_KEYS) is False
    assert read_value(str(path), ("patch", "os", "schedule_to_run")) == "daily"


def test_adds_a_missing_top_level_key(workdir):
    path = workdir / "soc_patch.sls"
    path.write_text("# only soc here\nsoc:\n  x: 1\n")
    P.set_value(str(path), PATCH_KEYS, True)
    after = path.read_text()
    assert after.startswith("# only soc here\nsoc:\n  x: 1\n")
    assert read_value(str(path), PATCH_KEYS) is True


def test_key_holding_null_becomes_a_mapping(workdir):
    path = workdir / "soc_soc.sls"
    path.write_text("soc:   # soc settings\nother: 1\n")
    assert P.set_value(str(path), SOC_KEYS, False) is None
    assert read_value(str(path), SOC_KEYS) is False
    assert "# soc settings" in path.read_text() and read_value(str(path), ("other",)) == 1


def test_returns_old_value_even_if_malformed_type(workdir):
    path = workdir / "soc_soc.sls"
    path.write_text("soc:\n  telemetryEnabled: 'yes'\n")
    assert P.set_value(str(path), SOC_KEYS, False) == "yes"
    assert path.read_text() == "soc:\n  telemetryEnabled: false\n"


# --------------------------------------------------------------------------
# files and modes


def test_creates_missing_file_and_parents(workdir):
    path = workdir / "local" / "pillar" / "soc" / "soc_soc.sls"
    assert read_value(str(path), SOC_KEYS) is None
    assert P.set_value(str(path), SOC_KEYS, False) is None
    assert path.read_text() == "soc:\n  telemetryEnabled: false\n"
    assert os.stat(path).st_mode & 0o7777 == 0o640
    assert no_temp_files(path.parent)


def test_empty_file(workdir):
    path = workdir / "soc_soc.sls"
    path.write_text("")
    P.set_value(str(path), SOC_KEYS, True)
    assert path.read_text() == "soc:\n  telemetryEnabled: true\n"


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o640, 0o400])
def test_file_mode_preserved(workdir, mode):
    path = workdir / "soc_soc.sls"
    path.write_text(COMMENTED)
    os.chmod(path, mode)
    P.set_value(str(path), SOC_KEYS, True)
    assert os.stat(path).st_mode & 0o7777 == mode


def test_one_channel_table():
    """Every name of a channel comes from one table: the pillar key, the
    local file the command line and SOC's screen write, the words."""
    soc, osu = core.channels.get("soc"), core.channels.get("os-updates")
    assert (soc.key.split(":"), osu.key.split(":")) == (list(SOC_KEYS), list(PATCH_KEYS))
    assert [core.config.local_sls(c.key) for c in core.channels.TABLE] == [c.sls for c in core.channels.TABLE]
    assert core.channels.get("os_updates") is osu and core.channels.SWITCHES == ("soc", "os-updates")


# --------------------------------------------------------------------------
# refused: nothing written

REFUSED = {
    "malformed-yaml": ("soc:\n  telemetryEnabled: [unclosed\n", SOC_KEYS, "not valid YAML"),
    "bad-indent": ("soc:\n  a: 1\n   b: 2\n", SOC_KEYS, "not valid YAML"),
    "tab-indent": ("soc:\n\ttelemetryEnabled: true\n", SOC_KEYS, "not valid YAML"),
    "duplicate-key": ("soc:\n  telemetryEnabled: true\n  telemetryEnabled: false\n", SOC_KEYS, "not valid YAML"),
    "top-list": ("- soc\n- patch\n", SOC_KEYS, "mapping"),
    "top-scalar": ("just a string\n", SOC_KEYS, "mapping"),
    "top-int": ("5\n", SOC_KEYS, "mapping"),
    "jinja-statement": ("{% set x = 1 %}\nsoc:\n  telemetryEnabled: true\n", SOC_KEYS, "Jinja"),
    "jinja-expression": ("soc:\n  telemetryEnabled: {{ x }}\n", SOC_KEYS, "Jinja"),
    "jinja-in-comment": ("# {{ template }}\nsoc:\n  telemetryEnabled: true\n", SOC_KEYS, "Jinja"),
    "intermediate-scalar": ("soc: off\n", SOC_KEYS, "'soc'"),
    "intermediate-list": ("soc:\n  - a\n", SOC_KEYS, "'soc'"),
    "deep-intermediate-scalar": ("patch:\n  os: 5\n", PATCH_KEYS, "'patch:os'"),
    "deep-intermediate-string": ("patch:\n  os: 'enabled'\n", PATCH_KEYS, "'patch:os'"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_file_is_untouched(workdir, case):
    text, keys, message = REFUSED[case]
    path = workdir / "pillar.sls"
    path.write_text(text)
    os.chmod(path, 0o600)
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = snapshot(path)
    with pytest.raises(P.PillarError) as err:
        P.set_value(str(path), keys, True)
    assert message in str(err.value)
    assert "nothing was changed" in str(err.value)
    assert snapshot(path) == before
    assert no_temp_files(workdir)


def test_failed_write_leaves_file_and_no_temp(workdir, monkeypatch):
    path = workdir / "soc_soc.sls"
    path.write_text(COMMENTED)
    before = snapshot(path)

    def boom(src, dst):
        raise OSError("disk full")

    import salt.utils.atomicfile  # pylint: disable=import-outside-toplevel

    monkeypatch.setattr(salt.utils.atomicfile, "atomic_rename", boom)
    with pytest.raises(OSError, match="disk full"):
        P.set_value(str(path), SOC_KEYS, True)
    assert snapshot(path) == before
    assert no_temp_files(workdir)


def test_read_value(workdir):
    path = workdir / "soc_soc.sls"
    path.write_text(COMMENTED)
    assert read_value(str(path), SOC_KEYS) is False
    assert read_value(str(path), ("soc", "missing")) is None
    assert read_value(str(path), ("soc", "other_setting", "deeper")) is None
    assert read_value(str(workdir / "absent.sls"), SOC_KEYS) is None


# --------------------------------------------------------------------------
# styles the file already has (known gaps)

STYLE_CASES = {
    # PyYAML / so-yaml / Salt style: list items at the key's indentation
    "indentless-lists": "soc:\n  telemetryEnabled: true\n  servers:\n  - a.example\n  - b.example\n",
    "four-space-indent": "soc:\n    telemetryEnabled: true\n    nested:\n        deep: 1\n",
    "document-start": "---\nsoc:\n  telemetryEnabled: true\n",
    "comment-only-file": "# SOC settings: managed from the Configuration screen\n",
}


@pytest.mark.parametrize("case", list(STYLE_CASES))
def test_other_styles_change_only_the_value(workdir, case):
    text = STYLE_CASES[case]
    path = workdir / "soc_soc.sls"
    path.write_text(text)
    P.set_value(str(path), SOC_KEYS, False)
    after = path.read_text()
    if case == "comment-only-file":
        assert after.startswith(text) and read_value(str(path), SOC_KEYS) is False
    else:
        assert after == text.replace("telemetryEnabled: true", "telemetryEnabled: false")
