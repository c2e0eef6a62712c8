"""ePIC UMC / PowerPlay (ePIC Blockchain's control board and firmware) on Antminer and
BlockMiner hardware.

The web dashboard on port 80 says "Miner Web Dashboard" (that is how the host is
recognised); everything else is a JSON HTTP API on port **4028** (where other firmwares put
the CGMiner RPC - so the factory's RPC probe gets an HTTP 400 there).

Reading (GETs, unauthenticated, concurrent on one kept-alive client):

=================  ===============================================================
``summary``        hostname, ``Software`` ("PowerPlay-BMS v1.5.13"), ``HBs`` (per board:
                   ``Hashrate`` = [MH/s, % of the tuner's target, HW error %],
                   ``Temperature``, ``Input Voltage``, ``Core Clock Avg``), ``HBStatus``
                   (detected / enabled), ``Fans Rpm`` (``"Fans Speed <n>"``, null = no fan),
                   ``Power Supply Stats`` (``Input Power`` W), ``PerpetualTune`` (running
                   tuner and its target: W for ``Power``, TH/s for the hashrate tuners),
                   ``Status`` (``Operating State``, ``Last Error``), ``Session`` (uptime of the
                   mining program, shares), ``Stratum`` (connected pool), ``StratumConfigs``,
                   ``Misc`` (locate LED, shutdown/critical temperatures), ``Fans.Fan Mode``
                   (``{"Auto": {...}}`` or ``{"Manual": %}``: fan_mode), ``Fans.Fans Speed``
                   (the fans' duty in %: fan_percent)
``capabilities``   model, board serial numbers, chips per board (``Performance Estimator``),
                   the tuners offered with their ranges; static, read once at identification
``network``        MAC (``{"dhcp"|"static": {"mac_address": ...}}``); once, then cached
``temps``          per-board sensor list (intake ... exhaust)
=================  ===============================================================

Controls are POSTs of ``{"param": ..., "password": ...}`` answered ``{"result": bool,
"error": ...}``; ``result`` true is the miner's confirmation, an error ``BadPassword`` (or an
HTTP 401/403) is an AuthenticationError that never contains the password.  ``identify``
(locate LED on/off), ``miner`` ``Stop``/``Autostart``, ``softreboot`` (restart the mining
program), ``reboot`` (delay 0).  Power limit: the ``Power`` perpetual-tune algorithm
(``perpetualtune/algo {"algo": "Power", "target": W}``), offered only when the firmware's
capabilities list it; the answer is checked by reading the tuner's target back.  Config is
read-modify-write by construction: every vendor endpoint sets one part (``coin`` = pools
keeping the coin and unique-id flag, ``fanspeed``, ``fans/minimum``, ``shutdowntemp``,
``criticaltemp``, ``perpetualtune[/algo]``, ``miner``), and only parts that changed are sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from asic_bridge import catalog
from asic_bridge.credentials import Credentials
from asic_bridge.data import (
    Fan,
    HashBoard,
    MinerErrorData,
    PoolMetrics,
    board_from,
    pool_from,
    to_default,
)
from asic_bridge.drivers import Evidence, Family
from asic_bridge.drivers.base import (
    BaseMiner,
    Capability,
    FieldSpec,
    Identity,
    ParseContext,
    PowerRange,
    normalize_mac,
)
from asic_bridge.drivers.firmware import UPLOAD_TIMEOUT, FirmwareFile, is_zip, multipart, require
from asic_bridge.drivers.values import number, percent, whole
from asic_bridge.errors import (
    APIError,
    AuthenticationError,
    CommandError,
    ConfigError,
    InvalidResponseError,
    UnsupportedError,
)
from asic_bridge.transport.http import HTTPClient, HTTPResult

if TYPE_CHECKING:
    from asic_bridge.config import (
        FanModeImmersion,
        FanModeManual,
        FanModeNormal,
        MinerConfig,
        MiningModeHashrateTune,
        MiningModeNormal,
        MiningModePowerTune,
        MiningModeSleep,
        PoolConfig,
    )

__all__ = [
    "FAMILIES",
    "EpicBlockMiner",
    "EpicMiner",
    "encode_fan_mode",
    "parse_config",
    "parse_hashboards",
    "parse_pools",
    "resolve_model",
]

FIRMWARE = "ePIC"
DEFAULT_MAKE = "ePIC"  # ePIC's own BlockMiners; ePIC on Antminer hardware is make "AntMiner"
API_PORT = 4028
MAX_POOLS = 3
STOPPED_STATES = frozenset({"Idling", "Stopping"})
# perpetual-tune algorithm names <-> MinerConfig tuner names
HASHRATE_TUNERS = {
    "VoltageOptimizer": "voltage_optimizer",
    "BoardTune": "board_tune",
    "ChipTune": "chip_tune",
}
POWER_TUNER = "Power"

# ---------------------------------------------------------------------------------------------
# Pure parsers.

_SOFTWARE_VERSION = re.compile(r"\bv?(\d+(?:\.\d+)+\S*)", re.IGNORECASE)


def resolve_model(raw: str) -> tuple[str, str, catalog.ModelInfo | None]:
    """``"AntMiner S19j Pro"`` -> ("AntMiner", "S19j Pro", its catalog entry)."""
    text = raw.strip()
    info = catalog.lookup(text)
    if info is not None:
        return info.make, info.model, info
    make = "AntMiner" if text.upper().startswith("ANTMINER") else DEFAULT_MAKE
    model = text[len("antminer") :].strip() if make == "AntMiner" else text
    return make, model or text, None


def _summary(summary: object) -> Mapping[str, Any]:
    if not isinstance(summary, Mapping) or not isinstance(summary.get("Status"), Mapping):
        raise ValueError("summary is not an ePIC summary (no Status object)")
    return summary


def _section(summary: object, key: str) -> Mapping[str, Any]:
    value = _summary(summary).get(key)
    if not isinstance(value, Mapping):
        raise ValueError(f"summary has no {key!r} object")
    return value


def _boards(summary: object) -> list[Mapping[str, Any]]:
    hbs = _summary(summary).get("HBs")
    if hbs is None:
        return []
    if not isinstance(hbs, list):
        raise ValueError("summary HBs is not a list")
    return [hb for hb in hbs if isinstance(hb, Mapping) and whole(hb.get("Index")) is not None]


def _board_rate(hb: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(MH/s, percent of the target) of one ``HBs`` entry."""
    rate = hb.get("Hashrate")
    if not isinstance(rate, list) or not rate:
        return None, None
    return number(rate[0]), number(rate[1]) if len(rate) > 1 else None


