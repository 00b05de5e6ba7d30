"""The library on a Security Onion 2.4 manager: what ``so-telemetry install
--security-onion`` writes, and what ``uninstall`` takes away.

Security Onion's master serves ``file_roots`` and ``pillar_roots`` of one
environment, ``base``, whose top files are Security Onion's own
(``<saltstack>/default/salt/top.sls``, ``default/pillar/top.sls``); soup
replaces ``<saltstack>/default/`` at every upgrade and keeps ``local/``. The
library joins every highstate of every node without editing or shadowing
those tops: it is served as a second environment, ``so_telemetry``, whose
own top files Salt merges with ``base``'s (``top_file_merging_strategy:
merge``, Salt's default, which Security Onion keeps):

* ``<salt-config>/master``: ``file_roots.so_telemetry`` (the library's
  Salt tree), ``pillar_roots.so_telemetry`` (its pillar top, then the local
  pillar root, where SOC's Configuration screen saves
  ``so_telemetry/soc_so_telemetry.sls``) and ``env_order`` (``base`` first:
  the order is then Salt's to keep, not left to chance). Added the way soup
  edits that file (in place, every other key and comment kept): a
  ``master.d`` drop-in cannot add an environment, it would replace Security
  Onion's lists;
* ``<saltstack>/local/so-telemetry/``: the library's Salt tree (formula,
  ``_modules``, ``_states``, ``_utils``: the engine, synced to every minion)
  and its pillar top; ``local/`` survives soup;
* ``<saltstack>/local/pillar/so_telemetry/soc_so_telemetry.sls``: the
  settings a Security Onion manager needs (who writes what; where the Salt
  tree is), in the file SOC's screen writes for the library's keys;
* ``<saltstack>/default/so-telemetry/soc_so_telemetry.yaml``: the
  library's annotations, where SOC reads them; soup removes it, the
  manager's next highstate puts it back.

Nothing of Security Onion's is edited but ``<salt-config>/master``, whose
bytes before the install are kept (``master.before-install``) so that
``uninstall`` restores them exactly; if the file changed since (soup edits
it too), uninstall removes only the library's keys. The manifest
(``install.json``) lists every file written and its SHA-256.
"""

import dataclasses
import difflib
import hashlib
import json
import os
import pathlib

import so_telemetry_core as core

from so_telemetry import master_config, pillar_edit
from so_telemetry.master_config import ENV, InstallError

DEFAULT_SALTSTACK = "/opt/so/saltstack"
DEFAULT_SALT_CONFIG = "/etc/salt"
# Who writes what on a Security Onion 2.4 manager: Security Onion's own states
# write soc.json, the repository and both schedule jobs; the library writes
# analytics.js (its loader re-checks itself at every page load) and moves
# Security Onion's loader aside.
OWNERS = {"analytics": "library", "soc_json": "host", "repo": "host", "highstate_schedule": "host",
          "patch_schedule": "host"}
PILLAR_TOP = f"""\
# so-telemetry's pillar top (environment {ENV}), written by `so-telemetry
# install --security-onion`. Salt merges it with Security Onion's own pillar
# top, which stays as it is. so_telemetry/soc_so_telemetry.sls is in the local
# pillar root: the settings install sets and those saved from SOC's
# Configuration screen.
{ENV}:
  '*':
    - ignore_missing: True
    - so_telemetry.soc_so_telemetry
"""


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def _read(path):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


@dataclasses.dataclass
class Layout:
    """Where everything is, for ``saltstack`` and ``salt_config``."""

    saltstack: str
    salt_config: str

    def __post_init__(self):
        self.saltstack = os.path.abspath(self.saltstack)
        self.salt_config = os.path.abspath(self.salt_config)
        self.master = os.path.join(self.salt_config, "master")
        self.root = os.path.join(self.saltstack, "local", "so-telemetry")
        self.salt_root = os.path.join(self.root, "salt")
        self.pillar_root = os.path.join(self.root, "pillar")
        self.local_pillar = os.path.join(self.saltstack, "local", "pillar")
        self.settings = os.path.join(self.local_pillar, "so_telemetry", "soc_so_telemetry.sls")
        self.annotations = os.path.join(self.saltstack, *core.files.ANNOTATIONS)
        self.manifest = os.path.join(self.root, "install.json")
        self.backup = os.path.join(self.root, "master.before-install")

    def keep_dir(self, path):
        """The directory above ``path`` that uninstall never removes (the
        directories install made below it go when empty)."""
        for top in (self.root, self.local_pillar, os.path.join(self.saltstack, "default")):
            if path.startswith(top + os.sep):
                return os.path.dirname(self.root) if top == self.root else top
        return os.path.dirname(path)

    def roots(self):
        """The environment the master gets: ``(file_roots, pillar_roots)``."""
        return [self.salt_root], [self.pillar_root, self.local_pillar]


