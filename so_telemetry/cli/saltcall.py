"""Calling the ``telemetry`` execution module from the command line, bounded.

``status``, ``audit``, ``check`` and the interactive ``prompt`` call it
in-process with ``salt.client.Caller`` (no ``salt-call`` output to parse: the
return value, or the exception, comes back as it is), inside a forked child
process that leads its own process group. The parent waits on a pipe until
the timeout (``--timeout``, default 30 s) and then kills the whole group:
Salt's master connection, authentication and pillar compilation retry or
block inside C code and cannot be interrupted from within, so a separate
process is the only hard bound. The child reports its phase over the pipe, so
a timeout names what it was waiting for. Before any of that:

* no ``<config-dir>/minion`` and no ``--local``: error at once, Salt is never
  started (``salt-call`` would look for a master called ``salt`` forever);
* a minion with a master: one TCP connection to the master's ``master_port``
  (within the time left), so an unresolvable or refused master is one line at
  once, and an unreachable one is one line at the deadline;
* a pillar that did not render (``_errors``) is an error, not a report
  computed from the defaults; the local pillar files are then scanned with a
  YAML parser to name the broken file and line.
"""

import json
import os
import select
import signal
import socket
import sys
import time

from so_telemetry.cli.output import CliError, one_line
from so_telemetry.local import scan_local

DEFAULT_TIMEOUT = 30.0
DEFAULT_CONFIG_DIR = "/etc/salt"


def minion_file(args):
    return os.path.join(args.config_dir or DEFAULT_CONFIG_DIR, "minion")


def _masters(opts):
    master = opts.get("master") or "salt"
    masters = master if isinstance(master, (list, tuple)) else [master]
    return [str(m) for m in masters]


def _connect(host, port, deadline):
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
            problem = f"salt master {host} (port {port}) unreachable within {{timeout}}s"
        except OSError as exc:
            problem = f"salt master {host} (port {port}) unreachable: {exc.strerror or exc}"
        finally:
            sock.close()
    return problem or f"salt master {host} unreachable within {{timeout}}s"


def _probe_master(opts, where, deadline):
    """Raise CliError unless one configured master accepts a TCP connection on
    its ``master_port`` before ``deadline``."""
    import salt.utils.network  # pylint: disable=import-outside-toplevel

    default_port = int(opts.get("master_port") or 4506)
    problems = []
    for master in _masters(opts):
        if deadline <= time.monotonic():
            break
        try:
            host, port = salt.utils.network.parse_host_port(master.strip())
        except ValueError as exc:
            problems.append(f"salt master {master!r} is not a host[:port] ({exc})")
            continue
        try:
            problem = _connect(host, port or default_port, deadline)
        except socket.gaierror as exc:
            hint = f" (the default; set master: in {where}, or --local for masterless)" if host == "salt" else ""
            problem = f"salt master {host!r} does not resolve{hint}: {exc.strerror or exc}"
        if problem is None:
            return
        problems.append(problem)
    raise CliError("; ".join(dict.fromkeys(problems)) or "salt master unreachable within {timeout}s")


def _opts(args, where):
    import salt.config  # pylint: disable=import-outside-toplevel

    try:
        # --local without a configuration: Salt's defaults
        opts = salt.config.minion_config(where if os.path.isfile(where) else None)
    except Exception as exc:
        raise CliError(f"cannot read the salt-minion configuration {where}: {one_line(exc)}") from exc
    if args.local:
        opts["file_client"] = "local"
    return opts


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


def _run_calls(caller, calls):
    import salt.utils.args  # pylint: disable=import-outside-toplevel

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


