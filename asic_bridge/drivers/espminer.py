"""ESP-Miner (AxeOS): BitAxe Ultra/Supra/Gamma/Max and the LuckyMiner LV07/LV08.

One ESP32 board with one to a few Bitmain chips, spoken to over a plain, unauthenticated HTTP
JSON API on port 80.  One reading is one ``GET /api/system/info``; the static facts (MAC,
hostname, firmware version, ASIC model, chip count) are read once at identification.

Field sources (``/api/system/info``; units as the firmware prints them):

========================  ==============================================================
hashrate                  ``hashRate`` (GH/s)
expected_hashrate         ``expectedHashrate`` (GH/s, newer firmware), else
                          ``smallCoreCount * asicCount * frequency`` (MH/s)
hashboards                one board: ``hashRate``, ``vrTemp`` (board / regulator), ``temp``
                          (chip), ``asicCount`` (from ``/api/system/asic`` on firmware that
                          does not repeat it in info), ``voltage`` (mV in, V out)
fans                      ``fanrpm`` (+ ``fan2rpm`` when it turns, 2.12+)
fan_mode / fan_percent    ``autofanspeed`` (1 normal, 0 manual) / ``fanspeed``, the PWM
                          duty in % the firmware drives the fan at (auto or manual)
wattage                   ``power`` (W)
uptime                    ``uptimeSeconds``
pools                     ``stratumURL``/``stratumPort``/``stratumUser`` and the fallback
                          pool, ``sharesAccepted``/``sharesRejected`` on the one in use
                          (``isUsingFallbackStratum``)
is_mining                 ``miningPaused`` (2.15+), else ``hashRate`` > 0
errors                    ``power_fault`` / ``hardware_fault`` text (only sent during a
                          fault), ``overheat_mode`` 1
mac / hostname / fw_ver   ``macAddr`` / ``hostname`` / ``version`` (api_ver = ``axeOSVersion``)
========================  ==============================================================

Controls: reboot (``POST /api/system/restart``); stop/resume (``POST /api/system/pause`` and
``/resume``, only on ESP-Miner >= 2.14 which has them); config through ``PATCH /api/system``
(pools, fan mode, fan temperature target).  The PATCH only names the keys that change, so the
firmware keeps everything else (Wi-Fi, voltage, display ...): read-modify-write by design.

The settings keys changed between versions (from the firmware source, tags v2.4.2-v2.15.0),
and a key a version does not know is silently ignored with HTTP 200, so each write uses the
keys of the version identified and is read back:

========================  ==============================================================
manual fan speed          ``fanspeed`` up to 2.10, ``manualFanSpeed`` from 2.11
minimum fan speed         ``minFanSpeed`` from 2.10 (0-99); none before
temperature target        ``temptarget`` from 2.7 (35-66 from 2.11); none before
pools                     flat ``stratumURL``/``stratumPort``/``stratumUser``/
                          ``stratumPassword`` (+ ``fallbackStratum*``) up to 2.14; from 2.15
                          only a ``pools`` array of ``{id, stratumURL, ...}`` with
                          ``primaryPoolIndex``/``secondaryPoolIndex``
========================  ==============================================================
There is no fault light (``/identify`` is a 30-second display greeting), no power limit (the
firmware takes a chip frequency, not watts) and no mining modes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from asic_bridge import catalog
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
from asic_bridge.drivers.firmware import UPLOAD_TIMEOUT, FirmwareFile, require
from asic_bridge.drivers.values import number, percent, whole
from asic_bridge.drivers.values import text as _text
from asic_bridge.errors import (
    APIError,
    CommandError,
    ConfigError,
    NotAppliedError,
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
    "ESPMiner",
    "encode_config",
    "not_applied",
    "parse_info_hashrate",
    "version_tuple",
]

HTTP_PORT = 80
PAUSE_SINCE = (2, 14)
"""First ESP-Miner release with ``/api/system/pause`` and ``/resume``."""
TEMP_TARGET_SINCE = (2, 7)
MIN_FAN_SINCE = (2, 10)
SETTINGS_TABLE_SINCE = (2, 11)
"""From here the PATCH is checked against a settings table (``manualFanSpeed`` replaces
``fanspeed``; a value out of range refuses the whole request)."""
POOLS_ARRAY_SINCE = (2, 15)
TEMP_TARGET_RANGE = (35, 66)
MIN_FAN_RANGE = (0, 99)
NEWEST: tuple[int, ...] = (2, 15, 0)
"""Assumed when a board reports no version number."""

_VERSION_RE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def version_tuple(text: object) -> tuple[int, ...] | None:
    """``"v2.14.1-beta"`` -> (2, 14, 1); None when there is no version number."""
    if not isinstance(text, str):
        return None
    m = _VERSION_RE.search(text)
    if m is None:
        return None
    return tuple(int(part) for part in m.groups() if part is not None)


def _info(payload: object) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise ValueError("system/info answer is not an object")
    return payload


# ---------------------------------------------------------------------------------------------
# Pure parsers (ctx, info) -> value.


def parse_info_hashrate(ctx: ParseContext, info: object) -> float | None:
    value = number(_info(info).get("hashRate"))
    return None if value is None else to_default(max(value, 0.0), "GH/s", ctx.algo)


def _asic_count(ctx: ParseContext, info: Mapping[str, Any]) -> int | None:
    count = whole(info.get("asicCount"))
    if count is None:
        count = whole(ctx.identity.extra.get("asic_count"))
    return count


def parse_expected_hashrate(ctx: ParseContext, info: object) -> float | None:
    data = _info(info)
    expected = number(data.get("expectedHashrate"))
    if expected is not None:
        return to_default(expected, "GH/s", ctx.algo)
    cores, freq = number(data.get("smallCoreCount")), number(data.get("frequency"))
    count = _asic_count(ctx, data)
    if cores is None or freq is None or count is None:
        return None
    return to_default(cores * count * freq, "MH/s", ctx.algo)


def parse_hashboards(ctx: ParseContext, info: object) -> list[HashBoard]:
    data = _info(info)
    rate = parse_info_hashrate(ctx, data)
    voltage = number(data.get("voltage"))
    info_model = ctx.model_info
    return [
        board_from(
            {
                "slot": 0,
                "hashrate": rate,
                "temp": number(data.get("vrTemp")) or None,
                "chip_temp": number(data.get("temp")) or None,
                "chips": _asic_count(ctx, data),
                "expected_chips": info_model.chips_per_board if info_model else None,
                "voltage": round(voltage / 1000.0, 3) if voltage else None,
                "missing": False,
                "active": bool(rate),
            }
        )
    ]


def parse_fans(ctx: ParseContext, info: object) -> list[Fan] | None:
    """``fanrpm``, and ``fan2rpm`` (2.12+) where a second fan turns (boards with one fan
    report it as 0)."""
    data = _info(info)
    rpm = whole(data.get("fanrpm"))
    if rpm is None:
        return None
    second = whole(data.get("fan2rpm"))
    return [Fan(speed=rpm)] + ([Fan(speed=second)] if second else [])


def parse_fan_mode(ctx: ParseContext, info: object) -> str | None:
    """``autofanspeed`` 1 is the firmware's fan control, 0 a fixed duty."""
    auto = whole(_info(info).get("autofanspeed"))
    return "normal" if auto == 1 else "manual" if auto == 0 else None


