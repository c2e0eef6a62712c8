"""What a start costs in imports: pydantic and AES load only once something needs them.

Each check runs a fresh interpreter (this process has imported everything already).  The
scan checks run one against simulated miners served from this process: a /25 scan plus a
full get_data() on every miner found, as a client (and scan_bench) does.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest

import asic_bridge
from asic_bridge.config import MinerConfig
from asic_bridge.data import MinerData
from asic_bridge.drivers import antminer, auradine, braiins, elphapex, luxos
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.errors import InvalidResponseError
from asic_bridge.sim import list_kinds, start_fleet, stop_fleet


def _loaded_after(code: str) -> set[str]:
    """Top-level packages in sys.modules after running ``code`` in a fresh interpreter."""
    probe = code + "\nimport sys\nprint(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_import_asic_bridge_loads_neither_pydantic_nor_the_drivers() -> None:
    loaded = _loaded_after("import asic_bridge; asic_bridge.settings.get('network_ping_timeout')")
    assert "pydantic" not in loaded and "httpx" not in loaded and "cryptography" not in loaded


def test_reading_a_whatsminer_needs_no_aes() -> None:
    loaded = _loaded_after("import asic_bridge.transport.whatsminer, asic_bridge.factory")
    assert "cryptography" not in loaded


def test_every_public_name_is_still_importable() -> None:
    for name in asic_bridge.__all__:
        assert getattr(asic_bridge, name) is not None, name
    from asic_bridge import MinerConfig, MinerData

    assert MinerConfig.__name__ == "MinerConfig" and MinerData.__name__ == "MinerData"


def test_aes_still_works_once_needed() -> None:
    from asic_bridge.transport.whatsminer import decrypt_v2, encrypt_v2

    key = bytes(range(32))
    assert decrypt_v2(key, encrypt_v2(key, {"cmd": "get_version"})) == {"cmd": "get_version"}


# A client's scan + get_data in a fresh interpreter: what it read, and what it imported.
_SCAN_CLIENT = """
import asyncio, json, sys
from asic_bridge import MinerNetwork

async def main():
    miners = await MinerNetwork.from_subnet(sys.argv[1]).scan()
    data = await asyncio.gather(*(m.get_data() for m in miners))
    print(json.dumps({
        "found": len(miners),
        "field_errors": {d.ip: d.field_errors for d in data if d.field_errors},
        "modules": sorted(sys.modules),
    }))

