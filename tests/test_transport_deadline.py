"""transport/deadline.py keeps asyncio.timeout's semantics (it replaces it on the hot path)."""

from __future__ import annotations

import asyncio

import pytest

from asic_bridge.transport.deadline import Deadline


async def test_running_out_is_a_timeout_error_and_leaves_the_task_uncancelled() -> None:
    block = Deadline(0.01)
    with pytest.raises(TimeoutError):
        async with block:
            await asyncio.sleep(10)
    assert block.expired()
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # the task goes on normally


async def test_finishing_in_time_and_none_never_expire() -> None:
    for block in (Deadline(10), Deadline(None), Deadline(when=None)):
        async with block:
            await asyncio.sleep(0.001)
        assert not block.expired()


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    started = asyncio.Event()

    async def body() -> None:
        async with Deadline(10):
            started.set()
            await asyncio.sleep(10)

    task = asyncio.ensure_future(body())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_inner_deadline_does_not_end_the_outer_one() -> None:
    outer = Deadline(10)
    async with outer:
        with pytest.raises(TimeoutError):
            async with Deadline(0.01):
                await asyncio.sleep(10)
        await asyncio.sleep(0.001)
    assert not outer.expired()


async def test_reschedule_moves_the_deadline() -> None:
    loop = asyncio.get_running_loop()
    block = Deadline(when=loop.time() + 0.01)
    async with block:
        block.reschedule(loop.time() + 10)
        await asyncio.sleep(0.05)
    assert not block.expired()
    block = Deadline(when=loop.time() + 10)
    with pytest.raises(TimeoutError):
        async with block:
            block.reschedule(loop.time() + 0.01)
            await asyncio.sleep(10)


async def test_an_error_inside_passes_through() -> None:
    with pytest.raises(KeyError):
        async with Deadline(10):
            raise KeyError("x")


async def test_a_plain_with_is_the_same_deadline() -> None:
    block = Deadline(0.01)
    with pytest.raises(TimeoutError), block:
        await asyncio.sleep(10)
    assert block.expired()
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    with Deadline(10) as inner:
        await asyncio.sleep(0.001)
    assert not inner.expired()


async def test_extend_runs_on_past_the_first_time_to_the_later_one() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    block = Deadline(when=started + 0.02)
    with block:
        block.extend(started + 0.15)
        await asyncio.sleep(0.08)  # past the first time: still running
    assert not block.expired()
    block = Deadline(when=started + 0.02)
    with pytest.raises(TimeoutError), block:
        block.extend(loop.time() + 0.1)
        await asyncio.sleep(10)
    assert block.expired() and loop.time() - started >= 0.09
    block = Deadline(when=loop.time() + 0.01)
    with block:  # reschedule after extend: the rescheduled time alone counts
        block.extend(loop.time() + 0.02)
        block.reschedule(loop.time() + 10)
        await asyncio.sleep(0.05)
    assert not block.expired()
