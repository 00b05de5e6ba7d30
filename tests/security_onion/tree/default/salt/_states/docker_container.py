"""
Stand-in of Salt's ``docker_container`` states for the Security Onion
stand-in tree: no Docker is reached. A container is a JSON file,
``<so_telemetry_root>/var/lib/docker-stub/<name>.json`` (its image, binds and
the other arguments it was created with), and every create, recreate, stop and
removal appends one JSON line to ``<so_telemetry_root>/var/log/docker-stub.log``
(the ``bin/docker`` stub appends to the same log).

* ``running``: creates the container when it is absent, recreates it when its
  image or binds differ (Salt's real state compares more; these two are what
  the stand-in's callers change), else reports no change.
* ``mod_watch``: recreates it, as the real state does (``watch_action`` force).
* ``absent``: removes it.

With ``test=True`` they predict and write nothing.
"""

import json
import os
import time

STATE_DIR = ("var", "lib", "docker-stub")
LOG = ("var", "log", "docker-stub.log")
# Arguments Salt itself adds to a state call; never part of a container.
_SALT_KEYS = (
    "name", "fun", "sfun", "state", "order", "watch", "watch_in", "require", "require_in", "onchanges", "onchanges_in",
    "onfail", "onfail_in", "prereq", "prereq_in", "use", "use_in", "listen", "listen_in",
)


def __virtual__():
    return True


def _root():
    return __opts__.get("so_telemetry_root", "") or ""


def _refuse_real_root():
    # The stub never writes under the real /var: a minion without
    # so_telemetry_root gets a failed state, not a file in /var/lib.
    return not _root()


def _state_path(name):
    return os.path.join(_root(), *STATE_DIR, f"{name}.json")


def _read(name):
    try:
        with open(_state_path(name), encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


def _log(action, name, **extra):
    path = os.path.join(_root(), *LOG)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    line = {"time": round(time.time(), 3), "action": action, "name": name, "by": "salt"}
    line.update(extra)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, sort_keys=True) + "\n")


def _write(name, container):
    path = _state_path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(container, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _container(name, image, binds, kwargs):
    other = {
        key: val for key, val in kwargs.items() if not key.startswith("__") and key not in _SALT_KEYS
    }
    return {"name": name, "image": image, "binds": list(binds or []), "kwargs": other}


def _ret(name):
    return {"name": name, "result": True, "changes": {}, "comment": ""}


def _create(name, image, binds, kwargs, action, why):
    ret = _ret(name)
    if _refuse_real_root():
        ret.update(result=False, comment="docker_container stub: minion option so_telemetry_root is not set")
        return ret
    old = _read(name)
    new = _container(name, image, binds, kwargs)
    if old is None:
        ret["changes"] = {"added": {"image": new["image"], "binds": new["binds"]}}
    else:
        diff = {key: {"old": old.get(key), "new": new[key]} for key in ("image", "binds") if old.get(key) != new[key]}
        ret["changes"] = {"container": diff or {"recreated": True}}
    if __opts__.get("test"):
        ret["result"] = None
        ret["comment"] = f"Container '{name}' would be {action}d ({why})"
        return ret
    _write(name, new)
    _log(action, name, image=new["image"], binds=new["binds"], reason=why)
    ret["comment"] = f"Container '{name}' {action}d ({why})"
    return ret


def running(name, image=None, binds=None, **kwargs):
    """The container ``name`` exists with this image and these binds."""
    current = _read(name)
    if current is None:
        return _create(name, image, binds, kwargs, "create", "absent")
    wanted = _container(name, image, binds, kwargs)
    differ = [key for key in ("image", "binds") if current.get(key) != wanted[key]]
    if differ:
        return _create(name, image, binds, kwargs, "recreate", " and ".join(differ) + " changed")
    ret = _ret(name)
    ret["comment"] = f"Container '{name}' is already configured as specified"
    return ret


def absent(name, force=False, **kwargs):  # pylint: disable=unused-argument
    """The container ``name`` does not exist."""
    ret = _ret(name)
    if _read(name) is None:
        ret["comment"] = f"Container '{name}' does not exist"
        return ret
    ret["changes"] = {"removed": name}
    if __opts__.get("test"):
        ret["result"] = None
        ret["comment"] = f"Container '{name}' would be removed"
        return ret
    if _refuse_real_root():
        ret.update(result=False, changes={}, comment="docker_container stub: so_telemetry_root is not set")
        return ret
    os.remove(_state_path(name))
    _log("rm", name, force=bool(force))
    ret["comment"] = f"Removed container '{name}'"
    return ret


def mod_watch(name, sfun=None, **kwargs):
    """A watched state changed: ``running`` recreates the container (Salt's
    real state forces a new one); nothing else reacts."""
    if sfun != "running":
        ret = _ret(name)
        ret["comment"] = f"watch requisite is not implemented for {sfun}"
        return ret
    image = kwargs.pop("image", None)
    binds = kwargs.pop("binds", None)
    if _read(name) is None:
        return _create(name, image, binds, kwargs, "create", "absent")
    return _create(name, image, binds, kwargs, "recreate", "a watched state changed")
