"""Configuration (``so_telemetry_core.config``): one list of local pillar
files, one list of sensitive keys, one merge rule, secrets masked."""


import pytest
import so_telemetry_core as core
import yaml

from tests.unit.conftest import REPO


def test_local_files_are_the_pillar_tops():
    top = yaml.safe_load((REPO / "pillar" / "top.sls").read_text())
    listed = [e for e in top["base"]["*"] if isinstance(e, str) and e != "telemetry"]
    assert listed == list(core.config.LOCAL_SLS)


def test_sensitive_keys_are_the_annotated_ones():
    def sensitive(node, trail):
        if isinstance(node, dict) and any(not isinstance(v, dict) for v in node.values()):
            if node.get("sensitive") is True:
                yield ":".join(trail)
            return
        for key, val in (node.items() if isinstance(node, dict) else ()):
            yield from sensitive(val, trail + [key])

    with open(REPO / "salt" / "so_telemetry" / core.config.ANNOTATIONS_FILE, encoding="utf-8") as fh:
        annotated = list(sensitive(yaml.safe_load(fh), []))
    assert sorted(annotated) == sorted(core.config.SENSITIVE) == ["manager:proxy"]


@pytest.mark.parametrize("key,sls", [("soc:telemetryEnabled", "soc.soc_soc"), ("patch:os:enabled", "patch.soc_patch"),
                                     ("manager:proxy", "manager.soc_manager"), ("global:airgap", "global.soc_global")])
def test_local_file_of_a_key(key, sls):
    assert core.config.local_sls(key) == sls


def test_shown_masks_the_proxy_password(ctx, pillar):
    pillar["manager"] = {"proxy": "http://alice:S3cretPw@proxy.corp:3128", "no_proxy": "x.lan"}
    shown = core.config.shown(ctx(), "manager")
    assert shown == {"proxy": "http://alice:******@proxy.corp:3128", "no_proxy": "x.lan"}
    # the engine's own map keeps it (the repository file needs it), untouched by showing
    assert core.config.component(ctx(), "manager")["proxy"].endswith("S3cretPw@proxy.corp:3128")


@pytest.mark.parametrize("url,shown", [
    ("http://alice:S3cretPw@proxy.corp:3128", "http://alice:******@proxy.corp:3128"),
    ("alice:pw@proxy:3128", "alice:******@proxy:3128"),
    ("http://a:p@ss@h:1", "http://a:******@h:1"),
    ("http://alice@h:1", "http://alice@h:1"),
    ("http://h:1/a@b", "http://h:1/a@b"),
    ("", ""),
])
def test_mask_url(url, shown):
    assert core.secret.mask_url(url) == shown


@pytest.mark.parametrize("pillar_value", ["http://alice:S3cretPw@proxy.corp:3128", ["http://alice:S3cretPw@p:1"]])
def test_an_error_quoting_a_proxy_url_masks_its_password(ctx, pillar, pillar_value):
    pillar["manager"] = pillar_value  # a wrongly typed component: the error quotes the value
    with pytest.raises(core.validate.PillarError) as err:
        core.config.component(ctx(), "manager")
    assert "S3cretPw" not in str(err.value) and "alice:******@" in str(err.value)


def test_merge_rule_lists_replace_and_timings_replace():
    base = {"os": {"schedules": {"auto": {"splay": 900, "schedule": {"hours": 8}}}, "list": [1, 2]}}
    over = {"os": {"schedules": {"auto": {"schedule": {"Monday": ["08:00"]}}}, "list": [3]}}
    merged = core.config.merge("patch", base, over)
    assert merged["os"]["schedules"]["auto"] == {"splay": 900, "schedule": {"Monday": ["08:00"]}}
    assert merged["os"]["list"] == [3]
    assert base["os"]["schedules"]["auto"]["schedule"] == {"hours": 8}  # arguments unchanged


