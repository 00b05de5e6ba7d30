"""A stand-in of Security Onion 2.4's Salt tree (``/opt/so/saltstack``), for
tests that run this library beside it.

``tree/`` holds files written for these tests that keep the *shapes* of
Security Onion 2.4.110's (state IDs, state functions, requisites, pillar keys,
annotations, top-file logic), none of its text (Security Onion is under the
Elastic License 2.0). It is laid out as ``/opt/so/saltstack`` is::

    default/salt/     Security Onion's states (replaced wholesale by soup)
    default/pillar/   its pillar top
    local/salt/       empty (the grid's own overrides)
    local/pillar/     what setup leaves: <comp>/soc_<comp>.sls, adv_<comp>.sls,
                      minions/<id>.sls and adv_<id>.sls (written by build())

Modelled: ``repo.client`` (``so_repo`` pkgrepo, ``yumconf``), ``schedule``
(``highstate_schedule``), ``patch.os.schedule`` (``patch_os_schedule``) and
``patch.os`` (a no-op), ``soc`` (``socanalytics``, ``socconfig``, ``so-soc``),
with their defaults and SOC annotations (soc, manager, patch, global).

Nothing may touch the test host: every path a state writes is under the minion
option ``so_telemetry_root``; Docker and the package manager are stubs
(``default/salt/_states/docker_container.py`` and ``pkgrepo.py``, and
``bin/docker``). The tests run Salt's pkg modules disabled (see
``tests/integration/conftest.py``).

API::

    tree = build(dest, {"sotest_manager": "so-manager"}, salt_call=[SALT_CALL, "--config-dir", cfg, "--local"],
                 root=tmp / "root")
    tree.saltstack, tree.bin, tree.master_settings(), tree.docker_log(root)
    soup(tree.saltstack)                 # default/ back to a fresh copy; local/ kept
    soup(tree.saltstack, other.saltstack)   # rsync -a --delete other/default/ tree/default/
    snapshot(path)                       # {relative path: bytes}
"""

import json
import os
import pathlib
import shlex
import shutil
import subprocess
import tempfile

TREE = pathlib.Path(__file__).resolve().parent / "tree"

# Placeholders in tree/ (text files only).
SALTSTACK = "@@SALTSTACK@@"  # where Security Onion hard-codes /opt/so/saltstack
MANAGER = "@@MANAGER@@"  # the manager's host name (global pillar)
MANAGERIP = "@@MANAGERIP@@"  # its address (global and manager pillars)
DEFAULT_MANAGERIP = "192.0.2.10"  # TEST-NET-1: never a real host

# Roles whose minion file enables SOC (Security Onion's so-minion: add_soc_to_minion).
SOC_ROLES = ("so-eval", "so-import", "so-manager", "so-managersearch", "so-standalone")

# never copied from tree/ (an import of a stub module leaves them there)
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")

DOCKER_LOG = ("var", "log", "docker-stub.log")
DOCKER_STATE = ("var", "lib", "docker-stub")


def _role(minion_id, spec):
    """A ``minions`` value: a role string, or grains with a ``role``; the id's
    suffix (``<host>_<role>``) otherwise."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict) and spec.get("role"):
        return spec["role"]
    return "so-" + minion_id.rsplit("_", 1)[-1]


def _fill(path, values):
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return
    new = text
    for key, val in values.items():
        new = new.replace(key, val)
    if new != text:
        path.write_text(new, encoding="utf-8")


def _fill_tree(top, values):
    for path in sorted(pathlib.Path(top).rglob("*")):
        if path.is_file() and not path.is_symlink():
            _fill(path, values)


def _values(saltstack, minions):
    managers = [mid for mid, spec in minions.items() if _role(mid, spec) in SOC_ROLES]
    host = managers[0].rsplit("_", 1)[0] if managers else "manager"
    return {SALTSTACK: str(saltstack), MANAGER: host, MANAGERIP: DEFAULT_MANAGERIP}


def _minion_pillar(minion_id, spec):
    """``minions/<id>.sls`` as so-minion writes it: the host, then per role
    the components it enables (only SOC is modelled)."""
    lines = ["host:", f"  mainip: '{DEFAULT_MANAGERIP}'", "  mainint: 'eth0'"]
    if _role(minion_id, spec) in SOC_ROLES:
        lines += ["soc:", "  enabled: True", "  "]
    return "\n".join(lines) + "\n"


# -- bin/ scripts -----------------------------------------------------------

_DOCKER = """#!/bin/sh
# Stand-in of the docker CLI for the Security Onion stand-in: stop, rm and ps
# on the containers the docker_container state stub keeps as JSON files.
ROOT="${SO_TELEMETRY_ROOT:-@@ROOT@@}"
if [ -z "$ROOT" ]; then
    echo "docker stub: set SO_TELEMETRY_ROOT (the minion's so_telemetry_root)" >&2
    exit 2
