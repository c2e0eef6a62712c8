"""What a fleet group's power target is right now: its settings, a schedule, a price, a surplus.

Pure and clock-free: every function takes ``now`` (epoch seconds), so tests move time by hand.
The same pydantic models validate ``fleet.groups.<group>`` in bridge.yaml and the runtime
payloads of ``fleet/<group>/set``: an unknown key or an absurd value is one clear error.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from asic_bridge.bridge.commands import RequestError, check_transaction, decode_json
from asic_bridge.bridge.fleet import MAX_TARGET_W
from asic_bridge.config import describe_validation_error

MAX_FLEET_W = MAX_TARGET_W
"""The same bound as today's fleet requests (1 GW): above it a typo, not a farm."""
DAY = 86400.0

Mode = Literal["off", "target", "schedule", "price", "surplus"]
MODES: tuple[str, ...] = ("off", "target", "schedule", "price", "surplus")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _number_of_watts(value: Any) -> Any:
    """A JSON number (a float is rounded); "5000" or true is refused, not coerced."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number of watts, got {value!r:.40}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number of watts")
        return round(value)
    return value


Watts = Annotated[int, BeforeValidator(_number_of_watts), Field(ge=0, le=MAX_FLEET_W)]
Fallback = Literal["hold", "release", "sleep"] | Watts
"""When a signal stops: keep the last target, release the miners, sleep them, or a target."""


class PowerInputError(ValueError):
    """A power setting or payload that must not be applied; the message says why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _signal_topic(topic: str | None) -> str | None:
    """A topic to read a signal from: one concrete topic (a wildcard would feed every
    message under it in as readings)."""
    if topic is None:
        return None
    if not topic or len(topic) > 1024 or "\0" in topic:
        raise ValueError("must be an MQTT topic of 1-1024 characters")
    if "+" in topic or "#" in topic:
        raise ValueError(f"must be one topic, not a wildcard filter: {topic[:60]!r}")
    return topic


class Window(_Strict):
    """From ``start`` to ``end`` local time on ``days``; an ``end`` not after ``start`` runs
    past midnight into the next day (the window belongs to the day it starts)."""

    days: tuple[Weekday, ...] = WEEKDAYS
    start: time
    end: time
    target_w: Watts | None = None
    sleep: bool = False

    @model_validator(mode="after")
    def _one_action(self) -> Window:
        if (self.target_w is None) == (not self.sleep):
            raise ValueError("give a window either target_w or sleep: true")
        if self.start == self.end:
            raise ValueError("start and end are the same time")
        if not self.days:
            raise ValueError("days is empty")
        return self

    @property
    def target(self) -> int:
        return 0 if self.sleep else int(self.target_w or 0)

    def label(self) -> str:
        action = "sleep" if self.sleep else f"{self.target_w} W"
        return f"{','.join(self.days)} {self.start:%H:%M}-{self.end:%H:%M} {action}"