def test_pillar_layers_merge_as_salt_does():
    layers = [{"soc": {"a": 1, "l": [1]}}, {"soc": {"b": 2, "l": [2]}}, None, {"patch": {"os": {"enabled": False}}}]
    assert core.config.pillar_layers(layers) == {"soc": {"a": 1, "b": 2, "l": [2]}, "patch": {"os": {"enabled": False}}}


def test_a_highstate_render_reads_every_formula_file_its_states_need(grains, pillar, opts):
    """Through the file server, the first read (a highstate's render calls
    ``telemetry.config``) brings every formula file the states will need: the
    states (a new context on the same ``__context__``) ask the master for
    nothing, so a master that goes away mid-highstate cannot stall them."""
    formula = REPO / "salt" / "so_telemetry"
    asked = []
    master_up = [True]

    def fetch(url, saltenv="base"):
        asked.append((url, master_up[0]))
        if not master_up[0]:
            raise RuntimeError("the master does not answer")
        return (formula / url.removeprefix("salt://so_telemetry/")).read_text()

    pillar.update({"soc": {"telemetryEnabled": True}, "patch": {"os": {"enabled": True}},
                   "manager": {"proxy": "http://alice:S3cretPw@proxy.corp:3128"}})
    context = {}  # Salt's __context__, shared by the render's and the states' calls

    def new_ctx():
        files = core.context.FormulaFiles(fetch=fetch, cache=context.setdefault("telemetry.files", {}))
        return core.Context(opts=opts, grains=grains, pillar=pillar, cache=context, files=files)

    core.config.shown(new_ctx(), "so_telemetry")  # the render (map.jinja)
    read = sorted(url for url, _up in asked)
    assert "salt://so_telemetry/soc/files/analytics.js.jinja" in read
    assert f"salt://so_telemetry/{core.config.ANNOTATIONS_FILE}" in read
    assert {f"salt://so_telemetry/{core.config.defaults_relpath(c)}" for c in core.config.COMPONENTS} <= set(read)
    assert len(read) == len(set(read)), "a file was read twice"

    master_up[0] = False
    ctx = new_ctx()  # the states
    assert core.schedule.resync_job(ctx)["job"]
    assert core.schedule.patch_job(ctx)["job"]
    assert "proxy_password=S3cretPw" in core.repo.text(ctx, reveal=True)
    assert "googletagmanager.com" in core.soc.analytics_js(ctx)
    assert core.soc.soc_json(ctx)
    assert ctx.files.text(core.config.ANNOTATIONS_FILE)
    assert [url for url, up in asked if not up] == []


def test_the_first_read_asks_for_every_file_through_one_client(opts, grains, pillar, tmp_path):
    """Outside a state run each ``cp.get_file_str`` builds a new Salt file
    client: the first need asks ``cp.cache_files`` for every file at once, in
    the library's own saltenv where the master has it, in the minion's
    saltenv when that one lacks them."""
    formula = REPO / "salt" / "so_telemetry"
    batches, single = [], []

    def fetch_many(urls, saltenv="base"):
        batches.append((saltenv, len(urls)))
        if saltenv == core.context.FORMULA_ENV:
            return [False] * len(urls)  # the master has the environment, not these files
        return [str(formula / url.removeprefix("salt://so_telemetry/")) for url in urls]

    def fetch(url, saltenv="base"):
        single.append((url, saltenv))
        return (formula / url.removeprefix("salt://so_telemetry/")).read_text()

    files = core.context.FormulaFiles(fetch=fetch, fetch_many=fetch_many, envs=lambda: ["base", "so_telemetry"])
    ctx = core.Context(opts=opts, grains=grains, pillar=pillar, files=files)
    assert core.report.report(ctx)["soc"]["enabled"] is True
    wanted = len(core.config.COMPONENTS) + 1  # each component's defaults and the annotations
    assert batches == [(core.context.FORMULA_ENV, wanted), ("base", wanted)]
    # one file is read on its own after the batch: the SOC loader template the defaults name
    assert [url for url, _env in single] == ["salt://so_telemetry/soc/files/analytics.js.jinja"]
    assert {env for _url, env in single} == {"base"}
