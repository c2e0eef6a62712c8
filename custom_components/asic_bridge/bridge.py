"""One asic_bridge daemon as Home Assistant sees it: its topics, what it last said, requests.

Everything goes through Home Assistant's MQTT integration.  The topics are the daemon's
contract (zigbee2mqtt's layout):

- ``<b>/bridge/state`` (retained ``online``/``offline``, the daemon's last will),
- ``<b>/bridge/info`` and ``<b>/bridge/devices`` (retained JSON),
- ``<b>/bridge/event`` (``{"type": ..., "data": {...}}``),
- ``<b>/<id>`` (retained JSON state of one miner),
- ``<b>/<id>/set`` -> ``<b>/<id>/response``, ``<b>/bridge/request/<op>`` ->
  ``<b>/bridge/response/<op>`` and ``<b>/fleet/<group>/set`` -> ``<b>/fleet/<group>/response``,
  every answer echoing the request's ``transaction``.

Several bridges for one farm (the daemon's ``shard``) share one base topic; each instance's
own topics move under ``<b>/bridge/<instance>/`` (``state``, ``info``, ``devices``,
``event``, ``request/<op>`` -> ``response/<op>``) while miner topics stay.  One config entry
follows one instance: it takes only its own miners (those on its ``devices`` list) from the
shared miner topics, sends miner commands to ``<b>/<id>/set`` as unsharded (the owner
answers) and refuses fleet groups, which a sharded bridge cannot run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
import logging
from typing import Any, TypeGuard
import uuid

from homeassistant.components import mqtt, persistent_notification
from homeassistant.components.mqtt import ReceiveMessage
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.translation import async_get_translations

from .const import (
    DOMAIN,
    EVENT_ASIC_BRIDGE,
    EVENT_COMMAND_FAILED,
    EVENT_NEW_ERROR,
    IDENTIFIER_PREFIX,
    ISSUE_BRIDGE_OFFLINE,
    MQTT_DOMAIN,
    OFFLINE_GRACE_SECONDS,
    TIMEOUTS,
)

_LOGGER = logging.getLogger(__name__)

type AsicBridgeConfigEntry = ConfigEntry[AsicBridge]

# The capability (as on <b>/bridge/devices) a command field, or an action, needs.
FIELD_CAPABILITY = {
    "power_limit": "power_limit",
    "mining": "stop_mining",
    "fault_light": "fault_light",
    "mode": "mining_modes",
    "pools": "send_config",
    "fan_mode": "fan_control",
    "fan_speed": "fan_control",
}
ACTION_CAPABILITY = {"reboot": "reboot", "restart_backend": "restart_backend"}

# Topic levels under the base topic that are not miner ids.
RESERVED_IDS = frozenset({"bridge", "fleet"})
# Keys of a bridge event's data that would clash with the Home Assistant event's own keys.
_EVENT_OWN_KEYS = frozenset({"type", "device_id", "miner_id", "base_topic", "config_entry_id"})


def _json(payload: Any) -> Any:
    """Decode a JSON payload; None when it is empty or not JSON."""
    if isinstance(payload, bytes | bytearray):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return None


def miner_id_of(device: dr.DeviceEntry) -> str | None:
    """The bridge's miner id of a device MQTT discovery created, or None."""
    for domain, identifier in device.identifiers:
        if domain == MQTT_DOMAIN and identifier.startswith(IDENTIFIER_PREFIX):
            return identifier[len(IDENTIFIER_PREFIX) :]
    return None


def loaded_bridges(hass: HomeAssistant) -> list[AsicBridge]:
    """The bridges of every loaded config entry."""
    return [
        entry.runtime_data
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
    ]


def bridge_device_identifier(base_topic: str, instance: str | None = None) -> str:
    """The identifier of the bridge's own device (the daemon's ``bridge_device_id``)."""
    node = f"{IDENTIFIER_PREFIX}{base_topic.replace('/', '_')}"
    return f"{node}_{instance}" if instance else node


class BridgeError(HomeAssistantError):
    """A command the bridge refused, failed, or did not answer."""


