"""Pure parsers of the Avalon and generic CGMiner drivers, on captured-style payloads.

The payloads are written in the firmware's format (key order, spacing, units) with our own
numbers: complete, truncated, garbage, and with single odd values to show that every field
fails on its own.
"""

from __future__ import annotations

from typing import Any

import pytest

from asic_bridge import catalog
from asic_bridge.config import MinerConfig
from asic_bridge.drivers import avalon
from asic_bridge.drivers.avalon import (
    AvalonMiner,
    mode_option,
    parse_callback_json,
    parse_config,
    parse_errors,
    parse_estats,
    parse_expected_hashrate,
    parse_fans,
    parse_fault_light,
    parse_hashboards,
    parse_is_mining,
    parse_mm_fields,
    parse_wattage,
    parse_wattage_limit,
    resolve_model,
    web_cookie,
)
from asic_bridge.drivers.base import Capability, Identity, ParseContext

A15 = catalog.lookup("Avalon 1566")
NANO = catalog.lookup("Avalon Nano 3")


def ctx(info: catalog.ModelInfo | None = A15) -> ParseContext:
    return ParseContext(
        "SHA256", info, Identity(ip="10.0.0.9", make="AvalonMiner", firmware="Stock")
    )


def chip_row(n: int, base: int = 64) -> str:
    return " ".join(f"{base + (k * 5) % 9:3d}" for k in range(n))


def a15_mm(**override: str) -> str:
    """An A15-style ``MM ID0`` string (the firmware's key order), fields overridable."""
    fields: dict[str, str] = {
        "Ver": "15-194-24102401_25462b2_9ddf522",
        "DNA": "0201000011223344",
        "MEMFREE": "1380120.1379904",
        "NETFAIL": "0 0 0 0 0 0 0 0",
        "SYSTEMSTATU": "Work: In Work, Hash Board: 3 ",
        "Elapsed": "4211",
        "BOOTBY": "0x04.00000000",
        "LW": "3010044",
        "MH": "0 0 0",
        "DHW": "0",
        "HW": "0",
        "DH": "1.201%",
        "Temp": "27",
        "TMax": "81",
        "TAvg": "72",
        "Fan1": "4320",
        "Fan2": "4390",
        "FanR": "51%",
        "Vo": "296",
        "PS": "0 1210 1190 301 3498 1189 3702",
        "WALLPOWER": "3702",
        "GHSspd": "190000.50",
        "DHspd": "1.201%",
        "GHSmm": "198500.25",
        "GHSavg": "181000.00",
        "WU": "2528000.00",
        "Freq": "342.10",
        "Led": "0",
        "MGHS": "60000.00 61000.00 60000.00",
        "MTmax": "80 81 79",
        "MTavg": "71 72 70",
        "MVavg": "285.1 286.0 285.4",
        "TA": "480",
        "Core": "A3197S",
        "SoftOFF": "0",
        "ECHU": "0 0 0",
        "ECMM": "0",
        "PVT_T0": chip_row(160),
        "PVT_T1": chip_row(160, 65),
        "PVT_T2": chip_row(160, 63),
        "FACOPTS0": "",
        "ATAOPTS0": "--avalon10-freq 300:318:339:360 --hash-asic 160",
        "MPO": "3500",
        "WORKMODE": "1",
    }
    fields.update(override)
    return " ".join(f"{k}[{v}]" for k, v in fields.items())


def estats(mm: str | None = None, **entry: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"STATS": 0, "ID": "AVA100", "Elapsed": 4211}
    item["MM ID0"] = a15_mm() if mm is None else mm
    item.update(entry)
    return {
        "STATUS": [{"STATUS": "S", "When": 1, "Code": 70, "Msg": "CGMiner stats"}],
        "STATS": [item],
        "id": 1,
    }


# --------------------------------------------------------------------------- the MM string
def test_mm_fields_complete() -> None:
    fields = parse_mm_fields(a15_mm())
    assert fields["Ver"] == "15-194-24102401_25462b2_9ddf522"
    assert fields["SYSTEMSTATU"] == "Work: In Work, Hash Board: 3"
    assert fields["FACOPTS0"] == ""
    assert fields["ATAOPTS0"].startswith("--avalon10-freq")
    assert len(fields["PVT_T2"].split()) == 160


