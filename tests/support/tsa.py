"""A trusted timestamp authority on loopback: `openssl ts -reply` behind a small HTTP server (RFC 3161 over HTTP).

Its CA and signing certificate are made fresh (ECDSA P-256, the signer's extended key usage timeStamping,
critical, as RFC 3161 requires). `TSA.ca_pem` is the root a recipient would trust.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONFIG = """[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _certs(directory: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    start, end = datetime.datetime(2000, 1, 1), datetime.datetime(2099, 1, 1)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key, tsa_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("Loopback Test Root")).issuer_name(name("Loopback Test Root"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    tsa = (x509.CertificateBuilder().subject_name(name("Loopback Test TSA")).issuer_name(ca.subject)
           .public_key(tsa_key.public_key()).serial_number(2).not_valid_before(start).not_valid_after(end)
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
           .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
           .sign(ca_key, hashes.SHA256()))
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "tsa.pem").write_bytes(tsa.public_bytes(serialization.Encoding.PEM))
    (directory / "tsa.key").write_bytes(tsa_key.private_bytes(serialization.Encoding.PEM,
                                                              serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()))
    (directory / "serial").write_text("01\n")


class TSA:
    """`with TSA(tmp_dir) as tsa:` serves RFC 3161 at `tsa.url`; `tsa.requests` counts what it answered."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.openssl = shutil.which("openssl")
        self.requests = 0

    @property
    def ca_pem(self) -> Path:
        return self.dir / "ca.pem"

    def __enter__(self) -> "TSA":
        import pytest

        if self.openssl is None:
            pytest.skip("openssl is not installed: no local timestamp authority (apt-get install openssl)")
        self.dir.mkdir(parents=True, exist_ok=True)
        _certs(self.dir)
        (self.dir / "tsa.cnf").write_text(CONFIG.format(dir=self.dir), encoding="utf-8")
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                done = subprocess.run([tsa.openssl, "ts", "-reply", "-config", str(tsa.dir / "tsa.cnf"),
                                       "-queryfile", "/dev/stdin", "-chain", str(tsa.dir / "ca.pem"),
                                       "-out", "/dev/stdout"], input=query, capture_output=True, timeout=20)
                tsa.requests += 1
                self.send_response(200 if done.returncode == 0 else 500)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(done.stdout)))
                self.end_headers()
                self.wfile.write(done.stdout)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tsa"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
