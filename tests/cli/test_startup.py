"""What a `monitor` process pays for besides its work: not the optional imports of libraries it never uses
(httpx's own command-line tool with click and rich; httpcore's trio support, present when selenium is)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT, run_cli
from tests.support import clock as suite_clock
from tests.support.localsite import Page, article_html, rss

KHOROG = ["Relatives say police in Khorog took away three young men from the Pamiri community on Sunday night and "
          "have not said where they are held; lawyers were turned away from the regional police building in GBAO."]


def test_a_full_cycle_fetches_and_matches_without_importing_httpx_cli_or_trio(tmp_path: Path, site):
    site.add("/news/khorog", article_html("Three young men taken away in Khorog", KHOROG))
    items = [{"title": "Three young men taken away in Khorog", "path": "/news/khorog"}]
    site.add("/feed.xml", Page(rss("Outlet", items, base=site.base).encode(), content_type="application/rss+xml"))
    (tmp_path / "feeds.yaml").write_text(f"feeds:\n  - name: Outlet\n    url: {site.url('/feed.xml')}\n",
                                         encoding="utf-8")
    result = run_cli("--feeds", str(tmp_path / "feeds.yaml"), "--keywords", str(PROJECT / "keywords.yaml"),
                     "--state", str(tmp_path / "state.db"), "run", "--once", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 new stor" in result.stderr  # the page was fetched over httpx/httpcore and matched
    imported = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert {"httpx", "httpcore", "monitor.pipeline"} <= imported
    # (an import refused is still listed by -X importtime, at ~0 ms: what they would load is what must be absent)
    assert not {"click", "rich.console", "trio._core", "attrs"} & imported


def test_a_program_that_imports_the_monitor_as_a_library_keeps_its_own_imports():
    code = ("import sys, monitor.cli, monitor.cli.main, monitor.pipeline, httpx; "
            "assert sys.modules.get('trio', 0) is not None and sys.modules.get('httpx._main', 0) is not None")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT, timeout=60,
                   env=suite_clock.child_env({"PYTHONPATH": str(PROJECT)}))
