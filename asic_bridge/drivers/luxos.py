"""LuxOS (Luxor's LUXminer firmware on Antminer hardware), over its RPC on port 4028.

Everything - data and control - is the CGMiner-style RPC.  A reading is one batched
``summary+stats+pools+config+power+fans+profiles`` request; MAC, hostname and serial come
from ``config`` once, at identification.

Field sources:

=================  ===============================================================
hashrate           ``summary`` GHS 5s
expected_hashrate  ``stats`` STATS[1] ``total_rateideal`` (``rate_unit``, GH)
hashboards         ``stats`` STATS[1] ``chain_rate<n>`` (GH/s), ``chain_acn<n>``; the four
                   sensors of ``temp_pcb<n>`` are exhaust-intake-intake-exhaust: the board
                   temperature is the intake pair, the chip temperature the exhaust pair
fans               ``fans`` FANS[].RPM in ``ID`` order
fan_percent        ``fans`` FANS[].Speed (the PWM %), their mean
fan_mode           ``tempctrl`` Mode Auto/Manual; manual at 0 % with ``FANCTRL`` MinFans 0
                   is immersion (fans off, no fan check), what ``fanset`` writes for it
wattage            ``power`` POWER[0].Watts
wattage_limit      ``config`` Profile -> that profile's ``Watts`` in ``profiles``
fault_light        ``config`` RedLed: ``blink``/``on`` (``auto`` is the firmware's own
                   status indication, ``off`` is off)
is_mining          ``config`` CurtailMode ``Sleep`` -> False, else ``summary`` rate > 0
errors             ``config`` SystemStatus other than ``Normal``
=================  ===============================================================

Privileged commands need a session: ``session`` shows an open one, ``logon`` opens one
(STATUS E 402 while another is open); its SessionID is the first parameter of every
privileged command.  The ID is cached and renewed once when the miner answers "invalid
session" (it expired or someone logged off).  LuxOS has no password on this API.

Controls: fault light ``ledset red blink|off``; stop/resume ``curtail sleep|wakeup``;
reboot ``rebootdevice``; restart_backend ``resetminer``.  Power: LuxOS tunes by frequency
*profiles*, each with a rated wattage; set_power_limit chooses the highest profile at or
below the limit and sets it with ``profileset`` (the firmware refuses profileset while
Advanced Thermal Management is on, so ATM is switched off around it and back on after).
No documented RPC command takes a watt target, so none is sent.  Modes: ``normal`` = the
``default`` profile, ``low`` = the highest profile at or below 80 % of default's watts,
``high`` = the highest profile, ``sleep`` = curtail; a ``preset`` mode names a profile.
Presets (Capability.PRESETS): the ``profiles`` list as is; ``set_preset`` is the profileset
above, confirmed by its answer and by ``config`` Profile read back.
Config: pools via addpool/switchpool/removepool, temperatures via ``tempctrlset``, fans via
``fanset`` - each written only when it changed, nothing else touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from asic_bridge import catalog
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
    CGMiner,
    entries,
    first_entry,
    parse_api_ver,
    parse_pools,
    parse_summary_hashrate,
    parse_uptime,
)
from asic_bridge.drivers.values import number, percent, whole
from asic_bridge.drivers.values import text as _text
from asic_bridge.errors import (
    APIError,
    CommandError,
    ConfigError,
    UnsupportedError,
)

if TYPE_CHECKING:
    from asic_bridge.config import (
        FanModeImmersion,
        FanModeManual,
        FanModeNormal,
        MinerConfig,
        MiningMode,
        MiningModeHigh,
        MiningModeLow,
        MiningModeNormal,
        MiningPreset,
        PoolConfig,
        TemperatureConfig,
    )

__all__ = [
    "FAMILIES",
    "LuxOSMiner",
    "choose_profile",
    "parse_active_profile",
    "parse_config",
    "parse_hashboards",
    "parse_profiles",
]

MAKE = "AntMiner"
FIRMWARE = "LuxOS"
CODE_SESSION_ACTIVE = 402

# ---------------------------------------------------------------------------------------------
# Pure parsers.


def _config_entry(config: object) -> dict[str, Any]:
    entry = first_entry(config, "CONFIG")
    if entry is None:
        raise ValueError("config has no CONFIG section")
    return entry


#: What a stats entry's keys (in order) say: whether it is the chain section, and its chain
#: slots.  The answer is new each poll, its ~180 keys the same ones, so each layout is read
#: once (bounded: cleared when full).
_IS_CHAIN: dict[tuple[Any, ...], bool] = {}
_SLOTS: dict[tuple[Any, ...], list[int]] = {}
_LAYOUTS_MAX = 256


def _remember(seen: dict[tuple[Any, ...], Any], keys: tuple[Any, ...], value: Any) -> None:
    if len(seen) >= _LAYOUTS_MAX:
        seen.clear()
    seen[keys] = value


def _chain_section(stats: object) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """The first entry with a ``chain_acn`` key, and its keys in order."""
    for item in entries(stats, "STATS"):
        keys = tuple(item)
        is_chain = _IS_CHAIN.get(keys)
        if is_chain is None:
            is_chain = any(key.startswith("chain_acn") for key in item)
            _remember(_IS_CHAIN, keys, is_chain)
        if is_chain:
            return item, keys
    raise ValueError("stats has no chain section")


def _chain_entry(stats: object) -> dict[str, Any]:
    return _chain_section(stats)[0]


def _chain_slots(chain: dict[str, Any], keys: tuple[Any, ...]) -> list[int]:
    """The numbers N of the entry's ``chain_acnN`` keys, sorted (callers only read it)."""
    slots = _SLOTS.get(keys)
    if slots is None:
        slots = sorted(
            int(key[9:]) for key in chain if key.startswith("chain_acn") and key[9:].isdigit()
        )
        _remember(_SLOTS, keys, slots)
    return slots


