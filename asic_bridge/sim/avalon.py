"""Kinds ``avalon_1246``, ``avalon_1566`` and ``avalon_nano3``: Canaan AvalonMiners.

They speak Canaan's CGMiner 4.11.1 RPC on 4028 (the Nano 3 also its ``.cgi`` web UI on 80).
The replies follow real captures (tests/fixtures/real/avalon: A1566 build
24102401_25462b2_9ddf522, A1246 build 21072802_4ec6bb0_211fc46, whose ``MM ID0`` key lists
are served exactly, see ``builds``) and Canaan's published cgminer sources.  ``avalon_1246``
serves 21072802 (WORKMODE, no WALLPOWER) by default and 21042001 (WORKLEVEL; no capture
published) as ``avalon_1246:21042001_4ec6bb0_61407fa``:

* ``version``: ``PROD``/``MODEL``/``HWTYPE``/``SWTYPE``/``VERSION``/``DNA``/``MAC`` (hex, no
  separators); the Nano 3 has no ``MAC`` there, its web UI's ``get_miner_info.cgi`` has it;
* ``summary``/``devs``: ``MHS av``/``MHS 30s``/``MHS 1m``/``MHS 5m``/``MHS 15m`` (MH/s, no 5 s
  window), ``devs`` ``Temperature`` -273.0 (the API has no device temperature);
* ``estats`` (the device entry) and ``stats`` (plus one entry per pool): ``MM ID0`` is one long
  string of ``Key[value]`` pairs in the firmware's order - ``Ver``, ``DNA``, ``SYSTEMSTATU``,
  ``Elapsed``, ``Temp``, ``TMax``, ``TAvg``, ``Fan<n>``, ``FanR``, ``PS[7 values]``,
  ``WALLPOWER``, ``GHSspd``, ``GHSmm``, ``GHSavg``, ``Led``, ``MGHS`` (GH/s per board),
  ``MTmax``/``MTavg`` (per board), ``TA``, ``SoftOFF``, ``ECHU``/``ECMM``, ``PVT_T<n>`` (one
  temperature per chip), ``MPO`` (power ceiling of the work level), ``WORKMODE`` (A15) or
  ``WORKLEVEL`` (A12, Nano 3);
* ``ascset|0,<option>,<setting>``: ``led,1-1|1-0``, ``softoff|softon,1:<unix time>`` (acts at
  that time; answers STATUS I "ASC 0 set info: success softoff:<t>"), ``workmode|worklevel,
  set,N`` / ``get`` (N = 0 low, 1 normal, 2 high; the other spelling is "Unknown option"),
  ``reboot,<delay>`` (the A12's avalon10 driver reboots a *module* 1..n and refuses 0);
  success is STATUS S "ASC 0 set OK", a refusal STATUS E "ASC 0 set failed: <why>";
* ``setpool|<web user>,<web password>,<slot 0-2>,<url>,<worker>,<password>``: checked against
  the web login, applied at the next reboot or cgminer restart (as the firmware says);
* ``restart``: ``{"STATUS":"RESTART"}``, then cgminer restarts (Elapsed from 0).  There is no
  ``addpool``/``removepool``.

State reacts: soft-off -> hashrate 0, "In Idle", SoftOFF[1]; led -> Led[1]; work level ->
MPO, power and hashrate follow (MinerState's low/normal/high).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any, ClassVar

from .base import SimServer, register
from .cgminer import CGMinerSim
from .http_server import HttpReply, HttpServer, Request, text_reply
from .rpc_server import error_reply, invalid_command, reply
from .state import MODE_POWER, Hardware, MinerState, Pool, Readings

LEVEL_MODES: dict[int, str] = {0: "low", 1: "normal", 2: "high"}
MODE_LEVELS: dict[str, int] = {mode: level for level, mode in LEVEL_MODES.items()}

CODE_ASC_SET_OK = 119
CODE_ASC_SET_ERR = 120
CODE_ASC_SET_INFO = 118
CODE_POOL_SET = 137
CODE_POOL_SET_ERR = 138


class AvalonSim(CGMinerSim):
    """What every AvalonMiner kind shares; kinds set the ClassVars below."""

    make = "AvalonMiner"
    firmware = "Stock"
    program = "CGMiner"
    program_version = "4.11.1"
    api_version = "3.7"
    description = "cgminer 4.11.1"
    rate_key = "MHS"
    device_name = "AVA10"

    prod: ClassVar[str] = ""
    model_code: ClassVar[str] = ""
    hwtype: ClassVar[str] = ""
    swtype: ClassVar[str] = ""
    fw_build: ClassVar[str] = ""
    core: ClassVar[str] = ""
    mode_option: ClassVar[str] = "workmode"
    """The ascset option (and estats key, upper-cased) of the work level."""
    module_reboot: ClassVar[bool] = False
    """avalon10 firmware: ``reboot,<n>`` reboots module n (1..), 0 is refused."""
    version_has_mac: ClassVar[bool] = True
    web_user: ClassVar[str] = "root"
    builds: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Per firmware build (a ``versions`` entry): the ``MM ID0`` keys in that build's order,
    from its real capture (tests/fixtures/real/avalon).  A build not listed keeps the
    computed order."""
    build_options: ClassVar[dict[str, str]] = {}
    """Per firmware build: the work-level option when it differs from ``mode_option``."""

    reboot_downtime: float = 1.0
    web_password: str = "root"
    """The web UI password (setpool checks it too); its SHA-256 is what the firmware stores."""

    def __init__(self, address: str, **kwargs: Any) -> None:
        self._pending_power: list[tuple[float, bool]] = []
        self._pending_pools: dict[int, Pool] = {}
        super().__init__(address, **kwargs)

    def default_state(self, seed: str) -> MinerState:
        state = super().default_state(seed)
        worker = f"sim.{state.mac.replace(':', '')[-6:]}"
        state.pools = [
            Pool(f"stratum+tcp://stratum.pool.example:{3333 + i}", worker, "123") for i in range(3)
        ]
        return state

    # ------------------------------------------------------------------ identity
    @property
    def dna(self) -> str:
        return "0201" + hashlib.sha256(self.state.mac.encode()).hexdigest()[:12]

    @property
    def build(self) -> str:
        """The firmware build served: the chosen version, else the kind's one build."""
        return self.served_version or self.fw_build

    @property
    def level_option(self) -> str:
        """``workmode`` or ``worklevel``: what this build calls the work level."""
        return self.build_options.get(self.build, self.mode_option)

    @property
    def mac_hex(self) -> str:
        return self.state.mac.replace(":", "")

    # ------------------------------------------------------------------ dispatch
    def on_rpc(
        self, command: str, parameter: str | None, request: dict[str, Any]
    ) -> dict[str, Any]:
        self._apply_due()
        if command in ("addpool", "removepool", "quit", "privileged"):
            return invalid_command()
        return super().on_rpc(command, parameter, request)

    def _apply_due(self) -> None:
        """Carry out soft-off/soft-on requests whose time has come."""
        now = time.time()
        due = [p for p in self._pending_power if p[0] <= now]
        if due:
            self._pending_power = [p for p in self._pending_power if p[0] > now]
            for _, on in sorted(due):
                self.state.set_mining(on)

    # ------------------------------------------------------------------ read commands
    def cmd_version(self, parameter: str | None) -> dict[str, Any]:
        item: dict[str, Any] = {
            "CGMiner": self.program_version,
            "API": self.api_version,
            "STM8": "20.08.01",
            "PROD": self.prod,
            "MODEL": self.model_code,
            "HWTYPE": self.hwtype,
            "SWTYPE": self.swtype,
            "VERSION": self.build,
            "LOADER": "d0d779de.00",
            "DNA": self.dna,
        }
        if self.version_has_mac:
            item["MAC"] = self.mac_hex
        item["UPAPI"] = "2"
        return self.ok(22, "CGMiner versions", "VERSION", [item])

    def _rates(self, r: Readings) -> dict[str, float]:
        now = round(r.rate(r.hashrate, "MH/s"), 2)
        ideal = round(r.rate(r.ideal_hashrate, "MH/s"), 2)
        return {"MHS av": ideal, "MHS 30s": now, "MHS 1m": now, "MHS 5m": ideal, "MHS 15m": ideal}

    def cmd_summary(self, parameter: str | None) -> dict[str, Any]:
        r = self.state.read()
        shares = self._share_stats(r)
        item: dict[str, Any] = {
            "Elapsed": r.elapsed,
            **self._rates(r),
            "Found Blocks": 0,
            "Getworks": r.elapsed // 30,
            "Accepted": shares["Accepted"],
            "Rejected": shares["Rejected"],
            "Hardware Errors": shares["Hardware Errors"],
            "Utility": shares["Utility"],
            "Discarded": shares["Accepted"] * 40,
            "Stale": 0,
            "Get Failures": sum(p.get_failures for p in r.pools),
            "Local Work": r.elapsed * 700,
            "Remote Failures": sum(p.remote_failures for p in r.pools),
            "Network Blocks": r.elapsed // 600,
            "Total MH": round(r.rate(r.ideal_hashrate, "MH/s") * r.elapsed, 1),
            "Work Utility": round(shares["Utility"] * 65536 / 60, 2),
            "Difficulty Accepted": shares["Difficulty Accepted"],
            "Difficulty Rejected": shares["Difficulty Rejected"],
            "Difficulty Stale": 0.0,
            "Best Share": shares["Accepted"] * 1877,
            "Device Hardware%": 0.0,
            "Device Rejected%": _percent(shares["Rejected"], shares["Accepted"]),
            "Pool Rejected%": _percent(shares["Rejected"], shares["Accepted"]),
            "Pool Stale%": 0.0,
            "Last getwork": 0,
        }
        return self.ok(11, "Summary", "SUMMARY", [item])

    def cmd_devs(self, parameter: str | None) -> dict[str, Any]:
        r = self.state.read()
        shares = self._share_stats(r)
        item: dict[str, Any] = {
            "ASC": 0,
            "Name": self.device_name,
            "ID": 0,
            "Enabled": "Y",
            "Status": "Alive",
            "Temperature": -273.0,
            **self._rates(r),
            "Accepted": shares["Accepted"],
            "Rejected": shares["Rejected"],
            "Hardware Errors": shares["Hardware Errors"],
            "Utility": shares["Utility"],
            "Last Share Pool": r.active_pool.index if r.active_pool else -1,
            "Last Share Time": r.elapsed if r.hashing else 0,
            "Total MH": round(r.rate(r.ideal_hashrate, "MH/s") * r.elapsed, 1),
            "Diff1 Work": shares["Accepted"] * 65536,
            "Difficulty Accepted": shares["Difficulty Accepted"],
            "Difficulty Rejected": shares["Difficulty Rejected"],
            "Last Share Difficulty": 65536.0 if shares["Accepted"] else 0.0,
            "Last Valid Work": r.elapsed,
            "Device Hardware%": 0.0,
            "Device Rejected%": _percent(shares["Rejected"], shares["Accepted"]),
            "Device Elapsed": r.elapsed,
        }
        return self.ok(9, "1 ASC(s)", "DEVS", [item])

    def cmd_devdetails(self, parameter: str | None) -> dict[str, Any]:
        item = {
            "DEVDETAILS": 0,
            "Name": self.device_name,
            "ID": 0,
            "Driver": "avalon",
            "Kernel": "",
            "Model": "",
            "Device Path": "",
        }
        return self.ok(69, "Device Details", "DEVDETAILS", [item])

    def cmd_pools(self, parameter: str | None) -> dict[str, Any]:
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
                    "Works": p.accepted * 70,
                    "Discarded": 0,
                    "Stale": p.stale,
                    "Get Failures": p.get_failures,
                    "Remote Failures": p.remote_failures,
                    "User": p.user,
                    "Last Share Time": r.elapsed if p.active and r.hashing else 0,
                    "Diff1 Shares": p.accepted * 65536,
                    "Proxy Type": "",
                    "Proxy": "",
                    "Difficulty Accepted": float(p.accepted * 65536),
                    "Difficulty Rejected": float(p.rejected * 65536),
                    "Difficulty Stale": 0.0,
                    "Last Share Difficulty": 65536.0 if p.accepted else 0.0,
                    "Work Difficulty": 65536.0 if p.active else 0.0,
                    "Has Stratum": True,
                    "Stratum Active": p.active,
                    "Stratum URL": _host(p.url) if p.active else "",
                    "Stratum Difficulty": 65536.0 if p.active else 0.0,
                    "Has Vmask": True,
                    "Has GBT": False,
                    "Best Share": p.accepted * 1877,
                    "Pool Rejected%": _percent(p.rejected, p.accepted),
                    "Pool Stale%": 0.0,
                    "Bad Work": 0,
                    "Current Block Height": 882588 if p.active else 0,
                    "Current Block Version": 536870912,
                }
            )
        return self.ok(7, f"{len(items)} Pool(s)", "POOLS", items)

    def _device_entry(self) -> dict[str, Any]:
        r = self.state.read()
        return {
            "STATS": 0,
            "ID": f"{self.device_name}0",
            "Elapsed": r.elapsed,
            "Calls": 0,
            "Wait": 0.0,
            "Max": 0.0,
            "Min": 99999999.0,
            "MM ID0": self.mm_string(r),
            "MM Count": 1,
            "Smart Speed": 1,
            "Voltage Level Offset": 0,
            "Nonce Mask": 25,
        }

    def cmd_estats(self, parameter: str | None) -> dict[str, Any]:
        return self.ok(70, "CGMiner stats", "STATS", [self._device_entry()])

    def cmd_stats(self, parameter: str | None) -> dict[str, Any]:
        r = self.state.read()
        items = [self._device_entry()]
        for p in r.pools:
            items.append(
                {
                    "STATS": p.index + 1,
                    "ID": f"POOL{p.index}",
                    "Elapsed": r.elapsed,
                    "Calls": 0,
                    "Wait": 0.0,
                    "Max": 0.0,
                    "Min": 99999999.0,
                    "Pool Calls": 0,
                    "Pool Attempts": 0,
                    "Pool Wait": 0.0,
                    "Pool Max": 0.0,
                    "Pool Min": 99999999.0,
                    "Pool Av": 0.0,
                    "Work Had Roll Time": False,
                    "Work Can Roll": False,
                    "Work Had Expire": False,
                    "Work Roll Time": 0,
                    "Work Diff": 65536.0 if p.active else 0.0,
                    "Min Diff": 65536.0 if p.active else 0.0,
                    "Max Diff": 65536.0 if p.active else 0.0,
                    "Min Diff Count": 2 if p.active else 0,
                    "Max Diff Count": 2 if p.active else 0,
                    "Times Sent": p.accepted + 3,
                    "Bytes Sent": (p.accepted + 3) * 176,
                    "Times Recv": p.accepted + 7,
                    "Bytes Recv": (p.accepted + 7) * 347,
                    "Net Bytes Sent": (p.accepted + 3) * 176,
                    "Net Bytes Recv": (p.accepted + 7) * 347,
                }
            )
        return self.ok(70, "CGMiner stats", "STATS", items)

    # ------------------------------------------------------------------ the MM string
    def chip_temps(self, r: Readings, board: int) -> list[int]:
        """One temperature per chip of a board (empty for a dead board)."""
        b = r.boards[board]
        if not b.alive:
            return []
        base = b.temp_chip
        return [int(base - 4 + (k * 7 + board * 3) % 9) for k in range(b.chips)]

    def mm_fields(self, r: Readings) -> list[tuple[str, str]]:
        """The (key, value) pairs of ``MM ID0``, in the firmware's order (the build's
        captured layout where there is one)."""
        fields = self.mm_values(r)
        layout = self.builds.get(self.build)
        if layout is None:
            return fields
        values = dict(fields) | self.static_fields(r)
        return [(key, values[key]) for key in layout]

    def mm_values(self, r: Readings) -> list[tuple[str, str]]:
        """Every computed (key, value) pair, in the generic order."""
        hw = self.hardware
        boards = r.boards
        temps = [self.chip_temps(r, i) for i in range(len(boards))]
        tmax = [max(t) if t else 0 for t in temps]
        tavg = [round(sum(t) / len(t)) if t else 0 for t in temps]
        live_max = max(tmax, default=0)
        live = [a for a in tavg if a]
        ghs = r.rate(r.hashrate, "GH/s")
        wall = round(r.wattage)
        level = MODE_LEVELS.get(self.state.work_mode, 1)
        mpo = round(hw.nominal_power * MODE_POWER[LEVEL_MODES[level]])
        status = "In Work" if r.hashing else "In Idle"
        freq = max((b.frequency for b in boards), default=0.0)
        fields: list[tuple[str, str]] = [
            ("Ver", f"{self.model_code}-{self.build}"),
            ("DNA", self.dna),
            ("MEMFREE", "1392832.1381104"),
            ("NETFAIL", "0 0 0 0 0 0 0 0"),
            ("SYSTEMSTATU", f"Work: {status}, Hash Board: {len(boards)} "),
            ("Elapsed", str(r.elapsed)),
            ("BOOTBY", "0x04.00000000"),
            ("LW", str(r.elapsed * 700)),
            ("MH", " ".join("0" for _ in boards)),
            ("DHW", "0"),
            ("HW", "0"),
            ("DH", "1.299%" if r.hashing else "0.000%"),
            ("Temp", f"{round(self.state.ambient_temp)}"),
            ("TMax", str(live_max)),
            ("TAvg", str(round(sum(live) / len(live)) if live else 0)),
        ]
        fields += [(f"Fan{i + 1}", str(rpm)) for i, rpm in enumerate(r.fans)]
        fan_pct = round(100 * max(r.fans, default=0) / max(hw.fan_rpm_max, 1))
        fields += [
            ("FanR", f"{fan_pct}%"),
            ("Vo", "296" if r.hashing else "0"),
            ("PS", f"0 1209 1187 {round(wall / 12.5)} {round(wall * 0.945)} 1188 {wall}"),
            ("WALLPOWER", str(wall)),
            ("GHSspd", f"{ghs:.2f}"),
            ("DHspd", "1.299%" if r.hashing else "0.000%"),
            ("GHSmm", f"{r.rate(r.ideal_hashrate, 'GH/s'):.2f}"),
            ("GHSavg", f"{ghs:.2f}"),
            ("WU", f"{ghs * 13.97:.2f}"),
            ("Freq", f"{freq:.2f}"),
            ("Led", "1" if self.state.fault_light else "0"),
            ("MGHS", " ".join(f"{r.rate(b.hashrate, 'GH/s'):.2f}" for b in boards)),
            ("MTmax", " ".join(str(t) for t in tmax)),
            ("MTavg", " ".join(str(t) for t in tavg)),
            ("MVavg", " ".join(f"{b.voltage * 32:.1f}" for b in boards)),
            ("TA", str(sum(b.chips for b in boards))),
            ("Core", self.core),
            ("PING", "131"),
            ("POWS", "0"),
            ("EEPROM", " ".join(str(hw.chips_per_board) for _ in boards)),
            ("HASHS", " ".join("0" for _ in boards)),
            ("POOLS", "0"),
            ("SoftOFF", "0" if self.state.mining else "1"),
            ("ECHU", " ".join("0" if b.alive else "512" for b in boards)),
            ("ECMM", "0"),
        ]
        fields += [(f"PVT_T{i}", " ".join(f"{t:3d}" for t in temps[i])) for i in range(len(boards))]
        fields += [
            ("CRC", " ".join("0" for _ in boards)),
            ("COMCRC", " ".join("0" for _ in boards)),
            ("ADJ", "1"),
            ("COP", " ".join("0" for _ in boards)),
            ("MPO", str(mpo)),
            ("MVL", "87"),
            (self.level_option.upper(), str(level)),
        ]
        return fields

    def static_fields(self, r: Readings) -> dict[str, str]:
        """Keys a real build sends that no reading here drives (PLL counters, per-chip
        voltages, tuning options), with values of the real format."""
        out: dict[str, str] = {"DHW": "0", "POW_I2C": "OK", "MW": ""}
        steps = [round(b.frequency) + d for b in r.boards[:1] for d in (-60, -42, -21, 0)]
        freqs = " ".join(str(f) for f in steps or [0, 0, 0, 0])
        mw = []
        for i, b in enumerate(r.boards):
            chips = b.chips if b.alive else 0
            out[f"PLL{i}"] = " ".join(str(n * chips * 7) for n in (3, 2, 4, 12))
            out[f"SF{i}"] = out[f"ATABD{i}"] = freqs
            out[f"PVT_V{i}"] = " ".join(str(round(b.voltage * 22.5)) for _ in range(chips))
            out[f"MW{i}"] = " ".join("20" for _ in range(chips))
            out[f"ASICCRC{i}"] = " ".join("0" for _ in range(chips))
            out[f"FACOPTS{i}"] = ""
            out[f"ATAOPTS{i}"] = (
                f"--avalon10-freq {freqs.replace(' ', ':')} --avalon10-voltage-level "
                f"{round(b.voltage * 92)} --hash-asic {self.hardware.chips_per_board}"
            )
            mw.append(str(r.elapsed * 240))
        out["MW"] = " ".join(mw)
        return out

    def mm_string(self, r: Readings) -> str:
        return " ".join(f"{key}[{value}]" for key, value in self.mm_fields(r))

    # ------------------------------------------------------------------ controls
    def asc_ok(self) -> dict[str, Any]:
        return reply(
            None, None, code=CODE_ASC_SET_OK, msg="ASC 0 set OK", description=self.description
        )

    def asc_info(self, text: str) -> dict[str, Any]:
        return reply(
            None,
            None,
            code=CODE_ASC_SET_INFO,
            msg=f"ASC 0 set info: {text}",
            description=self.description,
            severity="I",
        )

    def asc_failed(self, text: str) -> dict[str, Any]:
        return error_reply(CODE_ASC_SET_ERR, f"ASC 0 set failed: {text}", self.description)

    def cmd_ascset(self, parameter: str | None) -> dict[str, Any]:
        if not parameter:
            return self.err(15, "Missing ASC id")
        dev, _, rest = parameter.partition(",")
        if not rest:
            return self.err(115, "Missing option")
        if dev.strip() != "0":
            return self.err(107, f"Invalid ASC id {dev.strip()} - range is 0 - 0")
        option, _, setting = rest.partition(",")
        option = option.strip().lower()
        handler = {
            "led": self._asc_led,
            "softoff": self._asc_softoff,
            "softon": self._asc_softon,
            "reboot": self._asc_reboot,
            self.level_option: self._asc_level,
        }.get(option)
        if handler is None:
            return self.asc_failed(f"Unknown option: {option}")
        return handler(setting)

    def _asc_led(self, setting: str) -> dict[str, Any]:
        if not setting:
            return self.asc_failed("missing module_id setting")
        module, sep, value = setting.partition("-")
        if not module.strip().isdigit() or int(module) < 1:
            return self.asc_failed(f"invalid module_id: {module}, valid range 1-1")
        if not sep:
            self.state.fault_light = not self.state.fault_light
        elif value.strip() in ("0", "1"):
            self.state.fault_light = value.strip() == "1"
        else:
            return self.asc_failed(f"invalid LED status: {value}, valid value 0|1")
        return self.asc_ok()

    def _power_request(self, setting: str, on: bool) -> dict[str, Any]:
        word = "softon" if on else "softoff"
        module, sep, stamp = setting.partition(":")
        if not sep or not module.strip().isdigit() or not stamp.strip().lstrip("-").isdigit():
            return self.asc_failed(f"{word} param error")
        when = float(stamp)
        self._pending_power.append((when, on))
        self._apply_due()
        return self.asc_info(f"success {word}:{int(when)}")

    def _asc_softoff(self, setting: str) -> dict[str, Any]:
        return self._power_request(setting, False)

    def _asc_softon(self, setting: str) -> dict[str, Any]:
        return self._power_request(setting, True)

    def _asc_level(self, setting: str) -> dict[str, Any]:
        name = self.level_option
        cmd, _, value = setting.partition(",")
        current = MODE_LEVELS.get(self.state.work_mode, 1)
        if cmd == "get" and not value:
            return self.asc_info(f"{name} {current}")
        if cmd == "set" and value.strip().lstrip("-").isdigit():
            level = int(value)
            if level in LEVEL_MODES:
                self.state.set_work_mode(LEVEL_MODES[level])
                return self.asc_ok()
        return self.asc_failed(f"{name} unknown argument")

    def _asc_reboot(self, setting: str) -> dict[str, Any]:
        if not setting.strip().isdigit():
            return self.asc_failed("missing reboot value")
        value = int(setting)
        if self.module_reboot:
            if value < 1:
                return self.asc_failed(f"invalid module_id: {value}, valid range 1-1")
            self.spawn(self._restart_with_pools(self.restart_downtime))
            return self.asc_ok()
        if value > 300:
            return self.asc_failed("reboot value should be 0~300 seconds")
        self.spawn(self._reboot_after(float(value)))
        return self.asc_ok()

    async def _reboot_after(self, delay: float) -> None:
        # Even "reboot now" takes a moment: the answer leaves before the box goes down.
        await asyncio.sleep(max(delay, 0.1))
        self._take_pending_pools()
        await self.reboot(self.reboot_downtime)

    async def _restart_with_pools(self, downtime: float) -> None:
        await asyncio.sleep(0.05)  # the answer leaves first
        self._take_pending_pools()
        await self.restart_service(["rpc"], downtime)

    def _take_pending_pools(self) -> None:
        if not self._pending_pools:
            return
        pools = list(self.state.pools)
        while len(pools) < 3:
            pools.append(Pool(pools[0].url, pools[0].user, pools[0].password))
        for slot, pool in sorted(self._pending_pools.items()):
            pools[slot] = pool
        self._pending_pools.clear()
        self.state.set_pools(pools)

    def cmd_restart(self, parameter: str | None) -> dict[str, Any]:
        self.spawn(self._restart_with_pools(self.restart_downtime))
        return {"STATUS": "RESTART", "id": 1}

    def cmd_setpool(self, parameter: str | None) -> dict[str, Any]:
        def failed(why: str) -> dict[str, Any]:
            return error_reply(CODE_POOL_SET_ERR, f"Pool set failed: {why}", self.description)

        if not parameter:
            return failed("no params")
        parts = parameter.split(",")
        if len(parts) not in (5, 6) or not all(parts[:5]):
            return failed(f"we need 5 | 6 arguments, your input is {len(parts)} arguments.")
        user, password, slot_text, url, worker = parts[:5]
        pool_password = parts[5] if len(parts) == 6 else ""
        if user != self.web_user:
            return failed("username err")
        if hashlib.sha256(password.encode()).digest() != self._password_hash():
            return failed("userpass err")
        if not slot_text.strip().lstrip("-").isdigit() or not 0 <= int(slot_text) <= 2:
            return failed(f"pool num must between 0 and 2 , your input is {slot_text}")
        self._pending_pools[int(slot_text)] = Pool(url, worker, pool_password)
        text = (
            f"\npool {int(slot_text)} success set to {url}\nworker is {worker}\n"
            f"workerpassword is {pool_password}\nPlease reboot miner to make config work.\n"
        )
        return reply(
            None, None, code=CODE_POOL_SET, msg=f"Pool set info: {text}",
            description=self.description,
        )  # fmt: skip

    def _password_hash(self) -> bytes:
        return hashlib.sha256(self.web_password.encode()).digest()


