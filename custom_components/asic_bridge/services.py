"""Actions: each publishes a bridge command and waits for the bridge's answer.

Miner actions target devices (or their entities, areas, labels): the MQTT-discovered devices
with identifier ``asic_bridge_<miner id>``.  A command goes to ``<b>/<id>/set`` as JSON with a
fresh ``transaction``; the action returns when ``<b>/<id>/response`` echoes it with
``status: ok`` and raises ``HomeAssistantError`` with the bridge's message otherwise (an
error, an outcome the bridge could not confirm, or no answer in time).  What the bridge's
device list already rules out (a capability the miner lacks, a power limit outside its
range) is refused before sending with ``ServiceValidationError``: bad input is the user's
to fix and HA logs it in one line, where it logs a failed action with a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
import re
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_DEVICE_ID, ENTITY_MATCH_NONE
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.helpers.service import async_extract_referenced_entity_ids
import voluptuous as vol

from .bridge import AsicBridge, BridgeError, loaded_bridges, miner_id_of
from .const import (
    ATTR_CONFIG_ENTRY,
    ATTR_FAN_MODE,
    ATTR_FAN_SPEED,
    ATTR_GROUP,
    ATTR_POOLS,
    ATTR_POWER_LIMIT,
    ATTR_TARGET_W,
    DOMAIN,
    FAN_MODES,
    SERVICE_FAULT_LIGHT_OFF,
    SERVICE_FAULT_LIGHT_ON,
    SERVICE_POLL_NOW,
    SERVICE_REBOOT,
    SERVICE_RELEASE_FLEET_POWER,
    SERVICE_RESTART_BACKEND,
    SERVICE_SCAN_NOW,
    SERVICE_SET_FAN_MODE,
    SERVICE_SET_FLEET_POWER,
    SERVICE_SET_POOLS,
    SERVICE_SET_POWER_LIMIT,
    SERVICE_START_MINING,
    SERVICE_STOP_MINING,
)

_LOGGER = logging.getLogger(__name__)

_GROUP = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TARGET_KEYS = ("entity_id", "device_id", "area_id", "floor_id", "label_id")

TARGET_SCHEMA = vol.Schema(cv.ENTITY_SERVICE_FIELDS)
SET_POWER_LIMIT_SCHEMA = TARGET_SCHEMA.extend(
    {vol.Required(ATTR_POWER_LIMIT): vol.All(vol.Coerce(int), vol.Range(min=1, max=1_000_000))}
)


def _speed_only_with_manual(data: dict[str, Any]) -> dict[str, Any]:
    """A speed is the manual mode's: with auto or immersion it would be ignored."""
    if data.get(ATTR_FAN_SPEED) is not None and data[ATTR_FAN_MODE] != "manual":
        raise vol.Invalid(f"speed goes only with mode manual, not {data[ATTR_FAN_MODE]}")
    return data


SET_FAN_MODE_SCHEMA = vol.Schema(
    vol.All(
        TARGET_SCHEMA.extend(
            {
                vol.Required(ATTR_FAN_MODE): vol.In(FAN_MODES),
                vol.Optional(ATTR_FAN_SPEED): vol.All(vol.Coerce(int), vol.Range(min=0, max=100)),
            }
        ),
        _speed_only_with_manual,
    )
)


def _fan_command(call: ServiceCall) -> dict[str, Any]:
    """``{"fan_mode": "manual", "fan_speed": 60}``; manual without a speed keeps the fans'
    current duty (the bridge refuses it while none is known)."""
    payload: dict[str, Any] = {"fan_mode": call.data[ATTR_FAN_MODE]}
    if call.data.get(ATTR_FAN_SPEED) is not None:
        payload["fan_speed"] = call.data[ATTR_FAN_SPEED]
    return payload


