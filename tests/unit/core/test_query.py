"""The OS Updates Telemetry query (``so_telemetry_core.query``): the allow-list never leaks, pillar values
that would inject or name the node are refused."""

import re
import urllib.parse

import pytest
import so_telemetry_core as core
from salt.exceptions import CommandExecutionError

from tests.unit.conftest import HOSTNAME, IDENTITY_GRAINS, IPV4
from tests.unit.core.helpers import (
    DEFAULT_QUERY,
    QUERY_FIELDS,
    assert_no_identity,
    parse_repo,
    repo_text,
)


# --------------------------------------------------------------------------
# 4. the allow-list never leaks

HOSTILE_OS_GRAINS = {
    "plain": ({}, "oracle9", "x86_64"),
    "os-is-hostname": ({"os": HOSTNAME}, "unknown", "x86_64"),
    "os-is-ip": ({"os": IPV4}, "unknown", "x86_64"),
    "os-injection": ({"os": "OEL\ngpgcheck=0"}, "unknown", "x86_64"),
    "os-list": ({"os": ["OEL"]}, "unknown", "x86_64"),
    "cpuarch-ip": ({"cpuarch": "10.0.0.1"}, "oracle9", "unknown"),
    "cpuarch-injection": ({"cpuarch": "x86_64\ngpgcheck=0"}, "oracle9", "unknown"),
    "cpuarch-hostname": ({"cpuarch": HOSTNAME}, "oracle9", "unknown"),
    "release-injection": ({"osmajorrelease": "9\ngpgcheck=0"}, "oracle", "x86_64"),
    "release-ip": ({"osmajorrelease": IPV4}, "oracle", "x86_64"),
    "release-hostname": ({"osmajorrelease": HOSTNAME}, "oracle", "x86_64"),
    "release-bool": ({"osmajorrelease": True}, "oracle", "x86_64"),
    "all-hostile": ({"os": HOSTNAME, "osmajorrelease": IPV4, "cpuarch": "x86_64\ngpgcheck=0"}, "unknown", "unknown"),
    "aarch64-rocky8": ({"os": "Rocky", "osmajorrelease": "8", "cpuarch": "aarch64"}, "rocky8", "aarch64"),
}


def _check_no_leak(ctx, expected=None):
    query = core.query.params(ctx())
    qstr = core.query.string(ctx())
    text = repo_text(ctx())
    assert set(query) <= QUERY_FIELDS
    if expected is not None:
        assert query == expected
    for key, val in query.items():
        assert isinstance(val, str) and val, key
        assert not any(c in val for c in "\r\n\t ") , f"{key}={val!r}"
        assert_no_identity(val)
    assert not any(c in qstr for c in "\r\n\t #") and qstr.count("?") == 0
    assert dict(urllib.parse.parse_qsl(qstr, keep_blank_values=True, strict_parsing=bool(qstr))) == query
    assert_no_identity(qstr)
    assert_no_identity(text)
    section = parse_repo(text)["securityonion"]
    assert section["gpgcheck"] == "1" and section["sslverify"] == "1"
    assert not re.search(r"^\s*gpgcheck\s*=\s*0", text, re.M)
    for url in section["baseurl"].split("\n"):
        assert url.startswith("https://") and " " not in url
        if qstr:
            assert url.endswith("?" + qstr)
    return query


@pytest.mark.parametrize("case", list(HOSTILE_OS_GRAINS))
def test_allow_list_never_leaks(ctx, grains, case):
    values, os_value, arch = HOSTILE_OS_GRAINS[case]
    grains.update(IDENTITY_GRAINS)
    grains.update(values)
    query = _check_no_leak(ctx, {"version": "2.4.190", "os": os_value, "arch": arch})
    # the OS id itself is from the allow-list
    assert core.query.os_id(ctx())["os"] in {"oracle", "rocky", "unknown"}
    assert query["os"].startswith(core.query.os_id(ctx())["os"])


def test_unknown_os_is_unknown(ctx, grains):
    grains.update(os="Slackware", osmajorrelease="notanumber")
    assert core.query.os_id(ctx()) == {"os": "unknown", "release": "unknown", "arch": "x86_64"}
    assert core.query.params(ctx())["os"] == "unknown"


def test_release_with_trailing_newline_is_unknown(ctx, grains):
    grains.update(IDENTITY_GRAINS)
    grains["osmajorrelease"] = "9\n"
    _check_no_leak(ctx, {"version": "2.4.190", "os": "oracle", "arch": "x86_64"})


