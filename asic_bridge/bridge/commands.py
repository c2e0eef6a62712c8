"""MQTT command payloads -> validated actions.  Nothing runs unless the whole command is valid.

``<b>/<id>/set`` takes JSON with one or more fields; ``<b>/<id>/set/<field>`` one plain value
or ``{"value": ..., "transaction": ...}``.  A transaction is checked like any other field: what
is echoed back must always be encodable (orjson refuses integers beyond 64 bits and nesting
beyond 254 levels, and then nobody would be answered).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from asic_bridge.bridge import pools as pool_lists
from asic_bridge.bridge.fans import library_fan_mode, shown_fan_mode
from asic_bridge.bridge.registry import DeviceRecord
from asic_bridge.config import FanMode, FanModeImmersion, FanModeManual, FanModeNormal
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.errors import AsicBridgeError

log = logging.getLogger(__name__)

MAX_PAYLOAD = 4096
#: A transaction is a string of 1-128 characters or an integer JavaScript reads exactly
#: (Node-RED parses JSON numbers as doubles).
MAX_TRANSACTION_CHARS = 128
MAX_TRANSACTION_INT = 2**53 - 1
#: No single miner draws this much; a larger power limit is a typo (or 1e30), not a setting.
MAX_WATTS = 100_000

ACTIONS = {
    "reboot": Capability.REBOOT,
    "restart_backend": Capability.RESTART_BACKEND,
    "identify": Capability.FAULT_LIGHT,
}

FIELDS = (
    "power_limit",
    "mining",
    "fault_light",
    "mode",
    "preset",
    "fan_mode",
    "fan_speed",
    "pools",
    "action",
)

# Order in which fields of one command run: settings before on/off, actions last.
_ORDER = {
    "mode": 0,
    "preset": 1,
    "power_limit": 2,
    "fan_mode": 3,
    "fan_speed": 3,
    "fault_light": 4,
    "mining": 5,
    "pools": 6,
    "action": 7,
}


class RequestError(ValueError):
    """A command or bridge request that must not run (invalid, unsupported, unknown miner);
    its message is the answer's ``error``.  Not ``asic_bridge.errors.CommandError``, which
    is a miner refusing a command it was sent: this one is raised before anything is sent."""


@dataclass(frozen=True)
class Action:
    field: str
    value: Any


@dataclass(frozen=True)
class Command:
    actions: tuple[Action, ...]
    transaction: str | int | None = None

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
    raise RequestError(f"{field} must be true/false (or ON/OFF), got {value!r:.40}")


def _as_watts(value: Any, device: DeviceRecord) -> int:
    if isinstance(value, bool):
        raise RequestError(f"power_limit must be a number of watts, got {value!r}")
    if isinstance(value, str):
        value = value.strip()
        try:
            value = float(value)
        except ValueError:
            raise RequestError(
                f"power_limit must be a number of watts, got {value!r:.40}"
            ) from None
    if not isinstance(value, (int, float)) or (
        isinstance(value, float) and not math.isfinite(value)
    ):
        raise RequestError(f"power_limit must be a number of watts, got {value!r:.40}")
    if not -MAX_WATTS <= value <= MAX_WATTS:
        raise RequestError(f"power_limit must be a number of watts up to {MAX_WATTS}")
    watts = round(value)
    low, high = device.power_min, device.power_max
    # no range known (source "unknown"): the miner decides, and the answer says what it did
    if low is not None and high is not None and not low <= watts <= high:
        raise RequestError(
            f"power_limit {watts} W is outside {low}-{high} W for this miner "
            f"(range from the {device.power_range_source or 'catalog'})"
        )
    if watts <= 0:
        raise RequestError(f"power_limit must be positive, got {watts}")
    return watts


@dataclass(frozen=True)
class FanSetting:
    """A fan write: the library's mode name and, for manual, the speed in percent."""

    mode: str
    speed: int | None = None

    def config(self) -> FanMode:
        if self.mode == "manual":
            assert self.speed is not None  # filled in by _complete_fan
            return FanModeManual(speed=self.speed)
        return FanModeImmersion() if self.mode == "immersion" else FanModeNormal()

    def shown(self) -> dict[str, Any]:
        """As an answer's ``applied`` says it: ``{"fan_mode": "manual", "fan_speed": 60}``."""
        shown: dict[str, Any] = {"fan_mode": shown_fan_mode(self.mode)}
        if self.speed is not None:
            shown["fan_speed"] = self.speed
        return shown


