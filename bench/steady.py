"""The steady cycle against its floor: `monitor run --once` with nothing new, in rounds interleaved with
the least any program can do to learn that nothing changed — start an interpreter and make one conditional
GET that answers 304 (all feeds are asked concurrently, so a whole cycle needs one round trip).

Interleaving (floor, monitor, floor, monitor, ...) and taking medians keeps the ratio honest on a machine
whose load changes during the run; the floor is `python -c pass` plus one round trip to the same site.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlsplit

PROBE = (
    "import http.client as h, sys\n"
    "c = h.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=30)\n"
    "c.request('GET', sys.argv[3], headers={'If-None-Match': sys.argv[4]})\n"
    "r = c.getresponse(); r.read()\n"
    "sys.exit(0 if r.status == 304 else 1)\n"
)


def _etag(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        return response.headers.get("ETag", "")


def _wall(argv: list[str], **kwargs) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - t0, proc.returncode


def rounds(monitor_cmd: list[str], feed_url: str, *, python: str = sys.executable, n: int = 7,
           env: dict | None = None, cwd=None) -> dict:
    """Median wall of the monitor's nothing-new cycle, of `python -c pass`, and of pass + one 304 round trip."""
    parts = urlsplit(feed_url)
    probe = [python, "-c", PROBE, parts.hostname or "127.0.0.1", str(parts.port or 80), parts.path or "/",
             _etag(feed_url)]
    mon, bare, floor, failures = [], [], [], 0
    for _ in range(n):
        w, rc = _wall([python, "-c", "pass"])
        bare.append(w)
        w, rc = _wall(probe)
        floor.append(w)
        failures += rc != 0
        w, rc = _wall(monitor_cmd, env=env, cwd=cwd)
        mon.append(w)
        failures += rc != 0
    m, f, b = statistics.median(mon), statistics.median(floor), statistics.median(bare)
    return {"rounds": n, "monitor_median": m, "monitor_all": mon, "floor_median": f, "python_pass_median": b,
            "ratio_to_floor": m / f if f else None, "failures": failures}
