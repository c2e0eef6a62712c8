"""Hiveon (the Hive OS firmware for Antminers): bmminer RPC on 4028 plus a copy of the stock UI.

How it looks on the wire:

- **RPC on 4028**: the stock bmminer API, but the firmware names itself: ``version`` says
  ``"Type": "Antminer S19jPro Hiveon"`` (``BMMiner`` "4.11.1 rwglr").  ``stats`` carries the
  X19 keys without a ``rate_unit`` (GH/s): chains 1..3 with ``chain_rateN``/``chain_acnN``,
  ``tempN`` = PCB and ``temp2_N`` = chip temperature, fans ``fan1..fan4``; and what stock
  firmware lacks: power (``total_power`` in watts and ``chain_powerN`` per chain on the 2025
  build; a ``chain_power`` text where a build has no total, read only when its unit is W: the
  S9 build of 2019 writes "34.65 (AB)", not watts) and ``chain_voltageN``.  The stock
  Antminer parsers read everything but the power and the voltages, so they are reused.
- **HTTP on 80**: the stock CGI web UI behind digest auth (realm ``antMiner Configuration``,
  user ``root``, settings key ``default_hiveon_password``): ``get_system_info`` (MAC,
  hostname, serial; ``minertype`` names Hiveon too), ``get_miner_conf``/``set_miner_conf``
  (the stock modern JSON: ``miner-mode`` 0 normal / 1 sleep / 3 low), ``summary`` (status
  list = errors), ``get_blink_status``, ``blink`` (the old UI's ``action=startBlink`` form,
  answered with the modern ``B000``/``B100`` codes) and ``reboot``.  One kept-alive client
  with one connection: the digest challenge is answered once.

Controls (X19-era builds, :class:`HiveonModern`): fault light, reboot, stop/resume and the
normal/low/sleep modes (a read-modify-write of ``set_miner_conf``, checked by reading the
config back), get/send config.  Hiveon's power profiles live in Hive OS, not in this UI, so no
power limit; no separate backend restart.  X9-era builds (T9, S9: :class:`HiveonOld`) keep the
old stock UI and are read over RPC only (the T9 reports each board as three chains).

Identification: ``HIVEON`` in the RPC answers, or - with the RPC silent - the stock digest realm
plus ``minertype`` naming Hiveon.  The stock Antminer family skips both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from asic_bridge import settings
from asic_bridge.catalog import ModelInfo, lookup
from asic_bridge.credentials import Credentials
from asic_bridge.data import HashBoard, board_from, to_default
from asic_bridge.drivers import Evidence, Family
from asic_bridge.drivers.antminer import (
    decode_miner_conf,
    encode_modern_conf,
    parse_api_ver,
    parse_errors,
    parse_expected_hashrate,
    parse_fan_mode,
    parse_fans,
    parse_fault_light_modern,
    parse_fw_ver,
    parse_hashboards_old,
    parse_hashrate,
    parse_hostname,
    parse_is_mining_modern,
    parse_mac,
    parse_pools,
    parse_serial,
    parse_uptime,
    pyasic_model_string,
    readback,
    web_generation,
)
from asic_bridge.drivers.base import (
    BaseMiner,
    Capability,
    FieldSpec,
    Identity,
    ParseContext,
    normalize_mac,
)
from asic_bridge.drivers.cgminer import (
    first_entry,
    parse_is_mining,
    parse_pools_config,
)
from asic_bridge.drivers.values import number, percent, whole
from asic_bridge.drivers.values import text as _text
from asic_bridge.errors import (
    APIError,
    CommandError,
    ConfigError,
    UnsupportedError,
)
from asic_bridge.transport.http import HTTPClient, digest_auth

if TYPE_CHECKING:
    from asic_bridge.config import MinerConfig

__all__ = [
    "FAMILIES",
    "HiveonModern",
    "HiveonOld",
    "model_from_type",
    "parse_board_voltages",
    "parse_env_temp_x9",
    "parse_hashboards",
    "parse_hashboards_x9",
    "parse_wattage",
]

MAKE = "AntMiner"
FIRMWARE = "Hive"  # pyasic's MinerFirmware.HIVEON
MARKER = "HIVEON"
WEB_USER = "root"
MODES: tuple[str, ...] = ("normal", "low", "sleep")
POOL_SLOTS = 3
_MAX_CHAINS = 16
#: T9: each of the three boards is three chains in ``stats`` (pyasic's HiveonT9 map).
T9_CHAINS: tuple[tuple[int, ...], ...] = ((2, 9, 10), (3, 11, 12), (4, 13, 14))


# =============================================================================== parsers
def _stats_entry(stats: Any) -> dict[str, Any]:
    """The data entry of RPC ``stats`` (``STATS[1]``; ``STATS[0]`` is the version banner)."""
    if not isinstance(stats, Mapping) or not isinstance(stats.get("STATS"), list):
        raise ValueError("no STATS list in the answer")
    items = [i for i in stats["STATS"] if isinstance(i, dict)]
    for item in items:
        if (
            "Elapsed" in item
            or "total_rateideal" in item
            or any(k.startswith("chain_") for k in item)
        ):
            return item
    raise ValueError("no data entry in STATS")


def parse_fan_percent(ctx: ParseContext, stats: Any) -> int | None:
    """``fan_pwm``: the PWM % Hiveon drives the fans at (28 in the 2025-04-10 capture)."""
    return percent(_stats_entry(stats).get("fan_pwm"))


def parse_wattage(ctx: ParseContext, stats: Any) -> int | None:
    """RPC ``stats`` power: ``total_power`` (W), else the text ``chain_power`` ("1345 W"),
    else the sum of ``chain_powerN``.  None when the build reports no power at all.

    A ``chain_power`` text in another unit is not watts: the S9 build of Nov 2019 reports
    ``"34.65 (AB)"`` (and ``chain_powerN`` 11.55) while hashing 11.8 TH/s, far from the
    ~1200 W such a machine draws (real capture), so neither figure is read then.
    """
    body = _stats_entry(stats)
    total = whole(body.get("total_power"))
    if total is not None:
        return total
    text = body.get("chain_power")
    if isinstance(text, str) and text.strip():
        figure, _, unit = text.strip().partition(" ")
        value = number(figure)
        if unit.strip().upper() not in ("W", ""):
            return None
        if value is not None:
            return round(value)
    chains = [number(body.get(f"chain_power{n}")) for n in range(1, _MAX_CHAINS + 1)]
    readings = [c for c in chains if c is not None]
    return round(sum(readings)) if readings else None


def parse_board_voltages(stats: Any) -> list[float | None]:
    """``chain_voltageN`` of the chains that have chips, in chain order (volts)."""
    body = _stats_entry(stats)
    live = [n for n in range(1, _MAX_CHAINS + 1) if whole(body.get(f"chain_acn{n}"))]
    return [number(body.get(f"chain_voltage{n}")) or None for n in live]


def parse_hashboards(ctx: ParseContext, stats: Any) -> list[HashBoard]:
    """The stock per-chain reading (rate, chips, PCB/chip temperature) plus each chain's voltage."""
    boards = parse_hashboards_old(ctx, stats)
    voltages = parse_board_voltages(stats)
    for board, volts in zip([b for b in boards if not b.missing], voltages, strict=False):
        board.voltage = volts
    return boards


