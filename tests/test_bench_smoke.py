"""Smoke run of the benchmark harness (bench/run.py) at 20 feeds x 5 items, so the harness never rots.

It runs the real command end to end: the loopback site, three `monitor run --once` cycles, the sequential
baseline on a few feeds and two soak cycles. It needs neither ../shared nor rss2email, and takes ~15 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_harness_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--feeds", "20", "--items", "5", "--delay", "0.01",
         "--baseline-feeds", "4", "--soak-cycles", "2", "--steady-rounds", "1", "--no-rss2email", "--no-micro",
         "--no-calibrate",
         "--workdir", str(tmp_path / "work"), "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "targets:" in proc.stdout and "sequential baseline" in proc.stdout
    r = json.loads(out.read_text())
    c1, c2, c3 = r["cycle1"], r["cycle2"], r["cycle3"]

    # the first cycle really fetched every feed and every article page
    assert c1["feed_requests"] == 20, c1.get("stderr_tail") or Path(c1["stderr"]).read_text()[-2000:]
    assert c1["article_requests"] == 100
    # nothing new: conditional GETs only, no article page (so no extraction), a sliver of the bytes
    assert c2["article_requests"] == 0
    assert c2["feed_304"] == 20
    assert c2["bytes"] <= 0.05 * c1["bytes"]
    # 1 % new: only the new items' pages are fetched
    assert c3["new_items"] >= 1
    assert c3["article_requests"] == c3["new_items"]
    # the baseline and the soak ran
    assert r["sequential"]["exit"] == 0 and r["sequential"]["article_requests"] == 20
    assert len(r["soak"]["cycles"]) == 2 and r["soak"]["failed_cycles"] == 0
    assert c1["peak_pss_tree_mb"] > 0
