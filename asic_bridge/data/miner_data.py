"""MinerData: one standard reading of a miner, whatever its firmware.

Stored fields are what drivers fill; computed fields are derived on access.  Each instance
carries its own timestamp.  ``sum(records, start=MinerData("")) / len(records)`` gives the
field-wise fleet average (pyasic's version raises).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, PrivateAttr, computed_field

from asic_bridge.data.errors import MinerErrorData
from asic_bridge.data.hashrate import ALGORITHMS, convert, default_unit

if TYPE_CHECKING:
    from asic_bridge.config import MinerConfig


def _config(value: object) -> MinerConfig | None:
    """``MinerData.config``: validated as a MinerConfig, whose models load only here.

    A reading usually carries no config (get_data leaves it out unless asked), so the
    config models (pydantic schemas for every pool, mode and fan setting) are not built
    with MinerData's; any value but None still gets MinerConfig's own validation.
    """
    if value is None:
        return None
    from asic_bridge.config import MinerConfig

    return MinerConfig.model_validate(value)


if TYPE_CHECKING:
    _Config: TypeAlias = MinerConfig | None
else:
    _Config = Annotated[Any, PlainValidator(_config)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class HashBoard(_Record):
    """One hash board; ``missing`` is True until a firmware reports the board."""

    slot: int = 0
    hashrate: float | None = None
    temp: float | None = None
    chip_temp: float | None = None
    inlet_temp: float | None = None
    outlet_temp: float | None = None
    chips: int | None = None
    expected_chips: int | None = None
    serial_number: str | None = None
    missing: bool = True
    tuned: bool | None = None
    active: bool | None = None
    voltage: float | None = None


class Fan(_Record):
    speed: int | None = None


class PoolMetrics(_Record):
    url: str | None = None
    user: str | None = None
    index: int | None = None
    accepted: int | None = None
    rejected: int | None = None
    get_failures: int | None = None
    remote_failures: int | None = None
    active: bool | None = None
    alive: bool | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pool_rejected_percent(self) -> float:
        return _percent(self.rejected, (self.accepted or 0) + (self.rejected or 0))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pool_stale_percent(self) -> float:
        return _percent(self.get_failures, (self.accepted or 0) + (self.rejected or 0))


_R = TypeVar("_R", bound=BaseModel)


def _builder(cls: type[_R]) -> Callable[[dict[str, Any]], _R]:
    """``cls(**fields)`` taking the dict itself: the same validation, without unpacking the
    fields into keywords and packing them again (a parser already has them in a dict)."""
    return cast(Callable[[dict[str, Any]], _R], cls.__pydantic_validator__.validate_python)


#: ``HashBoard(**fields)`` from a dict (parsers build several boards a poll).
board_from = _builder(HashBoard)
#: ``PoolMetrics(**fields)`` from a dict.
pool_from = _builder(PoolMetrics)


def _percent(part: int | None, whole: int) -> float:
    if not part or not whole:
        return 0.0
    return round(part / whole * 100, 2)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).astimezone()


# Stored fields that are identity/static: "summing" records keeps them only when all agree.
_TEXT_FIELDS = (
    "ip",
    "make",
    "model",
    "firmware",
    "algo",
    "serial_number",
    "psu_serial_number",
    "mac",
    "api_ver",
    "fw_ver",
    "hostname",
    "active_preset",
    "fan_mode",
)


class MinerData(_Record):
    """A complete reading of one miner.  Units: hash rates in ``hashrate_unit``, W, V, °C, s."""

    ip: str = ""
    datetime: dt.datetime = Field(default_factory=_now)

    make: str | None = None
    model: str | None = None
    firmware: str | None = None
    algo: str = "SHA256"

    serial_number: str | None = None
    psu_serial_number: str | None = None
    mac: str | None = None
    api_ver: str | None = None
    fw_ver: str | None = None
    hostname: str | None = None

    hashrate: float | None = None
    expected_hashrate: float | None = None
    sticker_hashrate: float | None = None
    expected_hashboards: int | None = None
    expected_chips: int | None = None
    expected_fans: int | None = None

    hashboards: list[HashBoard] = Field(default_factory=list)
    fans: list[Fan] = Field(default_factory=list)
    fan_psu: int | None = None
    # The fan mode the firmware reports ("normal", "manual", "immersion"), and the fans' duty
    # in percent where the firmware reports it (a manual setting, a PWM value): never guessed
    # from RPM without a known maximum.
    fan_mode: str | None = None
    fan_percent: int | None = None
    env_temp: float | None = None
    wattage: int | None = None
    wattage_limit: int | None = None
    voltage: float | None = None

    pools: list[PoolMetrics] = Field(default_factory=list)
    errors: list[MinerErrorData] = Field(default_factory=list)
    fault_light: bool | None = None
    is_mining: bool | None = None
    # The firmware's named preset the miner runs (Capability.PRESETS: VNish, LuxOS).
    active_preset: str | None = None
    uptime: int | None = None
    config: _Config = None

    # Which requested fields could not be read, and why.  A failing field never discards
    # the others; this says what is missing instead.
    field_errors: dict[str, str] = Field(default_factory=dict)

    # Records folded into this one by ``+`` (1 for a plain reading), and per numeric field
    # how many of them reported it; used by ``/`` to average correctly.
    _records: int = PrivateAttr(default=1)
    _counts: dict[str, int] = PrivateAttr(default_factory=dict)

    def __init__(self, ip: str = "", /, **data: Any) -> None:
        """``MinerData("10.0.0.5")`` like pyasic, or keyword arguments."""
        data.setdefault("ip", ip)
        super().__init__(**data)

    # ------------------------------------------------------------ computed fields
    @computed_field  # type: ignore[prop-decorator]
    @property
    def hashrate_unit(self) -> str:
        return ALGORITHMS.get(self.algo, "TH/s")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def timestamp(self) -> int:
        return int(self.datetime.timestamp())

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_chips(self) -> int | None:
        if not self.hashboards:
            return 0
        chips = [b.chips for b in self.hashboards if b.chips is not None]
        return sum(chips) if chips else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def nominal(self) -> bool | None:
        total = self.total_chips
        if total is None or self.expected_chips is None:
            return None
        return total == self.expected_chips

    @computed_field  # type: ignore[prop-decorator]
    @property
    def percent_expected_chips(self) -> int | None:
        total = self.total_chips
        if total is None or not self.expected_chips:
            return None
        return round(total / self.expected_chips * 100)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def percent_expected_hashrate(self) -> int | None:
        if self.hashrate is None or not self.expected_hashrate:
            return None
        return round(self.hashrate / self.expected_hashrate * 100)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def percent_expected_wattage(self) -> int | None:
        if self.wattage is None or not self.wattage_limit:
            return None
        return round(self.wattage / self.wattage_limit * 100)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def temperature_avg(self) -> int | None:
        temps = [b.temp for b in self.hashboards if b.temp is not None and b.temp > 0]
        return round(sum(temps) / len(temps)) if temps else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def chip_temperature_avg(self) -> int | None:
        temps = [
            b.chip_temp for b in self.hashboards if b.chip_temp is not None and b.chip_temp > 0
        ]
        return round(sum(temps) / len(temps)) if temps else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def efficiency_fract(self) -> float | None:
        """Joules per default hash unit (J/TH for SHA-256)."""
        if self.wattage is None or not self.hashrate:
            return None
        return round(self.wattage / self.hashrate, 2)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def efficiency(self) -> int | None:
        fract = self.efficiency_fract
        return int(fract) if fract is not None else None

    # ------------------------------------------------------------ helpers
    def hashrate_in(self, unit: str) -> float | None:
        """The total hash rate converted to ``unit`` (e.g. ``"PH/s"``)."""
        if self.hashrate is None:
            return None
        return convert(self.hashrate, default_unit(self.algo), unit)

    @classmethod
    def fields(cls) -> list[str]:
        """Every field name, stored and computed."""
        return [*cls.model_fields, *cls.model_computed_fields]

    # ------------------------------------------------------------ serialisation
    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def as_json(self, **kwargs: Any) -> str:
        return self.model_dump_json(**kwargs)

    def flat(self) -> dict[str, Any]:
        """Scalar view with nested lists flattened to ``hashboards.0.temp`` style keys."""
        out: dict[str, Any] = {}
        for key, value in self.model_dump(mode="json", exclude={"config"}).items():
            _flatten(out, key, value)
        return out

    @classmethod
    def csv_header(cls) -> str:
        return ",".join(_CSV_COLUMNS)

    def as_csv(self, header: bool = False) -> str:
        """One CSV row of the scalar fields (lists summarised); ``header=True`` prepends names."""
        dumped = self.model_dump(mode="json", include=set(_CSV_STORED))
        computed = {name: getattr(self, name) for name in _CSV_COMPUTED}
        values = {**dumped, **computed}
        values["errors"] = "; ".join(e.error_message for e in self.errors)
        values["field_errors"] = "; ".join(f"{k}: {v}" for k, v in self.field_errors.items())
        values["hashboards"] = len(self.hashboards)
        values["fans"] = "; ".join("" if f.speed is None else str(f.speed) for f in self.fans)
        values["pools"] = "; ".join(p.url or "" for p in self.pools)
        row = ",".join(_csv_cell(values.get(col)) for col in _CSV_COLUMNS)
        return f"{self.csv_header()}\n{row}" if header else row

    def as_influxdb(self, measurement: str = "miner_data", level_delimiter: str = ".") -> str:
        """InfluxDB line protocol: identity as tags, readings as fields, ns timestamp."""
        tags = {
            "ip": self.ip,
            "mac": self.mac,
            "make": self.make,
            "model": self.model,
            "firmware": self.firmware,
            "algo": self.algo,
        }
        tag_text = "".join(
            f",{k}={_influx_escape_tag(str(v))}" for k, v in tags.items() if v not in (None, "")
        )
        fields = []
        for key, value in self.flat().items():
            if key in tags or key in ("datetime", "timestamp") or value is None:
                continue
            fields.append(f"{key.replace('.', level_delimiter)}={_influx_value(value)}")
        stamp = int(self.datetime.timestamp() * 1_000_000_000)
        return f"{_influx_escape_tag(measurement)}{tag_text} {','.join(fields)} {stamp}"

    # ------------------------------------------------------------ fleet arithmetic
    def __add__(self, other: object) -> MinerData:
        if not isinstance(other, MinerData):
            return NotImplemented
        if self._weight() == 0:  # the empty start record of sum(..., start=MinerData(""))
            return other.model_copy(deep=True)
        if other._weight() == 0:
            return self.model_copy(deep=True)
        merged: dict[str, Any] = {}
        counts: dict[str, int] = {}
        for name, field in type(self).model_fields.items():
            a, b = getattr(self, name), getattr(other, name)
            if name in _TEXT_FIELDS:  # identity survives only where every record agrees
                merged[name] = a if a == b else None
                if merged[name] is None and name in ("ip", "algo"):
                    merged[name] = "" if name == "ip" else self.algo
            elif name == "datetime":
                merged[name] = max(a, b)
            elif name == "field_errors":
                merged[name] = {**a, **b}
            elif isinstance(a, list) or isinstance(b, list):
                merged[name] = list(a) + list(b)
            elif name == "config":
                merged[name] = a if a == b else None
            elif field.annotation in (bool | None,):
                merged[name] = (
                    (a and b) if a is not None and b is not None else (a if b is None else b)
                )
            else:  # numbers: None is "did not report", not zero
                merged[name] = (a or 0) + (b or 0) if a is not None or b is not None else None
                counts[name] = self._count(name) + other._count(name)
        result = MinerData(**merged)
        # An empty start record (``MinerData("")``) contributes no reading.
        result._records = self._weight() + other._weight()
        result._counts = counts
        return result

    __radd__ = __add__

    def __truediv__(self, n: int | float) -> MinerData:
        """Divide each number by ``n``; a field fewer records reported is averaged over those."""
        if not isinstance(n, (int, float)) or isinstance(n, bool) or n == 0:
            return NotImplemented
        values: dict[str, Any] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not is_number or name in _TEXT_FIELDS:
                continue
            reported = self._count(name)
            divisor = n if reported >= self._records else reported
            result = value / divisor if divisor else value
            values[name] = round(result) if field.annotation == (int | None) else result
        return self.model_copy(update=values)

    def _weight(self) -> int:
        empty = self._records == 1 and not self._counts and self._is_blank()
        return 0 if empty else self._records

    def _count(self, name: str) -> int:
        if name in self._counts:
            return self._counts[name]
        if self._is_blank():
            return 0
        return 1 if getattr(self, name) is not None else 0

    def _is_blank(self) -> bool:
        return (
            not self.ip and self.hashrate is None and self.wattage is None and not self.hashboards
        )


_PRIVATE = MinerData.__private_attributes__
if set(_PRIVATE) != {"_records", "_counts"} or _PRIVATE["_counts"].default_factory is not dict:
    raise AssertionError("MinerData's private attributes changed: update _init_private")
#: ``_records``' default, as declared on the class (``_counts`` starts as a new dict)
_RECORDS_DEFAULT = _PRIVATE["_records"].get_default()


def _init_private(self: BaseModel, context: Any, /) -> None:
    """pydantic's ``init_private_attributes`` for MinerData's two private attributes, without
    its generic loop over ``PrivateAttr`` defaults (a quarter of a reading's build)."""
    if getattr(self, "__pydantic_private__", None) is None:
        private = {"_records": _RECORDS_DEFAULT, "_counts": {}}
        object.__setattr__(self, "__pydantic_private__", private)


MinerData.model_post_init = _init_private  # type: ignore[method-assign]

#: ``MinerData(**fields)`` from a dict that holds ``ip`` (get_data builds each reading so).
data_from = _builder(MinerData)


def _flatten(out: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, dict):
        for sub, item in value.items():
            _flatten(out, f"{key}.{sub}", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten(out, f"{key}.{index}", item)
    else:
        out[key] = value


_CSV_STORED = [
    "ip",
    "datetime",
    "make",
    "model",
    "firmware",
    "algo",
    "mac",
    "serial_number",
    "hostname",
    "fw_ver",
    "api_ver",
    "hashrate",
    "expected_hashrate",
    "wattage",
    "wattage_limit",
    "voltage",
    "env_temp",
    "fan_psu",
    "fan_mode",
    "fan_percent",
    "fault_light",
    "is_mining",
    "active_preset",
    "uptime",
    "expected_hashboards",
    "expected_chips",
    "expected_fans",
]
_CSV_COMPUTED = [
    "hashrate_unit",
    "total_chips",
    "temperature_avg",
    "chip_temperature_avg",
    "efficiency",
    "percent_expected_hashrate",
    "percent_expected_chips",
    "nominal",
]
_CSV_COLUMNS = [
    *_CSV_STORED,
    *_CSV_COMPUTED,
    "hashboards",
    "fans",
    "pools",
    "errors",
    "field_errors",
]


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if any(ch in text for ch in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _influx_escape_tag(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _influx_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return json.dumps(str(value))
