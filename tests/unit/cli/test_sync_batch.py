"""``so-telemetry sync --batch``: the batch-size parsing, the command line
(bad values: exit 2 with one line, before Salt is touched) and the sliding
window of :class:`so_telemetry.cli.sync.Grid` over a fake LocalClient (no
daemons: the real grid is in tests/integration/test_sync_batch.py)."""

import argparse
import collections

import pytest

from so_telemetry.cli import main as cli
from so_telemetry.cli import sync

OK_RET = {"telemetry_|-a_|-a_|-nop": {"result": True, "__run_num__": 0, "changes": {}, "comment": ""}}
BUSY_RET = ['The function "state.highstate" is running as PID 42 and was started at 2026, Nov 26 with jid 1']


@pytest.mark.parametrize(
    "text, spec",
    [("1", ("count", 1)), ("4", ("count", 4)), (" 12 ", ("count", 12)), ("25%", ("percent", 25)),
     ("100%", ("percent", 100)), ("1%", ("percent", 1)), (None, None)],
)
def test_parse_batch(text, spec):
    assert sync.parse_batch(text) == spec


@pytest.mark.parametrize(
    "text, why",
    [("0", "at least 1"), ("0%", "1% to 100%"), ("101%", "1% to 100%"), ("-1", "a number of minions"),
     ("1.5", "a number of minions"), ("x", "a number of minions"), ("", "a number of minions"),
     ("%", "a number of minions"), ("25 %", "a number of minions"), ("2x", "a number of minions")],
)
def test_parse_batch_rejects(text, why):
    with pytest.raises(sync.SyncError, match=why) as exc:
        sync.parse_batch(text)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    "spec, total, size",
    [(None, 3, 3), (("count", 1), 3, 1), (("count", 5), 3, 3), (("percent", 25), 16, 4),
     (("percent", 25), 3, 1), (("percent", 25), 5, 2), (("percent", 34), 3, 2), (("percent", 1), 500, 5),
     (("percent", 1), 2, 1), (("percent", 100), 7, 7), (("percent", 10), 500, 50)],
)
def test_batch_size(spec, total, size):
    """N, or N% of the matched rounded up; at least 1, at most the matched."""
    assert sync.batch_size(spec, total) == size


@pytest.mark.parametrize("value", ["0", "abc", "-3", "150%", "0%", "1.5"])
@pytest.mark.parametrize("where", ["after", "before-minion-timeout"])
def test_cli_bad_batch_exits_2_with_one_line(value, where, capsys, tmp_path):
    """A bad --batch is refused before any Salt configuration is read: one
    line on stderr, nothing on stdout, exit 2."""
    argv = ["--config-dir", str(tmp_path / "none"), "sync", f"--batch={value}"]
    if where == "before-minion-timeout":
        argv.append("--minion-timeout=5")
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("so-telemetry: error: --batch "), err
    assert "salt-master configuration" not in err


def test_cli_parses_batch_and_queue():
    args = cli.build_parser().parse_args(["sync", "--batch", "25%", "--queue", "--minion-timeout", "60"])
    assert args.batch == "25%" and args.queue is True and args.minion_timeout == 60
    args = cli.build_parser().parse_args(["sync"])
    assert args.batch is None and args.queue is False


# --------------------------------------------------------------------------
# the sliding window, over a fake client


class FakeClient:
    """``run_job`` records each publish; the event bus answers the running
    minions one at a time, oldest publish first, with ``answers[minion]``
    (a list consumed in order; OK_RET when exhausted)."""

    def __init__(self, answers=None):
        self.answers = collections.defaultdict(list, {k: list(v) for k, v in (answers or {}).items()})
        self.publishes = []  # (jid, [minions], kwarg)
        self.running = collections.OrderedDict()  # minion -> jid
        self.max_running = 0
        self.event = self

    def run_job(self, tgt, fun, tgt_type="glob", timeout=None, kwarg=None, listen=False, **_kw):
        assert fun == "state.highstate" and tgt_type == "list" and listen
        jid = str(20260000000000000000 + len(self.publishes))
        self.publishes.append((jid, list(tgt), kwarg))
        for minion in tgt:
            assert minion not in self.running, f"{minion} published twice at once"
            self.running[minion] = jid
        self.max_running = max(self.max_running, len(self.running))
        return {"jid": jid, "minions": list(tgt)}

    def get_event(self, wait=0.5, tag="", match_type="startswith", full=True):
        assert full and tag == "salt/job/"
        if not self.running:
            return None
        minion, jid = next(iter(self.running.items()))
        del self.running[minion]
        ret = self.answers[minion].pop(0) if self.answers[minion] else OK_RET
        return {"tag": f"salt/job/{jid}/ret/{minion}",
                "data": {"id": minion, "jid": jid, "return": ret, "retcode": 0}}  # as Salt sends a return


