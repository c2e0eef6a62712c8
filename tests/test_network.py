"""MinerNetwork: address parsing, scanning real simulated miners, and a bound that holds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from asic_bridge import MinerNetwork, factory, settings
from asic_bridge.network import Host
from asic_bridge.sim import start_fleet, stop_fleet


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    factory.cache.clear()


def test_from_subnet() -> None:
    net = MinerNetwork.from_subnet("10.0.0.5/24")
    hosts = list(net)
    assert len(net) == 254 == len(hosts)
    assert hosts[0] == "10.0.0.1" and hosts[-1] == "10.0.0.254"
    assert len(MinerNetwork.from_subnet("10.0.0.0/16")) == 65534


def test_from_address_octet_ranges() -> None:
    net = MinerNetwork.from_address("10.1-2.1.1-50")
    hosts = list(net)
    assert len(net) == 100 == len(hosts)
    assert hosts[0] == "10.1.1.1" and hosts[49] == "10.1.1.50" and hosts[50] == "10.2.1.1"
    assert list(MinerNetwork.from_address("10.0.0.7")) == ["10.0.0.7"]


def test_from_list_dedupes_and_sorts() -> None:
    net = MinerNetwork.from_list(["10.0.0.9", "10.0.0.1-3", "10.0.0.2", "10.0.0.8/31"])
    assert list(net) == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.8", "10.0.0.9"]


def test_from_hosts_with_ports() -> None:
    net = MinerNetwork.from_hosts(["10.0.0.1", ("10.0.0.2", {"http": 8081})])
    hosts = list(net.hosts())
    assert hosts[1] == Host("10.0.0.2", {"http": 8081})


@pytest.mark.parametrize(
    "bad", ["10.0.0.0/33", "10.0.0", "10.0.0.1-300", "10.0.0.9-3", "a.b.c.d", "fe80::/64"]
)
def test_bad_targets_are_clear_errors(bad: str) -> None:
    with pytest.raises(ValueError, match=r"bad (subnet|address range)"):
        MinerNetwork.from_address(bad)


async def test_scan_finds_simulated_miners_and_reports_progress() -> None:
    specs = ["cgminer@127.31.0.2", "avalon_1246@127.31.0.5", "avalon_1566@127.31.0.9"]
    sims = await start_fleet(specs)
    calls: list[tuple[int, int, int]] = []
    try:
        net = MinerNetwork.from_subnet("127.31.0.0/28")
        miners = await net.scan(progress=lambda d, t, f: calls.append((d, t, f)))
        assert [m.ip for m in miners] == ["127.31.0.2", "127.31.0.5", "127.31.0.9"]
        assert [m.identity.make for m in miners] == ["AntMiner", "AvalonMiner", "AvalonMiner"]
        assert len(calls) == 14 and calls[-1] == (14, 14, 3)
        found = [m.ip async for m in MinerNetwork.from_subnet("127.31.0.0/28")]
        assert sorted(found) == ["127.31.0.2", "127.31.0.5", "127.31.0.9"]
    finally:
        await stop_fleet(sims)


class HoldingListener:
    """Port 4028 on many addresses; holds every connection open and records concurrency."""

    def __init__(self) -> None:
        self.open_hosts: dict[str, int] = {}
        self.max_hosts = 0
        self.servers: list[asyncio.Server] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = writer.get_extra_info("sockname")[0]
        self.open_hosts[host] = self.open_hosts.get(host, 0) + 1
        self.max_hosts = max(self.max_hosts, len(self.open_hosts))
        try:
            await asyncio.sleep(0.3)
        finally:
            self.open_hosts[host] -= 1
            if not self.open_hosts[host]:
                del self.open_hosts[host]
            writer.close()

    async def start(self, addresses: list[str]) -> None:
        for address in addresses:
            self.servers.append(await asyncio.start_server(self.handle, address, 4028))

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for server in self.servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()


@pytest.fixture
async def holding() -> AsyncIterator[HoldingListener]:
    listener = HoldingListener()
    await listener.start([f"127.31.1.{i}" for i in range(1, 41)])
    yield listener
    await listener.stop()


async def test_concurrency_bound_really_holds(holding: HoldingListener) -> None:
    settings.update("network_scan_threads", 5)
    settings.update("factory_get_timeout", 1)
    net = MinerNetwork.from_address("127.31.1.1-40")
    miners = await net.scan()
    assert miners == []  # they answer nothing useful
    assert holding.max_hosts == 5  # never more hosts probed at once than the bound


async def test_large_network_is_generated_lazily() -> None:
    settings.update("network_scan_threads", 20)
    net = MinerNetwork.from_subnet("127.32.0.0/16")  # 65534 refusing addresses
    max_tasks = 0
    enough = asyncio.Event()

    def progress(done: int, total: int, found: int) -> None:
        nonlocal max_tasks
        max_tasks = max(max_tasks, len(asyncio.all_tasks()))
        if done >= 200:
            enough.set()

    async def scan_a_little() -> None:
        async for _ in net.scan_iter(progress=progress):
            pass

    task = asyncio.create_task(scan_a_little())
    await asyncio.wait_for(enough.wait(), 30)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert len(net) == 65534
    assert max_tasks < 20 * 6 + 10  # workers and their probes, never one task per address
