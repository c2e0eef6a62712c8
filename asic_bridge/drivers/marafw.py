"""MaraFW (Marathon's "kaonsu" firmware) on Antminer hardware.

Everything is JSON under ``/kaonsu/v1/<cmd>`` on port 80, behind HTTP digest auth (user
``root``).  The digest realm is the stock Antminer one, so the realm alone cannot tell the two
apart: identification asks ``/kaonsu/v1/brief``, which only MaraFW answers with JSON (stock
firmware answers an HTML 404).  An RPC ``version`` naming kaonsu also identifies it, which
keeps a MaraFW recognisable when the web password is wrong.

One reading is concurrent GETs on one kept-alive client:

==================  ==========================================================================
brief               ``hashrate_realtime`` (TH/s), ``hashrate_ideal`` (GH/s),
                    ``power_consumption_estimated`` (W), ``status`` ("Mining" ...),
                    ``elapsed`` (s)
hashboards          ``hashboards[]``: ``index``, ``hashrate_average`` (GH/s), ``asic_num``,
                    ``temperature_pcb``/``temperature_chip`` (sensor lists), ``serial_number``
fans                ``fans[]``: ``current_speed`` (RPM)
pools               a list: ``index``, ``url``, ``user``, ``status``, ``priority``,
                    ``accepted``, ``rejected``, ``stale``, ``discarded``
locate_miner        ``{"blinking": bool}`` (POST the same to change it)
miner_config        ``mode`` (``work-mode-selector`` Stock/Sleep/Auto/Fixed, ``concorde``
                    power or hash target), ``pools``, ``general-config``, ``advance-config``
overview            ``model``, ``mac``, ``version_firmware`` (read at identification)
network_config      ``hostname`` (read at identification)
==================  ==========================================================================

Controls: fault light (``locate_miner``), reboot / restart backend (POST ``maintenance``
``{"type": "reboot" | "reload"}``), and everything else by rewriting ``miner_config``
read-modify-write: stop (``Sleep``), resume, power limit (``Auto`` + ``PowerTarget``), pools,
fan mode.  Every write is read back before it counts as done.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from asic_bridge.catalog import ModelInfo, lookup
from asic_bridge.credentials import Credentials
from asic_bridge.data import Fan, HashBoard, PoolMetrics, board_from, pool_from, to_default
from asic_bridge.drivers import Evidence, Family
from asic_bridge.drivers.antminer import readback
from asic_bridge.drivers.base import (
    BaseMiner,
    Capability,
    FieldSpec,
    Identity,
    ParseContext,
    normalize_mac,
)
from asic_bridge.drivers.values import number as _num
from asic_bridge.drivers.values import text as _text
from asic_bridge.drivers.values import whole as _int
from asic_bridge.errors import (
    APIError,
    AuthenticationError,
    CommandError,
    ConfigError,
    InvalidResponseError,
    UnsupportedError,
)
from asic_bridge.transport.http import HTTPClient, HTTPResult, digest_auth

if TYPE_CHECKING:
    from asic_bridge.config import (
        FanModeImmersion,
        FanModeManual,
        FanModeNormal,
        MinerConfig,
        MiningModeHashrateTune,
        MiningModeManual,
        MiningModeNormal,
        MiningModePowerTune,
        MiningModeSleep,
        PoolConfig,
    )

__all__ = [
    "FAMILIES",
    "MaraMiner",
    "decode_mara_config",
    "encode_mara_config",
    "parse_expected_hashrate",
    "parse_fans",
    "parse_fault_light",
    "parse_hashboards",
    "parse_hashrate",
    "parse_is_mining",
    "parse_pools",
    "parse_uptime",
    "parse_wattage",
    "parse_wattage_limit",
]

MAKE = "AntMiner"
FIRMWARE = "MaraFW"
WEB_USER = "root"
API = "/kaonsu/v1/"
MAX_POOLS = 3
#: work-mode-selector values and the standard mining modes they stand for.
SELECTORS = {"Stock": "normal", "Sleep": "sleep", "Auto": "auto", "Fixed": "manual"}


# =============================================================================== helpers
def _obj(payload: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise ValueError(f"{what} did not answer a JSON object")
    return payload


def _mean(values: Any) -> float | None:
    """Mean of the non-zero sensor readings (0 = no sensor), None when there are none."""
    if not isinstance(values, list):
        return None
    readings = [v for v in (_num(x) for x in values) if v]
    return sum(readings) / len(readings) if readings else None


# =============================================================================== parsers
def parse_hashrate(ctx: ParseContext, brief: Any) -> float | None:
    """``brief.hashrate_realtime``, in TH/s."""
    value = _num(_obj(brief, "brief").get("hashrate_realtime"))
    return None if value is None else to_default(value, "TH/s", ctx.algo)


def parse_expected_hashrate(ctx: ParseContext, brief: Any) -> float | None:
    """``brief.hashrate_ideal``, in GH/s (unlike the realtime figure)."""
    value = _num(_obj(brief, "brief").get("hashrate_ideal"))
    return None if value is None else to_default(value, "GH/s", ctx.algo)


def parse_wattage(ctx: ParseContext, brief: Any) -> int | None:
    return _int(_obj(brief, "brief").get("power_consumption_estimated"))


def parse_uptime(ctx: ParseContext, brief: Any) -> int | None:
    return _int(_obj(brief, "brief").get("elapsed"))


def parse_is_mining(ctx: ParseContext, brief: Any) -> bool | None:
    status = _text(_obj(brief, "brief").get("status"))
    return None if status is None else status.lower() == "mining"


def parse_hashboards(ctx: ParseContext, payload: Any) -> list[HashBoard]:
    """``hashboards.hashboards[]``; slots the model has but the firmware omits are missing."""
    boards = _obj(payload, "hashboards").get("hashboards")
    if not isinstance(boards, list):
        raise ValueError("no hashboards list")
    info = ctx.model_info
    per_board = info.chips_per_board if info is not None else None
    readings: dict[int, HashBoard] = {}
    for position, hb in enumerate(boards):
        if not isinstance(hb, Mapping):
            continue
        index = _int(hb.get("index"))
        slot = position if index is None or index < 0 else index
        rate = _num(hb.get("hashrate_average"))
        chips = _int(hb.get("asic_num"))
        readings[slot] = board_from(
            {
                "slot": slot,
                "hashrate": None if rate is None else to_default(rate, "GH/s", ctx.algo),
                "temp": _mean(hb.get("temperature_pcb")),
                "chip_temp": _mean(hb.get("temperature_chip")),
                "chips": chips,
                "expected_chips": per_board,
                "serial_number": _text(hb.get("serial_number")),
                "missing": not chips,
                "active": bool(rate),
            }
        )
    count = max((info.hashboards or 0) if info is not None else 0, max(readings, default=-1) + 1)
    return [
        readings.get(i, board_from({"slot": i, "expected_chips": per_board, "missing": True}))
        for i in range(count)
    ]


def parse_fans(ctx: ParseContext, payload: Any) -> list[Fan]:
    fans = _obj(payload, "fans").get("fans")
    if not isinstance(fans, list):
        raise ValueError("no fans list")
    return [Fan(speed=_int(f.get("current_speed"))) for f in fans if isinstance(f, Mapping)]


def parse_fault_light(ctx: ParseContext, payload: Any) -> bool | None:
    value = _obj(payload, "locate_miner").get("blinking")
    return value if isinstance(value, bool) else None


def parse_wattage_limit(ctx: ParseContext, conf: Any) -> int | None:
    """The power target, when the firmware is tuning to one (``Auto`` + ``PowerTarget``)."""
    mode = _obj(conf, "miner_config").get("mode")
    if not isinstance(mode, Mapping) or mode.get("work-mode-selector") != "Auto":
        return None
    concorde = mode.get("concorde")
    if not isinstance(concorde, Mapping) or concorde.get("mode-select") != "PowerTarget":
        return None
    return _int(concorde.get("power-target"))


def parse_pools(ctx: ParseContext, payload: Any) -> list[PoolMetrics]:
    """The pool list; the active pool is the alive one with the best (lowest) priority."""
    if isinstance(payload, Mapping) and isinstance(payload.get("pools"), list):
        payload = payload["pools"]
    if not isinstance(payload, list):
        raise ValueError("pools did not answer a list")
    items = [p for p in payload if isinstance(p, Mapping)]
    alive = [p for p in items if p.get("status") == "Alive"]
    best = min(alive, key=lambda p: _num(p.get("priority")) or 0.0, default=None)
    out: list[PoolMetrics] = []
    for position, item in enumerate(items):
        out.append(
            pool_from(
                {
                    "url": _text(item.get("url")),
                    "user": _text(item.get("user")),
                    "index": _int(item.get("index")) if "index" in item else position,
                    "accepted": _int(item.get("accepted")),
                    "rejected": _int(item.get("rejected")),
                    "get_failures": _int(item.get("stale")),
                    "remote_failures": _int(item.get("discarded")),
                    "active": item is best,
                    "alive": item.get("status") == "Alive" if "status" in item else None,
                }
            )
        )
    return out


def parse_mac(ctx: ParseContext, overview: Any) -> str | None:
    return normalize_mac(_obj(overview, "overview").get("mac"))


def parse_fw_ver(ctx: ParseContext, overview: Any) -> str | None:
    return _text(_obj(overview, "overview").get("version_firmware"))


def parse_hostname(ctx: ParseContext, network: Any) -> str | None:
    return _text(_obj(network, "network_config").get("hostname"))


# =============================================================================== config codec
def decode_mara_config(conf: Any) -> MinerConfig:
    """``miner_config`` -> MinerConfig (an unknown mode leaves ``mining_mode`` unset)."""
    from asic_bridge.config import (
        FanModeImmersion,
        FanModeManual,
        FanModeNormal,
        MinerConfig,
        Pool,
        PoolConfig,
        PoolGroup,
    )

    conf = _obj(conf, "miner_config")
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
    general = conf.get("general-config")
    advance = conf.get("advance-config")
    profile = general.get("environment-profile") if isinstance(general, Mapping) else None
    if profile == "AirCooling":
        override = advance.get("override-fan-control") if isinstance(advance, Mapping) else None
        if override is True and isinstance(advance, Mapping):
            speed = _int(advance.get("fan-fixed-percent"))
            fan_mode = FanModeManual(speed=min(max(speed if speed is not None else 100, 0), 100))
        else:
            fan_mode = FanModeNormal()
    elif isinstance(profile, str) and profile:
        fan_mode = FanModeImmersion()
    return MinerConfig(pools=pools, fan_mode=fan_mode, mining_mode=_decode_mode(conf.get("mode")))


def _decode_mode(
    mode: Any,
) -> (
    MiningModeNormal
    | MiningModeSleep
    | MiningModePowerTune
    | MiningModeHashrateTune
    | MiningModeManual
    | None
):
    from asic_bridge.config import (
        MiningModeHashrateTune,
        MiningModeManual,
        MiningModeNormal,
        MiningModePowerTune,
        MiningModeSleep,
    )

    if not isinstance(mode, Mapping):
        return None
    selector = mode.get("work-mode-selector")
    if selector == "Stock":
        return MiningModeNormal()
    if selector == "Sleep":
        return MiningModeSleep()
    if selector == "Fixed":
        fixed = mode.get("fixed")
        if isinstance(fixed, Mapping):
            return MiningModeManual(
                global_freq=_num(fixed.get("frequency")), global_volt=_num(fixed.get("voltage"))
            )
        return MiningModeManual()
    if selector == "Auto":
        concorde = mode.get("concorde")
        if isinstance(concorde, Mapping):
            if concorde.get("mode-select") == "PowerTarget":
                return MiningModePowerTune(power=_int(concorde.get("power-target")))
            if concorde.get("mode-select") == "Hashrate":
                return MiningModeHashrateTune(hashrate=_num(concorde.get("hash-target")))
    return None


def _encode_mode(config: MinerConfig, mode: dict[str, Any]) -> None:
    from asic_bridge.config import (
        MiningModeHashrateTune,
        MiningModeManual,
        MiningModeNormal,
        MiningModePowerTune,
        MiningModeSleep,
    )

    wanted = config.mining_mode
    if wanted is None:
        return
    if isinstance(wanted, MiningModeNormal):
        mode["work-mode-selector"] = "Stock"
    elif isinstance(wanted, MiningModeSleep):
        mode["work-mode-selector"] = "Sleep"
    elif isinstance(wanted, MiningModePowerTune):
        if wanted.power is None:
            raise ConfigError("a power_tuning mode needs a power target in watts")
        mode["work-mode-selector"] = "Auto"
        concorde = mode.setdefault("concorde", {})
        concorde["mode-select"] = "PowerTarget"
        concorde["power-target"] = wanted.power
    elif isinstance(wanted, MiningModeHashrateTune):
        if wanted.hashrate is None:
            raise ConfigError("a hashrate_tuning mode needs a hash rate target")
        mode["work-mode-selector"] = "Auto"
        concorde = mode.setdefault("concorde", {})
        concorde["mode-select"] = "Hashrate"
        concorde["hash-target"] = wanted.hashrate
    elif isinstance(wanted, MiningModeManual):
        if wanted.global_freq is None or wanted.global_volt is None or wanted.boards:
            raise ConfigError("MaraFW's fixed mode takes one global frequency and voltage")
        mode["work-mode-selector"] = "Fixed"
        mode["fixed"] = {"frequency": str(round(wanted.global_freq)), "voltage": wanted.global_volt}
    else:
        raise UnsupportedError(f"mining mode {wanted.mode!r}", f"{MAKE} {FIRMWARE}")


def encode_mara_config(
    config: MinerConfig, live: Mapping[str, Any], changed: frozenset[str] | None = None
) -> dict[str, Any]:
    """The ``miner_config`` body to POST: ``live`` with the ``changed`` parts of ``config``.

    Every vendor key is kept from the live config; a part not named in ``changed`` (default:
    every part ``config`` sets) is left exactly as the firmware has it.
    """
    from asic_bridge.config import FanModeImmersion, FanModeManual

    if changed is None:
        changed = frozenset(
            name for name in ("pools", "fan_mode", "mining_mode") if getattr(config, name)
        )
    body = copy.deepcopy(dict(live))
    if "pools" in changed and config.pools is not None:
        groups = [g for g in config.pools.groups if g.pools]
        if len(groups) > 1:
            raise ConfigError("MaraFW has one pool group")
        pools = groups[0].pools if groups else []
        if not pools:
            raise ConfigError("at least one pool is needed")
        if len(pools) > MAX_POOLS:
            raise ConfigError(f"MaraFW has {MAX_POOLS} pool slots, got {len(pools)} pools")
        body["pools"] = [{"url": p.url, "user": p.user, "pass": p.password} for p in pools]
    if "fan_mode" in changed and config.fan_mode is not None:
        general = body.setdefault("general-config", {})
        advance = body.setdefault("advance-config", {})
        fan = config.fan_mode
        if isinstance(fan, FanModeImmersion):
            general["environment-profile"] = "OilImmersionCooling"
        else:
            general["environment-profile"] = "AirCooling"
            advance["override-fan-control"] = isinstance(fan, FanModeManual)
            if isinstance(fan, FanModeManual):
                advance["fan-fixed-percent"] = fan.speed
    if "mining_mode" in changed:
        mode = body.get("mode")
        mode = dict(mode) if isinstance(mode, Mapping) else {}
        _encode_mode(config, mode)
        body["mode"] = mode
    return body


# =============================================================================== the driver
def _web_client(ip: str, ports: Mapping[str, int], credentials: Credentials) -> HTTPClient:
    password = credentials.password_or("default_marafw_password")
    user = credentials.username_or(WEB_USER)
    return HTTPClient(ip, ports.get("http", 80), auth=digest_auth(user, password))


def _json(result: HTTPResult) -> Any:
    if result.status != 200:
        raise APIError(f"HTTP {result.status}", ip=result.ip, command=result.path)
    return result.json()


class MaraMiner(BaseMiner):
    """Any Antminer running MaraFW."""

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
    # Every mode miner_config reads back as (Stock, Sleep, Auto with a power or hash target,
    # Fixed), so the reported mode is always one of the options; the target modes need their
    # target (set_power_limit), set_mode alone refuses them with a clear error.
    supported_modes = ("normal", "sleep", "power_tuning", "hashrate_tuning", "manual")
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("web:overview",), parse_mac, static=True),
        "fw_ver": FieldSpec(("web:overview",), parse_fw_ver, static=True),
        "hostname": FieldSpec(("web:network_config",), parse_hostname, static=True),
        "hashrate": FieldSpec(("web:brief",), parse_hashrate),
        "expected_hashrate": FieldSpec(("web:brief",), parse_expected_hashrate),
        "wattage": FieldSpec(("web:brief",), parse_wattage),
        "uptime": FieldSpec(("web:brief",), parse_uptime),
        "is_mining": FieldSpec(("web:brief",), parse_is_mining),
        "hashboards": FieldSpec(("web:hashboards",), parse_hashboards),
        "fans": FieldSpec(("web:fans",), parse_fans),
        "fault_light": FieldSpec(("web:locate_miner",), parse_fault_light),
        "wattage_limit": FieldSpec(("web:miner_config",), parse_wattage_limit),
        "pools": FieldSpec(("web:pools",), parse_pools),
        "config": FieldSpec(("web:miner_config",), lambda ctx, conf: decode_mara_config(conf)),
    }

    def __init__(self, ip: str, *, http: HTTPClient | None = None, **kwargs: Any) -> None:
        super().__init__(ip, **kwargs)
        if http is not None:
            self._set_client("web", http.port, http)

    @property
    def web(self) -> HTTPClient:
        """One kept-alive client; the digest challenge is answered once and reused."""
        port = self.port("http", 80)
        return self._client_for(
            "web", port, lambda: _web_client(self.ip, self.ports, self.credentials)
        )

    # ------------------------------------------------------------------ transport
    async def command(self, name: str, body: Mapping[str, Any] | None = None) -> Any:
        """GET ``/kaonsu/v1/<name>``, or POST ``body`` as JSON; the decoded answer."""
        if body is None:
            result = await self.web.get(API + name)
        else:
            result = await self.web.post(API + name, json=dict(body))
        return _json(result)

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group != "web":
            return await super()._fetch_group(group, names)
        return await self._fetch_each(names, self.command)

    def _ctx(self) -> ParseContext:
        return ParseContext(self.algo, self.model_info, self.identity)

    # ------------------------------------------------------------------ controls
    async def _set_fault_light(self, on: bool) -> bool:
        answer = await self.command("locate_miner", {"blinking": on})
        if parse_fault_light(self._ctx(), answer) is not on:
            raise CommandError(
                f"locate_miner did not confirm blinking={on}", ip=self.ip, command="locate_miner"
            )
        return True

    async def _maintenance(self, kind: str) -> bool:
        await self.command("maintenance", {"type": kind})
        return True

    async def _reboot(self) -> bool:
        return await self._maintenance("reboot")

    async def _restart_backend(self) -> bool:
        return await self._maintenance("reload")

    async def _live_conf(self) -> dict[str, Any]:
        conf = await self.command("miner_config")
        if not isinstance(conf, dict):
            raise InvalidResponseError(
                "miner_config did not answer a JSON object", ip=self.ip, command="miner_config"
            )
        return conf

    async def _get_config(self) -> MinerConfig:
        return decode_mara_config(await self._live_conf())

    async def _write(self, config: MinerConfig, changed: frozenset[str]) -> None:
        """Rewrite miner_config from the live one and read it back."""
        from asic_bridge.config import MinerConfig

        live = await self._live_conf()
        body = encode_mara_config(config, live, changed)
        await self.command("miner_config", body)
        applied = decode_mara_config(await self._live_conf())
        written = MinerConfig(**{name: getattr(config, name) for name in changed})
        self._confirm_applied("miner_config", *readback(written, applied), "miner_config")
        if "mining_mode" in changed:  # same mode, maybe another target (a clamped power target)
            self._confirm_applied(
                "miner_config mode", config.mining_mode, applied.mining_mode, "miner_config"
            )

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        if config.temperature is not None and config.temperature != live.temperature:
            raise UnsupportedError("setting temperature limits", f"{MAKE} {FIRMWARE}")
        changed = frozenset(
            name
            for name in ("pools", "fan_mode", "mining_mode")
            if getattr(config, name) is not None and getattr(config, name) != getattr(live, name)
        )
        if changed:
            await self._write(config, changed)

    async def _set_mining(self, on: bool) -> bool:
        from asic_bridge.config import MinerConfig, MiningModeNormal, MiningModeSleep

        async with self._lock:
            live = await self._live_conf()
            mode = live.get("mode") if isinstance(live.get("mode"), Mapping) else {}
            if not on:
                target: MinerConfig = MinerConfig(mining_mode=MiningModeSleep())
            else:
                # Back to tuning when a target is configured, else stock clocks.
                concorde = mode.get("concorde") if isinstance(mode, Mapping) else None
                tuned = _decode_mode({"work-mode-selector": "Auto", "concorde": concorde})
                target = MinerConfig(mining_mode=tuned or MiningModeNormal())
            await self._write(target, frozenset({"mining_mode"}))
        return True

    async def _set_power_limit(self, wattage: int) -> bool:
        from asic_bridge.config import MinerConfig, MiningModePowerTune

        async with self._lock:
            config = MinerConfig(mining_mode=MiningModePowerTune(power=wattage))
            await self._write(config, frozenset({"mining_mode"}))
        return True


# =============================================================================== identification
def _kaonsu(e: Evidence) -> bool:
    return "KAONSU" in e.rpc_text or "MARAFW" in e.rpc_text


def _matches(e: Evidence) -> bool:
    """RPC naming kaonsu, or the Antminer digest realm (then ``build`` checks the API).

    MaraFW's RPC names kaonsu; a host whose RPC answers without it (stock bmminer, Hiveon)
    is not MaraFW, so the extra digest request to ``brief`` is only spent when RPC is silent.
    """
    if _kaonsu(e):
        return True
    if e.rpc_version is not None:
        return False
    return e.http_status == 401 and 'realm="antminer' in e.www_authenticate.lower()


def _model(raw: str | None) -> tuple[str | None, ModelInfo | None]:
    if raw is None:
        return None, None
    info = lookup(raw, make=MAKE)
    text = raw.strip()
    if text.lower().startswith("antminer "):
        text = text[len("antminer ") :]
    return (info.model if info is not None else text), info


async def _build(e: Evidence, credentials: Credentials) -> BaseMiner | None:
    """Ask ``brief``: JSON there means MaraFW; then ``overview``/``network_config`` for facts."""
    http = _web_client(e.ip, e.ports, credentials)
    timeout = e.limits.identify_timeout
    notes: list[str] = []
    overview: Mapping[str, Any] = {}
    network: Mapping[str, Any] = {}
    try:
        brief = _json(await http.get(API + "brief", timeout=timeout))
        if not isinstance(brief, Mapping):
            raise InvalidResponseError("brief is not an object")
    except AuthenticationError as exc:
        if not _kaonsu(e):
            await http.aclose()
            return None  # could be stock firmware with another password: not ours to claim
        notes.append(f"brief: {exc.reason}")
    except APIError:
        await http.aclose()
        return None  # stock Antminer: no kaonsu API
    else:
        answers = await asyncio.gather(
            http.get(API + "overview", timeout=timeout),
            http.get(API + "network_config", timeout=timeout),
            return_exceptions=True,
        )
        parsed: list[Mapping[str, Any]] = []
        for name, answer in zip(("overview", "network_config"), answers, strict=True):
            try:
                if isinstance(answer, BaseException):
                    raise answer
                value = _json(answer)
                parsed.append(value if isinstance(value, Mapping) else {})
            except APIError as exc:
                notes.append(f"{name}: {exc.reason}")
                parsed.append({})
        overview, network = parsed
    raw_model = _text(overview.get("model"))
    model, info = _model(raw_model)
    identity = Identity(
        ip=e.ip,
        make=MAKE,
        firmware=FIRMWARE,
        model=model,
        raw_model=raw_model,
        algo=info.algo if info is not None else "SHA256",
        model_info=info,
        mac=normalize_mac(overview.get("mac")),
        fw_ver=_text(overview.get("version_firmware")),
        hostname=_text(network.get("hostname")),
        extra={"notes": notes},
    )
    return MaraMiner(e.ip, identity=identity, credentials=credentials, ports=e.ports, http=http)


FAMILIES = [Family("marafw", _matches, _build)]
