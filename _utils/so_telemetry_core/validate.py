"""Validation: the error every bad value raises, and the checks the engine
shares. Every message names the pillar key and the value; nothing is ever
coerced to "enabled"."""

import re
import urllib.parse

from salt.exceptions import CommandExecutionError

from .secret import mask_userinfo


class PillarError(CommandExecutionError):
    """A pillar value the engine refuses. ``key`` is the pillar key
    (``soc:telemetryEnabled``) when one is to blame."""

    def __init__(self, message, key=None):
        super().__init__(mask_userinfo(message))  # a quoted value may hold a proxy password
        self.key = key


# Patterns are used with fullmatch: `$` would also accept a trailing newline.
HOST_RE = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
# Text that cannot start a line, a section or a control sequence in an INI file.
SAFE_TEXT_RE = re.compile(r"[^\x00-\x1f\x7f\[\]]*")
JOB_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def strict_bool(value, key):
    """``value`` when it is a real boolean; anything else is refused."""
    if isinstance(value, bool):
        return value
    raise PillarError(f"pillar key '{key}' must be true or false, got {value!r} ({type(value).__name__})", key)


def whole_number(value, key, low, high):
    """``value`` when it is an int from ``low`` to ``high`` (a bool is not)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PillarError(f"pillar key '{key}' must be a whole number from {low} to {high}, got {value!r}", key)
    return value


def mapping(conf, key):
    """``conf[<last part of key>]``, which must be a mapping (the error names ``key``)."""
    val = conf.get(key.rsplit(":", 1)[-1])
    if not isinstance(val, dict):
        raise PillarError(f"pillar key '{key}' must be a mapping, got {val!r}", key)
    return val


def https_url(url, key):
    """An https URL with a host name, no query, nothing that breaks a file line."""
    if not isinstance(url, str) or not SAFE_TEXT_RE.fullmatch(url) or any(c.isspace() for c in url):
        raise PillarError(f"pillar key '{key}' has a value that would break the file: {url!r}", key)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https":
        raise PillarError(f"pillar key '{key}' must be an https:// URL, got {url!r}", key)
    if not parts.hostname or not HOST_RE.fullmatch(parts.hostname) or parts.query or parts.fragment:
        raise PillarError(f"pillar key '{key}' must be an https URL with a host name and no query, got {url!r}", key)
    return url


def file_url(url, key):
    """A ``file:///`` URL with nothing that breaks a file line."""
    if not isinstance(url, str) or not url.startswith("file:///") or not SAFE_TEXT_RE.fullmatch(url) or any(
        c.isspace() or c in "?#" for c in url
    ):
        raise PillarError(f"pillar key '{key}' must be a file:/// URL, got {url!r}", key)
    return url


def fill(template, key, **values):
    """``template.format(**values)`` with an error naming the key."""
    if not isinstance(template, str):
        raise PillarError(f"pillar key '{key}' must be a URL, got {template!r}", key)
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        names = ", ".join("{" + v + "}" for v in values)
        raise PillarError(
            f"pillar key '{key}' has an unknown placeholder ({exc}); only {names} exist: {template!r}", key
        ) from None


def url_host(url):
    """Host name of ``url`` (lower case), or None for a value that is not a URL with a host."""
    try:
        return urllib.parse.urlsplit(str(url)).hostname
    except ValueError:
        return None


def job_name(value, key):
    if not isinstance(value, str) or not JOB_NAME_RE.fullmatch(value):
        raise PillarError(f"pillar key '{key}' must be a job name, got {value!r}", key)
    return value
