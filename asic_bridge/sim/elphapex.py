"""Kinds ``elphapex_dg1plus`` (DG1+ V1.0.2) and ``elphapex_dghome1`` (DG-Home1 V1.0.5):
Elphapex Scrypt miners, CGI web API only.

Every page has the keys and JSON types of the real captures ``elphapex/DG1+_SW_V1.0.2`` and
``elphapex/DG-Home1_V1.0.5``, with these quirks of the firmware:

- numbers are printed the cJSON way: a whole value has no fraction (``"rate_ideal": 14229``
  beside ``"rate_5s": 14920.94``), so a key's JSON type follows its value;
- for the first minute after a start the rate and network checks of ``summary`` are not
  evaluated yet: ``"status": ""`` (DG-Home1 capture at ``elapsed`` 0);
- a chain without detected chips has no ``eeprom_loaded``, an empty ``sn`` and ``""`` chip
  sensors.

Wire facts:

- HTTP 80, every page behind digest auth, realm ``Daoge Configuration``, user ``root``;
  no RPC port.
- ``get_system_info`` (``minertype`` "DG1+", ``system_filesystem_version``
  "DG1+_SW_V1.0.2", ``Algorithm`` "Scrypt"); ``summary``/``stats``/``pools`` with a
  ``STATUS`` object (``api_version`` "1.0.0") and ``INFO``; hash rates in ``rate_unit``
  "MH/s"; ``stats`` ``chain[]`` with ``temp_chip`` as milli-degC strings ("" for absent
  sensors), ``temp_pcb`` ints, ``fan`` as a list of strings; ``pools`` ``POOLS[]``.
- ``get_miner_conf`` with ``fc-`` keys; ``set_miner_conf`` (JSON) reads ``miner-mode``,
  ``fc-fan-ctrl``/``fc-fan-pwm`` and ``pools``; ``get_blink_status``/``blink``
  (``B000``/``B100``); ``reboot``; ``get_network_info``.

State reacts: blink sets the fault light; a config write applies pools, fan and work mode
(1 = sleep) and restarts the miner; reboot closes the port for ``reboot_downtime`` s.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

from .base import SimMiner, SimServer, register
from .http_server import DigestAuth, HttpReply, HttpServer, Request, json_reply, text_reply
from .state import Hardware, Pool, Readings

REALM = "Daoge Configuration"
WORK_MODES = {0: "normal", 1: "sleep", 3: "low"}


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def _code(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


#: Seconds after a start during which the rate and network checks report ``""``.
NOT_EVALUATED_FOR = 60


def cjson(value: Any) -> Any:
    """``value`` with every whole float as an int, as the firmware's cJSON prints numbers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: cjson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [cjson(v) for v in value]
    return value


def cjson_reply(obj: Any) -> HttpReply:
    return json_reply(cjson(obj))


