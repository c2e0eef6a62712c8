"""Setup/unload, device linking, the offline repair issue, diagnostics."""

from __future__ import annotations

from datetime import timedelta
import json
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
    async_fire_time_changed,
)

from custom_components.asic_bridge import async_remove_config_entry_device
from custom_components.asic_bridge.const import CONF_BASE_TOPIC, DOMAIN, OFFLINE_GRACE_SECONDS
from custom_components.asic_bridge.diagnostics import (
    async_get_config_entry_diagnostics,
    async_get_device_diagnostics,
)

from .common import (
    BASE,
    INFO,
    MINER,
    MINER2,
    bridge_device_id,
    device_record,
    discover_miner,
    miner_device,
    setup_bridge,
)


async def test_setup_and_unload(hass, mqtt_mock) -> None:
    entry = await setup_bridge(hass)
    assert entry.state is ConfigEntryState.LOADED
    bridge = entry.runtime_data
    assert bridge.online is True
    assert bridge.info["version"] == "0.1.0"
    assert set(bridge.devices) == {MINER, MINER2}
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED
    # the MQTT entities are MQTT's: they stay
    assert hass.states.get("sensor.s19j_pro_aabbccddeeff_hashrate") is not None


async def test_setup_retries_without_mqtt(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, "mqtt", {})
    entry = MockConfigEntry(domain=DOMAIN, data={CONF_BASE_TOPIC: BASE}, unique_id=BASE)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_devices_linked_and_detached(hass, mqtt_mock) -> None:
    entry = await setup_bridge(hass)
    registry = dr.async_get(hass)
    for miner in (MINER, MINER2):
        assert entry.entry_id in miner_device(hass, miner).config_entries
    # a miner discovered after the device list arrived is linked as soon as HA creates it
    async_fire_mqtt_message(
        hass,
        f"{BASE}/bridge/devices",
        json.dumps([device_record(MINER), device_record(MINER2), device_record("late_one")]),
    )
    await hass.async_block_till_done()
    discover_miner(hass, "late_one")
    await hass.async_block_till_done()
    assert entry.entry_id in miner_device(hass, "late_one").config_entries
    # the bridge forgets MINER2: detached from this entry, still MQTT's device
    async_fire_mqtt_message(
        hass,
        f"{BASE}/bridge/devices",
        json.dumps([device_record(MINER), device_record("late_one")]),
    )
    await hass.async_block_till_done()
    device2 = miner_device(hass, MINER2)
    assert entry.entry_id not in device2.config_entries
    assert device2.config_entries  # MQTT still holds it
    bridge = registry.async_get_device(identifiers={("mqtt", bridge_device_id())})
    assert bridge is not None  # MQTT created it from the miners' via_device
    assert {d.id for d in dr.async_entries_for_config_entry(registry, entry.entry_id)} == {
        miner_device(hass, MINER).id,
        miner_device(hass, "late_one").id,
        bridge.id,
    }
    # removing a device the bridge still reports is refused, a forgotten one allowed
    assert not await async_remove_config_entry_device(hass, entry, miner_device(hass, MINER))
    assert await async_remove_config_entry_device(hass, entry, device2)


async def test_repair_issue_after_grace(hass, mqtt_mock, monkeypatch) -> None:
    monkeypatch.setitem(OFFLINE_GRACE_SECONDS, "value", 30)
    entry = await setup_bridge(hass)
    issues = ir.async_get(hass)
    issue_id = f"bridge_offline_{entry.entry_id}"
    async_fire_mqtt_message(hass, f"{BASE}/bridge/state", "offline")
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is None  # a restart is not an issue
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done()
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "bridge_offline"
    assert issue.translation_placeholders["base_topic"] == BASE
    assert issue.severity is ir.IssueSeverity.ERROR
    async_fire_mqtt_message(hass, f"{BASE}/bridge/state", "online")
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is None


