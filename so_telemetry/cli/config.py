"""``so-telemetry config search TERM [--advanced] [--json] [--saltstack DIR]``:
what Security Onion's Configuration screen shows for TERM (its settings,
values, defaults and flags, found by SOC's own rules: :mod:`so_telemetry.screen`)
over Security Onion's tree and the library's annotations, and beside each
value the one Salt compiles for this node (they differ where SOC and Salt
read YAML differently: ``yes`` is a string to SOC, true to Salt)."""

import json
import os

import so_telemetry_core as core
import yaml

from so_telemetry import screen
from so_telemetry.cli.output import CliError, one_line, yaml_word
from so_telemetry.pillar import compiled

DEFAULT_SALTSTACK = "/opt/so/saltstack"


def add_arguments(parser):
    parser.add_argument("term", metavar="TERM", help='for example "SOC Telemetry" (case-insensitive)')
    parser.add_argument("--advanced", action="store_true", help="with the settings the screen shows only "
                        "with its advanced toggle on")
    parser.add_argument("--saltstack", metavar="DIR", default=None,
                        help=f"Security Onion's Salt tree (default {DEFAULT_SALTSTACK} when it exists, else the "
                             "directory above --pillar-dir's local/pillar, with the library's annotations alone)")


def saltstack_of(args):
    """The tree the screen reads: ``--saltstack``, Security Onion's, or the
    sandbox around ``--pillar-dir`` (``<dir>/local/pillar``)."""
    if args.saltstack:
        return os.path.abspath(args.saltstack)
    if os.path.isdir(DEFAULT_SALTSTACK):
        return DEFAULT_SALTSTACK
    pillar_dir = os.path.abspath(args.pillar_dir)
    local = os.path.dirname(pillar_dir)
    if os.path.basename(pillar_dir) == "pillar" and os.path.basename(local) == "local":
        return os.path.dirname(local)
    return pillar_dir


def library_annotations(saltstack):
    """The library's annotation file, read where it is not installed under
    ``<saltstack>/default`` (SOC reads it there on a Security Onion manager)."""
    rel = os.path.join(*core.files.ANNOTATIONS[1:])
    if os.path.isfile(os.path.join(saltstack, *core.files.ANNOTATIONS)):
        return []
    from so_telemetry.loader import salt_dir  # pylint: disable=import-outside-toplevel

    with open(os.path.join(salt_dir(), core.config.ANNOTATIONS_FILE), encoding="utf-8") as fh:
        return [(rel, yaml.safe_load(fh))]


def _salt_value(pillar, setting):
    key = setting["id"].replace(".", ":")
    value = core.config.lookup(pillar.pillar, key)
    if value is core.config.MISSING:
        return {"set": False, "value": None, "source": None}
    if setting["sensitive"] and value not in ("", None):
        value = core.config.masked(key, value) if key in core.config.SENSITIVE else screen.MASK
    return {"set": True, "value": value, "source": pillar.source(key)}


def _hit(view, setting, pillar, salt_error):
    out = {k: setting[k] for k in ("id", "title", "description", "value", "default", "defaultAvailable",
                                   "nodeValues", "global", "readonly", "sensitive", "advanced", "forcedType",
                                   "multiline")}
    out["helpLink"] = screen.help_url(setting["helpLink"])
    out["customized"] = view.customized(setting)
    out["salt"] = {"error": salt_error} if pillar is None else _salt_value(pillar, setting)
    return out


def find(args):
    """``(saltstack, errors, hits)`` for ``args.term``."""
    saltstack = saltstack_of(args)
    try:
        view = screen.Screen.of(screen.api_settings(saltstack, library_annotations(saltstack), args.advanced))
    except screen.ScreenError as exc:
        raise CliError(f"the Configuration screen would fail: {exc}") from None
    except OSError as exc:
        raise CliError(f"cannot read the settings shipped with so-telemetry: {one_line(exc)}") from None
    pillar, salt_error = None, None
    try:
        pillar = compiled(args)
    except CliError as exc:
        salt_error = str(exc)
    return saltstack, view.errors, [_hit(view, s, pillar, salt_error) for s in view.search(args.term)]


def _salt_line(salt):
    if "error" in salt:
        return f"Salt reads: unknown ({one_line(salt['error'], 200)})"
    if not salt["set"]:
        return "Salt reads: not set in the pillar (the default applies)"
    source = "" if salt["source"] in (None, "pillar") else f" (from {salt['source']})"
    return f"Salt reads: {yaml_word(salt['value'])}{source}"


def search(args):
    saltstack, errors, hits = find(args)
    if args.json:
        print(json.dumps({"term": args.term, "advanced": args.advanced, "saltstack": saltstack, "errors": errors,
                          "settings": hits}, indent=2, sort_keys=True, default=str))
        return 1 if errors or not hits else 0
    for error in errors:
        print(f"screen error: {error}")
    if not hits:
        print(f"No setting matches {args.term!r}" + ("" if args.advanced else " (try --advanced)") + ".")
        return 1
    for hit in hits:
        flags = [f for f in ("global", "readonly", "sensitive", "advanced") if hit[f]]
        print(f"{hit['id']}  ({hit['title'] or hit['id'].rsplit('.', 1)[-1]})"
              + (f"  [{', '.join(flags)}]" if flags else ""))
        if hit["description"]:
            print(f"  {one_line(hit['description'], 2000)}")
        default = json.dumps(hit["default"]) if hit["defaultAvailable"] else "none"
        print(f"  screen: {json.dumps(hit['value'])}; default {default}"
              + ("; customized" if hit["customized"] else ""))
        for node, value in sorted(hit["nodeValues"].items()):
            print(f"    node {node}: {json.dumps(value)}")
        print(f"  {_salt_line(hit['salt'])}")
        if hit["helpLink"]:
            print(f"  help: {hit['helpLink']}")
    print(f"{len(hits)} setting(s) for {args.term!r} in {saltstack}" + (" (advanced)" if args.advanced else ""))
    return 1 if errors else 0
