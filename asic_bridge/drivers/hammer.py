"""Hammer D10 and VolcMiner D1: Scrypt miners on the "blackMiner" firmware.

The firmware is a relative of the stock Antminer one: a lighttpd CGI web UI on port 80 behind
HTTP digest auth (realm ``blackMiner Configuration``, user ``root``; Hammer's password is
``root``, VolcMiner's ``ltc@dog``) and a ccminer-based cgminer-style RPC on **port 8359**.
Which of the two makes a box is decided by ``get_system_info.cgi`` ``minertype``: "Hammer D10"
or "VolcMiner D1".

Readings: one batched RPC request (``summary+stats+pools``) plus concurrent CGI GETs on one
kept-alive client.  Hash rates are MH/s (``MHS 5s``, ``chain_rateN``); ``stats`` repeats each
``tempN`` key four times on the wire (PCB and chip sensors at the inlet and the outlet of board
N, in that order).  A plain JSON decoder keeps only the last one, so the RPC answer is decoded
here with duplicates collected into a list: the board temperature is the mean of the PCB
sensors, the chip temperature the hotter chip sensor.

Controls: fault light (``blink.cgi``, ``B000``/``B100``), reboot (``reboot.cgi``),
get/send_config (``get_miner_conf.cgi`` / ``set_miner_conf.cgi``, read-modify-write with every
vendor key kept).  The firmware has no documented sleep mode, power limit or backend restart.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from asic_bridge.catalog import ModelInfo, lookup
from asic_bridge.credentials import Credentials
from asic_bridge.data import Fan, HashBoard, board_from, to_default
from asic_bridge.drivers import Evidence, Family
from asic_bridge.drivers.antminer import (
    decode_miner_conf,
    encode_modern_conf,
    parse_api_ver,
    parse_errors,
    parse_fan_mode,
    parse_fan_percent,
    parse_fault_light_modern,
    parse_fw_ver,
    parse_hostname,
    parse_is_mining_modern,
    parse_mac,
    parse_pools,
)
from asic_bridge.drivers.base import (
    BaseMiner,
    Capability,
    FieldSpec,
    Identity,
    ParseContext,
    normalize_mac,
)
from asic_bridge.drivers.values import number as _num
from asic_bridge.drivers.values import whole as _int
from asic_bridge.errors import (
    APIError,
    AuthenticationError,
    CommandError,
    InvalidResponseError,
    NotAppliedError,
    UnsupportedError,
)
from asic_bridge.transport.http import HTTPClient, digest_auth
from asic_bridge.transport.rpc import check_status, json_object, parse_rpc_payload

if TYPE_CHECKING:
    from asic_bridge.config import MinerConfig

__all__ = [
    "FAMILIES",
    "BlackMiner",
    "HammerMiner",
    "VolcMiner",
    "loads_keeping_duplicates",
    "parse_expected_hashrate",
    "parse_fans",
    "parse_hashboards",
    "parse_hashrate",
    "parse_uptime",
]

RPC_PORT = 8359
WEB_USER = "root"
REALM_MARK = 'realm="blackminer'
_MAX_SLOTS = 16


# =============================================================================== wire decoding
def _collect(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    repeated: set[str] = set()
    for key, value in pairs:
        if key not in out:
            out[key] = value
        elif key in repeated:
            out[key].append(value)
        else:
            out[key] = [out[key], value]
            repeated.add(key)
    return out


def loads_keeping_duplicates(raw: bytes) -> dict[str, Any]:
    """Decode an RPC answer; a key repeated in one object becomes the list of its values.

    Broken JSON falls back to the generic repairs (where repeated keys collapse to the last).
    """
    text = raw.rstrip(b"\x00 \t\r\n").decode("utf-8", "replace")
    try:
        obj = json.loads(text, object_pairs_hook=_collect)
    except ValueError:
        return parse_rpc_payload(raw)
    return json_object(obj)


# =============================================================================== parsers
def _stats_body(stats: Any) -> Mapping[str, Any]:
    if not isinstance(stats, Mapping):
        raise ValueError("stats did not answer a JSON object")
    items = stats.get("STATS")
    if not isinstance(items, list) or not items:
        raise ValueError("no STATS list")
    for item in items[1:] + items[:1]:
        if isinstance(item, Mapping) and ("Elapsed" in item or "ID" in item):
            return item
    last = items[-1]
    if not isinstance(last, Mapping):
        raise ValueError("STATS holds no object")
    return last


def parse_hashrate(ctx: ParseContext, summary: Any) -> float | None:
    """``SUMMARY[0]["MHS 5s"]`` (MH/s, a string on this firmware)."""
    if not isinstance(summary, Mapping):
        raise ValueError("summary did not answer a JSON object")
    items = summary.get("SUMMARY")
    if not isinstance(items, list) or not items or not isinstance(items[0], Mapping):
        raise ValueError("no SUMMARY entry")
    value = _num(items[0].get("MHS 5s"))
    return None if value is None else to_default(value, "MH/s", ctx.algo)


def parse_expected_hashrate(ctx: ParseContext, stats: Any) -> float | None:
    """``total_rateideal`` in ``rate_unit`` (MH when absent), else the model's nominal rate."""
    body = _stats_body(stats)
    value = _num(body.get("total_rateideal"))
    if value is not None:
        unit = body.get("rate_unit")
        unit = unit.strip() if isinstance(unit, str) and unit.strip() else "MH"
        return to_default(value, unit, ctx.algo)
    info = ctx.model_info
    return info.nominal_hashrate if info is not None else None


