"""Kinds ``bitaxe_gamma``, ``bitaxe_supra`` and ``luckyminer_lv08``: ESP-Miner (AxeOS) boards.

Each firmware version is served with the key set of its real capture
(``tests/fixtures/real/espminer/<version>/``), live values from the state overlaid:

* **2.4.2 / 2.4.5** (``bitaxe_supra``; 2.4.5 adds ``idfVersion``): info with ``asicCount``,
  ``bestDiff`` a string, no ``temptarget``/``axeOSVersion``/``expectedHashrate``, no
  ``/api/system/asic``; the PATCH takes ``fanspeed`` and the flat ``stratum*`` keys and stores
  whatever it is given.
* **2.7.0**: adds ``temptarget``, ``maxPower``, ``sharesRejectedReasons`` ...
* **2.12.2**: no ``asicCount`` in info (``/api/system/asic`` has it), numbers for ``bestDiff``,
  ``manualFanSpeed``/``minFanSpeed``; the PATCH is checked against the settings table
  (a wrong type or an out-of-range value refuses the whole request, 400 "Wrong API input"), and
  ``fanspeed`` is no longer a setting: writing it does nothing.
* **2.15.0**: pools live in a ``pools`` array (``id``, ``stratumURL``, ...) chosen by
  ``primaryPoolIndex``/``secondaryPoolIndex``; the flat ``stratum*`` keys are still reported
  but no longer written (a PATCH naming them answers 200 and changes nothing);
  ``miningPaused``, ``/api/system/pause`` and ``resume`` (from 2.14).

cJSON has one number type: a value with no fraction goes on the wire as an integer, so the
answers are passed through :func:`_cjson` before they are sent.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from .base import SimMiner, SimServer, firmware_version_in, register
from .http_server import HttpReply, HttpServer, Request, json_reply, text_reply
from .state import Hardware, MinerState, Pool, Readings

_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
    '<base href="/"><meta name="viewport" content="width=device-width, initial-scale=1">'
    '</head><body><app-root></app-root><script src="main.js" type="module"></script>'
    "</body></html>"
)

# Settings the 2.11+ table accepts: rest name -> (type, low, high).  Older firmware reads its
# own fixed list (``_LEGACY_KEYS``) without any check.
_TABLE: dict[str, tuple[type, int, int]] = {
    "hostname": (str, 1, 32),
    "frequency": (float, 1, 65535),
    "coreVoltage": (int, 1, 65535),
    "autofanspeed": (int, 0, 1),
    "manualFanSpeed": (int, 0, 100),
    "minFanSpeed": (int, 0, 99),
    "temptarget": (int, 35, 66),
    "overheat_mode": (int, 0, 0),
    "primaryPoolIndex": (int, 0, 3),
    "secondaryPoolIndex": (int, 0, 3),
    "useFallbackStratum": (int, 0, 1),
}
_FLAT_POOL = ("URL", "Port", "User", "Password")
OTA_SLOT = 4 * 1024 * 1024
WWW_SLOT = 3 * 1024 * 1024
APP_DESC_MAGIC = (0xABCD5432).to_bytes(4, "little")
"""esp_app_desc_t.magic_word, right after the image and first segment headers (offset 32):
an image cut short or not built by ESP-IDF lacks it, and esp_ota_end refuses it."""


def _send_err(status: int, message: str) -> HttpReply:
    """What ESP-IDF's httpd_resp_send_err sends: the status and the message as HTML."""
    return text_reply(message, status)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def _cjson(value: Any) -> Any:
    """What cJSON prints: a float without a fraction becomes an integer."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _cjson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cjson(v) for v in value]
    return value


class ESPMinerSim(SimMiner):
    """What the ESP-Miner kinds share; kinds set the ClassVars."""

    firmware = "Stock"
    default_ports = {"http": 80}
    versions: ClassVar[tuple[str, ...]] = ("2.15.0", "2.12.2", "2.7.0")

    page_title: ClassVar[str] = "AxeOS"
    asic_model: ClassVar[str] = "BM1370"
    device_model: ClassVar[str] = "Gamma"
    board_version: ClassVar[str] = "601"
    swarm_color: ClassVar[str] = "green"
    small_cores: ClassVar[int] = 2040
    asic_count: ClassVar[int] = 1
    default_frequency: ClassVar[int] = 525
    default_voltage: ClassVar[int] = 1150
    frequency_options: ClassVar[tuple[int, ...]] = (400, 490, 525, 550, 600, 625)
    voltage_options: ClassVar[tuple[int, ...]] = (1000, 1060, 1100, 1150, 1200, 1250)
    max_power: ClassVar[int] = 40
    shape: ClassVar[str] = ""
    """The capture version a one-version kind follows (forks without their own capture)."""
    miner_model: ClassVar[str | None] = None
    """LuckyMiner's fork adds ``minerModel`` to info."""

    reboot_downtime: float = 1.0

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.frequency = float(self.default_frequency)
        self.autofan = 1
        self.manual_fan = 100
        self.temptarget = 60
        self.min_fan = 25
        self.fallback_in_use = False
        self.identify = False
        self.passwords = ["x", "x"]
        self.www_version: str | None = None
        super().__init__(address, **kwargs)
        self.state.hostname = f"bitaxe-{self.state.mac.replace(':', '')[-4:]}"

    @property
    def fw(self) -> tuple[int, ...]:
        """The served version as numbers, for comparisons."""
        return _version(self.served_version or self.shape)

    @property
    def version(self) -> str:
        """The firmware's ``version`` string (the one an OTA installed, once one did)."""
        return self.installed_version or f"v{self.served_version or self.shape}"

    @property
    def axeos_version(self) -> str:
        """``axeOSVersion``: the web UI's version, which OTAWWW replaces on its own."""
        return self.www_version or self.version

    def default_state(self, seed: str) -> MinerState:
        state = super().default_state(seed)
        worker = f"bc1qsim{state.mac.replace(':', '')[-6:]}.{self.device_model.lower()}"
        state.pools = [
            Pool("stratum+tcp://public-pool.io:21496", worker),
            Pool("stratum+tcp://solo.ckpool.org:3333", worker),
        ]
        return state

    @property
    def pause_api(self) -> bool:
        return self.fw >= (2, 14)

    def make_servers(self) -> dict[str, SimServer]:
        web = HttpServer(server_header=None, max_body=8 * 1024 * 1024)
        web.route("GET", "/", self._index)
        web.route("GET", "/api/system/info", self._info)
        web.route("POST", "/api/system/OTA", self._ota)
        web.route("POST", "/api/system/OTAWWW", self._ota_www)
        if self.fw >= (2, 9):
            web.route("GET", "/api/system/asic", self._asic)
        web.route("PATCH", "/api/system", self._patch)
        web.route("POST", "/api/system/restart", self._restart)
        if self.pause_api:
            web.route("POST", "/api/system/pause", self._pause)
            web.route("POST", "/api/system/resume", self._resume)
            web.route("POST", "/api/system/identify", self._identify)
        return {"http": web}

    # ------------------------------------------------------------------ readings
    async def _index(self, request: Request) -> HttpReply:
        return text_reply(_PAGE.format(title=self.page_title))

    def _fan_percent(self, r: Readings) -> float:
        if not self.autofan:
            return float(self.manual_fan)
        top = self.hardware.fan_rpm_max
        return round(100.0 * r.fans[0] / top, 4) if r.fans and top else 0.0

    def _pools(self) -> tuple[Pool, Pool]:
        primary, fallback = [*self.state.pools, Pool("", ""), Pool("", "")][:2]
        return primary, fallback

    def info(self) -> dict[str, Any]:
        """``/api/system/info`` of the version served, as cJSON prints it."""
        r = self.state.read()
        if self.fw >= (2, 15):
            info = self._info_2_15(r)
        elif self.fw >= (2, 12):
            info = self._info_2_12(r)
        elif self.fw >= (2, 7):
            info = self._info_2_7(r)
        else:
            info = self._info_2_4(r)
        if self.miner_model is not None:
            info["minerModel"] = self.miner_model
        result: dict[str, Any] = _cjson(info)
        return result

    def _live(self, r: Readings) -> dict[str, Any]:
        """The values every version reports, under their (stable) key names."""
        s = self.state
        board = r.boards[0]
        volts = 5.1 + 0.05 * s.noise("v")
        power = float(r.wattage)
        gh = r.rate(r.hashrate, "GH/s") if r.hashing else 0.0
        return {
            "power": round(power, 7),
            "voltage": round(volts * 1000, 4),
            "current": round(power / volts * 1000, 4),
            "temp": round(board.temp_chip if r.hashing else s.ambient_temp + 5, 3),
            "vrTemp": round(board.temp_pcb + 8.5 if r.hashing else s.ambient_temp + 3, 1),
            "hashRate": round(gh, 7),
            "sharesAccepted": r.accepted,
            "sharesRejected": r.rejected,
            "uptimeSeconds": r.uptime,
            "macAddr": s.mac.upper(),
            "hostname": s.hostname,
            "fanrpm": r.fans[0] if r.fans else 0,
            "fanspeed": self._fan_percent(r),
            "isUsingFallbackStratum": 1 if self.fallback_in_use else 0,
            "coreVoltageActual": self.default_voltage - 3 if r.hashing else 0,
            "expectedHashrate": round(
                self.small_cores * self.asic_count * self.frequency / 1000.0, 4
            )
            if r.hashing
            else 0.0,
        }

    def _flat_pools(self, difficulty: bool, extranonce: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for prefix, pool in zip(("stratum", "fallbackStratum"), self._pools(), strict=True):
            out[f"{prefix}URL"] = _host(pool.url)
            out[f"{prefix}Port"] = _port(pool.url)
            out[f"{prefix}User"] = pool.user
            if difficulty:
                out[f"{prefix}SuggestedDifficulty"] = 1000
                out[f"{prefix}ExtranonceSubscribe"] = extranonce
        return out

    def _info_2_4(self, r: Readings) -> dict[str, Any]:
        v = self._live(r)
        return {
            **{k: v[k] for k in ("power", "voltage", "current", "temp", "vrTemp", "hashRate")},
            "bestDiff": "1.73G",
            "bestSessionDiff": "48.9M",
            "stratumDiff": 1000,
            "isUsingFallbackStratum": v["isUsingFallbackStratum"],
            "freeHeap": 8432452,
            "coreVoltage": self.default_voltage,
            "coreVoltageActual": v["coreVoltageActual"],
            "frequency": round(self.frequency),
            "ssid": "miners",
            "macAddr": v["macAddr"],
            "hostname": v["hostname"],
            "wifiStatus": "Connected!",
            "sharesAccepted": v["sharesAccepted"],
            "sharesRejected": v["sharesRejected"],
            "uptimeSeconds": v["uptimeSeconds"],
            **self._chip_and_pools(),
            "version": self.version,
            **({"idfVersion": "v5.4"} if self.fw >= (2, 4, 5) else {}),
            "boardVersion": self.board_version,
            "runningPartition": "ota_0",
            "flipscreen": 1,
            "overheat_mode": 0,
            "invertscreen": 0,
            "invertfanpolarity": 1,
            "autofanspeed": self.autofan,
            "fanspeed": round(v["fanspeed"]),
            "fanrpm": v["fanrpm"],
        }

    def _chip_and_pools(self) -> dict[str, Any]:
        """2.4-2.8: the chip facts, then the two pools' keys interleaved (URL, URL, Port ...)."""
        pools = self._flat_pools(False, None)
        order = [f"{p}{k}" for k in ("URL", "Port", "User") for p in ("stratum", "fallbackStratum")]
        return {
            "asicCount": self.asic_count,
            "smallCoreCount": self.small_cores,
            "ASICModel": self.asic_model,
            **{key: pools[key] for key in order},
        }

    def _rejected_reasons(self, r: Readings) -> list[dict[str, Any]]:
        return [{"message": "Above target", "count": r.rejected}] if r.rejected else []

    def _info_2_7(self, r: Readings) -> dict[str, Any]:
        v = self._live(r)
        return {
            **{k: v[k] for k in ("power", "voltage", "current", "temp", "vrTemp")},
            "maxPower": self.max_power,
            "nominalVoltage": 5,
            "hashRate": v["hashRate"],
            "bestDiff": "5.56G",
            "bestSessionDiff": "89.6M",
            "stratumDiff": 1000,
            "isUsingFallbackStratum": v["isUsingFallbackStratum"],
            "isPSRAMAvailable": 1,
            "freeHeap": 8395120,
            "coreVoltage": self.default_voltage,
            "coreVoltageActual": v["coreVoltageActual"],
            "frequency": round(self.frequency),
            "ssid": "miners",
            "macAddr": v["macAddr"],
            "hostname": v["hostname"],
            "wifiStatus": "Connected!",
            "wifiRSSI": -61,
            "apEnabled": 0,
            "sharesAccepted": v["sharesAccepted"],
            "sharesRejected": v["sharesRejected"],
            "sharesRejectedReasons": self._rejected_reasons(r),
            "uptimeSeconds": v["uptimeSeconds"],
            **self._chip_and_pools(),
            "version": self.version,
            "idfVersion": "v5.4.1",
            "boardVersion": self.board_version,
            "runningPartition": "ota_1",
            "flipscreen": 1,
            "overheat_mode": 0,
            "overclockEnabled": 0,
            "invertscreen": 0,
            "displayTimeout": -1,
            "autofanspeed": self.autofan,
            "fanspeed": round(v["fanspeed"]),
            "temptarget": self.temptarget,
            "fanrpm": v["fanrpm"],
        }

    def _hashrate_monitor(self, v: dict[str, Any]) -> dict[str, Any]:
        rate = float(v["hashRate"])
        return {
            "asics": [
                {"total": rate, "domains": [round(rate / 4, 7)] * 4, "errorCount": 0}
                for _ in range(self.asic_count)
            ]
        }

    def _info_2_12(self, r: Readings) -> dict[str, Any]:
        v = self._live(r)
        return {
            **{k: v[k] for k in ("power", "voltage", "current", "temp")},
            "temp2": -1,
            "vrTemp": v["vrTemp"],
            "maxPower": self.max_power,
            "nominalVoltage": 5,
            "hashRate": v["hashRate"],
            "hashRate_1m": v["hashRate"],
            "hashRate_10m": v["hashRate"],
            "hashRate_1h": v["hashRate"],
            "expectedHashrate": v["expectedHashrate"],
            "errorPercentage": 0.0,
            "bestDiff": 6702259710,
            "bestSessionDiff": 46346,
            "poolDifficulty": 1000,
            "isUsingFallbackStratum": v["isUsingFallbackStratum"],
            "poolAddrFamily": 2,
            "isPSRAMAvailable": 1,
            "freeHeap": 8166224,
            "freeHeapInternal": 104127,
            "freeHeapSpiram": 8094068,
            "coreVoltage": self.default_voltage,
            "coreVoltageActual": v["coreVoltageActual"],
            "frequency": round(self.frequency),
            "ssid": "miners",
            "macAddr": v["macAddr"],
            "hostname": v["hostname"],
            "ipv4": self.state.ip,
            "ipv6": "",
            "wifiStatus": "Connected!",
            "wifiRSSI": -52,
            "apEnabled": 0,
            "sharesAccepted": v["sharesAccepted"],
            "sharesRejected": v["sharesRejected"],
            "sharesRejectedReasons": self._rejected_reasons(r),
            "uptimeSeconds": v["uptimeSeconds"],
            "smallCoreCount": self.small_cores,
            "ASICModel": self.asic_model,
            **self._flat_pools(True, 0),
            "responseTime": 134.091,
            "version": self.version,
            "axeOSVersion": self.axeos_version,
            "idfVersion": "v5.5.1",
            "boardVersion": self.board_version,
            "resetReason": "Software reset via esp_restart",
            "runningPartition": "ota_0",
            "overheat_mode": 0,
            "overclockEnabled": 0,
            "display": "SSD1306 (128x32)",
            "rotation": 0,
            "invertscreen": 0,
            "displayTimeout": 1,
            "autofanspeed": self.autofan,
            "fanspeed": v["fanspeed"],
            "manualFanSpeed": self.manual_fan,
            "minFanSpeed": self.min_fan,
            "temptarget": self.temptarget,
            "fanrpm": v["fanrpm"],
            "fan2rpm": 0,
            "statsFrequency": 60,
            "blockFound": 0,
            "blockHeight": 931558,
            "scriptsig": "Public-Pool",
            "networkDifficulty": 146472570619930,
            "hashrateMonitor": self._hashrate_monitor(v),
        }

    def _pool_entry(self, index: int, pool: Pool) -> dict[str, Any]:
        return {
            "id": index,
            "stratumProtocol": "SV1",
            "stratumURL": _host(pool.url),
            "stratumPort": _port(pool.url),
            "stratumUser": pool.user,
            "stratumPassword": "*****",
            "stratumSuggestedDifficulty": 1000,
            "stratumExtranonceSubscribe": False,
            "stratumTLS": 0,
            "stratumCert": "",
            "stratumDecodeCoinbase": True,
            "stratumV2ChannelType": "extended",
            "stratumV2AuthorityPubkey": "",
            "stratumV2RequireAuth": False,
        }

    def _info_2_15(self, r: Readings) -> dict[str, Any]:
        v = self._live(r)
        flat: dict[str, Any] = {}
        for prefix, pool in zip(("stratum", "fallbackStratum"), self._pools(), strict=True):
            entry = self._pool_entry(0, pool)
            for key in (
                "URL",
                "Port",
                "User",
                "SuggestedDifficulty",
                "ExtranonceSubscribe",
                "TLS",
                "Cert",
                "DecodeCoinbase",
                "Protocol",
                "V2AuthorityPubkey",
                "V2ChannelType",
            ):
                flat[f"{prefix}{key}"] = entry[f"stratum{key}"]
        return {
            **{k: v[k] for k in ("power", "voltage", "current", "temp")},
            "temp2": -1,
            "vrTemp": v["vrTemp"],
            "coreVoltageActual": float(v["coreVoltageActual"]),
            "actualFrequency": self.frequency if r.hashing else 0.0,
            "expectedHashrate": v["expectedHashrate"],
            "fanspeed": v["fanspeed"],
            "fanrpm": v["fanrpm"],
            "fan2rpm": 0,
            "hashRate": v["hashRate"],
            "hashRate_1m": v["hashRate"],
            "hashRate_10m": v["hashRate"],
            "hashRate_1h": v["hashRate"],
            "errorPercentage": 0.35,
            "sharesAccepted": v["sharesAccepted"],
            "sharesRejected": v["sharesRejected"],
            "sharesPending": 0,
            "bestDiff": 2983746512,
            "bestSessionDiff": 88412366,
            "poolDifficulty": 1000,
            "responseTime": 41.927,
            "responseShareBatch": 1,
            "processTime": 0.412,
            "workReceived": v["uptimeSeconds"] * 2,
            "blockFound": 0,
            "showNewBlock": False,
            "blockHeight": 948213,
            "scriptsig": "Public-Pool",
            "networkDifficulty": 148264312458713,
            "coinbaseValueTotalSatoshis": 315421877,
            "coinbaseValueUserSatoshis": 315421877,
            "freeHeap": 8123416,
            "freeHeapInternal": 98231,
            "freeHeapSpiram": 8025185,
            "minFreeHeap": 7911244,
            "maxAllocHeap": 61440,
            "uptimeSeconds": v["uptimeSeconds"],
            "totalUptimeSeconds": v["uptimeSeconds"] + 1_641_809,
            "totalHashes": 1.8412e21,
            "totalLog2Work": 70.6394,
            "cpuUsage": 23.5,
            "miningPaused": not self.state.mining,
            "overheat_mode": 0,
            "wifiStatus": "Connected!",
            "wifiRSSI": -57,
            "version": self.version,
            "axeOSVersion": self.axeos_version,
            "idfVersion": "v5.5.1",
            "boardVersion": self.board_version,
            "maxPower": self.max_power,
            "nominalVoltage": 5,
            "smallCoreCount": self.small_cores,
            "ASICModel": self.asic_model,
            "isPSRAMAvailable": 1,
            "resetReason": "Software reset via esp_restart",
            "runningPartition": "ota_1",
            "macAddr": v["macAddr"],
            "hostname": v["hostname"],
            "ssid": "miners",
            "ipv4": self.state.ip,
            "ipv6": "",
            "apEnabled": 0,
            "poolConnectionInfo": "IPv4",
            "isUsingFallbackStratum": v["isUsingFallbackStratum"],
            "primaryPoolIndex": 0,
            "secondaryPoolIndex": 1,
            "useFallbackStratum": 1,
            "pools": [self._pool_entry(i, p) for i, p in enumerate(self.state.pools[:4]) if p.url],
            **flat,
            "useCustomWWW": 0,
            "overclockEnabled": 0,
            "display": "SSD1306 (128x32)",
            "rotation": 0,
            "invertscreen": 0,
            "displayTimeout": -1,
            "autofanspeed": self.autofan,
            "manualFanSpeed": self.manual_fan,
            "minFanSpeed": self.min_fan,
            "temptarget": self.temptarget,
            "coreVoltage": self.default_voltage,
            "frequency": self.frequency,
            "statsFrequency": 0,
            "statsLimit": 720,
            "hashrateMonitor": self._hashrate_monitor(v),
            "partitions": [
                {
                    "label": label,
                    "isCurrent": label == "ota_1",
                    "isFactory": label == "factory",
                    "version": self.version,
                    "compileDate": "Jun 18 2026",
                    "compileTime": "09:41:37",
                    "usagePercent": 74,
                }
                for label in ("factory", "ota_0", "ota_1")
            ],
            "sharesRejectedReasons": self._rejected_reasons(r),
            "blockSignals": ["/Public-Pool/"],
            "coinbaseOutputs": [{"value": 315421877, "address": "bc1qsimulated"}],
            "fullHostname": f"{v['hostname']}.local",
            "mdnsHostname": v["hostname"],
        }

    async def _info(self, request: Request) -> HttpReply:
        return json_reply(self.info())

    async def _asic(self, request: Request) -> HttpReply:
        return json_reply(
            {
                "ASICModel": self.asic_model,
                "deviceModel": self.device_model,
                "swarmColor": self.swarm_color,
                "asicCount": self.asic_count,
                "hashDomains": 4,
                "defaultFrequency": self.default_frequency,
                "frequencyOptions": list(self.frequency_options),
                "defaultVoltage": self.default_voltage,
                "voltageOptions": list(self.voltage_options),
            }
        )

    # ------------------------------------------------------------------ controls
    async def _patch(self, request: Request) -> HttpReply:
        try:
            body = request.json()
        except ValueError:
            return text_reply("Invalid JSON", 400, "text/plain")
        if not isinstance(body, dict):
            return text_reply("Invalid JSON", 400, "text/plain")
        if self.fw >= (2, 11):
            if not self._valid(body):
                return text_reply("Wrong API input", 400, "text/plain")
            self._apply_table(body)
        else:
            try:
                self._apply_legacy(body)
            except (TypeError, ValueError):
                return text_reply("Invalid JSON", 400, "text/plain")
        return 200, [("Content-Type", "text/plain")], b""

    def _valid(self, body: dict[str, Any]) -> bool:
        """The 2.11+ check: every known setting of the right type and in range."""
        for key, value in body.items():
            spec = _TABLE.get(key)
            if key.startswith(("stratum", "fallbackStratum")) and self.fw < (2, 15):
                spec = (int, 0, 65535) if key.endswith("Port") else (str, 0, 256)
            if spec is None:
                continue
            kind, low, high = spec
            if kind is str:
                if not isinstance(value, str) or not low <= len(value) <= high:
                    return False
            elif not _number_in(value, low, high):
                return False
        pools = body.get("pools")
        if pools is not None:
            if self.fw < (2, 15):
                return True  # not a setting there: ignored
            return isinstance(pools, list) and all(_pool_ok(p) for p in pools)
        return True

    def _apply_table(self, body: dict[str, Any]) -> None:
        s = self.state
        if "autofanspeed" in body:
            self.autofan = int(body["autofanspeed"])
        if "manualFanSpeed" in body:
            self.manual_fan = int(body["manualFanSpeed"])
        if "minFanSpeed" in body:
            self.min_fan = int(body["minFanSpeed"])
        if "temptarget" in body:
            self.temptarget = int(body["temptarget"])
        if "hostname" in body:
            s.hostname = body["hostname"]
        if "frequency" in body:
            self._set_frequency(float(body["frequency"]))
        if self.fw >= (2, 15):
            if "pools" in body:
                pools = [Pool(p.url, p.user, p.password) for p in s.pools]
                for item in body["pools"]:
                    index = int(item["id"])
                    while len(pools) <= index:
                        pools.append(Pool("", ""))
                    old = pools[index]
                    password = item.get("stratumPassword", "x")
                    if password == "*****":
                        password = old.password
                    url = f"stratum+tcp://{item['stratumURL']}:{int(item['stratumPort'])}"
                    pools[index] = Pool(url, item["stratumUser"], password)
                s.set_pools([p for p in pools if p.url])
        else:
            self._apply_flat_pools(body)

    def _apply_legacy(self, body: dict[str, Any]) -> None:
        """Up to 2.10: a fixed list of keys, stored as given (no range checks)."""
        if "fanspeed" in body:
            self.manual_fan = _number(body["fanspeed"])
        if "autofanspeed" in body:
            self.autofan = _number(body["autofanspeed"])
        if "temptarget" in body and self.fw >= (2, 7):
            self.temptarget = _number(body["temptarget"])
        if "minFanSpeed" in body and self.fw >= (2, 10):
            self.min_fan = _number(body["minFanSpeed"])
        if "hostname" in body:
            self.state.hostname = _string(body["hostname"])
        if "frequency" in body and _number(body["frequency"]) > 0:
            self._set_frequency(float(_number(body["frequency"])))
        self._apply_flat_pools(body)

    def _apply_flat_pools(self, body: dict[str, Any]) -> None:
        if not any(f"{p}{k}" in body for p in ("stratum", "fallbackStratum") for k in _FLAT_POOL):
            return
        s = self.state
        pools = [Pool(p.url, p.user, p.password) for p in self._pools()]
        for index, prefix in enumerate(("stratum", "fallbackStratum")):
            pool = pools[index]
            host, port = _host(pool.url), _port(pool.url)
            if f"{prefix}URL" in body:
                host = _string(body[f"{prefix}URL"])
            if f"{prefix}Port" in body:
                port = _number(body[f"{prefix}Port"])
            if f"{prefix}User" in body:
                pool.user = _string(body[f"{prefix}User"])
            if f"{prefix}Password" in body:
                pool.password = _string(body[f"{prefix}Password"])
            pool.url = f"stratum+tcp://{host}:{port}" if host else ""
        s.set_pools([p for p in pools if p.url])

    def _set_frequency(self, mhz: float) -> None:
        self.frequency = mhz
        self.state.set_power_limit(self.hardware.nominal_power * mhz / self.default_frequency)

    async def _restart(self, request: Request) -> HttpReply:
        self.spawn(self.reboot(self.reboot_downtime))
        if self.fw >= (2, 15):
            return json_reply({"message": "System will restart shortly."})
        return text_reply("System will restart shortly.", content_type="text/plain")

    # ------------------------------------------------------------------ OTA
    # As http_server.c's POST_OTA_update / POST_WWW_update (bitaxeorg/ESP-Miner @02bfda2c):
    # errors go out through httpd_resp_send_err (status line + the message as the body).
    async def _ota(self, request: Request) -> HttpReply:
        if not self.begin_upgrade():
            # one httpd task: the second upload waits behind the first, whose restart ends it
            await asyncio.sleep(3600)
        image = request.body
        if not image or image[0] != 0xE9:  # esp_ota_write: ESP_ERR_OTA_VALIDATE_FAILED
            self.end_upgrade(None)
            return _send_err(500, "Write Error")
        if len(image) > OTA_SLOT or image[32:36] != APP_DESC_MAGIC:  # esp_ota_end
            self.end_upgrade(None)
            return _send_err(500, "Validation / Activation Error")
        self.end_upgrade(image)
        return text_reply("Firmware update complete, rebooting now!\n", content_type="text/plain")

    async def _ota_www(self, request: Request) -> HttpReply:
        if self.upgrading:
            await asyncio.sleep(3600)
        if len(request.body) > WWW_SLOT:
            return _send_err(400, "File provided is too large for device")
        self.www_version = firmware_version_in(request.body) or self.www_version
        return text_reply("WWW update complete\n", content_type="text/plain")

    async def _pause(self, request: Request) -> HttpReply:
        self.state.set_mining(False)
        return json_reply({"message": "Mining paused"})

    async def _resume(self, request: Request) -> HttpReply:
        self.state.set_mining(True)
        return json_reply({"message": "Mining resumed"})

    async def _identify(self, request: Request) -> HttpReply:
        self.identify = not self.identify
        if self.identify:
            return json_reply({"message": 'The device says "Hi!" for 30 seconds.'})
        return json_reply({"message": 'The device no longer says "Hi!".'})


def _number_in(value: object, low: int, high: int) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return low <= value <= high


def _pool_ok(item: object) -> bool:
    """2.15's pool check: an object with an id 0-3, a URL, a port and a user."""
    if not isinstance(item, dict):
        return False
    keys = ("id", "stratumURL", "stratumPort", "stratumUser")
    index, url, port, user = (item.get(k) for k in keys)
    return (
        isinstance(index, int)
        and 0 <= index <= 3
        and isinstance(url, str)
        and 0 < len(url) <= 255
        and isinstance(port, int)
        and 1 <= port <= 65535
        and isinstance(user, str)
        and 0 < len(user) <= 255
        and isinstance(item.get("stratumPassword", ""), str)
    )


def _host(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].rsplit(":", 1)[0] if rest else ""


def _port(url: str) -> int:
    rest = url.split("://", 1)[-1].split("/", 1)[0]
    _, sep, port = rest.rpartition(":")
    return int(port) if sep and port.isdigit() else 3333


def _string(value: object) -> str:
    if not isinstance(value, str) or len(value) > 256:
        raise ValueError("not a string")
    return value


def _number(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    return int(value)


@register
class BitAxeGammaSim(ESPMinerSim):
    """BitAxe Gamma 601: one BM1370 at 525 MHz, about 1.07 TH/s at 17 W."""

    kind = "bitaxe_gamma"
    make = "BitAxe"
    model = "Gamma"
    hardware = Hardware(
        boards=1,
        chips_per_board=1,
        board_hashrate=2040 * 525 / 1e6,
        unit="TH/s",
        fans=1,
        fan_rpm_max=5200,
        nominal_power=17.0,
    )


@register
class BitAxeSupraSim(ESPMinerSim):
    """BitAxe Supra 401 on v2.4.5 / v2.4.2: BM1368, no pause API, no ``/api/system/asic``."""

    kind = "bitaxe_supra"
    make = "BitAxe"
    model = "Supra"
    versions = ("2.4.5", "2.4.2")
    asic_model = "BM1368"
    device_model = "Supra"
    board_version = "401"
    small_cores = 1276
    default_frequency = 490
    default_voltage = 1166
    hardware = Hardware(
        boards=1,
        chips_per_board=1,
        board_hashrate=1276 * 490 / 1e6,
        unit="TH/s",
        fans=1,
        fan_rpm_max=5000,
        nominal_power=12.0,
    )


@register
class LuckyMinerLV08Sim(ESPMinerSim):
    """LuckyMiner LV08: the ESP-Miner fork with four BM1370 chips, "Lucky miner" web UI.

    No capture of the fork is published: it follows ESP-Miner 2.4.5's key set (its base)
    plus the ``minerModel`` key identification reads.
    """

    kind = "luckyminer_lv08"
    make = "LuckyMiner"
    model = "LV08"
    versions = ()
    shape = "2.4.5"
    page_title = "Lucky miner"
    device_model = "LV08"
    miner_model = "LV08"
    asic_count = 4
    default_frequency = 550
    hardware = Hardware(
        boards=1,
        chips_per_board=4,
        board_hashrate=2040 * 4 * 550 / 1e6,
        unit="TH/s",
        fans=1,
        fan_rpm_max=6000,
        nominal_power=120.0,
    )


__all__ = ["BitAxeGammaSim", "BitAxeSupraSim", "ESPMinerSim", "LuckyMinerLV08Sim"]
