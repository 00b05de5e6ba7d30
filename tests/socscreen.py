"""A test client that shows settings the way Security Onion's SOC Configuration screen does.

This module is written independently of the product code, in Python, from
SOC's own source, so that tests can compare the product against it. Source read:
Security-Onion-Solutions/securityonion-soc at commit c0529601b7f6 (SOC 2.4.110-20241004,
Elastic License 2.0; read for facts only, no code copied):

* ``server/modules/salt/saltstore.go``: ``GetSettings`` and its helpers (the three
  ``filepath.Walk`` passes, ``recursivelyParseSettings``, ``recursivelyParseAnnotations``,
  ``updateSettingWithAnnotation``, ``parseAdvanced``, ``postProcess``, ``filter``,
  ``sortSettings``, ``parseYaml``, ``relPathFromId``, ``readFile``);
  ``server/confighandler.go`` (an error from ``GetSettings`` is an HTTP 400: no settings).
* ``model/config.go`` (``Setting``, its JSON names, ``SupportsJinja``), ``syntax/jinja.go``
  (``UnescapeJinja``), ``json/json.go`` (``WriteJson`` = ``encoding/json.Marshal``).
* ``html/js/routes/config.js`` (``loadData``/``create``/``merge``, ``organizeTree``/``addToNode``,
  ``filter``, ``countCustomized``, ``isSettingModified``, ``isSettingModifiedPerNode``,
  ``isAdvanced``), ``html/js/i18n.js`` (``settingMalformed``), ``html/index.html`` (the
  ``v-treeview`` with ``:search``/``:filter``), and Vuetify 2's ``VTreeview`` (``excludedItems``,
  ``isExcluded``) with ``util/filterTreeItems.ts``.
* gopkg.in/yaml.v3 v3.0.1 (SOC's go.mod), ``resolve.go``/``decode.go``/``yaml.go``: how a YAML
  file becomes Go values, and Go's ``fmt``, ``strconv``, ``encoding/json`` and ``time`` for how
  those values become text. Several cases were checked against a scratch Go program built with
  yaml.v3 v3.0.1 (Go 1.19; SOC is built with Go 1.22.6).

API
---
``get_settings(saltstack_dir, advanced=False) -> list[dict]``
    What ``GET /api/config/?advanced=...`` returns: one dict per ``model.Setting`` with its JSON
    names (``id value default defaultAvailable nodeId title description global node readonly
    readonlyUi sensitive advanced helpLink forcedType multiline syntax file duplicates
    jinjaEscaped regex regexFailureMessage``). Raises :class:`SocError` where SOC answers with an
    error (:class:`SocYamlError` names the file; :class:`SocPanic` where SOC's Go code panics).
``Screen(api_settings)``
    The Configuration screen after ``loadData`` (``api_settings``: ``get_settings``' list, or the
    product's API JSON): ``settings`` (merged by id, each with
    ``nodeValues`` {node id: value}, and ``name`` once placed in the tree), ``tree`` (the
    hierarchy given to the ``v-treeview``), ``errors`` (the texts shown by ``showError``),
    ``available`` (``settingsAvailable``), ``customized`` (``settingsCustomized``) and
    ``search(term)``: the ids of the settings (leaves) the tree keeps for that search text, sorted.
``screen(saltstack_dir, advanced=False) -> Screen``
    ``Screen(get_settings(saltstack_dir, advanced))``.

What SOC does, in short
-----------------------
1. Every file named ``defaults.yaml`` under ``<dir>/default`` (walk order) gives values; then
   every setting's ``default`` is its value and ``defaultAvailable`` is true.
2. Under ``<dir>/local``, every ``*.sls``: ``adv_<x>.sls`` is the raw text of a multiline, yaml
   syntax setting ``<x>.advanced`` (global) or, under a path containing ``/minions/``, ``advanced``
   for node ``<x>``; ``soc_*.sls`` and every ``.sls`` under ``/minions/`` give values (the latter
   for the node named by the file). A global value replaces the value of every global setting of
   that id (its default stays); a node value is always a new entry with ``nodeId``.
3. Every ``soc_*.yaml`` under ``<dir>/default`` gives annotations: a map holding at least one
   value that is not a string-keyed map annotates the id of its key path; its known fields are
   applied one by one to every setting of that id, or to a new empty setting when there is none.
   ``sensitive`` then masks: value ``******``, default ``""``. ``file: true`` reads the value and
   default from ``local/salt/<path>`` and ``default/salt/<path>``.
4. A setting without description becomes advanced and (as every ``jinjaEscaped`` one) has its
   value's ``[SO_JINJA_*]`` markers turned back into Jinja; advanced settings are dropped unless
   asked for; the list is sorted by id, ids ending in ``advanced`` last.

Go versus Python: the differences found and what this module does about them
----------------------------------------------------------------------------
* YAML values. yaml.v3 decodes into ``interface{}`` with its own resolver, which is neither YAML
  1.1 nor plain YAML 1.2: booleans are only ``true/True/TRUE/false/False/FALSE`` (``yes``,
  ``on``, ``y`` stay strings); null is ``~``, ``null/Null/NULL`` or empty (shown as ``<nil>``);
  ints go through Go's ``strconv.ParseInt(s, 0, 64)`` after removing ``_``, so ``0600`` is octal
  384, ``0o17`` 15, ``0x1F`` 31, ``0b101`` 5, ``+12`` 12, ``1_000`` 1000; too big for int64 but
  fitting uint64 stays an integer, bigger becomes a float; ``08``/``09`` (bad octal) become the
  float 8/9; ``1e3``, ``1.0``, ``.5`` are floats; ``.inf``/``.nan`` are floats;
  ``12:30`` (sexagesimal in 1.1) is a string; a timestamp (``2024-01-01``,
  ``2001-12-14t21:59:43.10-05:00``, ``2001-12-14 21:59:43.10``) becomes a Go ``time.Time``
  (yaml.v3 v3.0.1 does not keep it as a string), shown by ``Time.String()`` as
  ``2024-01-01 00:00:00 +0000 UTC`` or ``2001-12-14 21:59:43.1 -0500 -0500``, in JSON as
  RFC 3339. Quoted and block scalars are strings; ``!!str``/``!!int``/``!!float``/``!!bool``/
  ``!!null``/``!!timestamp`` tags force or fail as in yaml.v3 (``!!bool yes`` is an error);
  ``!!binary`` is base64-decoded; any other tag leaves the text as a string (``!foo 12`` is
  ``"12"``). So ruamel.yaml is used only as a parser (its event stream); every scalar is
  resolved here by a port of yaml.v3's ``resolve()`` and Go's ``strconv``/``time.Parse`` rules,
  never by ruamel's 1.1/1.2 resolver (ruamel's 1.2 resolver would make ``0600`` 600 and keep
  ``2024-01-01`` a string or a date, both unlike Go).
* Maps: yaml.v3 makes a ``map[string]interface{}`` only when every key is a string (or ``<<``);
  any other key (``1``, ``true``, ``~``, a date, a tagged key) makes a
  ``map[interface{}]interface{}``, which SOC does not descend into: the whole map is one value
  printed by ``%v`` (``map[1:a 2:b]``), and as a list item it makes ``encoding/json`` fail, so
  the item is dropped. Top-level keys are read into Go strings: their source text is the key
  (``1.0`` stays ``"1.0"``), a null key drops its entry, a map or list key is an error.
  Duplicate keys (same source text, even ``a`` and ``"a"``) are an error; ``<<`` merge keys,
  anchors and aliases work as in yaml.v3 (a self-referencing alias is an error); only the first
  document of a file is read.
* Text of values: Go's ``fmt.Sprintf("%v")``: ``<nil>``, ``true``/``false``, integers in
  decimal, floats in the shortest ``%g`` form with Go's exponent threshold (``3.0`` -> ``3``,
  ``100000.0`` -> ``100000``, ``1e6`` -> ``1e+06``, ``1234567.0`` -> ``1.234567e+06``,
  ``1e-05``, ``+Inf``, ``-Inf``, ``NaN``, ``-0``), lists as ``[a b]``, maps as ``map[k:v]`` with
  sorted keys. Python's ``repr`` gives the same shortest digits; the layout is rebuilt here.
* List settings: each item plus ``\\n``; an item that is a list or a string-keyed map is
  ``encoding/json`` text (sorted keys, no spaces, ``<``, ``>``, ``&``, U+2028, U+2029 escaped as
  ``\\u003c`` etc., ``\\b``/``\\f`` short as in Go >= 1.22, floats in Go's JSON form ``1e+21``,
  ``1e-7``, ``100000000000000000000``); an item whose text is empty (``""``, or JSON that failed
  on NaN/Inf or a non-string-keyed map) is left out entirely.
* Bytes that are not UTF-8 (from ``!!binary``, ``adv_`` files, ``file`` annotations) reach the
  API as Go strings, which Go's JSON encoder turns into one U+FFFD per bad byte; that is done
  here too (and ``\\ufffd`` escapes inside list-item JSON).
* Go map iteration order is random, so some of SOC's results are not determined and this module
  picks document order: the order of keys in a file (two spellings of one id in one file, such as
  ``a.b: 1`` and ``a: {b: 2}``: SOC keeps either; here the later one), the order in which one
  annotation's fields are applied (only ``file`` with ``multiline`` conflict), and key types of
  mixed-type ``map[...]`` keys (Go orders them by type-descriptor address; here nil, bool,
  float, int, string, uint64, time, as observed with a Go 1.19 build).
* Sorting: SOC's comparator is ``(a < b && !adv(a)) || adv(b)`` (``adv`` = id ends with
  ``advanced``), not a strict weak order. Go's ``sort.Slice`` uses insertion sort up to 12
  entries, which gives: the other ids ascending with equal ids in input order, then the
  ``*advanced`` ids in reverse input order. This module gives that result at every size; for
  more than 12 entries Go's pdqsort may order equal ids and ``*advanced`` ids differently (their
  input order there depends on Go's random map order anyway). This matters on the screen: when
  one id has a global and node-specific entries, ``merge`` leaves ``global`` false if a node entry
  comes last and the global entry's ``global`` if it comes last.
* Errors: SOC returns no settings (HTTP 400) when any file it parses fails, or when ``default``
  or ``local`` is missing (or is a symbolic link: ``filepath.Walk`` does not follow it, so such a
  tree is simply empty); a non-bool ``readonly``/``global``/... annotation makes Go panic
  (:class:`SocPanic`). Error texts are Go-like but not identical (ruamel's parser messages
  differ from libyaml's); exceptions always name the file.
* YAML syntax: ruamel's parser, with its scanner adjusted to yaml.v3 where they were seen to
  differ: tabs as blanks after ``key:`` and after a scalar, tabs inside and at the start of plain
  scalar continuation lines, ``, ? [ ] { }`` ending a plain scalar in flow context, unknown
  directives refused, and only ``%YAML 1.1`` accepted (yaml.v3 refuses ``%YAML 1.2``). Still
  different (libyaml stricter): a tab right after the indentation of a block scalar's first line,
  U+2028/U+2029/NEL counted as line breaks, a quoted scalar that starts with a line break and
  runs over several lines, ``:`` starting a plain scalar in flow context. yaml.v3's "excessive
  aliasing" limit is not applied. These were compared on ~6000 generated files with a Go 1.19
  build of yaml.v3 v3.0.1; the only other differences seen are Go 1.19 versus 1.22 ones below.
* Go version (SOC: 1.22.6): ``time.Parse`` ignores fraction digits past the ninth (Go >= 1.20)
  and does not range-check zone offsets (before Go 1.23: ``+25:00`` is a timestamp); JSON of a
  time whose zone hour is 24 or more fails (Go >= 1.20), which drops that list item; JSON writes
  ``\\b``/``\\f`` (Go >= 1.22).
* Times with a numeric offset of zero are shown as UTC (SOC's container runs with the UTC zone,
  which Go's ``time.Parse`` then uses); other offsets as Go's unnamed fixed zones.
* Screen: JavaScript ``toLowerCase`` is taken as ``str.lower``; node ids in ``nodeValues`` are
  matched against the lower-cased search text without lower-casing them (SOC's behaviour: a
  node ``Sensor1`` is not found by ``sensor1`` nor ``Sensor1``).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import math
import os
import posixpath
import re
import stat
from decimal import Decimal

from ruamel.yaml import YAML as _RuamelYAML
from ruamel.yaml import events as _ev
from ruamel.yaml.error import YAMLError as _RuamelYAMLError
from ruamel.yaml.scanner import Scanner as _RuamelScanner
from ruamel.yaml.scanner import ScannerError as _RuamelScannerError
from ruamel.yaml.tokens import ScalarToken as _ScalarToken

__all__ = ["get_settings", "Screen", "screen", "SocError", "SocYamlError", "SocPanic"]


class SocError(Exception):
    """SOC answers this request with an error instead of settings."""


class SocYamlError(SocError):
    """A file SOC parses (YAML) or reads failed; ``path`` names it."""

    def __init__(self, path, message):
        super().__init__("%s: %s" % (path, message))
        self.path = path
        self.message = message


class SocPanic(SocError):
    """SOC's Go code panics here (a type assertion on an annotation field fails)."""


