"""Goldshell /mcb parsers on a real CK5 (firmware 2.0.1); values derived by hand."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from real_captures import assert_same_shape, load

from asic_bridge import sim
from asic_bridge.drivers import goldshell as gs
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.factory import get_miner

_hosts = itertools.count(1)

V201 = "2.0.1"


def cap(name: str) -> Any:
    return load("goldshell", V201, name)


def ctx() -> ParseContext:
    info = gs.resolve_model(cap("mcb-status.json")["model"])
    algo = info.algo if info else "SHA256"
    return ParseContext(algo, info, Identity(ip="", make="Goldshell", firmware="Stock"))


def test_status_names_the_model_and_firmware() -> None:
    status = cap("mcb-status.json")
    info = gs.resolve_model(status["model"])  # "Goldshell-CK5"
    assert info is not None and info.model == "CK5"
    assert gs.parse_fw_ver(ctx(), status) == "2.0.1"  # firmware "2.0.1"


def test_setting_mac_and_power_plan() -> None:
    setting = cap("mcb-setting.json")
    assert gs.parse_mac(ctx(), setting) == "00:00:5e:00:53:20"  # name (masked MAC)
    # select 0 -> powerplans[0].level 0 -> normal
    assert gs.selected_level(setting) == 0
    assert gs.plan_index(setting, 0) == 0
    assert gs.plan_index(setting, 1) is None  # this unit offers only the level-0 plan


def test_pools_and_config() -> None:
    pools = gs.parse_web_pools(cap("mcb-pools.json"))
    # dragid 0 then 1; pass "[REDACTED]" as published
    assert [(p.url, p.user) for p in pools] == [
        ("stratum+tcp://us-ckb.2miners.com:6464", "[REDACTED]"),
        ("stratum+tcp://ckb.f2pool.com:4300", "[REDACTED]"),
    ]
    config = gs.parse_config(ctx(), cap("mcb-pools.json"), cap("mcb-setting.json"))
    assert config.mining_mode is not None and config.mining_mode.mode == "normal"


# ------------------------------------------------------------ simulator in the capture's shape
@pytest.mark.parametrize(
    ("path", "name"),
    [("/mcb/status", "mcb-status.json"), ("/mcb/setting", "mcb-setting.json"),
     ("/mcb/pools", "mcb-pools.json")],
)  # fmt: skip
async def test_simulator_web_answers_in_the_capture_shape(path: str, name: str) -> None:
    # The only published /mcb answers are a CK5's on 2.0.1; the KD Max kind serves their keys.
    s = sim.create(f"goldshell_kdmax@127.174.0.{next(_hosts)}")
    await s.start()
    miner = await get_miner(s.address, use_cache=False)
    try:
        assert isinstance(miner, gs.GoldshellMiner)
        answer = await miner.web_json(path)
        assert_same_shape(cap(name), answer)
    finally:
        await miner.aclose()
        await s.stop()
