"""Processes of one monitor run, found from /proc: which are still alive, and how much memory they hold.

A run is marked by an environment variable that every child inherits (extraction workers, the fork server),
so a test can tell whether anything of a killed monitor is left, and measure the whole tree's peak memory.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

HAS_PROC = Path("/proc/self/environ").exists()


def new_mark() -> str:
    return f"MONITOR_TEST_MARK_{uuid.uuid4().hex}"


def marked(mark: str) -> list[int]:
    """Pids of live (not zombie) processes whose environment carries `mark`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes():
                if "\nState:\tZ" not in (entry / "status").read_text():
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


class PeakRSS:
    """`with PeakRSS(mark) as peak: ...; peak.bytes` — the summed RSS of the marked tree, sampled every 50 ms."""

    def __init__(self, mark: str, every: float = 0.05):
        self.mark, self.every, self.bytes = mark, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        pids: list[int] = []
        rounds = 0
        while not self._stop.is_set():
            if rounds % 10 == 0:  # scanning /proc is the costly part: refresh the pid list every 0.5 s
                pids = marked(self.mark)
            self.bytes = max(self.bytes, rss_bytes(pids))
            rounds += 1
            # time.sleep, not Event.wait: under libfaketime (a clock moved to another day) a timed wait on a
            # condition never returns, and the sampler would stop after its first, empty sample
            time.sleep(self.every)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
