"""MicroBT Whatsminer (btminer): API v2 on TCP 4028 and API v3 on TCP 4433.

Two firmware generations, two drivers:

- **API v2** (firmware up to 2024.11): CGMiner-style JSON on 4028.  ``summary``, ``devs`` and
  ``pools`` are joined into one ``a+b+c`` request; btminer's own commands (``get_*``,
  ``status``) cannot be joined and go on their own connections, concurrently.  Writes are
  AES-encrypted with a key derived from the admin password and a ``get_token`` salt (see
  :class:`asic_bridge.transport.whatsminer.WhatsminerV2Session`; one token serves every write
  for ~30 minutes).
- **API v3** (firmware after 2024.11): length-prefixed JSON frames on 4433
  (``get.device.info``, ``get.miner.status`` ...); ``set.*`` commands are signed with a
  salted SHA-256 token for the account ``super``.  One kept-alive connection per poll.

Hash rates arrive in MH/s (v2 ``MHS 5s``), GH/s (v2 ``Factory GHS``) or TH/s (v3) and are
converted to the algorithm's default unit.  Everything vendor-specific about Whatsminers lives
in this module: field names, the error-code table, the config codec.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from asic_bridge.catalog import ModelInfo, lookup_whatsminer
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
    normalize_mac,
)
from asic_bridge.drivers.firmware import UPLOAD_TIMEOUT, FirmwareFile, require, require_suffix
from asic_bridge.drivers.values import loose_text as _text
from asic_bridge.drivers.values import number as _num
from asic_bridge.drivers.values import whole as _int
from asic_bridge.errors import (
    APIError,
    CommandError,
    ConfigError,
    InvalidResponseError,
    MinerConnectionError,
    MinerTimeoutError,
    UnsupportedError,
)
from asic_bridge.transport.rpc import RPCClient, parse_rpc_payload
from asic_bridge.transport.whatsminer import V3_PORT, WhatsminerV2Session, WhatsminerV3Client

if TYPE_CHECKING:
    from asic_bridge.config import (
        MinerConfig,
        MiningMode,
        Pool,
    )

__all__ = [
    "FAMILIES",
    "WhatsminerV2",
    "WhatsminerV3",
    "describe_error",
]

MAKE = "WhatsMiner"
FIRMWARE = "Stock"
RPC_PORT = 4028
V3_ACCOUNT = "super"

# ============================================================================ error codes
# Whatsminer error codes, in my own words.  Exact codes first; then families whose last
# digit is the hash board (SM0, SM1, SM2 ...).
_ERROR_CODES: dict[int, str] = {
    110: "Intake fan speed error",
    111: "Exhaust fan speed error",
    120: "Second intake fan speed error",
    121: "Second exhaust fan speed error",
    140: "Fan speed too high",
    200: "No power supply detected",
    201: "Power supply does not match the configuration",
    202: "Power supply output voltage error",
    203: "Power supply protection: environment too hot",
    204: "Power supply current protection: environment too hot",
    205: "Power supply output current error",
    206: "Power supply input voltage too low",
    207: "Power supply input current protection",
    210: "Power supply fault",
    213: "Power supply input and output readings disagree",
    216: "Power supply output has not changed for a long time",
    217: "Power supply could not be enabled",
    218: "Input voltage below 230 V, high power mode not possible",
    233: "Power supply over-temperature protection",
    329: "Control board temperature sensor communication error",
    600: "Environment temperature too high",
    610: "Environment temperature too high for high power mode",
    700: "Control board does not support these chips",
    710: "Control board restarted unexpectedly",
    2010: "All pools are disabled",
    2020: "Connection to pool 0 failed",
    2021: "Connection to pool 1 failed",
    2022: "Connection to pool 2 failed",
    2030: "Share rejection rate too high",
    2040: "The pool does not support AsicBoost",
    2310: "Hash rate too low",
    2320: "Hash rate loss too high",
    2340: "Hash rate loss too high over the long term",
    8410: "Firmware version mismatch",
}
_BOARD_ERROR_FAMILIES: dict[int, str] = {
    300: "temperature sensor not detected",
    320: "temperature sensor read error",
    350: "over-temperature protection",
    410: "EEPROM not detected",
    420: "EEPROM contents could not be parsed",
    430: "chip bin type mismatch",
    440: "EEPROM chip count mismatch",
    450: "EEPROM transfer error",
    510: "hash board type mismatch",
    520: "hash board bin type mismatch",
    530: "hash board not found",
    540: "chip IDs could not be read",
    550: "bad chips found",
    560: "power imbalance between domains",
}


def _known_error(code: int) -> str | None:
    """Our message for a code we know, else None."""
    text = _ERROR_CODES.get(code)
    if text is not None:
        return text
    family, slot = divmod(code, 10)
    family_text = _BOARD_ERROR_FAMILIES.get(family * 10)
    if family_text is not None and slot < 4:
        return f"Hash board {slot}: {family_text}"
    return None


def describe_error(code: int) -> str:
    """A readable message for a Whatsminer error code (never raises)."""
    return _known_error(code) or f"Unknown error (code {code})"


def _error(code: int) -> MinerErrorData:
    return MinerErrorData(error_code=code, error_message=describe_error(code))


# ============================================================================ value helpers


def _section(payload: Any, key: str) -> dict[str, Any] | None:
    """``payload[key][0]`` of a CGMiner-style reply (``SUMMARY``, ...), or None."""
    if type(payload) is not dict and not isinstance(payload, Mapping):  # dict: no ABC check
        return None
    items = payload.get(key)
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return items[0]
    return None


def _items(payload: Any, key: str) -> list[dict[str, Any]] | None:
    """Every dict of ``payload[key]``; None when the key is absent or not a list."""
    if type(payload) is not dict and not isinstance(payload, Mapping):  # dict: no ABC check
        return None
    items = payload.get(key)
    if not isinstance(items, list):
        return None
    return [item for item in items if isinstance(item, dict)]


def _msg(payload: Any, key: str = "Msg") -> dict[str, Any] | None:
    """The ``Msg`` object of a btminer reply (v2 ``Msg``, v3 ``msg``)."""
    if type(payload) is not dict and not isinstance(payload, Mapping):  # dict: no ABC check
        return None
    msg = payload.get(key)
    return msg if isinstance(msg, dict) else None


def _rate(ctx: ParseContext, value: Any, unit: str) -> float | None:
    number = _num(value)
    if number is None or number < 0:
        return None
    return to_default(number, unit, ctx.algo)


def _temp(value: Any) -> float | None:
    number = _num(value)
    # btminer writes 0 (or -273-ish placeholders) for sensors it does not have
    if number is None or number <= -100:
        return None
    return number


def _fw_date(fw_ver: str | None) -> int | None:
    """``20241011.12.Rel`` -> 20241011; None if the version does not start with a date."""
    if not fw_ver:
        return None
    match = re.match(r"\s*'?(\d{8})", fw_ver)
    return int(match.group(1)) if match else None


def _api_tuple(api_ver: str | None) -> tuple[int, ...] | None:
    if not api_ver:
        return None
    numbers = re.findall(r"\d+", api_ver)
    return tuple(int(n) for n in numbers[:3]) if numbers else None


def _boards_from_model(ctx: ParseContext) -> int | None:
    info = ctx.model_info
    return info.hashboards if info is not None else None


def _chips_per_board(ctx: ParseContext) -> int | None:
    info = ctx.model_info
    return info.chips_per_board if info is not None else None


def _boards_read(
    ctx: ParseContext, count: int | None, readings: dict[int, dict[str, Any]]
) -> list[HashBoard]:
    """Boards 0 .. the model's count or the highest slot read, each built once from what
    its slot read (a blank board where nothing was): one validation per board, not one per
    reading assigned."""
    per_board = _chips_per_board(ctx)
    total = max(count or 0, max(readings, default=-1) + 1)
    return [
        board_from({"slot": i, "expected_chips": per_board, **readings.get(i, _NOTHING)})
        for i in range(total)
    ]


_NOTHING: dict[str, Any] = {}


# ============================================================================ v2 parsers
# Replies of btminer's own commands: {"STATUS":"S","Code":131,"Msg":{...}}.
def v2_mac(ctx: ParseContext, miner_info: Any) -> str | None:
    info = _msg(miner_info)
    return normalize_mac(info.get("mac")) if info else None


def v2_hostname(ctx: ParseContext, miner_info: Any) -> str | None:
    info = _msg(miner_info)
    return _text(info.get("hostname")) if info else None


def v2_serial(ctx: ParseContext, miner_info: Any) -> str | None:
    info = _msg(miner_info)
    return _text(info.get("minersn")) if info else None


def v2_fault_light(ctx: ParseContext, miner_info: Any) -> bool | None:
    info = _msg(miner_info)
    led = _text(info.get("ledstat")) if info else None
    return None if led is None else led.lower() != "auto"


def v2_fw_ver(ctx: ParseContext, version: Any, summary: Any = None) -> str | None:
    info = _msg(version)
    fw = _text(info.get("fw_ver")) if info else None
    if fw is None:
        entry = _section(summary, "SUMMARY")
        fw = _text(entry.get("Firmware Version")) if entry else None
    return fw


def v2_api_ver(ctx: ParseContext, version: Any) -> str | None:
    info = _msg(version)
    if info is None:
        msg = version.get("Msg") if isinstance(version, Mapping) else None
        text = _text(msg) if isinstance(msg, str) else None  # very old firmware: a string
        return text.removeprefix("whatsminer v") if text else None
    api = _text(info.get("api_ver"))
    return api.removeprefix("whatsminer v") if api else None


def v2_hashrate(ctx: ParseContext, summary: Any) -> float | None:
    entry = _section(summary, "SUMMARY")
    if entry is None:
        return None
    for key in ("MHS 5s", "HS RT", "MHS 1m", "MHS av"):
        if key in entry:
            return _rate(ctx, entry[key], "MH/s")
    return None


def v2_expected_hashrate(ctx: ParseContext, summary: Any) -> float | None:
    entry = _section(summary, "SUMMARY")
    if entry is None:
        return None
    value = _rate(ctx, entry.get("Factory GHS"), "GH/s")
    return value if value else None  # 0 means "not calibrated", not zero hash rate


def v2_wattage(ctx: ParseContext, summary: Any) -> int | None:
    entry = _section(summary, "SUMMARY")
    value = _int(entry.get("Power")) if entry else None
    return value if value is not None and value >= 0 else None  # -1: no PSU reading


def v2_wattage_limit(ctx: ParseContext, summary: Any) -> int | None:
    entry = _section(summary, "SUMMARY")
    value = _int(entry.get("Power Limit")) if entry else None
    return value if value else None


def v2_env_temp(ctx: ParseContext, summary: Any) -> float | None:
    entry = _section(summary, "SUMMARY")
    return _temp(entry.get("Env Temp")) if entry else None


def v2_uptime(ctx: ParseContext, summary: Any) -> int | None:
    entry = _section(summary, "SUMMARY")
    value = _int(entry.get("Elapsed")) if entry else None
    return value if value is not None and value >= 0 else None


def v2_fans(ctx: ParseContext, summary: Any) -> list[Fan] | None:
    entry = _section(summary, "SUMMARY")
    if entry is None:
        return None
    fans = [
        Fan(speed=_int(entry[key]))
        for key in ("Fan Speed In", "Fan Speed Out")
        if key in entry and _int(entry[key]) is not None
    ]
    return fans or None


def v2_fan_psu(ctx: ParseContext, summary: Any, psu: Any) -> int | None:
    entry = _section(summary, "SUMMARY")
    if entry is not None and _int(entry.get("Power Fanspeed")) is not None:
        return _int(entry.get("Power Fanspeed"))
    info = _msg(psu)
    return _int(info.get("fan_speed")) if info else None


def v2_psu_serial(ctx: ParseContext, psu: Any) -> str | None:
    info = _msg(psu)
    return _text(info.get("serial_no")) if info else None


def v2_voltage(ctx: ParseContext, psu: Any) -> float | None:
    """PSU output voltage; btminer reports ``vout`` in hundredths of a volt."""
    info = _msg(psu)
    vout = _num(info.get("vout")) if info else None
    return round(vout / 100, 2) if vout else None


def v2_hashboards(ctx: ParseContext, devs: Any) -> list[HashBoard] | None:
    entries = _items(devs, "DEVS")
    if entries is None:
        return None
    readings: dict[int, dict[str, Any]] = {}
    for entry in entries:
        slot = _int(entry.get("ASC", entry.get("Slot", entry.get("ID"))))
        if slot is None or not 0 <= slot < 64:
            continue
        board = readings.setdefault(slot, {})
        for key in ("MHS 5s", "MHS 1m", "MHS av"):
            if key in entry:
                board["hashrate"] = _rate(ctx, entry[key], "MH/s")
                break
        board["temp"] = _temp(entry.get("Temperature"))
        board["chip_temp"] = _temp(entry.get("Chip Temp Avg"))
        board["chips"] = _int(entry.get("Effective Chips"))
        board["serial_number"] = _text(entry.get("PCB SN"))
        board["missing"] = False
        rate = board.get("hashrate")
        if rate is not None:
            board["active"] = rate > 0
    return _boards_read(ctx, _boards_from_model(ctx), readings)


def v2_pools(ctx: ParseContext, pools: Any) -> list[PoolMetrics] | None:
    entries = _items(pools, "POOLS")
    if entries is None:
        return None
    entries.sort(key=lambda p: _int(p.get("POOL")) or 0)
    result = []
    for index, entry in enumerate(entries):
        status = _text(entry.get("Status"))
        active = entry.get("Stratum Active")
        result.append(
            pool_from(
                {
                    "url": _text(entry.get("URL")),
                    "user": _text(entry.get("User")),
                    "index": index,
                    "accepted": _int(entry.get("Accepted")),
                    "rejected": _int(entry.get("Rejected")),
                    "get_failures": _int(entry.get("Get Failures")),
                    "remote_failures": _int(entry.get("Remote Failures")),
                    "active": active if isinstance(active, bool) else None,
                    "alive": None if status is None else status.lower() == "alive",
                }
            )
        )
    return result


def _codes_from_list(raw: Any) -> list[int]:
    """Codes from ``[{"110": "<time>"}, ...]``, ``["110", 541]``, or ``{"110": "<time>"}``."""
    codes: list[int] = []
    items: list[Any]
    if isinstance(raw, dict):
        items = [raw]
    elif isinstance(raw, list):
        items = raw
    else:
        return codes
    for item in items:
        keys = list(item) if isinstance(item, dict) else [item]
        for key in keys:
            if isinstance(key, str) and key.strip().lower() == "reason":
                continue
            code = _int(key)
            if code is not None and code > 0 and code not in codes:
                codes.append(code)
    return codes


def v2_errors(ctx: ParseContext, error_code: Any, summary: Any) -> list[MinerErrorData]:
    """``get_error_code`` (API >= 2.0.1) plus the ``Error Code N`` keys older summaries carry."""
    info = _msg(error_code)
    codes = _codes_from_list(info.get("error_code")) if info else []
    entry = _section(summary, "SUMMARY")
    if entry is not None:
        count = _int(entry.get("Error Code Count")) or 0
        for i in range(min(count, 100)):
            code = _int(entry.get(f"Error Code {i}"))
            if code is not None and code > 0 and code not in codes:
                codes.append(code)
    return [_error(code) for code in codes]


def v2_is_mining(ctx: ParseContext, status: Any) -> bool | None:
    """``mineroff`` (API 2.x) or, on API 1.4 firmware, ``btmineroff``: "true" means stopped."""
    info = _msg(status)
    if info is None:
        return None
    for key in ("btmineroff", "mineroff"):  # no capture has both; a stopped btminer wins
        off = _text(info.get(key))
        if off is not None and off.lower() in ("true", "false"):
            return off.lower() == "false"
    return None


_V2_MODES = ("low", "normal", "high")


def _named_mode(mode: str) -> MiningMode:
    """The config model of a named v2 power mode (one of ``_V2_MODES``)."""
    from asic_bridge.config import MiningModeHigh, MiningModeLow, MiningModeNormal

    if mode == "low":
        return MiningModeLow()
    return MiningModeHigh() if mode == "high" else MiningModeNormal()


def _limit_is_custom(ctx: ParseContext, limit: int | None) -> bool:
    """A power limit below the model's rated power is a user setting; above it, the default."""
    if not limit:
        return False
    info = ctx.model_info
    if info is None or not info.power_max:
        return True
    return limit < info.power_max