class AsicBridge:
    """Runtime data of one config entry: a live view of one bridge."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        base_topic: str,
        instance: str | None = None,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.base = base_topic
        #: sharded: this instance's level in ``<b>/bridge/<instance>/``; None unsharded
        self.instance = instance
        self.online: bool | None = None
        self.info: dict[str, Any] | None = None
        self.devices: dict[str, dict[str, Any]] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self._errors: dict[str, list[str]] = {}
        self._pending: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._offline_timer: CALLBACK_TYPE | None = None

    # ------------------------------------------------------------------ topics
    def topic(self, *levels: str) -> str:
        return "/".join((self.base, *levels))

    def own(self, *levels: str) -> str:
        """One of this bridge's own topics: ``<b>/bridge/...`` or, sharded,
        ``<b>/bridge/<instance>/...``."""
        prefix = ("bridge", self.instance) if self.instance else ("bridge",)
        return self.topic(*prefix, *levels)

    @property
    def label(self) -> str:
        """The bridge in messages: its base topic, and its instance when sharded."""
        return f"{self.base} ({self.instance})" if self.instance else self.base

    @property
    def sharded(self) -> bool:
        """One of several bridges on this base topic (the entry's instance, or what the
        bridge's retained info says)."""
        shard = (self.info or {}).get("shard")
        count = shard.get("count") if isinstance(shard, dict) else None
        return self.instance is not None or (isinstance(count, int) and count > 1)

    def follows(self, miner_id: str) -> bool:
        """Whether a miner on the (shared) miner topics is this bridge's: sharded, the
        instances share ``<b>/<id>``, and only the owner's ``devices`` list names it."""
        return self.instance is None or miner_id in self.devices

    @property
    def issue_id(self) -> str:
        return f"{ISSUE_BRIDGE_OFFLINE}_{self.entry.entry_id}"

    @property
    def bridge_identifier(self) -> str:
        return bridge_device_identifier(self.base, self.instance)

    # ------------------------------------------------------------------ lifecycle
    async def async_start(self) -> None:
        """Subscribe to everything the bridge publishes (retained topics replay at once)."""
        handlers: dict[str, Callable[[ReceiveMessage], None]] = {
            self.own("state"): self._on_bridge_state,
            self.own("info"): self._on_info,
            self.own("devices"): self._on_devices,
            self.own("event"): self._on_event,
            self.topic("+", "response"): self._on_response,
            self.own("response", "+"): self._on_response,
            self.topic("+"): self._on_miner_state,
        }
        if self.instance is None:  # sharded, fleet groups are refused before sending
            handlers[self.topic("fleet", "+", "response")] = self._on_response
        for topic, handler in handlers.items():
            self._unsubscribe.append(await mqtt.async_subscribe(self.hass, topic, handler, qos=1))
        self._unsubscribe.append(
            self.hass.bus.async_listen(
                dr.EVENT_DEVICE_REGISTRY_UPDATED,
                self._on_device_registry_updated,
                event_filter=_is_device_created,
            )
        )

    async def async_stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self._cancel_offline_timer()
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(
                    BridgeError(
                        "The asic_bridge integration was unloaded while waiting for the bridge",
                        translation_domain=DOMAIN,
                        translation_key="unloaded",
                    )
                )
        self._pending.clear()

    # ------------------------------------------------------------------ incoming
    @callback
    def _on_bridge_state(self, msg: ReceiveMessage) -> None:
        payload = msg.payload.decode() if isinstance(msg.payload, bytes) else str(msg.payload)
        state = payload.strip().lower()
        if state == "online":
            self.online = True
            self._cancel_offline_timer()
            ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
        elif state == "offline":
            self.online = False
            self._schedule_offline_issue()

    @callback
    def _on_info(self, msg: ReceiveMessage) -> None:
        info = _json(msg.payload)
        if isinstance(info, dict):
            self.info = info

    @callback
    def _on_devices(self, msg: ReceiveMessage) -> None:
        devices = _json(msg.payload)
        if not isinstance(devices, list):
            return
        self.devices = {
            str(item["id"]): item for item in devices if isinstance(item, dict) and "id" in item
        }
        if self.instance is not None:  # a miner that moved to another instance is its now
            for miner_id in set(self.states) - set(self.devices):
                self.states.pop(miner_id)
                self._errors.pop(miner_id, None)
        self._link_devices(detach=True)

    @callback
    def _on_event(self, msg: ReceiveMessage) -> None:
        event = _json(msg.payload)
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            _LOGGER.debug("ignoring malformed bridge event on %s: %s", msg.topic, msg.payload)
            return
        data = event.get("data")
        if not isinstance(data, dict):
            data = {}
        miner_id = data.get("id")
        extra = {k: v for k, v in data.items() if k != "id" and k not in _EVENT_OWN_KEYS}
        self._fire(event["type"], str(miner_id) if miner_id is not None else None, extra)

    @callback
    def _on_response(self, msg: ReceiveMessage) -> None:
        body = _json(msg.payload)
        if not isinstance(body, dict):
            return
        if body.get("transaction") is not None:
            future = self._pending.get((msg.topic, str(body["transaction"])))
            if future is not None and not future.done():
                future.set_result(body)
            return
        levels = msg.topic.removeprefix(f"{self.base}/").split("/")
        if (
            len(levels) == 2
            and levels[1] == "response"
            and levels[0] not in RESERVED_IDS
            and self.follows(levels[0])
        ):
            self._on_untracked_write(levels[0], body)

    @callback
    def _on_untracked_write(self, miner_id: str, body: dict[str, Any]) -> None:
        """The answer to a write without a transaction: an MQTT entity's (number, switch,
        select, button), or a one-off mosquitto_pub.  Nobody waits for it, so a refusal or
        failure becomes an event and a persistent notification saying why (the entity
        already shows the real state: it is not optimistic, and the bridge republishes the
        state after a failed write).  A later success of the same write dismisses it."""
        command = str(body.get("command") or "set")
        notification_id = f"{DOMAIN}_{self.entry.entry_id}_{miner_id}_{command}"
        status = body.get("status")
        if status == "ok":
            persistent_notification.async_dismiss(self.hass, notification_id)
            return
        if status not in ("error", "unknown", "partial"):
            return
        error = str(body.get("error") or f"status {status!r}")
        self._fire(
            EVENT_COMMAND_FAILED, miner_id, {"command": command, "status": status, "error": error}
        )
        placeholders = {"target": self._miner_label(miner_id), "command": command, "error": error}
        self.entry.async_create_task(
            self.hass, self._async_notify(notification_id, placeholders), "asic_bridge notify"
        )

    async def _async_notify(self, notification_id: str, placeholders: dict[str, str]) -> None:
        """A persistent notification in the user's language (strings.json "exceptions")."""
        strings = await async_get_translations(
            self.hass, self.hass.config.language, "exceptions", [DOMAIN]
        )
        prefix = f"component.{DOMAIN}.exceptions"
        title = strings.get(
            f"{prefix}.write_failed_title.message", "{target}: {command} not applied"
        )
        message = strings.get(f"{prefix}.write_failed.message", "{error}")
        persistent_notification.async_create(
            self.hass,
            message.format(**placeholders),
            title.format(**placeholders),
            notification_id,
        )

    @callback
    def _on_miner_state(self, msg: ReceiveMessage) -> None:
        miner_id = msg.topic.rsplit("/", 1)[-1]
        if miner_id in RESERVED_IDS or not self.follows(miner_id):
            return
        state = _json(msg.payload)
        if not isinstance(state, dict):
            if not msg.payload:  # cleared: the miner was removed
                self.states.pop(miner_id, None)
                self._errors.pop(miner_id, None)
            return
        self.states[miner_id] = state
        raw = state.get("error_messages")
        messages = [str(m) for m in raw] if isinstance(raw, list) else []
        previous = self._errors.get(miner_id)
        self._errors[miner_id] = messages
        if previous is None:
            return  # the first state we see (retained) is the baseline, not news
        for message in messages:
            if message not in previous:
                self._fire(EVENT_NEW_ERROR, miner_id, {"error": message, "errors": messages})

    @callback
    def _on_device_registry_updated(self, event: Event[dr.EventDeviceRegistryUpdatedData]) -> None:
        self._link_devices(detach=False)

    # ------------------------------------------------------------------ events
    @callback
    def _fire(self, event_type: str, miner_id: str | None, data: dict[str, Any]) -> None:
        device = self.device_for(miner_id) if miner_id is not None else None
        self.hass.bus.async_fire(
            EVENT_ASIC_BRIDGE,
            {
                "type": event_type,
                "device_id": device.id if device else None,
                "miner_id": miner_id,
                "base_topic": self.base,
                "config_entry_id": self.entry.entry_id,
                **data,
            },
        )

    # ------------------------------------------------------------------ devices
    def device_for(self, miner_id: str) -> dr.DeviceEntry | None:
        """The Home Assistant device MQTT discovery created for a miner."""
        return dr.async_get(self.hass).async_get_device(
            identifiers={(MQTT_DOMAIN, f"{IDENTIFIER_PREFIX}{miner_id}")}
        )

    def owns(self, device: dr.DeviceEntry) -> bool:
        """Whether a device is one of this bridge's miners."""
        miner_id = miner_id_of(device)
        if miner_id is None:
            return False
        if miner_id in self.devices:
            return True
        if device.via_device_id is None:
            return False
        parent = dr.async_get(self.hass).async_get(device.via_device_id)
        return parent is not None and (MQTT_DOMAIN, self.bridge_identifier) in parent.identifiers

    @callback
    def _link_devices(self, *, detach: bool) -> None:
        """Attach this config entry to the MQTT-discovered devices of this bridge's miners.

        MQTT discovery creates the devices (owned by the MQTT config entry).  Adding this
        entry to them lists them under the integration, lets the services and device
        triggers target them, and lets diagnostics find them.  With ``detach`` (a fresh
        ``bridge/devices`` list), a miner the bridge forgot is detached again (and its device
        removed when nothing else holds it).
        """
        registry = dr.async_get(self.hass)
        entry_id = self.entry.entry_id
        wanted: set[str] = set()
        for miner_id in self.devices:
            device = self.device_for(miner_id)
            if device is not None:
                wanted.add(device.id)
        bridge = registry.async_get_device(identifiers={(MQTT_DOMAIN, self.bridge_identifier)})
        if bridge is not None:
            wanted.add(bridge.id)
        for device_id in wanted:
            device = registry.async_get(device_id)
            if device is not None and entry_id not in device.config_entries:
                registry.async_update_device(device_id, add_config_entry_id=entry_id)
        if not detach:
            return
        for device in dr.async_entries_for_config_entry(registry, entry_id):
            if device.id not in wanted:
                registry.async_update_device(device.id, remove_config_entry_id=entry_id)

    # ------------------------------------------------------------------ repairs
    @callback
    def _schedule_offline_issue(self) -> None:
        if self._offline_timer is not None:
            return
        grace = OFFLINE_GRACE_SECONDS["value"]
        if grace <= 0:
            self._create_offline_issue()
            return
        self._offline_timer = async_call_later(self.hass, grace, self._offline_grace_over)

    @callback
    def _offline_grace_over(self, _now: Any) -> None:
        self._offline_timer = None
        if self.online is False:
            self._create_offline_issue()

    @callback
    def _cancel_offline_timer(self) -> None:
        if self._offline_timer is not None:
            self._offline_timer()
            self._offline_timer = None

    @callback
    def _create_offline_issue(self) -> None:
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.issue_id,
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_BRIDGE_OFFLINE,
            translation_placeholders={
                "base_topic": self.label,
                "state_topic": self.own("state"),
                "title": self.entry.title,
            },
        )

    # ------------------------------------------------------------------ requests
    async def async_request(
        self, topic: str, payload: dict[str, Any], response_topic: str, wait: float
    ) -> dict[str, Any]:
        """Publish a command with a fresh transaction; return the matching answer."""
        if self.online is False:
            raise BridgeError(
                f"The bridge on {self.label} is offline",
                translation_domain=DOMAIN,
                translation_key="bridge_offline",
                translation_placeholders={"base_topic": self.label},
            )
        transaction = f"ha-{uuid.uuid4().hex[:16]}"
        key = (response_topic, transaction)
        future: asyncio.Future[dict[str, Any]] = self.hass.loop.create_future()
        self._pending[key] = future
        try:
            await mqtt.async_publish(
                self.hass,
                topic,
                json.dumps({**payload, "transaction": transaction}, separators=(",", ":")),
                qos=1,
                retain=False,
            )
            async with asyncio.timeout(wait):
                return await future
        except TimeoutError as err:
            raise BridgeError(
                f"No answer from the bridge on {response_topic} within {wait:g} s",
                translation_domain=DOMAIN,
                translation_key="no_response",
                translation_placeholders={"topic": response_topic, "timeout": f"{wait:g}"},
            ) from err
        finally:
            self._pending.pop(key, None)

    def check_command(self, miner_id: str, payload: dict[str, Any]) -> None:
        """Refuse, before anything is sent, what the bridge's device list says cannot run.

        A refusal is the user's input (ServiceValidationError: one log line, no traceback),
        not a failure of the bridge or the miner.  A miner the list does not describe yet
        is left to the bridge to judge.
        """
        record = self.devices.get(miner_id)
        if record is None:
            return
        target = self._miner_label(miner_id)
        capabilities = set(record.get("capabilities") or ())
        for field, value in payload.items():
            what = str(value) if field == "action" else field
            needed = ACTION_CAPABILITY.get(what) or FIELD_CAPABILITY.get(field)
            if needed is not None and needed not in capabilities:
                _refuse("not_supported", target=target, command=what)
            offered = record.get("fan_modes")
            if field == "fan_mode" and isinstance(offered, list) and value not in offered:
                _refuse(
                    "fan_mode_not_offered",
                    target=target,
                    mode=str(value),
                    modes=", ".join(map(str, offered)) or "none",
                )
            bounds = record.get("power_limit_range")
            if field == "power_limit" and _is_range(bounds) and not bounds[0] <= value <= bounds[1]:
                _refuse(
                    "power_limit_out_of_range",
                    target=target,
                    power_limit=str(value),
                    low=f"{bounds[0]:g}",
                    high=f"{bounds[1]:g}",
                )

    async def async_miner_command(self, miner_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """``<b>/<id>/set`` -> ``<b>/<id>/response``; raises on anything but ``ok``."""
        answer = await self.async_request(
            self.topic(miner_id, "set"),
            payload,
            self.topic(miner_id, "response"),
            TIMEOUTS["command"],
        )
        return _checked(answer, self._miner_label(miner_id))

    async def async_bridge_request(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """``<b>/bridge/request/<op>`` -> ``<b>/bridge/response/<op>`` (sharded: this
        instance's ``<b>/bridge/<instance>/request/<op>``, which only it answers)."""
        answer = await self.async_request(
            self.own("request", op),
            args,
            self.own("response", op),
            TIMEOUTS.get(op, TIMEOUTS["command"]),
        )
        return _checked(answer, f"bridge request {op}")

    async def async_fleet_power(self, group: str, target_w: int | None) -> dict[str, Any]:
        """``<b>/fleet/<group>/set`` with ``target_w`` (None releases the group) ->
        ``<b>/fleet/<group>/response``.

        A group the bridge's retained info does not list is refused before sending."""
        return await self.async_fleet_set(group, {"target_w": target_w}, ("ok", "pending"))

    async def async_fleet_set(
        self, group: str, payload: dict[str, Any], accept: tuple[str, ...] = ("ok",)
    ) -> dict[str, Any]:
        """``<b>/fleet/<group>/set`` with ``payload`` (a power target, a pool list); a group
        the bridge's retained info does not list is refused before sending.  An answer whose
        status is not in ``accept`` is a BridgeError (a power target may answer ``pending``:
        applied, held miners still to follow).  Sharded, no instance sees a whole group and
        the bridge refuses every group: refused here, before sending."""
        if self.sharded:
            _refuse("fleet_sharded", bridge=self.label)
        config = (self.info or {}).get("config")
        groups = config.get("fleet_groups") if isinstance(config, dict) else None
        if isinstance(groups, list) and group not in groups:
            _refuse("unknown_group", group=group, groups=", ".join(map(str, groups)))
        answer = await self.async_request(
            self.topic("fleet", group, "set"),
            payload,
            self.topic("fleet", group, "response"),
            TIMEOUTS["fleet"],
        )
        return _checked(answer, f"fleet group {group}", accept)

    def _miner_label(self, miner_id: str) -> str:
        device = self.device_for(miner_id)
        name = device.name_by_user or device.name if device else None
        return f"{name} ({miner_id})" if name else miner_id


def _checked(
    answer: dict[str, Any], target: str, accept: tuple[str, ...] = ("ok",)
) -> dict[str, Any]:
    """The answer when its status is in ``accept``; otherwise a BridgeError with the bridge's
    words."""
    status = answer.get("status")
    if status in accept:
        return answer
    error = answer.get("error")
    if status == "partial":
        data = answer.get("data")
        failed = data.get("failed") if isinstance(data, dict) else None
        if not isinstance(failed, dict):
            failed = {}
        details = "; ".join(f"{miner}: {reason}" for miner, reason in sorted(failed.items()))
        error = (
            f"only partly applied; failed: {details}"
            if details
            else f"only partly applied: {error or 'unknown'}"
        )
    elif status == "unknown":
        error = error or "the outcome is unknown"
    message = str(error or f"status {status!r}")
    raise BridgeError(
        f"{target}: {message}",
        translation_domain=DOMAIN,
        translation_key="command_failed",
        translation_placeholders={"target": target, "error": message},
    )


def _is_range(value: Any) -> TypeGuard[list[float]]:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )


_REFUSALS = {
    "not_supported": "{target} does not support {command}",
    "power_limit_out_of_range": "{target}: {power_limit} W is outside {low}-{high} W",
    "unknown_group": "{group} is not a fleet group of this bridge (groups: {groups})",
    "fan_mode_not_offered": "{target} has no fan mode {mode} (its fan modes: {modes})",
    "fleet_sharded": (
        "{bridge} is one of several sharded bridges: fleet groups are refused there "
        "(no instance sees all of a group's miners); run fleet control on an unsharded bridge"
    ),
}


def _refuse(key: str, **placeholders: str) -> None:
    """Raise the translated ServiceValidationError ``key`` (strings.json "exceptions")."""
    raise ServiceValidationError(
        _REFUSALS[key].format(**placeholders),
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders,
    )


@callback
def _is_device_created(event_data: dr.EventDeviceRegistryUpdatedData) -> bool:
    return event_data["action"] == "create"
