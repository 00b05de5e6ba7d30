"""The rendered artefacts: where each file lives, its owner and mode, and who
writes it (this library or the host tree, pillar ``so_telemetry:owners``)."""

import re

from .config import component, defaults, lookup
from .context import FORMULA
from .validate import PillarError

# Artefacts this library renders; pillar ``so_telemetry:owners:<artefact>``
# says whether the library writes it (``library``) or the host tree does (``host``).
ARTEFACTS = ("analytics", "soc_json", "repo", "highstate_schedule", "patch_schedule")
# Files this library writes: (component, key of the path in the component's
# map). ``consent``, the consent trail, is written on manager-like nodes only
# and has no owner key (no host tree writes it).
FILE_KEYS = {"analytics": ("soc", "analytics:path"), "soc_json": ("soc", "config_path"), "repo": ("repo", "path"),
             "consent": (FORMULA, "consent:path")}


def root(ctx):
    """Directory every rendered path is placed under (minion option
    ``so_telemetry_root``; empty on a real node)."""
    return (ctx.opts.get("so_telemetry_root") or "").rstrip("/")


def path(ctx, abspath, key=None):
    """A path placed under :func:`root`; ``key`` is the pillar key it comes
    from (named in the error)."""
    if not isinstance(abspath, str) or not abspath.startswith("/"):
        where = f"pillar key '{key}': " if key else ""
        raise PillarError(f"{where}rendered file path must be absolute, got {abspath!r}", key)
    return root(ctx) + abspath


def artefact_path(ctx, artefact, strict=True):
    """Where a file artefact lives on this node. With ``strict=False`` a bad
    component pillar or path falls back to the default, so the clean states
    can always find the files."""
    comp, key = FILE_KEYS[artefact]
    value = lookup(component(ctx, comp, strict), key, "")
    if not strict and not (isinstance(value, str) and value.startswith("/")):
        value = lookup(defaults(ctx, comp), key)
    return path(ctx, value, f"{comp}:{key}")


def paths(ctx, strict=True):
    """``{artefact: path}`` of every file artefact."""
    return {art: artefact_path(ctx, art, strict) for art in FILE_KEYS}


def file_mode(ctx, comp):
    """File mode (an int) of the files a component renders."""
    mode = component(ctx, comp).get("file_mode")
    if isinstance(mode, int) and not isinstance(mode, bool):
        # YAML reads an unquoted 0600 as the number 600: take its digits, as
        # Salt's own file states do.
        mode = str(mode)
    if not isinstance(mode, str) or not re.fullmatch(r"0?[0-7]{3}", mode):
        raise PillarError(
            f"pillar key '{comp}:file_mode' must be an octal mode like '0600', got {mode!r}", f"{comp}:file_mode"
        )
    return int(mode, 8)


def file_spec(ctx, comp):
    """``{"user", "group", "mode"}`` of the files a component renders
    (``<comp>:file_user``, ``file_group``, ``file_mode``). Numeric ids stay
    numbers, so they work where the account does not exist."""
    conf = component(ctx, comp)
    spec = {}
    for field in ("user", "group"):
        val = conf.get(f"file_{field}")
        if isinstance(val, str) and val.isascii() and val.isdigit():
            val = int(val)
        number = isinstance(val, int) and not isinstance(val, bool) and 0 <= val < 2**31
        name = isinstance(val, str) and re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", val)
        if not (number or name):
            raise PillarError(
                f"pillar key '{comp}:file_{field}' must be an account name or a number, got {val!r}",
                f"{comp}:file_{field}",
            )
        spec[field] = val
    spec["mode"] = "0" + oct(file_mode(ctx, comp))[2:].zfill(3)
    return spec


def owners(ctx):
    """Who writes each artefact, ``{artefact: "library" | "host"}``."""
    conf = component(ctx, FORMULA).get("owners")
    key = f"{FORMULA}:owners"
    if not isinstance(conf, dict):
        raise PillarError(f"pillar key '{key}' must be a mapping, got {conf!r}", key)
    unknown = set(conf) - set(ARTEFACTS)
    if unknown:
        raise PillarError(
            f"pillar key '{key}' has unknown artefacts {sorted(map(str, unknown))}; known: {', '.join(ARTEFACTS)}", key
        )
    out = {}
    for art in ARTEFACTS:
        val = conf.get(art, "library")
        if val not in ("library", "host"):
            raise PillarError(f"pillar key '{key}:{art}' must be library or host, got {val!r}", f"{key}:{art}")
        out[art] = val
    return out


def as_written(text):
    """What ``file.managed(contents=text, contents_newline=False)`` puts on
    disk: the text without its trailing newline (an empty text stays empty)."""
    return text.rstrip("\n").rstrip("\r")


def read_text(fname):
    """Text of a file, or None when there is none."""
    try:
        with open(fname, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        return None

