"""The rendered artefacts: where each file lives, its owner and mode, and who
writes it (this library or the host tree, pillar ``so_telemetry:owners``)."""

import contextlib
import fcntl
import os
import re
import threading

from .config import component, defaults, lookup
from .context import FORMULA
from .validate import SAFE_TEXT_RE, PillarError

# Artefacts this library renders; pillar ``so_telemetry:owners:<artefact>``
# says whether the library writes it (``library``) or the host tree does (``host``).
ARTEFACTS = ("analytics", "soc_json", "repo", "highstate_schedule", "patch_schedule")
# Files this library writes: (component, key of the path in the component's
# map). ``consent``, the consent trail, is written on manager-like nodes only
# and has no owner key (no host tree writes it).
FILE_KEYS = {"analytics": ("soc", "analytics:path"), "soc_json": ("soc", "config_path"), "repo": ("repo", "path"),
             "consent": (FORMULA, "consent:path")}


def render_root(ctx):
    """Directory every rendered path is placed under (minion option
    ``so_telemetry_root``; empty on a real node)."""
    return (ctx.opts.get("so_telemetry_root") or "").rstrip("/")


def rendered_path(ctx, abspath, key=None):
    """A path placed under :func:`render_root`; ``key`` is the pillar key it comes
    from (named in the error)."""
    if not isinstance(abspath, str) or not abspath.startswith("/"):
        where = f"pillar key '{key}': " if key else ""
        raise PillarError(f"{where}rendered file path must be absolute, got {abspath!r}", key)
    return render_root(ctx) + abspath


def artefact_path(ctx, artefact, strict=True):
    """Where a file artefact lives on this node. With ``strict=False`` a bad
    component pillar or path falls back to the default, so the clean states
    can always find the files."""
    comp, key = FILE_KEYS[artefact]
    value = lookup(component(ctx, comp, strict), key, "")
    if not strict and not (isinstance(value, str) and value.startswith("/")):
        value = lookup(defaults(ctx, comp), key)
    return rendered_path(ctx, value, f"{comp}:{key}")


def artefact_paths(ctx, strict=True):
    """``{artefact: path}`` of every file artefact (on a Security Onion
    manager also ``annotations`` and ``analytics_aside``, see
    :func:`security_onion`)."""
    out = {art: artefact_path(ctx, art, strict) for art in FILE_KEYS}
    found = security_onion(ctx, strict)
    if found:
        out.update(annotations=found["annotations"], analytics_aside=found["analytics_aside"])
    return out


# Where SOC's Configuration screen reads the library's annotations, under
# Security Onion's saltstack directory: SOC reads `soc_*.yaml` anywhere under
# default/ in lexical order, and default/so-telemetry/ comes after
# default/salt/ and default/pillar/, so the fields set there win over
# Security Onion's own.
ANNOTATIONS = ("default", "so-telemetry", "soc_so_telemetry.yaml")


def security_onion(ctx, strict=True):
    """On a Security Onion manager (pillar ``so_telemetry:security_onion:saltstack``
    set by ``so-telemetry install --security-onion``): ``{"saltstack",
    "annotations", "soc_container", "analytics_aside"}``; else None. The
    saltstack directory is used as it is (it is Security Onion's tree, not a
    rendered file: no ``so_telemetry_root`` before it)."""
    key = f"{FORMULA}:security_onion"
    conf = component(ctx, FORMULA, strict).get("security_onion")
    if not isinstance(conf, dict):
        if strict:
            raise PillarError(f"pillar key '{key}' must be a mapping, got {conf!r}", key)
        conf = defaults(ctx, FORMULA)["security_onion"]
    saltstack = conf.get("saltstack")
    if saltstack in ("", None):
        return None
    if not isinstance(saltstack, str) or not saltstack.startswith("/") or not SAFE_TEXT_RE.fullmatch(saltstack):
        if not strict:
            return None
        raise PillarError(f"pillar key '{key}:saltstack' must be an absolute directory path, got {saltstack!r}",
                          f"{key}:saltstack")
    container = conf.get("soc_container")
    if not isinstance(container, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", container):
        raise PillarError(f"pillar key '{key}:soc_container' must be a state ID, got {container!r}",
                          f"{key}:soc_container")
    saltstack = saltstack.rstrip("/") or "/"
    return {
        "saltstack": saltstack,
        "annotations": "/".join((saltstack.rstrip("/"), *ANNOTATIONS)),
        "soc_container": container,
        "analytics_aside": rendered_path(ctx, conf.get("analytics_aside"), f"{key}:analytics_aside"),
    }


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


def remove_litter(name, before):
    """Salt's copy into place makes ``<name>XXXXXXXX`` beside the file and
    leaves it when the copy fails (a full disk): remove what this failed
    write added, so a full disk does not fill up further every resync."""
    directory, base = os.path.split(name)
    try:
        added = set(os.listdir(directory)) - before
    except OSError:
        return
    for entry in added:
        if entry.startswith(base) and entry != base and len(entry) - len(base) <= 16:
            try:
                os.unlink(os.path.join(directory, entry))
            except OSError:
                pass


def read_text(fname):
    """Text of a file, or None when there is none."""
    try:
        with open(fname, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        return None



_HELD = threading.local()  # per thread: directory -> [fd, depth]


@contextlib.contextmanager
def locked(path):
    """An exclusive ``flock`` of the directory that holds ``path``, for a
    read-modify-write of ``path`` (the consent trail's append, a pillar
    file's edit): it blocks until any other writer is done. The directory,
    not a lock file: a rename over ``path`` keeps the lock meaningful, and no
    lock file is left in Security Onion's tree. Re-entrant within a thread
    (the command line holds the trail's lock from reading the pillar to the
    append, and the append takes it again). ``OSError`` when the directory
    cannot be made or opened."""
    directory = os.path.dirname(os.path.realpath(path))
    held = vars(_HELD).setdefault("dirs", {})
    if directory in held:
        held[directory][1] += 1
    else:
        os.makedirs(directory, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        held[directory] = [fd, 1]
    try:
        yield
    finally:
        held[directory][1] -= 1
        if held[directory][1] == 0:
            os.close(held.pop(directory)[0])  # releases the lock
