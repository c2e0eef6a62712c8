"""Kind ``goldshell_kdmax``: a Goldshell KD Max (Kadena) on stock firmware.

Two servers, as on the real box:

* RPC 4028, Goldshell's BFGMiner fork: ``version`` (``BFGMiner``/``API``), ``summary`` and
  ``devs`` with ``MHS 20s``/``MHS av`` (MH/s), ``devs`` per board with ``tstemp-0``/``-1``
  (chip sensors) and ``tstemp-2`` (board), ``devdetails`` with ``chips-nr``, ``stats`` whose
  second entry carries ``fan0``..``fan3`` (RPM), CGMiner-format ``pools``;
* HTTP 80, the "cloud-box" web UI: ``GET /user/login?username&password&cipher`` ->
  ``{"JWT Token": ...}`` (plain password with ``cipher=false``, or the web UI's encrypted
  default with ``cipher=true``; a refusal is an HTML page), then ``Authorization: Bearer`` on
  ``/mcb/setting`` (GET/PUT the whole object; ``powerplans`` + ``select``), ``/mcb/pools``
  (list with ``dragid``), ``PUT /mcb/newpool`` / ``/mcb/delpool``, ``/mcb/cgminer?cgminercmd=``;
  ``GET /mcb/restart`` restarts the mining program (the RPC port closes for a moment);
  ``/mcb/status`` (model, firmware) is readable without a token.

State reacts: the selected power plan is the work mode (level 0 normal, 1 low, 3 idle ->
hashrate 0); pools added and deleted show up in RPC ``pools``.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, ClassVar

from .base import SimMiner, SimServer, register
from .http_server import HttpReply, HttpServer, Request, json_reply, text_reply, token_guard
from .rpc_server import RpcServer, error_reply, invalid_command, reply
from .state import Hardware, MinerState, Pool

CIPHER_OF_DEFAULT = "bbad7537f4c8b6ea31eea0b3d760e257"
"""What the stock web UI sends for the factory password with ``cipher=true``."""

PLANS: list[dict[str, Any]] = [
    {"level": 0, "info": "Hashrate Mode"},
    {"level": 1, "info": "Low Power Mode"},
    {"level": 3, "info": "Idle Mode"},
]
LEVEL_MODES = {0: "normal", 1: "low", 3: "sleep"}

_INDEX = (
    "<!DOCTYPE html><html><head><meta charset=utf-8><title>Goldshell Miner</title>"
    "<link href=/static/css/app.css rel=stylesheet></head><body><div id=app class=cloud-box>"
    "</div><script src=/static/js/app.js></script></body></html>"
)
_LOGIN_FAILED = "<html><body>login failed</body></html>"


@register
class GoldshellKDMaxSim(SimMiner):
    """Goldshell KD Max: three boards of 84 chips, 40.2 TH/s of Kadena at 3350 W."""

    kind = "goldshell_kdmax"
    make = "Goldshell"
    model = "KD Max"
    firmware = "Stock"
    default_ports = {"rpc": 4028, "http": 80}
    hardware = Hardware(
        boards=3,
        chips_per_board=84,
        board_hashrate=40.2 / 3,
        unit="TH/s",
        fans=4,
        fan_rpm_max=6600,
        nominal_power=3350.0,
    )
    status_model: ClassVar[str] = "Goldshell-KDMax"
    firmware_version: ClassVar[str] = "2.2.1"
    description: ClassVar[str] = "bfgminer 5.4.2"

    restart_downtime: float = 0.5
    web_user: str = "admin"
    web_password: str = "123456789"
    plain_login: bool = True
    """Newer firmware accepts ``cipher=false``; older only the web UI's cipher."""

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.tokens: set[str] = set()
        self.select = 0
        super().__init__(address, **kwargs)

    def default_state(self, seed: str) -> MinerState:
        state = super().default_state(seed)
        worker = f"kda.sim{state.mac.replace(':', '')[-6:]}"
        state.pools = [
            Pool("stratum+tcp://kda.f2pool.com:5400", worker, "x"),
            Pool("stratum+tcp://kda-us.ss.poolflare.com:443", worker, "x"),
        ]
        return state

    def make_servers(self) -> dict[str, SimServer]:
        web = HttpServer(guard=token_guard(self.tokens), server_header=None)
        web.route("GET", "/", self._index, public=True)
        web.route("GET", "/user/login", self._login, public=True)
        web.route("GET", "/user/logout", self._logout, public=True)
        web.route("GET", "/mcb/status", self._status, public=True)
        web.route("GET", "/mcb/setting", self._get_setting)
        web.route("PUT", "/mcb/setting", self._put_setting)
        web.route("GET", "/mcb/pools", self._pools)
        web.route("PUT", "/mcb/newpool", self._newpool)
        web.route("PUT", "/mcb/delpool", self._delpool)
        web.route("GET", "/mcb/cgminer", self._cgminer)
        web.route("GET", "/mcb/restart", self._restart)
        return {"rpc": RpcServer(self.on_rpc, description=self.description), "http": web}

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
        return self.ok(22, "BFGMiner versions", "VERSION", [{"BFGMiner": "5.4.2", "API": "3.1"}])

    def cmd_summary(self) -> dict[str, Any]:
        r = self.state.read()
        mh = r.rate(r.hashrate, "MH/s")
        item = {
            "Elapsed": r.elapsed,
            "MHS av": round(r.rate(r.ideal_hashrate, "MH/s"), 2),
            "MHS 20s": round(mh, 2),
            "Found Blocks": 0,
            "Getworks": r.elapsed // 30,
            "Accepted": r.accepted,
            "Rejected": r.rejected,
            "Hardware Errors": r.accepted // 500,
            "Utility": round(r.accepted / max(r.elapsed, 1) * 60, 2),
            "Stale": 0,
            "Get Failures": 0,
            "Remote Failures": 0,
            "Network Blocks": r.elapsed // 30,
            "Total MH": round(mh * r.elapsed, 0),
            "Difficulty Accepted": float(r.accepted * 8192),
            "Difficulty Rejected": float(r.rejected * 8192),
            "Best Share": 912_345_678,
        }
        return self.ok(11, "Summary", "SUMMARY", [item])

    def cmd_devs(self) -> dict[str, Any]:
        r = self.state.read()
        items = []
        for b in r.boards:
            mh = r.rate(b.hashrate, "MH/s")
            items.append(
                {
                    "ASC": b.index,
                    "Name": "GSD",
                    "ID": b.index,
                    "Enabled": "Y",
                    "Status": "Alive" if b.alive else "Dead",
                    "Temperature": b.temp_pcb,
                    "MHS av": round(r.rate(b.ideal_hashrate, "MH/s"), 2),
                    "MHS 20s": round(mh, 2),
                    "Accepted": r.accepted // len(r.boards),
                    "Rejected": r.rejected // len(r.boards),
                    "Hardware Errors": 0,
                    "tstemp-0": round(b.temp_chip - 2.0, 1) if b.alive else 0,
                    "tstemp-1": b.temp_chip if b.alive else 0,
                    "tstemp-2": b.temp_pcb if b.alive else 0,
                }
            )
        return self.ok(9, f"{len(items)} ASC(s)", "DEVS", items)

    def cmd_devdetails(self) -> dict[str, Any]:
        r = self.state.read()
        items = [
            {
                "DEVDETAILS": b.index,
                "Name": "GSD",
                "ID": b.index,
                "Driver": "gsd",
                "Kernel": "",
                "Model": "KD-MAX",
                "Device Path": f"/dev/ttyS{b.index + 1}",
                "chips-nr": b.chips,
            }
            for b in r.boards
        ]
        return self.ok(69, "Device Details", "DEVDETAILS", items)

    def cmd_stats(self) -> dict[str, Any]:
        r = self.state.read()
        fans: dict[str, Any] = {"STATS": 1, "ID": "FAN0", "Elapsed": r.elapsed}
        for i, rpm in enumerate(r.fans):
            fans[f"fan{i}"] = rpm
        device = {"STATS": 0, "ID": "GSD0", "Elapsed": r.elapsed, "Calls": 0, "Wait": 0.0}
        return self.ok(70, "BFGMiner stats", "STATS", [device, fans])

    def cmd_pools(self) -> dict[str, Any]:
        r = self.state.read()
        items = []
        for p in r.pools:
            items.append(
                {
                    "POOL": p.index,
                    "URL": p.url,
                    "Status": p.status,
                    "Priority": p.priority,
                    "Quota": 1,
                    "Long Poll": "N",
                    "Getworks": r.elapsed // 30 if p.active else 0,
                    "Accepted": p.accepted,
                    "Rejected": p.rejected,
                    "Works": p.accepted,
                    "Discarded": 0,
                    "Stale": p.stale,
                    "Get Failures": p.get_failures,
                    "Remote Failures": p.remote_failures,
                    "User": p.user,
                    "Last Share Time": int(time.time()) if p.active else 0,
                    "Diff1 Shares": p.accepted * 8192,
                    "Proxy Type": "",
                    "Proxy": "",
                    "Difficulty Accepted": float(p.accepted * 8192),
                    "Difficulty Rejected": float(p.rejected * 8192),
                    "Stratum Active": p.active,
                    "Stratum URL": p.url.split("://", 1)[-1].rsplit(":", 1)[0],
                }
            )
        return self.ok(7, f"{len(items)} Pool(s)", "POOLS", items)

    def cmd_config(self) -> dict[str, Any]:
        item = {"ASC Count": 3, "PGA Count": 0, "Pool Count": len(self.state.pools)}
        return self.ok(33, "BFGMiner config", "CONFIG", [{**item, "Strategy": "Failover"}])

    # ------------------------------------------------------------------ web
    async def _index(self, request: Request) -> HttpReply:
        return text_reply(_INDEX)

    async def _login(self, request: Request) -> HttpReply:
        q = request.query
        cipher = q.get("cipher", "false") == "true"
        if cipher:
            good = self.web_password == "123456789" and q.get("password") == CIPHER_OF_DEFAULT
        else:
            good = self.plain_login and q.get("password") == self.web_password
        if q.get("username") != self.web_user or not good:
            return text_reply(_LOGIN_FAILED)
        token = secrets.token_hex(24)
        self.tokens.add(token)
        return json_reply({"JWT Token": token})

    async def _logout(self, request: Request) -> HttpReply:
        return json_reply({})

    # /mcb answers have the keys of the published 2.2.0 captures (SC5 Pro II, SC Lite; pools
    # from a CK5 on 2.0.1; tests/fixtures/real/goldshell); no KD Max answer is published.
    async def _status(self, request: Request) -> HttpReply:
        return json_reply(
            {
                "hardware": "GS-KDMAX-CB-V1.2",
                "model": self.status_model,
                "mcbversion": "MCB_V3_3",
                "firmware": self.firmware_version,
            }
        )

    def setting(self) -> dict[str, Any]:
        return {
            "select": self.select,
            "tempcontrol": True,
            "ledcontrol": False,
            "manualPowerplan": PLANS[0]["info"],
            "name": self.state.mac,
            "powerplans": [{"info": p["info"], "level": p["level"]} for p in PLANS],
            "manual": False,
            "version": "v1.0",
        }

    async def _get_setting(self, request: Request) -> HttpReply:
        return json_reply(self.setting())

    async def _put_setting(self, request: Request) -> HttpReply:
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return json_reply({"result": "failed"}, 400)
        select = body.get("select", self.select)
        if isinstance(select, bool) or not isinstance(select, int):
            return json_reply({"result": "failed"}, 400)
        if not 0 <= select < len(PLANS):
            return json_reply({"result": "failed"}, 400)
        self.select = select
        self.state.set_work_mode(LEVEL_MODES[PLANS[select]["level"]])
        return json_reply({"result": "success"})

    def web_pools(self) -> list[dict[str, Any]]:
        active = self.state.active_pool_index()
        return [
            {
                "url": p.url,
                "user": p.user,
                "pass": p.password,
                "dragid": i,
                "active": i == active,
                "legal": True,
                "pool-priority": i,
            }
            for i, p in enumerate(self.state.pools)
        ]

    async def _pools(self, request: Request) -> HttpReply:
        return json_reply(self.web_pools())

    def _pool_body(self, request: Request) -> dict[str, Any] | None:
        try:
            body = request.json()
        except ValueError:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("url"), str):
            return None
        return body

    async def _newpool(self, request: Request) -> HttpReply:
        body = self._pool_body(request)
        if body is None or not body["url"] or len(self.state.pools) >= 3:
            return json_reply({"result": "failed"}, 400)
        self.state.add_pool(body["url"], str(body.get("user", "")), str(body.get("pass", "")))
        return json_reply({"result": "success"})

    async def _delpool(self, request: Request) -> HttpReply:
        body = self._pool_body(request)
        if body is None:
            return json_reply({"result": "failed"}, 400)
        for i, p in enumerate(self.state.pools):
            if (p.url, p.user) == (body["url"], body.get("user")):
                self.state.remove_pool(i)
                return json_reply({"result": "success"})
        return json_reply({"result": "failed"}, 400)

    async def _restart(self, request: Request) -> HttpReply:
        self.spawn(self.restart_service(["rpc"], self.restart_downtime))
        return json_reply({"result": "success"})

    async def _cgminer(self, request: Request) -> HttpReply:
        command = request.query.get("cgminercmd", "")
        if not command.isidentifier():
            return json_reply(error_reply(14, "Invalid command"))
        return json_reply(self.on_rpc(command, None, {}))