def v2_config(ctx: ParseContext, pools: Any, summary: Any, status: Any) -> MinerConfig:
    """The live config: pools (passwords are not readable: ``x``) and the mining mode."""
    from asic_bridge.config import MinerConfig, Pool, PoolConfig, PoolGroup

    entries = _items(pools, "POOLS")
    pool_config = None
    if entries is not None:
        entries.sort(key=lambda p: _int(p.get("POOL")) or 0)
        pool_config = PoolConfig(
            groups=[
                PoolGroup(
                    pools=[
                        Pool(url=str(p["URL"]), user=str(p.get("User") or ""), password="x")
                        for p in entries
                        if _text(p.get("URL"))
                    ]
                )
            ]
        )
    return MinerConfig(pools=pool_config, mining_mode=_v2_mode(ctx, summary, status))


def _v2_mode(ctx: ParseContext, summary: Any, status: Any) -> Any:
    from asic_bridge.config import MiningModeNormal, MiningModePowerTune, MiningModeSleep

    if v2_is_mining(ctx, status) is False:
        return MiningModeSleep()
    entry = _section(summary, "SUMMARY")
    if entry is None:
        return None
    mode = (_text(entry.get("Power Mode")) or "").lower()
    if mode in ("low", "high"):
        return _named_mode(mode)
    limit = _int(entry.get("Power Limit"))
    if _limit_is_custom(ctx, limit):
        return MiningModePowerTune(power=limit)
    return MiningModeNormal()