def _board_ideal(hb: Mapping[str, Any]) -> float | None:
    """The board's target in MH/s: its rate divided by its share of the target."""
    rate, percent = _board_rate(hb)
    if rate is None:
        return None
    return rate / (percent / 100.0) if percent else rate


def parse_hashrate(ctx: ParseContext, summary: object) -> float | None:
    if _summary(summary).get("HBs") is None:
        return None
    rates = [r for hb in _boards(summary) if (r := _board_rate(hb)[0]) is not None]
    return to_default(sum(rates), "MH/s", ctx.algo)


def parse_expected_hashrate(ctx: ParseContext, summary: object) -> float | None:
    if _summary(summary).get("HBs") is None:
        return None
    ideals = [i for hb in _boards(summary) if (i := _board_ideal(hb)) is not None]
    return to_default(sum(ideals), "MH/s", ctx.algo)


def _tuner(summary: object) -> tuple[bool, str | None, Mapping[str, Any]]:
    """(running, algorithm name, its stats) of ``PerpetualTune``."""
    tune = _summary(summary).get("PerpetualTune")
    if not isinstance(tune, Mapping):
        return False, None, {}
    algos = tune.get("Algorithm")
    name: str | None = None
    stats: Mapping[str, Any] = {}
    if isinstance(algos, Mapping):
        for key, value in algos.items():
            if isinstance(value, Mapping):
                name, stats = str(key), value
                break
    return tune.get("Running") is True, name, stats


def _operating_state(summary: object) -> str | None:
    state = _section(summary, "Status").get("Operating State")
    return state if isinstance(state, str) else None


