"""Asking the grid through the local salt-master (on the manager), with
Salt's own client (``LocalClient``: ``run_job`` to publish, the master's
event bus for the returns): the accepted minions, and one function's
returns from many minions within a deadline. Salt's ``cmd_iter`` would read
the bus the same way but, on Salt 3006.9, never returns once the master
stops (:func:`so_telemetry_core.saltcompat.get_event` bounds the read); and
``sync`` keeps several jobs in flight (its batch window, its retries), which
one ``cmd_iter`` per job cannot. Any failure of Salt's becomes one
:class:`CliError`."""

import contextlib
import os
import time

from so_telemetry_core import saltcompat
from so_telemetry.cli.output import CliError


def first_line(text, limit=300):
    text = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def connect(config_dir):
    """``(LocalClient, opts)`` for the master configuration in ``config_dir``."""
    import salt.client  # pylint: disable=import-outside-toplevel
    import salt.config  # pylint: disable=import-outside-toplevel
    import salt.exceptions  # pylint: disable=import-outside-toplevel

    master_conf = os.path.join(config_dir or "/etc/salt", "master")
    if not os.path.isfile(master_conf):
        raise CliError(f"no salt-master configuration at {master_conf} (run this on the manager, or pass --config-dir)")
    # The configuration is read before the client exists: Salt exits the
    # process (SystemExit) on a configuration it cannot parse, and a
    # LocalClient half-built by that prints a traceback when collected.
    try:
        opts = salt.config.client_config(master_conf)
    except SystemExit as exc:
        raise CliError(f"cannot read the salt-master configuration {master_conf} (Salt exited {exc.code})") from None
    except (salt.exceptions.SaltException, OSError) as exc:
        raise CliError(f"cannot use the salt-master configuration {master_conf}: {exc}") from exc

    try:
        client = saltcompat.local_client(opts)
    except (salt.exceptions.SaltException, OSError) as exc:
        raise CliError(f"cannot use the salt-master configuration {master_conf}: {exc}") from exc
    return client, client.opts


@contextlib.contextmanager
def session(config_dir):
    """``(client, opts)`` for a command's life; Salt's own failures (it exits
    the process on some, raises types that differ between Salt lines on
    others) end as one :class:`CliError`, never a traceback."""
    client = None
    try:
        client, opts = connect(config_dir)
        yield client, opts
    except CliError:
        raise
    except SystemExit as exc:
        raise CliError(f"Salt gave up (exit {exc.code})") from None
    except Exception as exc:  # pylint: disable=broad-except
        raise CliError(f"Salt failed: {type(exc).__name__}: {first_line(exc) or 'no detail'}") from None
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.destroy()


def answers(opts, wait=2.0):
    """Whether the salt-master of ``opts`` accepts a connection on its
    request port within ``wait`` seconds (a stopped master: at once)."""
    import socket  # pylint: disable=import-outside-toplevel

    host = opts.get("interface") or "127.0.0.1"
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    try:
        with socket.create_connection((host, int(opts.get("ret_port") or 4506)), timeout=wait):
            return True
    except OSError:
        return False


def resolve(opts, target, fun="state.highstate"):
    """Sorted ids of the accepted minions matching the glob ``target``."""
    return saltcompat.check_minions(opts, target, "glob", fun=fun)


def publish(client, minions, fun, timeout, kwarg=None):
    """Publish ``fun`` to ``minions`` (a list target): the job id."""
    import salt.exceptions  # pylint: disable=import-outside-toplevel

    try:
        # the publish itself is quick; the minions' answers are awaited on the event bus
        pub = client.run_job(sorted(minions), fun, tgt_type="list", timeout=min(timeout, 15), kwarg=kwarg,
                             listen=True)
    except (salt.exceptions.SaltClientError, salt.exceptions.EauthAuthenticationError) as exc:
        raise CliError(f"cannot publish to the salt-master: {exc}") from exc
    if not pub or not pub.get("jid"):
        raise CliError(f"the salt-master refused the job for {', '.join(sorted(minions))}: {pub!r}")
    return str(pub["jid"])


def next_return(client, wait):
    """``(jid, minion, data)`` of the next minion's return on the event bus
    within ``wait`` seconds, or None (any other event: a job's publication,
    a progress event). Raises :class:`saltcompat.EventBusStuck` when the bus
    no longer answers (a stopped master)."""
    ev = saltcompat.get_event(client.event, wait, tag="salt/job/", match_type="startswith", full=True)
    data = (ev or {}).get("data") or {}
    if not (ev or {}).get("tag", "").endswith(f"/ret/{data.get('id')}") or "return" not in data:
        return None
    return str(data.get("jid")), data["id"], data


def collect(client, minions, fun, timeout):
    """``{minion: return data}`` of ``fun`` from those of ``minions`` that
    answer within ``timeout`` seconds (the others are missing)."""
    jid = publish(client, minions, fun, timeout)
    deadline = time.monotonic() + timeout
    got = {}
    while len(got) < len(minions) and time.monotonic() < deadline:
        try:
            ret = next_return(client, max(0.05, min(0.5, deadline - time.monotonic())))
        except saltcompat.EventBusStuck as exc:
            raise CliError(f"{exc} (is the salt-master running?)") from None
        if ret and ret[0] == jid and ret[1] in minions:
            got[ret[1]] = ret[2]
    return got
