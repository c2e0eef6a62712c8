"""The standard miner configuration every driver reads and writes.

Vendor codecs (to and from each firmware's own format) live in the drivers; this module only
defines the shape.  Models forbid unknown keys so a typo in a config file is an error, not a
silently ignored setting.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from asic_bridge.errors import ConfigError


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


# ---------------------------------------------------------------- pools
class Pool(_Part):
    url: str = Field(min_length=1, max_length=512)
    user: str = Field(default="", max_length=512)
    password: str = Field(default="x", max_length=512, repr=False)


class PoolGroup(_Part):
    pools: list[Pool] = Field(default_factory=list)
    quota: int = Field(default=1, ge=1)
    name: str | None = None


class PoolConfig(_Part):
    groups: list[PoolGroup] = Field(default_factory=list)

    @classmethod
    def simple(cls, pools: list[Pool | dict[str, str]]) -> PoolConfig:
        """One group holding ``pools`` in failover order."""
        parsed = [p if isinstance(p, Pool) else Pool.model_validate(p) for p in pools]
        return cls(groups=[PoolGroup(pools=parsed)])

    @property
    def first_group(self) -> list[Pool]:
        return self.groups[0].pools if self.groups else []


# ---------------------------------------------------------------- fans
class FanModeNormal(_Part):
    mode: Literal["normal"] = "normal"
    minimum_fans: int = Field(default=1, ge=0)
    minimum_speed: int = Field(default=0, ge=0, le=100)


class FanModeManual(_Part):
    mode: Literal["manual"] = "manual"
    speed: int = Field(default=100, ge=0, le=100)
    minimum_fans: int = Field(default=1, ge=0)


class FanModeImmersion(_Part):
    mode: Literal["immersion"] = "immersion"


FanMode = Annotated[FanModeNormal | FanModeManual | FanModeImmersion, Field(discriminator="mode")]

FAN_MODES: tuple[str, ...] = ("normal", "manual", "immersion")
"""The fan modes in the library's (pyasic's) names: firmware control, a fixed percentage,
and no fans (immersion cooling)."""

_FAN_MODE = TypeAdapter[FanMode](FanMode)


def check_fan_mode(mode: object) -> FanMode:
    """``mode`` (a FanMode or its dict) validated again, so a value changed past its model's
    checks (``model_construct``) or a dict from a command is caught: ConfigError naming it.
    The fields the caller gave stay marked as given (``model_fields_set``)."""
    if isinstance(mode, BaseModel):
        mode = {**mode.model_dump(exclude_unset=True), "mode": getattr(mode, "mode", None)}
    if not isinstance(mode, dict):
        raise ConfigError(f"a fan mode is a FanMode or its dict, got {type(mode).__name__}")
    flags = [key for key, value in mode.items() if isinstance(value, bool)]
    if flags:  # pydantic would take true as speed 1
        raise ConfigError(f"invalid fan mode: {flags[0]} must be a whole number, not true/false")
    try:
        return _FAN_MODE.validate_python(mode)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, "fan mode")) from None


FAN_MINIMUMS = ("minimum_fans", "minimum_speed")


def given_minimums(mode: FanModeNormal | FanModeManual | FanModeImmersion) -> tuple[str, ...]:
    """The minimums the caller set on ``mode``; the others are the model's defaults, which a
    fan write leaves as the miner has them."""
    return tuple(name for name in FAN_MINIMUMS if name in mode.model_fields_set)


def lacks_minimums(mode: FanModeNormal | FanModeManual | FanModeImmersion) -> bool:
    """Whether ``mode`` has a minimum the caller did not give (one to keep from the miner)."""
    return any(
        n in type(mode).model_fields and n not in mode.model_fields_set for n in FAN_MINIMUMS
    )


def with_live_minimums(
    mode: FanModeNormal | FanModeManual | FanModeImmersion,
    live: FanModeNormal | FanModeManual | FanModeImmersion | None,
) -> FanMode:
    """``mode`` with each minimum it was not given taken from ``live`` where that reports it,
    so switching to auto does not reset a minimum fan speed set on the miner."""
    update = {
        name: getattr(live, name)
        for name in FAN_MINIMUMS
        if name in type(mode).model_fields
        and name not in mode.model_fields_set
        and live is not None
        and name in live.model_fields_set
        and name in type(live).model_fields
    }
    if not update:
        return mode
    return type(mode).model_validate({**mode.model_dump(exclude_unset=True), **update})


def fan_mode_shown(
    wanted: FanModeNormal | FanModeManual | FanModeImmersion,
    applied: FanModeNormal | FanModeManual | FanModeImmersion | None,
) -> tuple[str | None, str | None]:
    """``wanted`` and a read-back ``applied`` described alike (:func:`describe_fan_mode`) with
    the minimums asked for that the firmware reports: equal when the write took."""
    shown = given_minimums(applied) if applied is not None else ()
    minimums = tuple(m for m in given_minimums(wanted) if m in shown)
    return describe_fan_mode(wanted, minimums), describe_fan_mode(applied, minimums)


def describe_fan_mode(
    mode: FanModeNormal | FanModeManual | FanModeImmersion | None,
    minimums: tuple[str, ...] = (),
) -> str | None:
    """``"manual 60%"``, ``"normal"``, ``"normal minimum_speed=25"``: what a fan read-back is
    compared by (the mode, the speed of a manual one, and the ``minimums`` named)."""
    if mode is None:
        return None
    text = f"manual {mode.speed}%" if isinstance(mode, FanModeManual) else mode.mode
    shown = [f"{name}={getattr(mode, name, None)}" for name in minimums]
    return " ".join([text, *shown])


# ---------------------------------------------------------------- temperature
class TemperatureConfig(_Part):
    target: float | None = None
    hot: float | None = None
    danger: float | None = None


# ---------------------------------------------------------------- mining mode
class MiningModeNormal(_Part):
    mode: Literal["normal"] = "normal"


class MiningModeLow(_Part):
    mode: Literal["low"] = "low"


class MiningModeHigh(_Part):
    mode: Literal["high"] = "high"


class MiningModeSleep(_Part):
    mode: Literal["sleep"] = "sleep"


class MiningModePowerTune(_Part):
    mode: Literal["power_tuning"] = "power_tuning"
    power: int | None = Field(default=None, ge=0)
    algo: str | None = None


class MiningModeHashrateTune(_Part):
    mode: Literal["hashrate_tuning"] = "hashrate_tuning"
    hashrate: float | None = Field(default=None, ge=0)
    algo: str | None = None


class MiningPreset(_Part):
    name: str
    power: int | None = None
    hashrate: float | None = None
    tuned: bool | None = None


class MiningModePreset(_Part):
    mode: Literal["preset"] = "preset"
    active_preset: str | None = None
    available_presets: list[MiningPreset] = Field(default_factory=list)


class ManualBoardSettings(_Part):
    freq: float
    volt: float


class MiningModeManual(_Part):
    mode: Literal["manual"] = "manual"
    global_freq: float | None = None
    global_volt: float | None = None
    boards: dict[int, ManualBoardSettings] = Field(default_factory=dict)


MiningMode = Annotated[
    MiningModeNormal
    | MiningModeLow
    | MiningModeHigh
    | MiningModeSleep
    | MiningModePowerTune
    | MiningModeHashrateTune
    | MiningModePreset
    | MiningModeManual,
    Field(discriminator="mode"),
]

MINING_MODES: tuple[str, ...] = (
    "normal",
    "low",
    "high",
    "sleep",
    "power_tuning",
    "hashrate_tuning",
    "preset",
    "manual",
)


# ---------------------------------------------------------------- the whole config
class MinerConfig(_Part):
    """Pools, fan mode, temperature limits and mining mode, as one validated object.

    A part left at ``None`` means "unknown / not managed": ``send_config`` keeps the live value.
    """

    pools: PoolConfig | None = None
    fan_mode: FanMode | None = None
    temperature: TemperatureConfig | None = None
    mining_mode: MiningMode | None = None

    @classmethod
    def fields(cls) -> list[str]:
        return list(cls.model_fields)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Any) -> MinerConfig:
        """Validate ``data``; any problem raises :class:`ConfigError` naming the key."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, "MinerConfig")) from None

    def merged_over(self, live: MinerConfig) -> MinerConfig:
        """This config's set parts laid over ``live``: the read-modify-write rule of send_config."""
        return MinerConfig(
            pools=self.pools if self.pools is not None else live.pools,
            fan_mode=self.fan_mode if self.fan_mode is not None else live.fan_mode,
            temperature=self.temperature if self.temperature is not None else live.temperature,
            mining_mode=self.mining_mode if self.mining_mode is not None else live.mining_mode,
        )


