"""WARC/1.1 files beside the state: records built with warcio, appended, fsynced, rotated.

Why by hand around warcio: a capture must be on disk *before* the state indexes it, so a SIGKILL mid-write
leaves at worst an unindexed tail. The records of one capture are serialised into memory first (warcio's
BufferWARCWriter, one gzip member per record), then written with one append and an fsync; only then does
the caller commit the capture's row. A file whose tail is not what the state indexed (a write cut short) is
never appended to again: the next capture starts a new file, so every indexed range stays readable.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zlib
from base64 import b32encode
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from monitor import clock
from monitor import __version__

SOFTWARE = f"pamir-monitor/{__version__}"
# pamir-monitor-<UTC time>-<serial>-<host>.warc.gz; files written before hosts were named lack `-<host>`
_NAME = re.compile(r"^pamir-monitor-(\d{14})-(\d{5})(?:-([A-Za-z0-9][A-Za-z0-9.-]*))?\.warc\.gz$")
# Hop-by-hop framing the HTTP layer already undid: kept under this name so a replay does not de-chunk again
_ORIG_PREFIX = "X-Archive-Orig-"


def digest(data: bytes) -> str:
    """The WARC digest form we write: sha256 in base32, as warcio writes sha1."""
    return "sha256:" + b32encode(hashlib.sha256(data).digest()).decode("ascii")


def digest_matches(header: str | None, data: bytes) -> bool:
    """Check a WARC-*-Digest header (sha256/sha1, base32 or hex) against the bytes it describes."""
    if not header or ":" not in header:
        return False
    algo, _, value = header.partition(":")
    try:
        h = hashlib.new(algo.strip().lower().replace("-", ""), data).digest()
    except ValueError:
        return False
    value = value.strip()
    return value.upper() == b32encode(h).decode("ascii") or value.lower() == h.hex()


# Payloads compressed already gain ~0 % from deflate (a screenshot's PNG: 1 % at level 9, for 0.04 CPU-s a
# page): level 1 for them, zlib's default 6 for the rest (warcio's 9 took 1.5x the time of 6 for 1 % on HTML)
_PACKED = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "font/woff", "application/font-woff",
           "video/", "audio/", "application/zip", "application/gzip", "application/pdf")  # prefixes


def _level(record) -> int:
    head = record.http_headers
    if head is not None and (head.get_header("Content-Encoding") or "identity").strip().lower() != "identity":
        return 1  # a body kept as received: gzip, br, zstd
    kind = (head.get_header("Content-Type") if head is not None else record.content_type) or ""
    return 1 if kind.strip().lower().startswith(_PACKED) else 6


def _writer(buffer: io.BytesIO):
    from warcio.utils import Digester
    from warcio.warcwriter import GzippingWrapper, WARCWriter

    class _Sha256Writer(WARCWriter):
        """warcio's writer with SHA-256 block and payload digests (sha1 is no longer evidence-grade), and
        each record's gzip member at its payload's level (`_level`)."""

        @staticmethod
        def _create_digester():
            return Digester("sha256")

        def write_record(self, record, params=None):
            member = GzippingWrapper(self.out)  # one gzip member per record, as warcio writes them
            member.compressor = zlib.compressobj(_level(record), zlib.DEFLATED, zlib.MAX_WBITS + 16)
            self._write_warc_record(member, record)

    return _Sha256Writer(buffer, gzip=False, warc_version="1.1")


def _warc_date(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Built:
    """The serialised records of one capture and what the state keeps about them."""

    data: bytes
    response_ids: tuple[str, ...]
    payload_sha256: str  # hex, of the final response's body as received


def build_capture(hops: Iterable, note: dict, requisites: Iterable = (), view: tuple | None = None) -> Built:
    """request + response records for every hop (redirects too), then one metadata record (JSON `note`).

    `hops` are fetch.Hop (or anything with the same fields: a Telegram source can build them). `requisites`
    (the page's images, stylesheets, fonts: requisites.py) come first, so the page's own response stays the
    capture's last one; `view` (png, taken at) is written after it as a `resource` record `urn:view:<url>`.
    """
    from warcio.statusandheaders import StatusAndHeaders

    buf = io.BytesIO()
    writer = _writer(buf)
    hops = list(hops)
    ids: list[str] = []
    last_id = ""
    for hop in [h for group in requisites for h in group] + hops:
        date = _warc_date(hop.started)
        req_headers = StatusAndHeaders(f"{hop.method} {hop.target or '/'} {hop.http_version}",
                                       list(hop.request_headers), is_http_request=True)
        request = writer.create_warc_record(hop.url, "request", payload=io.BytesIO(b""), length=0,
                                            http_headers=req_headers, warc_headers_dict={"WARC-Date": date})
        headers = []
        for name, value in hop.headers:
            if name.lower() == "transfer-encoding":  # body stored de-chunked (h11 undid it)
                name = _ORIG_PREFIX + name
            headers.append((name, value))
        resp_headers = StatusAndHeaders(f"{hop.status} {hop.reason}".strip(), headers,
                                        protocol=hop.http_version)
        warc = {"WARC-Date": date}
        if hop.peer:
            warc["WARC-IP-Address"] = hop.peer.rsplit(":", 1)[0].strip("[]")
        response = writer.create_warc_record(hop.url, "response", payload=io.BytesIO(hop.body),
                                             length=len(hop.body), http_headers=resp_headers,
                                             warc_headers_dict=warc)
        request.rec_headers.add_header("WARC-Concurrent-To", response.rec_headers.get_header("WARC-Record-ID"))
        writer.write_record(request)
        writer.write_record(response)
        last_id = response.rec_headers.get_header("WARC-Record-ID")
        ids.append(last_id)
    final = hops[-1] if hops else None
    if view is not None and final is not None:  # (png, taken at): the full-page screenshot (screenshot.py)
        shot = writer.create_warc_record(f"urn:view:{final.url}", "resource", payload=io.BytesIO(view[0]),
                                         length=len(view[0]), warc_content_type="image/png",
                                         warc_headers_dict={"WARC-Date": _warc_date(view[1]),
                                                            **({"WARC-Concurrent-To": last_id} if last_id else {})})
        writer.write_record(shot)
    body = json.dumps(note, ensure_ascii=False, indent=1, default=str).encode("utf-8")
    meta = writer.create_warc_record(
        final.url if final else note.get("url", "urn:pamir-monitor:note"), "metadata",
        payload=io.BytesIO(body), length=len(body), warc_content_type="application/json",
        warc_headers_dict={"WARC-Date": _warc_date(final.started if final else clock.now()),
                           **({"WARC-Concurrent-To": last_id} if last_id else {})},
    )
    writer.write_record(meta)
    return Built(buf.getvalue(), tuple(ids), hashlib.sha256(final.body if final else b"").hexdigest())


def warcinfo(filename: str, extra: dict | None = None) -> bytes:
    buf = io.BytesIO()
    writer = _writer(buf)
    info = {"software": SOFTWARE, "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "description": "Pages matched by the Pamir news monitor, as received", **(extra or {})}
    writer.write_record(writer.create_warcinfo_record(filename, info))
    return buf.getvalue()


def write_synced(fd: int, data: bytes) -> None:
    """All of `data` to `fd` (os.write may take less than it is given), then fsync: on disk before it is indexed."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


@dataclass(frozen=True)
class Written:
    file: str  # name inside the archive directory
    offset: int
    length: int


class WarcArchive:
    """The directory of WARC files of one state (default `<state>.warc/`).

    `indexed_end(name)` tells how far the state has indexed a file (None: nothing); used once per process
    to refuse appending after a torn tail.
    """

    def __init__(self, directory: str | Path, *, max_bytes: int = 1_000_000_000,
                 indexed_end: Callable[[str], int | None] = lambda name: None, host: str | None = None):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._indexed_end = indexed_end
        self._current: str | None = None
        if host is None:
            from monitor.store.leases import host_id

            host = host_id()
        self.host = file_host(host)  # in the names of the files this host writes: two hosts never share one

    @classmethod
    def beside(cls, state: str | Path, **options) -> "WarcArchive":
        """`<state>.warc/`, or $MONITOR_ARCHIVE_DIR (a state in PostgreSQL keeps its WARC files on this host)."""
        return cls(Path(os.environ.get("MONITOR_ARCHIVE_DIR") or f"{state}.warc"), **options)

    def files(self) -> list[Path]:
        """Every WARC file of the folder, whichever host wrote it, oldest first."""
        if not self.directory.is_dir():
            return []
        found = [(m.group(1), m.group(2), p) for p in self.directory.iterdir() if (m := _NAME.match(p.name))]
        return [p for *_order, p in sorted(found)]

    def closed_files(self) -> list[Path]:
        """The files no host writes to any more: all but each host's newest (retention deletes only these)."""
        files = self.files()
        newest = {_NAME.match(p.name).group(3): p for p in files}
        if len(newest) > 1:  # files named without a host are closed once a host names its own
            newest.pop(None, None)
        return [p for p in files if p not in newest.values()]

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.files())

    def path(self, name: str) -> Path:
        if "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"not a WARC file name of this archive: {name!r}")
        return self.directory / name

    def append(self, data: bytes) -> Written:
        """Append serialised records and fsync; return where they are. Raises OSError (disk full...)."""
        name = self._writable(len(data))
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            offset = os.fstat(fd).st_size
            write_synced(fd, data)
        finally:
            os.close(fd)
        return Written(name, offset, len(data))

    def read(self, name: str, offset: int, length: int) -> bytes:
        with open(self.path(name), "rb") as f:
            f.seek(offset)
            return f.read(length)

    def _writable(self, incoming: int) -> str:
        if self._current is not None:
            size = (self.directory / self._current).stat().st_size
            if size + incoming <= self.max_bytes or size <= _first_member_end(self.directory / self._current):
                return self._current
        elif (files := [p for p in self.files() if _NAME.match(p.name).group(3) == self.host]):
            last = files[-1]  # this host's newest file: another host's (or an old unnamed one) is never appended to
            size = last.stat().st_size
            end = self._indexed_end(last.name) or _first_member_end(last)
            if size == end and size + incoming <= self.max_bytes:  # an intact tail: go on with it
                self._current = last.name
                return last.name
        return self._new_file()

    def _new_file(self) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = clock.now().strftime("%Y%m%d%H%M%S")
        serial = max((int(m.group(2)) for p in self.files() if (m := _NAME.match(p.name))), default=0) + 1
        name = f"pamir-monitor-{stamp}-{serial:05d}-{self.host}.warc.gz"
        path = self.directory / name
        data = warcinfo(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            write_synced(fd, data)  # all of it (os.write may take less), then fsync
        finally:
            os.close(fd)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new name survives a power cut too
        finally:
            os.close(dir_fd)
        self._current = name
        return name


def file_host(host: str) -> str:
    """A host id as it may appear in a file name: letters, digits, dots and hyphens (anything else a hyphen)."""
    cleaned = re.sub(r"[^A-Za-z0-9.-]+", "-", host).strip(".-")[:48].rstrip(".-")
    if cleaned != host or not cleaned:  # `vps_1` and `vps 1` must not both become `vps-1`
        cleaned = f"{cleaned or 'host'}-{hashlib.sha256(host.encode('utf-8')).hexdigest()[:8]}"
    return cleaned


def _first_member_end(path: Path) -> int:
    """Where the file's first gzip member (its warcinfo record) ends; 0 when it is unreadable."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    for start, end, _data, _error in members(head):
        return end if end is not None else 0
    return 0


def members(data: bytes | memoryview, start: int = 0) -> Iterator[tuple[int, int | None, bytes, str]]:
    """Walk the gzip members of a .warc.gz: (start, end, decompressed, error). After a damaged member
    (end None), resume at the next gzip header, so one flipped byte costs one record, not the rest."""
    view = memoryview(data)
    pos = start
    while pos < len(view):
        d = zlib.decompressobj(31)
        out: list[bytes] = []
        cur = pos
        error = ""
        try:
            while not d.eof and cur < len(view):
                piece = view[cur:cur + 65536]
                out.append(d.decompress(piece))
                cur += len(piece) - len(d.unused_data)
            if not d.eof:
                error = "truncated gzip member"
        except zlib.error as exc:
            error = f"damaged gzip data ({exc})"
        if error:
            yield pos, None, b"", error
            nxt = bytes(view[pos + 1:]).find(b"\x1f\x8b\x08")
            if nxt < 0:
                return
            pos = pos + 1 + nxt
            continue
        yield pos, cur, b"".join(out), ""
        pos = cur


@dataclass(frozen=True)
class Record:
    """One WARC record read back: its headers and content block, and whether its digests hold."""

    headers: dict[str, str]
    block: bytes

    @property
    def type(self) -> str:
        return self.headers.get("WARC-Type", "")

    @property
    def uri(self) -> str:
        return self.headers.get("WARC-Target-URI", "")

    @property
    def payload(self) -> bytes:
        if self.headers.get("Content-Type", "").startswith("application/http"):
            head, sep, body = self.block.partition(b"\r\n\r\n")
            return body if sep else b""
        return self.block

    def problems(self) -> list[str]:
        """What does not match: the block digest, the payload digest, the declared length."""
        out = []
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) != len(self.block):
            out.append(f"length {len(self.block)} differs from Content-Length {length or '(none)'}")
        if not digest_matches(self.headers.get("WARC-Block-Digest"), self.block):
            out.append("block digest does not match")
        if "WARC-Payload-Digest" in self.headers and not digest_matches(self.headers["WARC-Payload-Digest"],
                                                                         self.payload):
            out.append("payload digest does not match")
        return out


def parse_record(data: bytes) -> Record:
    """A decompressed record: `WARC/1.1` line, headers, blank line, block (Content-Length bytes), CRLFCRLF."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"WARC/"):
        raise ValueError("not a WARC record")
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    length = headers.get("Content-Length", "")
    block = rest[: int(length)] if length.isdigit() else rest
    return Record(headers, block)


def build_view(page_url: str, png: bytes, taken_at: datetime, note: dict, refers_to: str = "") -> bytes:
    """A screenshot rendered after its capture, as its own records: the `resource` `urn:view:<url>` (referring
    to the page's response record) and a `metadata` record (JSON `note`), appended after the capture."""
    buf = io.BytesIO()
    writer = _writer(buf)
    date = _warc_date(taken_at)
    refers = {"WARC-Refers-To": refers_to} if refers_to else {}
    shot = writer.create_warc_record(f"urn:view:{page_url}", "resource", payload=io.BytesIO(png), length=len(png),
                                     warc_content_type="image/png", warc_headers_dict={"WARC-Date": date, **refers})
    writer.write_record(shot)
    body = json.dumps(note, ensure_ascii=False, indent=1, default=str).encode("utf-8")
    meta = writer.create_warc_record(f"urn:view:{page_url}", "metadata", payload=io.BytesIO(body), length=len(body),
                                     warc_content_type="application/json",
                                     warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To":
                                                        shot.rec_headers.get_header("WARC-Record-ID")})
    writer.write_record(meta)
    return buf.getvalue()
