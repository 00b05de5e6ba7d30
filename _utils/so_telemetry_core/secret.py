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


def mask_text(text, secrets):
    """``text`` with every secret (as given and URL-encoded) replaced by ``******``."""
    text = str(text)
    for value in secrets:
        if value:
            for form in {value, urllib.parse.quote(value, safe="")}:
                text = text.replace(form, SECRET)
    return text
