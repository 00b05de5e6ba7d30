"""``so-telemetry sync`` against a salt-master that cannot serve it, on every
supported Salt line: the real ``so-telemetry`` command (a subprocess), a
real master configuration and real accepted-key files, no daemon.

Whatever Salt raises or however it exits, the command ends with one
``so-telemetry: error: ...`` line on stderr and exit 2, never a traceback.
"""

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import SO_TELEMETRY

# An RSA public key in the PEM form salt-key stores for an accepted minion.
PUBKEY = textwrap.dedent(
    """\
    -----BEGIN PUBLIC KEY-----
    MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxQ/hQytdRmnFxr42M4be
    1MmCBGdeYFsEscKN9o/diBCaOMA9+8mIzePLPcmZch95x9k/OXD4ahcrMfJNNHJa
    JdSNyX3zlSLrYQvK0NvnvVHMY3Pm2c7sCnCfQZQoXRa3cZhuN5GIAQATVFR6VZS2
    Sn9pA7CXwOR957RRvLyd/6ERK93gh1FfwKqjpfpZbMyd57mYPPEKtknC80MfIQ2z
    2f/igeOaBSk65kDZ1qyvabx1+QKxjb+1z0xogK5fNb/s7ZEvNWPju7myu/mWX0gq
    GkJO52GThoRj5rROAWzmynRmAeYKv61g8vkMm462Q9A7et57uRjICHn1hDiEDz3m
    FwIDAQAB
    -----END PUBLIC KEY-----
    """
)

MINIONS = ("so-manager", "so-sensor", "so-idh")


def master_dir(base, *, sock="sock", extra=""):
    """A salt-master configuration directory whose pki holds the accepted
    keys of MINIONS; ``sock`` is its socket directory (never created: no
    master runs)."""
    conf_dir = base / "etc"
    (base / "pki" / "minions").mkdir(parents=True)
    for minion in MINIONS:
        (base / "pki" / "minions" / minion).write_text(PUBKEY)
    conf_dir.mkdir()
    (conf_dir / "master").write_text(
        f"pki_dir: {base / 'pki'}\n"
        f"sock_dir: {base / sock}\n"
        f"cachedir: {base / 'cache'}\n"
        f"log_file: {base / 'master.log'}\n" + extra
    )
    return conf_dir


def run_sync(*cmd, timeout=120):
    return subprocess.run(
        cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False, timeout=timeout
    )


def assert_one_line_error(proc, *words):
    """Exit 2, exactly one error line naming ``words``, no traceback."""
    assert proc.returncode == 2, f"rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("so-telemetry: error: ")]
    assert len(errors) == 1, proc.stderr
    for word in words:
        assert word in errors[0], errors[0]
    for trace in ("Traceback", "Exception ignored", "un-handled exception"):
        assert trace not in proc.stderr + proc.stdout, proc.stderr
    return errors[0]


def test_resolve_matches_accepted_keys(tmp_path):
    """The accepted minions are resolved from the master's pki on this Salt
    line (3006.9's check_minions has no ``fun`` keyword)."""
    import salt.config  # pylint: disable=import-outside-toplevel

    from so_telemetry.cli import master  # pylint: disable=import-outside-toplevel

    opts = salt.config.client_config(str(master_dir(tmp_path) / "master"))
    assert master.resolve(opts, "*") == sorted(MINIONS)
    assert master.resolve(opts, "so-s*") == ["so-sensor"]
    assert master.resolve(opts, "nothing*") == []


def test_no_master_running_is_one_line_error(tmp_path):
    """Keys accepted, but no salt-master behind the socket directory."""
    conf = master_dir(tmp_path, sock="no/such/sock")
    proc = run_sync(SO_TELEMETRY, "--config-dir", str(conf), "sync", "--timeout", "5", "--retries", "0")
    # the minions were resolved before the publish failed
    assert "highstate on 3 minion(s): so-idh, so-manager, so-sensor" in proc.stdout
    assert_one_line_error(proc, "cannot publish to the salt-master")


def test_unparsable_master_config_is_one_line_error(tmp_path):
    """Salt exits the process (SystemExit) on a master file it cannot parse."""
    conf = master_dir(tmp_path, extra=f"cachedir: {tmp_path / 'twice'}\n")  # a duplicate key: not YAML Salt reads
    proc = run_sync(SO_TELEMETRY, "--config-dir", str(conf), "sync", "--timeout", "5")
    assert proc.stdout == ""
    assert_one_line_error(proc, "cannot read the salt-master configuration", str(conf / "master"))


# Salt failing where nothing in so-telemetry expects it: the real command in a
# subprocess, with one Salt call replaced by one that raises.
_BREAK = """
import sys
import salt.client, salt.utils.minions
def boom(*args, **kwargs):
    raise {exc}("{msg}\\nsecond line")
{target} = boom
from so_telemetry.cli.main import main
sys.exit(main(["--config-dir", sys.argv[1], "sync", "--timeout", "5", "--retries", "0"]))
"""


@pytest.mark.parametrize(
    "target,exc,where",
    [
        ("salt.utils.minions.CkMinions.check_minions", "AttributeError", "resolve"),
        ("salt.client.LocalClient.run_job", "RuntimeError", "publish"),
        ("salt.client.LocalClient.__init__", "ValueError", "client"),
    ],
)
def test_unexpected_salt_exception_is_one_line_error(tmp_path, target, exc, where):
    conf = master_dir(tmp_path)
    code = _BREAK.format(exc=exc, msg=f"broken {where}", target=target)
    proc = run_sync(sys.executable, "-c", code, str(conf))
    line = assert_one_line_error(proc, f"Salt failed: {exc}:", f"broken {where}")
    assert "second line" not in proc.stderr, line
