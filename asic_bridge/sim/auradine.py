"""Kind ``auradine_at2860``: an Auradine Teraflux AT2860 on FluxOS.

* RPC 4028, GCMiner (CGMiner framing, "gcminer" in every STATUS ``Description``): ``version``
  (``GCMiner``, ``API``, ``FluxOS``), ``devdetails`` (``Model``), ``summary`` (``MHS 5s``/
  ``MHS av`` in MH/s, ``Elapsed``), ``devs`` (one entry per board, ``ID`` from 1,
  ``Temperature``), ``pools``;
* HTTP **8080**, the FluxOS REST API: ``POST /token`` ``{"command": "token", "user",
  "password"}`` -> ``{"STATUS": [...], "Token": [{"Token": ...}]}``; every other path needs
  the ``Token`` header (else 401 with STATUS E "Invalid token").  ``GET`` reads ``fan``,
  ``mode``, ``psu``, ``led``, ``ipreport``, ``pools``, ``summary``; ``POST`` with
  ``{"command": <cmd>, ...}`` writes ``led`` (``code``), ``mode`` (``sleep: on|off``, ``mode:
  normal|eco|turbo``, or ``mode: custom, tune: power, power: W``), ``fan`` (``percentage``, 0 =
  automatic), ``updatepools`` (``pools: [{url, user, pass}]``), ``restart`` (no parameter =
  reboot, ``parameter: gcminer`` = restart the miner program).

State reacts: sleep stops hashing, eco/turbo/custom power move power and hashrate, the LED
code shows in ``led``, pools written show in RPC ``pools``.
"""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

from .base import SimMiner, SimServer, register
from .http_server import HttpReply, HttpServer, Request, json_reply
from .rpc_server import RpcServer, invalid_command, reply, status
from .state import Hardware, MinerState, Pool

MODE_WORK = {"normal": "normal", "eco": "low", "turbo": "high"}