def parse_uptime(ctx: ParseContext, stats: Any) -> int | None:
    return _int(_stats_body(stats).get("Elapsed"))


def parse_fans(ctx: ParseContext, stats: Any) -> list[Fan]:
    """``fan1..fanN`` with N = ``fan_num`` (else the model's fan count, else the non-zero)."""
    body = _stats_body(stats)
    count = _int(body.get("fan_num"))
    if not count and ctx.model_info is not None:
        count = ctx.model_info.fans
    if count:
        return [Fan(speed=_int(body.get(f"fan{i}"))) for i in range(1, count + 1)]
    speeds = [_int(body.get(f"fan{i}")) for i in range(1, _MAX_SLOTS + 1)]
    return [Fan(speed=s) for s in speeds if s]


def _board_temps(value: Any) -> tuple[float | None, float | None]:
    """(board, chip) temperature from a ``tempN`` key: [pcb, chip, pcb, chip] or one number."""
    values = value if isinstance(value, list) else [value]
    numbers = [_num(v) for v in values]
    if len(numbers) < 2:
        single = numbers[0] if numbers else None
        return (single or None), (single or None)
    pcb = [v for v in numbers[0::2] if v]
    chip = [v for v in numbers[1::2] if v]
    return (sum(pcb) / len(pcb) if pcb else None), (max(chip) if chip else None)


def parse_hashboards(ctx: ParseContext, stats: Any) -> list[HashBoard]:
    """``chain_acnN`` (chips), ``chain_rateN`` (MH/s), ``tempN`` (repeated sensors)."""
    body = _stats_body(stats)
    present = [
        n
        for n in range(1, _MAX_SLOTS + 1)
        if _int(body.get(f"chain_acn{n}"))
        or body.get(f"chain_acs{n}")
        or _num(body.get(f"chain_rate{n}"))
    ]
    info = ctx.model_info
    expected = info.hashboards if info is not None else None
    first = present[0] if present else 1
    slots = sorted(set(present) | set(range(first, first + (expected or 0))))
    per_board = info.chips_per_board if info is not None else None
    boards: list[HashBoard] = []
    for position, n in enumerate(slots):
        rate = _num(body.get(f"chain_rate{n}"))
        chips = _int(body.get(f"chain_acn{n}"))
        temp, chip_temp = _board_temps(body.get(f"temp{n}"))
        boards.append(
            board_from(
                {
                    "slot": position,
                    "hashrate": None if rate is None else to_default(rate, "MH/s", ctx.algo),
                    "temp": temp,
                    "chip_temp": chip_temp,
                    "chips": chips,
                    "expected_chips": per_board,
                    "missing": not chips,
                    "active": bool(rate),
                }
            )
        )
    return boards


# =============================================================================== the driver
def _password(credentials: Credentials, make: str) -> str:
    key = "default_volcminer_password" if make == "VolcMiner" else "default_hammer_password"
    return credentials.password_or(key)


def _web_client(ip: str, port: int, user: str, password: str) -> HTTPClient:
    return HTTPClient(ip, port, auth=digest_auth(user, password), max_connections=2)