@dataclasses.dataclass
class Change:
    """One file ``install`` or ``uninstall`` writes or removes. ``new`` None:
    removed. ``owner_of``: a directory whose owner a new file (and the
    directories made for it) gets; ``copy_of``: the package file it copies."""

    path: str
    old: bytes | None
    new: bytes | None
    mode: int = 0o644
    owner_of: str | None = None
    copy_of: str | None = None
    why: str = ""

    @property
    def verb(self):
        if self.new is None:
            return "remove"
        return "create" if self.old is None else "change"

    def diff(self):
        """A unified diff of the change (text files)."""
        def lines(data):
            return [] if data is None else data.decode("utf-8", "replace").splitlines(keepends=True)

        out = difflib.unified_diff(lines(self.old), lines(self.new), "/dev/null" if self.old is None else self.path,
                                   "/dev/null" if self.new is None else self.path)
        return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in out)


def library_files():
    """``{path relative to the install's salt root: source file}``: the
    library's top file, formula, modules, states and engine, from this
    installation of the package (a wheel, or a checkout)."""
    from so_telemetry import loader  # pylint: disable=import-outside-toplevel

    formula = core.context.formula_dir()
    if formula is None:
        raise InstallError("the so-telemetry Salt tree is not installed with this package")
    out = {"top.sls": os.path.join(os.path.dirname(formula), "top.sls")}
    for base, dirs, names in os.walk(formula):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith((".sls", ".yaml", ".jinja")):
                src = os.path.join(base, name)
                out[os.path.join(core.context.FORMULA, os.path.relpath(src, formula))] = src
    dirs = loader.get_ext_dirs()
    for kind, key in (("_modules", "modules"), ("_states", "states")):
        out[f"{kind}/telemetry.py"] = os.path.join(dirs[key][0], "telemetry.py")
    engine = os.path.dirname(os.path.abspath(core.__file__))
    for name in sorted(os.listdir(engine)):
        if name.endswith(".py"):
            out[f"_utils/so_telemetry_core/{name}"] = os.path.join(engine, name)
    return out


def settings_text(layout, text):
    """The library's settings file: created with what a Security Onion
    manager needs, or, where it exists (an earlier install, values saved from
    SOC's screen), with only what is missing added: a value set there is
    kept. The Salt tree's location is always this install's."""
    changes = [(["so_telemetry", "owners", art], who) for art, who in OWNERS.items()]
    try:
        new, _old = pillar_edit.edited(layout.settings, text or "", changes, keep=True)
        new, _old = pillar_edit.edited(layout.settings, new, [(["so_telemetry", "security_onion", "saltstack"],
                                                              layout.saltstack)])
    except pillar_edit.PillarError as exc:
        raise InstallError(str(exc)) from None
    if not text:
        new = ("# so-telemetry on this Security Onion manager (written by so-telemetry install "
               "--security-onion;\n# SOC's Configuration screen saves the library's settings here too).\n" + new)
    return new


def load_manifest(layout):
    data = _read(layout.manifest)
    if data is None:
        return None
    try:
        manifest = json.loads(data)
    except ValueError:
        raise InstallError(f"{layout.manifest} is not readable JSON; nothing was changed") from None
    return manifest if isinstance(manifest, dict) else None


