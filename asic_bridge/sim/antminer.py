"""Antminers on Bitmain stock firmware: bmminer RPC on 4028 plus the lighttpd CGI web UI on 80.

Kinds: ``antminer_s19jpro``, ``antminer_s21`` and ``antminer_l7`` serve the modern (X19-era) web
UI; ``antminer_s17pro`` serves the old (X17-era) one.  Wire facts reproduced here:

- RPC: bmminer's replies (``"Description": "bmminer 1.0.0"``), single and ``a+b`` batched
  commands, NUL-terminated, closed after the reply.  Hash rates in keys named ``GHS ..`` with
  ``rate_unit`` ``"GH"`` beside them, except on the L7, whose ``GHS 5s`` holds MH/s and whose
  ``rate_unit`` is ``"MH"``.  Chains and fans numbered from 1 (``chain_acn1..``, ``fan1..fan4``),
  ``tempN`` = PCB and ``temp2_N`` = chip temperature, ``temp_pcbN``/``temp_chipN`` as "a-b-c-d".
- HTTP: every page behind digest auth, realm ``antMiner Configuration`` (``GET /`` without
  credentials answers 401 with ``WWW-Authenticate: Digest realm=..., nonce=..., qop="auth"``);
  unknown paths such as ``/kaonsu/v1/brief`` are an HTML 404, never JSON (a JSON answer there
  would make clients take the box for MaraFW).
- Modern CGI: ``get_system_info``, ``get_network_info``, ``get_miner_conf``,
  ``set_miner_conf`` (JSON; ``miner-mode`` 0 normal / 1 sleep / 3 low power; keys left out are
  written as empty, as the firmware's script does: a body without ``pools`` leaves no pools),
  ``summary`` (status list), ``stats`` (``chain[]`` with ``rate_real`` in GH/s, ``temp_pcb``,
  ``temp_chip``, ``sn``), ``pools``, ``get_blink_status``, ``blink`` (``B000`` on, ``B100``
  off), ``reboot``.
- Old CGI: ``get_system_info`` (with ``ant_hwv`` and memory figures, no serial),
  ``get_miner_conf`` (cgminer.conf), a form ``set_miner_conf`` read **by position** like the
  firmware's shell script (16 fields, ``_ant_work_mode`` 254 = sleep) answering ``ok``,
  ``blink`` with ``action=startBlink|stopBlink|onPageLoaded`` answering ``{"isBlinking": ..}``,
  ``miner_stats``/``miner_summary``/``miner_pools``, ``reboot``.

Controls act on the shared :class:`MinerState`: a config write restarts bmminer (Elapsed and
share counters restart) and applies pools, fan and work mode (sleep: hash rate 0); blink sets
the fault light; reboot answers, then closes every port for ``reboot_downtime`` seconds and
restarts uptime.  ``web_password`` changes the digest password at runtime.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import unquote_plus

from .base import SimServer, gzip_intact, register
from .cgminer import CGMinerSim, _chip_map
from .http_server import DigestAuth, HttpReply, HttpServer, Request, json_reply, text_reply
from .rpc_server import RpcServer
from .state import BoardReading, Hardware, Pool, Readings

REALM = "antMiner Configuration"

_INDEX_PAGE = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Antminer</title></head>'
    '<body><div id="app">Miner Configuration</div></body></html>\n'
)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    return str(value).strip().lower() == "true"


def _code(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def slot_keys(r: Readings, slots: range) -> Callable[..., dict[str, Any]]:
    """``per_slot(key, value, empty=0)``: ``key`` for every bmminer slot (chain N = board
    N-1), ``value(board)`` where a live board sits, ``empty`` elsewhere."""
    chains = {1 + b.index: b for b in r.boards}

    def per_slot(key: str, value: Callable[[BoardReading], Any], empty: Any = 0) -> dict[str, Any]:
        return {
            key.format(n): value(chains[n]) if n in chains and chains[n].alive else empty
            for n in slots
        }

    return per_slot


def _sensor_text(value: float) -> str:
    """bmminer's four-sensor text "a-b-c-d" whose mean is ``round(value)``."""
    return "-".join(str(t) for t in _spread(value))


def _spread(value: float) -> list[int]:
    """Four sensor readings whose mean is ``round(value)``: two inlet, two outlet."""
    v = round(value)
    return [v - 4, v - 4, v + 4, v + 4] if v else [0, 0, 0, 0]


