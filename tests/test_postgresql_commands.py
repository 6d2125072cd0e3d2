"""Every command a coalition uses day to day, once each, on a state in PostgreSQL: the archive is started with a
backfill, a rule is fixed and `rematch` finds the missed story, readers label, `eval --labels` scores the rules,
the archive is exported and verified, the weekly report is read and the web interface browsed — as on a file."""

from __future__ import annotations

import json

from monitor import clock
from tests.conftest import run_cli
from tests.review.test_rematch import NEW_RULES, User, build, in_process


class CoalitionUser(User):
    """The rematch story's user, with the state in a PostgreSQL database (`--database-url` on every command)."""

    def __init__(self, tmp_path, site, url: str):
        super().__init__(tmp_path, site)
        self.url = url

    def __call__(self, *args: str, code: int = 0):
        argv = [*args, "--feeds", str(self.feeds), "--keywords", str(self.keywords), "--state", str(self.state),
                "--database-url", self.url]
        result = run_cli(*argv) if args[0] in ("run", "backfill") else in_process(argv)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        return result


def test_a_coalition_works_its_archive_in_postgresql_with_every_command(tmp_path, site, pg_url):
    build(site)
    user = CoalitionUser(tmp_path, site, pg_url)

    started = user("backfill", "--since", "2020-01-01")
    assert started.stdout.count("Football fans detained in Khorog") == 1, started.stdout + started.stderr
    assert "Teacher detained in Khorog" not in started.stdout, "the old veto hides it"
    assert user("run", "--once").stdout.strip() == "", "what the backfill sent is not sent again"
    assert not user.state.exists(), "the state is the database, not a file"

    user.keywords.write_text(NEW_RULES, encoding="utf-8")
    rematched = user("rematch", "--since", "2020-01-01").stdout
    assert "newly matched: 1 story" in rematched and "Teacher detained in Khorog" in rematched
    digest = user("run", "--once").stdout
    assert digest.count("/news/teacher") == 1 and "found on re-check" in digest and "Football" not in digest

    assert "story 1" in user("label", "1", "irrelevant", "--note", "football, not politics").stdout
    user("label", site.url("/news/teacher"), "relevant")
    scored = user("eval", "--labels").stdout
    all_row = next(line.split() for line in scored.splitlines() if line.startswith("ALL"))
    assert all_row[1:6] == ["2", "1", "0", "0", "1"], scored  # the fixed rules: the teacher caught, football not

    lines = [json.loads(line) for line in user("export", "--since", "2020-01-01").stdout.splitlines()]
    assert sorted(r["title"] for r in lines) == ["Football fans detained in Khorog", "Teacher detained in Khorog"]
    verified = user("verify", "--state").stdout
    assert "postgresql://postgres@" in verified and ": OK; checked" in verified, verified
    report = user("report", "--since", clock.now().strftime("%Y-%m-%d")).stdout
    assert "2 stor" in report and "Teacher detained in Khorog" in report, report

    import httpx

    from tests.support.webarchive import serving

    with serving(user.state, "--database-url", pg_url) as url:
        story = httpx.get(url + "/story/2", timeout=10)
        found = httpx.get(url + "/", params={"q": "teacher"}, timeout=10)
    assert story.status_code == 200 and "Teacher detained in Khorog" in story.text
    assert found.status_code == 200 and "Teacher detained in Khorog" in found.text
    assert "Football fans" not in found.text
