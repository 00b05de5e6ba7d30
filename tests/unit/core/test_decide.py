"""The decision (``so_telemetry_core.decide``): airgap, role and both channels over the full table of
pillar and grain values; a grain can only ever turn telemetry off."""

import itertools

import pytest
import so_telemetry_core as core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.conftest import BASE_GRAINS, HOSTNAME, IDENTITY_GRAINS
from tests.unit.core.helpers import (
    ABSENT,
    DEFAULT_QUERY,
    QUERY_FIELDS,
    set_grains,
    set_pillar,
)


# --------------------------------------------------------------------------
# 1. the full table: every row (2 x 2 x 6 x 3 x 4 = 288) in one loop

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


def test_table(ctx, grains, pillar):
    rows = list(itertools.product([True, False], [True, False], AIRGAP_GRAINS, AIRGAP_PILLARS, ROLES))
    for soc_pillar, patch_pillar, ag_grain, ag_pillar, role in rows:
        where = (f"soc-{'on' if soc_pillar else 'off'}, patch-{'on' if patch_pillar else 'off'}, {ag_grain[0]}, "
                 f"{ag_pillar[0]}, {'role-absent' if role is ABSENT else role}")
        try:
            _check_row(ctx, grains, pillar, soc_pillar, patch_pillar, ag_grain, ag_pillar, role)
        except AssertionError as exc:
            raise AssertionError(f"row {where}: {exc}") from exc
    assert len(rows) == 288


def _check_row(ctx, grains, pillar, soc_pillar, patch_pillar, ag_grain, ag_pillar, role):
    _, grain_value, grain_on, grain_bad = ag_grain
    _, pillar_value, pillar_on, pillar_bad = ag_pillar
    set_grains(grains, airgap=grain_value, role=role)
    set_pillar(pillar, soc=soc_pillar, patch=patch_pillar, airgap=pillar_value)

    state = core.decide.settings(ctx())
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
    query = core.query.params(ctx())
    if osu["telemetry"]:
        assert query == DEFAULT_QUERY
        assert set(query) <= QUERY_FIELDS
    else:
        assert query == {}
        assert core.query.string(ctx()) == ""


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
# (soc, patch, global:airgap) at the edges, each over the whole grain space
# (6 x 16 x 21 = 2,016 grain sets): every switch on (a grain may only turn a
# channel off), every switch off (none may turn one on), the pillar airgapped
# or malformed (none may undo it). Each channel is decided from its own switch
# and the airgap; the other eight configurations mix the edges per channel:
# test_grains_only_turn_telemetry_off_any_pillar draws from all twelve.
EDGE_CONFIGS = [(True, True, False), (False, False, False), (True, True, True), (True, True, "sometimes")]


def _channels(ctx):
    state = core.decide.settings(ctx())
    return {
        "soc": state["soc"]["enabled"],
        "os_updates": state["os_updates"]["enabled"],
        "telemetry": state["os_updates"]["telemetry"],
        "query": bool(core.query.params(ctx())),
    }


def _with_grains(ctx, grains, role, hostile=None, airgap=ABSENT):
    grains.clear()
    grains.update(BASE_GRAINS)
    grains.update(hostile or {})
    set_grains(grains, role=role, airgap=airgap)
    return _channels(ctx)


def _check_grains(got, base, sensor, config, where):
    """``got``: the channels under hostile grains; ``base``: under the same
    role without an airgap grain; ``sensor``: a plain so-sensor's."""
    soc_pillar, patch_pillar, ag_pillar = config
    pillar_airgap_off = ag_pillar is False
    # a channel on => its pillar switch true and the pillar airgap false
    if got["soc"]:
        assert soc_pillar is True and pillar_airgap_off, where
    if got["os_updates"]:
        assert patch_pillar is True and pillar_airgap_off, where
    if got["telemetry"] or got["query"]:
        assert patch_pillar is True and pillar_airgap_off and got["os_updates"], where
    # relative to the baseline, no grain turns anything from off to on
    # (the role grain legitimately decides manager-like, i.e. whether the
    # query is carried at all)
    for chan in ("soc", "os_updates", "telemetry", "query"):
        assert not (got[chan] and not base[chan]), f"{chan} turned on by {where}"
    # and the channels never depend on the role at all
    assert got["soc"] <= sensor["soc"], where
    assert got["os_updates"] <= sensor["os_updates"], where


