"""Which copy of the engine a module runs with (``so_telemetry_core.loadcheck``).

Each case lays out a minion's extension folders in a temporary directory
(``extmods/modules/telemetry.py`` beside ``extmods/utils/so_telemetry_core``,
as ``saltutil.sync_all`` does) and runs a fresh Python, so the imports are
real and this process's ``sys.modules`` is left alone."""

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.unit.conftest import REPO

CORE = REPO / "_utils" / "so_telemetry_core"


def _copy_core(dest, version=None):
    shutil.copytree(CORE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    if version:
        init = dest / "__init__.py"
        text = init.read_text()
        init.write_text(text.replace('__version__ = "', f'__version__ = "{version}"  # was "', 1))
    return dest


@pytest.fixture
def extmods(workdir):
    """A synced layout: ``(module file, utils dir)``."""
    (workdir / "extmods" / "modules").mkdir(parents=True)
    module = workdir / "extmods" / "modules" / "telemetry.py"
    shutil.copy(REPO / "_modules" / "telemetry.py", module)
    utils = workdir / "extmods" / "utils"
    utils.mkdir()
    return module, utils


def run(paths, script):
    """Run ``script`` in a fresh Python with ``paths`` first on sys.path; its last line is JSON."""
    code = "import sys; sys.path[:0] = %r\n" % [str(p) for p in paths] + textwrap.dedent(script)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


CHECK = """
import json, so_telemetry_core as core
mod, why = core.loadcheck.check(%r)
print(json.dumps({"version": mod.__version__, "why": why, "file": mod.__file__}))
"""


def test_the_synced_copy_is_used(extmods):
    module, utils = extmods
    _copy_core(utils / "so_telemetry_core")
    out = run([utils], CHECK % str(module))
    assert out["why"] is None and out["file"].startswith(str(utils))


def test_no_synced_engine_names_sync_all(extmods, workdir):
    module, _utils = extmods
    other = _copy_core(workdir / "site" / "so_telemetry_core")  # importable, but not shipped with the module
    out = run([other.parent], CHECK % str(module))
    assert "saltutil.sync_all" in out["why"] and str(module) in out["why"]


def test_another_version_first_on_sys_path_is_refused(extmods, workdir):
    """Salt 3008 appends the synced folder: a pip-installed copy of another
    release would be imported first."""
    module, utils = extmods
    _copy_core(utils / "so_telemetry_core")
    pip_copy = _copy_core(workdir / "lib" / "site-packages" / "so_telemetry_core", version="0.0.9")
    out = run([pip_copy.parent, utils], CHECK % str(module))
    assert out["version"] == "0.0.9"
    assert "0.0.9" in out["why"] and "site-packages" in out["why"] and "pip install so-telemetry==" in out["why"]


def test_a_copy_replaced_by_a_sync_is_reimported(extmods):
    """A long-running minion imported the engine; a sync then replaced its
    files: the next module load uses the new files, not the stale ones."""
    module, utils = extmods
    synced = _copy_core(utils / "so_telemetry_core", version="0.0.1")
    script = f"""
import json, os, shutil, so_telemetry_core as old
old_decide = old.decide
shutil.rmtree({str(synced)!r}); shutil.copytree({str(CORE)!r}, {str(synced)!r})
mod, why = old.loadcheck.check({str(module)!r})
print(json.dumps({{"old": old.__version__, "version": mod.__version__, "why": why,
                   "fresh_submodule": mod.decide is not old_decide}}))
"""
    out = run([utils], script)
    assert out["old"].startswith("0.0.1") and out["why"] is None and out["fresh_submodule"] is True
    assert out["version"] == run([REPO / "_utils"], "import json, so_telemetry_core as c; "
                                                    "print(json.dumps(c.__version__))")
