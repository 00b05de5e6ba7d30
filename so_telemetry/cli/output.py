"""What every command shares for output: the one error type and its line,
and values in words."""

PROG = "so-telemetry"


# Exit codes: 0 done, 1 a check failed (audit, check, history --verify), 2
# nothing happened (an error), 3 the change was made but the consent trail
# could not record it.
EXIT_ERROR = 2
EXIT_NOT_RECORDED = 3


class CliError(Exception):
    """A failure reported to the user as one line, exit ``code`` (2 unless
    given). ``kind``: what failed (``config``, ``master``, ``pillar``,
    ``call``, ``timeout``, ``trail``)."""

    def __init__(self, message, kind=None, code=EXIT_ERROR):
        super().__init__(message)
        self.kind = kind
        self.code = code


def one_line(text, limit=400):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def printable(text, limit=400):
    """``text`` safe to print on a terminal: every character that is not
    printable (newlines, escape sequences, a lone surrogate, U+2028) shown as
    its escape (``\\n``, ``\\x1b``), cut to ``limit`` characters."""
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_line(exc):
    """The line ``so-telemetry: error: ...`` (``main`` prints it, and only it)."""
    return f"{PROG}: error: {one_line(exc, limit=1000)}"


def yaml_word(value):
    """``value`` as it reads in a YAML file: true/false, null, 'yes', 3."""
    import yaml  # pylint: disable=import-outside-toplevel

    text = yaml.safe_dump(value, default_flow_style=True, width=10000).strip()
    return text[: -len("...")].strip() if text.endswith("...") else text


def onoff(flag):
    return "ON" if flag else "off"