def _child(args, calls, wfd, deadline):
    """Run in the forked child: send JSON lines ``{"phase"|"result"|"error": ...}``."""

    def send(**msg):
        os.write(wfd, (json.dumps(msg, default=str) + "\n").encode())

    where = minion_file(args)
    try:
        send(phase="config")
        opts = _opts(args, where)
        remote = opts.get("file_client", "remote") != "local" or opts.get("use_master_when_local")
        if remote:
            send(phase="master", master=", ".join(_masters(opts)))
            _probe_master(opts, where, deadline)
        send(phase="salt", master=", ".join(_masters(opts)) if remote else "")
        caller = _caller(opts)
        errors = (caller.sminion.opts.get("pillar") or {}).get("_errors")
        if errors:
            send(error="pillar: " + one_line(errors[0] if isinstance(errors, list) else errors), kind="pillar")
            return
        send(result=_run_calls(caller, calls))
    except CliError as exc:
        send(error=str(exc), kind=exc.kind)
    except BaseException as exc:  # noqa: BLE001  pylint: disable=broad-except
        send(error=f"Salt failed: {type(exc).__name__}: {one_line(exc)}")


def _fork(args, calls, deadline):
    """``(pid, read fd)`` of the child that runs the calls."""
    rfd, wfd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(rfd)
            os.setsid()  # its own process group: killed as a whole at the deadline
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            _child(args, calls, wfd, deadline)
        except BaseException:  # noqa: BLE001  pylint: disable=broad-except
            code = 1
        finally:
            os._exit(code)  # pylint: disable=protected-access
    os.close(wfd)
    return pid, rfd


def _collect(pid, rfd, deadline):
    """The child's messages until its answer or ``deadline``; the child's group is killed then."""
    buf, msgs = b"", []
    try:
        while not any("result" in m or "error" in m for m in msgs):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([rfd], [], [], left)
            if not ready:
                continue
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            msgs.extend(json.loads(line) for line in lines if line.strip())
    finally:
        os.close(rfd)
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        os.waitpid(pid, 0)
    return msgs


def _no_answer(msgs, calls, timeout, deadline):
    phases = [m for m in msgs if "phase" in m]
    last = phases[-1] if phases else {}
    waited = f"{timeout:g}s"
    if last.get("phase") == "master":
        return CliError(f"salt master {last['master']} unreachable within {waited}")
    if last.get("phase") == "salt" and last.get("master"):
        return CliError(
            f"no answer through salt master {last['master']} within {waited} "
            "(is this minion's key accepted? salt-key -L on the master; or --local for masterless)"
        )
    funs = ", ".join(fun for fun, _a in calls)
    if time.monotonic() >= deadline:
        return CliError(f"Salt did not finish {funs} within {waited} (--timeout)")
    return CliError(f"Salt exited without an answer to {funs}")


def salt_calls(args, calls, timeout=None):
    """``[return of fun(*fun_args) for fun, fun_args in calls]`` from the
    ``telemetry`` module, within ``timeout`` (default ``--timeout``, else 30 s)
    seconds, or CliError."""
    if timeout is None:
        timeout = float(args.timeout if args.timeout is not None else DEFAULT_TIMEOUT)
    if not os.path.isfile(minion_file(args)) and not args.local:
        raise CliError(
            f"no salt-minion configuration at {minion_file(args)} (pass --config-dir, or --local for masterless)"
        )
    deadline = time.monotonic() + timeout
    pid, rfd = _fork(args, calls, deadline)
    msgs = _collect(pid, rfd, deadline)
    for msg in msgs:
        if "result" in msg:
            return msg["result"]
        if "error" in msg and msg.get("kind") == "pillar":
            broken = scan_local(args.pillar_dir)
            why = "; ".join(w for _p, w in broken) if broken else msg["error"]
            raise CliError(f"the pillar does not render: {why}", kind="pillar")
        if "error" in msg:
            raise CliError(msg["error"].replace("{timeout}", f"{timeout:g}"), kind=msg.get("kind"))
    raise _no_answer(msgs, calls, timeout, deadline)


def salt_call(args, fun, *fun_args, timeout=None):
    return salt_calls(args, [(fun, list(fun_args))], timeout)[0]
