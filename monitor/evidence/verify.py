"""`monitor verify`: re-hash every record and every manifest entry; name each one that does not match.

A WACZ is checked from the outside in: datapackage-digest.json against datapackage.json, each file listed
there against its sha256 and size (and no file unlisted), then every WARC record's block and payload
digests, then the CDXJ index, stories/captures.jsonl and the custody log against the records (crosscheck.py,
custody.py), then the signature. The state is checked capture by capture: each indexed byte range must hold
complete records whose digests match, and the final response's payload its recorded SHA-256; a capture kept
in object storage is fetched whole and must hash to the SHA-256 it was stored with (a missing object is named).
Members are read straight from the zip's bytes (not through zipfile's CRC check), so a flipped byte is
reported for the record it damaged instead of stopping the whole check.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from monitor.evidence.crosscheck import check_captures, check_index, record_map
from monitor.evidence.warc import members, parse_record


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # what was checked, for the summary
    signature: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def _member_bytes(path: Path, info: zipfile.ZipInfo) -> bytes:
    """A zip member's stored bytes, inflated if deflated, without the CRC check."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        head = f.read(30)
        if head[:4] != b"PK\x03\x04":
            raise ValueError("bad local header")
        name_len, extra_len = struct.unpack("<HH", head[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        data = f.read(info.compress_size)
    if info.compress_type == zipfile.ZIP_DEFLATED:
        return zlib.decompress(data, -15)
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"unsupported compression {info.compress_type}")
    return data


def check_records(label: str, data: bytes, base: int = 0, names: dict[int, str] | None = None
                  ) -> tuple[list[str], int, list[tuple[str, bytes]]]:
    """(problems, records checked, [(type, payload)]) for the gzip-per-record WARC bytes `data`.

    `names` (offset -> "response URL", from the CDXJ index) names a record too damaged to read its headers."""
    problems: list[str] = []
    payloads: list[tuple[str, bytes]] = []
    count = 0
    for n, (start, end, raw, error) in enumerate(members(data), 1):
        count += 1
        where = f"{label}: record {n} at offset {base + start}"
        if error:
            known = (names or {}).get(base + start)
            problems.append(f"{where}" + (f" ({known})" if known else "") + f": {error}")
            continue
        try:
            record = parse_record(raw)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        where += f" ({record.type} {record.uri})" if record.uri else f" ({record.type})"
        problems += [f"{where}: {p}" for p in record.problems()]
        payloads.append((record.type, record.payload))
    return problems, count, payloads


def verify_wacz(path: str | Path, *, public_key: bytes | None = None) -> Verification:
    from monitor.evidence.signing import check_signature

    path = Path(path)
    result = Verification()
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        result.problems.append(f"{path}: not a readable WACZ (zip) file: {exc}")
        return result
    with zf:
        infos = {i.filename: i for i in zf.infolist()}

        def read(name: str) -> bytes | None:
            try:
                return _member_bytes(path, infos[name])
            except (KeyError, ValueError, zlib.error, OSError) as exc:
                result.problems.append(f"{name}: missing or unreadable ({exc or 'not in the package'})")
                return None

        package_bytes, digest_bytes = read("datapackage.json"), read("datapackage-digest.json")
        if package_bytes is None or digest_bytes is None:
            return result
        try:
            digest_doc = json.loads(digest_bytes)
            package = json.loads(package_bytes)
        except ValueError as exc:
            result.problems.append(f"datapackage: not valid JSON ({exc})")
            return result
        actual = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
        if digest_doc.get("hash") != actual:
            result.problems.append(f"datapackage.json: {actual} does not match datapackage-digest.json "
                                   f"({digest_doc.get('hash')})")
        names = _index_names(infos, read)
        listed = set()
        warcs: dict[str, dict] = {}  # file name -> offset -> (end, record), for the index checks
        for res in package.get("resources", []):
            name = res.get("path", "")
            listed.add(name)
            data = read(name)
            if data is None:
                continue
            h = "sha256:" + hashlib.sha256(data).hexdigest()
            if h != res.get("hash"):
                result.problems.append(f"{name}: {h} does not match datapackage.json ({res.get('hash')})")
            if len(data) != res.get("bytes"):
                result.problems.append(f"{name}: {len(data)} bytes, datapackage.json says {res.get('bytes')}")
            result.checked.append(name)
            if name.startswith("archive/") and name.endswith((".warc.gz", ".warc")):
                problems, count, _ = check_records(name, data if name.endswith(".gz") else gzip.compress(data),
                                                   names=names.get(name.rsplit("/", 1)[-1]))
                result.problems += problems
                result.checked.append(f"{count} WARC records")
                if name.endswith(".gz"):
                    warcs[name.rsplit("/", 1)[-1]] = record_map(data)
        for name in infos:
            if name not in listed and name not in ("datapackage.json", "datapackage-digest.json") \
                    and not name.endswith("/"):
                result.problems.append(f"{name}: in the package but not listed in datapackage.json")
        _check_links(result, infos, read, warcs)
        problems, result.signature = check_signature(digest_doc, public_key)
        result.problems += problems
    return result


def _check_links(result: Verification, infos: dict, read, warcs: dict) -> None:
    """The index, captures.jsonl and the custody log against the records (a swap with the manifest redone)."""
    from monitor.evidence import custody

    for name in sorted(infos):
        if name.startswith("indexes/") and name.endswith((".cdx", ".cdxj")):
            result.problems += check_index(name, read(name) or b"", warcs)
            result.checked.append(f"{name} against the records")
    captures: dict = {}
    if "stories/captures.jsonl" in infos:
        problems, captures = check_captures("stories/captures.jsonl", read("stories/captures.jsonl") or b"", warcs)
        result.problems += problems
        result.checked.append("stories/captures.jsonl against the records")
    if custody.PACKAGE_PATH in infos:
        problems, lines = custody.check_package(read(custody.PACKAGE_PATH) or b"", captures)
        result.problems += problems
        result.checked.append(f"a custody log of {lines} lines")


def _index_names(infos: dict, read) -> dict[str, dict[int, str]]:
    """filename -> offset -> "response URL (status)" from the package's CDXJ index, to name damaged records."""
    out: dict[str, dict[int, str]] = {}
    for name in infos:
        if not name.startswith("indexes/") or not name.endswith((".cdx", ".cdxj")):
            continue
        data = read(name) or b""
        for line in data.decode("utf-8", "replace").splitlines():
            try:
                entry = json.loads(line.split(" ", 2)[2])
                out.setdefault(entry["filename"], {})[int(entry["offset"])] = \
                    f"response {entry['url']}, HTTP {entry.get('status', '?')}"
            except (IndexError, ValueError, KeyError, TypeError):
                continue
    return out


def verify_state(store, evidence) -> Verification:
    """Every indexed capture re-read and re-hashed; old states' kept raw pages against their SHA-256."""
    result = Verification()
    count = 0
    for cap in store.all_captures():
        label = f"capture {cap['id']} (story {cap['story_id']}, {cap['warc_file']} @ {cap['warc_offset']})"
        try:
            data = evidence.read(cap)
        except OSError as exc:  # a local file gone, or an object missing from its bucket (objectstore.py)
            result.problems.append(f"{label}: {exc.strerror or exc}")
            continue
        count += 1
        obj = cap["object_sha256"] if "object_sha256" in cap.keys() else None
        if obj and hashlib.sha256(data).hexdigest() != obj:
            result.problems.append(f"{label}: the object {cap['warc_file']} was altered: its SHA-256 is "
                                   f"{hashlib.sha256(data).hexdigest()}, it was stored with {obj}")
        if len(data) != cap["warc_length"]:
            result.problems.append(f"{label}: only {len(data)} of {cap['warc_length']} bytes on disk")
            continue
        problems, _n, payloads = check_records(label, data, cap["warc_offset"])
        result.problems += problems
        responses = [p for t, p in payloads if t == "response"]
        if responses and hashlib.sha256(responses[-1]).hexdigest() != cap["payload_sha256"]:
            result.problems.append(f"{label}: payload sha256 differs from the state's {cap['payload_sha256']}")
    result.checked.append(f"{count} captures")
    _check_views(store, evidence, result)
    from monitor.evidence.custody import check_state

    problems, lines = check_state(store)
    result.problems += problems
    result.checked.append(f"a custody log of {lines} lines")
    raw = 0
    for table, key, rows in store.raw_pages_kept():
        for row_id, sha, blob in rows:
            raw += 1
            try:
                actual = hashlib.sha256(gzip.decompress(blob)).hexdigest()
            except (OSError, EOFError, zlib.error) as exc:
                result.problems.append(f"{table} {key} {row_id}: kept raw page unreadable ({exc})")
                continue
            if actual != sha:
                result.problems.append(f"{table} {key} {row_id}: kept raw page sha256 {actual} differs from {sha}")
    if raw:
        result.checked.append(f"{raw} raw pages kept by keep_raw_html")
    return result


def _check_views(store, evidence, result: Verification) -> None:
    """Each screenshot rendered after its capture (views.py): its own records re-read, the PNG re-hashed."""
    views = store.views_of(c["id"] for c in store.all_captures())
    for cid, view in sorted(views.items()):
        label = f"the screenshot of capture {cid} ({view['warc_file']} @ {view['warc_offset']})"
        try:
            data = evidence.read(view)
        except OSError as exc:
            result.problems.append(f"{label}: {exc.strerror or exc}")
            continue
        problems, _n, payloads = check_records(label, data, view["warc_offset"])
        result.problems += problems
        pngs = [p for t, p in payloads if t == "resource"]
        if not pngs or hashlib.sha256(pngs[0]).hexdigest() != view["sha256"]:
            result.problems.append(f"{label}: the PNG's sha256 differs from the state's {view['sha256']}")
    if views:
        result.checked.append(f"{len(views)} screenshots")
