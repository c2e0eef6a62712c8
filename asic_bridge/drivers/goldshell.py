"""Goldshell (KD Max, KD5, CK5, HS5, KD Box, Mini Doge ...): BFGMiner RPC plus the ``/mcb`` web API.

Readings come from the BFGMiner-style RPC on 4028 in one batched
``summary+stats+devs+devdetails+pools`` request; the web API on port 80 gives the model and
firmware (``/mcb/status``, readable without login), the MAC (``/mcb/setting`` ``name``), the
power plans and the pool list.

Web login is ``GET /user/login?username=admin&password=<pw>&cipher=false`` answering
``{"JWT Token": ...}``, sent as ``Authorization: Bearer``.  Older firmware refuses plain
passwords; for the factory password it then takes ``cipher=true`` with the encrypted form the
stock web UI sends (a fixed string, known only for the default password).

Field sources:

========================  ==============================================================
hashrate                  ``summary`` ``MHS 20s`` (MH/s; Kadena/Eaglesong TH/s out)
hashboards                ``devs`` per board: ``MHS 20s``, ``tstemp-2`` (board), hottest of
                          ``tstemp-0``/``tstemp-1`` (chips); ``devdetails`` ``chips-nr``
fans                      ``stats`` second entry ``fan0`` ... (RPM)
uptime / is_mining        ``summary`` ``Elapsed`` / rate > 0
pools                     ``pools`` (CGMiner format)
errors                    ``devs`` entries that are not Alive
mac / fw_ver / api_ver    ``/mcb/setting`` ``name`` / ``/mcb/status`` ``firmware`` /
                          ``version`` ``API``
========================  ==============================================================

The firmware reports no power draw and no ideal hashrate, so wattage and expected_hashrate
stay None.  Controls: stop/resume and the mining modes select a power plan in ``/mcb/setting``
(level 0 normal, 1 low power, 3 idle; read-modify-write of the whole settings object); pools
through ``/mcb/delpool`` + ``/mcb/newpool`` (only when they change); restart_backend is
``GET /mcb/restart`` (the mining program restarts).  There is no fault light, reboot or watt
limit in this API.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from asic_bridge import catalog
from asic_bridge.credentials import Credentials
from asic_bridge.data import Fan, HashBoard, board_from, to_default
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
    parse_cgminer_errors,
    parse_pools,
    parse_uptime,
)
from asic_bridge.drivers.values import number, whole
from asic_bridge.errors import (
    APIError,
    AuthenticationError,
    CommandError,
    ConfigError,
    InvalidResponseError,
    UnsupportedError,
)
from asic_bridge.transport.http import HTTPClient, TokenAuth

if TYPE_CHECKING:
    from asic_bridge.config import (
        MinerConfig,
        Pool,
    )

__all__ = ["FAMILIES", "GoldshellMiner", "parse_hashboards", "resolve_model"]

MAKE = "Goldshell"
WEB_USER = "admin"
DEFAULT_PASSWORD = "123456789"
# What the stock web UI sends for the factory password with cipher=true (pyasic's fact).
DEFAULT_PASSWORD_CIPHER = "bbad7537f4c8b6ea31eea0b3d760e257"

# Plan levels: 0 full hash rate, 3 idle; the reduced-power plan is level 1 on some builds and
# level 2 on others (SC5 Pro II firmware 2.2.0 offers levels 0, 2 and 3), so both read "low".
LEVEL_MODES: dict[int, str] = {0: "normal", 1: "low", 2: "low", 3: "sleep"}
MODE_LEVELS: dict[str, int] = {"normal": 0, "low": 1, "sleep": 3}

_RATE_KEYS = ("MHS 20s", "MHS 5s", "MHS 1m", "MHS av")
_FAN_KEY = re.compile(r"^fan(\d+)$")


def _rate(ctx: ParseContext, entry: Mapping[str, Any]) -> float | None:
    for key in _RATE_KEYS:
        value = number(entry.get(key))
        if value is not None:
            return to_default(max(value, 0.0), "MH/s", ctx.algo)
    return None


# ---------------------------------------------------------------------------------------------
# Pure parsers.


def parse_hashrate(ctx: ParseContext, summary: object) -> float | None:
    entry = first_entry(summary, "SUMMARY")
    if entry is None:
        raise ValueError("summary has no SUMMARY section")
    return _rate(ctx, entry)


def parse_is_mining(ctx: ParseContext, summary: object) -> bool | None:
    rate = parse_hashrate(ctx, summary)
    return None if rate is None else rate > 0


def _temp(value: object) -> float | None:
    reading = number(value)
    return reading if reading is not None and 0 < reading <= 200 else None


def parse_hashboards(ctx: ParseContext, devs: object, devdetails: object) -> list[HashBoard]:
    rows = entries(devs, "DEVS")
    if not rows and not isinstance(devs, Mapping):
        raise ValueError("devs answer is not an object")
    chips: dict[int, int | None] = {}
    for row in entries(devdetails, "DEVDETAILS") or entries(devdetails, "DEVS"):
        slot = whole(row.get("ID"))
        if slot is not None:
            chips[slot] = whole(row.get("chips-nr"))
    info = ctx.model_info
    per_board = info.chips_per_board if info else None
    boards: dict[int, HashBoard] = {}
    for row in rows:
        slot = whole(row.get("ID"))
        if slot is None or slot < 0 or slot > 63:
            continue
        rate = _rate(ctx, row)
        chip_temps = [t for k in ("tstemp-0", "tstemp-1") if (t := _temp(row.get(k)))]
        alive = row.get("Status", "Alive") == "Alive"
        boards[slot] = board_from(
            {
                "slot": slot,
                "hashrate": rate,
                "temp": _temp(row.get("tstemp-2")),
                "chip_temp": max(chip_temps) if chip_temps else None,
                "chips": chips.get(slot),
                "expected_chips": per_board,
                "missing": False,
                "active": alive and bool(rate),
            }
        )
    expected = info.hashboards if info else None
    for slot in range(expected or 0):
        boards.setdefault(
            slot, board_from({"slot": slot, "expected_chips": per_board, "missing": True})
        )
    return [boards[slot] for slot in sorted(boards)]


def parse_fans(ctx: ParseContext, stats: object) -> list[Fan] | None:
    speeds: dict[int, int | None] = {}
    for item in entries(stats, "STATS"):
        for key, value in item.items():
            m = _FAN_KEY.match(key) if isinstance(key, str) else None
            if m is not None:
                speeds.setdefault(int(m.group(1)), whole(value))
    if not speeds:
        return None
    expected = ctx.model_info.fans if ctx.model_info else None
    slots = sorted(speeds)
    if expected:
        live = [s for s in slots if speeds[s]]
        start = live[0] if live else slots[0]
        slots = list(range(start, start + expected))
    return [Fan(speed=speeds.get(slot) or 0) for slot in slots]


def parse_mac(ctx: ParseContext, setting: object) -> str | None:
    if not isinstance(setting, Mapping):
        raise ValueError("setting answer is not an object")
    return normalize_mac(setting.get("name"))


def parse_fw_ver(ctx: ParseContext, status: object) -> str | None:
    if not isinstance(status, Mapping):
        raise ValueError("status answer is not an object")
    value = status.get("firmware")
    return value.strip() if isinstance(value, str) and value.strip() else None


def selected_level(setting: object) -> int | None:
    """The level of the selected power plan (``powerplans[select].level``)."""
    if not isinstance(setting, Mapping):
        return None
    plans = setting.get("powerplans")
    index = whole(setting.get("select"))
    if not isinstance(plans, list) or index is None or not 0 <= index < len(plans):
        return None
    plan = plans[index]
    return whole(plan.get("level")) if isinstance(plan, Mapping) else None


def plan_index(setting: Mapping[str, Any], level: int) -> int | None:
    """The index of the plan at ``level``; for the low-power level (1) a build's level-2
    plan stands in when it has no level 1."""
    plans = setting.get("powerplans")
    if not isinstance(plans, list):
        return None
    levels = [whole(p.get("level")) if isinstance(p, Mapping) else None for p in plans]
    for wanted in (level, 2) if level == MODE_LEVELS["low"] else (level,):
        if wanted in levels:
            return levels.index(wanted)
    return None


def parse_web_pools(pools: object) -> list[Pool]:
    """``/mcb/pools``: a list of ``{url, user, pass, dragid, ...}`` in priority order."""
    from asic_bridge.config import Pool

    if isinstance(pools, Mapping):
        pools = pools.get("pools", pools.get("data"))
    if not isinstance(pools, list):
        raise ValueError("pools answer is not a list")
    rows = [p for p in pools if isinstance(p, Mapping) and isinstance(p.get("url"), str)]
    rows.sort(key=lambda p: whole(p.get("dragid")) or 0)
    return [
        Pool(url=p["url"], user=str(p.get("user") or ""), password=str(p.get("pass") or "x"))
        for p in rows
        if p["url"].strip()
    ]


def parse_config(ctx: ParseContext, pools: object, setting: object) -> MinerConfig:
    from asic_bridge.config import (
        MinerConfig,
        MiningModeLow,
        MiningModeNormal,
        MiningModeSleep,
        PoolConfig,
        PoolGroup,
    )

    config = MinerConfig(pools=PoolConfig(groups=[PoolGroup(pools=parse_web_pools(pools))]))
    level = selected_level(setting)
    mode = LEVEL_MODES.get(level) if level is not None else None
    if mode == "normal":
        config.mining_mode = MiningModeNormal()
    elif mode == "low":
        config.mining_mode = MiningModeLow()
    elif mode == "sleep":
        config.mining_mode = MiningModeSleep()
    return config


def resolve_model(raw: str | None) -> catalog.ModelInfo | None:
    """``/mcb/status`` ``model`` ("Goldshell-KDMax", "KD-BOX") -> catalog entry."""
    if not raw:
        return None
    for text in (raw, raw.replace("-", " "), raw.replace("-", "")):
        info = catalog.lookup(text, make=MAKE)
        if info is not None and info.make == MAKE:
            return info
    return None


# ---------------------------------------------------------------------------------------------
# The driver.


class GoldshellMiner(CGMinerRPCMiner):
    """A Goldshell miner: BFGMiner RPC for readings, ``/mcb`` web API for settings."""

    make = MAKE
    firmware = "Stock"
    default_capabilities = frozenset(
        {
            Capability.RESTART_BACKEND,
            Capability.STOP_MINING,
            Capability.MINING_MODES,
            Capability.GET_CONFIG,
            Capability.SEND_CONFIG,
        }
    )
    supported_modes = ("normal", "low", "sleep")
    EMPTY_OK = frozenset({"devs", "devdetails"})
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("web:setting",), parse_mac, static=True),
        "fw_ver": FieldSpec(("web:status",), parse_fw_ver, static=True),
        "api_ver": FieldSpec(("rpc:version",), parse_api_ver, static=True),
        "hashrate": FieldSpec(("rpc:summary",), parse_hashrate),
        "hashboards": FieldSpec(("rpc:devs", "rpc:devdetails"), parse_hashboards),
        "fans": FieldSpec(("rpc:stats",), parse_fans),
        "uptime": FieldSpec(("rpc:summary",), parse_uptime),
        "is_mining": FieldSpec(("rpc:summary",), parse_is_mining),
        "errors": FieldSpec(("rpc:devs",), parse_cgminer_errors),
        "pools": FieldSpec(("rpc:pools",), parse_pools),
        "config": FieldSpec(("web:pools", "web:setting"), parse_config),
    }
    _PATHS: ClassVar[dict[str, str]] = {
        "setting": "/mcb/setting",
        "status": "/mcb/status",
        "pools": "/mcb/pools",
    }

    @property
    def web(self) -> HTTPClient:
        port = self.port("http", 80)
        return self._client_for(
            "web", port, lambda: HTTPClient(self.ip, port, auth=TokenAuth(self._login))
        )

    async def _login(self) -> str:
        user = self.credentials.username_or(WEB_USER)
        password = self.credentials.password_or("default_goldshell_password")
        attempts = [(password, "false")]
        if password == DEFAULT_PASSWORD:
            attempts.append((DEFAULT_PASSWORD_CIPHER, "true"))
        for secret, cipher in attempts:
            result = await self.web.get(
                "/user/login", use_auth=False, username=user, password=secret, cipher=cipher
            )
            try:
                answer = result.json() if result.status == 200 else None
            except InvalidResponseError:
                answer = None
            token = answer.get("JWT Token") if isinstance(answer, dict) else None
            if isinstance(token, str) and token:
                return token
        raise AuthenticationError(
            "the web UI refused the login (wrong password?)", ip=self.ip, command="/user/login"
        )

    async def web_json(self, path: str, body: Any = None) -> Any:
        """GET (or PUT ``body``) an ``/mcb`` path with the cached token; JSON answer."""
        if body is None:
            result = await self.web.get(path)
        else:
            result = await self.web.request("PUT", path, json=body)
        if result.status != 200:
            raise CommandError(f"HTTP {result.status}", ip=self.ip, command=path)
        return result.json()

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group != "web":
            return await super()._fetch_group(group, names)
        return await self._fetch_each(names, lambda name: self.web_json(self._PATHS[name]))

    # -------------------------------------------------------------- controls
    async def _select_level(self, level: int) -> None:
        """Read-modify-write ``/mcb/setting``: only ``select`` changes."""
        setting = await self.web_json("/mcb/setting")
        if not isinstance(setting, dict):
            raise InvalidResponseError("setting is not an object", ip=self.ip)
        index = plan_index(setting, level)
        if index is None:
            raise UnsupportedError(f"power plan level {level}", f"this {self.model} firmware")
        if whole(setting.get("select")) == index:
            return
        await self.web_json("/mcb/setting", {**setting, "select": index})
        wanted = selected_level({**setting, "select": index})
        applied = selected_level(await self.web_json("/mcb/setting"))
        self._confirm_applied("power plan level", wanted, applied, "/mcb/setting")

    async def _restart_backend(self) -> bool:
        await self.web_json("/mcb/restart")
        return True

    async def _set_mining(self, on: bool) -> bool:
        await self._select_level(MODE_LEVELS["normal" if on else "sleep"])
        return True

    async def _get_config(self) -> MinerConfig:
        pools, setting = await asyncio.gather(
            self.web_json("/mcb/pools"), self.web_json("/mcb/setting")
        )
        return parse_config(ParseContext(self.algo, self.model_info, self.identity), pools, setting)

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        for part in ("fan_mode", "temperature"):
            if getattr(config, part) != getattr(live, part):
                raise UnsupportedError(f"setting {part}", "Goldshell firmware")
        mode = config.mining_mode.mode if config.mining_mode is not None else None
        if config.mining_mode != live.mining_mode and mode not in MODE_LEVELS:
            raise UnsupportedError(f"mining mode {mode!r}", "Goldshell firmware")
        if config.pools is not None and config.pools != live.pools:
            await self._write_pools([p for g in config.pools.groups for p in g.pools])
        if config.mining_mode != live.mining_mode and mode is not None:
            await self._select_level(MODE_LEVELS[mode])

    async def _write_pools(self, wanted: list[Pool]) -> None:
        if not wanted:
            raise ConfigError("at least one pool is needed")
        if len(wanted) > 3:
            raise ConfigError(f"Goldshell firmware has 3 pool slots, got {len(wanted)}")
        raw = await self.web_json("/mcb/pools")
        current = [p for p in (raw if isinstance(raw, list) else []) if isinstance(p, dict)]
        current.sort(key=lambda p: whole(p.get("dragid")) or 0)
        same = [(p.get("url"), p.get("user")) for p in current] == [(p.url, p.user) for p in wanted]
        if same and all(p.password == "x" for p in wanted):
            return
        # Goldshell keeps pools in insertion order: clear, then add in priority order.
        for row in current:
            await self.web_json(
                "/mcb/delpool",
                {
                    "url": row.get("url"),
                    "user": row.get("user"),
                    "pass": row.get("pass", ""),
                    "dragid": row.get("dragid", 0),
                },
            )
        for pool in wanted:
            await self.web_json(
                "/mcb/newpool", {"url": pool.url, "user": pool.user, "pass": pool.password}
            )
        applied = [(p.url, p.user) for p in parse_web_pools(await self.web_json("/mcb/pools"))]
        self._confirm_applied("pools", [(p.url, p.user) for p in wanted], applied, "/mcb/newpool")


# ---------------------------------------------------------------------------------------------
# Identification.


def _matches(e: Evidence) -> bool:
    text = e.rpc_text
    if "KDAMINER" in text or "INTMINER" in text or "INTCHAINS_QOMO" in text:
        return True  # Goldshell's miner programs ("intminer 5.4.2" on the SC series)
    if "cloud-box" in e.http_body:
        return True
    return "BFGMINER" in text and e.http_status is not None  # Goldshell always has its web UI


async def _build(e: Evidence, creds: Credentials) -> BaseMiner | None:
    version = first_entry(e.rpc_version, "VERSION") or {}
    miner = GoldshellMiner(e.ip, credentials=creds, ports=e.ports)
    status: Any = None
    try:
        result = await miner.web.get(
            "/mcb/status", use_auth=False, timeout=e.limits.identify_timeout
        )
        status = result.json() if result.status == 200 else None
    except APIError:
        status = None
    raw = status.get("model") if isinstance(status, dict) else None
    raw = raw.strip() if isinstance(raw, str) and raw.strip() else None
    info = resolve_model(raw)
    miner.identity = Identity(
        ip=e.ip,
        make=MAKE,
        firmware="Stock",
        model=info.model if info else raw,
        raw_model=raw,
        algo=info.algo if info else "Kadena",
        model_info=info,
        api_ver=str(version["API"]) if version.get("API") else None,
    )
    if isinstance(status, dict):
        ctx = ParseContext(miner.algo, info, miner.identity)
        miner.identity.fw_ver = parse_fw_ver(ctx, status)
    return miner


FAMILIES = [Family("goldshell", _matches, _build)]
