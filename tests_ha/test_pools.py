"""The asic_bridge.set_pools action: by device (one <id>/set each) or by fleet group (one
fleet/<group>/set), the answer per miner as the bridge gave it, bad input refused before
anything is published."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.asic_bridge.const import DOMAIN
from custom_components.asic_bridge.diagnostics import async_get_config_entry_diagnostics

from .common import (
    BASE,
    CAPABILITIES,
    MINER,
    MINER2,
    device_record,
    miner_device,
    next_publish,
    published,
    setup_bridge,
)

POOLS = [
    {"url": "stratum+tcp://pool.example:3333", "user": "farm.{id}", "password": "pw-1"},
    {"url": "stratum+tcp://backup.example:443", "user": "farm.{hostname}"},
]


async def _with_send_config(hass: HomeAssistant) -> None:
    """The bridge's device list says MINER can write its config (pools)."""
    records = [device_record(MINER), device_record(MINER2, ip="10.0.0.6")]
    records[0]["capabilities"] = [*CAPABILITIES, "get_config", "send_config"]
    async_fire_mqtt_message(hass, f"{BASE}/bridge/devices", json.dumps(records))
    await hass.async_block_till_done()


def _answer(hass: HomeAssistant, topic: str, body: dict[str, Any], transaction: Any) -> None:
    async_fire_mqtt_message(hass, topic, json.dumps({**body, "transaction": transaction}))


async def _call(hass: HomeAssistant, data: dict[str, Any]) -> asyncio.Task:
    return hass.async_create_task(
        hass.services.async_call(DOMAIN, "set_pools", data, blocking=True, return_response=True)
    )


async def test_set_pools_on_a_device(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    await _with_send_config(hass)
    device = miner_device(hass, MINER)
    task = await _call(hass, {"device_id": device.id, "pools": POOLS})
    topic, body = await next_publish(hass, mqtt_mock, "/set")
    assert topic == f"{BASE}/{MINER}/set"
    assert body["pools"] == POOLS  # the template goes to the bridge as written
    applied = [{"url": p["url"], "user": p["user"].replace("{id}", MINER)} for p in POOLS]
    _answer(
        hass,
        f"{BASE}/{MINER}/response",
        {"status": "ok", "error": None, "applied": {"pools": applied}},
        body["transaction"],
    )
    assert await task == {"miners": {MINER: applied}}


async def test_set_pools_on_a_group_answers_per_miner(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    task = await _call(hass, {"group": "garage", "pools": POOLS[:1]})
    topic, body = await next_publish(hass, mqtt_mock, "/fleet/")
    assert topic == f"{BASE}/fleet/garage/set"
    assert body["pools"] == [{**POOLS[0]}]
    data = {"miners": {MINER: {"status": "ok"}}, "failed": {MINER2: "not supported"}}
    _answer(
        hass,
        f"{BASE}/fleet/garage/response",
        {"status": "partial", "data": data},
        body["transaction"],
    )
    with pytest.raises(HomeAssistantError, match=f"{MINER2}: not supported"):
        await task


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"group": "garage", "pools": [{"user": "farm.x"}]}, "url"),
        ({"group": "garage", "pools": [{"url": "stratum+tcp://a:1", "worker": "w"}]}, "worker"),
        ({"group": "garage", "pools": []}, "pools"),
        ({"pools": POOLS}, "either miners"),
        ({"group": "nope", "pools": POOLS}, "nope is not a fleet group"),
    ],
)
async def test_bad_input_is_refused_before_anything_is_sent(
    hass, mqtt_mock, data: dict[str, Any], error: str
) -> None:
    await setup_bridge(hass)
    mqtt_mock.async_publish.reset_mock()
    with pytest.raises((ServiceValidationError, vol_error()), match=error):
        await hass.services.async_call(DOMAIN, "set_pools", data, blocking=True)
    assert published(mqtt_mock) == []


async def test_a_miner_without_send_config_is_refused(hass, mqtt_mock) -> None:
    await setup_bridge(hass)
    device = miner_device(hass, MINER2)
    mqtt_mock.async_publish.reset_mock()
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN, "set_pools", {"device_id": device.id, "pools": POOLS}, blocking=True
        )
    assert published(mqtt_mock) == []


def vol_error() -> type[Exception]:
    import voluptuous as vol

    return vol.Invalid


async def test_diagnostics_keep_no_pool_secret(hass, mqtt_mock) -> None:
    """After set_pools, the diagnostics hold neither the password sent nor the workers of the
    state's pool list (the bridge's state carries no password; users are redacted)."""
    entry = await setup_bridge(hass)
    await _with_send_config(hass)
    device = miner_device(hass, MINER)
    task = await _call(hass, {"device_id": device.id, "pools": POOLS})
    _, body = await next_publish(hass, mqtt_mock, "/set")
    applied = [{"url": p["url"], "user": f"farm.{MINER}"} for p in POOLS]
    _answer(
        hass,
        f"{BASE}/{MINER}/response",
        {"status": "ok", "error": None, "applied": {"pools": applied}},
        body["transaction"],
    )
    await task
    state = {"hashrate": 98.5, "pools": [{**a, "priority": n} for n, a in enumerate(applied)]}
    async_fire_mqtt_message(hass, f"{BASE}/{MINER}", json.dumps(state), retain=True)
    await hass.async_block_till_done()
    text = json.dumps(await async_get_config_entry_diagnostics(hass, entry))
    assert "pw-1" not in text and f"farm.{MINER}" not in text
    assert "pool.example:3333" in text  # the pool list itself is there