def parse_fan_percent(ctx: ParseContext, info: object) -> int | None:
    """``fanspeed``: the duty the firmware sets (its auto loop's output, or the manual
    setting), a float from 2.12."""
    return percent(_info(info).get("fanspeed"))


def parse_wattage(ctx: ParseContext, info: object) -> int | None:
    value = number(_info(info).get("power"))
    return None if value is None else round(value)


def parse_uptime(ctx: ParseContext, info: object) -> int | None:
    value = whole(_info(info).get("uptimeSeconds"))
    return value if value is not None and value >= 0 else None


def parse_is_mining(ctx: ParseContext, info: object) -> bool | None:
    data = _info(info)
    paused = data.get("miningPaused")
    if isinstance(paused, bool):
        return not paused
    rate = number(data.get("hashRate"))
    return None if rate is None else rate > 0


def parse_errors(ctx: ParseContext, info: object) -> list[MinerErrorData]:
    data = _info(info)
    out = []
    fault = data.get("power_fault")
    if isinstance(fault, str) and fault.strip():
        out.append(MinerErrorData(error_message=f"power fault: {fault.strip()}"))
    hardware = data.get("hardware_fault")
    if isinstance(hardware, str) and hardware.strip():
        out.append(MinerErrorData(error_message=f"hardware fault: {hardware.strip()}"))
    if whole(data.get("overheat_mode")) == 1:
        out.append(MinerErrorData(error_message="overheat protection is active"))
    return out


