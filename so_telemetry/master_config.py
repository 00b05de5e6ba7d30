"""The salt-master configuration of a Security Onion manager
(``<salt-config>/master``), with and without the library's environment:
``file_roots.so_telemetry``, ``pillar_roots.so_telemetry`` and
``env_order`` added or removed in place, the way soup edits the file
(every other key and every comment kept: :func:`so_telemetry.pillar_edit.edited`).
A ``master.d`` drop-in cannot add an environment: Salt merges a drop-in key
by key, so its ``file_roots`` would replace Security Onion's lists."""

import io
import os

import so_telemetry_core as core

from so_telemetry import pillar_edit

ENV = core.context.FORMULA_ENV


class InstallError(Exception):
    """Nothing can be installed or uninstalled; nothing was changed."""


def _yaml_data(path, text):
    import salt.utils.yaml  # pylint: disable=import-outside-toplevel

    try:
        data = salt.utils.yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001  (Salt's YAML errors, every kind)
        raise InstallError(f"{path} is not valid YAML ({' '.join(str(exc).split())}); nothing was changed") from None
    if not isinstance(data, dict):
        raise InstallError(f"{path} is not a YAML mapping; nothing was changed")
    return data


def _check_security_onion(layout, data):
    """Refuse a master that does not serve Security Onion's tree at ``saltstack``."""
    default_salt = os.path.join(layout.saltstack, "default", "salt")
    base = ((data.get("file_roots") or {}).get("base") or []) if isinstance(data.get("file_roots"), dict) else []
    if not os.path.isdir(default_salt):
        raise InstallError(f"no Security Onion Salt tree at {layout.saltstack} ({default_salt} is missing); "
                           "pass --saltstack DIR; nothing was changed")
    if not any(os.path.normpath(str(r)) == default_salt for r in base):
        raise InstallError(f"{layout.master} does not serve {default_salt} in file_roots:base: not this Security "
                           "Onion manager's master (pass --salt-config DIR); nothing was changed")


def _env_order(data):
    """Security Onion's environments in their order, then the library's."""
    current = data.get("env_order")
    if isinstance(current, list) and current:
        return [*current, ENV] if ENV not in current else list(current)
    envs = ["base", *[e for e in (data.get("file_roots") or {}) if e not in ("base", ENV)]]
    return [*envs, ENV]


def installed(layout, text):
    """``text`` (the master configuration) with the library's environment."""
    data = _yaml_data(layout.master, text)
    _check_security_onion(layout, data)
    file_roots, pillar_roots = layout.roots()
    changes = [(["file_roots", ENV], file_roots), (["pillar_roots", ENV], pillar_roots),
               (["env_order"], _env_order(data))]
    want = {"file_roots": file_roots, "pillar_roots": pillar_roots}
    if all((data.get(k) or {}).get(ENV) == v for k, v in want.items()) and data.get("env_order") == _env_order(data):
        return text
    try:
        new, _old = pillar_edit.edited(layout.master, text, changes)
    except pillar_edit.PillarError as exc:
        raise InstallError(str(exc)) from None
    return new


def uninstalled(layout, text):
    """``text`` without the library's environment (every other key and
    comment kept)."""
    from ruamel.yaml.comments import CommentedMap  # pylint: disable=import-outside-toplevel

    data = _yaml_data(layout.master, text)
    ours = [k for k in ("file_roots", "pillar_roots") if isinstance(data.get(k), dict) and ENV in data[k]]
    order = data.get("env_order")
    if not ours and not (isinstance(order, list) and ENV in order):
        return text
    yaml = pillar_edit._yaml(text)  # pylint: disable=protected-access
    doc = yaml.load(text)
    for key in ours:
        del doc[key][ENV]
    if isinstance(order, list) and ENV in order:
        rest = [e for e in doc["env_order"] if e != ENV]
        if rest in ([], ["base"]):
            del doc["env_order"]  # what install added; Salt's default order again
        else:
            doc["env_order"] = rest
    out = io.StringIO()
    yaml.dump(doc if doc else CommentedMap(), out)
    return out.getvalue()