def _grid(client, minions, batch=None, retries=3, queue=False):
    args = argparse.Namespace(timeout=60, retries=retries, retry_wait=0, queue=queue, batch=batch)
    size = sync.batch_size(sync.parse_batch(batch), len(minions))
    return sync.Grid(client, minions, args, size=size)


@pytest.mark.parametrize("batch, size", [(None, 5), ("1", 1), ("2", 2), ("40%", 2), ("100%", 5)])
def test_window_never_exceeds_the_batch(batch, size, capsys):
    minions = [f"m{i}" for i in range(1, 6)]
    client = FakeClient()
    grid = _grid(client, minions, batch)
    grid.run()
    assert grid.summary() == 0
    assert client.max_running == size
    # the first job carries the first `size` minions, then one per return
    assert client.publishes[0][1] == minions[:size]
    assert [m for _jid, tgt, _kw in client.publishes for m in tgt] == minions
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[:5]] == [f"[{i}/5]" for i in range(1, 6)]
    assert out[-1] == "Synchronize Grid: 5 minion(s), 5 ok, 0 failed"


def test_busy_minion_retry_goes_before_minions_not_yet_started(capsys):
    """Batch 1: m1 busy once (retry wait 0): its retry is published before m2
    and m3, which have not started yet; never two at a time."""
    minions = ["m1", "m2", "m3"]
    client = FakeClient({"m1": [BUSY_RET]})
    grid = _grid(client, minions, "1")
    grid.run()
    assert grid.summary() == 0
    assert [tgt for _jid, tgt, _kw in client.publishes] == [["m1"], ["m1"], ["m2"], ["m3"]]
    assert client.max_running == 1
    out = capsys.readouterr().out
    assert "[-/3] m1: busy: a highstate is already running, retry 1/3 in 0s" in out


def test_busy_after_retries_fails_and_exit_1(capsys):
    client = FakeClient({"m2": [BUSY_RET, BUSY_RET]})
    grid = _grid(client, ["m1", "m2"], "1", retries=1)
    grid.run()
    assert grid.summary() == 1
    out = capsys.readouterr().out
    assert "m2: FAILED, busy: a highstate was still running after 1 retry" in out
    assert out.splitlines()[-1] == "Synchronize Grid: 2 minion(s), 1 ok, 1 failed (m2)"


@pytest.mark.parametrize("queue, kwarg", [(False, None), (True, {"queue": True})])
def test_queue_passes_queue_true(queue, kwarg, capsys):
    client = FakeClient()
    grid = _grid(client, ["m1", "m2"], "1", queue=queue)
    grid.run()
    assert grid.summary() == 0
    assert {str(kw) for _jid, _tgt, kw in client.publishes} == {str(kwarg)}
    capsys.readouterr()


def test_the_old_timeout_spelling_still_sets_the_minion_limit(capsys, tmp_path):
    """Until the next release ``sync --timeout S`` means what it meant (each
    minion's limit), with a note on stderr; ``--minion-timeout`` wins."""
    args = cli.build_parser().parse_args(["--config-dir", str(tmp_path), "sync", "--timeout", "42"])
    cli._deprecated_timeout(args)  # pylint: disable=protected-access
    assert args.minion_timeout == 42
    assert "--timeout for sync is deprecated" in capsys.readouterr().err
    args = cli.build_parser().parse_args(["sync", "--timeout", "42", "--minion-timeout", "7"])
    cli._deprecated_timeout(args)  # pylint: disable=protected-access
    assert args.minion_timeout == 7 and capsys.readouterr().err == ""
    args = cli.build_parser().parse_args(["status", "--timeout", "42"])
    cli._deprecated_timeout(args)  # pylint: disable=protected-access
    assert getattr(args, "minion_timeout", None) is None and capsys.readouterr().err == ""