def _mean_nonzero(values: list[float | None]) -> float | None:
    readings = [v for v in values if v]
    return sum(readings) / len(readings) if readings else None


def _t9_layout(body: Mapping[str, Any]) -> bool:
    return any(whole(body.get(f"chain_acn{n}")) for n in (9, 10, 11, 12, 13, 14))


def parse_hashboards_x9(ctx: ParseContext, stats: Any) -> list[HashBoard]:
    """X9-era Hiveon: the T9 reports each board as three chains (2,9,10 / 3,11,12 / 4,13,14);
    a board is their sum (rate, chips) and mean (PCB ``tempN``, chip ``temp2_N``).  Other
    layouts read chain by chain like the X19 builds."""
    body = _stats_entry(stats)
    if not _t9_layout(body):
        return parse_hashboards(ctx, stats)
    per_board = ctx.model_info.chips_per_board if ctx.model_info is not None else None
    boards: list[HashBoard] = []
    for slot, chains in enumerate(T9_CHAINS):
        rates = [number(body.get(f"chain_rate{n}")) for n in chains]
        chips = sum(whole(body.get(f"chain_acn{n}")) or 0 for n in chains)
        known = [r for r in rates if r is not None]
        boards.append(
            board_from(
                {
                    "slot": slot,
                    "expected_chips": per_board,
                    "hashrate": to_default(sum(known), "GH", ctx.algo) if known else None,
                    "chips": chips,
                    "temp": _mean_nonzero([number(body.get(f"temp{n}")) for n in chains]),
                    "chip_temp": _mean_nonzero([number(body.get(f"temp2_{n}")) for n in chains]),
                    "missing": not chips,
                }
            )
        )
    return boards