def test_mm_fields_truncated_keeps_complete_pairs() -> None:
    text = a15_mm()
    cut = text[: text.index("PVT_T1[") + 40]  # ends inside PVT_T1
    fields = parse_mm_fields(cut)
    assert "PVT_T0" in fields and "PVT_T1" not in fields and "MPO" not in fields


@pytest.mark.parametrize("garbage", ["", "\ufffd\x00\x01 not an avalon", "[[[]]]", "Ver[ unclosed"])
def test_mm_fields_garbage_is_empty(garbage: str) -> None:
    assert parse_mm_fields(garbage) == {}


def test_mm_fields_first_occurrence_wins_and_non_str() -> None:
    assert parse_mm_fields("A[1] A[2] B[x]") == {"A": "1", "B": "x"}
    assert parse_mm_fields(None) == {}  # type: ignore[arg-type]


def test_estats_is_parsed_once_per_payload() -> None:
    payload = estats()
    assert parse_estats(payload) is parse_estats(payload)
    assert parse_estats(estats()) is not parse_estats(payload)


# --------------------------------------------------------------------------- fields
def test_complete_a15_reading() -> None:
    payload = estats()
    boards = parse_hashboards(ctx(), payload)
    assert [b.hashrate for b in boards] == [60.0, 61.0, 60.0]
    assert [b.temp for b in boards] == [71.0, 72.0, 70.0]  # MTavg: mean chip temp per board
    assert [b.chip_temp for b in boards] == [80.0, 81.0, 79.0]  # MTmax: hottest chip
    assert [b.chips for b in boards] == [160, 160, 160]
    assert all(b.expected_chips == 160 and not b.missing for b in boards)
    assert parse_expected_hashrate(ctx(), payload) == pytest.approx(198.50025)
    assert [f.speed for f in parse_fans(ctx(), payload) or []] == [4320, 4390]
    assert parse_wattage(ctx(), payload) == 3702
    assert parse_wattage_limit(ctx(), payload) == 3500
    assert avalon.parse_env_temp(ctx(), payload) == 27.0
    assert parse_fault_light(ctx(), payload) is False
    assert parse_is_mining(ctx(), payload) is True
    assert parse_errors(ctx(), payload) == []
    assert mode_option(payload) == "workmode"


def test_truncated_estats_keeps_what_arrived() -> None:
    text = a15_mm()
    payload = estats(text[: text.index("PVT_T1[") + 30])
    boards = parse_hashboards(ctx(), payload)
    assert [b.hashrate for b in boards] == [60.0, 61.0, 60.0]
    assert [b.chips for b in boards] == [160, None, None]
    assert parse_wattage(ctx(), payload) == 3702
    assert parse_wattage_limit(ctx(), payload) is None  # MPO was cut off
    config = parse_config(ctx(), {"POOLS": []}, payload)
    assert config.mining_mode is None


@pytest.mark.parametrize(
    "payload",
    [
        estats("\u00ff\u00fe binary junk \x00"),
        {"STATS": [{"ID": "AVA100"}]},
        {"STATS": "nope"},
        {"SUMMARY": []},
        "not even a dict",
        None,
    ],
)
def test_garbage_estats_is_an_error_not_zeros(payload: Any) -> None:
    for parser in (parse_hashboards, parse_fans, parse_wattage, parse_is_mining, parse_errors):
        with pytest.raises(ValueError):
            parser(ctx(), payload)


def test_one_bad_value_spoils_only_its_field() -> None:
    payload = estats(
        a15_mm(Fan2="n/a", WALLPOWER="??", MGHS="60000.00 oops", MPO="", Temp="-273", Led="x")
    )
    assert [f.speed for f in parse_fans(ctx(), payload) or []] == [4320, None]
    assert parse_wattage(ctx(), payload) == 3702  # WALLPOWER unreadable: PS[6]
    assert [b.hashrate for b in parse_hashboards(ctx(), payload)] == [60.0, None, None]
    assert parse_wattage_limit(ctx(), payload) is None
    assert avalon.parse_env_temp(ctx(), payload) is None
    assert parse_fault_light(ctx(), payload) is None
    assert parse_is_mining(ctx(), payload) is True


