"""Innosilicon (T3H+, A10X, A11 ...): CGMiner RPC plus the DragonMint-style ``/api`` web API.

The CGMiner RPC on 4028 answers one batched ``summary+stats+pools`` request (everything about
hashing, so a wrong web password costs only the web fields); the web API on port 80 (every
call a ``POST /api/<cmd>`` with ``Authorization: Bearer <jwt>``) adds wall power, the MAC,
error codes and the pool passwords.

Login is ``POST /api/auth`` (form ``username=admin&password=...``) answering
``{"success": true, "jwt": ...}``.  An expired token is not a 401 but a 200 answer
``{"success": false, "token": "expired"}``: the token is renewed once and the call retried.

Field sources:

========================  ==============================================================
hashrate / is_mining      ``summary`` ``MHS 1m`` (MH/s; ``MHS av`` as fallback) / > 0;
                          the Equihash firmware (A9 "innominer a9-1.1.0") writes Sol/s
                          under the same ``MHS`` keys
hashboards                ``stats`` entries with a ``Chain ID``: ``MHS av``, ``Temp``
                          (chip average), ``Temp max``, ``Num active chips``,
                          ``Voltage Avg`` (mV); the A9's per-chain ``MHS av`` is no hash
                          rate (3 chains of ~990 000 against 51 000 Sol/s in total), so it
                          is not reported
wattage                   ``getAll`` ``power`` (W)
errors                    ``getErrorDetail`` ``code`` (non-zero) and ``msg``
uptime / pools            ``summary`` ``Elapsed`` / ``pools``
mac                       ``getAll`` ``mac`` (learned once)
api_ver / fw_ver          ``version`` ``API`` / ``CGMiner``
========================  ==============================================================

The firmware reports its fans only as one duty percentage (``fansSpeed``, ``Fan duty`` per
chain in ``stats``), not RPM, so ``fans`` stays empty rather than inventing speeds; the duty
is ``fan_percent``.  Controls: reboot (``/api/reboot``),
restart_backend (``/api/restartCgMiner``), config through ``/api/pools`` and
``/api/updatePools`` (three slots; a slot left out is sent empty).  ``poweroff`` has no
counterpart to power back on over the API, so stop/resume are not offered; there is no fault
light or power limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from asic_bridge import catalog
from asic_bridge.credentials import Credentials
from asic_bridge.data import HashBoard, MinerErrorData, board_from, to_default
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
    parse_uptime,
)
from asic_bridge.drivers.values import number, percent, whole
from asic_bridge.errors import (
    APIError,
    AuthenticationError,
    CommandError,
    ConfigError,
    InvalidResponseError,
    UnsupportedError,
)
from asic_bridge.transport.http import HTTPClient, HTTPResult, TokenAuth
from asic_bridge.transport.rpc import json_object

if TYPE_CHECKING:
    from asic_bridge.config import MinerConfig, Pool

__all__ = ["FAMILIES", "InnosiliconMiner", "encode_pools", "parse_hashboards"]

MAKE = "Innosilicon"
WEB_USER = "admin"
POOL_SLOTS = 3


def _all(get_all: object) -> Mapping[str, Any]:
    if not isinstance(get_all, Mapping):
        raise ValueError("getAll answer is not an object")
    inner = get_all.get("all", get_all)
    if not isinstance(inner, Mapping):
        raise ValueError("getAll has no 'all' object")
    return inner


# ---------------------------------------------------------------------------------------------
# Pure parsers.


EQUIHASH = "Equihash"


def _rate_unit(ctx: ParseContext) -> str:
    """The unit behind the ``MHS`` keys: Sol/s (H/s) on the Equihash firmware, else MH/s."""
    return "H/s" if ctx.algo == EQUIHASH else "MH/s"


def parse_hashrate(ctx: ParseContext, summary: object) -> float | None:
    entry = first_entry(summary, "SUMMARY")
    if entry is None:
        raise ValueError("summary has no SUMMARY section")
    for key in ("MHS 1m", "MHS 5s", "MHS av"):
        value = number(entry.get(key))
        if value is not None:
            return to_default(max(value, 0.0), _rate_unit(ctx), ctx.algo)
    return None


def parse_is_mining(ctx: ParseContext, summary: object) -> bool | None:
    rate = parse_hashrate(ctx, summary)
    return None if rate is None else rate > 0


def parse_fan_percent(ctx: ParseContext, stats: object) -> int | None:
    """``Fan duty`` (%) of the chain entries, their mean (35 on every chain of the A9
    capture).  No fan write is offered: the API documents none."""
    if not isinstance(stats, Mapping):
        raise ValueError("stats answer is not an object")
    duties = [number(item.get("Fan duty")) for item in entries(stats, "STATS")]
    known = [d for d in duties if d is not None]
    return percent(sum(known) / len(known)) if known else None


def parse_hashboards(ctx: ParseContext, stats: object) -> list[HashBoard]:
    """One board per ``stats`` entry with a ``Chain ID``: ``MHS av``, ``Temp`` (the chips'
    average, reported as the board temperature), ``Temp max``, ``Num active chips``."""
    if not isinstance(stats, Mapping):
        raise ValueError("stats answer is not an object")
    info = ctx.model_info
    per_board = info.chips_per_board if info else None
    boards: dict[int, HashBoard] = {}
    for item in entries(stats, "STATS"):
        slot = whole(item.get("Chain ID"))
        if slot is None or not 0 <= slot < 64:
            continue
        chips = whole(item.get("Num active chips"))
        rate = None if ctx.algo == EQUIHASH else number(item.get("MHS av"))
        temp, hottest = number(item.get("Temp")), number(item.get("Temp max"))
        volts = number(item.get("Voltage Avg"))
        boards[slot] = board_from(
            {
                "slot": slot,
                "hashrate": to_default(max(rate, 0.0), "MH/s", ctx.algo)
                if rate is not None
                else None,
                "temp": temp if temp else None,
                "chip_temp": hottest if hottest else None,
                "chips": chips,
                "expected_chips": per_board,
                "voltage": round(volts / 1000.0, 3) if volts else None,
                "missing": not chips,
                "active": bool(chips) and (bool(rate) or ctx.algo == EQUIHASH),
            }
        )
    for slot in range(info.hashboards if info and info.hashboards else 0):
        boards.setdefault(
            slot, board_from({"slot": slot, "expected_chips": per_board, "missing": True})
        )
    return [boards[slot] for slot in sorted(boards)]


def parse_wattage(ctx: ParseContext, get_all: object) -> int | None:
    value = number(_all(get_all).get("power"))
    return round(value) if value is not None and value >= 0 else None


def parse_mac(ctx: ParseContext, get_all: object) -> str | None:
    return normalize_mac(_all(get_all).get("mac"))


def parse_errors(ctx: ParseContext, detail: object) -> list[MinerErrorData]:
    if not isinstance(detail, Mapping):
        raise ValueError("getErrorDetail answer is not an object")
    code = whole(detail.get("code"))
    if not code:
        return []
    msg = detail.get("msg") or detail.get("message")
    text = str(msg) if isinstance(msg, str) and msg else f"error code {code}"
    return [MinerErrorData(error_code=code, error_message=text)]


def parse_fw_ver(ctx: ParseContext, version: object) -> str | None:
    entry = first_entry(version, "VERSION")
    if entry is None:
        raise ValueError("version has no VERSION section")
    value = entry.get("CGMiner") or entry.get("Miner")
    return str(value) if value else None


def parse_web_pools(pools: object) -> list[Pool]:
    """``/api/pools`` -> pools in slot order (empty slots dropped)."""
    from asic_bridge.config import Pool

    if not isinstance(pools, Mapping) or not isinstance(pools.get("pools"), list):
        raise ValueError("pools answer has no pool list")
    out = []
    for row in pools["pools"]:
        if not isinstance(row, Mapping):
            continue
        url = row.get("url")
        if isinstance(url, str) and url.strip():
            out.append(
                Pool(
                    url=url.strip(),
                    user=str(row.get("user") or ""),
                    password=str(row.get("pass") or "x"),
                )
            )
    return out


def parse_config(ctx: ParseContext, pools: object) -> MinerConfig:
    from asic_bridge.config import MinerConfig, PoolConfig, PoolGroup

    return MinerConfig(pools=PoolConfig(groups=[PoolGroup(pools=parse_web_pools(pools))]))


def encode_pools(pools: list[Pool]) -> dict[str, str]:
    """The ``updatePools`` body: ``Pool1/UserName1/Password1`` ... for all three slots."""
    if not pools:
        raise ConfigError("at least one pool is needed")
    if len(pools) > POOL_SLOTS:
        raise ConfigError(f"Innosilicon firmware has {POOL_SLOTS} pool slots, got {len(pools)}")
    body: dict[str, str] = {}
    for slot in range(POOL_SLOTS):
        pool = pools[slot] if slot < len(pools) else None
        body[f"Pool{slot + 1}"] = pool.url if pool else ""
        body[f"UserName{slot + 1}"] = pool.user if pool else ""
        body[f"Password{slot + 1}"] = pool.password if pool else ""
    return body


def token_expired(result: HTTPResult) -> bool:
    """The firmware's "token expired" answer: HTTP 200 with ``"token": "expired"``."""
    if result.status != 200 or b"expired" not in result.body:
        return False
    try:
        answer = result.json()
    except InvalidResponseError:
        return False
    return isinstance(answer, dict) and answer.get("token") == "expired"


