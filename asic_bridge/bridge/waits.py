"""Waiting for an event with a time limit, without losing a cancellation."""

from __future__ import annotations

import asyncio


async def event_set_within(event: asyncio.Event, seconds: float) -> bool:
    """True if ``event`` is set within ``seconds``, False when the time ran out.

    ``asyncio.timeout`` rather than ``wait_for`` inside ``suppress(TimeoutError)``: on Python
    3.11 a cancellation that arrives as ``wait_for``'s own timeout fires can come out as a
    TimeoutError, which the suppress then swallows, so a loop around it never ends (the fleet
    loop did that and held up ``Bridge.shutdown``).  ``asyncio.timeout`` re-raises a
    cancellation that was not its own.
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
