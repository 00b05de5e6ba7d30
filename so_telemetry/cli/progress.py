"""How ``sync`` reports while it runs: on a terminal one live line, redrawn
in place (done/total, running, failed, elapsed), with the per-minion lines
printed above it; on a pipe or in CI the per-minion lines only, as they come;
with ``--json`` nothing until the end.

The live line is a small function of ours (``\\r``, erase-line, the
terminal's width) rather than a progress library: ``rich`` would fit, but it
is not among Salt 3006.9's dependencies (Security Onion 2.4's onedir), and the
line needs nothing more than this."""

import shutil
import sys
import time

ERASE = "\r\x1b[2K"


def is_terminal(stream):
    import os  # pylint: disable=import-outside-toplevel

    return stream.isatty() and os.environ.get("TERM", "") not in ("", "dumb")


class Progress:
    """``mode``: ``live`` (a terminal), ``lines`` (a pipe) or ``quiet`` (JSON)."""

    def __init__(self, total, mode, stream=None):
        self.total = total
        self.mode = mode
        self.stream = stream or sys.stdout
        self.start = time.monotonic()
        self.shown = ""
        self.last_draw = 0.0

    def line(self, text):
        """A per-minion line (kept on screen)."""
        if self.mode == "quiet":
            return
        if self.mode == "live" and self.shown:
            self.stream.write(ERASE)
        self.stream.write(text + "\n")
        if self.mode == "live" and self.shown:
            self.stream.write(self.shown)
        self.stream.flush()

    def status(self, done, running, failed, force=False):
        """Redraw the live line (at most every 0.2 s unless ``force``)."""
        now = time.monotonic()
        if self.mode != "live" or (not force and now - self.last_draw < 0.2):
            return
        elapsed = int(now - self.start)
        text = (f"Synchronize Grid: {done}/{self.total} done, {running} running, {failed} failed, "
                f"{elapsed // 60:02d}:{elapsed % 60:02d} elapsed")
        self.shown = text[: max(10, shutil.get_terminal_size().columns - 1)]
        self.stream.write(ERASE + self.shown)
        self.stream.flush()
        self.last_draw = now

    def close(self):
        """Take the live line away (the summary follows)."""
        if self.mode == "live" and self.shown:
            self.stream.write(ERASE)
            self.stream.flush()
            self.shown = ""
