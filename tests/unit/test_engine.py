"""The settings engine (``_modules/telemetry.py``) as pure functions.

Every loader dunder is injected by pytest-salt-factories'
``configure_loader_modules``; a test changes grains, pillar or opts by
mutating the fixture dicts in place.
"""

import configparser
import itertools
import json
import re
import urllib.parse

import pytest
from salt.exceptions import CommandExecutionError

from .conftest import BASE_GRAINS, HOSTNAME, IDENTITY_GRAINS, IDENTITY_STRINGS, IPV4

QUERY_FIELDS = {"version", "os", "arch", "features", "license"}
DEFAULT_QUERY = {"version": "2.4.190", "os": "oracle9", "arch": "x86_64"}
UPSTREAM_HOSTS = ["repo.securityonion.net", "repo-alt.securityonion.net"]
MANAGER_LIKE = {"so-manager", "so-managersearch", "so-standalone", "so-eval", "so-import"}
ABSENT = object()


@pytest.fixture
def configure_loader_modules(engine, grains, pillar, opts, context):
    return {
        engine: {
            "__grains__": grains,
            "__pillar__": pillar,
            "__opts__": opts,
            "__context__": context,
            "__salt__": {},
        }
    }


@pytest.fixture
def telemetry(engine):
    """The engine, with its dunders patched for this test."""
    return engine


def set_pillar(pillar, soc=None, patch=None, airgap=ABSENT, **glob):
    """Fill the pillar dict (in place) the way pillar SLS files would."""
    pillar.clear()
    if soc is not None:
        pillar["soc"] = {"telemetryEnabled": soc}
    if patch is not None:
        pillar["patch"] = {"os": {"enabled": patch}}
    if airgap is not ABSENT:
        glob["airgap"] = airgap
    if glob:
        pillar["global"] = glob


def set_grains(grains, **values):
    """Set grains in place; a value of ABSENT removes the grain."""
    for key, val in values.items():
        if val is ABSENT:
            grains.pop(key, None)
        else:
            grains[key] = val


def parse_repo(text):
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    return parser


def assert_no_identity(text):
    low = text.lower()
    for token in IDENTITY_STRINGS:
        assert token.lower() not in low, f"{token!r} leaked into {text!r}"


# --------------------------------------------------------------------------
# 1. the full table

# airgap grain: (id, value, airgapped, malformed)
AIRGAP_GRAINS = [
    ("grain-true", True, True, False),
    ("grain-false", False, False, False),
    ("grain-absent", ABSENT, False, False),
    ("grain-maybe", "maybe", True, True),
    ("grain-2", 2, True, True),
    ("grain-list", ["x"], True, True),
]
AIRGAP_PILLARS = [
    ("pillar-true", True, True, False),
    ("pillar-false", False, False, False),
    ("pillar-sometimes", "sometimes", True, True),
]
ROLES = ["so-manager", "so-standalone", "so-sensor", ABSENT]


