"""Several sharded bridges on one base topic: one config entry per instance.

Two instances (``hall-a``, ``hall-b``) share the base topic ``asic_bridge``; each publishes
its own ``bridge/<instance>/state|info|devices`` and owns its miners, whose topics stay
``asic_bridge/<id>``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
)

from custom_components.asic_bridge.const import (
    CONF_BASE_TOPIC,
    CONF_INSTANCE,
    DOMAIN,
    OFFLINE_GRACE_SECONDS,
    TIMEOUTS,
)
from custom_components.asic_bridge.diagnostics import async_get_config_entry_diagnostics

from .common import (
    BASE,
    INFO,
    bridge_device_id,
    device_record,
    discover_miner,
    miner_device,
    next_publish,
    published,
    setup_bridge,
)

A, B = "hall-a", "hall-b"
MINERS = {A: ("a1", "a2"), B: ("b1",)}


def _info(instance: str, index: int) -> dict[str, Any]:
    config = {**INFO["config"], "fleet_groups": []}  # sharded: the bridge drops them all
    return {
        **INFO,
        "config": config,
        "shard": {"index": index, "count": 2, "name": instance},
        "miner_count": len(MINERS[instance]),
    }


def _publish_instance(hass: HomeAssistant, instance: str, index: int) -> None:
    """What one sharded daemon retains: its state, info and device list."""
    own = f"{BASE}/bridge/{instance}"
    async_fire_mqtt_message(hass, f"{own}/state", "online", retain=True)
    async_fire_mqtt_message(hass, f"{own}/info", json.dumps(_info(instance, index)), retain=True)
    records = [device_record(m, ip=f"10.0.{index}.{i + 5}") for i, m in enumerate(MINERS[instance])]
    async_fire_mqtt_message(hass, f"{own}/devices", json.dumps(records), retain=True)


async def _farm(hass: HomeAssistant) -> dict[str, ConfigEntry]:
    """Both instances' miners discovered, an entry per instance set up, their topics replayed."""
    for instance, miners in MINERS.items():
        for miner_id in miners:
            discover_miner(hass, miner_id, instance=instance)
    await hass.async_block_till_done()
    entries: dict[str, ConfigEntry] = {}
    for instance in MINERS:
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=f"ASIC Bridge {instance}",
            data={CONF_BASE_TOPIC: BASE, CONF_INSTANCE: instance},
            unique_id=f"{BASE}#{instance}",
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        entries[instance] = entry
    await hass.async_block_till_done()
    for index, instance in enumerate(MINERS):
        _publish_instance(hass, instance, index)
        for miner_id in MINERS[instance]:
            async_fire_mqtt_message(hass, f"{BASE}/{miner_id}/availability", "online", retain=True)
    await hass.async_block_till_done()
    return entries


def _hashrate(hass: HomeAssistant, miner_id: str) -> str:
    state = hass.states.get(f"sensor.s19j_pro_{miner_id}_hashrate")
    assert state is not None, miner_id
    return state.state


async def test_discovery_of_two_instances_makes_two_entries(hass, mqtt_mock) -> None:
    """The manifest's ``asic_bridge/bridge/+/info``: each instance's retained info starts its
    own flow, and confirming both gives two entries that keep the instances apart."""
    for index, instance in enumerate(MINERS):
        info = json.dumps(_info(instance, index))
        async_fire_mqtt_message(hass, f"{BASE}/bridge/{instance}/info", info, retain=True)
        # the flow starts once the discovery subscription has taken the message
        for _ in range(20):
            await hass.async_block_till_done()
            flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
            if len(flows) > index:
                break
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert sorted(f["context"]["unique_id"] for f in flows) == [f"{BASE}#{A}", f"{BASE}#{B}"]
    for flow in flows:
        result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
        assert result["type"] is FlowResultType.CREATE_ENTRY
    entries = {e.unique_id: e for e in hass.config_entries.async_entries(DOMAIN)}
    assert entries[f"{BASE}#{B}"].data == {CONF_BASE_TOPIC: BASE, CONF_INSTANCE: B}
    assert entries[f"{BASE}#{B}"].title == f"ASIC Bridge {B}"
    assert entries[f"{BASE}#{A}"].data == {CONF_BASE_TOPIC: BASE, CONF_INSTANCE: A}
    # a second announcement of an instance is the same entry
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": config_entries.SOURCE_MQTT},
        data=_service_info(f"{BASE}/bridge/{A}/info", _info(A, 0)),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


def _service_info(topic: str, info: dict[str, Any]) -> MqttServiceInfo:
    return MqttServiceInfo(
        topic=topic,
        payload=json.dumps(info),
        qos=0,
        retain=True,
        subscribed_topic=f"{BASE}/bridge/+/info",
        timestamp=0,
    )


