"""A number typed on the command line that cannot be one (a port past 65535, a story id past what the state
holds) is one usage line and exit 2, never a traceback; `serve --port 0` takes a free port and says which."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from monitor.store import Store
from tests.conftest import PROJECT, run_cli


@pytest.mark.parametrize("port", ["99999", "-1", "65536", "http", "８０８０"])
def test_a_port_that_cannot_be_one_is_a_usage_error_in_one_line(tmp_path, port):
    result = run_cli("serve", "--port", port, "--state", str(tmp_path / "monitor.db"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (f"monitor serve: error: argument --port: expected a port from 1 "
                                                      f"to 65535 (0: any free port), got {port!r}")


@pytest.mark.parametrize("command", [("show", "99999999999999999999"), ("show", "0"),
                                     ("label", "99999999999999999999", "relevant")])
def test_a_story_id_past_what_the_state_holds_is_one_line(tmp_path, command):
    Store(tmp_path / "monitor.db").close()
    result = run_cli(*command, "--state", str(tmp_path / "monitor.db"))
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]  # argparse's usage comes first
    assert "error: " in last and "story" in last and result.stderr.count("error") == 1, result.stderr


def test_serve_on_port_0_says_the_port_it_got(tmp_path):
    state = tmp_path / "monitor.db"
    Store(state).close()
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "serve", "--port", "0", "--state", str(state),
                             "--keywords", str(PROJECT / "keywords.yaml"), "--feeds", str(PROJECT / "feeds.yaml")],
                            cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={"PYTHONPATH": str(PROJECT), "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    try:
        line = ""  # the serving line, after any warning the start prints; a start that hangs fails, not the suite
        timer = threading.Timer(30, proc.kill)
        timer.start()
        try:
            while " on http://" not in line and (read := proc.stderr.readline()):
                line = read
        finally:
            timer.cancel()
        assert " on http://127.0.0.1:" in line and ":0/" not in line, line
        url = line.split(" on ", 1)[1].split()[0]
        deadline = time.monotonic() + 30  # the line comes as the port is taken, a moment before it answers
        while True:
            try:
                assert httpx.get(url + "feeds", timeout=10).status_code == 200
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
