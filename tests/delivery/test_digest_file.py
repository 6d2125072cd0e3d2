"""The digest file (MONITOR_DIGEST_FILE) on a disk that fills: a digest is appended whole, once, or not at all."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT

# A child whose files may not grow past 1,000 bytes more (RLIMIT_FSIZE: a write that crosses it is cut short,
# the next one fails with EFBIG, as on a disk that fills mid-way); SIGXFSZ ignored, as a real full disk sends none.
CHILD = r"""
import asyncio, os, resource, signal, sys
import monitor.evidence.warc  # imported before the limit: a module compiled under it is cut short
from monitor.delivery.notifier import TransientError
from monitor.delivery.stdout import StdoutNotifier

path, digest = sys.argv[1], "Digest — 1 story on killings\n" + "Two men were shot dead near Rushan. " * 200 + "\n"
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path) + 1000, resource.RLIM_INFINITY))
notifier = StdoutNotifier(path)
try:
    asyncio.run(notifier.send(digest))
    print("sent")
except TransientError as exc:
    print("refused:", exc)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))  # space freed
asyncio.run(notifier.send(digest))  # the outbox's retry
"""


def test_a_digest_cut_short_by_a_full_disk_is_appended_whole_on_the_retry_and_only_once(tmp_path):
    path = tmp_path / "digests.txt"
    path.write_text("Digest — an earlier one\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, cwd=PROJECT,
                          env={"PYTHONPATH": str(PROJECT), "PYTHONDONTWRITEBYTECODE": "1"}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused: cannot append to") and "File too large" in done.stdout
    text = path.read_text(encoding="utf-8")
    assert text.startswith("Digest — an earlier one\nDigest — 1 story on killings\n")
    assert text.count("Digest — 1 story on killings") == 1 and text.count("shot dead near Rushan") == 200
