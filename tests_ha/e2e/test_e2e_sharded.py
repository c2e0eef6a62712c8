"""Two sharded bridges for one farm, end to end: real mosquitto (docker/mosquitto config),
four simulated miners, two ``asic-bridge run`` daemons with the same base topic and hosts
(``shard: {index: 0|1, count: 2}``), and Home Assistant's real MQTT integration.

HA discovers each instance from its retained ``asic_bridge/bridge/<name>/info`` (one config
entry each); each entry lists exactly the miners its instance owns; an action on a miner goes
out on the miner topic and its owner's answer completes it; stopping one daemon makes only
its miners unavailable and raises only its entry's repair issue.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path

from asic_bridge.bridge.shard import owner, shard_key
from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.asic_bridge.const import DOMAIN

from .conftest import (
    BRIDGE_PASSWORD,
    DAEMON_BIN,
    Process,
    add_mqtt_entry,
    running_sims,
    unload_all,
)
from .test_e2e import entity_id, state, wait_until

pytestmark = pytest.mark.e2e

BASE = "asic_bridge"
MINERS = (
    "whatsminer_m60@127.77.4.1",
    "antminer_s19jpro@127.77.4.2",
    "whatsminer_m60@127.77.4.3",
    "antminer_s19jpro@127.77.4.4",
)
NAMES = ("hall-a", "hall-b")


@pytest.fixture
def farm_sims(tmp_path: Path) -> Iterator[dict[str, tuple[Process, dict[str, int]]]]:
    with running_sims(tmp_path, MINERS) as started:
        yield started


@pytest.fixture
def shards(
    tmp_path: Path, broker: int, farm_sims: dict[str, tuple[Process, dict[str, int]]]
) -> Iterator[dict[str, Process]]:
    """Two daemons: the same base topic and hosts, their own state_dir and client_id."""
    hosts = [
        {"ip": spec.partition("@")[2], "ports": ports} for spec, (_, ports) in farm_sims.items()
    ]
    processes: dict[str, Process] = {}
    for index, name in enumerate(NAMES):
        config = {
            "mqtt": {
                "url": f"mqtt://asic_bridge:{BRIDGE_PASSWORD}@127.0.0.1:{broker}",
                "base_topic": BASE,
                "client_id": f"asic_bridge_{name}",
            },
            "miners": {"hosts": hosts, "poll_interval": 2, "scan_interval": 0, "offline_after": 2},
            "shard": {"index": index, "count": len(NAMES), "name": name},
            "state_dir": str(tmp_path / f"state-{name}"),
            "log_level": "info",
        }
        path = tmp_path / f"bridge-{name}.yaml"
        path.write_text(json.dumps(config))  # JSON is YAML
        processes[name] = Process(
            name, [str(DAEMON_BIN), "run", "-c", str(path)], tmp_path / f"bridge-{name}.log"
        )
        processes[name].start()
    try:
        yield processes
    finally:
        for process in processes.values():
            process.stop()


async def test_two_sharded_bridges(
    hass: HomeAssistant,
    socket_enabled: None,
    mock_hass_config: None,
    broker: int,
    shards: dict[str, Process],
) -> None:
    mqtt_entry = add_mqtt_entry(hass, broker)
    try:
        await _scenario(hass, shards, mqtt_entry)
    except BaseException:
        for name, process in shards.items():
            print(f"---- {name} log ----\n" + process.output()[-4000:])
        raise
    finally:
        await unload_all(hass, mqtt_entry)


async def _scenario(
    hass: HomeAssistant, shards: dict[str, Process], mqtt_entry: MockConfigEntry
) -> None:
    assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
    await wait_until(lambda: mqtt.is_connected(hass), "HA's MQTT client to connect", 15)

    # 1. Each instance's retained bridge/<name>/info starts a flow: one entry per instance.
    flows = await wait_until(
        lambda: (
            flows
            if len(flows := hass.config_entries.flow.async_progress_by_handler(DOMAIN)) == 2
            else None
        ),
        "a discovery flow per instance",
    )
    assert sorted(f["context"]["unique_id"] for f in flows) == [f"{BASE}#{n}" for n in NAMES]
    for flow in flows:
        await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    await hass.async_block_till_done()
    entries = {e.data["instance"]: e for e in hass.config_entries.async_entries(DOMAIN)}
    assert sorted(entries) == list(NAMES)
    assert all(e.state is ConfigEntryState.LOADED for e in entries.values())
    bridges = {name: entry.runtime_data for name, entry in entries.items()}

    # 2. Every miner listed by exactly one entry: the one whose instance the hash names.
    await wait_until(
        lambda: sum(len(b.devices) for b in bridges.values()) == len(MINERS), "all four miners"
    )
    owned: dict[str, str] = {}
    for index, name in enumerate(NAMES):
        for miner_id, record in bridges[name].devices.items():
            assert miner_id not in owned, f"{miner_id} listed twice"
            assert owner(shard_key(record["mac"], record["ip"]), len(NAMES)) == index
            owned[miner_id] = name
    assert set(owned.values()) == set(NAMES), f"one instance owns every miner: {owned}"
    await wait_until(
        lambda: all(
            float(state(hass, entity_id(hass, "sensor", miner, "hashrate"))) > 0 for miner in owned
        ),
        "every miner's hashrate",
    )

    # 3. An action on a miner goes out on its miner topic and its owner answers.
    target_miner = next(
        miner
        for name in NAMES
        for miner, record in bridges[name].devices.items()
        if "power_limit" in record["capabilities"]
    )
    b = owned[target_miner]
    a = next(name for name in NAMES if name != b)
    low, high = bridges[b].devices[target_miner]["power_limit_range"]
    limit = int(max(low, min(high, 3000)))
    device = bridges[b].device_for(target_miner)
    assert device is not None and entries[b].entry_id in device.config_entries
    assert entries[a].entry_id not in device.config_entries
    # the miner hangs from its instance's own bridge device, which B's entry holds too
    parent = dr.async_get(hass).async_get(device.via_device_id or "")
    assert parent is not None
    assert ("mqtt", f"asic_bridge_{BASE}_{b}") in parent.identifiers
    assert entries[b].entry_id in parent.config_entries
    assert entries[a].entry_id not in parent.config_entries
    await hass.services.async_call(
        DOMAIN, "set_power_limit", {"device_id": device.id, "power_limit": limit}, blocking=True
    )
    await wait_until(
        lambda: float(state(hass, entity_id(hass, "number", target_miner, "power_limit"))) == limit,
        "the power limit to come back",
    )

    # 4. B stops (its last state: offline): only B's miners become unavailable.
    shards[b].stop()
    await wait_until(lambda: bridges[b].online is False, f"{b} offline")
    await wait_until(
        lambda: all(
            state(hass, entity_id(hass, "sensor", miner, "hashrate")) == STATE_UNAVAILABLE
            for miner, name in owned.items()
            if name == b
        ),
        f"{b}'s miners unavailable",
    )
    for miner, name in owned.items():
        if name == a:
            assert state(hass, entity_id(hass, "sensor", miner, "hashrate")) not in (
                STATE_UNAVAILABLE,
                STATE_UNKNOWN,
            ), miner
    assert bridges[a].online is True
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, f"bridge_offline_{entries[b].entry_id}") is not None
    assert issues.async_get_issue(DOMAIN, f"bridge_offline_{entries[a].entry_id}") is None
