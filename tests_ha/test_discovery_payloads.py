"""The bridge's discovery payloads, fed through Home Assistant's own MQTT discovery.

``gen_discovery.py`` runs in the daemon's venv and writes the payloads the daemon really
publishes (``asic_bridge.bridge.entities``) plus a matching retained state.  Each case is
replayed here as the broker would: availability and state, then the discovery configs.
Home Assistant must create every entity (proof it accepted the config) with the announced
device class, unit, state class, category and device, render a value from the state, log no
MQTT/template complaint, and follow availability (bridge AND miner).
"""

from __future__ import annotations

from datetime import datetime
import json
import logging
import re
from typing import Any

from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from .common import replay_discovery

# Loggers whose warnings mean HA rejected or mis-rendered something the bridge sent.
WATCHED = (
    "homeassistant.components.mqtt",
    "homeassistant.helpers.template",
    "homeassistant.components.sensor",
    "homeassistant.helpers.entity",
    "homeassistant.helpers.entity_platform",
    "homeassistant.helpers.device_registry",
)


CASE_NAMES = [
    "s19_entity_mode",
    "s19_before_first_poll",
    "s19_with_errors",
    "m30_device_mode",
    "m30_entity_mode_modes",
    "l7_scrypt_friendly_name",
    "cgminer_minimal_no_mac",
    "cgminer_before_first_poll_missing_values",
    "s19_stock_no_power",
    "bitaxe_single_board",
    "vnish_preset_select",
    "auradine_unknown_range",
    "epic_fan_control",
    "bridge_device",
]


