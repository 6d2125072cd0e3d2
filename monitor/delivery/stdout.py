"""The fallback channel: the plain-text digest on stdout, or appended to MONITOR_DIGEST_FILE.

With no channel configured a digest must still reach someone, and it still goes through the
outbox, so a digest printed once is not printed again on the next run.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TextIO

from monitor.models import Digest
from monitor.delivery.notifier import TransientError
from monitor.delivery.text import render_text


class StdoutNotifier:
    """Writes each digest as one block of text; `path` set means append to that file instead."""

    def __init__(self, path: str | None = None, stream: TextIO | None = None):
        self.path = path
        self.stream = stream
        self.channel = f"file:{path}" if path else "stdout"

    def __repr__(self) -> str:
        return f"StdoutNotifier({self.path or 'stdout'})"

    def describe(self) -> str:
        return f"digest file {self.path} (append)" if self.path else "stdout (no channel configured)"

    def render(self, digest: Digest) -> list[str]:
        return [render_text(digest) + "\n"]

    async def send(self, message: str) -> None:
        if self.path:
            await asyncio.to_thread(self._append, message)
            return
        stream = self.stream or sys.stdout
        try:
            stream.write(message)
            stream.flush()
        except (OSError, ValueError) as exc:
            raise TransientError(f"cannot write to stdout: {exc}") from None

    def _append(self, message: str) -> None:
        """All of the digest, fsynced (it is marked sent right after), or none of it: a disk that fills mid-way
        (os.write then takes only part) gets its file cut back, so the retry appends the digest whole, once."""
        from monitor.evidence.warc import write_synced

        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                end = os.lseek(fd, 0, os.SEEK_END)
                try:
                    write_synced(fd, message.encode("utf-8"))
                except OSError:
                    os.ftruncate(fd, end)
                    raise
            finally:
                os.close(fd)
        except OSError as exc:
            raise TransientError(f"cannot append to {self.path}: {exc.strerror or exc}") from None