def _sensors(text: object) -> list[float]:
    """``"47-34-34-47"`` -> [47.0, 34.0, 34.0, 47.0]; unreadable parts are dropped."""
    if not isinstance(text, str):
        return []
    return [v for part in text.split("-") if (v := number(part)) is not None]


def _mean(values: list[float]) -> float | None:
    live = [v for v in values if v > 0]
    return round(sum(live) / len(live), 1) if live else None


def parse_hashboards(ctx: ParseContext, stats: object) -> list[HashBoard]:
    chain, keys = _chain_section(stats)
    info = ctx.model_info
    expected = info.hashboards if info is not None else None
    per_board = info.chips_per_board if info is not None else None
    slots = _chain_slots(chain, keys)
    boards: list[HashBoard] = []
    for index, slot in enumerate(slots):
        chips = whole(chain.get(f"chain_acn{slot}"))
        if expected is not None and index >= expected and not chips:
            continue  # the unused fourth connector
        rate = number(chain.get(f"chain_rate{slot}"))
        sensors = _sensors(chain.get(f"temp_pcb{slot}")) or _sensors(chain.get(f"temp_chip{slot}"))
        temp = chip_temp = None
        if len(sensors) == 4:
            chip_temp = _mean([sensors[0], sensors[3]])
            temp = _mean([sensors[1], sensors[2]])
        alive = bool(chips)
        boards.append(
            board_from(
                {
                    "slot": index,
                    "hashrate": to_default(rate, "GH/s", ctx.algo) if rate is not None else None,
                    "temp": temp,
                    "chip_temp": chip_temp,
                    "chips": chips,
                    "expected_chips": per_board,
                    "missing": not alive,
                    "active": alive and bool(rate),
                }
            )
        )
    return boards


def parse_expected_hashrate(ctx: ParseContext, stats: object) -> float | None:
    chain = _chain_entry(stats)
    value = number(chain.get("total_rateideal"))
    if value is None:
        return None
    unit = str(chain.get("rate_unit") or "GH")
    return to_default(value, unit if unit.endswith("/s") else unit + "/s", ctx.algo)


