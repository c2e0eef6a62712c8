"""A write from an MQTT entity (number, switch) that the bridge refuses or the miner fails.

The entities are the bridge's real discovery payloads; the writes go through HA's own MQTT
number and switch.  The answer on ``<b>/<id>/response`` carries no transaction (HA's
entities send plain values), so nobody waits for it: the integration turns a refusal into an
``asic_bridge_event`` and a persistent notification, and the entity keeps the real state.
"""

from __future__ import annotations

import json
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_fire_mqtt_message,
)

from custom_components.asic_bridge.const import EVENT_ASIC_BRIDGE

from .common import BASE, device_record, miner_device, replay_discovery, setup_bridge


async def notifications(hass: HomeAssistant, client: Any) -> dict[str, dict[str, Any]]:
    await client.send_json_auto_id({"type": "persistent_notification/get"})
    reply = await client.receive_json()
    assert reply["success"], reply
    return {n["notification_id"]: n for n in reply["result"]}


async def test_refused_entity_writes_show_why_and_keep_the_real_state(
    hass: HomeAssistant, mqtt_mock, hass_ws_client, discovery_cases: dict[str, dict[str, Any]]
) -> None:
    assert await async_setup_component(hass, "persistent_notification", {})
    case = discovery_cases["s19_entity_mode"]
    await replay_discovery(hass, case)
    miner = case["miner_id"]
    await setup_bridge(hass, miners=())
    async_fire_mqtt_message(hass, f"{BASE}/bridge/devices", json.dumps([device_record(miner)]))
    await hass.async_block_till_done()
    events = async_capture_events(hass, EVENT_ASIC_BRIDGE)
    client = await hass_ws_client(hass)
    registry = er.async_get(hass)
    number = registry.async_get_entity_id("number", "mqtt", f"asic_bridge_{miner}_power_limit")
    switch = registry.async_get_entity_id("switch", "mqtt", f"asic_bridge_{miner}_mining")
    assert number and switch
    real_limit = hass.states.get(number).state
    assert real_limit == str(case["state"]["power_limit"])
    assert hass.states.get(switch).state == "on"

    # the user sets a power limit and stops mining from the entities
    mqtt_mock.async_publish.reset_mock()
    await hass.services.async_call(
        "number", "set_value", {"entity_id": number, "value": 2000}, blocking=True
    )
    await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)
    topics = [call.args[0] for call in mqtt_mock.async_publish.call_args_list]
    assert topics == [f"{BASE}/{miner}/set/power_limit", f"{BASE}/{miner}/set/mining"]

    # the miner fails the first, the bridge cannot confirm the second; then it republishes
    # the real state
    response = f"{BASE}/{miner}/response"
    for body in (
        {"status": "error", "command": "power_limit", "error": "btminer answered: not allowed"},
        {"status": "unknown", "command": "mining", "error": "the miner did not confirm in time"},
    ):
        async_fire_mqtt_message(hass, response, json.dumps({**body, "transaction": None}))
    async_fire_mqtt_message(hass, f"{BASE}/{miner}", json.dumps(case["state"]))
    await hass.async_block_till_done()

    assert hass.states.get(number).state == real_limit
    assert hass.states.get(switch).state == "on"
    failed = [e.data for e in events if e.data["type"] == "command_failed"]
    device = miner_device(hass, miner)
    assert [(e["command"], e["status"], e["device_id"]) for e in failed] == [
        ("power_limit", "error", device.id),
        ("mining", "unknown", device.id),
    ]
    shown = await notifications(hass, client)
    assert len(shown) == 2, shown
    by_command = {n["title"].rsplit(": ", 1)[-1]: n for n in shown.values()}
    assert set(by_command) == {"power_limit not applied", "mining not applied"}
    assert "btminer answered: not allowed" in by_command["power_limit not applied"]["message"]
    assert miner in by_command["mining not applied"]["title"]

    # a later write of the same field that works takes its notification away
    async_fire_mqtt_message(
        hass,
        response,
        json.dumps({"status": "ok", "command": "power_limit", "error": None, "transaction": None}),
    )
    await hass.async_block_till_done()
    shown = await notifications(hass, client)
    assert [n["title"] for n in shown.values()] == [by_command["mining not applied"]["title"]]


