"""BaseMiner's source fetching: the groups of one poll under one deadline (the first awaited
in place, a task for each other), and the field plans kept per selection."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from asic_bridge import settings
from asic_bridge.drivers.base import BaseMiner, FieldSpec, ParseContext
from asic_bridge.errors import APIError, MinerTimeoutError


def _first(ctx: ParseContext, payload: Any) -> Any:
    return payload["v"]


def _name(ctx: ParseContext, payload: Any) -> Any:
    return f"host-{payload['v']}"


def _pair(ctx: ParseContext, a: Any, b: Any) -> Any:
    return a["v"] + b["v"]


class GroupMiner(BaseMiner):
    """Sources in two groups answered by ``_fetch_group`` after ``delays[group]`` seconds
    (or ``failures[group]`` raised); what each group was asked and whether it was cancelled
    is recorded."""

    FIELDS: ClassVar[dict[str, FieldSpec]] = {
        "hashrate": FieldSpec(("rpc:summary",), _first),
        "uptime": FieldSpec(("rpc:summary",), _first),
        "wattage": FieldSpec(("rpc:power", "web:stats"), _pair),
        "fan_psu": FieldSpec(("web:stats",), _first),
        "hostname": FieldSpec(("web:info",), _name, static=True),
    }

    def __init__(self, timeout: float = 0.3) -> None:
        limits = dataclasses.replace(settings.limits(), request_timeout=timeout)
        super().__init__("127.0.0.9", limits=limits)
        self.delays: dict[str, float] = {}
        self.failures: dict[str, Exception] = {}
        self.missing: set[str] = set()
        self.asked: list[tuple[str, list[str]]] = []
        self.cancelled: list[str] = []

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        self.asked.append((group, names))
        try:
            await asyncio.sleep(self.delays.get(group, 0))
        except asyncio.CancelledError:
            self.cancelled.append(group)
            raise
        if group in self.failures:
            raise self.failures[group]
        return {n: {"v": len(n)} for n in names if n not in self.missing}


def test_every_group_answers_once_with_its_sorted_names() -> None:
    miner = GroupMiner()
    data = asyncio.run(miner.get_data())
    assert sorted(miner.asked) == [("rpc", ["power", "summary"]), ("web", ["info", "stats"])]
    assert (data.hashrate, data.uptime, data.wattage, data.fan_psu) == (7, 7, 10, 5)
    assert data.hostname == "host-4" and data.field_errors == {}
    assert miner.identity.hostname == "host-4"  # a static field read is learned
    assert miner.last_error_type is None


@pytest.mark.parametrize("slow", ["rpc", "web"])
def test_a_late_group_is_its_sources_timeout_and_the_other_keeps_its_payloads(slow: str) -> None:
    miner = GroupMiner(timeout=0.2)
    miner.delays[slow] = 5
    data, took = asyncio.run(_timed(miner.get_data()))
    assert took < 2
    assert miner.cancelled == [slow]
    assert miner.last_error_type is MinerTimeoutError
    late = {"rpc": ["hashrate", "uptime"], "web": ["fan_psu", "hostname"]}[slow]
    for name in late:
        assert data.field_errors[name] == f"127.0.0.9 '{slow}': no answer within 0.2 s"
    assert "wattage" in data.field_errors  # one of its sources is late
    kept = {"rpc": "fan_psu", "web": "hashrate"}[slow]
    assert getattr(data, kept) is not None and kept not in data.field_errors


def test_a_failed_group_fails_its_fields_alone() -> None:
    miner = GroupMiner()
    miner.failures["rpc"] = APIError("refused", ip="127.0.0.9", command="summary")
    data = asyncio.run(miner.get_data())
    assert set(data.field_errors) == {"hashrate", "uptime", "wattage"}
    assert data.field_errors["hashrate"] == "127.0.0.9 'summary': refused"
    assert data.fan_psu == 5
    assert miner.last_error_type is APIError


def test_a_missing_payload_is_that_sources_error() -> None:
    miner = GroupMiner()
    miner.missing.add("stats")
    data = asyncio.run(miner.get_data())
    assert data.field_errors["fan_psu"] == "127.0.0.9 'stats': no payload"
    assert data.hashrate == 7


@pytest.mark.parametrize("slow", ["rpc", "web"])
def test_cancelling_the_poll_cancels_every_group_and_propagates(slow: str) -> None:
    miner = GroupMiner(timeout=10)
    miner.delays = {"rpc": 5, "web": 5}
    miner.delays[{"rpc": "web", "web": "rpc"}[slow]] = 0  # one done, one still running

    async def poll() -> None:
        task = asyncio.ensure_future(miner.get_data())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)  # the cancelled group's task runs its cancellation
        assert miner.cancelled == [slow]  # not left running behind the poll

    asyncio.run(poll())


def test_one_group_times_out_in_place() -> None:
    miner = GroupMiner(timeout=0.2)
    miner.delays["rpc"] = 5
    data = asyncio.run(miner.get_data(include=["hashrate"]))
    assert miner.asked == [("rpc", ["summary"])] and miner.cancelled == ["rpc"]
    assert data.field_errors == {"hashrate": "127.0.0.9 'rpc': no answer within 0.2 s"}


def test_plans_follow_the_selection_and_what_the_identity_knows() -> None:
    miner = GroupMiner()
    asyncio.run(miner.get_data(include=["hashrate", "hostname"], exclude=["hashrate"]))
    assert miner.asked == [("web", ["info"])]
    assert miner.identity.hostname == "host-4"
    miner.identity.hostname = "rack-1"
    miner.asked.clear()
    data = asyncio.run(miner.get_data(include=("hashrate", "hostname")))
    assert miner.asked == [("rpc", ["summary"])] and data.hostname == "rack-1"
    miner.identity.hostname = None  # forgotten (a firmware upgrade): fetched again
    miner.asked.clear()
    data = asyncio.run(miner.get_data(include=iter(["hostname"])))
    assert miner.asked == [("web", ["info"])] and data.hostname == "host-4"
    with pytest.raises(ValueError, match="unknown MinerData field"):
        asyncio.run(miner.get_data(include=["nonsense"]))


def test_a_drivers_own_source_choice_runs_on_every_poll() -> None:
    class Sparing(GroupMiner):
        spare = False

        def _sources_for(self, fields: Mapping[str, FieldSpec]) -> set[str]:
            sources = super()._sources_for(fields)
            if self.spare:
                sources.discard("web:stats")
            return sources

    miner = Sparing()
    asyncio.run(miner.get_data(include=["hashrate", "fan_psu"]))
    assert sorted(miner.asked) == [("rpc", ["summary"]), ("web", ["stats"])]
    miner.spare = True
    miner.asked.clear()
    data = asyncio.run(miner.get_data(include=["hashrate", "fan_psu"]))
    assert miner.asked == [("rpc", ["summary"])] and data.fan_psu is None


def test_an_instance_table_gets_its_own_plan() -> None:
    miner = GroupMiner()
    asyncio.run(miner.get_data(include=["hashrate"]))
    miner.FIELDS = {"hashrate": FieldSpec(("web:stats",), _first)}
    miner.asked.clear()
    data = asyncio.run(miner.get_data(include=["hashrate"]))
    assert miner.asked == [("web", ["stats"])] and data.hashrate == 5


async def _timed(coro: Any) -> tuple[Any, float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await coro
    return result, loop.time() - started


def test_a_drivers_own_parse_field_is_used_for_every_field() -> None:
    class Marking(GroupMiner):
        def _parse_field(
            self, name: str, spec: FieldSpec, raw: Mapping[str, Any], ctx: ParseContext
        ) -> Any:
            value = super()._parse_field(name, spec, raw, ctx)
            return value * 100 if isinstance(value, int) else value

    data = asyncio.run(Marking().get_data(include=["hashrate", "wattage"]))
    assert (data.hashrate, data.wattage) == (700, 1000)


async def test_fetch_each_keeps_every_outcome_in_order_and_cancels_on_cancellation() -> None:
    cancelled: list[str] = []

    async def fetch(name: str) -> Any:
        try:
            await asyncio.sleep(10 if name.startswith("slow") else 0.01)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
        if name.startswith("bad"):
            raise APIError("refused", ip="127.0.0.9", command=name)
        return {"name": name}

    out = await BaseMiner._fetch_each(["b", "bad1", "a"], fetch)
    assert list(out) == ["b", "bad1", "a"] and out["a"] == {"name": "a"}
    assert isinstance(out["bad1"], APIError)
    out = await BaseMiner._fetch_each(["bad0"], fetch)
    assert isinstance(out["bad0"], APIError)
    for names in (["slow", "x", "slow2"], ["x", "slow"]):
        cancelled.clear()
        task = asyncio.ensure_future(BaseMiner._fetch_each(names, fetch))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        assert sorted(cancelled) == sorted(n for n in names if n.startswith("slow"))
