"""Render the reStructuredText docs with docutils and fail on any warning
(a malformed table, a broken reference), so the README and the contract
render as written.

    python scripts/check_rst.py README.rst docs/*.rst
"""

import io
import sys

import docutils.core


def main(paths):
    bad = 0
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        err = io.StringIO()
        docutils.core.publish_string(text, source_path=path, writer_name="null",
                                     settings_overrides={"warning_stream": err, "report_level": 2})
        if err.getvalue():
            bad += 1
            print(err.getvalue().rstrip(), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