class _AntminerStock(CGMinerSim):
    """bmminer RPC (from :class:`CGMinerSim`) plus the digest-protected CGI web UI."""

    default_ports = {"rpc": 4028, "http": 80}
    make = "AntMiner"
    firmware = "Stock"
    program = "BMMiner"
    program_version = "1.0.0"
    api_version = "3.1"
    miner_version = "uart_trans.1.3"
    description = "bmminer 1.0.0"
    device_name = "BC5"
    chain_slot = 1
    fan_slot = 1
    key_slots = 4
    summary_unit: ClassVar[str] = "GH/s"
    """Unit of every hash rate bmminer reports (under ``GHS`` names) and the web UI shows."""
    algorithm: ClassVar[str | None] = None
    """``Algorithm`` in get_system_info (newer non-SHA-256 firmwares name it)."""
    work_modes: ClassVar[dict[int, str]] = {0: "normal", 1: "sleep", 3: "low"}
    """Work-mode code -> MinerState work mode; empty for a firmware without modes."""
    compile_time = "Mon Dec 26 17:10:01 CST 2022"
    filesystem_version: ClassVar[str | None] = None
    """get_system_info ``system_filesystem_version`` when not the build date (2025: FR-x.y)."""
    kernel: ClassVar[str] = "Linux 4.9.38 #1 SMP PREEMPT Mon Dec 26 17:00:04 CST 2022"

    reboot_delay: float = 0.2
    """Seconds between answering reboot.cgi and going down."""
    reboot_downtime: float = 0.5
    """Seconds every port stays closed during a reboot."""
    conf_restart_downtime: float = 0.0
    """Seconds the RPC port stays closed while bmminer restarts after a config write."""

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.users: dict[str, str] = {"root": "root"}
        self.digest = DigestAuth(REALM, self.users)
        # cgminer.conf keys the state does not model, as the firmware stores them
        self.conf: dict[str, Any] = {
            "bitmain-fan-ctrl": False,
            "bitmain-fan-pwm": "100",
            "bitmain-use-vil": True,
            "bitmain-freq": "525",
            "bitmain-voltage": "1320",
            "bitmain-ccdelay": "0",
            "bitmain-pwth": "0",
            "bitmain-freq-level": "100",
        }
        self.work_code = 0
        super().__init__(address, **kwargs)

    # ------------------------------------------------------------------ setup
    @property
    def web_password(self) -> str:
        return self.users["root"]

    @web_password.setter
    def web_password(self, value: str) -> None:
        self.users["root"] = value

    def make_servers(self) -> dict[str, SimServer]:
        http = HttpServer(guard=self.digest)
        http.max_body = 256 * 1024 * 1024  # firmware images arrive through upgrade.cgi
        http.route("GET", "/", self.page_index)
        http.route("GET", "/index.html", self.page_index)
        for name, handler in self.cgi_routes().items():
            http.route("*", f"/cgi-bin/{name}.cgi", handler)
        return {"rpc": RpcServer(self.on_rpc_wire, description=self.description), "http": http}

    def cgi_routes(self) -> dict[str, Any]:
        return {
            "get_system_info": self.cgi_get_system_info,
            "get_network_info": self.cgi_get_network_info,
            "get_miner_conf": self.cgi_get_miner_conf,
            "set_miner_conf": self.cgi_set_miner_conf,
            "reboot": self.cgi_reboot,
            "upgrade": self.cgi_upgrade,
            "upgrade_clear": self.cgi_upgrade,
        }

    @property
    def http(self) -> HttpServer:
        server = self.servers["http"]
        assert isinstance(server, HttpServer)
        return server

    # ------------------------------------------------------------------ units
    def gh(self, r: Readings, value: float) -> float:
        """A hash rate in the firmware's unit (GH/s, MH/s on the L7), whatever the key says."""
        return r.rate(value, self.summary_unit)

    @property
    def rate_unit_short(self) -> str:
        return self.summary_unit.removesuffix("/s")

    # ------------------------------------------------------------------ state <-> conf
    def current_work_code(self) -> int:
        """The work-mode code matching the state (the stored one while it still matches)."""
        mode = self.state.work_mode
        if self.work_modes.get(self.work_code, "normal") == mode:
            return self.work_code
        return next((c for c, m in self.work_modes.items() if m == mode), self.work_code)

    def apply_work_code(self, code: int | None) -> None:
        if code is None or not self.work_modes:
            return
        self.work_code = code
        mode = self.work_modes.get(code, "normal")
        self.state.set_work_mode(mode)

    def pool_slots(self) -> list[dict[str, str]]:
        slots = [{"url": p.url, "user": p.user, "pass": p.password} for p in self.state.pools]
        while len(slots) < 3:
            slots.append({"url": "", "user": "", "pass": ""})
        return slots[:3]

    def after_conf_write(self) -> None:
        """bmminer restarts on every config write."""
        if self.conf_restart_downtime > 0:
            self.spawn(self.restart_service(["rpc"], self.conf_restart_downtime))
        else:
            self.state.restart_backend()

    # ------------------------------------------------------------------ RPC stats
    def _stats_head(self) -> dict[str, Any]:
        return {
            self.program: self.program_version,
            "Miner": self.miner_version,
            "CompileTime": self.compile_time,
            "Type": self.type_string,
        }

    def _miner_id(self) -> str:
        return self.state.serial.lower()[-16:].rjust(16, "0")

    def _stats_reply(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.ok(70, "CGMiner stats", "STATS", [self._stats_head(), body])

    # ------------------------------------------------------------------ pages
    # ------------------------------------------------------------------ pages
    async def page_index(self, request: Request) -> HttpReply:
        return text_reply(_INDEX_PAGE)

    async def cgi_get_network_info(self, request: Request) -> HttpReply:
        return json_reply(
            {
                "nettype": "DHCP",
                "netdevice": "eth0",
                "macaddr": self.state.mac.upper(),
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

    async def cgi_get_system_info(self, request: Request) -> HttpReply:
        raise NotImplementedError

    async def cgi_get_miner_conf(self, request: Request) -> HttpReply:
        raise NotImplementedError

    async def cgi_set_miner_conf(self, request: Request) -> HttpReply:
        raise NotImplementedError

    async def cgi_reboot(self, request: Request) -> HttpReply:
        self.spawn(self._reboot_soon())
        return text_reply("", 200)

    async def _reboot_soon(self) -> None:
        await asyncio.sleep(self.reboot_delay)
        await self.reboot(self.reboot_downtime)

    # ------------------------------------------------------------------ firmware upload
    # upgrade.cgi keeps the settings, upgrade_clear.cgi resets them (BTC Tools' upgrader
    # picks one by its keepSettings option).  The CGI takes the first multipart part
    # whatever its name (bitmaintech/Antminer_firmware www_miner/cgi-bin/upgrade.cgi:
    # read to the blank line, then `tar zxf -`); X19-era firmware answers
    # {"stats","code","msg"} with U-codes (U001: invalid file).  Bitmain signs .bmu images;
    # the simulator cannot check a signature, so a .bmu is taken as it comes and a .tar.gz
    # must unpack.
    upgrade_keep_settings: bool | None = None
    """What the last accepted upload asked: True = upgrade.cgi, False = upgrade_clear.cgi."""

    async def cgi_upgrade(self, request: Request) -> HttpReply:
        if request.method != "POST":
            return self.upgrade_answer(False, "6")
        try:
            parts = list(request.multipart().values())
        except ValueError:
            parts = []
        if not parts or not parts[0][1]:
            return self.upgrade_answer(False, "6")
        name, image = parts[0]
        if not self.begin_upgrade():
            return self.upgrade_answer(False, "upgrading")
        bmu = (name or "").lower().endswith(".bmu")
        if not (bmu or gzip_intact(image)):
            self.end_upgrade(None)
            return self.upgrade_answer(False, "Invalid firmware file")
        self.upgrade_keep_settings = request.path.endswith("/upgrade.cgi")
        self.end_upgrade(image)
        return self.upgrade_answer(True, "OK!")

    def upgrade_answer(self, ok: bool, msg: str) -> HttpReply:
        """X19-era JSON; the X17-era CGI prints an HTML page instead (see AntminerOldSim)."""
        code = "U000" if ok else "U001"
        return json_reply({"stats": "success" if ok else "error", "code": code, "msg": msg})

    def installed(self, version: str) -> None:
        super().installed(version)
        # RPC version/stats CompileTime (the driver's fw_ver) is a per-kind ClassVar: shadow it
        # on this one miner, which now runs another build
        self.__dict__["compile_time"] = version


class AntminerModernSim(_AntminerStock):
    """The X19/X21-era web UI (JSON CGI) and bmminer RPC.

    RPC ``summary``/``stats``/``pools`` have the keys and JSON types of the real capture
    ``antminer/2022-12-06`` (S19 Pro): ``GHS 5s`` a number, chains 1-4 only (``temp{N}`` /
    ``temp2_{N}`` for live chains), ``temp_pic{N}``, ``"total rate"`` (with a space),
    ``rate_30m``, ``Getwork`` in summary and ``Pool Stale%%`` (sic) in pools.
    """

    versions: ClassVar[tuple[str, ...]] = ("2022-12-06",)
    stats_watt: ClassVar[bool] = False
    """stats.cgi reports the power draw as ``watt`` (builds from 2025, asic-rs PR #325)."""
    web_2026: ClassVar[bool] = False
    """stats.cgi/summary.cgi in the keys of the real 2026 capture (``antminer/2026-06-26``):
    no ``hwp_total``/``miner-mode``/``freq-level``/``rate_30m`` in stats, chains with ``asic``
    and without ``hw``/``eeprom_loaded``/``hwp``/``tpl``, ``safe_mode`` in summary, and the
    fans check ``""`` (not applicable) on a machine without fans."""
    soc_id: ClassVar[str] = "BTM_SOC0"
    """RPC ``stats`` ``ID`` (the 2026 S23 Hyd. build: ``BTM_SOC``)."""

    def cmd_stats(self, parameter: str | None) -> dict[str, Any]:
        r = self.state.read()
        chains = {1 + b.index: b for b in r.boards}
        live = [b for b in r.boards if b.alive]
        freq = round(sum(b.frequency for b in live) / len(live)) if live else 0
        slots = range(1, self.key_slots + 1)
        body: dict[str, Any] = {
            "STATS": 0,
            "ID": self.soc_id,
            "Elapsed": r.elapsed,
            "Calls": 0,
            "Wait": 0,
            "Max": 0,
            "Min": 99999999,
            "GHS 5s": round(self.gh(r, r.hashrate), 2),
            "GHS av": round(self.gh(r, r.ideal_hashrate), 2),
            "rate_30m": round(self.gh(r, r.ideal_hashrate), 2),
            "Mode": self.current_work_code(),
            "miner_count": len(live),
            "frequency": freq,
            "fan_num": len(r.fans),
            **{f"fan{n}": r.fans[n - 1] if n <= len(r.fans) else 0 for n in range(1, 5)},
            "temp_num": len(live),
        }
        for n, b in chains.items():
            if b.alive:
                body[f"temp{n}"] = round(b.temp_pcb)
                body[f"temp2_{n}"] = round(b.temp_chip)
        for n in slots:
            chain = chains.get(n)
            pcb, chip = (chain.temp_pcb, chain.temp_chip) if chain and chain.alive else (0, 0)
            body[f"temp_pcb{n}"] = _sensor_text(pcb)
            body[f"temp_chip{n}"] = _sensor_text(chip)
            body[f"temp_pic{n}"] = _sensor_text(pcb - 10 if pcb else 0)
        body.update(
            {
                "total_rateideal": round(self.gh(r, r.ideal_hashrate), 2),
                "rate_unit": self.rate_unit_short,
                "total_freqavg": freq,
                "total_acn": sum(b.chips for b in r.boards),
                "total rate": round(self.gh(r, r.hashrate), 2),
                "temp_max": 0,
                "no_matching_work": r.accepted // 300,
            }
        )
        for key, value, empty in (
            ("chain_acn{}", lambda b: b.chips, 0),
            ("chain_acs{}", lambda b: _chip_map(b.chips), ""),
            ("chain_hw{}", lambda b: 0, 0),
            ("chain_rate{}", lambda b: f"{self.gh(r, b.hashrate):.2f}", ""),
            ("freq{}", lambda b: round(b.frequency), 0),
        ):
            for n in slots:
                chain = chains.get(n)
                body[key.format(n)] = value(chain) if chain is not None and chain.alive else empty
        body["miner_version"] = self.miner_version
        body["miner_id"] = self._miner_id()
        return self._stats_reply(body)

    def cmd_summary(self, parameter: str | None) -> dict[str, Any]:
        result = super().cmd_summary(parameter)
        item = result["SUMMARY"][0]
        r = self.state.read()
        item["GHS 5s"] = round(self.gh(r, r.hashrate), 2)
        item["GHS 30m"] = round(self.gh(r, r.ideal_hashrate), 2)
        item["Getwork"] = item.pop("Getworks")
        return result

    def cmd_pools(self, parameter: str | None) -> dict[str, Any]:
        result = super().cmd_pools(parameter)
        for item in result.get("POOLS", []):
            item["Pool Stale%%"] = item.pop("Pool Stale%")  # sic: the build's own key
            item["Best Share"] = float(item["Best Share"])
        return result

    def cgi_routes(self) -> dict[str, Any]:
        return {
            **super().cgi_routes(),
            "summary": self.cgi_summary,
            "stats": self.cgi_stats,
            "pools": self.cgi_pools,
            "get_blink_status": self.cgi_get_blink_status,
            "blink": self.cgi_blink,
        }

    def _head(self, msg: str) -> dict[str, Any]:
        return {
            "STATUS": {"STATUS": "S", "when": int(time.time()), "Msg": msg, "api_version": "1.0.0"},
            "INFO": {
                "miner_version": self.miner_version,
                "CompileTime": self.compile_time,
                "type": self.type_string,
            },
        }

    async def cgi_get_system_info(self, request: Request) -> HttpReply:
        info: dict[str, Any] = {
            "minertype": self.type_string.split(" (", 1)[0],
            "nettype": "DHCP",
            "netdevice": "eth0",
            "macaddr": self.state.mac.upper(),
            "hostname": self.state.hostname,
            "ipaddress": self.address,
            "netmask": "255.255.255.0",
            "gateway": "",
            "dnsservers": "",
            "system_mode": "GNU/Linux",
            "system_kernel_version": self.kernel,
            "system_filesystem_version": self.filesystem_version or self.compile_time,
            "firmware_type": "Release",
        }
        if self.algorithm is not None:
            info["Algorithm"] = self.algorithm
        info["serinum"] = self.state.serial
        return json_reply(info)

    async def cgi_get_miner_conf(self, request: Request) -> HttpReply:
        conf: dict[str, Any] = {
            "pools": self.pool_slots(),
            "api-listen": True,
            "api-network": True,
            "api-groups": "A:stats:pools:devs:summary:version",
            "api-allow": "A:0/0,W:*",
            **self.conf,
            "bitmain-work-mode": str(self.current_work_code()),
        }
        return json_reply(conf)

    async def cgi_set_miner_conf(self, request: Request) -> HttpReply:
        try:
            body = request.json()
        except ValueError:
            body = request.form() or None
        if not isinstance(body, dict):
            return json_reply({"stats": "error", "code": "M001", "msg": "Invalid configuration"})
        raw_pools = body.get("pools")
        pools = []
        if isinstance(raw_pools, list):
            for p in raw_pools[:3]:
                if isinstance(p, dict) and str(p.get("url") or "").strip():
                    pools.append(
                        Pool(str(p["url"]), str(p.get("user") or ""), str(p.get("pass") or ""))
                    )
        mode = _code(body.get("miner-mode", 0))
        if mode is None or (self.work_modes and mode not in self.work_modes):
            return json_reply({"stats": "error", "code": "M001", "msg": "Invalid miner-mode"})
        manual = _flag(body.get("bitmain-fan-ctrl", False))
        pwm = body.get("bitmain-fan-pwm", "100")
        self.conf["bitmain-fan-ctrl"] = manual
        self.conf["bitmain-fan-pwm"] = str(pwm) if manual else "100"
        self.conf["bitmain-freq-level"] = str(body.get("freq-level", "100"))
        self.state.set_pools(pools)
        self.apply_work_code(mode)
        self.after_conf_write()
        return json_reply({"stats": "success", "code": "M000", "msg": "OK!"})

    async def cgi_summary(self, request: Request) -> HttpReply:
        r = self.state.read()
        no_fans = self.web_2026 and not r.fans  # nothing to check: "" = not applicable
        checks: list[dict[str, Any]] = [
            {"type": "rate", "status": "s", "code": 0},
            {"type": "network", "status": "s", "code": 0},
            {"type": "fans", "status": "" if no_fans else "s", "code": 0},
            {"type": "temp", "status": "s", "code": 0},
        ]
        for check in checks:
            check["msg"] = ""
        for fault in self.state.errors:
            checks.append({"type": "rate", "status": "e", "code": fault.code, "msg": fault.message})
        item = {
            "elapsed": r.elapsed,
            "rate_5s": round(self.gh(r, r.hashrate), 2),
            "rate_30m": round(self.gh(r, r.ideal_hashrate), 2),
            "rate_avg": round(self.gh(r, r.ideal_hashrate), 2),
            "rate_ideal": round(
                self.gh(r, r.ideal_hashrate if r.hashing else r.nominal_hashrate), 2
            ),
            "rate_unit": self.summary_unit,
            "hw_all": r.accepted // 300,
            "bestshare": r.accepted * 1877,
            "status": checks,
        }
        if self.web_2026:
            item["safe_mode"] = False
        return json_reply({**self._head("summary"), "SUMMARY": [item]})

    def _chain(self, r: Readings, b: BoardReading) -> dict[str, Any]:
        if self.web_2026:
            return {
                "asic": _chip_map(b.chips),
                "asic_num": b.chips,
                "freq_avg": round(b.frequency),
                "index": b.index,
                "rate_ideal": round(self.gh(r, b.ideal_hashrate), 2),
                "rate_real": round(self.gh(r, b.hashrate), 2),
                "sn": f"{self.state.serial[3:12]}B{b.index}",
                "temp_chip": _spread(b.temp_chip) if b.alive else [0, 0, 0, 0],
                "temp_pcb": _spread(b.temp_pcb) if b.alive else [0, 0, 0, 0],
                "temp_pic": _spread(b.temp_pcb - 10) if b.alive else [0, 0, 0, 0],
            }
        return {
            "index": b.index,
            "freq_avg": round(b.frequency),
            "rate_ideal": round(self.gh(r, b.ideal_hashrate), 2),
            "rate_real": round(self.gh(r, b.hashrate), 2),
            "asic_num": b.chips,
            "temp_pic": _spread(b.temp_pcb - 5) if b.alive else [0, 0, 0, 0],
            "temp_pcb": _spread(b.temp_pcb) if b.alive else [0, 0, 0, 0],
            "temp_chip": _spread(b.temp_chip) if b.alive else [0, 0, 0, 0],
            "hw": 0,
            "eeprom_loaded": True,
            "sn": f"{self.state.serial[3:12]}B{b.index}",
            "hwp": 0.0,
            "tpl": [],
        }

    async def cgi_stats(self, request: Request) -> HttpReply:
        r = self.state.read()
        item = {
            "elapsed": r.elapsed,
            "rate_5s": round(self.gh(r, r.hashrate), 2),
            "rate_30m": round(self.gh(r, r.ideal_hashrate), 2),
            "rate_avg": round(self.gh(r, r.ideal_hashrate), 2),
            "rate_ideal": round(self.gh(r, r.ideal_hashrate), 2),
            "rate_unit": self.summary_unit,
            "chain_num": len(r.boards),
            "fan_num": len(r.fans),
            "fan": list(r.fans),
            "hwp_total": 0.0,
            "miner-mode": self.current_work_code(),
            "freq-level": _code(self.conf.get("bitmain-freq-level")) or 100,
            "chain": [self._chain(r, b) for b in r.boards],
        }
        if self.web_2026:
            for key in ("rate_30m", "hwp_total", "miner-mode", "freq-level"):
                del item[key]
        if self.stats_watt:
            item["watt"] = round(r.wattage)
        head = self._head("stats")
        if self.web_2026:
            head["INFO"]["miner_type_enum"] = 1
        return json_reply({**head, "STATS": [item]})

    async def cgi_pools(self, request: Request) -> HttpReply:
        r = self.state.read()
        items = [
            {
                "index": p.index,
                "url": p.url,
                "user": p.user,
                "status": p.status,
                "priority": p.priority,
                "getworks": r.elapsed // 30 if p.active else 0,
                "accepted": p.accepted,
                "rejected": p.rejected,
                "discarded": p.accepted * 2,
                "stale": p.stale,
                "diff": "65.5K",
                "diff1": 0,
                "diffa": float(p.accepted * 65536),
                "diffr": float(p.rejected * 65536),
                "diffs": 0,
                "lsdiff": 65536 if p.accepted else 0,
                "lstime": "0:00:03" if p.active and r.hashing else "0",
            }
            for p in r.pools
        ]
        return json_reply({**self._head("pools"), "POOLS": items})

    async def cgi_get_blink_status(self, request: Request) -> HttpReply:
        return json_reply({"blink": self.state.fault_light})

    async def cgi_blink(self, request: Request) -> HttpReply:
        if request.method != "POST":
            return json_reply({"code": "B001", "msg": "blink needs a POST"})
        try:
            body = request.json()
        except ValueError:
            body = request.form()
        value = body.get("blink") if isinstance(body, dict) else None
        if value is None:
            return json_reply({"code": "B001", "msg": "missing blink"})
        self.state.fault_light = _flag(value)
        code = "B000" if self.state.fault_light else "B100"
        return json_reply({"code": code, "msg": "OK!"})


class AntminerOldSim(_AntminerStock):
    """The X17-era web UI: form-encoded, positional set_miner_conf, ``isBlinking``.

    RPC ``stats`` has the keys and JSON types of the real capture ``antminer/2019-08-20``
    (S17 Pro): every slot 1-16 listed (fans, temperatures, chains, ``freq{N}``),
    ``temp3_{N}`` repeating the chip temperature, ``GHS 5s``/``frequency`` as strings,
    ``GHS 30m``, ``chain_xtime``/``offside``/``opencore`` for live chains only.
    """

    versions: ClassVar[tuple[str, ...]] = ("2019-08-20",)

    work_modes: ClassVar[dict[int, str]] = {0: "normal", 254: "sleep"}
    conf_apply_delay: float = 0.05
    """Seconds set_miner_conf.cgi takes before ``ok`` (about 30 on real hardware)."""
    FORM_FIELDS: ClassVar[tuple[str, ...]] = (
        "_ant_pool1url",
        "_ant_pool1user",
        "_ant_pool1pw",
        "_ant_pool2url",
        "_ant_pool2user",
        "_ant_pool2pw",
        "_ant_pool3url",
        "_ant_pool3user",
        "_ant_pool3pw",
        "_ant_nobeeper",
        "_ant_notempoverctrl",
        "_ant_fan_customize_switch",
        "_ant_fan_customize_value",
        "_ant_freq",
        "_ant_voltage",
        "_ant_work_mode",
    )

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        for key in ("bitmain-ccdelay", "bitmain-pwth", "bitmain-freq-level"):
            self.conf.pop(key, None)
        self.conf["bitmain-freq"] = "650"
        self.conf["bitmain-voltage"] = "1900"

    def cmd_stats(self, parameter: str | None) -> dict[str, Any]:
        r = self.state.read()
        chains = {1 + b.index: b for b in r.boards}
        live = [b for b in r.boards if b.alive]
        slots = range(1, self.key_slots + 1)
        freq = sum(b.frequency for b in live) / len(live) if live else 0.0
        per_slot = slot_keys(r, slots)

        fans = {1 + i: rpm for i, rpm in enumerate(r.fans)}
        body: dict[str, Any] = {
            "STATS": 0,
            "ID": "BTM_SOC0",
            "Elapsed": r.elapsed,
            "Calls": 0,
            "Wait": 0.0,
            "Max": 0.0,
            "Min": 99999999.0,
            "GHS 5s": f"{self.gh(r, r.hashrate):.2f}",
            "GHS av": round(self.gh(r, r.ideal_hashrate), 2),
            "GHS 30m": round(self.gh(r, r.ideal_hashrate), 2),
            "Mode": self.current_work_code(),
            "miner_count": len(live),
            "frequency": "",  # the S17 Pro build leaves it empty (per-chain freq{N} instead)
            "fan_num": len(r.fans),
            **{f"fan{n}": fans.get(n, 0) for n in slots},
            "temp_num": len(live),
            **per_slot("temp{}", lambda b: round(b.temp_pcb)),
            **per_slot("temp2_{}", lambda b: round(b.temp_chip)),
            **per_slot("temp3_{}", lambda b: round(b.temp_chip)),
            **per_slot("temp_pcb{}", lambda b: _sensor_text(b.temp_pcb), "0-0-0-0"),
            **per_slot("temp_chip{}", lambda b: _sensor_text(b.temp_chip), "0-0-0-0"),
            "total_rateideal": round(self.gh(r, r.ideal_hashrate), 2),
            "rate_unit": self.rate_unit_short,
            "total_freqavg": round(freq, 2),
            "total_acn": sum(b.chips for b in r.boards),
            "total_rate": round(self.gh(r, r.hashrate), 2),
            **per_slot("chain_rateideal{}", lambda b: round(self.gh(r, b.ideal_hashrate), 2), 0.0),
            "temp_max": round(max((b.temp_pcb for b in live), default=0)),
            "no_matching_work": r.accepted // 300,
            **per_slot("chain_acn{}", lambda b: b.chips),
            **per_slot("chain_acs{}", lambda b: _chip_map(b.chips), ""),
            **per_slot("chain_hw{}", lambda b: 0),
            **per_slot("chain_rate{}", lambda b: f"{self.gh(r, b.hashrate):.2f}", ""),
        }
        for n, b in chains.items():
            if b.alive:
                body[f"chain_xtime{n}"] = "{}"
                body[f"chain_offside_{n}"] = ""
                body[f"chain_opencore_{n}"] = "1"
        body.update(per_slot("freq{}", lambda b: round(b.frequency)))
        body["miner_version"] = self.miner_version
        body["miner_id"] = self._miner_id()
        return self._stats_reply(body)

    def cgi_routes(self) -> dict[str, Any]:
        return {
            **super().cgi_routes(),
            "blink": self.cgi_blink,
            "miner_stats": self.cgi_miner_stats,
            "miner_summary": self.cgi_miner_summary,
            "miner_pools": self.cgi_miner_pools,
        }

    def upgrade_answer(self, ok: bool, msg: str) -> HttpReply:
        """The X17-era upgrade.cgi prints an HTML page; failure says "System upgrade failed"."""
        title = "System upgrade successful" if ok else "System upgrade failed"
        return text_reply(f"<html><body><h1>{title}</h1><p>{msg}</p></body></html>")

    async def cgi_get_system_info(self, request: Request) -> HttpReply:
        up = self.state.uptime
        return json_reply(
            {
                "minertype": self.type_string.split(" (", 1)[0],
                "nettype": "DHCP",
                "netdevice": "eth0",
                "macaddr": self.state.mac.upper(),
                "hostname": self.state.hostname,
                "ipaddress": self.address,
                "netmask": "255.255.255.0",
                "gateway": "",
                "dnsservers": "",
                "curtime": time.strftime("%H:%M:%S", time.gmtime()),
                "uptime": f"{up // 60}:{up % 60:02d}",
                "loadaverage": "0.42, 0.39, 0.40",
                "mem_total": "240452",
                "mem_used": "121872",
                "mem_free": "118580",
                "mem_buffers": "0",
                "mem_cached": "0",
                "system_mode": "GNU/Linux",
                "ant_hwv": "17.8.1.3",
                "system_kernel_version": self.kernel,
                "system_filesystem_version": self.compile_time,
                "bmminer_version": self.program_version,
            }
        )

    async def cgi_get_miner_conf(self, request: Request) -> HttpReply:
        conf: dict[str, Any] = {
            "pools": self.pool_slots(),
            "api-listen": True,
            "api-network": True,
            "api-groups": "A:stats:pools:devs:summary:version",
            "api-allow": "A:0/0,W:*",
        }
        for key in ("bitmain-nobeeper", "bitmain-notempoverctrl"):
            if self.conf.get(key):
                conf[key] = True
        if self.conf.get("bitmain-fan-ctrl"):
            conf["bitmain-fan-ctrl"] = True
            conf["bitmain-fan-pwm"] = str(self.conf.get("bitmain-fan-pwm", "100"))
        conf["bitmain-use-vil"] = True
        conf["bitmain-work-mode"] = str(self.current_work_code())
        conf["bitmain-freq"] = str(self.conf.get("bitmain-freq", ""))
        conf["bitmain-voltage"] = str(self.conf.get("bitmain-voltage", ""))
        return json_reply(conf)

    def parse_form(self, body: bytes) -> dict[str, str]:
        """Field *i* of the body is field *i* of the form, whatever its name says (the script
        strips the expected ``name=`` and keeps the rest)."""
        values = dict.fromkeys(self.FORM_FIELDS, "")
        parts = [p for p in body.decode("utf-8", "replace").split("&") if p]
        for name, part in zip(self.FORM_FIELDS, parts, strict=False):
            values[name] = unquote_plus(part.replace(f"{name}=", "", 1))
        return values

    async def cgi_set_miner_conf(self, request: Request) -> HttpReply:
        if request.method != "POST":
            return text_reply("ok")
        f = self.parse_form(request.body)
        pools = [
            Pool(f[f"_ant_pool{n}url"], f[f"_ant_pool{n}user"], f[f"_ant_pool{n}pw"])
            for n in (1, 2, 3)
            if f[f"_ant_pool{n}url"].strip()
        ]
        self.conf["bitmain-nobeeper"] = f["_ant_nobeeper"] == "true"
        self.conf["bitmain-notempoverctrl"] = f["_ant_notempoverctrl"] == "true"
        manual = f["_ant_fan_customize_switch"] == "true"
        self.conf["bitmain-fan-ctrl"] = manual
        self.conf["bitmain-fan-pwm"] = f["_ant_fan_customize_value"] if manual else "100"
        for key, field in (("bitmain-freq", "_ant_freq"), ("bitmain-voltage", "_ant_voltage")):
            if f[field]:  # empty keeps the current value
                self.conf[key] = f[field]
        if f["_ant_work_mode"]:
            self.apply_work_code(_code(f["_ant_work_mode"]))
        self.state.set_pools(pools)
        self.after_conf_write()
        await asyncio.sleep(self.conf_apply_delay)
        return text_reply("ok")

    async def cgi_blink(self, request: Request) -> HttpReply:
        action = request.form().get("action") if request.method == "POST" else None
        action = action or request.query.get("action")
        if action == "startBlink":
            self.state.fault_light = True
        elif action == "stopBlink":
            self.state.fault_light = False
        return json_reply({"isBlinking": self.state.fault_light})

    async def cgi_miner_stats(self, request: Request) -> HttpReply:
        return json_reply(self.cmd_stats(None))

    async def cgi_miner_summary(self, request: Request) -> HttpReply:
        return json_reply(self.cmd_summary(None))

    async def cgi_miner_pools(self, request: Request) -> HttpReply:
        return json_reply(self.cmd_pools(None))


# ------------------------------------------------------------------------------- kinds
@register
class AntminerS19jProSim(AntminerModernSim):
    kind = "antminer_s19jpro"
    model = "S19j Pro"
    type_string = "Antminer S19j Pro"
    hardware = Hardware(
        boards=3,
        chips_per_board=126,
        board_hashrate=104.0 / 3,
        unit="TH/s",
        fans=4,
        fan_rpm_max=6000,
        nominal_power=3068.0,
    )


@register
class AntminerS21Sim(AntminerModernSim):
    """The 2025 build FR-1.12: get_system_info.cgi as its capture; stats.cgi adds ``watt``
    (asic-rs PR #325).  No RPC capture of a 2025 build is published: RPC answers in the
    2022-12-06 shape."""

    kind = "antminer_s21"
    versions: ClassVar[tuple[str, ...]] = ("FR-1.12-251009",)
    stats_watt = True
    filesystem_version = "FR-1.12(251009-S21)"
    model = "S21"
    type_string = "Antminer S21"
    compile_time = "Thu Oct  9 18:41:12 CST 2025"
    kernel = "Linux 4.9.113 #1 SMP PREEMPT Thu Oct 9 18:55:45 CST 2025"
    hardware = Hardware(
        boards=3,
        chips_per_board=108,
        board_hashrate=200.0 / 3,
        unit="TH/s",
        fans=4,
        fan_rpm_max=6000,
        nominal_power=3500.0,
    )


@register
class AntminerS23HydSim(AntminerModernSim):
    """The water-cooled S23 Hyd. on its 2026 build: no fans, stats.cgi with ``watt``, the web
    and RPC pages in the keys of the real capture ``antminer/2026-06-26``."""

    kind = "antminer_s23hyd"
    versions: ClassVar[tuple[str, ...]] = ("2026-06-26",)
    stats_watt = True
    web_2026 = True
    soc_id = "BTM_SOC"
    model = "S23 Hydro"
    type_string = "Antminer S23 Hyd."
    miner_version = "platform[AML]"
    compile_time = "Fri Jun 26 09:24:23 CST 2026"
    kernel = "Linux 5.10.0 #1 SMP PREEMPT Fri Jun 26 09:10:02 CST 2026"
    hardware = Hardware(
        boards=3,
        chips_per_board=84,
        board_hashrate=582.0 / 3,
        unit="TH/s",
        fans=0,
        fan_rpm_max=6000,
        nominal_power=5525.0,
    )


@register
class AntminerL7Sim(AntminerModernSim):
    """Scrypt: every hash rate on the wire is in MH/s, ``GHS 5s`` included."""

    kind = "antminer_l7"
    versions: ClassVar[tuple[str, ...]] = ()  # no L7 capture is published
    model = "L7"
    type_string = "Antminer L7 (9500M)"
    summary_unit = "MH/s"
    algorithm = "Scrypt"
    work_modes: ClassVar[dict[int, str]] = {}
    compile_time = "Tue Aug 15 10:21:33 CST 2023"
    hardware = Hardware(
        boards=3,
        chips_per_board=120,
        board_hashrate=9.5 / 3,
        unit="GH/s",
        fans=4,
        fan_rpm_max=6000,
        nominal_power=3425.0,
    )


@register
class AntminerS17ProSim(AntminerOldSim):
    kind = "antminer_s17pro"
    model = "S17 Pro"
    type_string = "Antminer S17 Pro"
    miner_version = "19.10.1.3"
    description = "cgminer 1.0.0"
    device_name = "BTM_SOC"
    key_slots = 16
    compile_time = "Wed Oct 21 17:20:25 CST 2020"
    kernel = "Linux 4.6.0-xilinx #1 SMP PREEMPT Wed Oct 21 17:12:16 CST 2020"
    hardware = Hardware(
        boards=3,
        chips_per_board=48,
        board_hashrate=53.0 / 3,
        unit="TH/s",
        fans=4,
        fan_rpm_max=6000,
        nominal_power=2094.0,
    )
