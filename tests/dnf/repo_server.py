"""Loopback HTTPS servers for the real-dnf tests.

* :func:`make_tls` writes a throw-away CA and a server certificate for
  ``localhost`` / ``127.0.0.1`` (made with ``cryptography``, which salt already
  depends on); dnf trusts the CA through ``sslcacert``.
* :class:`RepoServer` serves one createrepo_c directory over HTTPS on
  127.0.0.1, under any path prefix and whatever the query, and logs every
  request line it receives (method, path and query) so a test can check
  exactly what the client sent.

Nothing here ever talks to a real host.
"""

import datetime
import http.server
import ipaddress
import pathlib
import socket
import ssl
import threading
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_tls(directory):
    """Write ``ca.pem`` (trust anchor) and ``server.pem``/``server.key``
    (CN and SAN localhost, SAN 127.0.0.1) into ``directory``; return their paths."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=7)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("so-telemetry test CA"))
        .issuer_name(_name("so-telemetry test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    paths = {"ca": directory / "ca.pem", "cert": directory / "server.pem", "key": directory / "server.key"}
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "so-telemetry-test-repo"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass  # the request log below is the record; keep pytest output quiet

    def _serve(self, body):
        self.server.log_request_line(self.command, self.path, dict(self.headers))
        split = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(split.path)
        # Any prefix maps to the repository root: keep the tail from
        # `repodata/` on (metadata) or the last component (a package).
        marker = "/repodata/"
        if marker in path:
            tail = "repodata/" + path.split(marker, 1)[1]
        else:
            tail = path.rsplit("/", 1)[-1]
        target = (self.server.repo_dir / tail).resolve()
        if (
            not tail
            or ".." in pathlib.PurePosixPath(tail).parts
            or self.server.repo_dir not in target.parents
            or not target.is_file()
        ):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = target.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self._serve(body=True)

    def do_HEAD(self):  # noqa: N802
        self._serve(body=False)


class RepoServer(http.server.ThreadingHTTPServer):
    """HTTPS on 127.0.0.1:<free port>, serving ``repo_dir``, logging requests."""

    daemon_threads = True

    def __init__(self, repo_dir, tls, name="repo"):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.name = name
        self.repo_dir = pathlib.Path(repo_dir).resolve()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tls["cert"]), str(tls["key"]))
        self.socket = ctx.wrap_socket(self.socket, server_side=True)
        self._lock = threading.Lock()
        self._log = []
        self._thread = None

    @property
    def port(self):
        return self.server_address[1]

    def log_request_line(self, method, path, headers):
        with self._lock:
            self._log.append({"method": method, "path": path, "headers": headers})

    @property
    def requests(self):
        """Every request received so far: ``{method, path (with query), headers}``."""
        with self._lock:
            return list(self._log)

    def clear(self):
        with self._lock:
            self._log.clear()

    def handle_error(self, request, client_address):
        pass  # a client hanging up mid-transfer is not a test failure

    def start(self):
        self._thread = threading.Thread(target=self.serve_forever, name=f"{self.name}-https", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