def test_missing_board_is_padded_from_the_catalog() -> None:
    payload = estats(
        a15_mm(
            SYSTEMSTATU="Work: In Work, Hash Board: 2 ",
            MGHS="60000.00 61000.00",
            MTmax="80 81",
            MTavg="71 72",
            PVT_T2="",
        )
    )
    text = payload["STATS"][0]["MM ID0"].replace("PVT_T2[] ", "")
    payload["STATS"][0]["MM ID0"] = text
    boards = parse_hashboards(ctx(), payload)
    assert len(boards) == 3
    assert boards[2].missing and boards[2].hashrate is None
    assert not boards[0].missing


def test_soft_off_and_led_and_errors() -> None:
    payload = estats(
        a15_mm(
            SYSTEMSTATU="Work: In Idle, Hash Board: 3 ",
            SoftOFF="1",
            Led="1",
            ECHU="0 512 0",
            ECMM="4",
            PS="3 0 0 0 0 0 120",
            MGHS="0.00 0.00 0.00",
        )
    )
    assert parse_is_mining(ctx(), payload) is False
    assert parse_fault_light(ctx(), payload) is True
    errors = parse_errors(ctx(), payload)
    assert [e.error_code for e in errors] == [512, 4, 3]
    assert "hash board 1" in errors[0].error_message
    assert [b.active for b in parse_hashboards(ctx(), payload)] == [False, False, False]
    config = parse_config(ctx(), {"POOLS": []}, payload)
    assert config.mining_mode is not None and config.mining_mode.mode == "sleep"


def test_is_mining_without_systemstatu_uses_softoff() -> None:
    assert parse_is_mining(ctx(), estats("SoftOFF[0] Fan1[100]")) is True
    assert parse_is_mining(ctx(), estats("SoftOFF[3] Fan1[100]")) is False
    assert parse_is_mining(ctx(), estats("Fan1[100]")) is None


@pytest.mark.parametrize(
    ("mm", "mode", "option"),
    [
        ("WORKMODE[0]", "low", "workmode"),
        ("WORKLEVEL[1]", "normal", "worklevel"),
        ("WORKLEVEL[2]", "high", "worklevel"),
        ("WORKLEVEL[7]", None, "worklevel"),
        ("Fan1[10]", None, None),
    ],
)
def test_work_level_maps_to_modes(mm: str, mode: str | None, option: str | None) -> None:
    payload = estats(f"SYSTEMSTATU[Work: In Work, Hash Board: 1] {mm}")
    config = parse_config(ctx(NANO), {"POOLS": []}, payload)
    assert (config.mining_mode.mode if config.mining_mode else None) == mode
    assert mode_option(payload) == option


def test_home_unit_led_is_a_night_light_not_a_fault_light() -> None:
    payload = estats("LED[1-0] LEDUser[0-0-100-0-255-255-255] ITemp[24] SoftOFF[0]")
    assert parse_fault_light(ctx(NANO), payload) is None
    assert avalon.parse_env_temp(ctx(NANO), payload) == 24.0


def test_single_board_unit_uses_module_values() -> None:
    mm = "Temp[25] TMax[70] TAvg[62] Fan1[2500] GHSspd[4010.00] GHSmm[4000.00] " + (
        f"MTmax[70] MTavg[62] PVT_T0[{chip_row(10)}] PS[0 0 0 0 0 0 139] Led[0] WORKLEVEL[1]"
    )
    boards = parse_hashboards(ctx(NANO), estats(mm))
    assert len(boards) == 1
    board = boards[0]
    assert board.hashrate == pytest.approx(4.01)  # no MGHS: GHSspd
    assert (board.temp, board.chip_temp, board.chips) == (62.0, 70.0, 10)
    assert parse_wattage(ctx(NANO), estats(mm)) == 139


