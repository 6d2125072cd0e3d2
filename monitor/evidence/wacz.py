"""`monitor export --format wacz`: the captures of a period as one WACZ 1.1.1 package for ReplayWeb.page.

Written by hand with zipfile (the `wacz` package builds a WACZ from a crawl's WARCs and its own page
detection; ours knows its pages and has indexed every record already). Layout, per the WACZ 1.1.1 spec:

    archive/data.warc.gz         the captures' records, copied byte for byte from the state's WARC files
    indexes/index.cdx            CDXJ, sorted: one line per response record (SURT, timestamp, JSON)
    pages/pages.jsonl            one page per story: url, ts, title, and the extracted text (full-text search)
    stories/stories.jsonl        story metadata with every source (as `export --format jsonl`)
    stories/captures.jsonl       per capture: file offset, payload SHA-256, peer address, redirect chain …
    custody/custody.jsonl        the hash-chained custody log up to the export (custody.py)
    provenance/provenance.json       the technical report: software, config hashes, egress, server IP, TLS (provenance.py)
    datapackage.json             every file with its sha256 and size
    datapackage-digest.json      the sha256 of datapackage.json (and an optional signature: signing.py)

WARC files are stored uncompressed in the zip (they are gzip per record already), so a replay reads a record
by its offset without inflating the whole file; ZIP64 fields only when a member needs them (ReplayWeb.page
finds no page in a small member written with ZIP64 forced).
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from monitor import clock
from monitor import __version__
from monitor.evidence import custody, provenance
from monitor.evidence.warc import members, parse_record, warcinfo

WACZ_VERSION = "1.1.1"
WARC_NAME = "data.warc.gz"


@dataclass
class ExportReport:
    stories: int = 0
    captures: int = 0
    records: int = 0
    skipped: list[str] = field(default_factory=list)  # captures whose WARC file is gone (retention, deleted)
    digest: str = ""  # sha256 of datapackage.json
    signed_by: str = ""  # key fingerprint when signed
    timestamps: int = 0  # RFC 3161 tokens kept with the signature


def surt(url: str) -> str:
    """The SURT sort key CDXJ indexes use: org,example)/path?query (host reversed, www. dropped, lowercase)."""
    u = urlsplit(url)
    host = (u.hostname or "").lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
        key = ",".join(reversed(host.split("."))) if ip.version == 4 else host  # as cdxj-indexer writes them
    except ValueError:
        if host.startswith("www."):
            host = host[4:]
        key = ",".join(reversed(host.split(".")))
    if u.port and u.port != {"http": 80, "https": 443}.get(u.scheme):
        key += f":{u.port}"
    query = "&".join(sorted(u.query.split("&"))) if u.query else ""
    return f"{key}){(u.path or '/').lower()}" + (f"?{query.lower()}" if query else "")


def _ts14(warc_date: str) -> str:
    return "".join(ch for ch in warc_date if ch.isdigit())[:14]


def _http_head(block: bytes) -> tuple[str, str]:
    """(status, mime) of an HTTP response block."""
    head = block.split(b"\r\n\r\n", 1)[0].decode("latin-1", "replace").split("\r\n")
    parts = head[0].split(" ", 2)
    status = parts[1] if len(parts) > 1 else ""
    mime = ""
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-type":
            mime = value.split(";")[0].strip().lower()
    return status, mime


def export_wacz(store, evidence, since: datetime, topic: str | None, out_path: str | Path, *,
                signing_key=None, timestamper=None) -> ExportReport:
    """Write the package to `out_path` (atomically: a .part file renamed at the end)."""
    from monitor.stories.export import export as export_jsonl

    report = ExportReport()
    out_path = Path(out_path)
    stories = list(store.export_stories(since, topic))
    report.stories = len(stories)
    story_ids = [row["id"] for row in stories]
    captures = store.captures(story_ids=story_ids)
    notes: dict[int, dict] = {}  # capture id -> its metadata record, for the technical report
    cap_docs: list[dict] = []
    by_story: dict[int, list] = {}
    cdx: list[str] = []
    capture_lines: list[str] = []
    with tempfile.TemporaryFile(dir=out_path.parent) as warc:
        warc.write(warcinfo(WARC_NAME, {"description": f"Export of the Pamir news monitor: stories since "
                                                       f"{since.date()}" + (f", topic {topic}" if topic else "")}))
        views = store.views_of(c["id"] for c in captures)  # screenshots rendered after their capture
        for cap in captures:
            try:
                data = evidence.read(cap)  # a byte range of a local WARC file, or a whole object (s3://…)
            except OSError as exc:
                report.skipped.append(f"capture {cap['id']} of story {cap['story_id']}: {cap['warc_file']}: "
                                      f"{exc.strerror or exc}")
                continue
            if (view := views.get(cap["id"])) is not None:  # in the package, right after its capture's records
                try:
                    data += evidence.read(view)
                except OSError as exc:
                    report.skipped.append(f"the screenshot of capture {cap['id']}: {view['warc_file']}: "
                                          f"{exc.strerror or exc}")
            base = warc.tell()
            warc.write(data)
            report.captures += 1
            by_story.setdefault(cap["story_id"], []).append(cap)
            cap_docs.append({
                "capture_id": cap["id"], "story_id": cap["story_id"], "source_id": cap["source_id"],
                "reason": cap["reason"], "url": cap["url"], "final_url": cap["final_url"], "status": cap["status"],
                "captured_at": cap["captured_at"], "payload_sha256": cap["payload_sha256"],
                "redirects": json.loads(cap["redirects"]), "peer": cap["peer"],
                "monitor_version": cap["monitor_version"], "change": cap["change"], "change_note": cap["change_note"],
                "original_file": cap["warc_file"], "original_offset": cap["warc_offset"],
                "offset": base, "length": len(data), "filename": WARC_NAME,
            })
            capture_lines.append(json.dumps(cap_docs[-1], ensure_ascii=False))
            for start, end, raw, error in members(data):
                if error or end is None:
                    report.skipped.append(f"capture {cap['id']}: a damaged record at offset {start} "
                                          f"(run `monitor verify --state`)")
                    continue
                report.records += 1
                record = parse_record(raw)
                if record.type == "metadata":
                    try:
                        note = json.loads(record.block)
                    except ValueError:
                        continue
                    if note.get("reason") == "screenshot" and cap["id"] in notes:  # views.py: rendered after
                        notes[cap["id"]]["screenshot"] = note.get("screenshot")
                    else:
                        notes[cap["id"]] = note
                    continue
                if record.type == "resource" and record.uri.startswith("urn:view:"):  # the screenshot
                    status, mime = "200", record.headers.get("Content-Type", "image/png")
                elif record.type != "response":
                    continue
                else:
                    status, mime = _http_head(record.block)
                entry = {"url": record.uri, "mime": mime or "unk", "status": status,
                         "digest": record.headers.get("WARC-Payload-Digest") or record.headers.get(
                             "WARC-Block-Digest", ""), "length": str(end - start),
                         "offset": str(base + start), "filename": WARC_NAME}
                cdx.append(f"{surt(record.uri)} {_ts14(record.headers.get('WARC-Date', ''))} "
                           f"{json.dumps(entry, ensure_ascii=False)}")
        pages = [json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "Stories", "hasText": True})]
        for row in stories:
            caps = [c for c in by_story.get(row["id"], []) if c["source_id"] is None] or by_story.get(row["id"], [])
            first = caps[0] if caps else None
            pages.append(json.dumps({
                "id": f"story-{row['id']}", "url": first["final_url"] if first else (row["final_url"] or row["url"]),
                "ts": (first["captured_at"] if first else row["fetched_at"]).replace("+00:00", "Z"),
                "title": row["title"], "text": row["text"], "size": len(row["text"]),
            }, ensure_ascii=False))
        stories_jsonl = io.StringIO()
        export_jsonl(store, since, topic, "jsonl", stories_jsonl)
        files: list[tuple[str, bytes | None]] = [
            ("indexes/index.cdx", ("\n".join(sorted(cdx)) + "\n").encode("utf-8") if cdx else b""),
            ("pages/pages.jsonl", ("\n".join(pages) + "\n").encode("utf-8")),
            ("stories/stories.jsonl", stories_jsonl.getvalue().encode("utf-8")),
            ("stories/captures.jsonl", ("\n".join(capture_lines) + "\n").encode("utf-8") if capture_lines else b""),
            (provenance.PACKAGE_PATH, provenance.report(
                f"pamir-monitor {__version__}", clock.now().isoformat(timespec="seconds").replace("+00:00", "Z"),
                _collector(signing_key), cap_docs, notes)),
            (custody.PACKAGE_PATH, custody.package_log(store.custody(), {c["id"] for caps in by_story.values()
                                                                         for c in caps})),
        ]
        warc.seek(0)
        warc_hash, warc_size = _hash_file(warc)
        resources = [{"name": WARC_NAME, "path": f"archive/{WARC_NAME}", "hash": f"sha256:{warc_hash}",
                      "bytes": warc_size}]
        resources += [{"name": Path(p).name, "path": p, "hash": "sha256:" + hashlib.sha256(b).hexdigest(),
                       "bytes": len(b)} for p, b in files]
        now = clock.now().isoformat(timespec="seconds").replace("+00:00", "Z")
        first_page = json.loads(pages[1]) if len(pages) > 1 else None
        package = {
            "profile": "data-package", "wacz_version": WACZ_VERSION,
            "title": f"Pamir news monitor: stories since {since.date()}" + (f" ({topic})" if topic else ""),
            "description": "Matched news stories as received (WARC), their extracted texts and metadata.",
            "created": now, "modified": now, "software": f"pamir-monitor {__version__}",
            **({"mainPageUrl": first_page["url"], "mainPageDate": first_page["ts"]} if first_page else {}),
            "resources": resources,
        }
        package_bytes = json.dumps(package, ensure_ascii=False, indent=2).encode("utf-8")
        report.digest = hashlib.sha256(package_bytes).hexdigest()
        digest_doc: dict = {"path": "datapackage.json", "hash": f"sha256:{report.digest}"}
        if signing_key is not None:
            from monitor.evidence.signing import sign_package_digest

            digest_doc, report.signed_by = sign_package_digest(digest_doc, signing_key, created=now,
                                                               timestamper=timestamper)
            report.timestamps = len(digest_doc.get("signedData", {}).get("timestamps", []))
        part = out_path.with_name(out_path.name + ".part")
        with zipfile.ZipFile(part, "w", allowZip64=True) as zf:
            warc.seek(0)
            # The size is known, so zipfile writes ZIP64 fields only when the member needs them (>= 4 GiB):
            # ReplayWeb.page cannot find a single page in a small member written with ZIP64 forced.
            info = zipfile.ZipInfo(f"archive/{WARC_NAME}", _zip_time())
            info.file_size = warc_size
            with zf.open(info, "w") as dst:
                while chunk := warc.read(1 << 20):
                    dst.write(chunk)
            for path, data in files:
                zf.writestr(_info(path, zipfile.ZIP_DEFLATED), data)
            zf.writestr(_info("datapackage.json", zipfile.ZIP_DEFLATED), package_bytes)
            zf.writestr(_info("datapackage-digest.json", zipfile.ZIP_DEFLATED),
                        json.dumps(digest_doc, indent=2).encode("utf-8"))
        os.replace(part, out_path)
    store.add_custody("exported", {"package_sha256": f"sha256:{report.digest}", "file": out_path.name,
                                   "captures": sorted(c["id"] for caps in by_story.values() for c in caps),
                                   **({"signed_by": report.signed_by} if report.signed_by else {})})
    return report


def _collector(key) -> str:
    """The pseudonymous collector id: the organisation's key fingerprint (signing.py), or "" unsigned."""
    if key is None:
        return ""
    from monitor.evidence.signing import _raw, fingerprint

    return fingerprint(_raw(key.public_key()))


def _zip_time() -> tuple[int, int, int, int, int, int]:
    return clock.now().timetuple()[:6]


def _info(path: str, method: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, _zip_time())
    info.compress_type = method
    return info


def _hash_file(f) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    while chunk := f.read(1 << 20):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size