@pytest.mark.parametrize("role", ROLES, ids=lambda r: "role-absent" if r is ABSENT else r)
@pytest.mark.parametrize("ag_pillar", AIRGAP_PILLARS, ids=lambda c: c[0])
@pytest.mark.parametrize("ag_grain", AIRGAP_GRAINS, ids=lambda c: c[0])
@pytest.mark.parametrize("patch_pillar", [True, False], ids=["patch-on", "patch-off"])
@pytest.mark.parametrize("soc_pillar", [True, False], ids=["soc-on", "soc-off"])
def test_table(telemetry, grains, pillar, soc_pillar, patch_pillar, ag_grain, ag_pillar, role):
    _, grain_value, grain_on, grain_bad = ag_grain
    _, pillar_value, pillar_on, pillar_bad = ag_pillar
    set_grains(grains, airgap=grain_value, role=role)
    set_pillar(pillar, soc=soc_pillar, patch=patch_pillar, airgap=pillar_value)

    state = telemetry.settings()
    airgapped = grain_on or pillar_on
    manager_like = role in ("so-manager", "so-standalone")

    # airgap and its reason
    assert state["airgap"]["enabled"] is airgapped
    assert state["manager_like"] is manager_like
    assert set(state["airgap"]["sources"]) == {s for s, on in (("grain", grain_on), ("pillar", pillar_on)) if on}
    assert bool(state["airgap"]["malformed"]) is (grain_bad or pillar_bad)
    ag_reason = state["airgap"]["reason"]
    assert isinstance(ag_reason, str) and ag_reason
    assert "airgap" in ag_reason
    if grain_bad or pillar_bad:
        assert "malformed" in ag_reason
    if grain_bad:
        assert repr(grain_value) in ag_reason and "grain airgap" in ag_reason
    if pillar_bad:
        assert repr(pillar_value) in ag_reason and "global:airgap" in ag_reason
    # (a valid source beside a malformed one: see test_airgap_reason_names_every_source)
    if grain_on and not grain_bad and not pillar_bad:
        assert "grain airgap" in ag_reason
    if pillar_on and not pillar_bad and not grain_bad:
        assert "global:airgap" in ag_reason

    # the channels
    soc, osu = state["soc"], state["os_updates"]
    assert soc["enabled"] is (soc_pillar and not airgapped)
    assert osu["enabled"] is (patch_pillar and not airgapped)
    assert osu["telemetry"] is (osu["enabled"] and manager_like)
    assert soc["pillar"] is soc_pillar and osu["pillar"] is patch_pillar
    for chan, key, pillar_on_ in ((soc, "soc:telemetryEnabled", soc_pillar), (osu, "patch:os:enabled", patch_pillar)):
        reason = chan["reason"]
        assert isinstance(reason, str) and reason
        if airgapped:
            assert "airgap" in reason
            if grain_bad or pillar_bad:
                assert "malformed" in reason
        else:
            assert key in reason
            assert ("true" if pillar_on_ else "false") in reason
    tel_reason = osu["telemetry_reason"]
    assert isinstance(tel_reason, str) and tel_reason
    if airgapped:
        assert "airgap" in tel_reason
    elif not patch_pillar:
        assert "patch:os:enabled" in tel_reason
    else:
        assert ("manager-like" in tel_reason) if manager_like else ("node" in tel_reason)

    # the query
    query = telemetry.query_params()
    if osu["telemetry"]:
        assert query == DEFAULT_QUERY
        assert set(query) <= QUERY_FIELDS
    else:
        assert query == {}
        assert telemetry.query_string() == ""


# --------------------------------------------------------------------------
# 2. a grain can only ever turn telemetry off

GRAIN_AIRGAP_SPACE = [ABSENT, True, False, "maybe", 2, ["x"], None, "", "yes", "no", "TRUE", " false ",
                      0, 1, -1, 0.0, 1.0, {}, {"enabled": False}, "false\n", b"false"]
GRAIN_ROLE_SPACE = ["so-manager", "so-managersearch", "so-standalone", "so-eval", "so-import", "so-sensor",
                    "so-searchnode", "so-heavynode", ABSENT, None, "", "SO-MANAGER", "so-manager ",
                    ["so-manager"], {"so-manager": True}, 1]
HOSTILE_GRAINS = [
    {},
    dict(IDENTITY_GRAINS),
    # grains that look like the pillar keys must be ignored
    {"soc": {"telemetryEnabled": True}, "patch": {"os": {"enabled": True}},
     "global": {"airgap": False, "soversion": "9.9.9"}, "telemetryEnabled": True, "telemetry": True},
    {"os": HOSTNAME, "osmajorrelease": "9\ngpgcheck=0", "cpuarch": "10.0.0.1"},
    {"os": ["OEL"], "osmajorrelease": None, "cpuarch": {"x86_64": 1}},
    {"os": "OEL", "osmajorrelease": True, "cpuarch": "x86_64\ngpgcheck=0"},
]
PILLAR_CONFIGS = list(itertools.product([True, False], [True, False], [True, False, "sometimes"]))


def _channels(telemetry):
    state = telemetry.settings()
    return {
        "soc": state["soc"]["enabled"],
        "os_updates": state["os_updates"]["enabled"],
        "telemetry": state["os_updates"]["telemetry"],
        "query": bool(telemetry.query_params()),
    }


@pytest.mark.parametrize("soc_pillar,patch_pillar,ag_pillar", PILLAR_CONFIGS,
                         ids=[f"soc-{a}-patch-{b}-airgap-{c}" for a, b, c in PILLAR_CONFIGS])
