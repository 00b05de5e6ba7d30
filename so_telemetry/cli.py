"""The ``so-telemetry`` command: Security Onion telemetry from the command line.

Calling Salt, bounded
---------------------

``status``, ``audit`` and the interactive ``prompt`` ask the ``telemetry``
execution module. They call it in-process with ``salt.client.Caller`` (no
``salt-call`` output to parse: the return value, or the exception, comes back
as it is), inside a forked child process that is the leader of its own process
group. The parent waits on a pipe until ``--timeout`` (default 30 s) and then
kills the whole group (SIGKILL): Salt's master connection, authentication and
pillar compilation retry or block inside C code and cannot be interrupted from
within, so a separate process is the only hard bound. The child reports its
phase over the pipe, so a timeout names what it was waiting for (the master,
the Salt call). Before any of that:

* no ``<config-dir>/minion`` and no ``--local``: error at once, Salt is never
  started (``salt-call`` would look for a master called ``salt`` forever);
* a minion with a master: one TCP connection to the master's ``master_port``
  (within the time left), so an unresolvable or refused master is one line at
  once, and an unreachable one is one line at the deadline;
* a pillar that did not render (``_errors``) is an error, not a report
  computed from the defaults; the local pillar files are then scanned with a
  YAML parser to name the broken file and line.

``config search``, ``enable``, ``disable`` and ``prompt --unattended`` never
start Salt: they read or edit the local pillar files themselves.
"""

import argparse
import json
import os
import select
import signal
import socket
import sys
import time

from so_telemetry import pillar as pillar_edit

PROG = "so-telemetry"
DEFAULT_TIMEOUT = 30.0
SYNC_TIMEOUT = 900
DEFAULT_CONFIG_DIR = "/etc/salt"
DOCS = "https://docs.securityonion.net/en/2.4/"  # annotations.DOCS

DESCRIPTION = """\
Security Onion telemetry from the command line: what leaves the network and
why, SOC Telemetry and the automatic OS updates (OS Updates Telemetry) on or
off in the local pillar, and the change applied to the grid."""
EPILOG = f"""\
examples:
  so-telemetry status                    the transparency report (asks Salt)
  so-telemetry disable soc               edits <pillar-dir>/soc/soc_soc.sls in place
  so-telemetry enable os-updates         edits <pillar-dir>/patch/soc_patch.sls in place
  so-telemetry config search "SOC Telemetry"
  so-telemetry sync                      Synchronize Grid (on the manager)
  so-telemetry --local --config-dir DIR status    masterless

Global options may be given before or after the command. Commands that ask
Salt give up after --timeout seconds with one line on stderr and exit 2.
Documentation: {DOCS}telemetry.html
"""

def _resync_every():
    """The resync interval in words, from the shipped resync:highstate
    defaults (no Salt needed)."""
    from so_telemetry import annotations  # pylint: disable=import-outside-toplevel

    try:
        conf = annotations.default_value("resync:highstate") or {}
    except (OSError, ValueError):
        conf = {}
    for unit in ("minutes", "seconds"):
        if isinstance(conf.get(unit), int):
            return f"{conf[unit]} {unit if conf[unit] != 1 else unit[:-1]}"
    return "one resync interval"


def effect():
    return (
        f"Takes effect at the next grid resync (automatic, within {_resync_every()}) or now with "
        "`so-telemetry sync` (Synchronize Grid)."
    )


class CliError(Exception):
    """A failure reported to the user as one line, exit code 2. ``kind``:
    what failed (``config``, ``master``, ``pillar``, ``call``, ``timeout``)."""

    def __init__(self, message, kind=None):
        super().__init__(message)
        self.kind = kind


def one_line(text, limit=400):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def yaml_word(value):
    """``value`` as it reads in a YAML file: true/false, null, 'yes', 3."""
    import yaml  # pylint: disable=import-outside-toplevel

    text = yaml.safe_dump(value, default_flow_style=True, width=10000).strip()
    return text[: -len("...")].strip() if text.endswith("...") else text


# --------------------------------------------------------------------------
# Salt, in a child process with a hard deadline


def _minion_file(args):
    return os.path.join(args.config_dir or DEFAULT_CONFIG_DIR, "minion")