def describe_validation_error(exc: ValidationError, what: str) -> str:
    """One readable line per problem: ``pools.groups.0.quota: Input should be >= 1 (got 0)``.

    Values of keys that may hold secrets are not echoed.
    """
    lines = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(root)"
        secret = any("pass" in str(part) or "token" in str(part) for part in err["loc"])
        got = "" if secret or err["type"] == "missing" else f" (got {err.get('input')!r:.60})"
        lines.append(f"{where}: {err['msg']}{got}")
    return f"invalid {what}: " + "; ".join(lines)


__all__ = [
    "FAN_MINIMUMS",
    "FAN_MODES",
    "MINING_MODES",
    "FanMode",
    "FanModeImmersion",
    "FanModeManual",
    "FanModeNormal",
    "ManualBoardSettings",
    "MinerConfig",
    "MiningMode",
    "MiningModeHashrateTune",
    "MiningModeHigh",
    "MiningModeLow",
    "MiningModeManual",
    "MiningModeNormal",
    "MiningModePowerTune",
    "MiningModePreset",
    "MiningModeSleep",
    "MiningPreset",
    "Pool",
    "PoolConfig",
    "PoolGroup",
    "TemperatureConfig",
    "check_fan_mode",
    "describe_fan_mode",
    "describe_validation_error",
    "fan_mode_shown",
    "given_minimums",
    "lacks_minimums",
    "with_live_minimums",
]