def _pool_url(host: object, port: object) -> str | None:
    """``stratumURL`` + ``stratumPort`` as one URL (the firmware keeps them apart)."""
    if not isinstance(host, str) or not host.strip():
        return None
    host = host.strip()
    if "://" not in host:
        host = f"stratum+tcp://{host}"
    port_no = whole(port)
    split = urlsplit(host)
    if port_no and split.port is None:
        host = f"{host.rstrip('/')}:{port_no}"
    return host


def parse_pools(ctx: ParseContext, info: object) -> list[PoolMetrics]:
    data = _info(info)
    fallback_used = bool(whole(data.get("isUsingFallbackStratum")))
    out = []
    for index, prefix in enumerate(("stratum", "fallbackStratum")):
        url = _pool_url(data.get(f"{prefix}URL"), data.get(f"{prefix}Port"))
        if url is None:
            continue
        in_use = fallback_used == (index == 1)
        user = data.get(f"{prefix}User")
        out.append(
            pool_from(
                {
                    "url": url,
                    "user": str(user) if user is not None else None,
                    "index": index,
                    "accepted": whole(data.get("sharesAccepted")) if in_use else None,
                    "rejected": whole(data.get("sharesRejected")) if in_use else None,
                    "active": in_use,
                    "alive": True if in_use and number(data.get("hashRate")) else None,
                }
            )
        )
    return out


def parse_mac(ctx: ParseContext, info: object) -> str | None:
    return normalize_mac(_info(info).get("macAddr"))


def parse_hostname(ctx: ParseContext, info: object) -> str | None:
    return _text(_info(info).get("hostname"))


def parse_fw_ver(ctx: ParseContext, info: object) -> str | None:
    return _text(_info(info).get("version"))


def parse_api_ver(ctx: ParseContext, info: object) -> str | None:
    return _text(_info(info).get("axeOSVersion"))


def parse_config(ctx: ParseContext, info: object) -> MinerConfig:
    from asic_bridge.config import (
        FanModeManual,
        FanModeNormal,
        MinerConfig,
        Pool,
        PoolConfig,
        PoolGroup,
        TemperatureConfig,
    )

    data = _info(info)
    pools = []
    for prefix in ("stratum", "fallbackStratum"):
        url = _pool_url(data.get(f"{prefix}URL"), data.get(f"{prefix}Port"))
        if url is not None:
            pools.append(Pool(url=url, user=str(data.get(f"{prefix}User") or "")))
    config = MinerConfig(pools=PoolConfig(groups=[PoolGroup(pools=pools)]))
    auto = whole(data.get("autofanspeed"))
    if auto == 1:
        minimum = whole(data.get("minFanSpeed"))  # 2.10+; no minimum before
        config.fan_mode = FanModeNormal(minimum_speed=max(0, min(minimum or 0, 100)))
    elif auto == 0:
        # 2.11+ reports the setting as manualFanSpeed; fanspeed is the fan's current duty
        # (a float on 2.12+), which in manual mode is the setting on older firmware.
        speed = number(data.get("manualFanSpeed", data.get("fanspeed")))
        if speed is not None:
            config.fan_mode = FanModeManual(speed=max(0, min(round(speed), 100)))
    target = number(data.get("temptarget"))
    if target is not None:
        config.temperature = TemperatureConfig(target=target)
    return config


