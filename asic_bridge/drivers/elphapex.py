"""Elphapex DG1 / DG1+ / DG Home: Scrypt miners with a CGI-only web API.

There is no RPC port: everything is JSON from ``/cgi-bin/<cmd>.cgi`` on port 80 behind HTTP
digest auth (realm ``Daoge ...``, user ``root``).  The shapes follow the Antminer web UI they
were derived from, with Elphapex's own keys:

==================  ==========================================================================
summary             ``STATUS.api_version``; ``SUMMARY[0]``: ``rate_5s``, ``rate_ideal`` in
                    ``rate_unit`` (MH/s), ``elapsed``, ``status[]`` (the firmware's checks)
stats               ``STATS[0].chain[]``: ``rate_real`` (MH/s), ``asic_num``, ``temp_pcb``
                    (degC, 0 = no sensor), ``temp_chip`` (strings in milli-degC, "" = none),
                    ``sn``; ``STATS[0].fan`` (RPM as strings)
pools               ``POOLS[]``: ``index``, ``url``, ``user``, ``status``, ``priority``,
                    ``accepted``, ``rejected``, ``stale``
get_system_info     ``minertype``, ``macaddr``, ``hostname``, ``system_filesystem_version``
                    ("DG1+_SW_V1.0.2"), read at identification
get_blink_status    ``{"blink": bool}``
get_miner_conf      ``pools`` and ``fc-`` prefixed keys (``fc-work-mode``, ``fc-fan-ctrl`` ...)
==================  ==========================================================================

Controls: fault light (``blink.cgi``, ``B000``/``B100``), reboot, get/send_config
(``set_miner_conf.cgi``, read-modify-write keeping every ``fc-`` key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from asic_bridge.catalog import lookup
from asic_bridge.credentials import Credentials
from asic_bridge.data import Fan, HashBoard, PoolMetrics, board_from, to_default
from asic_bridge.drivers import Evidence, Family
from asic_bridge.drivers.antminer import parse_errors, parse_fault_light_modern, readback
from asic_bridge.drivers.base import (
    BaseMiner,
    Capability,
    FieldSpec,
    Identity,
    ParseContext,
    normalize_mac,
)
from asic_bridge.drivers.marafw import parse_pools as _parse_pool_list
from asic_bridge.drivers.values import number as _num
from asic_bridge.drivers.values import percent
from asic_bridge.drivers.values import text as _text
from asic_bridge.drivers.values import whole as _int
from asic_bridge.errors import (
    APIError,
    CommandError,
    ConfigError,
    InvalidResponseError,
    UnsupportedError,
)
from asic_bridge.transport.http import HTTPClient, digest_auth

if TYPE_CHECKING:
    from asic_bridge.config import (
        FanModeImmersion,
        FanModeManual,
        FanModeNormal,
        MinerConfig,
        PoolConfig,
    )

__all__ = [
    "FAMILIES",
    "ElphapexMiner",
    "decode_elphapex_conf",
    "encode_elphapex_conf",
    "parse_api_ver",
    "parse_expected_hashrate",
    "parse_fans",
    "parse_fw_ver",
    "parse_hashboards",
    "parse_hashrate",
    "parse_is_mining",
    "parse_pools",
    "parse_uptime",
]

MAKE = "Elphapex"
WEB_USER = "root"
MODES = {"normal": 0, "sleep": 1, "low": 3}
_EMPTY_SLOT = {"url": "", "user": "", "pass": ""}


def _first(payload: Any, section: str) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise ValueError(f"expected a JSON object with {section}")
    items = payload.get(section)
    if not isinstance(items, list) or not items or not isinstance(items[0], Mapping):
        raise ValueError(f"no {section} entry")
    return items[0]


def _unit(entry: Mapping[str, Any]) -> str:
    unit = entry.get("rate_unit")
    return unit.strip() if isinstance(unit, str) and unit.strip() else "MH/s"


# =============================================================================== parsers
def parse_hashrate(ctx: ParseContext, summary: Any) -> float | None:
    entry = _first(summary, "SUMMARY")
    value = _num(entry.get("rate_5s"))
    return None if value is None else to_default(value, _unit(entry), ctx.algo)


def parse_expected_hashrate(ctx: ParseContext, summary: Any) -> float | None:
    entry = _first(summary, "SUMMARY")
    value = _num(entry.get("rate_ideal"))
    return None if value is None else to_default(value, _unit(entry), ctx.algo)


def parse_uptime(ctx: ParseContext, summary: Any) -> int | None:
    return _int(_first(summary, "SUMMARY").get("elapsed"))


def parse_api_ver(ctx: ParseContext, summary: Any) -> str | None:
    status = summary.get("STATUS") if isinstance(summary, Mapping) else None
    return _text(status.get("api_version")) if isinstance(status, Mapping) else None


def parse_fw_ver(ctx: ParseContext, sysinfo: Any) -> str | None:
    """``DG1+_SW_V1.0.2`` -> ``1.0.2``."""
    text = _text(sysinfo.get("system_filesystem_version")) if isinstance(sysinfo, Mapping) else None
    return None if text is None else text.upper().rsplit("V", 1)[-1] or None


def parse_mac(ctx: ParseContext, sysinfo: Any) -> str | None:
    return normalize_mac(sysinfo.get("macaddr")) if isinstance(sysinfo, Mapping) else None


def parse_hostname(ctx: ParseContext, sysinfo: Any) -> str | None:
    return _text(sysinfo.get("hostname")) if isinstance(sysinfo, Mapping) else None


def _chip_temp(values: Any) -> float | None:
    """Mean of the chip sensors, reported as milli-degC strings ("" = no sensor)."""
    if not isinstance(values, list):
        return None
    readings = [v / 1000 for v in (_num(x) for x in values) if v]
    return sum(readings) / len(readings) if readings else None


def _pcb_temp(values: Any) -> float | None:
    if not isinstance(values, list):
        return None
    readings = [v for v in (_num(x) for x in values) if v]
    return sum(readings) / len(readings) if readings else None


def parse_hashboards(ctx: ParseContext, stats: Any) -> list[HashBoard]:
    entry = _first(stats, "STATS")
    chains = entry.get("chain")
    if not isinstance(chains, list):
        raise ValueError("no chain list in stats")
    unit = _unit(entry)
    info = ctx.model_info
    per_board = info.chips_per_board if info is not None else None
    readings: dict[int, HashBoard] = {}
    for position, chain in enumerate(chains):
        if not isinstance(chain, Mapping):
            continue
        index = _int(chain.get("index"))
        slot = position if index is None or index < 0 else index
        rate = _num(chain.get("rate_real"))
        chips = _int(chain.get("asic_num"))
        readings[slot] = board_from(
            {
                "slot": slot,
                "hashrate": None if rate is None else to_default(rate, unit, ctx.algo),
                "temp": _pcb_temp(chain.get("temp_pcb")),
                "chip_temp": _chip_temp(chain.get("temp_chip")),
                "chips": chips,
                "expected_chips": per_board,
                "serial_number": _text(chain.get("sn")),
                "missing": not chips,
                "active": bool(rate),
            }
        )
    count = max((info.hashboards or 0) if info is not None else 0, max(readings, default=-1) + 1)
    return [
        readings.get(i, board_from({"slot": i, "expected_chips": per_board, "missing": True}))
        for i in range(count)
    ]


def parse_fans(ctx: ParseContext, stats: Any) -> list[Fan]:
    fans = _first(stats, "STATS").get("fan")
    if not isinstance(fans, list):
        raise ValueError("no fan list in stats")
    return [Fan(speed=_int(f)) for f in fans]


def parse_pools(ctx: ParseContext, pools: Any) -> list[PoolMetrics]:
    if not isinstance(pools, Mapping):
        raise ValueError("pools did not answer a JSON object")
    return _parse_pool_list(ctx, pools.get("POOLS"))


def parse_is_mining(ctx: ParseContext, conf: Any) -> bool | None:
    if not isinstance(conf, Mapping):
        raise ValueError("get_miner_conf did not answer a JSON object")
    mode = _int(conf.get("fc-work-mode"))
    return None if mode is None else mode != MODES["sleep"]


# =============================================================================== config codec
def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _fan_setting(conf: Mapping[str, Any]) -> tuple[str | None, int]:
    """The fan mode's name and its manual speed (0-100) from ``fc-fan-ctrl``/``-pwm``: pure,
    so reading the mode (every get_data) builds no config model."""
    manual = _flag(conf.get("fc-fan-ctrl"))
    if manual is None:
        return None, 0
    if manual is False:
        return "normal", 0
    speed = _int(conf.get("fc-fan-pwm"))
    if speed == 0:
        return "immersion", 0
    return "manual", min(max(speed if speed is not None else 100, 0), 100)


def decode_elphapex_conf(conf: Any) -> MinerConfig:
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

    if not isinstance(conf, Mapping):
        raise InvalidResponseError("get_miner_conf did not answer a JSON object")
    pools: PoolConfig | None = None
    raw = conf.get("pools")
    if isinstance(raw, list):
        entries = [
            Pool(
                url=str(p["url"]).strip(),
                user=str(p.get("user") or ""),
                password=str(p.get("pass") or ""),
            )
            for p in raw
            if isinstance(p, Mapping) and str(p.get("url") or "").strip()
        ]
        pools = PoolConfig(groups=[PoolGroup(pools=entries)])
    fan_mode: FanModeNormal | FanModeManual | FanModeImmersion | None = None
    fan_name, fan_speed = _fan_setting(conf)
    if fan_name == "normal":
        fan_mode = FanModeNormal()
    elif fan_name == "immersion":
        fan_mode = FanModeImmersion()
    elif fan_name == "manual":
        fan_mode = FanModeManual(speed=fan_speed)
    names = {code: name for name, code in MODES.items()}
    code = _int(conf.get("fc-work-mode"))
    name = names.get(code) if code is not None else None
    modes = {"normal": MiningModeNormal, "sleep": MiningModeSleep, "low": MiningModeLow}
    mining_mode = modes[name]() if name is not None else None
    return MinerConfig(pools=pools, fan_mode=fan_mode, mining_mode=mining_mode)


def parse_fan_mode(ctx: ParseContext, conf: Any) -> str | None:
    """``fc-fan-ctrl``: false is the firmware's control, true a fixed PWM."""
    if not isinstance(conf, Mapping):
        raise InvalidResponseError("get_miner_conf did not answer a JSON object")
    return _fan_setting(conf)[0]


