"""The event bus: typed subscriptions, delivery in subscription order, isolation of failures."""

from __future__ import annotations

import logging

import pytest
from bridge_fakes import device

from asic_bridge.bridge.events import EventBus, MinerAdopted, MinerOffline, MinerOnline


async def test_handlers_hear_only_their_type_in_subscription_order() -> None:
    bus = EventBus()
    heard: list[str] = []

    async def first(event: MinerOnline) -> None:
        heard.append(f"first:{event.device.id}")

    async def second(event: MinerOnline) -> None:
        heard.append(f"second:{event.back}")

    async def offline(event: MinerOffline) -> None:
        heard.append("offline")

    bus.on(MinerOnline, first)
    bus.on(MinerOnline, second)
    bus.on(MinerOffline, offline)
    await bus.emit(MinerOnline(device("a"), back=True))
    assert heard == ["first:a", "second:True"]
    await bus.emit(MinerAdopted(device("b"), found=True))  # nobody listens: nothing happens
    assert heard == ["first:a", "second:True"]


async def test_a_failing_handler_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    heard: list[str] = []

    async def broken(event: MinerOnline) -> None:
        raise RuntimeError("boom")

    async def fine(event: MinerOnline) -> None:
        heard.append(event.device.id)

    bus.on(MinerOnline, broken)
    bus.on(MinerOnline, fine)
    with caplog.at_level(logging.ERROR, "asic_bridge.bridge"):
        await bus.emit(MinerOnline(device("a"), back=False))
    assert heard == ["a"]
    assert "MinerOnline handler" in caplog.text and "boom" in caplog.text
