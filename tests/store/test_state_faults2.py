"""State faults, second round: a state the monitor may not write, and a state from a newer version of the monitor.

Both must end in one clear line and exit 1, and the file must be byte for byte what it was: an older monitor
that "repaired" a newer state (or one that half-wrote a read-only one) would destroy the evidence archive.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from monitor import clock
from monitor.store import SCHEMA_VERSION, StateError, Store
from tests.conftest import PROJECT, run_cli
from tests.support.faultserver import feeds_yaml
from tests.support.localsite import LocalSite, Page, article_html, rss

STORY = ["Security forces detained a Pamiri human-rights defender in Khorog, GBAO, on Tuesday, his wife said.",
         "He had documented the detentions that followed the protests of May 2022 in Gorno-Badakhshan."]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def made_state(tmp_path_factory):
    """A real state after one run with one story, and the config that made it."""
    tmp = tmp_path_factory.mktemp("state2")
    with LocalSite() as site:
        site.add("/s/1", article_html("Pamiri rights defender detained in Khorog", STORY))
        site.add("/feed.xml", Page(rss("Feed", [{"title": "Pamiri rights defender detained in Khorog",
                                                 "path": "/s/1"}], base=site.base).encode(),
                                   content_type="application/rss+xml"))
        feeds = feeds_yaml(tmp / "feeds.yaml", [("Feed", site.url("/feed.xml"))],
                       settings="  timeout: 15\n")
        state = tmp / "state.db"
        done = run_cli("run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                       "--state", str(state))
        assert done.returncode == 0, done.stderr
        yield feeds, state


def _copy(made_state, folder: Path) -> tuple[Path, Path]:
    feeds, state = made_state
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "state.db"
    shutil.copy(state, copy)
    return feeds, copy


def _run(feeds: Path, state: Path, *cmd: str, prefix: list[str] = ()) -> subprocess.CompletedProcess:
    return run_cli(*cmd, "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"), "--state", str(state),
                   prefix=prefix)


def test_a_new_state_records_its_schema_version(tmp_path):
    Store(tmp_path / "s.db").close()
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    db.close()


@pytest.mark.parametrize("how", ["user_version", "meta schema_version"])
def test_a_state_from_a_newer_monitor_is_refused_clearly_and_never_touched(made_state, tmp_path, how):
    feeds, state = _copy(made_state, tmp_path / "newer")
    db = sqlite3.connect(state)
    if how == "user_version":
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    else:
        with db:
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 7),))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    before = _sha(state)
    commands = [("run", "--once"), ("status",)] if how == "user_version" else [("run", "--once")]
    for cmd in commands:
        result = _run(feeds, state, *cmd)
        assert result.returncode == 1, (cmd, result.returncode, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        assert "newer version of the monitor" in result.stderr and "left untouched" in result.stderr, result.stderr
        assert _sha(state) == before, f"{cmd} changed the newer state"
    with pytest.raises(StateError, match="newer version"):
        Store(state)
    assert _sha(state) == before


# root writes through file modes: its commands run without CAP_DAC_OVERRIDE (and friends) to feel them
_NO_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def _bound_by_file_modes() -> list[str]:
    """The command prefix under which file modes hold for this user: none, or setpriv's for root (skipped
    where setpriv cannot drop root's override)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None or subprocess.run([*_NO_OVERRIDE, "true"]).returncode != 0:
        pytest.skip("setpriv (util-linux, with CAP_SETPCAP) is needed to drop root's override of file modes")
    return _NO_OVERRIDE


@pytest.fixture(params=["chmod", "read-only mount"])
def read_only_state(made_state, tmp_path, request):
    """A copy of the state that the monitor may not write, and the command prefix to run it with: the file and
    its folder made read-only (what a user does to an archive copy), or a read-only tmpfs (write-protected
    media, as root). Skipped where it cannot be had."""
    feeds, state = made_state
    if request.param == "chmod":
        prefix = _bound_by_file_modes()
        feeds, copy = _copy(made_state, tmp_path / "ro")
        copy.chmod(0o444)
        copy.parent.chmod(0o555)
        yield feeds, copy, prefix
        copy.parent.chmod(0o755)
        return
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    mount = tmp_path / "ro"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command to make a read-only folder as root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        feeds, copy = _copy(made_state, mount)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True, capture_output=True)
        yield feeds, copy, []
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_read_only_state_refuses_a_run_clearly_and_every_reading_command_still_works(read_only_state):
    feeds, state, prefix = read_only_state
    before = _sha(state)
    result = _run(feeds, state, "run", "--once", prefix=prefix)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert str(state) in result.stderr and "writable" in result.stderr, result.stderr
    assert _sha(state) == before
    # an archive copy on write-protected media: everything that only reads it works
    for cmd, shows in [(("status",), "Feed"), (("export", "--since", "2020-01-01"), "Khorog"),
                       (("show", "1"), "Khorog"), (("report", "--since", clock.now().strftime("%Y-%m-%d")), "1 stor"),
                       (("labels",), "label")]:
        result = _run(feeds, state, *cmd, prefix=prefix)
        assert result.returncode == 0, (cmd, result.returncode, result.stdout, result.stderr)
        assert "readonly" not in result.stderr and "Traceback" not in result.stderr, (cmd, result.stderr)
        assert shows in result.stdout, (cmd, result.stdout)
    assert _sha(state) == before, "reading changed the archive copy"
    import httpx

    from tests.support.webarchive import serving

    with serving(state, "--read-only", prefix=prefix) as url:
        page = httpx.get(url + "/story/1", timeout=10)
        home = httpx.get(url + "/", timeout=10)
    assert page.status_code == 200 and "Khorog" in page.text, page.text[:500]
    assert home.status_code == 200
    assert _sha(state) == before


def test_a_read_only_copy_whose_latest_writes_are_in_its_wal_file_is_refused_not_shown_stale(made_state, tmp_path):
    """A copy taken while a monitor ran, `-wal` included, on write-protected media: SQLite could read the file
    only without its log, an older archive than the one copied. One line says so and how to read it."""
    prefix = _bound_by_file_modes()
    feeds, live = _copy(made_state, tmp_path / "live")
    writer = sqlite3.connect(live)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("UPDATE stories SET title = 'Retitled after the last checkpoint' WHERE id = 1")
    writer.commit()
    copy = tmp_path / "ro" / "state.db"
    copy.parent.mkdir()
    for suffix in ("", "-wal"):  # copied while the monitor still runs
        shutil.copy(f"{live}{suffix}", f"{copy}{suffix}")
    writer.close()
    assert Path(f"{copy}-wal").stat().st_size > 0
    for f in (copy, Path(f"{copy}-wal")):
        f.chmod(0o444)
    copy.parent.chmod(0o555)
    try:
        shown = _run(feeds, copy, "show", "1", prefix=prefix)
    finally:
        copy.parent.chmod(0o755)
    assert shown.returncode == 1 and "Traceback" not in shown.stderr, shown.stderr
    assert "write-ahead log" in shown.stderr and "copy the state with its -wal file" in shown.stderr, shown.stderr
    assert "Pamiri rights defender" not in shown.stdout, "never the state as it was before the log"