def test_optional_fields(ctx, pillar, grains):
    grains.update(IDENTITY_GRAINS)
    pillar["global"] = {"features": ["luks", "fips", "luks"], "license_id": "SO-ABC-123"}
    query = _check_no_leak(ctx)
    assert query == {**DEFAULT_QUERY, "features": "fips,luks", "license": "SO-ABC-123"}
    assert "features=fips%2Cluks" in core.query.string(ctx())


@pytest.mark.parametrize("glob", [{"features": []}, {"features": None}, {"features": ""},
                                  {"license_id": ""}, {"license_id": None}], ids=repr)
def test_empty_optional_fields_are_omitted(ctx, pillar, glob):
    pillar["global"] = glob
    assert core.query.params(ctx()) == DEFAULT_QUERY


INJECTIONS = [
    ("soversion", "2.4.190\ngpgcheck=0", "global:soversion"),
    ("soversion", "2.4.190&x=1", "global:soversion"),
    ("soversion", "2.4.190#", "global:soversion"),
    ("soversion", "[main]", "global:soversion"),
    ("soversion", "2.4.190 x", "global:soversion"),
    ("soversion", "2.4.190?a=b", "global:soversion"),
    ("soversion", 2.4, "global:soversion"),
    ("soversion", None, "global:soversion"),
    ("soversion", "", "global:soversion"),
    ("soversion", IPV4, "global:soversion"),
    ("soversion", HOSTNAME, "global:soversion"),
    ("license_id", "a=b", "global:license_id"),
    ("license_id", "abc\ngpgcheck=0", "global:license_id"),
    ("license_id", "abc&version=9", "global:license_id"),
    ("license_id", 12345, "global:license_id"),
    ("license_id", "sensor-zx9", "global:license_id"),
    ("features", ["fips", "x y"], "global:features"),
    ("features", ["fips", "a=b"], "global:features"),
    ("features", ["fips", "a,b"], "global:features"),
    ("features", ["fips\ngpgcheck=0"], "global:features"),
    ("features", "fips", "global:features"),
    ("features", ["sensor-zx9"], "global:features"),
    ("features", [1], "global:features"),
]


def _injection_id(value):
    return repr(value) if not isinstance(value, str) or ":" not in value else ""


@pytest.mark.parametrize("key,value,name", INJECTIONS, ids=_injection_id)
def test_pillar_injection_refused(ctx, grains, pillar, key, value, name):
    grains.update(IDENTITY_GRAINS)
    pillar["global"] = {key: value}
    with pytest.raises(CommandExecutionError) as err:
        core.query.params(ctx())
    assert name in str(err.value)
    with pytest.raises(CommandExecutionError, match=name):
        repo_text(ctx())


TRAILING_NEWLINE = [
    ("soversion", "2.4.190\n", "global:soversion"),
    ("license_id", "SO-ABC-123\n", "global:license_id"),
    ("features", ["fips\n"], "global:features"),
]


@pytest.mark.parametrize("key,value,name", TRAILING_NEWLINE, ids=["soversion", "license_id", "features"])
def test_pillar_trailing_newline_refused(ctx, pillar, key, value, name):
    pillar["global"] = {key: value}
    with pytest.raises(CommandExecutionError, match=name):
        core.query.params(ctx())


@pytest.mark.parametrize(
    "grain,value,pillar_key,pillar_value,name",
    [
        ("host", "2.4.191", "soversion", "2.4.191", "global:soversion"),
        ("id", "2.4.191", "soversion", "2.4.191", "global:soversion"),
        ("ipv4", ["2.4.191"], "soversion", "2.4.191", "global:soversion"),
        ("fqdn_ip4", "2.4.191", "soversion", "2.4.191", "global:soversion"),
        ("id", "lic-7.corp.example", "license_id", "lic-7", "global:license_id"),
        ("nodename", "fips", "features", ["luks", "fips"], "global:features"),
    ],
)
def test_value_naming_the_node_is_refused(ctx, grains, pillar, grain, value, pillar_key, pillar_value, name):
    grains[grain] = value
    pillar["global"] = {pillar_key: pillar_value}
    with pytest.raises(CommandExecutionError) as err:
        core.query.params(ctx())
    assert name in str(err.value) and "names this node" in str(err.value)


def test_injection_harmless_when_telemetry_off(ctx, pillar):
    """query_params() only validates what it sends; off means {} (report() still refuses, see below)."""
    pillar["global"] = {"soversion": "2.4.190\ngpgcheck=0"}
    pillar["patch"] = {"os": {"enabled": False}}
    assert core.query.params(ctx()) == {}
    with pytest.raises(CommandExecutionError, match="global:soversion"):
        core.report.report(ctx())
