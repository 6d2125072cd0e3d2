"""A hostile feed cannot make the matcher slow or huge: a 4.5 MB title (two of them fit under the default
10 MB response cap) is matched in bounded time and memory, and ordinary headlines are handled as before."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from monitor.relevance.keywords import load_rules
from monitor.relevance.matcher import Matcher
from tests.conftest import PROJECT

STORY = "Security forces detained a Pamiri activist in Khorog, GBAO, on Monday night, relatives said. " * 3

# Run in a fresh process: its peak RSS is then this article's, not whatever earlier tests left behind.
_CHILD = """
import json, resource, sys, time
from monitor.relevance.keywords import load_rules
from monitor.relevance.matcher import Matcher
matcher = Matcher(load_rules(sys.argv[1]))
story = sys.argv[2]
title = "Pamiri activist detained in Khorog " + " ".join(f"w{i % 997}" for i in range(950_000))
out = {"title": len(title)}
for name, text in (("story only", story), ("title repeated first", title + "\\n\\n" + story)):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    result = matcher.match(title, text)
    out[name] = {"seconds": time.monotonic() - started, "topics": [h.topic for h in result.hits],
                 "grew_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}
print(json.dumps(out))
"""


def test_a_4_5_mb_title_is_matched_in_bounded_time_and_memory():
    done = subprocess.run([sys.executable, "-c", _CHILD, str(PROJECT / "keywords.yaml"), STORY], cwd=PROJECT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout)
    assert found["title"] > 4_500_000
    for name in ("story only", "title repeated first"):
        one = found[name]
        assert one["topics"], f"{name}: the story still matches"
        assert one["seconds"] < 20, f"{name}: {one['seconds']:.1f} s for one article (linear: ~2 s on one core)"
        assert one["grew_mb"] < 400, f"{name}: {one['grew_mb']:.0f} MB for one article"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_rules(PROJECT / "keywords.yaml"))


def test_a_headline_repeated_at_the_start_of_the_text_is_skipped_in_the_snippet(matcher):
    title = "«Pamiri» activist detained in Khorog!"
    text = "«Pamiri»  activist — detained in KHOROG! \n" + STORY
    result = matcher.match(title, text)
    assert result.snippet.startswith("Security forces detained"), result.snippet
    unchanged = matcher.match(title, "Pamiri activists were detained in Khorog. " + STORY)
    assert unchanged.snippet.startswith("Pamiri activists were detained"), unchanged.snippet