def _as_fan_mode(value: Any, device: DeviceRecord) -> FanSetting:
    """``auto`` / ``manual`` / ``immersion`` (``normal`` is an alias of ``auto``), among the
    modes this miner's firmware has."""
    name = value.strip().lower() if isinstance(value, str) else None
    if name is None or shown_fan_mode(library_fan_mode(name)) not in device.fan_modes:
        raise RequestError(
            f"fan_mode must be one of {', '.join(device.fan_modes)}, got {value!r:.40}"
        )
    return FanSetting(library_fan_mode(name))


def _as_fan_speed(value: Any, device: DeviceRecord) -> FanSetting:
    """A percentage 0-100 (rounded): the fans run at it in manual mode."""
    if "manual" not in device.fan_modes:
        raise RequestError(
            "fan_speed needs the manual fan mode, which this miner's firmware lacks "
            f"(fan modes: {', '.join(device.fan_modes)})"
        )
    number: Any = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if (
        isinstance(number, bool)
        or not isinstance(number, (int, float))
        or not math.isfinite(number)
        or not 0 <= number <= 100
    ):
        raise RequestError(f"fan_speed must be a percentage 0-100, got {value!r:.40}")
    return FanSetting("manual", round(number))


def _complete_fan(actions: list[Action], device: DeviceRecord) -> list[Action]:
    """One fan write per command: ``fan_mode`` and ``fan_speed`` together are one setting
    (a speed only goes with manual); a bare ``manual`` keeps the fans' current duty, and is
    refused when no poll has reported one."""
    fan = [a for a in actions if isinstance(a.value, FanSetting)]
    if not fan:
        return actions
    modes = [a.value for a in fan if a.field == "fan_mode"]
    speeds = [a.value.speed for a in fan if a.field == "fan_speed"]
    mode: FanSetting = modes[0] if modes else fan[0].value
    speed = speeds[0] if speeds else mode.speed
    if mode.mode != "manual":
        if speeds:
            raise RequestError(
                f"fan_speed is the speed of the manual fan mode; it cannot go with "
                f"fan_mode {shown_fan_mode(mode.mode)}"
            )
    elif speed is None:
        speed = device.fan_percent
        if speed is None:
            raise RequestError(
                "fan_mode manual needs a fan_speed (0-100): this miner's current fan speed is "
                'not known yet; send {"fan_mode": "manual", "fan_speed": 60}'
            )
    field = "fan_mode" if modes else "fan_speed"
    merged = Action(field, FanSetting(mode.mode, speed))
    return [a for a in actions if not isinstance(a.value, FanSetting)] + [merged]


def _as_preset(value: Any, device: DeviceRecord) -> str:
    """One of the firmware's own preset names (a number is read as its name: VNish names
    its presets by their watts)."""
    if not device.presets:
        raise RequestError("this miner's preset list is not known yet; try again after a poll")
    plain = isinstance(value, (str, int)) and not isinstance(value, bool)
    name = str(value).strip() if plain else None
    if name is None or name not in device.presets:
        raise RequestError(f"preset must be one of {', '.join(device.presets)}, got {value!r:.40}")
    return name


async def read_presets(miner: BaseMiner, device: DeviceRecord) -> bool:
    """The firmware's preset names into ``device.presets`` (the select's options and what a
    ``preset`` command is checked against); True when they changed.  Unreadable: kept."""
    names: list[str] = []
    if miner.supports(Capability.PRESETS):
        try:
            names = [p.name for p in await miner.get_presets()]
        except AsicBridgeError as exc:
            log.info("%s: preset list not readable (%s)", device.id, exc)
            return False
    changed = names != device.presets
    device.presets = names
    return changed