def parse_hashboards(
    ctx: ParseContext, summary: object, capabilities: object, temps: object
) -> list[HashBoard]:
    """Every slot the model (or the firmware) has: ``HBs`` for the working boards,
    ``HBStatus`` for disabled ones, ``temps`` for intake/exhaust, ``capabilities`` for chips
    per board and serial numbers."""
    info = ctx.model_info
    caps = capabilities if isinstance(capabilities, Mapping) else {}
    estimator = caps.get("Performance Estimator")
    chips = whole(estimator.get("Chip Count")) if isinstance(estimator, Mapping) else None
    if chips is None and info is not None:
        chips = info.chips_per_board
    serials = caps.get("Board Serial Numbers")
    serials = serials if isinstance(serials, list) else []
    status = _summary(summary).get("HBStatus")
    enabled = {
        idx: item.get("Enabled") is True
        for item in (status if isinstance(status, list) else [])
        if isinstance(item, Mapping) and (idx := whole(item.get("Index"))) is not None
    }
    sensors: dict[int, list[float]] = {}
    for item in temps if isinstance(temps, list) else []:
        if isinstance(item, Mapping) and (idx := whole(item.get("Index"))) is not None:
            data = item.get("Data")
            readings = data if isinstance(data, list) else []
            values = [v for x in readings if (v := number(x)) is not None and v > 0]
            sensors[idx] = values
    running, _, stats = _tuner(summary)
    state = _operating_state(summary)
    mining = state == "Mining"
    tuned = (stats.get("Optimized") is True if running else True) and mining
    reported = {whole(hb.get("Index")): hb for hb in _boards(summary)}
    slots = [i + 1 for i in (*enabled, *reported) if i is not None]
    count = max([info.hashboards or 0 if info is not None else 0, *slots])
    # One serial per board slot, or (fewer than the slots) one per enabled board in order.
    serial_slots = list(range(count))
    if len(serials) < count:
        serial_slots = sorted(
            i for i in (enabled or reported) if i is not None and enabled.get(i, True)
        )
    by_slot = dict(zip(serial_slots, serials, strict=False))
    boards: list[HashBoard] = []
    for slot in range(count):
        board = board_from({"slot": slot, "expected_chips": info.chips_per_board if info else None})
        serial = by_slot.get(slot)
        if isinstance(serial, str) and serial.strip():
            board.serial_number = serial.strip()
        if sensors.get(slot):
            board.inlet_temp = min(sensors[slot])
            board.outlet_temp = max(sensors[slot])
        hb = reported.get(slot)
        if hb is not None:
            rate = _board_rate(hb)[0]
            board.missing = False
            board.hashrate = to_default(rate, "MH/s", ctx.algo) if rate is not None else None
            board.temp = number(hb.get("Temperature"))
            board.voltage = number(hb.get("Input Voltage"))
            board.chips = chips
            board.active = enabled.get(slot, True) and mining
            board.tuned = tuned
        elif slot in enabled:
            board.missing = False
            board.active = False
            board.chips = 0
        boards.append(board)
    return boards


def parse_fans(ctx: ParseContext, summary: object) -> list[Fan]:
    """``Fans Rpm`` in fan-number order; ``null`` entries are connectors without a fan."""
    rpm = _summary(summary).get("Fans Rpm")
    if not isinstance(rpm, Mapping):
        raise ValueError("summary has no 'Fans Rpm' object")
    numbered: list[tuple[int, int]] = []
    for key, value in rpm.items():
        digits = str(key).rsplit(" ", 1)[-1]
        speed = whole(value)
        if digits.isdigit() and speed is not None:
            numbered.append((int(digits), speed))
    return [Fan(speed=speed) for _, speed in sorted(numbered)]


def parse_wattage(ctx: ParseContext, summary: object) -> int | None:
    return whole(_section(summary, "Power Supply Stats").get("Input Power"))


def parse_voltage(ctx: ParseContext, summary: object) -> float | None:
    return number(_section(summary, "Power Supply Stats").get("Output Voltage"))


def parse_wattage_limit(ctx: ParseContext, summary: object) -> int | None:
    """The ``Power`` tuner's target while it runs; firmwares without PerpetualTune (the
    older preset API) report ``PresetInfo.Target Power`` instead."""
    running, name, stats = _tuner(summary)
    if running and name == POWER_TUNER:
        return whole(stats.get("Target"))
    if "PerpetualTune" not in _summary(summary):
        preset = _summary(summary).get("PresetInfo")
        return whole(preset.get("Target Power")) if isinstance(preset, Mapping) else None
    return None


def parse_hostname(ctx: ParseContext, summary: object) -> str | None:
    value = _summary(summary).get("Hostname")
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_fw_ver(ctx: ParseContext, summary: object) -> str | None:
    software = _summary(summary).get("Software")
    m = _SOFTWARE_VERSION.search(software) if isinstance(software, str) else None
    return m.group(1) if m else None


def parse_mac(ctx: ParseContext, network: object) -> str | None:
    if not isinstance(network, Mapping):
        raise ValueError("network is not an object")
    for value in network.values():
        if isinstance(value, Mapping) and (mac := normalize_mac(value.get("mac_address"))):
            return mac
    return None


def parse_serial_number(ctx: ParseContext, capabilities: object) -> str | None:
    if not isinstance(capabilities, Mapping):
        raise ValueError("capabilities is not an object")
    serial = capabilities.get("Miner Serial Number")
    return serial.strip() if isinstance(serial, str) and serial.strip() else None


def parse_uptime(ctx: ParseContext, summary: object) -> int | None:
    return whole(_section(summary, "Session").get("Uptime"))


def parse_fault_light(ctx: ParseContext, summary: object) -> bool | None:
    value = _section(summary, "Misc").get("Locate Miner State")
    return value if isinstance(value, bool) else None


def parse_is_mining(ctx: ParseContext, summary: object) -> bool | None:
    state = _operating_state(summary)
    return None if state is None else state not in STOPPED_STATES


def _describe_error(error: object) -> str:
    """A ``MinerError``: a plain name, or ``{"HbChipDetectError": [1]}``."""
    if isinstance(error, Mapping):
        return "; ".join(f"{key}: {value}" for key, value in error.items())
    return str(error)