POLL_SCHEMA = TARGET_SCHEMA.extend({vol.Optional(ATTR_CONFIG_ENTRY): cv.string})
SCAN_SCHEMA = vol.Schema({vol.Optional(ATTR_CONFIG_ENTRY): cv.string})
FLEET_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY): cv.string,
        vol.Optional(ATTR_GROUP, default="all"): vol.All(cv.string, vol.Match(_GROUP)),
        vol.Required(ATTR_TARGET_W): vol.All(vol.Coerce(int), vol.Range(min=0, max=100_000_000)),
    }
)
RELEASE_FLEET_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY): cv.string,
        vol.Optional(ATTR_GROUP, default="all"): vol.All(cv.string, vol.Match(_GROUP)),
    }
)

_TEXT = vol.All(cv.string, vol.Length(max=256))
# One pool: url required, nothing else accepted (the bridge checks the rest, the same way).
POOL_SCHEMA = vol.Schema(
    {
        vol.Required("url"): vol.All(cv.string, vol.Length(min=1, max=256)),
        vol.Optional("user", default=""): _TEXT,
        vol.Optional("password"): _TEXT,
    }
)
SET_POOLS_SCHEMA = TARGET_SCHEMA.extend(
    {
        vol.Optional(ATTR_CONFIG_ENTRY): cv.string,
        vol.Optional(ATTR_GROUP): vol.All(cv.string, vol.Match(_GROUP)),
        vol.Required(ATTR_POOLS): vol.All(cv.ensure_list, vol.Length(min=1, max=8), [POOL_SCHEMA]),
    }
)

# Miner actions: the JSON each one publishes on <b>/<id>/set (besides the transaction).
MINER_COMMANDS: dict[str, tuple[vol.Schema, Callable[[ServiceCall], dict[str, Any]]]] = {
    SERVICE_REBOOT: (TARGET_SCHEMA, lambda call: {"action": "reboot"}),
    SERVICE_RESTART_BACKEND: (TARGET_SCHEMA, lambda call: {"action": "restart_backend"}),
    SERVICE_SET_POWER_LIMIT: (
        SET_POWER_LIMIT_SCHEMA,
        lambda call: {"power_limit": call.data[ATTR_POWER_LIMIT]},
    ),
    SERVICE_START_MINING: (TARGET_SCHEMA, lambda call: {"mining": True}),
    SERVICE_STOP_MINING: (TARGET_SCHEMA, lambda call: {"mining": False}),
    SERVICE_FAULT_LIGHT_ON: (TARGET_SCHEMA, lambda call: {"fault_light": True}),
    SERVICE_FAULT_LIGHT_OFF: (TARGET_SCHEMA, lambda call: {"fault_light": False}),
    SERVICE_SET_FAN_MODE: (SET_FAN_MODE_SCHEMA, _fan_command),
}


def _bridge_for_call(hass: HomeAssistant, call: ServiceCall) -> AsicBridge:
    """The bridge named by ``config_entry``, or the only one loaded."""
    if entry_id := call.data.get(ATTR_CONFIG_ENTRY):
        entry = hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain != DOMAIN:
            raise ServiceValidationError(
                f"{entry_id} is not an asic_bridge config entry",
                translation_domain=DOMAIN,
                translation_key="unknown_config_entry",
                translation_placeholders={"entry_id": entry_id},
            )
        if entry.state is not ConfigEntryState.LOADED:
            raise ServiceValidationError(
                f"{entry.title} is not loaded",
                translation_domain=DOMAIN,
                translation_key="entry_not_loaded",
                translation_placeholders={"title": entry.title},
            )
        bridge: AsicBridge = entry.runtime_data
        return bridge
    bridges = loaded_bridges(hass)
    if len(bridges) == 1:
        return bridges[0]
    if not bridges:
        raise ServiceValidationError(
            "No asic_bridge bridge is loaded",
            translation_domain=DOMAIN,
            translation_key="no_bridge_loaded",
        )
    raise ServiceValidationError(
        "Several bridges are configured: choose one with config_entry",
        translation_domain=DOMAIN,
        translation_key="choose_bridge",
    )


