"""Shared test set-up.

* ``Sandbox``: a masterless minion configuration in a temporary directory
  (its own pillar root before the shipped one, every rendered file under its
  own root) driven with the real ``salt-call --local``.
* salt-factories and pytest temp files live under ``<repo>/.tmp`` (ignored by
  git), never in the repo proper.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

# hypothesis before salt: importing Salt 3006.9 puts its vendored
# importlib_metadata finder on sys.meta_path, after which hypothesis' import
# (it reads the stdlib's entry_points) fails with "'PathDistribution' object
# has no attribute '_normalized_name'" (a Salt-line difference, see
# tests/saltcompat.py).
import hypothesis  # noqa: F401  pylint: disable=unused-import

# Import salt.config before anything touches logging, or every run ends in
# "Logging error ... I/O operation on closed file".
import salt.config  # noqa: F401  pylint: disable=unused-import
import pytest
import yaml

from tests.saltcompat import SALT_LINE, SALT_VERSION, quiet_salt_import_logging

# ... then drop the handlers salt's import put on the root logger (a deferred
# stderr handler that flushes into pytest's closed capture stream at exit).
quiet_salt_import_logging()

REPO = pathlib.Path(__file__).resolve().parent.parent
TMP = REPO / ".tmp"
# What a run writes for people to read (fault figures), per Salt line: the two
# lines may run at once (scripts/test.sh).
FIGURES_DIR = TMP / "figures" / f"salt-{SALT_LINE}"
# scripts/test.sh runs a line's layers in two pytest processes at once
# (SO_TELEMETRY_TEST_PART): each its own basetemp and salt-factories root.
PART = os.environ.get("SO_TELEMETRY_TEST_PART", "")
RUN_NAME = f"{SALT_LINE}-{PART}" if PART else str(SALT_LINE)
BIN = pathlib.Path(sys.executable).parent
SALT_CALL = str(BIN / "salt-call") if (BIN / "salt-call").exists() else shutil.which("salt-call")
SO_TELEMETRY = str(BIN / "so-telemetry") if (BIN / "so-telemetry").exists() else shutil.which("so-telemetry")

# The pillar top the sandboxes use: the shipped one plus `tests` last, so a
# test can set any key (the shipped top is shadowed: first pillar root wins).
_SHIPPED_TOP = yaml.safe_load((REPO / "pillar" / "top.sls").read_text())


def pytest_report_header(config):
    return f"Salt line {SALT_LINE}: salt {SALT_VERSION.string} ({sys.executable})"


def pytest_collection_modifyitems(config, items):
    """``SO_TELEMETRY_TEST_SO_LAST=1`` (scripts/test.sh, one line of a full
    run): the Security Onion grid's tests run last, so the two lines' grids
    never run at the same time. Once, with both at once on a loaded 2-core
    box, every SOC file of one manager's render root showed another owner
    between two highstates (not explained; not seen with them apart)."""
    if os.environ.get("SO_TELEMETRY_TEST_SO_LAST"):
        items.sort(key=lambda item: item.nodeid.startswith("tests/integration/security_onion/"))


def pytest_configure(config):
    if not config.option.basetemp:
        TMP.mkdir(exist_ok=True)
        config.option.basetemp = str(TMP / f"pytest-{RUN_NAME}")


# The consent trail of a real manager: tests keep theirs under a sandbox root
# (minion option so_telemetry_root); none may write this one.
REAL_TRAIL_DIR = pathlib.Path("/opt/so/log/so-telemetry")


def _real_trail_state():
    return sorted((p.name, p.stat().st_mtime_ns) for p in REAL_TRAIL_DIR.iterdir()) if REAL_TRAIL_DIR.is_dir() else None


@pytest.fixture(scope="session", autouse=True)
def no_real_consent_trail():
    """Fails the session if a test wrote the real consent trail (a CLI run
    without a --config-dir whose minion file sets so_telemetry_root)."""
    before = _real_trail_state()
    yield
    assert _real_trail_state() == before, f"a test wrote {REAL_TRAIL_DIR} (outside every sandbox)"


def save_figures(name, title, figures):
    """A module's fault figures, to ``.tmp/figures/salt-<line>/<name>.json``
    and printed (``pytest -s``)."""
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    (FIGURES_DIR / f"{name}.json").write_text(json.dumps(figures, indent=1, sort_keys=True))
    print(f"\n{title}:", json.dumps(figures, sort_keys=True))


# A daemon binds its Unix sockets under <root>/<id>[_N]/run/<role>/, and a
# socket path is at most 107 bytes (sun_path): the longest is a minion's
# "minion_event_<10 hex>_pull.ipc" (44 bytes with "/run/minion/"), after the
# longest daemon id the tests use ("so-telemetry-master", 19) plus the "_NN"
# salt-factories adds to a directory an earlier run left, and a "/".
SOCKET_ROOT_MAX = 107 - len("/run/minion/minion_event_0123456789_pull.ipc") - len("/so-telemetry-master_NN")


@pytest.fixture(scope="session")
def salt_factories_config():
    """salt-factories' root_dir under the repo's ignored .tmp/, one per Salt
    line (and part, see PART): the daemon scripts salt-factories writes there
    name the virtualenv that wrote them, so a shared root would start the
    other line's salt-master and salt-minions (whose replies the client then
    cannot read: "bad load").

    Emptied at the start of a run: salt-factories gives a daemon whose
    directory an earlier run left a new one (``<id>_1``, ``<id>_2``, ...), so
    leftovers would grow the directory and the socket paths in it. Short, as
    a socket path must be (see SOCKET_ROOT_MAX)."""
    import salt.version  # pylint: disable=import-outside-toplevel

    root = TMP / f"sf-{salt.version.__saltstack_version__.major}{'-' + PART[0] if PART else ''}"
    if len(str(root)) <= SOCKET_ROOT_MAX:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        yield {"root_dir": str(root)}
        return
    # a clone deep enough that a daemon's socket would not fit: a short
    # directory of this run's own under the system's temp directory instead
    import tempfile  # pylint: disable=import-outside-toplevel

    root = tempfile.mkdtemp(prefix="sotel-sf-")
    yield {"root_dir": root}
    shutil.rmtree(root, ignore_errors=True)


def _ext_root():
    """Stand-in for the second file root `<repo>`: only `_modules`, `_states`
    and `_utils` (symlinks), so salt://_modules etc. resolve as on a
    master serving [<repo>/salt, <repo>] — without Salt walking .venv and .tmp
    on every salt-call (about 1.4 s each, see bench/README.md). The demo and the
    integration grid serve the real `<repo>`."""
    root = TMP / "ext-root"
    root.mkdir(parents=True, exist_ok=True)
    for name in ("_modules", "_states", "_utils"):
        link = root / name
        if not link.is_symlink():
            try:
                link.symlink_to(REPO / name)
            except FileExistsError:
                pass
    return root


class SaltCallError(AssertionError):
    pass


class Sandbox:
    """One masterless minion: config dir, local pillar root, render root."""

    def __init__(self, base, grains=None, pillar=None, minion_id="so-test"):
        self.base = pathlib.Path(base)
        self.config_dir = self.base / "etc" / "salt"
        self.pillar_dir = self.base / "local" / "pillar"
        self.root = self.base / "root"
        for path in (self.config_dir / "minion.d", self.pillar_dir, self.root):
            path.mkdir(parents=True, exist_ok=True)
        self.minion_id = minion_id
        self.grains = {"role": "so-manager", "os": "OEL", "osmajorrelease": 9, "cpuarch": "x86_64"}
        self.grains.update(grains or {})
        self.write_config()
        top = {"base": {"*": list(_SHIPPED_TOP["base"]["*"]) + ["tests"]}}
        (self.pillar_dir / "top.sls").write_text(yaml.safe_dump(top))
        self.set_pillar(pillar or {})

    def write_config(self, **extra):
        conf = {
            "id": self.minion_id,
            "file_client": "local",
            "root_dir": str(self.base),
            "user": "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody"),
            "file_roots": {"base": [str(REPO / "salt"), str(_ext_root())]},
            "pillar_roots": {"base": [str(self.pillar_dir), str(REPO / "pillar")]},
            "so_telemetry_root": str(self.root),
            "grains": self.grains,
            "log_level_logfile": "warning",
            # grains we set are the only ones the engine may see as identity
            "enable_fqdns_grains": False,
        }
        conf.update(extra)
        (self.config_dir / "minion").write_text(yaml.safe_dump(conf))

    def set_grains(self, **grains):
        self.grains.update(grains)
        for key, val in list(self.grains.items()):
            if val is None:
                del self.grains[key]
        self.write_config()

    def set_pillar(self, data):
        """Replace the test pillar (pillar SLS `tests`, applied last)."""
        (self.pillar_dir / "tests.sls").write_text(yaml.safe_dump(data) if data else "{}\n")

    def path(self, abspath):
        return self.root / abspath.lstrip("/")

    def salt_call(self, *args, check=True, out="json"):
        cmd = [SALT_CALL, "--config-dir", str(self.config_dir), "--local", f"--out={out}", "--log-level=error", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, timeout=300)
        if out != "json":
            return proc
        try:
            data = json.loads(proc.stdout)["local"]
        except (ValueError, KeyError):
            raise SaltCallError(f"{' '.join(args)} -> rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}") from None
        if check and proc.returncode != 0:
            raise SaltCallError(
                f"{' '.join(args)} -> rc {proc.returncode}\n{json.dumps(data, indent=1)}\n{proc.stderr}"
            )
        return data

    def cli(self, *args, input=None, check=False, env=None):
        """Run the installed so-telemetry console script against this sandbox."""
        full_env = dict(os.environ)
        full_env.update(
            SO_TELEMETRY_CONFIG_DIR=str(self.config_dir),
            SO_TELEMETRY_LOCAL="1",
            SO_TELEMETRY_PILLAR_DIR=str(self.pillar_dir),
        )
        full_env.update(env or {})
        proc = subprocess.run(
            [SO_TELEMETRY, *args], input=input, capture_output=True, text=True, env=full_env,
            stdin=None if input is not None else subprocess.DEVNULL, check=False, timeout=300,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"so-telemetry {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def schedule_conf(self):
        path = self.config_dir / "minion.d" / "_schedule.conf"
        if not path.exists():
            return {}
        return (yaml.safe_load(path.read_text()) or {}).get("schedule") or {}

    def files(self):
        """{absolute path as on a node: bytes} of every rendered file."""
        return {
            "/" + str(p.relative_to(self.root)): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file()
        }

    def snapshot(self):
        """{path: (bytes, mode, mtime_ns)} of rendered files and schedules."""
        snap = {}
        paths = [p for p in self.root.rglob("*") if p.is_file()]
        sched = self.config_dir / "minion.d" / "_schedule.conf"
        if sched.exists():
            paths.append(sched)
        for p in sorted(paths):
            st = p.stat()
            snap[str(p)] = (p.read_bytes(), st.st_mode & 0o7777, st.st_mtime_ns)
        return snap


@pytest.fixture
def sandbox(tmp_path):
    """A fresh masterless manager (role so-manager, Oracle Linux 9, x86_64)."""
    return Sandbox(tmp_path / "sandbox")


@pytest.fixture
def make_sandbox(tmp_path):
    count = [0]

    def make(**kwargs):
        count[0] += 1
        return Sandbox(tmp_path / f"sandbox{count[0]}", **kwargs)

    return make


def state_results(ret):
    """{state id: result dict} from a state.* return."""
    assert isinstance(ret, dict), f"state run did not return states: {ret!r}"
    out = {}
    for key, val in ret.items():
        sid = key.split("_|-")[1]
        out[sid] = val
    return out


def dedent(text):
    return textwrap.dedent(text).lstrip()
