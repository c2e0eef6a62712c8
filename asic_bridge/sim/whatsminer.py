"""MicroBT Whatsminer kinds: btminer API v2 on TCP 4028, API v3 on TCP 4433.

Answers are shaped like the real captures in tests/fixtures/real/whatsminer (key sets, JSON
types); live values come from MinerState.

``whatsminer_m30s``
    M30S+ VE40 on firmware 20210719.22.REL, **API 2.0.4**: no ``adjust_power_limit`` yet, and
    ``get_error_code`` carries that release's broken ``"error_code":["110":"<time>",...]``
    (pairs inside a list), which clients must repair.  ``whatsminer_m30s:20210322.22.REL``
    serves **API 1.4.0** as captured: ``status`` reports ``btmineroff`` (not ``mineroff``),
    replies say ``whatsminer v1.4.0``, leaner summary/devs/pools/get_psu.
``whatsminer_m50``
    M50 VH50 on firmware 20230803.11.REL, **API 2.0.5** (power limit supported); get_psu has
    no vin/vout/serial, as captured.
``whatsminer_m60``
    M60 VK10 on firmware 20251209.16.Rel2, **API 3.0.2** on 4433: ``get.device.info`` without
    ``power-limit-set`` or PSU readings, as captured; ``whatsminer_m60:20240722.07.51.REL``
    serves the API 3.0.0 document's shape (with both).  Port 4028 stays open, as
    on real post-2024.11 firmware, but only for a few legacy reads (``get_version``,
    ``get_miner_info``, ``status``, ``pools``, ``get_psu``, a reduced ``summary`` without
    hash rate or power, and a ``devdetails`` that names btminer but lists no device, so no
    model); ``devs`` and every v2 write answer ``invalid cmd``.  This follows public reports
    of 2025 firmware read through 4028 (pyasic#396, #314: identified as a Whatsminer;
    version, MAC, hostname, uptime and pool statistics readable; no model, hash rate or
    power) and the fact that clients (pyasic, asic-rs) pick the API from ``get_version``'s
    firmware date on 4028.

API v2 wire facts reproduced: cgminer-style ``STATUS`` lists for ``summary``/``devs``/
``pools``/``devdetails`` (joinable with ``+``), btminer's flat ``{"STATUS","When","Code",
"Msg","Description"}`` for its own commands (not joinable), ``get_token`` answering
``Msg:{time,salt,newsalt}`` (time = last 4 digits of the epoch), writes accepted only as
``{"enc":1,"data":<AES-256-ECB base64>}`` and answered ``{"enc":<base64>}``, tokens valid for
30 minutes and at most 32 alive, a token that does not check out (wrong password) answered in
plain text with code 135.  Codes: 14 invalid command, 23 invalid JSON, 45 permission denied,
131 OK, 132 command error, 134 token OK, 135 token check error.

API v3: 4-byte little-endian length frames both ways on a kept-open connection;
``{"code","when","msg","desc"}`` replies (0 OK, -1 command error, -2 invalid command,
-3 invalid JSON, -4 permission denied); ``set.*`` must carry ``ts``, ``account`` ("super")
and ``token`` = base64(sha256(cmd + password + salt + ts))[:8]; ``set.miner.pools`` carries
its parameter AES-encrypted.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from asic_bridge.errors import InvalidResponseError
from asic_bridge.transport.whatsminer import (
    decrypt_v2,
    decrypt_v3_param,
    derive_v2_keys,
    encrypt_v2,
    v3_aes_key,
    v3_token,
)

from .base import SimMiner, SimServer, gzip_intact, register, tar_intact
from .frame_server import FrameServer, encode_frame
from .rpc_server import NOT_JOINABLE, RpcReply, RpcServer, _complete, parse_request
from .shapes import conform
from .state import Hardware, Pool, Readings

DESCRIPTION = "btminer"

# btminer API v2 message codes
CODE_INVALID_CMD = 14
CODE_INVALID_JSON = 23
CODE_DENIED = 45
CODE_OK = 131
CODE_CMD_ERROR = 132
CODE_TOKEN_OK = 134
CODE_TOKEN_ERROR = 135

# API v3 codes
V3_OK = 0
V3_CMD_ERROR = -1
V3_INVALID_CMD = -2
V3_INVALID_JSON = -3
V3_DENIED = -4

TOKEN_TTL = 30 * 60.0
MAX_TOKENS = 32
V3_TS_WINDOW = 300
"""Seconds a signed v3 request's ``ts`` may differ from the miner's clock."""

_CGMINER_READS = frozenset({"summary", "devs", "edevs", "pools", "devdetails"})
_BTMINER_READS = frozenset(
    {"get_version", "get_miner_info", "status", "get_psu", "get_error_code", "get_token"}
)
_WRITES = frozenset(
    {
        "set_led", "reboot", "restart_btminer", "power_off", "power_on", "set_low_power",
        "set_normal_power", "set_high_power", "adjust_power_limit", "update_pools",
        "set_hostname", "factory_reset", "update_pwd", "net_config", "set_target_freq",
        "enable_btminer_fast_boot", "disable_btminer_fast_boot", "enable_web_pools",
        "disable_web_pools", "set_zone", "set_power_pct", "pre_power_on", "set_temp_offset",
        "adjust_upfreq_speed", "set_poweroff_cool", "set_fan_zero_speed", "upgrade_firmware",
    }
)  # fmt: skip
_LEGACY_READS = frozenset(
    {"get_version", "get_miner_info", "status", "pools", "get_psu", "summary", "devdetails"}
)
"""What port 4028 still answers on API v3 firmware."""


def _now() -> int:
    return int(time.time())


# Real shapes (tests/fixtures/real/whatsminer): key sets and JSON types of captured answers; the
# values only serve as defaults for keys no reading drives.
_V14_SUMMARY: dict[str, Any] = {
    "Accepted": 0, "Best Share": 0, "CB Platform": "ALLWINNER_H3", "CB Version": "V8",
    "Chip Data": "HP5A01-19101436   BINV04-192101D", "Chip Temp Avg": 0.0, "Chip Temp Max": 0.0,
    "Chip Temp Min": 0.0, "Device Hardware%": 0.0, "Device Rejected%": 0.0,
    "Difficulty Accepted": 0.0, "Difficulty Rejected": 0.0, "Difficulty Stale": 0.0,
    "Discarded": 0, "Elapsed": 0, "Error Code Count": 0, "Factory Error Code Count": 0,
    "Factory GHS": 0, "Fan Speed In": 0, "Fan Speed Out": 0, "Firmware Version": "",
    "Found Blocks": 0, "Get Failures": 0, "Getworks": 0, "HS RT": 0.0, "Hardware Errors": 0,
    "Hash Deviation%": 0.0, "Hash Stable": True, "Hash Stable Cost Seconds": 0,
    "Last getwork": 0, "Liquid Cooling": False, "Local Work": 0, "MAC": "", "MHS 15m": 0.0,
    "MHS 1m": 0.0, "MHS 5m": 0.0, "MHS 5s": 0.0, "MHS av": 0.0, "Network Blocks": 0,
    "Pool Rejected%": 0.0, "Pool Stale%": 0.0, "Power": 0, "Power Current": 0,
    "Power Fanspeed": 0, "Power Limit": 0, "Power Mode": "Normal", "Power_RT": 0, "Rejected": 0,
    "Remote Failures": 0, "Security Mode": 0, "Stale": 0, "Target Freq": 0, "Target MHS": 0,
    "Temperature": 0.0, "Total MH": 0.0, "Uptime": 0, "Utility": 0.0, "Voltage": 1180,
    "Work Utility": 0.0, "freq_avg": 0,
}  # fmt: skip
"""API 1.4.0 ``summary`` (20210322.22.REL): no Env Temp, Debug or Btminer Fast Boot."""
_V2_SUMMARY: dict[str, Any] = {
    "Elapsed": 0, "MHS av": 0.0, "MHS 5s": 0.0, "MHS 1m": 0.0, "MHS 5m": 0.0, "MHS 15m": 0.0,
    "HS RT": 0.0, "Accepted": 0, "Rejected": 0, "Total MH": 0.0, "Temperature": 0.0,
    "freq_avg": 0, "Fan Speed In": 0, "Fan Speed Out": 0, "Power": 0, "Power Rate": 0.0,
    "Pool Rejected%": 0.0, "Pool Stale%": 0.0, "Uptime": 0, "Security Mode": 0,
    "Hash Stable": True, "Hash Stable Cost Seconds": 0, "Hash Deviation%": 0.0,
    "Target Freq": 0, "Target MHS": 0, "Env Temp": 0.0, "Power Mode": "Normal",
    "Factory GHS": 0, "Power Limit": 0, "Chip Temp Min": 0.0, "Chip Temp Max": 0.0,
    "Chip Temp Avg": 0.0, "Debug": "", "Btminer Fast Boot": "disable",
}  # fmt: skip
"""API 2.x ``summary`` (an M30S, pyasic#22): no MAC, Firmware Version, Upfreq Complete."""
_V14_DEV: dict[str, Any] = {
    "ASC": 0, "Accepted": 0, "Chip Frequency": 0, "Chip Temp Avg": 0.0, "Chip Temp Max": 0.0,
    "Chip Temp Min": 0.0, "Device Elapsed": 0, "Device Hardware%": 0.0, "Device Rejected%": 0.0,
    "Diff1 Work": 0, "Difficulty Accepted": 0.0, "Difficulty Rejected": 0.0,
    "Effective Chips": 0, "Enabled": "Y", "Fan Speed In": 0, "Fan Speed Out": 0,
    "Hardware Errors": 0, "ID": 0, "Last Share Difficulty": 0.0, "Last Share Pool": 0,
    "Last Share Time": 0, "Last Valid Work": 0, "MHS 15m": 0.0, "MHS 1m": 0.0, "MHS 5m": 0.0,
    "MHS 5s": 0.0, "MHS av": 0.0, "Name": "SM", "PCB SN": "", "Rejected": 0, "Slot": 0,
    "Status": "Alive", "Temperature": 0.0, "Total MH": 0.0, "Upfreq Complete": 1, "Utility": 0.0,
}  # fmt: skip
"""API 1.4.0 ``devs`` entry: no HS RT, no chip_vol_diff."""
_V14_POOL: dict[str, Any] = {
    "Accepted": 0, "Bad Work": 0, "Best Share": 0, "Current Block Height": 0,
    "Current Block Version": 0, "Diff1 Shares": 0, "Difficulty Accepted": 0.0,
    "Difficulty Rejected": 0.0, "Difficulty Stale": 0.0, "Discarded": 0, "Get Failures": 0,
    "Getworks": 0, "Has GBT": False, "Has Stratum": True, "Last Share Difficulty": 0.0,
    "Last Share Time": 0, "Long Poll": "N", "POOL": 1, "Pool Rejected%": 0.0,
    "Pool Stale%": 0.0, "Priority": 0, "Proxy": "", "Proxy Type": "", "Quota": 1,
    "Rejected": 0, "Remote Failures": 0, "Stale": 0, "Status": "Alive", "Stratum Active": False,
    "Stratum Difficulty": 0.0, "Stratum URL": "", "URL": "", "User": "",
    "Work Difficulty": 0.0, "Works": 0,
}  # fmt: skip
"""API 1.4.0 ``pools`` entry: ``Has Stratum`` a bool."""
_V3_SUMMARY: dict[str, Any] = {
    "elapsed": 0, "bootup-time": 0, "freq-avg": 0, "target-freq": 0, "factory-hash": 0.0,
    "hash-average": 0.0, "hash-1min": 0.0, "hash-15min": 0.0, "hash-realtime": 0.0,
    "power-rate": 0.0, "power-5min": 0.0, "power-realtime": 0, "environment-temperature": 0.0,
    "board-temperature": [], "chip-temp-min": 0.0, "chip-temp-avg": 0.0, "chip-temp-max": 0.0,
    "power-limit": 0, "up-freq-finish": 1, "fan-speed-in": 0, "fan-speed-out": 0,
}  # fmt: skip
"""API 3.0.0 document's ``get.miner.status`` summary: freq-avg an int, power-5min a float."""


def btminer_reply(code: int, msg: Any, *, ok: bool = True) -> dict[str, Any]:
    """btminer's own flat reply shape."""
    return {
        "STATUS": "S" if ok else "E",
        "When": _now(),
        "Code": code,
        "Msg": msg,
        "Description": "",
    }


def btminer_error(code: int, msg: str) -> dict[str, Any]:
    return btminer_reply(code, msg, ok=False)


def cgminer_reply(code: int, msg: str, section: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    status = {"STATUS": "S", "When": _now(), "Code": code, "Msg": msg, "Description": DESCRIPTION}
    return {"STATUS": [status], section: items, "id": 1}


@dataclass(frozen=True)
class _Token:
    sign: str
    issued: float


@dataclass
class Led:
    """The LED as last set: ``auto`` (firmware-driven) or a manual blink pattern."""

    auto: bool = True
    color: str = "red"
    period: int = 1000
    duration: int = 500
    start: int = 0


class BtminerRpcServer(RpcServer):
    """Port 4028: cgminer-style reads, btminer commands and encrypted writes."""

    def __init__(self, sim: WhatsminerSim) -> None:
        super().__init__(
            sim.on_rpc,
            description=DESCRIPTION,
            not_joinable=NOT_JOINABLE | _BTMINER_READS | _WRITES,
        )
        self.sim = sim

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.sim.upload_armed:
            raw = await self.sim.maybe_upload(self, reader, writer)
            if raw is None:
                return
        else:
            raw = await self.read_request(reader)
        if not raw.strip(b"\x00\r\n\t "):
            return
        self.counters.requests += 1
        encrypted = _encrypted_payload(raw)
        if encrypted is None:
            parsed = parse_request(raw, self.description)
            self.count(parsed)
            if not await self.before_reply(reader, writer):
                return
            result: RpcReply = self.answer(parsed)
        else:
            if not await self.before_reply(reader, writer):
                return
            result, cmd = self.sim.on_encrypted(encrypted)
            self.counters.by_key[cmd or "enc"] += 1
        writer.write(self.encode(result))
        await writer.drain()
        await self.finish(reader, writer)


def _encrypted_payload(raw: bytes) -> str | None:
    """The base64 ``data`` of a ``{"enc":1,"data":...}`` request, else None."""
    text = raw.rstrip(b"\x00\r\n\t ")
    if not text.startswith(b"{") or b'"enc"' not in text:
        return None
    try:
        request = json.loads(text)
    except ValueError:
        return None
    if not isinstance(request, dict) or "enc" not in request or "command" in request:
        return None
    data = request.get("data")
    return data if isinstance(data, str) else ""


class WhatsminerSim(SimMiner):
    """btminer API v2 on 4028, everything derived from the shared :class:`MinerState`."""

    make = "WhatsMiner"
    firmware = "Stock"
    default_ports = {"rpc": 4028}

    raw_model: ClassVar[str] = ""
    """What devdetails/get.device.info say, e.g. ``M30S+_VE40``."""
    fw_ver: ClassVar[str] = ""
    api_ver: ClassVar[str] = "2.0.5"
    platform: ClassVar[str] = "H6OS"
    chip: ClassVar[str] = "IC_MODEL_BM1362"
    psu_model: ClassVar[str] = "P221B"
    board_code: ClassVar[str] = ""
    """Hash board type in get.device.info ``hash-board`` (the part after the V)."""
    version_apis: ClassVar[dict[str, str]] = {}
    """Per served firmware version (a ``versions`` entry): its API version."""
    lean_psu: ClassVar[frozenset[str]] = frozenset()
    """Firmware versions whose ``get_psu`` has no vin/vout/iin/serial (as captured)."""

    reboot_downtime: float = 0.5
    restart_downtime: float = 0.3
    act_delay: float = 0.05
    """Seconds between answering a reboot/restart and doing it (the reply goes out first)."""

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self.password = "admin"
        """The admin password writes are encrypted with (API v2)."""
        self.write_enabled = True
        """False: the write API was never switched on (WhatsMinerTool), writes are refused."""
        self.salt = _salt(self.state.mac, "salt")
        self.led = Led()
        self._tokens: list[_Token] = []
        self.errors_since: dict[int, str] = {}

    # ------------------------------------------------------------------ servers
    def make_servers(self) -> dict[str, SimServer]:
        return {"rpc": BtminerRpcServer(self)}

    @property
    def fw(self) -> str:
        """The firmware version served (the chosen version, else the kind's one)."""
        return self.installed_version or self.served_version or self.fw_ver

    @property
    def api(self) -> str:
        """The API version of the firmware served."""
        return self.version_apis.get(self.served_version or self.fw_ver, self.api_ver)

    @property
    def api_tuple(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.api.split("."))

    @property
    def api14(self) -> bool:
        """API 1.4 firmware: ``btmineroff``, a leaner summary, 'whatsminer v1.4.0' everywhere."""
        return self.api_tuple < (2,)

    def btminer(self, msg: Any) -> dict[str, Any]:
        """A successful btminer reply; API 1.4 names itself in ``Description``."""
        out = btminer_reply(CODE_OK, msg)
        if self.api14:
            out["Description"] = f"whatsminer v{self.api}"
        return out

    @property
    def legacy_only(self) -> bool:
        """True on API v3 firmware: 4028 serves only a few reads."""
        return False

    # ------------------------------------------------------------------ readings
    def power_limit_reported(self) -> int:
        """What the firmware reports as its power limit: the set one, else its ceiling."""
        limit = self.state.power_limit
        return round(limit if limit is not None else self.state.hardware.power_range[1])

    def psu_fan(self, r: Readings) -> int:
        load = r.wattage / self.state.hardware.nominal_power
        return round(3600 + 3000 * min(load, 1.3))

    def pcb_serial(self, index: int) -> str:
        return f"HEM{self.state.serial[-9:]}{index:02d}"

    def chip_temps(self, temp_chip: float) -> tuple[float, float, float]:
        """(min, avg, max) chip temperature of a board around its average."""
        return round(temp_chip - 6.5, 2), round(temp_chip, 2), round(temp_chip + 7.25, 2)

    def error_time(self, code: int) -> str:
        stamp = self.errors_since.setdefault(code, time.strftime("%Y-%m-%d %H:%M:%S"))
        return stamp

    # ------------------------------------------------------------------ RPC dispatch
    def on_rpc(self, command: str, parameter: str | None, request: dict[str, Any]) -> RpcReply:
        if self.legacy_only and command not in _LEGACY_READS:
            return btminer_error(CODE_INVALID_CMD, "invalid cmd")
        if command in _WRITES:
            # the write API only takes ciphertext
            return btminer_error(CODE_DENIED, "permission denied")
        handler = getattr(self, f"rpc_{command}", None) if command.isidentifier() else None
        if handler is None:
            return btminer_error(CODE_INVALID_CMD, "invalid cmd")
        result: RpcReply = handler()
        return result

    def rpc_summary(self) -> dict[str, Any]:
        r = self.state.read()
        mhs = _mhs(r)
        hw = self.state.hardware
        live = [b for b in r.boards if b.alive]
        temps = [self.chip_temps(b.temp_chip) for b in live] or [(0.0, 0.0, 0.0)]
        item: dict[str, Any] = {
            "Elapsed": r.elapsed,
            "MHS av": mhs(r.ideal_hashrate),
            "MHS 5s": mhs(r.hashrate),
            "MHS 1m": mhs(r.hashrate),
            "MHS 5m": mhs(r.ideal_hashrate),
            "MHS 15m": mhs(r.ideal_hashrate),
            "HS RT": mhs(r.hashrate),
            "Accepted": r.accepted,
            "Rejected": r.rejected,
            "Total MH": round(r.rate(r.ideal_hashrate, "MH/s") * r.elapsed, 1),
            "Temperature": max((round(b.temp_pcb) for b in live), default=0) * 1.0,
            "freq_avg": int(sum(b.frequency for b in live) / len(live)) if live else 0,
            "Fan Speed In": r.fans[0] if r.fans else 0,
            "Fan Speed Out": r.fans[1] if len(r.fans) > 1 else 0,
            "Power": round(r.wattage),
            "Power Rate": round(r.wattage / r.hashrate, 2) if r.hashrate else 0.0,
            "Pool Rejected%": round(r.rejected / max(r.accepted + r.rejected, 1) * 100, 4),
            "Pool Stale%": 0.0,
            "Uptime": self.state.uptime,
            "Security Mode": 0,
            "Hash Stable": r.hashing,
            "Hash Stable Cost Seconds": min(r.elapsed, 900),
            "Hash Deviation%": 0.0,
            "Target Freq": int(live[0].frequency) if live else 0,
            "Target MHS": mhs(r.ideal_hashrate),
            "Env Temp": self.state.ambient_temp,
            "Power Mode": self.state.work_mode.capitalize()
            if self.state.work_mode != "sleep"
            else "Normal",
            "Factory GHS": round(r.rate(hw.nominal_hashrate, "GH/s")),
            "Power Limit": self.power_limit_reported(),
            "Chip Temp Min": min(t[0] for t in temps),
            "Chip Temp Max": max(t[2] for t in temps),
            "Chip Temp Avg": round(sum(t[1] for t in temps) / len(temps), 2),
            "Debug": "-0.0_100.0_360",
            "Btminer Fast Boot": "disable",
            "Upfreq Complete": 1,
            "Liquid Cooling": False,
            "MAC": self.state.mac.upper(),
            "Firmware Version": f"'{self.fw}'",
        }
        if self.api14:
            item = conform(
                item
                | {
                    "Power_RT": item["Power"],
                    "Power Fanspeed": self.psu_fan(r),
                    "Power Current": round(r.wattage / 13.1),
                    "Best Share": r.accepted * 131072,
                    "Getworks": r.elapsed // 30,
                },
                _V14_SUMMARY,
            )
        elif not self.legacy_only:
            item = conform(item, _V2_SUMMARY)
        if self.api_tuple < (2, 0, 4):  # errors moved to get_error_code in 2.0.4
            item["Error Code Count"] = len(self.state.errors)
            for i, fault in enumerate(self.state.errors):
                item[f"Error Code {i}"] = fault.code
        if self.legacy_only:
            keep = ("Elapsed", "Accepted", "Rejected", "Uptime", "MAC", "Firmware Version")
            item = {k: item[k] for k in keep}
        return cgminer_reply(11, "Summary", "SUMMARY", [item])

    def _devs(self) -> list[dict[str, Any]]:
        r = self.state.read()
        mhs = _mhs(r)
        out = []
        for b in r.boards:
            if not b.alive:
                continue  # a board that is not detected is not listed
            low, avg, high = self.chip_temps(b.temp_chip)
            share = b.hashrate / r.hashrate if r.hashrate else 0.0
            out.append(
                {
                    "ASC": b.index,
                    "Name": "SM",
                    "ID": b.index,
                    "Slot": b.index,
                    "Enabled": "Y",
                    "Status": "Alive",
                    "Temperature": float(round(b.temp_pcb)),
                    "Chip Frequency": int(b.frequency),
                    "Fan Speed In": r.fans[0] if r.fans else 0,
                    "Fan Speed Out": r.fans[1] if len(r.fans) > 1 else 0,
                    "MHS av": mhs(b.ideal_hashrate),
                    "MHS 5s": mhs(b.hashrate),
                    "MHS 1m": mhs(b.hashrate),
                    "MHS 5m": mhs(b.ideal_hashrate),
                    "MHS 15m": mhs(b.ideal_hashrate),
                    "HS RT": mhs(b.hashrate),
                    "Accepted": int(r.accepted * share),
                    "Rejected": int(r.rejected * share),
                    "Hardware Errors": 0,
                    "Utility": 0.0,
                    "Total MH": round(r.rate(b.ideal_hashrate, "MH/s") * r.elapsed, 1),
                    "Device Hardware%": 0.0,
                    "Device Rejected%": 0.0,
                    "Device Elapsed": r.elapsed,
                    "Upfreq Complete": 1,
                    "Effective Chips": b.chips,
                    "PCB SN": self.pcb_serial(b.index),
                    "Chip Temp Min": low,
                    "Chip Temp Max": high,
                    "Chip Temp Avg": avg,
                    "chip_vol_diff": 7,
                }
            )
        if self.api14:
            return [conform(d, _V14_DEV) for d in out]
        return out

    def rpc_devs(self) -> dict[str, Any]:
        devs = self._devs()
        return cgminer_reply(9, f"{len(devs)} ASC(s)", "DEVS", devs)

    def rpc_edevs(self) -> dict[str, Any]:
        devs = self._devs()
        return cgminer_reply(9, f"{len(devs)} ASC(s)", "DEVS", devs)

    def rpc_devdetails(self) -> dict[str, Any]:
        items = [
            {
                "DEVDETAILS": b,
                "Name": "SM",
                "ID": b,
                "Driver": "bitmicro",
                "Kernel": "",
                "Model": self.raw_model,
            }
            for b in range(self.state.hardware.boards)
            if b not in self.state.dead_boards and not self.legacy_only
        ]
        return cgminer_reply(69, "Device Details", "DEVDETAILS", items)

    def rpc_pools(self) -> dict[str, Any]:
        r = self.state.read()
        now = _now()
        items = []
        for p in r.pools:
            host = p.url.split("://", 1)[-1]
            items.append(
                {
                    "POOL": p.index + 1,
                    "URL": p.url,
                    "Status": p.status,
                    "Priority": p.priority,
                    "Quota": 1,
                    "Long Poll": "N",
                    "Getworks": r.elapsed // 30 if p.active else 0,
                    "Accepted": p.accepted,
                    "Rejected": p.rejected,
                    "Works": p.accepted * 4,
                    "Discarded": 0,
                    "Stale": p.stale,
                    "Get Failures": p.get_failures,
                    "Remote Failures": p.remote_failures,
                    "User": p.user,
                    "Last Share Time": now if p.active and p.accepted else 0,
                    "Diff1 Shares": p.accepted * 65536,
                    "Proxy Type": "",
                    "Proxy": "",
                    "Difficulty Accepted": float(p.accepted * 65536),
                    "Difficulty Rejected": float(p.rejected * 65536),
                    "Difficulty Stale": 0.0,
                    "Last Share Difficulty": 65536.0 if p.accepted else 0.0,
                    "Work Difficulty": 65536.0 if p.active else 0.0,
                    "Has Stratum": 1,
                    "Stratum Active": p.active,
                    "Stratum URL": host.split(":", 1)[0] if p.active else "",
                    "Stratum Difficulty": 65536.0 if p.active else 0.0,
                    "Best Share": p.accepted * 131072,
                    "Pool Rejected%": round(p.rejected / max(p.accepted + p.rejected, 1) * 100, 4),
                    "Pool Stale%": 0.0,
                    "Bad Work": 0,
                    "Current Block Height": 880000 if p.active else 0,
                    "Current Block Version": 536870912 if p.active else 0,
                }
            )
        if self.api14:
            items = [conform(item, _V14_POOL) for item in items]
        return cgminer_reply(7, f"{len(items)} Pool(s)", "POOLS", items)

    def rpc_get_version(self) -> dict[str, Any]:
        if self.api14:  # api_ver carries the product prefix; no platform
            return self.btminer({"api_ver": f"whatsminer v{self.api}", "fw_ver": self.fw})
        # API 2.0.5 (20230803.11.REL) sends no chip
        return self.btminer({"api_ver": self.api, "fw_ver": self.fw, "platform": self.platform})

    def rpc_get_miner_info(self) -> dict[str, Any]:
        s = self.state
        gateway = s.ip.rsplit(".", 1)[0] + ".1"
        return btminer_reply(
            CODE_OK,
            {
                "ip": s.ip,
                "proto": "dhcp",
                "netmask": "255.255.255.0",
                "gateway": gateway,
                "dns": gateway,
                "hostname": s.hostname,
                "mac": s.mac.upper(),
                "ledstat": "auto" if self.led.auto else "manual",
                "minersn": s.serial,
            },
        )

    def rpc_status(self) -> dict[str, Any]:
        s = self.state
        off = "false" if s.mining else "true"
        if self.api14:  # 1.4 reports the btminer process, under another key
            return self.btminer({"btmineroff": off, "Firmware Version": f"'{self.fw}'"})
        msg: dict[str, Any] = {
            "mineroff": off,
            "mineroff_reason": "" if s.mining else "power off by API",
            "mineroff_time": "",
            "FirmwareVersion": self.fw,  # unquoted on every 2.x capture
            "power_mode": "",
            "hash_percent": "",
        }
        if self.legacy_only:  # a v3 firmware's answer on 4028 (20250214.16.1)
            limit = s.power_limit
            hash_percent = msg.pop("hash_percent")  # after power_limit_set, as captured
            msg["power_limit_set"] = str(2147483647 if limit is None else int(limit))
            msg["hash_percent"] = hash_percent
        return self.btminer(msg)

    def rpc_get_psu(self) -> dict[str, Any]:
        r = self.state.read()
        if self.api14:  # 20210322.22.REL: names and versions only
            return self.btminer(
                {"hw_version": "", "model": self.psu_model, "name": self.psu_model,
                 "sw_version": "102220.009"}
            )  # fmt: skip
        if self.fw in self.lean_psu:  # 20230803.11.REL: no readings, fan as a string
            return self.btminer(
                {"fan_speed": str(self.psu_fan(r)), "hw_version": "", "model": self.psu_model,
                 "name": self.psu_model, "sw_version": "230208.220429"}
            )  # fmt: skip
        return btminer_reply(
            CODE_OK,
            {
                "name": self.psu_model,
                "hw_version": "V01.00",
                "sw_version": "V01.00.V01.05",
                "model": self.psu_model,
                "iin": str(round(r.wattage / 231.5 * 100)),
                "vin": "23150",
                "vout": "1222" if r.hashing else "0",
                "fan_speed": str(self.psu_fan(r)),
                "version": "1",
                "serial_no": f"PSU{self.state.serial[-10:]}",
                "vendor": "7",
            },
        )

    def rpc_get_error_code(self) -> RpcReply:
        faults = self.state.errors
        if self.api_tuple == (2, 0, 4) and faults:
            # API 2.0.4 sends the pairs inside a list: not JSON; clients must repair it
            pairs = ",".join(f'"{f.code}":"{self.error_time(f.code)}"' for f in faults)
            head = json.dumps(btminer_reply(CODE_OK, {"error_code": []}), separators=(",", ":"))
            return head.replace('"error_code":[]', f'"error_code":[{pairs}]').encode() + b"\x00"
        codes = [{str(f.code): self.error_time(f.code)} for f in faults]
        return btminer_reply(CODE_OK, {"error_code": codes})

    def rpc_get_token(self) -> dict[str, Any]:
        stamp = str(_now())[-4:]
        newsalt = secrets.token_urlsafe(6)[:8].replace("-", "a").replace("_", "b")
        _, sign = derive_v2_keys(self.password, self.salt, newsalt, stamp)
        now = self.state.clock()
        self._tokens = [t for t in self._tokens if now - t.issued < TOKEN_TTL][-(MAX_TOKENS - 1) :]
        self._tokens.append(_Token(sign, now))
        return btminer_reply(CODE_TOKEN_OK, {"time": stamp, "salt": self.salt, "newsalt": newsalt})

    # ------------------------------------------------------------------ encrypted writes
    def _key(self) -> bytes:
        key, _ = derive_v2_keys(self.password, self.salt, "", "")
        return key

    def on_encrypted(self, data: str) -> tuple[RpcReply, str | None]:
        """Answer an encrypted request: (reply, command name or None if it did not decrypt)."""
        if self.legacy_only:
            return btminer_error(CODE_INVALID_CMD, "invalid cmd"), None
        if not self.write_enabled:
            return btminer_error(CODE_DENIED, "can't access write cmd"), None
        key = self._key()
        try:
            inner = decrypt_v2(key, data)
        except InvalidResponseError:
            # a wrong password gives a wrong key: the token cannot be checked
            return btminer_error(CODE_TOKEN_ERROR, "check token err"), None
        now = self.state.clock()
        token = inner.get("token")
        if not any(t.sign == token and now - t.issued < TOKEN_TTL for t in self._tokens):
            return btminer_error(CODE_TOKEN_ERROR, "check token err"), None
        cmd = inner.get("cmd")
        if not isinstance(cmd, str):
            return {"enc": encrypt_v2(key, btminer_error(CODE_INVALID_JSON, "invalid json"))}, None
        handler = getattr(self, f"write_{cmd}", None) if cmd.isidentifier() else None
        if handler is None or (cmd == "adjust_power_limit" and self.api_tuple < (2, 0, 5)):
            result = btminer_error(CODE_INVALID_CMD, "invalid cmd")
        else:
            try:
                msg = handler(inner)  # a handler may answer its own Msg ("ready")
            except (ValueError, TypeError) as exc:
                result = btminer_error(CODE_CMD_ERROR, f"command error: {exc}")
            else:
                result = btminer_reply(CODE_OK, msg if isinstance(msg, str) else "API command OK")
        return {"enc": encrypt_v2(key, result)}, cmd

    def later(self, action: Callable[[], Awaitable[None]]) -> None:
        """Act shortly after the reply went out (reboot, restart)."""

        async def run() -> None:
            await asyncio.sleep(self.act_delay)
            await action()

        self.spawn(run())

    def write_set_led(self, req: dict[str, Any]) -> None:
        if req.get("param") == "auto":
            self.led = Led()
        else:
            color = req.get("color", "red")
            if color not in ("red", "green"):
                raise ValueError(f"unknown color {color!r}")
            self.led = Led(
                auto=False,
                color=color,
                period=int(req.get("period", 1000)),
                duration=int(req.get("duration", 500)),
                start=int(req.get("start", 0)),
            )
        self.state.fault_light = not self.led.auto

    def write_reboot(self, req: dict[str, Any]) -> None:
        self.later(lambda: self.reboot(self.reboot_downtime))

    # ------------------------------------------------------------------ firmware upload
    # API v2 upgrade_firmware (as pyasic's BTMinerRPCAPI.update_firmware drives it): the
    # encrypted command answers Msg "ready"; the image then comes on a new connection to
    # 4028 as <u32 little-endian size> + bytes.  What the firmware checks inside the image
    # is not documented: the simulator takes an intact tar / tar.gz, answers on the upload
    # connection and reboots into it.
    upload_armed = False
    upload_window = 30.0
    """Seconds a "ready" waits for the image before the slot is given up."""

    def write_upgrade_firmware(self, req: dict[str, Any]) -> str:
        if not self.begin_upgrade():
            raise ValueError("firmware upgrade already in progress")
        self.upload_armed = True
        self.spawn(self._disarm_later())
        return "ready"

    async def _disarm_later(self) -> None:
        await asyncio.sleep(self.upload_window)
        if self.upload_armed:
            self.upload_armed = False
            self.end_upgrade(None)

    async def maybe_upload(
        self, server: RpcServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bytes | None:
        """With an upload armed, a connection that does not start with JSON is the image:
        receive and answer it (None); else return the JSON request read so far and more."""
        try:
            head = await asyncio.wait_for(reader.readexactly(4), server.read_timeout)
        except (asyncio.IncompleteReadError, TimeoutError):
            return b""
        if head.startswith(b"{"):
            buf = head
            while not _complete(buf) and len(buf) < server.max_request:
                chunk = await asyncio.wait_for(reader.read(4096), server.read_timeout)
                if not chunk:
                    break
                buf += chunk
            return buf
        self.upload_armed = False
        server.counters.by_key["upgrade image"] += 1
        size = int.from_bytes(head, "little")
        try:
            image = await asyncio.wait_for(reader.readexactly(size), 60.0)
        except (asyncio.IncompleteReadError, TimeoutError):
            self.end_upgrade(None)
            return None
        if tar_intact(image) or (gzip_intact(image) and tar_intact(gzip.decompress(image))):
            reply = btminer_reply(CODE_OK, "upgrade firmware ok, rebooting")
            self.end_upgrade(image)
        else:
            reply = btminer_error(CODE_CMD_ERROR, "upgrade firmware failed: invalid image")
            self.end_upgrade(None)
        writer.write(server.encode(reply))
        await writer.drain()
        await server.finish(reader, writer)
        return None

    def write_restart_btminer(self, req: dict[str, Any]) -> None:
        self.later(lambda: self.restart_service(["rpc"], self.restart_downtime))

    def write_power_off(self, req: dict[str, Any]) -> None:
        self.state.set_mining(False)

    def write_power_on(self, req: dict[str, Any]) -> None:
        self.state.set_mining(True)

    def write_set_low_power(self, req: dict[str, Any]) -> None:
        self.state.set_work_mode("low")

    def write_set_normal_power(self, req: dict[str, Any]) -> None:
        self.state.set_work_mode("normal")

    def write_set_high_power(self, req: dict[str, Any]) -> None:
        self.state.set_work_mode("high")

    def write_adjust_power_limit(self, req: dict[str, Any]) -> None:
        watts = int(str(req.get("power_limit", "")).strip())
        if not 0 < watts <= 99999:
            raise ValueError("power_limit out of range")
        self.state.set_power_limit(watts)
        self.state.restart_backend()  # btminer restarts to apply a new limit

    def write_update_pools(self, req: dict[str, Any]) -> None:
        pools = []
        for i in (1, 2, 3):
            url = req.get(f"pool{i}")
            if isinstance(url, str) and url.strip():
                pools.append(
                    Pool(
                        url.strip(),
                        str(req.get(f"worker{i}") or ""),
                        str(req.get(f"passwd{i}") or ""),
                    )
                )
        if not pools:
            raise ValueError("no pool given")
        self.state.set_pools(pools)

    def write_set_hostname(self, req: dict[str, Any]) -> None:
        hostname = req.get("hostname")
        if not isinstance(hostname, str) or not hostname.strip():
            raise ValueError("hostname missing")
        self.state.hostname = hostname.strip()


def _mhs(r: Readings) -> Callable[[float], float]:
    def convert(value: float) -> float:
        return round(r.rate(value, "MH/s"), 2)

    return convert


def _salt(mac: str, label: str) -> str:
    """A stable 8-character salt for this miner (from its MAC)."""
    alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    digest = hashlib.sha256(f"{mac}|{label}".encode()).digest()
    return "".join(alphabet[b % 64] for b in digest[:8])


# ============================================================================ API v3
class WhatsminerV3Sim(WhatsminerSim):
    """btminer API v3 on 4433 (framed JSON) plus the legacy reads left on 4028."""

    default_ports = {"rpc": 4028, "whatsminer_v3": 4433}
    api_ver = "3.0.2"
    platform = "H616"
    control_board = "CB6V10"

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self.v3_password = "super"
        self.v3_salt = _salt(self.state.mac, "v3")

    def make_servers(self) -> dict[str, SimServer]:
        return {
            "rpc": BtminerRpcServer(self),
            "whatsminer_v3": V3FrameServer(
                self,
                bad_frame={
                    "code": V3_INVALID_JSON,
                    "when": _now(),
                    "msg": "invalid json",
                    "desc": "",
                },
                idle_timeout=300.0,
            ),
        }

    @property
    def legacy_only(self) -> bool:
        return True

    # ------------------------------------------------------------------ frames
    def v3_set_system_update_firmware(self, param: Any, message: dict[str, Any]) -> str:
        """The API v3 document's Upgrade Flow: "ready", then the image on this connection
        (see V3FrameServer.after_reply)."""
        if not self.begin_upgrade():
            raise ValueError("firmware upgrade already in progress")
        return "ready"

    def v3_install(self, image: bytes | None) -> dict[str, Any]:
        """The final confirmation after the image arrived (None: the transfer broke off)."""
        cmd = "set.system.update_firmware"
        if image is not None and (
            tar_intact(image) or (gzip_intact(image) and tar_intact(gzip.decompress(image)))
        ):
            self.end_upgrade(image)
            return self.v3_reply(cmd, "ok")
        self.end_upgrade(None)
        return self.v3_reply(cmd, "upgrade firmware failed: invalid image", V3_CMD_ERROR)

    def v3_reply(self, cmd: str, msg: Any, code: int = V3_OK) -> dict[str, Any]:
        return {"code": code, "when": _now(), "msg": msg, "desc": cmd}

    def on_frame(self, message: dict[str, Any]) -> dict[str, Any]:
        cmd = message.get("cmd")
        if not isinstance(cmd, str) or not cmd:
            return self.v3_reply("", "invalid command", V3_INVALID_CMD)
        param = message.get("param")
        if cmd.startswith("set.") and not self._signed(cmd, message):
            return self.v3_reply(cmd, "permission denied", V3_DENIED)
        name = "v3_" + cmd.replace(".", "_")
        handler = getattr(self, name, None) if name.isidentifier() else None
        if handler is None:
            return self.v3_reply(cmd, "invalid command", V3_INVALID_CMD)
        try:
            msg = handler(param, message)
        except (ValueError, TypeError, KeyError, InvalidResponseError) as exc:
            return self.v3_reply(cmd, f"invalid param: {exc}", V3_CMD_ERROR)
        return self.v3_reply(cmd, msg)

    def _signed(self, cmd: str, message: dict[str, Any]) -> bool:
        ts = message.get("ts")
        if message.get("account") != "super" or not isinstance(ts, int) or isinstance(ts, bool):
            return False
        if abs(_now() - ts) > V3_TS_WINDOW:
            return False
        return message.get("token") == v3_token(cmd, self.v3_password, self.v3_salt, ts)

    # ------------------------------------------------------------------ reads
    def v3_get_device_info(self, param: Any, message: dict[str, Any]) -> dict[str, Any]:
        """Shaped like the real answers: API 3.0.2 (20251209.16.Rel2, M60S) sends no
        power-limit-set, cointype, heatmode, web-pool, btrom nor any PSU reading (vin, vout,
        iin, pin, temp0), and error-code only when there are errors; the API 3.0.0 document
        (20240722.07.51.REL) shows all of them."""
        s = self.state
        r = s.read()
        documented = self.api_tuple < (3, 0, 2)
        gateway = s.ip.rsplit(".", 1)[0] + ".1"
        miner: dict[str, Any] = {
            "working": "true" if r.hashing else "false",
            "type": self.raw_model,
            "hash-board": self.board_code,
            "detect-hash-rate": ":".join(
                str(round(r.rate(b.ideal_hashrate, "GH/s"))) for b in r.boards if b.alive
            ),
        }
        if documented:
            miner |= {"cointype": "BTC/BCH/BSV", "heatmode": "", "eeprom-liquid-cooling": "0-0-0"}
        miner |= {"pool-strategy": "FAILOVER", "hash-percent": "", "fast-boot": "disable"}
        miner["board-num"] = str(s.hardware.boards)
        for b in r.boards:
            miner[f"chipdata{b.index}"] = f"K1LA0{b.index}-{s.serial[-8:]}"
        for b in r.boards:
            miner[f"pcbsn{b.index}"] = self.pcb_serial(b.index)
        miner["miner-sn"] = s.serial
        if documented:
            limit = "" if s.power_limit is None else str(int(s.power_limit))
            miner |= {"power-limit-set": limit, "web-pool": 1}
        system: dict[str, Any] = {
            "api": self.api,
            "platform": self.platform,
            "fwversion": self.fw,
            "control-board-version": self.control_board,
        }
        if documented:
            system["btrom"] = "1"
        system |= {"apiswitch": "1", "ledstatus": "auto" if self.led.auto else "manual"}
        power: dict[str, Any] = {
            "type": self.psu_model,
            "mode": "1",
            "hwversion": "V00.10",
            "swversion": "V02.10.V02.06",
            "model": self.psu_model,
        }
        if documented:
            power |= {
                "iin": round(r.wattage / 231.5, 2),
                "vin": 231.5,
                "vout": 1222 if r.hashing else 0,
                "pin": round(r.wattage),
            }
        power["fanspeed"] = self.psu_fan(r)
        if documented:
            power["temp0"] = round(s.ambient_temp + 30, 1)
        power |= {"sn": f"PSU{s.serial[-10:]}", "vendor": "7"}
        info: dict[str, Any] = {
            "network": {
                "ip": s.ip,
                "proto": "dhcp",
                "netmask": "255.255.255.0",
                "dns": gateway,
                "mac": s.mac.upper(),
                "gateway": gateway,
                "hostname": s.hostname,
            },
            "miner": miner,
            "system": system,
            "power": power,
            "salt": self.v3_salt,
        }
        if s.errors or documented:
            info["error-code"] = [
                {str(f.code): self.error_time(f.code), "reason": f.message} for f in s.errors
            ]
        if param is None or param == "":
            return info
        if param in info:
            return {param: info[param]}
        raise ValueError(f"unknown section {param!r}")

    def v3_get_miner_status(self, param: Any, message: dict[str, Any]) -> dict[str, Any]:
        wanted = {"summary", "pools", "edevs"}
        if isinstance(param, str) and param:
            asked = {p for p in param.replace("+", ",").split(",") if p}
            if not asked <= wanted:
                raise ValueError(f"unknown status {param!r}")
            wanted = asked
        r = self.state.read()
        out: dict[str, Any] = {}
        if "summary" in wanted:
            out["summary"] = self._v3_summary(r)
        if "pools" in wanted:
            out["pools"] = self._v3_pools(r)
        if "edevs" in wanted:
            out["edevs"] = self._v3_edevs(r)
        return out

    def _v3_summary(self, r: Readings) -> dict[str, Any]:
        hw = self.state.hardware
        live = [b for b in r.boards if b.alive]
        temps = [self.chip_temps(b.temp_chip) for b in live] or [(0.0, 0.0, 0.0)]
        values = {
            "elapsed": r.elapsed,
            "bootup-time": _now() - self.state.uptime,
            "freq-avg": round(sum(b.frequency for b in live) / len(live), 1) if live else 0.0,
            "target-freq": int(live[0].frequency) if live else 0,
            "factory-hash": round(r.rate(hw.nominal_hashrate, "TH/s"), 2),
            "hash-average": round(r.rate(r.ideal_hashrate, "TH/s"), 3),
            "hash-1min": round(r.rate(r.hashrate, "TH/s"), 3),
            "hash-15min": round(r.rate(r.ideal_hashrate, "TH/s"), 3),
            "hash-realtime": round(r.rate(r.hashrate, "TH/s"), 3),
            "power-rate": round(r.wattage / r.hashrate, 2) if r.hashrate else 0.0,
            "power-5min": round(r.wattage),
            "power-realtime": round(r.wattage),
            "environment-temperature": self.state.ambient_temp,
            "board-temperature": [float(round(b.temp_pcb)) for b in r.boards],
            "chip-temp-min": min(t[0] for t in temps),
            "chip-temp-avg": round(sum(t[1] for t in temps) / len(temps), 2),
            "chip-temp-max": max(t[2] for t in temps),
            "power-limit": self.power_limit_reported(),
            "up-freq-finish": 1,
            "fan-speed-in": r.fans[0] if r.fans else 0,
            "fan-speed-out": r.fans[1] if len(r.fans) > 1 else 0,
        }
        return conform(values, _V3_SUMMARY)

    def _v3_pools(self, r: Readings) -> list[dict[str, Any]]:
        return [
            {
                "id": p.index + 1,
                "url": p.url,
                "status": p.status.lower(),
                "account": p.user,
                "stratum-active": p.active,
                "reject-rate": round(p.rejected / max(p.accepted + p.rejected, 1) * 100, 2),
                "last-share-time": _now() if p.active and p.accepted else 0,
            }
            for p in r.pools
        ]

    def _v3_edevs(self, r: Readings) -> list[dict[str, Any]]:
        per_board = r.rate(self.state.hardware.board_hashrate, "TH/s")
        out = []
        for b in r.boards:
            if not b.alive:
                continue
            low, avg, high = self.chip_temps(b.temp_chip)
            out.append(
                {
                    "id": b.index,
                    "slot": b.index,
                    "hash-average": round(r.rate(b.hashrate, "TH/s"), 3),
                    "factory-hash": round(per_board, 2),
                    "freq": int(b.frequency),
                    "effective-chips": b.chips,
                    "chip-temp-min": low,
                    "chip-temp-avg": avg,
                    "chip-temp-max": high,
                }
            )
        return out

    def v3_get_miner_setting(self, param: Any, message: dict[str, Any]) -> dict[str, Any]:
        s = self.state
        return {
            "power-limit": self.power_limit_reported(),
            "upfreq-speed": 0,
            "power-mode": s.work_mode if s.work_mode != "sleep" else "normal",
            "fast-boot": "disable",
            "target-freq": 0,
            "fast-mining": "disable",
            "power": int(s.hardware.nominal_power),
            "power-percent": 100,
        }

    def v3_get_system_setting(self, param: Any, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "web-pool": 1,
            "timezone": "CST-8",
            "zonename": "Asia/Shanghai",
            "hostname": self.state.hostname,
            "time-randomized": {"start": 0, "stop": 0},
            "ntp-server": ["0.pool.ntp.org", "1.pool.ntp.org"],
        }

    def v3_get_fan_setting(self, param: Any, message: dict[str, Any]) -> dict[str, Any]:
        return {"fan-poweroff-cool": 0, "fan-zero-speed": 0, "fan-temp-offset": 0}

    # ------------------------------------------------------------------ signed writes
    def v3_set_system_led(self, param: Any, message: dict[str, Any]) -> str:
        if param == "auto":
            self.led = Led()
        else:
            if not isinstance(param, list) or not param or not isinstance(param[0], dict):
                raise ValueError("expected 'auto' or a list of LED patterns")
            first = param[0]
            color = first.get("color", "red")
            if color not in ("red", "green"):
                raise ValueError(f"unknown color {color!r}")
            self.led = Led(
                auto=False,
                color=color,
                period=int(first.get("period", 1000)),
                duration=int(first.get("duration", 500)),
                start=int(first.get("start", 0)),
            )
        self.state.fault_light = not self.led.auto
        return "ok"

    def v3_set_system_reboot(self, param: Any, message: dict[str, Any]) -> str:
        self.later(lambda: self.reboot(self.reboot_downtime))
        return "ok"

    def v3_set_miner_service(self, param: Any, message: dict[str, Any]) -> str:
        if param == "start":
            self.state.set_backend_running(True)
            self.state.set_mining(True)
        elif param == "stop":
            self.state.set_mining(False)
        elif param == "restart":
            self.state.restart_backend()
        else:
            raise ValueError("expected start, stop or restart")
        return "ok"

    def v3_set_miner_power_limit(self, param: Any, message: dict[str, Any]) -> str:
        if isinstance(param, bool):
            raise TypeError("power limit must be a number")
        watts = int(str(param).strip())
        if not 0 < watts <= 99999:
            raise ValueError("power limit out of range")
        self.state.set_power_limit(watts)
        return "ok"

    def v3_set_miner_power_mode(self, param: Any, message: dict[str, Any]) -> str:
        if param not in ("low", "normal", "high"):
            raise ValueError("expected low, normal or high")
        self.state.set_work_mode(str(param))
        return "ok"

    def v3_set_miner_pools(self, param: Any, message: dict[str, Any]) -> str:
        if isinstance(param, str):  # the documented form: AES-encrypted
            key = v3_aes_key("set.miner.pools", self.v3_password, self.v3_salt, message["ts"])
            param = decrypt_v3_param(key, param)
        if not isinstance(param, list) or not param or len(param) > 3:
            raise ValueError("expected 1 to 3 pools")
        pools = []
        for item in param:
            if not isinstance(item, dict) or not isinstance(item.get("pool"), str):
                raise ValueError("each pool needs pool, worker and passwd")
            pools.append(
                Pool(item["pool"], str(item.get("worker") or ""), str(item.get("passwd") or ""))
            )
        self.state.set_pools(pools)
        return "ok"

    def v3_set_system_hostname(self, param: Any, message: dict[str, Any]) -> str:
        if not isinstance(param, str) or not param.strip():
            raise ValueError("hostname missing")
        self.state.hostname = param.strip()
        return "ok"


# ============================================================================ the kinds
@register
class WhatsminerM30SSim(WhatsminerSim):
    kind = "whatsminer_m30s"
    model = "M30S+ VE40"
    raw_model = "M30S+_VE40"
    board_code = "E40"
    versions = ("20210719.22.REL", "20210322.22.REL")
    version_apis = {"20210719.22.REL": "2.0.4", "20210322.22.REL": "1.4.0"}
    """20210322.22.REL: API 1.4.0 as captured (btmineroff, lean summary/devs/pools/get_psu)."""
    fw_ver = "20210719.22.REL"
    api_ver = "2.0.4"
    platform = "H6OS"
    chip = "IC_MODEL_BM1398"
    psu_model = "P221"
    hardware = Hardware(
        boards=3,
        chips_per_board=156,
        board_hashrate=100.0 / 3,
        unit="TH/s",
        fans=2,
        fan_rpm_max=6800,
        nominal_power=3400.0,
        max_power=3600.0,
    )


@register
class WhatsminerM50Sim(WhatsminerSim):
    kind = "whatsminer_m50"
    model = "M50 VH50"
    raw_model = "M50_VH50"
    board_code = "H50"
    fw_ver = "20230803.11.REL"
    """An API 2.0.5 build with real captures: get_version, status, get_psu, get_error_code."""
    api_ver = "2.0.5"
    platform = "H616"
    chip = "IC_MODEL_BM1368"
    psu_model = "P222B"
    lean_psu = frozenset({"20230803.11.REL"})
    hardware = Hardware(
        boards=3,
        chips_per_board=105,
        board_hashrate=114.0 / 3,
        unit="TH/s",
        fans=2,
        fan_rpm_max=7000,
        nominal_power=3306.0,
        max_power=3600.0,
    )


@register
class WhatsminerM60Sim(WhatsminerV3Sim):
    kind = "whatsminer_m60"
    model = "M60 VK10"
    raw_model = "M60_VK10"
    board_code = "K10"
    versions = ("20251209.16.Rel2", "20240722.07.51.REL")
    version_apis = {"20251209.16.Rel2": "3.0.2", "20240722.07.51.REL": "3.0.0"}
    """20251209.16.Rel2: API 3.0.2 as captured; 20240722.07.51.REL: the API 3.0.0 document."""
    fw_ver = "20251209.16.Rel2"
    psu_model = "P222B"
    hardware = Hardware(
        boards=3,
        chips_per_board=164,
        board_hashrate=172.0 / 3,
        unit="TH/s",
        fans=2,
        fan_rpm_max=7000,
        nominal_power=3422.0,
        max_power=3800.0,
    )


class V3FrameServer(FrameServer):
    """Port 4433: after the "ready" to set.system.update_firmware, the next frame on the same
    connection is the raw image (its 4-byte size prefix is the frame header)."""

    def __init__(self, sim: WhatsminerV3Sim, **kwargs: Any) -> None:
        super().__init__(sim.on_frame, **kwargs)
        self.sim = sim

    async def after_reply(
        self, reply: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        if not (
            isinstance(reply, dict)
            and reply.get("desc") == "set.system.update_firmware"
            and reply.get("msg") == "ready"
        ):
            return True
        image: bytes | None
        try:
            header = await asyncio.wait_for(reader.readexactly(4), 60.0)
            image = await asyncio.wait_for(
                reader.readexactly(int.from_bytes(header, "little")), 600.0
            )
        except (asyncio.IncompleteReadError, TimeoutError):
            image = None
        self.counters.by_key["upgrade image"] += 1
        result = self.sim.v3_install(image)
        if image is None:
            return False
        writer.write(encode_frame(result))
        await writer.drain()
        return True
