"""Trusted time (RFC 3161) for a signed export, as the WACZ signing spec and authsign do it.

The token is requested over the signature string (the base64 `signature` of `signedData`, as UTF-8), so it
proves the signature, and with it the package digest, existed at the authority's time. Each authority in
`timestamp_authorities:` is asked in turn; the first token is kept as the spec's `timeSignature` (base64 DER
TimeStampToken) with `timestampCert` (the authority's certificate chain, PEM, signer first); every token is in
`timestamps` ([{authority, timeSignature, timestampCert}]), so several authorities can vouch for the same time.
`verify` checks each token against the signature string and the chain it came with; whether to trust that
chain's root is the recipient's call, so it prints the authority and the root's fingerprint.

Requests carry only a hash and a nonce; they go through the run's proxy when one is set.
"""

from __future__ import annotations

import base64
import hashlib
import logging

log = logging.getLogger("monitor.evidence")

_PEM = "-----BEGIN CERTIFICATE-----"


class TimestampError(Exception):
    """An authority that did not answer with a valid token; the message says why."""


def request_token(url: str, message: bytes, *, proxy: str | None = None, timeout: float = 30) -> tuple[bytes, str]:
    """(DER TimeStampToken, PEM chain) from the authority at `url` over `message`."""
    import secrets

    import httpx
    from asn1crypto import tsp

    nonce = secrets.randbits(63)
    query = tsp.TimeStampReq({"version": 1, "message_imprint": {
        "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(message).digest()},
        "nonce": nonce, "cert_req": True}).dump()
    try:
        with httpx.Client(proxy=proxy, timeout=timeout, trust_env=False) as client:
            answer = client.post(url, content=query, headers={"Content-Type": "application/timestamp-query"})
    except httpx.HTTPError as exc:
        raise TimestampError(f"{url}: {type(exc).__name__}: {exc}") from None
    if answer.status_code != 200:
        raise TimestampError(f"{url}: HTTP {answer.status_code}")
    try:
        response = tsp.TimeStampResp.load(answer.content)
        status = response["status"]["status"].native
        token = response["time_stamp_token"]
        info = token["content"]["encap_content_info"]["content"].parsed
        if status not in ("granted", "granted_with_mods"):
            raise TimestampError(f"{url}: refused ({status})")
        if info["message_imprint"]["hashed_message"].native != hashlib.sha256(message).digest():
            raise TimestampError(f"{url}: the token is for other data")
        if info["nonce"].native != nonce:
            raise TimestampError(f"{url}: the token answers another request (nonce)")
        der = token.dump()
        _verify(der, message)
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampError(f"{url}: not a valid timestamp reply ({exc})") from None
    return der, _chain_pem(der)


def _certs(token):
    from cryptography import x509

    return [x509.load_der_x509_certificate(c.chosen.dump()) for c in token["content"]["certificates"] or []
            if c.name == "certificate"]


def _chain_pem(der: bytes) -> str:
    """The token's certificates as PEM, the signer first, then each issuer."""
    from asn1crypto import cms
    from cryptography.hazmat.primitives.serialization import Encoding

    token = cms.ContentInfo.load(der)
    certs = _certs(token)
    serial = token["content"]["signer_infos"][0]["sid"].chosen["serial_number"].native
    ordered = [c for c in certs if c.serial_number == serial][:1]
    while ordered and ordered[-1].issuer != ordered[-1].subject:
        issuer = next((c for c in certs if c.subject == ordered[-1].issuer and c not in ordered), None)
        if issuer is None:
            break
        ordered.append(issuer)
    ordered += [c for c in certs if c not in ordered]
    return "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in ordered)


def _verify(der: bytes, message: bytes, chain: list | None = None):
    """The token's TSTInfo when it is signed by the first certificate of `chain` (or its own), over
    `message`, and every certificate of the chain is issued by the next; ValueError otherwise."""
    from asn1crypto import cms, tsp  # noqa: F401  (tsp teaches cms the TSTInfo content type)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID

    token = cms.ContentInfo.load(der)
    signed = token["content"]
    info_der = signed["encap_content_info"]["content"].contents
    info = signed["encap_content_info"]["content"].parsed
    algo = info["message_imprint"]["hash_algorithm"]["algorithm"].native
    if info["message_imprint"]["hashed_message"].native != hashlib.new(algo, message).digest():
        raise ValueError("the token is over other data than this signature")
    signer = signed["signer_infos"][0]
    chain = chain or [c for c in _certs(token)
                      if c.serial_number == signer["sid"].chosen["serial_number"].native][:1]
    if not chain:
        raise ValueError("no certificate of the authority")
    leaf = chain[0]
    if leaf.serial_number != signer["sid"].chosen["serial_number"].native:
        raise ValueError("the token is signed by another certificate than the chain kept with it")
    digest_algo = signer["digest_algorithm"]["algorithm"].native
    attrs = {a["type"].native: a["values"][0].native for a in signer["signed_attrs"]}
    if attrs.get("message_digest") != hashlib.new(digest_algo, info_der).digest():
        raise ValueError("the token's content does not match its signed digest")
    signed_bytes = b"\x31" + signer["signed_attrs"].dump()[1:]  # signed as a SET OF, not as [0]
    hash_algo = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[digest_algo]
    key = leaf.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signer["signature"].native, signed_bytes, ec.ECDSA(hash_algo))
        elif isinstance(key, rsa.RSAPublicKey):
            sig_algo = signer["signature_algorithm"]["algorithm"].native
            pad = padding.PSS(padding.MGF1(hash_algo), padding.PSS.AUTO) if sig_algo == "rsassa_pss" \
                else padding.PKCS1v15()
            key.verify(signer["signature"].native, signed_bytes, pad, hash_algo)
        else:
            raise ValueError(f"unsupported key {type(key).__name__}")
        for cert, issuer in zip(chain, chain[1:]):
            cert.verify_directly_issued_by(issuer)
    except Exception as exc:  # InvalidSignature, TypeError from cryptography: all mean "does not verify"
        raise ValueError(f"the signature of the authority does not verify ({type(exc).__name__})") from None
    try:
        usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usage = []
    if ExtendedKeyUsageOID.TIME_STAMPING not in usage:
        raise ValueError("the signing certificate is not for timestamping")
    when = info["gen_time"].native
    if not (leaf.not_valid_before_utc <= when <= leaf.not_valid_after_utc):
        raise ValueError("the signing certificate was not valid at the token's time")
    return info


