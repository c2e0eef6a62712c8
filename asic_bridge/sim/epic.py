"""ePIC UMC / PowerPlay on an Antminer S19j Pro, as the firmware serves it.

* Port 80: the web dashboard, a single-page app titled "Miner Web Dashboard" (pyasic and
  asic_bridge recognise the firmware by that text).
* Port 4028: the JSON HTTP API (not the CGMiner RPC).  Like the real server (hyper), it
  answers a request whose first byte cannot start an HTTP method - such as a CGMiner
  ``{"command": ...}`` probe - with an immediate 400 and closes.

GET ``summary``, ``capabilities``, ``network``, ``temps``, ``perpetualtune`` need no
password.  POSTs carry ``{"param": ..., "password": ...}`` and are answered
``{"result": bool, "error": null | <ApiError>}``: a wrong password is ``"BadPassword"``
(HTTP 200, as the API documents only 200); a body that does not parse is 400 and one of the
wrong shape 422 (axum's extractor rejections).  Controls: ``identify`` (locate LED),
``miner`` ``Stop``/``Autostart``, ``softreboot`` (the mining program restarts; the API stays
up), ``reboot``, ``perpetualtune`` (on/off), ``perpetualtune/algo`` (``Power`` in W or a
hashrate tuner in TH/s), ``coin`` (pools, 1-3), ``fanspeed`` (``{"Auto": {...}}`` or
``{"Manual": n}``), ``fans/minimum``, ``shutdowntemp``, ``criticaltemp``.

Units and shapes follow captured PowerPlay-BMS 1.5.13 answers (tests/fixtures/real/epic:
summary, capabilities, network, temps - keys newer UMC builds add, such as ``Miner Serial
Number`` or ``Working Fan Indices`` in the 1.30 API document, are not served): ``HBs[].Hashrate`` =
[MH/s, % of the tuner target, HW error %]; temperatures in 1/16 °C steps; ``Fans Rpm`` has
12 ``"Fans Speed <n>"`` keys in text order with ``null`` for connectors without a fan.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
import zipfile
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from .base import SimMiner, SimServer, register
from .http_server import HttpError, HttpReply, HttpServer, Request, json_reply, text_reply
from .state import HASH_EXPONENT, Hardware, Pool

FW_VERSION = "1.5.13"
SOFTWARE = f"PowerPlay-BMS v{FW_VERSION}"
FAN_CONNECTORS = 12
HASHRATE_TUNERS = ("VoltageOptimizer", "ChipTune", "BoardTune")

_PAGE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
    "<meta name='viewport' content='width=device-width,initial-scale=1'>"
    "<title>Miner Web Dashboard</title><script defer src='/static/js/main.js'></script>"
    "</head><body><noscript>You need to enable JavaScript to run this app.</noscript>"
    "<div id='root'></div></body></html>"
)


def _zip_intact(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


class _BadParam(Exception):
    """The body has the wrong shape: axum's Json extractor answers 422."""


def _q16(value: float) -> float:
    """A reading of a 1/16 °C sensor, printed with three decimals like the firmware."""
    return round(round(value * 16) / 16, 3)


class EpicApiServer(HttpServer):
    """The 4028 API server: a non-HTTP first byte gets 400 at once (no wait for a line)."""

    async def read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Request | None:
        try:
            first = await asyncio.wait_for(reader.readexactly(1), self.keepalive_timeout)
            while first in (b"\r", b"\n"):
                first = await asyncio.wait_for(reader.readexactly(1), self.keepalive_timeout)
        except (asyncio.IncompleteReadError, TimeoutError):
            return None
        if not (first.isalpha() and first.isupper()):
            raise HttpError(400)
        try:
            rest = await asyncio.wait_for(reader.readuntil(b"\n"), self.header_timeout)
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError:
            raise HttpError(414) from None
        except TimeoutError:
            raise HttpError(408) from None
        parts = (first + rest).decode("latin-1").strip().split(" ")
        if len(parts) != 3:
            raise HttpError(400)
        method, target, version = parts
        if not version.startswith("HTTP/1."):
            raise HttpError(505)
        if not method.isalpha() or not method.isupper():
            raise HttpError(400)
        headers = await self._read_headers(reader)
        split = urlsplit(target)
        request = Request(
            method=method,
            target=target,
            path=unquote(split.path) or "/",
            version=version,
            headers=headers,
            query_lists=parse_qs(split.query, keep_blank_values=True),
        )
        request.body = await self._read_body(request, reader, writer)
        return request