class _YamlFail(Exception):
    """Internal: a yaml.v3 decode failure, wrapped with the file name by the caller."""


# ---------------------------------------------------------------------------
# Go values as decoded by yaml.v3 into interface{}
#   nil -> None, bool -> bool, int -> int, uint64 -> GoUint, float64 -> float,
#   string -> str (or bytes when not valid UTF-8), time.Time -> GoTime,
#   []interface{} -> list, map[string]interface{} -> dict, map[interface{}]interface{} -> GoMap


class GoUint(int):
    """A uint64 (a YAML integer above int64's range)."""


class GoTime:
    """A ``time.Time`` from yaml.v3's timestamp resolution (``offset`` None = UTC)."""

    def __init__(self, year, month, day, hour=0, minute=0, second=0, nsec=0, offset=None):
        self.fields = (year, month, day, hour, minute, second)
        self.nsec = nsec
        self.offset = None if offset == 0 else offset  # zero offset: Local (UTC in SOC)

    def _frac(self):
        return ("." + ("%09d" % self.nsec).rstrip("0")) if self.nsec else ""

    def _zone(self, colon):
        minutes = self.offset // 60 if self.offset >= 0 else -((-self.offset) // 60)
        sign = "-" if minutes < 0 else "+"
        minutes = abs(minutes)
        return "%s%02d%s%02d" % (sign, minutes // 60, ":" if colon else "", minutes % 60)

    def go_string(self):
        """``Time.String()``: ``2006-01-02 15:04:05.999999999 -0700 MST``."""
        y, mo, d, h, mi, s = self.fields
        base = "%04d-%02d-%02d %02d:%02d:%02d%s" % (y, mo, d, h, mi, s, self._frac())
        if self.offset is None:
            return base + " +0000 UTC"
        zone = self._zone(False)
        return "%s %s %s" % (base, zone, zone)

    def go_json(self):
        """``Time.MarshalJSON``: RFC 3339 with nanoseconds; None (an error) for a zone hour over 23."""
        y, mo, d, h, mi, s = self.fields
        base = "%04d-%02d-%02dT%02d:%02d:%02d%s" % (y, mo, d, h, mi, s, self._frac())
        if self.offset is not None and abs(self.offset) // 3600 >= 24:
            return None
        return '"%s%s"' % (base, "Z" if self.offset is None else self._zone(True))

    def sort_key(self):
        # fmtsort compares the struct fields: wall (nanoseconds here), ext (seconds), loc.
        y, mo, d, h, mi, s = self.fields
        days = _days_from_civil(y, mo, d)
        secs = ((days * 24 + h) * 60 + mi) * 60 + s - (self.offset or 0)
        return (self.nsec, secs, 0 if self.offset is None else 1)


class GoMap:
    """A ``map[interface{}]interface{}`` (a YAML map with a key that is not a string)."""

    def __init__(self):
        self._entries = {}

    def __setitem__(self, key, value):
        self._entries[_typed_key(key)] = (key, value)

    def items(self):
        return list(self._entries.values())


_KIND_ORDER = {"nil": 0, "bool": 1, "float": 2, "int": 3, "str": 4, "uint": 5, "time": 6}


def _kind(value):
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, GoUint):
        return "uint"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, (str, bytes)):
        return "str"
    if isinstance(value, GoTime):
        return "time"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "smap"
    return "gmap"


