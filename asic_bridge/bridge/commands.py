"""MQTT command payloads -> validated actions.  Nothing runs unless the whole command is valid.

``<b>/<id>/set`` takes JSON with one or more fields; ``<b>/<id>/set/<field>`` one plain value.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from asic_bridge.bridge.registry import DeviceRecord
from asic_bridge.drivers.base import Capability

MAX_PAYLOAD = 4096

ACTIONS = {
    "reboot": Capability.REBOOT,
    "restart_backend": Capability.RESTART_BACKEND,
    "identify": Capability.FAULT_LIGHT,
}

FIELDS = ("power_limit", "mining", "fault_light", "mode", "action")

# Order in which fields of one command run: settings before on/off, actions last.
_ORDER = {"mode": 0, "power_limit": 1, "fault_light": 2, "mining": 3, "action": 4}


class CommandError(ValueError):
    """A command that must not run; the message goes back on the response topic."""


@dataclass(frozen=True)
class Action:
    field: str
    value: Any


@dataclass(frozen=True)
class Command:
    actions: tuple[Action, ...]
    transaction: Any = None

    @property
    def name(self) -> str:
        return ",".join(a.field for a in self.actions)


_TRUE = {"true", "on", "1", "yes", "start", "resume"}
_FALSE = {"false", "off", "0", "no", "stop", "pause"}


def _as_bool(field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)) and str(value).strip().lower() in _TRUE | _FALSE:
        return str(value).strip().lower() in _TRUE
    raise CommandError(f"{field} must be true/false (or ON/OFF), got {value!r:.40}")


def _as_watts(value: Any, device: DeviceRecord) -> int:
    if isinstance(value, bool):
        raise CommandError(f"power_limit must be a number of watts, got {value!r}")
    if isinstance(value, str):
        value = value.strip()
        try:
            value = float(value)
        except ValueError:
            raise CommandError(
                f"power_limit must be a number of watts, got {value!r:.40}"
            ) from None
    if not isinstance(value, (int, float)) or (
        isinstance(value, float) and not math.isfinite(value)
    ):
        raise CommandError(f"power_limit must be a number of watts, got {value!r:.40}")
    watts = round(value)
    low, high = device.power_min, device.power_max
    if low is not None and high is not None and not low <= watts <= high:
        raise CommandError(f"power_limit {watts} W is outside {low}-{high} W for this miner")
    if watts <= 0:
        raise CommandError(f"power_limit must be positive, got {watts}")
    return watts


def _check(field: str, value: Any, device: DeviceRecord) -> Action:
    caps = set(device.capabilities)

    def need(cap: Capability, what: str) -> None:
        if cap.value not in caps:
            raise CommandError(f"{what} is not supported by {device.make} {device.firmware}")

    if field == "power_limit":
        need(Capability.POWER_LIMIT, "power_limit")
        return Action(field, _as_watts(value, device))
    if field == "mining":
        need(Capability.STOP_MINING, "mining on/off")
        return Action(field, _as_bool(field, value))
    if field == "fault_light":
        need(Capability.FAULT_LIGHT, "fault_light")
        return Action(field, _as_bool(field, value))
    if field == "mode":
        need(Capability.MINING_MODES, "mode")
        mode = str(value).strip().lower() if isinstance(value, str) else None
        if mode not in device.modes:
            raise CommandError(f"mode must be one of {', '.join(device.modes)}, got {value!r:.40}")
        return Action(field, mode)
    if field == "action":
        action = str(value).strip().lower() if isinstance(value, str) else None
        if action not in ACTIONS:
            raise CommandError(f"action must be one of {', '.join(ACTIONS)}, got {value!r:.40}")
        need(ACTIONS[action], action)
        return Action(field, action)
    raise CommandError(f"unknown field {field!r}; known: {', '.join(FIELDS)}")


def loads(text: str | bytes) -> Any:
    """``json.loads`` whose every failure is a ValueError (deep nesting raises RecursionError)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON is nested too deeply") from None


def _decode(payload: bytes) -> str:
    if len(payload) > MAX_PAYLOAD:
        raise CommandError(f"payload too large ({len(payload)} bytes, max {MAX_PAYLOAD})")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError("payload is not UTF-8 text") from None


def parse_set(payload: bytes, device: DeviceRecord) -> Command:
    """``{"power_limit": 3000, "mining": true, "transaction": "t1"}``."""
    text = _decode(payload)
    try:
        body = loads(text)
    except ValueError:
        raise CommandError("payload is not valid JSON (use set/<field> for plain values)") from None
    if not isinstance(body, dict):
        raise CommandError('payload must be a JSON object like {"power_limit": 3000}')
    transaction = body.pop("transaction", None)
    if not body:
        raise CommandError("nothing to set")
    actions = [_check(str(field), value, device) for field, value in body.items()]
    actions.sort(key=lambda a: _ORDER.get(a.field, 99))
    return Command(tuple(actions), transaction)


def parse_set_field(field: str, payload: bytes, device: DeviceRecord) -> Command:
    """``set/power_limit`` with ``3000``; a JSON scalar (``"low"``, ``true``) is accepted too."""
    text = _decode(payload).strip()
    value: Any = text
    if text[:1] in ('"', "{", "[") or text in ("true", "false"):
        try:
            value = loads(text)
        except ValueError:
            raise CommandError(f"payload for {field} is not a valid value") from None
    if isinstance(value, (dict, list)):
        raise CommandError(f"set/{field} takes one plain value, got JSON {type(value).__name__}")
    return Command((_check(field, value, device),))


def transaction_of(payload: bytes) -> Any:
    """The ``transaction`` of a payload even when the rest is invalid (to echo it back)."""
    try:
        body = loads(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return body.get("transaction") if isinstance(body, dict) else None