def test_newer_firmware_summary_and_hbinfo_blocks() -> None:
    payload = {
        "STATS": [
            {
                "MM ID0:Summary": "'STATS':{Ver[Q-25052801_14a19a2] STATE[1] ITemp[32] "
                "HBITemp[60] HBOTemp[63] TMax[72] TAvg[65] Fan1[1401] Fan2[1373] Fan3[1386] "
                "Fan4[1415] PS[0 1217 2250 35 808 2251 834] GHSspd[54146.67] GHSmm[55445.83] "
                "MGHS[54000.00] MTmax[72] MTavg[65] WORKMODE[1] MPO[1674]}",
                "HBinfo": "'HB0':{PVT_T0[ 61  62  63  64] PVT_V0[300 301 302 303]}",
            }
        ]
    }
    q = catalog.lookup("Avalon Q")
    boards = parse_hashboards(ctx(q), payload)
    assert boards[0].chips == 4
    assert (boards[0].inlet_temp, boards[0].outlet_temp) == (60.0, 63.0)
    assert parse_wattage(ctx(q), payload) == 834
    assert len(parse_fans(ctx(q), payload) or []) == 4
    assert parse_is_mining(ctx(q), payload) is True
    assert avalon.parse_env_temp(ctx(q), payload) == 32.0


def test_multi_module_units_add_up() -> None:
    payload = {
        "STATS": [
            {
                "MM ID1": "Fan1[1000] MGHS[1000.00] MTmax[70] MTavg[60] WALLPOWER[900] "
                "GHSmm[1100.00] MPO[950] Led[0] SYSTEMSTATU[Work: In Work, Hash Board: 1]",
                "MM ID2": "Fan1[1100] MGHS[2000.00] MTmax[71] MTavg[61] WALLPOWER[800] "
                "GHSmm[2100.00] MPO[950] Led[1] ECHU[7] SYSTEMSTATU[Work: In Idle, Hash Board: 1]",
            }
        ]
    }
    boards = parse_hashboards(ctx(None), payload)
    assert [b.hashrate for b in boards] == [1.0, 2.0]
    assert [b.slot for b in boards] == [0, 1]
    assert [f.speed for f in parse_fans(ctx(None), payload) or []] == [1000, 1100]
    assert parse_wattage(ctx(None), payload) == 1700
    assert parse_wattage_limit(ctx(None), payload) == 1900
    assert parse_expected_hashrate(ctx(None), payload) == pytest.approx(3.2)
    assert parse_fault_light(ctx(None), payload) is True
    assert parse_is_mining(ctx(None), payload) is True
    assert "module 2" in parse_errors(ctx(None), payload)[0].error_message


# --------------------------------------------------------------------------- version / web
@pytest.mark.parametrize(
    ("prod", "model", "expected"),
    [
        ("AvalonMiner 15-194", "15-194", "Avalon 1566"),
        ("AvalonMiner 1246-83", "1246-83", "Avalon 1246"),
        ("AvalonMiner 1166Pro-S-75", "1166Pro-S-75", "Avalon 1166 Pro"),
        ("AvalonNano", "Nano3", "Avalon Nano 3"),
        ("Avalon Nano3s", "Nano3s", "Avalon Nano 3s"),
        ("AvalonMiner 9999-1", "9999-1", None),
    ],
)
def test_resolve_model(prod: str, model: str, expected: str | None) -> None:
    raw, info = resolve_model({"PROD": prod, "MODEL": model})
    assert raw == prod
    assert (info.model if info else None) == expected


def test_version_fields() -> None:
    version = {
        "VERSION": [
            {
                "CGMiner": "4.11.1",
                "API": "3.7",
                "VERSION": "24102401_25462b2_9ddf522",
                "MAC": "b4a2eb3526c3",
            }
        ]
    }
    assert avalon.parse_mac(ctx(), version) == "b4:a2:eb:35:26:c3"
    assert avalon.parse_fw_ver(ctx(), version) == "24102401_25462b2_9ddf522"
    assert avalon.parse_mac(ctx(), {"VERSION": [{"MAC": "000000000000"}]}) is None
    with pytest.raises(ValueError):
        avalon.parse_mac(ctx(), {"STATUS": []})