def test_grains_only_turn_telemetry_off(telemetry, grains, pillar, soc_pillar, patch_pillar, ag_pillar):
    set_pillar(pillar, soc=soc_pillar, patch=patch_pillar, airgap=ag_pillar)
    pillar_airgap_off = ag_pillar is False

    # baseline: the airgap grain absent, per role (the role grain legitimately
    # decides manager-like, i.e. whether the query is carried at all)
    baselines = {}
    for role in GRAIN_ROLE_SPACE:
        grains.clear()
        grains.update(BASE_GRAINS)
        set_grains(grains, role=role)
        baselines[repr(role)] = _channels(telemetry)

    checked = 0
    for hostile, role, airgap in itertools.product(HOSTILE_GRAINS, GRAIN_ROLE_SPACE, GRAIN_AIRGAP_SPACE):
        grains.clear()
        grains.update(BASE_GRAINS)
        grains.update(hostile)
        set_grains(grains, role=role, airgap=airgap)
        got = _channels(telemetry)
        base = baselines[repr(role)]
        where = f"grains={grains!r}"
        # a channel on => its pillar switch true and the pillar airgap false
        if got["soc"]:
            assert soc_pillar is True and pillar_airgap_off, where
        if got["os_updates"]:
            assert patch_pillar is True and pillar_airgap_off, where
        if got["telemetry"] or got["query"]:
            assert patch_pillar is True and pillar_airgap_off and got["os_updates"], where
        # relative to the baseline, no grain turns anything from off to on
        for chan in ("soc", "os_updates", "telemetry", "query"):
            assert not (got[chan] and not base[chan]), f"{chan} turned on by {where}"
        # and the channels never depend on the role at all
        assert got["soc"] <= baselines[repr("so-sensor")]["soc"], where
        assert got["os_updates"] <= baselines[repr("so-sensor")]["os_updates"], where
        checked += 1
    assert checked == len(HOSTILE_GRAINS) * len(GRAIN_ROLE_SPACE) * len(GRAIN_AIRGAP_SPACE)


@pytest.mark.parametrize("grain,pillar_value,missing", [(True, "sometimes", "grain airgap"),
                                                      ("maybe", True, "global:airgap is true")], ids=repr)
def test_airgap_reason_names_every_source(telemetry, grains, pillar, grain, pillar_value, missing):
    grains["airgap"] = grain
    pillar["global"] = {"airgap": pillar_value}
    state = telemetry.settings()
    assert state["airgap"]["enabled"] and state["airgap"]["malformed"]
    assert "malformed" in state["airgap"]["reason"]
    assert missing in state["airgap"]["reason"]
    assert missing in state["soc"]["reason"]


@pytest.mark.parametrize("value", [True, "maybe", 2, ["x"], None, "", 1.0, {}, "yes", " TRUE "],
                         ids=repr)
def test_airgap_grain_turns_everything_off(telemetry, grains, pillar, value):
    set_pillar(pillar, soc=True, patch=True, airgap=False)
    grains["airgap"] = value
    state = telemetry.settings()
    assert state["airgap"]["enabled"] is True
    assert not state["soc"]["enabled"] and not state["os_updates"]["enabled"]
    assert telemetry.query_params() == {}


@pytest.mark.parametrize("value", [False, 0, "no", "off", "0", "False", " false "], ids=repr)
def test_airgap_grain_false_spellings(telemetry, grains, pillar, value):
    grains["airgap"] = value
    state = telemetry.settings()
    assert state["airgap"]["enabled"] is False and state["airgap"]["malformed"] == []
    assert state["soc"]["enabled"] and state["os_updates"]["enabled"]


# --------------------------------------------------------------------------
# 3. validation

BAD_BOOLS = ["maybe", 2, [], "true", None, "false", 0, 1, {}]


@pytest.mark.parametrize("value", BAD_BOOLS, ids=repr)
def test_soc_switch_must_be_bool(telemetry, pillar, value):
    pillar["soc"] = {"telemetryEnabled": value}
    with pytest.raises(CommandExecutionError) as err:
        telemetry.settings()
    assert "soc:telemetryEnabled" in str(err.value)
    assert repr(value) in str(err.value)


@pytest.mark.parametrize("value", BAD_BOOLS, ids=repr)
def test_patch_switch_must_be_bool(telemetry, pillar, value):
    pillar["patch"] = {"os": {"enabled": value}}
    with pytest.raises(CommandExecutionError) as err:
        telemetry.settings()
    assert "patch:os:enabled" in str(err.value)
    assert repr(value) in str(err.value)


@pytest.mark.parametrize("airgapped", [False, True])
@pytest.mark.parametrize("value", ["maybe", "true", None], ids=repr)
def test_bad_switch_is_an_error_even_when_airgapped(telemetry, pillar, value, airgapped):
    """A wrong type is reported, never silently ignored or coerced."""
    pillar["soc"] = {"telemetryEnabled": value}
    pillar["global"] = {"airgap": airgapped}
    with pytest.raises(CommandExecutionError, match="soc:telemetryEnabled"):
        telemetry.settings()


