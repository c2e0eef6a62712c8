"""Kind ``marafw_s19xp``: an Antminer S19 XP running MaraFW (Marathon's kaonsu firmware).

Wire facts reproduced (the JSON keys and units pyasic's MaraMiner reads):

- HTTP 80, every path behind digest auth with the *stock Antminer* realm
  (``antMiner Configuration``, user ``root``), so only ``/kaonsu/v1/...`` tells it apart.
- ``GET /kaonsu/v1/<cmd>``: ``brief`` (``hashrate_realtime`` TH/s, ``hashrate_ideal`` GH/s,
  ``power_consumption_estimated`` W, ``status``, ``elapsed``), ``overview`` (``model``,
  ``mac``, ``version_firmware``), ``hashboards`` (``hashrate_average`` GH/s, sensor lists),
  ``fans`` (``current_speed`` RPM), ``pools`` (a bare list), ``miner_config``,
  ``network_config``, ``locate_miner``.
- ``POST`` with a JSON body: ``locate_miner`` ``{"blinking": bool}``; ``miner_config`` (the
  whole config, replacing the stored one, answered with it); ``network_config``;
  ``maintenance`` ``{"type": "reboot" | "reload" | "reset"}``.
- RPC 4028: a small cgminer-style API whose replies name kaonsu; unknown commands answer
  ``summary`` (a quirk pyasic documents).

State reacts: ``Sleep`` stops hashing, ``Auto`` + ``PowerTarget`` sets the power limit,
``Stock`` clears it; pools and fan settings are kept in the config; locate_miner sets the
fault light; reboot closes the ports for ``reboot_downtime`` s; reload restarts the miner.
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

from .base import SimMiner, SimServer, register
from .http_server import DigestAuth, HttpReply, HttpServer, Request, json_reply, text_reply
from .rpc_server import RpcServer, reply
from .state import Hardware, Pool, Readings

REALM = "antMiner Configuration"
API = "/kaonsu/v1/"
VERSION = "1.4.2"
SELECTORS = ("Stock", "Sleep", "Auto", "Fixed")

_INDEX = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>MaraFW</title></head>'
    '<body><div id="root"></div></body></html>\n'
)


def _error(message: str, status: int = 400) -> HttpReply:
    return json_reply({"error": message}, status)


@register
class MaraS19XPSim(SimMiner):
    kind = "marafw_s19xp"
    make = "AntMiner"
    model = "S19 XP"
    firmware = "MaraFW"
    default_ports = {"rpc": 4028, "http": 80}
    hardware = Hardware(
        boards=3,
        chips_per_board=110,
        board_hashrate=140.0 / 3,
        unit="TH/s",
        fans=4,
        fan_rpm_max=6000,
        nominal_power=3010.0,
    )
    model_string = "Antminer S19 XP"

    reboot_delay: float = 0.1
    reboot_downtime: float = 0.5
    reload_downtime: float = 0.2

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.users: dict[str, str] = {"root": "root"}
        self.digest = DigestAuth(REALM, self.users)
        self.config: dict[str, Any] = {}
        super().__init__(address, **kwargs)
        self.config = {
            "general-config": {
                "environment-profile": "AirCooling",
                "miner-name": self.state.hostname,
            },
            "advance-config": {
                "override-fan-control": False,
                "fan-fixed-percent": 100,
                "target-temperature": 70,
            },
            "mode": {"work-mode-selector": "Stock", "sleep-on-error": False},
            "pools": [{"url": p.url, "user": p.user, "pass": p.password} for p in self.state.pools],
        }

    @property
    def web_password(self) -> str:
        return self.users["root"]

    @web_password.setter
    def web_password(self, value: str) -> None:
        self.users["root"] = value

    def make_servers(self) -> dict[str, SimServer]:
        http = HttpServer(guard=self.digest)
        http.route("GET", "/", self.page_index)
        http.route("GET", "/index.html", self.page_index)
        http.route("*", API + "*", self.kaonsu)
        return {"rpc": RpcServer(self.on_rpc, description=f"kaonsu {VERSION}"), "http": http}

    # ------------------------------------------------------------------ RPC
    def on_rpc(
        self, command: str, parameter: str | None, request: dict[str, Any]
    ) -> dict[str, Any]:
        r = self.state.read()
        if command == "version":
            item: dict[str, Any] = {"kaonsu": VERSION, "API": "3.7", "Type": self.model_string}
            return self._rpc_reply(22, "kaonsu versions", "VERSION", [item])
        if command == "pools":
            items = [
                {
                    "POOL": p.index,
                    "URL": p.url,
                    "User": p.user,
                    "Status": p.status,
                    "Priority": p.priority,
                    "Accepted": p.accepted,
                    "Rejected": p.rejected,
                    "Stratum Active": p.active,
                }
                for p in r.pools
            ]
            return self._rpc_reply(7, f"{len(items)} Pool(s)", "POOLS", items)
        # every other command answers summary, as the firmware does
        summary: dict[str, Any] = {
            "Elapsed": r.elapsed,
            "MHS 5s": round(r.rate(r.hashrate, "MH/s"), 2),
            "MHS av": round(r.rate(r.ideal_hashrate, "MH/s"), 2),
            "Accepted": r.accepted,
            "Rejected": r.rejected,
        }
        return self._rpc_reply(11, "Summary", "SUMMARY", [summary])

    @staticmethod
    def _rpc_reply(
        code: int, msg: str, section: str, items: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return reply(section, items, code=code, msg=msg, description=f"kaonsu {VERSION}")

    # ------------------------------------------------------------------ web
    async def page_index(self, request: Request) -> HttpReply:
        return text_reply(_INDEX)

    async def kaonsu(self, request: Request) -> HttpReply:
        name = request.path[len(API) :].strip("/")
        if request.method == "GET":
            getter = getattr(self, f"get_{name}", None) if name.isidentifier() else None
            if getter is None:
                return _error(f"unknown endpoint {name}", 404)
            body: Any = getter(self.state.read())
            return json_reply(body)
        if request.method != "POST":
            return _error("method not allowed", 405)
        setter = getattr(self, f"post_{name}", None) if name.isidentifier() else None
        if setter is None:
            return _error(f"unknown endpoint {name}", 404)
        try:
            payload = request.json()
        except ValueError:
            return _error("body is not JSON")
        if not isinstance(payload, dict):
            return _error("body must be a JSON object")
        result: HttpReply = await setter(payload)
        return result

    # GET endpoints -----------------------------------------------------
    def _status(self) -> str:
        if not self.state.backend_running:
            return "Stopped"
        return "Mining" if self.state.hashing else "Sleeping"

    def get_brief(self, r: Readings) -> dict[str, Any]:
        return {
            "hashrate_realtime": round(r.rate(r.hashrate, "TH/s"), 3),
            "hashrate_average": round(r.rate(r.ideal_hashrate, "TH/s"), 3),
            "hashrate_realtime_10m": round(r.rate(r.hashrate, "TH/s"), 3),
            "hashrate_ideal": round(r.rate(r.ideal_hashrate if r.hashing else 0.0, "GH/s"), 1),
            "power_consumption_estimated": round(r.wattage, 1),
            "power_efficiency": round(r.wattage / r.rate(r.hashrate, "TH/s"), 2)
            if r.hashrate
            else 0.0,
            "work_mode": self.config["mode"].get("work-mode-selector", "Stock"),
            "status": self._status(),
            "elapsed": r.elapsed,
            "hashboards_count": sum(1 for b in r.boards if b.alive),
            "fans_count": len(r.fans),
        }

    def get_overview(self, r: Readings) -> dict[str, Any]:
        return {
            "model": self.model_string,
            "model_extended": self.model_string,
            "mac": self.state.mac,
            "serial": self.state.serial,
            "version_firmware": VERSION,
            "version_api": "1.0",
            "control_board": "Xilinx",
            "uptime": r.uptime,
            "time": int(time.time()),
        }

    def get_network_config(self, r: Readings) -> dict[str, Any]:
        return {
            "hostname": self.state.hostname,
            "dhcp": True,
            "address": self.address,
            "netmask": "255.255.255.0",
            "gateway": "",
            "dns": [],
        }

    def get_hashboards(self, r: Readings) -> dict[str, Any]:
        boards = []
        for b in r.boards:
            pcb, chip = round(b.temp_pcb), round(b.temp_chip)
            boards.append(
                {
                    "index": b.index,
                    "serial_number": f"{self.state.serial[3:12]}H{b.index}",
                    "asic_num": b.chips,
                    "hashrate_average": round(r.rate(b.hashrate, "GH/s"), 2),
                    "hashrate_realtime": round(r.rate(b.hashrate, "GH/s"), 2),
                    "hashrate_ideal": round(r.rate(b.ideal_hashrate, "GH/s"), 2),
                    "temperature_pcb": [pcb - 3, pcb - 3, pcb + 3, pcb + 3] if b.alive else [],
                    "temperature_chip": [chip - 2, chip - 2, chip + 2, chip + 2] if b.alive else [],
                    "frequency": round(b.frequency),
                    "voltage": b.voltage,
                    "status": "Alive" if b.alive else "Dead",
                }
            )
        return {"hashboards": boards}

    def get_fans(self, r: Readings) -> dict[str, Any]:
        top = max(self.hardware.fan_rpm_max, 1)
        return {
            "fans": [
                {
                    "id": i,
                    "current_speed": rpm,
                    "max_speed": top,
                    "speed_percent": round(rpm / top * 100),
                }
                for i, rpm in enumerate(r.fans)
            ]
        }

    def get_pools(self, r: Readings) -> list[dict[str, Any]]:
        return [
            {
                "index": p.index,
                "url": p.url,
                "user": p.user,
                "status": p.status if p.enabled and p.alive else "Dead",
                "priority": p.priority,
                "accepted": p.accepted,
                "rejected": p.rejected,
                "stale": p.stale,
                "discarded": p.accepted * 2,
                "difficulty": "65.5K" if p.active else "0",
            }
            for p in r.pools
        ]

    def get_miner_config(self, r: Readings) -> dict[str, Any]:
        return copy.deepcopy(self.config)

    def get_locate_miner(self, r: Readings) -> dict[str, Any]:
        return {"blinking": self.state.fault_light}

    # POST endpoints ----------------------------------------------------
    async def post_locate_miner(self, body: dict[str, Any]) -> HttpReply:
        value = body.get("blinking")
        if not isinstance(value, bool):
            return _error("blinking must be true or false")
        self.state.fault_light = value
        return json_reply({"blinking": value})

    async def post_network_config(self, body: dict[str, Any]) -> HttpReply:
        hostname = body.get("hostname")
        if isinstance(hostname, str) and hostname.strip():
            self.state.hostname = hostname.strip()
        return json_reply(self.get_network_config(self.state.read()))

    async def post_maintenance(self, body: dict[str, Any]) -> HttpReply:
        kind = body.get("type")
        if kind == "reboot":
            self.spawn(self._reboot_soon())
        elif kind == "reload":
            self.spawn(self.restart_service(["rpc"], self.reload_downtime))
        elif kind != "reset":
            return _error("unknown maintenance type")
        return json_reply({"result": "ok", "type": kind})

    async def _reboot_soon(self) -> None:
        await asyncio.sleep(self.reboot_delay)
        await self.reboot(self.reboot_downtime)

    async def post_miner_config(self, body: dict[str, Any]) -> HttpReply:
        problem = self._check_config(body)
        if problem is not None:
            return _error(problem)
        self.config = copy.deepcopy(body)
        self._apply()
        return json_reply(copy.deepcopy(self.config))

    def _check_config(self, body: dict[str, Any]) -> str | None:
        mode = body.get("mode")
        if not isinstance(mode, dict) or mode.get("work-mode-selector") not in SELECTORS:
            return "mode.work-mode-selector must be one of " + ", ".join(SELECTORS)
        if mode["work-mode-selector"] == "Auto":
            concorde = mode.get("concorde")
            if not isinstance(concorde, dict):
                return "mode.concorde is required in Auto mode"
            if concorde.get("mode-select") == "PowerTarget":
                target = concorde.get("power-target")
                low, high = self.hardware.power_range
                if not isinstance(target, (int, float)) or not low <= target <= high:
                    return f"power-target must be {low:.0f}-{high:.0f} W"
        pools = body.get("pools")
        if not isinstance(pools, list) or not pools:
            return "pools must be a non-empty list"
        for pool in pools:
            if not isinstance(pool, dict) or not isinstance(pool.get("url"), str):
                return "every pool needs a url"
        return None

    def _apply(self) -> None:
        mode = self.config["mode"]
        selector = mode["work-mode-selector"]
        state = self.state
        state.set_mining(selector != "Sleep")
        concorde = mode.get("concorde") or {}
        if selector == "Auto" and concorde.get("mode-select") == "PowerTarget":
            state.set_power_limit(float(concorde["power-target"]))
        elif selector != "Sleep":
            state.set_power_limit(None)
        wanted = [
            (str(p["url"]), str(p.get("user") or ""), str(p.get("pass") or ""))
            for p in self.config["pools"]
            if str(p.get("url") or "").strip()
        ]
        if wanted != [(p.url, p.user, p.password) for p in state.pools]:
            state.set_pools([Pool(url, user, password) for url, user, password in wanted])