async def test_quick_restart_raises_no_issue(hass, mqtt_mock, monkeypatch) -> None:
    monkeypatch.setitem(OFFLINE_GRACE_SECONDS, "value", 30)
    entry = await setup_bridge(hass)
    async_fire_mqtt_message(hass, f"{BASE}/bridge/state", "offline")
    await hass.async_block_till_done()
    async_fire_mqtt_message(hass, f"{BASE}/bridge/state", "online")
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"bridge_offline_{entry.entry_id}") is None


async def test_repair_issue_immediate_and_cleared_on_unload(hass, mqtt_mock, monkeypatch) -> None:
    monkeypatch.setitem(OFFLINE_GRACE_SECONDS, "value", 0)
    entry = await setup_bridge(hass, online=False)
    issue_id = f"bridge_offline_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


@pytest.fixture
def secret_state() -> dict:
    return {
        "hashrate": 98.5,
        "power": 3250,
        "mac": "aa:bb:cc:dd:ee:ff",
        "pool_url": "stratum+tcp://worker1:s3cret@pool.example:3333",
        "pool_user": "bc1qwalletaddress.worker1",
        "error_messages": [],
    }


async def test_diagnostics_redacted(hass, mqtt_mock, secret_state) -> None:
    entry = await setup_bridge(hass)
    async_fire_mqtt_message(hass, f"{BASE}/{MINER}", json.dumps(secret_state), retain=True)
    info = {
        **INFO,
        "config": {
            "mqtt": {"url": "mqtt://asic_bridge:hunter2@broker:1883", "password": "hunter2"}
        },
    }
    async_fire_mqtt_message(hass, f"{BASE}/bridge/info", json.dumps(info))
    await hass.async_block_till_done()

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    text = json.dumps(diagnostics)
    for secret in ("hunter2", "s3cret", "bc1qwalletaddress", "aa:bb:cc:dd:ee:ff", "worker1:"):
        assert secret not in text, secret
    assert diagnostics["bridge"]["online"] is True
    assert diagnostics["bridge"]["info"]["config"]["mqtt"]["password"] == "**REDACTED**"
    assert (
        diagnostics["bridge"]["info"]["config"]["mqtt"]["url"] == "mqtt://**REDACTED**@broker:1883"
    )
    assert diagnostics["states"][MINER]["power"] == 3250
    assert (
        diagnostics["states"][MINER]["pool_url"] == "stratum+tcp://**REDACTED**@pool.example:3333"
    )
    assert diagnostics["bridge"]["devices"][0]["mac"] == "**REDACTED**"

    device = await async_get_device_diagnostics(hass, entry, miner_device(hass, MINER))
    assert device["miner_id"] == MINER
    assert device["state"]["hashrate"] == 98.5
    assert device["state"]["pool_user"] == "**REDACTED**"
    assert device["device"]["model"] == "S19j Pro"
    assert "s3cret" not in json.dumps(device)


async def test_diagnostics_through_the_api(hass, mqtt_mock, hass_client, secret_state) -> None:
    """The diagnostics integration finds our platform (config entry and device)."""

    async def get_diagnostics(path: str) -> dict[str, Any]:
        # the diagnostics HTTP API itself (older phcc releases have no helper for it)
        client = await hass_client()
        response = await client.get(f"/api/diagnostics/config_entry/{path}")
        assert response.status == 200
        body = await response.json()
        return body["data"]

    assert await async_setup_component(hass, "diagnostics", {})
    entry = await setup_bridge(hass)
    async_fire_mqtt_message(hass, f"{BASE}/{MINER}", json.dumps(secret_state), retain=True)
    await hass.async_block_till_done()
    result = await get_diagnostics(entry.entry_id)
    assert result["bridge"]["base_topic"] == BASE
    result = await get_diagnostics(f"{entry.entry_id}/device/{miner_device(hass, MINER).id}")
    assert result["state"]["pool_url"].startswith("stratum+tcp://**REDACTED**@")