@register
class Avalon1246Sim(AvalonSim):
    """AvalonMiner 1246: three boards of 120 A3206 chips, four fan readings, WORKLEVEL."""

    kind = "avalon_1246"
    model = "Avalon 1246"
    default_ports = {"rpc": 4028}
    hardware = Hardware(
        boards=3,
        chips_per_board=120,
        board_hashrate=30.0,
        unit="TH/s",
        fans=4,
        fan_rpm_max=6800,
        nominal_power=3420.0,
    )
    prod = "AvalonMiner 1246-83"
    model_code = "1246-83"
    hwtype = "MM3v2_X3"
    swtype = "MM314"
    versions = ("21072802_4ec6bb0_211fc46", "21042001_4ec6bb0_61407fa")
    fw_build = "21042001_4ec6bb0_61407fa"
    core = "A3206S"
    mode_option = "worklevel"
    """21042001 (no capture published; kept for the WORKLEVEL spelling the Nano 3 also uses)."""
    build_options = {"21072802_4ec6bb0_211fc46": "workmode"}
    builds = {
        # the capture's MM ID0: no DHW/WALLPOWER/MVavg/EEPROM/COMCRC; WORKMODE, POW_I2C
        "21072802_4ec6bb0_211fc46": (
            "Ver", "DNA", "MEMFREE", "NETFAIL", "SYSTEMSTATU", "Elapsed", "BOOTBY", "LW", "MH",
            "HW", "DH", "Temp", "TMax", "TAvg", "Fan1", "Fan2", "Fan3", "Fan4", "FanR", "Vo",
            "PS", "PLL0", "PLL1", "PLL2", "GHSspd", "DHspd", "GHSmm", "GHSavg", "WU", "Freq",
            "Led", "MGHS", "MTmax", "MTavg", "TA", "Core", "PING", "POWS", "HASHS", "POOLS",
            "SoftOFF", "ECHU", "ECMM", "SF0", "SF1", "SF2", "PVT_T0", "PVT_T1", "PVT_T2",
            "PVT_V0", "PVT_V1", "PVT_V2", "MW", "MW0", "MW1", "MW2", "ASICCRC0", "ASICCRC1",
            "ASICCRC2", "CRC", "POW_I2C", "FACOPTS0", "FACOPTS1", "ATAOPTS0", "ATAOPTS1",
            "ADJ", "COP", "MPO", "MVL", "ATABD0", "ATABD1", "ATABD2", "WORKMODE",
        ),
    }  # fmt: skip
    module_reboot = True


