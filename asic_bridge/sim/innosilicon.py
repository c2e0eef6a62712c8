"""Kind ``innosilicon_t3hplus``: an Innosilicon T3H+ (SHA-256) on stock firmware.

* RPC 4028, Innosilicon's CGMiner ("innominer" in every STATUS ``Description``): ``version``,
  ``summary`` (``MHS av``/``5s``/``1m``/``5m``/``15m``), ``stats`` with one entry per chain
  (``Chain ID``, ``Num chips``, ``Num active chips``, ``Temp``/``Temp max``/``Temp min``,
  ``Fan duty`` %, ``MHS av``, ``Voltage Avg`` mV, as captured A9/T3 answers show) and one per
  pool, ``pools``, ``devdetails``;
* HTTP 80, the DragonMint-style API: ``POST /api/auth`` (form ``username``/``password``) ->
  ``{"success": true, "jwt": ...}``; every other ``POST /api/<cmd>`` needs
  ``Authorization: Bearer <jwt>`` and answers ``{"success": false, "token": "expired"}`` with
  HTTP 200 when the token is unknown or expired.  Commands: ``type``, ``getAll``
  (``all.mac``, ``all.total_hash`` in H and MH, ``all.chain[]``, ``all.power`` W,
  ``all.fansSpeed`` %, ``all.running_mode.level``), ``getErrorDetail``, ``overview``, ``pools``,
  ``updatePools`` (``Pool1``/``UserName1``/``Password1`` .. 3), ``reboot``, ``restartCgMiner``,
  ``poweroff``.

State reacts: pools written through the web show in RPC ``pools``; reboot and restart close
the ports and restart the counters; ``poweroff`` stops hashing until the next reboot.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, ClassVar

from .base import SimMiner, SimServer, register
from .http_server import HttpReply, HttpServer, Request, json_reply, text_reply
from .rpc_server import RpcServer, invalid_command, reply
from .shapes import conform
from .state import Hardware, MinerState, Pool

# Key sets and types of the innominer 1.1.x RPC as captured (an A9 on innominer a9-1.1.0,
# tests/fixtures/real/innosilicon; no T3H+ answer is published); values are defaults only.
_SUMMARY: dict[str, Any] = {
    "Elapsed": 0, "MHS av": 0.0, "MHS 5s": 0.0, "MHS 1m": 0.0, "MHS 5m": 0.0, "MHS 15m": 0.0,
    "Found Blocks": 0, "Getworks": 0, "Accepted": 0, "Rejected": 0, "Hardware Errors": 0,
    "Utility": 0.0, "Discarded": 0, "Stale": 0, "Get Failures": 0, "Local Work": 0,
    "Remote Failures": 0, "Network Blocks": 0, "Total MH": 0.0, "Work Utility": 0.0,
    "Difficulty Accepted": 0.0, "Difficulty Rejected": 0.0, "Difficulty Stale": 0.0,
    "Best Share": 0.0, "Device Hardware%": 0.0, "Device Rejected%": 0.0,
    "Pool Rejected%": 0.0, "Pool Stale%": 0.0, "Last getwork": 0,
}  # fmt: skip
_POOL: dict[str, Any] = {
    "POOL": 0, "URL": "", "User": "", "Status": "Alive", "Priority": 0, "Quota": 1,
    "Long Poll": "N", "Getworks": 0, "Accepted": 0, "Rejected": 0, "Works": 0, "Discarded": 0,
    "Stale": 0, "Get Failures": 0, "Remote Failures": 0, "Last Share Time": 0,
    "Proxy Type": "", "Proxy": "", "Difficulty Accepted": 0.0, "Difficulty Rejected": 0.0,
    "Difficulty Stale": 0.0, "Last Share Difficulty": 0.0, "Has Stratum": True,
    "Stratum Active": False, "Stratum URL": "", "Has GBT": False, "Pool Rejected%": 0.0,
    "Pool Stale%": 0.0,
}  # fmt: skip

_INDEX = (
    "<!DOCTYPE html><html><head><meta charset=utf-8><title>DragonMint</title>"
    "<link href=/css/app.css rel=stylesheet></head><body><div id=app></div>"
    "<script src=/js/app.js></script></body></html>"
)


@register
class InnosiliconT3HPlusSim(SimMiner):
    """Innosilicon T3H+: three chains of 114 chips, 74 TH/s at 3250 W."""

    kind = "innosilicon_t3hplus"
    make = "Innosilicon"
    model = "T3H+"
    firmware = "Stock"
    default_ports = {"rpc": 4028, "http": 80}
    hardware = Hardware(
        boards=3,
        chips_per_board=114,
        board_hashrate=74.0 / 3,
        unit="TH/s",
        fans=4,
        fan_rpm_max=6000,
        nominal_power=3250.0,
    )
    description: ClassVar[str] = "innominer t3h+-1.1.2"
    fw_date: ClassVar[str] = "2021-09-14"

    web_user: str = "admin"
    web_password: str = "admin"
    token_ttl: float = 3600.0
    reboot_downtime: float = 1.0
    restart_downtime: float = 0.5

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.tokens: dict[str, float] = {}
        self.error_code = 0
        super().__init__(address, **kwargs)

    def default_state(self, seed: str) -> MinerState:
        state = super().default_state(seed)
        worker = f"acct.t3h{state.mac.replace(':', '')[-6:]}"
        state.pools = [
            Pool("stratum+tcp://btc.viabtc.io:3333", worker, "123"),
            Pool("stratum+tcp://btc-eu.f2pool.com:1314", worker, "123"),
        ]
        return state

    def make_servers(self) -> dict[str, SimServer]:
        web = HttpServer(guard=self._guard, server_header="nginx/1.10.3")
        web.route("GET", "/", self._index, public=True)
        web.route("POST", "/api/auth", self._auth, public=True)
        web.route("POST", "/api/*", self._api)
        return {"rpc": RpcServer(self.on_rpc, description=self.description), "http": web}

    def expire_tokens(self) -> None:
        """Every issued token is now expired (as after the firmware's token lifetime)."""
        self.tokens = dict.fromkeys(self.tokens, 0.0)

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
        return self.ok(22, "CGMiner versions", "VERSION", [{"CGMiner": "4.9.0", "API": "3.7"}])

    def cmd_summary(self) -> dict[str, Any]:
        r = self.state.read()
        mh = round(r.rate(r.hashrate, "MH/s"), 2)
        item = {
            "Elapsed": r.elapsed,
            "MHS av": round(r.rate(r.ideal_hashrate, "MH/s") if r.hashing else 0.0, 2),
            "MHS 5s": mh,
            "MHS 1m": mh,
            "MHS 5m": mh,
            "MHS 15m": mh,
            "Found Blocks": 0,
            "Getworks": r.elapsed // 30,
            "Accepted": r.accepted,
            "Rejected": r.rejected,
            "Hardware Errors": r.accepted // 400,
            "Utility": round(r.accepted / max(r.elapsed, 1) * 60, 2),
            "Discarded": r.elapsed * 3,
            "Stale": 0,
            "Get Failures": 0,
            "Local Work": r.elapsed * 80,
            "Remote Failures": 0,
            "Network Blocks": r.elapsed // 600,
            "Total MH": round(mh * r.elapsed, 4),
            "Difficulty Accepted": float(r.accepted * 65536),
            "Difficulty Rejected": float(r.rejected * 65536),
            "Best Share": 1_234_567,
            "Last getwork": int(time.time()),
            "Work Utility": round(r.accepted * 65536 / max(r.elapsed, 1) * 60 / 2**32, 2),
            "Pool Rejected%": round(r.rejected / max(r.accepted + r.rejected, 1) * 100, 4),
        }
        return self.ok(11, "Summary", "SUMMARY", [conform(item, _SUMMARY)])

    def cmd_stats(self) -> dict[str, Any]:
        r = self.state.read()
        items: list[dict[str, Any]] = []
        duty = round(100 * (r.fans[0] if r.fans else 0) / self.hardware.fan_rpm_max)
        for b in r.boards:
            items.append(
                {
                    "STATS": b.index,
                    "ID": f"HLT{b.index}",
                    "Elapsed": r.elapsed,
                    "Chain ID": b.index,
                    "Num chips": self.hardware.chips_per_board,
                    "Num cores": self.hardware.chips_per_board * 32,
                    "Num active chips": b.chips,
                    "Temp max": b.temp_chip,
                    "Temp min": round(b.temp_pcb - 4.0, 1) if b.alive else 0.0,
                    "Temp": b.temp_pcb,
                    "Fan duty": duty,
                    "PLL": b.frequency,
                    "Voltage Max": round(b.voltage * 100 + 6),
                    "Voltage Min": round(b.voltage * 100 - 6),
                    "Voltage Avg": round(b.voltage * 100),
                    "Chain num": b.index,
                    "MHS av": round(r.rate(b.hashrate, "MH/s"), 6),
                    "Enabled chips": "f" * (b.chips // 4) if b.chips else "0",
                }
            )
        for p in r.pools:
            items.append({"STATS": len(items), "ID": f"POOL{p.index}", "Elapsed": r.elapsed})
        return self.ok(70, "CGMiner stats", "STATS", items)

    def cmd_devdetails(self) -> dict[str, Any]:
        items = [
            {"DEVDETAILS": i, "Name": "HLT", "ID": i, "Driver": "hlt", "Kernel": "", "Model": ""}
            for i in range(self.hardware.boards)
        ]
        return self.ok(69, "Device Details", "DEVDETAILS", items)

    def cmd_pools(self) -> dict[str, Any]:
        r = self.state.read()
        items = [
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
                "Stratum Active": p.active,
                "Stratum URL": p.url.split("://", 1)[-1].rsplit(":", 1)[0],
                "Has GBT": False,
                "Difficulty Accepted": float(p.accepted * 65536),
                "Difficulty Rejected": float(p.rejected * 65536),
                "Last Share Difficulty": 65536.0 if p.accepted else 0.0,
                "Pool Rejected%": round(p.rejected / max(p.accepted + p.rejected, 1) * 100, 3),
            }
            for p in r.pools
        ]
        return self.ok(7, f"{len(items)} Pool(s)", "POOLS", [conform(i, _POOL) for i in items])

    # ------------------------------------------------------------------ web
    def _guard(self, request: Request) -> HttpReply | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expiry = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is not None and time.monotonic() < expiry:
            return None
        return json_reply({"success": False, "token": "expired"})

    async def _index(self, request: Request) -> HttpReply:
        return text_reply(_INDEX)

    async def _auth(self, request: Request) -> HttpReply:
        form = request.form()
        if form.get("username") != self.web_user or form.get("password") != self.web_password:
            return json_reply({"success": False, "message": "Invalid username or password"})
        token = secrets.token_urlsafe(32)
        self.tokens[token] = time.monotonic() + self.token_ttl
        return json_reply({"success": True, "jwt": token})

    def get_all(self) -> dict[str, Any]:
        r = self.state.read()
        chains = [
            {
                "ASC": b.index,
                "Temp min": round(b.temp_pcb - 4.0, 1) if b.alive else 0.0,
                "Temp max": b.temp_chip,
                "Hash Rate H": round(r.rate(b.hashrate, "H/s")),
                "Num active chips": b.chips,
            }
            for b in r.boards
        ]
        duty = round(100 * (r.fans[0] if r.fans else 0) / self.hardware.fan_rpm_max)
        return {
            "mac": self.state.mac,
            "total_hash": {
                "Hash Rate H": round(r.rate(r.hashrate, "H/s")),
                "Hash Rate": round(r.rate(r.hashrate, "MH/s"), 2),
            },
            "chain": chains,
            "power": round(r.wattage),
            "fansSpeed": duty,
            "running_mode": {"level": 0, "mode": "normal"},
            "hwtype": "T3H+",
            "uptime": r.uptime,
        }

    async def _api(self, request: Request) -> HttpReply:
        command = request.path.removeprefix("/api/")
        s = self.state
        if command == "type":
            return json_reply({"success": True, "type": self.model})
        if command == "getAll":
            return json_reply({"success": True, "all": self.get_all()})
        if command == "getErrorDetail":
            msg = "" if not self.error_code else "chain 1 temperature too high"
            return json_reply({"success": True, "code": self.error_code, "msg": msg})
        if command == "overview":
            return json_reply(
                {
                    "success": True,
                    "type": self.model,
                    "version": {"ethaddr": s.mac, "hwver": "T3H+", "fw": self.fw_date},
                }
            )
        if command == "pools":
            pools = [{"url": p.url, "user": p.user, "pass": p.password} for p in s.pools]
            return json_reply({"success": True, "pools": pools})
        if command == "updatePools":
            return self._update_pools(request)
        if command == "reboot":
            self.spawn(self.reboot(self.reboot_downtime))
            return json_reply({"success": True})
        if command == "restartCgMiner":
            self.spawn(self.restart_service(["rpc"], self.restart_downtime))
            return json_reply({"success": True})
        if command == "poweroff":
            s.set_mining(False)
            return json_reply({"success": True})
        return json_reply({"success": False, "message": "unknown command"}, 404)

    def _update_pools(self, request: Request) -> HttpReply:
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return json_reply({"success": False, "message": "bad request"})
        pools = []
        for slot in (1, 2, 3):
            url, user, password = (
                body.get(f"Pool{slot}"),
                body.get(f"UserName{slot}"),
                body.get(f"Password{slot}"),
            )
            if not all(isinstance(v, str | type(None)) for v in (url, user, password)):
                return json_reply({"success": False, "message": "bad request"})
            if url:
                pools.append(Pool(url, user or "", password or ""))
        if not pools:
            return json_reply({"success": False, "message": "at least one pool"})
        self.state.set_pools(pools)
        return json_reply({"success": True})

    async def reboot(self, downtime: float = 1.0) -> None:
        """A reboot also powers the hashboards back on after ``poweroff``."""
        self.state.set_mining(True)
        await super().reboot(downtime)
