"""What Security Onion's Configuration screen shows, found by SOC's own rules
(read from SOC 2.4.110, securityonion-soc commit c0529601b7f6:
``server/modules/salt/saltstore.go`` ``GetSettings`` and
``html/js/routes/config.js``), so ``so-telemetry config search`` shows the
same settings, values, defaults and flags the screen does.

SOC reads only its saltstack directory, in three walks (lexical order):

1. every ``defaults.yaml`` under ``default/``: each leaf a setting, its
   value also its default;
2. under ``local/``: ``soc_*.sls`` (and any ``.sls`` under a ``minions/``
   directory, per node) give values; ``adv_*.sls`` an advanced text setting;
3. every ``soc_*.yaml`` under ``default/``: annotations. A map holding a
   value that is not a map annotates its key path, field by field (a later
   file wins on the fields it sets); an annotation with no setting makes an
   empty one. ``sensitive``: the value shows as ``******``, the default as
   empty.

A setting's id is its key path joined with dots. One without a description
is advanced (hidden unless the advanced toggle is on). Values are Go's: YAML
1.2 scalars (``yes`` stays a string), printed as Go prints them (``<nil>``,
``1e+06``), a list one item per line. The screen puts the settings in a tree
by id (one whose id is a prefix of another's breaks that branch: "conflicts
with another similarly named setting") and its search is a case-insensitive
substring of a node's name, id, value, node ids, title or description; a
node that matches shows its whole subtree.
"""

import dataclasses
import datetime
import decimal
import json
import os

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

MASK = "******"
DOCS = "https://docs.securityonion.net/en/2.4/"


class ScreenError(Exception):
    """A file SOC would fail on (its whole screen fails: SOC does not bypass errors)."""


def _go_float(value):
    """``fmt.Sprintf("%v", f)`` of a float64: the shortest digits that read
    back as ``f``, in exponent form when the exponent is below -4 or 6 and
    above (Go's %g with the shortest precision: ``1e+06``, ``123456``,
    ``1e-05``)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    dec = decimal.Decimal(repr(value))
    sign, digits, _exp = dec.as_tuple()
    digits = "".join(map(str, digits)).rstrip("0") or "0"
    exp10 = dec.adjusted() if value else 0
    if -4 <= exp10 < 6:
        text = format(dec.normalize() if value else decimal.Decimal(0), "f")
        text = text.rstrip("0").rstrip(".") if "." in text else text
        return ("-" if sign and not text.startswith("-") else "") + text
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"


def go_value(value):
    """``fmt.Sprintf("%v", value)`` of a decoded YAML scalar."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return "map[" + " ".join(f"{go_value(k)}:{go_value(v)}" for k, v in sorted(value.items(), key=str)) + "]"
    return str(value)


def _json(item):
    """Go's ``json.Marshal``: compact, map keys sorted, <, > and & escaped."""
    text = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _setting_value(value):
    """``(value text, multiline)`` as SOC's recursivelyParseSettings makes them."""
    if isinstance(value, list):
        lines = [(_json(item) if isinstance(item, (list, dict)) else go_value(item)) for item in value]
        return "".join(line + "\n" for line in lines if line != ""), True
    return go_value(value), False


def _load(path):
    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 2)
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.load(fh)
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        raise ScreenError(f"{path}: {' '.join(str(exc).split())}") from None
    if data is not None and not isinstance(data, dict):
        raise ScreenError(f"{path}: not a YAML mapping")
    return data or {}


def _walk(top):
    """Every file under ``top`` in ``filepath.Walk``'s order (lexical, depth
    first; a symlink is not followed)."""
    try:
        names = sorted(os.listdir(top))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ScreenError(f"{top}: {exc.strerror or exc}") from None
    for name in names:
        path = os.path.join(top, name)
        if os.path.isdir(path) and not os.path.islink(path):
            yield from _walk(path)
        else:
            yield path


def _new(sid, **fields):
    setting = {"id": sid, "title": "", "description": "", "global": False, "node": False, "nodeId": "",
               "default": "", "defaultAvailable": False, "value": "", "multiline": False, "readonly": False,
               "readonlyUi": False, "sensitive": False, "regex": "", "regexFailureMessage": "", "file": False,
               "advanced": False, "helpLink": "", "syntax": "", "forcedType": "", "duplicates": False,
               "jinjaEscaped": False}
    setting.update(fields)
    return setting


def _parse_values(settings, data, prefix, node):
    for key, value in data.items():
        sid = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            _parse_values(settings, value, sid, node)
            continue
        text, multiline = _setting_value(value)
        merged = False
        if not node:
            for existing in settings:
                if existing["id"] == sid and not existing["nodeId"]:
                    existing.update(value=text, multiline=multiline)
                    merged = True
        if not merged:
            settings.append(_new(sid, value=text, nodeId=node, multiline=multiline))


_FLAGS = ("readonly", "readonlyUi", "global", "multiline", "node", "sensitive", "advanced", "duplicates",
          "jinjaEscaped", "file")
_TEXTS = ("title", "description", "regex", "regexFailureMessage", "helpLink", "syntax", "forcedType")


def _annotate(setting, ann):
    for key, value in ann.items():
        if key in _TEXTS:
            setting[key] = go_value(value)
        elif key in _FLAGS and isinstance(value, bool):
            setting[key] = value
            if key == "file" and value:
                setting["multiline"] = True


def _parse_annotations(settings, data, prefix):
    """SOC's recursivelyParseAnnotations: True when ``data`` holds a value that is not a map."""
    leaf = False
    for key, value in data.items():
        sid = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            if _parse_annotations(settings, value, sid):
                found = [s for s in settings if s["id"] == sid]
                for setting in found:
                    _annotate(setting, value)
                    if setting["sensitive"]:
                        setting.update(value=MASK, default="")
                if not found:
                    setting = _new(sid)
                    _annotate(setting, value)
                    settings.append(setting)
        else:
            leaf = True
    return leaf


