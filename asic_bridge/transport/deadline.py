"""``Deadline(delay)``: ``asyncio.timeout`` for the hot path, at a third of its cost.

Every poll runs several deadlines (the poller's, the engine's, one per RPC or HTTP
request); ``asyncio.timeout`` costs ~6.5 us of CPU each on uvloop (a Timeout object, the
pure-Python ``current_task`` and ``reschedule``), this one ~2.4 us.  The semantics are
``asyncio.timeout``'s (Python 3.11): when it runs out the task is cancelled, and the
cancellation leaves the block as ``TimeoutError`` unless someone else cancelled the task
too; ``expired()`` and ``reschedule()`` as there.

It is also a plain (synchronous) context manager, ``with Deadline(...)`` inside a
coroutine: entering and leaving it awaits nothing, so the hot paths skip the two coroutine
objects ``async with`` makes.  ``extend(when)`` moves it later without a new timer now.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

__all__ = ["Deadline"]


class Deadline:
    """An async context manager that cancels its task ``delay`` seconds after entering it,
    or at loop time ``when`` (neither: never)."""

    __slots__ = (
        "_cancelling",
        "_delay",
        "_expired",
        "_handle",
        "_later",
        "_loop",
        "_task",
        "_when",
    )

    def __init__(self, delay: float | None = None, when: float | None = None) -> None:
        self._delay = delay
        self._when = when
        self._expired = False
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._task: asyncio.Task[object] | None = None
        self._later: float | None = None

    def __enter__(self) -> Deadline:
        loop = self._loop = asyncio.get_running_loop()
        task = self._task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("a deadline must be used inside a task")
        self._cancelling = task.cancelling()
        if self._delay is not None:
            self._handle = loop.call_later(self._delay, self._expire)
        elif self._when is not None:
            self._handle = loop.call_at(self._when, self._expire)
        return self

    async def __aenter__(self) -> Deadline:
        return self.__enter__()

    def _expire(self) -> None:
        assert self._task is not None
        later = self._later
        if later is not None:  # extended: run on to the later time
            self._later = None
            if later > self._loop.time():
                self._handle = self._loop.call_at(later, self._expire)
                return
        self._expired = True
        self._handle = None
        self._task.cancel()

    def expired(self) -> bool:
        return self._expired

    def extend(self, when: float) -> None:
        """Move the deadline later, to loop time ``when``, keeping the timer: when it fires
        it is set again for ``when`` (a request that ends before the first time, the
        usual case, never pays for a second timer).  Only inside the block, before it ran
        out, and never earlier than the current deadline."""
        self._later = when

    def reschedule(self, when: float | None) -> None:
        """Move the deadline (only inside the block, before it ran out)."""
        self._later = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if when is not None and not self._expired:
            self._handle = self._loop.call_at(when, self._expire)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(kind, exc, tb)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._expired:
            assert self._task is not None
            if self._task.uncancel() <= self._cancelling and kind is asyncio.CancelledError:
                raise TimeoutError from exc
        return None
