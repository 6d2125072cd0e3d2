"""`tasks.run_stoppable`: SIGINT and SIGTERM stop a run alike (`run --once`, `flush`, `backfill`), and a second
signal while a send finishes in its grace neither cuts that send short nor raises anywhere but at the end."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

import pytest

from monitor.tasks import grace, run_stoppable


async def _until_cancelled(seen: list[str]) -> None:
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        seen.append("cancelled")
        raise


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_either_signal_cancels_the_run_and_ends_it_as_an_interruption(sig):
    if signal.getsignal(sig) is signal.SIG_IGN:
        pytest.skip("the suite was started with this signal ignored")
    seen: list[str] = []

    async def main() -> None:
        asyncio.get_running_loop().call_later(0.1, os.kill, os.getpid(), sig)
        await _until_cancelled(seen)

    with pytest.raises(KeyboardInterrupt):
        run_stoppable(main())
    assert seen == ["cancelled"]


def test_a_second_signal_during_the_grace_lets_the_send_finish_and_says_so(caplog):
    finished: list[bool] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, os.kill, os.getpid(), signal.SIGTERM)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            with grace(time.monotonic() + 5):
                loop.call_later(0.1, os.kill, os.getpid(), signal.SIGTERM)  # `systemctl stop` again, impatient
                await asyncio.sleep(0.4)  # the send in flight: not cancelled a second time
                finished.append(True)
            raise

    with caplog.at_level(logging.WARNING, logger="monitor"), pytest.raises(KeyboardInterrupt):
        run_stoppable(main())
    assert finished == [True]
    lines = [r.getMessage() for r in caplog.records if "already stopping" in r.getMessage()]
    assert len(lines) == 1 and "message in flight (5 s at most)" in lines[0], lines


def test_a_signal_the_run_was_started_with_ignored_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job of a non-interactive shell
    try:
        async def main() -> str:
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.sleep(0.2)
            return "done"

        assert run_stoppable(main()) == "done"
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_second_signal_with_no_send_in_flight_stops_a_stuck_run_at_once(tmp_path):
    # the first Ctrl-C cancels the run, but a thread it waits for goes on (a slow disk, a hung library):
    # the second must end the process then, not ask the user to wait
    import subprocess
    import sys

    from tests.conftest import PROJECT
    from tests.support.terminal import foreground

    child = (
        "import asyncio, time\n"
        "from monitor.tasks import run_stoppable\n"
        "async def main():\n"
        "    print('ready', flush=True)\n"
        "    await asyncio.to_thread(time.sleep, 20)\n"
        "run_stoppable(main())\n")
    proc = subprocess.Popen([sys.executable, "-c", child], cwd=PROJECT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={"PYTHONPATH": str(PROJECT)}, preexec_fn=foreground)
    try:
        assert proc.stdout.readline() == "ready\n"
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert time.monotonic() - started < 5, "the second Ctrl-C did not stop the run"
    assert proc.returncode == -signal.SIGINT and "stopping at once" in err and "Traceback" not in err, err
