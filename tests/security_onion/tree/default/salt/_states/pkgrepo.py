"""
Stand-in of Salt's ``pkgrepo.managed`` for the Security Onion stand-in tree,
as it behaves on a yum/dnf minion, without a package manager: it writes the
``.repo`` file Salt's ``pkg.mod_repo`` (yumpkg) would write, under
``<so_telemetry_root>``.

* The repository is looked up by its section name in every ``*.repo`` file of
  ``<root>/etc/yum.repos.d`` (then ``<root>/etc/yum/repos.d``); a new one goes
  to ``<root>/etc/yum.repos.d/<name>.repo`` (the directory is made if missing,
  where yumpkg would fail: a test root starts empty).
* ``humanname`` becomes ``name=``, ``enabled``/``disabled`` become
  ``enabled=1|0``, booleans ``1``/``0``; any other argument is written as
  given (``gpgkey=``, ``proxy=`` ...). An empty value removes the key.
* An existing file keeps its header comments, its other sections and the
  keys not given; it is rewritten in place (inode, owner and mode kept) in
  yumpkg's layout (``key=value`` lines, a blank line after each section).
* Without the minion option ``so_telemetry_root`` it fails: it never writes
  the real /etc.
* Changes and ``test=True`` as the real state reports them: ``{"repo": name}``
  for a new repository, ``{key: {"old", "new"}}`` for changed keys.
"""

import configparser
import glob
import os

REPO_DIRS = (("etc", "yum.repos.d"), ("etc", "yum", "repos.d"))


def __virtual__():
    return True


def _dirs():
    root = __opts__.get("so_telemetry_root", "") or ""
    return [os.path.join(root, *parts) for parts in REPO_DIRS]


def _str(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _is_true(value):
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _parse(path):
    """``(header comments, {section: {key: value, "comments": [...]}})`` as
    yumpkg reads a repo file."""
    parser = configparser.RawConfigParser(strict=False)
    parser.read(path, encoding="utf-8")
    sections = {name: dict(parser.items(name, raw=True)) for name in parser.sections()}
    header, current = "", None
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line.startswith("#"):
                if current is None:
                    header += line + "\n"
                elif current in sections:
                    sections[current].setdefault("comments", []).append(line[1:].lstrip())
            elif line.startswith("[") and line.endswith("]"):
                current = line[1:-1]
    return header, sections


def _find(name):
    for directory in _dirs():
        for path in sorted(glob.glob(os.path.join(directory, "*.repo"))):
            header, sections = _parse(path)
            if name in sections:
                return path, header, sections
    return None, "", {}


def _render(header, sections):
    text = header
    for section, keys in sections.items():
        keys = dict(keys)
        comments = "".join(f"# {c}\n" for c in keys.pop("comments", []))
        text += f"[{section}]\n"
        for key, value in keys.items():
            text += f"{key}={_str(value)}\n"
        text += comments + "\n"
    return text


def _wanted(name, kwargs):
    """The settings in the order yumpkg writes them (the state's own
    reshuffling: ``name`` after the given keys, ``enabled`` in place)."""
    opts = {key: val for key, val in kwargs.items() if not key.startswith("__") and key not in ("saltenv", "name")}
    enabled, disabled = opts.get("enabled"), opts.pop("disabled", None)
    if enabled is None and disabled is None:
        enabled = True
    opts["name"] = name
    if "humanname" in opts:
        opts["name"] = opts.pop("humanname")
    opts["enabled"] = (not _is_true(disabled)) if disabled is not None else _is_true(enabled)
    return opts


def _differs(key, want, have):
    if key not in have:
        # yum takes a missing `enabled` as enabled; an empty value is a removal
        return not ((key == "enabled" and _is_true(want)) or _str(want) == "")
    if isinstance(want, bool):
        return _is_true(have[key]) != want
    return _str(want) != str(have[key])


def managed(name, **kwargs):
    """The yum repository ``name`` is configured with these settings."""
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if not (__opts__.get("so_telemetry_root") or ""):
        ret.update(result=False, comment="pkgrepo stub: minion option so_telemetry_root is not set")
        return ret
    opts = _wanted(name, kwargs)
    if not any(opts.get(key) for key in ("baseurl", "mirrorlist", "metalink")):
        ret.update(result=False, comment=f"Failed to configure repo '{name}': no baseurl, mirrorlist or metalink")
        return ret
    path, header, sections = _find(name)
    pre = sections.get(name)
    if pre is not None and not any(_differs(key, val, pre) for key, val in opts.items()):
        ret["comment"] = f"Package repo '{name}' already configured"
        return ret

    if pre is None:
        changes = {"repo": name}
        path = os.path.join(_dirs()[0], f"{name}.repo")
        sections = {name: {}}
    else:
        changes = {
            key: {"new": _str(val) if _str(val) else None, "old": pre.get(key)}
            for key, val in opts.items()
            if _differs(key, val, pre)
        }
    if __opts__.get("test"):
        ret.update(result=None, changes=changes, comment=f"Package repo '{name}' would be configured.")
        return ret

    stanza = sections[name]
    for key, val in opts.items():
        if _str(val) == "":
            stanza.pop(key, None)
        else:
            stanza[key] = val
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # rewritten in place, as yumpkg does: the file keeps its inode, owner and mode
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(_render(header, sections))
    ret.update(changes=changes, comment=f"Configured package repo '{name}'")
    return ret
