"""Every action: what it publishes, and how the bridge's answer (or silence) comes back."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from asic_bridge.bridge.power import Outcome, PowerController, Write, run_cycle
from asic_bridge.bridge.power_inputs import GroupConfig
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.asic_bridge.const import DOMAIN

from .common import (
    BASE,
    MINER,
    MINER2,
    device_record,
    miner_device,
    next_publish,
    published,
    setup_bridge,
)

MINER_ACTIONS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("reboot", {}, {"action": "reboot"}),
    ("restart_backend", {}, {"action": "restart_backend"}),
    ("set_power_limit", {"power_limit": 2500}, {"power_limit": 2500}),
    ("set_fan_mode", {"mode": "manual", "speed": 60}, {"fan_mode": "manual", "fan_speed": 60}),
    ("set_fan_mode", {"mode": "manual"}, {"fan_mode": "manual"}),
    ("set_fan_mode", {"mode": "auto"}, {"fan_mode": "auto"}),
    ("start_mining", {}, {"mining": True}),
    ("stop_mining", {}, {"mining": False}),
    ("fault_light_on", {}, {"fault_light": True}),
    ("fault_light_off", {}, {"fault_light": False}),
]


def _answer(hass: HomeAssistant, topic: str, body: dict[str, Any], transaction: Any) -> None:
    async_fire_mqtt_message(hass, topic, json.dumps({**body, "transaction": transaction}))


async def _call(
    hass: HomeAssistant, service: str, data: dict[str, Any], **kwargs: Any
) -> asyncio.Task:
    return hass.async_create_task(
        hass.services.async_call(DOMAIN, service, data, blocking=True, **kwargs)
    )


@pytest.mark.parametrize(("service", "fields", "expected"), MINER_ACTIONS)
async def test_miner_action_ok(hass, mqtt_mock, service, fields, expected) -> None:
    await setup_bridge(hass)
    device = miner_device(hass, MINER)
    task = await _call(hass, service, {"device_id": device.id, **fields})
    topic, body = await next_publish(hass, mqtt_mock, "/set")
    assert topic == f"{BASE}/{MINER}/set"
    transaction = body.pop("transaction")
    assert isinstance(transaction, str) and transaction
    assert body == expected
    _answer(
        hass,
        f"{BASE}/{MINER}/response",
        {"status": "ok", "command": "x", "error": None},
        transaction,
    )
    assert await task is None


@pytest.mark.parametrize(("service", "fields", "expected"), MINER_ACTIONS)
async def test_miner_action_error(hass, mqtt_mock, service, fields, expected) -> None:
    await setup_bridge(hass)
    device = miner_device(hass, MINER)
    task = await _call(hass, service, {"device_id": device.id, **fields})
    _, body = await next_publish(hass, mqtt_mock, "/set")
    _answer(
        hass,
        f"{BASE}/{MINER}/response",
        {"status": "error", "command": "x", "error": "not supported by AntMiner Stock"},
        body["transaction"],
    )
    with pytest.raises(HomeAssistantError, match="not supported by AntMiner Stock") as err:
        await task
    assert MINER in str(err.value)
    assert err.value.translation_key == "command_failed"


@pytest.mark.parametrize(("service", "fields", "expected"), MINER_ACTIONS)
async def test_miner_action_no_answer(hass, mqtt_mock, service, fields, expected) -> None:
    await setup_bridge(hass)
    device = miner_device(hass, MINER)
    with pytest.raises(
        HomeAssistantError, match=f"No answer from the bridge on {BASE}/{MINER}/response"
    ):
        await hass.services.async_call(
            DOMAIN, service, {"device_id": device.id, **fields}, blocking=True
        )


async def test_answer_with_another_transaction_is_not_ours(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    task = await _call(hass, "reboot", {"device_id": miner_device(hass, MINER).id})
    await next_publish(hass, mqtt_mock, "/set")
    _answer(hass, f"{BASE}/{MINER}/response", {"status": "ok"}, "someone-else")
    with pytest.raises(HomeAssistantError, match="No answer"):
        await task


async def test_outcome_unknown_is_an_error(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    task = await _call(hass, "reboot", {"device_id": miner_device(hass, MINER).id})
    _, body = await next_publish(hass, mqtt_mock, "/set")
    _answer(
        hass,
        f"{BASE}/{MINER}/response",
        {"status": "unknown", "error": "the miner did not confirm in time; the outcome is unknown"},
        body["transaction"],
    )
    with pytest.raises(HomeAssistantError, match="outcome is unknown"):
        await task


async def test_several_miners_and_entity_target(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", "mqtt", f"asic_bridge_{MINER2}_hashrate"
    )
    assert entity_id
    task = await _call(
        hass, "stop_mining", {"device_id": [miner_device(hass, MINER).id], "entity_id": entity_id}
    )
    for _ in range(100):
        sent = published(mqtt_mock)
        if len(sent) == 2:
            break
        await asyncio.sleep(0.005)
    assert sorted(topic for topic, _ in sent) == sorted(
        [f"{BASE}/{MINER2}/set", f"{BASE}/{MINER}/set"]
    )
    for topic, body in sent:
        assert body["mining"] is False
        miner = topic.split("/")[1]
        status = {"status": "ok"} if miner == MINER else {"status": "error", "error": "boom"}
        _answer(hass, f"{BASE}/{miner}/response", status, body["transaction"])
    with pytest.raises(HomeAssistantError, match=f"{MINER2}.*boom"):
        await task


async def test_area_target_skips_other_devices(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    registry = dr.async_get(hass)
    other = registry.async_get_or_create(
        config_entry_id=hass.config_entries.async_entries("mqtt")[0].entry_id,
        identifiers={("mqtt", "some_plug")},
        name="Plug",
    )
    registry.async_update_device(other.id, area_id="garage")
    registry.async_update_device(miner_device(hass, MINER).id, area_id="garage")
    task = await _call(hass, "fault_light_on", {"area_id": "garage"})
    topic, body = await next_publish(hass, mqtt_mock, "/set")
    assert topic == f"{BASE}/{MINER}/set"
    _answer(hass, f"{BASE}/{MINER}/response", {"status": "ok"}, body["transaction"])
    await task


async def test_not_a_miner(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    registry = dr.async_get(hass)
    other = registry.async_get_or_create(
        config_entry_id=hass.config_entries.async_entries("mqtt")[0].entry_id,
        identifiers={("mqtt", "some_plug")},
        name="Plug",
    )
    with pytest.raises(ServiceValidationError, match="Plug is not a miner"):
        await hass.services.async_call(DOMAIN, "reboot", {"device_id": other.id}, blocking=True)
    with pytest.raises(ServiceValidationError, match="No miner selected"):
        await hass.services.async_call(DOMAIN, "reboot", {}, blocking=True)
    assert published(mqtt_mock) == []


async def test_power_limit_validated(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    device = miner_device(hass, MINER)
    with pytest.raises(Exception, match="power_limit"):
        await hass.services.async_call(
            DOMAIN,
            "set_power_limit",
            {"device_id": device.id, "power_limit": "lots"},
            blocking=True,
        )
    with pytest.raises(Exception, match="power_limit"):
        await hass.services.async_call(
            DOMAIN, "set_power_limit", {"device_id": device.id}, blocking=True
        )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"mode": "turbo"}, "mode"),
        ({"mode": "normal"}, "mode"),  # the bridge's alias; the action offers the MQTT names
        ({"mode": "manual", "speed": 101}, "speed"),
        ({"mode": "manual", "speed": "loud"}, "speed"),
        ({"mode": "auto", "speed": 40}, "speed goes only with mode manual"),
        ({"speed": 40}, "mode"),
    ],
)
async def test_fan_mode_validated(hass, mqtt_mock, fields, reason) -> None:
    await setup_bridge(hass)
    device = miner_device(hass, MINER)
    with pytest.raises(Exception, match=reason):
        await hass.services.async_call(
            DOMAIN, "set_fan_mode", {"device_id": device.id, **fields}, blocking=True
        )
    assert [t for t, _ in published(mqtt_mock) if t.endswith("/set")] == []


async def test_fan_mode_the_firmware_lacks_is_refused_before_sending(hass, mqtt_mock) -> None:
    """The bridge's device list says which fan modes each miner has (ePIC: no immersion)."""
    await setup_bridge(hass)
    device = miner_device(hass, MINER)
    with pytest.raises(ServiceValidationError, match="has no fan mode immersion") as err:
        await hass.services.async_call(
            DOMAIN, "set_fan_mode", {"device_id": device.id, "mode": "immersion"}, blocking=True
        )
    assert err.value.translation_key == "fan_mode_not_offered"
    assert err.value.translation_placeholders["modes"] == "auto, manual"
    record = {**device_record(MINER), "capabilities": ["reboot"], "fan_modes": []}
    async_fire_mqtt_message(hass, f"{BASE}/bridge/devices", json.dumps([record]))
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError, match="does not support fan_mode") as err:
        await hass.services.async_call(
            DOMAIN, "set_fan_mode", {"device_id": device.id, "mode": "auto"}, blocking=True
        )
    assert err.value.translation_key == "not_supported"
    assert published(mqtt_mock) == []