def parse_env_temp_x9(ctx: ParseContext, stats: Any) -> float | None:
    """X9-era Hiveon: ``temp3_N`` is the board inlet (air) sensor; the mean of the non-zero
    ones, rounded like the firmware's own figures.  (On X19 builds temp3_N repeats the chip
    temperature, so only the old class reads it.)"""
    body = _stats_entry(stats)
    mean = _mean_nonzero([number(body.get(f"temp3_{n}")) for n in range(1, _MAX_CHAINS + 1)])
    return None if mean is None else float(round(mean))


def model_from_type(raw: str) -> tuple[str, ModelInfo | None]:
    """``"Antminer S19jPro Hiveon"`` -> ("S19j Pro", its catalog entry).

    The firmware's name is cut off the way pyasic does (" HIVEON"), then the stock
    normalisation applies; an unknown model keeps the reported name without the prefix.
    """
    text = raw.strip()
    cut = text.upper().find(" " + MARKER)
    if cut >= 0:
        text = (text[:cut] + text[cut + len(MARKER) + 1 :]).strip()
    info = lookup(pyasic_model_string(text), make=MAKE)
    if info is not None:
        return info.model, info
    name = text.split(" (", 1)[0].strip()
    if name.lower().startswith("antminer "):
        name = name[len("antminer ") :].strip()
    return name or raw.strip(), None


# =============================================================================== driver
def _web_client(ip: str, ports: Mapping[str, int], credentials: Credentials) -> HTTPClient:
    password = credentials.password_or("default_hiveon_password")
    user = credentials.username_or(WEB_USER)
    # One connection: requests queue on the kept connection and share one digest answer.
    return HTTPClient(
        ip, ports.get("http", 80), auth=digest_auth(user, password), max_connections=1
    )