def parse_fan_percent(ctx: ParseContext, conf: Any) -> int | None:
    """The manual ``fc-fan-pwm`` setting; in auto the firmware reports no duty (the captures
    keep an unused "20"/"80" there), so there is none."""
    if not isinstance(conf, Mapping) or _flag(conf.get("fc-fan-ctrl")) is not True:
        return None
    return percent(conf.get("fc-fan-pwm"))


def encode_elphapex_conf(config: MinerConfig, live: Mapping[str, Any]) -> dict[str, Any]:
    """``set_miner_conf.cgi`` body: the live config with ``config``'s pools and fan mode.

    The work mode is written back as it is (``miner-mode``, the key the script reads).
    """
    from asic_bridge.config import FanModeImmersion, FanModeManual, FanModeNormal

    body = {k: v for k, v in live.items() if k != "fc-work-mode"}
    body["miner-mode"] = _int(live.get("fc-work-mode")) or 0
    if config.pools is not None:
        groups = [g for g in config.pools.groups if g.pools]
        if len(groups) > 1:
            raise ConfigError("Elphapex firmware has one pool group (3 failover slots)")
        pools = groups[0].pools if groups else []
        if not pools:
            raise ConfigError("at least one pool is needed")
        if len(pools) > 3:
            raise ConfigError(f"Elphapex firmware has 3 pool slots, got {len(pools)} pools")
        slots = [{"url": p.url, "user": p.user, "pass": p.password} for p in pools]
        body["pools"] = slots + [dict(_EMPTY_SLOT) for _ in range(3 - len(slots))]
    fan = config.fan_mode
    if isinstance(fan, FanModeManual):
        if fan.speed < 1:  # a 0 PWM reads back as immersion: stopped fans, not a speed
            raise ConfigError("a manual fan speed on Elphapex firmware is 1-100 %")
        body["fc-fan-ctrl"], body["fc-fan-pwm"] = True, str(fan.speed)
    elif isinstance(fan, FanModeImmersion):
        body["fc-fan-ctrl"], body["fc-fan-pwm"] = True, "0"
    elif isinstance(fan, FanModeNormal):
        body["fc-fan-ctrl"] = False
    return body