def parse_fans(ctx: ParseContext, fans: object) -> list[Fan]:
    if not isinstance(fans, Mapping) or "FANS" not in fans:
        raise ValueError("fans has no FANS section")
    items = sorted(entries(fans, "FANS"), key=lambda f: whole(f.get("ID")) or 0)
    return [Fan(speed=whole(item.get("RPM"))) for item in items]


def parse_wattage(ctx: ParseContext, power: object) -> int | None:
    entry = first_entry(power, "POWER")
    if entry is None:
        raise ValueError("power has no POWER section")
    return whole(entry.get("Watts"))


def _profile_entries(profiles: object) -> list[tuple[str, Mapping[str, Any]]]:
    """(name, entry) of every named profile, in the firmware's order."""
    if not isinstance(profiles, Mapping) or "PROFILES" not in profiles:
        raise ValueError("profiles has no PROFILES section")
    out: list[tuple[str, Mapping[str, Any]]] = []
    for item in entries(profiles, "PROFILES"):
        name = item.get("Profile Name")
        if isinstance(name, str) and name:
            out.append((name, item))
    return out


def parse_profiles(profiles: object) -> list[MiningPreset]:
    """Every profile as a preset (power in W, hashrate in TH/s), in the firmware's order."""
    from asic_bridge.config import MiningPreset

    out = []
    for name, item in _profile_entries(profiles):
        tuned = item.get("IsTuned")
        out.append(
            MiningPreset(
                name=name,
                power=whole(item.get("Watts")),
                hashrate=number(item.get("Hashrate")),
                tuned=tuned if isinstance(tuned, bool) else None,
            )
        )
    return out


def parse_wattage_limit(ctx: ParseContext, config: object, profiles: object) -> int | None:
    """The Watts of the profile the miner runs (read from the entries: no preset models)."""
    active = _config_entry(config).get("Profile")
    for name, item in _profile_entries(profiles):
        if name == active:
            return whole(item.get("Watts"))
    return None


def parse_active_profile(ctx: ParseContext, config: object) -> str | None:
    """``config`` Profile: the profile the miner runs (one of ``profiles``)."""
    return _text(_config_entry(config).get("Profile"))


def parse_fault_light(ctx: ParseContext, config: object) -> bool | None:
    led = _config_entry(config).get("RedLed")
    if not isinstance(led, str):
        return None
    return led.lower() in ("blink", "on")


def _curtailed(config: object) -> bool:
    return str(_config_entry(config).get("CurtailMode", "None")).lower() not in ("none", "")


def parse_is_mining(ctx: ParseContext, config: object, summary: object) -> bool | None:
    if _curtailed(config):
        return False
    rate = parse_summary_hashrate(ctx, summary)
    return None if rate is None else rate > 0


def parse_errors(ctx: ParseContext, config: object) -> list[MinerErrorData]:
    status = _config_entry(config).get("SystemStatus")
    if isinstance(status, str) and status and status != "Normal":
        return [MinerErrorData(error_message=f"system status: {status}")]
    return []


def parse_mac(ctx: ParseContext, config: object) -> str | None:
    return normalize_mac(_config_entry(config).get("MACAddr"))


def parse_hostname(ctx: ParseContext, config: object) -> str | None:
    return _text(_config_entry(config).get("Hostname"))


def parse_serial(ctx: ParseContext, config: object) -> str | None:
    return _text(_config_entry(config).get("SerialNumber"))


def parse_fw_ver(ctx: ParseContext, version: object) -> str | None:
    entry = first_entry(version, "VERSION")
    if entry is None:
        raise ValueError("version has no VERSION section")
    return _text(entry.get("Miner")) or _text(entry.get("LUXminer"))


