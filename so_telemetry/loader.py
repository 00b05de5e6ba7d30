"""Salt loader entry point: a pip install exposes the ``telemetry`` execution
and state modules to every salt command on the machine."""

import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def _first_dir(*candidates):
    for cand in candidates:
        if os.path.isfile(os.path.join(cand, "telemetry.py")):
            return [cand]
    return []


def get_ext_dirs():
    """``{ext_type: [dirs]}``: the installed copies (wheel) or the checkout's
    ``_modules`` and ``_states`` (editable install)."""
    repo = os.path.dirname(_HERE)
    return {
        "modules": _first_dir(os.path.join(_HERE, "modules"), os.path.join(repo, "_modules")),
        "states": _first_dir(os.path.join(_HERE, "states"), os.path.join(repo, "_states")),
    }


def salt_root():
    """The library's ``salt/`` file root (``top.sls`` and the ``so_telemetry``
    formula): the installed copy or the checkout's."""
    for cand in (os.path.join(_HERE, "salt"), os.path.join(os.path.dirname(_HERE), "salt")):
        if os.path.isfile(os.path.join(cand, "so_telemetry", "init.sls")):
            return cand
    raise FileNotFoundError("the so-telemetry salt/ tree is not installed")


def salt_dir():
    """The formula's own directory, ``salt/so_telemetry`` (one folder per
    component, each with ``defaults.yaml`` and annotation files)."""
    return os.path.join(salt_root(), "so_telemetry")