def _targeted_miners(hass: HomeAssistant, call: ServiceCall) -> dict[AsicBridge, list[str]]:
    """Targeted devices/entities/areas -> miner ids per bridge.

    A device named explicitly (or through one of its entities) that is not a miner of a
    loaded bridge is an error; other devices of a targeted area or label are skipped.
    """
    selected = async_extract_referenced_entity_ids(hass, call)
    explicit = {
        device_id
        for device_id in cv.ensure_list(call.data.get(ATTR_DEVICE_ID))
        if device_id != ENTITY_MATCH_NONE
    }
    device_ids = set(selected.referenced_devices)
    entity_registry = er.async_get(hass)
    for entity_id in selected.referenced:
        entity = entity_registry.async_get(entity_id)
        if entity is None or entity.device_id is None:
            raise ServiceValidationError(
                f"{entity_id} does not belong to a miner",
                translation_domain=DOMAIN,
                translation_key="not_a_miner",
                translation_placeholders={"target": entity_id},
            )
        device_ids.add(entity.device_id)
        explicit.add(entity.device_id)
    device_registry = dr.async_get(hass)
    bridges = loaded_bridges(hass)
    targets: dict[AsicBridge, list[str]] = {}
    for device_id in sorted(device_ids):
        device = device_registry.async_get(device_id)
        miner_id = miner_id_of(device) if device is not None else None
        bridge = (
            next((b for b in bridges if b.owns(device)), None)
            if device is not None and miner_id is not None
            else None
        )
        if bridge is None or miner_id is None:
            if device_id in explicit:
                name = (device.name_by_user or device.name) if device else None
                raise ServiceValidationError(
                    f"{name or device_id} is not a miner of a loaded asic_bridge bridge",
                    translation_domain=DOMAIN,
                    translation_key="not_a_miner",
                    translation_placeholders={"target": name or device_id},
                )
            continue
        targets.setdefault(bridge, []).append(miner_id)
    return targets


def _no_miner() -> ServiceValidationError:
    return ServiceValidationError(
        "No miner selected", translation_domain=DOMAIN, translation_key="no_miner_selected"
    )


