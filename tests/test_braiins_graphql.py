"""Legacy BOSminer's hostname and fault light from the GraphQL API, SSH only where it is absent.

Capture: tests/fixtures/real/braiins/24.09/gql_system.json (BOS+ 24.09, from asic-rs' fixtures;
asic-rs reads ``bos { hostname faultLight }`` this way on every BOS+ from 21.09).  A poll of a
legacy miner then opens no SSH session (and the process never imports asyncssh); releases
without ``/graphql`` (404) still read both over SSH.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

from real_captures import assert_same_shape, load

from asic_bridge import catalog, sim
from asic_bridge.drivers import braiins as bos
from asic_bridge.drivers.base import ParseContext
from asic_bridge.drivers.braiins import BOSMiner
from asic_bridge.factory import get_miner
from asic_bridge.sim.braiins import BOSMinerSim

S9 = ParseContext("SHA256", catalog.lookup("Antminer S9", make="AntMiner"), None)
_hosts = itertools.count(1)


@contextlib.asynccontextmanager
async def running(**attrs: Any) -> AsyncIterator[BOSMinerSim]:
    miner = sim.create(f"braiins_s9@127.21.3.{next(_hosts)}")
    assert isinstance(miner, BOSMinerSim)
    miner.state.jitter = 0.0
    for name, value in attrs.items():
        setattr(miner, name, value)
    await miner.start()
    try:
        yield miner
    finally:
        await miner.stop()


async def identify(s: BOSMinerSim) -> BOSMiner:
    miner = await get_miner(s.address, use_cache=False)
    assert isinstance(miner, BOSMiner), miner
    return miner


def test_system_fields_from_the_real_answer() -> None:
    answer = load("braiins", "24.09", "gql_system.json")
    system = answer["data"]["bos"]
    assert bos.parse_ssh_text(S9, system) == "IC078"
    assert bos.parse_led(S9, system) is False
    assert bos.parse_led(S9, {**system, "faultLight": True}) is True


async def test_simulator_answers_in_the_real_shape() -> None:
    async with running() as s:
        miner = await identify(s)
        try:
            await miner._graphql_login()
            answer = (await miner.web.post("/graphql", json={"query": bos.GRAPHQL_SYSTEM})).json()
        finally:
            await miner.aclose()
    real = load("braiins", "24.09", "gql_system.json")
    wanted = {"data": {"bos": {k: real["data"]["bos"][k] for k in ("hostname", "faultLight")}}}
    assert_same_shape(wanted, answer)


async def test_poll_reads_hostname_and_light_without_ssh() -> None:
    async with running() as s:
        miner = await identify(s)
        try:
            data = await miner.get_data()
            assert data.field_errors == {}
            assert data.hostname == s.state.hostname and data.fault_light is False
            assert s.counters["ssh"].connections == 0
            s.state.fault_light = True  # the locate blink, started elsewhere
            s.reset_counters()
            assert (await miner.get_data()).fault_light is True
            assert s.counters["http"].requests == 1  # the query; session and facts kept
            assert s.counters["ssh"].connections == 0
        finally:
            await miner.aclose()


async def test_expired_session_logs_in_again() -> None:
    async with running() as s:
        miner = await identify(s)
        try:
            assert (await miner.get_data()).field_errors == {}
            s._graphql_sessions.clear()
            data = await miner.get_data()
            assert data.field_errors == {} and data.fault_light is False
        finally:
            await miner.aclose()


async def test_release_without_graphql_reads_over_ssh() -> None:
    async with running(serves_graphql=False) as s:
        miner = await identify(s)
        try:
            data = await miner.get_data()
            assert data.field_errors == {}
            assert data.hostname == s.state.hostname and data.fault_light is False
            assert s.counters["ssh"].connections == 1
            s.state.fault_light = True
            s.reset_counters()
            assert (await miner.get_data()).fault_light is True
            assert s.counters["http"].requests == 0  # /graphql is not asked again
        finally:
            await miner.aclose()