def timestamper(authorities: list[str] | tuple[str, ...], *, proxy: str | None = None):
    """A `sign_package_digest` hook: signature string -> the fields to add (none when no authority answered)."""
    def stamp(signature: bytes) -> dict:
        stamps = []
        for url in authorities:
            try:
                token, chain = request_token(url, signature, proxy=proxy)
            except TimestampError as exc:
                log.warning("trusted timestamp: %s; the export is signed without this authority's time", exc)
                continue
            stamps.append({"authority": url, "timeSignature": base64.b64encode(token).decode("ascii"),
                           "timestampCert": chain})
        if not stamps:
            return {}
        return {"timeSignature": stamps[0]["timeSignature"], "timestampCert": stamps[0]["timestampCert"],
                "timestamps": stamps}
    return stamp


def check_tokens(signed: dict) -> tuple[list[str], list[str]]:
    """(problems, a line per valid token) for the RFC 3161 tokens of `signedData`."""
    stamps = signed.get("timestamps") or ([{"authority": "", "timeSignature": signed["timeSignature"],
                                            "timestampCert": signed.get("timestampCert", "")}]
                                          if signed.get("timeSignature") else [])
    problems, lines = [], []
    for n, stamp in enumerate(stamps, 1):
        who = stamp.get("authority") or f"token {n}"
        try:
            lines.append(_check_one(stamp, signed["signature"].encode("utf-8"))
                         + (f" from {stamp['authority']}" if stamp.get("authority") else ""))
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"datapackage-digest.json: trusted timestamp of {who}: {exc}")
    if signed.get("timeSignature") and stamps and signed["timeSignature"] != stamps[0].get("timeSignature"):
        problems.append("datapackage-digest.json: timeSignature differs from the first of timestamps")
    return problems, lines


def _check_one(stamp: dict, message: bytes) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    token = base64.b64decode(stamp["timeSignature"], validate=True)
    chain = x509.load_pem_x509_certificates(stamp["timestampCert"].encode("ascii")) \
        if _PEM in stamp.get("timestampCert", "") else []
    if not chain:
        raise ValueError("no certificate chain kept with the token")
    info = _verify(token, message, chain)
    root = chain[-1].public_bytes(Encoding.DER)
    when = info["gen_time"].native.isoformat().replace("+00:00", "Z")
    return (f"{when} by {chain[0].subject.rfc4514_string()} (root {chain[-1].subject.rfc4514_string()}, SHA256:"
            f"{base64.b64encode(hashlib.sha256(root).digest()).decode('ascii').rstrip('=')})")