@pytest.mark.parametrize("name", ["nope", "Auto", "", 5, None, ["auto"]], ids=repr)
def test_unknown_schedule(telemetry, pillar, name):
    pillar["patch"] = {"os": {"schedule_to_run": name}}
    with pytest.raises(CommandExecutionError) as err:
        telemetry.settings()
    assert "patch:os:schedule_to_run" in str(err.value)
    assert repr(name) in str(err.value)


@pytest.mark.parametrize("name", ["daily", "monday", "weekends", "custom"])
def test_known_schedule(telemetry, pillar, name):
    pillar["patch"] = {"os": {"schedule_to_run": name, "schedules": {"custom": {"hours": 2}}}}
    assert telemetry.settings()["os_updates"]["enabled"] is True


@pytest.mark.parametrize(
    "mirrors,index",
    [
        (["http://repo.securityonion.net/x/"], 0),
        (["ftp://repo.securityonion.net/x/"], 0),
        (["repo.securityonion.net/x/"], 0),
        (["https://repo.securityonion.net/x/", "http://repo-alt.securityonion.net/x/"], 1),
        (["https://repo.securityonion.net/x/?a=b"], 0),
        (["https://repo.securityonion.net/x/#frag"], 0),
        (["https://repo.securityonion.net/x/\ngpgcheck=0"], 0),
        (["https:///x/"], 0),
        ([5], 0),
    ],
    ids=repr,
)
def test_upstream_mirror_must_be_https(telemetry, pillar, mirrors, index):
    pillar["repo"] = {"upstream": {"mirrors": mirrors}}
    with pytest.raises(CommandExecutionError) as err:
        telemetry.repo_definition()
    assert f"repo:upstream:mirrors:{index}" in str(err.value)


@pytest.mark.parametrize("mirrors", [[], "https://repo.securityonion.net/x/", None], ids=repr)
def test_upstream_mirrors_must_be_a_list(telemetry, pillar, mirrors):
    pillar["repo"] = {"upstream": {"mirrors": mirrors}}
    with pytest.raises(CommandExecutionError, match="repo:upstream:mirrors"):
        telemetry.repo_definition()


@pytest.mark.parametrize("template", ["https://repo.example/{arch}/", "https://repo.example/{0}/"])
def test_mirror_template_unknown_placeholder(telemetry, pillar, template):
    pillar["repo"] = {"upstream": {"mirrors": [template]}}
    with pytest.raises(CommandExecutionError, match="repo:upstream:mirrors:0"):
        telemetry.repo_definition()


@pytest.mark.parametrize("comp", ["soc", "global", "patch", "repo"])
@pytest.mark.parametrize("value", ["x", ["a"], 5, True], ids=repr)
def test_component_pillar_must_be_a_mapping(telemetry, pillar, comp, value):
    pillar[comp] = value
    for func in (lambda: telemetry.config(comp), telemetry.settings if comp != "repo" else telemetry.repo_definition):
        with pytest.raises(CommandExecutionError) as err:
            func()
        assert f"'{comp}'" in str(err.value)
        assert repr(value) in str(err.value)


@pytest.mark.parametrize(
    "broken,pil",
    [("soc", {"soc": "x"}), ("soc", {"soc": {"telemetryEnabled": "maybe"}}),
     ("os_updates", {"patch": {"os": {"enabled": "maybe"}}}),
     ("os_updates", {"patch": {"os": {"schedule_to_run": "nope"}}})],
    ids=repr,
)
def test_a_broken_channel_does_not_hold_up_the_other(telemetry, pillar, broken, pil):
    """settings(channel) only requires that channel's keys to be valid; the
    broken one shows as off, with the error as its reason."""
    pillar.update(pil)
    other = "os_updates" if broken == "soc" else "soc"
    with pytest.raises(CommandExecutionError):
        telemetry.settings()
    with pytest.raises(CommandExecutionError):
        telemetry.settings(broken)
    state = telemetry.settings(other)
    assert state[other]["enabled"] is True
    assert state[broken]["enabled"] is False and "invalid pillar" in state[broken]["reason"]
    if broken == "soc":
        assert telemetry.query_params() == DEFAULT_QUERY
        assert "?" in telemetry.repo_file()
        with pytest.raises(CommandExecutionError):
            telemetry.soc_files()
    else:
        assert telemetry.soc_files()[ANALYTICS] != ""
        with pytest.raises(CommandExecutionError):
            telemetry.repo_file()


