"""Ed25519 signatures over a WACZ's datapackage digest, so an NGO can show an export was not changed.

The signed message is the package digest (the sha256 of datapackage.json, which lists the sha256 of every
file), the creation time and the software, one per line. It sits in datapackage-digest.json under
`monitorSignedData`, shaped like the WACZ signing spec's `signedData` (hash, created, software, signature,
publicKey) but under its own name: that spec's anonymous signatures are ECDSA P-256, and an Ed25519 one in
its place would read as a broken spec signature to ReplayWeb.page.

A signature proves who signed only to someone who knows the signer's public key: `verify` prints the key's
fingerprint, and `verify --public-key FILE` insists on a known key. Publish the fingerprint (a website, a
letter to the recipient) when you hand over an export.

RFC 3161 trusted timestamps need a network authority (a TSA) and so are not built in. The hook: assign
`TIMESTAMP_HOOK = fn`, where `fn(message: bytes) -> bytes` returns a DER TimeStampToken over the
message's SHA-256 (e.g. from `rfc3161ng.RemoteTimestamper(url, hashname="sha256")(data=message)`); the
token is stored base64 as `timeSignature` beside the signature, as in the WACZ signing spec.
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
FIELD = "monitorSignedData"
TIMESTAMP_HOOK: Callable[[bytes], bytes] | None = None  # RFC 3161: see the module docstring


class SigningError(Exception):
    """A key that cannot be used; the message says why."""


def key_path(option: str | None) -> Path:
    return Path(option or os.environ.get(KEY_ENV) or DEFAULT_KEY)


def keygen(path: Path) -> str:
    """Write a new private key (mode 0600) and `<path>.pub`; refuse to overwrite. Returns the fingerprint."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
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
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: not an Ed25519 key")
    return key


def load_public(path: Path) -> bytes:
    """The raw 32-byte public key from a `.pub` PEM file (or from the private key file itself)."""
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
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(raw: bytes) -> str:
    """SHA256:… of the raw public key, the form a recipient compares (as OpenSSH prints keys)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode("ascii").rstrip("=")


def _message(signed: dict) -> bytes:
    return f"{signed['hash']}\n{signed['created']}\n{signed['software']}".encode("utf-8")


def sign_package_digest(digest_doc: dict, key, *, created: str) -> tuple[dict, str]:
    """digest_doc with `monitorSignedData` added; and the signer's fingerprint."""
    raw = _raw(key.public_key())
    signed = {"hash": digest_doc["hash"], "created": created, "software": f"pamir-monitor {__version__}",
              "algorithm": "Ed25519"}
    message = _message(signed)
    signed["signature"] = base64.b64encode(key.sign(message)).decode("ascii")
    signed["publicKey"] = base64.b64encode(raw).decode("ascii")
    if TIMESTAMP_HOOK is not None:
        signed["timeSignature"] = base64.b64encode(TIMESTAMP_HOOK(message)).decode("ascii")
    return {**digest_doc, FIELD: signed}, fingerprint(raw)


def check_signature(digest_doc: dict, expected_key: bytes | None = None) -> tuple[list[str], str]:
    """(problems, a line describing the signature). No signature is a problem only when a key is expected."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    signed = digest_doc.get(FIELD)
    if not signed:
        if expected_key is not None:
            return ["datapackage-digest.json: not signed, but a public key was given"], ""
        return [], "not signed"
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
    if expected_key is not None and raw != expected_key:
        problems.append(f"datapackage-digest.json: signed by {fingerprint(raw)}, not by the key given "
                        f"({fingerprint(expected_key)})")
    return problems, f"signed {signed.get('created', '')} by {fingerprint(raw)} (Ed25519)"