# ---------------------------------------------------------------------------------------------
# The codec: MinerConfig -> the PATCH body (only what changes).


def _split_pool(pool: Pool) -> tuple[str, int]:
    """(host, port) for the firmware, or ConfigError."""
    text = pool.url.strip()
    split = urlsplit(text if "://" in text else f"stratum+tcp://{text}")
    try:
        port = split.port
    except ValueError:
        raise ConfigError(f"pool url {pool.url!r} has a bad port") from None
    if not split.hostname or port is None:
        raise ConfigError(f"pool url {pool.url!r} needs a host and a port (host:3333)")
    if split.scheme not in ("stratum+tcp", "stratum", "tcp", "stratum+ssl", "stratum+tls"):
        raise ConfigError(f"pool url {pool.url!r}: ESP-Miner speaks stratum over TCP only")
    return split.hostname, port


def _pool_body(wanted: list[Pool], current: list[Pool], version: tuple[int, ...]) -> dict[str, Any]:
    """The pool part of the PATCH body in the keys ``version`` writes."""
    if len(wanted) > 2:
        raise ConfigError("ESP-Miner has two pool slots (primary and fallback)")
    if version >= POOLS_ARRAY_SINCE:
        rows = []
        for index, pool in enumerate(wanted):
            host, port = _split_pool(pool)
            old = current[index] if index < len(current) else None
            kept = old is not None and (old.url, old.user) == (pool.url, pool.user)
            rows.append(
                {
                    "id": index,
                    "stratumURL": host,
                    "stratumPort": port,
                    "stratumUser": pool.user,
                    # "*****" keeps the stored password (the firmware never shows it, so an
                    # unchanged pool read back carries the placeholder "x")
                    "stratumPassword": "*****" if kept and pool.password == "x" else pool.password,
                }
            )
        return {"pools": rows, "primaryPoolIndex": 0, "secondaryPoolIndex": 1}
    body: dict[str, Any] = {}
    for index, prefix in enumerate(("stratum", "fallbackStratum")):
        if index >= len(wanted):
            continue  # the fallback slot stays as it is: the firmware cannot clear it
        pool = wanted[index]
        host, port = _split_pool(pool)
        old = current[index] if index < len(current) else None
        same = old is not None and (old.url, old.user) == (pool.url, pool.user)
        if same and old is not None and pool.password in ("x", old.password):
            continue
        body[f"{prefix}URL"] = host
        body[f"{prefix}Port"] = port
        body[f"{prefix}User"] = pool.user
        body[f"{prefix}Password"] = pool.password
    return body


def _in_range(name: str, value: int, bounds: tuple[int, int]) -> int:
    if not bounds[0] <= value <= bounds[1]:
        raise ConfigError(f"{name} {value} is outside this firmware's {bounds[0]}-{bounds[1]}")
    return value


