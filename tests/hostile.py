"""Hostile pillar and grain values, shared by the property-based unit tests
(``tests/unit/test_hostile.py``) and the functional sample through the real
``salt-call`` (``tests/functional/test_faults.py``).

Every pillar key the engine reads is listed in :data:`PILLAR_KEYS`; a
generated case sets one to three of them (the deeper keys inside defaults
that stay in place) to a hostile value: wrong types, newlines, ``[section]``,
``=``, ``&``, ``#``, ``%0a``, unicode, huge strings, nested garbage.
"""

import configparser
import pathlib
import re
import urllib.parse

from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from tests.saltcompat import SALT_LINE

# hypothesis' own files (constants, unicode data) under the ignored .tmp/, not <repo>/.hypothesis
set_hypothesis_home_dir(str(pathlib.Path(__file__).resolve().parent.parent / ".tmp" / f"hypothesis-{SALT_LINE}"))

# Every pillar key the engine reads (``:`` separated), by component.
PILLAR_KEYS = (
    "soc", "soc:telemetryEnabled", "soc:analytics", "soc:analytics:path", "soc:analytics:url",
    "soc:analytics:container_id", "soc:analytics:template", "soc:config_path", "soc:config",
    "soc:config:server", "soc:config:server:client", "soc:config:extra", "soc:file_user", "soc:file_group",
    "soc:file_mode", "soc:retention",
    "patch", "patch:os", "patch:os:enabled", "patch:os:schedule_to_run", "patch:os:schedules",
    "patch:os:schedules:auto", "patch:os:schedules:auto:splay", "patch:os:schedules:auto:schedule",
    "patch:os:schedules:auto:schedule:hours", "patch:os:schedules:monday:schedule:Monday",
    "patch:os:schedules:auto:hours",
    "global", "global:airgap", "global:soversion", "global:features", "global:license_id", "global:manager",
    "global:manager_roles",
    "repo", "repo:path", "repo:file_user", "repo:file_group", "repo:file_mode", "repo:id", "repo:description",
    "repo:upstream", "repo:upstream:mirrors", "repo:upstream:gpgkey", "repo:airgap", "repo:airgap:baseurl",
    "repo:airgap:gpgkey", "repo:node", "repo:node:baseurl", "repo:node:gpgkey", "repo:os_ids",
    "repo:os_ids:OEL", "repo:arches",
    "resync", "resync:highstate", "resync:highstate:minutes", "resync:highstate:seconds",
    "resync:highstate:splay", "resync:highstate:maxrunning", "resync:highstate:run_on_start",
    "manager", "manager:proxy", "manager:no_proxy",
    "so_telemetry", "so_telemetry:owners", "so_telemetry:owners:analytics", "so_telemetry:owners:soc_json",
    "so_telemetry:owners:repo", "so_telemetry:owners:highstate_schedule", "so_telemetry:owners:patch_schedule",
    "so_telemetry:jobs", "so_telemetry:jobs:highstate", "so_telemetry:jobs:patch", "so_telemetry:jobs:legacy",
    "so_telemetry:jobs:legacy:highstate", "so_telemetry:consent", "so_telemetry:consent:path",
    "so_telemetry:consent:pillar_dir",
)
# Keys whose value is a rendered path: kept out of the functional sample (a
# path is the admin's to choose; a hostile one would write outside the sandbox).
PATH_KEYS = ("soc:analytics:path", "soc:config_path", "repo:path", "so_telemetry:consent:path")

# Text that has broken ini files, URLs, shells and parsers before.
NASTY = (
    "", " ", "\n", "\r\n", "\t", "\x00", "\x7f", "\x85", "\u2028", "[securityonion]", "[main]", "DEFAULT",
    "x\n[evil]\nbaseurl=http://evil.example/", "a=b", "enabled=0", "&evil=1", "?x=1", "#comment", ";c",
    "%0a", "%0d%0aproxy=http://evil.example:1", "%", "%(x)s", "{os}", "{release}", "{manager}", "{0}", "{x}",
    "{os.__class__}", "}{", "\u00e9t\u00e9", "\u0661\u0662", "\u00b2", "\U0001f600", "\ufeff",
    "https://", "https://[x", "https://[::1]/", "http://evil.example/", "https://evil.example/?a=b#c",
    "file:///nsm/repo/", "file:///x?y", "file:///x\nbaseurl=http://evil.example/", "//evil.example",
    "https://user:pw@evil.example:8080/", "http://u:p%0a@proxy.example:3128",
    "http://u:%5Bp%5D@proxy.example:3128", "http://proxy.example:99999", "http://[::1]:3128",
    "http://proxy.example:3128/path", "2.4.190", "2.4.190\n", "2.4.190&x=1", "GTM-TM46SL7T", "GTM-x",
    "so-manager", "0600", "0777", "7777", "939", "-1", "root", "library", "host", "true", "no", "maybe",
    "08:00", "25:00", "Monday", "auto", "nonexistent", "..", "/etc/passwd", "analytics.js.jinja",
    "../../etc/passwd.jinja", "x" * 4097,
)

_TEXT = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.text(alphabet="[]=&#%\n\r\t:/?@{} .-_aZ09\u00e9\u2028", max_size=40),
    st.builds(lambda a, b: a + b, st.sampled_from(NASTY), st.sampled_from(NASTY)),
    st.integers(min_value=1, max_value=200_000).map(lambda n: "A" * n),
)
_SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-2, max_value=2), st.floats(),
    _TEXT, st.binary(max_size=8),
)
# Nested garbage: lists and mappings of the above (string, int or bool keys).
HOSTILE = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(_TEXT, st.integers(), st.booleans()), inner, max_size=4),
    ),
    max_leaves=10,
)

