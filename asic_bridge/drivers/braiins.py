"""Braiins OS: the legacy BOSminer (BOS+ before 23.03) and the current BOS+ (BOSer, gRPC API).

Both lines answer the CGMiner-style RPC on 4028 with BOSminer's extensions (``fans``,
``temps``, ``tunerstatus``, ``pause``/``resume``) and say so in ``version``: the legacy
``{"BOSminer": "0.2.0-..."}``, the current ``{"BOSer": "boser-buildroot 0.1.0-..."}``.

**Legacy BOSminer** (S9, X17 on BOS+ <= 22.x): readings from one batched
``summary+devs+devdetails+temps+fans+tunerstatus+pools`` request; MAC and firmware release from
LuCI on 80 (form login ``luci_username``/``luci_password``, session cookie); hostname and fault
light from the GraphQL API on 80 (``/graphql``, BOS+ 21.09 on; ``auth.login`` sets a
``session_id`` cookie), over SSH on older releases (no ``/graphql``), so a poll opens no SSH
session and a scan never imports asyncssh (~0.1 s of CPU); configuration over SSH.  The
configuration is ``/etc/bosminer.toml``: it is read, changed in memory (unknown keys kept),
written back through ``tee`` with the file as stdin (no value is ever part of a command line)
and applied with ``/etc/init.d/bosminer restart``.

**Current BOS+** (S19/S21 and the Braiins Mini Miner on BOS+ >= 23.03): the public gRPC API on
50051 (``braiins.bos.v1``), one kept-alive HTTP/2 connection per miner; ``Login`` answers a
token (response header ``authorization``, and ``token`` in newer releases) sent as the
``authorization`` metadata of every call and renewed on UNAUTHENTICATED.  The RPC still gives
the hashrate, uptime and tuner errors.

Why gRPC rather than the REST API: REST (``/api/v1/...`` on 80) only exists from BOS+ 25.07;
gRPC serves every BOS+ since 23.03, and pyasic speaks it too.  ``h2`` (pure Python) carries
it; the few messages used are declared here as protobuf field tables (no generated code).
"""

from __future__ import annotations

import asyncio
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from asic_bridge import catalog, settings
from asic_bridge.catalog import ModelInfo
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
from asic_bridge.drivers.cgminer import (
    CGMinerRPCMiner,
    entries,
    first_entry,
    parse_api_ver,
    parse_pools,
    parse_uptime,
)
from asic_bridge.drivers.firmware import UPLOAD_TIMEOUT, FirmwareFile, is_tar, multipart, require
from asic_bridge.drivers.values import number, percent, whole
from asic_bridge.errors import (
    APIError,
    AuthenticationError,
    CommandError,
    ConfigError,
    InvalidResponseError,
    UnsupportedError,
)
from asic_bridge.transport.grpc import (
    F,
    GRPCAuthError,
    GRPCClient,
    Schema,
    decode_message,
    encode_message,
)
from asic_bridge.transport.http import HTTPClient

if TYPE_CHECKING:
    from asic_bridge.config import (
        FanMode,
        MinerConfig,
        PoolConfig,
        TemperatureConfig,
    )

__all__ = [
    "FAMILIES",
    "BOSMiner",
    "BOSer",
    "dump_toml",
    "parse_bosminer_toml",
    "toml_from_config",
]

MAKE_BY_VENDOR = {"Bitmain": "AntMiner", "Braiins": "Braiins"}
FIRMWARE = "BOS+"
USER = "root"
GRPC_PORT = 50051
SSH_PORT = 22
CONFIG_PATH = "/etc/bosminer.toml"
LED_PATH = "/sys/class/leds/Red LED/delay_off"
LED_BLINK = "50"
"""The red LED's ``delay_off`` while the locate blink runs (the trigger is a 50 ms timer)."""
GRAPHQL_PATH = "/graphql"
GRAPHQL_LOGIN = (
    "mutation ($username: String!, $password: String!) "
    "{ auth { login(username: $username, password: $password) { ... on VoidResult { void } } } }"
)
GRAPHQL_SYSTEM = "{ bos { hostname faultLight } }"
"""What the legacy line reads per poll without SSH (the fields asic-rs reads on BOS+ 21.09+)."""

# ---------------------------------------------------------------------------------------------
# RPC parsers (both lines).


def _chains(payload: object, section: str) -> list[dict[str, Any]]:
    """Per-chain entries ordered by ``ID`` (S9: 6-8, X19: 1-3)."""
    items = entries(payload, section)
    return sorted(items, key=lambda item: whole(item.get("ID")) or 0)


def parse_hashrate(ctx: ParseContext, summary: object) -> float | None:
    """``MHS 1m`` (MH/s), else ``MHS 5s``/``MHS av``."""
    entry = first_entry(summary, "SUMMARY")
    if entry is None:
        raise ValueError("summary has no SUMMARY section")
    for key in ("MHS 1m", "MHS 5s", "MHS av"):
        value = number(entry.get(key))
        if value is not None:
            return to_default(max(value, 0.0), "MH/s", ctx.algo)
    return None


def parse_expected_hashrate(ctx: ParseContext, devs: object) -> float | None:
    """Sum of the chains' ``Nominal MHS`` (what the tuned chips should do)."""
    values = [v for d in _chains(devs, "DEVS") if (v := number(d.get("Nominal MHS")))]
    return to_default(sum(values), "MH/s", ctx.algo) if values else None


def parse_rpc_hashboards(
    ctx: ParseContext, devs: object, devdetails: object, temps: object
) -> list[HashBoard]:
    """Boards from ``devs`` (rate), ``devdetails`` (chips) and ``temps`` (Board/Chip degC)."""
    info = ctx.model_info
    per_board = info.chips_per_board if info is not None else None
    rates = {whole(d.get("ID")): d for d in _chains(devs, "DEVS")}
    details = {whole(d.get("ID")): d for d in _chains(devdetails, "DEVDETAILS")}
    temperatures = {whole(t.get("ID")): t for t in _chains(temps, "TEMPS")}
    ids = sorted(i for i in {*rates, *details, *temperatures} if i is not None)
    if not ids and not isinstance(devs, Mapping):
        raise ValueError("devs answer is not an object")
    boards: list[HashBoard] = []
    for slot, chain in enumerate(ids):
        dev, det, tmp = rates.get(chain, {}), details.get(chain, {}), temperatures.get(chain, {})
        rate = number(dev.get("MHS 1m", dev.get("MHS 5s")))
        chips = whole(det.get("Chips"))
        board_temp, chip_temp = number(tmp.get("Board")), number(tmp.get("Chip"))
        boards.append(
            board_from(
                {
                    "slot": slot,
                    "hashrate": to_default(rate, "MH/s", ctx.algo) if rate is not None else None,
                    "temp": board_temp if board_temp else None,
                    "chip_temp": chip_temp if chip_temp else None,
                    "chips": chips,
                    "expected_chips": per_board,
                    "missing": not chips,
                    "active": bool(rate),
                    "voltage": number(det.get("Voltage")),
                }
            )
        )
    expected = info.hashboards if info is not None else None
    while expected and len(boards) < expected:
        boards.append(
            board_from({"slot": len(boards), "expected_chips": per_board, "missing": True})
        )
    return boards


def parse_rpc_fan_percent(ctx: ParseContext, fans: object) -> int | None:
    """BOSminer's ``fans`` ``Speed``: the PWM % it drives (100 in the 20.09 capture), the
    mean over the fans."""
    speeds = [number(item.get("Speed")) for item in entries(fans, "FANS")]
    known = [v for v in speeds if v is not None]
    return percent(sum(known) / len(known)) if known else None


def parse_rpc_fans(ctx: ParseContext, fans: object) -> list[Fan]:
    items = entries(fans, "FANS")
    if not isinstance(fans, Mapping):
        raise ValueError("fans answer is not an object")
    return [Fan(speed=whole(item.get("RPM"))) for item in items]


def _tuner(tunerstatus: object) -> dict[str, Any]:
    entry = first_entry(tunerstatus, "TUNERSTATUS")
    if entry is None:
        raise ValueError("tunerstatus has no TUNERSTATUS section")
    return entry


def parse_wattage(ctx: ParseContext, tunerstatus: object) -> int | None:
    return whole(_tuner(tunerstatus).get("ApproximateMinerPowerConsumption"))


def parse_wattage_limit(ctx: ParseContext, tunerstatus: object) -> int | None:
    return whole(_tuner(tunerstatus).get("PowerLimit"))


_HEALTHY = ("stable", "testing performance profile", "tuning individual chips", "tuning")


