"""How a cycle runs its concurrent work: tasks that fail together (the first failure cancels the rest, so asyncio
prints no traceback of an orphaned task at exit), the lazy imports of a cycle warmed in a thread, and a run that
Ctrl-C and SIGTERM stop alike, a send in flight given its grace (`run_stoppable`)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Awaitable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


# What a cycle's steps import lazily, at their first use (URL keys, near-duplicate signatures, WARC records):
# ~0.3 s on the event loop in the middle of the first cycle. A thread imports them while the first requests
# are in flight instead, once per process; a cycle that never builds a Monitor (the quiet one) never does.
_WARM_IMPORTS = ("feedparser", "courlan", "monitor.stories.neardup", "warcio.warcwriter", "warcio.statusandheaders")



_warmed = threading.Event()



def warm_imports() -> None:
    if _warmed.is_set():
        return
    _warmed.set()

    def run() -> None:
        for name in _WARM_IMPORTS:
            try:
                importlib.import_module(name)
            except Exception:  # the step that needs it imports it again and reports the error there
                pass

    threading.Thread(target=run, name="import-warm-up", daemon=True).start()



async def gather_or_cancel(*aws: Awaitable[T]) -> list[T]:
    """asyncio.gather, except that the first failure cancels the rest and waits for them, so no task is left
    running with an error nobody retrieves (asyncio prints those as tracebacks at exit); raises that error."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


_GRACES: list[float] = []  # when each send finishing while the run stops is given up (time.monotonic())


@contextlib.contextmanager
def grace(deadline: float) -> Iterator[None]:
    """A send in flight is finishing while the run stops, until `deadline`: a further signal is told so."""
    _GRACES.append(deadline)
    try:
        yield
    finally:
        _GRACES.remove(deadline)


def run_stoppable(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, where SIGINT (Ctrl-C) and SIGTERM (`systemctl stop`) stop the run alike: the first cancels it
    (a send in flight gets its grace, delivery/outbox.py); a second one while a send finishes only says what is
    still awaited, since abandoning that send could deliver it twice; any other ends the process at once (a run
    stuck elsewhere must not outlast its user's patience). Raises KeyboardInterrupt when a signal stopped the run.
    A signal the run was started with ignored (a background job's SIGINT) stays ignored."""
    signals: list[int] = []

    async def guarded() -> T:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()

        def stop(sig: int) -> None:
            signals.append(sig)
            if len(signals) == 1 and task is not None:
                task.cancel()
            elif len(signals) == 2 and _GRACES:
                _say_stopping()
            else:
                logging.getLogger("monitor").warning("stopping at once")
                loop.remove_signal_handler(sig)
                signal.signal(sig, signal.SIG_DFL)
                os.kill(os.getpid(), sig)

        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) is not signal.SIG_IGN:
                loop.add_signal_handler(sig, stop, sig)
        return await main

    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        if signals:
            raise KeyboardInterrupt from None
        raise


def _say_stopping() -> None:
    left = max(0.0, max(_GRACES) - time.monotonic())
    logging.getLogger("monitor").warning("already stopping: finishing the message in flight (%d s at most), so it "
                                         "is not sent twice; once more stops at once", math.ceil(left))