# ---------------------------------------------------------------------------------------------
# The driver.


class InnosiliconMiner(CGMinerRPCMiner):
    """An Innosilicon miner: CGMiner RPC plus the ``/api`` web API."""

    make = MAKE
    firmware = "Stock"
    default_capabilities = frozenset(
        {
            Capability.REBOOT,
            Capability.RESTART_BACKEND,
            Capability.GET_CONFIG,
            Capability.SEND_CONFIG,
        }
    )
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("web:getAll",), parse_mac, static=True),
        "api_ver": FieldSpec(("rpc:version",), parse_api_ver, static=True),
        "fw_ver": FieldSpec(("rpc:version",), parse_fw_ver, static=True),
        "hashrate": FieldSpec(("rpc:summary",), parse_hashrate),
        "hashboards": FieldSpec(("rpc:stats",), parse_hashboards),
        "fan_percent": FieldSpec(("rpc:stats",), parse_fan_percent),
        "wattage": FieldSpec(("web:getAll",), parse_wattage),
        "errors": FieldSpec(("web:getErrorDetail",), parse_errors),
        "uptime": FieldSpec(("rpc:summary",), parse_uptime),
        "is_mining": FieldSpec(("rpc:summary",), parse_is_mining),
        "pools": FieldSpec(("rpc:pools",), parse_pools),
        "config": FieldSpec(("web:pools",), parse_config),
    }

    @property
    def web(self) -> HTTPClient:
        port = self.port("http", 80)
        return self._client_for("web", port, lambda: HTTPClient(self.ip, port, auth=self._auth()))

    def _auth(self) -> TokenAuth:
        return TokenAuth(self._login, is_expired=token_expired)

    async def _login(self) -> str:
        form = {
            "username": self.credentials.username_or(WEB_USER),
            "password": self.credentials.password_or("default_innosilicon_password"),
        }
        result = await self.web.post("/api/auth", data=form, use_auth=False)
        try:
            answer = result.json()
        except InvalidResponseError:
            answer = None
        token = answer.get("jwt") if isinstance(answer, dict) else None
        if result.status != 200 or not isinstance(token, str) or not token:
            raise AuthenticationError(
                "the web API refused the login (wrong password?)", ip=self.ip, command="/api/auth"
            )
        return token

    async def api(self, command: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``POST /api/<command>``; a ``"success": false`` answer raises CommandError."""
        path = f"/api/{command}"
        result = await self.web.post(path, json=dict(body or {}))
        if result.status != 200:
            raise CommandError(f"HTTP {result.status}", ip=self.ip, command=path)
        answer = json_object(result.json(), ip=self.ip, command=path)
        if answer.get("success") is False:
            why = answer.get("msg") or answer.get("message") or "refused"
            raise CommandError(str(why)[:200], ip=self.ip, command=path)
        return answer

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group != "web":
            return await super()._fetch_group(group, names)
        return await self._fetch_each(names, self.api)

    # -------------------------------------------------------------- controls
    async def _reboot(self) -> bool:
        await self.api("reboot")
        return True

    async def _restart_backend(self) -> bool:
        await self.api("restartCgMiner")
        return True

    async def _get_config(self) -> MinerConfig:
        ctx = ParseContext(self.algo, self.model_info, self.identity)
        return parse_config(ctx, await self.api("pools"))

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        for part in ("fan_mode", "temperature", "mining_mode"):
            if getattr(config, part) != getattr(live, part):
                raise UnsupportedError(f"setting {part}", "Innosilicon firmware")
        if config.pools is None or config.pools == live.pools:
            return
        wanted = [p for group in config.pools.groups for p in group.pools]
        current = live.pools.first_group if live.pools is not None else []
        merged = []
        for slot, pool in enumerate(wanted):
            old = current[slot] if slot < len(current) else None
            keep = old is not None and (old.url, old.user) == (pool.url, pool.user)
            if keep and old is not None and pool.password == "x":
                pool = pool.model_copy(update={"password": old.password})  # keep the secret
            merged.append(pool)
        await self.api("updatePools", encode_pools(merged))
        applied = [(p.url, p.user) for p in parse_web_pools(await self.api("pools"))]
        self._confirm_applied(
            "pools", [(p.url, p.user) for p in merged], applied, "/api/updatePools"
        )


# ---------------------------------------------------------------------------------------------
# Identification.


def _matches(e: Evidence) -> bool:
    return "INNOMINER" in e.rpc_text or "DragonMint" in e.http_body


async def _build(e: Evidence, creds: Credentials) -> BaseMiner | None:
    version = first_entry(e.rpc_version, "VERSION") or {}
    miner = InnosiliconMiner(e.ip, credentials=creds, ports=e.ports)
    raw: str | None = None
    try:
        async with asyncio.timeout(e.limits.identify_timeout):
            answer = await miner.api("type")
        value = answer.get("type")
        raw = value.strip() if isinstance(value, str) and value.strip() else None
    except (APIError, TimeoutError):
        raw = None  # wrong password or no web UI: still a miner, model unknown
    if raw is None and "INNOMINER A9" in e.rpc_text:
        raw = "A9"  # the Equihash build names itself ("innominer a9-1.1.0"): its unit differs
    info = catalog.lookup(raw, make=MAKE) if raw else None
    if info is not None and info.make != MAKE:
        info = None
    miner.identity = Identity(
        ip=e.ip,
        make=MAKE,
        firmware="Stock",
        model=info.model if info else raw,
        raw_model=raw,
        algo=info.algo if info else "SHA256",
        model_info=info,
        api_ver=str(version["API"]) if version.get("API") else None,
    )
    if version:
        miner.identity.fw_ver = parse_fw_ver(
            ParseContext(miner.algo, info, miner.identity), e.rpc_version
        )
    return miner


FAMILIES = [Family("innosilicon", _matches, _build)]
