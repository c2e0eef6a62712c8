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
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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
    checks (``model_construct``) or a dict from a command is caught: ConfigError naming it."""
    if isinstance(mode, BaseModel):
        mode = mode.model_dump()
    if not isinstance(mode, dict):
        raise ConfigError(f"a fan mode is a FanMode or its dict, got {type(mode).__name__}")
    try:
        return _FAN_MODE.validate_python(mode)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, "fan mode")) from None


def describe_fan_mode(mode: FanModeNormal | FanModeManual | FanModeImmersion | None) -> str | None:
    """``"manual 60%"``, ``"normal"``, ``"immersion"``: what a fan read-back is compared by
    (the mode, and the speed of a manual one; minimums are rarely reported)."""
    if mode is None:
        return None
    if isinstance(mode, FanModeManual):
        return f"manual {mode.speed}%"
    return mode.mode


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
]