def parse_errors(ctx: ParseContext, tunerstatus: object) -> list[MinerErrorData]:
    """A tuner chain whose status is not a normal tuning stage is an error."""
    chains = _tuner(tunerstatus).get("TunerChainStatus") or []
    if not isinstance(chains, list):
        return []
    valid = [c for c in chains if isinstance(c, dict)]
    valid.sort(key=lambda c: whole(c.get("HashchainIndex")) or 0)
    out = []
    for slot, chain in enumerate(valid):
        status = chain.get("Status")
        if not isinstance(status, str) or status.strip().lower().startswith(_HEALTHY):
            continue
        text = status.split(" {")[0].strip()
        out.append(MinerErrorData(error_message=f"Slot {slot}: {text}"))
    return out


def parse_rpc_is_mining(ctx: ParseContext, devs: object) -> bool | None:
    chains = _chains(devs, "DEVS")
    if not isinstance(devs, Mapping):
        raise ValueError("devs answer is not an object")
    rates = [number(d.get("MHS 5s")) for d in chains]
    known = [r for r in rates if r is not None]
    return any(r > 0 for r in known) if known else None


# ---------------------------------------------------------------------------------------------
# Legacy: LuCI and SSH parsers.


def parse_net_conf(ctx: ParseContext, net_conf: object) -> str | None:
    """``admin/network/iface_status/lan`` -> ``[{"macaddr": ...}]``."""
    items = net_conf if isinstance(net_conf, list) else [net_conf]
    for item in items:
        if isinstance(item, Mapping):
            mac = normalize_mac(item.get("macaddr"))
            if mac:
                return mac
    raise ValueError("iface_status has no macaddr")


def release_of(version: object) -> str | None:
    """``2021-10-27-0-9f5b4e5b-21.09-plus`` -> ``21.09`` (the release users know)."""
    if not isinstance(version, str):
        return None
    parts = version.strip().split("-")
    if len(parts) >= 6 and "." in parts[5]:
        return parts[5]
    return version.strip() or None


def parse_bos_info(ctx: ParseContext, bos_info: object) -> str | None:
    if not isinstance(bos_info, Mapping):
        raise ValueError("bos/info answer is not an object")
    return release_of(bos_info.get("version"))


def parse_ssh_text(ctx: ParseContext, result: object) -> str | None:
    """The hostname: GraphQL's ``bos`` object, or the stdout of a successful command."""
    if isinstance(result, Mapping):
        name = result.get("hostname")
        if not isinstance(name, str):
            raise ValueError("bos.hostname is not a string")
        return name.strip() or None
    if not isinstance(result, tuple) or len(result) != 3:
        raise ValueError("no command result")
    status, out, _ = result
    if status != 0:
        raise ValueError(f"command failed with exit status {status}")
    text = str(out).strip()
    return text or None


def parse_led(ctx: ParseContext, result: object) -> bool | None:
    """GraphQL's ``bos.faultLight``; over SSH, the locate blink runs when the red LED's
    ``delay_off`` reads 50 (no file: off)."""
    if isinstance(result, Mapping):
        light = result.get("faultLight")
        if not isinstance(light, bool):
            raise ValueError("bos.faultLight is not a boolean")
        return light
    if not isinstance(result, tuple) or len(result) != 3:
        raise ValueError("no command result")
    status, out, _ = result
    return status == 0 and str(out).strip() == LED_BLINK