def test_unknown_channel(telemetry):
    with pytest.raises(CommandExecutionError, match="unknown channel"):
        telemetry.settings("nope")


def test_empty_component_pillar_means_defaults(telemetry, pillar):
    pillar.update({"soc": None, "global": None, "patch": None})
    assert telemetry.settings()["soc"]["enabled"] is True


def test_unknown_component(telemetry):
    with pytest.raises(CommandExecutionError, match="unknown component"):
        telemetry.config("nope")


def test_defaults_read_beside_the_checkout(telemetry, context):
    """With no cp module and an empty context, defaults come from salt/<comp>/defaults.yaml."""
    context.clear()
    conf = telemetry.configs()
    assert set(conf) == set(telemetry.COMPONENTS)
    assert conf["soc"]["telemetryEnabled"] is True
    assert conf["patch"]["os"]["enabled"] is True
    assert conf["global"]["airgap"] is False


def test_pillar_merges_over_defaults(telemetry, pillar):
    pillar["soc"] = {"analytics": {"container_id": "GTM-ABCD123"}}
    conf = telemetry.config("soc")
    assert conf["analytics"]["container_id"] == "GTM-ABCD123"
    assert conf["analytics"]["url"] == "https://www.googletagmanager.com/gtm.js"
    assert conf["telemetryEnabled"] is True


def test_config_does_not_mutate_pillar(telemetry, pillar):
    pillar["soc"] = {"config": {"server": {"client": {"telemetryEnabled": True}}}}
    pillar["global"] = {"airgap": True}
    before = json.dumps(pillar, sort_keys=True)
    telemetry.soc_files()
    telemetry.report()
    assert json.dumps(pillar, sort_keys=True) == before


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


def _check_no_leak(telemetry, expected=None):
    query = telemetry.query_params()
    qstr = telemetry.query_string()
    text = telemetry.repo_file()
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
def test_allow_list_never_leaks(telemetry, grains, case):
    values, os_value, arch = HOSTILE_OS_GRAINS[case]
    grains.update(IDENTITY_GRAINS)
    grains.update(values)
    query = _check_no_leak(telemetry, {"version": "2.4.190", "os": os_value, "arch": arch})
    # the OS id itself is from the allow-list
    assert telemetry.os_id()["os"] in {"oracle", "rocky", "unknown"}
    assert query["os"].startswith(telemetry.os_id()["os"])


def test_unknown_os_is_unknown(telemetry, grains):
    grains.update(os="Slackware", osmajorrelease="notanumber")
    assert telemetry.os_id() == {"os": "unknown", "release": "unknown", "arch": "x86_64"}
    assert telemetry.query_params()["os"] == "unknown"


def test_release_with_trailing_newline_is_unknown(telemetry, grains):
    grains.update(IDENTITY_GRAINS)
    grains["osmajorrelease"] = "9\n"
    _check_no_leak(telemetry, {"version": "2.4.190", "os": "oracle", "arch": "x86_64"})


def test_optional_fields(telemetry, pillar, grains):
    grains.update(IDENTITY_GRAINS)
    pillar["global"] = {"features": ["luks", "fips", "luks"], "license_id": "SO-ABC-123"}
    query = _check_no_leak(telemetry)
    assert query == {**DEFAULT_QUERY, "features": "fips,luks", "license": "SO-ABC-123"}
    assert "features=fips%2Cluks" in telemetry.query_string()


@pytest.mark.parametrize("glob", [{"features": []}, {"features": None}, {"features": ""},
                                  {"license_id": ""}, {"license_id": None}], ids=repr)
def test_empty_optional_fields_are_omitted(telemetry, pillar, glob):
    pillar["global"] = glob
    assert telemetry.query_params() == DEFAULT_QUERY


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
def test_pillar_injection_refused(telemetry, grains, pillar, key, value, name):
    grains.update(IDENTITY_GRAINS)
    pillar["global"] = {key: value}
    with pytest.raises(CommandExecutionError) as err:
        telemetry.query_params()
    assert name in str(err.value)
    with pytest.raises(CommandExecutionError, match=name):
        telemetry.repo_file()


