"""Bitmain Antminer on stock firmware: the modern (X19/X21-era) and the old (X17/X9-era) web UI.

Both generations speak the same two protocols:

- **RPC on 4028** (bmminer/cgminer): ``summary``, ``stats``, ``pools`` and ``version``, batched
  as ``"summary+stats+pools"`` on one connection.  Hash rates sit in keys named ``GHS ..`` whatever
  the unit really is: ``STATS[1].rate_unit`` says it (``"GH"`` on SHA-256 machines, ``"MH"`` on
  the L7, whose ``GHS 5s`` of 9500 means 9.5 GH/s).
- **HTTP on 80**, lighttpd CGI scripts behind HTTP digest auth (realm ``antMiner Configuration``,
  user ``root``).  One kept-alive client per miner with a single connection: the digest
  challenge is answered once at identification and reused by every later request.

The generations differ in their CGI scripts:

- *modern*: ``stats.cgi`` (per-chain rate, temperatures, chips, board serials), ``summary.cgi``
  (a status list: the firmware's own error report), ``get_blink_status.cgi``, ``blink.cgi`` taking
  ``{"blink": "true"}``, and ``set_miner_conf.cgi`` taking the whole config as JSON with the
  work mode as ``miner-mode`` (0 normal, 1 sleep, 3 low power).
- *old*: ``miner_stats.cgi``/``miner_summary.cgi``/``miner_pools.cgi``, ``blink.cgi`` with
  ``action=startBlink|stopBlink|onPageLoaded`` answering ``{"isBlinking": ...}``, and a form
  ``set_miner_conf.cgi`` whose shell script reads its 16 fields **by position** (``_ant_pool1url``
  ... ``_ant_work_mode``; 254 = sleep), rewrites cgminer.conf, restarts the miner and only then
  answers ``ok`` (about 30 s on real hardware).  Per-board data comes from RPC ``stats``
  (``chain_rateN``, ``chain_acnN``, ``tempN`` = PCB, ``temp2_N`` = chip).

Stock firmware has no power limit and no separate backend restart, so those are not offered;
only builds from 2025 on report their power draw (``watt``/``power`` in ``stats.cgi``).
Sleep and the low-power mode need a firmware with work modes; the models pyasic marks as
unable to shut down (L7, KS5, HS3, E9 Pro) do not get them.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from asic_bridge import settings
from asic_bridge.catalog import ModelInfo, lookup, normalize
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
from asic_bridge.drivers.cgminer import model_name, sensor_reading
from asic_bridge.drivers.firmware import (
    UPLOAD_TIMEOUT,
    FirmwareFile,
    is_gzip,
    multipart,
    require,
)
from asic_bridge.drivers.values import number as _num
from asic_bridge.drivers.values import percent
from asic_bridge.drivers.values import text as _text
from asic_bridge.drivers.values import whole as _int
from asic_bridge.errors import (
    APIError,
    CommandError,
    ConfigError,
    InvalidResponseError,
    MinerTimeoutError,
    UnsupportedError,
)
from asic_bridge.transport.http import HTTPClient, digest_auth

if TYPE_CHECKING:
    from asic_bridge.config import (
        FanModeImmersion,
        FanModeManual,
        FanModeNormal,
        MinerConfig,
        MiningModeLow,
        MiningModeNormal,
        MiningModeSleep,
        PoolConfig,
    )

__all__ = [
    "FAMILIES",
    "AntminerModern",
    "AntminerOld",
    "decode_miner_conf",
    "encode_modern_conf",
    "encode_old_form",
    "parse_api_ver",
    "parse_errors",
    "parse_expected_hashrate",
    "parse_fans",
    "parse_fault_light_modern",
    "parse_fault_light_old",
    "parse_fw_ver",
    "parse_hashboards_modern",
    "parse_hashboards_old",
    "parse_hashrate",
    "parse_hostname",
    "parse_is_mining_modern",
    "parse_is_mining_old",
    "parse_mac",
    "parse_pools",
    "parse_serial",
    "parse_uptime",
    "parse_wattage_modern",
    "pyasic_model_string",
    "readback",
    "web_generation",
]

MAKE = "AntMiner"
FIRMWARE = "Stock"
WEB_USER = "root"
REALM = "antMiner Configuration"

#: ``bitmain-work-mode`` / ``miner-mode`` values of the modern firmware.
MODERN_MODES: dict[str, int] = {"normal": 0, "sleep": 1, "low": 3}
#: ``_ant_work_mode`` values of the old form (254 puts the hash boards to sleep).
OLD_MODES: dict[str, int] = {"normal": 0, "sleep": 254}
#: Models whose stock firmware has no sleep/work modes (pyasic: ``supports_shutdown = False``).
NO_WORK_MODES: frozenset[str] = frozenset(
    normalize(m) for m in ("L7", "KS5", "KS5 Pro", "HS3", "E9 Pro")
)
#: Model prefixes that shipped with the old web UI (X17 and earlier).
_OLD_UI_PREFIX = re.compile(r"^(?:S17|T17|S9|T9|S7|L3|D3|DR5|Z9|Z11)|^Z15$", re.I)
#: Text in an RPC answer that means another firmware on Antminer hardware (other families).
FOREIGN_RPC_MARKERS: tuple[str, ...] = (
    "BOSMINER",
    "BOSER",
    "VNISH",
    "LUXMINER",
    "HIVEON",
    "KAONSU",
    "BTMINER",
    "BITMICRO",
    "RWGLR",
    "EPIC",
)
FOREIGN_HTTP_MARKERS: tuple[str, ...] = ("Braiins OS", "AnthillOS", "Luxor Firmware", "LuxOS")
#: How long the old set_miner_conf.cgi may take: it restarts bmminer and sleeps before "ok".
OLD_CONF_WRITE_TIMEOUT = 45.0
#: Empty pool slot as the firmware writes it.
_EMPTY_SLOT = {"url": "", "user": "", "pass": ""}
_OLD_FORM_ORDER: tuple[str, ...] = (
    "_ant_pool1url",
    "_ant_pool1user",
    "_ant_pool1pw",
    "_ant_pool2url",
    "_ant_pool2user",
    "_ant_pool2pw",
    "_ant_pool3url",
    "_ant_pool3user",
    "_ant_pool3pw",
    "_ant_nobeeper",
    "_ant_notempoverctrl",
    "_ant_fan_customize_switch",
    "_ant_fan_customize_value",
    "_ant_freq",
    "_ant_voltage",
    "_ant_work_mode",
)
_ALGO_HINTS = {
    "SHA256D": "SHA256",
    "SHA256": "SHA256",
    "SCRYPT": "Scrypt",
    "KHEAVYHASH": "kHeavyHash",
    "ETHASH": "EtHash",
    "ETCHASH": "EtHash",
    "EAGLESONG": "Eaglesong",
    "HANDSHAKE": "Handshake",
    "BLAKE2BSHA3": "Handshake",
    "X11": "X11",
    "EQUIHASH": "Equihash",
    "BLAKE256": "Blake256",
}


# =============================================================================== helpers
def _section(payload: Any, name: str) -> list[dict[str, Any]]:
    """``payload[name]`` as a list of objects, or a ValueError naming what is missing."""
    if type(payload) is not dict and not isinstance(payload, Mapping):  # dict: no ABC check
        raise ValueError(f"expected a JSON object, got {type(payload).__name__}")
    items = payload.get(name)
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise ValueError(f"no {name} list in the answer")
    return items


def _first(payload: Any, name: str) -> dict[str, Any]:
    return _section(payload, name)[0]


#: The last answer :func:`_stats_body` searched: (payload, its STATS list, that list's
#: length, the body found).  Four parsers of one poll ask for the body of the same answer.
_last_stats: tuple[Any, Any, int, dict[str, Any]] = (None, None, 0, {})


def _stats_body(payload: Any) -> dict[str, Any]:
    """The data entry of an RPC ``stats`` answer (``STATS[1]``; ``STATS[0]`` is the banner).

    Found once per answer: the same object, holding the same STATS list, gets the body its
    last search found (one tuple replaced whole, so a concurrent caller sees a consistent one).
    """
    last = _last_stats
    if payload is last[0] and type(payload) is dict:
        items = payload.get("STATS")
        if items is last[1] and len(items) == last[2]:
            return last[3]
    body = _find_stats_body(payload)
    _remember_stats(payload, body)
    return body


def _remember_stats(payload: Any, body: dict[str, Any]) -> None:
    global _last_stats
    items = payload["STATS"]
    _last_stats = (payload, items, len(items), body)


def _find_stats_body(payload: Any) -> dict[str, Any]:
    items = _section(payload, "STATS")
    for item in items[1:] + items[:1]:
        if any(key in item for key in ("Elapsed", "total_rateideal", "GHS 5s", "ID")):
            return item
    return items[-1]


def _rate_unit(stats_body: Mapping[str, Any] | None, ctx: ParseContext | None = None) -> str:
    """The unit of the ``GHS ..``/``chain_rate`` figures: ``rate_unit`` or :func:`_unlabelled`."""
    unit = stats_body.get("rate_unit") if stats_body is not None else None
    if isinstance(unit, str) and unit.strip():
        return unit.strip()
    return _unlabelled(stats_body, ctx)


def _unlabelled(stats_body: Mapping[str, Any] | None, ctx: ParseContext | None) -> str:
    """GH, unless the figures are a thousand times the model's nominal rate: MH.

    Without a ``rate_unit`` the L3+ on cgminer 4.9.0 puts MH/s under the GHS keys (real
    capture: ``GHS av`` 500.28 on a 504 MH/s machine) while the L9 and L11 report GH/s the
    same way (asic-rs, live hardware); only the size of the figure tells them apart.
    """
    info = ctx.model_info if ctx is not None else None
    if ctx is None or ctx.algo != "Scrypt" or info is None or not info.nominal_hashrate:
        return "GH"  # the evidence is Scrypt machines only; others keep the key's GH
    body = stats_body or {}
    rate = _num(body.get("GHS av")) or _num(body.get("GHS 5s"))
    return "MH" if rate and to_default(rate, "GH", ctx.algo) > 100 * info.nominal_hashrate else "GH"


_isfinite = math.isfinite
_INTS = frozenset((int,))
_PLAIN = frozenset((int, float))


def _mean_nonzero(values: Any) -> float | None:
    """Mean of the non-zero readings (0 means "no sensor"), None when there are none.

    Sensor lists are plain ints (or floats): those skip :func:`number`'s per-value call with
    the values it would give (an int as its float, a float as itself unless NaN/inf).
    """
    if not isinstance(values, list):
        return None
    kinds = set(map(type, values))
    if kinds <= _INTS:
        readings = [float(x) for x in values if x]
    elif kinds <= _PLAIN:
        readings = [float(x) for x in values if x and _isfinite(x)]
    else:  # strings, bools, None, subclasses: the general rules
        readings = [v for v in map(_num, values) if v]
    return sum(readings) / len(readings) if readings else None


def pyasic_model_string(raw_type: str) -> str:
    """pyasic's normalisation of ``VERSION[0].Type``: upper-case, cut at " (", no trailing _I;
    only the first line (an S9 build appends its board version after a line break)."""
    model = model_name(raw_type).split(" (", 1)[0].strip().upper()
    return model.removesuffix("_I")


def _version_type(version: Any) -> str | None:
    try:
        value = _first(version, "VERSION").get("Type")
    except ValueError:
        return None
    return value if isinstance(value, str) and value.strip() else None


def _display_model(raw: str) -> str:
    """``"Antminer S19j Pro (104T)"`` -> ``"S19j Pro"`` for a model the catalog lacks."""
    text = raw.split(" (", 1)[0].strip()
    for prefix in ("antminer ", "bitmain "):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
    return text.removesuffix("_I").removesuffix("_i").strip() or raw


# =============================================================================== parsers
# Every parser is pure: (ParseContext, payload...) -> field value, None for "not reported".
def parse_hashrate(ctx: ParseContext, summary: Any, stats: Any = None) -> float | None:
    """RPC ``SUMMARY[0]["GHS 5s"]`` in the unit ``stats`` names (bmminer keeps the GHS name)."""
    value = _num(_first(summary, "SUMMARY").get("GHS 5s"))
    if value is None:
        return None
    unit = "GH"
    if stats is not None:
        with contextlib.suppress(ValueError):
            unit = _rate_unit(_stats_body(stats), ctx)
    return to_default(value, unit, ctx.algo)


def parse_expected_hashrate(ctx: ParseContext, stats: Any) -> float | None:
    """RPC ``stats`` ``total_rateideal`` in ``rate_unit`` (GH when absent)."""
    body = _stats_body(stats)
    value = _num(body.get("total_rateideal"))
    if value is None:
        return None
    return to_default(value, _rate_unit(body, ctx), ctx.algo)


_MAX_FAN_SLOTS = 16


def parse_fans(ctx: ParseContext, stats: Any) -> list[Fan]:
    """RPC ``stats`` ``fan1..fanN``.

    X19/X17 put their fans at ``fan1..fan4``; the S9 family at ``fan3``/``fan6`` with zeros
    around them.  ``fan_num`` (or the model's fan count) says how many there are: the first
    that many slots when they hold readings, else the slots that do, in order.
    """
    body = _stats_body(stats)
    count = _int(body.get("fan_num"))
    if not count and ctx.model_info is not None and ctx.model_info.fans:
        count = ctx.model_info.fans
    head = [_int(body.get(f"fan{i}")) for i in range(1, (count or 0) + 1)]
    if head and any(head):
        return [Fan(speed=s or 0) for s in head]
    slots = [_int(body.get(f"fan{i}")) for i in range(1, _MAX_FAN_SLOTS + 1)]
    spinning = [s for s in slots if s]
    if not count:
        return [Fan(speed=s) for s in spinning]
    if not spinning and all(s is None for s in slots):
        return []  # no fan readings at all
    spinning += [0] * (count - len(spinning))
    return [Fan(speed=s) for s in spinning[:count]]


def parse_uptime(ctx: ParseContext, stats: Any) -> int | None:
    """RPC ``stats`` ``Elapsed``: seconds since bmminer started (a reboot resets it)."""
    return _int(_stats_body(stats).get("Elapsed"))


def parse_pools(ctx: ParseContext, pools: Any) -> list[PoolMetrics]:
    if not isinstance(pools, Mapping):
        raise ValueError(f"expected a JSON object, got {type(pools).__name__}")
    items = pools.get("POOLS")
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValueError("POOLS is not a list")
    out: list[PoolMetrics] = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        active = item.get("Stratum Active")
        out.append(
            pool_from(
                {
                    "url": _text(item.get("URL")),
                    "user": _text(item.get("User")),
                    "index": _int(item.get("POOL")) if "POOL" in item else position,
                    "accepted": _int(item.get("Accepted")),
                    "rejected": _int(item.get("Rejected")),
                    "get_failures": _int(item.get("Get Failures")),
                    "remote_failures": _int(item.get("Remote Failures")),
                    "active": active if isinstance(active, bool) else None,
                    "alive": item.get("Status") == "Alive" if "Status" in item else None,
                }
            )
        )
    return out


def _boards(ctx: ParseContext, readings: dict[int, dict[str, Any]]) -> list[HashBoard]:
    """One HashBoard per slot the model has (or the firmware reported), built in one go."""
    info = ctx.model_info
    count = max((info.hashboards or 0) if info is not None else 0, max(readings, default=-1) + 1)
    per_board = info.chips_per_board if info is not None else None
    return [
        board_from({"slot": i, "expected_chips": per_board, **readings.get(i, {})})
        for i in range(count)
    ]


def parse_hashboards_modern(ctx: ParseContext, web_stats: Any) -> list[HashBoard]:
    """``stats.cgi`` ``STATS[0].chain[]``: rate, chips, PCB/chip temperatures, serial.

    Board temperature is the mean of the non-zero ``temp_pcb`` sensors, chip temperature the
    mean of the non-zero ``temp_chip`` ones; rates are in ``STATS[0].rate_unit`` (GH/s).
    """
    stats = _first(web_stats, "STATS")
    chains = stats.get("chain")
    if not isinstance(chains, list):
        raise ValueError("no chain list in stats.cgi")
    unit = _rate_unit(stats)
    readings: dict[int, dict[str, Any]] = {}
    for position, chain in enumerate(chains):
        if not isinstance(chain, dict):
            continue
        index = _int(chain.get("index"))
        rate = _num(chain.get("rate_real"))
        readings[position if index is None or index < 0 else index] = {
            "hashrate": None if rate is None else to_default(rate, unit, ctx.algo),
            "chips": _int(chain.get("asic_num")),
            "temp": _mean_nonzero(chain.get("temp_pcb")),
            "chip_temp": _mean_nonzero(chain.get("temp_chip")),
            "serial_number": _text(chain.get("sn")),
            "missing": False,
        }
    return _boards(ctx, readings)


def parse_wattage_modern(ctx: ParseContext, web_stats: Any) -> int | None:
    """``stats.cgi`` ``STATS[0]`` power draw in watts, on the builds that report one.

    Builds from 2025 on add it beside the rates, spelled per model on the same firmware:
    ``watt`` (L11, S21 family) or ``power`` (L9) (asic-rs PR #325, measured on FR-1.2 builds;
    issue #11).  Earlier builds have neither key: None, not 0.
    """
    stats = _first(web_stats, "STATS")
    for key in ("watt", "power"):
        value = _num(stats.get(key))
        if value is not None and value >= 0:
            return round(value)
    return None


_MAX_CHAIN_SLOTS = 16
#: Key number of the first chain in the layouts bmminer uses: X17/X19 count from 1, the S9
#: family from 6 (``chain_acn6..8``).
_CHAIN_BASES = (1, 6)


def parse_hashboards_old(ctx: ParseContext, stats: Any) -> list[HashBoard]:
    """RPC ``stats`` per-chain keys: ``chain_rateN`` (rate unit), ``chain_acnN`` (chips),
    ``tempN`` (PCB) and ``temp2_N`` (chip).  X17 number its chains 1..3, the S9 6..8."""
    body = _stats_body(stats)
    slots = [
        n
        for n in range(1, _MAX_CHAIN_SLOTS + 1)
        if _int(body.get(f"chain_acn{n}"))
        or body.get(f"chain_acs{n}")
        or body.get(f"chain_rate{n}")
    ]
    expected = ctx.model_info.hashboards if ctx.model_info is not None else None
    if expected and len(slots) < expected:
        # A dead board has no readings, so count from the layout's first chain, not from the
        # first live one (real capture: a sleeping S19 whose chain 1 is gone reports chains
        # 2 and 3 only; they are boards 1 and 2, board 0 is the missing one).
        first = max((b for b in _CHAIN_BASES if b <= (slots[0] if slots else 1)), default=1)
        slots = sorted(set(slots) | set(range(first, first + expected)))
    unit = _rate_unit(body, ctx)
    readings: dict[int, dict[str, Any]] = {}
    for position, slot in enumerate(slots):
        rate = _num(body.get(f"chain_rate{slot}"))
        chips = _int(body.get(f"chain_acn{slot}"))
        readings[position] = {
            "hashrate": None if rate is None else to_default(rate, unit, ctx.algo),
            "chips": chips,
            "temp": sensor_reading(_num(body.get(f"temp{slot}"))),
            "chip_temp": sensor_reading(_num(body.get(f"temp2_{slot}"))),
            "missing": not chips,
        }
    return _boards(ctx, readings)


def _check_passed(state: Any) -> bool:
    """A ``status[]`` state that is no error: ``s`` (success), or none at all.

    The empty string is "not applicable / not evaluated yet": stock 2025+ builds and Elphapex
    report ``"status": ""`` for the rate and network checks right after boot, before the first
    evaluation (real capture: Elphapex DG-Home1 V1.0.5 ``summary.cgi`` at ``elapsed`` 0).
    """
    return state is None or (isinstance(state, str) and state.strip() in ("", "s", "S"))


def parse_errors(ctx: ParseContext, web_summary: Any) -> list[MinerErrorData]:
    """``summary.cgi`` ``SUMMARY[0].status[]``: every check in a state other than ``s`` (or
    not evaluated yet) is an error."""
    entries = _first(web_summary, "SUMMARY").get("status")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ValueError("status is not a list")
    errors: list[MinerErrorData] = []
    for entry in entries:
        if not isinstance(entry, dict) or _check_passed(entry.get("status")):
            continue
        kind = _text(entry.get("type")) or "status"
        message = _text(entry.get("msg")) or f"{kind} check reports {entry.get('status')!r}"
        errors.append(MinerErrorData(error_code=_int(entry.get("code")), error_message=message))
    return errors


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, int):
        return bool(value)
    return None


def parse_fault_light_modern(ctx: ParseContext, blink: Any) -> bool | None:
    if not isinstance(blink, Mapping):
        raise ValueError("get_blink_status did not answer an object")
    return _flag(blink.get("blink"))


def parse_fault_light_old(ctx: ParseContext, blink: Any) -> bool | None:
    if not isinstance(blink, Mapping):
        raise ValueError("blink.cgi did not answer an object")
    return _flag(blink.get("isBlinking"))


def _work_mode(conf: Any) -> int | None:
    if not isinstance(conf, Mapping):
        raise ValueError("get_miner_conf did not answer an object")
    return _int(conf.get("bitmain-work-mode"))


def parse_is_mining_modern(ctx: ParseContext, conf: Any) -> bool | None:
    mode = _work_mode(conf)
    return None if mode is None else mode != MODERN_MODES["sleep"]


def parse_is_mining_old(ctx: ParseContext, conf: Any) -> bool | None:
    mode = _work_mode(conf)
    return None if mode is None else mode != OLD_MODES["sleep"]


def parse_mac(ctx: ParseContext, sysinfo: Any) -> str | None:
    return normalize_mac(sysinfo.get("macaddr")) if isinstance(sysinfo, Mapping) else None


def parse_serial(ctx: ParseContext, sysinfo: Any) -> str | None:
    return _text(sysinfo.get("serinum")) if isinstance(sysinfo, Mapping) else None


def parse_hostname(ctx: ParseContext, sysinfo: Any) -> str | None:
    return _text(sysinfo.get("hostname")) if isinstance(sysinfo, Mapping) else None


def parse_fw_ver(ctx: ParseContext, version: Any) -> str | None:
    return _text(_first(version, "VERSION").get("CompileTime"))


def parse_api_ver(ctx: ParseContext, version: Any) -> str | None:
    return _text(_first(version, "VERSION").get("API"))


# =============================================================================== read-back
def _fan_summary(fan: Any) -> str:
    speed = getattr(fan, "speed", None)
    return f"{fan.mode} {speed}%" if speed is not None else str(fan.mode)


def _config_parts(config: MinerConfig) -> dict[str, Any]:
    """What a read-back compares, per part: the work mode, the pools, the fan mode."""
    parts: dict[str, Any] = {}
    if config.mining_mode is not None:
        parts["mining_mode"] = config.mining_mode.mode
    if config.pools is not None:
        parts["pools"] = [(p.url, p.user) for p in config.pools.first_group]
    if config.fan_mode is not None:
        parts["fan_mode"] = _fan_summary(config.fan_mode)
    return parts


def readback(wanted: MinerConfig, applied: MinerConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The written parts the read-back lacks, as written and as read, for ``_confirm_applied``
    (both empty when everything was applied).

    Stock firmware (and its derivatives) answers ``M000``/``ok`` to writes it then drops or
    clamps; only the read-back tells.  Parts: ``mining_mode`` (its name), ``pools`` as
    (url, user), ``fan_mode`` ("manual 40%").
    """
    asked, got = _config_parts(wanted), _config_parts(applied)
    differing = [name for name, value in asked.items() if got.get(name) != value]
    return {n: asked[n] for n in differing}, {n: got.get(n) for n in differing}


# =============================================================================== config codec
def _fan_setting(conf: Mapping[str, Any], old: bool) -> tuple[str | None, int]:
    """The fan mode's name and its manual speed (0-100) from ``bitmain-fan-ctrl``/``-pwm``:
    pure, so reading the mode (every get_data) builds no config model."""
    manual = _flag(conf.get("bitmain-fan-ctrl"))
    if manual is None and old and "bitmain-fan-ctrl" not in conf:
        manual = False  # the old UI's script writes the key only for a custom fan speed
    if manual is None:
        return None, 0
    speed = _int(conf.get("bitmain-fan-pwm"))
    if not manual:
        return "normal", 0
    if speed == 0:
        return "immersion", 0
    return "manual", min(max(speed or 100, 0), 100)


def _conf_object(conf: Any) -> Mapping[str, Any]:
    if not isinstance(conf, Mapping):
        raise InvalidResponseError("get_miner_conf did not answer a JSON object")
    return conf


def decode_miner_conf(conf: Mapping[str, Any], *, old: bool = False) -> MinerConfig:
    """``get_miner_conf.cgi`` (cgminer.conf as JSON) -> MinerConfig.

    Empty pool slots are dropped; an unknown work mode leaves ``mining_mode`` unset so a later
    write keeps the firmware's value.
    """
    from asic_bridge.config import (
        FanModeImmersion,
        FanModeManual,
        FanModeNormal,
        MinerConfig,
        MiningModeLow,
        MiningModeNormal,
        MiningModeSleep,
        Pool,
        PoolConfig,
        PoolGroup,
    )

    conf = _conf_object(conf)
    pools: PoolConfig | None = None
    raw_pools = conf.get("pools")
    if isinstance(raw_pools, list):
        entries = [
            Pool(
                url=str(p["url"]).strip(),
                user=str(p.get("user") or ""),
                password=str(p.get("pass") or ""),
            )
            for p in raw_pools
            if isinstance(p, Mapping) and str(p.get("url") or "").strip()
        ]
        pools = PoolConfig(groups=[PoolGroup(pools=entries)])
    fan_mode: FanModeNormal | FanModeManual | FanModeImmersion | None = None
    fan_name, fan_speed = _fan_setting(conf, old)
    if fan_name == "normal":
        fan_mode = FanModeNormal()
    elif fan_name == "immersion":
        fan_mode = FanModeImmersion()
    elif fan_name == "manual":
        fan_mode = FanModeManual(speed=fan_speed)
    modes = OLD_MODES if old else MODERN_MODES
    by_code = {code: name for name, code in modes.items()}
    mining_mode: MiningModeNormal | MiningModeSleep | MiningModeLow | None = None
    code = _int(conf.get("bitmain-work-mode"))
    name = by_code.get(code) if code is not None else None
    if name == "normal":
        mining_mode = MiningModeNormal()
    elif name == "sleep":
        mining_mode = MiningModeSleep()
    elif name == "low":
        mining_mode = MiningModeLow()
    return MinerConfig(pools=pools, fan_mode=fan_mode, mining_mode=mining_mode)


def parse_fan_mode(ctx: ParseContext, conf: Any) -> str | None:
    """``bitmain-fan-ctrl``: false is the firmware's control, true a fixed PWM."""
    return _fan_setting(_conf_object(conf), old=False)[0]


def parse_fan_mode_old(ctx: ParseContext, conf: Any) -> str | None:
    """As :func:`parse_fan_mode`; the old UI leaves the key out in auto."""
    return _fan_setting(_conf_object(conf), old=True)[0]


def parse_fan_percent(ctx: ParseContext, conf: Any) -> int | None:
    """The manual ``bitmain-fan-pwm`` setting: the duty the fans run at.  In auto the firmware
    reports no duty (stats has RPMs only), so there is none."""
    if _flag(conf.get("bitmain-fan-ctrl") if isinstance(conf, Mapping) else None) is not True:
        return None
    return percent(conf.get("bitmain-fan-pwm"))


def _pool_slots(config: MinerConfig, live: Mapping[str, Any]) -> list[dict[str, str]]:
    """Three ``{url, user, pass}`` slots: the config's pools, else the live ones unchanged."""
    if config.pools is None:
        raw = live.get("pools")
        slots = [dict(p) for p in raw if isinstance(p, Mapping)] if isinstance(raw, list) else []
    else:
        groups = [g for g in config.pools.groups if g.pools]
        if len(groups) > 1:
            raise ConfigError("stock Antminer firmware has one pool group (3 failover slots)")
        pools = groups[0].pools if groups else []
        if len(pools) > 3:
            raise ConfigError(f"stock Antminer firmware has 3 pool slots, got {len(pools)} pools")
        slots = [{"url": p.url, "user": p.user, "pass": p.password} for p in pools]
    while len(slots) < 3:
        slots.append(dict(_EMPTY_SLOT))
    return slots[:3]


def _mode_code(config: MinerConfig, live_code: Any, modes: Mapping[str, int], fw: str) -> Any:
    """The work-mode value to write: the config's, else the live one untouched."""
    if config.mining_mode is None:
        return live_code
    name = config.mining_mode.mode
    if name not in modes:
        raise UnsupportedError(f"mining mode {name!r}", fw)
    return modes[name]


def _fan_values(config: MinerConfig, live: Mapping[str, Any]) -> tuple[bool, str]:
    """(manual control, pwm percent as text) to write."""
    from asic_bridge.config import FanModeImmersion, FanModeManual

    live_manual = _flag(live.get("bitmain-fan-ctrl")) or False
    pwm = live.get("bitmain-fan-pwm")
    live_pwm = "100" if pwm is None else str(pwm)
    fan = config.fan_mode
    if fan is None:
        return live_manual, live_pwm
    if isinstance(fan, FanModeManual):
        if fan.speed < 1:  # a 0 PWM reads back as immersion: stopped fans, not a speed
            raise ConfigError("a manual fan speed on stock Antminer firmware is 1-100 %")
        return True, str(fan.speed)
    if isinstance(fan, FanModeImmersion):
        return True, "0"
    return False, live_pwm


def encode_modern_conf(config: MinerConfig, live: Mapping[str, Any]) -> dict[str, Any]:
    """The ``set_miner_conf.cgi`` JSON body: ``live`` (get_miner_conf) with ``config`` applied.

    The script takes ``miner-mode`` and ``freq-level`` where get_miner_conf says
    ``bitmain-work-mode`` and ``bitmain-freq-level``; every other live key is sent back as it
    was, so nothing the caller did not change is lost (hass-miner#380).
    """
    body = {k: v for k, v in live.items() if k not in ("bitmain-work-mode", "bitmain-freq-level")}
    live_mode = _int(live.get("bitmain-work-mode"))
    body["miner-mode"] = _mode_code(
        config, 0 if live_mode is None else live_mode, MODERN_MODES, f"{MAKE} {FIRMWARE}"
    )
    if "bitmain-freq-level" in live:
        body["freq-level"] = live["bitmain-freq-level"]
    manual, pwm = _fan_values(config, live)
    body["bitmain-fan-ctrl"] = manual
    body["bitmain-fan-pwm"] = pwm
    body["pools"] = _pool_slots(config, live)
    return body


def _form_flag(value: Any) -> str:
    return "true" if _flag(value) else "false"


def encode_old_form(config: MinerConfig, live: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The old ``set_miner_conf.cgi`` form, all 16 fields in the order its script expects."""
    values: dict[str, str] = {}
    for n, slot in enumerate(_pool_slots(config, live), start=1):
        values[f"_ant_pool{n}url"] = str(slot.get("url", ""))
        values[f"_ant_pool{n}user"] = str(slot.get("user", ""))
        values[f"_ant_pool{n}pw"] = str(slot.get("pass", ""))
    manual, pwm = _fan_values(config, live)
    values["_ant_nobeeper"] = _form_flag(live.get("bitmain-nobeeper"))
    values["_ant_notempoverctrl"] = _form_flag(live.get("bitmain-notempoverctrl"))
    values["_ant_fan_customize_switch"] = "true" if manual else "false"
    values["_ant_fan_customize_value"] = pwm if manual else ""
    values["_ant_freq"] = str(live.get("bitmain-freq") or "")
    values["_ant_voltage"] = str(live.get("bitmain-voltage") or "")
    live_mode = _int(live.get("bitmain-work-mode"))
    mode = _mode_code(config, live_mode, OLD_MODES, f"{MAKE} {FIRMWARE} (old web UI)")
    values["_ant_work_mode"] = "" if mode is None else str(mode)
    return [(key, values[key]) for key in _OLD_FORM_ORDER]


def web_generation(sysinfo: Mapping[str, Any] | None, model: str | None) -> str:
    """``"modern"`` or ``"old"``: what the firmware serves decides, the model breaks ties.

    The modern get_system_info.cgi carries ``serinum``/``firmware_type``; the old one
    ``ant_hwv`` and memory/load figures instead.
    """
    if sysinfo:
        if "serinum" in sysinfo or "firmware_type" in sysinfo:
            return "modern"
        if "ant_hwv" in sysinfo or "mem_total" in sysinfo:
            return "old"
    if model and _OLD_UI_PREFIX.match(_display_model(model)):
        return "old"
    return "modern"


# =============================================================================== drivers
def _web_client(ip: str, ports: Mapping[str, int], credentials: Credentials) -> HTTPClient:
    password = credentials.password_or("default_antminer_password")
    user = credentials.username_or(WEB_USER)
    # One connection: lighttpd on the control board is slow, requests queue on the kept
    # connection, and the digest challenge is answered once for all of them.
    return HTTPClient(
        ip, ports.get("http", 80), auth=digest_auth(user, password), max_connections=1
    )


class _AntminerStock(BaseMiner):
    """What both web generations share: clients, RPC batching, reboot, config plumbing."""

    make = MAKE
    firmware = FIRMWARE
    #: web source name -> (method, path, form) of the request that answers it.
    WEB_REQUESTS: ClassVar[Mapping[str, tuple[str, str, Sequence[tuple[str, str]] | None]]] = {}
    generation: ClassVar[str] = ""

    def __init__(
        self,
        ip: str,
        *,
        identity: Identity | None = None,
        credentials: Credentials | None = None,
        ports: Mapping[str, int] | None = None,
        limits: settings.Limits | None = None,
        http: HTTPClient | None = None,
    ) -> None:
        super().__init__(ip, identity=identity, credentials=credentials, ports=ports, limits=limits)
        if http is not None:
            self._set_client("web", http.port, http)
        self._live_conf: dict[str, Any] | None = None
        model = normalize(self.identity.model or "") if self.identity.model else ""
        if model in NO_WORK_MODES:
            self.capabilities = self.capabilities - {
                Capability.STOP_MINING,
                Capability.MINING_MODES,
            }

    # ------------------------------------------------------------------ clients
    @property
    def web(self) -> HTTPClient:
        """The miner's one kept-alive HTTP client (digest auth cached inside)."""
        port = self.port("http", 80)
        return self._client_for(
            "web", port, lambda: _web_client(self.ip, self.ports, self.credentials)
        )

    # ------------------------------------------------------------------ data sources
    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group == "rpc":
            return dict(await self.rpc.multicommand(*names))
        if group == "web":
            return await self._fetch_each(names, self._web_source)
        return await super()._fetch_group(group, names)

    async def _web_source(self, name: str) -> dict[str, Any]:
        method, path, form = self.WEB_REQUESTS.get(name, ("GET", f"/cgi-bin/{name}.cgi", None))
        if method == "GET":
            result = await self.web.get(path)
        else:
            result = await self.web.request(method, path, data=dict(form or ()))
        return result.json_object()

    # ------------------------------------------------------------------ controls
    async def _reboot(self) -> bool:
        result = await self.web.get("/cgi-bin/reboot.cgi")
        if result.status != 200:
            raise CommandError(
                f"reboot refused (HTTP {result.status})", ip=self.ip, command="reboot"
            )
        self._live_conf = None
        return True

    async def _get_config(self) -> MinerConfig:
        conf = await self._web_source("get_miner_conf")
        self._live_conf = conf
        return decode_miner_conf(conf, old=self.generation == "old")

    async def _set_mining(self, on: bool) -> bool:
        from asic_bridge.config import MinerConfig, MiningModeNormal, MiningModeSleep

        mode = MiningModeNormal() if on else MiningModeSleep()
        await self.send_config(MinerConfig(mining_mode=mode))
        return True

    async def _check_applied(self, config: MinerConfig, command: str) -> None:
        """Re-read the live config: stock firmware has answered OK to writes it then ignored."""
        applied = await self._get_config()
        self._confirm_applied("the config written", *readback(config, applied), command)

    def _live(self) -> dict[str, Any]:
        if self._live_conf is None:  # pragma: no cover - send_config always reads first
            raise APIError("live configuration unknown", ip=self.ip, command="set_miner_conf")
        return self._live_conf

    # ------------------------------------------------------------------ firmware upload
    # The web UI's upgrade CGI: POST /cgi-bin/upgrade.cgi keeps the settings,
    # /cgi-bin/upgrade_clear.cgi resets them (BTC Tools' Lua upgrader and AntminerTool pick
    # the path by their keep-settings option); multipart with the image as the first part
    # (bitmaintech/Antminer_firmware www_miner/cgi-bin/upgrade.cgi reads the first part and
    # untars it; the field the web UI names is "datafile").  X19-era firmware answers
    # {"stats", "code", "msg"} (U001: invalid file; from a public "Stock Bitmain Firmware
    # API Documentation" of KS5 Pro/S19 answers, whose repository our index does not name);
    # the X17-era CGI prints an HTML page, "System upgrade failed" on error.  Images:
    # .tar.gz (gzip) on older firmware, Bitmain-signed .bmu on X19 and later.
    def _check_firmware(self, firmware: FirmwareFile) -> None:
        if firmware.suffix == ".bmu":
            return
        require(
            firmware,
            is_gzip(firmware.data),
            "a .tar.gz image or a signed .bmu (name it *.bmu)",
            "Antminer",
        )

    async def _upgrade_firmware(self, firmware: FirmwareFile, keep_settings: bool) -> bool:
        path = "/cgi-bin/upgrade.cgi" if keep_settings else "/cgi-bin/upgrade_clear.cgi"
        kind = "application/octet-stream" if firmware.suffix == ".bmu" else "application/x-gzip"
        body, content_type = multipart({}, {"datafile": (firmware.name, firmware.data, kind)})
        result = await self.web.request(
            "POST",
            path,
            content=body,
            headers={"Content-Type": content_type},
            timeout=UPLOAD_TIMEOUT,
        )
        text = result.text.strip()
        answer: Any = None
        with contextlib.suppress(APIError, ValueError):
            answer = result.json()
        if isinstance(answer, Mapping):
            ok = answer.get("stats") == "success"
            detail = f"{answer.get('code')}: {answer.get('msg')}"
        else:
            ok = result.status == 200 and "failed" not in text.lower()
            detail = re.sub(r"<[^>]+>", " ", text)
        if result.status != 200 or not ok:
            raise CommandError(
                f"upgrade refused (HTTP {result.status}): {' '.join(detail.split())[:200]}",
                ip=self.ip,
                command=path.rsplit("/", 1)[-1],
            )
        self._live_conf = None
        return True


class AntminerModern(_AntminerStock):
    """X19/X21-era stock firmware (S19 family, S21, T21, L7, L9, KS3/KS5, E9, D9 ...)."""

    generation = "modern"
    # No evidence of a "high" work-mode code on stock firmware, so it is not offered.
    supported_modes = ("normal", "low", "sleep")
    # bitmain-fan-ctrl / bitmain-fan-pwm; no immersion mode (fans at 0 % trip the fan check)
    supported_fan_modes = ("normal", "manual")
    default_capabilities = frozenset(
        {
            Capability.FAN_CONTROL,
            Capability.FAULT_LIGHT,
            Capability.REBOOT,
            Capability.STOP_MINING,
            Capability.MINING_MODES,
            Capability.GET_CONFIG,
            Capability.SEND_CONFIG,
            Capability.FIRMWARE_UPGRADE,
        }
    )
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("web:get_system_info",), parse_mac, static=True),
        "serial_number": FieldSpec(("web:get_system_info",), parse_serial, static=True),
        "hostname": FieldSpec(("web:get_system_info",), parse_hostname, static=True),
        "fw_ver": FieldSpec(("rpc:version",), parse_fw_ver, static=True),
        "api_ver": FieldSpec(("rpc:version",), parse_api_ver, static=True),
        "hashrate": FieldSpec(("rpc:summary", "rpc:stats"), parse_hashrate),
        "expected_hashrate": FieldSpec(("rpc:stats",), parse_expected_hashrate),
        "hashboards": FieldSpec(("web:stats",), parse_hashboards_modern),
        "wattage": FieldSpec(("web:stats",), parse_wattage_modern),
        "fans": FieldSpec(("rpc:stats",), parse_fans),
        "uptime": FieldSpec(("rpc:stats",), parse_uptime),
        "pools": FieldSpec(("rpc:pools",), parse_pools),
        "errors": FieldSpec(("web:summary",), parse_errors),
        "fault_light": FieldSpec(("web:get_blink_status",), parse_fault_light_modern),
        "is_mining": FieldSpec(("web:get_miner_conf",), parse_is_mining_modern),
        "fan_mode": FieldSpec(("web:get_miner_conf",), parse_fan_mode),
        "fan_percent": FieldSpec(("web:get_miner_conf",), parse_fan_percent),
        "config": FieldSpec(("web:get_miner_conf",), lambda ctx, conf: decode_miner_conf(conf)),
    }

    async def _set_fault_light(self, on: bool) -> bool:
        result = await self.web.post(
            "/cgi-bin/blink.cgi", json={"blink": "true" if on else "false"}
        )
        answer = result.json_object()
        expected = "B000" if on else "B100"
        if answer.get("code") != expected:
            raise CommandError(
                f"blink {'on' if on else 'off'} not confirmed (code {answer.get('code')!r})",
                ip=self.ip,
                command="blink",
            )
        return True

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        body = encode_modern_conf(config, self._live())
        if config.mining_mode != live.mining_mode and not self.supports(Capability.MINING_MODES):
            raise UnsupportedError("changing the mining mode", f"{self.make} {self.model} Stock")
        result = await self.web.post("/cgi-bin/set_miner_conf.cgi", json=body)
        # X19 builds of 2020 answer a bare "ok" (real capture antminer/2020-12-11), later
        # ones {"stats": "success", "code": "M000"}; either way only the read-back counts.
        if not (result.status == 200 and result.text.strip().lower() == "ok"):
            answer = result.json_object()
            if answer.get("code") != "M000" and answer.get("stats") != "success":
                raise CommandError(
                    f"set_miner_conf refused: {answer.get('msg') or answer.get('code')!r}",
                    ip=self.ip,
                    command="set_miner_conf",
                )
        await self._check_applied(config, "set_miner_conf")


class AntminerOld(_AntminerStock):
    """X17/X9-era stock firmware with the old CGI web UI (S17, T17, S9 ...)."""

    generation = "old"
    supported_fan_modes = ("normal", "manual")  # _ant_fan_customize_switch / _value
    default_capabilities = frozenset(
        {
            Capability.FAN_CONTROL,
            Capability.FAULT_LIGHT,
            Capability.REBOOT,
            Capability.STOP_MINING,
            Capability.GET_CONFIG,
            Capability.SEND_CONFIG,
            Capability.FIRMWARE_UPGRADE,
        }
    )
    WEB_REQUESTS: ClassVar[Mapping[str, tuple[str, str, Sequence[tuple[str, str]] | None]]] = {
        "blink_status": ("POST", "/cgi-bin/blink.cgi", (("action", "onPageLoaded"),)),
    }
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("web:get_system_info",), parse_mac, static=True),
        "hostname": FieldSpec(("web:get_system_info",), parse_hostname, static=True),
        "fw_ver": FieldSpec(("rpc:version",), parse_fw_ver, static=True),
        "api_ver": FieldSpec(("rpc:version",), parse_api_ver, static=True),
        "hashrate": FieldSpec(("rpc:summary", "rpc:stats"), parse_hashrate),
        "expected_hashrate": FieldSpec(("rpc:stats",), parse_expected_hashrate),
        "hashboards": FieldSpec(("rpc:stats",), parse_hashboards_old),
        "fans": FieldSpec(("rpc:stats",), parse_fans),
        "uptime": FieldSpec(("rpc:stats",), parse_uptime),
        "pools": FieldSpec(("rpc:pools",), parse_pools),
        "fault_light": FieldSpec(("web:blink_status",), parse_fault_light_old),
        "is_mining": FieldSpec(("web:get_miner_conf",), parse_is_mining_old),
        "fan_mode": FieldSpec(("web:get_miner_conf",), parse_fan_mode_old),
        "fan_percent": FieldSpec(("web:get_miner_conf",), parse_fan_percent),
        "config": FieldSpec(
            ("web:get_miner_conf",), lambda ctx, conf: decode_miner_conf(conf, old=True)
        ),
    }

    async def _set_fault_light(self, on: bool) -> bool:
        action = "startBlink" if on else "stopBlink"
        quick = min(3.0, self.limits.request_timeout)
        # Some X17 builds keep blink.cgi running; the state is read back below either way.
        with contextlib.suppress(MinerTimeoutError):
            await self.web.post("/cgi-bin/blink.cgi", data={"action": action}, timeout=quick)
        status = parse_fault_light_old(
            ParseContext(self.algo, self.model_info, self.identity),
            await self._web_source("blink_status"),
        )
        if status is not on:
            raise CommandError(
                f"fault light {'on' if on else 'off'} not confirmed (isBlinking={status!r})",
                ip=self.ip,
                command="blink",
            )
        return True

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        form = encode_old_form(config, self._live())
        timeout = max(OLD_CONF_WRITE_TIMEOUT, self.limits.request_timeout)
        # dict order is the form order: the firmware's script reads the fields by position.
        result = await self.web.post(
            "/cgi-bin/set_miner_conf.cgi", data=dict(form), timeout=timeout
        )
        if result.status != 200 or "ok" not in result.text.lower():
            raise CommandError(
                f"set_miner_conf refused (HTTP {result.status})",
                ip=self.ip,
                command="set_miner_conf",
            )
        await self._check_applied(config, "set_miner_conf")


