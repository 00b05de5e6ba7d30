"""Self-tests of ``tests/socscreen.py``, the independent client that shows settings as SOC's
Configuration screen does. Each test builds a tiny saltstack tree under ``tmp_path``."""

import os
import textwrap

import pytest

from tests import socscreen as S


def tree(tmp_path, files):
    """Write ``{relative path: text}`` under ``tmp_path/saltstack`` (``default/`` and ``local/`` always exist)."""
    root = tmp_path / "saltstack"
    (root / "default").mkdir(parents=True, exist_ok=True)
    (root / "local").mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return str(root)


def by_id(settings, setting_id, node_id=""):
    found = [s for s in settings if s["id"] == setting_id and s["nodeId"] == node_id]
    assert len(found) == 1, (setting_id, node_id, [s["id"] for s in settings])
    return found[0]


def ids(settings):
    return [s["id"] for s in settings]


# --- GetSettings: the three passes


def test_pass_order_defaults_then_local_then_annotations(tmp_path):
    d = tree(tmp_path, {
        "default/salt/app/defaults.yaml": "app:\n  a: 1\n  b: 1\n",
        "default/salt/zz/defaults.yaml": "app:\n  b: 2\n",  # later defaults.yaml: also a default
        "default/salt/app/default.yaml": "app:\n  a: 7\n",  # not named defaults.yaml
        "local/pillar/app/defaults.yaml": "app:\n  a: 8\n",  # defaults only count under default/
        "local/pillar/app/soc_app.sls": "app:\n  a: 5\n",
        "local/pillar/app/init.sls": "app:\n  a: 9\n",  # neither soc_ nor under minions/
        "local/pillar/app/soc_app.yaml": "app:\n  a: 6\n",  # not .sls
        "default/salt/app/soc_app.yaml": "app:\n  a: {description: A}\n  b: {description: B}\n",
        "default/salt/app/soc_app.yml": "app:\n  a: {description: wrong extension}\n",
    })
    settings = S.get_settings(d)
    a, b = by_id(settings, "app.a"), by_id(settings, "app.b")
    assert (a["value"], a["default"], a["defaultAvailable"], a["description"]) == ("5", "1", True, "A")
    assert (b["value"], b["default"], b["defaultAvailable"]) == ("2", "2", True)
    assert ids(settings) == ["app.a", "app.b"]


def test_local_soc_file_overrides_value_not_default_and_new_keys_have_no_default(tmp_path):
    d = tree(tmp_path, {
        "default/salt/app/defaults.yaml": "app:\n  port: 8080\n",
        "local/pillar/app/soc_app.sls": "app:\n  port: 9090\n  extra: hello\n",
        "default/salt/app/soc_app.yaml": "app:\n  port: {description: P}\n  extra: {description: E}\n",
    })
    settings = S.get_settings(d)
    port, extra = by_id(settings, "app.port"), by_id(settings, "app.extra")
    assert (port["value"], port["default"], port["defaultAvailable"]) == ("9090", "8080", True)
    assert (extra["value"], extra["default"], extra["defaultAvailable"]) == ("hello", "", False)


def test_minion_file_gives_node_values(tmp_path):
    d = tree(tmp_path, {
        "default/salt/app/defaults.yaml": "app:\n  threads: 2\n",
        "local/pillar/minions/sensor1.sls": "app:\n  threads: 4\n",
        "local/pillar/minions/adv_sensor1.sls": "app:\n  raw: yes\n",
        "default/salt/app/soc_app.yaml": "app:\n  threads: {description: Threads, global: true}\n",
    })
    settings = S.get_settings(d)
    glob, node = by_id(settings, "app.threads"), by_id(settings, "app.threads", "sensor1")
    assert (glob["value"], node["value"], node["default"], node["defaultAvailable"]) == ("2", "4", "", False)
    assert node["description"] == "Threads"  # annotations apply to node entries too
    screen = S.Screen(settings)
    merged = [s for s in screen.settings if s["id"] == "app.threads"]
    assert len(merged) == 1
    assert merged[0]["value"] == "2" and merged[0]["nodeValues"] == {"sensor1": "4"}
    # the node entry is merged after the global one, so the screen's `global` ends false
    assert merged[0]["global"] is False
    assert screen.customized == 1 and screen.available == 1