@register
class ElphapexDG1PlusSim(SimMiner):
    kind = "elphapex_dg1plus"
    versions: ClassVar[tuple[str, ...]] = ("DG1+_SW_V1.0.2",)
    make = "Elphapex"
    model = "DG1+"
    firmware = "Stock"
    default_ports = {"http": 80}
    hardware = Hardware(
        boards=4,
        chips_per_board=204,
        board_hashrate=14.0 / 4,
        unit="GH/s",
        fans=4,
        fan_rpm_max=6000,
        nominal_power=3950.0,
    )
    minertype: ClassVar[str] = "DG1+"
    sw_version: ClassVar[str] = "DG1+_SW_V1.0.2"
    kernel: ClassVar[str] = "4.4.194 #1 SMP Sat Sep 7 16:59:20 CST 2024"

    reboot_delay: float = 0.1
    reboot_downtime: float = 0.5

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.users: dict[str, str] = {"root": "root"}
        self.digest = DigestAuth(REALM, self.users)
        self.conf: dict[str, Any] = {
            "fc-voltage": "1470",
            "fc-fan-ctrl": False,
            "fc-freq-level": "100",
            "fc-fan-pwm": "80",
            "algo": "ltc",
            "fc-freq": "1850",
        }
        self.work_code = 0
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
        for name in (
            "get_system_info",
            "get_network_info",
            "summary",
            "stats",
            "pools",
            "get_blink_status",
            "blink",
            "get_miner_conf",
            "set_miner_conf",
            "reboot",
        ):
            http.route("*", f"/cgi-bin/{name}.cgi", getattr(self, f"cgi_{name}"))
        return {"http": http}

    # ------------------------------------------------------------------ helpers
    def _status(self, msg: str) -> dict[str, Any]:
        return {
            "STATUS": "S",
            "when": int(self.state.clock()),
            "timestamp": int(time.time()),
            "api_version": "1.0.0",
            "Msg": msg,
        }

    def _info(self) -> dict[str, Any]:
        return {
            "miner_version": self.sw_version,
            "CompileTime": "",
            "dev_sn": self.state.serial,
            "type": self.minertype,
            "hw_version": f"{self.minertype}_HW_V1.0",
        }

    @staticmethod
    def mh(r: Readings, value: float) -> float:
        return round(r.rate(value, "MH/s"), 2)

    # ------------------------------------------------------------------ pages
    async def page_index(self, request: Request) -> HttpReply:
        return text_reply("<html><head><title>Elphapex</title></head><body></body></html>\n")

    async def cgi_get_system_info(self, request: Request) -> HttpReply:
        return json_reply(
            {
                "ipaddress": self.address,
                "system_mode": "GNU/Linux",
                "netmask": "255.255.255.0",
                "gateway": "",
                "Algorithm": "Scrypt",
                "system_kernel_version": self.kernel,
                "system_filesystem_version": self.sw_version,
                "nettype": "DHCP",
                "dnsservers": "",
                "netdevice": "eth0",
                "minertype": self.minertype,
                "macaddr": self.state.mac,
                "firmware_type": "Release",
                "hostname": self.state.hostname,
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
            }
        )

    async def cgi_summary(self, request: Request) -> HttpReply:
        r = self.state.read()
        fresh = r.elapsed < NOT_EVALUATED_FOR
        checks: list[dict[str, Any]] = [
            {"status": "" if fresh and kind in ("rate", "network") else "s", "type": kind}
            | {"msg": "", "code": 0}
            for kind in ("rate", "network", "fans", "temp")
        ]
        for fault in self.state.errors:
            checks.append({"status": "e", "type": "rate", "msg": fault.message, "code": fault.code})
        item = {
            "rate_unit": "MH/s",
            "elapsed": r.elapsed,
            "rate_30m": self.mh(r, r.ideal_hashrate),
            "rate_5s": self.mh(r, r.hashrate),
            "bestshare": r.accepted * 518,
            "rate_ideal": self.mh(r, r.ideal_hashrate if r.hashing else r.nominal_hashrate),
            "status": checks,
            "hw_all": r.accepted // 20,
            "rate_avg": self.mh(r, r.hashrate),
            "rate_15m": self.mh(r, r.ideal_hashrate),
        }
        return cjson_reply(
            {"STATUS": self._status("summary"), "SUMMARY": [item], "INFO": self._info()}
        )

    async def cgi_stats(self, request: Request) -> HttpReply:
        r = self.state.read()
        chains = []
        for b in r.boards:
            pcb, chip = round(b.temp_pcb), round(b.temp_chip)
            chain: dict[str, Any] = {}
            chains.append(chain)
            chain.update(
                {
                    "freq_avg": round(b.frequency * 100),
                    "index": b.index,
                    "sn": f"{self.state.serial[3:12]}J{b.index}" if b.alive else "",
                    "temp_chip": [str((chip - 2) * 1000), str((chip + 2) * 1000), "", ""]
                    if b.alive
                    else ["", "", "", ""],
                    "rate_15m": round(self.mh(r, b.ideal_hashrate)),
                    "hw": 0,
                    "temp_pcb": [pcb - 10, pcb - 10, pcb + 10, pcb + 10] if b.alive else [0] * 4,
                    "failrate": 0.03 if b.alive else 0,
                    "asic": " oooooooo" * (b.chips // 8) if b.alive else "",
                    "rate_real": self.mh(r, b.hashrate),
                    "asic_num": b.chips,
                    "temp_pic": [pcb - 10, pcb - 10, pcb + 10, pcb + 10] if b.alive else [0] * 4,
                    "rate_ideal": self.mh(r, b.ideal_hashrate),
                    "hashrate": self.mh(r, b.hashrate),
                }
            )
            if b.alive:
                chain["eeprom_loaded"] = True
        item = {
            "rate_unit": "MH/s",
            "elapsed": r.elapsed,
            "rate_30m": self.mh(r, r.ideal_hashrate),
            "rate_5s": self.mh(r, r.hashrate),
            "hwp_total": 0.1155,
            "rate_ideal": self.mh(r, r.ideal_hashrate),
            "chain": chains,
            "rate_15m": self.mh(r, r.ideal_hashrate),
            "chain_num": len(chains),
            "fan": [str(rpm) for rpm in r.fans],
            "rate_avg": self.mh(r, r.hashrate),
            "fan_num": len(r.fans),
        }
        return cjson_reply({"STATUS": self._status("stats"), "INFO": self._info(), "STATS": [item]})

    async def cgi_pools(self, request: Request) -> HttpReply:
        r = self.state.read()
        items = [
            {
                "diffs": 0,
                "diffr": p.rejected * 524288,
                "index": p.index,
                "user": p.user,
                "lsdiff": 524288 if p.accepted else 0,
                "lstime": "00:00:03" if p.active and r.hashing else "00:00:00",
                "diffa": p.accepted * 524288,
                "accepted": p.accepted,
                "diff1": 0,
                "stale": p.stale,
                "diff": "",
                "rejected": p.rejected,
                "status": "Alive" if p.status == "Alive" else "Unreachable",
                "getworks": p.accepted + p.rejected,
                "priority": p.priority,
                "url": p.url,
            }
            for p in r.pools
        ]
        total = r.accepted + r.rejected
        return cjson_reply(
            {
                "STATUS": self._status("pools"),
                "Device Total Rejected": r.rejected,
                "POOLS": items,
                "Device Rejected%": round(100 * r.rejected / total, 2) if total else 0.0,
                "Device Total Work": total,
                "INFO": self._info(),
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
        return json_reply({"code": "B000" if self.state.fault_light else "B100"})

    async def cgi_get_miner_conf(self, request: Request) -> HttpReply:
        pools = [{"url": p.url, "pass": p.password, "user": p.user} for p in self.state.pools]
        while len(pools) < 3:
            pools.append({"url": "", "pass": "", "user": ""})
        return json_reply({"pools": pools[:3], **self.conf, "fc-work-mode": self.work_code})

    async def cgi_set_miner_conf(self, request: Request) -> HttpReply:
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("pools"), list):
            return json_reply({"stats": "error", "code": "M001", "msg": "Invalid configuration"})
        mode = _code(body.get("miner-mode", 0))
        if mode not in WORK_MODES:
            return json_reply({"stats": "error", "code": "M001", "msg": "Invalid miner-mode"})
        pools = [
            Pool(str(p["url"]), str(p.get("user") or ""), str(p.get("pass") or ""))
            for p in body["pools"][:3]
            if isinstance(p, dict) and str(p.get("url") or "").strip()
        ]
        if not pools:
            return json_reply({"stats": "error", "code": "M001", "msg": "No pool"})
        manual = _flag(body.get("fc-fan-ctrl", False))
        self.conf["fc-fan-ctrl"] = manual
        if manual:
            self.conf["fc-fan-pwm"] = str(body.get("fc-fan-pwm", "100"))
        for key in ("fc-freq", "fc-voltage", "fc-freq-level"):
            if key in body:
                self.conf[key] = str(body[key])
        self.work_code = mode
        self.state.set_pools(pools)
        self.state.set_work_mode(WORK_MODES[mode])
        self.state.restart_backend()
        return json_reply({"stats": "success", "code": "M000", "msg": "OK!"})

    async def cgi_reboot(self, request: Request) -> HttpReply:
        self.spawn(self._reboot_soon())
        return json_reply({"code": "R000", "msg": "OK!"})

    async def _reboot_soon(self) -> None:
        await asyncio.sleep(self.reboot_delay)
        await self.reboot(self.reboot_downtime)


@register
class ElphapexDGHome1Sim(ElphapexDG1PlusSim):
    kind = "elphapex_dghome1"
    versions: ClassVar[tuple[str, ...]] = ("DG-Home1_V1.0.5",)
    model = "DG1Home"
    hardware = Hardware(
        boards=4,
        chips_per_board=120,
        board_hashrate=2.16 / 4,
        unit="GH/s",
        fans=4,
        fan_rpm_max=6000,
        nominal_power=620.0,
    )
    minertype = "DG-Home1"
    sw_version = "DG-Home1_V1.0.5"
    kernel = "4.4.194 #1 SMP Wed Feb 26 11:19:53 CST 2025"