# A proxy URL with hostile user, password, host and port pieces.
_PIECE = st.one_of(st.sampled_from(("", "u", "p", "%0a", "%5B", "a=b", "a&b", "#", "%25", "\u00e9", ":", "%3A")),
                   st.text(alphabet="%0aA[]=&#: \u00e9", max_size=8))
PROXY = st.builds(
    lambda scheme, user, pw, host, port: f"{scheme}://{user}{':' + pw if pw else ''}{'@' if user or pw else ''}"
                                         f"{host}{port}",
    st.sampled_from(("http", "https", "socks5", "")),
    _PIECE, _PIECE,
    st.sampled_from(("proxy.example", "10.0.0.1", "[::1]", "", "evil.example\n", "a b", "xn--e1a.example")),
    st.sampled_from((":3128", ":0", ":65536", "", ":x", ":3128/", ":3128?a=1", ":3128#f")),
)

# One value of every kind, for the exhaustive sweep (every key x every value).
ZOO = (None, True, 0, -1, 10**12, 1.5, float("nan"), "", "\u00b2", "DEFAULT", "x\n[evil]\nbaseurl=http://evil.example/",
       "a=b&evil=1#c%0a", "https://[x", "{os.__class__}", "A" * 100_000, [], ["x"], [None], {}, {"a": {"b": None}},
       {1: [2]})

PILLAR_CASE = st.lists(st.tuples(st.sampled_from(PILLAR_KEYS), HOSTILE), min_size=1, max_size=3)

ROLES = ("so-manager", "so-standalone", "so-sensor", "so-idh")
GRAINS = st.fixed_dictionaries(
    {},
    optional={
        "role": st.one_of(st.sampled_from(ROLES), HOSTILE),
        "airgap": st.one_of(st.sampled_from((True, False, "true", "no", 0, 1)), HOSTILE),
        "os": st.one_of(st.sampled_from(("OEL", "Rocky", "Ubuntu")), HOSTILE),
        "osmajorrelease": st.one_of(st.sampled_from((9, "9", 8)), HOSTILE),
        "cpuarch": st.one_of(st.sampled_from(("x86_64", "aarch64")), HOSTILE),
        "id": HOSTILE, "host": HOSTILE, "fqdn": HOSTILE, "nodename": HOSTILE, "domain": HOSTILE,
        "localhost": HOSTILE, "username": HOSTILE,
        "ipv4": st.one_of(st.lists(_TEXT, max_size=3), HOSTILE), "ipv6": HOSTILE,
        "fqdn_ip4": HOSTILE, "fqdn_ip6": HOSTILE,
    },
)


def nest(pairs):
    """``{"a:b": v, ...}`` pairs as a nested pillar (a later key wins where
    one is inside another)."""
    pillar = {}
    for key, value in pairs:
        parts = key.split(":")
        cur = pillar
        for part in parts[:-1]:
            if not isinstance(cur.get(part), dict):
                cur[part] = {}
            cur = cur[part]
        cur[parts[-1]] = value
    return pillar


# --------------------------------------------------------------------------
# what every outcome must look like

REPO_KEYS = {"name", "baseurl", "enabled", "gpgcheck", "repo_gpgcheck", "gpgkey", "sslverify", "skip_if_unavailable"}
PROXY_KEYS = {"proxy", "proxy_username", "proxy_password"}
QUERY_FIELDS = {"version", "os", "arch", "features", "license"}
KEY_RE = re.compile(r"'((?:soc|patch|global|repo|resync|manager|so_telemetry)(?::[^']*)?)'")


def named_keys(message):
    """The pillar keys (``'comp:...'``) an error message names."""
    return KEY_RE.findall(message)


def related(named, injected):
    """Whether a key named in an error is one of the injected keys, inside
    one, or holds one (``repo:upstream:mirrors:0`` for ``repo:upstream``)."""
    for key in injected:
        if named == key or named.startswith(key + ":") or key.startswith(named + ":"):
            return True
    return False


def check_repo_text(text, proxy_applies=None):
    """The repository file parses back to exactly one section with the known
    keys; every URL's query holds allow-listed keys only. Returns
    ``(section, [baseurls])``."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    assert len(parser.sections()) == 1, text
    (name,) = parser.sections()
    section = parser[name]
    keys = set(section)
    assert REPO_KEYS <= keys and keys - REPO_KEYS <= PROXY_KEYS, (keys, text)
    if proxy_applies is False:
        assert not keys & PROXY_KEYS, text
    if keys & PROXY_KEYS:
        assert "proxy" in keys, text
    for fixed, value in (("enabled", "1"), ("gpgcheck", "1"), ("repo_gpgcheck", "0"), ("sslverify", "1"),
                         ("skip_if_unavailable", "0")):
        assert section[fixed] == value, (fixed, text)
    urls = section["baseurl"].split()
    assert urls, text
    for url in urls + [section["gpgkey"]]:
        parts = urllib.parse.urlsplit(url)
        assert parts.scheme in ("https", "file"), (url, text)
        assert not parts.fragment, (url, text)
        assert {k for k, _v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)} <= QUERY_FIELDS, url
    # every line: the header, a known key, a comment, or a baseurl continuation
    for line in text.splitlines():
        assert (line.startswith(("#", "\t")) or line == f"[{name}]"
                or line.split("=", 1)[0] in REPO_KEYS | PROXY_KEYS), (line, text)
    return section, urls