# =============================================================================== the driver
def _web_client(ip: str, ports: Mapping[str, int], credentials: Credentials) -> HTTPClient:
    password = credentials.password_or("default_elphapex_password")
    user = credentials.username_or(WEB_USER)
    return HTTPClient(
        ip, ports.get("http", 80), auth=digest_auth(user, password), max_connections=2
    )


class ElphapexMiner(BaseMiner):
    """DG1, DG1+, DG Home."""

    make = MAKE
    firmware = "Stock"
    default_algo = "Scrypt"
    default_capabilities = frozenset(
        {
            Capability.FAULT_LIGHT,
            Capability.REBOOT,
            Capability.GET_CONFIG,
            Capability.SEND_CONFIG,
            Capability.FAN_CONTROL,
        }
    )
    supported_fan_modes = ("normal", "manual")  # fc-fan-ctrl / fc-fan-pwm, as stock Antminer
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("web:get_system_info",), parse_mac, static=True),
        "hostname": FieldSpec(("web:get_system_info",), parse_hostname, static=True),
        "fw_ver": FieldSpec(("web:get_system_info",), parse_fw_ver, static=True),
        "api_ver": FieldSpec(("web:summary",), parse_api_ver, static=True),
        "hashrate": FieldSpec(("web:summary",), parse_hashrate),
        "expected_hashrate": FieldSpec(("web:summary",), parse_expected_hashrate),
        "uptime": FieldSpec(("web:summary",), parse_uptime),
        "errors": FieldSpec(("web:summary",), parse_errors),
        "hashboards": FieldSpec(("web:stats",), parse_hashboards),
        "fans": FieldSpec(("web:stats",), parse_fans),
        "pools": FieldSpec(("web:pools",), parse_pools),
        "fault_light": FieldSpec(("web:get_blink_status",), parse_fault_light_modern),
        "is_mining": FieldSpec(("web:get_miner_conf",), parse_is_mining),
        "fan_mode": FieldSpec(("web:get_miner_conf",), parse_fan_mode),
        "fan_percent": FieldSpec(("web:get_miner_conf",), parse_fan_percent),
        "config": FieldSpec(("web:get_miner_conf",), lambda ctx, conf: decode_elphapex_conf(conf)),
    }

    def __init__(self, ip: str, *, http: HTTPClient | None = None, **kwargs: Any) -> None:
        super().__init__(ip, **kwargs)
        if http is not None:
            self._set_client("web", http.port, http)
        self._live_conf: dict[str, Any] | None = None

    @property
    def web(self) -> HTTPClient:
        port = self.port("http", 80)
        return self._client_for(
            "web", port, lambda: _web_client(self.ip, self.ports, self.credentials)
        )

    async def _web_source(self, name: str) -> dict[str, Any]:
        return (await self.web.get(f"/cgi-bin/{name}.cgi")).json_object()

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group != "web":
            return await super()._fetch_group(group, names)
        return await self._fetch_each(names, self._web_source)

    async def _set_fault_light(self, on: bool) -> bool:
        answer = (
            await self.web.post("/cgi-bin/blink.cgi", json={"blink": "true" if on else "false"})
        ).json_object()
        if answer.get("code") != ("B000" if on else "B100"):
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
        return decode_elphapex_conf(self._live_conf)

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        if config.mining_mode != live.mining_mode:
            raise UnsupportedError("changing the mining mode", f"{MAKE} firmware")
        if config.temperature is not None and config.temperature != live.temperature:
            raise UnsupportedError("setting temperature limits", f"{MAKE} firmware")
        if self._live_conf is None:
            await self._get_config()
        assert self._live_conf is not None
        body = encode_elphapex_conf(config, self._live_conf)
        answer = (await self.web.post("/cgi-bin/set_miner_conf.cgi", json=body)).json_object()
        if answer.get("code") != "M000" and answer.get("stats") != "success":
            raise CommandError(
                f"set_miner_conf refused: {answer.get('msg') or answer.get('code')!r}",
                ip=self.ip,
                command="set_miner_conf",
            )
        applied = await self._get_config()
        self._confirm_applied("the config written", *readback(config, applied), "set_miner_conf")


