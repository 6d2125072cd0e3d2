"""Keep a fetched exchange as evidence: WARC records first (fsynced), then the row that indexes them.

Any source kind calls the same two steps with the `Hop`s its fetch returned (`Response.hops`):

    pending = evidence.write(response.hops, text=text, title=title, feed=feed)   # I/O, before the transaction
    with store.transaction():
        story_id = store.add_story(...)
        evidence.index(pending, story_id=story_id)                               # same transaction

A crash between the two leaves WARC bytes nobody indexed (harmless; the item is fetched again next run);
never an indexed record that is not fully on disk.

With MONITOR_ARCHIVE_URL (s3://bucket/prefix) a capture is one object instead of a byte range of a local file:
`write` spools it and PUTs it (offsite.py), `index` indexes it only once the bucket holds it (else the next
cycle's `drain` does), and `read` fetches an indexed capture from wherever its row says it is. The event loop
calls `write_async`: a PUT waits on the network, so it runs in a worker thread, and the caller's transaction
starts only once it returned (PUT, with its checksum, before the row that names the object).
`index(..., view=True)` also queues the capture's screenshot in the same transaction; the spool's index request
carries it, so a capture indexed later by `drain` gets its screenshot queued too.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from monitor import __version__
from monitor.evidence.provenance import capture_facts
from monitor.evidence.objectstore import is_object_url
from monitor.evidence.warc import WarcArchive, Written, build_capture

log = logging.getLogger("monitor.evidence")


@dataclass(frozen=True)
class PendingCapture:
    """Records on disk, not yet indexed."""

    written: Written
    payload_sha256: str
    captured_at: datetime
    url: str
    final_url: str
    status: int
    redirects: tuple[tuple[int, str], ...]  # (status, url) of every hop before the final one
    peer: str
    text_sha256: str
    object_sha256: str | None = None  # in object storage: the whole object's SHA-256 (its key)
    stored: bool = True  # False: the PUT failed, the capture waits in the spool (indexed by the next drain)


class Evidence:
    """The WARC archive of one state, and how captures are written and indexed."""

    def __init__(self, store, settings=None, directory: str | Path | None = None):
        self.store = store
        self.settings = settings
        max_bytes = getattr(settings, "warc_max_bytes", 1_000_000_000)
        self.archive = (WarcArchive(directory, max_bytes=max_bytes, indexed_end=store.warc_indexed_end)
                        if directory else
                        WarcArchive.beside(store.path, max_bytes=max_bytes, indexed_end=store.warc_indexed_end))
        from monitor.evidence.offsite import ObjectArchive

        self.objects = ObjectArchive.from_environment(store.path)  # None: local WARC files only

    def write(self, hops, *, text: str = "", title: str = "", feed: str = "", reason: str = "capture",
              extra: dict | None = None, requisites=(), view: tuple | None = None) -> PendingCapture | None:
        """Write one capture's records (and its page requisites'); None (logged) when there is nothing to keep
        or the disk refuses."""
        hops = tuple(hops)
        if not hops:
            return None
        final = hops[-1]
        redirects = tuple((h.status, h.url) for h in hops[:-1])
        note = {
            "software": f"pamir-monitor/{__version__}", "reason": reason, "feed": feed, "title": title,
            "requested_url": hops[0].url, "final_url": final.url, "status": final.status,
            "redirect_chain": [{"status": s, "url": u} for s, u in redirects], "peer_address": final.peer,
            "captured_at": final.started.isoformat(),
            "body_note": "response bodies as received (Content-Encoding kept); chunked transfer coding removed, "
                         "its header renamed X-Archive-Orig-Transfer-Encoding",
            "extracted_text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "extracted_text": text, **capture_facts(final, self.settings), **(extra or {}),
        }
        if requisites:
            note["requisites"] = [{"url": g[-1].url, "status": g[-1].status, "bytes": len(g[-1].body)}
                                  for g in requisites]
        try:
            if view is not None:
                note["screenshot"] = {"uri": f"urn:view:{final.url}", "taken_at": view[1].isoformat(),
                                      "sha256": hashlib.sha256(view[0]).hexdigest(), "bytes": len(view[0])}
            built = build_capture(hops, note, requisites, view)
        except Exception as exc:  # a record we cannot build must cost the capture, never the story
            log.error("evidence: could not build the WARC records of %s (%s); the story is kept without them",
                      final.url, exc)
            return None
        object_sha256, stored = None, True
        try:
            if self.objects is not None:
                url, object_sha256, stored = self.objects.keep(built.data, final.url)
                written = Written(url, 0, len(built.data))
            else:
                written = self.archive.append(built.data)
        except OSError as exc:
            where = self.objects.spool.directory if self.objects is not None else self.archive.directory
            log.error("evidence archive %s: could not write the capture of %s (%s); the story is kept without it",
                      where, final.url, exc)
            return None
        return PendingCapture(written, built.payload_sha256, final.started.astimezone(timezone.utc), hops[0].url,
                              final.url, final.status, redirects, final.peer,
                              hashlib.sha256(text.encode("utf-8")).hexdigest(), object_sha256, stored)

    async def write_async(self, hops, **options) -> PendingCapture | None:
        """`write` from the event loop: with a bucket the whole write (spool, fsync, PUT) runs in a worker thread,
        so a slow bucket holds up no other feed; local WARC files are appended from the loop's thread, as always
        (one writer per archive file)."""
        if self.objects is None:
            return self.write(hops, **options)
        from monitor.evidence.objectstore import in_bucket_thread

        return await in_bucket_thread(self.write, hops, **options)

    def index(self, pending: PendingCapture | None, *, story_id: int, source_id: int | None = None,
              reason: str = "first", change: str | None = None, note: str | None = None,
              diff: str | None = None, text: str | None = None, view: bool = False) -> int | None:
        """Record the capture in the state (call inside the caller's transaction), with its screenshot queued
        when `view`; returns its id."""
        if pending is None:
            return None
        if pending.object_sha256 is not None and self.objects is not None:
            # the request first: if this transaction fails (the state is down), the next drain indexes it
            request = _request(pending, story_id=story_id, source_id=source_id, reason=reason, change=change,
                               note=note, diff=diff, text=text, view=bool(view))
            try:
                self.objects.hold(pending.object_sha256, request)
            except OSError as exc:
                log.error("evidence spool %s: could not keep the index request of %s (%s)",
                          self.objects.spool.directory, pending.final_url, exc)
            if not pending.stored:  # no row names an object the bucket does not hold
                return None
        capture_id = self.store.add_capture(pending, story_id=story_id, source_id=source_id, reason=reason,
                                            monitor_version=__version__, change=change, note=note, diff=diff,
                                            text=text)
        if view:
            self.store.queue_view(capture_id)
        return capture_id

    def drain(self):
        """Upload and index the captures waiting in the spool (the start of every cycle); None without a bucket."""
        if self.objects is None:
            return None
        return self.objects.drain(self.store, self._index_request)

    async def drain_async(self):
        """`drain` from the event loop: the uploads in worker threads, the rows from the loop's thread."""
        if self.objects is None:
            return None
        return await self.objects.drain_async(self.store, self._index_request)

    def _index_request(self, request: dict) -> int | None:
        pending = _pending(request)
        with self.store.transaction():
            if self.store.capture_by_object(pending.written.file) is not None:
                return None  # indexed meanwhile: exactly once
            capture_id = self.store.add_capture(
                pending, story_id=request["story_id"], source_id=request.get("source_id"), reason=request["reason"],
                monitor_version=__version__, change=request.get("change"), note=request.get("note"),
                diff=request.get("diff"), text=request.get("text"))
            if request.get("view"):  # the screenshot its run wanted, queued with the row as a direct index does
                self.store.queue_view(capture_id)
            return capture_id

    def read(self, row) -> bytes:
        """An indexed capture's bytes: a whole object (s3://…) or a byte range of a local WARC file."""
        if is_object_url(row["warc_file"]):
            if self.objects is not None:
                return self.objects.read(row["warc_file"])
            from monitor.evidence.objectstore import read_object

            return read_object(row["warc_file"])
        return self.archive.read(row["warc_file"], row["warc_offset"], row["warc_length"])


def _request(pending: PendingCapture, **index) -> dict:
    """What the index row must say, as JSON for the spool."""
    return {"object_url": pending.written.file, "length": pending.written.length,
            "object_sha256": pending.object_sha256, "payload_sha256": pending.payload_sha256,
            "captured_at": pending.captured_at.isoformat(), "url": pending.url, "final_url": pending.final_url,
            "status": pending.status, "redirects": [list(r) for r in pending.redirects], "peer": pending.peer,
            "text_sha256": pending.text_sha256, **index}


def _pending(request: dict) -> PendingCapture:
    return PendingCapture(Written(request["object_url"], 0, int(request["length"])), request["payload_sha256"],
                          datetime.fromisoformat(request["captured_at"]), request["url"], request["final_url"],
                          int(request["status"]), tuple((int(s), u) for s, u in request["redirects"]),
                          request["peer"], request["text_sha256"], request["object_sha256"], True)


def describe_captures(store, story_id: int) -> list[str]:
    """`monitor show`: the story's captures, and each change its publisher made with a short diff."""
    rows = store.captures(story_id)
    if not rows:
        return []
    lines = ["", "Captures (WARC, as received):"]
    for c in rows:
        who = "first source" if c["source_id"] is None else f"source {c['source_id']}"
        lines.append(f"  {c['id']}. {c['captured_at']}  {c['reason']} ({who})  HTTP {c['status']}  {c['final_url']}")
        lines.append(f"     {c['warc_file']} @ {c['warc_offset']} (+{c['warc_length']})  payload sha-256 "
                     f"{c['payload_sha256']}  peer {c['peer'] or 'unknown'}")
        redirects = " → ".join(f"{u} ({s})" for s, u in json.loads(c["redirects"]))
        if redirects:
            lines.append(f"     via {redirects}")
        if c["change"]:
            lines.append(f"     {c['change_note']}")
            lines += [f"       {line}" for line in (c["diff"] or "").splitlines()]
    return lines


def archive_summary(store) -> str:
    """`monitor status`: how much the WARC archive holds, and where."""
    archive = WarcArchive.beside(store.path)
    captures, changes = store.capture_summary()
    files = archive.files()
    size = sum(p.stat().st_size for p in files)
    shown = f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"
    line = (f"evidence archive: {captures} capture(s), {changes} page change(s) noted, {shown} in "
            f"{len(files)} WARC file(s) at {archive.directory}")
    from monitor.evidence.offsite import ObjectArchive

    try:
        objects = ObjectArchive.from_environment(store.path)
    except ValueError as exc:
        return f"{line}; {exc}"
    if objects is not None:
        rejected = objects.spool.rejected_count()
        line += (f"; new captures go to {objects.where} ({store.objects_summary()} object(s) indexed, "
                 f"{len(objects.spool)} waiting in the spool {objects.spool.directory}"
                 + (f", {rejected} moved aside to {objects.spool.rejected} as never indexable" if rejected else "")
                 + ")")
    return line