TRAILING_NEWLINE = [
    ("soversion", "2.4.190\n", "global:soversion"),
    ("license_id", "SO-ABC-123\n", "global:license_id"),
    ("features", ["fips\n"], "global:features"),
]


@pytest.mark.parametrize("key,value,name", TRAILING_NEWLINE, ids=["soversion", "license_id", "features"])
def test_pillar_trailing_newline_refused(telemetry, pillar, key, value, name):
    pillar["global"] = {key: value}
    with pytest.raises(CommandExecutionError, match=name):
        telemetry.query_params()


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
def test_value_naming_the_node_is_refused(telemetry, grains, pillar, grain, value, pillar_key, pillar_value, name):
    grains[grain] = value
    pillar["global"] = {pillar_key: pillar_value}
    with pytest.raises(CommandExecutionError) as err:
        telemetry.query_params()
    assert name in str(err.value) and "names this node" in str(err.value)


def test_injection_harmless_when_telemetry_off(telemetry, pillar):
    """query_params() only validates what it sends; off means {} (report() still refuses, see below)."""
    pillar["global"] = {"soversion": "2.4.190\ngpgcheck=0"}
    pillar["patch"] = {"os": {"enabled": False}}
    assert telemetry.query_params() == {}
    with pytest.raises(CommandExecutionError, match="global:soversion"):
        telemetry.report()


# --------------------------------------------------------------------------
# 5. repo_file structure

REPO_CASES = {
    "manager-on": ({}, {}, "upstream-query"),
    "standalone-on": ({"role": "so-standalone"}, {}, "upstream-query"),
    "manager-updates-off": ({}, {"patch": {"os": {"enabled": False}}}, "upstream-plain"),
    "airgap-grain": ({"airgap": True}, {}, "airgap"),
    "airgap-pillar": ({}, {"global": {"airgap": True}}, "airgap"),
    "airgap-malformed-grain": ({"airgap": "maybe"}, {}, "airgap"),
    "airgap-node": ({"role": "so-sensor", "airgap": True}, {"global": {"manager": "manager.example.lan"}}, "airgap"),
    "node": ({"role": "so-sensor"}, {"global": {"manager": "manager.example.lan"}}, "node"),
    "node-updates-off": ({"role": "so-sensor"},
                         {"global": {"manager": "manager.example.lan"}, "patch": {"os": {"enabled": False}}}, "node"),
}


@pytest.mark.parametrize("case", list(REPO_CASES))
def test_repo_file(telemetry, grains, pillar, case):
    extra_grains, pil, mode = REPO_CASES[case]
    grains.update(IDENTITY_GRAINS)
    grains.update(extra_grains)
    pillar.update(pil)
    text = telemetry.repo_file()
    parser = parse_repo(text)
    assert parser.sections() == ["securityonion"]
    section = parser["securityonion"]
    assert section["gpgcheck"] == "1" and section["sslverify"] == "1" and section["enabled"] == "1"
    urls = section["baseurl"].split("\n")
    qstr = telemetry.query_string()
    definition = telemetry.repo_definition()
    assert definition["baseurls"] == urls and definition["path"] == "/etc/yum.repos.d/securityonion.repo"
    assert_no_identity(text)
    if mode.startswith("upstream"):
        assert definition["mode"] == "upstream"
        assert [urllib.parse.urlsplit(u).hostname for u in urls] == UPSTREAM_HOSTS
        assert all(u.startswith("https://") for u in urls)
        assert "/oracle/9/" in urls[0]
        assert section["gpgkey"].startswith("https://sigs.securityonion.net/")
        if mode == "upstream-query":
            assert qstr == "version=2.4.190&os=oracle9&arch=x86_64"
            assert all(u.endswith("?" + qstr) for u in urls)
            assert definition["query"] == telemetry.query_params() == DEFAULT_QUERY
        else:
            assert qstr == "" and "?" not in text and definition["query"] == {}
    elif mode == "airgap":
        assert definition["mode"] == "airgap"
        assert urls == ["file:///nsm/repo/"]
        assert section["gpgkey"].startswith("file:///")
        assert "http" not in text and "?" not in text
        assert qstr == ""
    else:
        assert definition["mode"] == "node"
        assert urls == ["https://manager.example.lan/repo/"]
        assert "securityonion.net" not in text and "?" not in text
        assert qstr == ""
    # the written text parses back to exactly the keys we set
    assert set(section) == {"name", "baseurl", "enabled", "gpgcheck", "repo_gpgcheck", "gpgkey",
                            "sslverify", "skip_if_unavailable"}