class HiveonModern(BaseMiner):
    """Hiveon on X19-era Antminers (S19 family): RPC readings, CGI controls and config."""

    make = MAKE
    firmware = FIRMWARE
    default_capabilities = frozenset(
        {
            Capability.FAULT_LIGHT,
            Capability.REBOOT,
            Capability.STOP_MINING,
            Capability.MINING_MODES,
            Capability.GET_CONFIG,
            Capability.SEND_CONFIG,
            Capability.FAN_CONTROL,
        }
    )
    supported_modes = MODES
    # stock's bitmain-fan-ctrl / bitmain-fan-pwm in set_miner_conf (no immersion mode)
    supported_fan_modes = ("normal", "manual")
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("web:get_system_info",), parse_mac, static=True),
        "serial_number": FieldSpec(("web:get_system_info",), parse_serial, static=True),
        "hostname": FieldSpec(("web:get_system_info",), parse_hostname, static=True),
        "fw_ver": FieldSpec(("rpc:version",), parse_fw_ver, static=True),
        "api_ver": FieldSpec(("rpc:version",), parse_api_ver, static=True),
        "hashrate": FieldSpec(("rpc:summary", "rpc:stats"), parse_hashrate),
        "expected_hashrate": FieldSpec(("rpc:stats",), parse_expected_hashrate),
        "hashboards": FieldSpec(("rpc:stats",), parse_hashboards),
        "fans": FieldSpec(("rpc:stats",), parse_fans),
        "uptime": FieldSpec(("rpc:stats",), parse_uptime),
        "wattage": FieldSpec(("rpc:stats",), parse_wattage),
        "pools": FieldSpec(("rpc:pools",), parse_pools),
        "errors": FieldSpec(("web:summary",), parse_errors),
        "fault_light": FieldSpec(("web:get_blink_status",), parse_fault_light_modern),
        "is_mining": FieldSpec(("web:get_miner_conf",), parse_is_mining_modern),
        "fan_mode": FieldSpec(("web:get_miner_conf",), parse_fan_mode),
        "fan_percent": FieldSpec(("rpc:stats",), parse_fan_percent),
        "config": FieldSpec(("web:get_miner_conf",), lambda ctx, conf: decode_miner_conf(conf)),
    }

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

    # ------------------------------------------------------------------ clients
    @property
    def web(self) -> HTTPClient:
        """The one kept-alive HTTP client (its digest answer is cached inside)."""
        port = self.port("http", 80)
        return self._client_for(
            "web", port, lambda: _web_client(self.ip, self.ports, self.credentials)
        )

    # ------------------------------------------------------------------ data sources
    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group == "rpc":
            return dict(await self.rpc.multicommand(*names))
        if group == "web":
            return await self._fetch_each(names, self._cgi)
        return await super()._fetch_group(group, names)

    async def _cgi(self, name: str) -> dict[str, Any]:
        return (await self.web.get(f"/cgi-bin/{name}.cgi")).json_object()

    # ------------------------------------------------------------------ controls
    async def _set_fault_light(self, on: bool) -> bool:
        result = await self.web.post(
            "/cgi-bin/blink.cgi", data={"action": "startBlink" if on else "stopBlink"}
        )
        answer = result.json_object()
        expected = "B000" if on else "B100"
        if answer.get("code") != expected:
            raise CommandError(
                f"fault light {'on' if on else 'off'} not confirmed (code {answer.get('code')!r})",
                ip=self.ip,
                command="blink",
            )
        return True

    async def _reboot(self) -> bool:
        result = await self.web.get("/cgi-bin/reboot.cgi")
        if result.status != 200:
            raise CommandError(
                f"reboot refused (HTTP {result.status})", ip=self.ip, command="reboot"
            )
        self._live_conf = None
        return True

    async def _get_config(self) -> MinerConfig:
        conf = await self._cgi("get_miner_conf")
        self._live_conf = conf
        return decode_miner_conf(conf)

    async def _set_mining(self, on: bool) -> bool:
        from asic_bridge.config import MinerConfig, MiningModeNormal, MiningModeSleep

        await self.send_config(
            MinerConfig(mining_mode=MiningModeNormal() if on else MiningModeSleep())
        )
        return True

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        if config.mining_mode is not None and config.mining_mode.mode not in MODES:
            raise UnsupportedError(f"mining mode {config.mining_mode.mode!r}", f"{MAKE} Hiveon")
        if config.pools is not None:
            groups = [g for g in config.pools.groups if g.pools]
            if len(groups) > 1 or (groups and len(groups[0].pools) > POOL_SLOTS):
                raise ConfigError(f"Hiveon's web UI has one group of {POOL_SLOTS} pool slots")
        if self._live_conf is None:  # pragma: no cover - send_config always reads first
            raise APIError("live configuration unknown", ip=self.ip, command="set_miner_conf")
        body = encode_modern_conf(config, self._live_conf)
        answer = (await self.web.post("/cgi-bin/set_miner_conf.cgi", json=body)).json_object()
        if answer.get("code") != "M000" and answer.get("stats") != "success":
            raise CommandError(
                f"set_miner_conf refused: {answer.get('msg') or answer.get('code')!r}",
                ip=self.ip,
                command="set_miner_conf",
            )
        await self._check_applied(config)

    async def _check_applied(self, config: MinerConfig) -> None:
        """Read the config back: an acknowledged write is only trusted once it shows."""
        applied = await self._get_config()
        self._confirm_applied("the config written", *readback(config, applied), "set_miner_conf")


def parse_config(ctx: ParseContext, pools: Any) -> MinerConfig:
    """The pool part of the config, from RPC ``pools`` (the only config an old Hiveon shows)."""
    from asic_bridge.config import MinerConfig

    return MinerConfig(pools=parse_pools_config(pools))


