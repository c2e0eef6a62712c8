"""Kinds ``iceriver_ks3m`` and ``iceriver_ks5l``: IceRiver kHeavyHash miners on the stock web UI.

The ``userpanel`` answer follows the one real capture published, a KS5L on software
ICM168_3_2_10 (``tests/fixtures/real/iceriver/3.2.10/``): envelope ``{error, data, message}``,
every number a float, pool ``connect`` 1.0 / -1.0, history ``pows.board1`` + ``pows_x``.

No RPC; HTTP 80 only, as on the real box:

* ``GET /`` is the UI whose title is ``<TITLE>用户界面</TITLE>`` ("user interface");
* ``POST /user/loginpost?post=6&user=admin&pwd=...`` starts a server-side session (a cookie);
  a wrong password answers ``{"code": -1, ...}`` and sets nothing;
* ``POST /user/userpanel?post=4`` answers ``{"code": 0, "data": {...}}``: ``mac``
  ("AA-BB-.."), ``host``, ``softver1`` ("..._ks3m_miner"), ``unit`` ("T"), ``rtpow`` ("6.00T"),
  ``avgpow``, ``powstate``, ``locate``, ``fans`` (RPM), ``runtime`` ("dd:hh:mm:ss"),
  ``boards[]`` (``no`` from 1, ``rtpow`` "2000.00G", ``intmp``/``outtmp``, ``chipnum``),
  ``pools[]`` (``no``, ``addr``, ``user``, ``pass``, ``connect``, ``state``, ``accepted``,
  ``rejected``) -- numbers as floats, see above; ``post=5&locate=1|0`` switches the LED;
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
    versions = ("3.2.10",)
    softver: ClassVar[str] = "ICM168_3_2_10_ks3m_miner"

    web_user: str = "admin"
    web_password: str = "12345678"

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.sessions: set[str] = set()
        super().__init__(address, **kwargs)
        self.state.hostname = f"{self.model}-{self.state.mac.replace(':', '')[-4:].upper()}"

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
            answer = {"locate": self.state.fault_light}
            return json_reply({"error": 0, "data": answer, "message": ""})
        if q.get("post") != "4":
            return json_reply({"error": 0, "message": ""})
        return json_reply({"error": 0, "data": self.panel_data(), "message": ""})

    def panel_data(self) -> dict[str, Any]:
        """``userpanel`` ``data`` as 3.2.x sends it: every number a float, ``connect`` 1.0 /
        -1.0, the hashrate history as ``pows.board1`` with ``pows_x`` labels."""
        s = self.state
        r = s.read()
        gh = r.rate(r.hashrate, "GH/s")
        boards = [
            {
                "no": float(b.index + 1),
                "chipnum": float(b.chips),
                "chipsuc": 0.0,
                "error": 0.0,
                "freq": float(round(b.frequency)),
                "rtpow": f"{r.rate(b.hashrate, 'GH/s'):.2f}G",
                "avgpow": f"{r.rate(b.ideal_hashrate, 'GH/s'):.2f}G",
                "idealpow": "0.00G",
                "tempnum": "(null)",
                "pcbtemp": "0.00-0.00-0.00-0.00",
                "intmp": float(round(b.temp_pcb - 4.0)) if b.alive else 0.0,
                "outtmp": float(round(b.temp_pcb)) if b.alive else 0.0,
                "state": b.alive,
                "false": list(range(1, b.chips + 1)),
            }
            for b in r.boards
        ]
        pools = [
            {
                "no": float(p.index + 1),
                "addr": p.url,
                "user": p.user,
                "pass": s.pools[p.index].password,
                "connect": 1.0 if p.active else -1.0,
                "diff": "140737.49 G" if p.active else "0.00 G",
                "priority": float(p.priority + 1),
                "accepted": float(p.accepted),
                "rejected": float(p.rejected),
                "diffa": 0.0,
                "diffr": 0.0,
                "state": 1.0 if p.alive else 0.0,
                "lsdiff": 0.0,
                "lstime": "00:00:00",
            }
            for p in r.pools
        ]
        up = r.uptime
        history = [round(gh)] * 23
        return {
            "model": "none",
            "algo": "none",
            "online": True,
            "firmver1": "BOOT_3_1",
            "firmver2": "image_1.0",
            "softver1": self.softver,
            "softver2": self.softver.removesuffix("_miner") + "_bg",
            "firmtype": "Factory",
            "nic": "eth0",
            "mac": s.mac.upper().replace(":", "-"),
            "ip": s.ip,
            "netmask": "255.255.255.0",
            "host": s.hostname,
            "dhcp": True,
            "gateway": "",
            "dns": "",
            "locate": s.fault_light,
            "rtpow": f"{round(gh)}G",
            "avgpow": f"{round(r.rate(r.ideal_hashrate, 'GH/s')) if r.hashing else 0}G",
            "reject": round(100.0 * r.rejected / max(r.accepted + r.rejected, 1), 6),
            "runtime": f"{up // 86400:02d}:{up // 3600 % 24:02d}:{up // 60 % 60:02d}:{up % 60:02d}",
            "unit": "G",
            "pows": {"board1": history},
            "pows_x": [f"{5 * i} mins" for i in range(len(history))],
            "powstate": r.hashing,
            "netstate": True,
            "fanstate": True,
            "tempstate": False,
            "fans": list(r.fans),
            "pools": pools,
            "boards": boards,
            "refTime": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        }


@register
class IceRiverKS5LSim(IceRiverKS3MSim):
    """IceRiver KS5L: three boards of 18 chips, 12 TH/s at 3400 W (the captured model)."""

    kind = "iceriver_ks5l"
    model = "KS5L"
    hardware = Hardware(
        boards=3,
        chips_per_board=18,
        board_hashrate=4.0,
        unit="TH/s",
        fans=4,
        fan_rpm_max=6000,
        nominal_power=3400.0,
    )
    softver = "ICM168_3_2_10_ks5L_miner"
