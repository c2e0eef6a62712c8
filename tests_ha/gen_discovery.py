"""Write the bridge's real HA discovery payloads (and matching states) as JSON fixtures.

Runs in the daemon's venv (``.venv/bin/python tests_ha/gen_discovery.py OUT.json``): the HA
venv cannot import asic_bridge (pydantic and paho pins clash), so the HA test
``test_discovery_payloads.py`` runs this as a subprocess and feeds every payload through Home
Assistant's own MQTT discovery.

Each case is one miner as the daemon would announce it: the discovery messages from
``asic_bridge.bridge.entities.discovery_messages`` (or ``bridge_discovery`` for the bridge
itself) and the retained state from ``asic_bridge.bridge.state.state_payload`` for a
MinerData with every field the miner reports.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
import sys
import time
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asic_bridge.bridge.entities import (  # noqa: E402
    bridge_controls,
    bridge_discovery,
    discovery_messages,
    firmware_update_discovery,
)
from asic_bridge.bridge.registry import DeviceRecord  # noqa: E402
from asic_bridge.bridge.state import state_payload  # noqa: E402
from asic_bridge.bridge.topics import Topics  # noqa: E402
from asic_bridge.data import MinerData  # noqa: E402
from asic_bridge.data.errors import MinerErrorData  # noqa: E402
from asic_bridge.data.miner_data import Fan, HashBoard, PoolMetrics  # noqa: E402

BASE = "asic_bridge"
PREFIX = "homeassistant"
ALL_CAPS = ["fault_light", "power_limit", "reboot", "restart_backend", "stop_mining"]


def _data(
    *,
    algo: str = "SHA256",
    boards: int = 3,
    fans: int = 4,
    hashrate: float = 100.0,
    wattage: int | None = 3250,
    wattage_limit: int = 3300,
    errors: tuple[str, ...] = (),
    fault_light: bool | None = False,
    env_temp: float | None = 24.5,
) -> MinerData:
    per_board = hashrate / boards if boards else 0.0
    return MinerData(
        "10.0.0.5",
        make="AntMiner",
        model="S19j Pro",
        firmware="Stock",
        algo=algo,
        mac="AA:BB:CC:DD:EE:01",
        fw_ver="2023.01.01",
        hostname="miner-1",
        hashrate=hashrate,
        expected_hashrate=hashrate * 1.02,
        hashboards=[
            HashBoard(
                slot=n,
                hashrate=per_board,
                temp=60.0 + n,
                chip_temp=75.0 + n,
                chips=126,
                expected_chips=126,
                missing=False,
            )
            for n in range(boards)
        ],
        expected_chips=126 * boards if boards else None,
        fans=[Fan(speed=5400 + 10 * n) for n in range(fans)],
        fan_psu=3000,
        env_temp=env_temp,
        wattage=wattage,
        wattage_limit=wattage_limit if wattage is not None else None,
        pools=[
            PoolMetrics(
                url="stratum+tcp://pool.example:3333",
                user="wallet.worker1",
                index=0,
                accepted=1234,
                rejected=5,
                active=True,
                alive=True,
            )
        ],
        errors=[MinerErrorData(error_message=message) for message in errors],
        fault_light=fault_light,
        is_mining=True,
        uptime=86_400,
    )


def _case(
    name: str,
    record: DeviceRecord,
    data: MinerData | None,
    *,
    device_mode: bool = False,
    before_first_poll: bool = False,
    mode: str | None = None,
) -> dict[str, Any]:
    topics = Topics(BASE, PREFIX)
    now = time.time()
    state = None
    reported: set[str] | None = None
    if data is not None:
        record.hashrate_unit = data.hashrate_unit
        state = state_payload(
            data, energy_kwh=12.3456, boot_time=now - (data.uptime or 0), mode=mode, now=now
        )
        reported = None if before_first_poll else set(state)
    messages = discovery_messages(record, topics, device_mode=device_mode, reported=reported)
    return {
        "name": name,
        "miner_id": record.id,
        "base_topic": BASE,
        "device_mode": device_mode,
        "messages": messages,
        "state": state,
        "availability_topic": topics.availability(record.id),
        "bridge_state_topic": topics.bridge_state,
    }


def _firmware_case(record: DeviceRecord) -> dict[str, Any]:
    """The HA update entity the firmware feature announces when its folder has an image
    for the miner, with the state it publishes (asic_bridge.bridge.features.firmware)."""
    topics = Topics(BASE, PREFIX)
    record = dataclasses.replace(record, capabilities=[*ALL_CAPS, "firmware_upgrade"])
    topic, config = firmware_update_discovery(record, topics, "Antminer-S19j-Pro-2024.tar.gz")
    return {
        "name": "s19_firmware_update",
        "miner_id": record.id,
        "base_topic": BASE,
        "device_mode": False,
        "messages": {topic: config},
        "state": None,
        "update_state": {
            "installed_version": record.fw_ver,
            "latest_version": "2024.01.10",
            "title": "Stock 2024.01.10",
            "release_summary": "Antminer-S19j-Pro-2024.tar.gz",
            "in_progress": False,
        },
        "update_state_topic": topics.firmware(record.id),
        "availability_topic": topics.availability(record.id),
        "bridge_state_topic": topics.bridge_state,
    }


def cases() -> list[dict[str, Any]]:
    s19 = DeviceRecord(
        id="aabbccddee01",
        mac="aa:bb:cc:dd:ee:01",
        ip="10.0.0.5",
        make="AntMiner",
        model="S19j Pro",
        firmware="Stock",
        fw_ver="2023.01.01",
        serial_number="SN123",
        ports={"http": 80},
        capabilities=ALL_CAPS,
        power_min=1000,
        power_max=3600,
        expected_hashboards=3,
        expected_fans=4,
    )
    m30 = DeviceRecord(
        id="aabbccddee02",
        mac="aa:bb:cc:dd:ee:02",
        ip="10.0.0.6",
        make="WhatsMiner",
        model="M30S",
        firmware="Stock",
        ports={"http": 8082},
        capabilities=[*ALL_CAPS, "mining_modes"],
        modes=["low", "normal", "high"],
        power_min=2000,
        power_max=3800,
        expected_hashboards=3,
        expected_fans=2,
    )
    l7 = DeviceRecord(
        id="garage_l7",
        mac="aa:bb:cc:dd:ee:03",
        ip="10.0.0.7",
        make="AntMiner",
        model="L7",
        firmware="Stock",
        algo="Scrypt",
        capabilities=["reboot", "fault_light"],
        expected_hashboards=4,
        expected_fans=4,
        friendly_name="garage_l7",
    )
    bare = DeviceRecord(id="ip_10_0_0_9", mac=None, ip="10.0.0.9", make="AntMiner", model=None)
    stock_s19 = DeviceRecord(
        id="aabbccddee04",
        mac="aa:bb:cc:dd:ee:04",
        ip="10.0.0.10",
        make="AntMiner",
        model="S19",
        firmware="Stock",
        capabilities=["fault_light", "reboot"],
        expected_hashboards=3,
        expected_fans=4,
    )
    bitaxe = DeviceRecord(
        id="aabbccddee05",
        mac="aa:bb:cc:dd:ee:05",
        ip="10.0.0.11",
        make="BitAxe",
        model="Gamma",
        firmware="ESP-Miner",
        capabilities=["reboot", "power_limit"],
        power_min=10,
        power_max=25,
        expected_hashboards=1,
        expected_fans=1,
    )
    vnish = DeviceRecord(
        id="aabbccddee06",
        mac="aa:bb:cc:dd:ee:06",
        ip="10.0.0.12",
        make="AntMiner",
        model="S19j Pro",
        firmware="VNish",
        capabilities=[*ALL_CAPS, "mining_modes", "presets"],
        modes=["normal", "sleep", "preset"],
        presets=["disabled", "2400", "2600", "3068"],  # the firmware's list, its order
        power_min=2400,
        power_max=3068,
        power_range_source="firmware",
        expected_hashboards=3,
        expected_fans=4,
    )
    vnish_data = _data(wattage_limit=2600)
    vnish_data.active_preset = "2600"
    auradine = DeviceRecord(
        id="aabbccddee07",
        mac="aa:bb:cc:dd:ee:07",
        ip="10.0.0.13",
        make="Auradine",
        model="AT2860",
        firmware="FluxOS",
        capabilities=ALL_CAPS,  # a power limit, no range known: the miner decides
        power_range_source="unknown",
        expected_hashboards=3,
        expected_fans=4,
    )
    epic = DeviceRecord(
        id="aabbccddee08",
        mac="aa:bb:cc:dd:ee:08",
        ip="10.0.0.14",
        make="AntMiner",
        model="S19j Pro",
        firmware="ePIC",
        capabilities=[*ALL_CAPS, "fan_control"],
        fan_modes=["auto", "manual"],  # ePIC has no immersion mode
        power_min=1000,
        power_max=3600,
        expected_hashboards=3,
        expected_fans=4,
    )
    epic_data = _data()
    epic_data.fan_mode, epic_data.fan_percent = "normal", 45  # auto, fans at 45 %
    return [
        _case("epic_fan_control", epic, epic_data),
        _case("vnish_preset_select", vnish, vnish_data, mode="preset"),
        _case("auradine_unknown_range", auradine, _data()),
        _case("s19_entity_mode", s19, _data()),
        _case("s19_before_first_poll", s19, _data(), before_first_poll=True),
        _case("s19_with_errors", s19, _data(errors=("fan 2 lost",), fault_light=True)),
        _case("m30_device_mode", m30, _data(fans=2), device_mode=True, mode="normal"),
        _case("m30_entity_mode_modes", m30, _data(fans=2), mode="low"),
        _case("l7_scrypt_friendly_name", l7, _data(algo="Scrypt", boards=4, hashrate=9500.0)),
        _case(
            "cgminer_minimal_no_mac",
            bare,
            _data(boards=0, fans=0, wattage=None, env_temp=None, fault_light=None),
        ),
        _case(
            "cgminer_before_first_poll_missing_values",
            bare,
            _data(boards=0, fans=0, wattage=None, env_temp=None, fault_light=None),
            before_first_poll=True,
        ),
        _case("s19_stock_no_power", stock_s19, _data(wattage=None)),
        _case(
            "bitaxe_single_board",
            bitaxe,
            _data(boards=1, fans=1, hashrate=1.2, wattage=18, wattage_limit=20),
        ),
        _firmware_case(s19),
        {
            "name": "bridge_device",
            "miner_id": None,
            "base_topic": BASE,
            "device_mode": False,
            # the connection state and the controls (restart, scan, log level, version)
            "messages": {
                **bridge_discovery(Topics(BASE, PREFIX)),
                **bridge_controls(Topics(BASE, PREFIX)),
            },
            "state": None,
            "availability_topic": None,
            "bridge_state_topic": f"{BASE}/bridge/state",
        },
    ]


def main() -> None:
    out = Path(sys.argv[1])
    out.write_text(json.dumps({"cases": cases()}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
