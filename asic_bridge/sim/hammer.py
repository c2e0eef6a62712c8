"""Kinds ``hammer_d10`` and ``volcminer_d1``: Scrypt miners on the "blackMiner" firmware.

Wire facts reproduced (from pyasic's recorded Hammer D10 answers and its BlackMiner backend):

- RPC on **port 8359** (ccminer 2.3.3 speaking the cgminer API: ``"Description": "ccminer
  2.3.3"``), single and ``a+b`` batched commands, NUL-terminated, closed after the reply.
  ``summary`` has ``MHS 5s``/``MHS av`` as strings (MH/s); ``stats`` has ``chain_acnN``,
  ``chain_acsN``, ``chain_rateN`` (MH/s strings), ``fan1..4``, and **each ``tempN`` key four
  times** (PCB, chip, PCB, chip), exactly as the firmware prints them: the stats body is
  serialised by hand so the duplicates really go on the wire.
- HTTP on 80, every page behind digest auth, realm ``blackMiner Configuration``, user
  ``root`` (password ``root`` on the Hammer, ``ltc@dog`` on the VolcMiner).  CGI:
  ``get_system_info`` (``minertype`` "Hammer D10" / "VolcMiner D1"), ``get_network_info``,
  ``get_miner_conf`` / ``set_miner_conf`` (JSON, ``bitmain-*`` keys), ``summary`` (status
  list), ``get_blink_status`` / ``blink`` (``B000`` on, ``B100`` off), ``reboot``.

State reacts: blink sets the fault light, a config write replaces pools and fan settings and
restarts the miner (Elapsed from 0), reboot closes every port for ``reboot_downtime`` s.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, ClassVar

from .base import SimMiner, SimServer, register
from .http_server import DigestAuth, HttpReply, HttpServer, Request, json_reply, text_reply
from .rpc_server import RpcReply, RpcServer, invalid_command, reply
from .state import Hardware, Pool, Readings

REALM = "blackMiner Configuration"
DESCRIPTION = "ccminer 2.3.3"


def _chip_map(chips: int) -> str:
    groups = ["o" * 8] * (chips // 8) + (["o" * (chips % 8)] if chips % 8 else [])
    return " " + " ".join(groups) if chips else ""


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def _pairs_json(pairs: list[tuple[str, Any]]) -> str:
    """A JSON object from (key, value) pairs, repeated keys included."""
    sep = (",", ":")
    return (
        "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v, separators=sep)}" for k, v in pairs) + "}"
    )


class _BatchKeepingRaw(RpcServer):
    """A cgminer batch reply that splices each part's raw JSON (its repeated keys survive)."""

    def answer(self, parsed: Any) -> RpcReply:
        if isinstance(parsed, dict) or "+" not in parsed[0]:
            return super().answer(parsed)
        command, _, request = parsed
        parts: list[str] = []
        seen: set[str] = set()
        for cmd in command.split("+"):
            if not cmd or cmd in seen:
                continue
            seen.add(cmd)
            result = self.handler(cmd, None, request)
            raw = (
                result.rstrip(b"\x00").decode()
                if isinstance(result, bytes)
                else json.dumps(result, separators=(",", ":"))
            )
            parts.append(f"{json.dumps(cmd)}:[{raw}]")
        parts.append('"id":1')
        return ("{" + ",".join(parts) + "}").encode() + b"\x00"