def _default_zone() -> str:
    """The bridge's time zone: ``TZ`` where it names a zone (containers set it), else UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


class Schedule(_Strict):
    """Weekly windows; the first window that covers a moment decides; outside them ``outside``."""

    timezone: str = Field(default_factory=_default_zone)
    windows: tuple[Window, ...] = Field(min_length=1, max_length=200)
    outside: Literal["release", "sleep"] | Watts = "release"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r} (e.g. Europe/Berlin, UTC)") from None
        return name


class PriceBand(_Strict):
    """At a price up to ``up_to`` the group gets ``target_w`` (None: full power)."""

    up_to: float
    target_w: Watts | None = None

    _check = field_validator("up_to")(_finite)


class PriceInput(_Strict):
    """A price signal (e.g. EUR/kWh): ``max_price`` (above: sleep) and/or ``bands``."""

    topic: str | None = None
    max_price: float | None = None
    bands: tuple[PriceBand, ...] = ()
    stale_after: float = Field(default=3600.0, gt=0, le=7 * DAY)
    fallback: Fallback = "hold"

    _check = field_validator("max_price")(lambda v: v if v is None else _finite(v))
    _topic = field_validator("topic")(_signal_topic)

    @model_validator(mode="after")
    def _usable(self) -> PriceInput:
        if self.max_price is None and not self.bands:
            raise ValueError("give max_price or bands")
        edges = [b.up_to for b in self.bands]
        if edges != sorted(set(edges)):
            raise ValueError("bands must be in rising up_to order, each up_to once")
        return self

    def target_for(self, price: float) -> int | None:
        """Watts for ``price``; None = full power (the miners' own limits)."""
        if self.max_price is not None and price > self.max_price:
            return 0
        if not self.bands:
            return None
        for band in self.bands:
            if price <= band.up_to:
                return band.target_w
        return 0  # dearer than every band


class SurplusInput(_Strict):
    """A power signal to follow: ``export`` = grid export in W (negative = importing; the
    fleet may use what it draws plus this), ``available`` = watts the fleet may draw."""

    topic: str | None = None
    signal: Literal["export", "available"] = "export"
    reserve_w: int = Field(default=0, ge=0, le=MAX_FLEET_W)
    stale_after: float = Field(default=120.0, gt=0, le=DAY)
    fallback: Fallback = "sleep"

    _topic = field_validator("topic")(_signal_topic)


class GroupConfig(_Strict):
    """``fleet.groups.<group>``: members, how hard to hold, and where the target comes from."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    miners: list[str] = Field(default_factory=list)  # ids; empty = every miner
    min_change_interval: float = Field(default=60.0, ge=0, le=DAY)
    replan_interval: float = Field(default=30.0, ge=1, le=3600)
    deadband_w: int = Field(default=100, ge=0, le=1_000_000)
    mode: Mode = "off"
    target_w: Watts | None = None
    schedule: Schedule | None = None
    price: PriceInput | None = None
    surplus: SurplusInput | None = None

    @model_validator(mode="after")
    def _mode_has_its_input(self) -> GroupConfig:
        needs = {"target": "target_w", "schedule": "schedule", "price": "price"}
        key = needs.get(self.mode)
        if key is not None and getattr(self, key) is None:
            raise ValueError(f"mode {self.mode} needs {key}")
        return self


class FleetSet(_Strict):
    """A ``fleet/<group>/set`` payload.  ``target_w`` selects mode target (null: release,
    mode off), ``surplus_w`` selects mode surplus and is a reading of the power signal;
    ``mode`` alone switches mode; the input sections replace the group's at runtime."""

    mode: Mode | None = None
    target_w: Watts | None = None
    surplus_w: float | None = Field(default=None, ge=-MAX_FLEET_W, le=MAX_FLEET_W)
    emergency: StrictBool = False
    schedule: Schedule | None = None
    price: PriceInput | None = None
    surplus: SurplusInput | None = None
    min_change_interval: float | None = Field(default=None, ge=0, le=DAY)
    deadband_w: int | None = Field(default=None, ge=0, le=1_000_000)
    replan_interval: float | None = Field(default=None, ge=1, le=3600)
    transaction: str | int | None = None

    @field_validator("transaction", mode="before")
    @classmethod
    def _usable_id(cls, value: Any) -> str | int | None:
        try:  # the same rule as every other command's transaction
            return check_transaction(value)
        except RequestError as exc:
            raise ValueError(str(exc)) from None

    _check = field_validator("surplus_w")(lambda v: v if v is None else _finite(v))

    def merged(self, config: GroupConfig) -> GroupConfig:
        """``config`` with this payload's changes, validated as a whole.

        A runtime ``price`` or ``surplus`` section keeps the group's signal topic: the
        bridge subscribes to those when it starts (bridge.yaml), so a different ``topic``
        here is refused rather than silently never read; ``fleet/<group>/price`` and
        ``.../surplus`` take readings at any time."""
        given = self.model_fields_set - {"emergency", "transaction", "surplus_w"}
        update: dict[str, Any] = {key: getattr(self, key) for key in given}
        for key in ("price", "surplus"):
            section, current = update.get(key), getattr(config, key)
            if section is None:
                continue
            topic = current.topic if current is not None else None
            if "topic" not in section.model_fields_set:
                update[key] = section.model_copy(update={"topic": topic})
            elif section.topic != topic:
                raise PowerInputError(
                    f"fleet setting: {key}.topic can only be set in bridge.yaml (it is "
                    f"{topic!r}); publish readings to the group's {key} topic instead"
                )
        if "mode" not in given:
            if "target_w" in given:
                update["mode"] = "off" if self.target_w is None else "target"
            elif "surplus_w" in self.model_fields_set:
                update["mode"] = "surplus"
        data = config.model_dump(exclude_unset=False)
        data.update(
            {k: v.model_dump() if isinstance(v, BaseModel) else v for k, v in update.items()}
        )
        try:
            return GroupConfig.model_validate(data)
        except ValidationError as exc:
            raise PowerInputError(describe_validation_error(exc, "fleet setting")) from None


def parse_set(payload: Any) -> FleetSet:
    """Validate a decoded ``fleet/<group>/set`` payload; a PowerInputError says what is wrong."""
    if not isinstance(payload, dict):
        raise PowerInputError('payload must be a JSON object like {"target_w": 9000}')
    try:
        return FleetSet.model_validate(payload)
    except ValidationError as exc:
        raise PowerInputError(describe_validation_error(exc, "fleet command")) from None


def parse_set_payload(payload: bytes) -> FleetSet:
    """``fleet/<group>/set`` as received: bounded UTF-8 JSON (as every command), then
    :func:`parse_set`; anything wrong is a PowerInputError."""
    try:
        body = decode_json(payload, 'payload must be JSON like {"target_w": 9000}')
    except RequestError as exc:
        raise PowerInputError(str(exc)) from None
    return parse_set(body)


def parse_reading(text: str | bytes, what: str) -> float:
    """A plain-number signal (``fleet/<group>/price``, ``.../surplus``, a configured topic)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise PowerInputError(f"{what} must be a plain number, got {str(text)[:40]!r}") from None
    if not math.isfinite(value) or abs(value) > MAX_FLEET_W:
        raise PowerInputError(f"{what} {value!r} is not a plausible number")
    return value


# ---------------------------------------------------------------------------- schedule
@dataclass(frozen=True)
class ScheduleNow:
    """What the schedule says at a moment: the window (None: outside) and until when."""

    target: int | None  # watts; None = release
    window: Window | None
    until: float | None  # epoch seconds of the next boundary (None: none within 8 days)


def _occurrences(schedule: Schedule, day: date) -> list[tuple[float, float, Window]]:
    """(start, end) in epoch seconds of each window starting on local ``day``."""
    zone = ZoneInfo(schedule.timezone)
    found = []
    for window in schedule.windows:
        if WEEKDAYS[day.weekday()] not in window.days:
            continue
        start = datetime.combine(day, window.start, tzinfo=zone)
        end_day = day if window.end > window.start else day + timedelta(days=1)
        end = datetime.combine(end_day, window.end, tzinfo=zone)
        found.append((start.timestamp(), end.timestamp(), window))
    return found


def schedule_at(schedule: Schedule, now: float) -> ScheduleNow:
    """The schedule's target at ``now`` and when that next changes."""
    today = datetime.fromtimestamp(now, ZoneInfo(schedule.timezone)).date()
    spans = [
        span
        for offset in range(-1, 9)
        for span in _occurrences(schedule, today + timedelta(offset))
    ]
    active = next((s for s in spans if s[0] <= now < s[1]), None)  # first listed wins
    if active is not None:
        window = active[2]
        return ScheduleNow(window.target, window, _next_change(spans, now, window))
    outside = schedule.outside
    target = None if outside == "release" else 0 if outside == "sleep" else int(outside)
    return ScheduleNow(target, None, _next_change(spans, now, None))


def _next_change(
    spans: list[tuple[float, float, Window]], now: float, current: Window | None
) -> float | None:
    """The first boundary after ``now`` where the deciding window differs from ``current``."""
    for edge in sorted({t for s in spans for t in s[:2] if t > now}):
        deciding = next((s[2] for s in spans if s[0] <= edge < s[1]), None)
        if deciding is not current:
            return edge
    return None


# ---------------------------------------------------------------------------- signals
@dataclass
class Reading:
    """The latest value of a signal, when it came, and (surplus) the fleet's draw then."""

    value: float
    at: float
    fleet_w: float | None = None  # None: not known yet (no member polled)


def fallback_target(fallback: Fallback, last: int | None) -> int | None:
    """The target a stale or missing signal falls back to."""
    if fallback == "hold":
        return last
    if fallback == "release":
        return None
    if fallback == "sleep":
        return 0
    return int(fallback)


def surplus_target(config: SurplusInput, reading: Reading) -> int:
    """Watts the fleet may draw after a surplus reading (never below 0)."""
    base = reading.value + ((reading.fleet_w or 0.0) if config.signal == "export" else 0.0)
    return max(0, int(base - config.reserve_w))
