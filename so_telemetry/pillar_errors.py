"""A pillar that does not render, named as Salt's renderer knew it: the
file and the line, for the command's one error line. Salt's pillar compiler
logs the exception of an SLS that fails (its ``SaltRenderError`` knows the
line; the error text Salt returns does not); :class:`RenderErrors` keeps it
while Salt compiles."""

import logging
import os
import re

from so_telemetry.cli.output import one_line


class RenderErrors(logging.Handler):
    """Salt's pillar renderer logs the exception of an SLS that does not
    render (its ``SaltRenderError`` knows the line; the error text Salt
    returns does not): kept here, ``{sls: (line, problem)}``."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.found = {}

    def emit(self, record):
        exc = record.exc_info[1] if record.exc_info else None
        match = re.match(r"Rendering SLS '([^']+)' failed", str(record.msg))
        if exc is not None and match:
            self.found[match.group(1)] = (getattr(exc, "line_num", None), " ".join(str(exc).split()))

    def __enter__(self):
        logging.getLogger("salt.pillar").addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("salt.pillar").removeHandler(self)


def pillar_error(errors, rendered=None, locate=None):
    """One line for the pillar's ``_errors``: the first, with the file and
    line Salt's renderer knew (``rendered``: :class:`RenderErrors`;
    ``locate(sls)``: the file of an SLS), else Salt's own words without the
    context lines its renderer appends."""
    first = str(errors[0] if isinstance(errors, list) else errors)
    match = re.match(r"Rendering SLS '([^']+)' failed", first)
    if match and rendered is not None and match.group(1) in rendered.found:
        sls = match.group(1)
        line, problem = rendered.found[sls]
        where = (locate(sls) if locate else None) or f"pillar SLS {sls}"
        return f"the pillar does not render: {where}{f', line {line}' if line else ''}: {problem}"
    return "the pillar does not render: " + one_line(first.split("\n---", 1)[0])


def locate(opts, sls):
    """The file of the pillar SLS ``sls`` in a masterless minion's pillar roots."""
    for roots in (opts.get("pillar_roots") or {}).values():
        for root in roots:
            base = os.path.join(root, *sls.split("."))
            for cand in (base + ".sls", os.path.join(base, "init.sls")):
                if os.path.isfile(cand):
                    return cand
    return None
