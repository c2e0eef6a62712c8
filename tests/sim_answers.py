"""Ask a running simulator kind what it answers, for the shape tests against real captures."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Iterable
from typing import Any

from reference.compare import BackgroundLoop, run_pyasic

from asic_bridge import factory, sim
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import BaseMiner
from asic_bridge.sim.base import SimMiner
from asic_bridge.transport.http import HTTPClient, digest_auth
from asic_bridge.transport.rpc import RPCClient

_hosts = itertools.count(1)


@contextlib.asynccontextmanager
async def serving(kind: str, *, dead_boards: Iterable[int] = ()) -> AsyncIterator[SimMiner]:
    """``kind`` (``name`` or ``name:version``) on a fresh 127.171.x address, exact figures."""
    n = next(_hosts)
    miner = sim.create(f"{kind}@127.171.{n // 250}.{n % 250 + 1}")
    miner.state.jitter = 0.0
    miner.state.dead_boards = set(dead_boards)
    await miner.start()
    try:
        yield miner
    finally:
        await miner.stop()


async def rpc_answer(miner: SimMiner, command: str) -> dict[str, Any]:
    """One RPC command as our client reads it (its repairs of firmware defects included)."""
    return await RPCClient(miner.address, miner.ports["rpc"]).send(command)


async def web_answer(miner: SimMiner, page: str, user: str = "root") -> Any:
    """``/cgi-bin/<page>.cgi`` behind the kind's digest auth, decoded."""
    password = getattr(miner, "web_password", "root")
    http = HTTPClient(miner.address, miner.ports["http"], auth=digest_auth(user, password))
    try:
        return (await http.get(f"/cgi-bin/{page}.cgi")).json()
    finally:
        await http.aclose()


async def our_reading(miner: SimMiner) -> tuple[BaseMiner, MinerData]:
    """Identify the simulator as a user would (no cache) and read it once with our driver."""
    ours = await factory.get_miner(miner.address, use_cache=False)
    assert isinstance(ours, BaseMiner), f"{miner.kind} not identified"
    try:
        return ours, await ours.get_data()
    finally:
        await ours.aclose()


@contextlib.asynccontextmanager
async def driven(kind: str) -> AsyncIterator[tuple[SimMiner, BaseMiner]]:
    """``kind`` served (as :func:`serving`) and identified by our factory, for control tests."""
    async with serving(kind) as miner:
        ours = await factory.get_miner(miner.address, use_cache=False)
        assert isinstance(ours, BaseMiner), f"{miner.kind} not identified"
        try:
            yield miner, ours
        finally:
            await ours.aclose()
            factory.forget(miner.address)


def pyasic_beside_ours(kind: str, address: str) -> tuple[dict[str, Any], MinerData]:
    """pyasic's reading (its own venv) and ours of one ``kind`` served on ``address``: for the
    kinds pyasic 0.79 has no class for, where the comparison asserts that difference."""
    runner = BackgroundLoop()
    sims = runner.run(sim.start_fleet([f"{kind}@{address}"]))
    try:
        sims[0].state.jitter = 0.0
        theirs = run_pyasic([address], timeout=3.0)[address]
        ours = runner.run(_read(address))
    finally:
        runner.run(sim.stop_fleet(sims))
        runner.close()
    return theirs, ours


async def _read(address: str) -> MinerData:
    ours = await factory.get_miner(address, use_cache=False)
    assert isinstance(ours, BaseMiner)
    try:
        return await ours.get_data()
    finally:
        await ours.aclose()