def parse_pool_config(pools: object, groups: object) -> PoolConfig:
    """Pools by group (``GROUP``), each in ``Priority`` order; passwords read as ``x``."""
    from asic_bridge.config import Pool, PoolConfig, PoolGroup

    if not isinstance(pools, Mapping):
        raise ValueError("pools answer is not an object")
    group_items = entries(groups, "GROUPS") or [{"GROUP": 0, "Name": None, "Quota": 1}]
    out = []
    items = sorted(entries(pools, "POOLS"), key=lambda p: whole(p.get("Priority")) or 0)
    for g in group_items:
        gid = whole(g.get("GROUP")) or 0
        members = [
            Pool(url=str(p["URL"]), user=str(p.get("User", "")))
            for p in items
            if (whole(p.get("GROUP")) or 0) == gid and isinstance(p.get("URL"), str) and p["URL"]
        ]
        quota = whole(g.get("Quota")) or 1
        name = g.get("Name")
        out.append(
            PoolGroup(
                pools=members, quota=max(quota, 1), name=name if isinstance(name, str) else None
            )
        )
    return PoolConfig(groups=[g for g in out if g.pools] or out[:1])


def _fan_setting(fans: object, tempctrl: object) -> tuple[str | None, int | None, int | None]:
    """(fan mode name, manual speed, minimum fans) as ``tempctrl`` and ``fans`` report them:
    pure, so reading the mode's name builds no config model."""
    ctrl = first_entry(tempctrl, "TEMPCTRL") or {}
    min_fans = whole((first_entry(fans, "FANCTRL") or {}).get("MinFans"))
    if ctrl.get("Mode") == "Manual":
        speed = whole((first_entry(fans, "FANS") or {}).get("Speed"))
        if speed == 0 and min_fans == 0:
            return "immersion", speed, min_fans
        return (None if speed is None else "manual"), speed, min_fans
    if ctrl.get("Mode") is None and min_fans is None:
        return None, None, None
    return "normal", None, min_fans


def parse_fan_mode(
    fans: object, tempctrl: object
) -> FanModeNormal | FanModeManual | FanModeImmersion | None:
    from asic_bridge.config import FanModeImmersion, FanModeManual, FanModeNormal

    name, speed, min_fans = _fan_setting(fans, tempctrl)
    if name == "immersion":
        return FanModeImmersion()
    if name == "manual":
        return FanModeManual(speed=max(0, min(speed or 0, 100)), minimum_fans=max(min_fans or 0, 0))
    if name == "normal":
        return FanModeNormal(minimum_fans=max(min_fans or 0, 0))
    return None


def parse_fan_mode_name(ctx: ParseContext, fans: object, tempctrl: object) -> str | None:
    """The mode only where ``tempctrl`` says Auto or Manual (no guess from the fans alone)."""
    ctrl = first_entry(tempctrl, "TEMPCTRL") or {}
    return _fan_setting(fans, tempctrl)[0] if ctrl.get("Mode") in ("Auto", "Manual") else None


def parse_fan_percent(ctx: ParseContext, fans: object) -> int | None:
    """The mean ``Speed`` (PWM %) of the fans."""
    speeds = [number(item.get("Speed")) for item in entries(fans, "FANS")]
    known = [v for v in speeds if v is not None]
    return percent(sum(known) / len(known)) if known else None


def parse_temperature(tempctrl: object) -> TemperatureConfig | None:
    from asic_bridge.config import TemperatureConfig

    ctrl = first_entry(tempctrl, "TEMPCTRL")
    if ctrl is None:
        return None
    return TemperatureConfig(
        target=number(ctrl.get("Target")),
        hot=number(ctrl.get("Hot")),
        danger=number(ctrl.get("Dangerous")),
    )


def parse_config(
    ctx: ParseContext,
    pools: object,
    groups: object,
    fans: object,
    tempctrl: object,
    config: object,
    profiles: object,
) -> MinerConfig:
    from asic_bridge.config import MinerConfig

    presets = parse_profiles(profiles)
    active = _config_entry(config).get("Profile")
    mode = reported_mode(presets, active if isinstance(active, str) else None, _curtailed(config))
    return MinerConfig(
        pools=parse_pool_config(pools, groups),
        fan_mode=parse_fan_mode(fans, tempctrl),
        temperature=parse_temperature(tempctrl),
        mining_mode=mode,
    )


