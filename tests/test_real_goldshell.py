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


# ------------------------------------------------------------ firmware 2.2.x (SC series)
def cap_at(version: str, name: str) -> Any:
    return load("goldshell", version, name)


@pytest.mark.parametrize(
    ("version", "firmware", "model"),
    [("2.2.5", "2.2.5", "Goldshell-SCBox"), ("2.2.0-SC5ProII", "2.2.0", "Goldshell-SC5Pro\u2161"),
     ("2.2.0-SCLite", "2.2.0", "Goldshell-SCLITE")],
)  # fmt: skip
def test_status_2_2(version: str, firmware: str, model: str) -> None:
    status = cap_at(version, "mcb-status.json")
    assert gs.parse_fw_ver(ctx(), status) == firmware  # "firmware"
    assert status["model"] == model and "mcbversion" in status  # new in 2.2.x


def test_setting_2_2_mac_with_a_leading_space() -> None:
    # SC5 Pro II: name " 00:00:5E:00:53:31" (masked) with a leading space -> still the MAC
    assert gs.parse_mac(ctx(), cap_at("2.2.0-SC5ProII", "mcb-setting.json")) == "00:00:5e:00:53:31"
    assert gs.parse_mac(ctx(), cap_at("2.2.5", "mcb-setting.json")) == "00:00:5e:00:53:30"


def test_level_two_plan_is_the_low_power_mode() -> None:
    setting = cap_at("2.2.0-SC5ProII", "mcb-setting.json")
    # plans at levels 0 (700 MHz), 2 (513 MHz) and 3 (0 MHz): "low" is the level-2 plan
    assert gs.plan_index(setting, gs.MODE_LEVELS["low"]) == 1
    low = {**setting, "select": 1}
    config = gs.parse_config(ctx(), [], low)
    assert config.mining_mode is not None and config.mining_mode.mode == "low"
    # the SC Lite has no reduced plan at all: "low" is not offered there
    assert gs.plan_index(cap_at("2.2.0-SCLite", "mcb-setting.json"), 1) is None


@pytest.mark.parametrize(
    ("version", "mhs_20s"), [("2.2.0-SC5ProII", 13940237.455), ("2.2.0-SCLite", 4520453.247)]
)
def test_summary_2_2(version: str, mhs_20s: float) -> None:
    summary = cap_at(version, "summary.json")
    c = ParseContext("SHA256", None, Identity(ip="", make="Goldshell", firmware="Stock"))
    # "MHS 20s" in MH/s; the SC models are not in the catalog, so TH/s (the default unit)
    assert gs.parse_hashrate(c, summary) == pytest.approx(mhs_20s / 1e6)
    assert gs.parse_is_mining(c, summary) is True


def test_devs_2_2_5_one_board() -> None:
    c = ParseContext("SHA256", None, Identity(ip="", make="Goldshell", firmware="Stock"))
    (board,) = gs.parse_hashboards(c, cap_at("2.2.5", "devs.json"), None)
    # PGA 0: MHS 20s 677995.025 MH/s -> 0.678 TH/s; tstemp-2 59.25 board, hottest chip 67.0
    assert board.hashrate == pytest.approx(0.677995025)
    assert (board.temp, board.chip_temp) == (59.25, 67.0)
    assert board.chips is None  # chips-nr comes from devdetails, not captured


# ------------------------------------------------------------ simulator in the capture's shape
@pytest.mark.parametrize(
    ("path", "version", "name"),
    [("/mcb/status", "2.2.0-SCLite", "mcb-status.json"),
     ("/mcb/setting", "2.2.0-SCLite", "mcb-setting.json"),
     ("/mcb/setting", V201, "mcb-setting.json"),  # the same keys on 2.0.1
     ("/mcb/pools", V201, "mcb-pools.json")],
)  # fmt: skip
async def test_simulator_web_answers_in_the_capture_shape(
    path: str, version: str, name: str
) -> None:
    # No KD Max answer is published; the kind (firmware 2.2.1) serves the keys of the 2.2.0
    # captures (status with mcbversion), and a CK5 2.0.1's pools.
    s = sim.create(f"goldshell_kdmax@127.174.0.{next(_hosts)}")
    await s.start()
    miner = await get_miner(s.address, use_cache=False)
    try:
        assert isinstance(miner, gs.GoldshellMiner)
        answer = await miner.web_json(path)
        assert_same_shape(cap_at(version, name), answer)
    finally:
        await miner.aclose()
        await s.stop()
