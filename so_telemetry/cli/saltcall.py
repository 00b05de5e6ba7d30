"""Asking Salt from the command line, bounded by ``--timeout``.

Every question runs Salt's own Python API (``salt.client.Caller`` for a
``telemetry`` function, ``salt.pillar`` for the pillar) in a forked child
process that leads its own process group: Salt's master connection,
authentication and pillar compilation retry or block inside C code and
cannot be interrupted from within, so a child killed at the deadline is the
only hard bound (:func:`bounded`). A subprocess ``salt-call`` would bound
the same way but pay a second Python start and Salt import per question,
and give back text to parse. Before any of that:

* no ``<config-dir>/minion`` and no ``--local``: error at once, Salt is never
  started (``salt-call`` would look for a master called ``salt`` forever);
* a minion with a master: one TCP connection to the master's ``master_port``
  (within the time left), so an unresolvable or refused master is one line at
  once, and an unreachable one is one line at the deadline;
* a pillar that did not render (``_errors``) is an error naming it, not a
  report computed from the defaults.
"""

import multiprocessing
import os
import signal
import socket
import time

from so_telemetry.cli.output import CliError, one_line
from so_telemetry.pillar_errors import RenderErrors, locate, pillar_error

DEFAULT_TIMEOUT = 30.0
DEFAULT_CONFIG_DIR = "/etc/salt"


def timeout_of(args, default=DEFAULT_TIMEOUT):
    return float(args.timeout if getattr(args, "timeout", None) is not None else default)


def minion_file(args):
    return os.path.join(args.config_dir or DEFAULT_CONFIG_DIR, "minion")


def _child(func, conn):
    os.setsid()  # its own process group: killed as a whole at the deadline
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    try:
        result = ("ok", func())
    except CliError as exc:
        result = ("error", str(exc), exc.kind)
    except BaseException as exc:  # noqa: BLE001  pylint: disable=broad-except
        result = ("error", f"Salt failed: {type(exc).__name__}: {one_line(exc)}", None)
    conn.send(result)


