"""An export as its recipient checks it: the signature in the WACZ signing spec's anonymous form (ECDSA P-384
over the package digest, in `signedData`), verified here with `cryptography` alone (keys made by earlier
versions, Ed25519, still sign and verify); records swapped with every hash recomputed, and an edited custody
log, are named by `verify`."""

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
from tests.support.packages import rezip


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
    rezip(signed["wacz"], forged, change)
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


def _responses(warc: bytes) -> list[tuple[int, int]]:
    """(start, end) of each response record of a gzip-per-record WARC."""
    from monitor.evidence.warc import members, parse_record

    return [(start, end) for start, end, raw, _ in members(warc) if parse_record(raw).type == "response"]


def test_two_records_swapped_with_every_hash_recomputed_are_named(archive, tmp_path):  # noqa: F811
    def swap(files: dict) -> None:
        warc = files["archive/data.warc.gz"]
        (a0, a1), *_, (b0, b1) = _responses(warc)  # the first and last pages: two articles, two captures
        files["archive/data.warc.gz"] = warc[:a0] + warc[b0:b1] + warc[a1:b0] + warc[a0:a1] + warc[b1:]

    swapped = tmp_path / "swapped.wacz"
    rezip(archive["wacz"], swapped, swap, rehash=True)
    result = _cli(archive["tmp"], "verify", str(swapped))
    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    assert any(line.startswith("MISMATCH indexes/index.cdx line") and "records moved or swapped" in line
               for line in lines), result.stdout
    assert any(line.startswith("MISMATCH stories/captures.jsonl line") for line in lines), result.stdout
    assert not any("digest does not match" in line for line in lines), "each record itself is intact"


def test_the_custody_log_chains_every_capture_and_export_and_an_edit_names_the_line(archive, tmp_path):  # noqa: F811
    import shutil
    import sqlite3

    from monitor.evidence.custody import check_package

    with zipfile.ZipFile(archive["wacz"]) as zf:
        log = zf.read("custody/custody.jsonl").decode().splitlines()
    events = [json.loads(line) for line in log]
    assert [e["event"] for e in events[:2]] == ["captured", "captured"] and events[1]["prev"].startswith("sha256:")

    def edit(files: dict) -> None:
        lines = files["custody/custody.jsonl"].decode().splitlines()
        lines[0] = lines[0].replace('"event":"captured"', '"event":"captured" ', 1)
        files["custody/custody.jsonl"] = ("\n".join(lines) + "\n").encode()

    edited = tmp_path / "edited.wacz"
    rezip(archive["wacz"], edited, edit, rehash=True)
    problems = verify_wacz(edited).problems
    assert [p for p in problems if p.startswith("custody/custody.jsonl line 1: changed")], problems
    assert check_package(b"\n".join(line.encode() for line in log) + b"\n", {})[0] == []

    copy = tmp_path / "state"
    shutil.copytree(archive["tmp"], copy, ignore=shutil.ignore_patterns("*-shm"))
    db = sqlite3.connect(copy / "state.db")
    rows = db.execute("SELECT event FROM (SELECT json_extract(line, '$.event') AS event FROM custody)").fetchall()
    assert ("exported",) in rows, "each export is logged with its package digest"
    db.execute("UPDATE custody SET line = replace(line, '\"story\":', '\"story\": ') WHERE n = 2")
    db.commit()
    db.close()
    bad = _cli(copy, "verify", "--state", str(copy / "state.db"))
    assert bad.returncode == 1, bad.stdout
    assert "MISMATCH custody log line 2: changed after it was written" in bad.stdout, bad.stdout