_GO_TYPE = {
    "nil": "nil", "bool": "bool", "uint": "uint64", "int": "int", "float": "float64", "str": "string",
    "time": "time.Time", "list": "[]interface {}", "smap": "map[string]interface {}",
    "gmap": "map[interface {}]interface {}",
}


def _typed_key(value):
    kind = _kind(value)
    if kind == "time":
        return (kind, value.fields, value.nsec, value.offset)
    if kind == "str":
        return (kind, _as_bytes(value))
    return (kind, value)


def _as_bytes(s):
    return s if isinstance(s, bytes) else s.encode("utf-8", "surrogatepass")


def _go_string(data):
    """Go string bytes as they reach the API: each byte that is not UTF-8 becomes U+FFFD."""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", "_socscreen_per_byte")


# Go decodes a bad byte at a time (utf8.DecodeRune gives size 1): one replacement per byte, where
# Python's "replace" would give one per maximal bad sequence. The JSON variant marks the byte so
# that the JSON writer can emit Go's "\ufffd" escape for it.
codecs.register_error("_socscreen_per_byte", lambda exc: ("\ufffd", exc.start + 1))
codecs.register_error("_socscreen_json_bad_byte", lambda exc: ("\udcff", exc.start + 1))


# ---------------------------------------------------------------------------
# Go's strconv (ParseUint / ParseInt / ParseFloat for decimal text)


