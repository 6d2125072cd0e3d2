"""Captures kept off this host: the object store and its local spool, as the capture seam uses them.

    keep(data)        spool the bytes (fsynced), then PUT them with their SHA-256; (object URL, sha, stored?)
    hold(sha, req)    spool the index request, just before the transaction that indexes the capture
    drain(store, ..)  at the start of a cycle: upload what the bucket lacks, index what the state lacks, once

A capture whose PUT failed is indexed by `drain` only after its upload: no row ever names an object the
bucket does not hold. A capture whose transaction failed (the state was down) is indexed by `drain` once its
story is in the state again (the same story id with the same URL, else the newest story with that URL: the
item is fetched again and recorded anew). Entries nobody can index (no request, or no story, after
`ORPHAN_AFTER`: 7 days) are removed with a warning naming the URL.

An entry that can never be indexed for a reason that will not pass is moved aside at once (`Spool.set_aside`,
one line naming it), so it neither waits a week nor keeps `run --once` off its quiet cycle: an index request
that is not one (unreadable, edited), bytes whose SHA-256 is not their name, a page the state records as
settled while no story or source has it (the story is gone: the item will never be fetched again), and a
capture without a request written by an earlier process (its run ended before the transaction; the page is
fetched and captured again). A state or bucket that is down is never a reason: the entry waits.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from monitor.evidence.objectstore import (ObjectStore, ObjectStoreError, in_bucket_thread, is_object_url, object_url,
                                          sha256_hex)
from monitor.evidence.spool import Spool

log = logging.getLogger("monitor.evidence")

ORPHAN_AFTER = 7 * 86400.0  # a capture whose story never (re)appeared, or never handed to a transaction (a crash)
_KEPT_HERE: set[str] = set()  # captures this process spooled: one without its request yet may be in flight


class Rejected(Exception):
    """A spool entry that can never be indexed, and why (moved aside, not retried)."""


@dataclass
class Drained:
    uploaded: int = 0
    indexed: int = 0
    cleared: int = 0  # entries whose row the state already held
    waiting: int = 0
    dropped: int = 0
    set_aside: int = 0  # moved to the spool's rejected/: they can never be indexed


class ObjectArchive:
    def __init__(self, objects: ObjectStore, spool: Spool):
        self.objects, self.spool = objects, spool
        self._down = False  # the bucket refused once this cycle: the rest of the cycle spools without trying
        self._readers: dict[str, ObjectStore] = {objects.bucket: objects}

    @classmethod
    def from_environment(cls, state) -> "ObjectArchive | None":
        objects = ObjectStore.from_environment()
        return cls(objects, Spool.beside(state)) if objects is not None else None

    @property
    def where(self) -> str:
        return self.objects.url

    def keep(self, data: bytes, page: str) -> tuple[str, str, bool]:
        """(object URL, sha256 hex, stored in the bucket?). Raises OSError only when the spool's disk refuses."""
        sha = sha256_hex(data)
        key = self.objects.key_for(sha)
        _KEPT_HERE.add(sha)
        self.spool.put(sha, data)
        if self._down:
            return object_url(self.objects.bucket, key), sha, False
        try:
            self.objects.put(key, data, sha)
        except ObjectStoreError as exc:
            self._down = True
            log.warning("evidence: %s; the capture of %s waits in the spool %s for the next cycle",
                        exc.strerror, page, self.spool.directory)
            return object_url(self.objects.bucket, key), sha, False
        return object_url(self.objects.bucket, key), sha, True

    def hold(self, sha: str, request: dict) -> None:
        self.spool.put_request(sha, request)

    def read(self, url: str) -> bytes:
        """An indexed object, whole (verify must see an object that grew as well as one that changed)."""
        from monitor.evidence.objectstore import parse_url

        bucket, key = parse_url(url)
        reader = self._readers.setdefault(bucket, ObjectStore(bucket))
        return reader.get(key)

    def drain(self, store, index: Callable[[dict], int | None]) -> Drained:
        """Upload and index what waits in the spool; `index(request)` adds the row (in a transaction it opens)."""
        self._down = False
        done = Drained()
        for sha in self.spool.entries():
            with self._entry(sha, done):
                if not self._drain_one(store, sha, index, done):
                    break
        return self._said(done)

    async def drain_async(self, store, index: Callable[[dict], int | None]) -> Drained:
        """`drain` from the event loop: each upload in a worker thread (a backlog after an outage must not stop
        the service's leases from being renewed); the state is read and written from the loop's thread."""
        self._down = False
        done = Drained()
        for sha in self.spool.entries():
            with self._entry(sha, done):
                step = self._prepare(store, sha, done)
                if isinstance(step, tuple):
                    uploaded = await in_bucket_thread(self._upload, sha, step[2], step[3], done)
                    step = uploaded and self._index(sha, step, index, done)
                if not step:
                    break
        return self._said(done)

    @contextmanager
    def _entry(self, sha: str, done: Drained) -> Iterator[None]:
        """One entry's own trouble is logged (or the entry moved aside); the drain goes on with the others."""
        try:
            yield
        except OSError as exc:  # a spool file unreadable: name it, go on with the others
            log.error("evidence spool %s: %s: %s", self.spool.directory, sha, exc.strerror or exc)
        except (Rejected, KeyError, ValueError, TypeError) as exc:  # KeyError …: a request edited or from elsewhere
            self._set_aside(sha, exc if isinstance(exc, Rejected) else
                            Rejected(f"its index request is not one this monitor wrote ({exc!r})"), done)

    def _said(self, done: Drained) -> Drained:
        if done.uploaded or done.indexed or done.waiting or done.dropped or done.set_aside:
            log.info("evidence spool: %d uploaded, %d indexed, %d still waiting in %s%s", done.uploaded,
                     done.indexed, done.waiting, self.spool.directory,
                     f"; {done.set_aside} moved aside (never indexable)" if done.set_aside else "")
        return done

    def _set_aside(self, sha: str, why: Rejected, done: Drained) -> None:
        """Move an entry that can never be indexed out of the way, with one line naming it."""
        try:
            page = (self.spool.request(sha) or {}).get("final_url")
        except (ValueError, TypeError):
            page = None
        try:
            page = page or _page_of(self.spool.data(sha))
        except (OSError, ValueError):  # a damaged file may name no page; it is moved aside all the same
            page = "an unknown page"
        try:
            where = self.spool.set_aside(sha, str(why))
        except OSError as exc:
            log.error("evidence spool %s: %s could not be moved aside: %s", self.spool.directory, sha,
                      exc.strerror or exc)
            return
        log.warning("evidence spool: the capture of %s can never be indexed: %s; moved aside to %s", page, why, where)
        done.set_aside += 1

    def _drain_one(self, store, sha: str, index, done: Drained) -> bool:
        """One entry; False when the bucket or the state is down (the rest waits for the next cycle)."""
        step = self._prepare(store, sha, done)
        if not isinstance(step, tuple):
            return step
        return self._upload(sha, step[2], step[3], done) and self._index(sha, step, index, done)

    def _prepare(self, store, sha: str, done: Drained) -> bool | tuple:
        """What the state and the spool say of an entry: (request, target, url, data) to upload and index, or
        True (settled: on to the next) or False (the state is down); raises Rejected (never indexable)."""
        request = self.spool.request(sha)
        url = (request or {}).get("object_url") or object_url(self.objects.bucket, self.objects.key_for(sha))
        try:
            if store.capture_by_object(url) is not None:
                self.spool.remove(sha)
                done.cleared += 1
                return True
            target = None if request is None else store.capture_target(
                request["story_id"], request.get("source_id"), (request["url"], request["final_url"]))
            # not in flight in this process, and nothing will ever come for it: moved aside, not waited for
            gone = target is None and sha not in _KEPT_HERE and (request is None or _settled(store, request))
        except sqlite3.Error as exc:
            log.warning("evidence spool: the state cannot be used (%s); %d capture(s) wait in %s", exc,
                        len(self.spool), self.spool.directory)
            return False
        if gone and request is None:
            raise Rejected("its run ended before the capture was handed to the state (the page is captured again "
                           "when it is fetched again)")
        if gone:
            raise Rejected(f"the state records the page as seen, but no story or source with its URL (story "
                           f"{request['story_id']} is gone)")
        if target is None:
            if self.spool.age(sha) > ORPHAN_AFTER:
                page = (request or {}).get("final_url") or _page_of(self.spool.data(sha))
                log.warning("evidence spool: the capture of %s was never indexed (its story was not recorded); "
                            "removed from %s", page, self.spool.directory)
                self.spool.remove(sha)
                done.dropped += 1
            else:
                done.waiting += 1
            return True
        data = self.spool.data(sha)
        if sha256_hex(data) != sha:
            raise Rejected(f"{sha}.warc.gz is damaged (its SHA-256 differs)")
        return request, target, url, data

    def _upload(self, sha: str, url: str, data: bytes, done: Drained) -> bool:
        """PUT what the bucket lacks (may run in a worker thread: no state here); False when the bucket is down."""
        bucket, key = url[len("s3://"):].split("/", 1) if is_object_url(url) else (self.objects.bucket, url)
        objects = self._readers.setdefault(bucket, ObjectStore(bucket))
        try:
            if not objects.has(key, len(data)):
                objects.put(key, data, sha)
                done.uploaded += 1
        except ObjectStoreError as exc:
            log.warning("evidence spool: %s; %d capture(s) wait in %s", exc.strerror, len(self.spool),
                        self.spool.directory)
            self._down = True
            return False
        return True

    def _index(self, sha: str, step: tuple, index, done: Drained) -> bool:
        """Index the uploaded entry (the loop's thread: the state), then let it leave the spool."""
        request, target, url, _data = step
        try:
            if index({**request, "story_id": target[0], "source_id": target[1], "object_url": url}) is not None:
                done.indexed += 1
        except sqlite3.Error as exc:
            log.warning("evidence spool: the state cannot be used (%s); the capture waits in %s", exc,
                        self.spool.directory)
            return False
        self.spool.remove(sha)
        return True


def _settled(store, request: dict) -> bool:
    """Whether the state has settled the capture's page (it is not fetched again) — asked when no story or
    source has its URL: the story the capture was for is gone for good. Raises sqlite3.Error (transient)."""
    from monitor.stories.urlkeys import url_key

    keys, _ = store.known_items({url_key(u) for u in (request["url"], request["final_url"]) if u}, ())
    return bool(keys)


def _page_of(data: bytes) -> str:
    """The URL a spooled capture was taken of (its metadata record's target), to name it in a warning."""
    from monitor.evidence.warc import members, parse_record

    uri = "an unknown page"
    for _start, _end, raw, error in members(data):
        try:
            record = None if error else parse_record(raw)
        except ValueError:
            continue
        if record is not None and record.type == "metadata":
            uri = record.uri or uri
    return uri