async def test_answers_to_our_own_requests_raise_no_notification(
    hass: HomeAssistant, mqtt_mock, hass_ws_client
) -> None:
    """An answer with a transaction belongs to whoever sent it (our actions raise it)."""
    assert await async_setup_component(hass, "persistent_notification", {})
    await setup_bridge(hass)
    events = async_capture_events(hass, EVENT_ASIC_BRIDGE)
    async_fire_mqtt_message(
        hass,
        f"{BASE}/aabbccddeeff/response",
        json.dumps({"status": "error", "command": "mining", "error": "x", "transaction": "t9"}),
    )
    async_fire_mqtt_message(
        hass,
        f"{BASE}/bridge/response/poll",
        json.dumps({"status": "error", "error": "x", "transaction": None}),
    )
    await hass.async_block_till_done()
    assert await notifications(hass, await hass_ws_client(hass)) == {}
    assert events == []


async def test_preset_select_sends_the_chosen_firmware_preset(
    hass: HomeAssistant, mqtt_mock, discovery_cases: dict[str, dict[str, Any]]
) -> None:
    """The Preset select (the firmware's own list) writes the chosen name to set/preset; a
    refusal leaves it showing the preset the miner runs."""
    case = discovery_cases["vnish_preset_select"]
    await replay_discovery(hass, case)
    miner = case["miner_id"]
    await setup_bridge(hass, miners=())
    record = {**device_record(miner), "presets": ["disabled", "2400", "2600", "3068"]}
    async_fire_mqtt_message(hass, f"{BASE}/bridge/devices", json.dumps([record]))
    await hass.async_block_till_done()
    registry = er.async_get(hass)
    select = registry.async_get_entity_id("select", "mqtt", f"asic_bridge_{miner}_preset")
    assert select
    state = hass.states.get(select)
    assert state.state == "2600" and state.attributes["options"] == record["presets"]

    mqtt_mock.async_publish.reset_mock()
    await hass.services.async_call(
        "select", "select_option", {"entity_id": select, "option": "3068"}, blocking=True
    )
    calls = [(c.args[0], c.args[1]) for c in mqtt_mock.async_publish.call_args_list]
    assert calls == [(f"{BASE}/{miner}/set/preset", "3068")]

    response = f"{BASE}/{miner}/response"
    body = {"status": "error", "command": "preset", "error": "VNish preset: asked for 3068, "
            "the miner reports 2600", "transaction": None}  # fmt: skip
    async_fire_mqtt_message(hass, response, json.dumps(body))
    async_fire_mqtt_message(hass, f"{BASE}/{miner}", json.dumps(case["state"]))
    await hass.async_block_till_done()
    assert hass.states.get(select).state == "2600"


async def test_fan_select_and_number_send_fan_commands(
    hass: HomeAssistant, mqtt_mock, discovery_cases: dict[str, dict[str, Any]]
) -> None:
    """The Fan mode select writes the chosen mode to set/fan_mode and the Manual fan speed
    number its value to set/fan_speed; both show what the state reports (the duty in %), and
    follow it when the bridge publishes the read-back."""
    case = discovery_cases["epic_fan_control"]
    await replay_discovery(hass, case)
    miner = case["miner_id"]
    await setup_bridge(hass, miners=())
    async_fire_mqtt_message(hass, f"{BASE}/bridge/devices", json.dumps([device_record(miner)]))
    await hass.async_block_till_done()
    registry = er.async_get(hass)
    select = registry.async_get_entity_id("select", "mqtt", f"asic_bridge_{miner}_fan_mode")
    number = registry.async_get_entity_id("number", "mqtt", f"asic_bridge_{miner}_fan_speed")
    sensor = registry.async_get_entity_id("sensor", "mqtt", f"asic_bridge_{miner}_fan_percent")
    assert select and number and sensor
    assert hass.states.get(select).state == "auto"
    assert hass.states.get(select).attributes["options"] == ["auto", "manual"]
    assert float(hass.states.get(number).state) == 45
    assert hass.states.get(number).attributes["unit_of_measurement"] == "%"
    assert float(hass.states.get(sensor).state) == 45

    mqtt_mock.async_publish.reset_mock()
    await hass.services.async_call(
        "select", "select_option", {"entity_id": select, "option": "manual"}, blocking=True
    )
    await hass.services.async_call(
        "number", "set_value", {"entity_id": number, "value": 70}, blocking=True
    )
    calls = [(c.args[0], c.args[1]) for c in mqtt_mock.async_publish.call_args_list]
    assert calls == [
        (f"{BASE}/{miner}/set/fan_mode", "manual"),
        (f"{BASE}/{miner}/set/fan_speed", "70"),
    ]

    state = {**case["state"], "fan_mode": "manual", "fan_percent": 70}
    async_fire_mqtt_message(hass, f"{BASE}/{miner}", json.dumps(state))
    await hass.async_block_till_done()
    assert hass.states.get(select).state == "manual"
    assert float(hass.states.get(number).state) == 70
    assert float(hass.states.get(sensor).state) == 70