def test_adv_files_global_and_per_node(tmp_path):
    d = tree(tmp_path, {
        "local/pillar/zzz/adv_zzz.sls": "zzz:\n  x: '[SO_JINJA_SL_START] v [SO_JINJA_SL_END]'\n",
        "local/pillar/aaa/adv_aaa.sls": "aaa: 1\n",
        "local/pillar/minions/adv_node1.sls": "anything: {{ not yaml\n",  # never parsed as YAML
        "default/salt/app/defaults.yaml": "app:\n  k: v\n",
    })
    assert S.get_settings(d) == []  # no descriptions: all advanced, hidden
    settings = S.get_settings(d, advanced=True)
    # sortSettings: other ids ascending, then ids ending in "advanced" in reverse walk order
    assert [(s["id"], s["nodeId"]) for s in settings] == [
        ("app.k", ""), ("zzz.advanced", ""), ("advanced", "node1"), ("aaa.advanced", "")]
    zzz, node = settings[1], settings[2]
    assert zzz["value"] == "zzz:\n  x: '{{ v }}'\n"  # raw file text, Jinja markers unescaped
    assert (zzz["multiline"], zzz["syntax"], zzz["global"], zzz["node"], zzz["advanced"]) == (
        True, "yaml", True, False, True)
    assert (node["value"], node["global"], node["node"]) == ("anything: {{ not yaml\n", False, True)
    screen = S.Screen(settings)
    assert screen.customized == 3  # app.k unchanged; the three advanced ones have content


def test_annotation_without_setting_creates_an_empty_setting(tmp_path):
    d = tree(tmp_path, {
        "default/salt/app/soc_app.yaml": "app:\n  newkey:\n    description: D\n    global: true\n    title: T\n",
    })
    (setting,) = S.get_settings(d)
    assert setting["id"] == "app.newkey"
    assert (setting["value"], setting["default"], setting["defaultAvailable"]) == ("", "", False)
    assert (setting["description"], setting["title"], setting["global"], setting["advanced"]) == ("D", "T", True, False)


def test_sensitive_masks_value_and_default(tmp_path):
    d = tree(tmp_path, {
        "default/salt/app/defaults.yaml": "app:\n  password: defaultpw\n  user: admin\n",
        "local/pillar/app/soc_app.sls": "app:\n  password: s3cret\n",
        "default/salt/app/soc_app.yaml": (
            "app:\n  password: {description: P, sensitive: true}\n  user: {description: U}\n"),
    })
    settings = S.get_settings(d)
    pw, user = by_id(settings, "app.password"), by_id(settings, "app.user")
    assert (pw["value"], pw["default"], pw["sensitive"]) == ("******", "", True)
    assert (user["value"], user["default"]) == ("admin", "admin")


def test_description_less_settings_are_advanced_and_hidden(tmp_path):
    d = tree(tmp_path, {
        "default/salt/app/defaults.yaml": "app:\n  shown: 1\n  hidden: 2\n  flagged: 3\n",
        "default/salt/app/soc_app.yaml": (
            "app:\n  shown: {description: S}\n  hidden: {title: only a title}\n"
            "  flagged: {description: F, advanced: true}\n"),
    })
    assert ids(S.get_settings(d)) == ["app.shown"]
    everything = S.get_settings(d, advanced=True)
    assert ids(everything) == ["app.flagged", "app.hidden", "app.shown"]
    assert [s["advanced"] for s in everything] == [True, True, False]


@pytest.mark.parametrize("first, second", [("B", "a"), ("a", "b")])
def test_two_annotation_files_merge_field_by_field_in_lexical_walk_order(tmp_path, first, second):
    # `second` is created first so that creation order disagrees with the walk; "B" < "a" in Go's
    # byte order (a case-insensitive or locale order would walk "a" first).
    d = tree(tmp_path, {
        "default/salt/app/defaults.yaml": "app:\n  x: 1\n",
        "default/%s/soc_two.yaml" % second: "app:\n  x:\n    title: From %s\n    helpLink: L2\n" % second,
        "default/%s/soc_one.yaml" % first: "app:\n  x:\n    title: From %s\n    description: D1\n" % first,
    })
    x = by_id(S.get_settings(d), "app.x")
    assert (x["title"], x["description"], x["helpLink"]) == ("From %s" % second, "D1", "L2")


def test_annotating_a_parent_of_settings_conflicts_on_the_screen(tmp_path):
    d = tree(tmp_path, {
        "default/salt/patch/defaults.yaml": (
            "patch:\n  os:\n    enabled: true\n    schedules:\n      auto:\n        splay: 5\n"),
        "default/salt/patch/soc_patch.yaml": """\
            patch:
              os:
                enabled: {description: Enabled}
                schedules:
                  description: Schedules
                  auto:
                    splay: {description: Splay}
            """,
    })
    settings = S.get_settings(d)
    assert ids(settings) == ["patch.os.enabled", "patch.os.schedules", "patch.os.schedules.auto.splay"]
    assert by_id(settings, "patch.os.schedules")["value"] == ""
    screen = S.Screen(settings)
    assert screen.errors == [
        "Malformed config setting (patch.os.schedules.auto.splay): Error: "
        "Setting name 'schedules' conflicts with another similarly named setting"]
    assert screen.available == 2
    assert screen.search("") == ["patch.os.enabled", "patch.os.schedules"]
    assert screen.search("splay") == []