@register
class Avalon1566Sim(AvalonSim):
    """AvalonMiner 15-194 (A1566): three boards of 160 chips, two fans, WORKMODE."""

    kind = "avalon_1566"
    model = "Avalon 1566"
    default_ports = {"rpc": 4028}
    hardware = Hardware(
        boards=3,
        chips_per_board=160,
        board_hashrate=185.0 / 3,
        unit="TH/s",
        fans=2,
        fan_rpm_max=8700,
        nominal_power=3420.0,
    )
    prod = "AvalonMiner 15-194"
    model_code = "15-194"
    hwtype = "MM4v2_X3"
    swtype = "MM319"
    fw_build = "24102401_25462b2_9ddf522"
    core = "A3197S"
    mode_option = "workmode"
    builds = {
        # the capture's MM ID0 (pyasic's recording of this build)
        "24102401_25462b2_9ddf522": (
            "Ver", "DNA", "MEMFREE", "NETFAIL", "SYSTEMSTATU", "Elapsed", "BOOTBY", "LW", "MH",
            "DHW", "HW", "DH", "Temp", "TMax", "TAvg", "Fan1", "Fan2", "FanR", "Vo", "PS",
            "WALLPOWER", "PLL0", "PLL1", "PLL2", "GHSspd", "DHspd", "GHSmm", "GHSavg", "WU",
            "Freq", "Led", "MGHS", "MTmax", "MTavg", "MVavg", "TA", "Core", "PING", "POWS",
            "EEPROM", "HASHS", "POOLS", "SoftOFF", "ECHU", "ECMM", "SF0", "SF1", "SF2",
            "PVT_T0", "PVT_T1", "PVT_T2", "PVT_V0", "PVT_V1", "PVT_V2", "MW", "MW0", "MW1",
            "MW2", "CRC", "COMCRC", "FACOPTS0", "FACOPTS1", "FACOPTS2", "ATAOPTS0",
            "ATAOPTS1", "ATAOPTS2", "ADJ", "COP", "MPO", "MVL", "ATABD0", "ATABD1", "ATABD2",
            "WORKMODE",
        ),
    }  # fmt: skip