def encode_config(
    config: MinerConfig, live: MinerConfig, version: tuple[int, ...] = NEWEST
) -> dict[str, Any]:
    """The ``PATCH /api/system`` body that turns ``live`` into ``config`` on ``version``."""
    from asic_bridge.config import FanModeManual, FanModeNormal

    body: dict[str, Any] = {}
    if config.pools is not None and config.pools != live.pools:
        wanted = config.pools.first_group
        if not wanted:
            raise ConfigError("ESP-Miner needs a pool")
        if len(config.pools.groups) > 1:
            raise ConfigError("ESP-Miner has two pool slots (primary and fallback)")
        current = live.pools.first_group if live.pools is not None else []
        body.update(_pool_body(wanted, current, version))
    if config.fan_mode is not None and config.fan_mode != live.fan_mode:
        if isinstance(config.fan_mode, FanModeManual):
            body["autofanspeed"] = 0
            key = "manualFanSpeed" if version >= SETTINGS_TABLE_SINCE else "fanspeed"
            body[key] = config.fan_mode.speed
        elif isinstance(config.fan_mode, FanModeNormal):
            body["autofanspeed"] = 1
            minimum = config.fan_mode.minimum_speed
            given = "minimum_speed" in config.fan_mode.model_fields_set
            if version >= MIN_FAN_SINCE and given:  # else the board keeps its own minimum
                body["minFanSpeed"] = _in_range("minimum fan speed", minimum, MIN_FAN_RANGE)
            elif minimum and version < MIN_FAN_SINCE:
                raise UnsupportedError("a minimum fan speed (from 2.10 on)", "ESP-Miner")
        else:
            raise UnsupportedError("immersion fan mode", "ESP-Miner")
    if config.temperature is not None and config.temperature != live.temperature:
        temp = config.temperature
        live_limits = (
            (live.temperature.hot, live.temperature.danger) if live.temperature else (None, None)
        )
        if (temp.hot, temp.danger) not in ((None, None), live_limits):
            raise UnsupportedError("hot/danger temperature limits", "ESP-Miner")
        if temp.target is not None:
            if version < TEMP_TARGET_SINCE:
                raise UnsupportedError("a temperature target (from 2.7 on)", "ESP-Miner")
            target = round(temp.target)
            if version >= SETTINGS_TABLE_SINCE:
                _in_range("temperature target", target, TEMP_TARGET_RANGE)
            body["temptarget"] = target
    if config.mining_mode is not None and config.mining_mode != live.mining_mode:
        raise UnsupportedError("mining modes", "ESP-Miner")
    return body


def not_applied(wanted: MinerConfig, applied: MinerConfig) -> list[str]:
    """The parts of ``wanted`` that the read-back ``applied`` does not show."""
    from asic_bridge.config import fan_mode_shown

    missing = []
    if wanted.pools is not None:
        want = [(p.url, p.user) for p in wanted.pools.first_group]
        have = [(p.url, p.user) for p in (applied.pools.first_group if applied.pools else [])]
        if have[: len(want)] != want:
            missing.append("pools")
    if wanted.fan_mode is not None:
        shown_wanted, shown_applied = fan_mode_shown(wanted.fan_mode, applied.fan_mode)
        if shown_wanted != shown_applied:
            missing.append("fan_mode")
    target = wanted.temperature.target if wanted.temperature else None
    if target is not None and (
        applied.temperature is None or applied.temperature.target != round(target)
    ):
        missing.append("temperature")
    return missing


# ---------------------------------------------------------------------------------------------
# The driver.


