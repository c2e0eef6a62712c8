"""The poller's policy: the tick grid, which fields a poll reads, what is carried over."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest
from bridge_fakes import adopted_sim

from asic_bridge.bridge import poller
from asic_bridge.bridge.events import MinerOffline, MinerOnline, PollSucceeded
from asic_bridge.bridge.poller import (
    FULL_POLL_EVERY,
    POLL_FIELDS,
    SLOW_FIELDS,
    FieldPolicy,
    Pollers,
    PollSlots,
    carry_slow_fields,
    free_slow_fields,
    nothing_read,
    on_tick,
)
from asic_bridge.data import MinerData
from asic_bridge.data.errors import MinerErrorData
from asic_bridge.drivers.antminer import AntminerModern
from asic_bridge.drivers.avalon import AvalonMiner


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.49, 0.5, 3.21, 9.87])
def test_poll_delays_end_on_the_tick_grid(delay: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """Polls start on a shared grid (fewer event-loop wake-ups), never earlier than asked."""
    monkeypatch.setattr(poller.time, "monotonic", lambda: 1000.123)
    stretched = on_tick(delay, 0.5)
    assert delay <= stretched < delay + 0.5 + 1e-9
    end = 1000.123 + stretched
    assert math.isclose(end / 0.5, round(end / 0.5), abs_tol=1e-6)
    assert on_tick(delay, 0) == delay


def test_slow_fields_come_free_only_from_sources_a_poll_fetches() -> None:
    for miner_type in (AntminerModern, AvalonMiner):
        specs = miner_type.FIELDS
        polled = {
            s for f in POLL_FIELDS if f in specs and not specs[f].static for s in specs[f].sources
        }
        free = free_slow_fields(miner_type)
        assert "config" not in free
        for name in SLOW_FIELDS:
            if name in specs and name != "config":
                assert (name in free) == set(specs[name].sources).issubset(polled)
    # the Antminer's error list and mining state are web pages no fast field needs
    assert free_slow_fields(AntminerModern) == ()
    # the Avalon's come in the same RPC batch as the hash rate
    assert {"errors", "is_mining"} <= set(free_slow_fields(AvalonMiner))


def test_slow_fields_not_read_are_carried_over_with_their_errors() -> None:
    readings: dict[str, tuple[Any, str | None]] = {}
    first = MinerData("10.0.0.1")
    first.errors = [MinerErrorData(error_code=7, error_message="fan")]
    first.is_mining = True
    first.field_errors["fault_light"] = "timeout"
    carry_slow_fields(readings, first, read=["errors", "is_mining", "fault_light"])
    second = MinerData("10.0.0.1")
    carry_slow_fields(readings, second, read=["hashrate"])
    assert [e.error_code for e in second.errors] == [7]
    assert second.is_mining is True
    assert second.field_errors == {"fault_light": "timeout"}
    third = MinerData("10.0.0.1")
    third.is_mining = False
    carry_slow_fields(readings, third, read=["is_mining"])  # a fresh reading wins
    assert third.is_mining is False and readings["is_mining"] == (False, None)


def test_a_poll_with_only_errors_is_no_answer() -> None:
    """A miner whose every core reading failed did not answer (it counts towards offline)."""
    data = MinerData("10.0.0.1")
    data.hashrate = 10.0
    data.field_errors["hashrate"] = "timeout"
    assert nothing_read(data)
    data.field_errors.clear()
    assert not nothing_read(data)
    empty = MinerData("10.0.0.1")
    empty.pools = []
    assert nothing_read(empty)


async def test_a_poller_reports_online_offline_and_back(tmp_path: Path) -> None:
    """Events, not MQTT: the first answer is MinerOnline, offline_after missed polls are
    MinerOffline (and the driver is dropped, to identify again), the next answer is back."""
    async with adopted_sim(tmp_path) as (adoption, bus, device, sim):
        heard: list[str] = []

        async def record(event: Any) -> None:
            heard.append(
                type(event).__name__ + (f":{event.back}" if hasattr(event, "back") else "")
            )

        for kind in (PollSucceeded, MinerOnline, MinerOffline):
            bus.on(kind, record)
        pollers = Pollers(bus, adoption.connect, 60, offline_after=2, concurrency=4)
        poller = pollers.get(device)
        assert await poller.poll()
        assert heard == ["PollSucceeded", "MinerOnline:False"]
        assert pollers.online(device.id)
        heard.clear()
        await sim.stop()
        assert not await poller.poll()
        assert heard == [] and device.miner is not None  # one miss is not offline yet
        assert not await poller.poll()
        assert heard == ["MinerOffline"] and device.miner is None
        assert not pollers.online(device.id)
        assert not await poller.poll()
        assert heard == ["MinerOffline"]  # said once
        await sim.start()
        assert await poller.poll()
        assert heard[-2:] == ["PollSucceeded", "MinerOnline:True"]
        # right after a command, silence is the miner applying it: not counted
        heard.clear()
        poller.request(full=True)
        poller.settle(60)
        assert poller.policy.full_poll_due and poller.poll_now.is_set()
        await sim.stop()
        for _ in range(3):
            assert not await poller.poll()
        assert heard == [] and poller.online is True


def test_full_polls_every_few_and_after_a_request() -> None:
    from asic_bridge.drivers.avalon import AvalonMiner

    policy = FieldPolicy()
    miner = AvalonMiner("10.0.0.1")
    fulls = ["config" in policy.fields(miner, modes=True) for _ in range(2 * FULL_POLL_EVERY)]
    assert fulls == ([True] + [False] * (FULL_POLL_EVERY - 1)) * 2
    policy.full_poll_due = True  # a command ran: read what it may have changed
    assert "config" in policy.fields(miner, modes=True)
    assert "config" not in policy.fields(miner, modes=True)
    policy.full_poll_due = True
    assert "config" not in policy.fields(miner, modes=False)  # no modes: no config to read


def test_the_policy_carries_as_the_plain_carry_does() -> None:
    """FieldPolicy.carry knows which slow fields its own field sets hold; over a cycle of
    full and normal polls it leaves every reading as carry_slow_fields does."""
    miner = AvalonMiner("10.0.0.1")
    policy = FieldPolicy()
    plain: dict[str, tuple[Any, str | None]] = {}
    for n in range(2 * FULL_POLL_EVERY + 1):
        fields = policy.fields(miner, modes=True)
        ours, theirs = MinerData("10.0.0.1"), MinerData("10.0.0.1")
        for data in (ours, theirs):
            data.is_mining = n % 2 == 0 if "is_mining" in fields else None
            data.wattage_limit = 3000 + n if "wattage_limit" in fields else None
            if "fault_light" in fields and n % 3 == 0:
                data.field_errors["fault_light"] = "timeout"
        policy.carry(ours, fields)
        carry_slow_fields(plain, theirs, list(fields))
        assert ours.model_dump(exclude={"datetime"}) == theirs.model_dump(exclude={"datetime"})
        assert ours.model_fields_set == theirs.model_fields_set
        assert ours.field_errors == theirs.field_errors
    assert policy.slow_readings == plain


async def _slot_story(slots: asyncio.Semaphore) -> list[str]:
    """Five holders through two slots, one waiter cancelled while queued."""
    story: list[str] = []

    async def hold(name: str, release: asyncio.Event) -> None:
        async with slots:
            story.append(f"in {name}")
            await release.wait()
        story.append(f"out {name}")

    gates = {name: asyncio.Event() for name in "abcde"}
    tasks = {name: asyncio.create_task(hold(name, gate)) for name, gate in gates.items()}
    for _ in range(3):
        await asyncio.sleep(0)
    tasks["c"].cancel()  # queued behind a and b: never gets in
    for name in "abde":
        gates[name].set()
        for _ in range(3):
            await asyncio.sleep(0)
    await asyncio.gather(*tasks.values(), return_exceptions=True)
    story.append(f"free {slots._value} locked {slots.locked()}")
    return story


async def test_poll_slots_behave_as_asyncio_semaphore() -> None:
    """The fast way in changes nothing: same order in and out, cancelled waiters skipped."""
    ours, theirs = await _slot_story(PollSlots(2)), await _slot_story(asyncio.Semaphore(2))
    assert ours == theirs
    assert ours[:2] == ["in a", "in b"] and "in c" not in ours
