"""Who is read next when every worker is busy: pages the feed says are about GBAO go first."""

from __future__ import annotations

import asyncio

from monitor.extract.text import _Turns


async def _reader(turns: _Turns, name: str, first: bool, order: list[str], held: asyncio.Event | None = None):
    async with turns.take(first):
        order.append(name)
        if held is not None:
            await held.wait()


def test_a_page_about_khorog_is_read_before_the_weather_pages_already_waiting():
    async def scenario() -> list[str]:
        turns, order, busy = _Turns(1), [], asyncio.Event()
        worker = asyncio.create_task(_reader(turns, "busy", False, order, busy))
        await asyncio.sleep(0)
        waiting = [asyncio.create_task(_reader(turns, name, first, order))
                   for name, first in (("weather 1", False), ("weather 2", False), ("khorog", True),
                                       ("weather 3", False), ("rushan", True))]
        await asyncio.sleep(0)
        busy.set()
        await asyncio.gather(worker, *waiting)
        return order

    assert asyncio.run(scenario()) == ["busy", "khorog", "rushan", "weather 1", "weather 2", "weather 3"]


def test_a_cancelled_page_gives_its_turn_to_the_next_and_no_turn_is_lost():
    async def scenario() -> tuple[list[str], int]:
        turns, order, busy = _Turns(2), [], asyncio.Event()
        holders = [asyncio.create_task(_reader(turns, f"busy {n}", False, order, busy)) for n in (1, 2)]
        await asyncio.sleep(0)
        gone = asyncio.create_task(_reader(turns, "cancelled", True, order))
        later = asyncio.create_task(_reader(turns, "later", False, order))
        await asyncio.sleep(0)
        gone.cancel()
        busy.set()
        await asyncio.gather(*holders, later)
        assert gone.cancelled()
        # every turn came back: two pages can be read at once again, without waiting
        both = [asyncio.create_task(_reader(turns, f"again {n}", False, order)) for n in (1, 2)]
        await asyncio.wait_for(asyncio.gather(*both), 1)
        return order, turns._free

    order, free = asyncio.run(scenario())
    assert "cancelled" not in order and order[2] == "later"
    assert free == 2
