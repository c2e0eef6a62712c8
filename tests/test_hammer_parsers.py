"""Hammer / VolcMiner parsers on captured-style payloads, repeated ``tempN`` keys included."""

from __future__ import annotations

import pytest

from asic_bridge.catalog import lookup
from asic_bridge.drivers import hammer
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.errors import InvalidResponseError

D10 = lookup("Hammer D10", make="Hammer")
CTX = ParseContext("Scrypt", D10, Identity(ip="x", make="Hammer", firmware="Stock"))

# A stats answer as the firmware prints it: every tempN four times (PCB, chip, PCB, chip).
STATS_RAW = (
    b'{"STATUS":[{"STATUS":"S","When":1,"Code":70,"Msg":"CGMiner stats",'
    b'"Description":"ccminer 2.3.3"}],"STATS":[{"CGMiner":"2.3.3","Miner":"2.0.2.2",'
    b'"CompileTime":"2023-05-28 17-20-35 CST","Type":"Hammer D10"},{"STATS":0,"ID":"A30",'
    b'"Elapsed":5000,"MHS 5s":"4700.5","fan_num":4,"fan1":4600,"fan2":4500,"fan3":3900,'
    b'"fan4":3950,"temp_num":12,'
    b'"temp1":20,"temp1":41,"temp1":22,"temp1":44,'
    b'"temp2":21,"temp2":40,"temp2":23,"temp2":43,'
    b'"temp3":19,"temp3":38,"temp3":21,"temp3":41,'
    b'"temp4":0,"temp4":0,"temp4":0,"temp4":0,'
    b'"chain_acn1":108,"chain_acn2":108,"chain_acn3":107,"chain_acn4":0,'
    b'"chain_acs1":" oooo","chain_acs2":" oooo","chain_acs3":" oooo","chain_acs4":"",'
    b'"chain_rate1":"1570.25","chain_rate2":"1590.5","chain_rate3":"1510.0","chain_rate4":""'
    b'}],"id":1}\x00'
)


def test_repeated_keys_are_all_kept() -> None:
    stats = hammer.loads_keeping_duplicates(STATS_RAW)
    body = stats["STATS"][1]
    assert body["temp1"] == [20, 41, 22, 44]
    assert body["chain_acn1"] == 108  # single keys stay plain
    # one key repeated more than twice, and nested objects, keep everything
    nested = hammer.loads_keeping_duplicates(b'{"a":{"k":1,"k":2,"k":3},"k":0}')
    assert nested == {"a": {"k": [1, 2, 3]}, "k": 0}


def test_broken_json_falls_back_to_the_repairs() -> None:
    assert hammer.loads_keeping_duplicates(b'{"a":1,}\x00') == {"a": 1}
    with pytest.raises(InvalidResponseError):
        hammer.loads_keeping_duplicates(b"\xff\xfe garbage")


def test_hashboards_from_repeated_sensors() -> None:
    stats = hammer.loads_keeping_duplicates(STATS_RAW)
    boards = hammer.parse_hashboards(CTX, stats)
    assert len(boards) == 3
    first = boards[0]
    assert first.hashrate == pytest.approx(1.57025)  # MH/s -> GH/s
    assert (first.temp, first.chip_temp) == (21.0, 44.0)  # mean PCB, hottest chip
    assert [b.chips for b in boards] == [108, 108, 107]
    assert all(not b.missing and b.expected_chips == 108 for b in boards)


def test_single_temperature_value_still_parses() -> None:
    body = {"STATS": [{}, {"Elapsed": 1, "chain_acn1": 108, "chain_rate1": "1", "temp1": 45}]}
    board = hammer.parse_hashboards(CTX, body)[0]
    assert (board.temp, board.chip_temp) == (45.0, 45.0)
    dead = {"STATS": [{}, {"Elapsed": 1, "chain_acn1": 108, "temp1": "x", "chain_rate1": "?"}]}
    board = hammer.parse_hashboards(CTX, dead)[0]
    assert board.temp is None and board.hashrate is None and board.chips == 108
    boards = hammer.parse_hashboards(CTX, dead)
    assert len(boards) == 3 and boards[1].missing and boards[2].missing


def test_fans_uptime_expected() -> None:
    stats = hammer.loads_keeping_duplicates(STATS_RAW)
    assert [f.speed for f in hammer.parse_fans(CTX, stats)] == [4600, 4500, 3900, 3950]
    assert hammer.parse_uptime(CTX, stats) == 5000
    # no total_rateideal on this firmware: the model's nominal rate (GH/s)
    assert hammer.parse_expected_hashrate(CTX, stats) == pytest.approx(5.0)
    with_ideal = {"STATS": [{}, {"Elapsed": 1, "total_rateideal": 4800, "rate_unit": "MH"}]}
    assert hammer.parse_expected_hashrate(CTX, with_ideal) == pytest.approx(4.8)
    with pytest.raises(ValueError):
        hammer.parse_fans(CTX, {"STATS": "nope"})


def test_summary_hashrate_in_mh() -> None:
    summary = {"SUMMARY": [{"MHS 5s": "4885.0813", "Accepted": "156.0000"}]}
    assert hammer.parse_hashrate(CTX, summary) == pytest.approx(4.8850813)
    assert hammer.parse_hashrate(CTX, {"SUMMARY": [{"MHS 5s": "?"}]}) is None
    with pytest.raises(ValueError):
        hammer.parse_hashrate(CTX, {"SUMMARY": []})
