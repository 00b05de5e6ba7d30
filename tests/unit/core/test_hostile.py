"""Property-based hostile input at the engine level (hypothesis).

Every pillar key the library reads (``tests/hostile.py:PILLAR_KEYS``) and
every grain it uses get wrong types, newlines, ``[section]``, ``=``, ``&``,
``#``, ``%0a``, unicode, huge strings and nested garbage. For every input,
each engine function either succeeds with a well-formed result (a repository
file that parses back to one section with the known keys, a query with
allow-listed keys only, nothing external on an airgapped node, strict JSON)
or raises ``CommandExecutionError`` naming the key: never another exception
type, never an injected key or section.

The figures (cases, ok, refused per function) are printed at the end of the
module and written to ``.tmp/figures/salt-<line>/hostile-unit.json``.
"""

import collections
import json
import pathlib
import shutil
import tempfile
import pytest
import so_telemetry_core as core
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from salt.exceptions import CommandExecutionError

from tests import hostile as H

from tests.conftest import save_figures
from tests.unit.conftest import BASE_GRAINS, REPO

EXAMPLES = 200
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FIGURES = collections.defaultdict(collections.Counter)


@pytest.fixture(scope="module", autouse=True)
def figures():
    yield FIGURES
    save_figures("hostile-unit", "hostile input (engine)", FIGURES)