class BlackMiner(BaseMiner):
    """Hammer D10 / VolcMiner D1: one firmware, two makes (the subclasses below)."""

    make = "Hammer"
    firmware = "Stock"
    default_algo = "Scrypt"
    rpc_port = RPC_PORT  # ccminer's API port on this firmware
    default_capabilities = frozenset(
        {
            Capability.FAULT_LIGHT,
            Capability.REBOOT,
            Capability.GET_CONFIG,
            Capability.SEND_CONFIG,
            Capability.FAN_CONTROL,
        }
    )
    # bitmain-fan-ctrl / bitmain-fan-pwm as on stock Antminer (real get_miner_conf capture)
    supported_fan_modes = ("normal", "manual")
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("web:get_system_info",), parse_mac, static=True),
        "hostname": FieldSpec(("web:get_system_info",), parse_hostname, static=True),
        "fw_ver": FieldSpec(("rpc:version",), parse_fw_ver, static=True),
        "api_ver": FieldSpec(("rpc:version",), parse_api_ver, static=True),
        "hashrate": FieldSpec(("rpc:summary",), parse_hashrate),
        "expected_hashrate": FieldSpec(("rpc:stats",), parse_expected_hashrate),
        "hashboards": FieldSpec(("rpc:stats",), parse_hashboards),
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

    def __init__(self, ip: str, *, http: HTTPClient | None = None, **kwargs: Any) -> None:
        super().__init__(ip, **kwargs)
        if http is not None:
            self._set_client("web", http.port, http)
        self._live_conf: dict[str, Any] | None = None

    @property
    def web(self) -> HTTPClient:
        port = self.port("http", 80)
        return self._client_for("web", port, lambda: self._new_web(port))

    def _new_web(self, port: int) -> HTTPClient:
        password = _password(self.credentials, self.make)
        return _web_client(self.ip, port, self.credentials.username_or(WEB_USER), password)

    # ------------------------------------------------------------------ sources
    async def _rpc_one(self, command: str, limit: float) -> dict[str, Any]:
        request = json.dumps({"command": command}).encode()
        raw = await self.rpc.send_raw(request, command=command, timeout=limit)
        if not raw:
            raise APIError("closed without an answer", ip=self.ip, command=command)
        try:
            answer = loads_keeping_duplicates(raw)
        except InvalidResponseError as exc:
            raise InvalidResponseError(exc.reason, ip=self.ip, command=command) from None
        check_status(answer, self.ip, command)
        return answer

    async def _rpc_batch(self, names: list[str]) -> dict[str, Any]:
        """One ``a+b+c`` request (repeated keys kept); refused or garbled: one by one."""
        timeout = self.limits.request_timeout
        if len(names) == 1:
            try:
                return {names[0]: await self._rpc_one(names[0], timeout)}
            except APIError as exc:
                return {names[0]: exc}
        joined = "+".join(names)
        try:
            answer = await self._rpc_one(joined, timeout)
        except (CommandError, InvalidResponseError):
            answer = {}
        except APIError as exc:
            return {name: type(exc)(exc.reason, ip=self.ip, command=name) for name in names}
        out: dict[str, Any] = {}
        for name in names:
            part = answer.get(name)
            if isinstance(part, list) and part and isinstance(part[0], dict):
                out[name] = part[0]
        missing = [n for n in names if n not in out]
        if missing:
            results = await asyncio.gather(
                *(self._rpc_one(n, timeout) for n in missing), return_exceptions=True
            )
            for name, result in zip(missing, results, strict=True):
                if isinstance(result, BaseException) and not isinstance(result, Exception):
                    raise result
                out[name] = result
        return out

    async def _web_source(self, name: str) -> dict[str, Any]:
        return (await self.web.get(f"/cgi-bin/{name}.cgi")).json_object()

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group == "rpc":
            return await self._rpc_batch(names)
        if group == "web":
            return await self._fetch_each(names, self._web_source)
        return await super()._fetch_group(group, names)

    # ------------------------------------------------------------------ controls
    async def _set_fault_light(self, on: bool) -> bool:
        answer = (
            await self.web.post("/cgi-bin/blink.cgi", json={"blink": "true" if on else "false"})
        ).json_object()
        expected = "B000" if on else "B100"
        if answer.get("code") != expected:
            raise CommandError(
                f"blink not confirmed (code {answer.get('code')!r})", ip=self.ip, command="blink"
            )
        return True

    async def _reboot(self) -> bool:
        result = await self.web.get("/cgi-bin/reboot.cgi")
        if result.status != 200:
            raise CommandError(
                f"reboot refused (HTTP {result.status})", ip=self.ip, command="reboot"
            )
        return True

    async def _get_config(self) -> MinerConfig:
        self._live_conf = await self._web_source("get_miner_conf")
        return decode_miner_conf(self._live_conf)

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        fw = f"{self.identity.make} {self.firmware}"
        if config.mining_mode != live.mining_mode:
            raise UnsupportedError("changing the mining mode", fw)
        if config.temperature is not None and config.temperature != live.temperature:
            raise UnsupportedError("setting temperature limits", fw)
        if self._live_conf is None:
            await self._get_config()
        assert self._live_conf is not None
        body = encode_modern_conf(config, self._live_conf)
        answer = (await self.web.post("/cgi-bin/set_miner_conf.cgi", json=body)).json_object()
        if answer.get("code") != "M000" and answer.get("stats") != "success":
            raise CommandError(
                f"set_miner_conf refused: {answer.get('msg') or answer.get('code')!r}",
                ip=self.ip,
                command="set_miner_conf",
            )
        applied = await self._get_config()
        if config.pools is not None and applied.pools is not None:
            wanted = [(p.url, p.user) for p in config.pools.first_group]
            have = [(p.url, p.user) for p in applied.pools.first_group]
            if wanted != have:
                raise NotAppliedError(
                    "the miner acknowledged the pools but did not apply them",
                    wanted=wanted,
                    applied=have,
                    ip=self.ip,
                    command="set_miner_conf",
                )


