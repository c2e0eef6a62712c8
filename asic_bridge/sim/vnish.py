"""Kind ``vnish_s19jpro``: an Antminer S19j Pro running VNish (Anthill's AnthillOS UI).

Two servers, as on the real firmware:

* RPC 4028: the BMMiner API of the stock firmware (``summary``/``stats``/``pools``/``devs``,
  GH/s, chains and fans keyed from 1).  The model is ``stats`` ``STATS[0].Type``
  (``"Antminer S19j Pro (Vnish 1.2.6)"``, where pyasic reads it); ``version`` names BMMiner.
* HTTP 80: the AnthillOS web UI (``GET /`` is its page) and its REST API under ``/api/v1``:
  ``POST /unlock {"pw": ...}`` -> ``{"token": ...}`` (401 on a wrong password); the token
  goes raw in ``Authorization`` (``Bearer <token>`` is accepted too; ``system/*`` routes want
  it).  ``GET info|summary|status|chains|perf-summary`` are public; ``GET settings`` and
  ``autotune/presets`` and every POST need the token.  ``settings`` POST merges the body
  into the live settings (``{"restart_required": false, "reboot_required": false}``);
  ``find-miner`` toggles the locate LED and answers ``{"on": bool}``; ``mining/start|stop|
  pause|resume|restart`` and ``system/reboot`` act on the miner.

Presets are named by their wattage (``"3068"``); ``pretty`` is ``"<W> watt ~ <TH> TH"`` and
``status`` ``tuned``/``untuned``; the list starts with the ``disabled`` entry (stock clocks,
with its ``tune_settings``).  The active one is ``settings.miner.overclock.preset``.

Versions (the web answers' shapes follow tests/fixtures/real/vnish): ``1.2.6`` (the default)
and ``1.2.0`` (after a 1.2.0-rc5 capture).  The summary has no ``system`` section (network
facts are in ``info``); watts are ``power_consumption``; ``power_usage`` is the efficiency
in J/TH on 1.2.6 (its API document: "Same as power_efficiency") but the watts on 1.2.0,
which also lacks ``hr_stock``/``hr_nominal`` and the fans' ``max_rpm``.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any, ClassVar

from .base import SimServer, gzip_intact, register
from .cgminer import CGMinerSim
from .http_server import HttpReply, HttpServer, Request, bearer_token, json_reply, text_reply
from .state import Hardware, Pool

FW_VERSION = "1.2.6"
OLDER = "1.2.0"
STOCK_VOLT = 1380  # stock clocks of the S19j Pro (``globals`` of the disabled preset)
STOCK_FREQ = 675

_PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>AnthillOS</title></head>"
    "<body><div id='app'>AnthillOS</div><script src='/assets/index.js'></script></body></html>"
)


@register
class VNishSim(CGMinerSim):
    """VNish 1.2.6 on an S19j Pro (3 boards x 126 chips, 4 fans)."""

    kind = "vnish_s19jpro"
    versions = (FW_VERSION, OLDER)
    make = "AntMiner"
    model = "S19j Pro"
    firmware = "VNish"
    default_ports = {"rpc": 4028, "http": 80}
    hardware = Hardware(
        boards=3,
        chips_per_board=126,
        board_hashrate=104.0 / 3,
        unit="TH/s",
        fans=4,
        fan_rpm_max=6000,
        nominal_power=3068.0,
    )
    program = "BMMiner"
    program_version = "1.0.0"
    api_version = "3.1"
    miner_version = "uart_trans.1.3"
    compile_time = "Wed Mar 13 10:21:03 CST 2024"
    description = "bmminer 1.0.0"
    device_name = "BTM_SOC"
    chain_slot = 1
    fan_slot = 1
    model_label: ClassVar[str] = "Antminer S19j Pro"

    @property
    def type_string(self) -> str:  # type: ignore[override]
        return f"{self.model_label} (Vnish {self.fw_version})"

    @property
    def fw_version(self) -> str:
        if self.installed_version:
            return self.installed_version
        return "1.2.0-rc5" if self.served_version == OLDER else FW_VERSION

    password = "admin"
    reboot_downtime = 1.0

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.tokens: set[str] = set()
        self.locate = False
        self.miner_state = "mining"
        nominal = round(self.hardware.nominal_power)
        self.presets = [
            {"watts": w, "tuned": w <= nominal} for w in (2400, 2600, 2800, 3000, nominal, 3300)
        ]
        self.settings: dict[str, Any] = {}
        super().__init__(address, **kwargs)
        self.settings = {
            "miner": {
                "overclock": {
                    "modded_psu": False,
                    "preset": "disabled",
                    "globals": {"volt": STOCK_VOLT, "freq": STOCK_FREQ},
                },
                "cooling": {
                    "fan_min_count": 4,
                    "fan_min_duty": 10,
                    "fan_max_duty": 100,
                    "mode": {"name": "auto", "param": 75},
                },
                # the 1.2.6 keys and types (tests/fixtures/real/vnish/1.2.6/settings-truncated)
                "misc": {
                    "asic_boost": True,
                    "restart_hashrate": 0,
                    "restart_temp": 100,
                    "disable_restart_unbalanced": False,
                    "disable_chain_break_protection": False,
                    "max_restart_attempts": 3,
                    "bitmain_disable_volt_comp": False,
                    "quick_start": False,
                    "higher_volt_offset": 0,
                    "tuner_bad_chip_hr_threshold": 50,
                    "remain_stopped_on_reboot": True,
                    "ignore_broken_sensors": False,
                    "disable_volt_checks": False,
                    "quiet_mode": False,
                    "downscale_preset_on_failure": False,
                    "auto_chip_throttling": False,
                    "max_startup_delay_time": 0,
                    "ignore_chip_sensors": False,
                    "min_operational_chains": 3,
                },
                "pools": [],
            },
            "ui": {"theme": "dark", "locale": "en"},
            "network": {"hostname": self.state.hostname, "dhcp": True},
        }

    # ------------------------------------------------------------------ RPC
    def cmd_version(self, parameter: str | None) -> dict[str, Any]:
        item = {
            self.program: self.program_version,
            "API": self.api_version,
            "Miner": self.miner_version,
            "CompileTime": self.compile_time,
        }
        return self.ok(22, f"{self.program} versions", "VERSION", [item])

    # ------------------------------------------------------------------ HTTP
    def make_servers(self) -> dict[str, SimServer]:
        web = HttpServer(guard=self._guard, server_header="nginx")
        web.route("GET", "/", self._page, public=True)
        web.route("POST", "/api/v1/unlock", self._unlock, public=True)
        for name, handler in (
            ("info", self._info),
            ("summary", self._summary),
            ("status", self._status),
            ("chains", self._chains),
            ("perf-summary", self._perf_summary),
        ):
            web.route("GET", f"/api/v1/{name}", handler, public=True)
        web.route("GET", "/api/v1/settings", self._get_settings)
        web.route("POST", "/api/v1/settings", self._post_settings)
        web.route("GET", "/api/v1/autotune/presets", self._presets)
        web.route("POST", "/api/v1/find-miner", self._find_miner)
        for action in ("start", "stop", "pause", "resume", "restart"):
            web.route("POST", f"/api/v1/mining/{action}", self._mining(action))
        web.route("POST", "/api/v1/system/reboot", self._reboot, guard=self._bearer_guard)
        web.route(
            "POST", "/api/v1/firmware/update", self._firmware_update, guard=self._bearer_guard
        )
        web.max_body = 256 * 1024 * 1024
        return {"rpc": super().make_servers()["rpc"], "http": web}

    def _guard(self, request: Request) -> HttpReply | None:
        if bearer_token(request) in self.tokens:
            return None
        return json_reply({"err": "Unauthorized"}, 401)

    def _bearer_guard(self, request: Request) -> HttpReply | None:
        value = request.header("authorization") or ""
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip() in self.tokens:
            return None
        return json_reply({"err": "Unauthorized"}, 401)

    async def _page(self, request: Request) -> HttpReply:
        return text_reply(_PAGE)

    async def _unlock(self, request: Request) -> HttpReply:
        try:
            body = request.json()
        except ValueError:
            return json_reply({"err": "Bad request"}, 400)
        if not isinstance(body, dict) or body.get("pw") != self.password:
            return json_reply({"err": "Wrong password"}, 401)
        token = secrets.token_hex(16)
        self.tokens.add(token)
        return json_reply({"token": token})

    def _preset_name(self) -> str:
        return str(self.settings["miner"]["overclock"]["preset"])

    def _preset_dto(self, p: dict[str, Any]) -> dict[str, Any]:
        watts = p["watts"]
        ratio = (watts / self.hardware.nominal_power) ** 0.8
        th = round(self.hardware.nominal_hashrate * min(ratio, 1.15**0.8), 1)
        return {
            "name": str(watts),
            "pretty": f"{watts} watt ~ {th:g} TH",
            "status": "tuned" if p["tuned"] else "untuned",
            "modded_psu_required": watts > 3200,
        }

    def _disabled_dto(self) -> dict[str, Any]:
        """The list's first entry: stock clocks, with the settings it would tune from."""
        chips = self.hardware.chips_per_board
        return {
            "name": "disabled",
            "pretty": "Disabled",
            "status": "untuned",
            "modded_psu_required": False,
            "tune_settings": {
                "hashrate": 0,
                "volt": STOCK_VOLT * 10,
                "freq": STOCK_FREQ,
                "chains": [{"freq": 0, "chips": [0] * chips} for _ in range(self.hardware.boards)],
                "modified": True,
            },
        }

    async def _presets(self, request: Request) -> HttpReply:
        items = [self._preset_dto(p) for p in self.presets]
        return json_reply([self._disabled_dto(), *items])

    async def _perf_summary(self, request: Request) -> HttpReply:
        name = self._preset_name()
        chosen = next((p for p in self.presets if str(p["watts"]) == name), None)
        current = self._preset_dto(chosen) if chosen is not None else self._disabled_dto()
        current = {k: v for k, v in current.items() if k != "tune_settings"}
        current["globals"] = {"volt": STOCK_VOLT, "freq": STOCK_FREQ}
        switcher = {
            "enabled": False, "top_preset": None, "decrease_temp": 75, "rise_temp": 55,
            "check_time": 300, "autochange_top_preset": False, "ignore_fan_speed": False,
            "min_preset": None, "power_delta": 0,
        }  # fmt: skip
        return json_reply({"current_preset": current, "preset_switcher": switcher})

    def _chain_items(self) -> list[dict[str, Any]]:
        r = self.state.read()
        out = []
        for b in r.boards:
            state = ("mining" if r.hashing else "stopped") if b.alive else "failure"
            ideal = r.rate(b.ideal_hashrate, "GH/s")
            status: dict[str, Any] = {"state": state}
            if not b.alive:
                status["description"] = "Chain lost, no chips found"
            out.append(
                {
                    "id": b.index + 1,
                    "frequency": float(b.frequency),
                    "voltage": round(b.voltage * 1000),
                    "power_consumption": round(r.wattage / len(r.boards)),
                    "hashrate_ideal": round(ideal, 2),
                    "hashrate_rt": round(r.rate(b.hashrate, "GH/s"), 2),
                    "hashrate_percentage": round(100 * b.hashrate / b.ideal_hashrate, 2)
                    if b.ideal_hashrate
                    else 0.0,
                    "hr_error": 0.0,
                    "hw_errors": 0,
                    "pcb_temp": {"min": int(b.temp_pcb) - 2, "max": int(b.temp_pcb)},
                    "chip_temp": {"min": int(b.temp_chip) - 3, "max": int(b.temp_chip)},
                    "chip_statuses": {"red": 0, "orange": 0, "grey": 0},
                    "status": status,
                }
            )
        return out

    def _network(self) -> dict[str, Any]:
        return {
            "mac": self.state.mac.upper(),
            "dhcp": True,
            "ip": self.address,
            "netmask": "255.255.255.0",
            "gateway": "192.168.1.1",
            "dns": ["192.168.1.1"],
            "hostname": self.state.hostname,
        }

    async def _info(self, request: Request) -> HttpReply:
        model = self.model_label.removeprefix("Antminer ")
        return json_reply(
            {
                "miner": self.model_label,
                "model": model.lower().replace(" ", ""),
                "fw_name": "Vnish",
                "fw_version": self.fw_version,
                "build_uuid": "3f96e4f7-d4cb-432f-bd9c-6bc4391e9920",
                "build_name": "vnishgroup",
                "platform": "xil",
                "install_type": "nand",
                "build_time": "2025-05-29 15:48:48+00:00",
                "algorithm": "sha256d",
                "hr_measure": "GH/s",
                "system": {
                    "os": "GNU/Linux",
                    "miner_name": model.lower().replace(" ", ""),
                    "file_system_version": "",
                    "mem_total": 243704,
                    "mem_free": 180364,
                    "mem_free_percent": 74,
                    "mem_buf": 32660,
                    "mem_buf_percent": 13,
                    "network_status": self._network(),
                    "uptime": f"{self.state.uptime // 3600}:{self.state.uptime // 60 % 60:02d}",
                },
                "serial": self.state.serial,
            }
        )

    def _summary_pools(self) -> list[dict[str, Any]]:
        r = self.state.read()
        out = []
        for p in r.pools:
            out.append(
                {
                    "id": p.index,
                    "url": p.url.split("://", 1)[-1],
                    "pool_type": "UserPool",
                    "user": p.user,
                    "status": "active" if p.active else "working",
                    "asic_boost": True,
                    "diff": "65.5K" if p.active else "",
                    "accepted": p.accepted,
                    "rejected": p.rejected,
                    "stale": p.stale,
                    "ls_diff": 65536.0 if p.accepted else 0.0,
                    "ls_time": "0:00:03" if p.active and r.hashing else "0",
                    "diffa": float(p.accepted * 65536),
                    "ping": 15 if p.active else 0,
                }
            )
        devfee = {**(out[0] if out else {}), "id": len(out), "url": "DevFee"}
        devfee.update(pool_type="DevFee", user="DevFee", status="working", asic_boost=False,
                      diff="", accepted=0, rejected=0, stale=0, ls_diff=0.0, ls_time="0",
                      diffa=0.0, ping=0)  # fmt: skip
        return [*out, devfee]

    async def _summary(self, request: Request) -> HttpReply:
        r = self.state.read()
        older = self.served_version == OLDER
        state = self.miner_state if self.state.backend_running else "restarting"
        th = r.rate(r.hashrate, "TH/s")
        efficiency = round(r.wattage / th, 1) if th else 0.0
        mode = self.settings["miner"]["cooling"]["mode"]["name"]
        fans = [
            {"id": i, "rpm": rpm, "status": "ok", "max_rpm": 6000} for i, rpm in enumerate(r.fans)
        ]
        miner: dict[str, Any] = {
            "miner_status": {"miner_state": state, "miner_state_time": r.elapsed},
            "miner_type": self.type_string,
            "hr_stock": round(r.rate(r.nominal_hashrate, "GH/s"), 2),
            "average_hashrate": round(r.rate(r.ideal_hashrate, "TH/s"), 6),
            "instant_hashrate": round(th, 6),
            "hr_realtime": round(r.rate(r.hashrate, "GH/s"), 3),
            "hr_nominal": round(r.rate(r.nominal_hashrate, "GH/s"), 2),
            "hr_average": round(r.rate(r.ideal_hashrate, "GH/s"), 3),
            "pcb_temp": {"min": int(min(b.temp_pcb for b in r.boards)),
                         "max": int(max(b.temp_pcb for b in r.boards))},
            "chip_temp": {"min": int(min(b.temp_chip for b in r.boards)), "max": int(r.temp_max)},
            "power_consumption": round(r.wattage),
            # 1.2.0: the watts again; 1.2.6: deprecated, "Same as power_efficiency" (an int)
            "power_usage": round(r.wattage) if older else round(efficiency),
            "power_efficiency": efficiency,
            "hw_errors_percent": 0.0,
            "hr_error": 0.0,
            "hw_errors": 0,
            "devfee_percent": 0.0,
            "devfee": 0.0,
            "pools": self._summary_pools(),
            "cooling": {
                "fan_num": len(r.fans),
                "fans": fans,
                "settings": {"mode": {"name": "immersion" if mode == "immers" else mode}},
                "fan_duty": self._fan_duty(r.fans),
            },
            "chains": self._chain_items(),
            "found_blocks": 0,
            "best_share": r.accepted * 1877,
        }  # fmt: skip
        if older:
            del miner["hr_stock"], miner["hr_nominal"]
            for fan in fans:
                del fan["max_rpm"]
        return json_reply({"miner": miner})

    async def _status(self, request: Request) -> HttpReply:
        r = self.state.read()
        return json_reply(
            {
                "miner_state": self.miner_state,
                "miner_state_time": r.elapsed,
                "find_miner": self.locate,
                "restart_required": False,
                "reboot_required": False,
                "unlocked": bool(self.tokens),
            }
        )

    async def _chains(self, request: Request) -> HttpReply:
        return json_reply(self._chain_items())

    def _fan_duty(self, rpms: tuple[int, ...]) -> int:
        """The PWM %: the manual setting, 100 in immersion (the 1.2.0 capture: fans lost,
        duty 100), else what the fastest fan turns at."""
        mode = self.settings["miner"]["cooling"]["mode"]
        if mode.get("name") == "manual":
            return int(mode.get("param", 100))
        if mode.get("name") == "immers":
            return 100
        return round(100 * max(rpms, default=0) / self.hardware.fan_rpm_max)

    def _live_settings(self) -> dict[str, Any]:
        out = copy.deepcopy(self.settings)
        out["miner"]["pools"] = [
            {"url": p.url, "user": p.user, "pass": p.password, "order": i}
            for i, p in enumerate(self.state.pools)
        ]
        out["network"]["hostname"] = self.state.hostname
        return out

    async def _get_settings(self, request: Request) -> HttpReply:
        return json_reply(self._live_settings())

    async def _post_settings(self, request: Request) -> HttpReply:
        try:
            body = request.json()
        except ValueError:
            return json_reply({"err": "Bad JSON"}, 400)
        if not isinstance(body, dict):
            return json_reply({"err": "Bad JSON"}, 400)
        merged = _merge(self._live_settings(), body)
        miner = merged.get("miner", {})
        preset = str(miner.get("overclock", {}).get("preset", "disabled"))
        names = {str(p["watts"]) for p in self.presets}
        if preset != "disabled" and preset not in names:
            return json_reply({"err": f"Unknown preset {preset}"}, 400)
        pools = miner.get("pools")
        if not isinstance(pools, list) or not all(isinstance(p, dict) for p in pools):
            return json_reply({"err": "pools must be a list"}, 400)
        new_pools = [
            Pool(str(p.get("url", "")), str(p.get("user", "")), str(p.get("pass", "")))
            for p in pools
            if p.get("url")
        ]
        if not new_pools:
            return json_reply({"err": "At least one pool is required"}, 400)
        if [(p.url, p.user, p.password) for p in new_pools] != [
            (p.url, p.user, p.password) for p in self.state.pools
        ]:
            self.state.set_pools(new_pools)
        hostname = merged.get("network", {}).get("hostname")
        if isinstance(hostname, str) and hostname:
            self.state.hostname = hostname
        self.settings = merged
        self._apply_preset(preset)
        return json_reply({"restart_required": False, "reboot_required": False})

    def _apply_preset(self, preset: str) -> None:
        if preset == "disabled":
            self.state.set_work_mode("normal")
            self.state.set_power_limit(None)
            return
        watts = int(preset)
        self.state.set_work_mode("high" if watts > self.hardware.nominal_power else "normal")
        self.state.set_power_limit(watts)

    async def _find_miner(self, request: Request) -> HttpReply:
        self.locate = not self.locate
        self.state.fault_light = self.locate
        return json_reply({"on": self.locate})

    def _mining(self, action: str) -> Any:
        async def handler(request: Request) -> HttpReply:
            if action in ("stop", "pause"):
                self.state.set_mining(False)
                self.miner_state = "stopped" if action == "stop" else "paused"
            elif action in ("start", "resume"):
                self.state.set_mining(True)
                self.miner_state = "mining"
            else:
                self.spawn(self.restart_service(["rpc"], self.restart_downtime))
            return json_reply(None)

        return handler

    async def _firmware_update(self, request: Request) -> HttpReply:
        """firmwareUpdate of the firmware's OpenAPI document: multipart file + keep_settings,
        200 {"after": s} then a reboot, 500 {"err": ...} for a package it cannot install."""
        try:
            form = request.multipart()
        except ValueError:
            return json_reply({"err": "Bad request"}, 400)
        image = form.get("file", (None, b""))[1]
        if not self.begin_upgrade():
            return json_reply({"err": "Firmware update is already in progress"}, 500)
        if not image:
            self.end_upgrade(None)
            return json_reply({"err": "No firmware file"}, 500)
        intact = gzip_intact(image) if image[:2] == b"\x1f\x8b" else len(image) >= 512
        if not intact:
            self.end_upgrade(None)
            return json_reply({"err": "Invalid firmware file: cannot unpack"}, 500)
        self.tokens.clear()
        self.end_upgrade(image)
        return json_reply({"after": 3})

    async def _reboot(self, request: Request) -> HttpReply:
        self.tokens.clear()
        self.spawn(self.reboot(self.reboot_downtime))
        return json_reply({"after": 1})


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` laid over ``base`` key by key (lists and scalars replace, and so does a
    cooling ``mode``: one of ModeRaw's shapes, never a mix of two)."""
    out = dict(base)
    for key, value in update.items():
        if key == "mode" and isinstance(value, dict) and "name" in value:
            out[key] = value
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