def _unescape_jinja(value):
    for old, new in (("[SO_JINJA_SL_START]", "{{"), ("[SO_JINJA_SL_END]", "}}"), ("[SO_JINJA_CM_START]", "{#"),
                     ("[SO_JINJA_CM_END]", "#}"), ("[SO_JINJA_ML_START]", "{%"), ("[SO_JINJA_ML_END]", "%}")):
        value = value.replace(old, new)
    return value


def api_settings(saltstack, extra_annotations=(), advanced=False):
    """SOC's ``GetSettings``: the settings its API gives the screen.
    ``extra_annotations``: ``(path, data)`` of annotation files read as if
    they were at ``path`` under ``<saltstack>/default`` (the library's, where
    it is not installed there)."""
    default, local = os.path.join(saltstack, "default"), os.path.join(saltstack, "local")
    settings = []
    for path in _walk(default):
        if os.path.basename(path) == "defaults.yaml":
            _parse_values(settings, _load(path), "", "")
    for setting in settings:
        setting.update(default=setting["value"], defaultAvailable=True)
    for path in _walk(local):
        name = os.path.basename(path)
        if not name.endswith(".sls"):
            continue
        sid, minion = name[: -len(".sls")], "/minions/" in path
        if sid.startswith("adv_"):
            sid = sid[len("adv_"):]
            node = sid if minion else ""
            with open(path, encoding="utf-8", errors="replace") as fh:
                settings.append(_new("advanced" if minion else f"{sid}.advanced", value=fh.read(), nodeId=node,
                                     multiline=True, syntax="yaml", **{"global": not minion, "node": minion}))
        elif sid.startswith("soc_") or minion:
            _parse_values(settings, _load(path), "", sid if minion else "")
    annotations = [(p, None) for p in _walk(default)
                   if os.path.basename(p).startswith("soc_") and p.endswith(".yaml")]
    annotations += [(os.path.join(default, rel), data) for rel, data in extra_annotations]
    for path, data in sorted(annotations, key=lambda pd: pd[0].split(os.sep)):
        _parse_annotations(settings, _load(path) if data is None else data, "")
    for setting in settings:
        if not setting["description"]:
            setting["advanced"] = True
        if setting["jinjaEscaped"] or not setting["description"]:
            setting["value"] = _unescape_jinja(setting["value"])
    shown = [s for s in settings if advanced or not s["advanced"]]
    return sorted(shown, key=lambda s: (s["id"].endswith("advanced"), s["id"]))


@dataclasses.dataclass
class Screen:
    """The Configuration screen over SOC's API answer: one entry per id
    (node values merged in), the tree, the errors it shows."""

    settings: list
    errors: list

    @classmethod
    def of(cls, api):
        merged = {}
        for item in api:
            entry = merged.get(item["id"])
            if entry is None:
                entry = merged[item["id"]] = dict(item, value=None, nodeValues={}, default=None,
                                                  defaultAvailable=False)
            if item["nodeId"]:
                entry["nodeValues"][item["nodeId"]] = item["value"]
                entry["global"] = False
            else:
                entry.update(value=item["value"], default=item["default"],
                             defaultAvailable=item["defaultAvailable"], node=False, **{"global": item["global"]})
            entry["description"] = entry["description"] or item["description"]
            entry["title"] = entry["title"] or item["title"]
        screen = cls(list(merged.values()), [])
        screen.tree = screen._tree()
        return screen

    def _tree(self):
        root = {"children": []}
        for setting in self.settings:
            node, parts, parent = root, setting["id"].split("."), ""
            try:
                for i, name in enumerate(parts):
                    if "children" not in node:
                        raise ValueError(f"Setting name '{node['name']}' conflicts with another similarly named "
                                         "setting")
                    if i == len(parts) - 1:
                        setting.setdefault("name", name)
                        node["children"].append(setting)
                        break
                    nid = f"{parent}.{name}" if parent else name
                    child = next((c for c in node["children"] if c.get("name") == name), None)
                    if child is None:
                        child = {"id": nid, "name": name, "children": []}
                        node["children"].append(child)
                    node, parent = child, nid
            except ValueError as exc:
                self.errors.append(f"Malformed config setting ({setting['id']}): Error: {exc}")
        return root

    @staticmethod
    def _matches(node, needle):
        texts = [node.get("name"), node.get("id"), node.get("value"), node.get("title"), node.get("description")]
        if any(t and needle in str(t).lower() for t in texts):
            return True
        return any(needle in k for k in (node.get("nodeValues") or {}))

    def search(self, term):
        """The settings the tree shows for ``term`` (every one when empty), sorted by id."""
        needle = term.lower()
        shown = []

        def visit(node, whole):
            hit = whole or not needle or self._matches(node, needle)
            if "children" not in node:
                if hit:
                    shown.append(node)
                return
            for child in node["children"]:
                visit(child, hit)

        for top in self.tree["children"]:
            visit(top, False)
        return sorted(shown, key=lambda s: s["id"])

    def customized(self, setting):
        """The screen's "customized": a value other than the default, a node
        value, or an advanced text that is set."""
        if setting["defaultAvailable"] and setting["default"] != setting["value"]:
            return True
        if setting["defaultAvailable"] and any(setting["nodeValues"].values()):
            return True
        return setting["id"].endswith("advanced") and setting["multiline"] and bool(
            setting["value"] or setting["nodeValues"])


def help_url(link):
    """An annotation's ``helpLink`` as the screen opens it (the documentation's URL before it)."""
    if not link or "://" in link:
        return link
    return DOCS + link.lstrip("/")