# ============================================================================ v3 parsers
# Replies: {"code":0,"when":...,"msg":{...},"desc":"<cmd>"}.
def _v3_part(payload: Any, *path: str) -> dict[str, Any] | None:
    node: Any = payload
    for key in ("msg", *path):
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node if isinstance(node, dict) else None


def v3_mac(ctx: ParseContext, info: Any) -> str | None:
    net = _v3_part(info, "network")
    return normalize_mac(net.get("mac")) if net else None


def v3_hostname(ctx: ParseContext, info: Any) -> str | None:
    net = _v3_part(info, "network")
    return _text(net.get("hostname")) if net else None


def v3_serial(ctx: ParseContext, info: Any) -> str | None:
    miner = _v3_part(info, "miner")
    return _text(miner.get("miner-sn")) if miner else None


def v3_fw_ver(ctx: ParseContext, info: Any) -> str | None:
    system = _v3_part(info, "system")
    return _text(system.get("fwversion")) if system else None


def v3_api_ver(ctx: ParseContext, info: Any) -> str | None:
    system = _v3_part(info, "system")
    return _text(system.get("api")) if system else None


def v3_fault_light(ctx: ParseContext, info: Any) -> bool | None:
    system = _v3_part(info, "system")
    led = _text(system.get("ledstatus")) if system else None
    return None if led is None else led.lower() != "auto"


def v3_is_mining(ctx: ParseContext, info: Any) -> bool | None:
    miner = _v3_part(info, "miner")
    working = _text(miner.get("working")) if miner else None
    return None if working is None else working.lower() == "true"


def v3_fan_psu(ctx: ParseContext, info: Any) -> int | None:
    power = _v3_part(info, "power")
    return _int(power.get("fanspeed")) if power else None


def v3_psu_serial(ctx: ParseContext, info: Any) -> str | None:
    power = _v3_part(info, "power")
    return _text(power.get("sn")) if power else None


def v3_voltage(ctx: ParseContext, info: Any) -> float | None:
    """PSU output voltage; ``vout`` is in hundredths of a volt (1222 = 12.22 V)."""
    power = _v3_part(info, "power")
    vout = _num(power.get("vout")) if power else None
    return round(vout / 100, 2) if vout else None