def check_field(field: str, value: Any, device: DeviceRecord) -> Action:
    """One field of a command, validated against the miner's record."""
    caps = set(device.capabilities)

    def need(cap: Capability, what: str) -> None:
        if cap.value not in caps:
            raise RequestError(f"{what} is not supported by {device.make} {device.firmware}")

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
            raise RequestError(f"mode must be one of {', '.join(device.modes)}, got {value!r:.40}")
        return Action(field, mode)
    if field == "preset":
        need(Capability.PRESETS, "preset")
        return Action(field, _as_preset(value, device))
    if field in ("fan_mode", "fan_speed"):
        need(Capability.FAN_CONTROL, field)
        check = _as_fan_mode if field == "fan_mode" else _as_fan_speed
        return Action(field, check(value, device))
    if field == "pools":
        need(Capability.SEND_CONFIG, "pools")
        need(Capability.GET_CONFIG, "pools (read back)")
        try:
            return Action(field, pool_lists.for_miner(pool_lists.parse_pools(value), device))
        except pool_lists.PoolsError as exc:
            raise RequestError(str(exc)) from None
    if field == "action":
        action = str(value).strip().lower() if isinstance(value, str) else None
        if action not in ACTIONS:
            raise RequestError(f"action must be one of {', '.join(ACTIONS)}, got {value!r:.40}")
        need(ACTIONS[action], action)
        return Action(field, action)
    raise RequestError(f"unknown field {field[:40]!r}; known: {', '.join(FIELDS)}")


def shown(action: Action) -> dict[str, Any]:
    """What an answer's ``applied`` says of an action: a pool list without its passwords, a
    fan setting as its mode and speed."""
    if isinstance(action.value, FanSetting):
        return action.value.shown()
    if action.field == "pools":
        return {action.field: pool_lists.shown(action.value)}
    return {action.field: action.value}