# --- YAML values as Go's yaml.v3 + fmt render them


def test_yaml_booleans_are_only_true_and_false(tmp_path):
    d = tree(tmp_path, {"default/salt/app/defaults.yaml": (
        "app:\n  a: yes\n  b: on\n  c: True\n  d: FALSE\n  e: 'true'\n  f: y\n  g: No\n")})
    values = {s["id"]: s["value"] for s in S.get_settings(d, advanced=True)}
    assert values == {"app.a": "yes", "app.b": "on", "app.c": "true", "app.d": "false", "app.e": "true",
                      "app.f": "y", "app.g": "No"}


def test_yaml_scalars_as_go_prints_them(tmp_path):
    d = tree(tmp_path, {"default/salt/app/defaults.yaml": """\
        app:
          octal: 0600
          octal12: 0o17
          hex: 0x1F
          underscore: 1_000
          quoted: '0600'
          bad_octal: 08
          exp: 1e3
          one: 1.0
          million: 1000000.0
          hundredk: 100000.0
          small: 0.00001
          big: 99999999999999999999
          u64: 18446744073709551615
          inf: .inf
          nan: .nan
          null1: ~
          null2:
          date: 2024-01-01
          stamp: 2001-12-14t21:59:43.10-05:00
          not_a_date: 2024-02-30
          clock: 12:30
          intmap: {1: a, 2: b}
          tagged: !!str 12
          custom: !foo 12
        """})
    values = {s["id"][4:]: s["value"] for s in S.get_settings(d, advanced=True)}
    assert values == {
        "octal": "384", "octal12": "15", "hex": "31", "underscore": "1000", "quoted": "0600", "bad_octal": "8",
        "exp": "1000", "one": "1", "million": "1e+06", "hundredk": "100000", "small": "1e-05", "big": "1e+20",
        "u64": "18446744073709551615", "inf": "+Inf", "nan": "NaN", "null1": "<nil>", "null2": "<nil>",
        "date": "2024-01-01 00:00:00 +0000 UTC", "stamp": "2001-12-14 21:59:43.1 -0500 -0500",
        "not_a_date": "2024-02-30", "clock": "12:30", "intmap": "map[1:a 2:b]", "tagged": "12", "custom": "12",
    }


def test_list_rendering(tmp_path):
    d = tree(tmp_path, {"default/salt/app/defaults.yaml": """\
        app:
          items:
            - a
            - 1
            - true
            - ~
            - ""
            - 1.5e7
            - [1, "two"]
            - {b: "<x>&", a: 1.0}
            - {1: x}
            - {bad: .nan}
            - 2024-01-01
          empty: []
          flow: [x, y]
        """})
    settings = S.get_settings(d, advanced=True)
    items = by_id(settings, "app.items")
    assert items["multiline"] is True
    assert items["value"] == (
        "a\n1\ntrue\n<nil>\n1.5e+07\n"
        '[1,"two"]\n'
        '{"a":1,"b":"\\u003cx\\u003e\\u0026"}\n'
        "map[1:x]\n"
        "2024-01-01 00:00:00 +0000 UTC\n")
    assert (by_id(settings, "app.empty")["value"], by_id(settings, "app.empty")["multiline"]) == ("", True)
    assert by_id(settings, "app.flow")["value"] == "x\ny\n"


def test_yaml_syntax_error_fails_everything_and_names_the_file(tmp_path):
    d = tree(tmp_path, {
        "default/salt/app/defaults.yaml": "app:\n  a: 1\n",
        "local/pillar/app/soc_app.sls": "app:\n  a: [unclosed\n",
    })
    with pytest.raises(S.SocYamlError) as info:
        S.get_settings(d)
    assert info.value.path.endswith("local/pillar/app/soc_app.sls")
    assert "soc_app.sls" in str(info.value)


def test_duplicate_keys_and_non_map_documents_are_errors(tmp_path):
    d = tree(tmp_path, {"default/salt/app/defaults.yaml": "app:\n  a: 1\n  'a': 2\n"})
    with pytest.raises(S.SocYamlError, match="defaults.yaml.*already defined"):
        S.get_settings(d)
    d = tree(tmp_path, {"default/salt/app/defaults.yaml": "- a\n- b\n"})
    with pytest.raises(S.SocYamlError, match="cannot unmarshal !!seq"):
        S.get_settings(d)


def test_empty_and_null_documents_give_nothing(tmp_path):
    d = tree(tmp_path, {
        "default/salt/a/defaults.yaml": "",
        "default/salt/b/defaults.yaml": "# only a comment\n",
        "default/salt/c/defaults.yaml": "~\n",
        "default/salt/d/defaults.yaml": "d: 1\n---\nsecond: [broken\n",  # only the first document is read
    })
    assert ids(S.get_settings(d, advanced=True)) == ["d"]