@pytest.mark.parametrize(
    ("topic", "info"),
    [
        # the instance level does not match what the info says it is
        (f"{BASE}/bridge/{B}/info", _info(A, 0)),
        # sharded info published where an unsharded bridge's goes, and the reverse
        (f"{BASE}/bridge/info", _info(A, 0)),
        (f"{BASE}/bridge/{A}/info", INFO),
        # a bridge's own topic level is never an instance
        (f"{BASE}/bridge/response/info", {**INFO, "shard": {"count": 2, "name": "response"}}),
    ],
)
async def test_discovery_refuses_an_info_on_the_wrong_topic(hass, mqtt_mock, topic, info) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_MQTT}, data=_service_info(topic, info)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_discovery_info"


async def test_user_step_with_an_instance(hass, mqtt_mock, monkeypatch) -> None:
    """Entered by hand: the flow waits for that instance's info, not the unsharded one."""
    monkeypatch.setitem(TIMEOUTS, "bridge_info", 5)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_TOPIC: BASE, CONF_INSTANCE: "bad/level"}
    )
    assert result["errors"] == {CONF_INSTANCE: "invalid_instance"}
    task = hass.async_create_task(
        hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_BASE_TOPIC: BASE, CONF_INSTANCE: B}
        )
    )
    while not task.done():  # the broker's replay of the retained info on subscribe
        async_fire_mqtt_message(
            hass, f"{BASE}/bridge/{B}/info", json.dumps(_info(B, 1)), retain=True
        )
        await asyncio.sleep(0.01)
    result = await task
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_BASE_TOPIC: BASE, CONF_INSTANCE: B}
    assert result["result"].unique_id == f"{BASE}#{B}"


async def test_each_entry_sees_only_its_own_miners(hass, mqtt_mock) -> None:
    entries = await _farm(hass)
    for instance, entry in entries.items():
        bridge = entry.runtime_data
        assert sorted(bridge.devices) == sorted(MINERS[instance])
        assert bridge.online is True
        for miner_id in MINERS[instance]:
            device = miner_device(hass, miner_id)
            assert entry.entry_id in device.config_entries
            other = entries[B if instance == A else A]
            assert other.entry_id not in device.config_entries
    # a miner state on the shared topics is only its owner's
    async_fire_mqtt_message(hass, f"{BASE}/b1", json.dumps({"hashrate": 90.0}))
    await hass.async_block_till_done()
    assert entries[B].runtime_data.states["b1"] == {"hashrate": 90.0}
    assert "b1" not in entries[A].runtime_data.states
    diagnostics = await async_get_config_entry_diagnostics(hass, entries[B])
    assert diagnostics["bridge"]["instance"] == B
    assert list(diagnostics["states"]) == ["b1"]
    # b1 moves to A (the shard count changed): B forgets it, A takes it from now on
    async_fire_mqtt_message(hass, f"{BASE}/bridge/{B}/devices", "[]")
    a_records = [device_record(m) for m in (*MINERS[A], "b1")]
    async_fire_mqtt_message(hass, f"{BASE}/bridge/{A}/devices", json.dumps(a_records))
    async_fire_mqtt_message(hass, f"{BASE}/b1", json.dumps({"hashrate": 91.0}))
    await hass.async_block_till_done()
    assert entries[B].runtime_data.states == {}
    assert entries[A].runtime_data.states["b1"] == {"hashrate": 91.0}


async def test_an_action_on_a_miner_of_b_is_answered_by_b(hass, mqtt_mock) -> None:
    entries = await _farm(hass)
    task = hass.async_create_task(
        hass.services.async_call(
            DOMAIN,
            "set_power_limit",
            {"device_id": miner_device(hass, "b1").id, "power_limit": 2000},
            blocking=True,
        )
    )
    topic, body = await next_publish(hass, mqtt_mock, "/set")
    assert topic == f"{BASE}/b1/set"  # the miner topic, as unsharded: the owner answers
    assert body["power_limit"] == 2000
    answer = {"status": "ok", "command": "power_limit", "transaction": body["transaction"]}
    async_fire_mqtt_message(hass, f"{BASE}/b1/response", json.dumps(answer))
    assert await task is None
    assert entries  # both loaded: the answer resolved B's command, A's bridge ignored it


