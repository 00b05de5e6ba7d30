"""Helpers shared by the engine's tests: pillar and grain setters, the
identity check, and the views a test wants of several engine functions."""

import configparser

import so_telemetry_core as core

from tests.unit.conftest import IDENTITY_STRINGS

ABSENT = object()
QUERY_FIELDS = {"version", "os", "arch", "features", "license"}
DEFAULT_QUERY = {"version": "2.4.190", "os": "oracle9", "arch": "x86_64"}
UPSTREAM_HOSTS = ["repo.securityonion.net", "repo-alt.securityonion.net"]
MANAGER_LIKE = {"so-manager", "so-managersearch", "so-standalone", "so-eval", "so-import"}
ANALYTICS = "/opt/so/conf/soc/analytics.js"
SOC_JSON = "/opt/so/conf/soc/soc.json"


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


def repo_text(ctx):
    """The repository file as the state writes it (the password revealed)."""
    return core.repo.text(ctx, reveal=True)


def soc_files(ctx):
    """``{path: text}`` of the SOC files as the states would write them now."""
    json_path = core.files.artefact_path(ctx, "soc_json")
    return {
        core.soc.analytics(ctx)["path"]: core.soc.analytics_js(ctx),
        json_path: core.soc.soc_json(ctx, core.files.read_text(json_path), json_path),
    }


def configs(ctx):
    """Every component's merged map."""
    return {comp: core.config.component(ctx, comp) for comp in core.config.COMPONENTS}


def append(path, *entries):
    """The records :func:`so_telemetry_core.trail.append` (the one way records
    are added) writes for ``entries``."""
    return core.trail.append(path, list(entries))[1]


def ent(channel="soc", old="on", new="off", by="alice", src="/p/soc/soc_soc.sls soc:telemetryEnabled"):
    """A consent record before it is chained, ``via: cli``."""
    return core.consent.entry(channel, old, new, "cli", by, src)