def parse_errors(ctx: ParseContext, summary: object) -> list[MinerErrorData]:
    out = []
    error = _section(summary, "Status").get("Last Error")
    if error not in (None, "", {}):
        out.append(MinerErrorData(error_message=_describe_error(error)))
    license_error = _summary(summary).get("Last License Error")
    if license_error not in (None, "", {}):
        out.append(MinerErrorData(error_message=f"license: {_describe_error(license_error)}"))
    return out


def _with_scheme(url: str) -> str:
    return url if "://" in url else f"stratum+tcp://{url}"


def parse_pools(ctx: ParseContext, summary: object) -> list[PoolMetrics]:
    """Every configured pool; the connected one (``Stratum.Config Id``) carries the session's
    share counts, its live user (with any unique-id suffix) and connection state."""
    data = _summary(summary)
    configs = data.get("StratumConfigs")
    stratum = data.get("Stratum") if isinstance(data.get("Stratum"), Mapping) else {}
    session = data.get("Session") if isinstance(data.get("Session"), Mapping) else {}
    assert isinstance(stratum, Mapping) and isinstance(session, Mapping)
    current = whole(stratum.get("Config Id"))
    current_url = stratum.get("Current Pool")
    pools: list[PoolMetrics] = []
    for index, item in enumerate(configs if isinstance(configs, list) else []):
        if not isinstance(item, Mapping) or not isinstance(item.get("pool"), str):
            continue
        pool = pool_from(
            {
                "index": index,
                "url": _with_scheme(item["pool"]) if item["pool"] else None,
                "user": str(item.get("login") or "") or None,
                "active": False,
            }
        )
        if index == current and isinstance(current_url, str) and current_url:
            connected = stratum.get("IsPoolConnected")
            pool.user = str(stratum.get("Current User") or "") or pool.user
            pool.active = connected is True
            pool.alive = connected if isinstance(connected, bool) else None
            pool.accepted = whole(session.get("Accepted"))
            pool.rejected = whole(session.get("Rejected"))
            pool.get_failures = pool.remote_failures = 0
        pools.append(pool)
    if not pools and isinstance(current_url, str) and current_url:  # no StratumConfigs
        connected = stratum.get("IsPoolConnected")
        pools.append(
            pool_from(
                {
                    "index": current or 0,
                    "url": _with_scheme(current_url),
                    "user": str(stratum.get("Current User") or "") or None,
                    "active": connected is True,
                    "alive": connected if isinstance(connected, bool) else None,
                    "accepted": whole(session.get("Accepted")),
                    "rejected": whole(session.get("Rejected")),
                }
            )
        )
    return pools