asyncio.run(main())
"""


async def _scan_in_subprocess(kinds: list[str], net: str) -> dict[str, Any]:
    sims = await start_fleet(f"{kind}@{net}.{i}" for i, kind in enumerate(kinds, start=1))
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _SCAN_CLIENT,
            f"{net}.0/25",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
    finally:
        await stop_fleet(sims)
    assert proc.returncode == 0, err.decode()[-2000:]
    result: dict[str, Any] = json.loads(out)
    assert result["found"] == len(kinds) and result["field_errors"] == {}
    return result


def _packages(result: dict[str, Any]) -> set[str]:
    return {name.split(".")[0] for name in result["modules"]}


async def test_a_scan_and_get_data_of_every_kind_builds_no_config_model() -> None:
    """Every family identified and read in full, and the config models never imported:
    pydantic builds MinerData's schema only.  The fleet has BOS+ (gRPC), so h2 loads for
    it; BOSminer reads hostname and fault light over GraphQL, so asyncssh never loads."""
    kinds = [kind for kind, *_ in list_kinds()]
    result = await _scan_in_subprocess(kinds, "127.45.0")
    assert "asic_bridge.config" not in result["modules"]
    assert {"pydantic", "h2"} <= _packages(result)
    assert {"asyncssh", "cryptography"} & _packages(result) == set()


async def test_a_scan_without_braiins_imports_neither_ssh_nor_h2() -> None:
    kinds = [k for k, *_ in list_kinds() if not k.startswith("braiins") and ":" not in k]
    result = await _scan_in_subprocess(kinds, "127.45.1")
    loaded = _packages(result)
    assert "asic_bridge.config" not in result["modules"]
    assert {"asyncssh", "h2", "cryptography"} & loaded == set()
    assert "pydantic" in loaded  # MinerData itself


def test_minerdata_config_is_still_validated_as_a_minerconfig() -> None:
    config = MinerConfig()
    assert MinerData("10.0.0.1", config=config).config is config
    assert MinerData("10.0.0.1", config=config.model_dump()).config == config
    for garbage in ("garbage", 5, {"pools": "x"}):
        with pytest.raises(ValueError, match="config"):
            MinerData("10.0.0.1", config=garbage)
    data = MinerData("10.0.0.1")
    with pytest.raises(ValueError, match="MinerConfig"):
        data.config = "x"  # type: ignore[assignment]
    assert data.config is None


_CTX = ParseContext("SHA256", None, Identity(ip="10.0.0.1", make="x", firmware="x"))


@pytest.mark.parametrize(
    "conf",
    [
        {},
        {"bitmain-fan-ctrl": False},
        {"bitmain-fan-ctrl": True, "bitmain-fan-pwm": "0"},
        {"bitmain-fan-ctrl": True, "bitmain-fan-pwm": "55"},
        {"bitmain-fan-ctrl": "true", "bitmain-fan-pwm": "400"},
        {"bitmain-fan-ctrl": True},
        {"bitmain-fan-ctrl": "nonsense"},
    ],
)
def test_the_antminer_fan_mode_name_is_the_decoded_configs(conf: dict[str, Any]) -> None:
    """The name read without the config models is the one the full decode gives."""
    for old, parse in ((False, antminer.parse_fan_mode), (True, antminer.parse_fan_mode_old)):
        fan = antminer.decode_miner_conf(conf, old=old).fan_mode
        assert parse(_CTX, conf) == (None if fan is None else fan.mode)


@pytest.mark.parametrize(
    "conf",
    [
        {},
        {"fc-fan-ctrl": False},
        {"fc-fan-ctrl": True, "fc-fan-pwm": "0"},
        {"fc-fan-ctrl": True, "fc-fan-pwm": "70"},
        {"fc-fan-ctrl": True},
    ],
)
def test_the_elphapex_fan_mode_name_is_the_decoded_configs(conf: dict[str, Any]) -> None:
    fan = elphapex.decode_elphapex_conf(conf).fan_mode
    assert elphapex.parse_fan_mode(_CTX, conf) == (None if fan is None else fan.mode)


@pytest.mark.parametrize(
    "fan",
    [
        {},
        {"Fan": [{"Target": 3000, "Max": 6000}]},
        {"Fan": [{"Max": 6000}]},
        {"Fan": [{"Target": 3000, "Max": 0}]},
    ],
)
def test_the_auradine_fan_mode_name_is_the_parsed_modes(fan: dict[str, Any]) -> None:
    mode = auradine.parse_fan_mode(fan)
    assert auradine.parse_fan_mode_name(_CTX, fan) == (None if mode is None else mode.mode)


@pytest.mark.parametrize(
    "temperature",
    [
        {},
        {"auto": {"min_fan_speed": 30}},
        {"manual": {"fan_speed_ratio": 0.6}},
        {"immersion": {}},
        {"auto": {}, "disabled": {}},
        {"auto": "not a message"},
    ],
)
def test_the_braiins_fan_mode_name_is_the_decoded_configs(temperature: dict[str, Any]) -> None:
    message = {"temperature": temperature}
    fan = braiins.config_from_grpc(message).fan_mode
    assert braiins.parse_grpc_fan_mode(_CTX, message) == (None if fan is None else fan.mode)


@pytest.mark.parametrize(
    ("fans", "tempctrl"),
    [
        ({}, {"TEMPCTRL": [{"Mode": "Auto"}]}),
        ({"FANCTRL": [{"MinFans": 2}]}, {"TEMPCTRL": [{"Mode": "Auto"}]}),
        ({"FANS": [{"Speed": 0}], "FANCTRL": [{"MinFans": 0}]}, {"TEMPCTRL": [{"Mode": "Manual"}]}),
        ({"FANS": [{"Speed": 40}]}, {"TEMPCTRL": [{"Mode": "Manual"}]}),
        ({}, {"TEMPCTRL": [{"Mode": "Manual"}]}),
        ({}, {"TEMPCTRL": [{"Mode": "Off"}]}),
    ],
)
def test_the_luxos_fan_mode_name_is_the_parsed_modes(
    fans: dict[str, Any], tempctrl: dict[str, Any]
) -> None:
    mode = luxos.parse_fan_mode(fans, tempctrl)
    shown = tempctrl["TEMPCTRL"][0]["Mode"] in ("Auto", "Manual")
    expected = mode.mode if mode is not None and shown else None
    assert luxos.parse_fan_mode_name(_CTX, fans, tempctrl) == expected


def test_garbage_configuration_is_still_a_clear_parse_error() -> None:
    with pytest.raises(InvalidResponseError, match="JSON object"):
        antminer.parse_fan_mode(_CTX, ["not", "a", "conf"])
    with pytest.raises(InvalidResponseError, match="JSON object"):
        elphapex.parse_fan_mode(_CTX, "nonsense")
    with pytest.raises(ValueError, match="not a message"):
        braiins.parse_grpc_fan_mode(_CTX, None)
    with pytest.raises(ValueError, match="PROFILES"):
        luxos.parse_wattage_limit(_CTX, {"CONFIG": [{"Profile": "eco"}]}, {"nothing": []})


def test_the_luxos_wattage_limit_is_the_active_presets_power() -> None:
    profiles = {
        "PROFILES": [
            {"Profile Name": "default", "Watts": 3250, "Hashrate": 100.0},
            {"Profile Name": "", "Watts": 1},
            {"Profile Name": "eco", "Watts": "2100", "Hashrate": 80.0},
        ]
    }
    config = {"CONFIG": [{"Profile": "eco"}]}
    presets = {p.name: p.power for p in luxos.parse_profiles(profiles)}
    assert luxos.parse_wattage_limit(_CTX, config, profiles) == presets["eco"] == 2100
    assert luxos.parse_wattage_limit(_CTX, {"CONFIG": [{"Profile": "gone"}]}, profiles) is None
