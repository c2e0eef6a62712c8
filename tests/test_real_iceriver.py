"""IceRiver against real firmware: the KS5L userpanel capture of software ICM168_3_2_10.

3.2.x writes every number as a float and a pool's ``connect`` as 1.0 / -1.0; expected values
are derived by hand from the payload.  The shape test starts the simulated 3.2.10 on
127.132.1.x and compares its ``userpanel`` answer with the capture.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from real_captures import assert_same_shape, load, parse_context

from asic_bridge import sim
from asic_bridge.drivers import iceriver as ice
from asic_bridge.drivers.base import ParseContext
from asic_bridge.errors import NotAppliedError
from asic_bridge.factory import get_miner
from asic_bridge.sim.http_server import HttpReply, Request, json_reply
from asic_bridge.sim.iceriver import IceRiverKS3MSim

FAMILY = "iceriver"
VERSION = "3.2.10"


def panel() -> dict[str, Any]:
    data: dict[str, Any] = load(FAMILY, VERSION, "userpanel_post4.json")
    return data


def ctx() -> ParseContext:
    return parse_context("IceRiver", "KS5L", "kHeavyHash")


def test_3_2_10_reads() -> None:
    raw, c = panel(), ctx()
    assert ice.parse_hashrate(c, raw) == pytest.approx(15.011)  # rtpow "15011G", unit G
    boards = ice.parse_hashboards(c, raw)
    assert [b.slot for b in boards] == [0, 1, 2]  # no 1.0, 2.0, 3.0
    assert [b.hashrate for b in boards] == pytest.approx([5.16037, 5.6295, 4.22212])
    assert [(b.inlet_temp, b.outlet_temp, b.temp) for b in boards] == [
        (61.0, 63.0, 63.0),  # the outlet, the hotter side, is the board temperature
        (57.0, 61.0, 61.0),
        (62.0, 67.0, 67.0),
    ]
    assert [b.chips for b in boards] == [18, 18, 18]  # chipnum 18.0
    assert [f.speed for f in ice.parse_fans(c, raw) or []] == [5900, 5900, 5900, 5855]
    assert ice.parse_uptime(c, raw) == 102542  # "01:04:29:02" = 1 d 4 h 29 min 2 s
    first, second, third = ice.parse_pools(c, raw)
    assert first.url == "stratum+tcp://asia1.kaspa-pool.org:4441"
    assert (first.index, first.accepted, first.rejected) == (1, 7225, 0)  # floats 1.0, 7225.0
    assert (first.active, first.alive) == (True, True)  # connect 1.0, state 1.0
    assert (second.active, second.alive, third.active) == (False, False, False)  # -1.0, 0.0
    assert ice.parse_is_mining(c, raw) is True  # powstate true
    assert ice.parse_fault_light(c, raw) is False  # locate false
    assert ice.parse_mac(c, raw) is None  # the author masked it: "****:****:..."
    assert ice.parse_hostname(c, raw) == "XJGXG_SSYYGB"
    assert ice.parse_fw_ver(c, raw) == "ICM168_3_2_10_ks5L_miner"
    raw_model, info = ice.model_from(raw["data"])  # model "none": the softver1 token
    assert raw_model == "KS5L" and info is not None and info.model == "KS5L"
    config = ice.parse_config(c, raw)
    assert config.pools is not None
    assert [p.password for p in config.pools.first_group] == ["x", "x", "x"]


_hosts = itertools.count(1)


@pytest.mark.parametrize("kind", ["iceriver_ks5l", "iceriver_ks3m"])
async def test_simulator_answers_like_the_capture(kind: str) -> None:
    s = sim.create(f"{kind}:{VERSION}@127.132.1.{next(_hosts)}")
    await s.start()
    try:
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, ice.IceRiverMiner)
        answer = await miner.panel(post="4")
        await miner.aclose()
    finally:
        await s.stop()
    assert_same_shape(panel(), answer)


async def test_a_locate_the_firmware_ignores_is_not_an_ok() -> None:
    s = sim.create(f"iceriver_ks5l:{VERSION}@127.132.2.1")
    assert isinstance(s, IceRiverKS3MSim)
    await s.start()
    try:
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, ice.IceRiverMiner)
        assert await miner.fault_light_on() is True  # applied: the answer says locate true
        assert s.state.fault_light is True
        s.state.fault_light = False
        real_panel = s._panel

        async def ignore_locate(request: Request) -> HttpReply:
            if request.query.get("post") == "5":  # answer, change nothing
                return json_reply({"error": 0, "data": {"locate": False}, "message": ""})
            return await real_panel(request)

        s.servers["http"].route("POST", "/user/userpanel", ignore_locate)
        with pytest.raises(NotAppliedError) as caught:
            await miner.fault_light_on()
        assert (caught.value.wanted, caught.value.applied) == (True, False)
        await miner.aclose()
    finally:
        await s.stop()