def v3_errors(ctx: ParseContext, info: Any) -> list[MinerErrorData]:
    """``error-code``: ``[{"<code>": "<time>", "reason": "<text>"}, ...]`` (API 3.x).

    The firmware's own ``reason`` names codes our table does not know (power supply codes
    264-270 on 3.0.2); a known code keeps our wording, so messages stay stable across versions.
    """
    msg = _v3_part(info)
    raw = msg.get("error-code") if msg else None
    if raw is None or isinstance(raw, str):
        # a string is a free-text complaint ("btminer process is down err"), no code
        return [MinerErrorData(error_message=raw)] if isinstance(raw, str) and raw else []
    reasons: dict[int, str] = {}
    for item in raw if isinstance(raw, list) else [raw]:
        if isinstance(item, dict) and (reason := _text(item.get("reason"))):
            for code in _codes_from_list(item):
                reasons.setdefault(code, reason)
    out = []
    for code in sorted(_codes_from_list(raw)):
        if _known_error(code) is None and code in reasons:
            out.append(MinerErrorData(error_code=code, error_message=reasons[code]))
        else:
            out.append(_error(code))
    return out


def _v3_summary(payload: Any) -> dict[str, Any] | None:
    return _v3_part(payload, "summary")


def v3_hashrate(ctx: ParseContext, summary: Any) -> float | None:
    s = _v3_summary(summary)
    return _rate(ctx, s.get("hash-realtime"), "TH/s") if s else None


def v3_expected_hashrate(ctx: ParseContext, summary: Any) -> float | None:
    s = _v3_summary(summary)
    value = _rate(ctx, s.get("factory-hash"), "TH/s") if s else None
    return value if value else None  # negative/0 placeholders while calibrating


def v3_wattage(ctx: ParseContext, summary: Any) -> int | None:
    s = _v3_summary(summary)
    value = _int(s.get("power-realtime")) if s else None
    return value if value is not None and value >= 0 else None


def v3_wattage_limit(ctx: ParseContext, summary: Any) -> int | None:
    s = _v3_summary(summary)
    value = _int(s.get("power-limit")) if s else None
    return value if value else None


def v3_env_temp(ctx: ParseContext, summary: Any) -> float | None:
    s = _v3_summary(summary)
    if s is None:
        return None
    # the firmware has spelled it both ways
    value = s.get("environment-temperature", s.get("environment-tempurature"))
    return _temp(value)


def v3_uptime(ctx: ParseContext, summary: Any) -> int | None:
    s = _v3_summary(summary)
    value = _int(s.get("elapsed")) if s else None
    return value if value is not None and value >= 0 else None


def v3_fans(ctx: ParseContext, summary: Any) -> list[Fan] | None:
    s = _v3_summary(summary)
    if s is None:
        return None
    fans = [
        Fan(speed=_int(s[key]))
        for key in ("fan-speed-in", "fan-speed-out")
        if key in s and _int(s[key]) is not None
    ]
    return fans or None


def v3_hashboards(ctx: ParseContext, info: Any, edevs: Any, summary: Any) -> list[HashBoard] | None:
    msg = edevs.get("msg") if isinstance(edevs, Mapping) else None
    raw = msg.get("edevs") if isinstance(msg, Mapping) else None
    if not isinstance(raw, list):
        return None
    miner = _v3_part(info, "miner") or {}
    count = _int(miner.get("board-num")) or _boards_from_model(ctx)
    readings: dict[int, dict[str, Any]] = {}
    s = _v3_summary(summary) or {}
    board_temps = s.get("board-temperature", s.get("board-tempurature"))
    for position, entry in enumerate(raw):
        if not isinstance(entry, dict):
            continue
        slot = _int(entry.get("slot", entry.get("id", position)))
        if slot is None or not 0 <= slot < 64:
            continue
        board = readings.setdefault(slot, {})
        rate = board["hashrate"] = _rate(ctx, entry.get("hash-average"), "TH/s")
        board["chips"] = _int(entry.get("effective-chips"))
        board["chip_temp"] = _temp(entry.get("chip-temp-avg"))
        if isinstance(board_temps, list) and slot < len(board_temps):
            board["temp"] = _temp(board_temps[slot])
        board["serial_number"] = _text(miner.get(f"pcbsn{slot}"))
        board["missing"] = False
        if rate is not None:
            board["active"] = rate > 0
    return _boards_read(ctx, count, readings)


def v3_pools(ctx: ParseContext, pools: Any) -> list[PoolMetrics] | None:
    msg = pools.get("msg") if isinstance(pools, Mapping) else None
    raw = msg.get("pools") if isinstance(msg, Mapping) else None
    if not isinstance(raw, list):
        return None
    entries = [p for p in raw if isinstance(p, dict)]
    entries.sort(key=lambda p: _int(p.get("id")) or 0)
    result = []
    for index, entry in enumerate(entries):
        status = _text(entry.get("status"))
        active = entry.get("stratum-active")
        result.append(
            pool_from(
                {
                    "url": _text(entry.get("url")),
                    "user": _text(entry.get("account")),
                    "index": index,
                    "active": active if isinstance(active, bool) else None,
                    "alive": None if status is None else status.lower() == "alive",
                }
            )
        )
    return result


def v3_config(ctx: ParseContext, pools: Any, info: Any, setting: Any) -> MinerConfig:
    from asic_bridge.config import MinerConfig, Pool, PoolConfig, PoolGroup

    parsed = v3_pools(ctx, pools)
    pool_config = None
    if parsed is not None:
        pool_config = PoolConfig(
            groups=[
                PoolGroup(
                    pools=[
                        Pool(url=p.url, user=p.user or "", password="x") for p in parsed if p.url
                    ]
                )
            ]
        )
    return MinerConfig(pools=pool_config, mining_mode=_v3_mode(ctx, info, setting))


def _v3_mode(ctx: ParseContext, info: Any, setting: Any) -> Any:
    """API 3.0.0 documents ``miner.power-limit-set``; 3.0.2 firmware no longer sends it, so
    the configured limit then comes from ``get.miner.setting`` ``power-limit``."""
    from asic_bridge.config import MiningModeNormal, MiningModePowerTune, MiningModeSleep

    if v3_is_mining(ctx, info) is False:
        return MiningModeSleep()
    miner = _v3_part(info, "miner") or {}
    settings_msg = _v3_part(setting) or {}
    if "power-limit-set" in miner:
        limit = _int(miner.get("power-limit-set"))
    else:
        limit = _int(settings_msg.get("power-limit"))
    if _limit_is_custom(ctx, limit):
        return MiningModePowerTune(power=limit)
    mode = (_text(settings_msg.get("power-mode")) or "").lower()
    if mode in _V2_MODES:
        return _named_mode(mode)
    return None if not settings_msg else MiningModeNormal()


# ============================================================================ shared driver logic
_SUPPORTED_MODES = ("normal", "low", "high", "sleep", "power_tuning")
_READ_BACK_WINDOW = 2.0
_RESTART_READ_BACK_WINDOW = 20.0
"""Power-limit writes restart btminer (its RPC is down a while): the read-back waits longer."""
_READ_BACK_PAUSE = 0.5