@pytest.mark.parametrize("soc_pillar,patch_pillar,ag_pillar", EDGE_CONFIGS,
                         ids=[f"soc-{a}-patch-{b}-airgap-{c}" for a, b, c in EDGE_CONFIGS])
def test_grains_only_turn_telemetry_off(ctx, grains, pillar, soc_pillar, patch_pillar, ag_pillar):
    config = (soc_pillar, patch_pillar, ag_pillar)
    set_pillar(pillar, soc=soc_pillar, patch=patch_pillar, airgap=ag_pillar)
    baselines = {repr(role): _with_grains(ctx, grains, role) for role in GRAIN_ROLE_SPACE}
    checked = 0
    for hostile, role, airgap in itertools.product(HOSTILE_GRAINS, GRAIN_ROLE_SPACE, GRAIN_AIRGAP_SPACE):
        got = _with_grains(ctx, grains, role, hostile, airgap)
        _check_grains(got, baselines[repr(role)], baselines[repr("so-sensor")], config, f"grains={grains!r}")
        checked += 1
    assert checked == len(HOSTILE_GRAINS) * len(GRAIN_ROLE_SPACE) * len(GRAIN_AIRGAP_SPACE) == 2016


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=st.sampled_from(PILLAR_CONFIGS), hostile=st.sampled_from(HOSTILE_GRAINS),
       role=st.sampled_from(GRAIN_ROLE_SPACE), airgap=st.sampled_from(GRAIN_AIRGAP_SPACE))
def test_grains_only_turn_telemetry_off_any_pillar(ctx, grains, pillar, config, hostile, role, airgap):
    set_pillar(pillar, soc=config[0], patch=config[1], airgap=config[2])
    base = _with_grains(ctx, grains, role)
    sensor = _with_grains(ctx, grains, "so-sensor")
    got = _with_grains(ctx, grains, role, hostile, airgap)
    _check_grains(got, base, sensor, config, f"pillar={pillar!r} grains={grains!r}")


@pytest.mark.parametrize("grain,pillar_value,missing", [(True, "sometimes", "grain airgap"),
                                                      ("maybe", True, "global:airgap is true")], ids=repr)
def test_airgap_reason_names_every_source(ctx, grains, pillar, grain, pillar_value, missing):
    grains["airgap"] = grain
    pillar["global"] = {"airgap": pillar_value}
    state = core.decide.settings(ctx())
    assert state["airgap"]["enabled"] and state["airgap"]["malformed"]
    assert "malformed" in state["airgap"]["reason"]
    assert missing in state["airgap"]["reason"]
    assert missing in state["soc"]["reason"]


@pytest.mark.parametrize("value", [True, "maybe", 2, ["x"], None, "", 1.0, {}, "yes", " TRUE "],
                         ids=repr)
def test_airgap_grain_turns_everything_off(ctx, grains, pillar, value):
    set_pillar(pillar, soc=True, patch=True, airgap=False)
    grains["airgap"] = value
    state = core.decide.settings(ctx())
    assert state["airgap"]["enabled"] is True
    assert not state["soc"]["enabled"] and not state["os_updates"]["enabled"]
    assert core.query.params(ctx()) == {}


@pytest.mark.parametrize("value", [False, 0, "no", "off", "0", "False", " false "], ids=repr)
def test_airgap_grain_false_spellings(ctx, grains, pillar, value):
    grains["airgap"] = value
    state = core.decide.settings(ctx())
    assert state["airgap"]["enabled"] is False and state["airgap"]["malformed"] == []
    assert state["soc"]["enabled"] and state["os_updates"]["enabled"]