def choose_profile(presets: list[MiningPreset], wattage: int) -> MiningPreset | None:
    """The highest-power profile whose rated watts are at or below ``wattage``."""
    fitting = [p for p in presets if p.power is not None and p.power <= wattage]
    return max(fitting, key=lambda p: p.power or 0) if fitting else None


def mode_profile(presets: list[MiningPreset], mode: str) -> MiningPreset | None:
    """The profile a plain mode stands for (see the module docstring)."""
    default = next((p for p in presets if p.name == "default"), None)
    if mode == "normal":
        return default
    rated = [p for p in presets if p.power is not None]
    if mode == "high":
        return max(rated, key=lambda p: p.power or 0) if rated else None
    if mode == "low" and default is not None and default.power:
        return choose_profile(presets, int(default.power * 0.8))
    return None


def reported_mode(presets: list[MiningPreset], active: str | None, curtailed: bool) -> MiningMode:
    """The mode the active profile stands for, so the reading is one of ``supported_modes``.

    ``sleep`` when curtailed; ``normal``/``low``/``high`` when the active profile is the one
    that mode selects (:func:`mode_profile`); any other profile is ``preset`` naming it.
    """
    from asic_bridge.config import (
        MiningModeHigh,
        MiningModeLow,
        MiningModeNormal,
        MiningModePreset,
        MiningModeSleep,
    )

    if curtailed:
        return MiningModeSleep()
    by_mode: dict[str, MiningModeNormal | MiningModeLow | MiningModeHigh] = {
        "normal": MiningModeNormal(), "low": MiningModeLow(), "high": MiningModeHigh()
    }  # fmt: skip
    for name, plain in by_mode.items():
        chosen = mode_profile(presets, name)
        if chosen is not None and chosen.name == active:
            return plain
    return MiningModePreset(active_preset=active, available_presets=presets)


def power_bounds(presets: list[MiningPreset]) -> tuple[int, int] | None:
    """The lowest and highest rated profile watts: what a power target can really select."""
    watts = [p.power for p in presets if p.power]
    return (min(watts), max(watts)) if watts else None


# ---------------------------------------------------------------------------------------------
# The driver.

_READ = ("pools", "groups", "fans", "tempctrl", "config", "profiles")