def plan_install(layout):
    """``(changes, manifest)``: every file ``install`` writes or removes
    (unchanged files are left out), and the manifest it writes last."""
    master_text = _read(layout.master)
    if master_text is None:
        raise InstallError(f"no salt-master configuration at {layout.master} (run this on the Security Onion "
                           "manager, or pass --salt-config DIR); nothing was changed")
    previous = load_manifest(layout) or {}
    changes, written = [], {}

    def want(path, data, **kw):
        old = _read(path)
        written[path] = sha256(data)
        if old != data:
            changes.append(Change(path, old, data, **kw))

    new_master = master_config.installed(layout, master_text.decode("utf-8")).encode("utf-8")
    if new_master != master_text:
        changes.append(Change(layout.master, master_text, new_master, mode=None,
                              why="the library's environment (file_roots, pillar_roots, env_order)"))
    for rel, src in library_files().items():
        want(os.path.join(layout.salt_root, rel), pathlib.Path(src).read_bytes(), copy_of=src)
    want(os.path.join(layout.pillar_root, "top.sls"), PILLAR_TOP.encode())
    settings_old = _read(layout.settings)
    settings = settings_text(layout, settings_old.decode("utf-8") if settings_old is not None else None).encode()
    want(layout.settings, settings, mode=0o600, owner_of=layout.local_pillar,
         why="who writes what; where the Salt tree is")
    shipped = pathlib.Path(core.context.formula_dir(), core.config.ANNOTATIONS_FILE).read_text(encoding="utf-8")
    annotations = core.saltcompat.managed_text(shipped).encode()  # as the state writes it
    want(layout.annotations, annotations, owner_of=os.path.join(layout.saltstack, "default"),
         why="the library's settings on SOC's Configuration screen")
    for path in sorted(set(previous.get("files") or {}) - set(written)):
        if path.startswith(layout.root + os.sep) and os.path.exists(path):
            changes.append(Change(path, _read(path), None, why="no longer part of the library"))
    master_sha = (previous.get("master") or {}).get("before")
    manifest = {
        "version": core.__version__,
        "saltstack": layout.saltstack,
        "salt_config": layout.salt_config,
        "files": written,
        "master": {"before": master_sha or sha256(master_text), "after": sha256(new_master)},
    }
    if master_sha is None and new_master != master_text:
        changes.insert(0, Change(layout.backup, _read(layout.backup), master_text, mode=0o600, copy_of=layout.master,
                                 why="the master configuration as it was, for uninstall"))
    return changes, manifest


def plan_uninstall(layout):
    """``(changes, kept)``: what ``uninstall`` removes or restores, and the
    files it leaves, each with why."""
    manifest = load_manifest(layout)
    if manifest is None:
        return [], []
    changes, kept = [], []
    master_text = _read(layout.master)
    if master_text is not None:
        backup = _read(layout.backup)
        if backup is not None and sha256(master_text) == (manifest.get("master") or {}).get("after"):
            restored = backup
        else:
            restored = master_config.uninstalled(layout, master_text.decode("utf-8")).encode("utf-8")
        if restored != master_text:
            changes.append(Change(layout.master, master_text, restored, mode=None,
                                  why="restored" if restored == backup else "the library's keys removed"))
    files = manifest.get("files") or {}
    for path, digest in sorted(files.items()):
        data = _read(path)
        if data is None:
            continue
        if path == layout.settings and sha256(data) != digest:
            kept.append((path, "holds settings changed since the install; remove it by hand"))
            continue
        changes.append(Change(path, data, None))
    for path in (layout.backup, layout.manifest):
        data = _read(path)
        if data is not None:
            changes.append(Change(path, data, None))
    return changes, kept


def _owner(directory):
    """``(uid, gid)`` of the nearest existing directory at or above ``directory``."""
    while directory and not os.path.isdir(directory):
        directory = os.path.dirname(directory)
    st = os.stat(directory or "/")
    return st.st_uid, st.st_gid


def _makedirs(path, owner):
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        os.mkdir(directory, 0o755)
        os.chmod(directory, 0o755)
        if owner and os.geteuid() == 0:
            os.chown(directory, *owner)


def _prune(directory, stop):
    """Remove ``directory`` and its parents up to (not including) ``stop``
    while they are empty."""
    while directory.startswith(stop + os.sep) and os.path.isdir(directory) and not os.listdir(directory):
        os.rmdir(directory)
        directory = os.path.dirname(directory)


def apply(layout, changes, manifest=None):
    """Carry out ``changes`` (every write atomic), then write ``manifest``."""
    for change in changes:
        if change.new is None:
            os.unlink(change.path)
            _prune(os.path.dirname(change.path), layout.keep_dir(change.path))
            continue
        owner = _owner(change.owner_of) if change.owner_of else None
        _makedirs(os.path.dirname(change.path), owner)
        pillar_edit.atomic_write(change.path, change.new.decode("utf-8"), mode=change.mode, owner=owner)
    if manifest is not None:
        pillar_edit.atomic_write(layout.manifest, json.dumps(manifest, indent=1, sort_keys=True) + "\n", mode=0o644)