def _masters(opts):
    master = opts.get("master") or "salt"
    masters = master if isinstance(master, (list, tuple)) else [master]
    return [str(m) for m in masters]


def _split_host_port(master, default_port):
    master = master.strip()
    if master.startswith("[") and "]" in master:  # [v6]:port
        host, _, rest = master[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else default_port
    if master.count(":") == 1:
        host, _, port = master.partition(":")
        if port.isdigit():
            return host, int(port)
    return master, default_port


def _probe_master(opts, minion_file, deadline):
    """Raise CliError unless one configured master accepts a TCP connection on
    its ``master_port`` before ``deadline``."""
    port = int(opts.get("master_port") or 4506)
    problems = []
    for master in _masters(opts):
        host, mport = _split_host_port(master, port)
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            infos = socket.getaddrinfo(host, mport, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            hint = (f" (the default; set master: in {minion_file}, or --local for masterless)"
                    if host == "salt" else "")
            problems.append(f"salt master {host!r} does not resolve{hint}: {exc.strerror or exc}")
            continue
        for family, stype, proto, _name, addr in infos:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock = socket.socket(family, stype, proto)
            sock.settimeout(left)
            try:
                sock.connect(addr)
                return
            except TimeoutError:
                problems.append(f"salt master {host} (port {mport}) unreachable within {{timeout}}s")
            except OSError as exc:
                problems.append(f"salt master {host} (port {mport}) unreachable: {exc.strerror or exc}")
            finally:
                sock.close()
    raise CliError("; ".join(dict.fromkeys(problems)) or "salt master unreachable within {timeout}s")


def _child(args, calls, wfd, deadline):
    """Run in the forked child: send JSON lines ``{"phase"|"result"|"error": ...}``."""

    def send(**msg):
        os.write(wfd, (json.dumps(msg, default=str) + "\n").encode())

    minion_file = _minion_file(args)
    try:
        import salt.config  # pylint: disable=import-outside-toplevel

        send(phase="config")
        try:
            if os.path.isfile(minion_file):
                opts = salt.config.minion_config(minion_file)
            else:  # --local without a configuration: Salt's defaults
                opts = salt.config.minion_config(None)
        except Exception as exc:
            raise CliError(f"cannot read the salt-minion configuration {minion_file}: {one_line(exc)}") from exc
        if args.local:
            opts["file_client"] = "local"
        remote = opts.get("file_client", "remote") != "local" or opts.get("use_master_when_local")
        if remote:
            send(phase="master", master=", ".join(_masters(opts)))
            _probe_master(opts, minion_file, deadline)
        send(phase="salt", master=", ".join(_masters(opts)) if remote else "")
        import salt.client  # pylint: disable=import-outside-toplevel
        import salt.utils.args  # pylint: disable=import-outside-toplevel
        import salt.utils.verify  # pylint: disable=import-outside-toplevel

        try:
            salt.utils.verify.verify_env(
                [opts["pki_dir"], opts["cachedir"], opts["extension_modules"]], opts["user"],
                permissive=opts.get("permissive_pki_access"), pki_dir=opts["pki_dir"],
            )
        except (OSError, SystemExit) as exc:
            raise CliError(f"cannot prepare Salt's directories under {opts.get('cachedir')}: {exc}") from None
        caller = salt.client.Caller(mopts=opts)
        errors = (caller.sminion.opts.get("pillar") or {}).get("_errors")
        if errors:
            send(error="pillar: " + one_line(errors[0] if isinstance(errors, list) else errors), kind="pillar")
            return
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
        send(result=results)
    except CliError as exc:
        send(error=str(exc), kind=exc.kind)
    except BaseException as exc:  # noqa: BLE001  pylint: disable=broad-except
        send(error=f"Salt failed: {type(exc).__name__}: {one_line(exc)}")


def salt_calls(args, calls):
    """``[return of fun(*fun_args) for fun, fun_args in calls]`` from the
    ``telemetry`` module, within ``args.timeout`` seconds, or CliError."""
    timeout = float(args.timeout if args.timeout is not None else DEFAULT_TIMEOUT)
    minion_file = _minion_file(args)
    if not os.path.isfile(minion_file) and not args.local:
        raise CliError(f"no salt-minion configuration at {minion_file} (pass --config-dir, or --local for masterless)")
    start = time.monotonic()
    deadline = start + timeout
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
    buf, msgs = b"", []
    try:
        while True:
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
            if any("result" in m or "error" in m for m in msgs):
                break
    finally:
        os.close(rfd)
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        os.waitpid(pid, 0)
    for msg in msgs:
        if "result" in msg:
            return msg["result"]
        if "error" in msg:
            if msg.get("kind") == "pillar":
                raise CliError(_pillar_error(args, msg["error"]), kind="pillar")
            raise CliError(msg["error"].replace("{timeout}", f"{timeout:g}"), kind=msg.get("kind"))
    phases = [m for m in msgs if "phase" in m]
    last = phases[-1] if phases else {}
    waited = f"{timeout:g}s"
    if last.get("phase") == "master":
        raise CliError(f"salt master {last['master']} unreachable within {waited}")
    if last.get("phase") == "salt" and last.get("master"):
        raise CliError(
            f"no answer through salt master {last['master']} within {waited} "
            "(is this minion's key accepted? salt-key -L on the master; or --local for masterless)"
        )
    funs = ", ".join(fun for fun, _a in calls)
    if time.monotonic() >= deadline:
        raise CliError(f"Salt did not finish {funs} within {waited} (--timeout)")
    raise CliError(f"Salt exited without an answer to {funs}")


def salt_call(args, fun, *fun_args):
    return salt_calls(args, [(fun, list(fun_args))])[0]


def _pillar_error(args, salt_message):
    """One line naming the broken local pillar file and line, if one is found."""
    broken = pillar_edit.scan_local(args.pillar_dir)
    if broken:
        return "the pillar does not render: " + "; ".join(why for _path, why in broken)
    return f"the pillar does not render: {salt_message}"


# --------------------------------------------------------------------------
# status


def _onoff(flag):
    return "ON" if flag else "off"


def format_report(rep):
    lines = []
    air = rep["airgap"]
    lines.append(f"Airgap: {'YES' if air['enabled'] else 'no'} ({air['reason']})")
    if air["enabled"]:
        lines.append(f"  {air['effect']}")
    soc = rep["soc"]
    lines.append("")
    lines.append(f"SOC Telemetry: {_onoff(soc['enabled'])} ({soc['reason']})")
    lines.append(f"  from: {soc['origin']}")
    lines.append(f"  to: {', '.join(soc['destinations']) or 'nothing'}"
                 + ("" if soc["enabled"] else f" (when on: {soc['destination_when_on']})"))
    lines.append(f"  data: {'; '.join(soc['data'])}")
    lines.append(f"  never: {', '.join(soc['never'])}")
    lines.append(f"  also seen by the receiver: {soc['also_known_to_receiver']}")
    lines.append(f"  TLS: {'yes' if soc['tls'] else 'no'}; retention: {soc['retention']}")
    lines.append(f"  change: {soc['change']}")
    osu = rep["os_updates"]
    lines.append("")
    lines.append(f"Automatic OS updates: {_onoff(osu['enabled'])} ({osu['reason']})")
    lines.append(f"OS Updates Telemetry: {_onoff(osu['telemetry'])} ({osu['telemetry_reason']})")
    lines.append(f"  from: {osu['origin']}")
    lines.append(f"  to: {', '.join(osu['destinations']) or 'nothing'}"
                 + ("" if osu["telemetry"] else f" (when on: {', '.join(osu['destinations_when_on'])})"))
    if osu["fields"]:
        lines.append("  fields sent (query parameters on every repository request):")
        for key, val in osu["fields"].items():
            lines.append(f"    {key}={val}")
    else:
        lines.append("  fields sent: none")
        if osu["fields_when_on"]:
            shown = ", ".join(f"{k}={v}" for k, v in osu["fields_when_on"].items())
            lines.append(f"  (when on this node would send: {shown})")
    lines.append(f"  allow-list: {', '.join(osu['allow_list'])}; never: {', '.join(osu['never'])}")
    lines.append(f"  also seen by the receiver: {osu['also_known_to_receiver']}")
    lines.append(f"  TLS: {'yes' if osu['tls'] else 'no'}")
    if osu.get("proxy"):
        prox = osu["proxy"]
        user = f" as {prox['username']}" if prox.get("username") else ""
        lines.append(f"  through proxy: {prox.get('url', prox.get('error'))}{user} (manager:proxy)")
    lines.append(f"  change: {osu['change']}")
    owners = rep.get("owners") or {}
    host = {art: chk for art, chk in (rep.get("host_checks") or {}).items()}
    if host:
        lines.append("")
        lines.append("Written by the host tree (so_telemetry:owners), checked against the effective setting:")
        for art in owners:
            chk = host.get(art)
            if chk is None:
                continue
            verdict = {True: "matches", False: "DOES NOT match", None: "does not say"}[chk["matches"]]
            lines.append(f"  {art}: {chk['path']}: {verdict}: {chk['detail']}")
    lines.append("")
    lines.append(f"Documentation: {rep['spec']}")
    return "\n".join(lines)


def cmd_status(args):
    try:
        rep = salt_call(args, "telemetry.report")
    except CliError as exc:
        # a Salt failure caused by a broken local pillar file: name it
        broken = pillar_edit.scan_local(args.pillar_dir) if exc.kind == "call" else []
        if broken:
            raise CliError(f"{exc} (the local pillar has errors: {'; '.join(w for _p, w in broken)})") from None
        raise
    if not isinstance(rep, dict):
        raise CliError(f"telemetry.report returned {one_line(rep)}")
    print(json.dumps(rep, indent=2, sort_keys=True) if args.json else format_report(rep))
    return 0


# --------------------------------------------------------------------------
# enable / disable


def _default_of(keys):
    from so_telemetry import annotations  # pylint: disable=import-outside-toplevel
    from so_telemetry.loader import salt_dir  # pylint: disable=import-outside-toplevel

    try:
        return annotations._lookup(annotations._defaults(salt_dir()), ":".join(keys))  # pylint: disable=protected-access
    except (OSError, ValueError):
        return None


def set_channel(pillar_dir, channel, value):
    path = pillar_edit.pillar_file(pillar_dir, channel)
    keys = pillar_edit.CHANNELS[channel][1]
    try:
        old = pillar_edit.set_value(path, keys, value)
    except pillar_edit.PillarError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}; nothing was changed") from None
    return path, keys, old


def describe_change(keys, old, new):
    """``soc:telemetryEnabled: true -> false`` in YAML words; an absent key
    reads ``(not set, default true)``."""
    key = ":".join(keys)
    if old is None:
        default = _default_of(keys)
        before = "(not set" + (f", default {yaml_word(default)})" if default is not None else ")")
    else:
        before = yaml_word(old)
    return f"{key}: {before} -> {yaml_word(new)}"


def cmd_toggle(args):
    value = args.action == "enable"
    path, keys, old = set_channel(args.pillar_dir, args.channel, value)
    word = "enabled" if value else "disabled"
    if old is value:
        print(f"{':'.join(keys)} was already {yaml_word(value)} in {path} (unchanged).")
    else:
        print(f"{describe_change(keys, old, value)} in {path}")
    print(f"{'SOC Telemetry' if args.channel == 'soc' else 'Automatic OS updates'} {word}. {effect()}")
    if args.channel == "soc":
        print("Then hard-refresh SOC in the browser (CTRL+SHIFT+R or CMD+SHIFT+R): it caches the old setting.")
    print("On an airgapped grid both channels stay off whatever this setting says.")
    return 0


# --------------------------------------------------------------------------
# prompt


def _explain(rep):
    soc = rep["soc"]
    return "\n".join(
        [
            "SOC Telemetry",
            "-------------",
            "The Security Onion Console (SOC) in your browser can send feature-usage data",
            f"to Google Analytics through {soc['destination_when_on']} over TLS, to help the",
            "Security Onion developers decide what to improve and what to retire.",
            f"Sent: {'; '.join(soc['data'])}.",
            f"Never sent: {', '.join(soc['never'])}.",
            f"The receiver also sees the {soc['also_known_to_receiver']}.",
            f"Retention: {soc['retention']}.",
            "You can change this later: search 'SOC Telemetry' in the Configuration screen,",
            "or run `so-telemetry enable soc` / `so-telemetry disable soc`.",
        ]
    )


def cmd_prompt(args):
    if args.unattended or not sys.stdin.isatty():
        # never waits on anything: no Salt, no question
        why = "unattended" if args.unattended else "no terminal"
        print(f"{args.during}: {why}; not asking. Nothing changed "
              "(change it later with `so-telemetry enable soc` / `so-telemetry disable soc`).")
        return 0
    try:
        state, rep = salt_calls(args, [("telemetry.settings", []), ("telemetry.report", [])])
    except CliError as exc:
        raise CliError(f"could not read the telemetry settings, not asking (nothing changed): {exc}") from None
    if state["airgap"]["enabled"]:
        print(f"Airgapped grid ({state['airgap']['reason']}): telemetry is off; not asking.")
        return 0
    current = state["soc"]["pillar"]
    if args.during == "soup" and current is False:
        print("soup: SOC Telemetry was disabled earlier; it stays disabled (not asked again).")
        print("To turn it on: so-telemetry enable soc")
        return 0
    print(_explain(rep))
    print()
    answer = None
    for _ in range(3):
        sys.stdout.write("Enable SOC Telemetry? [Y/n] ")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            break
        reply = line.strip().lower()
        if reply in ("", "y", "yes"):
            answer = True
            break
        if reply in ("n", "no"):
            answer = False
            break
        print("Please answer y or n.")
    if answer is None:
        print("No answer; nothing changed.")
        return 1
    path, keys, _old = set_channel(args.pillar_dir, "soc", answer)
    print(f"SOC Telemetry {'enabled' if answer else 'disabled'} ({':'.join(keys)}: {yaml_word(answer)} in {path}).")
    if args.during == "soup":
        print(effect())
    return 0


# --------------------------------------------------------------------------
# config search (no Salt)


def cmd_config_search(args):
    from so_telemetry import annotations  # pylint: disable=import-outside-toplevel

    try:
        hits = annotations.search(args.term, pillar_dir=args.pillar_dir)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read the settings shipped with so-telemetry: {one_line(exc)}") from None
    if args.json:
        print(json.dumps(hits, indent=2, sort_keys=True, default=str))
        return 0 if hits else 1
    if not hits:
        print(f"No setting matches {args.term!r}.")
        return 1
    for hit in hits:
        print(f"{hit['key']}  ({hit['title']})")
        if hit["description"]:
            print(f"  {hit['description']}")
        if hit.get("unknown"):
            current = f"unknown ({hit['unknown']})"
        else:
            source = "default" if hit["source"] == "default" else f"from {hit['source']}"
            current = f"{json.dumps(hit['current'])} ({source})"
        print(f"  current: {current}   default: {json.dumps(hit['default'])}"
              + ("   [global]" if hit.get("global") else ""))
        if hit.get("helpLink"):
            print(f"  help: {hit['helpLink']}")
    return 0


# --------------------------------------------------------------------------
# audit / sync


def cmd_audit(args):
    res = salt_call(args, "telemetry.audit")
    if not isinstance(res, dict):
        raise CliError(f"telemetry.audit returned {one_line(res)}")
    if args.json:
        print(json.dumps(res, indent=2, sort_keys=True))
    else:
        print(f"Scanned {len(res['scanned'])} file(s){' (airgapped node)' if res['airgapped'] else ''}:")
        for fname in res["scanned"]:
            print(f"  {fname}")
        print(f"Hosts named: {', '.join(res['hosts']) or 'none'}")
        for hit in res["failures"]:
            print(f"FAIL {hit['file']}:{hit['line']}: {hit['host']} ({hit['url']})")
        print("audit: clean" if res["result"] else f"audit: {len(res['failures'])} external host reference(s)")
    return 0 if res["result"] else 1


def cmd_sync(args):
    from so_telemetry import sync  # pylint: disable=import-outside-toplevel

    if args.timeout is None:
        args.timeout = SYNC_TIMEOUT
    return sync.run(args)


# --------------------------------------------------------------------------
# arguments: global options before or after the command


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def _positive(text):
    try:
        val = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if val <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return val


def _global_options(parser, suppress, with_json):
    """Add the global options. ``suppress``: the copy on a subcommand, whose
    defaults must not overwrite a value given before the subcommand."""
    def default(value):
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options (before or after the command)")
    env_timeout = os.environ.get("SO_TELEMETRY_TIMEOUT")
    group.add_argument("-c", "--config-dir", default=default(os.environ.get("SO_TELEMETRY_CONFIG_DIR")),
                       help=f"Salt configuration directory (default {DEFAULT_CONFIG_DIR})")
    group.add_argument("--local", action="store_true", default=default(_env_flag("SO_TELEMETRY_LOCAL")),
                       help="masterless: Salt reads the local file and pillar roots (like salt-call --local)")
    group.add_argument("--pillar-dir",
                       default=default(os.environ.get("SO_TELEMETRY_PILLAR_DIR", pillar_edit.DEFAULT_PILLAR_DIR)),
                       help=f"local pillar root the settings are read from and written to "
                            f"(default {pillar_edit.DEFAULT_PILLAR_DIR})")
    group.add_argument("--timeout", type=_positive,
                       default=default(_positive(env_timeout) if env_timeout else None), metavar="S",
                       help=f"give up on Salt after S seconds (default {DEFAULT_TIMEOUT:g}; "
                            f"for sync: per minion, default {SYNC_TIMEOUT})")
    if with_json:
        group.add_argument("--json", action="store_true", default=default(False),
                           help="print JSON (status, config search, audit)")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog):
        super().__init__(prog, max_help_position=36, width=100)


