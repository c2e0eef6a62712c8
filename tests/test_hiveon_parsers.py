"""Hiveon parsers on payloads shaped like a captured Hiveon S19 ``stats`` answer (no sockets).

Also checks, with a canned fetcher, that a missing key or garbage in one payload is isolated
to the fields read from it.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from asic_bridge import catalog
from asic_bridge.drivers import Evidence
from asic_bridge.drivers.antminer import FAMILIES as ANTMINER_FAMILIES
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.drivers.hiveon import (
    FAMILIES,
    HiveonModern,
    model_from_type,
    parse_board_voltages,
    parse_env_temp_x9,
    parse_hashboards,
    parse_hashboards_x9,
    parse_wattage,
)

INFO = catalog.lookup("S19j Pro")
CTX = ParseContext("SHA256", INFO, Identity(ip="x", make="AntMiner", firmware="Hive"))


def _stats_body() -> dict[str, Any]:
    """One Hiveon ``stats`` data entry: 3 live chains of 16 slots, no rate_unit (GH/s)."""
    body: dict[str, Any] = {
        "STATS": 0,
        "ID": "BC50",
        "Elapsed": 7200,
        "GHS 5s": 102345.6,
        "GHS av": 101987.2,
        "fan_num": 4,
        "fan1": 4800,
        "fan2": 4830,
        "fan3": 4770,
        "fan4": 4810,
        "fan5": 0,
        "fan6": 0,
        "fan7": 0,
        "fan8": 0,
        "fan_pwm": 62,
        "total_rateideal": 104000.0,
        "total_power": 2987,
        "psu_status": "",
        "has_pic": "0",
        "tune_running": "0",
    }
    for n in range(1, 17):
        live = n <= 3
        body[f"chain_acn{n}"] = 126 if live else 0
        body[f"chain_acs{n}"] = " oooooooo" * 15 + " oooooo" if live else ""
        body[f"chain_rate{n}"] = [34001.5, 34120.25, 34223.85][n - 1] if live else 0.0
        body[f"temp{n}"] = [58, 56, 57][n - 1] if live else 0
        body[f"temp2_{n}"] = [71, 69, 70][n - 1] if live else 0
        body[f"temp3_{n}"] = [71, 69, 70][n - 1] if live else 0
        body[f"chain_voltage{n}"] = 13.6
    for n in (1, 2, 3):
        body[f"chain_power{n}"] = [996, 993, 995][n - 1]
    return body


def stats(**changes: Any) -> dict[str, Any]:
    body = _stats_body()
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    banner = {
        "BMMiner": "4.11.1 rwglr",
        "Miner": "0.0.1.3",
        "CompileTime": "Thu Apr 10 18:12:59 UTC 2025",
        "Type": "Antminer S19jPro Hiveon",
    }
    return {
        "STATUS": [{"STATUS": "S", "Code": 70, "Msg": "BMMiner stats"}],
        "STATS": [banner, body],
        "id": 1,
    }


# ------------------------------------------------------------------------------ power
def test_wattage_prefers_total_power() -> None:
    assert parse_wattage(CTX, stats()) == 2987


def test_wattage_from_the_older_text_form() -> None:
    assert parse_wattage(CTX, stats(total_power=None, chain_power="1345.6 W")) == 1346


def test_wattage_from_the_chains_when_nothing_else() -> None:
    assert parse_wattage(CTX, stats(total_power=None)) == 996 + 993 + 995


def test_wattage_absent_is_none_not_zero() -> None:
    payload = stats(total_power=None, chain_power1=None, chain_power2=None, chain_power3=None)
    assert parse_wattage(CTX, payload) is None
    assert parse_wattage(CTX, stats(total_power="n/a", chain_power="garbage W")) == 2984


def test_wattage_on_garbage_raises_for_the_engine() -> None:
    with pytest.raises(ValueError):
        parse_wattage(CTX, {"STATS": "nope"})
    with pytest.raises(ValueError):
        parse_wattage(CTX, ["not", "an", "object"])


# ------------------------------------------------------------------------------ boards
def test_hashboards_reuse_the_stock_reading_and_add_voltage() -> None:
    boards = parse_hashboards(CTX, stats())
    assert [b.slot for b in boards] == [0, 1, 2]
    assert [b.hashrate for b in boards] == pytest.approx([34.0015, 34.12025, 34.22385])
    assert [b.chips for b in boards] == [126, 126, 126]
    assert [b.expected_chips for b in boards] == [126, 126, 126]
    assert [b.temp for b in boards] == [58, 56, 57]  # tempN is the PCB
    assert [b.chip_temp for b in boards] == [71, 69, 70]  # temp2_N the chips
    assert [b.voltage for b in boards] == [13.6, 13.6, 13.6]
    assert not any(b.missing for b in boards)


def test_a_dead_chain_is_missing_and_has_no_voltage() -> None:
    boards = parse_hashboards(
        CTX, stats(chain_acn2=0, chain_acs2="", chain_rate2=0.0, temp2=0, temp2_2=0)
    )
    assert len(boards) == 3
    assert [b.missing for b in boards] == [False, True, False]
    assert [b.voltage for b in boards] == [13.6, None, 13.6]
    assert parse_board_voltages(stats(chain_voltage1="x")) == [None, 13.6, 13.6]


# ------------------------------------------------------------------------------ model
@pytest.mark.parametrize(
    ("raw", "model"),
    [
        ("Antminer S19jPro Hiveon", "S19j Pro"),
        ("Antminer S19JPRO HIVEON", "S19j Pro"),
        ("Antminer S19 Hiveon", "S19"),
        ("Antminer S19x88 Hiveon", "S19 No PIC"),
        ("Antminer S19k Pro Hiveon", "S19k Pro"),
        ("Antminer T9 Hiveon", "T9"),
        ("Antminer S19jPro", "S19j Pro"),
    ],
)
def test_model_from_type(raw: str, model: str) -> None:
    name, info = model_from_type(raw)
    assert name == model
    assert info is not None and info.model == model


def test_unknown_model_keeps_its_name() -> None:
    assert model_from_type("Antminer S99 Hiveon") == ("S99", None)


# ------------------------------------------------------------------------------ identification
def _evidence(vtype: str | None, *, realm: bool = True, program: str = "4.11.1 rwglr") -> Evidence:
    version = None
    if vtype is not None:
        version = {
            "STATUS": [{"STATUS": "S", "Code": 22, "Msg": "BMMiner versions"}],
            "VERSION": [{"BMMiner": program, "API": "3.1", "Type": vtype}],
        }
    headers = {"www-authenticate": 'Digest realm="antMiner Configuration", nonce="1"'}
    return Evidence(
        ip="127.26.0.1",
        rpc_version=version,
        http_status=401 if realm else None,
        http_headers=headers if realm else {},
    )


def test_hiveon_and_stock_never_claim_each_other() -> None:
    (hiveon,) = FAMILIES
    stock = ANTMINER_FAMILIES[0]
    hive = _evidence("Antminer S19jPro Hiveon")
    assert hiveon.matches(hive) and not stock.matches(hive)
    plain = _evidence("Antminer S19j Pro", program="1.0.0")
    assert stock.matches(plain) and not hiveon.matches(plain)
    # RPC silent: both look at the web UI; build decides from get_system_info's minertype
    assert hiveon.matches(_evidence(None))
    assert not hiveon.matches(_evidence(None, realm=False))


# ------------------------------------------------------------------------------ isolation
SUMMARY = {
    "STATUS": [{"STATUS": "S", "Code": 11}],
    "SUMMARY": [{"Elapsed": 7200, "GHS 5s": "102345.60", "GHS av": 101987.2}],
}
POOLS = {
    "STATUS": [{"STATUS": "S", "Code": 7}],
    "POOLS": [
        {
            "POOL": 0,
            "URL": "stratum+tcp://pool.example:3333",
            "User": "acct.w1",
            "Status": "Alive",
            "Stratum Active": True,
            "Accepted": 12,
            "Rejected": 1,
        }
    ],
}
VERSION = {
    "STATUS": [{"STATUS": "S", "Code": 22}],
    "VERSION": [
        {"BMMiner": "4.11.1 rwglr", "API": "3.1", "CompileTime": "Thu Apr 10 18:12:59 UTC 2025"}
    ],
}
WEB = {
    "get_system_info": {
        "minertype": "Antminer S19jPro Hiveon",
        "macaddr": "AA:BB:CC:00:11:22",
        "hostname": "hive-rig-3",
        "serinum": "HVN123",
    },
    "summary": {"SUMMARY": [{"status": [{"type": "fans", "status": "e", "code": 2011}]}]},
    "get_blink_status": {"blink": True},
    "get_miner_conf": {
        "pools": [{"url": "stratum+tcp://pool.example:3333", "user": "acct.w1", "pass": "x"}],
        "bitmain-fan-ctrl": False,
        "bitmain-fan-pwm": "100",
        "bitmain-work-mode": "1",
    },
}


class Canned(HiveonModern):
    """The real driver with its sockets replaced by canned payloads."""

    payloads: dict[str, Any]

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        return {n: self.payloads[f"{group}:{n}"] for n in names}


def canned(**overrides: Any) -> Canned:
    payloads: dict[str, Any] = {
        "rpc:summary": SUMMARY,
        "rpc:stats": stats(),
        "rpc:pools": POOLS,
        "rpc:version": VERSION,
        **{f"web:{k}": copy.deepcopy(v) for k, v in WEB.items()},
    }
    payloads.update(overrides)
    identity = Identity(
        ip="127.26.0.9",
        make="AntMiner",
        firmware="Hive",
        model="S19j Pro",
        model_info=INFO,
    )
    miner = Canned("127.26.0.9", identity=identity)
    miner.payloads = payloads
    return miner


async def test_every_field_from_clean_payloads() -> None:
    data = await canned().get_data()
    assert data.field_errors == {}
    assert data.hashrate == pytest.approx(102.3456)
    assert data.expected_hashrate == pytest.approx(104.0)
    assert data.wattage == 2987
    assert [f.speed for f in data.fans] == [4800, 4830, 4770, 4810]
    assert data.uptime == 7200
    assert data.mac == "aa:bb:cc:00:11:22" and data.hostname == "hive-rig-3"
    assert data.serial_number == "HVN123"
    assert data.fw_ver == "Thu Apr 10 18:12:59 UTC 2025" and data.api_ver == "3.1"
    assert data.fault_light is True and data.is_mining is False
    assert [(e.error_code, e.error_message) for e in data.errors] == [
        (2011, "fans check reports 'e'")
    ]
    assert [(p.url, p.user, p.accepted, p.active) for p in data.pools] == [
        ("stratum+tcp://pool.example:3333", "acct.w1", 12, True)
    ]


async def test_garbage_stats_only_breaks_the_stats_fields() -> None:
    data = await canned(**{"rpc:stats": {"STATS": "garbage"}}).get_data()
    assert set(data.field_errors) == {
        "expected_hashrate",
        "hashboards",
        "fans",
        "fan_percent",
        "uptime",
        "wattage",
    }
    assert data.pools and data.mac and data.fault_light is True
    assert data.hashrate == pytest.approx(102.3456)  # summary alone (GH/s by default)


async def test_missing_keys_are_none_not_errors() -> None:
    data = await canned(
        **{
            "rpc:stats": stats(
                total_power=None,
                chain_power1=None,
                chain_power2=None,
                chain_power3=None,
                total_rateideal=None,
            ),
            "web:get_blink_status": {},
            "web:get_miner_conf": {"pools": []},
        }
    ).get_data()
    assert data.field_errors == {}
    assert data.wattage is None and data.expected_hashrate is None
    assert data.fault_light is None and data.is_mining is None
    assert data.hashrate is not None and len(data.hashboards) == 3


async def test_a_failed_source_is_named_in_its_fields_only() -> None:
    from asic_bridge.errors import MinerTimeoutError

    data = await canned(
        **{"web:get_miner_conf": MinerTimeoutError("no answer", ip="127.26.0.9")}
    ).get_data(include=["is_mining", "config", "hashrate"])
    assert set(data.field_errors) == {"is_mining", "config"}
    assert data.hashrate is not None


# ------------------------------------------------------------------------------ X9 (T9)
def t9_stats() -> dict[str, Any]:
    body: dict[str, Any] = {"Elapsed": 60, "fan_num": 2, "fan5": 3600, "fan6": 3660}
    for n in range(1, 17):
        body.update({f"chain_acn{n}": 0, f"chain_rate{n}": 0.0, f"temp{n}": 0, f"temp2_{n}": 0})
        body[f"temp3_{n}"] = 0
    for board, chains in enumerate(((2, 9, 10), (3, 11, 12), (4, 13, 14))):
        for i, n in enumerate(chains):
            body[f"chain_acn{n}"] = 18
            body[f"chain_rate{n}"] = 1400.0 + 10 * i
            body[f"temp{n}"] = 60 + board
            body[f"temp2_{n}"] = 74 + i
            body[f"temp3_{n}"] = 27 + (i % 2)
    body["chain_power"] = "1570.6 W"
    return {"STATS": [{"BMMiner": "2.0.0 rwglr", "Type": "Antminer T9 Hiveon"}, body]}


T9_CTX = ParseContext(
    "SHA256", catalog.lookup("T9"), Identity(ip="x", make="AntMiner", firmware="Hive")
)


def test_t9_boards_are_three_chains_each() -> None:
    boards = parse_hashboards_x9(T9_CTX, t9_stats())
    assert [b.chips for b in boards] == [54, 54, 54]
    assert [b.hashrate for b in boards] == pytest.approx([4.23] * 3)
    assert [b.temp for b in boards] == [60, 61, 62]
    assert [b.chip_temp for b in boards] == [75, 75, 75]
    assert [b.expected_chips for b in boards] == [54, 54, 54]
    assert parse_wattage(T9_CTX, t9_stats()) == 1571
    assert parse_env_temp_x9(T9_CTX, t9_stats()) == 27.0  # mean 27.33, rounded


def test_t9_dead_board_and_other_layouts() -> None:
    payload = t9_stats()
    for n in (3, 11, 12):
        payload["STATS"][1].update({f"chain_acn{n}": 0, f"chain_rate{n}": 0.0})
    boards = parse_hashboards_x9(T9_CTX, payload)
    assert [b.missing for b in boards] == [False, True, False]
    assert boards[1].hashrate == 0.0 and boards[1].chips == 0
    # an X19-style layout (chains 1..3) reads chain by chain
    assert [b.chips for b in parse_hashboards_x9(CTX, stats())] == [126, 126, 126]
    assert parse_env_temp_x9(CTX, stats(**{f"temp3_{n}": 0 for n in (1, 2, 3)})) is None
