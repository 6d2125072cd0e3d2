"""The chain of custody: a hash-chained log of every capture, re-check and export, checked by `verify`.

Each line is canonical JSON (sorted keys, no spaces) with its number `n`, the UTC time `at`, the `event`
(captured | re-checked | rendered | exported), the event's facts (capture id, story, URL, payload SHA-256, WARC place;
or the package digest), and `prev`: the "sha256:" of the line before. Changing, removing or inserting a line
breaks the chain at the next one; `verify` names the line. The log lives in the state (store/evidence.py
writes it in the same transaction as the capture's index row).

A package carries the log up to its export as `custody/custody.jsonl`: the lines of its own captures in
full, every other line as `{"n": …, "hash": …}` only, so the chain still checks end to end without telling
the recipient what else the organisation monitors.
"""

from __future__ import annotations

import hashlib
import json

PACKAGE_PATH = "custody/custody.jsonl"


def line_hash(line: str) -> str:
    return "sha256:" + hashlib.sha256(line.encode("utf-8")).hexdigest()


def package_log(rows: list[tuple[int, str, str]], capture_ids: set[int]) -> bytes:
    """custody.jsonl for a package holding `capture_ids`: their lines in full, the others by hash."""
    out = []
    for n, line, digest in rows:
        try:
            mine = json.loads(line).get("capture") in capture_ids
        except ValueError:
            mine = False
        out.append(line if mine else json.dumps({"n": n, "hash": digest}, separators=(",", ":")))
    return ("\n".join(out) + "\n").encode("utf-8") if out else b""


def check_chain(label: str, entries: list[tuple[int, str | None, str | None]]) -> tuple[list[str], dict[int, dict]]:
    """(problems, {capture id: its latest line}) for (line number, line text or None, stored or given hash).

    A line given only by hash (a package's other lines) is trusted for its hash; a full line is hashed."""
    problems: list[str] = []
    by_capture: dict[int, dict] = {}
    prev: str | None = None
    for i, (where, text, given) in enumerate(entries, 1):
        if text is None:
            if not given:
                problems.append(f"{label} line {where}: neither a line nor its hash")
            prev = given
            continue
        actual = line_hash(text)
        try:
            entry = json.loads(text)
        except ValueError:
            problems.append(f"{label} line {where}: not JSON (changed after it was written)")
            prev = actual
            continue
        if given is not None and given != actual:
            problems.append(f"{label} line {where}: changed after it was written (it hashes to {actual}, "
                            f"the log recorded {given})")
        if entry.get("n") != i:
            problems.append(f"{label} line {where}: numbered {entry.get('n')}, expected {i} (a line removed or "
                            "inserted before it)")
        if i > 1 and entry.get("prev") != prev:
            problems.append(f"{label} line {i - 1}: changed or replaced after it was written (line {where} "
                            f"chains to {entry.get('prev')}, the line there hashes to {prev})")
        if isinstance(entry.get("capture"), int) and "sha256" in entry:  # not a screenshot's "rendered" line
            by_capture[entry["capture"]] = entry
        prev = actual
    return problems, by_capture


def check_state(store) -> tuple[list[str], int]:
    """The state's log: the chain, and each captured line against the capture it names. (problems, lines)."""
    rows = store.custody()
    problems, by_capture = check_chain("custody log", [(n, line, digest) for n, line, digest in rows])
    known = {c["id"]: c for c in store.all_captures()}
    for cid, entry in sorted(by_capture.items()):
        cap = known.get(cid)
        if cap is not None and cap["payload_sha256"] != entry.get("sha256"):
            problems.append(f"custody log line {entry.get('n')}: capture {cid} has payload sha256 "
                            f"{cap['payload_sha256']}, the log says {entry.get('sha256')}")
    return problems, len(rows)


def check_package(data: bytes, captures: dict[int, dict]) -> tuple[list[str], int]:
    """A package's custody.jsonl: the chain, and every capture of captures.jsonl logged with its hash."""
    entries: list[tuple[int, str | None, str | None]] = []
    for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError:
            entries.append((n, line, None))
            continue
        if set(obj) == {"n", "hash"}:
            entries.append((n, None, obj["hash"]))
        else:
            entries.append((n, line, None))
    problems, by_capture = check_chain(PACKAGE_PATH, entries)
    for cid, cap in sorted(captures.items()):
        entry = by_capture.get(cid)
        if entry is None:
            continue  # captured before the custody log existed
        if entry.get("sha256") != cap.get("payload_sha256"):
            problems.append(f"{PACKAGE_PATH} line {entry.get('n')}: capture {cid} logged with payload sha256 "
                            f"{entry.get('sha256')}, stories/captures.jsonl says {cap.get('payload_sha256')}")
    return problems, len(entries)
