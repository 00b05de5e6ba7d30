"""One pillar truth: what ``so-telemetry`` shows and decides from is the
pillar Salt compiles (its renderers, YAML 1.1 booleans, Jinja, the real top
file), never a reader of its own. For a table of local pillars shaped like
Security Onion's (a Jinja pillar top, ``yes``/``off`` booleans, a Jinja
file, the ``so_telemetry`` pillar), ``config search --json``, ``status
--json`` and the consent trail's path equal what the real ``salt-call``
gives, and an edit Salt does not read is undone and refused."""

import json

import pytest
import yaml

from tests.saltcompat import UNMASK

# A pillar top as Security Onion writes its own: Jinja, a file only listed when it exists.
TOP = """\
base:
  '*':
    - ignore_missing: True
    - global.soc_global
    - soc.soc_soc
    - patch.soc_patch
    - manager.soc_manager
    {%- if salt['file.file_exists']('@@PILLAR@@/so_telemetry/soc_so_telemetry.sls') %}
    - so_telemetry.soc_so_telemetry
    {%- endif %}
    {%- if salt['file.file_exists']('@@PILLAR@@/soc/override.sls') %}
    - soc.override
    {%- endif %}
    - patch.custom
"""

CASES = {
    "yaml-1.1-booleans": {
        "soc/soc_soc.sls": "soc:\n  telemetryEnabled: yes\n",
        "patch/soc_patch.sls": "patch:\n  os:\n    enabled: off\n",
        "global/soc_global.sls": "global:\n  airgap: no\n",
    },
    "jinja-files": {  # not soc_*: SOC's screen reads those as plain YAML (see the last test)
        "soc/soc_soc.sls": "soc:\n  telemetryEnabled: True\n",
        "patch/custom.sls": "{%- set days = ['Monday'] %}\npatch:\n  os:\n    enabled: true\n"
                               "    schedule_to_run: weekly\n    schedules:\n      weekly:\n        splay: 60\n"
                               "        schedule:\n{%- for d in days %}\n          {{ d }}: ['06:00']\n{%- endfor %}\n",
    },
    "so_telemetry-pillar": {
        "soc/soc_soc.sls": "soc:\n  telemetryEnabled: false\n",
        "so_telemetry/soc_so_telemetry.sls": "so_telemetry:\n  consent:\n    path: /var/log/elsewhere/consent.jsonl\n",
    },
}


def setup_pillar(sandbox, files):
    (sandbox.pillar_dir / "top.sls").write_text(TOP.replace("@@PILLAR@@", str(sandbox.pillar_dir)))
    for rel, text in files.items():
        path = sandbox.pillar_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def lookup(data, key):
    for part in key.split(":"):
        if not isinstance(data, dict) or part not in data:
            return ""
        data = data[part]
    return data


def pillar_get(sandbox, key):
    return sandbox.salt_call("pillar.get", key, *UNMASK)


@pytest.mark.parametrize("case", list(CASES))
def test_the_cli_reads_what_salt_reads(sandbox, case):
    setup_pillar(sandbox, CASES[case])
    pillar = sandbox.salt_call("pillar.items", "unmask=True")
    keys = ("soc:telemetryEnabled", "patch:os:enabled", "global:airgap", "patch:os:schedule_to_run")
    salt = {key: lookup(pillar, key) for key in keys}
    paths = sandbox.salt_call("telemetry.paths")
    for term, key in (("SOC Telemetry", "soc:telemetryEnabled"), ("telemetryEnabled", "soc:telemetryEnabled")):
        proc = sandbox.cli("config", "search", term, "--json", "--advanced")
        hits = {h["id"]: h for h in json.loads(proc.stdout)["settings"]}
        hit = hits[key.replace(":", ".")]
        if salt[key] == "":
            assert hit["salt"]["set"] is False
        else:
            assert hit["salt"]["value"] == salt[key] and type(hit["salt"]["value"]) is type(salt[key])
            assert hit["salt"]["source"].endswith("soc/soc_soc.sls")
    status = json.loads(sandbox.cli("status", "--json").stdout)
    soc_on = salt["soc:telemetryEnabled"] in (True, "")  # "" = not set: the default, on
    assert status["soc"]["enabled"] is soc_on
    assert status["os_updates"]["enabled"] is (salt["patch:os:enabled"] in (True, ""))
    history = json.loads(sandbox.cli("history", "--json").stdout)
    assert history["path"] == paths["consent"]
    if case == "so_telemetry-pillar":
        assert paths["consent"] == str(sandbox.root) + "/var/log/elsewhere/consent.jsonl"


def test_a_yaml_1_1_boolean_is_a_boolean_for_the_cli_too(sandbox):
    setup_pillar(sandbox, CASES["yaml-1.1-booleans"])
    sandbox.salt_call("state.apply", "so_telemetry.consent")  # the trail's starting state
    proc = sandbox.cli("disable", "soc")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "soc:telemetryEnabled: true -> false" in proc.stdout and "recorded soc: on -> off" in proc.stdout
    assert pillar_get(sandbox, "soc:telemetryEnabled") is False
    # the screen reads YAML as SOC does: "yes" stayed a string there; Salt read true
    text = (sandbox.pillar_dir / "soc" / "soc_soc.sls").read_text()
    assert yaml.safe_load(text) == {"soc": {"telemetryEnabled": False}}


def test_an_edit_salt_does_not_read_is_undone(sandbox):
    setup_pillar(sandbox, {"soc/soc_soc.sls": "soc:\n  telemetryEnabled: true\n",
                           "soc/override.sls": "soc:\n  telemetryEnabled: true  # the admin's\n"})
    before = (sandbox.pillar_dir / "soc" / "soc_soc.sls").read_bytes()
    proc = sandbox.cli("disable", "soc")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "override.sls, which Salt reads after" in proc.stderr and "nothing changed" in proc.stderr
    assert (sandbox.pillar_dir / "soc" / "soc_soc.sls").read_bytes() == before
    assert pillar_get(sandbox, "soc:telemetryEnabled") is True


def test_a_jinja_file_where_soc_reads_plain_yaml_is_named(sandbox):
    setup_pillar(sandbox, {"soc/soc_soc.sls": "{% set on = True %}\nsoc:\n  telemetryEnabled: {{ on }}\n"})
    assert pillar_get(sandbox, "soc:telemetryEnabled") is True  # Salt renders it
    proc = sandbox.cli("config", "search", "SOC Telemetry")
    assert proc.returncode == 2
    assert "the Configuration screen would fail" in proc.stderr and "soc/soc_soc.sls" in proc.stderr