def test_web_helpers() -> None:
    cookie = web_cookie("root")
    assert cookie.startswith("ff0000ff") and len(cookie) == 32
    body = 'minerinfoCallback({"mac":"aa:bb:cc:dd:ee:ff","ip":"10.0.0.2"});'
    assert parse_callback_json(body)["mac"] == "aa:bb:cc:dd:ee:ff"
    assert parse_callback_json('{"a": 1}') == {"a": 1}
    with pytest.raises(ValueError):
        parse_callback_json("<html><body>login</body></html>")
    assert avalon.parse_web_mac(ctx(NANO), {"mac": "AA:BB:CC:DD:EE:0F"}) == "aa:bb:cc:dd:ee:0f"


# --------------------------------------------------------------------------- engine isolation
class _Canned(AvalonMiner):
    """The real driver with payloads injected instead of a socket."""

    payloads: dict[str, Any] = {}

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        return {name: self.payloads.get(name, {}) for name in names}


async def test_get_data_isolates_a_broken_payload() -> None:
    identity = Identity(
        ip="10.0.0.9",
        make="AvalonMiner",
        firmware="Stock",
        model="Avalon 1566",
        model_info=A15,
        mac="02:00:00:00:00:01",
        fw_ver="x",
        api_ver="3.7",
    )
    miner = _Canned("10.0.0.9", identity=identity)
    miner.payloads = {
        "summary": {"SUMMARY": [{"Elapsed": 12, "MHS 30s": 185_000_000.0}]},
        "estats": {"STATS": [{"MM ID0": "\x00garbage"}]},
        "pools": {
            "POOLS": [
                {
                    "POOL": 0,
                    "URL": "stratum+tcp://p:3333",
                    "User": "u",
                    "Status": "Alive",
                    "Stratum Active": True,
                }
            ]
        },
    }
    data = await miner.get_data(include=[*miner.FIELDS, "config"])
    assert data.hashrate == pytest.approx(185.0)
    assert data.uptime == 12
    assert data.pools[0].url == "stratum+tcp://p:3333"
    assert data.mac == "02:00:00:00:00:01"  # static: from identification, no request
    for name in ("hashboards", "fans", "wattage", "is_mining", "config"):
        assert name in data.field_errors, name
    assert "MM ID" in data.field_errors["fans"]
    assert data.expected_hashboards == 3 and data.expected_fans == 2


def test_config_round_trips_through_minerconfig() -> None:
    pools = {
        "POOLS": [
            {"POOL": 1, "URL": "stratum+tcp://b:1", "User": "w", "Priority": 1},
            {"POOL": 0, "URL": "stratum+tcp://a:1", "User": "w", "Priority": 0},
            {"POOL": 2, "URL": "", "User": "", "Priority": 2},
        ]
    }
    config = parse_config(ctx(), pools, estats())
    assert config.pools is not None
    assert [p.url for p in config.pools.first_group] == ["stratum+tcp://a:1", "stratum+tcp://b:1"]
    assert MinerConfig.from_dict(config.as_dict()) == config


@pytest.mark.parametrize(
    ("mm", "missing"),
    [
        (a15_mm(), set()),
        # A10-era avalon10 firmware: no Led, no softoff, no work level in its MM string
        (
            "Ver[1047-1] Temp[25] Fan1[3000] MGHS[1.0 2.0 3.0]",
            {Capability.FAULT_LIGHT, Capability.STOP_MINING, Capability.MINING_MODES},
        ),
        ("LED[1-0] ITemp[24] STATE[1] WORKMODE[1]", {Capability.FAULT_LIGHT}),
    ],
)
def test_capabilities_follow_the_firmware(mm: str, missing: set[Capability]) -> None:
    caps = avalon._capabilities_from(estats(mm), AvalonMiner.default_capabilities)
    assert AvalonMiner.default_capabilities - caps == missing
    assert avalon._capabilities_from({"STATS": []}, AvalonMiner.default_capabilities) == (
        AvalonMiner.default_capabilities
    )