async def test_a_request_goes_to_the_instance(hass, mqtt_mock) -> None:
    """poll_now of B's miner and scan_now of B: B's own request topics, not the shared ones
    (which a sharded farm leaves unanswered)."""
    entries = await _farm(hass)
    task = hass.async_create_task(
        hass.services.async_call(
            DOMAIN,
            "scan_now",
            {"config_entry": entries[B].entry_id},
            blocking=True,
            return_response=True,
        )
    )
    topic, body = await next_publish(hass, mqtt_mock, "/request/")
    assert topic == f"{BASE}/bridge/{B}/request/scan"
    answer = {"status": "ok", "data": {"found": 1}, "transaction": body["transaction"]}
    async_fire_mqtt_message(hass, f"{BASE}/bridge/{B}/response/scan", json.dumps(answer))
    assert await task == {"found": 1}

    task = hass.async_create_task(
        hass.services.async_call(
            DOMAIN,
            "poll_now",
            {"device_id": miner_device(hass, "b1").id},
            blocking=True,
            return_response=True,
        )
    )
    topic, body = await next_publish(hass, mqtt_mock, "/request/")
    assert topic == f"{BASE}/bridge/{B}/request/poll"
    assert body["id"] == ["b1"]
    answer = {"status": "ok", "data": {"b1": True}, "transaction": body["transaction"]}
    async_fire_mqtt_message(hass, f"{BASE}/bridge/{B}/response/poll", json.dumps(answer))
    assert await task == {"polled": {"b1": True}}


async def test_b_offline_makes_only_b_unavailable(hass, mqtt_mock, monkeypatch) -> None:
    monkeypatch.setitem(OFFLINE_GRACE_SECONDS, "value", 0)
    entries = await _farm(hass)
    for instance in MINERS:
        async_fire_mqtt_message(
            hass, f"{BASE}/{MINERS[instance][0]}", json.dumps({"hashrate": 100.0})
        )
    await hass.async_block_till_done()
    assert _hashrate(hass, "a1") == "100.0" and _hashrate(hass, "b1") == "100.0"

    async_fire_mqtt_message(hass, f"{BASE}/bridge/{B}/state", "offline")
    await hass.async_block_till_done()
    assert _hashrate(hass, "b1") == STATE_UNAVAILABLE
    assert _hashrate(hass, "a1") == "100.0"
    assert entries[B].runtime_data.online is False
    assert entries[A].runtime_data.online is True
    issues = ir.async_get(hass)
    issue = issues.async_get_issue(DOMAIN, f"bridge_offline_{entries[B].entry_id}")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["state_topic"] == f"{BASE}/bridge/{B}/state"
    assert issues.async_get_issue(DOMAIN, f"bridge_offline_{entries[A].entry_id}") is None
    # B's miners refuse at once; A's still go out
    with pytest.raises(HomeAssistantError, match="offline"):
        await hass.services.async_call(
            DOMAIN, "reboot", {"device_id": miner_device(hass, "b1").id}, blocking=True
        )
    assert published(mqtt_mock) == []
    task = hass.async_create_task(
        hass.services.async_call(
            DOMAIN, "reboot", {"device_id": miner_device(hass, "a1").id}, blocking=True
        )
    )
    topic, body = await next_publish(hass, mqtt_mock, "/set")
    assert topic == f"{BASE}/a1/set"
    answer = {"status": "ok", "command": "reboot", "transaction": body["transaction"]}
    async_fire_mqtt_message(hass, f"{BASE}/a1/response", json.dumps(answer))
    assert await task is None


@pytest.mark.parametrize(
    ("service", "data"),
    [
        ("set_fleet_power", {"target_w": 10_000}),
        ("release_fleet_power", {}),
        ("set_pools", {"group": "all", "pools": [{"url": "stratum+tcp://pool:3333"}]}),
    ],
)
async def test_fleet_actions_are_refused_before_sending(hass, mqtt_mock, service, data) -> None:
    entries = await _farm(hass)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, service, {"config_entry": entries[A].entry_id, **data}, blocking=True
        )
    assert err.value.translation_key == "fleet_sharded"
    assert "sharded" in str(err.value)
    assert published(mqtt_mock) == []


async def test_an_unsharded_entry_next_to_a_farm(hass, mqtt_mock) -> None:
    """A bridge on its own base topic keeps its topics, unique id and fleet groups."""
    entries = await _farm(hass)
    single = await setup_bridge(hass, "site2", miners=("s1",))
    assert single.unique_id == "site2"
    assert single.runtime_data.instance is None
    assert single.runtime_data.bridge_identifier == bridge_device_id("site2")
    assert entries[A].runtime_data.bridge_identifier == bridge_device_id(BASE, A)
    task = hass.async_create_task(
        hass.services.async_call(
            DOMAIN,
            "set_fleet_power",
            {"config_entry": single.entry_id, "group": "garage", "target_w": 5000},
            blocking=True,
            return_response=True,
        )
    )
    topic, body = await next_publish(hass, mqtt_mock, "/fleet/")
    assert topic == "site2/fleet/garage/set"
    answer = {"status": "ok", "data": {"target_w": 5000}, "transaction": body["transaction"]}
    async_fire_mqtt_message(hass, "site2/fleet/garage/response", json.dumps(answer))
    assert await task == {"target_w": 5000}
