"""A package's index and capture list checked against the records they point at.

Re-hashing files catches a changed byte; it does not catch records moved around with the manifest
recomputed. So every CDXJ line must point at the start of a response record with its URL, time, status,
payload digest and length, every response must be indexed, and every line of stories/captures.jsonl must
point at its capture's records, the last response holding the URL and payload SHA-256 it names.
"""

from __future__ import annotations

import hashlib
import json

from monitor.evidence.warc import members, parse_record


def _ts14(warc_date: str) -> str:
    return "".join(ch for ch in warc_date if ch.isdigit())[:14]


def _status(block: bytes) -> str:
    parts = block.split(b"\r\n", 1)[0].decode("latin-1", "replace").split(" ", 2)
    return parts[1] if len(parts) > 1 else ""


def record_map(data: bytes) -> dict[int, tuple]:
    """offset -> (end, Record) for every record of a gzip-per-record WARC; (None, None) for a damaged one
    (the record check names it already, so the index checks pass over it)."""
    out: dict[int, tuple] = {}
    for start, end, raw, error in members(data):
        try:
            out[start] = (None, None) if error or end is None else (end, parse_record(raw))
        except ValueError:
            out[start] = (None, None)
    return out


def check_index(name: str, cdx: bytes, warcs: dict[str, dict[int, tuple]]) -> list[str]:
    """Each line of the CDXJ index `name` against the record at its offset; each response indexed."""
    problems: list[str] = []
    indexed: set[tuple[str, int]] = set()
    for n, line in enumerate(cdx.decode("utf-8", "replace").splitlines(), 1):
        try:
            key, ts, rest = line.split(" ", 2)
            entry = json.loads(rest)
            filename, offset = entry["filename"], int(entry["offset"])
        except (ValueError, KeyError, TypeError):
            problems.append(f"{name} line {n}: not a CDXJ line")
            continue
        where = f"{name} line {n} ({entry.get('url')})"
        found = warcs.get(filename, {}).get(offset)
        if found is None:
            problems.append(f"{where}: no record starts at offset {offset} of {filename} (records moved or swapped)")
            continue
        indexed.add((filename, offset))
        end, record = found
        if record is None:
            continue  # damaged: named by the record check
        if record.type not in ("response", "resource") or record.uri != entry.get("url"):
            problems.append(f"{where}: the record at offset {offset} is {record.type} {record.uri}, not the "
                            "response the index names (records moved or swapped)")
            continue
        if ts != _ts14(record.headers.get("WARC-Date", "")):
            problems.append(f"{where}: time {ts}, the record says {record.headers.get('WARC-Date')}")
        if entry.get("digest") and entry["digest"] != (record.headers.get("WARC-Payload-Digest")
                                                       or record.headers.get("WARC-Block-Digest")):
            problems.append(f"{where}: payload digest differs from the record's")
        if record.type == "response" and str(entry.get("status", "")) != _status(record.block):
            problems.append(f"{where}: status {entry.get('status')}, the record says {_status(record.block)}")
        if str(entry.get("length", "")) != str(end - offset):
            problems.append(f"{where}: length {entry.get('length')}, the record is {end - offset} bytes")
    for filename, records in warcs.items():
        for offset, (_end, record) in sorted(records.items()):
            if record is not None and record.type == "response" and (filename, offset) not in indexed:
                problems.append(f"{filename}: the response {record.uri} at offset {offset} is not in {name}")
    return problems


def check_captures(name: str, data: bytes, warcs: dict[str, dict[int, tuple]]
                   ) -> tuple[list[str], dict[int, dict]]:
    """Each line of captures.jsonl against its byte range; (problems, {capture id: line})."""
    problems: list[str] = []
    captures: dict[int, dict] = {}
    for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        try:
            cap = json.loads(line)
            start, length, filename = int(cap["offset"]), int(cap["length"]), cap["filename"]
        except (ValueError, KeyError, TypeError):
            problems.append(f"{name} line {n}: not a capture line")
            continue
        captures[cap.get("capture_id")] = cap
        where = f"{name} line {n} (capture {cap.get('capture_id')}, {cap.get('final_url')})"
        records, pos = [], start
        found = warcs.get(filename, {})
        while pos < start + length and pos in found and found[pos][1] is not None:
            end, record = found[pos]
            records.append(record)
            pos = end
        if pos in found and found[pos][1] is None:
            continue  # a damaged record: named by the record check
        if pos != start + length or not records:
            problems.append(f"{where}: bytes {start}-{start + length} of {filename} are not this capture's "
                            "whole records (records moved or swapped)")
            continue
        responses = [r for r in records if r.type == "response"]
        if not responses or responses[-1].uri != cap.get("final_url"):
            problems.append(f"{where}: the records there are of {responses[-1].uri if responses else 'no response'}"
                            " (records moved or swapped)")
            continue
        if hashlib.sha256(responses[-1].payload).hexdigest() != cap.get("payload_sha256"):
            problems.append(f"{where}: the response's payload sha256 is not {cap.get('payload_sha256')}")
    return problems, captures