async def _gather(jobs: list[Any]) -> list[Any]:
    """Run commands side by side; raise one error naming every failure."""
    results = await asyncio.gather(*jobs, return_exceptions=True)
    errors: list[BaseException] = [r for r in results if isinstance(r, BaseException)]
    for error in errors:
        if not isinstance(error, Exception):
            raise error
    if len(errors) == 1:
        raise errors[0]
    if errors:
        message = "; ".join(str(error) for error in errors)
        # only the user's input was wrong: no failure to report
        kind = (
            ServiceValidationError
            if all(isinstance(error, ServiceValidationError) for error in errors)
            else HomeAssistantError
        )
        raise kind(
            message,
            translation_domain=DOMAIN,
            translation_key="commands_failed",
            translation_placeholders={"errors": message},
        )
    return list(results)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""

    def miner_handler(build: Callable[[ServiceCall], dict[str, Any]]) -> Any:
        async def handle(call: ServiceCall) -> None:
            targets = _targeted_miners(hass, call)
            if not targets:
                raise _no_miner()
            payload = build(call)
            for bridge, miner_ids in targets.items():
                for miner_id in miner_ids:
                    bridge.check_command(miner_id, payload)  # before anything is sent
            await _gather(
                [
                    bridge.async_miner_command(miner_id, payload)
                    for bridge, miner_ids in targets.items()
                    for miner_id in miner_ids
                ]
            )

        return handle

    for service, (schema, build) in MINER_COMMANDS.items():
        hass.services.async_register(DOMAIN, service, miner_handler(build), schema=schema)

    async def poll_now(call: ServiceCall) -> ServiceResponse:
        """Poll the targeted miners now (every miner when nothing is targeted)."""
        targets = _targeted_miners(hass, call)
        has_target = any(call.data.get(key) for key in TARGET_KEYS)
        if has_target and not targets:
            raise _no_miner()
        if targets:
            jobs = [
                bridge.async_bridge_request("poll", {"id": sorted(miner_ids)})
                for bridge, miner_ids in targets.items()
            ]
        elif call.data.get(ATTR_CONFIG_ENTRY):
            jobs = [_bridge_for_call(hass, call).async_bridge_request("poll", {})]
        else:
            bridges = loaded_bridges(hass)
            if not bridges:
                _bridge_for_call(hass, call)  # raises "no bridge loaded"
            jobs = [bridge.async_bridge_request("poll", {}) for bridge in bridges]
        polled: dict[str, Any] = {}
        for answer in await _gather(jobs):
            if isinstance(answer.get("data"), dict):
                polled.update(answer["data"])
        return {"polled": polled}

    async def scan_now(call: ServiceCall) -> ServiceResponse:
        """Scan the bridge's configured hosts and subnets now."""
        answer = await _bridge_for_call(hass, call).async_bridge_request("scan", {})
        data = answer.get("data")
        return data if isinstance(data, dict) else {}

    async def set_fleet_power(call: ServiceCall) -> ServiceResponse:
        """Give a fleet group a power target, which the bridge then holds (the same
        ``fleet/<group>/set`` as over MQTT).  The answer is the group's state.  ``pending``
        (applied, but miners changed a moment ago may only follow once their
        min_change_interval is over) is no error: the state says ``converging`` and why.
        ``partial`` (a write failed, or the target cannot be met) and ``error`` raise with
        the bridge's reason."""
        bridge = _bridge_for_call(hass, call)
        group = call.data[ATTR_GROUP]
        answer = await bridge.async_fleet_power(group, call.data[ATTR_TARGET_W])
        data = answer.get("data")
        state = data if isinstance(data, dict) else {}
        if answer.get("status") == "pending":
            _LOGGER.info(
                "Fleet group %s is converging to its target: %s", group, state.get("reason")
            )
        return state

    async def release_fleet_power(call: ServiceCall) -> ServiceResponse:
        """Release a fleet group's target (``{"target_w": null}``, as over MQTT): each miner
        gets back its own power limit and mining state from before the bridge changed it.
        The answer is the group's state."""
        bridge = _bridge_for_call(hass, call)
        answer = await bridge.async_fleet_power(call.data[ATTR_GROUP], None)
        data = answer.get("data")
        return data if isinstance(data, dict) else {}

    async def set_pools(call: ServiceCall) -> ServiceResponse:
        """Write a pool list to the targeted miners or a fleet group; worker names may carry
        {mac}, {hostname}, {ip}, {id}.  The answer says per miner what was written (url and
        user: the bridge never sends a password back)."""
        payload = {ATTR_POOLS: call.data[ATTR_POOLS]}
        has_target = any(call.data.get(key) for key in TARGET_KEYS)
        group = call.data.get(ATTR_GROUP)
        if (group is None) == (not has_target):
            raise ServiceValidationError(
                "Choose either miners (a target) or a fleet group",
                translation_domain=DOMAIN,
                translation_key="target_or_group",
            )
        if group is not None:
            answer = await _bridge_for_call(hass, call).async_fleet_set(group, payload)
            data = answer.get("data")
            return data if isinstance(data, dict) else {}
        targets = _targeted_miners(hass, call)
        if not targets:
            raise _no_miner()
        jobs, ids = [], []
        for bridge, miner_ids in targets.items():
            for miner_id in miner_ids:
                bridge.check_command(miner_id, payload)  # before anything is sent
                jobs.append(bridge.async_miner_command(miner_id, payload))
                ids.append(miner_id)
        answers = await _gather(jobs)
        return {
            "miners": {
                miner_id: (answer.get("applied") or {}).get(ATTR_POOLS)
                for miner_id, answer in zip(ids, answers, strict=True)
            }
        }

    hass.services.async_register(
        DOMAIN,
        SERVICE_SET_POOLS,
        set_pools,
        schema=SET_POOLS_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_POLL_NOW,
        poll_now,
        schema=POLL_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_SCAN_NOW,
        scan_now,
        schema=SCAN_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_SET_FLEET_POWER,
        set_fleet_power,
        schema=FLEET_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_RELEASE_FLEET_POWER,
        release_fleet_power,
        schema=RELEASE_FLEET_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )


__all__ = ["BridgeError", "async_setup_services"]