def loads(text: str | bytes) -> Any:
    """``json.loads`` whose every failure is a ValueError (deep nesting raises RecursionError)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON is nested too deeply") from None


def _decode(payload: bytes) -> str:
    if len(payload) > MAX_PAYLOAD:
        raise RequestError(f"payload too large ({len(payload)} bytes, max {MAX_PAYLOAD})")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError("payload is not UTF-8 text") from None


def decode_json(payload: bytes, invalid: str) -> Any:
    """A bounded UTF-8 JSON payload; ``invalid`` is the error for anything not JSON."""
    text = _decode(payload)
    try:
        return loads(text)
    except ValueError:
        raise RequestError(invalid) from None


def check_transaction(value: Any) -> str | int | None:
    """``value`` if it can serve as a transaction id (and be echoed back); else RequestError."""
    if value is None:
        return None
    if isinstance(value, str) and not isinstance(value, bool):
        if not value:
            raise RequestError("transaction must not be empty")
        if len(value) > MAX_TRANSACTION_CHARS:
            raise RequestError(
                f"transaction is {len(value)} characters long; at most {MAX_TRANSACTION_CHARS}"
            )
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_TRANSACTION_INT:
            raise RequestError(
                f"transaction integer is too large; use one within ±{MAX_TRANSACTION_INT} "
                "or a string"
            )
        return value
    raise RequestError(
        f"transaction must be a string (1-{MAX_TRANSACTION_CHARS} characters) or an integer, "
        f"not {type(value).__name__}"
    )


def correlation_transaction(correlation: Any) -> str | None:
    """MQTT 5 correlation data as the transaction of a command that names none.

    Only readable text within the limits; other bytes are still echoed as the property.
    """
    if not isinstance(correlation, (bytes, bytearray)):
        return None
    try:
        text = check_transaction(bytes(correlation).decode("utf-8"))
    except (UnicodeDecodeError, RequestError):
        return None
    return text if isinstance(text, str) else None


def parse_set(payload: bytes, device: DeviceRecord) -> Command:
    """``{"power_limit": 3000, "mining": true, "transaction": "t1"}``."""
    body = decode_json(payload, "payload is not valid JSON (use set/<field> for plain values)")
    if not isinstance(body, dict):
        raise RequestError('payload must be a JSON object like {"power_limit": 3000}')
    transaction = check_transaction(body.pop("transaction", None))
    if not body:
        raise RequestError("nothing to set")
    actions = [check_field(str(field), value, device) for field, value in body.items()]
    actions = _complete_fan(actions, device)
    actions.sort(key=lambda a: _ORDER.get(a.field, 99))
    return Command(tuple(actions), transaction)


def parse_set_field(field: str, payload: bytes, device: DeviceRecord) -> Command:
    """``set/power_limit`` with ``3000``; a JSON scalar (``"low"``, ``true``) is accepted too,
    and ``{"value": 3000, "transaction": "t2"}`` for clients that match answers to requests."""
    text = _decode(payload).strip()
    value: Any = text
    transaction = None
    if text[:1] in ('"', "{", "[") or text in ("true", "false"):
        try:
            value = loads(text)
        except ValueError:
            raise RequestError(f"payload for {field[:40]} is not a valid value") from None
    if isinstance(value, dict):
        unknown = sorted(str(k)[:40] for k in value if k not in ("value", "transaction"))
        if unknown or "value" not in value:
            why = f"unknown key(s) {', '.join(map(repr, unknown))}" if unknown else "no value"
            raise RequestError(
                f'set/{field[:40]} takes one plain value or {{"value": ..., "transaction": ...}}'
                f"; {why}"
            )
        transaction = check_transaction(value.get("transaction"))
        value = value["value"]
    if isinstance(value, (dict, list)):
        raise RequestError(
            f"set/{field[:40]} takes one plain value, got JSON {type(value).__name__}"
        )
    return Command(tuple(_complete_fan([check_field(field, value, device)], device)), transaction)


def transaction_of(payload: bytes) -> str | int | None:
    """The ``transaction`` of a payload even when the rest is invalid (to echo it back);
    None when there is none or it is unusable (the refusal says why)."""
    try:
        body = loads(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    try:
        return check_transaction(body.get("transaction"))
    except RequestError:
        return None


Outcome = TypeVar("Outcome")


class Transactions(Generic[Outcome]):
    """Recent transaction ids per miner and what each asked for: a retry is answered with the
    first outcome instead of being run twice.

    An id names the last command sent under it: a different command under a used id runs (and
    the id then names it), so a client that reuses ids is never silently ignored.  Ids are
    forgotten after ``ttl`` seconds and the oldest go first beyond ``size`` entries.
    """

    def __init__(
        self, ttl: float, size: int = 4096, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl, self.size, self.clock = ttl, size, clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, tuple[Action, ...], Outcome]] = (
            OrderedDict()
        )

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def _key(miner_id: str, transaction: str | int) -> tuple[str, str]:
        return miner_id, json.dumps(transaction)  # 1 and "1" stay apart

    def _expire(self) -> None:
        now = self.clock()
        while self._entries:
            key, (expires, _, _) = next(iter(self._entries.items()))
            if expires > now:
                break
            del self._entries[key]

    def recall(
        self, miner_id: str, transaction: str | int, actions: tuple[Action, ...]
    ) -> Outcome | None:
        """The outcome of the same command under this id, if it was seen within the ttl."""
        self._expire()
        entry = self._entries.get(self._key(miner_id, transaction))
        if entry is None or entry[1] != actions:
            return None
        return entry[2]

    def remember(
        self, miner_id: str, transaction: str | int, actions: tuple[Action, ...], outcome: Outcome
    ) -> None:
        key = self._key(miner_id, transaction)
        self._entries.pop(key, None)
        self._entries[key] = (self.clock() + self.ttl, actions, outcome)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