# --- bosminer.toml ----------------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON escapes are valid TOML basic-string escapes
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_scalar(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    return json.dumps(str(value))


def _is_table_array(value: Any) -> bool:
    return (
        isinstance(value, list) and bool(value) and all(isinstance(item, Mapping) for item in value)
    )


def _dump_table(data: Mapping[str, Any], prefix: str, lines: list[str]) -> None:
    for name, value in data.items():
        if not isinstance(value, Mapping) and not _is_table_array(value):
            lines.append(f"{_key(name)} = {_scalar(value)}")
    for name, value in data.items():
        path = f"{prefix}.{_key(name)}" if prefix else _key(name)
        if isinstance(value, Mapping):
            lines.append("")
            lines.append(f"[{path}]")
            _dump_table(value, path, lines)
        elif _is_table_array(value):
            for item in value:
                lines.append("")
                lines.append(f"[[{path}]]")
                _dump_table(item, path, lines)


def dump_toml(data: Mapping[str, Any]) -> str:
    """TOML for the subset bosminer.toml uses: tables, arrays of tables, scalars, lists."""
    lines: list[str] = []
    _dump_table(data, "", lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def parse_bosminer_toml(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidResponseError(f"bosminer.toml is not valid TOML: {exc}") from None


def config_from_toml(doc: Mapping[str, Any]) -> MinerConfig:
    """MinerConfig from a bosminer.toml document (format 1.x and 2.x)."""
    from asic_bridge.config import (
        FanModeImmersion,
        FanModeManual,
        FanModeNormal,
        MinerConfig,
        MiningModeHashrateTune,
        MiningModeNormal,
        MiningModePowerTune,
        Pool,
        PoolConfig,
        PoolGroup,
        TemperatureConfig,
    )

    groups = []
    for group in doc.get("group") or []:
        if not isinstance(group, Mapping):
            continue
        pools = [
            Pool(
                url=str(p["url"]), user=str(p.get("user", "")), password=str(p.get("password", ""))
            )
            for p in group.get("pool") or []
            if isinstance(p, Mapping) and p.get("url")
        ]
        quota = whole(group.get("quota"))
        groups.append(
            PoolGroup(
                pools=pools, quota=max(1, quota or 1), name=str(group.get("name", "")) or None
            )
        )
    config = MinerConfig(pools=PoolConfig(groups=groups))
    tuning = doc.get("autotuning")
    if isinstance(tuning, Mapping):
        mode = str(tuning.get("mode", "power_target"))
        if tuning.get("enabled", True) is False:
            config.mining_mode = MiningModeNormal()
        elif mode == "hashrate_target":
            config.mining_mode = MiningModeHashrateTune(
                hashrate=number(tuning.get("hashrate_target"))
            )
        else:
            power = whole(tuning.get("power_target", tuning.get("psu_power_limit")))
            config.mining_mode = MiningModePowerTune(power=power)
    temp = doc.get("temp_control")
    if isinstance(temp, Mapping):
        config.temperature = TemperatureConfig(
            target=number(temp.get("target_temp")),
            hot=number(temp.get("hot_temp")),
            danger=number(temp.get("dangerous_temp")),
        )
        if str(temp.get("mode", "")).lower() == "disabled":
            config.fan_mode = FanModeImmersion()
    fans = doc.get("fan_control")
    if isinstance(fans, Mapping) and config.fan_mode is None:
        speed, min_fans = whole(fans.get("speed")), whole(fans.get("min_fans"))
        manual = isinstance(temp, Mapping) and str(temp.get("mode", "")).lower() == "manual"
        if manual and speed is not None:
            config.fan_mode = FanModeManual(speed=speed, minimum_fans=max(0, min_fans or 0))
        else:
            config.fan_mode = FanModeNormal(minimum_fans=max(0, min_fans if min_fans else 1))
    return config


def toml_from_config(config: MinerConfig, live: Mapping[str, Any]) -> dict[str, Any]:
    """``live`` (the parsed file) with the parts ``config`` sets replaced; all else kept."""
    from asic_bridge.config import (
        FanModeImmersion,
        FanModeManual,
        FanModeNormal,
        MiningModeHashrateTune,
        MiningModeNormal,
        MiningModePowerTune,
    )

    doc: dict[str, Any] = json.loads(json.dumps(live, default=str))
    if config.pools is not None:
        old_groups = [g for g in doc.get("group") or [] if isinstance(g, Mapping)]
        groups = []
        for index, group in enumerate(config.pools.groups):
            base = dict(old_groups[index]) if index < len(old_groups) else {}
            base["name"] = group.name or base.get("name") or f"Group {index}"
            base["quota"] = group.quota
            base["pool"] = [
                {"url": p.url, "user": p.user, "password": p.password} for p in group.pools
            ]
            groups.append(base)
        doc["group"] = groups
    mode = config.mining_mode
    tuning: dict[str, Any] = dict(doc.get("autotuning") or {})
    if isinstance(mode, MiningModePowerTune):
        tuning.update(enabled=True, mode="power_target")
        if mode.power is not None:
            tuning["power_target"] = mode.power
            tuning.pop("psu_power_limit", None)
        doc["autotuning"] = tuning
    elif isinstance(mode, MiningModeHashrateTune):
        tuning.update(enabled=True, mode="hashrate_target")
        if mode.hashrate is not None:
            tuning["hashrate_target"] = mode.hashrate
        doc["autotuning"] = tuning
    elif isinstance(mode, MiningModeNormal):
        tuning["enabled"] = False
        doc["autotuning"] = tuning
    temps: dict[str, Any] = dict(doc.get("temp_control") or {})
    if config.temperature is not None:
        for key, value in (
            ("target_temp", config.temperature.target),
            ("hot_temp", config.temperature.hot),
            ("dangerous_temp", config.temperature.danger),
        ):
            if value is not None:
                temps[key] = float(value)
    fans: dict[str, Any] = dict(doc.get("fan_control") or {})
    if isinstance(config.fan_mode, FanModeManual):
        temps["mode"] = "manual"
        fans.update(speed=config.fan_mode.speed, min_fans=config.fan_mode.minimum_fans)
    elif isinstance(config.fan_mode, FanModeNormal):
        temps["mode"] = "auto"
        fans["min_fans"] = config.fan_mode.minimum_fans
        fans.pop("speed", None)
    elif isinstance(config.fan_mode, FanModeImmersion):
        temps["mode"] = "disabled"
    if temps:
        doc["temp_control"] = temps
    if fans:
        doc["fan_control"] = fans
    return doc


# ---------------------------------------------------------------------------------------------
# gRPC messages (braiins.bos.v1; field numbers from the public bos-plus-api protos).

POWER: Schema = {"watt": F(1, "uint")}
TEMPERATURE: Schema = {"degree_c": F(1, "double")}
GIGA: Schema = {"gigahash_per_second": F(1, "double")}
TERA: Schema = {"terahash_per_second": F(1, "double")}
REAL_HASHRATE: Schema = {
    "last_5s": F(1, "message", GIGA),
    "last_15s": F(2, "message", GIGA),
    "last_30s": F(3, "message", GIGA),
    "last_1m": F(4, "message", GIGA),
    "last_5m": F(5, "message", GIGA),
    "last_15m": F(6, "message", GIGA),
}
WORK_SOLVER_STATS: Schema = {
    "real_hashrate": F(1, "message", REAL_HASHRATE),
    "nominal_hashrate": F(2, "message", GIGA),
    "error_hashrate": F(3, "message", {"megahash_per_second": F(1, "double")}),  # MH/s
    "found_blocks": F(4, "uint"),
    "best_share": F(5, "uint"),
}
TEMPERATURE_SENSOR: Schema = {
    "id": F(1, "uint"),
    "location": F(2, "enum"),
    "temperature": F(3, "message", TEMPERATURE),
}
HASHBOARD: Schema = {
    "id": F(1, "string"),
    "enabled": F(2, "bool"),
    "chips_count": F(3, "uint", wrapped=True),
    "current_voltage": F(4, "message", {"volt": F(1, "double")}),
    "current_frequency": F(5, "message", {"hertz": F(1, "double")}),
    "highest_chip_temp": F(6, "message", TEMPERATURE_SENSOR),
    "board_temp": F(7, "message", TEMPERATURE),
    "stats": F(8, "message", WORK_SOLVER_STATS),
    "model": F(9, "string"),
    "lowest_inlet_temp": F(10, "message", TEMPERATURE),
    "highest_outlet_temp": F(11, "message", TEMPERATURE),
    "serial_number": F(12, "string"),
}
HASHBOARDS_RESPONSE: Schema = {"hashboards": F(1, "message", HASHBOARD, repeated=True)}
MINER_DETAILS_RESPONSE: Schema = {
    "uid": F(1, "string"),
    "miner_identity": F(
        2,
        "message",
        {
            "brand": F(1, "enum"),
            "model": F(2, "enum"),
            "name": F(3, "string"),
            "miner_model": F(4, "string"),
        },
    ),
    "platform": F(3, "enum"),
    "bos_mode": F(4, "enum"),
    "bos_version": F(
        5, "message", {"current": F(1, "string"), "major": F(2, "string"), "bos_plus": F(3, "bool")}
    ),
    "hostname": F(6, "string"),
    "mac_address": F(7, "string"),
    "system_uptime": F(8, "uint"),
    "sticker_hashrate": F(9, "message", GIGA),
    "bosminer_uptime_s": F(10, "uint"),
    "system_uptime_s": F(11, "uint"),
    "status": F(12, "enum"),
    "kernel_version": F(13, "string"),
    "psu_info": F(14, "message", {"serial_number": F(3, "string"), "model_name": F(4, "string")}),
    "control_board_soc_family": F(15, "enum"),
    "serial_number": F(16, "string"),
}
MINER_STATUS_NORMAL = 2
MINER_STATUS_NAMES = {1: "not started", 2: "normal", 3: "paused", 4: "suspended", 5: "restricted"}
POOL_STATS: Schema = {
    "accepted_shares": F(1, "uint"),
    "rejected_shares": F(2, "uint"),
    "stale_shares": F(3, "uint"),
    "last_difficulty": F(4, "uint"),
    "best_share": F(5, "uint"),
    "generated_work": F(6, "uint"),
}
MINER_STATS_RESPONSE: Schema = {
    "pool_stats": F(1, "message", POOL_STATS),
    "miner_stats": F(2, "message", WORK_SOLVER_STATS),
    "power_stats": F(
        3,
        "message",
        {
            "approximated_consumption": F(1, "message", POWER),
            "efficiency": F(2, "message", {"joule_per_terahash": F(1, "double")}),
        },
    ),
}
COOLING_STATE_RESPONSE: Schema = {
    "fans": F(
        1,
        "message",
        {"position": F(1, "uint"), "rpm": F(2, "uint"), "target_speed_ratio": F(3, "double")},
        repeated=True,
    ),
    "highest_temperature": F(2, "message", TEMPERATURE_SENSOR),
}
QUOTA: Schema = {"value": F(1, "uint")}
POOL: Schema = {
    "uid": F(1, "string"),
    "url": F(2, "string"),
    "user": F(3, "string"),
    "enabled": F(4, "bool"),
    "alive": F(5, "bool"),
    "active": F(6, "bool"),
    "stats": F(7, "message", POOL_STATS),
}
POOL_GROUPS_RESPONSE: Schema = {
    "pool_groups": F(
        1,
        "message",
        {
            "name": F(1, "string"),
            "quota": F(2, "message", QUOTA),
            "fixed_share_ratio": F(3, "message", {"value": F(1, "double")}),
            "pools": F(4, "message", POOL, repeated=True),
        },
        repeated=True,
    )
}
PERFORMANCE_MODE: Schema = {
    "manual_mode": F(1, "message", {}),
    "tuner_mode": F(
        2,
        "message",
        {
            "power_target": F(1, "message", {"power_target": F(1, "message", POWER)}),
            "hashrate_target": F(2, "message", {"hashrate_target": F(1, "message", TERA)}),
        },
    ),
}
LOCATE: Schema = {"enabled": F(1, "bool")}
SET_LOCATE_REQUEST: Schema = {"enable": F(1, "bool")}
LOGIN_REQUEST: Schema = {"username": F(1, "string"), "password": F(2, "string")}
LOGIN_RESPONSE: Schema = {"token": F(1, "string"), "timeout_s": F(2, "uint")}
SAVE_AND_APPLY = 2
SAVE_AND_FORCE_APPLY = 3
SET_POWER_TARGET_REQUEST: Schema = {
    "save_action": F(1, "enum"),
    "power_target": F(2, "message", POWER),
}
SET_POWER_TARGET_RESPONSE: Schema = {"power_target": F(1, "message", POWER)}
SET_HASHRATE_TARGET_REQUEST: Schema = {
    "save_action": F(1, "enum"),
    "hashrate_target": F(2, "message", TERA),
}
POOL_CONFIGURATION: Schema = {
    "uid": F(1, "string"),
    "url": F(2, "string"),
    "user": F(3, "string"),
    "password": F(4, "string"),
    "enabled": F(5, "bool"),
}
POOL_GROUP_CONFIGURATION: Schema = {
    "uid": F(1, "string"),
    "name": F(2, "string"),
    "quota": F(3, "message", QUOTA),
    "fixed_share_ratio": F(4, "message", {"value": F(1, "double")}),
    "pools": F(5, "message", POOL_CONFIGURATION, repeated=True),
}
SET_POOL_GROUPS_REQUEST: Schema = {
    "save_action": F(1, "enum"),
    "pool_groups": F(2, "message", POOL_GROUP_CONFIGURATION, repeated=True),
}
SET_POOL_GROUPS_RESPONSE: Schema = {
    "pool_groups": F(1, "message", POOL_GROUP_CONFIGURATION, repeated=True)
}
TUNER_MODE_POWER, TUNER_MODE_HASHRATE = 1, 2
# bos-plus-api proto/bos/v1/cooling.proto: the cooling modes (CoolingAutoMode,
# CoolingManualMode, CoolingImmersionMode), as GetMinerConfiguration reports them and
# SetCoolingMode takes them.
COOLING_AUTO: Schema = {
    "target_temperature": F(1, "message", TEMPERATURE),
    "hot_temperature": F(2, "message", TEMPERATURE),
    "dangerous_temperature": F(3, "message", TEMPERATURE),
    "min_fan_speed": F(4, "uint", optional=True),
    "minimum_required_fans": F(6, "uint", optional=True),
}
COOLING_MANUAL: Schema = {
    "fan_speed_ratio": F(1, "double", optional=True),
    "hot_temperature": F(2, "message", TEMPERATURE),
    "dangerous_temperature": F(3, "message", TEMPERATURE),
    "target_temperature": F(4, "message", TEMPERATURE),
    "minimum_required_fans": F(5, "uint", optional=True),
}
COOLING_IMMERSION: Schema = {
    "hot_temperature": F(1, "message", TEMPERATURE),
    "dangerous_temperature": F(2, "message", TEMPERATURE),
    "target_temperature": F(3, "message", TEMPERATURE),
}
SET_COOLING_MODE_REQUEST: Schema = {
    "save_action": F(1, "enum"),
    "auto": F(2, "message", COOLING_AUTO),
    "manual": F(3, "message", COOLING_MANUAL),
    "immersion": F(4, "message", COOLING_IMMERSION),
}
SET_COOLING_MODE_RESPONSE: Schema = {
    "auto": F(1, "message", COOLING_AUTO),
    "manual": F(2, "message", COOLING_MANUAL),
    "immersion": F(3, "message", COOLING_IMMERSION),
}
MINER_CONFIGURATION_RESPONSE: Schema = {
    "pool_groups": F(1, "message", POOL_GROUP_CONFIGURATION, repeated=True),
    "temperature": F(
        2,
        "message",
        {
            "auto": F(2, "message", COOLING_AUTO),
            "manual": F(3, "message", COOLING_MANUAL),
            "disabled": F(4, "message", {}),
            "immersion": F(5, "message", COOLING_IMMERSION),
        },
    ),
    "tuner": F(
        3,
        "message",
        {
            "enabled": F(1, "bool"),
            "tuner_mode": F(2, "enum"),
            "power_target": F(3, "message", POWER),
            "hashrate_target": F(4, "message", TERA),
        },
    ),
}
CONSTRAINTS_RESPONSE: Schema = {
    "tuner_constraints": F(
        1,
        "message",
        {
            "power_target": F(
                1,
                "message",
                {"default": F(1, "message", POWER), "min": F(2, "message", POWER),
                 "max": F(3, "message", POWER)},
            ),
        },
    )
}  # fmt: skip
EMPTY: Schema = {}
# bos-plus-api proto/bos/v1/upgrade.proto: UpgradeService/SystemUpgrade is client-streaming,
# the first message the metadata, the others chunks of the image.
SYSTEM_UPGRADE_METADATA: Schema = {
    "size": F(1, "uint"),
    "hash": F(2, "string"),
    "discard_settings": F(3, "bool"),
    "disable_cleanup": F(4, "bool"),
}
SYSTEM_UPGRADE_REQUEST: Schema = {
    "metadata": F(1, "message", SYSTEM_UPGRADE_METADATA),
    "data": F(2, "bytes"),
}
SYSTEM_UPGRADE_RESPONSE: Schema = {"successful": F(1, "bool")}
UPGRADE_CHUNK = 256 * 1024
"""Bytes of image per stream message, well under gRPC's 4 MiB default message limit."""
PAUSE_RESPONSE: Schema = {"already_paused": F(1, "bool")}
RESUME_RESPONSE: Schema = {"already_mining": F(1, "bool")}


def _svc(service: str, method: str) -> str:
    return f"/braiins.bos.v1.{service}/{method}"


# name -> (path, response schema): the read calls a poll may make.
GRPC_READS: dict[str, tuple[str, Schema]] = {
    "details": (_svc("MinerService", "GetMinerDetails"), MINER_DETAILS_RESPONSE),
    "stats": (_svc("MinerService", "GetMinerStats"), MINER_STATS_RESPONSE),
    "hashboards": (_svc("MinerService", "GetHashboards"), HASHBOARDS_RESPONSE),
    "cooling": (_svc("CoolingService", "GetCoolingState"), COOLING_STATE_RESPONSE),
    "pools": (_svc("PoolService", "GetPoolGroups"), POOL_GROUPS_RESPONSE),
    "performance": (_svc("PerformanceService", "GetActivePerformanceMode"), PERFORMANCE_MODE),
    "locate": (_svc("ActionsService", "GetLocateDeviceStatus"), LOCATE),
    "configuration": (
        _svc("ConfigurationService", "GetMinerConfiguration"),
        MINER_CONFIGURATION_RESPONSE,
    ),
}


def _msg(payload: object, what: str) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise ValueError(f"{what} answer is not a message")
    return payload


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def parse_grpc_mac(ctx: ParseContext, details: object) -> str | None:
    return normalize_mac(_msg(details, "GetMinerDetails").get("mac_address"))


def parse_grpc_hostname(ctx: ParseContext, details: object) -> str | None:
    value = _msg(details, "GetMinerDetails").get("hostname")
    return str(value) if value else None


def parse_grpc_serial(ctx: ParseContext, details: object) -> str | None:
    value = _msg(details, "GetMinerDetails").get("serial_number")
    return str(value) if value else None


def parse_grpc_psu_serial(ctx: ParseContext, details: object) -> str | None:
    value = _get(_msg(details, "GetMinerDetails"), "psu_info", "serial_number")
    return str(value) if value else None


def parse_grpc_fw_ver(ctx: ParseContext, details: object) -> str | None:
    return release_of(_get(_msg(details, "GetMinerDetails"), "bos_version", "current"))


def parse_grpc_expected_hashrate(ctx: ParseContext, details: object) -> float | None:
    value = number(
        _get(_msg(details, "GetMinerDetails"), "sticker_hashrate", "gigahash_per_second")
    )
    return to_default(value, "GH/s", ctx.algo) if value else None


def parse_grpc_is_mining(ctx: ParseContext, details: object, summary: object) -> bool | None:
    """The miner status (normal = mining; paused, suspended ... = not), else the hashrate."""
    status = _msg(details, "GetMinerDetails").get("status")
    if isinstance(status, int) and status:
        return status == MINER_STATUS_NORMAL
    rate = parse_hashrate(ctx, summary)
    return None if rate is None else rate > 0


def parse_grpc_hashboards(ctx: ParseContext, hashboards: object) -> list[HashBoard]:
    info = ctx.model_info
    per_board = info.chips_per_board if info is not None else None
    items = _msg(hashboards, "GetHashboards").get("hashboards") or []

    def order(board: Mapping[str, Any]) -> tuple[int, str]:
        ident = str(board.get("id", ""))
        return (int(ident), "") if ident.isdigit() else (1 << 30, ident)

    boards: list[HashBoard] = []
    for slot, board in enumerate(sorted(items, key=order)):
        rate = number(_get(board, "stats", "real_hashrate", "last_5s", "gigahash_per_second"))
        chips = whole(board.get("chips_count"))
        board_temp = number(_get(board, "board_temp", "degree_c"))
        chip_temp = number(_get(board, "highest_chip_temp", "temperature", "degree_c"))
        enabled = bool(board.get("enabled", False))
        serial = board.get("serial_number")
        boards.append(
            board_from(
                {
                    "slot": slot,
                    "hashrate": to_default(rate or 0.0, "GH/s", ctx.algo) if enabled else None,
                    "temp": board_temp if board_temp else None,
                    "chip_temp": chip_temp if chip_temp else None,
                    "inlet_temp": number(_get(board, "lowest_inlet_temp", "degree_c")),
                    "outlet_temp": number(_get(board, "highest_outlet_temp", "degree_c")),
                    "chips": chips,
                    "expected_chips": per_board,
                    "serial_number": str(serial) if serial else None,
                    "missing": False,
                    "active": enabled and bool(rate),
                    "voltage": number(_get(board, "current_voltage", "volt")),
                }
            )
        )
    expected = info.hashboards if info is not None else None
    while expected and len(boards) < expected:
        boards.append(
            board_from({"slot": len(boards), "expected_chips": per_board, "missing": True})
        )
    return boards


def parse_grpc_wattage(ctx: ParseContext, stats: object) -> int | None:
    return whole(_get(_msg(stats, "GetMinerStats"), "power_stats", "approximated_consumption",
                       "watt"))  # fmt: skip


def parse_grpc_wattage_limit(ctx: ParseContext, performance: object) -> int | None:
    mode = _msg(performance, "GetActivePerformanceMode")
    return whole(_get(mode, "tuner_mode", "power_target", "power_target", "watt"))


def parse_grpc_fans(ctx: ParseContext, cooling: object) -> list[Fan]:
    fans = _msg(cooling, "GetCoolingState").get("fans") or []
    ordered = sorted(enumerate(fans), key=lambda item: whole(item[1].get("position")) or item[0])
    return [Fan(speed=whole(fan.get("rpm")) or 0) for _, fan in ordered]


def parse_grpc_fault_light(ctx: ParseContext, locate: object) -> bool:
    return bool(_msg(locate, "GetLocateDeviceStatus").get("enabled", False))


def parse_grpc_pools(ctx: ParseContext, groups: object) -> list[PoolMetrics]:
    out: list[PoolMetrics] = []
    for group in _msg(groups, "GetPoolGroups").get("pool_groups") or []:
        for pool in group.get("pools") or []:
            stats = pool.get("stats") or {}
            out.append(
                pool_from(
                    {
                        "url": str(pool.get("url")) if pool.get("url") else None,
                        "user": str(pool.get("user", "")),
                        "index": len(out),
                        "accepted": whole(stats.get("accepted_shares")) or 0,
                        "rejected": whole(stats.get("rejected_shares")) or 0,
                        "get_failures": 0,
                        "remote_failures": 0,
                        "active": bool(pool.get("active", False)),
                        "alive": bool(pool.get("alive", False)),
                    }
                )
            )
    return out


def parse_grpc_power_constraints(constraints: object) -> tuple[int, int] | None:
    """(min, max) watts of ``GetConstraints`` ``tuner_constraints.power_target``."""
    target = _get(_msg(constraints, "GetConstraints"), "tuner_constraints", "power_target")
    low, high = whole(_get(target, "min", "watt")), whole(_get(target, "max", "watt"))
    return (low, high) if low and high and low <= high else None


def config_from_grpc(configuration: Mapping[str, Any]) -> MinerConfig:
    from asic_bridge.config import (
        FanModeImmersion,
        MinerConfig,
        MiningModeHashrateTune,
        MiningModeNormal,
        MiningModePowerTune,
        Pool,
        PoolConfig,
        PoolGroup,
        TemperatureConfig,
    )

    groups = []
    for group in configuration.get("pool_groups") or []:
        pools = [
            Pool(url=str(p["url"]), user=str(p.get("user", "")),
                 password=str(p.get("password", "")))
            for p in group.get("pools") or []
            if p.get("url")
        ]  # fmt: skip
        quota = whole(_get(group, "quota", "value"))
        groups.append(
            PoolGroup(pools=pools, quota=max(1, quota or 1), name=group.get("name") or None)
        )
    config = MinerConfig(pools=PoolConfig(groups=groups))
    tuner = configuration.get("tuner") or {}
    if tuner.get("enabled") is False:
        config.mining_mode = MiningModeNormal()
    elif tuner.get("tuner_mode") == TUNER_MODE_HASHRATE:
        config.mining_mode = MiningModeHashrateTune(
            hashrate=number(_get(tuner, "hashrate_target", "terahash_per_second"))
        )
    elif tuner:
        config.mining_mode = MiningModePowerTune(power=whole(_get(tuner, "power_target", "watt")))
    temp = configuration.get("temperature") or {}
    for name in ("auto", "manual", "immersion"):
        if isinstance(temp.get(name), Mapping):
            mode = temp[name]
            config.temperature = TemperatureConfig(
                target=number(_get(mode, "target_temperature", "degree_c")),
                hot=number(_get(mode, "hot_temperature", "degree_c")),
                danger=number(_get(mode, "dangerous_temperature", "degree_c")),
            )
            config.fan_mode = _grpc_fan_mode(name, mode)
    if "disabled" in temp:
        config.fan_mode = FanModeImmersion()
    return config


def _grpc_fan_mode(name: str, mode: Mapping[str, Any]) -> FanMode:
    """One cooling mode as a FanMode; minimums only where the message carries them."""
    from asic_bridge.config import FanModeImmersion, FanModeManual, FanModeNormal

    if name == "immersion":
        return FanModeImmersion()
    given: dict[str, Any] = {}
    fans = whole(mode.get("minimum_required_fans"))
    if fans is not None and fans >= 0:
        given["minimum_fans"] = fans
    if name == "manual":
        ratio = number(mode.get("fan_speed_ratio")) or 0.0
        return FanModeManual(speed=max(0, min(100, round(ratio * 100))), **given)
    floor = whole(mode.get("min_fan_speed"))
    if floor is not None and 0 <= floor <= 100:
        given["minimum_speed"] = floor
    return FanModeNormal(**given)


def encode_cooling_mode(mode: FanMode, live: TemperatureConfig | None) -> dict[str, Any]:
    """The SetCoolingMode request for ``mode``.  The firmware resets what a new mode's
    message leaves out, so the live temperature limits travel along."""
    from asic_bridge.config import FanModeManual, FanModeNormal

    temps: dict[str, Any] = {}
    for key, value in (
        ("target_temperature", live.target if live else None),
        ("hot_temperature", live.hot if live else None),
        ("dangerous_temperature", live.danger if live else None),
    ):
        if value is not None:
            temps[key] = {"degree_c": float(value)}
    body: dict[str, Any] = dict(temps)
    given = mode.model_fields_set
    if isinstance(mode, FanModeManual):
        body["fan_speed_ratio"] = mode.speed / 100
        if "minimum_fans" in given:
            body["minimum_required_fans"] = mode.minimum_fans
        return {"save_action": SAVE_AND_APPLY, "manual": body}
    if isinstance(mode, FanModeNormal):
        if "minimum_fans" in given:
            body["minimum_required_fans"] = mode.minimum_fans
        if "minimum_speed" in given:
            body["min_fan_speed"] = mode.minimum_speed
        return {"save_action": SAVE_AND_APPLY, "auto": body}
    return {"save_action": SAVE_AND_APPLY, "immersion": body}


def parse_grpc_fan_mode(ctx: ParseContext, configuration: object) -> str | None:
    """The cooling mode's name as :func:`config_from_grpc` decides it, without building the
    config models (every get_data reads it)."""
    temp = _msg(configuration, "GetMinerConfiguration").get("temperature") or {}
    name = None
    for key in ("auto", "manual", "immersion"):
        if isinstance(temp.get(key), Mapping):
            name = "normal" if key == "auto" else key
    return "immersion" if "disabled" in temp else name


def parse_grpc_fan_percent(ctx: ParseContext, cooling: object) -> int | None:
    """The fans' ``target_speed_ratio`` (the PWM the firmware drives, 0-1), their mean."""
    fans = _msg(cooling, "GetCoolingState").get("fans") or []
    ratios = [r for r in (number(f.get("target_speed_ratio")) for f in fans) if r is not None]
    return percent(100 * sum(ratios) / len(ratios)) if ratios else None


def parse_grpc_config(ctx: ParseContext, configuration: object) -> MinerConfig:
    return config_from_grpc(_msg(configuration, "GetMinerConfiguration"))


# ---------------------------------------------------------------------------------------------
# Shared driver plumbing.


def _validate_pools(config: MinerConfig) -> None:
    if config.pools is None:
        return
    for group in config.pools.groups:
        for pool in group.pools:
            for name, value in (
                ("url", pool.url),
                ("user", pool.user),
                ("password", pool.password),
            ):
                if any(ord(ch) < 32 for ch in value):
                    raise ConfigError(f"pool {name} may not contain control characters")
    if not any(group.pools for group in config.pools.groups):
        raise ConfigError("at least one pool is needed")


class _BraiinsMiner(CGMinerRPCMiner):
    make = "AntMiner"
    firmware = FIRMWARE

    def _ctx(self) -> ParseContext:
        return ParseContext(self.algo, self.model_info, self.identity)

    def _user(self) -> str:
        return self.credentials.username_or(USER)

    def _check_firmware(self, firmware: FirmwareFile) -> None:
        # Braiins OS images are OpenWrt sysupgrade tarballs (braiins-os-docs: "sysupgrade
        # -F /tmp/firmware.tar"; the feeds serve firmware_*.tar): a plain tar.
        require(firmware, is_tar(firmware.data), "a sysupgrade .tar image", "Braiins OS")

    def _password(self) -> str:
        return self.credentials.password_or("default_bosminer_password")


# ---------------------------------------------------------------------------------------------
# Legacy BOSminer.


class _NoGraphQL(Exception):
    """``/graphql`` answered 404: a release before the GraphQL API (hostname, LED over SSH)."""


class BOSMiner(_BraiinsMiner):
    """Braiins OS / BOS+ before 23.03 (BOSminer): RPC + LuCI + SSH."""

    # temp_control.mode auto / manual with fan_control.speed; "disabled" is not offered: it
    # turns off the overheating protection, it is no immersion mode.  fan_mode comes with
    # the config (the file over SSH), not on every poll.
    supported_fan_modes = ("normal", "manual")
    default_capabilities = frozenset(
        {
            Capability.FAN_CONTROL,
            Capability.FAULT_LIGHT,
            Capability.REBOOT,
            Capability.RESTART_BACKEND,
            Capability.STOP_MINING,
            Capability.POWER_LIMIT,
            Capability.GET_CONFIG,
            Capability.SEND_CONFIG,
            Capability.FIRMWARE_UPGRADE,
        }
    )
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("web:net_conf",), parse_net_conf, static=True),
        "fw_ver": FieldSpec(("web:bos_info",), parse_bos_info, static=True),
        "api_ver": FieldSpec(("rpc:version",), parse_api_ver, static=True),
        "hostname": FieldSpec(("sys:hostname",), parse_ssh_text, static=True),
        "hashrate": FieldSpec(("rpc:summary",), parse_hashrate),
        "expected_hashrate": FieldSpec(("rpc:devs",), parse_expected_hashrate),
        "hashboards": FieldSpec(("rpc:devs", "rpc:devdetails", "rpc:temps"), parse_rpc_hashboards),
        "wattage": FieldSpec(("rpc:tunerstatus",), parse_wattage),
        "wattage_limit": FieldSpec(("rpc:tunerstatus",), parse_wattage_limit),
        "fans": FieldSpec(("rpc:fans",), parse_rpc_fans),
        "fan_percent": FieldSpec(("rpc:fans",), parse_rpc_fan_percent),
        "errors": FieldSpec(("rpc:tunerstatus",), parse_errors),
        "fault_light": FieldSpec(("sys:led",), parse_led),
        "is_mining": FieldSpec(("rpc:devs",), parse_rpc_is_mining),
        "uptime": FieldSpec(("rpc:summary",), parse_uptime),
        "pools": FieldSpec(("rpc:pools",), parse_pools),
        "config": FieldSpec(
            ("ssh:config",),
            lambda ctx, r: config_from_toml(parse_bosminer_toml(_stdout(r, CONFIG_PATH))),
        ),
    }
    WEB_PATHS: ClassVar[dict[str, str]] = {
        "net_conf": "admin/network/iface_status/lan",
        "bos_info": "bos/info",
    }
    SSH_COMMANDS: ClassVar[dict[str, list[str]]] = {
        "hostname": ["cat", "/proc/sys/kernel/hostname"],
        "led": ["cat", LED_PATH],
        "config": ["cat", CONFIG_PATH],
    }

    def __init__(self, ip: str, **kwargs: Any) -> None:
        super().__init__(ip, **kwargs)
        self._logged_in = False
        self._graphql_session = False
        self._graphql: bool | None = None
        """Whether the firmware serves ``/graphql`` (None: not asked yet; False: SSH)."""

    @property
    def web(self) -> HTTPClient:
        port = self.port("http", 80)
        return self._client_for("web", port, lambda: self._new_web(port))

    def _new_web(self, port: int) -> HTTPClient:
        self._logged_in = False
        self._graphql_session = False
        # LuCI on BOS answers API clients only with this User-Agent (pyasic's finding).
        return HTTPClient(self.ip, port, headers={"User-Agent": "BTC Tools v0.1"})

    @property
    def ssh(self) -> Any:
        port = self.port("ssh", SSH_PORT)
        return self._client_for("ssh", port, lambda: self._new_ssh(port))

    def _new_ssh(self, port: int) -> Any:
        from asic_bridge.transport.ssh import SSHClient  # asyncssh is slow to import

        return SSHClient(
            self.ip,
            port,
            username=self.credentials.username_or(USER),
            # BOS has one root account for LuCI, gRPC and SSH: a configured password
            # is the SSH one too unless an ssh_password is given
            password=self.credentials.ssh_password
            if self.credentials.ssh_password is not None
            else self.credentials.password_or("default_bosminer_ssh_password"),
        )

    # -------------------------------------------------------------- sources
    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group == "web":
            return await self._fetch_web(names)
        if group == "sys":
            return await self._fetch_system(names)
        if group == "ssh":
            return await self._fetch_ssh(names)
        return await super()._fetch_group(group, names)

    async def _fetch_ssh(self, names: list[str]) -> dict[str, Any]:
        results = await asyncio.gather(
            *(self.ssh.run(self.SSH_COMMANDS[n]) for n in names), return_exceptions=True
        )
        return dict(zip(names, results, strict=True))

    async def _fetch_system(self, names: list[str]) -> dict[str, Any]:
        """Hostname and fault light: one GraphQL query where the firmware has the API (no
        SSH session, and no asyncssh import, ~0.1 s of CPU), SSH on releases before it."""
        if self._graphql is not False:
            try:
                bos = await self._graphql_bos()
            except _NoGraphQL:
                self._graphql = False
            except APIError as exc:
                return dict.fromkeys(names, exc)
            else:
                self._graphql = True
                return dict.fromkeys(names, bos)
        return await self._fetch_ssh(names)

    async def _graphql_post(self, body: dict[str, Any], command: str) -> Any:
        result = await self.web.post(GRAPHQL_PATH, json=body)
        if result.status == 404 and self._graphql is None:
            raise _NoGraphQL
        if result.status != 200:
            raise APIError(f"HTTP {result.status}", ip=self.ip, command=command)
        return result.json()

    async def _graphql_login(self) -> None:
        variables = {"username": self._user(), "password": self._password()}
        await self._graphql_post({"query": GRAPHQL_LOGIN, "variables": variables}, "login")
        if "session_id" not in self.web.cookies:
            raise AuthenticationError(
                "GraphQL refused the login", ip=self.ip, command="graphql login"
            )
        self._graphql_session = True

    async def _graphql_bos(self) -> Mapping[str, Any]:
        """``data.bos`` of the system query, logging in first (and again once if the session
        expired: the answer then carries ``errors`` and no data)."""
        for attempt in (1, 2):
            if not self._graphql_session:
                await self._graphql_login()
            answer = await self._graphql_post({"query": GRAPHQL_SYSTEM}, "bos")
            data = answer.get("data") if isinstance(answer, Mapping) else None
            bos = data.get("bos") if isinstance(data, Mapping) else None
            if isinstance(bos, Mapping):
                return bos
            if attempt == 1:
                self._graphql_session = False
                continue
            errors = answer.get("errors") if isinstance(answer, Mapping) else None
            raise InvalidResponseError(
                f"no bos object in the answer: {str(errors)[:120]}", ip=self.ip, command="bos"
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _login(self) -> None:
        result = await self.web.post(
            "/cgi-bin/luci",
            data={"luci_username": self._user(), "luci_password": self._password()},
        )
        if result.status not in (200, 302, 303) or "sysauth" not in result.headers.get(
            "set-cookie", ""
        ):
            raise AuthenticationError(
                f"LuCI refused the login (HTTP {result.status})", ip=self.ip, command="luci login"
            )
        self._logged_in = True

    async def luci(self, path: str) -> Any:
        """GET ``/cgi-bin/luci/<path>`` as JSON, logging in first (and again once if the
        session expired)."""
        for attempt in (1, 2):
            if not self._logged_in:
                await self._login()
            result = await self.web.get(f"/cgi-bin/luci/{path}")
            if result.status in (401, 403) and attempt == 1:
                self._logged_in = False
                continue
            if result.status != 200:
                raise APIError(f"HTTP {result.status}", ip=self.ip, command=path)
            return result.json()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fetch_web(self, names: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if not self._logged_in:
            try:
                await self._login()
            except APIError as exc:
                return dict.fromkeys(names, exc)
        results = await asyncio.gather(
            *(self.luci(self.WEB_PATHS[n]) for n in names), return_exceptions=True
        )
        for name, value in zip(names, results, strict=True):
            out[name] = value
        return out

    async def _ssh_ok(self, argv: list[str], stdin: bytes | None = None) -> str:
        status, out, err = await self.ssh.run(argv, stdin=stdin)
        if status != 0:
            raise CommandError(
                f"exit status {status}: {err.strip()[:120]}", ip=self.ip, command=argv[0]
            )
        return str(out)

    # -------------------------------------------------------------- controls
    async def _set_fault_light(self, on: bool) -> bool:
        await self._ssh_ok(["miner", "fault_light", "on" if on else "off"])
        return True

    async def _reboot(self) -> bool:
        await self._ssh_ok(["/sbin/reboot"])
        return True

    async def _restart_backend(self) -> bool:
        await self._ssh_ok(["/etc/init.d/bosminer", "restart"])
        return True

    async def _set_mining(self, on: bool) -> bool:
        command = "resume" if on else "pause"
        resp = await self._command(command)
        entry = first_entry(resp, command.upper())
        if entry is None:
            raise InvalidResponseError(f"no {command.upper()} section", ip=self.ip, command=command)
        return True

    async def _read_toml(self) -> dict[str, Any]:
        return parse_bosminer_toml(await self._ssh_ok(["cat", CONFIG_PATH]))

    async def _get_config(self) -> MinerConfig:
        return config_from_toml(await self._read_toml())

    async def _set_power_limit(self, wattage: int) -> bool:
        from asic_bridge.config import MinerConfig, MiningModePowerTune

        await self.send_config(MinerConfig(mining_mode=MiningModePowerTune(power=wattage)))
        doc = await self._read_toml()
        applied = whole(_get(doc, "autotuning", "power_target"))
        self._confirm_applied("power target (W)", wattage, applied, "bosminer.toml")
        return True

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        from asic_bridge.config import MiningModeSleep

        if isinstance(config.mining_mode, MiningModeSleep):
            await self._set_mining(False)
            config = config.model_copy(update={"mining_mode": live.mining_mode})
        _validate_pools(config)
        doc = toml_from_config(config, await self._read_toml())
        await self._ssh_ok(["tee", CONFIG_PATH], stdin=dump_toml(doc).encode())
        await self._ssh_ok(["/etc/init.d/bosminer", "restart"])

    # -------------------------------------------------------------- firmware upload
    # LuCI's flashops (openwrt/luci controller/admin/system.lua, the LuCI Braiins OS ships):
    # POST admin/system/flashops/sysupgrade with the session's CSRF "token", the file part
    # "image" and "keep"; step 1 stores /tmp/firmware.img, runs `sysupgrade -T` and shows
    # the checksum page (or flashops again with image_invalid), step 2 (step=2, keep=1)
    # flashes: "The system is flashing now" and the box reboots.
    async def _upgrade_firmware(self, firmware: FirmwareFile, keep_settings: bool) -> bool:
        token = await self._luci_token()
        body, content_type = multipart(
            {"token": token, **({"keep": "on"} if keep_settings else {})},
            {"image": (firmware.name, firmware.data, "application/x-tar")},
        )
        verify = await self.web.request(
            "POST",
            f"/cgi-bin/luci/{FLASHOPS}/sysupgrade",
            content=body,
            headers={"Content-Type": content_type},
            timeout=UPLOAD_TIMEOUT,
        )
        page = verify.text
        if verify.status != 200 or IMAGE_INVALID in page or "checksum" not in page.lower():
            raise CommandError(
                f"LuCI refused the image (HTTP {verify.status}): {_luci_message(page)}",
                ip=self.ip,
                command="sysupgrade",
            )
        flash = await self.web.post(
            f"/cgi-bin/luci/{FLASHOPS}/sysupgrade",
            data={"token": token, "step": "2", "keep": "1" if keep_settings else ""},
        )
        if flash.status != 200 or "flashing" not in flash.text.lower():
            raise CommandError(
                f"LuCI did not start flashing (HTTP {flash.status}): {_luci_message(flash.text)}",
                ip=self.ip,
                command="sysupgrade",
            )
        self._logged_in = False  # the reboot ends the session
        return True

    async def _luci_token(self) -> str:
        """The session's CSRF token, as LuCI embeds it in its forms."""
        for _ in (1, 2):  # once more after a fresh login when the session had expired
            if not self._logged_in:
                await self._login()
            result = await self.web.get(f"/cgi-bin/luci/{FLASHOPS}")
            found = _TOKEN_FIELD.search(result.text) if result.status == 200 else None
            if found:
                return found.group(1)
            self._logged_in = False
        raise APIError("no LuCI form token on the flash page", ip=self.ip, command=FLASHOPS)


FLASHOPS = "admin/system/flashops"
IMAGE_INVALID = "does not contain a supported format"
"""LuCI's flashops page text when ``sysupgrade -T`` refused the uploaded image."""
_TOKEN_FIELD = re.compile(r"""name=["']token["'][^>]*?value=["']([0-9a-fA-F]+)["']""")


def _luci_message(page: str) -> str:
    """The readable text of a LuCI page (its alert, else the start of its body)."""
    text = re.sub(r"<[^>]+>", " ", page)
    return " ".join(text.split())[:200]


def _stdout(result: object, what: str) -> str:
    if not isinstance(result, tuple) or len(result) != 3:
        raise ValueError(f"no result for {what}")
    status, out, _ = result
    if status != 0:
        raise ValueError(f"reading {what} failed (exit status {status})")
    return str(out)


# ---------------------------------------------------------------------------------------------
# Current BOS+ (BOSer).


class BOSer(_BraiinsMiner):
    """BOS+ 23.03 and later: RPC for hashrate/uptime/errors, gRPC for everything else."""

    default_capabilities = frozenset(
        {
            Capability.FAULT_LIGHT,
            Capability.REBOOT,
            Capability.RESTART_BACKEND,
            Capability.STOP_MINING,
            Capability.POWER_LIMIT,
            Capability.GET_CONFIG,
            Capability.SEND_CONFIG,
            Capability.FIRMWARE_UPGRADE,
            Capability.FAN_CONTROL,
        }
    )
    supported_fan_modes = ("normal", "manual", "immersion")
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("grpc:details",), parse_grpc_mac, static=True),
        "hostname": FieldSpec(("grpc:details",), parse_grpc_hostname, static=True),
        "serial_number": FieldSpec(("grpc:details",), parse_grpc_serial, static=True),
        "psu_serial_number": FieldSpec(("grpc:details",), parse_grpc_psu_serial),
        "fw_ver": FieldSpec(("grpc:details",), parse_grpc_fw_ver, static=True),
        "api_ver": FieldSpec(("rpc:version",), parse_api_ver, static=True),
        "hashrate": FieldSpec(("rpc:summary",), parse_hashrate),
        "expected_hashrate": FieldSpec(("grpc:details",), parse_grpc_expected_hashrate),
        "hashboards": FieldSpec(("grpc:hashboards",), parse_grpc_hashboards),
        "wattage": FieldSpec(("grpc:stats",), parse_grpc_wattage),
        "wattage_limit": FieldSpec(("grpc:performance",), parse_grpc_wattage_limit),
        "fans": FieldSpec(("grpc:cooling",), parse_grpc_fans),
        "fan_mode": FieldSpec(("grpc:configuration",), parse_grpc_fan_mode),
        "fan_percent": FieldSpec(("grpc:cooling",), parse_grpc_fan_percent),
        "errors": FieldSpec(("rpc:tunerstatus",), parse_errors),
        "fault_light": FieldSpec(("grpc:locate",), parse_grpc_fault_light),
        "is_mining": FieldSpec(("grpc:details", "rpc:summary"), parse_grpc_is_mining),
        "uptime": FieldSpec(("rpc:summary",), parse_uptime),
        "pools": FieldSpec(("grpc:pools",), parse_grpc_pools),
        "config": FieldSpec(("grpc:configuration",), parse_grpc_config),
    }

    def __init__(self, ip: str, **kwargs: Any) -> None:
        super().__init__(ip, **kwargs)
        self._token: str | None = None
        self._token_lock = asyncio.Lock()
        self.logins = 0

    @property
    def grpc(self) -> GRPCClient:
        port = self.port("grpc", GRPC_PORT)
        return self._client_for("grpc", port, lambda: self._new_grpc(port))

    def _new_grpc(self, port: int) -> GRPCClient:
        self._token = None  # a token belongs to the connection it was issued on
        return GRPCClient(self.ip, port)

    # -------------------------------------------------------------- gRPC with login
    async def _login(self, stale: str | None) -> str:
        async with self._token_lock:
            if self._token is not None and self._token != stale:
                return self._token
            request = encode_message(
                {"username": self._user(), "password": self._password()}, LOGIN_REQUEST
            )
            try:
                reply = await self.grpc.call(_svc("AuthenticationService", "Login"), request)
            except GRPCAuthError:
                raise AuthenticationError(
                    "the miner refused the login (wrong password?)", ip=self.ip, command="Login"
                ) from None
            token = reply.headers.get("authorization")
            if not token:
                body = decode_message(reply.message, LOGIN_RESPONSE)
                token = body.get("token")
            if not token:
                raise AuthenticationError("login answered no token", ip=self.ip, command="Login")
            self._token = str(token)
            self.logins += 1
            return self._token

    async def call(self, path: str, request: bytes, schema: Schema) -> dict[str, Any]:
        """One authenticated unary call; a refused token triggers one login and one retry."""
        token = self._token or await self._login(None)
        for attempt in (1, 2):
            try:
                reply = await self.grpc.call(path, request, metadata={"authorization": token})
            except GRPCAuthError:
                if attempt == 2:
                    raise
                token = await self._login(token)
                continue
            try:
                return decode_message(reply.message, schema)
            except ValueError as exc:
                raise InvalidResponseError(
                    f"undecodable message: {exc}", ip=self.ip, command=path.rsplit("/", 1)[-1]
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group != "grpc":
            return await super()._fetch_group(group, names)
        if self._token is None:
            try:
                await self._login(None)
            except APIError as exc:
                return dict.fromkeys(names, exc)
        results = await asyncio.gather(
            *(self.call(GRPC_READS[n][0], b"", GRPC_READS[n][1]) for n in names),
            return_exceptions=True,
        )
        return dict(zip(names, results, strict=True))

    # -------------------------------------------------------------- controls
    async def _action(self, method: str, request: bytes = b"", schema: Schema = EMPTY) -> Any:
        return await self.call(_svc("ActionsService", method), request, schema)

    async def _set_fault_light(self, on: bool) -> bool:
        resp = await self._action(
            "SetLocateDeviceStatus", encode_message({"enable": on}, SET_LOCATE_REQUEST), LOCATE
        )
        return bool(resp.get("enabled", False)) == on

    async def _reboot(self) -> bool:
        await self._action("Reboot")
        return True

    async def _restart_backend(self) -> bool:
        await self._action("Restart")
        return True

    async def _set_mining(self, on: bool) -> bool:
        if on:
            await self._action("ResumeMining", schema=RESUME_RESPONSE)
        else:
            await self._action("PauseMining", schema=PAUSE_RESPONSE)
        return True

    async def _read_power_range(self) -> tuple[int, int] | None:
        """``GetConstraints``: the tuner's own power-target bounds (1200-3600 W on an S19j
        Pro, where the catalog guessed 1534-3681 W)."""
        resp = await self.call(
            _svc("ConfigurationService", "GetConstraints"), b"", CONSTRAINTS_RESPONSE
        )
        return parse_grpc_power_constraints(resp)

    async def _set_power_limit(self, wattage: int) -> bool:
        request = encode_message(
            {"save_action": SAVE_AND_FORCE_APPLY, "power_target": {"watt": wattage}},
            SET_POWER_TARGET_REQUEST,
        )
        resp = await self.call(
            _svc("PerformanceService", "SetPowerTarget"), request, SET_POWER_TARGET_RESPONSE
        )
        applied = whole(_get(resp, "power_target", "watt"))
        self._confirm_applied("power target (W)", wattage, applied, "SetPowerTarget")
        return True

    async def _configuration(self) -> dict[str, Any]:
        path, schema = GRPC_READS["configuration"]
        return await self.call(path, b"", schema)

    async def _get_config(self) -> MinerConfig:
        return config_from_grpc(await self._configuration())

    async def _set_fan_mode(self, mode: FanMode) -> None:
        """CoolingService/SetCoolingMode, read back from GetMinerConfiguration."""
        live = await self._get_config()
        request = encode_message(
            encode_cooling_mode(mode, live.temperature), SET_COOLING_MODE_REQUEST
        )
        await self.call(
            _svc("CoolingService", "SetCoolingMode"), request, SET_COOLING_MODE_RESPONSE
        )
        self._confirm_fan_mode(mode, (await self._get_config()).fan_mode, "SetCoolingMode")

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        from asic_bridge.config import MiningModeNormal, MiningModePowerTune, MiningModeSleep

        if config.temperature != live.temperature:
            raise UnsupportedError("setting temperature", "the BOS+ gRPC API (use the web UI)")
        mode = config.mining_mode
        tunable = (MiningModePowerTune, MiningModeSleep, MiningModeNormal)
        if mode != live.mining_mode and mode is not None and not isinstance(mode, tunable):
            raise UnsupportedError(f"mining mode {mode.mode!r}", "BOS+ (use power_tuning)")
        if config.pools is not None and config.pools != live.pools:
            _validate_pools(config)
            await self._set_pools(config.pools)
        if config.fan_mode is not None and config.fan_mode != live.fan_mode:
            await self._set_fan_mode(config.fan_mode)
        if mode != live.mining_mode:
            if isinstance(mode, MiningModeSleep):
                await self._set_mining(False)
            elif (
                isinstance(mode, MiningModePowerTune)
                and mode.power is not None
                and not await self._set_power_limit(mode.power)
            ):
                raise CommandError("the miner did not take the power target", ip=self.ip)
            if isinstance(live.mining_mode, MiningModeSleep) and not isinstance(
                mode, MiningModeSleep
            ):
                await self._set_mining(True)

    # -------------------------------------------------------------- firmware upload
    async def _upgrade_firmware(self, firmware: FirmwareFile, keep_settings: bool) -> bool:
        """UpgradeService/SystemUpgrade of the public API, on a connection of its own so the
        long upload never holds the polls' one."""
        metadata = {
            "size": firmware.size,
            "hash": firmware.sha256(),
            "discard_settings": not keep_settings,
        }
        messages = [encode_message({"metadata": metadata}, SYSTEM_UPGRADE_REQUEST)]
        for pos in range(0, firmware.size, UPGRADE_CHUNK):
            chunk = firmware.data[pos : pos + UPGRADE_CHUNK]
            messages.append(encode_message({"data": chunk}, SYSTEM_UPGRADE_REQUEST))
        path = _svc("UpgradeService", "SystemUpgrade")
        client = GRPCClient(self.ip, self.port("grpc", GRPC_PORT), timeout=UPLOAD_TIMEOUT)
        try:
            token = self._token or await self._login(None)
            for attempt in (1, 2):
                try:
                    reply = await client.call(
                        path, messages=messages, metadata={"authorization": token}
                    )
                    break
                except GRPCAuthError:
                    if attempt == 2:
                        raise
                    token = await self._login(token)
        finally:
            await client.aclose()
        answer = decode_message(reply.message, SYSTEM_UPGRADE_RESPONSE)
        if not answer.get("successful"):
            raise CommandError(
                "the miner did not start the upgrade", ip=self.ip, command="SystemUpgrade"
            )
        self._token = None  # the reboot ends the session
        return True

    async def _set_pools(self, pools: PoolConfig) -> None:
        groups = [
            {
                "name": group.name or f"Group {index}",
                "quota": {"value": group.quota},
                "pools": [
                    {"url": p.url, "user": p.user, "password": p.password, "enabled": True}
                    for p in group.pools
                ],
            }
            for index, group in enumerate(pools.groups)
            if group.pools
        ]
        request = encode_message(
            {"save_action": SAVE_AND_APPLY, "pool_groups": groups}, SET_POOL_GROUPS_REQUEST
        )
        resp = await self.call(
            _svc("PoolService", "SetPoolGroups"), request, SET_POOL_GROUPS_RESPONSE
        )
        got = [p.get("url") for g in resp.get("pool_groups") or [] for p in g.get("pools") or []]
        wanted = [p.url for g in pools.groups for p in g.pools]
        if got and got != wanted:
            raise CommandError("the miner did not take the pool groups", ip=self.ip)


# ---------------------------------------------------------------------------------------------
# Identification.


def _matches(e: Evidence) -> bool:
    text = e.rpc_text
    return "BOSMINER" in text or "BOSER" in text or "Braiins OS" in e.http_body


def resolve_model(raw: str | None) -> tuple[str | None, ModelInfo | None]:
    """``Bitmain Antminer S19j Pro`` / ``Braiins Mini Miner BMM 101`` -> catalog entry."""
    if not raw:
        return None, None
    text = raw.strip()
    for prefix in ("Bitmain ",):
        text = text.removeprefix(prefix)
    text = text.replace("S19XP", "S19 XP")
    info = catalog.lookup(text)
    return text, info


def _is_boser(e: Evidence) -> bool | None:
    entry = first_entry(e.rpc_version, "VERSION") or {}
    status = first_entry(e.rpc_version, "STATUS") or {}
    description = str(status.get("Description", ""))
    if "BOSer" in entry or description.startswith("BOSer"):
        return True
    if "BOSminer" in entry or "BOSminer+" in entry or description.startswith("BOSminer"):
        return False
    return None


async def _grpc_answers(ip: str, port: int, limits: settings.Limits) -> bool:
    client = GRPCClient(ip, port, timeout=limits.identify_timeout, limits=limits)
    try:
        await client.call("/braiins.bos.ApiVersionService/GetApiVersion")
    except APIError:
        return False
    finally:
        await client.aclose()
    return True


async def _build(e: Evidence, creds: Credentials) -> BaseMiner | None:
    detail = first_entry(e.rpc_devdetails, "DEVDETAILS") or {}
    raw_model, info = resolve_model(detail.get("Model") if isinstance(detail, dict) else None)
    boser = _is_boser(e)
    if boser is None:  # the RPC is down (backend stopped): does the gRPC API answer?
        boser = await _grpc_answers(e.ip, e.ports.get("grpc", GRPC_PORT), e.limits)
    version = first_entry(e.rpc_version, "VERSION") or {}
    vendor = str(detail.get("Model", "")).split(" ", 1)[0] if detail else ""
    make = info.make if info else MAKE_BY_VENDOR.get(vendor, "AntMiner")
    identity = Identity(
        ip=e.ip,
        make=make,
        firmware=FIRMWARE,
        model=info.model if info else raw_model,
        raw_model=raw_model,
        algo=info.algo if info else "SHA256",
        model_info=info,
        api_ver=str(version["API"]) if version.get("API") else None,
    )
    identity.extra["backend"] = "BOSer" if boser else "BOSminer"
    program = version.get("BOSer") or version.get("BOSminer") or version.get("BOSminer+")
    if program:
        identity.extra["program_version"] = str(program)
    cls: type[_BraiinsMiner] = BOSer if boser else BOSMiner
    return cls(e.ip, identity=identity, credentials=creds, ports=e.ports)


FAMILIES = [Family("braiins", _matches, _build)]