class _Whatsminer(BaseMiner):
    """What both API generations share: config diffing and validation."""

    make = MAKE
    firmware = FIRMWARE
    default_capabilities = frozenset(
        {
            Capability.FAULT_LIGHT,
            Capability.REBOOT,
            Capability.RESTART_BACKEND,
            Capability.STOP_MINING,
            Capability.POWER_LIMIT,
            Capability.MINING_MODES,
            Capability.GET_CONFIG,
            Capability.SEND_CONFIG,
        }
    )
    # power_tuning is what a custom power limit reads as (so the reported mode is always an
    # option); choosing it needs a power target: set_power_limit, or a config with power.
    supported_modes = ("normal", "low", "high", "sleep", "power_tuning")
    LED_PERIOD_MS: ClassVar[int] = 1000
    LED_DURATION_MS: ClassVar[int] = 500
    MAX_POOLS: ClassVar[int] = 3

    async def _read_back(self, source: str, window: float = _READ_BACK_WINDOW) -> Any:
        """One source read again after a write; unreachable for ``window`` s raises."""
        deadline = time.monotonic() + window
        while True:
            try:
                (value,) = await self._fetch_required(source)
                return value
            except APIError:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(_READ_BACK_PAUSE)

    def _ctx(self) -> ParseContext:
        return ParseContext(self.algo, self.model_info, self.identity)

    async def _fetch_required(self, *sources: str) -> list[Any]:
        raw = await self._fetch_sources(sources)
        for src in sources:
            if isinstance(raw.get(src), BaseException):
                raise raw[src]
        return [raw.get(src) for src in sources]

    def _check_config(self, config: MinerConfig, live: MinerConfig) -> None:
        """Refuse what this firmware cannot do before anything is written."""
        from asic_bridge.config import MiningModePowerTune

        if config.fan_mode is not None and config.fan_mode != live.fan_mode:
            raise UnsupportedError(
                f"fan mode {config.fan_mode.mode!r}", f"{self.make} {self.firmware}"
            )
        if config.temperature is not None and config.temperature != live.temperature:
            raise UnsupportedError("temperature limits", f"{self.make} {self.firmware}")
        mode = config.mining_mode
        if mode is not None and mode != live.mining_mode:
            if mode.mode not in _SUPPORTED_MODES:
                raise UnsupportedError(f"mining mode {mode.mode!r}", f"{self.make} {self.firmware}")
            if mode.mode in ("low", "high", "normal"):
                self._require(Capability.MINING_MODES, f"mining mode {mode.mode!r}")
            if isinstance(mode, MiningModePowerTune):
                self._require(Capability.POWER_LIMIT, "mining mode 'power_tuning'")
                if mode.power is None:
                    raise ConfigError("power_tuning needs a power target in watts")
                low, high = self.power_limit_range()
                if not low <= mode.power <= high:
                    raise ConfigError(
                        f"power limit {mode.power} W is outside {low}-{high} W for {self.model}"
                    )
        pools = config.pools
        if pools is not None and pools != live.pools:
            filled = [g for g in pools.groups if g.pools]
            if len(filled) > 1:
                raise ConfigError("Whatsminers have a single pool group (up to 3 pools)")
            if filled and len(filled[0].pools) > self.MAX_POOLS:
                raise ConfigError(
                    f"Whatsminers hold at most {self.MAX_POOLS} pools, got {len(filled[0].pools)}"
                )

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        from asic_bridge.config import (
            MiningModeHigh,
            MiningModeLow,
            MiningModePowerTune,
            MiningModeSleep,
        )

        self._check_config(config, live)
        if config.pools is not None and config.pools != live.pools:
            await self._write_pools(config.pools.first_group)
        mode = config.mining_mode
        if mode is None or mode == live.mining_mode:
            return
        if isinstance(mode, MiningModeSleep):
            await self._set_mining(False)
            return
        if isinstance(live.mining_mode, MiningModeSleep):
            await self._set_mining(True)
        if isinstance(live.mining_mode, MiningModePowerTune) and not isinstance(
            mode, MiningModePowerTune
        ):
            # leaving power tuning: put the limit back at the rated power, which the
            # firmware (and get_config) treats as "no limit"
            info = self.model_info
            if info is not None and info.power_max and self.supports(Capability.POWER_LIMIT):
                await self._set_power_limit(info.power_max)
        if isinstance(mode, MiningModePowerTune):
            assert mode.power is not None
            if isinstance(live.mining_mode, (MiningModeLow, MiningModeHigh)):
                await self._set_work_mode("normal")  # a limit applies to the normal mode
            await self._set_power_limit(mode.power)
        else:
            await self._set_work_mode(mode.mode)

    async def _write_pools(self, pools: Sequence[Pool]) -> None:
        raise NotImplementedError

    async def _set_work_mode(self, mode: str) -> None:
        raise NotImplementedError


# ============================================================================ API v2 driver
_V2_JOINABLE = frozenset({"summary", "devs", "edevs", "pools", "devdetails", "stats"})
# btminer commands an older firmware may not have; "invalid cmd" there means "not reported".
_V2_OPTIONAL = frozenset({"get_psu", "get_error_code"})