class LuxOSMiner(CGMiner):
    """An Antminer on LuxOS."""

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
            Capability.PRESETS,
            Capability.FAN_CONTROL,
        }
    )
    supported_modes = ("low", "normal", "high", "sleep", "preset")
    supported_fan_modes = ("normal", "manual", "immersion")
    EMPTY_OK: ClassVar[frozenset[str]] = frozenset()
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("rpc:config",), parse_mac, static=True),
        "hostname": FieldSpec(("rpc:config",), parse_hostname, static=True),
        "serial_number": FieldSpec(("rpc:config",), parse_serial, static=True),
        "api_ver": FieldSpec(("rpc:version",), parse_api_ver, static=True),
        "fw_ver": FieldSpec(("rpc:version",), parse_fw_ver, static=True),
        "hashrate": FieldSpec(("rpc:summary",), parse_summary_hashrate),
        "expected_hashrate": FieldSpec(("rpc:stats",), parse_expected_hashrate),
        "hashboards": FieldSpec(("rpc:stats",), parse_hashboards),
        "fans": FieldSpec(("rpc:fans",), parse_fans),
        "fan_mode": FieldSpec(("rpc:fans", "rpc:tempctrl"), parse_fan_mode_name),
        "fan_percent": FieldSpec(("rpc:fans",), parse_fan_percent),
        "wattage": FieldSpec(("rpc:power",), parse_wattage),
        "wattage_limit": FieldSpec(("rpc:config", "rpc:profiles"), parse_wattage_limit),
        "active_preset": FieldSpec(("rpc:config",), parse_active_profile),
        "fault_light": FieldSpec(("rpc:config",), parse_fault_light),
        "is_mining": FieldSpec(("rpc:config", "rpc:summary"), parse_is_mining),
        "errors": FieldSpec(("rpc:config",), parse_errors),
        "uptime": FieldSpec(("rpc:summary",), parse_uptime),
        "pools": FieldSpec(("rpc:pools",), parse_pools),
        "config": FieldSpec(tuple(f"rpc:{c}" for c in _READ), parse_config),
    }

    def __init__(self, ip: str, **kwargs: Any) -> None:
        super().__init__(ip, **kwargs)
        self._session: str | None = None

    # -------------------------------------------------------------- sessions
    async def _session_id(self) -> str:
        """The open session (``session``), else a new one (``logon``)."""
        if self._session is not None:
            return self._session
        current = first_entry(await self._command("session"), "SESSION") or {}
        sid = current.get("SessionID")
        if not (isinstance(sid, str) and sid):
            try:
                opened = first_entry(await self._command("logon"), "SESSION") or {}
            except CommandError as exc:
                if f"code {CODE_SESSION_ACTIVE}" not in exc.reason:
                    raise
                opened = first_entry(await self._command("session"), "SESSION") or {}
            sid = opened.get("SessionID")
        if not (isinstance(sid, str) and sid):
            raise APIError("the miner gave no session id", ip=self.ip, command="logon")
        self._session = sid
        return sid

    async def _privileged(self, command: str, *params: str) -> dict[str, Any]:
        """A command that needs the session; one renewal if the miner says it is invalid."""
        for attempt in (1, 2):
            sid = await self._session_id()
            try:
                return await self._command(command, ",".join((sid, *params)))
            except CommandError as exc:
                if "session" not in exc.reason.lower() or attempt == 2:
                    raise
                self._session = None
        raise AssertionError("unreachable")  # pragma: no cover

    # -------------------------------------------------------------- controls
    async def _set_fault_light(self, on: bool) -> bool:
        await self._privileged("ledset", "red", "blink" if on else "off")
        return True

    async def _set_mining(self, on: bool) -> bool:
        await self._privileged("curtail", "wakeup" if on else "sleep")
        return True

    async def _reboot(self) -> bool:
        await self._privileged("rebootdevice")
        self._session = None  # a reboot ends every session
        return True

    async def _restart_backend(self) -> bool:
        await self._privileged("resetminer")
        return True

    async def _read(self, *commands: str) -> dict[str, Any]:
        results = await self.rpc.multicommand(*commands)
        for value in results.values():
            if isinstance(value, APIError):
                raise value
        return dict(results)

    async def _presets(self) -> list[MiningPreset]:
        return parse_profiles(await self._command("profiles"))

    async def _read_power_range(self) -> tuple[int, int] | None:
        return power_bounds(await self._presets())

    async def _get_presets(self) -> list[MiningPreset]:
        return await self._presets()

    async def _set_preset(self, name: str) -> bool:
        await self._set_profile(name)
        return True

    async def _set_profile(self, name: str) -> None:
        """``profileset``, with ATM switched off around it when it is on; the profile the
        answer confirms must be ``name`` (NotAppliedError otherwise)."""
        atm = first_entry(await self._command("atm"), "ATM") or {}
        was_on = atm.get("Enabled") is True
        if was_on:
            await self._privileged("atmset", "enabled=false")
        try:
            answer = await self._privileged("profileset", name)
        finally:
            if was_on:
                await self._privileged("atmset", "enabled=true")
        confirmed = first_entry(answer, "PROFILE") or {}
        self._confirm_applied("LuxOS profile", name, confirmed.get("Profile"), "profileset")
        running = parse_active_profile(self._ctx(), await self._command("config"))
        self._confirm_applied("LuxOS profile", name, running, "config")

    async def _set_power_limit(self, wattage: int) -> bool:
        presets = await self._presets()
        chosen = choose_profile(presets, wattage)
        if chosen is None:
            lowest = min((p.power for p in presets if p.power), default=None)
            raise ConfigError(
                f"no LuxOS profile is rated at or below {wattage} W (lowest: {lowest} W)"
            )
        await self._set_profile(chosen.name)
        return True

    async def _get_config(self) -> MinerConfig:
        raw = await self._read(*_READ)
        return parse_config(self._ctx(), *(raw[c] for c in _READ))

    def _ctx(self) -> ParseContext:
        return ParseContext(self.algo, self.model_info, self.identity)

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        from asic_bridge.config import MinerConfig

        if config.pools is not None and config.pools != live.pools:
            pools_only = MinerConfig(
                pools=config.pools,
                fan_mode=live.fan_mode,
                temperature=live.temperature,
                mining_mode=live.mining_mode,
            )
            await CGMiner._send_config(self, pools_only, live)
        if config.temperature is not None and config.temperature != live.temperature:
            t = config.temperature
            await self._privileged(
                "tempctrlset", *("" if v is None else f"{v:g}" for v in (t.target, t.hot, t.danger))
            )
        if config.fan_mode is not None and config.fan_mode != live.fan_mode:
            await self._privileged("fanset", *_fanset_params(config.fan_mode))
        if config.mining_mode is not None and config.mining_mode != live.mining_mode:
            await self._write_mode(config.mining_mode, live)

    async def _write_mode(self, mode: Any, live: MinerConfig) -> None:
        from asic_bridge.config import MiningModeSleep

        name = mode.mode
        if name == "sleep":
            await self._set_mining(False)
            return
        presets = await self._presets()
        if name == "preset":
            target = next((p for p in presets if p.name == mode.active_preset), None)
        elif name == "power_tuning":
            target = choose_profile(presets, mode.power) if mode.power else None
        elif name in ("normal", "low", "high"):
            target = mode_profile(presets, name)
        else:
            raise UnsupportedError(f"mining mode {name!r}", "LuxOS")
        if target is None:
            raise ConfigError(f"no LuxOS profile fits mining mode {name!r}")
        await self._set_profile(target.name)
        if isinstance(live.mining_mode, MiningModeSleep):
            await self._set_mining(True)


