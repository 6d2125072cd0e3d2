"""Shared fixtures: a local web site on loopback, the project's paths, and a way to run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support import clock as suite_clock
from tests.support.localsite import LocalSite

suite_clock.pin(suite_clock.DEFAULT)  # before any test module computes a "now" of its own
# A Chromium per capture costs seconds: the suite renders screenshots only where a test asks for them ("1").
os.environ.setdefault(suite_clock.SCREENSHOTS, "0")

PROJECT = Path(__file__).resolve().parent.parent
SHARED_CORPUS = PROJECT.parent / "shared" / "corpus"


@pytest.fixture
def site():
    with LocalSite() as s:
        yield s


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """A fresh state, closed after the test: a SQLite file on disk, then the same test on a fresh PostgreSQL
    database (the WARC folder still beside tmp_path/monitor.db)."""
    from monitor.store import Store

    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    s = Store(tmp_path / "monitor.db", database_url=url)
    yield s
    s.close()


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL cluster for this test session (one per xdist worker), on loopback.

    Without the server binaries or psycopg the tests that need it skip; in CI (CI=true) they fail instead,
    so a CI image that lost PostgreSQL cannot pass by skipping."""
    from tests.support.postgres import Cluster, server_bin

    bindir = server_bin()
    missing = "PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb)" if bindir is None else None
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing = "psycopg (pip install '.[postgresql]')"
    if missing:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"CI needs {missing} for the PostgreSQL tests")
        pytest.skip(f"{missing} not installed")
    cluster = Cluster(bindir)
    from monitor.store import Store

    Store(cluster.root / "template.db", database_url=cluster.url(cluster.template)).close()  # copied with its schema
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster):
    """A fresh, empty PostgreSQL database for one test, as a postgresql:// URL; dropped afterwards."""
    url = pg_cluster.new_database()
    yield url
    pg_cluster.drop(url)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No delivery channel from the developer's shell leaks into a test; the digest goes to stdout."""
    for key in list(os.environ):
        if key.startswith("MONITOR_") and key not in ("MONITOR_NOW", suite_clock.SCREENSHOTS):
            monkeypatch.delenv(key, raising=False)
    return tmp_path


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120, prefix: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """Run `python -m monitor ...` as a user would, with this checkout on the path (`prefix`: a command it runs
    under, such as setpriv)."""
    full_env = suite_clock.child_env({"PYTHONPATH": str(PROJECT)})
    full_env.update(env or {})
    return subprocess.run([*prefix, sys.executable, "-m", "monitor", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or PROJECT, timeout=timeout)


@pytest.fixture
def moment(request):
    """Run the test with the clock at `request.param` (one of tests/support/clock.py's MOMENTS), then put the
    suite's clock back: `@pytest.mark.parametrize("moment", MOMENTS.values(), ids=MOMENTS, indirect=True)`."""
    saved = os.environ[suite_clock.clock.ENV]
    suite_clock.pin(request.param)
    yield request.param
    suite_clock.restore(saved)


@pytest.fixture(autouse=True)
def _logging_as_found():
    """A test that runs the CLI in-process runs setup_logging(), which sets levels on httpx and the like:
    put every logger back afterwards, so a later test's caplog still sees what it looks for."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: lg.level for name, lg in logging.root.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    yield
    root.handlers[:], root.level = handlers, level
    for name, lg in logging.root.manager.loggerDict.items():
        if isinstance(lg, logging.Logger):
            lg.setLevel(levels.get(name, logging.NOTSET))


def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto`: one worker more than cores. About a third of the suite's wall time is spent waiting on the
    monitor's subprocesses, servers and browsers, not computing (2 cores: 4 min 17 s with 3 workers against
    4 min 56 s with 2, every test passing both ways)."""
    return (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1) + 1