class WhatsminerV2(_Whatsminer):
    """Whatsminer on btminer API 2.x (firmware up to 2024.11), RPC port 4028."""

    FIELDS = {
        "mac": FieldSpec(("rpc:get_miner_info",), v2_mac, static=True),
        "hostname": FieldSpec(("rpc:get_miner_info",), v2_hostname, static=True),
        "serial_number": FieldSpec(("rpc:get_miner_info",), v2_serial, static=True),
        "fw_ver": FieldSpec(("rpc:get_version", "rpc:summary"), v2_fw_ver, static=True),
        "api_ver": FieldSpec(("rpc:get_version",), v2_api_ver, static=True),
        "hashrate": FieldSpec(("rpc:summary",), v2_hashrate),
        "expected_hashrate": FieldSpec(("rpc:summary",), v2_expected_hashrate),
        "hashboards": FieldSpec(("rpc:devs",), v2_hashboards),
        "env_temp": FieldSpec(("rpc:summary",), v2_env_temp),
        "wattage": FieldSpec(("rpc:summary",), v2_wattage),
        "wattage_limit": FieldSpec(("rpc:summary",), v2_wattage_limit),
        "voltage": FieldSpec(("rpc:get_psu",), v2_voltage),
        "fans": FieldSpec(("rpc:summary",), v2_fans),
        "fan_psu": FieldSpec(("rpc:summary", "rpc:get_psu"), v2_fan_psu),
        "psu_serial_number": FieldSpec(("rpc:get_psu",), v2_psu_serial),
        "pools": FieldSpec(("rpc:pools",), v2_pools),
        "errors": FieldSpec(("rpc:get_error_code", "rpc:summary"), v2_errors),
        "fault_light": FieldSpec(("rpc:get_miner_info",), v2_fault_light),
        "is_mining": FieldSpec(("rpc:status",), v2_is_mining),
        "uptime": FieldSpec(("rpc:summary",), v2_uptime),
        "config": FieldSpec(("rpc:pools", "rpc:summary", "rpc:status"), v2_config),
    }

    def __init__(self, ip: str, **kwargs: Any) -> None:
        super().__init__(ip, **kwargs)
        self._session: WhatsminerV2Session | None = None
        self._session_password: str | None = None
        #: the last ``summary`` carried the PSU fan ("Power Fanspeed"; 2021 firmware does,
        #: 2022 does not): then ``get_psu`` is not fetched for ``fan_psu`` alone
        self._psu_fan_in_summary = False
        self._apply_api_version(self.identity.api_ver)

    def _sources_for(self, fields: Mapping[str, FieldSpec]) -> set[str]:
        """Without ``get_psu`` when only ``fan_psu`` wants it and ``summary`` carries it.

        ``fan_psu`` is on every bridge poll, and ``get_psu`` is a connection of its own
        (btminer answers it outside a batch): one of a poll's two exchanges.
        """
        sources = super()._sources_for(fields)
        if (
            self._psu_fan_in_summary
            and "rpc:get_psu" in sources
            and "rpc:summary" in sources
            and not any(
                "rpc:get_psu" in spec.sources for name, spec in fields.items() if name != "fan_psu"
            )
        ):
            sources.discard("rpc:get_psu")
        return sources

    def _apply_api_version(self, api_ver: str | None) -> None:
        """``adjust_power_limit`` arrived with API 2.0.5; older firmware cannot set a limit."""
        api = _api_tuple(api_ver)
        if api is not None and api < (2, 0, 5):
            self.capabilities = self.capabilities - {Capability.POWER_LIMIT}

    # ------------------------------------------------------------ transport
    @property
    def rpc(self) -> RPCClient:
        port = self.port("rpc", RPC_PORT)
        return self._client_for("rpc", port, lambda: self._new_rpc(port))

    def _new_rpc(self, port: int) -> RPCClient:
        self._session = None  # the session's token cache belongs to the old client
        return RPCClient(self.ip, port)

    def session(self) -> WhatsminerV2Session:
        """The privileged session (token cache) for the current password."""
        password = self.credentials.password_or("default_whatsminer_password")
        rpc = self.rpc
        if self._session is None or self._session_password != password:
            self._session = WhatsminerV2Session(rpc, password)
            self._session_password = password
        return self._session

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group != "rpc":
            return await super()._fetch_group(group, names)
        rpc = self.rpc
        batch = [n for n in names if n in _V2_JOINABLE]
        alone = [n for n in names if n not in _V2_JOINABLE]

        async def one(name: str) -> Any:
            try:
                return await rpc.send(name)
            except CommandError as exc:
                if name in _V2_OPTIONAL and "invalid" in exc.reason.lower():
                    return None
                return exc
            except APIError as exc:
                return exc

        async def joined() -> dict[str, Any]:
            if not batch:
                return {}
            return dict(await rpc.multicommand(*batch))

        # the batch awaited in place, a task only for each command btminer answers alone
        # (gather would make one for the batch too, on every poll)
        tasks = [asyncio.ensure_future(one(n)) for n in alone]
        try:
            out: dict[str, Any] = await joined()
            for name, task in zip(alone, tasks, strict=True):
                out[name] = await task
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
        if "summary" in out:
            entry = _section(out["summary"], "SUMMARY")
            self._psu_fan_in_summary = (
                entry is not None and _int(entry.get("Power Fanspeed")) is not None
            )
        return out

    async def _privileged(self, cmd: str, **params: Any) -> dict[str, Any]:
        return await self.session().privileged(cmd, **params)

    # ------------------------------------------------------------ controls
    async def _set_fault_light(self, on: bool) -> bool:
        if on:
            await self._privileged(
                "set_led",
                color="red",
                period=self.LED_PERIOD_MS,
                duration=self.LED_DURATION_MS,
                start=0,
            )
        else:
            await self._privileged("set_led", param="auto")
        applied = v2_fault_light(self._ctx(), await self._read_back("rpc:get_miner_info"))
        self._confirm_applied("fault light", on, applied, "set_led")
        return True

    async def _reboot(self) -> bool:
        await self._privileged("reboot")
        return True

    async def _restart_backend(self) -> bool:
        await self._privileged("restart_btminer")
        return True

    async def _set_mining(self, on: bool) -> bool:
        if on:
            await self._privileged("power_on")
        else:
            await self._privileged("power_off", respbefore="true")
        applied = v2_is_mining(self._ctx(), await self._read_back("rpc:status"))
        self._confirm_applied("mining", on, applied, "power_on" if on else "power_off")
        return True

    async def _set_power_limit(self, wattage: int) -> bool:
        """The firmware caps the limit at the unit's standard power: read back summary."""
        await self._privileged("adjust_power_limit", power_limit=str(wattage))
        summary = await self._read_back("rpc:summary", _RESTART_READ_BACK_WINDOW)
        applied = v2_wattage_limit(self._ctx(), summary)
        self._confirm_applied("power limit (W)", wattage, applied, "adjust_power_limit")
        return True

    async def _set_work_mode(self, mode: str) -> None:
        await self._privileged(f"set_{mode}_power")
        entry = _section(await self._read_back("rpc:summary"), "SUMMARY") or {}
        applied = (_text(entry.get("Power Mode")) or "").lower() or None
        self._confirm_applied("power mode", mode, applied, f"set_{mode}_power")

    async def _write_pools(self, pools: Sequence[Pool]) -> None:
        params: dict[str, str] = {}
        for i in range(self.MAX_POOLS):
            pool = pools[i] if i < len(pools) else None
            params[f"pool{i + 1}"] = pool.url if pool else ""
            params[f"worker{i + 1}"] = pool.user if pool else ""
            params[f"passwd{i + 1}"] = pool.password if pool else ""
        await self._privileged("update_pools", **params)

    async def _get_config(self) -> MinerConfig:
        pools, summary, status = await self._fetch_required(
            "rpc:pools", "rpc:summary", "rpc:status"
        )
        ctx = ParseContext(self.algo, self.model_info, self.identity)
        return v2_config(ctx, pools, summary, status)

    # ------------------------------------------------------------ firmware upload
    # API v2 (pyasic 0.79 rpc/btminer.py update_firmware, the WhatsMinerTool flow): the
    # encrypted privileged command upgrade_firmware answers Msg "ready"; the image then goes
    # on a new connection to the API port as <u32 little-endian size> + the bytes, and the
    # miner flashes and reboots.
    default_capabilities = _Whatsminer.default_capabilities | {Capability.FIRMWARE_UPGRADE}

    def _check_firmware(self, firmware: FirmwareFile) -> None:
        check_whatsminer_image(firmware)

    async def _upgrade_firmware(self, firmware: FirmwareFile, keep_settings: bool) -> bool:
        del keep_settings  # the v2 API has no such choice
        ready = await self._privileged("upgrade_firmware")
        if ready.get("Msg") != "ready":
            raise CommandError(
                f"the miner is not ready for an upgrade: {ready.get('Msg')!r}",
                ip=self.ip,
                command="upgrade_firmware",
            )
        raw = await self._send_image(firmware.data)
        answer: Any = None
        with contextlib.suppress(ValueError, InvalidResponseError):
            answer = parse_rpc_payload(raw) if raw.strip(b"\x00\r\n\t ") else None
        if isinstance(answer, Mapping) and answer.get("STATUS") == "E":
            raise CommandError(
                f"upgrade refused: {answer.get('Msg')}", ip=self.ip, command="upgrade_firmware"
            )
        return True

    async def _send_image(self, data: bytes) -> bytes:
        """<u32 LE size> + image on a connection of its own; the miner's answer, if any."""
        port = self.port("rpc", RPC_PORT)
        try:
            async with asyncio.timeout(UPLOAD_TIMEOUT):
                reader, writer = await asyncio.open_connection(self.ip, port)
                try:
                    writer.write(len(data).to_bytes(4, "little") + data)
                    await writer.drain()
                    return await reader.read(64 * 1024)
                finally:
                    writer.close()
        except TimeoutError:
            raise MinerTimeoutError(
                "no answer to the image upload", ip=self.ip, command="upgrade_firmware"
            ) from None
        except OSError as exc:
            raise MinerConnectionError(
                f"image upload failed: {exc.strerror or exc}",
                ip=self.ip,
                command="upgrade_firmware",
            ) from None


