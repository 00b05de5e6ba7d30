"""so_telemetry_core.saltcompat: one call that works on every supported Salt line."""

import pytest

import salt.utils.minions

from so_telemetry_core import saltcompat


class _Recorder:
    calls = []

    def __init__(self, opts):
        self.opts = opts


class Ck3008(_Recorder):
    def check_minions(self, expr, tgt_type="glob", delimiter=":", greedy=True, fun=None):
        self.calls.append((expr, tgt_type, fun))
        return {"minions": ["b", "a", "b"], "missing": []}


class Ck3006(_Recorder):
    def check_minions(self, expr, tgt_type="glob", delimiter=":", greedy=True):
        self.calls.append((expr, tgt_type))
        return {"minions": ["b", "a"], "missing": []}


class CkKwargs(_Recorder):
    def check_minions(self, expr, tgt_type="glob", **kwargs):
        self.calls.append((expr, tgt_type, kwargs))
        return {"minions": [], "missing": []}


@pytest.mark.parametrize(
    "cls,expected_call",
    [
        (Ck3008, ("so-*", "glob", "state.highstate")),
        (Ck3006, ("so-*", "glob")),
        (CkKwargs, ("so-*", "glob", {"fun": "state.highstate"})),
    ],
    ids=["with-fun", "without-fun", "kwargs"],
)
def test_fun_is_passed_only_where_accepted(monkeypatch, cls, expected_call):
    monkeypatch.setattr(salt.utils.minions, "CkMinions", cls)
    monkeypatch.setattr(cls, "calls", [])
    minions = saltcompat.check_minions({}, "so-*", "glob", fun="state.highstate")
    assert cls.calls == [expected_call]
    assert minions == ([] if cls is CkKwargs else ["a", "b"])