fi
STATE="$ROOT/var/lib/docker-stub"
LOG="$ROOT/var/log/docker-stub.log"
log() {
    mkdir -p "$(dirname "$LOG")"
    printf '{"action": "%s", "by": "cli", "name": "%s", "time": %s}\\n' "$1" "$2" "$(date +%s)" >> "$LOG"
}
cmd="$1"
[ $# -gt 0 ] && shift
case "$cmd" in
    stop)
        rc=0
        for name in "$@"; do
            if [ -f "$STATE/$name.json" ]; then log stop "$name"; echo "$name"
            else echo "Error response from daemon: No such container: $name" >&2; rc=1; fi
        done
        exit $rc;;
    rm)
        rc=0
        for name in "$@"; do
            case "$name" in -*) continue;; esac
            if [ -f "$STATE/$name.json" ]; then rm -f "$STATE/$name.json"; log rm "$name"; echo "$name"
            else echo "Error response from daemon: No such container: $name" >&2; rc=1; fi
        done
        exit $rc;;
    ps)
        echo "NAMES"
        for file in "$STATE"/*.json; do
            [ -f "$file" ] && basename "$file" .json
        done
        exit 0;;
    *)
        echo "docker stub: '$cmd' is not implemented" >&2
        exit 2;;
esac
"""

_SO_RESTART = """#!/bin/bash
# Stand-in of Security Onion's so-restart: stop and remove the component's
# container, then apply its state (which creates it again).
BIN="$(cd "$(dirname "$0")" && pwd)"
if [ $# -ge 1 ]; then
    echo "Restarting $1..."
    "$BIN/docker" stop "so-$1"; "$BIN/docker" rm "so-$1"; @@SALTCALL@@ state.apply "$1" queue=True
else
    echo "Usage: so-restart <component>" >&2
    exit 1
fi
"""

_SO_SOC_RESTART = """#!/bin/bash
# Stand-in of Security Onion's so-soc-restart (its salt-relay clean-up is not modelled).
BIN="$(cd "$(dirname "$0")" && pwd)"
exec "$BIN/so-restart" soc "$@"
"""


def _salt_call_words(salt_call):
    if salt_call is None:
        return "salt-call"
    if isinstance(salt_call, (list, tuple)):
        return shlex.join(str(word) for word in salt_call)
    return str(salt_call)


def _write_script(path, text):
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)


# -- the built tree -----------------------------------------------------------

class Tree:
    """A built stand-in: ``saltstack`` (the /opt/so/saltstack stand-in) and
    ``bin`` (docker, so-restart, so-soc-restart)."""

    def __init__(self, saltstack, minions):
        self.saltstack = pathlib.Path(saltstack)
        self.bin = self.saltstack / "bin"
        self.minions = dict(minions)

    def master_settings(self):
        """file_roots and pillar_roots as Security Onion's master sets them
        (local before default)."""
        return {
            "file_roots": {"base": [str(self.saltstack / "local" / "salt"), str(self.saltstack / "default" / "salt")]},
            "pillar_roots": {
                "base": [str(self.saltstack / "local" / "pillar"), str(self.saltstack / "default" / "pillar")]
            },
        }

    @staticmethod
    def docker_log(root):
        """The stub Docker log under ``root`` (a minion's so_telemetry_root):
        one dict per create/recreate/stop/rm, oldest first."""
        return docker_log(root)

    @staticmethod
    def containers(root):
        """``{name: container}`` the stub holds under ``root``."""
        folder = pathlib.Path(root).joinpath(*DOCKER_STATE)
        return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}

    def __repr__(self):
        return f"Tree({str(self.saltstack)!r})"


def docker_log(root):
    path = pathlib.Path(root).joinpath(*DOCKER_LOG)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build(dest, minions, salt_call=None, root=None):
    """Copy the stand-in to ``dest`` (a new directory) and fill it in.

    ``minions``: ``{minion id: role or grains}`` (ids ``<host>_<role>``, as
    Security Onion names them); each gets ``local/pillar/minions/<id>.sls``
    and an empty ``adv_<id>.sls``. ``salt_call``: the command ``so-restart``
    runs ``state.apply`` with (a string, or a list such as ``[salt-call,
    "--config-dir", dir, "--local"]``); plain ``salt-call`` by default.
    ``root``: the minion's ``so_telemetry_root``, the default for
    ``bin/docker`` (``SO_TELEMETRY_ROOT`` overrides it; with neither the stub
    refuses to run).
    """
    dest = pathlib.Path(dest).resolve()
    if dest.exists():
        raise FileExistsError(f"{dest}: build() wants a new directory")
    shutil.copytree(TREE, dest, symlinks=True, ignore=_IGNORE)
    _fill_tree(dest, _values(dest, minions))
    minion_dir = dest / "local" / "pillar" / "minions"
    for minion_id, spec in minions.items():
        (minion_dir / f"{minion_id}.sls").write_text(_minion_pillar(minion_id, spec), encoding="utf-8")
        (minion_dir / f"adv_{minion_id}.sls").write_text("", encoding="utf-8")
    bindir = dest / "bin"
    bindir.mkdir()
    _write_script(bindir / "docker", _DOCKER.replace("@@ROOT@@", str(root) if root else ""))
    _write_script(bindir / "so-restart", _SO_RESTART.replace("@@SALTCALL@@", _salt_call_words(salt_call)))
    _write_script(bindir / "so-soc-restart", _SO_SOC_RESTART)
    return Tree(dest, minions)


def _mirror(src, dst):
    """``rsync -a --delete src/ dst/`` in Python: dst ends up holding exactly
    src's files (content, mode, times; symlinks as links)."""
    src, dst = pathlib.Path(src), pathlib.Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    wanted = {p.relative_to(src) for p in src.rglob("*")}
    for path in sorted(dst.rglob("*"), reverse=True):
        rel = path.relative_to(dst)
        src_path = src / rel
        kind_changed = rel in wanted and (
            src_path.is_symlink() != path.is_symlink() or src_path.is_dir() != (path.is_dir() and not path.is_symlink())
        )
        if rel not in wanted or kind_changed:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    for rel in sorted(wanted):
        src_path, dst_path = src / rel, dst / rel
        if src_path.is_symlink():
            if dst_path.is_symlink():
                dst_path.unlink()
            os.symlink(os.readlink(src_path), dst_path)
        elif src_path.is_dir():
            dst_path.mkdir(exist_ok=True)
        else:
            shutil.copy2(src_path, dst_path)
    for rel in sorted(wanted, reverse=True):
        if (src / rel).is_dir() and not (src / rel).is_symlink():
            shutil.copystat(src / rel, dst / rel)
    shutil.copystat(src, dst)


def _sync(src, dst):
    if shutil.which("rsync"):
        pathlib.Path(dst).mkdir(parents=True, exist_ok=True)
        subprocess.run(["rsync", "-a", "--delete", f"{src}/", f"{dst}/"], check=True)
    else:
        _mirror(src, dst)


def soup(saltstack, pristine=None):
    """What soup does to ``default/``: replaced wholesale, ``local/`` kept.

    ``pristine``: a tree whose ``default/`` is copied as it is (``rsync -a
    --delete pristine/default/ saltstack/default/``, or a Python equivalent
    without rsync). Its placeholders were filled for *its* path: build it
    for this one or use None. ``None``: a fresh ``default/`` from the stand-in
    filled for ``saltstack`` (what build() wrote there).
    """
    saltstack = pathlib.Path(saltstack).resolve()
    if pristine is not None:
        _sync(pathlib.Path(pristine) / "default", saltstack / "default")
        return
    with tempfile.TemporaryDirectory(prefix="so-soup-") as tmp:
        staging = pathlib.Path(tmp) / "default"
        shutil.copytree(TREE / "default", staging, symlinks=True, ignore=_IGNORE)
        # default/ holds only the saltstack placeholder (the pillar top)
        _fill_tree(staging, {SALTSTACK: str(saltstack)})
        _sync(staging, saltstack / "default")


def snapshot(path):
    """``{relative path: bytes}`` of every file under ``path`` (symlinks
    followed), to compare trees byte for byte."""
    path = pathlib.Path(path)
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