def _fan_mode(summary: object) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(``Fans``, its ``Fan Mode``)."""
    fans = _summary(summary).get("Fans")
    fans = fans if isinstance(fans, Mapping) else {}
    mode = fans.get("Fan Mode")
    return fans, mode if isinstance(mode, Mapping) else {}


def parse_fan_mode(ctx: ParseContext, summary: object) -> str | None:
    _, mode = _fan_mode(summary)
    if "Manual" in mode:
        return "manual"
    return "normal" if isinstance(mode.get("Auto"), Mapping) else None


def parse_fan_percent(ctx: ParseContext, summary: object) -> int | None:
    """``Fans.Fans Speed``: the duty in % the firmware drives the fans at."""
    fans, _ = _fan_mode(summary)
    return percent(fans.get("Fans Speed"))


def parse_config(ctx: ParseContext, summary: object) -> MinerConfig:
    from asic_bridge.config import (
        FanModeManual,
        FanModeNormal,
        MinerConfig,
        MiningModeHashrateTune,
        MiningModeNormal,
        MiningModePowerTune,
        MiningModeSleep,
        Pool,
        PoolConfig,
        PoolGroup,
        TemperatureConfig,
    )

    data = _summary(summary)
    pools = [
        Pool(
            url=str(item["pool"]),
            user=str(item.get("login") or ""),
            password=str(item.get("password") or "x"),
        )
        for item in data.get("StratumConfigs") or []
        if isinstance(item, Mapping) and isinstance(item.get("pool"), str) and item["pool"]
    ]
    fans, mode = _fan_mode(summary)
    min_fans = max(whole(fans.get("Minimum Working Fans")) or 0, 0)
    fan: FanModeNormal | FanModeManual | None = None
    target: float | None = None
    if "Manual" in mode:
        speed = whole(mode["Manual"])
        fan = FanModeManual(speed=max(0, min(speed if speed is not None else 100, 100)),
                            minimum_fans=min_fans)  # fmt: skip
    elif isinstance(mode.get("Auto"), Mapping):
        auto = mode["Auto"]
        idle = whole(auto.get("Idle Speed"))
        fan = FanModeNormal(minimum_fans=min_fans, minimum_speed=max(0, min(idle or 0, 100)))
        target = number(auto.get("Target Temperature"))
    misc = data.get("Misc") if isinstance(data.get("Misc"), Mapping) else {}
    assert isinstance(misc, Mapping)
    temperature = TemperatureConfig(
        target=target,
        hot=number(misc.get("Shutdown Temp")),
        danger=number(misc.get("Critical Temp")),
    )
    running, name, stats = _tuner(summary)
    mining: MiningModeSleep | MiningModePowerTune | MiningModeHashrateTune | MiningModeNormal
    if parse_is_mining(ctx, summary) is False:
        mining = MiningModeSleep()
    elif running and name == POWER_TUNER:
        mining = MiningModePowerTune(power=whole(stats.get("Target")), algo=POWER_TUNER)
    elif running and name is not None:
        mining = MiningModeHashrateTune(
            hashrate=number(stats.get("Target")), algo=HASHRATE_TUNERS.get(name, name)
        )
    else:
        mining = MiningModeNormal()
    return MinerConfig(
        pools=PoolConfig(groups=[PoolGroup(pools=pools)]),
        fan_mode=fan,
        temperature=temperature,
        mining_mode=mining,
    )


def encode_fan_mode(
    fan: FanModeNormal | FanModeManual | FanModeImmersion, target: float | None, live: object
) -> dict[str, Any]:
    """The ``fanspeed`` param for a fan mode, unset values taken from the live ``Fan Mode``."""
    from asic_bridge.config import FanModeImmersion, FanModeManual

    if isinstance(fan, FanModeImmersion):
        raise ConfigError("ePIC has no immersion fan mode (use manual with a low speed)")
    if isinstance(fan, FanModeManual):
        if fan.speed < 1:  # the API takes 1-100 and raises a 0 to 1 by itself
            raise ConfigError("ePIC takes a manual fan speed of 1-100 %, not 0")
        return {"Manual": fan.speed}
    _, mode = _fan_mode(live)
    auto = mode.get("Auto") if isinstance(mode.get("Auto"), Mapping) else {}
    assert isinstance(auto, Mapping)
    live_target = whole(auto.get("Target Temperature"))
    return {
        "Auto": {
            "Idle Speed": fan.minimum_speed or whole(auto.get("Idle Speed")) or 100,
            "Target Temperature": round(target)
            if target is not None
            else (live_target if live_target is not None else 60),
        }
    }


def tuner_ranges(capabilities: object) -> dict[str, tuple[int, int]]:
    """``{algorithm: (min, max)}`` of the perpetual-tune algorithms a miner offers."""
    caps = capabilities if isinstance(capabilities, Mapping) else {}
    options = caps.get("PerpetualTune")
    out: dict[str, tuple[int, int]] = {}
    for item in options if isinstance(options, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("algorithm"), str):
            low, high = whole(item.get("min")), whole(item.get("max"))
            out[item["algorithm"]] = (low or 0, high or 0)
    return out


# ---------------------------------------------------------------------------------------------
# The driver.


class EpicMiner(BaseMiner):
    """A miner on ePIC UMC / PowerPlay, through its HTTP API on port 4028."""

    make = "AntMiner"
    firmware = FIRMWARE
    default_capabilities = frozenset(
        {
            Capability.FAULT_LIGHT,
            Capability.REBOOT,
            Capability.RESTART_BACKEND,
            Capability.STOP_MINING,
            Capability.MINING_MODES,
            Capability.GET_CONFIG,
            Capability.SEND_CONFIG,
            Capability.FIRMWARE_UPGRADE,
            Capability.FAN_CONTROL,
        }
    )
    supported_fan_modes = ("normal", "manual")  # no immersion mode (fanspeed Auto / Manual)
    # The firmware runs its tuners: the reported mode is one of these (a VoltageOptimizer
    # running at 143 TH/s is ``hashrate_tuning``, tests/fixtures/real/epic/1.5.13).
    supported_modes = ("normal", "sleep", "hashrate_tuning", "power_tuning")
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("web:network",), parse_mac, static=True),
        "serial_number": FieldSpec(("web:capabilities",), parse_serial_number, static=True),
        "hostname": FieldSpec(("web:summary",), parse_hostname, static=True),
        "fw_ver": FieldSpec(("web:summary",), parse_fw_ver, static=True),
        "hashrate": FieldSpec(("web:summary",), parse_hashrate),
        "expected_hashrate": FieldSpec(("web:summary",), parse_expected_hashrate),
        "hashboards": FieldSpec(("web:summary", "web:capabilities", "web:temps"), parse_hashboards),
        "fans": FieldSpec(("web:summary",), parse_fans),
        "fan_mode": FieldSpec(("web:summary",), parse_fan_mode),
        "fan_percent": FieldSpec(("web:summary",), parse_fan_percent),
        "wattage": FieldSpec(("web:summary",), parse_wattage),
        "wattage_limit": FieldSpec(("web:summary",), parse_wattage_limit),
        "voltage": FieldSpec(("web:summary",), parse_voltage),
        "uptime": FieldSpec(("web:summary",), parse_uptime),
        "pools": FieldSpec(("web:summary",), parse_pools),
        "errors": FieldSpec(("web:summary",), parse_errors),
        "fault_light": FieldSpec(("web:summary",), parse_fault_light),
        "is_mining": FieldSpec(("web:summary",), parse_is_mining),
        "config": FieldSpec(("web:summary",), parse_config),
    }
    # Endpoints older firmwares lack: a 404 there is "not reported", not a failure.
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"temps"})

    @property
    def web(self) -> HTTPClient:
        port = self.port("rpc", API_PORT)
        return self._client_for("web", port, lambda: HTTPClient(self.ip, port))

    def _ctx(self) -> ParseContext:
        return ParseContext(self.algo, self.model_info, self.identity)

    def power_range(self) -> PowerRange:
        """The ``Power`` tuner's own range when the firmware states one (read at identification)."""
        low, high = tuner_ranges(self.identity.extra.get("capabilities")).get(POWER_TUNER, (0, 0))
        return PowerRange(low, high, "firmware") if 0 < low < high else super().power_range()

    # -------------------------------------------------------------- wire
    async def web_get(self, name: str) -> Any:
        result = await self.web.get(f"/{name}")
        if result.status == 404 and name in self.OPTIONAL:
            return None
        if not result.ok:
            raise APIError(f"HTTP {result.status}", ip=self.ip, command=name)
        payload = result.json()
        if isinstance(payload, Mapping) and payload.get("result") is False:
            raise CommandError(_error_text(payload), ip=self.ip, command=name)
        return payload

    async def command(self, name: str, param: Any = None) -> Any:
        """POST one control; returns the answer once the miner confirmed (``result`` true)."""
        password = self.credentials.password_or("default_epic_password")
        result = await self.web.post(f"/{name}", json={"param": param, "password": password})
        payload = _json_or_none(result)
        refused = isinstance(payload, Mapping) and "password" in str(payload.get("error")).lower()
        if result.status in (401, 403) or refused:
            raise AuthenticationError(
                "the miner refused the ePIC password", ip=self.ip, command=name
            )
        if not result.ok:
            detail = _error_text(payload) if isinstance(payload, Mapping) else ""
            raise CommandError(f"HTTP {result.status} {detail}".strip(), ip=self.ip, command=name)
        if not isinstance(payload, Mapping) or payload.get("result") is not True:
            detail = _error_text(payload) if isinstance(payload, Mapping) else "no result"
            raise CommandError(f"refused: {detail}", ip=self.ip, command=name)
        return payload

    # -------------------------------------------------------------- firmware upload
    # The firmware's OpenAPI document (tests/fixtures/real/epic/1.30.0/openapi.json,
    # system_update_handler; same in 1.22.5) and pyasic 0.79 web/epic.py system_update: POST
    # /systemupdate on the API port, multipart with "update.zip" (the package, a zip),
    # checksum (SHA-256 hex), keepsettings (boolean) and password; the answer is
    # JsonResponse {"result": bool, "error": ApiError} (BadUpdateFile, InvalidChecksum,
    # SystemUpdateInProgress ...).
    def _check_firmware(self, firmware: FirmwareFile) -> None:
        require(firmware, is_zip(firmware.data), "a .zip update package", "ePIC")

    async def _upgrade_firmware(self, firmware: FirmwareFile, keep_settings: bool) -> bool:
        fields = {
            "checksum": firmware.sha256(),
            "keepsettings": "true" if keep_settings else "false",
            "password": self.credentials.password_or("default_epic_password"),
        }
        files = {"update.zip": ("update.zip", firmware.data, "application/zip")}
        body, content_type = multipart(fields, files)
        result = await self.web.request(
            "POST",
            "/systemupdate",
            content=body,
            headers={"Content-Type": content_type},
            timeout=UPLOAD_TIMEOUT,
        )
        payload = _json_or_none(result)
        if isinstance(payload, Mapping) and "password" in str(payload.get("error")).lower():
            raise AuthenticationError(
                "the miner refused the ePIC password", ip=self.ip, command="systemupdate"
            )
        if not result.ok or not isinstance(payload, Mapping) or payload.get("result") is not True:
            detail = _error_text(payload) if isinstance(payload, Mapping) else result.text[:200]
            raise CommandError(
                f"update refused (HTTP {result.status}): {detail}",
                ip=self.ip,
                command="systemupdate",
            )
        return True

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group != "web":
            return await super()._fetch_group(group, names)
        out: dict[str, Any] = {}
        wanted = []
        for name in names:
            cached = self.identity.extra.get(name) if name == "capabilities" else None
            if cached is not None:
                out[name] = cached
            else:
                wanted.append(name)
        outcomes = await asyncio.gather(*(self.web_get(n) for n in wanted), return_exceptions=True)
        for name, outcome in zip(wanted, outcomes, strict=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome
            out[name] = outcome
            if name == "capabilities" and isinstance(outcome, Mapping):
                self.identity.extra["capabilities"] = outcome
        return out

    async def summary(self) -> Mapping[str, Any]:
        data = await self.web_get("summary")
        try:
            return _summary(data)
        except ValueError as exc:
            raise InvalidResponseError(str(exc), ip=self.ip, command="summary") from None

    # -------------------------------------------------------------- controls
    async def _set_fault_light(self, on: bool) -> bool:
        await self.command("identify", on)
        return True

    async def _reboot(self) -> bool:
        await self.command("reboot", 0)
        return True

    async def _restart_backend(self) -> bool:
        await self.command("softreboot", None)
        return True

    async def _set_mining(self, on: bool) -> bool:
        await self.command("miner", "Autostart" if on else "Stop")
        return True

    async def _set_power_limit(self, wattage: int) -> bool:
        await self.command("perpetualtune/algo", {"algo": POWER_TUNER, "target": wattage})
        # The stored target is the read-back: a stopped miner keeps its tuner's target but
        # reports the tuner as not running until it hashes again.
        _, name, stats = _tuner(await self.summary())
        applied = whole(stats.get("Target")) if name == POWER_TUNER else None
        self._confirm_applied("ePIC power target (W)", wattage, applied, "perpetualtune/algo")
        return True

    async def _get_config(self) -> MinerConfig:
        return parse_config(self._ctx(), await self.summary())

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        summary = await self.summary()
        if config.pools is not None and config.pools != live.pools:
            await self._send_pools(config.pools, summary)
        await self._send_cooling(config, live, summary)
        mode = config.mining_mode
        if mode is not None and mode != live.mining_mode:
            await self._send_mining_mode(mode, live)

    async def _send_pools(self, pools: PoolConfig, summary: Mapping[str, Any]) -> None:
        chosen = pools.first_group
        if not chosen:
            raise ConfigError("at least one pool is needed")
        if len(chosen) > MAX_POOLS:
            raise ConfigError(f"ePIC takes at most {MAX_POOLS} pools, got {len(chosen)}")
        mining = summary.get("Mining") if isinstance(summary.get("Mining"), Mapping) else {}
        stratum = summary.get("Stratum") if isinstance(summary.get("Stratum"), Mapping) else {}
        assert isinstance(mining, Mapping) and isinstance(stratum, Mapping)
        coin = str(mining.get("Coin") or ("LTC" if self.algo.lower() == "scrypt" else "BTC"))
        unique = stratum.get("Worker Unique Id")
        param = {
            "coin": coin.upper(),
            "stratum_configs": [
                {"pool": p.url, "login": p.user, "password": p.password} for p in chosen
            ],
            "unique_id": unique if isinstance(unique, bool) else False,
        }
        await self.command("coin", param)

    async def _send_cooling(
        self, config: MinerConfig, live: MinerConfig, summary: Mapping[str, Any]
    ) -> None:
        from asic_bridge.config import FanModeImmersion, FanModeManual, TemperatureConfig

        temp, live_temp = config.temperature, live.temperature or TemperatureConfig()
        target = temp.target if temp is not None else None
        fan = config.fan_mode
        target_changed = target is not None and target != live_temp.target
        if fan is not None and (fan != live.fan_mode or target_changed):
            if target_changed and isinstance(fan, FanModeManual):
                raise ConfigError("a target temperature needs the automatic (normal) fan mode")
            await self.command("fanspeed", encode_fan_mode(fan, target, summary))
            live_min = getattr(live.fan_mode, "minimum_fans", None)
            if not isinstance(fan, FanModeImmersion) and fan.minimum_fans != live_min:
                await self.command("fans/minimum", fan.minimum_fans)
        elif target_changed:
            raise ConfigError("a target temperature needs the automatic (normal) fan mode")
        if temp is not None:
            if temp.hot is not None and temp.hot != live_temp.hot:
                await self.command("shutdowntemp", round(temp.hot))
            if temp.danger is not None and temp.danger != live_temp.danger:
                await self.command("criticaltemp", round(temp.danger))

    async def _send_mining_mode(self, mode: Any, live: MinerConfig) -> None:
        from asic_bridge.config import (
            MiningModeHashrateTune,
            MiningModeNormal,
            MiningModePowerTune,
            MiningModeSleep,
        )

        if isinstance(mode, MiningModeSleep):
            await self._set_mining(False)
            return
        live_mode = live.mining_mode
        if isinstance(mode, MiningModePowerTune):
            if mode.power is None and isinstance(live_mode, MiningModePowerTune):
                mode = live_mode  # the plain mode keeps the running target
            if mode.power is None:
                raise ConfigError("power_tuning needs a power target in watts")
            if POWER_TUNER not in tuner_ranges(self.identity.extra.get("capabilities")):
                raise UnsupportedError("a power target", f"{self.make} {self.model} on ePIC")
            await self.command("perpetualtune/algo", {"algo": POWER_TUNER, "target": mode.power})
        elif isinstance(mode, MiningModeHashrateTune):
            capabilities = self.identity.extra.get("capabilities")
            if mode.hashrate is None:
                # the plain mode: the running target, else the model's default hashrate
                running = live_mode if isinstance(live_mode, MiningModeHashrateTune) else None
                default = number(capabilities.get("Default Hashrate")) if isinstance(
                    capabilities, Mapping) else None  # fmt: skip
                target = running.hashrate if running is not None else default
                mode = mode.model_copy(update={"hashrate": target, "algo": mode.algo or (
                    running.algo if running is not None else None)})  # fmt: skip
            if mode.hashrate is None:
                raise ConfigError("hashrate_tuning needs a hashrate target in TH/s")
            names = {v: k for k, v in HASHRATE_TUNERS.items()}
            algo = names.get(mode.algo or "voltage_optimizer", mode.algo or "")
            if algo not in HASHRATE_TUNERS:
                raise ConfigError(f"unknown ePIC tuning algorithm {mode.algo!r}")
            low, high = tuner_ranges(capabilities).get(algo, (0, 0))
            if 0 < low < high and not low <= mode.hashrate <= high:
                raise ConfigError(
                    f"hashrate target {mode.hashrate:g} TH/s is outside {low}-{high} TH/s "
                    f"for {algo} (range from the firmware)"
                )
            target = round(mode.hashrate)
            await self.command("perpetualtune/algo", {"algo": algo, "target": target})
            await self._confirm_tuner(algo, target)
        elif isinstance(mode, MiningModeNormal):
            await self.command("perpetualtune", False)
        else:
            raise UnsupportedError(f"mining mode {mode.mode!r}", "ePIC")
        if isinstance(live.mining_mode, MiningModeSleep):
            await self._set_mining(True)

    async def _confirm_tuner(self, algo: str, target: int) -> None:
        """Read the running tuner back: the miner must run ``algo`` at ``target``."""
        _, name, stats = _tuner(await self.summary())
        applied = {"algo": name, "target": whole(stats.get("Target"))}
        wanted = {"algo": algo, "target": target}
        self._confirm_applied("ePIC tuner", wanted, applied, "perpetualtune/algo")


class EpicBlockMiner(EpicMiner):
    """ePIC's own BlockMiner hardware (make "ePIC")."""

    make = DEFAULT_MAKE


def _json_or_none(result: HTTPResult) -> Any:
    if not result.body.strip():
        return None
    try:
        return result.json()
    except APIError:
        return None


def _error_text(payload: Mapping[str, Any]) -> str:
    error = payload.get("error")
    return _describe_error(error) if error not in (None, "") else "no reason given"


# ---------------------------------------------------------------------------------------------
# Identification.


def _matches(e: Evidence) -> bool:
    return "Miner Web Dashboard" in e.http_body


async def _build(e: Evidence, creds: Credentials) -> BaseMiner | None:
    """One follow-up: ``capabilities`` on 4028 for the model, serials and tuners offered."""
    miner: EpicMiner = EpicMiner(e.ip, credentials=creds, ports=e.ports)
    timeout = e.limits.identify_timeout
    caps: Any = None
    with contextlib.suppress(APIError, TimeoutError):
        async with asyncio.timeout(timeout):
            caps = await miner.web_get("capabilities")
    raw = caps.get("Model") if isinstance(caps, Mapping) else None
    make, model, info = resolve_model(raw) if isinstance(raw, str) and raw else (None, None, None)
    identity = Identity(
        ip=e.ip,
        make=make or DEFAULT_MAKE,
        firmware=FIRMWARE,
        model=model,
        raw_model=raw if isinstance(raw, str) else None,
        algo=info.algo if info else "SHA256",
        model_info=info,
    )
    if isinstance(caps, Mapping):
        identity.extra["capabilities"] = caps
        with contextlib.suppress(ValueError):
            identity.serial_number = parse_serial_number(
                ParseContext(identity.algo, info, identity), caps
            )
    if identity.make != EpicMiner.make:
        await miner.aclose()
        miner = EpicBlockMiner(e.ip, credentials=creds, ports=e.ports)
    miner.identity = identity
    if POWER_TUNER in tuner_ranges(caps):
        miner.capabilities = miner.capabilities | {Capability.POWER_LIMIT}
    return miner


FAMILIES = [Family("epic", _matches, _build)]