def bounded(func, timeout, on_timeout):
    """``func()`` run in a forked child, its return value (picklable), or
    :class:`CliError`: the child's own, or ``on_timeout()`` when it has not
    answered within ``timeout`` seconds (its whole process group is killed)."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(func, send), daemon=True)
    proc.start()
    send.close()
    try:
        result = receive.recv() if receive.poll(timeout) else None
    except EOFError:  # the child died without an answer
        result = ("error", "Salt exited without an answer", None)
    finally:
        receive.close()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.join()
    if result is None:
        raise on_timeout()
    if result[0] == "error":
        raise CliError(result[1], kind=result[2])
    return result[1]


def _masters(opts):
    master = opts.get("master") or "salt"
    masters = master if isinstance(master, (list, tuple)) else [master]
    return [str(m) for m in masters]


def _connect(host, port, deadline, timeout):
    """None when ``host:port`` accepts a TCP connection before ``deadline``, else the problem."""
    problem = None
    for family, stype, proto, _name, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock = socket.socket(family, stype, proto)
        sock.settimeout(left)
        try:
            sock.connect(addr)
            return None
        except TimeoutError:
            problem = f"salt master {host} (port {port}) unreachable within {timeout:g}s"
        except OSError as exc:
            problem = f"salt master {host} (port {port}) unreachable: {exc.strerror or exc}"
        finally:
            sock.close()
    return problem or f"salt master {host} unreachable within {timeout:g}s"


def probe_master(opts, where, deadline, timeout):
    """Raise CliError unless one configured master accepts a TCP connection on
    its ``master_port`` before ``deadline``."""
    import salt.utils.network  # pylint: disable=import-outside-toplevel

    default_port = int(opts.get("master_port") or 4506)
    problems = []
    for master in _masters(opts):
        try:
            host, port = salt.utils.network.parse_host_port(master.strip())
        except ValueError as exc:
            problems.append(f"salt master {master!r} is not a host[:port] ({exc})")
            continue
        try:
            problem = _connect(host, port or default_port, deadline, timeout)
        except socket.gaierror as exc:
            hint = f" (the default; set master: in {where}, or --local for masterless)" if host == "salt" else ""
            problem = f"salt master {host!r} does not resolve{hint}: {exc.strerror or exc}"
        if problem is None:
            return
        problems.append(problem)
    raise CliError("; ".join(dict.fromkeys(problems)) or f"salt master unreachable within {timeout:g}s",
                   kind="master")


def minion_opts(args):
    """The minion configuration of ``--config-dir`` as Salt reads it
    (``--local``: masterless; without a configuration file, Salt's defaults)."""
    import salt.config  # pylint: disable=import-outside-toplevel

    where = minion_file(args)
    if not os.path.isfile(where) and not args.local:
        raise CliError(f"no salt-minion configuration at {where} (pass --config-dir, or --local for masterless)",
                       kind="config")
    try:
        opts = salt.config.minion_config(where if os.path.isfile(where) else None)
    except (Exception, SystemExit) as exc:  # noqa: BLE001  (Salt exits on some configuration errors)
        raise CliError(f"cannot read the salt-minion configuration {where}: {one_line(exc)}", kind="config") from None
    if args.local:
        opts["file_client"] = "local"
    return opts


def remote(opts):
    """Whether Salt asks a master (not masterless)."""
    return opts.get("file_client", "remote") != "local" or bool(opts.get("use_master_when_local"))


def ask(args, func, what, timeout=None):
    """``func(opts)`` in a bounded child, after the cheap checks (a minion
    configuration, a master that answers on its port). ``what`` names the
    question in the timeout message."""
    timeout = timeout_of(args) if timeout is None else timeout
    deadline = time.monotonic() + timeout
    opts = minion_opts(args)
    masters = ", ".join(_masters(opts)) if remote(opts) else ""
    if masters:
        probe_master(opts, minion_file(args), deadline, timeout)

    def on_timeout():
        if masters:
            return CliError(f"no answer through salt master {masters} within {timeout:g}s (is this minion's key "
                            "accepted? salt-key -L on the master; or --local for masterless)", kind="timeout")
        return CliError(f"Salt did not finish {what} within {timeout:g}s (--timeout)", kind="timeout")

    return bounded(lambda: func(opts), max(0.1, deadline - time.monotonic()), on_timeout)


def _caller(opts):
    import salt.client  # pylint: disable=import-outside-toplevel
    import salt.utils.verify  # pylint: disable=import-outside-toplevel

    try:
        salt.utils.verify.verify_env(
            [opts["pki_dir"], opts["cachedir"], opts["extension_modules"]], opts["user"],
            permissive=opts.get("permissive_pki_access"), pki_dir=opts["pki_dir"],
        )
    except (OSError, SystemExit) as exc:
        raise CliError(f"cannot prepare Salt's directories under {opts.get('cachedir')}: {exc}") from None
    return salt.client.Caller(mopts=opts)


def _run_calls(opts, calls):
    import salt.utils.args  # pylint: disable=import-outside-toplevel

    opts["pillar_safe_render_error"] = False  # say what failed to render, and where
    with RenderErrors() as rendered:
        caller = _caller(opts)
    errors = (caller.sminion.opts.get("pillar") or {}).get("_errors")
    if errors:
        raise CliError(pillar_error(errors, rendered, lambda sls: locate(opts, sls)), kind="pillar")
    results = []
    for fun, fun_args in calls:
        if fun not in caller.sminion.functions:
            raise CliError(f"{fun} is not available to Salt (is the so-telemetry library installed or synced?)")
        # "key=value" arguments are keyword arguments, as on salt-call's command line
        pos, kwargs = salt.utils.args.parse_input(fun_args, condition=False)
        try:
            results.append(caller.cmd(fun, *pos, **kwargs))
        except Exception as exc:  # noqa: BLE001  pylint: disable=broad-except
            raise CliError(f"{fun} failed: {one_line(exc)}", kind="call") from None
    return results


def salt_calls(args, calls, timeout=None):
    """``[return of fun(*fun_args) for fun, fun_args in calls]`` from the
    ``telemetry`` module, within ``timeout`` (default ``--timeout``, else 30 s)
    seconds, or CliError."""
    return ask(args, lambda opts: _run_calls(opts, calls), ", ".join(fun for fun, _a in calls), timeout)


def salt_call(args, fun, *fun_args, timeout=None):
    return salt_calls(args, [(fun, list(fun_args))], timeout)[0]