def test_missing_local_directory_is_an_error(tmp_path):
    d = tree(tmp_path, {"default/salt/app/defaults.yaml": "app: 1\n"})
    os.rmdir(os.path.join(d, "local"))
    with pytest.raises(S.SocError, match="lstat .*local: no such file or directory"):
        S.get_settings(d)


def test_non_bool_annotation_flag_is_a_panic(tmp_path):
    d = tree(tmp_path, {
        "default/salt/app/defaults.yaml": "app:\n  a: 1\n",
        "default/salt/app/soc_app.yaml": "app:\n  a: {description: A, readonly: yes}\n",
    })
    with pytest.raises(S.SocPanic, match="interface {} is string, not bool"):
        S.get_settings(d)


def test_file_annotation_reads_salt_files(tmp_path):
    d = tree(tmp_path, {
        "default/salt/app/soc_app.yaml": (
            "app:\n  motd__txt: {description: M, file: true}\n  gone__txt: {description: G, file: true}\n"),
        "default/salt/app/motd.txt": "default text",
        "local/salt/app/motd.txt": "local text",
    })
    settings = S.get_settings(d)
    motd, gone = by_id(settings, "app.motd__txt"), by_id(settings, "app.gone__txt")
    assert (motd["value"], motd["default"], motd["defaultAvailable"], motd["multiline"]) == (
        "local text", "default text", True, True)
    assert (gone["value"], gone["default"], gone["defaultAvailable"]) == ("", "", False)


# --- the screen: search


def search_screen(tmp_path):
    d = tree(tmp_path, {
        "default/salt/soc/defaults.yaml": "soc:\n  server:\n    timeout: 30\n  client:\n    theme: Dark\n",
        "default/salt/elastic/defaults.yaml": "elastic:\n  index:\n    replicas: 1\n    shards: 3\n",
        "local/pillar/minions/sensor1.sls": "elastic:\n  index:\n    replicas: 2\n",
        "local/pillar/minions/Sensor2.sls": "elastic:\n  index:\n    shards: 5\n",
        "default/salt/soc/soc_soc.yaml": (
            "soc:\n  server:\n    timeout: {description: How long to wait, title: Server Timeout}\n"
            "  client:\n    theme: {description: Colours}\n"),
        "default/salt/elastic/soc_elastic.yaml": (
            "elastic:\n  index:\n    replicas: {description: Number of REPLICAS}\n"
            "    shards: {description: Shard count}\n"),
    })
    return S.screen(d)


ALL = ["elastic.index.replicas", "elastic.index.shards", "soc.client.theme", "soc.server.timeout"]


@pytest.mark.parametrize("term, expected", [
    ("", ALL),
    (None, ALL),
    ("DARK", ["soc.client.theme"]),  # value
    ("sErVeR tImEoUt", ["soc.server.timeout"]),  # title
    ("how long", ["soc.server.timeout"]),  # description
    ("replicas", ["elastic.index.replicas"]),  # name, id and description
    ("SHARDS", ["elastic.index.shards"]),
    ("elastic", ["elastic.index.replicas", "elastic.index.shards"]),  # a first id segment: its subtree
    ("index", ["elastic.index.replicas", "elastic.index.shards"]),
    ("nothing-like-this", []),
])
def test_search_is_case_insensitive_over_name_id_value_title_description(tmp_path, term, expected):
    assert search_screen(tmp_path).search(term) == expected


def test_search_matches_node_ids_without_lowering_them(tmp_path):
    screen = search_screen(tmp_path)
    assert screen.search("sensor1") == ["elastic.index.replicas"]
    assert screen.search("SENSOR1") == ["elastic.index.replicas"]  # the search text is lower-cased
    assert screen.search("Sensor2") == []  # ... the node id is not: SOC cannot find node Sensor2
    assert screen.search("ensor2") == ["elastic.index.shards"]  # a lower-case part of it is found
    merged = {s["id"]: s for s in screen.settings}
    assert merged["elastic.index.shards"]["nodeValues"] == {"Sensor2": "5"}


def test_vuetify_filter_keeps_the_subtree_of_a_matching_node():
    # Tree items as organizeTree builds them; the parent matches, its leaf by itself would not.
    tree_items = [{"id": "grp", "name": "Group", "children": [{"id": "x", "name": "x", "nodeValues": {}}]},
                  {"id": "other", "name": "other", "children": [{"id": "y", "name": "y", "nodeValues": {}}]}]
    excluded = set()
    for item in tree_items:
        S._filter_tree(item, "group", excluded)
    assert excluded == {"other", "y"}
