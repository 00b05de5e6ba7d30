"""The execution module (``_modules/telemetry.py``) with Salt's loader
dunders injected: it is the contract's functions and nothing more, each a few
lines over the engine, and no return carries a secret."""

import inspect
import json
import re
from unittest.mock import patch

import pytest
import so_telemetry_core as core

from tests.unit.conftest import REPO, load_module, saved_schedule

MODULE = load_module("_modules/telemetry.py", "telemetry_module")
PASSWORD = "S3cretPw"
PROXY = f"http://alice:{PASSWORD}@proxy.corp:3128"


@pytest.fixture(autouse=True)
def loader(grains, pillar, opts, context, workdir):
    opts.update(conf_file=str(workdir / "minion"), id="so-manager", cachedir=str(workdir / "cache"))
    salt_funs = {"schedule.list": lambda **_kw: saved_schedule(opts)}
    # converged renders the pillar afresh (from the master); here it is the fixture's
    with patch.multiple(MODULE, create=True, __grains__=grains, __pillar__=pillar, __opts__=opts,
                        __context__=context, __salt__=salt_funs), \
            patch.object(core.converge, "fresh_pillar", lambda _opts, _grains: dict(pillar)):
        assert MODULE.__virtual__() == "telemetry"
        yield


def public_functions():
    return sorted(name for name, fun in vars(MODULE).items()
                  if inspect.isfunction(fun) and not name.startswith("_") and fun.__module__ == MODULE.__name__)


def contract_functions():
    """The ``telemetry.<fn>`` the contract (docs/contract.rst) lists under the execution module."""
    text = (REPO / "docs" / "contract.rst").read_text()
    section = text.split("Execution module ``telemetry``", 1)[1].split("\nState module", 1)[0]
    return sorted(set(re.findall(r"``telemetry\.([a-z_]+)``", section)))


def test_the_module_is_the_contract():
    assert public_functions() == contract_functions()


def test_each_function_is_a_few_lines():
    for name in public_functions():
        source = inspect.getsource(getattr(MODULE, name))
        body = source.split('"""')[-1] if '"""' in source else source
        code = [ln for ln in body.splitlines() if ln.strip() and not ln.strip().startswith("#")]
        assert len(code) <= 4, f"telemetry.{name} holds logic ({len(code)} lines): it belongs in the core"


def test_returns_are_the_engines(ctx, pillar):
    pillar["global"] = {"features": ["fips"]}
    assert MODULE.settings() == core.decide.settings(ctx())
    assert MODULE.settings("soc") == core.decide.settings(ctx(), "soc")
    assert MODULE.query_params() == core.query.params(ctx()) != {}
    assert MODULE.report() == core.report.report(ctx())
    assert MODULE.paths() == core.files.artefact_paths(ctx())
    assert MODULE.config("soc") == core.config.component(ctx(), "soc")
    assert MODULE.manager_like() is True
    assert MODULE.converged() == core.converge.converged(ctx())


def test_failures_set_the_exit_code(pillar, grains, workdir, opts):
    opts["so_telemetry_root"] = str(workdir)
    target = workdir / "opt/so/conf/soc/analytics.js"
    target.parent.mkdir(parents=True)
    target.write_text('load("https://tracker.example.com/t.js")')
    res = MODULE.audit()
    assert res["result"] is False and MODULE.__context__["retcode"] == 1


def test_missing_core_names_what_to_run():
    with patch.object(MODULE, "core", None), patch.object(MODULE, "_MISSING", ImportError("No module"), create=True):
        ok, why = MODULE.__virtual__()
    assert ok is False and "saltutil.sync_all" in why and "so_telemetry_core" in why


def test_no_secret_in_any_return(pillar, grains):
    """A manager whose pillar has a proxy password: no function's return
    holds it (the master's job cache keeps every return)."""
    pillar["manager"] = {"proxy": PROXY}
    grains["role"] = "so-manager"
    returns = {}
    for name in public_functions():
        fun = getattr(MODULE, name)
        if name == "config":
            returns[name] = [fun(comp) for comp in core.config.COMPONENTS]
        elif name == "check":
            returns[name] = fun(dry_run=True)
        else:
            returns[name] = fun()
    text = json.dumps(returns, default=str)
    assert PASSWORD not in text
    assert "alice:******@proxy.corp:3128" in json.dumps(returns["config"])
    assert returns["report"]["os_updates"]["proxy"]["password"] == "******"