@register
class AuradineAT2860Sim(SimMiner):
    """Auradine Teraflux AT2860: three boards, 250 TH/s at 4000 W, four fans."""

    kind = "auradine_at2860"
    make = "Auradine"
    model = "AT2860"
    firmware = "Stock"
    default_ports = {"rpc": 4028, "web": 8080}
    hardware = Hardware(
        boards=3,
        chips_per_board=132,
        board_hashrate=250.0 / 3,
        unit="TH/s",
        fans=4,
        fan_rpm_max=7500,
        nominal_power=4000.0,
        min_power=1500.0,
        max_power=4500.0,
    )
    versions: ClassVar[tuple[str, ...]] = ("2023-12.27",)
    """FluxOS builds with a real capture (``tests/fixtures/real/auradine/``)."""
    description: ClassVar[str] = "GCMiner-2023-05.24-0ce5e7cc93a3815240fa189d0beb44b8c834936c"
    fluxos: ClassVar[str] = "FluxOS-2023-12.27-9bf070ee4408866329c93a70f2dfdc6248938aaa"

    web_user: str = "admin"
    web_password: str = "admin"
    reboot_downtime: float = 1.0
    restart_downtime: float = 0.5

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.tokens: set[str] = set()
        self.mode_name = "normal"
        self.custom_power: int | None = None
        self.led_code = 2
        self.fan_percent = 0
        super().__init__(address, **kwargs)
        self.state.hostname = f"AT2860-{self.state.mac.replace(':', '')[-6:].upper()}"

    def default_state(self, seed: str) -> MinerState:
        state = super().default_state(seed)
        worker = f"acct.at{state.mac.replace(':', '')[-6:]}"
        state.pools = [
            Pool("stratum+tcp://us-east.stratum.braiins.com:3333", worker, "x"),
            Pool("stratum+tcp://btc.global.luxor.tech:700", worker, "x"),
        ]
        return state

    def make_servers(self) -> dict[str, SimServer]:
        web = HttpServer(guard=self._guard, server_header=None)
        web.route("POST", "/token", self._token, public=True)
        web.route("*", "/*", self._web)
        return {"rpc": RpcServer(self.on_rpc, description=self.description), "web": web}

    # ------------------------------------------------------------------ RPC
    def on_rpc(
        self, command: str, parameter: str | None, request: dict[str, Any]
    ) -> dict[str, Any]:
        handler = getattr(self, f"cmd_{command}", None) if command.isidentifier() else None
        if handler is None:
            return invalid_command()
        result: dict[str, Any] = handler()
        return result

    def ok(self, code: int, msg: str, section: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        return reply(section, items, code=code, msg=msg, description=self.description)

    def cmd_version(self) -> dict[str, Any]:
        item = {"API": "1.0", "GCMiner": "0.5"}
        return self.ok(22, "GCMiner versions", "VERSION", [item])

    def cmd_devdetails(self) -> dict[str, Any]:
        items = [
            {
                "DEVDETAILS": i,
                "Name": "AD",
                "ID": i + 1,
                "Driver": "auradine",
                "Kernel": "",
                "Model": self.model,
                "Device Path": f"hb{i + 1}",
            }
            for i in range(self.hardware.boards)
        ]
        return self.ok(69, "Device Details", "DEVDETAILS", items)

    def cmd_summary(self) -> dict[str, Any]:
        r = self.state.read()
        mh = r.rate(r.hashrate, "MH/s")
        item = {
            "Accepted": r.accepted,
            "Difficulty Accepted": r.accepted * 65536,
            "Difficulty Rejected": r.rejected * 65536,
            "Elapsed": r.elapsed,
            "Hardware Errors": 0,
            "Last getwork": 0,
            "MHS 15m": mh,
            "MHS 1m": mh,
            "MHS 5m": mh,
            "MHS 5s": mh,
            "MHS av": r.rate(r.ideal_hashrate, "MH/s") if r.hashing else 0.0,
            "Rejected": r.rejected,
            "Total MH": round(r.rate(r.ideal_hashrate, "MH/s") * r.elapsed),
            "Utility": r.accepted / max(r.elapsed, 1) * 60,
        }
        return self.ok(11, "Summary", "SUMMARY", [item])

    def cmd_devs(self) -> dict[str, Any]:
        r = self.state.read()
        items = [
            {
                "DEV": b.index + 1,
                "Enabled": True,
                "ID": b.index + 1,
                "MHS 5s": float(round(r.rate(b.hashrate, "MH/s"))),
                "Name": "ASICBoard",
                "Status": "Alive" if b.alive else "Dead",
                "Temperature": b.temp_chip,
            }
            for b in r.boards
        ]
        return self.ok(9, f"{len(items)} Dev(s)", "DEVS", items)

    def cmd_pools(self) -> dict[str, Any]:
        r = self.state.read()
        items = [
            {
                "Accepted": p.accepted,
                "POOL": p.index,
                "Priority": p.priority,
                "Quota": 1,
                "Rejected": p.rejected,
                "Status": p.status,
                "Stratum Active": p.active,
                "URL": p.url,
                "User": p.user,
            }
            for p in r.pools
        ]
        return self.ok(7, f"{len(items)} Pool(s)", "POOLS", items)

    # ------------------------------------------------------------------ web
    def _status(self, msg: str, severity: str = "S", code: int = 0) -> list[dict[str, Any]]:
        return [status(severity, code, msg, self.fluxos)]

    def _answer(
        self, section: str, items: list[dict[str, Any]], code: int = 0, msg: str | None = None
    ) -> HttpReply:
        return json_reply(
            {section: items, "STATUS": self._status(msg or section, code=code), "id": 1}
        )

    def _refuse(self, msg: str, code: int = 200) -> HttpReply:
        return json_reply({"STATUS": self._status(msg, "E")}, code)

    def _guard(self, request: Request) -> HttpReply | None:
        if request.headers.get("token", "") in self.tokens:
            return None
        return self._refuse("Invalid token", 401)

    async def _token(self, request: Request) -> HttpReply:
        try:
            body = request.json()
        except ValueError:
            body = None
        if (
            not isinstance(body, dict)
            or body.get("user") != self.web_user
            or body.get("password") != self.web_password
        ):
            return self._refuse("Invalid user or password")
        token = secrets.token_hex(20)
        self.tokens.add(token)
        return json_reply({"STATUS": self._status("Token"), "Token": [{"Token": token}]})

    async def _web(self, request: Request) -> HttpReply:
        command = request.path.strip("/")
        body: Any = None
        if request.method == "POST":
            try:
                body = request.json()
            except ValueError:
                return self._refuse("Invalid JSON")
            if not isinstance(body, dict):
                return self._refuse("Invalid JSON")
            return self._write(command, body)
        if request.method != "GET":
            return self._refuse("Invalid method", 405)
        reader = getattr(self, f"get_{command}", None) if command.isidentifier() else None
        if reader is None:
            return self._refuse(f"Invalid command {command}"[:60], 404)
        result: HttpReply = reader()
        return result

    def get_fan(self) -> HttpReply:
        r = self.state.read()
        items = []
        for i, rpm in enumerate(r.fans):
            item: dict[str, Any] = {"ID": i + 1, "Max": self.hardware.fan_rpm_max, "Speed": rpm}
            if self.fan_percent:  # (the capture's fan carried one; automatic mode unrecorded)
                item["Target"] = round(self.hardware.fan_rpm_max * self.fan_percent / 100)
            items.append(item)
        return self._answer("Fan", items, 510, f"Total fans: {len(items)}")

    def get_mode(self) -> HttpReply:
        r = self.state.read()
        item: dict[str, Any] = {"Mode": self.mode_name}
        if self.mode_name == "custom" and self.custom_power is not None:
            item["Power"] = self.custom_power
        item["Sleep"] = "off" if self.state.mining else "on"
        item["Ths"] = round(r.rate(r.ideal_hashrate, "TH/s"))
        sleeping = "false" if self.state.mining else "true"
        return self._answer(
            "Mode", [item], 540, f"Operating mode: '{self.mode_name}', sleep: '{sleeping}'"
        )

    def get_psu(self) -> HttpReply:
        r = self.state.read()
        watts = r.wattage
        item = {
            "FanSpeed1": "4052.00 RPM",
            "FanSpeed2": "4144.00 RPM",
            "Iin": f"{watts / 245.0:.2f}A",
            "Iout": f"{watts * 0.95 / 11.5:.2f}A",
            "PoutMax": f"{self.hardware.power_range[1]:.2f}W",
            "PowerIn": f"{watts:.2f}W",
            "PowerOut": f"{watts * 0.95:.2f}W",
            "Vin": "245.00V",
            "Vout": "11.53V",
            "VoutSet": "11.50V",
        }
        return self._answer("PSU", [item], 570, "PSU status")

    def get_led(self) -> HttpReply:
        msg = {2: "Normal", 3: "Locate miner"}.get(self.led_code, "")
        item = {"Code": self.led_code, "LED1": 1, "LED2": 1, "Msg": msg}
        return self._answer("LED", [item], 530, "Total LEDs 2")

    def get_ipreport(self) -> HttpReply:
        s = self.state
        item = {
            "CBSerialNo": s.serial,
            "ChassisSerialNo": s.serial[-6:],
            "HBSerialNo": [f"HB{s.serial[-6:]}{i}" for i in range(self.hardware.boards)],
            "InternalType": "T0",
            "SerialNo": s.serial,
            "command": "ipreport",
            "hostname": s.hostname,
            "ip": s.ip,
            "mac": s.mac,
            "model": self.model,
            "version": self.served_version,
        }
        return self._answer("IPReport", [item], 620, "IP Report")

    def get_pools(self) -> HttpReply:
        return json_reply(self.cmd_pools())

    def get_summary(self) -> HttpReply:
        return json_reply(self.cmd_summary())

    def _write(self, command: str, body: dict[str, Any]) -> HttpReply:
        s = self.state
        if command == "led":
            code = body.get("code")
            if not isinstance(code, int) or isinstance(code, bool) or code not in range(1, 103):
                return self._refuse("Invalid LED code")
            self.led_code = code
            return self._answer("LED", [{"Code": code}])
        if command == "mode":
            return self._set_mode(body)
        if command == "fan":
            pct = body.get("percentage")
            if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
                return self._refuse("Invalid fan percentage")
            self.fan_percent = pct
            return self._answer("Fan", [])
        if command == "updatepools":
            pools = body.get("pools")
            if not isinstance(pools, list) or not pools or len(pools) > 3:
                return self._refuse("Invalid pools")
            parsed = []
            for p in pools:
                if not isinstance(p, dict) or not isinstance(p.get("url"), str) or not p["url"]:
                    return self._refuse("Invalid pools")
                parsed.append(Pool(p["url"], str(p.get("user", "")), str(p.get("pass", ""))))
            s.set_pools(parsed)
            return self._answer("Pools", [])
        if command == "restart":
            target = body.get("parameter")
            if target == "gcminer":
                self.spawn(self.restart_service(["rpc"], self.restart_downtime))
            elif target in (None, "system"):
                self.spawn(self.reboot(self.reboot_downtime))
            elif target != "api-server":
                return self._refuse("Invalid restart target")
            return self._answer("Restart", [])
        return self._refuse("Invalid command", 404)

    def _set_mode(self, body: dict[str, Any]) -> HttpReply:
        s = self.state
        if "sleep" in body:
            if body["sleep"] not in ("on", "off"):
                return self._refuse("Invalid sleep value")
            s.set_mining(body["sleep"] == "off")
        name = body.get("mode")
        if name is None:
            return self.get_mode()
        if name in MODE_WORK:
            self.mode_name, self.custom_power = name, None
            s.set_power_limit(None)
            s.set_work_mode(MODE_WORK[name])
        elif name == "custom" and body.get("tune") == "power":
            power = body.get("power")
            low, high = self.hardware.power_range
            if not isinstance(power, int) or isinstance(power, bool) or not low <= power <= high:
                return self._refuse(f"Invalid power (range {low:.0f}-{high:.0f} W)")
            self.mode_name, self.custom_power = "custom", power
            s.set_work_mode("normal")
            s.set_power_limit(power)
        else:
            return self._refuse("Invalid mode")
        return self.get_mode()
