"""Kind ``iceriver_ks3m``: an IceRiver KS3M (kHeavyHash, 6 TH/s) on its stock web UI.

No RPC; HTTP 80 only, as on the real box:

* ``GET /`` is the UI whose title is ``<TITLE>用户界面</TITLE>`` ("user interface");
* ``POST /user/loginpost?post=6&user=admin&pwd=...`` starts a server-side session (a cookie);
  a wrong password answers ``{"code": -1, ...}`` and sets nothing;
* ``POST /user/userpanel?post=4`` answers ``{"code": 0, "data": {...}}``: ``mac``
  ("AA-BB-.."), ``host``, ``softver1`` ("..._ks3m_miner"), ``unit`` ("T"), ``rtpow`` ("6.00T"),
  ``avgpow``, ``powstate``, ``locate``, ``fans`` (RPM), ``runtime`` ("d:hh:mm:ss"),
  ``boards[]`` (``no`` from 1, ``rtpow`` "2000.00G", ``intmp``/``outtmp``, ``chipnum``),
  ``pools[]`` (``no``, ``addr``, ``user``, ``pass``, ``connect``, ``state``, ``accepted``,
  ``rejected``); ``post=5&locate=1|0`` switches the locate LED;
* without a session every ``/user/userpanel`` call is redirected (302) to ``/user/login``.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, ClassVar

from .base import SimMiner, SimServer, register
from .http_server import HttpReply, HttpServer, Request, json_reply, text_reply
from .state import Hardware, MinerState, Pool

_INDEX = (
    "<HTML><HEAD><META http-equiv=Content-Type content='text/html; charset=utf-8'>"
    "<TITLE>用户界面</TITLE></HEAD><BODY><div id=app></div>"
    "<script src=/js/login.js></script></BODY></HTML>"
)


@register
class IceRiverKS3MSim(SimMiner):
    """IceRiver KS3M: three boards of 18 chips, 6 TH/s of kHeavyHash at 3400 W, four fans."""

    kind = "iceriver_ks3m"
    make = "IceRiver"
    model = "KS3M"
    firmware = "Stock"
    default_ports = {"http": 80}
    hardware = Hardware(
        boards=3,
        chips_per_board=18,
        board_hashrate=2.0,
        unit="TH/s",
        fans=4,
        fan_rpm_max=6000,
        nominal_power=3400.0,
    )
    softver: ClassVar[str] = "BOOT_1_2_ks3m_miner"

    web_user: str = "admin"
    web_password: str = "12345678"

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.sessions: set[str] = set()
        super().__init__(address, **kwargs)
        self.state.hostname = f"KS3M-{self.state.mac.replace(':', '')[-4:].upper()}"

    def default_state(self, seed: str) -> MinerState:
        state = super().default_state(seed)
        worker = f"kaspa:qsim{state.mac.replace(':', '')[-6:]}.ks3m"
        state.pools = [
            Pool("stratum+tcp://kas.2miners.com:2020", worker, "x"),
            Pool("stratum+tcp://pool.woolypooly.com:3112", worker, "x"),
        ]
        return state

    def make_servers(self) -> dict[str, SimServer]:
        web = HttpServer(server_header="GoAhead-Webs")
        web.route("GET", "/", self._index)
        web.route("GET", "/user/login", self._index)
        web.route("POST", "/user/loginpost", self._login)
        web.route("POST", "/user/userpanel", self._panel)
        return {"http": web}

    def expire_sessions(self) -> None:
        """Forget every session (as after the firmware's idle logout or a restart)."""
        self.sessions.clear()

    async def _index(self, request: Request) -> HttpReply:
        return text_reply(_INDEX)

    async def _login(self, request: Request) -> HttpReply:
        q = request.query
        if q.get("post") != "6":
            return json_reply({"code": -2, "msg": "bad request"})
        if q.get("user") != self.web_user or q.get("pwd") != self.web_password:
            return json_reply({"code": -1, "msg": "user or password error"})
        session = secrets.token_hex(16)
        self.sessions.add(session)
        headers = [("Set-Cookie", f"session={session}; Path=/; HttpOnly")]
        return json_reply({"code": 0, "msg": "ok"}, headers=headers)

    async def _panel(self, request: Request) -> HttpReply:
        if request.cookies().get("session") not in self.sessions:
            return 302, [("Location", "/user/login")], b""
        q = request.query
        if q.get("post") == "5":
            locate = q.get("locate")
            if locate not in ("0", "1"):
                return json_reply({"code": -2, "msg": "bad request"})
            self.state.fault_light = locate == "1"
            return json_reply({"code": 0, "data": {"locate": self.state.fault_light}})
        if q.get("post") != "4":
            return json_reply({"code": -2, "msg": "bad request"})
        return json_reply({"code": 0, "data": self.panel_data()})

    def panel_data(self) -> dict[str, Any]:
        s = self.state
        r = s.read()
        th = r.rate(r.hashrate, "TH/s")
        boards = [
            {
                "no": b.index + 1,
                "chipnum": b.chips,
                "chipsuc": b.chips,
                "error": 0,
                "freq": round(b.frequency),
                "rtpow": f"{r.rate(b.hashrate, 'GH/s'):.2f}G",
                "avgpow": f"{r.rate(b.ideal_hashrate, 'GH/s'):.2f}G",
                "tempnum": 2,
                "pcbtemp": f"{b.temp_pcb:.0f}",
                "intmp": round(b.temp_pcb - 8.0, 1) if b.alive else 0,
                "outtmp": b.temp_pcb if b.alive else 0,
                "state": b.alive,
            }
            for b in r.boards
        ]
        pools = [
            {
                "no": p.index + 1,
                "addr": p.url,
                "user": p.user,
                "pass": s.pools[p.index].password,
                "connect": p.active,
                "diff": "4.29G",
                "priority": p.priority,
                "accepted": p.accepted,
                "rejected": p.rejected,
                "diffa": float(p.accepted),
                "diffr": float(p.rejected),
                "state": 1 if p.alive else 0,
                "lsdiff": 0.0,
                "lstime": time.strftime("%H:%M:%S") if p.active else "",
            }
            for p in r.pools
        ]
        up = r.uptime
        return {
            "model": "none",
            "algo": "kHeavyHash",
            "online": True,
            "firmver1": "1.2",
            "softver1": self.softver,
            "firmver2": "",
            "softver2": "",
            "firmtype": "stable",
            "nic": "eth0",
            "mac": s.mac.upper().replace(":", "-"),
            "ip": s.ip,
            "netmask": "255.255.255.0",
            "host": s.hostname,
            "dhcp": True,
            "gateway": "",
            "dns": "",
            "locate": s.fault_light,
            "rtpow": f"{th:.2f}T",
            "avgpow": f"{r.rate(r.ideal_hashrate, 'TH/s') if r.hashing else 0.0:.2f}T",
            "reject": round(100.0 * r.rejected / max(r.accepted + r.rejected, 1), 2),
            "runtime": f"{up // 86400}:{up // 3600 % 24:02d}:{up // 60 % 60:02d}:{up % 60:02d}",
            "unit": "T",
            "pows": {"rtpow": [round(th, 2)], "avgpow": [round(th, 2)]},
            "pows_x": [time.strftime("%H:%M")],
            "powstate": r.hashing,
            "netstate": True,
            "fanstate": True,
            "tempstate": True,
            "fans": list(r.fans),
            "pools": pools,
            "boards": boards,
            "refTime": int(time.time()),
        }
