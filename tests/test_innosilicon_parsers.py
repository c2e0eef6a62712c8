"""Pure parsers and the pool codec of the Innosilicon driver, on captured-style payloads."""

from __future__ import annotations

from typing import Any

import pytest

from asic_bridge import catalog
from asic_bridge.config import Pool
from asic_bridge.drivers import innosilicon as inno
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.errors import ConfigError
from asic_bridge.transport.http import HTTPResult

T3 = catalog.lookup("T3H+")


def ctx() -> ParseContext:
    return ParseContext("SHA256", T3, Identity(ip="10.0.0.8", make="Innosilicon", firmware="Stock"))


def chain(i: int, **override: Any) -> dict[str, Any]:
    item = {
        "STATS": i,
        "ID": f"HLT{i}",
        "Elapsed": 48768,
        "Chain ID": i,
        "Num chips": 114,
        "Num active chips": 114,
        "Temp max": 71.0,
        "Temp min": 57.0,
        "Temp": 62.0,
        "Fan duty": 35,
        "Voltage Avg": 863,
        "MHS av": 24666666.0,
    }
    item.update(override)
    return item


def test_boards_from_stats() -> None:
    stats = {"STATS": [chain(0), chain(1), chain(2), {"STATS": 3, "ID": "POOL0"}]}
    boards = inno.parse_hashboards(ctx(), stats)
    assert [b.slot for b in boards] == [0, 1, 2]
    assert boards[0].hashrate == pytest.approx(24.666666)
    assert (boards[0].temp, boards[0].chip_temp, boards[0].chips) == (62.0, 71.0, 114)
    assert boards[0].voltage == 0.863 and not boards[0].missing


def test_dead_and_absent_chains() -> None:
    stats = {"STATS": [chain(0, **{"Num active chips": 0, "MHS av": 0}), chain(2)]}
    boards = inno.parse_hashboards(ctx(), stats)
    assert [(b.slot, b.missing) for b in boards] == [(0, True), (1, True), (2, False)]
    with pytest.raises(ValueError):
        inno.parse_hashboards(ctx(), ["junk"])


def test_web_fields_and_garbage() -> None:
    get_all = {"success": True, "all": {"mac": "AA:BB:CC:DD:EE:01", "power": 3249.6}}
    assert inno.parse_mac(ctx(), get_all) == "aa:bb:cc:dd:ee:01"
    assert inno.parse_wattage(ctx(), get_all) == 3250
    assert inno.parse_wattage(ctx(), {"all": {"power": "?"}}) is None
    with pytest.raises(ValueError):
        inno.parse_mac(ctx(), {"all": "nope"})
    errors = inno.parse_errors(ctx(), {"success": True, "code": 21, "msg": "fan failure"})
    assert [(e.error_code, e.error_message) for e in errors] == [(21, "fan failure")]
    assert inno.parse_errors(ctx(), {"success": True, "code": 0}) == []


def test_summary_rate_prefers_the_one_minute_window() -> None:
    summary = {"SUMMARY": [{"MHS av": 74000000.0, "MHS 5s": 1.0, "MHS 1m": 73500000.0}]}
    assert inno.parse_hashrate(ctx(), summary) == pytest.approx(73.5)
    assert inno.parse_is_mining(ctx(), {"SUMMARY": [{"MHS 1m": 0}]}) is False


def test_pool_codec_fills_three_slots() -> None:
    body = inno.encode_pools([Pool(url="stratum+tcp://a:1", user="u", password="p")])
    assert body == {
        "Pool1": "stratum+tcp://a:1",
        "UserName1": "u",
        "Password1": "p",
        "Pool2": "",
        "UserName2": "",
        "Password2": "",
        "Pool3": "",
        "UserName3": "",
        "Password3": "",
    }
    with pytest.raises(ConfigError):
        inno.encode_pools([])
    with pytest.raises(ConfigError):
        inno.encode_pools([Pool(url=f"stratum+tcp://p{i}:1") for i in range(4)])
    config = inno.parse_config(
        ctx(), {"success": True, "pools": [{"url": "stratum+tcp://a:1", "user": "u", "pass": "p"}]}
    )
    assert config.pools is not None and config.pools.first_group[0].password == "p"


def test_expired_token_answer_is_recognised() -> None:
    def result(body: bytes) -> HTTPResult:
        import httpx

        return HTTPResult(200, httpx.Headers({"content-type": "application/json"}), body)

    assert inno.token_expired(result(b'{"success":false,"token":"expired"}'))
    assert not inno.token_expired(result(b'{"success":true,"note":"expired soon"}'))
    assert not inno.token_expired(result(b"<html>expired</html>"))
