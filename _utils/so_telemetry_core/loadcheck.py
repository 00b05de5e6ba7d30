"""Which copy of the core an execution or state module runs with.

A minion can hold two copies: the one ``saltutil.sync_all`` puts in
``<cachedir>/extmods/utils`` (synced with ``_modules``/``_states``) and a
``pip install``ed one. Salt 3006.9 puts the synced folder first on
``sys.path``, 3008 last, so ``import so_telemetry_core`` may find either; and
a long-running minion keeps the copy it imported first, even after a sync
replaced the files. The modules ask :func:`check` in their ``__virtual__``: it
compares the imported copy with the one that ships beside the module (same
sync, same wheel, same checkout), re-imports a copy that changed on disk, and
otherwise refuses with a reason naming what to run."""

import importlib
import os
import re
import sys

PACKAGE = __name__.rpartition(".")[0] or "so_telemetry_core"
_VERSION_RE = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)


def shipped_with(module_file):
    """The core directory that ships with ``module_file``: synced
    (``extmods/modules`` → ``extmods/utils``), a checkout (``_modules`` →
    ``_utils``) or a wheel (``so_telemetry/modules`` → ``site-packages``);
    None when there is none."""
    here = os.path.dirname(os.path.abspath(module_file))
    for cand in (
        os.path.join(here, os.pardir, "utils", PACKAGE),
        os.path.join(here, os.pardir, "_utils", PACKAGE),
        os.path.join(here, os.pardir, os.pardir, PACKAGE),
    ):
        if os.path.isfile(os.path.join(cand, "__init__.py")):
            return os.path.realpath(cand)
    return None


def version_of(directory):
    """The ``__version__`` written in ``directory/__init__.py`` (not imported)."""
    try:
        with open(os.path.join(directory, "__init__.py"), encoding="utf-8") as fh:
            match = _VERSION_RE.search(fh.read())
    except OSError:
        return None
    return match.group(1) if match else None


def reimport():
    """Forget every loaded module of the package and import it again (from
    whatever ``sys.path`` finds first)."""
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    return importlib.import_module(PACKAGE)


def check(module_file):
    """``(core, None)`` when the imported core is the one ``module_file``
    ships with, or ``(core, reason)`` to refuse loading."""
    core = sys.modules[PACKAGE]
    shipped = shipped_with(module_file)
    if shipped is None:
        return core, (f"no {PACKAGE} ships with {module_file}: run saltutil.sync_all "
                      "(it syncs salt://_utils as well as the modules)")
    want = version_of(shipped)
    if core.__version__ != want and os.path.realpath(os.path.dirname(core.__file__)) == shipped:
        core = reimport()  # the same copy, replaced on disk by a sync since this process imported it
    if core.__version__ == want:
        return core, None
    loaded = os.path.realpath(os.path.dirname(core.__file__))
    hint = (f"a pip-installed copy comes first on sys.path: pip install so-telemetry=={want}, or uninstall it"
            if "-packages" in loaded else "restart the salt-minion")
    return core, f"{PACKAGE} {core.__version__} (from {loaded}) is not the {want} that ships with {module_file}: {hint}"
