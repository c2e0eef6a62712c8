"""How a refused or failed action reaches the user: translated, and never as a traceback.

Bad input (a capability the miner lacks, a power limit outside its range) is refused before
anything is sent, with ``ServiceValidationError``; a bridge or miner failure is a
``HomeAssistantError``.  Both carry a translation key of ``strings.json``.  The calls go
through the paths users take: the frontend's websocket ``call_service`` and a script.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
import re
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.asic_bridge.const import DOMAIN

from .common import BASE, MINER, device_record, miner_device, next_publish, published, setup_bridge

STRINGS_JSON = (
    Path(__file__).resolve().parent.parent / "custom_components" / DOMAIN / "strings.json"
)
STRINGS = json.loads(STRINGS_JSON.read_text(encoding="utf-8"))["exceptions"]


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Records a user sees with a traceback (HA's "Unexpected exception"); debug-level
    records (HA keeps the stack there for developers) do not count."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.exc_info is not None and r.levelno > logging.DEBUG
    ]


async def answer_next(hass: HomeAssistant, mqtt_mock: Any, body: dict[str, Any]) -> None:
    """The bridge: answer the next command on <b>/<id>/set with ``body``."""
    topic, payload = await next_publish(hass, mqtt_mock, "/set")
    response = topic.rsplit("/", 1)[0] + "/response"
    async_fire_mqtt_message(
        hass, response, json.dumps({**body, "transaction": payload["transaction"]})
    )


async def ws_call(hass: HomeAssistant, client: Any, service: str, data: dict[str, Any]) -> Any:
    await client.send_json_auto_id(
        {"type": "call_service", "domain": DOMAIN, "service": service, "service_data": data}
    )
    return await client.receive_json()


async def test_out_of_range_power_limit_is_refused_before_sending(
    hass: HomeAssistant, mqtt_mock, hass_ws_client, caplog: pytest.LogCaptureFixture
) -> None:
    await setup_bridge(hass)  # the miner's range on bridge/devices: 1000-3500 W
    device = miner_device(hass, MINER)
    client = await hass_ws_client(hass)
    # the bridge as it answers such a command (should one reach it)
    bridge = hass.async_create_task(
        answer_next(
            hass,
            mqtt_mock,
            {"status": "error", "error": "power_limit 9000 W is outside 1000-3500 W"},
        )
    )
    caplog.set_level(logging.DEBUG, logger="homeassistant.components.websocket_api")
    caplog.set_level(logging.INFO)
    reply = await ws_call(
        hass, client, "set_power_limit", {"device_id": device.id, "power_limit": 9000}
    )
    await asyncio.sleep(0)
    bridge.cancel()
    assert not reply["success"]
    error = reply["error"]
    assert error["code"] == "service_validation_error"
    assert error["translation_key"] == "power_limit_out_of_range"
    assert error["translation_domain"] == DOMAIN
    assert error["message"].endswith(
        STRINGS["power_limit_out_of_range"]["message"].format(**error["translation_placeholders"])
    )
    assert "9000 W is outside 1000-3500 W" in error["message"]
    assert [t for t, _ in published(mqtt_mock) if t.endswith("/set")] == []
    assert tracebacks(caplog) == []


async def test_unsupported_action_is_refused_before_sending(
    hass: HomeAssistant, mqtt_mock, hass_ws_client, caplog: pytest.LogCaptureFixture
) -> None:
    await setup_bridge(hass)
    record = {**device_record(MINER), "capabilities": ["reboot"]}  # a stock miner: no sleep
    async_fire_mqtt_message(hass, f"{BASE}/bridge/devices", json.dumps([record]))
    await hass.async_block_till_done()
    device = miner_device(hass, MINER)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "stop_mining", {"device_id": device.id}, blocking=True
        )
    assert err.value.translation_key == "not_supported"
    assert err.value.translation_placeholders["command"] == "mining"
    client = await hass_ws_client(hass)
    reply = await ws_call(hass, client, "stop_mining", {"device_id": device.id})
    assert reply["error"]["code"] == "service_validation_error"
    assert "does not support mining" in reply["error"]["message"]
    assert published(mqtt_mock) == []
    assert tracebacks(caplog) == []


async def test_miner_failure_in_a_script_is_logged_without_traceback(
    hass: HomeAssistant, mqtt_mock, caplog: pytest.LogCaptureFixture
) -> None:
    await setup_bridge(hass)
    device = miner_device(hass, MINER)
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                "reboot_miner": {
                    "sequence": [{"action": f"{DOMAIN}.reboot", "target": {"device_id": device.id}}]
                }
            }
        },
    )
    caplog.set_level(logging.INFO)
    bridge = hass.async_create_task(
        answer_next(hass, mqtt_mock, {"status": "error", "error": "miner is not reachable"})
    )
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call("script", "reboot_miner", blocking=True)
    await bridge
    assert not isinstance(err.value, ServiceValidationError)  # a failure, not bad input
    assert err.value.translation_key == "command_failed"
    assert "miner is not reachable" in str(err.value)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("miner is not reachable" in r.getMessage() for r in errors), errors
    assert tracebacks(caplog) == []


async def test_failure_over_websocket_is_translated(
    hass: HomeAssistant, mqtt_mock, hass_ws_client
) -> None:
    """What the frontend shows for a miner failure: the translated bridge message.

    (HA 2025.1-2025.4 itself logs a HomeAssistantError of a websocket call with a traceback,
    2026.2 in one line; the integration cannot change that, so only the answer is checked.)
    """
    await setup_bridge(hass)
    device = miner_device(hass, MINER)
    client = await hass_ws_client(hass)
    bridge = hass.async_create_task(
        answer_next(hass, mqtt_mock, {"status": "error", "error": "miner is not reachable"})
    )
    reply = await ws_call(hass, client, "reboot", {"device_id": device.id})
    await bridge
    assert reply["error"]["code"] == "home_assistant_error"
    assert reply["error"]["translation_key"] == "command_failed"
    assert reply["error"]["message"].endswith(": miner is not reachable")


async def test_unknown_fleet_group_is_refused_before_sending(
    hass: HomeAssistant, mqtt_mock, hass_ws_client, caplog: pytest.LogCaptureFixture
) -> None:
    await setup_bridge(hass)  # bridge/info lists the groups all, garage
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "call_service",
            "domain": DOMAIN,
            "service": "set_fleet_power",
            "service_data": {"group": "shed", "target_w": 5000},
        }
    )
    reply = await client.receive_json()
    assert reply["error"]["code"] == "service_validation_error"
    assert reply["error"]["translation_key"] == "unknown_group"
    assert "shed is not a fleet group" in reply["error"]["message"]
    assert published(mqtt_mock) == []
    assert tracebacks(caplog) == []


def test_every_translation_key_raised_is_in_strings() -> None:
    """A key missing from strings.json shows the bare key to the user."""
    source = "\n".join(
        path.read_text(encoding="utf-8") for path in (STRINGS_JSON.parent).glob("*.py")
    )
    keys = set(re.findall(r'translation_key="(\w+)"', source))
    keys |= set(re.findall(r'_refuse\(\s*"(\w+)"', source))
    assert "command_failed" in keys and "not_supported" in keys
    assert sorted(keys - set(STRINGS)) == []