# ============================================================================ API v3 driver
class WhatsminerV3(_Whatsminer):
    """Whatsminer on btminer API 3.x (firmware after 2024.11), framed JSON on port 4433."""

    FIELDS = {
        "mac": FieldSpec(("v3:get.device.info",), v3_mac, static=True),
        "hostname": FieldSpec(("v3:get.device.info",), v3_hostname, static=True),
        "serial_number": FieldSpec(("v3:get.device.info",), v3_serial, static=True),
        "fw_ver": FieldSpec(("v3:get.device.info",), v3_fw_ver, static=True),
        "api_ver": FieldSpec(("v3:get.device.info",), v3_api_ver, static=True),
        "hashrate": FieldSpec(("v3:get.miner.status:summary",), v3_hashrate),
        "expected_hashrate": FieldSpec(("v3:get.miner.status:summary",), v3_expected_hashrate),
        "hashboards": FieldSpec(
            (
                "v3:get.device.info",
                "v3:get.miner.status:edevs",
                "v3:get.miner.status:summary",
            ),
            v3_hashboards,
        ),
        "env_temp": FieldSpec(("v3:get.miner.status:summary",), v3_env_temp),
        "wattage": FieldSpec(("v3:get.miner.status:summary",), v3_wattage),
        "wattage_limit": FieldSpec(("v3:get.miner.status:summary",), v3_wattage_limit),
        "voltage": FieldSpec(("v3:get.device.info",), v3_voltage),
        "fans": FieldSpec(("v3:get.miner.status:summary",), v3_fans),
        "fan_psu": FieldSpec(("v3:get.device.info",), v3_fan_psu),
        "psu_serial_number": FieldSpec(("v3:get.device.info",), v3_psu_serial),
        "pools": FieldSpec(("v3:get.miner.status:pools",), v3_pools),
        "errors": FieldSpec(("v3:get.device.info",), v3_errors),
        "fault_light": FieldSpec(("v3:get.device.info",), v3_fault_light),
        "is_mining": FieldSpec(("v3:get.device.info",), v3_is_mining),
        "uptime": FieldSpec(("v3:get.miner.status:summary",), v3_uptime),
        "config": FieldSpec(
            ("v3:get.miner.status:pools", "v3:get.device.info", "v3:get.miner.setting"),
            v3_config,
        ),
    }

    async def client(self) -> WhatsminerV3Client:
        """The kept-alive v3 client for the current port and password."""
        password = self.credentials.password_or("default_whatsminer_v3_password")
        port = self.port("whatsminer_v3", V3_PORT)
        return self._client_for(
            "v3",
            (port, password),
            lambda: WhatsminerV3Client(self.ip, port, password=password, account=V3_ACCOUNT),
        )

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group != "v3":
            return await super()._fetch_group(group, names)
        client = await self.client()

        async def one(name: str) -> Any:
            cmd, _, param = name.partition(":")
            try:
                return await client.send(cmd, param or None)
            except APIError as exc:
                return exc

        # The client serialises requests on its one connection, in this order.
        results = await asyncio.gather(*(one(n) for n in names))
        return dict(zip(names, results, strict=True))

    async def _set(self, cmd: str, param: Any = None) -> dict[str, Any]:
        client = await self.client()
        return await client.send(cmd, param)

    # ------------------------------------------------------------ controls
    async def _set_fault_light(self, on: bool) -> bool:
        if on:
            led = {
                "color": "red",
                "period": self.LED_PERIOD_MS,
                "duration": self.LED_DURATION_MS,
                "start": 0,
            }
            await self._set("set.system.led", [led])
        else:
            await self._set("set.system.led", "auto")
        applied = v3_fault_light(self._ctx(), await self._read_back("v3:get.device.info"))
        self._confirm_applied("fault light", on, applied, "set.system.led")
        return True

    async def _reboot(self) -> bool:
        await self._set("set.system.reboot")
        return True

    async def _restart_backend(self) -> bool:
        await self._set("set.miner.service", "restart")
        return True

    async def _set_mining(self, on: bool) -> bool:
        await self._set("set.miner.service", "start" if on else "stop")
        return True

    async def _set_power_limit(self, wattage: int) -> bool:
        """Capped at the unit's standard power (API 3 document): read back the setting."""
        await self._set("set.miner.power_limit", wattage)
        answer = await self._read_back("v3:get.miner.setting", _RESTART_READ_BACK_WINDOW)
        applied = _int((_v3_part(answer) or {}).get("power-limit"))
        self._confirm_applied("power limit (W)", wattage, applied, "set.miner.power_limit")
        return True

    async def _set_work_mode(self, mode: str) -> None:
        await self._set("set.miner.power_mode", mode)
        setting = _v3_part(await self._read_back("v3:get.miner.setting")) or {}
        applied = (_text(setting.get("power-mode")) or "").lower() or None
        self._confirm_applied("power mode", mode, applied, "set.miner.power_mode")

    async def _write_pools(self, pools: Sequence[Pool]) -> None:
        await self._set(
            "set.miner.pools",
            [{"pool": p.url, "worker": p.user, "passwd": p.password} for p in pools],
        )

    async def _get_config(self) -> MinerConfig:
        pools, info, setting = await self._fetch_required(
            "v3:get.miner.status:pools", "v3:get.device.info", "v3:get.miner.setting"
        )
        ctx = ParseContext(self.algo, self.model_info, self.identity)
        return v3_config(ctx, pools, info, setting)

    # ------------------------------------------------------------ firmware upload
    # API v3 document (apidoc.whatsminer.com, 'System | set.system.update_firmware', Upgrade
    # Flow): the signed command answers msg "ready", the client then sends the file prefixed
    # with its 4-byte little-endian size, the miner sends a final confirmation and reboots.
    # The document does not say the transfer needs another connection, so it follows on
    # the same one (where the size prefix is simply the next frame's header).
    default_capabilities = _Whatsminer.default_capabilities | {Capability.FIRMWARE_UPGRADE}

    def _check_firmware(self, firmware: FirmwareFile) -> None:
        check_whatsminer_image(firmware)

    async def _upgrade_firmware(self, firmware: FirmwareFile, keep_settings: bool) -> bool:
        del keep_settings  # the v3 API has no such choice
        client = await self.client()
        final = await client.upload(
            "set.system.update_firmware", firmware.data, timeout=UPLOAD_TIMEOUT
        )
        if final.get("code") != 0:
            raise CommandError(
                f"upgrade refused: {final.get('msg')} (code {final.get('code')})",
                ip=self.ip,
                command="set.system.update_firmware",
            )
        return True


