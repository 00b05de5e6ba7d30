"""A loopback HTTP ``CONNECT`` proxy for tests.

:class:`ConnectProxy` listens on 127.0.0.1 (ephemeral port), one thread per
client, and only tunnels (``CONNECT host:port``; any other method gets 405).

* ``credentials=(user, password)``: a request without matching Basic
  ``Proxy-Authorization`` gets ``407`` with ``Proxy-Authenticate: Basic`` on
  a kept-alive connection, so a client that negotiates (curl's
  ``CURLAUTH_ANY``, dnf's default) retries with credentials.
* ``routes={(host, port): (host, port)}``: where a requested target really
  goes, e.g. ``{("localhost", dead_port): ("127.0.0.1", real_port)}`` so the
  direct route is dead and the proxied one works. An unrouted target is
  tunnelled only if it is a loopback address; anything else gets 403:
  nothing here ever leaves the machine.
* ``log``: one entry per request, ``{"method", "target", "user", "status"}``
  (``user`` is the user name decoded from ``Proxy-Authorization``, or None;
  the password is never kept), also appended as JSON lines to ``log_path``.

Tunnels close when either side closes or after ``idle`` seconds without
traffic; :meth:`ConnectProxy.stop` closes every open connection and joins
the threads.
"""

import base64
import binascii
import hmac
import json
import select
import socket
import socketserver
import threading

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_MAX_HEAD = 64 * 1024


def _reply(sock, status, reason, headers=()):
    lines = [f"HTTP/1.1 {status} {reason}", *headers]
    if status != 200:
        lines.append("Content-Length: 0")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


def _split_target(target):
    """``("host", port)`` from ``host:port`` or ``[v6]:port``; None if malformed."""
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return (host.lower(), int(port)) if host else None


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        proxy, client = self.server.owner, self.request
        proxy.track(client)
        try:
            self._serve(proxy, client)
        except OSError:
            pass  # a side hung up or stop() closed the sockets
        finally:
            proxy.untrack(client)
            client.close()

    def _serve(self, proxy, client):
        client.settimeout(proxy.idle)
        buf = b""
        while True:  # requests on one kept-alive connection (407, then retry)
            while b"\r\n\r\n" not in buf:
                chunk = client.recv(4096)
                if not chunk or len(buf) > _MAX_HEAD:
                    return
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split()
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            method, target = (parts[0], parts[1]) if len(parts) == 3 else ("?", "")
            user, auth_ok = proxy.check_auth(headers.get("proxy-authorization"))
            entry = {"method": method, "target": target, "user": user}
            if method != "CONNECT":
                proxy.record(entry, 405)
                _reply(client, 405, "Method Not Allowed", ["Allow: CONNECT", "Connection: close"])
                return
            if not auth_ok:
                proxy.record(entry, 407)
                _reply(client, 407, "Proxy Authentication Required", ['Proxy-Authenticate: Basic realm="so-test"'])
                if "close" in (headers.get("proxy-connection", "") + headers.get("connection", "")).lower():
                    return
                continue
            self._tunnel(proxy, client, entry, buf)
            return

    def _tunnel(self, proxy, client, entry, early):
        requested = _split_target(entry["target"])
        upstream_addr = proxy.routes.get(requested, requested) if requested else None
        if upstream_addr is None or upstream_addr[0] not in _LOOPBACK:
            proxy.record(entry, 403)
            _reply(client, 403, "Forbidden", ["Connection: close"])
            return
        try:
            upstream = socket.create_connection(upstream_addr, timeout=proxy.idle)
        except OSError:
            proxy.record(entry, 502)
            _reply(client, 502, "Bad Gateway", ["Connection: close"])
            return
        proxy.track(upstream)
        try:
            proxy.record(entry, 200)
            _reply(client, 200, "Connection established")
            if early:
                upstream.sendall(early)
            pair = {client: upstream, upstream: client}
            while True:
                readable, _, _ = select.select(list(pair), [], [], proxy.idle)
                if not readable:
                    return  # idle: bounded
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return  # either side closed: close both
                    pair[sock].sendall(data)
        finally:
            proxy.untrack(upstream)
            upstream.close()


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = False
    block_on_close = True  # server_close() joins the client threads

    def handle_error(self, request, client_address):
        pass


class ConnectProxy:
    """``with ConnectProxy(credentials=("u", "p"), routes={...}) as proxy:``"""

    def __init__(self, credentials=None, routes=None, log_path=None, idle=30.0):
        self.credentials = credentials
        self.routes = {(h.lower(), int(p)): (th, int(tp)) for (h, p), (th, tp) in (routes or {}).items()}
        self.log_path = log_path
        self.idle = idle
        self._lock = threading.Lock()
        self._log = []
        self._open = set()
        self._server = None
        self._thread = None

    @property
    def port(self):
        return self._server.server_address[1]

    def url(self, user=None, password=None):
        """``http://[user:password@]127.0.0.1:<port>`` (quote the parts yourself)."""
        auth = f"{user}:{password}@" if user is not None else ""
        return f"http://{auth}127.0.0.1:{self.port}"

    def check_auth(self, header):
        """``(user name or None, accepted)`` for a ``Proxy-Authorization`` value."""
        user = password = None
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() == "basic":
            try:
                user, sep, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user = None
            else:
                password = password if sep else None
        if self.credentials is None:
            return user, True
        want_user, want_password = self.credentials
        ok = (
            user is not None
            and password is not None
            and hmac.compare_digest(user.encode(), want_user.encode())
            and hmac.compare_digest(password.encode(), want_password.encode())
        )
        return user, ok

    def record(self, entry, status):
        entry = {**entry, "status": status}
        with self._lock:
            self._log.append(entry)
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry) + "\n")

    @property
    def log(self):
        with self._lock:
            return list(self._log)

    def clear(self):
        with self._lock:
            self._log.clear()

    def track(self, sock):
        with self._lock:
            self._open.add(sock)

    def untrack(self, sock):
        with self._lock:
            self._open.discard(sock)

    def start(self):
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="connect-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._server.shutdown()
        with self._lock:
            still_open = list(self._open)
        for sock in still_open:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