def _configs(case: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(component, entity config, device block) for every entity a case announces."""
    out = []
    for topic, payload in case["messages"].items():
        if case["device_mode"]:
            for component in payload["components"].values():
                out.append((component["platform"], component, payload["device"]))
        else:
            out.append((topic.split("/")[1], payload, payload["device"]))
    return out


def _key(config: dict[str, Any]) -> str | None:
    found = re.search(r"value_json\.(\w+)", config.get("value_template", ""))
    return found.group(1) if found else None


@pytest.mark.parametrize("name", CASE_NAMES)
async def test_ha_accepts_discovery(
    hass: HomeAssistant,
    mqtt_mock,
    caplog: pytest.LogCaptureFixture,
    discovery_cases: dict[str, dict[str, Any]],
    name: str,
) -> None:
    case = discovery_cases[name]
    caplog.set_level(logging.WARNING)
    await replay_discovery(hass, case)

    complaints = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith(WATCHED)
    ]
    assert complaints == [], "\n".join(complaints)

    entities = er.async_get(hass)
    devices = dr.async_get(hass)
    state_values = case["state"] or {}
    configs = _configs(case)
    assert configs, "the case announces nothing"
    names: dict[str | None, list[str]] = {}
    for component, config, device_block in configs:
        what = f"{component} {config['unique_id']}"
        entity_id = entities.async_get_entity_id(component, "mqtt", config["unique_id"])
        assert entity_id is not None, f"HA did not create {what}"
        entry = entities.async_get(entity_id)
        assert entry is not None
        assert entry.entity_category == config.get("entity_category"), what
        state = hass.states.get(entity_id)
        assert state is not None, what
        attributes = state.attributes
        assert attributes.get("device_class") == config.get("device_class"), what
        if component in ("sensor", "number"):
            assert attributes.get("unit_of_measurement") == config.get("unit_of_measurement"), what
        if component == "sensor":
            assert attributes.get("state_class") == config.get("state_class"), what
        if component == "number":
            assert attributes["min"] == config["min"], what
            assert attributes["max"] == config["max"], what
            assert attributes["step"] == config["step"], what
        if component == "select":
            assert attributes["options"] == config["options"], what

        # the entity id the bridge asked for, whatever this HA version reads (object_id up to
        # 2025.9, default_entity_id after): not one derived from the device name
        assert entity_id == config["default_entity_id"], what
        assert entity_id == f"{component}.{config['object_id']}", what

        key = _key(config)
        if key is not None and key in state_values:
            value = state_values[key]
            assert state.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE), f"{what}: {state.state}"
            if key == "pool_url":  # host:port shown, the whole URL an attribute
                assert state.state == value.split("://")[-1], what
                assert attributes["url"] == value, what
            elif component in ("binary_sensor", "switch"):
                assert state.state == ("on" if value else "off"), what
            elif config.get("device_class") == "timestamp":
                assert datetime.fromisoformat(state.state) == datetime.fromisoformat(value), what
            elif isinstance(value, int | float) and not isinstance(value, bool):
                assert float(state.state) == pytest.approx(float(value)), what
            else:
                assert state.state == str(value), what

        device = devices.async_get(entry.device_id) if entry.device_id else None
        names.setdefault(entry.device_id, []).append(state.attributes.get("friendly_name"))
        assert device is not None, f"{what} has no device"
        assert ("mqtt", device_block["identifiers"][0]) in device.identifiers
        assert device.name == device_block["name"]
        assert device.manufacturer == device_block.get("manufacturer")
        assert device.model == device_block.get("model")
        assert device.sw_version == device_block.get("sw_version")
        assert device.configuration_url == device_block.get("configuration_url")
        for kind, value in device_block.get("connections", []):
            assert (kind, dr.format_mac(value)) in device.connections
        if "via_device" in device_block:
            parent = devices.async_get_device(identifiers={("mqtt", device_block["via_device"])})
            assert parent is not None and device.via_device_id == parent.id, what

    # every entity of a device has its own name on the device page
    for device_names in names.values():
        assert len(device_names) == len(set(device_names)), sorted(device_names)

    # availability = bridge online AND miner online
    if case["availability_topic"]:
        ids = [
            entities.async_get_entity_id(component, "mqtt", config["unique_id"])
            for component, config, _ in configs
        ]
        async_fire_mqtt_message(hass, case["availability_topic"], "offline")
        await hass.async_block_till_done()
        assert {hass.states.get(i).state for i in ids} == {STATE_UNAVAILABLE}
        async_fire_mqtt_message(hass, case["availability_topic"], "online")
        await hass.async_block_till_done()
        assert STATE_UNAVAILABLE not in {hass.states.get(i).state for i in ids}
        async_fire_mqtt_message(hass, case["bridge_state_topic"], "offline")
        await hass.async_block_till_done()
        assert {hass.states.get(i).state for i in ids} == {STATE_UNAVAILABLE}


async def test_only_what_the_miner_reports(
    hass: HomeAssistant, mqtt_mock, discovery_cases: dict[str, dict[str, Any]]
) -> None:
    """No 0 kWh energy sensor without power, no board sensors repeating a single board's
    totals, one "Mining" entity, a bridge device named once."""
    entities = er.async_get(hass)
    for name in ("s19_stock_no_power", "bitaxe_single_board", "s19_entity_mode", "bridge_device"):
        await replay_discovery(hass, discovery_cases[name])
    by_miner: dict[str, set[tuple[str, str]]] = {}
    for entry in entities.entities.values():
        miner, _, key = entry.unique_id.removeprefix("asic_bridge_").partition("_")
        by_miner.setdefault(miner, set()).add((entry.domain, key))
    no_power = by_miner[discovery_cases["s19_stock_no_power"]["miner_id"]]
    assert ("sensor", "hashrate") in no_power
    assert ("sensor", "energy") not in no_power and ("sensor", "power") not in no_power
    bitaxe = by_miner[discovery_cases["bitaxe_single_board"]["miner_id"]]
    assert ("sensor", "hashrate") in bitaxe and ("sensor", "energy") in bitaxe
    assert not [key for _, key in bitaxe if key.startswith("board_")]
    s19 = by_miner[discovery_cases["s19_entity_mode"]["miner_id"]]
    assert ("sensor", "board_2_hashrate") in s19
    assert [d for d, key in s19 if key == "mining"] == ["switch"]
    bridge = dr.async_get(hass).async_get_device(identifiers={("mqtt", "asic_bridge_asic_bridge")})
    assert bridge is not None and bridge.name == "ASIC Bridge"


async def test_removed_miner_clears_entities(
    hass: HomeAssistant, mqtt_mock, discovery_cases: dict[str, dict[str, Any]]
) -> None:
    """An empty retained config (what the bridge sends for a removed miner) deletes it."""
    case = discovery_cases["s19_entity_mode"]
    await replay_discovery(hass, case)
    entities = er.async_get(hass)
    for topic in case["messages"]:
        async_fire_mqtt_message(hass, topic, "")
    await hass.async_block_till_done()
    for component, config, _ in _configs(case):
        assert entities.async_get_entity_id(component, "mqtt", config["unique_id"]) is None
    device = dr.async_get(hass).async_get_device(
        identifiers={("mqtt", f"asic_bridge_{case['miner_id']}")}
    )
    assert device is None


async def test_missing_value_is_unknown_not_stale(
    hass: HomeAssistant,
    mqtt_mock,
    caplog: pytest.LogCaptureFixture,
    discovery_cases: dict[str, dict[str, Any]],
) -> None:
    """A value a poll did not report turns "unknown" (no stale reading, no log spam)."""
    case = discovery_cases["s19_entity_mode"]
    await replay_discovery(hass, case)
    entities = er.async_get(hass)
    miner = case["miner_id"]
    ids = {
        key: entities.async_get_entity_id(component, "mqtt", f"asic_bridge_{miner}_{key}")
        for component, key in (
            ("sensor", "power"),
            ("binary_sensor", "problem"),
            ("switch", "mining"),
            ("number", "power_limit"),
        )
    }
    assert hass.states.get(ids["power"]).state == "3250"
    caplog.set_level(logging.WARNING)
    left_out = ("power", "problem", "mining", "power_limit")
    state = {k: v for k, v in case["state"].items() if k not in left_out}
    async_fire_mqtt_message(hass, f"{case['base_topic']}/{miner}", json.dumps(state))
    await hass.async_block_till_done()
    assert {key: hass.states.get(entity_id).state for key, entity_id in ids.items()} == {
        key: STATE_UNKNOWN for key in ids
    }
    assert [
        r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith(WATCHED)
    ] == []
