"""Signatures over a WACZ's datapackage digest, in the form ReplayWeb.page and py-wacz check.

`monitor keygen` makes an ECDSA P-384 key. Its signature is the WACZ signing spec's anonymous form
(specs.webrecorder.net/wacz-auth/0.1.0): `signedData` in datapackage-digest.json holds `hash` (the
"sha256:…" of datapackage.json, which lists the sha256 of every file), `signature` (ECDSA with SHA-256 over
that hash string, as the raw r||s WebCrypto verifies, base64), `publicKey` (the SubjectPublicKeyInfo DER,
base64), `created` and `software`. Anyone can check it with WebCrypto or `cryptography`, without our code.

Ed25519 keys made by earlier versions still sign and verify: that signature covers hash, created and software,
one per line, under our own `monitorSignedData` (the spec has no Ed25519 form, so players treat such a package
as unsigned).

A signature proves who signed only to someone who knows the signer's public key: `verify` prints the key's
fingerprint, and `verify --public-key FILE` insists on a known key. Publish the fingerprint (a website, a
letter to the recipient) when you hand over an export. Trusted time (RFC 3161) over the signature string is
in timestamp.py (`timestamp_authorities:`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from monitor import __version__

KEY_ENV = "MONITOR_SIGNING_KEY"
DEFAULT_KEY = "monitor-signing.key"
FIELD = "monitorSignedData"  # the Ed25519 signature of earlier versions
SPEC_FIELD = "signedData"  # the WACZ signing spec's
TIMESTAMP_HOOK: Callable[[bytes], bytes] | None = None  # Ed25519 only: fn(message) -> a DER RFC 3161 token


class SigningError(Exception):
    """A key that cannot be used; the message says why."""


def key_path(option: str | None) -> Path:
    return Path(option or os.environ.get(KEY_ENV) or DEFAULT_KEY)


def keygen(path: Path) -> str:
    """Write a new private key (mode 0600) and `<path>.pub`; refuse to overwrite. Returns the fingerprint."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SigningError(f"{path} exists already; a signing key is never overwritten (move it aside first)") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(path, 0o600)  # whatever the umask
    public = key.public_key()
    Path(f"{path}.pub").write_bytes(public.public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo))
    return fingerprint(_raw(public))


def load_private(path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read the signing key {path}: {exc.strerror} (create one with `monitor keygen`)") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningError(f"{path}: the signing key is readable by others (mode {stat.S_IMODE(mode):o}); "
                           f"run `chmod 600 {path}`")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{path}: not a PEM private key ({exc})") from None
    if not (isinstance(key, Ed25519PrivateKey)
            or (isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1))):
        raise SigningError(f"{path}: neither an ECDSA P-384 key nor an Ed25519 one (make one with `monitor keygen`)")
    return key


def load_public(path: Path) -> bytes:
    """The public key's identity bytes (`_raw`) from a `.pub` PEM file (or from the private key file itself)."""
    from cryptography.hazmat.primitives import serialization

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read the public key {path}: {exc.strerror}") from None
    try:
        return _raw(serialization.load_pem_public_key(data))
    except ValueError:
        return _raw(load_private(path).public_key())


def _raw(public) -> bytes:
    """What a fingerprint hashes: Ed25519's raw 32 bytes; an ECDSA key's SubjectPublicKeyInfo DER (the spec's
    `publicKey`, base64-decoded)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if isinstance(public, Ed25519PublicKey):
        return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(raw: bytes) -> str:
    """SHA256:… of the raw public key, the form a recipient compares (as OpenSSH prints keys)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode("ascii").rstrip("=")


def _message(signed: dict) -> bytes:
    return f"{signed['hash']}\n{signed['created']}\n{signed['software']}".encode("utf-8")


def sign_package_digest(digest_doc: dict, key, *, created: str, timestamper=None) -> tuple[dict, str]:
    """digest_doc with the signature added (`signedData`, or `monitorSignedData` for an Ed25519 key); and the
    signer's fingerprint. `timestamper(signature: bytes) -> dict` adds trusted-time fields (timestamp.py)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    raw = _raw(key.public_key())
    software = f"pamir-monitor {__version__}"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(digest_doc["hash"].encode("utf-8"), ec.ECDSA(hashes.SHA256())))
        size = (key.curve.key_size + 7) // 8
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")  # IEEE P1363, as WebCrypto wants it
        signed = {"hash": digest_doc["hash"], "signature": base64.b64encode(signature).decode("ascii"),
                  "publicKey": base64.b64encode(raw).decode("ascii"), "created": created, "software": software}
        if timestamper is not None:
            signed.update(timestamper(signed["signature"].encode("ascii")))
        return {**digest_doc, SPEC_FIELD: signed}, fingerprint(raw)
    signed = {"hash": digest_doc["hash"], "created": created, "software": software, "algorithm": "Ed25519"}
    message = _message(signed)
    signed["signature"] = base64.b64encode(key.sign(message)).decode("ascii")
    signed["publicKey"] = base64.b64encode(raw).decode("ascii")
    if TIMESTAMP_HOOK is not None:
        signed["timeSignature"] = base64.b64encode(TIMESTAMP_HOOK(message)).decode("ascii")
    return {**digest_doc, FIELD: signed}, fingerprint(raw)


def check_spec_signature(signed: dict) -> bytes:
    """The signer's SubjectPublicKeyInfo DER when `signedData` verifies; ValueError otherwise."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    try:
        spki = base64.b64decode(signed["publicKey"], validate=True)
        public = serialization.load_der_public_key(spki)
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ValueError("not an ECDSA key")
        signature = base64.b64decode(signed["signature"], validate=True)
        half = len(signature) // 2
        der = encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
        public.verify(der, signed["hash"].encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    except (KeyError, TypeError, AttributeError, InvalidSignature, ValueError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    return spki


def check_signature(digest_doc: dict, expected_key: bytes | None = None) -> tuple[list[str], str]:
    """(problems, a line describing the signature). No signature is a problem only when a key is expected."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    spec, signed = digest_doc.get(SPEC_FIELD), digest_doc.get(FIELD)
    if not spec and not signed:
        if expected_key is not None:
            return ["datapackage-digest.json: not signed, but a public key was given"], ""
        return [], "not signed"
    if spec:
        signed, kind = spec, "ECDSA P-384, WACZ signing spec"
        try:
            raw = check_spec_signature(spec)
        except ValueError:
            return ["datapackage-digest.json: the signature does not match (signed data changed, or a forged "
                    "signature)"], ""
    else:
        kind = "Ed25519"
        try:
            raw = base64.b64decode(signed["publicKey"])
            public = Ed25519PublicKey.from_public_bytes(raw)
            public.verify(base64.b64decode(signed["signature"]), _message(signed))
        except (KeyError, ValueError, TypeError, InvalidSignature):
            return ["datapackage-digest.json: the signature does not match (signed data changed, or a forged "
                    "signature)"], ""
    problems = []
    if signed.get("hash") != digest_doc.get("hash"):
        problems.append("datapackage-digest.json: the signature covers another package digest than the one listed")
    times: list[str] = []
    if spec:
        from monitor.evidence.timestamp import check_tokens

        token_problems, times = check_tokens(spec)
        problems += token_problems
    if expected_key is not None and raw != expected_key:
        problems.append(f"datapackage-digest.json: signed by {fingerprint(raw)}, not by the key given "
                        f"({fingerprint(expected_key)})")
    return problems, (f"signed {signed.get('created', '')} by {fingerprint(raw)} ({kind})"
                      + "".join(f"; trusted time {t}" for t in times))
