"""The grid's settings read without Salt, by the engine's own rules: the
shipped defaults (the formula on disk) with the local pillar files merged
over them, in the pillar top's order. ``config search``, ``enable`` /
``disable`` and the offline parts of ``status`` read these; Salt itself
never has to run."""

import glob
import os

import so_telemetry_core as core
import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from so_telemetry.loader import salt_dir
from so_telemetry.pillar_edit import describe_yaml_error


def _sls_file(pillar_dir, sls):
    base = os.path.join(pillar_dir, *str(sls).split("."))
    for cand in (base + ".sls", os.path.join(base, "init.sls")):
        if os.path.isfile(cand):
            return cand
    return None


def _top_names(pillar_dir):
    """The ``'*'`` entries of the local ``top.sls`` when it is plain YAML
    (Salt uses the first pillar root's top file), else None."""
    try:
        with open(os.path.join(pillar_dir, "top.sls"), encoding="utf-8") as fh:
            text = fh.read()
        if "{%" in text or "{{" in text:
            return None
        entries = ((yaml.safe_load(text) or {}).get("base") or {}).get("*") or []
        return [e for e in entries if isinstance(e, str)]
    except Exception:  # noqa: BLE001  (absent, unreadable, not YAML, not a top)
        return None


def local_files(pillar_dir):
    """The local pillar files that exist, in merge order: the local top's
    list, else the engine's :data:`so_telemetry_core.config.LOCAL_SLS`
    (what the shipped ``pillar/top.sls`` lists)."""
    names = _top_names(pillar_dir)
    found = []
    for name in core.config.LOCAL_SLS if names is None else names:
        path = _sls_file(pillar_dir, name)
        if path and path not in found:
            found.append(path)
    return found


def file_of(pillar_dir, key):
    """The local pillar file that holds ``key`` (``soc:telemetryEnabled`` ->
    ``<pillar_dir>/soc/soc_soc.sls``), whether it exists or not."""
    return os.path.join(pillar_dir, *core.config.local_sls(key).split(".")) + ".sls"


def load_local(path):
    """``(data, None)`` for a plain-YAML local pillar file, or ``(None, why)``
    (unreadable, Jinja, not valid YAML with file and line, not a mapping)."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path}: not readable ({exc.strerror if isinstance(exc, OSError) else exc})"
    if "{%" in text or "{{" in text:
        return None, f"{path}: contains Jinja (rendered by Salt only)"
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        return None, describe_yaml_error(path, exc)
    if data is not None and not isinstance(data, dict):
        return None, f"{path}: not a YAML mapping ({type(data).__name__})"
    return data or {}, None


def scan_local(pillar_dir):
    """``[(path, why)]`` of the local pillar files a YAML parser cannot read
    (Jinja files are skipped: only Salt can tell)."""
    broken = []
    for path in local_files(pillar_dir):
        data, why = load_local(path)
        if data is None and "Jinja" not in why:
            broken.append((path, why))
    return broken


def context(pillar=None, grains=None, opts=None):
    """An engine context over ``pillar`` (no grains unless given), with the
    formula's defaults and templates read from the installed tree."""
    return core.Context(opts=opts, grains=grains, pillar=pillar or {},
                        files=core.context.FormulaFiles(directory=salt_dir()))


class MinionConfigError(Exception):
    """A minion configuration file that cannot be read as YAML."""


def _yaml_file(path):
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MinionConfigError(f"{path}: not readable as YAML ({' '.join(str(exc).split())})") from None
    if data is not None and not isinstance(data, dict):
        raise MinionConfigError(f"{path}: not a YAML mapping ({type(data).__name__})")
    return data or {}


def minion_config(config_dir):
    """``(grains, so_telemetry_root)`` of the minion whose configuration is in
    ``config_dir``, read as Salt reads them but without Salt: the static
    grains of ``<config_dir>/grains``, overridden by ``grains:`` of
    ``<config_dir>/minion`` (where ``minion.d/*.conf``, merged in name order,
    replace a top-level key). Missing files: no grains, no root."""
    conf = _yaml_file(os.path.join(config_dir, "minion"))
    included = {}
    for path in sorted(glob.glob(os.path.join(glob.escape(config_dir), "minion.d", "*.conf"))):
        included = core.config.pillar_layers([included, _yaml_file(path)])
    conf.update(included)
    grains = _yaml_file(os.path.join(config_dir, "grains"))
    if isinstance(conf.get("grains"), dict):
        grains.update(conf["grains"])
    root = conf.get("so_telemetry_root") or ""
    if not isinstance(root, str):
        raise MinionConfigError(f"so_telemetry_root in {config_dir}/minion must be a directory path, got {root!r}")
    return grains, root


class LocalPillar:
    """The local pillar files of ``pillar_dir``, merged as Salt merges them,
    and an engine context over them (defaults from the installed formula)."""

    def __init__(self, pillar_dir):
        self.pillar_dir = pillar_dir
        self.data = {}  # the merged local pillar
        self.files = []  # [(path, data)] readable, in merge order
        self.broken = []  # [(path, why)]
        if not os.path.isdir(pillar_dir):
            self.broken.append((pillar_dir, f"{pillar_dir}: no such directory"))
            return
        for path in local_files(pillar_dir):
            data, why = load_local(path)
            if data is None:
                self.broken.append((path, why))
            else:
                self.files.append((path, data))
        self.data = core.config.pillar_layers(data for _path, data in self.files)

    def context(self, grains=None, opts=None):
        """An engine context over the merged local pillar (and the node's
        ``grains`` and ``opts``, when given)."""
        return context(self.data, grains, opts)

    def unknown(self, key):
        """Why the value of ``key`` cannot be known (a broken file may set it), or None."""
        for path, why in self.broken:
            comp = os.path.basename(os.path.dirname(path))
            # a broken file under <comp>/ may only set <comp>:...; any other may set anything
            if comp not in core.config.COMPONENTS or key.split(":")[0] == comp:
                return f"local pillar not readable: {why}"
        return None

    def source(self, key):
        """The last local file that sets ``key``, or ``"default"``."""
        found = "default"
        for path, data in self.files:
            if core.config.lookup(data, key) is not core.config.MISSING:
                found = path
        return found

    def value(self, key, ctx=None):
        """``(value, source, unknown_reason)`` of ``key`` as the engine merges
        it (:func:`so_telemetry_core.config.component`), masked where sensitive."""
        why = self.unknown(key)
        if why:
            return None, None, why
        comp, _, rest = key.partition(":")
        try:
            conf = core.config.component(ctx or self.context(), comp)
        except core.validate.PillarError as exc:
            return None, None, str(exc)
        value = core.config.lookup(conf, rest, None)
        return core.config.masked(key, value), self.source(key), None