def _fanset_params(fan: Any) -> list[str]:
    from asic_bridge.config import FanModeImmersion, FanModeManual

    if isinstance(fan, FanModeManual):
        return [f"speed={fan.speed}", f"min_fans={fan.minimum_fans}"]
    if isinstance(fan, FanModeImmersion):
        return ["speed=0", "min_fans=0"]
    return ["speed=-1", f"min_fans={fan.minimum_fans}"]


# ---------------------------------------------------------------------------------------------
# Identification.


def _matches(e: Evidence) -> bool:
    return "LUXMINER" in e.rpc_text or "Luxor Firmware" in e.http_body


async def _build(e: Evidence, creds: Credentials) -> BaseMiner | None:
    entry = first_entry(e.rpc_version, "VERSION") or {}
    raw_model = entry.get("Type") if isinstance(entry.get("Type"), str) else None
    if raw_model and " (" in raw_model:
        raw_model = raw_model.split(" (", 1)[0]
    info = catalog.lookup(raw_model, make=MAKE) if raw_model else None
    identity = Identity(
        ip=e.ip,
        make=MAKE,
        firmware=FIRMWARE,
        model=info.model if info else raw_model,
        raw_model=raw_model,
        algo=info.algo if info else "SHA256",
        model_info=info,
        api_ver=str(entry["API"]) if entry.get("API") else None,
    )
    ctx = ParseContext(identity.algo, info, identity)
    if entry:
        identity.fw_ver = parse_fw_ver(ctx, e.rpc_version)
    miner = LuxOSMiner(e.ip, identity=identity, credentials=creds, ports=e.ports)
    try:
        config = await miner.rpc.send("config", timeout=miner.limits.identify_timeout)
    except APIError:
        return miner  # the static facts are read on the first poll instead
    try:
        identity.mac = parse_mac(ctx, config)
        identity.hostname = parse_hostname(ctx, config)
        identity.serial_number = parse_serial(ctx, config)
    except ValueError:
        pass
    return miner


FAMILIES = [Family("luxos", _matches, _build)]