@register
class AvalonNano3Sim(AvalonSim):
    """Avalon Nano 3: a 4 TH/s heater with one board of 10 chips, one fan and a web UI."""

    kind = "avalon_nano3"
    model = "Avalon Nano 3"
    default_ports = {"rpc": 4028, "http": 80}
    hardware = Hardware(
        boards=1,
        chips_per_board=10,
        board_hashrate=4.0,
        unit="TH/s",
        fans=1,
        fan_rpm_max=2800,
        nominal_power=140.0,
    )
    prod = "AvalonNano"
    model_code = "Nano3"
    hwtype = "N_MM1v1_X1"
    swtype = "MM1v1_X1"
    fw_build = "23112201_7f8d7b8_5c5a3e1"
    core = "A3197S"
    mode_option = "worklevel"
    version_has_mac = False

    def make_servers(self) -> dict[str, SimServer]:
        web = HttpServer(guard=self._cookie_guard, server_header="Mongoose/6.18")
        web.route("GET", "/", self._index, public=True)
        web.route("GET", "/login.html", self._index, public=True)
        for name in ("get_miner_info", "get_minerinfo", "minerinfo"):
            web.route("GET", f"/{name}.cgi", self._minerinfo)
        return {"rpc": super().make_servers()["rpc"], "http": web}

    def _cookie_guard(self, request: Request) -> HttpReply | None:
        """The firmware's cookie: 8 hex characters, then sha256(password)[:24]."""
        value = request.cookies().get("auth", "")
        expected = hashlib.sha256(self.web_password.encode()).hexdigest()[:24]
        if len(value) == 32 and value[8:] == expected:
            return None
        return text_reply(_LOGIN_PAGE)

    async def _index(self, request: Request) -> HttpReply:
        return text_reply(_LOGIN_PAGE)

    async def _minerinfo(self, request: Request) -> HttpReply:
        self._apply_due()
        info = {
            "ip": self.address,
            "mac": self.state.mac,
            "hwtype": self.hwtype,
            "version": self.fw_build,
            "dna": self.dna,
            "prod": self.prod,
            "model": self.model_code,
            "hostname": self.state.hostname,
        }
        body = "minerinfoCallback(" + json.dumps(info, separators=(",", ":")) + ");"
        return text_reply(body, content_type="text/html")


_LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Avalon Nano3</title></head>"
    "<body><form action='/login.cgi' method='post'><h2>Avalon Nano3</h2>"
    "<input type='password' name='passwd'><button>Login</button></form></body></html>"
)


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 4) if whole else 0.0


def _host(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].rsplit(":", 1)[0]


_Q_BUILD = "25052801_14a19a2"


@register
class AvalonQSim(AvalonSim):
    """Avalon Q: one hash board of 160 chips, four fan readings, 90 TH/s at 1674 W; build
    25052801_14a19a2 as captured: ``MM ID0:Summary`` (``'STATS':{...}``) plus ``HBinfo``
    (``'HB0':{PVT_T0 PVT_V0 MW0}``), WORKMODE and WORKLEVEL both, ITemp/HBITemp/HBOTemp, and
    a ``version`` with LVERSION/BVERSION/CGVERSION and MCU versions."""

    kind = "avalon_q"
    model = "Avalon Q Home"
    default_ports = {"rpc": 4028}
    hardware = Hardware(
        boards=1,
        chips_per_board=160,
        board_hashrate=90.0,
        unit="TH/s",
        fans=4,
        fan_rpm_max=4000,
        nominal_power=1674.0,
    )
    prod = "Avalon Q"
    model_code = "Q"
    hwtype = "Q_MM1v1_X1"
    swtype = "MM319"
    fw_build = _Q_BUILD
    core = "A3197S"
    mode_option = "workmode"
    device_name = "AVALON"
    builds = {
        _Q_BUILD: (
            "Ver", "LVer", "BVer", "HashMcu0Ver", "FanMcuVer", "CPU", "FW", "DNA", "STATE",
            "MEMFREE", "NETFAIL", "SSID", "RSSI", "NetDevType", "SYSTEMSTATU", "Elapsed",
            "BOOTBY", "LW", "MH", "DHW", "HW", "DH", "ITemp", "HBITemp", "HBOTemp", "TMax",
            "TAvg", "TarT", "Fan1", "Fan2", "Fan3", "Fan4", "FanR", "SoftOffTime",
            "SoftOnTime", "Filter", "FanErr", "SoloAllowed", "PS", "PCOMM_E", "GHSspd",
            "DHspd", "GHSmm", "GHSavg", "WU", "Freq", "MGHS", "TA", "Core", "BIN", "PING",
            "SoftOFF", "ECHU", "ECMM", "PLL0", "SF0", "CRC", "COMCRC", "ATA0", "LcdOnoff",
            "Activation", "WORKMODE", "WORKLEVEL", "MPO", "CALIALL", "ADJ", "Nonce Mask",
        ),
    }  # fmt: skip

    def cmd_version(self, parameter: str | None) -> dict[str, Any]:
        item = {
            "CGMiner": self.program_version,
            "API": self.api_version,
            "PROD": self.prod,
            "MODEL": self.model_code,
            "HWTYPE": self.hwtype,
            "SWTYPE": self.swtype,
            "LVERSION": self.build,
            "BVERSION": self.build,
            "CGVERSION": self.build,
            "HBMCUVERSION": "Q_hb_v1.1",
            "FANMCUVERSION": "Q_fb_v1.2",
            "DNA": self.dna,
            # bare hex as on the A1566 and the Mini 3 (pyasic#312); the Q capture's MAC is
            # a placeholder written with colons, so its format there is not evidence
            "MAC": self.mac_hex,
        }
        return self.ok(22, "CGMiner versions", "VERSION", [item])

    def _rates(self, r: Readings) -> dict[str, float]:
        rates = super()._rates(r)
        rates["MHS 5s"] = rates.pop("MHS 30s")  # this build has a 5 s window, no 30 s
        return rates

    def cmd_devs(self, parameter: str | None) -> dict[str, Any]:
        answer = super().cmd_devs(parameter)
        for item in answer["DEVS"]:
            item["Temperature"] = 0.0  # the Q reports 0.0 here, not -273.0
        return answer

    def cmd_pools(self, parameter: str | None) -> dict[str, Any]:
        answer = super().cmd_pools(parameter)
        for item, pool in zip(answer["POOLS"], self.state.pools, strict=False):
            item["Password"] = pool.password  # this build lists it (the capture's is "x")
        return answer

    def static_fields(self, r: Readings) -> dict[str, str]:
        out = super().static_fields(r)
        board = r.boards[0]
        level = MODE_LEVELS.get(self.state.work_mode, 1)
        now = int(time.time())
        out |= {
            "LVer": self.build, "BVer": self.build, "HashMcu0Ver": "Q_hb_v1.1",
            "FanMcuVer": "Q_fb_v1.2", "CPU": "K230", "FW": "Release",
            "STATE": "1" if r.hashing else "2", "SSID": "", "RSSI": "0", "NetDevType": "0",
            "ITemp": str(round(self.state.ambient_temp)),
            "HBITemp": str(round(board.temp_pcb) - 3), "HBOTemp": str(round(board.temp_pcb)),
            "TarT": "65", "SoftOffTime": str(now - 60), "SoftOnTime": str(now - 120),
            "Filter": "19145", "FanErr": "0", "SoloAllowed": "1", "PCOMM_E": "0",
            "BIN": "36", "ATA0": "800-65-2264-258-20", "LcdOnoff": "1", "Activation": "0",
            "WORKLEVEL": str(level), "CALIALL": "7", "Nonce Mask": "25",
        }  # fmt: skip
        return out

    def _device_entry(self) -> dict[str, Any]:
        r = self.state.read()
        fields = dict(self.mm_values(r)) | self.static_fields(r)
        hb = " ".join(f"{k}[{fields[k]}]" for k in ("PVT_T0", "PVT_V0", "MW0"))
        return {
            "STATS": 0,
            "ID": f"{self.device_name}0",
            "Elapsed": r.elapsed,
            "Calls": 0,
            "Wait": 0.0,
            "Max": 0.0,
            "Min": 99999999.0,
            "MM ID0:Summary": "'STATS':{" + self.mm_string(r) + "}",
            "HBinfo": "'HB0':{" + hb + "}",
        }