async def test_bridge_offline_fails_fast(hass, mqtt_mock) -> None:
    await setup_bridge(hass, online=False)
    with pytest.raises(HomeAssistantError, match="offline"):
        await hass.services.async_call(
            DOMAIN, "reboot", {"device_id": miner_device(hass, MINER).id}, blocking=True
        )
    assert published(mqtt_mock) == []


async def test_poll_now_targets(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    task = await _call(
        hass, "poll_now", {"device_id": [miner_device(hass, MINER).id]}, return_response=True
    )
    topic, body = await next_publish(hass, mqtt_mock, "/bridge/request/")
    assert topic == f"{BASE}/bridge/request/poll"
    assert body["id"] == [MINER]
    _answer(
        hass,
        f"{BASE}/bridge/response/poll",
        {"status": "ok", "data": {MINER: True}, "error": None},
        body["transaction"],
    )
    assert await task == {"polled": {MINER: True}}


async def test_poll_now_everything(hass, mqtt_mock) -> None:
    entry = await setup_bridge(hass)
    task = await _call(hass, "poll_now", {"config_entry": entry.entry_id}, return_response=True)
    topic, body = await next_publish(hass, mqtt_mock, "/bridge/request/")
    assert topic == f"{BASE}/bridge/request/poll"
    assert set(body) == {"transaction"}
    _answer(
        hass,
        f"{BASE}/bridge/response/poll",
        {"status": "ok", "data": {MINER: True, MINER2: False}, "error": None},
        body["transaction"],
    )
    assert await task == {"polled": {MINER: True, MINER2: False}}


async def test_poll_now_error_and_timeout(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    task = await _call(hass, "poll_now", {})
    _, body = await next_publish(hass, mqtt_mock, "/bridge/request/poll")
    _answer(
        hass,
        f"{BASE}/bridge/response/poll",
        {"status": "error", "data": None, "error": "unknown miner(s): x"},
        body["transaction"],
    )
    with pytest.raises(HomeAssistantError, match=r"unknown miner\(s\): x"):
        await task
    with pytest.raises(HomeAssistantError, match="No answer"):
        await hass.services.async_call(DOMAIN, "poll_now", {}, blocking=True)


async def test_scan_now(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    task = await _call(hass, "scan_now", {}, return_response=True)
    topic, body = await next_publish(hass, mqtt_mock, "/bridge/request/")
    assert topic == f"{BASE}/bridge/request/scan"
    assert set(body) == {"transaction"}
    _answer(
        hass,
        f"{BASE}/bridge/response/scan",
        {"status": "ok", "data": {"found": 3}},
        body["transaction"],
    )
    assert await task == {"found": 3}


async def test_scan_now_error_and_timeout(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    task = await _call(hass, "scan_now", {})
    _, body = await next_publish(hass, mqtt_mock, "/bridge/request/scan")
    _answer(
        hass,
        f"{BASE}/bridge/response/scan",
        {"status": "error", "error": "scan failed"},
        body["transaction"],
    )
    with pytest.raises(HomeAssistantError, match="scan failed"):
        await task
    with pytest.raises(HomeAssistantError, match="No answer"):
        await hass.services.async_call(DOMAIN, "scan_now", {}, blocking=True)


class _Clock:
    now = 1_780_000_000.0

    def __call__(self) -> float:
        return self.now


async def _fleet_answer(case: str, group: str = "garage") -> tuple[int, dict[str, Any]]:
    """A target and the bridge's own answer to it: the real controller (bridge/power.py)
    planning for two miners, and the body features/fleet.py builds from its cycle."""
    clock = _Clock()
    ctrl = PowerController(group, GroupConfig(min_change_interval=60), clock)
    for miner_id, low in ((MINER, 1500), (MINER2, 1200)):
        ctrl.join(
            miner_id,
            power_min=low,
            power_max=3600,
            range_source="firmware",
            can_limit=True,
            can_stop=case != "cannot_meet",
        )
        ctrl.observe(miner_id, measured_w=3500, power_limit=3600, mining=True)

    async def writer(write: Write) -> Outcome:
        if case == "partial" and write.id == MINER2:
            return Outcome(False, "miner is not reachable")
        return Outcome(True, power_limit=write.power_limit)

    target = {"ok": 5000, "pending": 5000, "partial": 4000, "cannot_meet": 2000}[case]
    ctrl.command({"target_w": target})
    result = await run_cycle(ctrl, writer)
    if case == "pending":  # a lower target 10 s later, the miners still drawing as before
        clock.now += 10
        for miner_id in (MINER, MINER2):
            ctrl.observe(miner_id, measured_w=3000, power_limit=2500, mining=True)
        target = 4000
        ctrl.command({"target_w": target})
        result = await run_cycle(ctrl, writer)
    assert result.status == ("partial" if case == "cannot_meet" else case), result.state
    return target, {"status": result.status, "data": result.state, "error": result.error}


@pytest.mark.parametrize("case", ["ok", "pending"])
async def test_set_fleet_power(hass, mqtt_mock, case, caplog) -> None:
    await setup_bridge(hass)
    target, answer = await _fleet_answer(case)
    task = await _call(
        hass, "set_fleet_power", {"group": "garage", "target_w": target}, return_response=True
    )
    topic, body = await next_publish(hass, mqtt_mock, "/fleet/")
    assert topic == f"{BASE}/fleet/garage/set"
    assert body["target_w"] == target
    _answer(hass, f"{BASE}/fleet/garage/response", answer, body["transaction"])
    # the group's state comes back as the action's response, honest about what it is doing
    state = await task
    assert state == answer["data"]
    assert state["target_w"] == target and set(state["miners"]) == {MINER, MINER2}
    if case == "pending":  # applied, not an error: converging, held miners and until when
        assert state["status"] == "converging" and state["held"], state
        assert "converging" in caplog.text and "held miners may change" in caplog.text
    else:
        assert state["planned_w"] <= target


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("partial", f"only partly applied; failed: {MINER2}: miner is not reachable"),
        ("cannot_meet", "only partly applied: the lowest this group can draw is 2700 W"),
    ],
)
async def test_set_fleet_power_partial_is_an_error_with_the_reason(
    hass, mqtt_mock, case, expected
) -> None:
    await setup_bridge(hass)
    target, answer = await _fleet_answer(case, "all")
    task = await _call(hass, "set_fleet_power", {"target_w": target})
    topic, body = await next_publish(hass, mqtt_mock, "/fleet/")
    assert topic == f"{BASE}/fleet/all/set"
    _answer(hass, f"{BASE}/fleet/all/response", answer, body["transaction"])
    with pytest.raises(HomeAssistantError, match=re.escape(expected)):
        await task


async def test_release_fleet_power(hass, mqtt_mock) -> None:
    """Releasing sends target_w null; the answer is the real controller's released state."""
    await setup_bridge(hass)
    ctrl = PowerController("garage", GroupConfig(min_change_interval=60), _Clock())
    ctrl.join(MINER, power_min=1500, power_max=3600, range_source="firmware",
              can_limit=True, can_stop=True)  # fmt: skip
    ctrl.observe(MINER, measured_w=3500, power_limit=3600, mining=True)

    async def writer(write: Write) -> Outcome:
        return Outcome(True, power_limit=write.power_limit)

    ctrl.command({"target_w": 2000})
    await run_cycle(ctrl, writer)
    ctrl.command({"target_w": None, "emergency": True})
    result = await run_cycle(ctrl, writer)
    task = await _call(hass, "release_fleet_power", {"group": "garage"}, return_response=True)
    topic, body = await next_publish(hass, mqtt_mock, "/fleet/")
    assert topic == f"{BASE}/fleet/garage/set"
    assert "target_w" in body and body["target_w"] is None
    answer = {"status": result.status, "data": result.state, "error": result.error}
    _answer(hass, f"{BASE}/fleet/garage/response", answer, body["transaction"])
    state = await task
    assert state == result.state and state["target_w"] is None, state
    assert state["status"] == "released" and state["mode"] == "off", state
    # a group the bridge does not list is refused before anything is sent
    with pytest.raises(ServiceValidationError, match="nope is not a fleet group"):
        await hass.services.async_call(
            DOMAIN, "release_fleet_power", {"group": "nope"}, blocking=True
        )


async def test_set_fleet_power_error_unknown_group_and_timeout(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    task = await _call(hass, "set_fleet_power", {"target_w": 0})
    _, body = await next_publish(hass, mqtt_mock, "/fleet/")
    refusal = "fleet command: target_w: Input should be less than or equal to 1000000000"
    _answer(
        hass,
        f"{BASE}/fleet/all/response",
        {"status": "error", "data": None, "error": refusal},
        body["transaction"],
    )
    with pytest.raises(HomeAssistantError, match=re.escape(refusal)):
        await task
    # a group bridge/info does not list: refused before sending (tests_ha/test_errors.py)
    with pytest.raises(ServiceValidationError, match="nope is not a fleet group"):
        await hass.services.async_call(
            DOMAIN, "set_fleet_power", {"group": "nope", "target_w": 10}, blocking=True
        )
    with pytest.raises(HomeAssistantError, match="No answer"):
        await hass.services.async_call(DOMAIN, "set_fleet_power", {"target_w": 10}, blocking=True)
    with pytest.raises(Exception, match="group"):
        await hass.services.async_call(
            DOMAIN, "set_fleet_power", {"group": "a/b", "target_w": 10}, blocking=True
        )


async def test_two_bridges(hass, mqtt_mock) -> None:
    first = await setup_bridge(hass)
    second = await setup_bridge(hass, "site2/asic", miners=("barn_m30",))
    with pytest.raises(ServiceValidationError, match="choose one"):
        await hass.services.async_call(DOMAIN, "scan_now", {}, blocking=True)
    task = await _call(hass, "scan_now", {"config_entry": second.entry_id})
    topic, body = await next_publish(hass, mqtt_mock, "/bridge/request/")
    assert topic == "site2/asic/bridge/request/scan"
    _answer(
        hass,
        "site2/asic/bridge/response/scan",
        {"status": "ok", "data": {"found": 1}},
        body["transaction"],
    )
    await task
    # a miner action goes to the bridge that owns the device
    task = await _call(hass, "reboot", {"device_id": miner_device(hass, "barn_m30").id})
    topic, body = await next_publish(hass, mqtt_mock, "/set")
    assert topic == "site2/asic/barn_m30/set"
    _answer(hass, "site2/asic/barn_m30/response", {"status": "ok"}, body["transaction"])
    await task
    # the answer of the first bridge does not complete a request to the second
    assert first.entry_id != second.entry_id
    with pytest.raises(ServiceValidationError, match="not an asic_bridge config entry"):
        await hass.services.async_call(DOMAIN, "scan_now", {"config_entry": "nope"}, blocking=True)


async def test_unload_fails_pending_and_removes_actions_target(hass, mqtt_mock) -> None:
    entry = await setup_bridge(hass)
    task = await _call(hass, "reboot", {"device_id": miner_device(hass, MINER).id})
    await next_publish(hass, mqtt_mock, "/set")
    assert await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(HomeAssistantError, match="unloaded"):
        await task
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(DOMAIN, "scan_now", {}, blocking=True)
