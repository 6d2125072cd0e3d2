"""A signed export that a recipient checks without our software: the WACZ signing spec's anonymous form
(ECDSA P-384 over the package digest, in `signedData`), verified here with `cryptography` alone; keys made by
earlier versions (Ed25519) still sign and verify."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from monitor.evidence.signing import load_public
from monitor.evidence.verify import verify_wacz
from tests.evidence.test_evidence import _cli, archive  # noqa: F401  (the module's shared export)


def _spec_signature_holds(digest: dict) -> bool:
    """Check `signedData` as a recipient would, from the spec alone: SPKI key, raw r||s, over the hash string."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    signed = digest["signedData"]
    public = serialization.load_der_public_key(base64.b64decode(signed["publicKey"]))
    assert isinstance(public.curve, ec.SECP384R1)
    raw = base64.b64decode(signed["signature"])
    assert len(raw) == 96, "IEEE P1363 r||s, the form WebCrypto (ReplayWeb.page) verifies"
    try:
        public.verify(encode_dss_signature(int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big")),
                      signed["hash"].encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return signed["hash"] == digest["hash"]


def _rezip(src: Path, dst: Path, change) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        files = {n: zin.read(n) for n in zin.namelist()}
        change(files)
        for name, data in files.items():
            zout.writestr(name, data)


@pytest.fixture(scope="module")
def signed(archive, tmp_path_factory):  # noqa: F811
    tmp, out = archive["tmp"], tmp_path_factory.mktemp("signed")
    key = out / "ngo.key"
    made = _cli(tmp, "keygen", "--key", str(key))
    assert made.returncode == 0, made.stderr
    assert "fingerprint: SHA256:" in made.stdout and oct(key.stat().st_mode & 0o777) == "0o600"
    wacz = out / "signed.wacz"
    done = _cli(tmp, "export", "--format", "wacz", "--since", "2020-01-01", "--sign", "-o", str(wacz),
                env={"MONITOR_SIGNING_KEY": str(key)})
    assert done.returncode == 0, done.stderr
    return {"wacz": wacz, "key": key, "tmp": tmp, "dir": out}


def test_the_spec_signature_verifies_with_cryptography_alone(signed):
    with zipfile.ZipFile(signed["wacz"]) as zf:
        digest = json.loads(zf.read("datapackage-digest.json"))
        assert digest["hash"] == "sha256:" + hashlib.sha256(zf.read("datapackage.json")).hexdigest()
    assert "monitorSignedData" not in digest
    assert {"hash", "signature", "publicKey", "created", "software"} <= set(digest["signedData"])
    assert _spec_signature_holds(digest)
    good = _cli(signed["tmp"], "verify", str(signed["wacz"]), "--public-key", f"{signed['key']}.pub")
    assert good.returncode == 0, good.stdout
    assert "(ECDSA P-384, WACZ signing spec)" in good.stdout


@pytest.mark.parametrize("edit", ["a title", "one resource hash", "a key added"])
def test_any_change_to_datapackage_json_breaks_the_signature(signed, edit):
    def change(files: dict) -> None:
        package = json.loads(files["datapackage.json"])
        if edit == "a title":
            package["title"] += "."
        elif edit == "one resource hash":
            package["resources"][0]["hash"] = "sha256:" + "0" * 64
        else:
            package["note"] = "reviewed"
        files["datapackage.json"] = json.dumps(package).encode()
        digest = json.loads(files["datapackage-digest.json"])  # the forger recomputes every digest they can
        digest["hash"] = digest["signedData"]["hash"] = "sha256:" + hashlib.sha256(files["datapackage.json"]).hexdigest()
        files["datapackage-digest.json"] = json.dumps(digest).encode()

    forged = signed["dir"] / f"forged-{edit.replace(' ', '-')}.wacz"
    _rezip(signed["wacz"], forged, change)
    with zipfile.ZipFile(forged) as zf:
        assert not _spec_signature_holds(json.loads(zf.read("datapackage-digest.json")))
    bad = verify_wacz(forged)  # in-process: the same check `monitor verify` prints
    assert "datapackage-digest.json: the signature does not match (signed data changed, or a forged signature)" \
        in bad.problems, bad.problems


def test_an_ed25519_key_of_an_earlier_version_still_signs_and_verifies(signed):
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = signed["dir"] / "old.key"
    old = Ed25519PrivateKey.generate()
    key.write_bytes(old.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    os.chmod(key, 0o600)
    wacz = signed["dir"] / "old.wacz"
    done = _cli(signed["tmp"], "export", "--format", "wacz", "--since", "2020-01-01", "--sign", "--key", str(key),
                "-o", str(wacz))
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(wacz) as zf:
        assert json.loads(zf.read("datapackage-digest.json"))["monitorSignedData"]["algorithm"] == "Ed25519"
    good = _cli(signed["tmp"], "verify", str(wacz), "--public-key", str(key))
    assert good.returncode == 0 and "(Ed25519)" in good.stdout, good.stdout
    other = verify_wacz(wacz, public_key=load_public(Path(f"{signed['key']}.pub")))
    assert any("not by the key given" in p for p in other.problems), other.problems