def _underscore_ok(s):
    saw = "^"
    i = 0
    if s[:1] in ("-", "+"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i = 2
        saw = "0"
        hexa = s[1].lower() == "x"
    while i < len(s):
        c = s[i]
        if "0" <= c <= "9" or (hexa and "a" <= c.lower() <= "f"):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
        i += 1
    return saw != "_"


def _parse_uint(s, base):
    """``strconv.ParseUint(s, base, 64)``; None on any error."""
    if s == "":
        return None
    s0 = s
    base0 = base == 0
    if base0:
        base = 10
        if s[0] == "0":
            if len(s) >= 3 and s[1].lower() == "b":
                base, s = 2, s[2:]
            elif len(s) >= 3 and s[1].lower() == "o":
                base, s = 8, s[2:]
            elif len(s) >= 3 and s[1].lower() == "x":
                base, s = 16, s[2:]
            else:
                base, s = 8, s[1:]
    n = 0
    underscores = False
    for c in s:
        if c == "_" and base0:
            underscores = True
            continue
        if "0" <= c <= "9":
            d = ord(c) - 48
        elif "a" <= c.lower() <= "z" and c.isascii():
            d = ord(c.lower()) - 87
        else:
            return None
        if d >= base:
            return None
        n = n * base + d
        if n > 0xFFFFFFFFFFFFFFFF:
            return None
    if underscores and not _underscore_ok(s0):
        return None
    return n


def _parse_int(s, base):
    """``strconv.ParseInt(s, base, 64)``; None on any error."""
    if s == "":
        return None
    neg = False
    body = s
    if s[0] in "+-":
        neg = s[0] == "-"
        body = s[1:]
    un = _parse_uint(body, base)
    if un is None:
        return None
    if (not neg and un >= 1 << 63) or (neg and un > 1 << 63):
        return None
    return -un if neg else un


_GO_DECIMAL_FLOAT = re.compile(r"[+-]?(?=\.?[0-9])[0-9_]*(\.[0-9_]*)?([eE][+-]?[0-9][0-9_]*)?\Z")


def _parse_float(s):
    """``strconv.ParseFloat(s, 64)`` for the decimal forms yaml.v3 hands it; None on error."""
    if not s.isascii() or not _GO_DECIMAL_FLOAT.match(s):
        return None
    mantissa = re.match(r"[+-]?[0-9_.]*", s).group(0)
    if not any(c.isdigit() for c in mantissa):
        return None
    if "_" in s and not _underscore_ok(s):
        return None
    value = float(s.replace("_", ""))
    if math.isinf(value):
        return None  # Go: +-Inf with ErrRange, an error
    return value


# ---------------------------------------------------------------------------
# yaml.v3's timestamp resolution (time.Parse with its four layouts, zone UTC)


def _is_leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in(month, year):
    if month == 2:
        return 29 if _is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(y, m, d):
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _getnum(v, fixed):
    if not v[:1].isdigit() or not v[:1].isascii():
        return None, v
    if len(v) < 2 or not ("0" <= v[1] <= "9"):
        if fixed:
            return None, v
        return int(v[0]), v[1:]
    return int(v[:2]), v[2:]


def _parse_layout(value, sep, zone):
    """One of yaml.v3's layouts ``2006-1-2<sep>15:4:5.999999999[Z07:00]`` or ``2006-1-2``."""
    if len(value) < 4 or not value[0].isdigit():
        return None
    year, v = int(value[:4]), value[4:]
    if v[:1] != "-":
        return None
    month, v = _getnum(v[1:], False)
    if month is None or not 1 <= month <= 12 or v[:1] != "-":
        return None
    day, v = _getnum(v[1:], False)
    if day is None:
        return None
    hour = minute = second = nsec = 0
    offset = None
    if sep is not None:
        if sep == " ":
            if v and v[0] != " ":
                return None
            v = v.lstrip(" ")
        elif v[:1] != sep:
            return None
        else:
            v = v[1:]
        hour, v = _getnum(v, False)
        if hour is None or hour >= 24 or v[:1] != ":":
            return None
        minute, v = _getnum(v[1:], False)
        if minute is None or minute >= 60 or v[:1] != ":":
            return None
        second, v = _getnum(v[1:], False)
        if second is None or second >= 60:
            return None
        if len(v) >= 2 and v[0] in ".," and "0" <= v[1] <= "9":
            n = 1
            while n < len(v) and "0" <= v[n] <= "9":
                n += 1
            digits = v[1:min(n, 10)]
            nsec = int(digits) * 10 ** (9 - len(digits))
            v = v[n:]
        if zone:
            if v[:1] == "Z":
                v = v[1:]
            else:
                if len(v) < 6 or v[3] != ":":
                    return None
                hh, _ = _getnum(v[1:3], True)
                mm, _ = _getnum(v[4:6], True)
                if hh is None or mm is None or v[0] not in "+-":  # no range check before Go 1.23
                    return None
                offset = (hh * 60 + mm) * 60 * (-1 if v[0] == "-" else 1)
                v = v[6:]
    if v:
        return None
    if day < 1 or day > _days_in(month, year):
        return None
    return GoTime(year, month, day, hour, minute, second, nsec, offset)


def _parse_timestamp(s):
    if len(s) < 5 or not s[:4].isdigit() or not s[:4].isascii() or s[4] != "-":
        return None
    for sep, zone in (("T", True), ("t", True), (" ", False), (None, False)):
        t = _parse_layout(s, sep, zone)
        if t is not None:
            return t
    return None


# ---------------------------------------------------------------------------
# yaml.v3's resolve()

_STR, _INT, _FLOAT, _BOOL, _NULL = "!!str", "!!int", "!!float", "!!bool", "!!null"
_TIMESTAMP, _BINARY, _MERGE, _SEQ, _MAP = "!!timestamp", "!!binary", "!!merge", "!!seq", "!!map"
_LONG_PREFIX = "tag:yaml.org,2002:"
_RESOLVABLE = ("", _STR, _BOOL, _INT, _FLOAT, _NULL, _TIMESTAMP)
_RESOLVE_MAP = {}
for _words, _tag, _val in (
    (("true", "True", "TRUE"), _BOOL, True),
    (("false", "False", "FALSE"), _BOOL, False),
    (("", "~", "null", "Null", "NULL"), _NULL, None),
    ((".nan", ".NaN", ".NAN"), _FLOAT, math.nan),
    ((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), _FLOAT, math.inf),
    (("-.inf", "-.Inf", "-.INF"), _FLOAT, -math.inf),
    (("<<",), _MERGE, "<<"),
):
    for _w in _words:
        _RESOLVE_MAP[_w] = (_tag, _val)
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")


def _short_tag(tag):
    if tag and tag.startswith(_LONG_PREFIX):
        return "!!" + tag[len(_LONG_PREFIX):]
    return tag or ""


def _hint(s):
    if s == "":
        return "N"
    c = s[0]
    if c in "+-":
        return "S"
    if c in "0123456789":
        return "D"
    if c in "yYnNtTfFoO~":
        return "M"
    if c == ".":
        return "."
    return ""


def _int_value(n):
    return GoUint(n) if n > (1 << 63) - 1 else n


def _resolve_plain(tag, s):
    hint = _hint(s)
    if not hint or tag in (_STR, _BINARY):
        return _STR, s
    if s in _RESOLVE_MAP:
        return _RESOLVE_MAP[s]
    if hint == ".":
        f = _parse_float(s)
        if f is not None:
            return _FLOAT, f
    elif hint in "DS":
        if tag in ("", _TIMESTAMP):
            t = _parse_timestamp(s)
            if t is not None:
                return _TIMESTAMP, t
        plain = s.replace("_", "")
        i = _parse_int(plain, 0)
        if i is not None:
            return _INT, i
        u = _parse_uint(plain, 0)
        if u is not None:
            return _INT, GoUint(u)
        if _YAML_STYLE_FLOAT.match(plain):
            f = _parse_float(plain)
            if f is not None:
                return _FLOAT, f
        for prefix, base in (("0b", 2), ("0o", 8)):
            if plain.startswith(prefix):
                i = _parse_int(plain[2:], base)
                if i is not None:
                    return _INT, i
                u = _parse_uint(plain[2:], base)
                if u is not None:
                    return _INT, _int_value(u)
            elif plain.startswith("-" + prefix):
                i = _parse_int("-" + plain[3:], base)
                if i is not None:
                    return _INT, i
    return _STR, s


def _resolve(tag, s):
    tag = _short_tag(tag)
    if tag not in _RESOLVABLE:
        return tag, s
    rtag, out = _resolve_plain(tag, s)
    if tag in ("", rtag, _STR, _BINARY):
        return rtag, out
    if tag == _FLOAT and rtag == _INT and not isinstance(out, GoUint):
        return _FLOAT, float(out)
    raise _YamlFail("cannot decode %s `%s` as a %s" % (rtag, s, tag))


# ---------------------------------------------------------------------------
# Parsing with ruamel.yaml's event stream into yaml.v3-like nodes


_SURROGATE = re.compile("[\ud800-\udfff]")


class _Node:
    __slots__ = ("kind", "tag", "value", "plain", "content", "alias", "line")

    def __init__(self, kind, tag, value="", plain=True, line=0):
        self.kind = kind  # "scalar", "seq", "map", "alias"
        self.tag = tag
        self.value = value
        self.plain = plain
        self.content = []
        self.alias = None
        self.line = line

    def indicated_string(self):
        return self.kind == "scalar" and (
            _short_tag(self.tag) == _STR or (self.tag in ("", "!") and not self.plain))

    def short_tag(self):
        if self.indicated_string():
            return _STR
        if self.tag in ("", "!"):
            if self.kind == "map":
                return _MAP
            if self.kind == "seq":
                return _SEQ
            if self.kind == "alias":
                return self.alias.short_tag() if self.alias is not None else ""
            if self.kind == "scalar":
                return _resolve("", self.value)[0]
            return ""
        return _short_tag(self.tag)


_LINE_ENDS = "\n\0\r\x85\u2028\u2029"
_BLANKZ = " \t" + _LINE_ENDS
_BLANKS_BREAKS = " \t\n\r\x85\u2028\u2029"
_PLAIN_RUN_BLOCK = re.compile("(?:[^:%s]|:(?![%s]))*" % (_BLANKZ, _BLANKZ))
_PLAIN_RUN_FLOW = re.compile("(?:[^:,?\\[\\]{}%s]|:(?![%s]))*" % (_BLANKZ, _BLANKZ))


class _GoScanner(_RuamelScanner):
    """ruamel's scanner with libyaml's (yaml.v3's) rules where they differ and matter.

    * Blanks before a token: spaces always; tabs too in flow context or where no simple key may
      start (after ``key:``, after a scalar), as yaml.v3's ``yaml_parser_scan_to_next_token``
      does (ruamel skips tabs in flow context only, so ``a:<TAB>b`` would be an error).
    * A directive other than ``%YAML``/``%TAG`` is an error ("found unknown directive name").
    """

    def scan_to_next_token(self):
        peek, forward = self.reader.peek, self.reader.forward
        if self.reader.index == 0 and peek() == "\ufeff":
            forward()
        while True:
            while peek() == " " or (peek() == "\t" and (self.flow_level > 0 or not self.allow_simple_key)):
                forward()
            if peek() == "#":
                while peek() not in _LINE_ENDS:
                    forward()
            if self.scan_line_break():
                if not self.flow_level:
                    self.allow_simple_key = True
            else:
                return None

    def scan_plain(self):
        """libyaml's ``yaml_parser_scan_plain_scalar``: blanks are spaces or tabs, a tab left of the
        indentation on a continuation line is an error, and in flow context ``, ? [ ] { }`` end it."""
        peek, forward, reader = self.reader.peek, self.reader.forward, self.reader
        chunks = []
        whitespaces = leading_break = trailing_breaks = ""
        leading_blanks = False
        indent = self.indent + 1
        start_mark = end_mark = reader.get_mark()
        while True:
            if reader.column == 0 and reader.prefix(3) in ("---", "...") and peek(3) in _BLANKZ:
                break
            if peek() == "#":
                break
            # the run of characters up to a blank, ": " (and in flow context , ? [ ] { })
            pattern = _PLAIN_RUN_FLOW if self.flow_level else _PLAIN_RUN_BLOCK
            run = pattern.match(reader.buffer, reader.pointer).group()  # the reader holds the whole text
            if run:
                if leading_blanks:
                    if leading_break == "\n":
                        chunks.append(trailing_breaks or " ")
                    else:
                        chunks.append(leading_break + trailing_breaks)
                    leading_break = trailing_breaks = ""
                    leading_blanks = False
                elif whitespaces:
                    chunks.append(whitespaces)
                    whitespaces = ""
                chunks.append(run)
                forward(len(run))
                end_mark = reader.get_mark()
            if peek() not in _BLANKS_BREAKS:
                break
            while peek() in _BLANKS_BREAKS:
                if peek() in " \t":
                    if leading_blanks and reader.column < indent and peek() == "\t":
                        raise _RuamelScannerError("while scanning a plain scalar", start_mark,
                                                  "found a tab character that violates indentation", reader.get_mark())
                    if not leading_blanks:
                        whitespaces += peek()
                    forward()
                elif not leading_blanks:
                    whitespaces = ""
                    leading_break = self.scan_line_break()
                    leading_blanks = True
                else:
                    trailing_breaks += self.scan_line_break()
            if not self.flow_level and reader.column < indent:
                break
        if leading_blanks:
            self.allow_simple_key = True
        return _ScalarToken("".join(chunks), True, start_mark, end_mark)

    def scan_directive(self):
        token = super().scan_directive()
        if token.name not in ("YAML", "TAG"):
            raise _RuamelScannerError("while scanning a directive", token.start_mark,
                                      "found unknown directive name", token.start_mark)
        return token


def _compose_first_document(text):
    ev = _ev  # short name for the event classes
    parser = _RuamelYAML(typ="safe", pure=True)
    parser.Scanner = _GoScanner
    events = parser.parse(text)
    anchors = {}

    def line_of(e):
        mark = getattr(e, "start_mark", None)
        return (mark.line + 1) if mark is not None else 0

    def node(e):
        if isinstance(e, ev.AliasEvent):
            n = _Node("alias", "", e.anchor, line=line_of(e))
            n.alias = anchors.get(e.anchor)
            if n.alias is None:
                raise _YamlFail("unknown anchor '%s' referenced" % e.anchor)
            return n
        tag = e.tag if e.tag is not None else ""
        if isinstance(e, ev.ScalarEvent):
            plain = not e.style
            if not plain and _SURROGATE.search(e.value):
                raise _YamlFail("found invalid Unicode character escape code")
            default = (_MERGE if e.value == "<<" else "") if plain else _STR
            if tag not in ("", "!"):
                tag = _short_tag(tag)
            elif default:
                tag = default
            else:
                tag = _resolve("", e.value)[0]
            n = _Node("scalar", tag, e.value, plain, line_of(e))
            if e.anchor is not None:
                anchors[e.anchor] = n
            return n
        kind = "map" if isinstance(e, ev.MappingStartEvent) else "seq"
        tag = _short_tag(tag) if tag not in ("", "!") else (_MAP if kind == "map" else _SEQ)
        n = _Node(kind, tag, line=line_of(e))
        if e.anchor is not None:
            anchors[e.anchor] = n
        end = ev.MappingEndEvent if kind == "map" else ev.SequenceEndEvent
        for child in events:
            if isinstance(child, end):
                return n
            n.content.append(node(child))
        raise _YamlFail("unexpected end of stream")

    for e in events:
        if isinstance(e, ev.StreamStartEvent):
            continue
        if isinstance(e, ev.StreamEndEvent):
            return None
        if isinstance(e, ev.DocumentStartEvent):
            version = getattr(e, "version", None)
            if version is not None and tuple(version) != (1, 1):  # yaml.v3 accepts %YAML 1.1 only
                raise _YamlFail("found incompatible YAML document")
            root = node(next(events))
            next(events, None)  # the document end; nothing after it is read
            return root
    return None


class _Decoder:
    """yaml.v3's decoder for an ``interface{}`` target (and the top-level ``map[string]interface{}``)."""

    def __init__(self):
        self.active_aliases = set()
        self.merged_fields = None

    def decode(self, n):
        if n.kind == "alias":
            if id(n) in self.active_aliases:
                raise _YamlFail("anchor '%s' value contains itself" % n.value)
            self.active_aliases.add(id(n))
            try:
                return self.decode(n.alias)
            finally:
                self.active_aliases.discard(id(n))
        if n.kind == "scalar":
            if n.indicated_string():
                return n.value
            rtag, value = _resolve(n.tag, n.value)
            if rtag == _BINARY:
                return _binary(value)
            return value
        if n.kind == "seq":
            return [self.decode(c) for c in n.content]
        out = {} if _is_string_map(n) else GoMap()
        return self.mapping(n, out)

    def key_as_string(self, n):
        """A key read into a Go ``string``; ``_SKIP`` where yaml.v3 drops the entry (null)."""
        if n.kind == "alias":
            if id(n) in self.active_aliases:
                raise _YamlFail("anchor '%s' value contains itself" % n.value)
            self.active_aliases.add(id(n))
            try:
                return self.key_as_string(n.alias)
            finally:
                self.active_aliases.discard(id(n))
        if n.kind != "scalar":
            kind = "!!map" if n.kind == "map" else "!!seq"
            raise _YamlFail("line %d: cannot unmarshal %s into string" % (n.line, kind))
        if n.indicated_string():
            return n.value
        rtag, value = _resolve(n.tag, n.value)
        if value is None:
            return _SKIP
        if rtag == _BINARY:
            return _binary(value)
        return n.value

    def mapping(self, n, out):
        pairs = list(zip(n.content[0::2], n.content[1::2]))
        for i, (ki, _) in enumerate(pairs):
            for kj, _ in pairs[i + 1:]:
                if ki.kind == kj.kind and ki.value == kj.value:
                    raise _YamlFail("line %d: mapping key %r already defined at line %d" % (kj.line, kj.value, ki.line))
        merged_fields, self.merged_fields = self.merged_fields, None
        merge_node = None
        for k, v in pairs:
            if _is_merge(k):
                merge_node = v
                continue
            if isinstance(out, dict):
                key = self.key_as_string(k)
                if key is _SKIP:
                    continue
            else:
                key = self.decode(k)
                if isinstance(key, (list, dict, GoMap)):
                    raise _YamlFail("invalid map key: %s" % _go_v(key))
            if merged_fields is not None:
                tk = _typed_key(key)
                if tk in merged_fields:
                    continue
                merged_fields.add(tk)
            out[key] = self.decode(v)
        self.merged_fields = merged_fields
        if merge_node is not None:
            self.merge(n, merge_node, out)
        return out

    def merge(self, parent, merge, out):
        saved = self.merged_fields
        if saved is None:
            self.merged_fields = set()
            for k in parent.content[0::2]:
                try:
                    self.merged_fields.add(_typed_key(self.decode(k)))
                except TypeError:  # Go: hash of unhashable type (a map or list key beside <<)
                    raise _YamlFail("invalid map key beside a merge") from None

        if merge.kind in ("map", "alias"):
            self._merge_one(merge, out)
        elif merge.kind == "seq":
            for item in merge.content:
                self._merge_one(item, out)
        else:
            raise _YamlFail("map merge requires map or sequence of maps as the value")
        self.merged_fields = saved

    def _merge_one(self, x, out):
        target = x.alias if x.kind == "alias" else x
        if target.kind != "map":
            raise _YamlFail("map merge requires map or sequence of maps as the value")
        if x.kind == "alias":
            if id(x) in self.active_aliases:
                raise _YamlFail("anchor '%s' value contains itself" % x.value)
            self.active_aliases.add(id(x))
        try:
            self.mapping(target, out)
        finally:
            self.active_aliases.discard(id(x))


_SKIP = object()


def _is_merge(n):
    return n.kind == "scalar" and n.value == "<<" and (n.tag in ("", "!") or _short_tag(n.tag) == _MERGE)


def _is_string_map(n):
    return all(k.short_tag() in (_STR, _MERGE) for k in n.content[0::2])


def _binary(text):
    cleaned = text.replace("\r", "").replace("\n", "")
    try:
        data = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise _YamlFail("!!binary value contains invalid base64 data") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _decode_text(data):
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le")
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8")


def _parse_yaml_file(path):
    """``parseYaml``: the file's first document as a ``map[string]interface{}`` (None for null)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise SocYamlError(path, "read: %s" % (exc.strerror or exc)) from None
    try:
        text = _decode_text(data)
    except UnicodeDecodeError as exc:
        raise SocYamlError(path, "yaml: invalid UTF-8 (%s)" % exc.reason) from None
    try:
        root = _compose_first_document(text)
        if root is None:
            return {}
        decoder = _Decoder()
        if root.kind == "map":
            return decoder.mapping(root, {})
        if root.kind == "scalar":
            if root.short_tag() == _NULL:
                return None
            value = decoder.decode(root)
            if value is None:
                return None
            raise _YamlFail("cannot unmarshal %s `%s` into map[string]interface {}" % (root.short_tag(), root.value))
        if root.kind == "seq":
            raise _YamlFail("cannot unmarshal !!seq into map[string]interface {}")
        return decoder.decode(root)
    except _YamlFail as exc:
        raise SocYamlError(path, "yaml: %s" % exc) from None
    except (_RuamelYAMLError, AssertionError) as exc:  # ruamel asserts on a %YAML version it refuses
        raise SocYamlError(path, "yaml: %s" % str(exc).replace("\n", " ")) from None
    except (UnicodeDecodeError, ValueError) as exc:  # pragma: no cover - defensive
        raise SocYamlError(path, "yaml: %s" % exc) from None


# ---------------------------------------------------------------------------
# Go's fmt %v and encoding/json for these values


def _shortest_digits(f):
    """(negative, digits without trailing zeros, decimal point position) of Go's shortest form."""
    neg = math.copysign(1.0, f) < 0
    sign, digits, exponent = Decimal(repr(abs(f))).as_tuple()
    text = "".join(map(str, digits)).lstrip("0")
    if not text:
        return neg, "", 0
    stripped = text.rstrip("0")
    exponent += len(text) - len(stripped)
    return neg, stripped, len(stripped) + exponent


def _fmt_e(neg, d, dp):
    exp = dp - 1
    mant = d[0] + ("." + d[1:] if len(d) > 1 else "")
    return "%s%se%s%02d" % ("-" if neg else "", mant, "-" if exp < 0 else "+", abs(exp))


def _fmt_f(neg, d, dp):
    if not d:
        body = "0"
    elif dp <= 0:
        body = "0." + "0" * (-dp) + d
    elif dp >= len(d):
        body = d + "0" * (dp - len(d))
    else:
        body = d[:dp] + "." + d[dp:]
    return ("-" if neg else "") + body


def _go_float_v(f):
    """``fmt.Sprintf("%v", float64)``."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    neg, d, dp = _shortest_digits(f)
    exp = dp - 1
    if d and (exp < -4 or exp >= 6):
        return _fmt_e(neg, d, dp)
    return _fmt_f(neg, d, dp)


def _go_float_json(f):
    """``encoding/json`` for a float64 (None: unsupported value)."""
    if math.isnan(f) or math.isinf(f):
        return None
    neg, d, dp = _shortest_digits(f)
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        text = _fmt_e(neg, d, dp)
        return re.sub(r"e-0([0-9])\Z", r"e-\1", text)
    return _fmt_f(neg, d, dp)


def _sorted_str_keys(keys):
    return sorted(keys, key=_as_bytes)


def _gmap_sort_key(kv):
    key = kv[0]
    kind = _kind(key)
    if kind == "float":
        inner = (0, 0.0) if math.isnan(key) else (1, key)
    elif kind == "str":
        inner = _as_bytes(key)
    elif kind == "time":
        inner = key.sort_key()
    elif kind == "nil":
        inner = 0
    else:
        inner = key
    return (_KIND_ORDER.get(kind, 9), inner)


def _go_v(value):
    """``fmt.Sprintf("%v", value)``."""
    kind = _kind(value)
    if kind == "nil":
        return "<nil>"
    if kind == "bool":
        return "true" if value else "false"
    if kind in ("int", "uint"):
        return str(int(value))
    if kind == "float":
        return _go_float_v(value)
    if kind == "str":
        return _go_string(value)
    if kind == "time":
        return value.go_string()
    if kind == "list":
        return "[" + " ".join(_go_v(x) for x in value) + "]"
    if kind == "smap":
        return "map[" + " ".join("%s:%s" % (k, _go_v(value[k])) for k in _sorted_str_keys(value)) + "]"
    items = sorted(value.items(), key=_gmap_sort_key)
    return "map[" + " ".join("%s:%s" % (_go_v(k), _go_v(v)) for k, v in items) + "]"


_JSON_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _go_json_string(s):
    out = ['"']
    if isinstance(s, bytes):
        chars = s.decode("utf-8", "_socscreen_json_bad_byte")
    else:
        chars = s
    for ch in chars:
        code = ord(ch)
        if ch in _JSON_SHORT:
            out.append(_JSON_SHORT[ch])
        elif code < 0x20 or ch in "<>&" or code in (0x2028, 0x2029):
            out.append("\\u%04x" % code)
        elif ch == "\udcff":
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _go_json(value):
    """``encoding/json.Marshal(value)`` as text, or None where Go returns an error."""
    kind = _kind(value)
    if kind == "nil":
        return "null"
    if kind == "bool":
        return "true" if value else "false"
    if kind in ("int", "uint"):
        return str(int(value))
    if kind == "float":
        return _go_float_json(value)
    if kind == "str":
        return _go_json_string(value)
    if kind == "time":
        return value.go_json()
    if kind == "list":
        parts = [_go_json(x) for x in value]
        return None if any(p is None for p in parts) else "[" + ",".join(parts) + "]"
    if kind == "smap":
        parts = []
        for k in _sorted_str_keys(value):
            v = _go_json(value[k])
            if v is None:
                return None
            parts.append(_go_json_string(k) + ":" + v)
        return "{" + ",".join(parts) + "}"
    return None  # map[interface{}]interface{}: json: unsupported type


# ---------------------------------------------------------------------------
# Go's filepath.Walk (lexical order, symbolic links not followed)


def _go_clean(path):
    if path == "":
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def _errtext(exc):
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def _walk_files(root):
    """The non-directory entries ``filepath.Walk(root)`` visits, in order: (path, name)."""
    try:
        st = os.lstat(root)
    except OSError as exc:
        raise SocError("lstat %s: %s" % (root, _errtext(exc))) from None
    yield from _walk(root, st)


def _walk(path, st):
    if not stat.S_ISDIR(st.st_mode):
        yield path, posixpath.basename(path.rstrip("/")) or path
        return
    try:
        names = sorted(os.listdir(path), key=os.fsencode)
    except OSError as exc:
        raise SocError("open %s: %s" % (path, _errtext(exc))) from None
    for name in names:
        child = _go_clean(path + "/" + name)
        try:
            cst = os.lstat(child)
        except OSError as exc:
            raise SocError("lstat %s: %s" % (child, _errtext(exc))) from None
        yield from _walk(child, cst)


def _read_file(path):
    """``readFile``: the content as a Go string reaches the API, or None when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return _go_string(fh.read())
    except OSError:
        return None


# ---------------------------------------------------------------------------
# GetSettings

_FIELDS = (
    ("id", "id", ""), ("title", "title", ""), ("description", "description", ""), ("global_", "global", False),
    ("node", "node", False), ("node_id", "nodeId", ""), ("default", "default", ""),
    ("default_available", "defaultAvailable", False), ("value", "value", ""), ("multiline", "multiline", False),
    ("readonly", "readonly", False), ("readonly_ui", "readonlyUi", False), ("sensitive", "sensitive", False),
    ("regex", "regex", ""), ("regex_failure_message", "regexFailureMessage", ""), ("file", "file", False),
    ("advanced", "advanced", False), ("help_link", "helpLink", ""), ("syntax", "syntax", ""),
    ("forced_type", "forcedType", ""), ("duplicates", "duplicates", False), ("jinja_escaped", "jinjaEscaped", False),
)


class _Setting:
    """``model.Setting`` (``NewSetting(id)``: every other field zero)."""

    def __init__(self, setting_id):
        for attr, _, zero in _FIELDS:
            setattr(self, attr, zero)
        self.id = setting_id

    def api(self):
        return {name: getattr(self, attr) for attr, name, _ in _FIELDS}


_STRING_FIELDS = {
    "title": "title", "description": "description", "regex": "regex",
    "regexFailureMessage": "regex_failure_message", "helpLink": "help_link", "syntax": "syntax",
    "forcedType": "forced_type",
}
_BOOL_FIELDS = {
    "readonly": "readonly", "readonlyUi": "readonly_ui", "global": "global_", "multiline": "multiline",
    "node": "node", "sensitive": "sensitive", "advanced": "advanced", "duplicates": "duplicates",
    "jinjaEscaped": "jinja_escaped",
}


def _as_bool(value, path, key):
    if isinstance(value, bool):
        return value
    raise SocPanic("%s: annotation %r: interface conversion: interface {} is %s, not bool"
                   % (path, key, _GO_TYPE[_kind(value)]))


class _Store:
    def __init__(self, saltstack_dir):
        d = os.fspath(saltstack_dir)
        self.dir = d[:-1] if d.endswith("/") else d
        self.settings = []
        self.by_id = {}  # id -> settings of that id, in list order (SOC scans the whole list instead)

    def append(self, setting):
        self.settings.append(setting)
        self.by_id.setdefault(setting.id, []).append(setting)

    # recursivelyParseSettings
    def parse_settings(self, mapped, prefix, minion):
        for key, value in (mapped or {}).items():
            key = _go_string(key)
            new_prefix = prefix + "." if prefix else ""
            if isinstance(value, dict):
                self.parse_settings(value, new_prefix + key, minion)
                continue
            multiline = False
            if isinstance(value, list):
                multiline = True
                text = ""
                for item in value:
                    if isinstance(item, (list, dict)):
                        s = _go_json(item) or ""
                    else:
                        s = _go_v(item)
                    if s != "":
                        text += s + "\n"
            else:
                text = _go_v(value)
            new_id = new_prefix + key
            merged = False
            if minion == "":
                for existing in self.by_id.get(new_id, ()):
                    if existing.node_id == "":
                        existing.value = text
                        existing.multiline = multiline
                        merged = True
            if not merged:
                setting = _Setting(new_id)
                setting.value = text
                setting.node_id = minion
                setting.multiline = multiline
                self.append(setting)

    # recursivelyParseAnnotations
    def parse_annotations(self, path, mapped, prefix):
        found = False
        for key, value in (mapped or {}).items():
            key = _go_string(key)
            new_id = (prefix + "." if prefix else "") + key
            if not isinstance(value, dict):
                found = True
                continue
            if not self.parse_annotations(path, value, new_id):
                continue
            existing = False
            for setting in self.by_id.get(new_id, ()):
                self.annotate(path, setting, value)
                if setting.sensitive:
                    setting.value = "******"
                    setting.default = ""
                existing = True
            if not existing:
                setting = _Setting(new_id)
                self.annotate(path, setting, value)
                self.append(setting)
        return found

    # updateSettingWithAnnotation
    def annotate(self, path, setting, annotations):
        for key, value in annotations.items():
            if key in _STRING_FIELDS:
                setattr(setting, _STRING_FIELDS[key], _go_v(value))
            elif key in _BOOL_FIELDS:
                setattr(setting, _BOOL_FIELDS[key], _as_bool(value, path, key))
            elif key == "file":
                setting.file = _as_bool(value, path, key)
                if setting.file:
                    setting.multiline = True
                    rel = setting.id.replace(".", "/").replace("__", ".").replace("..", "____")
                    default = _read_file("%s/default/salt/%s" % (self.dir, rel))
                    setting.default = default or ""
                    if default is not None:
                        setting.default_available = True
                    setting.value = _read_file("%s/local/salt/%s" % (self.dir, rel)) or ""
                    if setting.value == "":
                        setting.value = setting.default

    # parseAdvanced
    def parse_advanced(self, path, minion, setting_id):
        content = _read_file(path)
        if content is None:
            return
        setting = _Setting(setting_id)
        setting.global_ = minion == ""
        setting.node = minion != ""
        setting.value = content
        setting.node_id = minion
        setting.multiline = True
        setting.syntax = "yaml"
        self.append(setting)

    def run(self, advanced):
        for path, name in _walk_files(self.dir + "/default"):
            if name == "defaults.yaml":
                self.parse_settings(_parse_yaml_file(path), "", "")
        for setting in self.settings:
            setting.default = setting.value
            setting.default_available = True
        for path, name in _walk_files(self.dir + "/local"):
            if not name.endswith(".sls"):
                continue
            setting_id = name[:-len(".sls")]
            is_minion = "/minions/" in path
            if setting_id.startswith("adv_"):
                setting_id = setting_id[len("adv_"):]
                if is_minion:
                    self.parse_advanced(path, setting_id, "advanced")
                else:
                    self.parse_advanced(path, "", setting_id + ".advanced")
            elif setting_id.startswith("soc_") or is_minion:
                self.parse_settings(_parse_yaml_file(path), "", setting_id if is_minion else "")
        for path, name in _walk_files(self.dir + "/default"):
            if name.startswith("soc_") and name.endswith(".yaml"):
                self.parse_annotations(path, _parse_yaml_file(path), "")
        for setting in self.settings:  # postProcess
            if setting.description == "":
                setting.advanced = True
            if setting.jinja_escaped or setting.description == "":
                setting.value = _unescape_jinja(setting.value)
        kept = [s for s in self.settings if advanced or not s.advanced]
        return [s.api() for s in _sort_settings(kept)]


_JINJA_MARKERS = (
    ("[SO_JINJA_SL_START]", "{{"), ("[SO_JINJA_SL_END]", "}}"),
    ("[SO_JINJA_CM_START]", "{#"), ("[SO_JINJA_CM_END]", "#}"),
    ("[SO_JINJA_ML_START]", "{%"), ("[SO_JINJA_ML_END]", "%}"),
)


def _unescape_jinja(value):
    for marker, text in _JINJA_MARKERS:
        value = value.replace(marker, text)
    return value


def _sort_settings(settings):
    """``sortSettings`` as Go's insertion sort runs it (see the module notes)."""
    plain = [s for s in settings if not s.id.endswith("advanced")]
    adv = [s for s in settings if s.id.endswith("advanced")]
    plain.sort(key=lambda s: s.id.encode("utf-8", "surrogatepass"))
    return plain + adv[::-1]


def get_settings(saltstack_dir, advanced=False):
    """The settings SOC's ``GET /api/config/`` returns for this saltstack directory (see the module docstring)."""
    return _Store(saltstack_dir).run(advanced)


# ---------------------------------------------------------------------------
# The Configuration screen (config.js + Vuetify's v-treeview search)

SETTING_MALFORMED = "Malformed config setting"  # i18n.js settingMalformed
_CREATE_FIELDS = (
    "id", "global", "node", "title", "description", "multiline", "readonly", "readonlyUi", "sensitive",
    "regex", "regexFailureMessage", "file", "helpLink", "advanced", "syntax", "duplicates",
)


class _Conflict(Exception):
    pass


class Screen:
    """The Configuration screen after ``loadData`` with these API settings.

    ``settings``: the merged settings (``config.js`` ``create``/``merge``) in first-seen order;
    ``tree``: the hierarchy (intermediate nodes ``{id, name, children}``, leaves are the settings);
    ``errors``: the messages ``showError`` shows; ``available`` / ``customized``: the counters.
    """

    def __init__(self, api_settings):
        self.settings = []
        by_id = {}
        for setting in api_settings:
            existing = by_id.get(setting.get("id"))
            if existing is None:
                created = {key: setting.get(key) for key in _CREATE_FIELDS}
                created.update(value=None, nodeValues={}, default=None, defaultAvailable=False)
                self._merge(created, setting)
                by_id[setting.get("id")] = created
                self.settings.append(created)
            else:
                self._merge(existing, setting)
        self.errors = []
        self.available = 0
        root = {"children": []}
        for setting in self.settings:
            try:
                self._add(root, "", setting["id"].split("."), setting)
                self.available += 1
            except _Conflict as exc:
                self.errors.append("%s (%s): Error: %s" % (SETTING_MALFORMED, setting["id"], exc))
        self.tree = root["children"]
        self.customized = sum(1 for s in self.settings if _is_customized(s))

    @staticmethod
    def _merge(existing, setting):
        if setting.get("nodeId"):
            existing["nodeValues"][setting["nodeId"]] = setting.get("value")
            existing["global"] = False
        else:
            existing["value"] = setting.get("value")
            existing["default"] = setting.get("default")
            existing["defaultAvailable"] = setting.get("defaultAvailable")
            existing["global"] = setting.get("global")
            existing["node"] = False
        if not existing.get("description"):
            existing["description"] = setting.get("description")
        if not existing.get("title"):
            existing["title"] = setting.get("title")

    def _add(self, node, parent, path, setting):
        if "children" not in node:
            raise _Conflict("Setting name '%s' conflicts with another similarly named setting" % node.get("name"))
        name = path.pop(0)
        if not path:
            if not setting.get("name"):
                setting["name"] = name
            node["children"].append(setting)
            return
        child = next((n for n in node["children"] if n.get("name") == name), None)
        child_id = parent + "." + name if parent else name
        if child is None:
            child = {"id": child_id, "name": name, "children": []}
            node["children"].append(child)
        self._add(child, child_id, path, setting)

    def search(self, term):
        """Ids of the leaf settings the tree keeps for this search text (any expansion), sorted."""
        excluded = set()
        if term:
            for item in self.tree:
                _filter_tree(item, term.lower(), excluded)
        found = []

        def visit(items):
            for item in items:
                if item.get("id") in excluded:
                    continue
                if "children" in item:
                    visit(item["children"])
                else:
                    found.append(item["id"])

        visit(self.tree)
        return sorted(found)


def _contains(text, term):
    return bool(text) and term in text.lower()


def _matches(item, term):
    """``config.js`` ``filter(item, search)`` with a non-empty, lower-cased search."""
    node_values = item.get("nodeValues")
    return bool(
        _contains(item.get("name"), term) or _contains(item.get("id"), term) or _contains(item.get("value"), term)
        or (node_values is not None and any(term in k for k in node_values))
        or _contains(item.get("title"), term) or _contains(item.get("description"), term))


def _filter_tree(item, term, excluded):
    """Vuetify 2 ``filterTreeItems``: a match keeps the item and all below it."""
    if _matches(item, term):
        return True
    children = item.get("children")
    if children is not None:
        match = False
        for child in children:
            if _filter_tree(child, term, excluded):
                match = True
        if match:
            return True
    excluded.add(item.get("id"))
    return False


def _is_customized(s):
    modified = bool(s.get("defaultAvailable")) and s.get("default") != s.get("value")
    per_node = bool(s.get("defaultAvailable")) and any(v for v in s["nodeValues"].values())
    is_adv = s["id"].endswith("advanced") and bool(s.get("multiline"))
    return modified or per_node or (is_adv and (bool(s.get("value")) or len(s["nodeValues"]) > 0))


def screen(saltstack_dir, advanced=False):
    """``Screen(get_settings(saltstack_dir, advanced))``."""
    return Screen(get_settings(saltstack_dir, advanced))
