"""get_miner() on every simulator kind: the right family, make, model and firmware.

Runs over whatever kinds exist, so every new family is checked against all the others'
identification rules (look-alikes included) the moment it lands.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from asic_bridge import factory, get_miner, settings
from asic_bridge.drivers.base import UnknownMiner
from asic_bridge.sim import list_kinds, start_fleet, stop_fleet
from asic_bridge.sim.base import SimMiner

KINDS = [k[0] for k in list_kinds()]


def address_for(index: int) -> str:
    return f"127.30.{index // 200}.{index % 200 + 1}"


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    factory.cache.clear()


@pytest.fixture
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[SimMiner]:
    kind = request.param
    sims = await start_fleet([f"{kind}@{address_for(KINDS.index(kind))}"])
    yield sims[0]
    await stop_fleet(sims)


@pytest.mark.parametrize("sim", KINDS, indirect=True)
async def test_identifies_every_kind(sim: SimMiner) -> None:
    settings.update("factory_get_timeout", 2)
    miner = await get_miner(sim.address, ports=_overrides(sim))
    assert miner is not None, f"{sim.kind}: nothing identified"
    assert not isinstance(miner, UnknownMiner), f"{sim.kind}: {miner.identity.extra}"
    assert miner.identity.make == sim.make, sim.kind
    assert miner.model == sim.model, sim.kind
    assert miner.identity.firmware == sim.firmware, sim.kind
    await miner.aclose()


def _overrides(sim: SimMiner) -> dict[str, int] | None:
    changed = {k: v for k, v in sim.ports.items() if v != type(sim).default_ports.get(k)}
    return changed or None


async def test_identification_is_cached_without_network() -> None:
    kind = "cgminer"
    sims = await start_fleet([f"{kind}@127.30.250.1"])
    try:
        first = await get_miner("127.30.250.1")
        assert first is not None
        sims[0].reset_counters()
        second = await get_miner("127.30.250.1")
        assert second is first
        assert sum(c.connections for c in sims[0].counters.values()) == 0
        factory.forget("127.30.250.1")
        third = await get_miner("127.30.250.1")
        assert third is not None and third is not first
        assert sum(c.connections for c in sims[0].counters.values()) > 0
    finally:
        await stop_fleet(sims)


async def test_nothing_answers_gives_none() -> None:
    assert await get_miner("127.30.251.1") is None


async def test_something_unknown_gives_unknown_miner() -> None:
    import asyncio

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        body = b"<html><title>Printer</title></html>"
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.30.252.1", 80)
    try:
        miner = await get_miner("127.30.252.1")
        assert isinstance(miner, UnknownMiner)
        assert miner.identity.extra["evidence"]["http_status"] == 200
        assert miner.identity.extra["evidence"]["http_title"] == "Printer"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_silent_host_costs_the_ping_timeout_not_the_identification_deadline() -> None:
    """A host that drops connection attempts (absent on a LAN, firewalled) is given up after
    network_ping_timeout on every probe, however long identification may take."""
    import contextlib
    import socket
    import time

    ip = "127.30.252.1"
    ports: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        for name in ("rpc", "http", "whatsminer_v3"):
            server = stack.enter_context(socket.socket())
            server.bind((ip, 0))
            server.listen(0)  # never accepted: once one connection waits, SYNs are dropped
            stack.enter_context(socket.create_connection(server.getsockname()))
            ports[name] = server.getsockname()[1]
        settings.update("network_ping_timeout", 0.3)
        settings.update("factory_get_timeout", 30.0)
        started = time.monotonic()
        assert await get_miner(ip, ports=ports) is None
        elapsed = time.monotonic() - started
    assert elapsed < 10, f"gave up after {elapsed:.1f} s, not after the 0.3 s ping timeout"


async def _answers_web_with(reply: bytes, ip: str) -> object:
    """get_miner on a host whose only open port answers every request with ``reply``."""
    import asyncio

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, ip, 80)
    try:
        settings.update("factory_get_retries", 1)
        return await get_miner(ip, use_cache=False)
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "reply",
    [
        b"",  # closes without answering
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n",  # closes inside the header
        b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 70_000 + b"\r\n\r\n",  # a header past the cap
        b"SSH-2.0-dropbear\r\n\r\n",  # not HTTP at all
    ],
    ids=["closed", "cut-header", "huge-header", "not-http"],
)
async def test_a_broken_web_answer_is_no_evidence_not_an_exception(reply: bytes) -> None:
    """A web port that closes early or sends garbage identifies nothing: get_miner gives
    None (no other probe answered) instead of raising the stream's exception."""
    assert await _answers_web_with(reply, "127.30.253.1") is None