@pytest.fixture(scope="module")
def root_dir():
    base = REPO / ".tmp" / "unit"
    base.mkdir(parents=True, exist_ok=True)
    path = pathlib.Path(tempfile.mkdtemp(prefix="hostile-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _strict_json(text):
    def reject(const):
        raise ValueError(f"not JSON: {const}")
    return json.loads(text, parse_constant=reject)


# What each engine function is called as here (one fresh context per call).
FUNCS = {
    "settings": core.decide.settings,
    "repo_definition": core.repo.definition,
    "repo_file": lambda ctx: core.repo.text(ctx, reveal=True),  # as the state writes it
    "repo_file_shown": core.repo.text,  # as anything else shows it
    "query_params": core.query.params,
    "analytics_js": core.soc.analytics_js,
    "soc_json": core.soc.soc_json,
    "patch_job": core.schedule.patch_job,
    "resync_job": core.schedule.resync_job,
    "owners": core.files.owners,
    "job_names": core.schedule.job_names,
    "paths": core.files.artefact_paths,
    "file_spec": core.files.file_spec,
    "report": core.report.report,
    "proxy": core.proxy.real,
    "audit": core.audit.audit,
    # what a highstate would record in an empty consent trail
    "consent": lambda ctx: core.consent.unrecorded(ctx, core.trail.Trail("/t"), core.consent.effective(ctx)[0]),
}


class Run:
    """One case's grains and pillar; each engine call's outcome is checked
    and counted."""

    def __init__(self, defaults_cache, pillar, grains, prop, root=""):
        self.prop = prop
        self.injected = _injected_keys(pillar)
        self.pillar, self.grains, self.defaults = pillar, grains, defaults_cache
        self.opts = {"so_telemetry_root": root, "master": "manager.example"}

    def ctx(self):
        return core.Context(opts=self.opts, grains=self.grains, pillar=self.pillar,
                            cache={"telemetry.defaults": self.defaults})

    def __enter__(self):
        FIGURES[self.prop]["cases"] += 1
        return self

    def __exit__(self, *exc):
        return None

    def __call__(self, name, *args):
        """``(True, value)`` or ``(False, message)``; anything but a
        CommandExecutionError propagates (hypothesis reports it)."""
        try:
            value = FUNCS[name](self.ctx(), *args)
        except CommandExecutionError as exc:
            msg = str(exc)
            self.check_refusal(name, msg)
            FIGURES[self.prop][f"{name}: refused"] += 1
            return False, msg
        FIGURES[self.prop][f"{name}: ok"] += 1
        return True, value

    def check_refusal(self, name, msg):
        if "names this node" in msg and "global:" in msg:
            return  # an identity grain equal to a query value: refused, never sent
        keys = H.named_keys(msg)
        assert keys, f"{name}: the error names no pillar key: {msg!r} (injected {self.injected})"
        assert any(H.related(k, self.injected) for k in keys), (
            f"{name}: the error names {keys}, none of the injected keys {self.injected}: {msg!r}"
        )


def _injected_keys(pillar, trail=()):
    """Every ``a:b:c`` key path set in the pillar (leaves and mappings)."""
    keys = []
    if isinstance(pillar, dict):
        for key, val in pillar.items():
            path = trail + (str(key),)
            keys.append(":".join(path))
            keys.extend(_injected_keys(val, path))
    return keys


def _airgapped(run):
    ok, state = run("settings")
    if ok:
        return state["airgap"]["enabled"]
    try:
        return core.decide.airgap(run.ctx())["enabled"]
    except CommandExecutionError:
        return None  # global itself broken: every function refuses


def check_everything(run, pillar):
    airgapped = _airgapped(run)
    ok, definition = run("repo_definition")
    ok_text, text = run("repo_file")
    if ok_text:
        assert ok, "repo_file rendered what repo_definition refuses"
        H.check_repo_text(text, proxy_applies=bool(definition["proxy"]))
        if airgapped:
            assert "http://" not in text.lower() and "https://" not in text.lower(), text
    ok, params = run("query_params")
    if ok:
        assert set(params) <= H.QUERY_FIELDS, params
        if airgapped:
            assert params == {}
    ok, js = run("analytics_js")
    if ok and airgapped:
        assert js == ""
    for existing in (None, '{"server": {"other": 1}, "keep": [1, 2]}'):
        ok, rendered = run("soc_json", existing, "soc.json")
        if ok:
            data = _strict_json(rendered)
            assert isinstance(data, dict)
            if existing:
                assert data["keep"] == [1, 2]
            assert isinstance(data["server"]["client"]["telemetryEnabled"], bool)
            if airgapped:
                assert data["server"]["client"]["telemetryEnabled"] is False
            again = core.soc.soc_json(run.ctx(), rendered, "soc.json")
            assert again == rendered, "second render differs: not idempotent"
    ok, job = run("patch_job")
    if ok and airgapped:
        assert job["job"] is None
    if ok and job["job"] is not None:
        assert job["job"]["function"] == "state.sls" and job["job"]["run_on_start"] is False
    ok, job = run("resync_job")
    if ok:
        assert job["job"]["function"] == "state.highstate"
        assert sum(k in job["job"] for k in ("minutes", "seconds")) == 1
    for name in ("owners", "job_names", "paths"):
        run(name)
    ok, records = run("consent")
    if ok:
        channels = [r["channel"] for r in records]
        assert channels == sorted(set(channels), key=core.channels.NAMES.index)
        for rec in records:
            assert "\n" not in core.trail.dumps(dict(rec, seq=1, time="t", prev="p"))
            if airgapped:
                assert rec["new"] == ("on" if rec["channel"] == "airgap" else "off")
    run("file_spec", "repo")
    run("file_spec", "soc")
    ok, rep = run("report")
    if ok:
        assert set(rep["os_updates"]["fields"]) <= H.QUERY_FIELDS
        assert all(isinstance(h, str) and h for h in rep["os_updates"]["destinations_when_on"]), rep["os_updates"]
        if airgapped:
            assert rep["soc"]["destinations"] == [] and rep["os_updates"]["destinations"] == []
        json.dumps(rep)  # what salt-call --out=json prints


@pytest.mark.parametrize("comp", sorted({k.split(":")[0] for k in H.PILLAR_KEYS}))
def test_every_key_every_kind(defaults_cache, comp):
    """Exhaustive: each key of the component set to each value of the zoo
    (types, NaN, injections, unicode digits, a 100 kB string, nested garbage),
    on a manager and on an airgapped sensor in turn."""
    nodes = (dict(BASE_GRAINS), dict(BASE_GRAINS, role="so-sensor", airgap=True))
    for i, key in enumerate(k for k in H.PILLAR_KEYS if k.split(":")[0] == comp):
        for j, value in enumerate(H.ZOO):
            pillar = H.nest([(key, value)])
            with Run(defaults_cache, pillar, dict(nodes[(i + j) % 2]), "sweep") as run:
                check_everything(run, pillar)


@SETTINGS
@example(pairs=[("so_telemetry:jobs", ["x"])], grains=dict(BASE_GRAINS))
@example(pairs=[("repo:os_ids", ["x"])], grains=dict(BASE_GRAINS))
@example(pairs=[("repo:arches", 5)], grains=dict(BASE_GRAINS))
@example(pairs=[("repo:file_user", "\u00b2")], grains=dict(BASE_GRAINS))
@example(pairs=[("repo:id", "DEFAULT")], grains=dict(BASE_GRAINS))
@example(pairs=[("soc:analytics:template", "nope.jinja")], grains=dict(BASE_GRAINS))
@example(pairs=[("soc:analytics", None)], grains=dict(BASE_GRAINS))
@example(pairs=[("repo:upstream", None)], grains=dict(BASE_GRAINS))
@example(pairs=[("repo:node", None)], grains=dict(BASE_GRAINS, role="so-sensor"))
@example(pairs=[("repo:upstream:mirrors", ["https:///x"])], grains=dict(BASE_GRAINS))
@example(pairs=[("soc:config:extra", float("nan"))], grains=dict(BASE_GRAINS))
@given(pairs=H.PILLAR_CASE, grains=st.one_of(st.just(dict(BASE_GRAINS)), H.GRAINS))
def test_hostile_pillar_keys(defaults_cache, pairs, grains):
    pillar = H.nest(pairs)
    with Run(defaults_cache, pillar, grains, "pillar keys") as run:
        check_everything(run, pillar)


@SETTINGS
@given(grains=H.GRAINS, airgap=st.one_of(st.none(), H.HOSTILE))
def test_hostile_grains(defaults_cache, grains, airgap):
    pillar = {} if airgap is None else {"global": {"airgap": airgap}}
    with Run(defaults_cache, pillar, grains, "grains") as run:
        ok, state = run("settings")
        assert ok, state  # grains alone never break the engine
        grain_ag = grains.get("airgap", False)
        if not (grain_ag is False or grain_ag == 0 and not isinstance(grain_ag, bool) and grain_ag is not True
                or isinstance(grain_ag, str) and grain_ag.strip().lower() in ("false", "no", "off", "0")):
            assert state["airgap"]["enabled"], (grains, state["airgap"])  # fail closed
        if not isinstance(grains.get("role"), str) or grains["role"] not in ("so-manager", "so-standalone"):
            assert core.query.params(run.ctx()) == {}
        check_everything(run, pillar)


@SETTINGS
@given(url=st.one_of(H.PROXY, H.HOSTILE),
       no_proxy=st.one_of(st.just(""), st.sampled_from(("repo.securityonion.net", "*", ".securityonion.net",
                                                         "a\nb", "x=y", "[x]")), H.HOSTILE),
       role=st.sampled_from(("so-manager", "so-sensor")), airgap=st.booleans())
def test_hostile_proxy(defaults_cache, url, no_proxy, role, airgap):
    pillar = {"manager": {"proxy": url, "no_proxy": no_proxy}}
    grains = dict(BASE_GRAINS, role=role, airgap=airgap)
    with Run(defaults_cache, pillar, grains, "manager:proxy") as run:
        check_everything(run, pillar)
        ok, text = run("repo_file")
        if ok and (airgap or role == "so-sensor"):
            assert "proxy" not in text.replace("# Managed", ""), text
        ok, real = run("proxy")
        if ok and real.get("password") and len(real["password"]) >= 3:
            ok_rep, rep = run("report")
            if ok_rep:
                assert real["password"] not in json.dumps(rep), "proxy password in the report"
            ok_def, definition = run("repo_definition")
            if ok_def:
                assert real["password"] not in json.dumps(definition), "proxy password in repo_definition"
            ok_shown, shown = run("repo_file_shown")
            if ok_shown:
                assert real["password"] not in shown, "proxy password in the repository text shown"


_JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)


@SETTINGS
@given(existing=st.one_of(st.sampled_from(H.NASTY + ("NaN", "[1]", "{}", '{"a": NaN}', "{\"server\": 1}")),
                          _JSONISH.map(json.dumps), st.text(max_size=60)),
       config=st.one_of(st.none(), H.HOSTILE))
def test_hostile_soc_json(defaults_cache, existing, config):
    pillar = {} if config is None else {"soc": {"config": config}}
    with Run(defaults_cache, pillar, dict(BASE_GRAINS), "soc.json") as run:
        try:
            rendered = core.soc.soc_json(run.ctx(), existing, "/x/soc.json")
        except CommandExecutionError as exc:
            msg = str(exc)
            assert "/x/soc.json" in msg or H.named_keys(msg), msg
            FIGURES["soc.json"]["soc_json: refused"] += 1
            return
        FIGURES["soc.json"]["soc_json: ok"] += 1
        data = _strict_json(rendered)
        assert isinstance(data, dict)
        assert core.soc.soc_json(run.ctx(), rendered, "/x/soc.json") == rendered, "not idempotent"
        if config is None or config == {}:
            _strict_json(existing)  # a file that is not strict JSON was never accepted


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@example(pairs=[("soc:config:extra", "http://[oops")], grains=dict(BASE_GRAINS))
@example(pairs=[("soc:config:extra", "http://[oops")], grains=dict(BASE_GRAINS, airgap=True))
@example(pairs=[("soc:analytics:url", None)], grains=dict(BASE_GRAINS))  # found in CI: audit crashed
@given(pairs=st.lists(st.tuples(st.sampled_from([k for k in H.PILLAR_KEYS if k not in H.PATH_KEYS]), H.HOSTILE),
                      min_size=1, max_size=2),
       grains=st.one_of(st.just(dict(BASE_GRAINS)), H.GRAINS))
def test_hostile_audit(defaults_cache, root_dir, pairs, grains):
    """The rendered files of a hostile pillar, then the audit over them."""
    pillar = H.nest(pairs)
    shutil.rmtree(root_dir, ignore_errors=True)
    with Run(defaults_cache, pillar, grains, "audit", root=str(root_dir)) as run:
        for name, path_key in (("repo_file", "repo"), ("analytics_js", "analytics"), ("soc_json", "soc_json")):
            ok, text = run(name)
            ok_path, paths = run("paths", False)
            if ok and ok_path:
                target = pathlib.Path(paths[path_key])
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
        ok, result = run("audit")
        if ok:
            assert isinstance(result["result"], bool)
            if "http://[oops" in json.dumps(pillar, default=repr) and (root_dir / "opt/so/conf/soc/soc.json").is_file():
                assert result["result"] is False, result  # an invalid host is never an allowed one
            json.dumps(result)
        for fname in (root_dir / "opt/so/conf/soc/soc.json",):
            if fname.is_file():
                core.audit.owned_lines(run.ctx(), fname.read_text().splitlines())
