"""CPU a first cycle spends before its first request — importing the CLI, the config, the rules and the pipeline,
and compiling keywords.yaml — for two checkouts, in the same run (median of N processes; CPU, not wall, so
other jobs on the machine skew it less).

    python bench/bench_startup.py /work/main .        # compare main with this checkout
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

CODE = """
try:
    from monitor.cli.entry import skip_unused_imports
except ImportError:  # an older checkout: the refusal lived in monitor.cli, or nowhere
    import monitor.cli as cli
    skip_unused_imports = getattr(cli, "skip_unused_imports", lambda: None)
skip_unused_imports()
import monitor.cli.main, monitor.cli.common, monitor.config.feeds, monitor.pipeline, monitor.sources.fetch
from monitor.relevance.keywords import load_rules
from monitor.relevance.matcher import Matcher
Matcher(load_rules({keywords!r}))
"""


def cpu_seconds(root: Path, keywords: Path, runs: int) -> float:
    samples = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", CODE.format(keywords=str(keywords))], check=True, cwd="/",
                       env={**os.environ, "PYTHONPATH": str(root)}, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        samples.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("roots", nargs="+", type=Path, help="checkouts to compare (their monitor/ is imported)")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    keywords = Path(__file__).resolve().parents[1] / "keywords.yaml"
    for root in args.roots:
        print(f"{str(root):30} {cpu_seconds(root.resolve(), keywords, args.runs):.3f} s CPU before the first request")


if __name__ == "__main__":
    main()
