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


def salt_dir():
    """The formula's own directory, ``salt/so_telemetry`` (one folder per
    component, each with ``defaults.yaml`` and annotation files): the
    installed copy or the checkout's, as the engine finds it."""
    import so_telemetry_core.context  # pylint: disable=import-outside-toplevel

    found = so_telemetry_core.context.formula_dir()
    if found is None:
        raise FileNotFoundError("the so-telemetry salt/ tree is not installed")
    return found
