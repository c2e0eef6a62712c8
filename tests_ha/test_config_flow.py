"""Config flow: user step (a bridge must answer), MQTT discovery, errors, duplicates."""

from __future__ import annotations

import asyncio
import json

from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
)

from custom_components.asic_bridge.const import CONF_BASE_TOPIC, DOMAIN, TIMEOUTS

from .common import INFO


def _discovery(
    topic: str = "asic_bridge/bridge/info", payload: str | None = None
) -> MqttServiceInfo:
    return MqttServiceInfo(
        topic=topic,
        payload=json.dumps(INFO) if payload is None else payload,
        qos=0,
        retain=True,
        subscribed_topic="asic_bridge/bridge/info",
        timestamp=0,
    )


async def _configure_answering(hass: HomeAssistant, flow_id: str, base: str) -> dict:
    """Submit the user form while a bridge keeps its retained info on <base>/bridge/info."""
    task = hass.async_create_task(
        hass.config_entries.flow.async_configure(flow_id, {CONF_BASE_TOPIC: base})
    )
    while not task.done():
        # Firing until the flow's subscription catches one stands in for the broker
        # replaying the retained message on subscribe.
        async_fire_mqtt_message(hass, f"{base}/bridge/info", json.dumps(INFO), retain=True)
        await asyncio.sleep(0.01)
    return await task


async def test_user_happy_path(hass: HomeAssistant, mqtt_mock, monkeypatch) -> None:
    monkeypatch.setitem(TIMEOUTS, "bridge_info", 5)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}

    result = await _configure_answering(hass, result["flow_id"], "site/asic")
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "ASIC Bridge (site/asic)"
    assert result["data"] == {CONF_BASE_TOPIC: "site/asic"}
    assert result["result"].unique_id == "site/asic"
    await hass.async_block_till_done()
    assert result["result"].state is config_entries.ConfigEntryState.LOADED


async def test_user_no_bridge(hass: HomeAssistant, mqtt_mock) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_TOPIC: "nobody_here"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "no_bridge"}
    # the user can fix the topic and go on
    result = await _configure_answering(hass, result["flow_id"], "asic_bridge")
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize("topic", ["bad/+/topic", "bad/#", "/leading", "trailing/", "", "a//b"])
async def test_user_invalid_topic(hass: HomeAssistant, mqtt_mock, topic: str) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_TOPIC: topic}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_BASE_TOPIC: "invalid_topic"}


async def test_user_without_mqtt(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_TOPIC: "asic_bridge"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "mqtt_unavailable"}


async def test_user_duplicate_aborts(hass: HomeAssistant, mqtt_mock) -> None:
    MockConfigEntry(
        domain=DOMAIN, data={CONF_BASE_TOPIC: "asic_bridge"}, unique_id="asic_bridge"
    ).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_TOPIC: "asic_bridge"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_mqtt_discovery_confirm(hass: HomeAssistant, mqtt_mock) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_MQTT}, data=_discovery()
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "mqtt_confirm"
    assert result["description_placeholders"] == {
        "base_topic": "asic_bridge",
        "version": "0.1.0",
        "miner_count": "2",
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_BASE_TOPIC: "asic_bridge"}
    assert result["result"].unique_id == "asic_bridge"


async def test_retained_bridge_info_starts_discovery(hass: HomeAssistant, mqtt_mock) -> None:
    """The manifest's mqtt key: a retained asic_bridge/bridge/info starts a flow."""
    async_fire_mqtt_message(hass, "asic_bridge/bridge/info", json.dumps(INFO), retain=True)
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    assert flows[0]["context"]["source"] == config_entries.SOURCE_MQTT
    assert flows[0]["context"]["unique_id"] == "asic_bridge"
    assert flows[0]["step_id"] == "mqtt_confirm"


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("asic_bridge/bridge/info", ""),
        ("asic_bridge/bridge/info", "not json"),
        ("asic_bridge/bridge/info", "[1, 2]"),
        ("asic_bridge/bridge/info", '{"no": "version"}'),
        ("asic_bridge/bridge/other", None),
    ],
)
async def test_mqtt_discovery_invalid(
    hass: HomeAssistant, mqtt_mock, topic: str, payload: str | None
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_MQTT}, data=_discovery(topic, payload)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_discovery_info"


async def test_mqtt_discovery_duplicate_aborts(hass: HomeAssistant, mqtt_mock) -> None:
    MockConfigEntry(
        domain=DOMAIN, data={CONF_BASE_TOPIC: "asic_bridge"}, unique_id="asic_bridge"
    ).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_MQTT}, data=_discovery()
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
