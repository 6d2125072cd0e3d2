"""A page captured over HTTPS names, in the package's technical report, the certificate its server showed: the
SHA-256 of that certificate (DER) and the server's address, as a recipient checks them against the site."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import ssl
import zipfile

from tests.evidence.test_evidence import KHOROG, _cli
from tests.support.localsite import LocalSite, Page, article_html, rss


def _certificates(tmp):
    """A throwaway CA (the machine trusts it through SSL_CERT_FILE) and a certificate for 127.0.0.1 it signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)  # valid on any day the suite runs
    end = datetime.datetime(2099, 1, 1, tzinfo=datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test outlet CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False).sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (tmp / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp / "server.pem").write_bytes(cert.public_bytes(pem) + key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return tmp / "ca.pem", tmp / "server.pem", hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def test_a_page_captured_over_https_names_its_servers_certificate_in_the_technical_report(tmp_path):
    ca, server_pem, fingerprint = _certificates(tmp_path)
    with LocalSite("127.0.0.1") as site:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(server_pem)
        site.server.socket = context.wrap_socket(site.server.socket, server_side=True)
        base = f"https://127.0.0.1:{site.port}"
        site.add("/news/khorog", article_html("Four Pamiri men detained in Khorog", KHOROG))
        site.add("/feed.xml", Page(rss("Outlet", [{"title": "Four Pamiri men detained in Khorog",
                                                    "path": "/news/khorog"}], base=base).encode(),
                                   content_type="application/rss+xml"))
        (tmp_path / "feeds.yaml").write_text(f"feeds:\n  - name: Outlet\n    url: {base}/feed.xml\n"
                                             "settings:\n  timeout: 5\n", encoding="utf-8")
        run = _cli(tmp_path, "run", "--once", env={"SSL_CERT_FILE": str(ca)})
        assert run.returncode == 0, run.stderr
        assert "Four Pamiri men detained in Khorog" in run.stdout
    done = _cli(tmp_path, "export", "--format", "wacz", "--since", "2020-01-01", "-o", str(tmp_path / "out.wacz"))
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / "out.wacz") as zf:
        report = json.loads(zf.read("provenance/provenance.json"))
    [capture] = report["captures"]
    assert capture["tls_certificate_sha256"] == fingerprint, "the certificate the server showed, as DER's SHA-256"
    assert capture["server_ip"] == "127.0.0.1"