class ESPMiner(BaseMiner):
    """A BitAxe or LuckyMiner on ESP-Miner (AxeOS)."""

    make = "BitAxe"
    firmware = "Stock"
    default_capabilities = frozenset(
        {
            Capability.REBOOT,
            Capability.GET_CONFIG,
            Capability.SEND_CONFIG,
            Capability.FIRMWARE_UPGRADE,
            Capability.FAN_CONTROL,
        }
    )
    supported_fan_modes = ("normal", "manual")
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("web:info",), parse_mac, static=True),
        "hostname": FieldSpec(("web:info",), parse_hostname, static=True),
        "fw_ver": FieldSpec(("web:info",), parse_fw_ver, static=True),
        "api_ver": FieldSpec(("web:info",), parse_api_ver, static=True),
        "hashrate": FieldSpec(("web:info",), parse_info_hashrate),
        "expected_hashrate": FieldSpec(("web:info",), parse_expected_hashrate),
        "hashboards": FieldSpec(("web:info",), parse_hashboards),
        "fans": FieldSpec(("web:info",), parse_fans),
        "fan_mode": FieldSpec(("web:info",), parse_fan_mode),
        "fan_percent": FieldSpec(("web:info",), parse_fan_percent),
        "wattage": FieldSpec(("web:info",), parse_wattage),
        "uptime": FieldSpec(("web:info",), parse_uptime),
        "pools": FieldSpec(("web:info",), parse_pools),
        "is_mining": FieldSpec(("web:info",), parse_is_mining),
        "errors": FieldSpec(("web:info",), parse_errors),
        "config": FieldSpec(("web:info",), parse_config),
    }
    _PATHS: ClassVar[dict[str, str]] = {"info": "/api/system/info", "asic": "/api/system/asic"}

    @property
    def web(self) -> HTTPClient:
        port = self.port("http", HTTP_PORT)
        return self._client_for("web", port, lambda: HTTPClient(self.ip, port))

    async def _get_json(self, path: str) -> Any:
        result = await self.web.get(path)
        if result.status != 200:
            raise APIError(f"HTTP {result.status}", ip=self.ip, command=path)
        return result.json()

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group != "web":
            return await super()._fetch_group(group, names)
        return await self._fetch_each(names, lambda name: self._get_json(self._PATHS[name]))

    async def _post(self, path: str) -> None:
        result = await self.web.post(path)
        if result.status != 200:
            raise CommandError(f"HTTP {result.status}", ip=self.ip, command=path)

    # -------------------------------------------------------------- controls
    async def _reboot(self) -> bool:
        await self._post("/api/system/restart")
        return True

    async def _set_mining(self, on: bool) -> bool:
        """Pause/resume, read back from ``miningPaused`` (reported from 2.14, like the API)."""
        path = "/api/system/resume" if on else "/api/system/pause"
        await self._post(path)
        paused = _info(await self._get_json(self._PATHS["info"])).get("miningPaused")
        if isinstance(paused, bool) and paused == on:
            raise NotAppliedError(
                f"the board answered {path} but reports miningPaused {str(paused).lower()}",
                wanted=on,
                applied=not paused,
                ip=self.ip,
                command=path,
            )
        return True

    async def _get_config(self) -> MinerConfig:
        ctx = ParseContext(self.algo, self.model_info, self.identity)
        return parse_config(ctx, await self._get_json("/api/system/info"))

    @property
    def fw_version(self) -> tuple[int, ...]:
        """The firmware version identified (the newest known when it reported none)."""
        return version_tuple(self.identity.fw_ver) or NEWEST

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        from asic_bridge.config import MinerConfig

        body = encode_config(config, live, self.fw_version)
        if not body:
            return
        result = await self.web.request("PATCH", "/api/system", json=body)
        if result.status != 200:
            raise CommandError(
                f"settings refused (HTTP {result.status})", ip=self.ip, command="/api/system"
            )
        applied = await self._get_config()
        changed = MinerConfig(
            pools=config.pools if config.pools != live.pools else None,
            fan_mode=config.fan_mode if config.fan_mode != live.fan_mode else None,
            temperature=config.temperature if config.temperature != live.temperature else None,
        )
        missing = not_applied(changed, applied)
        if missing:
            raise NotAppliedError(
                f"the board answered ok but kept its {', '.join(missing)}",
                wanted=changed,
                applied=applied,
                ip=self.ip,
                command="/api/system",
            )

    # -------------------------------------------------------------- firmware upload
    # bitaxeorg/ESP-Miner main/http_server/http_server.c @02bfda2c: POST /api/system/OTA takes
    # the raw esp-miner.bin as the body (esp_ota_write refuses an image whose first byte is
    # not 0xE9: "Write Error"; esp_ota_end's validation: "Validation / Activation Error"), and
    # answers text "Firmware update complete, rebooting now!" then restarts.  POST
    # /api/system/OTAWWW takes www.bin (the AxeOS SPIFFS image, no magic) into the 3 MiB www
    # partition ("File provided is too large for device" past it) and answers "WWW update
    # complete" without a reboot.  Slot sizes: ESP-Miner partitions.csv (ota_0/ota_1 4 MiB,
    # www 3 MiB).
    def _check_firmware(self, firmware: FirmwareFile) -> None:
        if _is_www_image(firmware):
            require(firmware, firmware.size <= WWW_SLOT, "a www.bin of at most 3 MiB", "AxeOS")
            return
        require(
            firmware,
            firmware.data[0] == ESP_IMAGE_MAGIC,
            "an ESP32 app image (esp-miner.bin, first byte 0xE9) or www.bin",
            "ESP-Miner",
        )
        require(firmware, firmware.size <= OTA_SLOT, "an app image of at most 4 MiB", "ESP-Miner")

    async def _upgrade_firmware(self, firmware: FirmwareFile, keep_settings: bool) -> bool:
        del keep_settings  # an OTA never touches NVS (settings): they are always kept
        path = "/api/system/OTAWWW" if _is_www_image(firmware) else "/api/system/OTA"
        result = await self.web.request(
            "POST",
            path,
            content=firmware.data,
            headers={"Content-Type": "application/octet-stream"},
            timeout=UPLOAD_TIMEOUT,
        )
        answer = result.text.strip()
        if result.status != 200:
            raise CommandError(
                f"the board refused the image (HTTP {result.status}): {answer[:200]}",
                ip=self.ip,
                command=path,
            )
        return True


