"""bridge/event and new errors -> asic_bridge_event; device triggers on top of them."""

from __future__ import annotations

import json

from homeassistant.components import automation
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_fire_mqtt_message,
    async_get_device_automations,
    async_mock_service,
)

from custom_components.asic_bridge.const import DOMAIN, EVENT_ASIC_BRIDGE, TRIGGER_TYPES

from .common import BASE, MINER, MINER2, bridge_device_id, miner_device, setup_bridge


def _bridge_event(hass: HomeAssistant, kind: str, **data) -> None:
    async_fire_mqtt_message(hass, f"{BASE}/bridge/event", json.dumps({"type": kind, "data": data}))


def _state(hass: HomeAssistant, miner: str, errors: list[str], retain: bool = True) -> None:
    state = {
        "hashrate": 100.0,
        "errors": len(errors),
        "error_messages": errors,
        "problem": bool(errors),
    }
    async_fire_mqtt_message(hass, f"{BASE}/{miner}", json.dumps(state), retain=retain)


@pytest.mark.parametrize("kind", ["miner_lost", "miner_online", "miner_found"])
async def test_bridge_events_become_ha_events(hass, mqtt_mock, kind) -> None:
    entry = await setup_bridge(hass)
    events = async_capture_events(hass, EVENT_ASIC_BRIDGE)
    _bridge_event(hass, kind, id=MINER, ip="10.0.0.5", mac="aa:bb:cc:dd:ee:ff")
    await hass.async_block_till_done()
    assert len(events) == 1
    assert events[0].data == {
        "type": kind,
        "device_id": miner_device(hass, MINER).id,
        "miner_id": MINER,
        "base_topic": BASE,
        "config_entry_id": entry.entry_id,
        "ip": "10.0.0.5",
        "mac": "aa:bb:cc:dd:ee:ff",
    }


async def test_event_for_a_miner_without_device(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    events = async_capture_events(hass, EVENT_ASIC_BRIDGE)
    _bridge_event(hass, "miner_found", id="newcomer", ip="10.0.0.9", make="AntMiner", model="S21")
    _bridge_event(hass, "ip_changed", id=MINER, old_ip="10.0.0.5", new_ip="10.0.0.6")
    await hass.async_block_till_done()
    assert [e.data["type"] for e in events] == ["miner_found", "ip_changed"]
    assert events[0].data["device_id"] is None
    assert events[0].data["model"] == "S21"
    assert events[1].data["new_ip"] == "10.0.0.6"


@pytest.mark.parametrize(
    "payload",
    ["", "not json", "[]", '{"data": {}}', '{"type": 5}', '{"type": "x", "data": {"type": "y"}}'],
)
async def test_malformed_events(hass, mqtt_mock, payload) -> None:
    await setup_bridge(hass)
    events = async_capture_events(hass, EVENT_ASIC_BRIDGE)
    async_fire_mqtt_message(hass, f"{BASE}/bridge/event", payload)
    await hass.async_block_till_done()
    # nothing raised; only the last one is a (miner-less) event, whose own keys stay ours
    assert all(e.data["type"] == "x" for e in events)


async def test_new_errors_from_state(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    events = async_capture_events(hass, EVENT_ASIC_BRIDGE)
    _state(hass, MINER, ["fan 2 lost"])  # retained replay: the baseline, not news
    await hass.async_block_till_done()
    assert events == []
    _state(hass, MINER, ["fan 2 lost", "chain 1 has 0 chips"], retain=False)
    _state(hass, MINER, ["chain 1 has 0 chips"], retain=False)  # one cleared: no event
    _state(hass, MINER2, ["PSU error"], retain=False)  # first state of MINER2: baseline
    _state(hass, MINER, ["chain 1 has 0 chips", "temperature too high"], retain=False)
    await hass.async_block_till_done()
    assert [(e.data["type"], e.data["miner_id"], e.data["error"]) for e in events] == [
        ("new_error", MINER, "chain 1 has 0 chips"),
        ("new_error", MINER, "temperature too high"),
    ]
    assert events[1].data["device_id"] == miner_device(hass, MINER).id
    assert events[1].data["errors"] == ["chain 1 has 0 chips", "temperature too high"]


async def test_device_triggers_listed(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    device = miner_device(hass, MINER)
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, device.id)
    ours = sorted(t["type"] for t in triggers if t["domain"] == DOMAIN)
    assert ours == sorted(TRIGGER_TYPES)
    # the bridge's own device (a connectivity sensor) has none
    bridge = dr.async_get(hass).async_get_or_create(
        config_entry_id=hass.config_entries.async_entries(DOMAIN)[0].entry_id,
        identifiers={("mqtt", bridge_device_id())},
        name="asic_bridge",
    )
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, bridge.id)
    assert [t for t in triggers if t["domain"] == DOMAIN] == []


async def test_device_triggers_fire(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    calls = async_mock_service(hass, "test", "automation")
    device = miner_device(hass, MINER)
    other = miner_device(hass, MINER2)
    automations = []
    for trigger_type in ("miner_lost", "miner_online", "new_error"):
        automations.append(
            {
                "trigger": {
                    "platform": "device",
                    "domain": DOMAIN,
                    "device_id": device.id,
                    "type": trigger_type,
                },
                "action": {
                    "service": "test.automation",
                    "data_template": {
                        "what": trigger_type,
                        "error": "{{ trigger.event.data.error }}",
                    },
                },
            }
        )
    assert await async_setup_component(hass, automation.DOMAIN, {automation.DOMAIN: automations})
    await hass.async_block_till_done()

    _bridge_event(hass, "miner_lost", id=MINER2, ip="10.0.0.6")  # another miner: no call
    _bridge_event(hass, "miner_lost", id=MINER, ip="10.0.0.5")
    _bridge_event(hass, "miner_online", id=MINER, ip="10.0.0.5")
    _state(hass, MINER, [])
    _state(hass, MINER, ["hashboard 2 failed"], retain=False)
    await hass.async_block_till_done()
    assert [c.data["what"] for c in calls] == ["miner_lost", "miner_online", "new_error"]
    assert calls[2].data["error"] == "hashboard 2 failed"
    assert other.id != device.id


async def test_invalid_trigger_type_rejected(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    device = miner_device(hass, MINER)
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "alias": "bad",
                "trigger": {
                    "platform": "device",
                    "domain": DOMAIN,
                    "device_id": device.id,
                    "type": "exploded",
                },
                "action": {"service": "test.automation"},
            }
        },
    )
    await hass.async_block_till_done()
    state = hass.states.get("automation.bad")
    assert state is not None and state.state == "unavailable"