def test_node_falls_back_to_master_opt(telemetry, grains, opts):
    grains["role"] = "so-sensor"
    opts["master"] = "salt.example.lan"
    assert telemetry.repo_definition()["baseurls"] == ["https://salt.example.lan/repo/"]


@pytest.mark.parametrize("manager", ["", "manager.example.lan/evil", "a b", "manager\ngpgcheck=0",
                                     "http://manager", 5], ids=repr)
def test_node_needs_a_valid_manager(telemetry, grains, pillar, manager):
    grains["role"] = "so-sensor"
    pillar["global"] = {"manager": manager}
    with pytest.raises(CommandExecutionError, match="global:manager|repo:node:baseurl"):
        telemetry.repo_file()


def test_repo_root_prefix(telemetry, opts):
    opts["so_telemetry_root"] = "/tmp/sandbox/root/"
    assert telemetry.repo_definition()["path"] == "/tmp/sandbox/root/etc/yum.repos.d/securityonion.repo"


@pytest.mark.parametrize("key,value", [("id", "secur ity"), ("id", "a]\n[b"), ("description", "x\ngpgcheck=0"),
                                       ("description", "a=b"), ("description", "")], ids=repr)
def test_repo_id_and_description_cannot_break_the_file(telemetry, pillar, key, value):
    pillar["repo"] = {key: value}
    with pytest.raises(CommandExecutionError, match=f"repo:{key}"):
        telemetry.repo_file()


@pytest.mark.parametrize("key,value", [("airgap", {"baseurl": "https://evil.example/"}),
                                       ("airgap", {"gpgkey": "file:///k?x"})], ids=repr)
def test_airgap_urls_must_be_local(telemetry, grains, pillar, key, value):
    grains["airgap"] = True
    pillar["repo"] = {key: value}
    with pytest.raises(CommandExecutionError, match="repo:airgap"):
        telemetry.repo_file()


# --------------------------------------------------------------------------
# 6. SOC files

ANALYTICS = "/opt/so/conf/soc/analytics.js"
SOC_JSON = "/opt/so/conf/soc/soc.json"
SOC_CASES = {
    "on": ({}, {}, True),
    "on-node": ({"role": "so-sensor"}, {}, True),
    "off-pillar": ({}, {"soc": {"telemetryEnabled": False}}, False),
    "airgap-grain": ({"airgap": True}, {}, False),
    "airgap-pillar": ({}, {"global": {"airgap": True}}, False),
    "airgap-malformed-grain": ({"airgap": "maybe"}, {}, False),
    "airgap-malformed-pillar": ({}, {"global": {"airgap": "sometimes"}}, False),
}


@pytest.mark.parametrize("config_says", [None, True, False], ids=["config-silent", "config-true", "config-false"])
@pytest.mark.parametrize("case", list(SOC_CASES))
def test_soc_files(telemetry, grains, pillar, case, config_says):
    extra_grains, pil, enabled = SOC_CASES[case]
    grains.update(IDENTITY_GRAINS)
    grains.update(extra_grains)
    pillar.update(pil)
    if config_says is not None:
        pillar.setdefault("soc", {})["config"] = {
            "server": {"client": {"telemetryEnabled": config_says}, "extra": "kept"}
        }
    files = telemetry.soc_files()
    assert set(files) == {ANALYTICS, SOC_JSON}
    script = files[ANALYTICS]
    if enabled:
        assert "https://www.googletagmanager.com/gtm.js" in script
        assert "GTM-TM46SL7T" in script
    else:
        assert script == ""
    conf = json.loads(files[SOC_JSON])
    assert conf["server"]["client"]["telemetryEnabled"] is enabled
    # no soc.json on disk: the new file holds only the keys this library owns
    assert set(conf) == {"server"}
    assert set(conf["server"]["client"]) == {"telemetryEnabled"}
    if config_says is not None:
        assert conf["server"]["extra"] == "kept"
    for text in files.values():
        assert_no_identity(text)
    if not enabled:
        assert "googletagmanager" not in "".join(files.values())


@pytest.mark.parametrize("container", ["GTM-abc", "UA-1234", "GTM-ABCD\");alert(1);//", None], ids=repr)
def test_soc_container_validated(telemetry, pillar, container):
    pillar["soc"] = {"analytics": {"container_id": container}}
    with pytest.raises(CommandExecutionError, match="soc:analytics:container_id"):
        telemetry.soc_files()


