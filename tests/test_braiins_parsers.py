"""Braiins OS parsers on captured-style payloads, the bosminer.toml codec and the protobuf codec.

The RPC payloads follow Braiins' published BOSminer API examples (an S9 on BOSminer+ 0.2.0,
chains 6-8); the gRPC messages follow the public bos-plus-api field numbers.
"""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from asic_bridge import catalog
from asic_bridge.config import MinerConfig, MiningModePowerTune, Pool, PoolConfig
from asic_bridge.drivers import Evidence
from asic_bridge.drivers import braiins as b
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.transport.grpc import F, decode_message, encode_message, frame, unframe

S9 = catalog.lookup("Antminer S9")
CTX = ParseContext("SHA256", S9, Identity(ip="127.21.0.1", make="AntMiner", firmware="BOS+"))


def _status(code: int, msg: str) -> list[dict[str, Any]]:
    return [{"STATUS": "S", "When": 1595938484, "Code": code, "Msg": msg,
             "Description": "BOSminer+ 0.2.0-ea64aec8e"}]  # fmt: skip


TEMPS = {
    "STATUS": _status(201, "3 Temp(s)"),
    "TEMPS": [
        {"Board": 81.875, "Chip": 104.625, "ID": 6, "TEMP": 0},
        {"Board": 85.875, "Chip": 108.9375, "ID": 7, "TEMP": 1},
        {"Board": 84.4375, "Chip": 105.4375, "ID": 8, "TEMP": 2},
    ],
    "id": 1,
}
DEVDETAILS = {
    "STATUS": _status(69, "Device Details"),
    "DEVDETAILS": [
        {
            "Chips": 63,
            "Cores": 7182,
            "DEVDETAILS": i,
            "ID": 6 + i,
            "Model": "Bitmain Antminer S9",
            "Name": f"Hash Chain {6 + i}",
            "Voltage": 8.4,
            "Frequency": 799682118,
        }
        for i in range(3)
    ],
    "id": 1,
}
DEVS = {
    "STATUS": _status(9, "3 ASC(s)"),
    "DEVS": [
        {"ID": 8, "MHS 1m": 4_600_000.0, "MHS 5s": 4_650_000.0, "Nominal MHS": 4_500_000.0},
        {"ID": 6, "MHS 1m": 4_400_000.0, "MHS 5s": 4_450_000.0, "Nominal MHS": 4_500_000.0},
        {"ID": 7, "MHS 1m": 4_500_000.0, "MHS 5s": 4_550_000.0, "Nominal MHS": 4_500_000.0},
    ],
    "id": 1,
}
TUNERSTATUS = {
    "STATUS": _status(203, "Tuner Status"),
    "TUNERSTATUS": [
        {
            "ApproximateChainPowerConsumption": 1344,
            "ApproximateMinerPowerConsumption": 1419,
            "DynamicPowerScaling": "Disabled",
            "PowerLimit": 1420,
            "TunerChainStatus": [
                {"HashchainIndex": 6, "Status": "Tuning individual chips"},
                {"HashchainIndex": 7, "Status": "Stable"},
                {"HashchainIndex": 8, "Status": "Hashchain failed {chip 12 not responding}"},
            ],
        }
    ],
    "id": 1,
}
FANS = {
    "STATUS": _status(202, "4 Fan(s)"),
    "FANS": [{"FAN": i, "ID": i, "RPM": rpm, "Speed": 100} for i, rpm in enumerate((5340, 4620))],
    "id": 1,
}


def test_rpc_hashboards_merge_three_commands_by_chain_id() -> None:
    boards = b.parse_rpc_hashboards(CTX, DEVS, DEVDETAILS, TEMPS)
    assert [x.slot for x in boards] == [0, 1, 2]
    assert [x.hashrate for x in boards] == pytest.approx([4.4, 4.5, 4.6])
    assert [(x.temp, x.chip_temp, x.chips) for x in boards] == [
        (81.875, 104.625, 63),
        (85.875, 108.9375, 63),
        (84.4375, 105.4375, 63),
    ]
    assert all(x.expected_chips == 63 and not x.missing for x in boards)


def test_rpc_hashboards_without_temps_still_report_rates_and_pad_missing_boards() -> None:
    devs = {"DEVS": DEVS["DEVS"][:2]}
    boards = b.parse_rpc_hashboards(CTX, devs, {"DEVDETAILS": DEVDETAILS["DEVDETAILS"][:2]}, {})
    assert len(boards) == 3 and boards[2].missing is True
    assert boards[0].temp is None and boards[0].hashrate == pytest.approx(4.4)


def test_tuner_fields_and_errors() -> None:
    assert b.parse_wattage(CTX, TUNERSTATUS) == 1419
    assert b.parse_wattage_limit(CTX, TUNERSTATUS) == 1420
    errors = b.parse_errors(CTX, TUNERSTATUS)
    assert [e.error_message for e in errors] == ["Slot 2: Hashchain failed"]