# =============================================================================== identification
def _foreign(e: Evidence) -> bool:
    text = e.rpc_text
    if any(marker in text for marker in FOREIGN_RPC_MARKERS):
        return True
    return any(marker in e.http_body for marker in FOREIGN_HTTP_MARKERS)


def _matches(e: Evidence) -> bool:
    """Antminer stock: the web UI's digest realm, or an RPC ``version`` naming an Antminer."""
    if _foreign(e):
        return False
    if e.http_status == 401 and 'realm="antminer' in e.www_authenticate.lower():
        return True
    vtype = _version_type(e.rpc_version)
    return vtype is not None and "ANTMINER" in vtype.upper()


def _algo_hint(sysinfo: Mapping[str, Any] | None) -> str:
    """The algorithm newer firmwares name in get_system_info (for models the catalog lacks)."""
    raw = sysinfo.get("Algorithm") if sysinfo else None
    if isinstance(raw, str):
        key = re.sub(r"[^A-Z0-9]", "", raw.upper())
        if key in _ALGO_HINTS:
            return _ALGO_HINTS[key]
    return "SHA256"


async def _build(e: Evidence, credentials: Credentials) -> BaseMiner | None:
    """Read get_system_info.cgi once, look the model up, pick the web generation."""
    if e.http_status is None:
        return None  # no web UI at all: a bare bmminer/cgminer API, the generic family's job
    http = _web_client(e.ip, e.ports, credentials)
    sysinfo: dict[str, Any] | None = None
    notes: list[str] = []
    try:
        result = await http.get("/cgi-bin/get_system_info.cgi", timeout=e.limits.identify_timeout)
        sysinfo = result.json_object()
    except APIError as exc:  # wrong password, old firmware quirks: RPC still identifies
        notes.append(f"get_system_info: {exc.reason}")
    vtype = _version_type(e.rpc_version)
    minertype = _text(sysinfo.get("minertype")) if sysinfo else None
    raw_model = vtype or minertype
    names = f"{vtype or ''} {minertype or ''}".upper()
    if any(marker in names for marker in FOREIGN_RPC_MARKERS):
        await http.aclose()  # e.g. Hiveon copies the stock web UI but names itself here
        return None
    info: ModelInfo | None = None
    if raw_model is not None:
        info = lookup(pyasic_model_string(raw_model), make=MAKE)
        if info is None and minertype is not None and minertype != raw_model:
            info = lookup(pyasic_model_string(minertype), make=MAKE)
    model = info.model if info is not None else (_display_model(raw_model) if raw_model else None)
    version = None
    if e.rpc_version is not None:
        try:
            version = _first(e.rpc_version, "VERSION")
        except ValueError:
            version = None
    fw_ver = _text(version.get("CompileTime")) if version else None
    if fw_ver is None and sysinfo:
        fw_ver = _text(sysinfo.get("system_filesystem_version"))
    generation = web_generation(sysinfo, model)
    identity = Identity(
        ip=e.ip,
        make=MAKE,
        firmware=FIRMWARE,
        model=model,
        raw_model=raw_model,
        algo=info.algo if info is not None else _algo_hint(sysinfo),
        model_info=info,
        mac=normalize_mac(sysinfo.get("macaddr")) if sysinfo else None,
        serial_number=_text(sysinfo.get("serinum")) if sysinfo else None,
        hostname=_text(sysinfo.get("hostname")) if sysinfo else None,
        fw_ver=fw_ver,
        api_ver=_text(version.get("API")) if version else None,
        extra={"web": generation, "notes": notes},
    )
    cls = AntminerOld if generation == "old" else AntminerModern
    return cls(e.ip, identity=identity, credentials=credentials, ports=e.ports, http=http)


FAMILIES = [Family("antminer", _matches, _build)]
