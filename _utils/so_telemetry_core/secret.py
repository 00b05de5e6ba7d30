"""Secrets (a proxy password) are shown as ``******`` wherever a value leaves
the engine: returns (the master's job cache keeps every one), state comments
and changes, logs, reports and command output. Only the repository file, which
dnf reads, holds the password itself."""

import re
import urllib.parse

SECRET = "******"


def mask_url(url):
    """``url`` with the password of its user information masked
    (``http://alice:******@proxy.corp:3128``); works on values that do not
    parse as a URL too (``alice:pw@host:3128``, an unencoded ``@``)."""
    text = str(url)
    scheme_end = text.find("//")
    start = scheme_end + 2 if scheme_end >= 0 else 0
    end = re.search(r"[/?#]|$", text[start:]).start() + start
    at = text.rfind("@", start, end)
    if at < 0:
        return text
    user, sep, _password = text[start:at].partition(":")
    if not sep:
        return text
    return f"{text[:start]}{user}:{SECRET}{text[at:]}"


_USERINFO_RE = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@'\"]*:)[^\s'\"]*(@)")


def mask_userinfo(text):
    """``text`` with the password of every ``scheme://user:password@`` in it
    masked: for messages that quote a value (an error naming a wrongly typed
    pillar key may quote a proxy URL)."""
    return _USERINFO_RE.sub(lambda m: f"{m.group(1)}{SECRET}{m.group(2)}", str(text))


def mask_text(text, secrets):
    """``text`` with every secret (as given and URL-encoded) replaced by ``******``."""
    text = str(text)
    for value in secrets:
        if value:
            for form in {value, urllib.parse.quote(value, safe="")}:
                text = text.replace(form, SECRET)
    return text