def test_fans_expected_hashrate_is_mining_and_hashrate() -> None:
    assert [f.speed for f in b.parse_rpc_fans(CTX, FANS)] == [5340, 4620]
    assert b.parse_expected_hashrate(CTX, DEVS) == pytest.approx(13.5)
    assert b.parse_rpc_is_mining(CTX, DEVS) is True
    paused = {"DEVS": [{"ID": 6, "MHS 5s": 0.0}, {"ID": 7, "MHS 5s": 0}]}
    assert b.parse_rpc_is_mining(CTX, paused) is False
    summary = {"SUMMARY": [{"MHS 1m": 13_500_000.0, "MHS 5s": 1.0, "Elapsed": 5}]}
    assert b.parse_hashrate(CTX, summary) == pytest.approx(13.5)


@pytest.mark.parametrize(
    ("parser", "payloads"),
    [
        (b.parse_wattage, ("garbage",)),
        (b.parse_rpc_fans, (["not", "a", "dict"],)),
        (b.parse_hashrate, ({"STATUS": []},)),
        (b.parse_rpc_hashboards, ("x", None, None)),
        (b.parse_net_conf, ({"ifname": "eth0"},)),
        (b.parse_bos_info, ("garbage",)),
        (b.parse_grpc_wattage, (None,)),
        (b.parse_grpc_hashboards, ("x",)),
    ],
)
def test_garbage_raises_for_that_field_only(parser: Any, payloads: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        parser(CTX, *payloads)


def test_missing_keys_read_as_none_not_zero() -> None:
    assert b.parse_wattage(CTX, {"TUNERSTATUS": [{}]}) is None
    assert b.parse_wattage_limit(CTX, {"TUNERSTATUS": [{"PowerLimit": "n/a"}]}) is None
    assert b.parse_expected_hashrate(CTX, {"DEVS": [{"ID": 6}]}) is None
    assert b.parse_grpc_wattage(CTX, {}) is None
    assert b.parse_grpc_expected_hashrate(CTX, {"sticker_hashrate": {}}) is None


def test_luci_and_ssh_parsers() -> None:
    assert b.parse_net_conf(CTX, [{"macaddr": "02:9B:85:41:7E:08"}]) == "02:9b:85:41:7e:08"
    assert b.parse_bos_info(CTX, {"version": "2022-09-13-0-11012d53-22.08-plus"}) == "22.08"
    assert b.release_of("custom-build") == "custom-build"
    assert b.parse_ssh_text(CTX, (0, "bosminer\n", "")) == "bosminer"
    assert b.parse_led(CTX, (0, "50\n", "")) is True
    assert b.parse_led(CTX, (1, "", "No such file")) is False
    with pytest.raises(ValueError):
        b.parse_ssh_text(CTX, (1, "", "denied"))


BOSMINER_TOML = """
[format]
version = "1.2+"
model = "Antminer S9"

[temp_control]
mode = "auto"
target_temp = 89.0
hot_temp = 100.0
dangerous_temp = 110.0

[fan_control]
min_fans = 1

[autotuning]
enabled = true
power_target = 1200

[[group]]
name = "Main"
quota = 2

[[group.pool]]
url = "stratum+tcp://a.example:3333"
user = "w.1"
password = "x"

[[group.pool]]
url = "stratum+tcp://b.example:3333"
user = "w.2"
password = "p\\"w"

[x_vendor]
keep = [1, 2]
"""


def test_bosminer_toml_to_config() -> None:
    config = b.config_from_toml(tomllib.loads(BOSMINER_TOML))
    assert config.pools is not None
    group = config.pools.groups[0]
    assert (group.name, group.quota) == ("Main", 2)
    assert [(p.url, p.user, p.password) for p in group.pools] == [
        ("stratum+tcp://a.example:3333", "w.1", "x"),
        ("stratum+tcp://b.example:3333", "w.2", 'p"w'),
    ]
    assert config.mining_mode == MiningModePowerTune(power=1200)
    assert config.temperature is not None and config.temperature.danger == 110.0


def test_toml_read_modify_write_keeps_unknown_keys_and_round_trips() -> None:
    live = tomllib.loads(BOSMINER_TOML)
    change = MinerConfig(mining_mode=MiningModePowerTune(power=1000))
    doc = b.toml_from_config(change, live)
    text = b.dump_toml(doc)
    again = tomllib.loads(text)
    assert again["autotuning"] == {"enabled": True, "power_target": 1000, "mode": "power_target"}
    assert again["group"] == live["group"]  # a power change never drops the pools
    assert again["x_vendor"] == {"keep": [1, 2]} and again["format"] == live["format"]
    tricky = PoolConfig.simple([Pool(url="stratum+tcp://c:1", user='u"; rm -rf /', password="\\")])
    doc = b.toml_from_config(MinerConfig(pools=tricky), live)
    parsed = tomllib.loads(b.dump_toml(doc))
    assert parsed["group"][0]["pool"] == [
        {"url": "stratum+tcp://c:1", "user": 'u"; rm -rf /', "password": "\\"}
    ]
    assert parsed["group"][0]["name"] == "Main"


def test_protobuf_codec_round_trip_and_unknown_fields() -> None:
    details = {
        "mac_address": "94:e3:6d:fb:89:ad",
        "hostname": "bosminer",
        "bos_version": {"current": "2023-04-20-0-0ce150e9-23.03-plus", "bos_plus": True},
        "sticker_hashrate": {"gigahash_per_second": 104000.0},
        "system_uptime_s": 90919,
        "status": 2,
    }
    raw = encode_message(details, b.MINER_DETAILS_RESPONSE)
    assert decode_message(raw, b.MINER_DETAILS_RESPONSE) == details
    narrow = decode_message(raw, {"hostname": F(6, "string")})
    assert narrow == {"hostname": "bosminer"}  # unknown fields skipped
    boards = {"hashboards": [{"id": "1", "chips_count": 126, "enabled": True}, {"id": "2"}]}
    raw = encode_message(boards, b.HASHBOARDS_RESPONSE)
    assert decode_message(raw, b.HASHBOARDS_RESPONSE) == boards
    assert unframe(frame(raw) + frame(b"")) == [raw, b""]
    with pytest.raises(ValueError):
        decode_message(raw[:-3], b.HASHBOARDS_RESPONSE)
    with pytest.raises(ValueError):
        unframe(b"\x00\x00\x00\x00\x09abc")
    packed = bytes([0x0A, 0x03, 0x01, 0x02, 0x03])
    assert decode_message(packed, {"v": F(1, "uint", repeated=True)}) == {"v": [1, 2, 3]}


def test_grpc_parsers() -> None:
    ctx = ParseContext("SHA256", catalog.lookup("Antminer S19j Pro"), CTX.identity)
    boards = b.parse_grpc_hashboards(
        ctx,
        {
            "hashboards": [
                {"id": "2", "enabled": True, "chips_count": 126,
                 "stats": {"real_hashrate": {"last_5s": {"gigahash_per_second": 35000.0}}},
                 "board_temp": {"degree_c": 60.5},
                 "highest_chip_temp": {"temperature": {"degree_c": 75.25}},
                 "serial_number": "BHB42601"},
                {"id": "1", "enabled": True, "chips_count": 126},
            ]
        },
    )  # fmt: skip
    assert [x.hashrate for x in boards] == [0.0, 35.0, None]
    assert (boards[1].temp, boards[1].chip_temp, boards[1].serial_number) == (
        60.5,
        75.25,
        "BHB42601",
    )
    assert boards[2].missing is True
    pools = b.parse_grpc_pools(
        ctx,
        {"pool_groups": [{"name": "g", "pools": [
            {"url": "stratum+tcp://p:3333", "user": "u", "active": True, "alive": True,
             "stats": {"accepted_shares": 7}}]}]},
    )  # fmt: skip
    assert [(p.url, p.user, p.accepted, p.rejected, p.active) for p in pools] == [
        ("stratum+tcp://p:3333", "u", 7, 0, True)
    ]
    assert (
        b.parse_grpc_wattage_limit(
            ctx, {"tuner_mode": {"power_target": {"power_target": {"watt": 3000}}}}
        )
        == 3000
    )
    assert b.parse_grpc_is_mining(ctx, {"status": 3}, {}) is False
    assert b.parse_grpc_is_mining(ctx, {}, {"SUMMARY": [{"MHS 1m": 1.0}]}) is True
    assert b.parse_grpc_fault_light(ctx, {}) is False


def test_identification_evidence() -> None:
    legacy = Evidence(
        ip="127.21.0.9",
        rpc_version={"STATUS": _status(22, "BOSminer versions"),
                     "VERSION": [{"BOSminer": "0.2.0-ea64aec8e", "API": "3.7"}]},
    )  # fmt: skip
    boser = Evidence(
        ip="127.21.0.9",
        rpc_version={"VERSION": [{"API": "3.7", "BOSer": "boser-buildroot 0.1.0-75912fc7"}]},
    )
    web_only = Evidence(ip="127.21.0.9", http_status=200, http_body="<title>Braiins OS</title>")
    stock = Evidence(ip="127.21.0.9", rpc_version={"VERSION": [{"BMMiner": "2.0.0"}]})
    assert all(b._matches(e) for e in (legacy, boser, web_only))
    assert not b._matches(stock)
    assert b._is_boser(legacy) is False and b._is_boser(boser) is True
    assert b._is_boser(web_only) is None
    assert b.resolve_model("Bitmain Antminer S19j Pro")[1] == catalog.lookup("S19j Pro")
    assert b.resolve_model("Braiins Mini Miner BMM 101")[1] == catalog.lookup("BMM101")
