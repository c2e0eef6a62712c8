"""event_set_within: a wait with a time limit that never swallows a cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable

from asic_bridge.bridge.waits import event_set_within


async def test_set_in_time_or_not() -> None:
    event = asyncio.Event()
    assert await event_set_within(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await event_set_within(event, 5) is True


async def _old_pattern(event: asyncio.Event, seconds: float) -> bool:
    """What the bridge's loops did before (kept here to show the harness catches it)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
        return True
    return False


async def _lost_cancellations(wait: Callable[[asyncio.Event, float], Awaitable[bool]]) -> int:
    """Loops waiting for an event that is set every millisecond (as polls kick the fleet
    loop), cancelled at random moments: how many kept running.  A cancellation that lands
    as the event is set is the one ``wait_for`` (Python 3.11) returns from instead."""
    rng = random.Random(7)
    lost = 0
    for _ in range(300):
        event = asyncio.Event()

        async def loop(event: asyncio.Event = event) -> None:
            while True:
                await wait(event, 0.05)
                event.clear()

        async def kicker(event: asyncio.Event = event) -> None:
            while True:
                await asyncio.sleep(0.001)
                event.set()

        task, kicks = asyncio.create_task(loop()), asyncio.create_task(kicker())
        await asyncio.sleep(rng.uniform(0, 0.004))
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=0.2)
        if not done:
            lost += 1
        kicks.cancel()  # no more kicks: a further cancellation cannot be swallowed
        await asyncio.gather(kicks, return_exceptions=True)
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
        await asyncio.gather(task, return_exceptions=True)
    return lost


async def test_a_cancellation_always_ends_the_loop() -> None:
    assert await _lost_cancellations(event_set_within) == 0


async def test_the_harness_sees_the_old_pattern_lose_cancellations() -> None:
    assert await _lost_cancellations(_old_pattern) > 0