def test_a_signed_export_gets_trusted_time_that_openssl_accepts(signed, tmp_path):
    import shutil
    import subprocess

    from tests.conftest import PROJECT, run_cli
    from tests.support.tsa import TSA

    tmp = signed["tmp"]
    with TSA(tmp_path / "tsa") as tsa:
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text((tmp / "feeds.yaml").read_text(encoding="utf-8") + "  timestamp_authorities:\n"
                         f"    - http://127.0.0.1:9/down\n    - {tsa.url}\n", encoding="utf-8")
        wacz = tmp_path / "stamped.wacz"
        done = run_cli("export", "--format", "wacz", "--since", "2020-01-01", "--sign", "--key", str(signed["key"]),
                       "-o", str(wacz), "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                       "--state", str(tmp / "state.db"), cwd=tmp)
        assert done.returncode == 0, done.stderr
        assert tsa.requests == 1
    warned = [line for line in done.stderr.splitlines() if "http://127.0.0.1:9/down" in line]
    assert len(warned) == 1 and "signed without this authority's time" in warned[0], done.stderr
    with zipfile.ZipFile(wacz) as zf:
        digest = json.loads(zf.read("datapackage-digest.json"))
    stamp = digest["signedData"]
    assert _spec_signature_holds(digest)
    assert stamp["timestamps"][0]["authority"] == tsa.url and stamp["timestampCert"].count("BEGIN CERTIFICATE") == 2
    # the token is over the signature string, and openssl accepts it with the authority's root
    (tmp_path / "token.der").write_bytes(base64.b64decode(stamp["timeSignature"]))
    (tmp_path / "signature.txt").write_bytes(stamp["signature"].encode())
    (tmp_path / "chain.pem").write_text(stamp["timestampCert"])
    check = subprocess.run([shutil.which("openssl"), "ts", "-verify", "-in", str(tmp_path / "token.der"), "-token_in",
                            "-data", str(tmp_path / "signature.txt"), "-CAfile", str(tsa.ca_pem),
                            "-untrusted", str(tmp_path / "chain.pem")], capture_output=True, text=True)
    assert "Verification: OK" in check.stdout, check.stdout + check.stderr
    result = verify_wacz(wacz)
    assert result.ok, result.problems
    assert "; trusted time " in result.signature and "CN=Loopback Test TSA" in result.signature
    # a token moved onto another signature does not hold
    token = bytearray(base64.b64decode(stamp["timeSignature"]))
    token[-10] ^= 0x01
    forged = tmp_path / "forged.wacz"

    def change(files: dict) -> None:
        doc = json.loads(files["datapackage-digest.json"])
        doc["signedData"]["timeSignature"] = doc["signedData"]["timestamps"][0]["timeSignature"] = \
            base64.b64encode(bytes(token)).decode()
        files["datapackage-digest.json"] = json.dumps(doc).encode()

    rezip(wacz, forged, change)
    problems = verify_wacz(forged).problems
    assert any(p.startswith(f"datapackage-digest.json: trusted timestamp of {tsa.url}:") for p in problems), problems


def test_the_package_holds_a_technical_report_naming_the_collector_by_key_only(signed):
    from monitor.evidence.signing import fingerprint, load_public
    from tests.conftest import PROJECT

    with zipfile.ZipFile(signed["wacz"]) as zf:
        report = json.loads(zf.read("provenance/provenance.json"))
        package = json.loads(zf.read("datapackage.json"))
        captures = [json.loads(line) for line in zf.read("stories/captures.jsonl").decode().splitlines()]
    assert "provenance/provenance.json" in {r["path"] for r in package["resources"]}, "listed and hashed"
    assert report["software"].startswith("pamir-monitor ")
    assert report["collector"] == fingerprint(load_public(Path(f"{signed['key']}.pub")))
    sha = {name: hashlib.sha256(path.read_bytes()).hexdigest()
           for name, path in (("feeds.yaml", signed["tmp"] / "feeds.yaml"),
                              ("keywords.yaml", PROJECT / "keywords.yaml"))}
    assert len(report["captures"]) == len(captures) == 2
    for row, cap in zip(report["captures"], captures):
        assert row["config_sha256"] == sha, "the files in force when the page was captured"
        assert row["egress"] == "direct" and row["server_ip"] == "127.0.0.1"
        assert row["payload_sha256"] == cap["payload_sha256"] and row["warc"]["offset"] == cap["offset"]


def test_wacz_validate_accepts_the_export_and_refuses_it_after_a_one_byte_change(archive, tmp_path):  # noqa: F811
    import shutil
    import subprocess
    import sys

    from tests.evidence.test_evidence import _flip

    cli = shutil.which("wacz", path=str(Path(sys.executable).parent)) or shutil.which("wacz")
    if cli is None:
        pytest.skip("py-wacz is not installed (pip install -e '.[test]' installs it)")
    good = subprocess.run([cli, "validate", "-f", str(archive["wacz"])], capture_output=True, text=True, timeout=60)
    assert good.returncode == 0 and "valid" in good.stdout, good.stdout + good.stderr
    bad = tmp_path / "one-byte.wacz"
    shutil.copy(archive["wacz"], bad)
    _flip(bad, "archive/data.warc.gz", 200)
    refused = subprocess.run([cli, "validate", "-f", str(bad)], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0, refused.stdout