ESP_IMAGE_MAGIC = 0xE9
OTA_SLOT = 4 * 1024 * 1024
WWW_SLOT = 3 * 1024 * 1024


def _is_www_image(firmware: FirmwareFile) -> bool:
    """The web UI image travels as ``www.bin`` (the release asset name); anything else is an
    app image for the OTA slot."""
    return firmware.name.lower().endswith("www.bin")


class LuckyMiner(ESPMiner):
    """A LuckyMiner (LV07/LV08) on its ESP-Miner fork."""

    make = "LuckyMiner"


# ---------------------------------------------------------------------------------------------
# Identification.


def _matches(e: Evidence) -> bool:
    return "AxeOS" in e.http_body or "Lucky miner" in e.http_body


async def _build(e: Evidence, creds: Credentials) -> BaseMiner | None:
    lucky = "AxeOS" not in e.http_body
    cls: type[ESPMiner] = LuckyMiner if lucky else ESPMiner
    miner = cls(e.ip, credentials=creds, ports=e.ports)
    timeout = e.limits.identify_timeout
    try:
        result = await miner.web.get("/api/system/info", timeout=timeout)
        info = result.json() if result.status == 200 else None
    except APIError:
        info = None
    if not isinstance(info, dict):
        info = {}
    raw = _text(info.get("minerModel") if lucky else None) or _text(info.get("ASICModel"))
    model_info = catalog.lookup(raw, make=cls.make) if raw else None
    if model_info is not None and model_info.make != cls.make:
        model_info = None
    identity = Identity(
        ip=e.ip,
        make=cls.make,
        firmware="Stock",
        model=model_info.model if model_info else raw,
        raw_model=raw,
        algo="SHA256",
        model_info=model_info,
        mac=normalize_mac(info.get("macAddr")),
        hostname=_text(info.get("hostname")),
        fw_ver=_text(info.get("version")),
        api_ver=_text(info.get("axeOSVersion")),
    )
    if info.get("asicCount") is None and info:
        try:
            asic = await miner.web.get("/api/system/asic", timeout=timeout)
            count = whole(asic.json().get("asicCount")) if asic.status == 200 else None
        except (APIError, AttributeError):
            count = None
        if count is not None:
            identity.extra["asic_count"] = count
    miner.identity = identity
    version = version_tuple(info.get("version"))
    if version is not None and version[:2] >= PAUSE_SINCE:
        miner.capabilities = miner.capabilities | {Capability.STOP_MINING}
    return miner


FAMILIES = [Family("espminer", _matches, _build)]
