"""A feed's `language:` is checked without importing langcodes when it is one of the common codes."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT


def test_every_common_language_code_is_one_langcodes_accepts():
    import langcodes

    from monitor.config.feeds import COMMON_LANGUAGES

    assert all(langcodes.tag_is_valid(code) for code in COMMON_LANGUAGES)


def test_a_feeds_file_in_common_languages_loads_without_langcodes_and_a_wrong_code_is_still_refused(tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: A\n    url: http://127.0.0.1:9/a.xml\n    language: tg\n"
                     "  - name: B\n    url: http://127.0.0.1:9/b.xml\n    language: RU\n", encoding="utf-8")
    code = ("import sys; from monitor.config.feeds import load_feeds; load_feeds(sys.argv[1]); "
            "print('langcodes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(feeds)], capture_output=True, text=True, cwd=PROJECT)
    assert out.stdout.strip() == "False", out.stderr

    from monitor.config.feeds import ConfigError, load_feeds

    feeds.write_text("feeds:\n  - name: A\n    url: http://127.0.0.1:9/a.xml\n    language: tj\n", encoding="utf-8")
    try:
        load_feeds(feeds)
    except ConfigError as exc:
        assert "language 'tj' is not a language code" in str(exc)
    else:
        raise AssertionError("tj was accepted")