# =============================================================================== identification
def _matches(e: Evidence) -> bool:
    return e.http_status == 401 and 'realm="daoge' in e.www_authenticate.lower()


async def _build(e: Evidence, credentials: Credentials) -> BaseMiner | None:
    """``get_system_info.cgi`` once: model, MAC, hostname, firmware version."""
    http = _web_client(e.ip, e.ports, credentials)
    notes: list[str] = []
    sysinfo: dict[str, Any] = {}
    try:
        sysinfo = (
            await http.get("/cgi-bin/get_system_info.cgi", timeout=e.limits.identify_timeout)
        ).json_object()
    except APIError as exc:
        notes.append(f"get_system_info: {exc.reason}")
    raw_model = _text(sysinfo.get("minertype"))
    info = lookup(raw_model, make=MAKE) if raw_model else None
    identity = Identity(
        ip=e.ip,
        make=MAKE,
        firmware="Stock",
        model=info.model if info is not None else raw_model,
        raw_model=raw_model,
        algo=info.algo if info is not None else "Scrypt",
        model_info=info,
        extra={"notes": notes},
    )
    ctx = ParseContext(identity.algo, info, identity)
    identity.mac = parse_mac(ctx, sysinfo)
    identity.hostname = parse_hostname(ctx, sysinfo)
    identity.fw_ver = parse_fw_ver(ctx, sysinfo)
    return ElphapexMiner(e.ip, identity=identity, credentials=credentials, ports=e.ports, http=http)


FAMILIES = [Family("elphapex", _matches, _build)]