@register
class EpicSim(SimMiner):
    """ePIC PowerPlay-BMS 1.5.13 on an S19j Pro (3 boards x 126 chips, 4 fans)."""

    kind = "epic_s19jpro"
    versions = (FW_VERSION,)
    make = "AntMiner"
    model = "S19j Pro"
    firmware = "ePIC"
    default_ports = {"http": 80, "rpc": 4028}
    hardware = Hardware(
        boards=3,
        chips_per_board=126,
        board_hashrate=104.0 / 3,
        unit="TH/s",
        fans=4,
        fan_rpm_max=6000,
        nominal_power=3068.0,
    )
    model_string: ClassVar[str] = "AntMiner S19j Pro"
    model_subtype: ClassVar[str] = "BHB42601"
    chip_type: ClassVar[str] = "BM1362"
    default_clock: ClassVar[int] = 525
    default_voltage: ClassVar[int] = 13600
    hashrate_range: ClassVar[tuple[int, int]] = (50, 120)
    """Targets (TH/s) the hashrate tuners accept."""
    power_range: ClassVar[tuple[int, int]] = (1500, 3500)
    """Targets (W) the ``Power`` tuner accepts."""
    tuners: tuple[str, ...] = (*HASHRATE_TUNERS, "Power")
    """Perpetual-tune algorithms offered (firmwares for some boards lack ``Power``)."""

    password = "letmein"
    reboot_downtime = 1.0
    restart_downtime = 0.5

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        nominal = self.hardware.nominal_hashrate
        self.fan_mode: dict[str, Any] = {"Auto": {"Idle Speed": 20, "Target Temperature": 60}}
        self.min_fans = 0
        self.shutdown_temp = 85.0
        self.critical_temp = 100.0
        self.coin = "BTC"
        self.unique_id = False
        self.ptune_enabled = True  # ePIC ships with the voltage optimizer running
        self.ptune_algo = "VoltageOptimizer"
        self.ptune_targets: dict[str, int] = {
            **{name: round(nominal) for name in HASHRATE_TUNERS},
            "Power": round(self.hardware.nominal_power),
        }
        self.min_throttle = 50
        self.throttle_step = 5
        self.tuned_at = self.state.clock() - 3600.0
        self.soft_rebooting = False
        self.last_command: str | None = None
        self.last_result: str | None = None
        self._apply_tune()

    # ------------------------------------------------------------------ servers
    def make_servers(self) -> dict[str, SimServer]:
        web = HttpServer(server_header=None)
        web.route("GET", "/", self._page)
        api = EpicApiServer(server_header=None)
        for name, handler in (
            ("summary", self._summary),
            ("capabilities", self._capabilities),
            ("network", self._network),
            ("temps", self._temps),
            ("perpetualtune", self._perpetualtune),
        ):
            api.route("GET", f"/{name}", self._get(handler))
        posts: dict[str, Callable[[Any], str | dict[str, Any] | None]] = {
            "identify": self._identify,
            "miner": self._miner,
            "softreboot": self._softreboot,
            "reboot": self._reboot,
            "perpetualtune": self._ptune_enable,
            "perpetualtune/algo": self._ptune_algo,
            "coin": self._coin,
            "fanspeed": self._fanspeed,
            "fans/minimum": self._fans_minimum,
            "shutdowntemp": self._temp_setter("shutdown_temp"),
            "criticaltemp": self._temp_setter("critical_temp"),
        }
        for name, action in posts.items():
            api.route("POST", f"/{name}", self._post(name, action))
        api.route("POST", "/systemupdate", self._systemupdate)
        api.max_body = 256 * 1024 * 1024
        return {"http": web, "rpc": api}

    async def _systemupdate(self, request: Request) -> HttpReply:
        """POST /systemupdate as the firmware's OpenAPI document has it (fixtures
        real/epic/1.22.5 and 1.30.0): multipart password, checksum (SHA-256), keepsettings,
        update.zip; answered JsonResponse {result, error} with ApiError names."""
        try:
            form = request.multipart()
        except ValueError:
            return json_reply({"result": False, "error": "InvalidMultipart"})
        missing = {"password", "checksum", "keepsettings", "update.zip"} - set(form)
        if missing:
            return json_reply({"result": False, "error": "MissingParam"})
        if form["password"][1].decode("utf-8", "replace") != self.password:
            return json_reply({"result": False, "error": "BadPassword"})
        image = form["update.zip"][1]
        checksum = form["checksum"][1].decode("latin-1").strip().lower()
        if not self.begin_upgrade():
            return json_reply({"result": False, "error": "SystemUpdateInProgress"})
        if checksum != hashlib.sha256(image).hexdigest():
            error = "InvalidChecksum"
        elif not _zip_intact(image):
            error = "BadUpdateFile"
        else:
            self.end_upgrade(image)
            return json_reply({"result": True, "error": None})
        self.end_upgrade(None)
        return json_reply({"result": False, "error": error})

    async def _page(self, request: Request) -> HttpReply:
        return text_reply(_PAGE)

    def _get(self, build: Callable[[], Any]) -> Callable[[Request], Awaitable[HttpReply]]:
        async def handler(request: Request) -> HttpReply:
            return json_reply(build())

        return handler

    def _post(
        self, name: str, action: Callable[[Any], str | dict[str, Any] | None]
    ) -> Callable[[Request], Awaitable[HttpReply]]:
        async def handler(request: Request) -> HttpReply:
            try:
                body = request.json()
            except ValueError:
                return text_reply(
                    "Failed to parse the request body as JSON", 400, "text/plain; charset=utf-8"
                )
            if not isinstance(body, dict) or not isinstance(body.get("password"), str):
                return text_reply(
                    "Failed to deserialize the JSON body into the target type: "
                    "missing field `password`",
                    422,
                    "text/plain; charset=utf-8",
                )
            if body["password"] != self.password:
                return json_reply({"result": False, "error": "BadPassword"})
            try:
                error = action(body.get("param"))
            except _BadParam as exc:
                return text_reply(
                    f"Failed to deserialize the JSON body into the target type: param: {exc}",
                    422,
                    "text/plain; charset=utf-8",
                )
            self.last_command = name
            self.last_result = "Failed" if error else "Success"
            return json_reply({"result": error is None, "error": error})

        return handler

    # ------------------------------------------------------------------ tuning
    def _apply_tune(self) -> None:
        """Turn the tuner settings into the state's power limit and work mode."""
        hw = self.hardware
        if not self.ptune_enabled:
            self.state.set_work_mode("normal")
            self.state.set_power_limit(None)
            return
        target = self.ptune_targets[self.ptune_algo]
        if self.ptune_algo == "Power":
            watts = float(target)
        else:
            watts = hw.nominal_power * (target / hw.nominal_hashrate) ** (1 / HASH_EXPONENT)
        self.state.set_work_mode("high" if watts > hw.nominal_power else "normal")
        self.state.set_power_limit(watts)

    def _algo_stats(self, algo: str) -> dict[str, Any]:
        power = algo == "Power"
        return {
            "Min Throttle Target": None if power else self.min_throttle,
            "Optimized": self.state.clock() - self.tuned_at > 60.0,
            "Target": self.ptune_targets[algo],
            "Throttle Step": None if power else self.throttle_step,
            "Throttle Target": None,
            "Unit": "W" if power else "TH/s",
        }

    # ------------------------------------------------------------------ readings
    def _operating_state(self, hashing: bool) -> str:
        if self.soft_rebooting:
            return "SoftRebooting"
        return "Mining" if hashing else "Idling"

    def _psu_target_mv(self) -> int:
        load = self.state.effective_power_limit / self.hardware.nominal_power
        return int(round(12000 + 800 * min(load, 1.2), -1))

    def _fan_rpms(self, fans: tuple[int, ...]) -> list[int]:
        manual = self.fan_mode.get("Manual")
        if isinstance(manual, int):
            return [round(self.hardware.fan_rpm_max * manual / 100) for _ in fans]
        return list(fans)

    def _last_error(self) -> Any:
        dead = sorted(self.state.dead_boards)
        if dead:
            return {"HbChipDetectError": dead}
        if self.state.errors:
            return {"UnknownError": self.state.errors[0].message}
        return None

    def _summary(self) -> dict[str, Any]:
        s = self.state
        r = s.read()
        now = int(time.time())
        live = [b for b in r.boards if b.alive]
        psu_mv = self._psu_target_mv()
        hbs = []
        for b in live:
            rate = r.rate(b.hashrate, "MH/s")
            ideal = r.rate(b.ideal_hashrate, "MH/s")
            hbs.append(
                {
                    "Core Clock": [],
                    "Core Clock Avg": b.frequency,
                    "Hashrate": [
                        round(rate, 1),
                        round(100.0 * rate / ideal, 1) if ideal else 0.0,
                        0.8 if r.hashing else 0.0,
                    ],
                    "Index": b.index,
                    "Input Current": 0.0,
                    "Input Power": 0.0,
                    "Input Voltage": round(psu_mv / 1000, 2),
                    "Output Current": 0.0,
                    "Output Power": 0.0,
                    "Output Voltage": 0.0,
                    "Temperature": _q16(b.temp_pcb),
                }
            )
        rpms = self._fan_rpms(r.fans)
        fans_rpm = {
            f"Fans Speed {n}": rpms[n - 1] if n <= len(rpms) else None
            for n in range(1, FAN_CONNECTORS + 1)
        }
        manual = self.fan_mode.get("Manual")
        fan_percent = (
            manual
            if isinstance(manual, int)
            else round(100 * sum(rpms) / len(rpms) / self.hardware.fan_rpm_max)
            if rpms
            else 0
        )
        active = r.active_pool
        suffix = f"-{s.mac.replace(':', '')[-6:]}" if self.unique_id else ""
        total = r.rate(r.hashrate, "MH/s")
        running = self.ptune_enabled and r.hashing
        return {
            "Disable Board On Failure": True,
            "Enable Boards On Idle": False,
            "Fans": {
                "Fan Mode": self.fan_mode,
                "Fans Speed": fan_percent,
                "Minimum Working Fans": self.min_fans,
            },
            "Fans Rpm": dict(sorted(fans_rpm.items())),
            "HBStatus": [
                {"Detected": True, "Enabled": b.alive, "Index": b.index} for b in r.boards
            ],
            "HBs": hbs,
            "Hostname": s.hostname,
            "HwConfig": {
                "Boards Target Clock": [{"Data": b.frequency, "Index": b.index} for b in live]
            },
            "IdleOnConnectionLost": True,
            "Last License Error": None,
            "Mining": {"Algorithm": "SHA-256", "Coin": self.coin},
            "Misc": {
                "Critical Temp": self.critical_temp,
                "Locate Miner State": s.fault_light,
                "Shutdown Temp": self.shutdown_temp,
            },
            "OS Type": "umcOS",
            "Overdrive": False,
            "PerpetualTune": {
                "Algorithm": {self.ptune_algo: self._algo_stats(self.ptune_algo)},
                "Running": running,
            },
            "Power Supply Stats": {
                "Input Current": 0.0,
                "Input Power": r.wattage,
                "Input Voltage": 0.0,
                "Output Current": 0.0,
                "Output Power": 0.0,
                "Output Voltage": round(psu_mv / 1000 - 0.005, 3) if r.hashing else 0.0,
                "Target Voltage": psu_mv,
            },
            "PresetInfo": {"Target Power": self.ptune_targets["Power"]},
            "Session": {
                "Accepted": r.accepted,
                "Active HBs": len(live) if r.hashing else 0,
                "Average MHs": round(total, 1),
                "Difficulty": 262144.0,
                "Last Accepted Share Timer": 5 if r.accepted else None,
                "Last Accepted Share Timestamp": now - 5 if r.accepted else None,
                "Last Work Timer": 3 if r.hashing else None,
                "Last Work Timestamp": now - 3 if r.hashing else None,
                "LastAverageMHs": {"Hashrate": round(total, 1), "Timestamp": now - now % 3600},
                "Rejected": r.rejected,
                "Startup String": formatdate(now - r.elapsed, usegmt=False),
                "Startup Timestamp": now - r.elapsed,
                "Submitted": r.accepted + r.rejected,
                "Uptime": r.elapsed,
                "WorkReceived": r.elapsed // 36,
            },
            "Software": f"PowerPlay-BMS v{self.installed_version}"
            if self.installed_version
            else SOFTWARE,
            "Status": {
                "Last Command": self.last_command,
                "Last Command Result": self.last_result,
                "Last Error": self._last_error(),
                "Operating State": self._operating_state(r.hashing),
            },
            "Stratum": {
                "Average Latency": 0.038,
                "Config Id": active.index if active is not None else 0,
                "Current Pool": active.url.split("://", 1)[-1] if active is not None else "",
                "Current User": f"{active.user}{suffix}" if active is not None else "",
                "IsPoolConnected": active is not None and r.hashing,
                "Worker Unique Id": self.unique_id,
                "Worker Unique Id Variant": "MacAddress",
            },
            "StratumConfigs": [
                {"login": p.user, "password": p.password, "pool": p.url} for p in s.pools
            ],
        }

    def _board_serial(self, index: int) -> str:
        digest = hashlib.sha256(f"{self.state.serial}|hb{index}".encode()).hexdigest().upper()
        return f"YNAH{digest[:13]}"

    def _capabilities(self) -> dict[str, Any]:
        hw = self.hardware
        per_chip = hw.nominal_hashrate * 1e12 / (hw.boards * hw.chips_per_board)
        low, high = self.hashrate_range
        tuners = [
            {
                "algorithm": algo,
                "description": f"Keep the target {unit} by perpetually adjusting {how}.",
                "max": hi,
                "min": lo,
                "name": name,
            }
            for algo, name, unit, how, lo, hi in (
                ("VoltageOptimizer", "Voltage Optimizer", "hashrate", "voltage", low, high),
                ("ChipTune", "Chip Tune", "hashrate", "chip clocks", low, high),
                ("BoardTune", "Board Tune", "hashrate", "board clocks", low, high),
                ("Power", "Power", "power draw", "clocks and voltage", *self.power_range),
            )
            if algo in self.tuners
        ]
        return {
            # one per enabled board, in slot order (a failed board is disabled)
            "Board Serial Numbers": [
                self._board_serial(i) for i in range(hw.boards) if i not in self.state.dead_boards
            ],
            "Chip Type": self.chip_type,
            "Chips Per Bank": 3,
            "Coins": ["BTC"],
            "Control Board Version": {
                "carrierBoardVersion": "4.1.0",
                "cpuHardware": "STM32 (Device Tree Support)",
                "cpuSerial": hashlib.sha256(self.state.mac.encode()).hexdigest()[:24],
                "somBoardVersion": "7.1.0",
            },
            "Default Clock": self.default_clock,
            "Default Hashrate": round(hw.nominal_hashrate),
            "Default Voltage": self.default_voltage,
            "Display": ["ClksAndVoltage", "ShutdownTemp", "PerpetualTune"],
            "Max Clock Configs": 1,
            "Max HBs": hw.boards,
            "Model": self.model_string,
            "Model Subtype": self.model_subtype,
            "Performance Estimator": {
                "Chip Count": hw.chips_per_board,
                "Hashes Per Second Per Chip": round(per_chip / (self.default_clock * 1e6), 1),
            },
            "PerpetualTune": tuners,
            "Psu Info": {"FW": 25, "Max Vout": 15182, "Min Vout": 11877, "PSU Type": 118},
            "Temp Sensor Info": {"Count": 2, "Type": "Board"},
            "Tune Presets": [
                {
                    "clk": round(self.default_clock * f),
                    "hashrate": round(hw.nominal_hashrate * f, 1),
                    "power": round(hw.nominal_power * f ** (1 / HASH_EXPONENT)),
                    "voltage": round(self.default_voltage - 1000 * (1 - f)),
                }
                for f in (0.6, 0.8, 1.0, 1.1)
            ],
            "Voltage Estimator": {"Slope": 0.0041, "Y Intercept": 11.0},
        }

    def _network(self) -> dict[str, Any]:
        return {
            "dhcp": {
                "address": self.address,
                "dns": "8.8.8.8",
                "gateway": self.address.rsplit(".", 1)[0] + ".1",
                "mac_address": self.state.mac.upper(),
                "netmask": "255.255.255.0",
            }
        }

    def _temps(self) -> list[dict[str, Any]]:
        r = self.state.read()
        out = []
        for b in r.boards:
            hot = b.temp_pcb if b.alive else self.state.ambient_temp + 2.0
            out.append({"Data": [_q16(hot - 8.0), _q16(hot)], "Index": b.index, "Total": 0.0})
        return out

    def _perpetualtune(self) -> dict[str, Any]:
        return {
            "Algorithms": {algo: self._algo_stats(algo) for algo in self.ptune_targets},
            "Current Algorithm": self.ptune_algo,
            "Enable": self.ptune_enabled,
            "Running": self.ptune_enabled and self.state.hashing,
        }

    # ------------------------------------------------------------------ controls
    def _identify(self, param: Any) -> None:
        if not isinstance(param, bool):
            raise _BadParam("expected a boolean")
        self.state.fault_light = param

    def _miner(self, param: Any) -> None:
        if param not in ("Stop", "Autostart"):
            raise _BadParam("unknown variant, expected `Stop` or `Autostart`")
        self.state.set_mining(param == "Autostart")

    def _softreboot(self, param: Any) -> None:
        self.spawn(self._restart_mining())

    async def _restart_mining(self) -> None:
        self.soft_rebooting = True
        self.state.set_backend_running(False)
        try:
            await asyncio.sleep(self.restart_downtime)
        finally:
            self.state.restart_backend()
            self.soft_rebooting = False

    def _reboot(self, param: Any) -> None:
        if isinstance(param, bool) or not isinstance(param, int) or param < 0:
            raise _BadParam("expected an unsigned integer")
        self.spawn(self._delayed_reboot(param))

    async def _delayed_reboot(self, delay: int) -> None:
        await asyncio.sleep(delay)
        await self.reboot(self.reboot_downtime)

    def _ptune_enable(self, param: Any) -> None:
        if not isinstance(param, bool):
            raise _BadParam("expected a boolean")
        self.ptune_enabled = param
        self.tuned_at = self.state.clock()
        self._apply_tune()

    def _ptune_algo(self, param: Any) -> str | dict[str, Any] | None:
        if not isinstance(param, dict) or param.get("algo") not in self.ptune_targets:
            raise _BadParam("expected {algo, target}")
        if param["algo"] not in self.tuners:
            return {"UnknownError": f"{param['algo']} is not available on this miner"}
        target = param.get("target")
        if isinstance(target, bool) or not isinstance(target, int) or target < 0:
            raise _BadParam("target: expected an unsigned integer")
        algo = str(param["algo"])
        low, high = self.power_range if algo == "Power" else self.hashrate_range
        if not low <= target <= high:
            return {"UnknownError": f"target {target} outside {low}-{high}"}
        for key, attr in (("min_throttle", "min_throttle"), ("throttle_step", "throttle_step")):
            value = param.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                setattr(self, attr, value)
        self.ptune_algo = algo
        self.ptune_targets[algo] = target
        self.ptune_enabled = True
        self.tuned_at = self.state.clock()
        self._apply_tune()
        return None

    def _coin(self, param: Any) -> str | dict[str, Any] | None:
        if not isinstance(param, dict) or param.get("coin") not in ("BTC", "LTC"):
            raise _BadParam("expected {coin, stratum_configs}")
        configs = param.get("stratum_configs")
        if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
            raise _BadParam("stratum_configs: expected a sequence")
        if not 1 <= len(configs) <= 3:
            return "InvalidPoolConfig"
        pools = []
        for c in configs:
            url, login = c.get("pool"), c.get("login")
            if not isinstance(url, str) or not isinstance(login, str):
                raise _BadParam("stratum_configs: missing field `pool` or `login`")
            if "://" not in url or not url.split("://", 1)[1]:
                return {"InvalidPoolAddr": url}
            pools.append(Pool(url, login, str(c.get("password") or "")))
        if [(p.url, p.user, p.password) for p in pools] != [
            (p.url, p.user, p.password) for p in self.state.pools
        ]:
            self.state.set_pools(pools)
        self.coin = str(param["coin"])
        unique = param.get("unique_id")
        if isinstance(unique, bool):
            self.unique_id = unique
        return None

    def _fanspeed(self, param: Any) -> None:
        if isinstance(param, dict) and set(param) == {"Manual"}:
            speed = param["Manual"]
            if isinstance(speed, bool) or not isinstance(speed, int) or speed < 0:
                raise _BadParam("Manual: expected an integer")
            # the API document: "a number from 1-100 ... set to a number within range"
            self.fan_mode = {"Manual": max(1, min(speed, 100))}
            return
        auto = param.get("Auto") if isinstance(param, dict) and set(param) == {"Auto"} else None
        if not isinstance(auto, dict):
            raise _BadParam("expected {Auto: {...}} or {Manual: n}")
        idle, target = auto.get("Idle Speed"), auto.get("Target Temperature")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (idle, target)):
            raise _BadParam("Auto: missing field `Idle Speed` or `Target Temperature`")
        self.fan_mode = {"Auto": {"Idle Speed": idle, "Target Temperature": target}}

    def _fans_minimum(self, param: Any) -> None:
        if isinstance(param, bool) or not isinstance(param, int) or param < 0:
            raise _BadParam("expected an unsigned integer")
        self.min_fans = param

    def _temp_setter(self, attr: str) -> Callable[[Any], None]:
        def action(param: Any) -> None:
            if isinstance(param, bool) or not isinstance(param, int) or param < 0:
                raise _BadParam("expected an unsigned integer")
            setattr(self, attr, float(param))

        return action
