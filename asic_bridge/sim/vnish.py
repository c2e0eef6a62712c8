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
``status`` ``tuned``/``untuned``.  The active one is ``settings.miner.overclock.preset``
(``"disabled"`` = stock clocks).
"""

from __future__ import annotations

import copy
import secrets
from typing import Any, ClassVar

from .base import SimServer, register
from .cgminer import CGMinerSim
from .http_server import HttpReply, HttpServer, Request, bearer_token, json_reply, text_reply
from .state import Hardware, Pool

FW_VERSION = "1.2.6"

_PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>AnthillOS</title></head>"
    "<body><div id='app'>AnthillOS</div><script src='/assets/index.js'></script></body></html>"
)


@register
class VNishSim(CGMinerSim):
    """VNish 1.2.6 on an S19j Pro (3 boards x 126 chips, 4 fans)."""

    kind = "vnish_s19jpro"
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
    type_string = f"Antminer S19j Pro (Vnish {FW_VERSION})"

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
                "overclock": {"preset": "disabled", "globals": {"freq": 0, "volt": 0}},
                "cooling": {
                    "fan_min_count": 4,
                    "fan_min_duty": 10,
                    "mode": {"name": "auto", "param": 75},
                },
                "misc": {"restart_temp": 100, "quick_start": False, "asic_boost": True},
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

    async def _presets(self, request: Request) -> HttpReply:
        return json_reply([self._preset_dto(p) for p in self.presets])

    async def _perf_summary(self, request: Request) -> HttpReply:
        name = self._preset_name()
        current = next((self._preset_dto(p) for p in self.presets if str(p["watts"]) == name), None)
        return json_reply({"current_preset": current, "preset_switcher": {"enabled": False}})

    def _chain_items(self) -> list[dict[str, Any]]:
        r = self.state.read()
        out = []
        for b in r.boards:
            state = ("mining" if r.hashing else "stopped") if b.alive else "failure"
            out.append(
                {
                    "id": b.index + 1,
                    "frequency": b.frequency,
                    "voltage": round(b.voltage * 1000),
                    "power_usage": round(r.wattage / len(r.boards)),
                    "hashrate_ideal": round(r.rate(b.ideal_hashrate, "GH/s"), 2),
                    "hashrate_rt": round(r.rate(b.hashrate, "GH/s"), 2),
                    "hw_errors": 0,
                    "pcb_temp": {"min": int(b.temp_pcb) - 2, "max": int(b.temp_pcb)},
                    "chip_temp": {"min": int(b.temp_chip) - 3, "max": int(b.temp_chip)},
                    "chip_statuses": {"red": 0, "orange": 0, "grey": 0},
                    "status": {
                        "state": state,
                        "description": "" if b.alive else "Chain lost, no chips found",
                    },
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
        return json_reply(
            {
                "miner": self.type_string,
                "model": self.model_label.removeprefix("Antminer "),
                "fw_name": "Vnish",
                "fw_version": FW_VERSION,
                "build_time": "2024-03-13 10:21:03",
                "platform": "xil",
                "install_type": "nand",
                "serial": self.state.serial,
                "system": {
                    "os": "GNU/Linux",
                    "network_status": self._network(),
                    "uptime": f"{self.state.uptime // 60} min",
                },
            }
        )

    async def _summary(self, request: Request) -> HttpReply:
        r = self.state.read()
        state = self.miner_state if self.state.backend_running else "restarting"
        return json_reply(
            {
                "miner": {
                    "miner_type": self.type_string,
                    "miner_status": {"miner_state": state, "miner_state_time": r.elapsed},
                    "average_hashrate": round(r.rate(r.ideal_hashrate, "TH/s"), 2),
                    "instant_hashrate": round(r.rate(r.hashrate, "TH/s"), 2),
                    "hr_nominal": round(r.rate(r.nominal_hashrate, "TH/s"), 2),
                    "power_usage": round(r.wattage),
                    "power_efficiency": round(r.wattage / r.rate(r.hashrate, "TH/s"), 1)
                    if r.hashrate
                    else 0.0,
                    "hw_errors_percent": 0.0,
                    "pcb_temp": {
                        "min": int(min(b.temp_pcb for b in r.boards)),
                        "max": int(max(b.temp_pcb for b in r.boards)),
                    },
                    "chip_temp": {
                        "min": int(min(b.temp_chip for b in r.boards)),
                        "max": int(r.temp_max),
                    },
                    "cooling": {
                        "fan_num": len(r.fans),
                        "fans": [
                            {"id": i, "rpm": rpm, "status": "ok", "max_rpm": 6000}
                            for i, rpm in enumerate(r.fans)
                        ],
                        "settings": self.settings["miner"]["cooling"],
                    },
                    "chains": self._chain_items(),
                    "found_blocks": 0,
                    "best_share": r.accepted * 1877,
                },
                "system": {
                    "os": "GNU/Linux",
                    "miner_name": self.type_string,
                    "file_system_version": FW_VERSION,
                    "network_status": self._network(),
                    "uptime": f"{r.uptime // 60} min",
                },
            }
        )

    async def _status(self, request: Request) -> HttpReply:
        return json_reply(
            {
                "miner_state": self.miner_state,
                "find_miner": self.locate,
                "restart_required": False,
                "reboot_required": False,
                "unlocked": bool(self.tokens),
            }
        )

    async def _chains(self, request: Request) -> HttpReply:
        return json_reply(self._chain_items())

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

    async def _reboot(self, request: Request) -> HttpReply:
        self.tokens.clear()
        self.spawn(self.reboot(self.reboot_downtime))
        return json_reply({"after": 1})


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` laid over ``base`` key by key (lists and scalars replace)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