def test_soc_container_trailing_newline(telemetry, pillar):
    pillar["soc"] = {"analytics": {"container_id": "GTM-ABCD1234\n"}}
    with pytest.raises(CommandExecutionError, match="soc:analytics:container_id"):
        telemetry.soc_files()


def test_soc_analytics_url_must_be_https(telemetry, pillar):
    pillar["soc"] = {"analytics": {"url": "http://www.googletagmanager.com/gtm.js"}}
    with pytest.raises(CommandExecutionError, match="soc:analytics:url"):
        telemetry.soc_files()


# --------------------------------------------------------------------------
# 7. report

REPORT_CASES = {
    "all-on": ({}, {}, True, True),
    "soc-off": ({}, {"soc": {"telemetryEnabled": False}}, False, True),
    "patch-off": ({}, {"patch": {"os": {"enabled": False}}}, True, False),
    "airgap-grain": ({"airgap": True}, {}, False, False),
    "airgap-pillar": ({}, {"global": {"airgap": True}}, False, False),
    "airgap-malformed": ({"airgap": ["x"]}, {}, False, False),
    "node": ({"role": "so-sensor"}, {"global": {"manager": "manager.example.lan"}}, True, False),
}


@pytest.mark.parametrize("case", list(REPORT_CASES))
def test_report(telemetry, grains, pillar, case):
    extra_grains, pil, soc_on, os_tel = REPORT_CASES[case]
    grains.update(IDENTITY_GRAINS)
    grains.update(extra_grains)
    pillar.update(pil)
    rep = telemetry.report()
    state = telemetry.settings()
    soc, osu = rep["soc"], rep["os_updates"]
    for chan in (soc, osu):
        assert {"enabled", "reason", "destinations"} <= set(chan)
        assert isinstance(chan["reason"], str) and chan["reason"]
        assert chan["tls"] is True
        assert "change" in chan and chan["change"]
        if not chan["enabled"]:
            assert chan["destinations"] == []
    assert soc["enabled"] is soc_on and soc["reason"] == state["soc"]["reason"]
    assert osu["enabled"] is state["os_updates"]["enabled"] and osu["reason"] == state["os_updates"]["reason"]
    assert osu["telemetry"] is os_tel
    assert "two months" in soc["retention"]
    assert osu["fields"] == telemetry.query_params()
    assert set(osu["fields"]) <= QUERY_FIELDS and set(osu["allow_list"]) == QUERY_FIELDS
    if soc_on:
        assert soc["destinations"] == ["www.googletagmanager.com"]
    if os_tel:
        assert osu["fields"] == DEFAULT_QUERY
        assert osu["destinations"] == sorted(UPSTREAM_HOSTS + ["sigs.securityonion.net"])
    else:
        assert osu["destinations"] == [] and osu["fields"] == {}
    assert rep["airgap"]["enabled"] is case.startswith("airgap")
    if case == "airgap-malformed":
        assert rep["airgap"]["malformed"] and "malformed" in rep["airgap"]["reason"]
    text = json.dumps(rep)  # serialisable, and names nothing of the node
    assert_no_identity(text)


# --------------------------------------------------------------------------
# small helpers of the engine


@pytest.mark.parametrize("mode,expected", [("0600", 0o600), ("644", 0o644), ("0640", 0o640), (400, 0o400)],
                         ids=repr)
def test_file_mode(telemetry, pillar, mode, expected):
    pillar["soc"] = {"file_mode": mode}
    assert telemetry.file_mode("soc") == expected


@pytest.mark.parametrize("text,expected", [("0600", 0o600), ("644", 0o644), ("0640", 0o640)])
def test_file_mode_unquoted_yaml(telemetry, pillar, text, expected):
    import salt.utils.yaml  # pylint: disable=import-outside-toplevel

    pillar["soc"] = {"file_mode": salt.utils.yaml.safe_load(f"m: {text}")["m"]}
    assert telemetry.file_mode("soc") == expected


@pytest.mark.parametrize("mode", ["0999", "rw-------", None, "06000", True], ids=repr)
def test_file_mode_invalid(telemetry, pillar, mode):
    pillar["soc"] = {"file_mode": mode}
    with pytest.raises(CommandExecutionError, match="soc:file_mode"):
        telemetry.file_mode("soc")


@pytest.mark.parametrize("bad", ["relative/path", "", None], ids=repr)
def test_path_must_be_absolute(telemetry, bad):
    with pytest.raises(CommandExecutionError):
        telemetry.path(bad)
