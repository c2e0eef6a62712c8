"""Pure parsers of the Goldshell driver on captured-style BFGMiner and ``/mcb`` payloads."""

from __future__ import annotations

from typing import Any

import pytest

from asic_bridge import catalog
from asic_bridge.drivers import goldshell as gs
from asic_bridge.drivers.base import Identity, ParseContext

KDMAX = catalog.lookup("KD Max")


def ctx() -> ParseContext:
    return ParseContext(
        "Kadena", KDMAX, Identity(ip="10.0.0.7", make="Goldshell", firmware="Stock")
    )


def devs(*boards: dict[str, Any]) -> dict[str, Any]:
    return {"STATUS": [{"STATUS": "S", "Code": 9, "Msg": "3 ASC(s)"}], "DEVS": list(boards)}


def board(i: int, **override: Any) -> dict[str, Any]:
    row = {
        "ASC": i,
        "Name": "GSD",
        "ID": i,
        "Enabled": "Y",
        "Status": "Alive",
        "MHS av": 13400000.0,
        "MHS 20s": 13388000.5,
        "tstemp-0": 71.0,
        "tstemp-1": 73.5,
        "tstemp-2": 58.0,
    }
    row.update(override)
    return row


DETAILS = {"DEVDETAILS": [{"ID": i, "Name": "GSD", "chips-nr": 84} for i in range(3)]}
SETTING = {
    "name": "AA:BB:CC:00:11:22",
    "powerplans": [{"level": 0, "info": "Hashrate"}, {"level": 1}, {"level": 3}],
    "select": 1,
}


def test_boards_rates_temps_and_chips() -> None:
    boards = gs.parse_hashboards(ctx(), devs(*(board(i) for i in range(3))), DETAILS)
    assert [b.slot for b in boards] == [0, 1, 2]
    first = boards[0]
    assert first.hashrate == pytest.approx(13.3880005)
    assert (first.temp, first.chip_temp, first.chips) == (58.0, 73.5, 84)
    assert not first.missing and first.active


def test_a_missing_board_is_reported_missing() -> None:
    boards = gs.parse_hashboards(ctx(), devs(board(0), board(2)), DETAILS)
    assert [b.missing for b in boards] == [False, True, False]


def test_bad_values_stay_in_their_board_and_field() -> None:
    boards = gs.parse_hashboards(
        ctx(), devs(board(0, **{"MHS 20s": "x", "tstemp-2": 999}), board(1)), {"junk": 1}
    )
    assert boards[0].hashrate == pytest.approx(13.4)  # falls back to MHS av
    assert boards[0].temp is None and boards[0].chips is None
    assert boards[1].hashrate is not None
    with pytest.raises(ValueError):
        gs.parse_hashboards(ctx(), "garbage", DETAILS)


def test_summary_fans_and_setting() -> None:
    summary = {"SUMMARY": [{"Elapsed": 600, "MHS 20s": 40164000.0, "MHS av": 40200000.0}]}
    assert gs.parse_hashrate(ctx(), summary) == pytest.approx(40.164)
    assert gs.parse_is_mining(ctx(), {"SUMMARY": [{"MHS 20s": 0}]}) is False
    stats = {"STATS": [{"STATS": 0, "ID": "GSD0"}, {"fan0": 5900, "fan1": 5880, "fan2": 0}]}
    assert [f.speed for f in gs.parse_fans(ctx(), stats) or []] == [5900, 5880, 0, 0]
    assert gs.parse_mac(ctx(), SETTING) == "aa:bb:cc:00:11:22"
    assert gs.selected_level(SETTING) == 1
    assert gs.plan_index(SETTING, 3) == 2 and gs.plan_index(SETTING, 7) is None
    with pytest.raises(ValueError):
        gs.parse_hashrate(ctx(), {"nothing": []})


def test_config_from_pools_and_plan() -> None:
    pools = [
        {"url": "stratum+tcp://b.example:2", "user": "u.b", "pass": "x", "dragid": 1},
        {"url": "stratum+tcp://a.example:1", "user": "u.a", "pass": "p", "dragid": 0},
        {"url": "", "user": "", "pass": "", "dragid": 2},
    ]
    config = gs.parse_config(ctx(), pools, SETTING)
    assert config.pools is not None
    assert [p.url for p in config.pools.first_group] == [
        "stratum+tcp://a.example:1",
        "stratum+tcp://b.example:2",
    ]
    assert config.mining_mode is not None and config.mining_mode.mode == "low"
    assert gs.parse_config(ctx(), pools, {"select": 0}).mining_mode is None
    with pytest.raises(ValueError):
        gs.parse_web_pools("nope")


@pytest.mark.parametrize("raw", ["Goldshell-KDMax", "KD-Max", "Goldshell KD Max"])
def test_resolve_model(raw: str) -> None:
    info = gs.resolve_model(raw)
    assert info is not None and info.model == "KD Max"
