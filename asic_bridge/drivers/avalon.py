"""Canaan AvalonMiner: the A-series (A10 ... A15) and the home units (Nano 3/3s, Mini 3, Q).

Everything comes from Canaan's CGMiner 4.11 RPC on port 4028.  One reading is one batched
``summary+estats+pools`` request; the static facts (``PROD``/``MODEL``, ``MAC``, firmware build)
come from ``version`` at identification.

The interesting payload is ``estats``: each module of the box prints one long ``MM ID<n>``
string of bracketed ``Key[value]`` pairs (``Ver[...] DNA[...] Elapsed[...] Temp[...] Fan1[...]
PS[...] GHSmm[...] Led[...] MGHS[...] MTmax[...] PVT_T0[...] WORKMODE[...] MPO[...]``).  Newer
firmware splits it into ``MM ID0:Summary`` (``'STATS':{...}``) and ``HBinfo``
(``'HB0':{...}``).  :func:`parse_mm_fields` reads either, keeps every well-formed pair of a
truncated string, and ignores anything else; each field parser then uses only its own keys,
so one odd value never costs the others.

Field sources (units as the firmware prints them):

========================  ==============================================================
hashrate                  ``summary`` MHS 30s / 1m / av (MH/s)
expected_hashrate         ``GHSmm`` (GH/s, the rate the chip clocks should give)
hashboards                ``MGHS`` per board (GH/s), ``MTavg`` (average chip temperature per
                          board, reported as the board temperature), ``MTmax`` (hottest chip),
                          ``HBITemp``/``HBOTemp`` (board inlet/outlet, Q/Mini), chips =
                          entries in ``PVT_T<n>`` (one temperature per chip)
fans                      ``Fan1``, ``Fan2`` ... (RPM)
wattage                   ``WALLPOWER``, else ``PS[...]`` 7th value (W at the wall)
wattage_limit             ``MPO`` (the power ceiling of the current work level, W)
env_temp                  ``Temp`` (A-series) or ``ITemp`` (home units), degC
fault_light               ``Led[0|1]`` (the locate LED; ``LED[mode-effect]`` of home units is
                          a night light, so they report None)
is_mining                 ``SYSTEMSTATU[Work: In Work|In Idle|...]``, else ``SoftOFF`` == 0
errors                    non-zero ``ECHU`` (per board), ``ECMM`` (controller), ``PS[0]``
========================  ==============================================================

Controls (``ascset|0,<option>,<setting>``; refusals come back as STATUS E "set failed"):

* fault light: ``led,1-1`` / ``led,1-0``;
* stop / resume: ``softoff,1:<unix time>`` / ``softon,1:<unix time>`` (we send "now");
* reboot: ``reboot,0`` (home units, newer firmware), falling back to the ``restart`` command
  on firmware without that option; restart_backend: ``restart`` (restarts cgminer);
* mining modes: the firmware has three work levels, 0 = low (eco), 1 = normal (standard),
  2 = high (super), set with ``workmode,set,N`` where the firmware reports ``WORKMODE`` and
  ``worklevel,set,N`` where it reports ``WORKLEVEL``.  ``sleep`` is soft-off.
* **No set_power_limit.**  The firmware has no watt target, only these three levels whose
  power depends on the unit's calibration; mapping a wattage onto a level would be a guess,
  so the capability is not offered (pyasic maps any wattage above 100 W to level 2).
* pools: ``setpool|<web user>,<web password>,<slot 0-2>,<url>,<worker>,<password>``; the
  firmware takes the new pools at the next reboot, so send_config reboots after a pool change.
  There are exactly three slots: slots beyond the pools given are filled with the first pool
  so that no old pool survives.

Nano 3 / Nano 3s / Mini 3 also serve ``<cmd>.cgi`` pages on port 80 with the cookie
``auth = <8 hex> + sha256(web password)[:24]``; the driver reads the MAC from
``get_miner_info.cgi`` there when the RPC ``version`` does not carry a usable one.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from asic_bridge import catalog
from asic_bridge.catalog import ModelInfo
from asic_bridge.credentials import Credentials
from asic_bridge.data import Fan, HashBoard, MinerErrorData, board_from, to_default
from asic_bridge.drivers import Evidence, Family
from asic_bridge.drivers.base import (
    BaseMiner,
    Capability,
    FieldSpec,
    Identity,
    ParseContext,
    normalize_mac,
)
from asic_bridge.drivers.cgminer import (
    CGMinerRPCMiner,
    entries,
    first_entry,
    parse_api_ver,
    parse_pools,
    parse_pools_config,
    parse_summary_hashrate,
    parse_uptime,
    validate_pool_field,
)
from asic_bridge.drivers.values import number, percent
from asic_bridge.errors import (
    APIError,
    AuthenticationError,
    CommandError,
    ConfigError,
    InvalidResponseError,
    UnsupportedError,
)
from asic_bridge.transport.http import HTTPClient

if TYPE_CHECKING:
    from asic_bridge.config import (
        MinerConfig,
        Pool,
    )

__all__ = [
    "FAMILIES",
    "AvalonHome",
    "AvalonMiner",
    "AvalonModule",
    "parse_estats",
    "parse_mm_fields",
    "resolve_model",
    "web_cookie",
]

MAKE = "AvalonMiner"
POOL_SLOTS = 3
WEB_USER = "root"

# ---------------------------------------------------------------------------------------------
# The MM string.

_PAIR = re.compile(r"([A-Za-z][A-Za-z0-9_]*)\[([^\[\]]*)\]")
_MM_KEY = re.compile(r"^MM ID(\d+)(?::.*)?$")
_HB_BLOCK = re.compile(r"'HB(\d+)'\s*:\s*\{([^{}]*)")
_FAN_KEY = re.compile(r"^Fan(\d+)$")
_PVT_KEY = re.compile(r"^PVT_T\d+$")
_MAX_MM_CHARS = 1_000_000  # far beyond any real module string; bounds the regex work


def parse_mm_fields(text: str) -> dict[str, str]:
    """``Key[value]`` pairs of one Avalon MM string (values stripped; first occurrence wins).

    A truncated string keeps every pair that was complete; text that is not in this format
    gives an empty dict.
    """
    out: dict[str, str] = {}
    if not isinstance(text, str):
        return out
    for key, value in _PAIR.findall(text[:_MAX_MM_CHARS]):
        out.setdefault(key, value.strip())
    return out


@dataclass
class AvalonModule:
    """One hashing module (``MM ID<n>``): its fields and, on newer firmware, per-board blocks."""

    index: int
    fields: dict[str, str] = field(default_factory=dict)
    boards: dict[int, dict[str, str]] = field(default_factory=dict)

    def number(self, key: str) -> float | None:
        """The value of ``key`` as one number (the first of a list)."""
        values = self.numbers(key)
        return values[0] if values else None

    def numbers(self, key: str) -> list[float]:
        """The value of ``key`` as numbers (``MGHS[1.5 2.5]`` -> [1.5, 2.5]); bad parts skipped."""
        text = self.fields.get(key)
        if text is None:
            return []
        out = []
        for part in text.split():
            value = number(part)
            if value is not None:
                out.append(value)
        return out

    def positional(self, key: str) -> list[float | None]:
        """Per-board values of ``key`` in position; an unreadable one is None, not dropped."""
        text = self.fields.get(key)
        return [] if text is None else [number(part) for part in text.split()]

    def board_entries(self, prefix: str, board: int) -> int | None:
        """How many values one board lists under ``<prefix><n>`` (``PVT_T<n>``: one per chip),
        in the MM string or in its HB block; None when the key is absent."""
        key = f"{prefix}{board}"
        text = self.fields.get(key)
        if text is None:
            block = self.boards.get(board, {})
            text = block.get(key, block.get(f"{prefix}0"))
        return None if text is None else len(text.split())


_CACHE_SIZE = 16
_parsed: dict[int, tuple[object, list[AvalonModule]]] = {}


def parse_estats(payload: object) -> list[AvalonModule]:
    """Every module of an ``estats``/``stats`` answer, by index; [] when there is none.

    The result for the last few payload objects is remembered, so the dozen field parsers
    of one reading split the (10 kB) module string once.  Treat it as read-only.
    """
    hit = _parsed.get(id(payload))
    if hit is not None and hit[0] is payload:
        return hit[1]
    modules = _parse_estats(payload)
    if len(_parsed) >= _CACHE_SIZE:
        _parsed.pop(next(iter(_parsed)))
    _parsed[id(payload)] = (payload, modules)
    return modules


def _parse_estats(payload: object) -> list[AvalonModule]:
    modules: dict[int, AvalonModule] = {}
    for item in entries(payload, "STATS"):
        for key, value in item.items():
            m = _MM_KEY.match(key) if isinstance(key, str) else None
            if m is None or not isinstance(value, str):
                continue
            module = modules.setdefault(int(m.group(1)), AvalonModule(int(m.group(1))))
            for name, text in parse_mm_fields(value).items():
                module.fields.setdefault(name, text)
        hbinfo = item.get("HBinfo")
        if isinstance(hbinfo, str) and modules:
            target = modules[min(modules)]
            for board, body in _HB_BLOCK.findall(hbinfo[:_MAX_MM_CHARS]):
                target.boards.setdefault(int(board), parse_mm_fields(body))
    return [modules[i] for i in sorted(modules)]


def _modules(estats: object) -> list[AvalonModule]:
    modules = [m for m in parse_estats(estats) if m.fields or m.boards]
    if not modules:
        raise ValueError("estats carries no readable 'MM ID' module data")
    return modules


# ---------------------------------------------------------------------------------------------
# Field parsers (ctx, payload) -> value; each reads only its own keys.


def _board_count(module: AvalonModule) -> int:
    counts = [len(module.positional("MGHS")), len(module.positional("MTmax"))]
    counts.append(sum(1 for key in module.fields if _PVT_KEY.match(key)))
    counts.append(len(module.boards))
    status = module.fields.get("SYSTEMSTATU", "")
    m = re.search(r"Hash Board:\s*(\d+)", status)
    if m:
        counts.append(int(m.group(1)))
    return max(counts)


def _per_board(values: list[float | None], board: int, boards: int) -> float | None:
    """``values[board]`` of a per-board list; a single value only for a one-board module."""
    if len(values) > board and (len(values) > 1 or boards == 1):
        return values[board]
    return None


def parse_hashboards(ctx: ParseContext, estats: object) -> list[HashBoard]:
    modules = _modules(estats)
    info = ctx.model_info
    per_board = info.chips_per_board if info is not None else None
    boards: list[HashBoard] = []
    for module in modules:
        count = _board_count(module)
        # MGHS is each board's average since start (they sum to GHSavg), so a module whose
        # current speed GHSspd is 0 (soft-off, idle) has no board hashing, whatever MGHS says.
        idle = module.number("GHSspd") == 0
        rates: list[float | None] = [0.0] * count if idle else module.positional("MGHS")
        tmax, tavg = module.positional("MTmax"), module.positional("MTavg")
        inlet, outlet = module.positional("HBITemp"), module.positional("HBOTemp")
        for b in range(count):
            rate = _per_board(rates, b, count)
            if rate is None and count == 1:
                rate = module.number("GHSspd")
            chip_temp = _per_board(tmax, b, count)
            if chip_temp is None and count == 1:
                chip_temp = module.number("TMax")
            temp = _per_board(tavg, b, count)
            if temp is None and count == 1:
                temp = module.number("TAvg")
            chips = module.board_entries("PVT_T", b)
            board = board_from(
                {
                    "slot": len(boards),
                    "hashrate": to_default(rate, "GH/s", ctx.algo) if rate is not None else None,
                    "temp": temp if temp else None,
                    "chip_temp": chip_temp if chip_temp else None,
                    "inlet_temp": _per_board(inlet, b, count) or None,
                    "outlet_temp": _per_board(outlet, b, count) or None,
                    "chips": chips,
                    "expected_chips": per_board,
                    "missing": False,
                    "active": bool(rate),
                }
            )
            boards.append(board)
    expected = info.hashboards if info is not None else None
    if expected and len(modules) == 1 and len(boards) < expected:
        for _ in range(expected - len(boards)):
            boards.append(
                board_from({"slot": len(boards), "expected_chips": per_board, "missing": True})
            )
    return boards


def parse_expected_hashrate(ctx: ParseContext, estats: object) -> float | None:
    values = [v for m in _modules(estats) if (v := m.number("GHSmm")) is not None]
    return to_default(sum(values), "GH/s", ctx.algo) if values else None


def parse_fans(ctx: ParseContext, estats: object) -> list[Fan] | None:
    fans: list[Fan] = []
    for module in _modules(estats):
        numbered = sorted(
            (int(m.group(1)), key) for key in module.fields if (m := _FAN_KEY.match(key))
        )
        for _, key in numbered:
            rpm = module.number(key)
            fans.append(Fan(speed=round(rpm) if rpm is not None else None))
    return fans or None


def parse_fan_percent(ctx: ParseContext, estats: object) -> int | None:
    """``FanR[49%]``: the fans' PWM ratio the firmware drives (the first module's).  Avalon
    reports no fan mode, so a fan write could not be confirmed: none is offered."""
    for module in _modules(estats):
        text = module.fields.get("FanR")
        if text is not None:
            return percent(text.strip().removesuffix("%"))
    return None


def _module_wattage(module: AvalonModule) -> float | None:
    wall = module.number("WALLPOWER")
    if wall is not None:
        return wall
    ps = module.numbers("PS")
    return ps[6] if len(ps) >= 7 else None


def parse_wattage(ctx: ParseContext, estats: object) -> int | None:
    values = [w for m in _modules(estats) if (w := _module_wattage(m)) is not None]
    return round(sum(values)) if values else None


def parse_wattage_limit(ctx: ParseContext, estats: object) -> int | None:
    values = [v for m in _modules(estats) if (v := m.number("MPO")) is not None and v > 0]
    return round(sum(values)) if values else None


def parse_env_temp(ctx: ParseContext, estats: object) -> float | None:
    for module in _modules(estats):
        for key in ("Temp", "ITemp"):
            value = module.number(key)
            if value is not None and value > -100:
                return value
    return None


def parse_fault_light(ctx: ParseContext, estats: object) -> bool | None:
    states = [v for m in _modules(estats) if (v := m.number("Led")) is not None]
    return any(v >= 1 for v in states) if states else None


def _module_mining(module: AvalonModule) -> bool | None:
    status = module.fields.get("SYSTEMSTATU")
    if status:
        m = re.search(r"In\s+(\w+)", status)
        if m:
            return m.group(1).lower() in ("work", "init")
    softoff = module.number("SoftOFF")
    if softoff is not None:
        return softoff == 0
    state = module.number("STATE")  # litestats / home units: 1 = working
    if state is not None:
        return state == 1
    return None


def parse_is_mining(ctx: ParseContext, estats: object) -> bool | None:
    states = [s for m in _modules(estats) if (s := _module_mining(m)) is not None]
    return any(states) if states else None


def parse_errors(ctx: ParseContext, estats: object) -> list[MinerErrorData]:
    out: list[MinerErrorData] = []
    for module in _modules(estats):
        where = f"module {module.index} " if module.index else ""
        for board, code in enumerate(module.numbers("ECHU")):
            if code:
                out.append(
                    MinerErrorData(
                        error_code=int(code),
                        error_message=f"{where}hash board {board}: error code {int(code)}",
                    )
                )
        ecmm = module.number("ECMM")
        if ecmm:
            out.append(
                MinerErrorData(
                    error_code=int(ecmm), error_message=f"{where}controller: error code {int(ecmm)}"
                )
            )
        ps = module.numbers("PS")
        if ps and ps[0]:
            out.append(
                MinerErrorData(
                    error_code=int(ps[0]),
                    error_message=f"{where}power supply: error code {int(ps[0])}",
                )
            )
    return out


_LEVEL_MODES: dict[int, str] = {0: "low", 1: "normal", 2: "high"}
_MODE_LEVELS: dict[str, int] = {mode: level for level, mode in _LEVEL_MODES.items()}


def mode_option(estats: object) -> str | None:
    """Which ascset option sets the work level on this firmware (``workmode``/``worklevel``)."""
    for module in parse_estats(estats):
        if "WORKMODE" in module.fields:
            return "workmode"
        if "WORKLEVEL" in module.fields:
            return "worklevel"
    return None


def parse_work_level(estats: object) -> int | None:
    for module in parse_estats(estats):
        for key in ("WORKMODE", "WORKLEVEL"):
            value = module.number(key)
            if value is not None:
                return int(value)
    return None


def parse_config(ctx: ParseContext, pools: object, estats: object) -> MinerConfig:
    from asic_bridge.config import (
        MinerConfig,
        MiningModeHigh,
        MiningModeLow,
        MiningModeNormal,
        MiningModeSleep,
    )

    config = MinerConfig(pools=parse_pools_config(pools))
    if parse_is_mining(ctx, estats) is False:
        config.mining_mode = MiningModeSleep()
        return config
    level = parse_work_level(estats)
    if level == 0:
        config.mining_mode = MiningModeLow()
    elif level == 1:
        config.mining_mode = MiningModeNormal()
    elif level == 2:
        config.mining_mode = MiningModeHigh()
    return config


def parse_mac(ctx: ParseContext, version: object) -> str | None:
    entry = first_entry(version, "VERSION")
    if entry is None:
        raise ValueError("version has no VERSION section")
    return normalize_mac(entry.get("MAC"))


def parse_fw_ver(ctx: ParseContext, version: object) -> str | None:
    """The Avalon firmware build (``VERSION`` such as ``24102401_25462b2_9ddf522``).

    pyasic reports the CGMiner version instead (4.11.1 on every current Avalon).
    """
    entry = first_entry(version, "VERSION")
    if entry is None:
        raise ValueError("version has no VERSION section")
    for key in ("VERSION", "LVERSION", "CGVERSION", "CGMiner"):
        value = entry.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def parse_web_mac(ctx: ParseContext, minerinfo: object) -> str | None:
    if not isinstance(minerinfo, Mapping):
        raise ValueError("get_miner_info answer is not an object")
    return normalize_mac(minerinfo.get("mac"))


# ---------------------------------------------------------------------------------------------
# Model and web helpers.


def resolve_model(version_entry: Mapping[str, Any]) -> tuple[str | None, ModelInfo | None]:
    """(raw model, catalog entry) from ``PROD``/``MODEL`` ("AvalonMiner 1246-83", "15-194")."""
    prod = version_entry.get("PROD")
    model = version_entry.get("MODEL")
    prod = prod.strip() if isinstance(prod, str) and prod.strip() else None
    model = model.strip() if isinstance(model, str) and model.strip() else None
    candidates: list[str] = []
    if prod:
        candidates += [prod, prod.split("-")[0]]
    if model:
        base = model.split("-")[0]
        candidates += [f"Avalon {model}", f"{prod.split('-')[0]} {model}" if prod else model]
        candidates += [f"Avalon {base}", model]
    for text in candidates:
        info = catalog.lookup(text, make=MAKE)
        if info is not None and info.make == MAKE:
            return prod or model, info
    return prod or model, None


def web_cookie(password: str) -> str:
    """The ``auth`` cookie value the Avalon home-unit web UI expects for ``password``."""
    return "ff0000ff" + hashlib.sha256(password.encode()).hexdigest()[:24]


def parse_callback_json(text: str) -> Any:
    """``minerinfoCallback({...});`` -> the object inside (plain JSON passes through)."""
    body = text.strip()
    start, end = body.find("("), body.rfind(")")
    if not body.startswith("{") and 0 <= start < end:
        body = body[start + 1 : end]
    return json.loads(body, strict=False)


# ---------------------------------------------------------------------------------------------
# The drivers.


class AvalonMiner(CGMinerRPCMiner):
    """Any AvalonMiner over its CGMiner RPC."""

    make = MAKE
    firmware = "Stock"
    default_capabilities = frozenset(
        {
            Capability.FAULT_LIGHT,
            Capability.REBOOT,
            Capability.RESTART_BACKEND,
            Capability.STOP_MINING,
            Capability.MINING_MODES,
            Capability.GET_CONFIG,
            Capability.SEND_CONFIG,
        }
    )
    supported_modes = ("low", "normal", "high", "sleep")
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("rpc:version",), parse_mac, static=True),
        "api_ver": FieldSpec(("rpc:version",), parse_api_ver, static=True),
        "fw_ver": FieldSpec(("rpc:version",), parse_fw_ver, static=True),
        "hashrate": FieldSpec(("rpc:summary",), parse_summary_hashrate),
        "expected_hashrate": FieldSpec(("rpc:estats",), parse_expected_hashrate),
        "hashboards": FieldSpec(("rpc:estats",), parse_hashboards),
        "fans": FieldSpec(("rpc:estats",), parse_fans),
        "fan_percent": FieldSpec(("rpc:estats",), parse_fan_percent),
        "env_temp": FieldSpec(("rpc:estats",), parse_env_temp),
        "wattage": FieldSpec(("rpc:estats",), parse_wattage),
        "wattage_limit": FieldSpec(("rpc:estats",), parse_wattage_limit),
        "fault_light": FieldSpec(("rpc:estats",), parse_fault_light),
        "is_mining": FieldSpec(("rpc:estats",), parse_is_mining),
        "errors": FieldSpec(("rpc:estats",), parse_errors),
        "uptime": FieldSpec(("rpc:summary",), parse_uptime),
        "pools": FieldSpec(("rpc:pools",), parse_pools),
        "config": FieldSpec(("rpc:pools", "rpc:estats"), parse_config),
    }

    # -------------------------------------------------------------- helpers
    async def _ascset(self, option: str, setting: str) -> dict[str, Any]:
        """``ascset|0,<option>,<setting>``; STATUS E ("set failed: ...") raises CommandError."""
        return await self._command("ascset", f"0,{option},{setting}")

    def _web_credentials(self) -> tuple[str, str]:
        return (
            self.credentials.username_or(WEB_USER),
            self.credentials.password_or("default_avalon_password"),
        )

    # -------------------------------------------------------------- controls
    async def _set_fault_light(self, on: bool) -> bool:
        await self._ascset("led", "1-1" if on else "1-0")
        applied = parse_fault_light(self._ctx(), await self._estats())
        if applied is not None:  # home units have no Led[]: nothing to read back
            self._confirm_applied("fault light", on, applied, "ascset led")
        return True

    async def _estats(self) -> dict[str, Any]:
        return (await self._live())[1]

    async def _set_mining(self, on: bool) -> bool:
        # The firmware acts at the given time; "now" makes it act at once.
        resp = await self._ascset("softon" if on else "softoff", f"1:{int(time.time())}")
        status = first_entry(resp, "STATUS") or {}
        msg = str(status.get("Msg", ""))
        if status.get("STATUS") == "I" and "success" not in msg.lower():
            raise CommandError(msg or "no confirmation", ip=self.ip, command="ascset")
        return True

    async def _reboot(self) -> bool:
        try:
            await self._ascset("reboot", "0")
        except CommandError:
            await self._command("restart")  # firmware without the reboot option
        return True

    async def _restart_backend(self) -> bool:
        await self._command("restart")
        return True

    async def _set_level(self, level: int, option: str | None) -> None:
        options = [option] if option else ["workmode", "worklevel"]
        for index, name in enumerate(options):
            try:
                await self._ascset(name, f"set,{level}")
                break
            except CommandError as exc:
                if "unknown option" not in exc.reason.lower() or index == len(options) - 1:
                    raise
        applied = parse_work_level(await self._estats())
        self._confirm_applied("work level", level, applied, "ascset workmode/worklevel")

    async def _live(self) -> tuple[dict[str, Any], dict[str, Any]]:
        results = await self.rpc.multicommand("pools", "estats")
        pools, estats = results["pools"], results["estats"]
        if isinstance(pools, APIError):
            raise pools
        if isinstance(estats, APIError):
            raise estats
        return pools, estats

    async def _get_config(self) -> MinerConfig:
        pools, estats = await self._live()
        return parse_config(self._ctx(), pools, estats)

    def _ctx(self) -> ParseContext:
        return ParseContext(self.algo, self.model_info, self.identity)

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        for part in ("fan_mode", "temperature"):
            if getattr(config, part) != getattr(live, part):
                raise UnsupportedError(f"setting {part}", "AvalonMiner firmware")
        mode = config.mining_mode.mode if config.mining_mode is not None else None
        if mode is not None and mode not in self.supported_modes:
            raise UnsupportedError(f"mining mode {mode!r}", "AvalonMiner firmware")
        pools_changed = config.pools is not None and config.pools != live.pools
        if pools_changed:
            assert config.pools is not None
            wanted = [p for group in config.pools.groups for p in group.pools]
            await self._write_pools(wanted, live)
        if config.mining_mode != live.mining_mode and mode is not None:
            if mode == "sleep":
                await self._set_mining(False)
            else:
                _, estats = await self._live()
                await self._set_level(_MODE_LEVELS[mode], mode_option(estats))
                if parse_is_mining(self._ctx(), estats) is False:
                    await self._set_mining(True)
        if pools_changed:
            await self._reboot()  # the firmware reads its pool slots at boot

    async def _write_pools(self, wanted: list[Pool], live: MinerConfig) -> None:
        if not wanted:
            raise ConfigError("at least one pool is needed")
        if len(wanted) > POOL_SLOTS:
            raise ConfigError(
                f"AvalonMiner firmware has {POOL_SLOTS} pool slots, got {len(wanted)}"
            )
        user, password = self._web_credentials()
        for name, value in (("web user", user), ("web password", password)):
            validate_pool_field(name, value)
        for pool in wanted:
            validate_pool_field("url", pool.url)
            validate_pool_field("user", pool.user)
            validate_pool_field("password", pool.password)
        slots = wanted + [wanted[0]] * (POOL_SLOTS - len(wanted))
        current = live.pools.first_group if live.pools is not None else []
        for slot, pool in enumerate(slots):
            old = current[slot] if slot < len(current) else None
            same = old is not None and (old.url, old.user) == (pool.url, pool.user)
            if same and old is not None and pool.password in ("x", old.password):
                continue  # unchanged (the API never shows passwords; "x" = keep)
            param = f"{user},{password},{slot},{pool.url},{pool.user},{pool.password}"
            try:
                await self._command("setpool", param)
            except CommandError as exc:
                if "userpass" in exc.reason or "username" in exc.reason:
                    raise AuthenticationError(
                        "the miner refused the web user/password for setpool",
                        ip=self.ip,
                        command="setpool",
                    ) from None
                raise


class AvalonHome(AvalonMiner):
    """Nano 3 / Nano 3s / Mini 3: the same RPC plus the ``.cgi`` web UI on port 80."""

    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        **AvalonMiner.FIELDS,
        "mac": FieldSpec(("web:minerinfo",), parse_web_mac, static=True),
    }

    @property
    def web(self) -> HTTPClient:
        port = self.port("http", 80)
        return self._client_for("web", port, lambda: HTTPClient(self.ip, port))

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group != "web":
            return await super()._fetch_group(group, names)
        out: dict[str, Any] = {}
        for name in names:
            try:
                out[name] = await self.web_command(name)
            except APIError as exc:
                out[name] = exc
        return out

    async def web_command(self, name: str) -> Any:
        """``GET /<name>.cgi`` with the auth cookie (``minerinfo`` tries its spellings)."""
        _, password = self._web_credentials()
        headers = {"Cookie": f"auth={web_cookie(password)}"}
        paths = ["get_miner_info", "get_minerinfo", "minerinfo"] if name == "minerinfo" else [name]
        last: APIError | None = None
        for path in paths:
            result = await self.web.get(f"/{path}.cgi", headers=headers)
            if result.status == 404:
                last = APIError("not found", ip=self.ip, command=path)
                continue
            try:
                return parse_callback_json(result.text)
            except ValueError:
                if "<html" in result.text.lower():
                    raise AuthenticationError(
                        "the web UI answered its login page (wrong web password?)",
                        ip=self.ip,
                        command=path,
                    ) from None
                raise InvalidResponseError(
                    f"HTTP {result.status} body is not JSON", ip=self.ip, command=path
                ) from None
        assert last is not None
        raise last


# ---------------------------------------------------------------------------------------------
# Identification.

HOME_MODELS = frozenset({"Avalon Nano 3", "Avalon Nano 3s", "Avalon Mini 3"})


def _matches(e: Evidence) -> bool:
    return "AVALON" in e.rpc_text or "Avalon" in e.http_body


def _capabilities_from(estats: object, base: frozenset[Capability]) -> frozenset[Capability]:
    """Trim the controls to what this firmware's estats shows it has."""
    modules = parse_estats(estats)
    if not modules:
        return base
    caps = set(base)
    fields = modules[0].fields
    if "Led" not in fields:
        caps.discard(Capability.FAULT_LIGHT)
    if not ({"WORKMODE", "WORKLEVEL"} & set(fields)):
        caps.discard(Capability.MINING_MODES)
    if "SoftOFF" not in fields and "STATE" not in fields:
        caps.discard(Capability.STOP_MINING)  # A10-era firmware: no softoff/softon options
    return frozenset(caps)


async def _build(e: Evidence, creds: Credentials) -> BaseMiner | None:
    entry = first_entry(e.rpc_version, "VERSION") or {}
    raw_model, info = resolve_model(entry)
    identity = Identity(
        ip=e.ip,
        make=MAKE,
        firmware="Stock",
        model=info.model if info else raw_model,
        raw_model=raw_model,
        algo=info.algo if info else "SHA256",
        model_info=info,
        mac=normalize_mac(entry.get("MAC")),
        api_ver=str(entry["API"]) if entry.get("API") else None,
    )
    if entry:
        identity.fw_ver = parse_fw_ver(ParseContext(identity.algo, info, identity), e.rpc_version)
    home = info is not None and info.model in HOME_MODELS and e.http_status is not None
    cls = AvalonHome if home else AvalonMiner
    miner = cls(e.ip, identity=identity, credentials=creds, ports=e.ports)
    if e.rpc_version is not None:
        try:
            estats = await miner.rpc.send("estats", timeout=miner.limits.identify_timeout)
        except APIError:
            pass
        else:
            miner.capabilities = _capabilities_from(estats, miner.capabilities)
    return miner


FAMILIES = [Family("avalon", _matches, _build)]
