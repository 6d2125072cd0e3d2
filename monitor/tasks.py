"""How a cycle runs its concurrent work: tasks that fail together (the first failure cancels the rest, so asyncio
prints no traceback of an orphaned task at exit), and the lazy imports of a cycle warmed in a thread."""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Awaitable
from typing import TypeVar

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