def check_whatsminer_image(firmware: FirmwareFile) -> None:
    """Whatsminer packages travel as .bin / .tar(.gz) files; their inside is not documented,
    so only the name and the 32-bit size field are checked."""
    require_suffix(firmware, (".bin", ".tar", ".tgz", ".tar.gz"), "Whatsminer")
    require(firmware, firmware.size < 1 << 32, "an image under 4 GiB", "Whatsminer")


# ============================================================================ identification
_V3_FIRMWARE_FROM = 20241100
"""Firmware dated after this speaks API v3 (pyasic uses the same cut-over)."""
_WM_MODEL = re.compile(r"^M\d{2}[A-Z]*\+*[ _.]?V[A-Z]?\d", re.IGNORECASE)


def _devdetails_model(evidence: Evidence) -> str | None:
    entry = _section(evidence.rpc_devdetails, "DEVDETAILS")
    return _text(entry.get("Model")) if entry else None


def matches_v3(evidence: Evidence) -> bool:
    """``get.device.info`` on 4433 answered with a device description."""
    msg = _msg(evidence.whatsminer_v3, "msg")
    return msg is not None and isinstance(msg.get("miner"), dict)


def matches_v2(evidence: Evidence) -> bool:
    """The RPC answers name btminer/bitmicro, or devdetails holds a Whatsminer model."""
    text = evidence.rpc_text
    if "BTMINER" in text or "BITMICRO" in text:
        return True
    model = _devdetails_model(evidence)
    return bool(model and _WM_MODEL.match(model) and lookup_whatsminer(model))


def _identity(
    ip: str, raw_model: str | None, api: str, **facts: Any
) -> tuple[Identity, ModelInfo | None]:
    info = lookup_whatsminer(raw_model) if raw_model else None
    identity = Identity(
        ip=ip,
        make=MAKE,
        firmware=FIRMWARE,
        model=info.model if info else raw_model,
        raw_model=raw_model,
        algo=info.algo if info else "SHA256",
        model_info=info,
        **facts,
    )
    identity.extra["api"] = api
    return identity, info


async def build_v2(evidence: Evidence, credentials: Credentials) -> BaseMiner | None:
    """Read the static facts (versions, MAC, hostname, serial) once, concurrently."""
    rpc = RPCClient(evidence.ip, evidence.ports.get("rpc", RPC_PORT))
    answers = await asyncio.gather(
        rpc.send("get_version"), rpc.send("get_miner_info"), return_exceptions=True
    )
    version, info = (None if isinstance(a, BaseException) else a for a in answers)
    raw_model = _devdetails_model(evidence)
    identity, _ = _identity(
        evidence.ip,
        raw_model,
        "v2",
        mac=v2_mac(_NO_CTX, info),
        hostname=v2_hostname(_NO_CTX, info),
        serial_number=v2_serial(_NO_CTX, info),
        fw_ver=v2_fw_ver(_NO_CTX, version),
        api_ver=v2_api_ver(_NO_CTX, version),
    )
    date = _fw_date(identity.fw_ver)
    if date is not None and date > _V3_FIRMWARE_FROM:
        # API v3 firmware whose port 4433 did not answer: only the legacy reads work here
        identity.extra["note"] = "firmware speaks API v3 but port 4433 did not answer"
    return WhatsminerV2(
        evidence.ip, identity=identity, credentials=credentials, ports=evidence.ports
    )


async def build_v3(evidence: Evidence, credentials: Credentials) -> BaseMiner | None:
    """Everything static is already in the ``get.device.info`` answer of the probe."""
    info = evidence.whatsminer_v3
    miner = _v3_part(info, "miner") or {}
    raw_model = _text(miner.get("type"))
    identity, _ = _identity(
        evidence.ip,
        raw_model,
        "v3",
        mac=v3_mac(_NO_CTX, info),
        hostname=v3_hostname(_NO_CTX, info),
        serial_number=v3_serial(_NO_CTX, info),
        fw_ver=v3_fw_ver(_NO_CTX, info),
        api_ver=v3_api_ver(_NO_CTX, info),
    )
    return WhatsminerV3(
        evidence.ip, identity=identity, credentials=credentials, ports=evidence.ports
    )


async def probe_v3(evidence: Evidence, per_probe: float) -> None:
    """API v3's ``get.device.info`` on its own port: a v3 firmware may answer nothing else."""
    client = WhatsminerV3Client(
        evidence.ip,
        evidence.ports.get("whatsminer_v3", V3_PORT),
        timeout=per_probe,
        limits=evidence.limits,
    )
    try:
        evidence.whatsminer_v3 = await client.send("get.device.info")
    except APIError as exc:
        evidence.notes.append(f"whatsminer v3: {exc.reason}")
    finally:
        await client.aclose()


# Static-fact parsers never look at the context; this one stands in at identification.
_NO_CTX = ParseContext("SHA256", None, Identity(ip="", make=MAKE, firmware=FIRMWARE))

FAMILIES = [
    # v3 first: a firmware after 2024.11 may still answer a few v2 reads on 4028, but only
    # API v3 gives its full data and its controls.
    Family("whatsminer_v3", matches_v3, build_v3, probe=probe_v3),
    Family("whatsminer_v2", matches_v2, build_v2),
]