class HammerMiner(BlackMiner):
    make = "Hammer"


class VolcMiner(BlackMiner):
    make = "VolcMiner"


# =============================================================================== identification
def _matches(e: Evidence) -> bool:
    return e.http_status == 401 and REALM_MARK in e.www_authenticate.lower()


def _make_and_model(minertype: str | None) -> tuple[str, str | None, ModelInfo | None]:
    if minertype is None:
        return "Hammer", None, None
    make = "Hammer" if "HAMMER" in minertype.upper() else "VolcMiner"
    info = lookup(minertype, make=make)
    text = minertype.strip()
    if text.lower().startswith(make.lower()):
        text = text[len(make) :].strip()
    return make, (info.model if info is not None else text or None), info


async def _build(e: Evidence, credentials: Credentials) -> BaseMiner | None:
    """Read ``get_system_info.cgi``: Hammer's default password first, then VolcMiner's."""
    port = e.ports.get("http", 80)
    user = credentials.username_or(WEB_USER)
    timeout = e.limits.identify_timeout
    candidates = ["Hammer", "VolcMiner"] if credentials.password is None else ["Hammer"]
    sysinfo: dict[str, Any] | None = None
    notes: list[str] = []
    http: HTTPClient | None = None
    for make in candidates:
        http = _web_client(e.ip, port, user, _password(credentials, make))
        try:
            sysinfo = (
                await http.get("/cgi-bin/get_system_info.cgi", timeout=timeout)
            ).json_object()
            break
        except AuthenticationError as exc:
            notes.append(f"get_system_info: {exc.reason}")
            await http.aclose()
            http = None
        except APIError as exc:
            notes.append(f"get_system_info: {exc.reason}")
            break
    minertype = sysinfo.get("minertype") if sysinfo else None
    make, model, info = _make_and_model(minertype if isinstance(minertype, str) else None)
    identity = Identity(
        ip=e.ip,
        make=make,
        firmware="Stock",
        model=model,
        raw_model=minertype if isinstance(minertype, str) else None,
        algo=info.algo if info is not None else "Scrypt",
        model_info=info,
        mac=normalize_mac(sysinfo.get("macaddr")) if sysinfo else None,
        hostname=(sysinfo.get("hostname") or None) if sysinfo else None,
        extra={"notes": notes},
    )
    cls = VolcMiner if make == "VolcMiner" else HammerMiner
    return cls(e.ip, identity=identity, credentials=credentials, ports=e.ports, http=http)


FAMILIES = [Family("hammer", _matches, _build)]