class BlackMinerSim(SimMiner):
    """What both kinds share; kinds set the ClassVars."""

    firmware = "Stock"
    default_ports = {"rpc": 8359, "http": 80}
    versions: ClassVar[tuple[str, ...]] = ("2023-05-28",)
    """The build date (CompileTime) of the one captured firmware."""
    minertype: ClassVar[str] = ""
    default_password: ClassVar[str] = "root"
    compile_time: ClassVar[str] = "2023-05-28 17-20-35 CST"

    reboot_delay: float = 0.1
    reboot_downtime: float = 0.5

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.users: dict[str, str] = {"root": self.default_password}
        self.digest = DigestAuth(REALM, self.users)
        self.conf: dict[str, Any] = {
            "api-listen": True,
            "api-network": True,
            "api-groups": "A:stats:pools:devs:summary:version",
            "api-allow": "A:0/0,W:*",
            "bitmain-fan-ctrl": False,
            "bitmain-fan-pwm": "100",
            "bitmain-use-vil": True,
            "bitmain-freq": "675",
            "bitmain-voltage": "1400",
            "bitmain-ccdelay": "0",
            "bitmain-pwth": "0",
            "bitmain-work-mode": "0",
            "bitmain-freq-level": "",
        }
        super().__init__(address, **kwargs)

    @property
    def web_password(self) -> str:
        return self.users["root"]

    @web_password.setter
    def web_password(self, value: str) -> None:
        self.users["root"] = value

    def make_servers(self) -> dict[str, SimServer]:
        http = HttpServer(guard=self.digest)
        http.route("GET", "/", self.page_index)
        routes = {
            "get_system_info": self.cgi_get_system_info,
            "get_network_info": self.cgi_get_network_info,
            "get_miner_conf": self.cgi_get_miner_conf,
            "set_miner_conf": self.cgi_set_miner_conf,
            "summary": self.cgi_summary,
            "get_blink_status": self.cgi_get_blink_status,
            "blink": self.cgi_blink,
            "reboot": self.cgi_reboot,
        }
        for name, handler in routes.items():
            http.route("*", f"/cgi-bin/{name}.cgi", handler)
        return {"rpc": _BatchKeepingRaw(self.on_rpc, description=DESCRIPTION), "http": http}

    # ------------------------------------------------------------------ RPC
    def on_rpc(self, command: str, parameter: str | None, request: dict[str, Any]) -> RpcReply:
        handler = getattr(self, f"rpc_{command}", None) if command.isidentifier() else None
        if handler is None:
            return invalid_command()
        result: RpcReply = handler(self.state.read())
        return result

    def _ok(self, code: int, msg: str, section: str, items: list[Any]) -> dict[str, Any]:
        return reply(section, items, code=code, msg=msg, description=DESCRIPTION)

    def _head(self) -> dict[str, Any]:
        return {
            "CGMiner": "2.3.3",
            "Miner": "2.0.2.2",
            "CompileTime": self.compile_time,
            "Type": self.minertype,
        }

    def rpc_version(self, r: Readings) -> dict[str, Any]:
        item = {**self._head(), "API": "3.1"}
        item = {k: item[k] for k in ("CGMiner", "API", "Miner", "CompileTime", "Type")}
        return self._ok(22, "CGMiner versions", "VERSION", [item])

    def rpc_summary(self, r: Readings) -> dict[str, Any]:
        rejected_pct = round(100.0 * r.rejected / max(r.accepted + r.rejected, 1), 4)
        item = {
            "Elapsed": r.elapsed,
            "MHS 5s": f"{r.rate(r.hashrate, 'MH/s'):.4f}",
            "MHS av": f"{r.rate(r.ideal_hashrate, 'MH/s'):.4f}",
            "Found Blocks": 0,
            "Getworks": r.elapsed // 13,
            "Accepted": f"{r.accepted:.4f}",
            "Rejected": f"{r.rejected:.4f}",
            "Hardware Errors": r.accepted // 20,
            "Utility": round(r.accepted / max(r.elapsed / 60, 1), 2),
            "Discarded": r.accepted * 9,
            "Stale": 0,
            "Get Failures": 0,
            "Local Work": r.elapsed * 35,
            "Remote Failures": 0,
            "Network Blocks": r.elapsed // 36,
            "Total MH": round(r.rate(r.ideal_hashrate, "MH/s") * r.elapsed, 4),
            "Work Utility": round(r.rate(r.hashrate, "MH/s") * 920.0, 2),
            "Difficulty Accepted": float(r.accepted * 524288),
            "Difficulty Rejected": float(r.rejected * 524288),
            "Difficulty Stale": 0.0,
            "Best Share": r.accepted * 518,
            "Device Hardware%": 0.0001,
            "Device Rejected%": rejected_pct,
            "Pool Rejected%": rejected_pct,
            "Pool Stale%": 0.0,
            "Last getwork": int(time.time()),
        }
        return self._ok(11, "Summary", "SUMMARY", [item])

    def rpc_pools(self, r: Readings) -> dict[str, Any]:
        items = [
            {
                "POOL": p.index,
                "URL": p.url,
                "Status": p.status,
                "Priority": p.priority,
                "Quota": 1,
                "Long Poll": "N",
                "Getworks": r.elapsed // 13 if p.active else 0,
                "Accepted": p.accepted,
                "Rejected": p.rejected,
                "Discarded": p.accepted * 9,
                "Stale": p.stale,
                "Get Failures": p.get_failures,
                "Remote Failures": p.remote_failures,
                "User": p.user,
                "Last Share Time": "0:00:02" if p.active and r.hashing else "0",
                "Diff": "524K",
                "Diff1 Shares": 0,
                "Proxy Type": "",
                "Proxy": "",
                "Difficulty Accepted": float(p.accepted * 524288),
                "Difficulty Rejected": float(p.rejected * 524288),
                "Difficulty Stale": 0.0,
                "Last Share Difficulty": 524288.0 if p.accepted else 0.0,
                "Has Stratum": True,
                "Stratum Active": p.active,
                "Stratum URL": p.url.split("://")[-1].rsplit(":", 1)[0] if p.active else "",
                "Has GBT": False,
                "Best Share": p.accepted * 518,
                "Pool Rejected%": 0.0,
                "Pool Stale%%": 0.0,
            }
            for p in r.pools
        ]
        return self._ok(7, f"{len(items)} Pool(s)", "POOLS", items)

    def stats_pairs(self, r: Readings) -> list[tuple[str, Any]]:
        """The stats body in the firmware's order, with each ``tempN`` four times."""
        slots = range(1, 5)
        boards = {b.index + 1: b for b in r.boards}
        pairs: list[tuple[str, Any]] = [
            ("STATS", 0),
            ("ID", "A30"),
            ("Elapsed", r.elapsed),
            ("Calls", 0),
            ("Wait", 0.0),
            ("Max", 0.0),
            ("Min", 99999999.0),
            ("MHS 5s", f"{r.rate(r.hashrate, 'MH/s'):.4f}"),
            ("MHS av", f"{r.rate(r.ideal_hashrate, 'MH/s'):.4f}"),
            ("miner_count", sum(1 for b in r.boards if b.alive)),
            ("frequency", "810"),
            ("fan_num", len(r.fans)),
        ]
        pairs += [(f"fan{i + 1}", rpm) for i, rpm in enumerate(r.fans)]
        pairs.append(("temp_num", 4 * len(r.boards)))
        for n in slots:
            b = boards.get(n)
            if b is None or not b.alive:
                pairs += [(f"temp{n}", 0)] * 4
                continue
            pcb, chip = round(b.temp_pcb), round(b.temp_chip)
            pairs += [(f"temp{n}", t) for t in (pcb - 1, chip - 2, pcb + 1, chip)]
        hottest = max((round(b.temp_chip) for b in r.boards if b.alive), default=0)
        pairs += [("temp_max", hottest), ("Device Hardware%", 0.0), ("no_matching_work", 0)]

        def board(n: int) -> Any:
            return boards.get(n)

        pairs += [(f"chain_acn{n}", b.chips if (b := board(n)) else 0) for n in slots]
        pairs += [(f"chain_acs{n}", _chip_map(b.chips) if (b := board(n)) else "") for n in slots]
        pairs += [(f"chain_hw{n}", 0) for n in slots]
        pairs += [
            (
                f"chain_rate{n}",
                f"{r.rate(b.hashrate, 'MH/s'):.4f}" if (b := board(n)) and b.alive else "",
            )
            for n in slots
        ]
        return pairs

    def rpc_stats(self, r: Readings) -> bytes:
        status = json.dumps(self._ok(70, "CGMiner stats", "STATS", [])["STATUS"])
        text = (
            f'{{"STATUS":{status},"STATS":[{json.dumps(self._head())},'
            f'{_pairs_json(self.stats_pairs(r))}],"id":1}}'
        )
        return text.encode() + b"\x00"

    # ------------------------------------------------------------------ web
    async def page_index(self, request: Request) -> HttpReply:
        return text_reply("<html><head><title>blackMiner</title></head><body></body></html>\n")

    async def cgi_get_system_info(self, request: Request) -> HttpReply:
        r = self.state.read()
        return json_reply(
            {
                "minertype": self.minertype,
                "nettype": "DHCP",
                "netdevice": "eth0",
                "macaddr": self.state.mac,
                "hostname": self.state.hostname,
                "ipaddress": self.address,
                "netmask": "255.255.255.0",
                "gateway": "",
                "dnsservers": "",
                "curtime": time.strftime("%H:%M:%S"),
                "uptime": str(r.uptime),
                "loadaverage": "1.06, 1.36, 1.48",
                "mem_total": "251180",
                "mem_used": "64392",
                "mem_free": "186788",
                "mem_buffers": "0",
                "mem_cached": "0",
                "system_mode": "GNU/Linux",
                "bb_hwv": "2.0.2.2",
                "system_kernel_version": "Linux 3.8.13 #22 SMP Tue Dec 2 15:26:11 CST 2014",
                "system_filesystem_version": "2022-11-11 13-46-30 CST",
                "cgminer_version": "2.3.3",
            }
        )

    async def cgi_get_network_info(self, request: Request) -> HttpReply:
        return json_reply(
            {
                "nettype": "DHCP",
                "netdevice": "eth0",
                "macaddr": self.state.mac,
                "ipaddress": self.address,
                "netmask": "255.255.255.0",
                "conf_nettype": "DHCP",
                "conf_hostname": self.state.hostname,
                "conf_ipaddress": "",
                "conf_netmask": "",
                "conf_gateway": "",
                "conf_dnsservers": "",
            }
        )

    async def cgi_get_miner_conf(self, request: Request) -> HttpReply:
        pools = [{"url": p.url, "user": p.user, "pass": p.password} for p in self.state.pools]
        while len(pools) < 3:
            pools.append({"url": "", "user": "", "pass": ""})
        return json_reply({"pools": pools[:3], **self.conf})

    async def cgi_set_miner_conf(self, request: Request) -> HttpReply:
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("pools"), list):
            return json_reply({"stats": "error", "code": "M001", "msg": "Invalid configuration"})
        pools = [
            Pool(str(p["url"]), str(p.get("user") or ""), str(p.get("pass") or ""))
            for p in body["pools"][:3]
            if isinstance(p, dict) and str(p.get("url") or "").strip()
        ]
        if not pools:
            return json_reply({"stats": "error", "code": "M001", "msg": "No pool"})
        manual = _flag(body.get("bitmain-fan-ctrl", False))
        self.conf["bitmain-fan-ctrl"] = manual
        self.conf["bitmain-fan-pwm"] = str(body.get("bitmain-fan-pwm", "100")) if manual else "100"
        for key in ("bitmain-freq", "bitmain-voltage"):
            if key in body:
                self.conf[key] = str(body[key])
        self.state.set_pools(pools)
        self.state.restart_backend()
        return json_reply({"stats": "success", "code": "M000", "msg": "OK!"})

    async def cgi_summary(self, request: Request) -> HttpReply:
        r = self.state.read()
        checks: list[dict[str, Any]] = [
            {"type": kind, "status": "s", "code": 0, "msg": ""}
            for kind in ("rate", "network", "fans", "temp")
        ]
        for fault in self.state.errors:
            checks.append({"type": "rate", "status": "e", "code": fault.code, "msg": fault.message})
        return json_reply(
            {
                "STATUS": {
                    "STATUS": "S",
                    "when": time.time(),
                    "Msg": "summary",
                    "api_version": "1.0.0",
                },
                "INFO": {
                    "miner_version": "2.0.2.2",
                    "CompileTime": self.compile_time,
                    "type": self.minertype,
                },
                "SUMMARY": [
                    {
                        "elapsed": r.elapsed,
                        "rate_5s": round(r.rate(r.hashrate, "MH/s"), 2),
                        "rate_avg": round(r.rate(r.ideal_hashrate, "MH/s"), 2),
                        "rate_ideal": round(r.rate(r.nominal_hashrate, "MH/s"), 2),
                        "rate_unit": "MH/s",
                        "hw_all": r.accepted // 20,
                        "bestshare": r.accepted * 518,
                        "status": checks,
                    }
                ],
            }
        )

    async def cgi_get_blink_status(self, request: Request) -> HttpReply:
        return json_reply({"blink": self.state.fault_light})

    async def cgi_blink(self, request: Request) -> HttpReply:
        try:
            body = request.json()
        except ValueError:
            body = request.form()
        value = body.get("blink") if isinstance(body, dict) else None
        if value is None:
            return json_reply({"code": "B001", "msg": "missing blink"})
        self.state.fault_light = _flag(value)
        return json_reply({"code": "B000" if self.state.fault_light else "B100", "msg": "OK!"})

    async def cgi_reboot(self, request: Request) -> HttpReply:
        self.spawn(self._reboot_soon())
        return json_reply({"code": "R000", "msg": "OK!"})

    async def _reboot_soon(self) -> None:
        await asyncio.sleep(self.reboot_delay)
        await self.reboot(self.reboot_downtime)


@register
class HammerD10Sim(BlackMinerSim):
    kind = "hammer_d10"
    make = "Hammer"
    model = "D10"
    minertype = "Hammer D10"
    default_password = "root"
    hardware = Hardware(
        boards=3,
        chips_per_board=108,
        board_hashrate=5.0 / 3,
        unit="GH/s",
        fans=4,
        fan_rpm_max=5200,
        nominal_power=3400.0,
    )


@register
class VolcMinerD1Sim(BlackMinerSim):
    kind = "volcminer_d1"
    make = "VolcMiner"
    model = "D1"
    minertype = "VolcMiner D1"
    default_password = "ltc@dog"
    hardware = Hardware(
        boards=3,
        chips_per_board=105,
        board_hashrate=15.15 / 3,
        unit="GH/s",
        fans=4,
        fan_rpm_max=6000,
        nominal_power=3500.0,
    )
