"""Kinds ``bitaxe_gamma``, ``bitaxe_supra`` and ``luckyminer_lv08``: ESP-Miner (AxeOS) boards.

The API follows ESP-Miner's ``http_server.c`` and its published OpenAPI description: no auth;
``GET /`` is the AxeOS single-page app (its title says "AxeOS", the LuckyMiner fork's says
"Lucky miner"); ``GET /api/system/info`` carries everything (``hashRate`` and
``expectedHashrate`` in GH/s, ``power`` W, ``voltage``/``current`` mV/mA, ``temp`` chip and
``vrTemp`` regulator in degC, ``fanrpm``, ``fanspeed`` %, ``autofanspeed`` 0/1, ``macAddr``
upper-case with colons, ``stratumURL`` host only with ``stratumPort`` apart, ...);
``GET /api/system/asic`` the ASIC's options; ``PATCH /api/system`` takes any subset of the
settings (200 with an empty body; 400 "Wrong API input" on a bad value);
``POST /api/system/restart`` answers "System will restart shortly." and reboots;
``POST /api/system/pause`` / ``resume`` / ``identify`` exist from v2.14 on.

State reacts: pause -> hashRate 0 and idle power; a new ``frequency`` scales power and
hashrate (applied at once, where the firmware waits for a restart); pool and fan settings
show up in the next info.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .base import SimMiner, SimServer, register
from .http_server import HttpReply, HttpServer, Request, json_reply, text_reply
from .state import Hardware, MinerState, Pool

_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
    '<base href="/"><meta name="viewport" content="width=device-width, initial-scale=1">'
    '</head><body><app-root></app-root><script src="main.js" type="module"></script>'
    "</body></html>"
)


class ESPMinerSim(SimMiner):
    """What the ESP-Miner kinds share; kinds set the ClassVars."""

    firmware = "Stock"
    default_ports = {"http": 80}

    page_title: ClassVar[str] = "AxeOS"
    asic_model: ClassVar[str] = "BM1370"
    device_model: ClassVar[str] = "Gamma"
    board_version: ClassVar[str] = "601"
    small_cores: ClassVar[int] = 2040
    asic_count: ClassVar[int] = 1
    default_frequency: ClassVar[int] = 525
    default_voltage: ClassVar[int] = 1150
    version: ClassVar[str] = "v2.14.0"
    axeos_version: ClassVar[str] = "v2.14.0"
    info_has_asic_count: ClassVar[bool] = True
    miner_model: ClassVar[str | None] = None
    """LuckyMiner's fork adds ``minerModel`` to info."""

    reboot_downtime: float = 1.0

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.frequency = self.default_frequency
        self.autofan = 1
        self.fanspeed = 100
        self.temptarget = 60
        self.min_fan = 25
        self.fallback_in_use = False
        self.identify = False
        self.passwords = ["x", "x"]
        super().__init__(address, **kwargs)
        self.state.hostname = f"bitaxe-{self.state.mac.replace(':', '')[-4:]}"

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
        parts = self.version.lstrip("v").split(".")
        return (int(parts[0]), int(parts[1])) >= (2, 14)

    def make_servers(self) -> dict[str, SimServer]:
        web = HttpServer(server_header=None)
        web.route("GET", "/", self._index)
        web.route("GET", "/api/system/info", self._info)
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

    def info(self) -> dict[str, Any]:
        s = self.state
        r = s.read()
        hashing = r.hashing
        gh = r.rate(r.hashrate, "GH/s") if hashing else 0.0
        expected = r.rate(r.ideal_hashrate, "GH/s") if hashing else 0.0
        board = r.boards[0]
        volts = 5.1 + 0.05 * s.noise("v")
        power = r.wattage
        primary, fallback = [*s.pools, Pool("", ""), Pool("", "")][:2]
        pool_rows = r.pools
        accepted = sum(p.accepted for p in pool_rows)
        rejected = sum(p.rejected for p in pool_rows)
        info: dict[str, Any] = {
            "power": round(power, 4),
            "voltage": round(volts * 1000, 2),
            "current": round(power / volts * 1000, 2),
            "temp": board.temp_chip if hashing else round(s.ambient_temp + 5, 1),
            "temp2": -1,
            "tempMax": board.temp_chip,
            "vrTemp": round(board.temp_pcb + 8) if hashing else round(s.ambient_temp + 3),
            "vrTempMax": round(board.temp_pcb + 10),
            "maxPower": round(self.hardware.nominal_power * 1.5),
            "nominalVoltage": 5,
            "hashRate": round(gh, 4),
            "hashRate_1m": round(gh, 4),
            "expectedHashrate": round(expected, 4),
            "errorPercentage": 0.12,
            "bestDiff": "4.29G",
            "bestSessionDiff": "21.3M",
            "poolDifficulty": 1000,
            "isUsingFallbackStratum": 1 if self.fallback_in_use else 0,
            "isPSRAMAvailable": 1,
            "freeHeap": 8_421_376,
            "coreVoltage": self.default_voltage,
            "coreVoltageActual": self.default_voltage - 12 if hashing else 0,
            "frequency": round(self.default_frequency * r.ideal_hashrate / r.nominal_hashrate)
            if hashing and r.nominal_hashrate
            else self.frequency,
            "ssid": "miners",
            "macAddr": s.mac.upper(),
            "hostname": s.hostname,
            "wifiStatus": "Connected!",
            "wifiRSSI": -52,
            "apEnabled": 0,
            "sharesAccepted": accepted,
            "sharesRejected": rejected,
            "sharesRejectedReasons": [{"message": "Above target", "count": rejected}]
            if rejected
            else [],
            "uptimeSeconds": r.uptime,
            "smallCoreCount": self.small_cores,
            "ASICModel": self.asic_model,
            "stratumURL": _host(primary.url),
            "stratumPort": _port(primary.url),
            "stratumUser": primary.user,
            "stratumSuggestedDifficulty": 1000,
            "stratumExtranonceSubscribe": 0,
            "fallbackStratumURL": _host(fallback.url),
            "fallbackStratumPort": _port(fallback.url),
            "fallbackStratumUser": fallback.user,
            "fallbackStratumSuggestedDifficulty": 1000,
            "fallbackStratumExtranonceSubscribe": 0,
            "responseTime": 31.2,
            "version": self.version,
            "axeOSVersion": self.axeos_version,
            "idfVersion": "v5.4.1",
            "boardVersion": self.board_version,
            "runningPartition": "ota_0",
            "overheat_mode": 0,
            "overclockEnabled": 0,
            "display": "SSD1306 (128x32)",
            "rotation": 0,
            "invertscreen": 0,
            "displayTimeout": -1,
            "autofanspeed": self.autofan,
            "fanspeed": self.fanspeed if not self.autofan else round(r.fans[0] / 60),
            "minimumFanSpeed": self.min_fan,
            "temptarget": self.temptarget,
            "fanrpm": r.fans[0] if r.fans else 0,
            "statsFrequency": 0,
            "power_fault": "",
            "blockFound": 0,
        }
        if self.info_has_asic_count:
            info["asicCount"] = self.asic_count
        if self.miner_model is not None:
            info["minerModel"] = self.miner_model
        return info

    async def _info(self, request: Request) -> HttpReply:
        return json_reply(self.info())

    async def _asic(self, request: Request) -> HttpReply:
        return json_reply(
            {
                "ASICModel": self.asic_model,
                "deviceModel": self.device_model,
                "swarmColor": "purple",
                "asicCount": self.asic_count,
                "defaultFrequency": self.default_frequency,
                "frequencyOptions": [400, 490, 525, 550, 575, 600],
                "defaultVoltage": self.default_voltage,
                "voltageOptions": [1000, 1060, 1100, 1150, 1200, 1250],
            }
        )

    # ------------------------------------------------------------------ controls
    async def _patch(self, request: Request) -> HttpReply:
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body:
            return text_reply("Wrong API input", 400, "text/plain")
        try:
            self._apply(body)
        except (TypeError, ValueError):
            return text_reply("Wrong API input", 400, "text/plain")
        return 200, [("Content-Type", "text/plain")], b""

    def _apply(self, body: dict[str, Any]) -> None:
        s = self.state
        pools = [*s.pools, Pool("", ""), Pool("", "")]
        pools = [Pool(p.url, p.user, p.password) for p in pools[:2]]
        for index, prefix in enumerate(("stratum", "fallbackStratum")):
            pool = pools[index]
            host, port = _host(pool.url), _port(pool.url)
            if f"{prefix}URL" in body:
                host = _string(body[f"{prefix}URL"])
            if f"{prefix}Port" in body:
                port = _number(body[f"{prefix}Port"], 1, 65535)
            if f"{prefix}User" in body:
                pool.user = _string(body[f"{prefix}User"])
            if f"{prefix}Password" in body:
                pool.password = _string(body[f"{prefix}Password"])
            pool.url = f"stratum+tcp://{host}:{port}" if host else ""
        for key, low, high in (("fanspeed", 0, 100), ("temptarget", 0, 100)):
            if key in body:
                setattr(self, key, _number(body[key], low, high))
        if "minimumFanSpeed" in body:
            self.min_fan = _number(body["minimumFanSpeed"], 0, 100)
        if "autofanspeed" in body:
            self.autofan = _number(body["autofanspeed"], 0, 1)
        if "hostname" in body:
            s.hostname = _string(body["hostname"])
        if "frequency" in body:
            self.frequency = _number(body["frequency"], 1, 1000)
            ratio = self.frequency / self.default_frequency
            s.set_power_limit(self.hardware.nominal_power * ratio)
        if any(k.endswith(("URL", "Port", "User", "Password")) for k in body):
            s.set_pools([p for p in pools if p.url])

    async def _restart(self, request: Request) -> HttpReply:
        self.spawn(self.reboot(self.reboot_downtime))
        return text_reply("System will restart shortly.", content_type="text/plain")

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


def _number(value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    if not low <= value <= high:
        raise ValueError("out of range")
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
    """BitAxe Supra 401 on an older release: BM1368, no pause API, asicCount only in
    ``/api/system/asic``."""

    kind = "bitaxe_supra"
    make = "BitAxe"
    model = "Supra"
    asic_model = "BM1368"
    device_model = "Supra"
    board_version = "401"
    small_cores = 1276
    default_frequency = 490
    default_voltage = 1166
    version = "v2.4.2"
    axeos_version = "v2.4.2"
    info_has_asic_count = False
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
    """LuckyMiner LV08: the ESP-Miner fork with four BM1370 chips, "Lucky miner" web UI."""

    kind = "luckyminer_lv08"
    make = "LuckyMiner"
    model = "LV08"
    page_title = "Lucky miner"
    device_model = "LV08"
    miner_model = "LV08"
    asic_count = 4
    default_frequency = 550
    version = "v2.4.5"
    axeos_version = "v2.4.5"
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
