"""The local spool of captures bound for object storage (`<state>.spool/`, or $MONITOR_SPOOL_DIR).

Every capture is written here first (`<sha256>.warc.gz`: write a temporary file, fsync, rename, fsync the
folder), then PUT. The index request (story, source, reason … : `<sha256>.json`, written the same way) is
added just before the transaction that indexes the capture. So whatever fails — the PUT (the bucket is
down) or the state (the database is down at index time), or the process (a crash) — the capture is still
here, and the next cycle's `drain` (capture.py) uploads what the bucket lacks and indexes what the state
lacks, once: the key is the content's SHA-256 and the row is looked up by it before it is added.
An entry leaves the spool when the state holds its row, or when it can never be indexed (its index request
is unreadable, its bytes are damaged, its story is gone for good, or the run that wrote it ended before its
transaction): then it is moved aside to `rejected/` once, with a note saying why, for a person to look at.
Only the entries at the top of the folder wait (and keep `run --once` from taking a quiet cycle).
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

from monitor import clock
from monitor.evidence.warc import write_synced

_ENTRY = re.compile(r"^([0-9a-f]{64})\.warc\.gz$")


class Spool:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    @classmethod
    def beside(cls, state: str | Path) -> "Spool":
        return cls(os.environ.get("MONITOR_SPOOL_DIR") or f"{state}.spool")

    def _write(self, name: str, data: bytes) -> Path:
        """write-then-rename, both fsynced: a crash leaves the old state or the whole new file, never half."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o750)
        final = self.directory / name
        # one temporary name per process and thread: captures are spooled from worker threads (write_async)
        tmp = self.directory / f".{name}.{os.getpid()}.{threading.get_ident()}.part"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            write_synced(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return final

    def put(self, sha256_hex: str, data: bytes) -> None:
        """Keep a capture's bytes (OSError when the disk refuses)."""
        self._write(f"{sha256_hex}.warc.gz", data)

    def put_request(self, sha256_hex: str, request: dict) -> None:
        """Keep what the capture's index row must say, until the state holds it."""
        self._write(f"{sha256_hex}.json", json.dumps(request, ensure_ascii=False, sort_keys=True).encode("utf-8"))

    def entries(self) -> list[str]:
        """The SHA-256 of every capture waiting here, oldest first."""
        if not self.directory.is_dir():
            return []
        found = [(p.stat().st_mtime, m.group(1)) for p in self.directory.iterdir() if (m := _ENTRY.match(p.name))]
        return [sha for _, sha in sorted(found)]

    def __len__(self) -> int:
        return len(self.entries())

    def data(self, sha256_hex: str) -> bytes:
        return (self.directory / f"{sha256_hex}.warc.gz").read_bytes()

    def request(self, sha256_hex: str) -> dict | None:
        """The index request, or None when the capture was never handed to a transaction. ValueError when it is
        there but is not an index request (damaged, or edited: ValueError or TypeError): it never will be."""
        try:
            text = (self.directory / f"{sha256_hex}.json").read_bytes().decode("utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as exc:
            raise ValueError(f"{sha256_hex}.json is not UTF-8") from exc
        request = json.loads(text)  # ValueError when damaged
        if not isinstance(request, dict):
            raise TypeError(f"{sha256_hex}.json holds no index request")
        return request

    @property
    def rejected(self) -> Path:
        """Where entries that can never be indexed are moved aside (not drained, not waited for)."""
        return self.directory / "rejected"

    def set_aside(self, sha256_hex: str, why: str) -> Path:
        """Move an entry that can never be indexed into `rejected/`, with a note saying why; its new path."""
        self.rejected.mkdir(parents=True, exist_ok=True, mode=0o750)
        (self.rejected / f"{sha256_hex}.why.txt").write_text(why + "\n", encoding="utf-8")
        for name in (f"{sha256_hex}.json", f"{sha256_hex}.warc.gz"):  # the data last: it is what `entries` lists
            try:
                os.replace(self.directory / name, self.rejected / name)
            except FileNotFoundError:
                pass
        return self.rejected / f"{sha256_hex}.warc.gz"

    def rejected_count(self) -> int:
        """How many entries were moved aside (`monitor status`)."""
        try:
            return sum(1 for p in self.rejected.iterdir() if _ENTRY.match(p.name))
        except OSError:
            return 0

    def age(self, sha256_hex: str) -> float:
        """Seconds since the capture was spooled."""
        return clock.time() - (self.directory / f"{sha256_hex}.warc.gz").stat().st_mtime

    def remove(self, sha256_hex: str) -> None:
        for name in (f"{sha256_hex}.json", f"{sha256_hex}.warc.gz"):  # the request first: no request without data
            (self.directory / name).unlink(missing_ok=True)