class HiveonOld(BaseMiner):
    """Hiveon on X9-era Antminers (T9, S9): readings from the RPC only, as pyasic does.

    Their web UI is the old stock one (a positional form ``set_miner_conf``); writing it the
    modern way could wipe the config, so no web control is offered.  The config is read from
    the RPC ``pools`` (the API never reveals pool passwords).
    """

    make = MAKE
    firmware = FIRMWARE
    default_capabilities = frozenset({Capability.GET_CONFIG})
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("web:get_system_info",), parse_mac, static=True),
        "hostname": FieldSpec(("web:get_system_info",), parse_hostname, static=True),
        "fw_ver": FieldSpec(("rpc:version",), parse_fw_ver, static=True),
        "api_ver": FieldSpec(("rpc:version",), parse_api_ver, static=True),
        "hashrate": FieldSpec(("rpc:summary", "rpc:stats"), parse_hashrate),
        "expected_hashrate": FieldSpec(("rpc:stats",), parse_expected_hashrate),
        "hashboards": FieldSpec(("rpc:stats",), parse_hashboards_x9),
        "env_temp": FieldSpec(("rpc:stats",), parse_env_temp_x9),
        "fans": FieldSpec(("rpc:stats",), parse_fans),
        "uptime": FieldSpec(("rpc:stats",), parse_uptime),
        "wattage": FieldSpec(("rpc:stats",), parse_wattage),
        "pools": FieldSpec(("rpc:pools",), parse_pools),
        "is_mining": FieldSpec(("rpc:summary",), parse_is_mining),
        "config": FieldSpec(("rpc:pools",), parse_config),
    }

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

    @property
    def web(self) -> HTTPClient:
        port = self.port("http", 80)
        return self._client_for(
            "web", port, lambda: _web_client(self.ip, self.ports, self.credentials)
        )

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group == "rpc":
            return dict(await self.rpc.multicommand(*names))
        if group == "web":  # only get_system_info, when identification could not read it
            results = await asyncio.gather(
                *(self.web.get(f"/cgi-bin/{n}.cgi") for n in names), return_exceptions=True
            )
            out: dict[str, Any] = {}
            for name, result in zip(names, results, strict=True):
                if isinstance(result, BaseException) and not isinstance(result, Exception):
                    raise result
                try:
                    out[name] = result if isinstance(result, Exception) else result.json_object()
                except APIError as exc:
                    out[name] = exc
            return out
        return await super()._fetch_group(group, names)

    async def _get_config(self) -> MinerConfig:
        from asic_bridge.config import MinerConfig

        pools = await self.rpc.send("pools")
        return MinerConfig(pools=parse_pools_config(pools))


# =============================================================================== identification
def _version(e: Evidence) -> dict[str, Any] | None:
    return first_entry(e.rpc_version, "VERSION")


def _stock_realm(e: Evidence) -> bool:
    return e.http_status == 401 and 'realm="antminer' in e.www_authenticate.lower()


def _matches(e: Evidence) -> bool:
    """RPC naming Hiveon; or, with the RPC silent, the stock UI's realm (build checks it)."""
    if MARKER in e.rpc_text:
        return True
    return e.rpc_version is None and e.rpc_devdetails is None and _stock_realm(e)


async def _build(e: Evidence, credentials: Credentials) -> BaseMiner | None:
    """One ``get_system_info`` for the static facts (and, RPC silent, for the Hiveon name)."""
    rpc_says = MARKER in e.rpc_text
    http = _web_client(e.ip, e.ports, credentials)
    sysinfo: dict[str, Any] = {}
    notes: list[str] = []
    if e.http_status is not None:
        try:
            sysinfo = (
                await http.get(
                    "/cgi-bin/get_system_info.cgi",
                    timeout=e.limits.identify_timeout,
                )
            ).json_object()
        except APIError as exc:  # a wrong password: the RPC still identifies the miner
            notes.append(f"get_system_info: {exc.reason}")
    minertype = _text(sysinfo.get("minertype"))
    if not rpc_says and MARKER not in (minertype or "").upper():
        await http.aclose()
        return None  # stock firmware (or unreadable): not ours
    version = _version(e) or {}
    vtype = _text(version.get("Type"))
    raw_model = vtype if vtype and MARKER in vtype.upper() else (minertype or vtype)
    model, info = model_from_type(raw_model) if raw_model else (None, None)
    identity = Identity(
        ip=e.ip,
        make=MAKE,
        firmware=FIRMWARE,
        model=model,
        raw_model=raw_model,
        algo=info.algo if info is not None else "SHA256",
        model_info=info,
        mac=normalize_mac(sysinfo.get("macaddr")),
        serial_number=_text(sysinfo.get("serinum")),
        hostname=_text(sysinfo.get("hostname")),
        fw_ver=_text(version.get("CompileTime")),
        api_ver=_text(version.get("API")),
        extra={"notes": notes},
    )
    identity.extra["web"] = generation = web_generation(sysinfo or None, model)
    cls = HiveonOld if generation == "old" else HiveonModern
    return cls(e.ip, identity=identity, credentials=credentials, ports=e.ports, http=http)


FAMILIES = [Family("hiveon", _matches, _build)]