def build_parser():
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=_Formatter)
    _global_options(parser, suppress=False, with_json=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, help_text, func, parent=sub, **defaults):
        p = parent.add_parser(name, help=help_text, description=help_text, formatter_class=_Formatter)
        p.set_defaults(func=func, **defaults)
        return p

    p = add("status", "show what telemetry leaves the network, and why (asks Salt)", cmd_status)
    _global_options(p, suppress=True, with_json=True)

    for action in ("enable", "disable"):
        p = add(action, f"{action} a telemetry channel in the local pillar (no Salt)", cmd_toggle, action=action)
        p.add_argument("channel", choices=sorted(pillar_edit.CHANNELS),
                       help="soc: SOC Telemetry; os-updates: automatic OS updates and the OS Updates Telemetry")
        _global_options(p, suppress=True, with_json=False)

    p = add("prompt", "ask the SOC Telemetry opt-out question (setup, soup)", cmd_prompt)
    p.add_argument("--during", choices=("setup", "soup"), required=True, help="which installer step asks")
    p.add_argument("--unattended", action="store_true", help="do not ask and change nothing (never calls Salt)")
    _global_options(p, suppress=True, with_json=False)

    p = add("sync", "Synchronize Grid: run a highstate on every minion now (on the manager)", cmd_sync)
    p.add_argument("--target", default="*", help="minion target (glob), default every accepted minion")
    p.add_argument("--retries", type=int, default=3, help="retries for a minion already running a highstate")
    p.add_argument("--retry-wait", type=float, default=10.0, help="seconds between those retries")
    p.add_argument("--batch", metavar="N|N%", default=None,
                   help="at most N minions (or N%% of the matched, rounded up) run at a time; "
                        "the next starts as one returns (default: all at once)")
    p.add_argument("--queue", action="store_true",
                   help="state.highstate queue=True: a busy minion queues behind its running highstate "
                        "instead of answering busy (still bounded by --timeout)")
    _global_options(p, suppress=True, with_json=False)

    p = add("config", "search settings like the Configuration screen (no Salt)", None)
    csub = p.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    _global_options(p, suppress=True, with_json=True)
    ps = add("search", "settings whose title, key or description contains TERM", cmd_config_search, parent=csub)
    ps.add_argument("term", metavar="TERM", help='for example "SOC Telemetry" (case-insensitive)')
    _global_options(ps, suppress=True, with_json=True)

    p = add("audit", "scan the rendered files for external hosts (asks Salt)", cmd_audit)
    _global_options(p, suppress=True, with_json=True)

    from so_telemetry import check  # pylint: disable=import-outside-toplevel

    p = check.add_parser(sub)  # network preflight (so_telemetry/check.py)
    _global_options(p, suppress=True, with_json=True)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"{PROG}: error: {one_line(exc, limit=1000)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; nothing changed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
