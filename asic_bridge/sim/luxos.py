"""Kind ``luxos_s19jpro``: an Antminer S19j Pro running Luxor's LuxOS (LUXminer) firmware.

LuxOS speaks only the CGMiner-style RPC on 4028 (its web UI talks to the same API).  The
replies follow captured LUXminer 2025.x answers (public asic-rs fixtures) and Luxor's
published command table:

* every ``STATUS`` carries ``Description: "LUXminer <version>"``; ``version`` has
  ``LUXminer``/``API``/``Miner``/``CompileTime``/``Type``;
* ``stats``: ``STATS[0]`` is the program head, ``STATS[1]`` the chains keyed 1..4
  (``chain_rate<n>`` GH/s as a string, ``chain_acn<n>``, ``temp_pcb<n>``/``temp_chip<n>`` as
  four sensor values ``"exhaust-intake-intake-exhaust"``), ``total_rateideal`` in
  ``rate_unit`` GH;
* ``config`` (``MACAddr``, ``Hostname``, ``SerialNumber``, ``Profile``, ``RedLed``,
  ``CurtailMode``, ``IsAtmEnabled``, ``SystemStatus`` ...), ``power`` (``POWER[0].Watts``),
  ``fans`` (``FANS`` + ``FANCTRL``), ``temps``, ``tempctrl``, ``profiles`` (frequency steps
  with ``Watts``/``Hashrate`` TH/s), ``groups``, ``atm``;
* sessions: ``logon`` opens the one session (``SESSION[0].SessionID``) or answers STATUS E
  code 402 "Another session is active"; ``session`` shows the current one (empty when none);
  privileged commands take the SessionID as their first parameter and fail with code 403
  "Invalid session" otherwise; a session ends with ``logoff`` or after ``session_timeout``
  idle seconds;
* privileged: ``curtail|sid,sleep|wakeup``, ``ledset|sid,red,blink|on|off``,
  ``profileset|sid,<name>`` (refused while ATM is enabled, as the firmware does),
  ``atmset|sid,enabled=true|false``, ``tempctrlset|sid,target,hot,dangerous``,
  ``fanset|sid,speed=N,min_fans=N``, ``rebootdevice|sid``, ``resetminer|sid``;
* pool commands without session: ``addpool|url,user,pass[,group]``, ``removepool|n``,
  ``switchpool|n``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from .base import register
from .cgminer import CGMinerSim, _chip_map
from .shapes import conform
from .state import HASH_EXPONENT, Hardware

CODE_SESSION_CREATED = 316
CODE_SESSION_INFO = 319
CODE_SESSION_ACTIVE = 402
CODE_INVALID_SESSION = 403
CODE_OK = 300

# The shapes of LUXminer 2025.4.8.220305's answers (tests/fixtures/real/luxos/2025.4.8.220305,
# an S19k Pro): every key it sends with a value of its type.  Live values are laid over them.
CONFIG_2025_4 = {
    "ASC Count": 3, "BcastAddr": "192.168.1.255", "ControlBoardType": "cvitek",
    "Cooling": "Air", "CurtailMode": "None", "DHCP": True, "DNS Servers": "", "Device Code": "",
    "FPGABuildIdHex": "0x18351835", "FPGABuildIdStr": "2018-35-18 35:00", "FeeStatus": "Ok",
    "Gateway": "192.168.1.1", "GreenLed": "auto", "Hostname": "", "Hotplug": "None",
    "IPAddr": "", "ImmersionMode": False, "IsAtmEnabled": True, "IsPowerSupplyOn": True,
    "IsSingleVoltage": True, "IsTuning": False, "Log Interval": 0, "LogFileLevel": "info",
    "MACAddr": "", "Model": "", "NameplateTHS": 0.0, "Netmask": "255.255.255.0", "OS": "LuxOS",
    "PGA Count": 0, "PSUHwVersion": "75", "PSULabel": "APW121215e", "Pool Count": 0,
    "Profile": "default", "ProfileStep": "0", "RedLed": "auto", "SerialNumber": "",
    "Strategy": "Failover", "SystemStatus": "Normal", "UpdateOnStartup": "off",
    "UpdateOnTimeout": "off", "UpdateOnUser": "full",
    "UpdateSource": "https://storage.googleapis.com/luxor-firmware/stable", "UpdateTimeout": 60,
}  # fmt: skip
SUMMARY_2025_4 = {
    "Accepted": 0, "Best Share": 0, "Device Hardware%": 0.0, "Device Rejected%": 0.0,
    "Difficulty Accepted": 0, "Difficulty Rejected": 0, "Difficulty Stale": 0, "Discarded": 0,
    "Elapsed": 0, "Found Blocks": 0, "GHS 15m": 0.0, "GHS 1m": 0.0, "GHS 24h": 0.0,
    "GHS 30m": 0.0, "GHS 5m": 0.0, "GHS 5s": 0.0, "GHS av": 0.0, "Get Failures": 0,
    "Getworks": 0, "Hardware Errors": 0, "Last getwork": 0, "Local Work": 0, "Network Blocks": 0,
    "Pool Rejected%": 0.0, "Pool Stale%": 0.0, "Rejected": 0, "Remote Failures": 0, "Stale": 0,
    "Total MH": 0.0, "Utility": 0.0, "Work Utility": 0.0,
}  # fmt: skip
POOL_2025_4 = {
    "Accepted": 0, "AsicBoost": True, "Bad Work": 0, "Best Share": 0, "Current Block Height": 0,
    "Current Block Version": 536870912, "Diff": "32K", "Diff1 Shares": 0,
    "Difficulty Accepted": 0, "Difficulty Rejected": 0, "Difficulty Stale": 0, "Discarded": 0,
    "GROUP": 0, "Get Failures": 0, "Getworks": 0, "Has GBT": False, "Has Stratum": True,
    "Has Vmask": True, "Last Share Difficulty": 0, "Last Share Time": "0", "Long Pool": "N",
    "POOL": 0, "Pool Rejected%": 0.0, "Pool Stale%": 0.0, "Priority": 0, "Proxy": "",
    "Proxy Type": "", "Quota": 1.0, "Rejected": 0, "Remote Failures": 0, "Stale": 0,
    "Status": "Alive", "Stratum Active": False, "Stratum Difficulty": 0, "Stratum URL": "",
    "URL": "", "User": "", "Work Difficulty": 0, "Works": 0,
}  # fmt: skip
DEV_2025_4 = {
    "ASC": 0, "Accepted": 0, "Board": "BHB56903", "Connector": "J7",
    "ControllerIPVersionHex": "0x18351835", "ControllerIPVersionStr": "N/A",
    "Device Elapsed": 0, "Device Hardware%": 0, "Device Rejected%": 0, "Diff1 Work": 0,
    "Difficulty Accepted": 0, "Difficulty Rejected": 0, "Enabled": "Y",
    "Hardware Error MHS 15m": 0, "Hardware Errors": 0, "ID": 0, "IsRamping": False,
    "IsUserShutdown": False, "Last Share Difficulty": 0, "Last Share Pool": 0,
    "Last Share Time": 0, "Last Valid Work": 0, "MHS 15m": 0.0, "MHS 1m": 0.0, "MHS 30m": 0.0,
    "MHS 5m": 0.0, "MHS 5s": 0.0, "MHS 60m": 0.0, "MHS av": 0.0, "Name": "",
    "Nominal MHS": 0.0, "Profile": "default", "Rejected": 0, "SerialNumber": "",
    "Status": "Alive", "Temperature": 0.0, "Total MH": 0.0, "Utility": 0,
}  # fmt: skip
TEMPS_METADATA_2025_4 = {
    "BottomLeft": {"Label": "Board Exhaust (bottom)", "Position": [1, 0]},
    "BottomRight": {"Label": "Board Intake (bottom)", "Position": [1, 1]},
    "TopLeft": {"Label": "Board Exhaust (top)", "Position": [0, 0]},
    "TopRight": {"Label": "Board Intake (top)", "Position": [0, 1]},
}


@dataclass(frozen=True)
class Profile:
    """One LuxOS frequency profile: a step from the default with its power and hashrate."""

    name: str
    step: int
    frequency: int
    watts: int
    hashrate: float
    """TH/s"""
    voltage: float


def make_profiles(hw: Hardware, default_freq: int = 525) -> list[Profile]:
    """Steps of 25 MHz around the default; power and hashrate scale with the clock."""
    out = []
    for step in range(-10, 3):
        freq = default_freq + 25 * step
        ratio = (freq / default_freq) ** (1 / HASH_EXPONENT)
        out.append(
            Profile(
                name="default" if step == 0 else f"{freq}MHz",
                step=step,
                frequency=freq,
                watts=round(hw.nominal_power * ratio),
                hashrate=round(hw.nominal_hashrate * freq / default_freq, 1),
                voltage=round(13.2 + 0.15 * step, 2),
            )
        )
    return out


@register
class LuxOSSim(CGMinerSim):
    """LUXminer on an S19j Pro (3 boards x 126 chips, 4 fans)."""

    kind = "luxos_s19jpro"
    versions = ("2025.4.8.220305",)  # the answers' shapes are that capture's (see CONFIG_2025_4)
    make = "AntMiner"
    model = "S19j Pro"
    firmware = "LuxOS"
    default_ports = {"rpc": 4028}
    hardware = Hardware(
        boards=3,
        chips_per_board=126,
        board_hashrate=104.0 / 3,
        unit="TH/s",
        fans=4,
        fan_rpm_max=6000,
        nominal_power=3068.0,
    )
    program = "LUXminer"
    program_version = "2025.4.8.220305-57b389c7"
    api_version = "3.7"
    miner_version = "2025.4.8.220305"
    compile_time = "Tue Apr  8 22:05:35 UTC 2025"
    type_string = "Antminer S19j Pro"
    description = "LUXminer 2025.4.8.220305-57b389c7"
    device_name = "BTM_SOC"

    session_timeout: ClassVar[float] = 60.0  # "Sessions expire automatically after one minute"

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.profiles = make_profiles(self.hardware)
        self.profile = "default"
        self.atm_enabled = True
        self.red_led = "auto"
        self.temp_ctrl = {"Mode": "Auto", "Target": 75.0, "Hot": 90.0, "Dangerous": 100.0}
        self.fan_speed = -1
        self.min_fans = 3
        self.groups: list[dict[str, Any]] = [{"GROUP": 0, "Name": "Default", "Quota": 1}]
        self.pool_groups: dict[int, int] = {}
        self._session: str | None = None
        self._session_seen = 0.0
        super().__init__(address, **kwargs)

    # ------------------------------------------------------------------ helpers
    def _profile(self, name: str) -> Profile | None:
        return next((p for p in self.profiles if p.name == name), None)

    def apply_profile(self, name: str) -> None:
        prof = self._profile(name)
        assert prof is not None
        self.profile = name
        if prof.step == 0:
            self.state.set_work_mode("normal")
            self.state.set_power_limit(None)
        else:
            self.state.set_work_mode("high" if prof.step > 0 else "normal")
            self.state.set_power_limit(prof.watts)

    def _curtailed(self) -> bool:
        return not self.state.mining

    def _session_valid(self) -> bool:
        if self._session is None:
            return False
        if time.monotonic() - self._session_seen > self.session_timeout:
            self._session = None
            return False
        return True

    def _privileged(self, parameter: str | None) -> list[str] | dict[str, Any]:
        """The parameters after a valid SessionID, else the firmware's refusal."""
        parts = (parameter or "").split(",")
        if not self._session_valid() or parts[0] != self._session:
            return self.err(CODE_INVALID_SESSION, "Invalid session id")
        self._session_seen = time.monotonic()
        return [p.strip() for p in parts[1:]]

    # ------------------------------------------------------------------ sessions
    def cmd_logon(self, parameter: str | None) -> dict[str, Any]:
        if self._session_valid():
            return self.err(CODE_SESSION_ACTIVE, "Another session is active")
        self._session = secrets.token_hex(4)
        self._session_seen = time.monotonic()
        return self.ok(
            CODE_SESSION_CREATED, "Session created", "SESSION", [{"SessionID": self._session}]
        )

    def cmd_session(self, parameter: str | None) -> dict[str, Any]:
        sid = self._session if self._session_valid() else ""
        return self.ok(CODE_SESSION_INFO, "Session information", "SESSION", [{"SessionID": sid}])

    def cmd_logoff(self, parameter: str | None) -> dict[str, Any]:
        args = self._privileged(parameter)
        if isinstance(args, dict):
            return args
        self._session = None
        return self.ok(CODE_OK + 8, "Session terminated", None, [])

    # ------------------------------------------------------------------ read commands
    def cmd_summary(self, parameter: str | None) -> dict[str, Any]:
        result = super().cmd_summary(parameter)
        item = result["SUMMARY"][0]
        r = self.state.read()
        now = round(self.gh(r, r.hashrate), 2)
        ideal = round(self.gh(r, r.ideal_hashrate), 2)
        item["GHS 5s"] = now
        for key in ("GHS 1m", "GHS 5m", "GHS 15m", "GHS 30m", "GHS 24h"):
            item[key] = ideal if r.hashing else 0.0
        result["SUMMARY"] = [conform(item, SUMMARY_2025_4)]
        return result

    def cmd_stats(self, parameter: str | None) -> dict[str, Any]:
        r = self.state.read()
        head = {"CompileTime": self.compile_time, "Miner": self.miner_version,
                "Type": self.type_string}  # fmt: skip
        stats: dict[str, Any] = {
            "Calls": 0,
            "Elapsed": r.elapsed,
            "GHS 5s": round(self.gh(r, r.hashrate), 2),
            "GHS av": round(self.gh(r, r.ideal_hashrate), 2),
            "ID": f"{self.device_name}0",
            "Max": 0,
            "Min": 99999999,
            "Mode": 2,
            "STATS": 0,
            "Wait": 0,
        }
        slots = 4
        boards = {b.index + 1: b for b in r.boards}
        for n in range(1, slots + 1):
            b = boards.get(n)
            alive = b is not None and b.alive
            stats[f"chain_acn{n}"] = b.chips if b is not None else 0
            stats[f"chain_acs{n}"] = _chip_map(b.chips) if b is not None else ""
            stats[f"chain_hw{n}"] = 0
            stats[f"chain_rate{n}"] = f"{self.gh(r, b.hashrate):.2f}" if b and alive else "0"
            stats[f"freq{n}"] = float(b.frequency) if b is not None else 0.0
            exhaust, intake = (int(b.temp_chip), int(b.temp_pcb)) if b and alive else (0, 0)
            sensors = f"{exhaust}-{intake}-{intake}-{exhaust}"
            stats[f"temp_chip{n}"] = sensors
            stats[f"temp_pcb{n}"] = sensors
            stats[f"temp_pic{n}"] = sensors
            if b is not None:
                stats[f"temp{n}"] = float(intake)
                stats[f"temp2_{n}"] = float(exhaust)
        for i, rpm in enumerate(r.fans, start=1):
            stats[f"fan{i}"] = rpm
        live = [b for b in r.boards if b.alive]
        freq = round(sum(b.frequency for b in live) / len(live), 1) if live else 0.0
        stats.update(
            {
                "fan_num": len(r.fans),
                "frequency": round(freq),
                "miner_count": len(live),
                "miner_id": self.state.mac.replace(":", ""),
                "miner_version": self.miner_version,
                "no_matching_work": 0,
                "rate_unit": "GH",
                "temp_max": float(int(r.temp_max)),
                "temp_num": len(live),
                "total rate": round(self.gh(r, r.hashrate), 2),
                "total_acn": len(r.boards),
                "total_freqavg": freq,
                "total_rateideal": round(self.gh(r, r.ideal_hashrate), 2),
                "rate_30m": round(self.gh(r, r.ideal_hashrate), 2) if r.hashing else 0.0,
            }
        )
        return self.ok(70, f"{self.program} stats", "STATS", [head, stats])

    def cmd_pools(self, parameter: str | None) -> dict[str, Any]:
        result = super().cmd_pools(parameter)
        items = []
        for item in result.get("POOLS", []):
            item["GROUP"] = self.pool_groups.get(item["POOL"], 0)
            item["Diff1 Shares"] = item["Difficulty Accepted"]
            difficulty = 32768 if item["Stratum Active"] else 0
            item["Stratum Difficulty"] = item["Work Difficulty"] = difficulty
            items.append(conform(item, POOL_2025_4))
        if "POOLS" in result:
            result["POOLS"] = items
        return result

    def cmd_devs(self, parameter: str | None) -> dict[str, Any]:
        """One entry per board (LUXminer's ASC is the board), as 2025.4 sends them."""
        r = self.state.read()
        now = int(time.time())
        items = []
        for b in r.boards:
            mhs = r.rate(b.hashrate, "MH/s") if b.alive else 0.0
            live = {
                "ASC": b.index, "ID": b.index, "Connector": f"J{b.index + 7}",
                "Device Elapsed": r.elapsed, "Last Share Time": now if r.hashing else 0,
                "Last Valid Work": now if r.hashing else 0, "MHS 15m": mhs, "MHS 1m": mhs,
                "MHS 30m": mhs, "MHS 5m": mhs, "MHS 5s": mhs, "MHS 60m": mhs, "MHS av": mhs,
                "Nominal MHS": r.rate(r.ideal_hashrate, "MH/s") / max(len(r.boards), 1),
                "Profile": self.profile, "SerialNumber": f"{self.state.serial}B{b.index}",
                "Status": "Alive" if b.alive else "Dead", "Temperature": float(int(b.temp_chip)),
                "Total MH": mhs * r.elapsed,
            }  # fmt: skip
            items.append(conform(live, DEV_2025_4))
        return self.ok(9, f"{len(items)} ASC(s)", "DEVS", items)

    def cmd_groups(self, parameter: str | None) -> dict[str, Any]:
        items = []
        for g in self.groups:
            members = [i for i in range(len(self.state.pools))
                       if self.pool_groups.get(i, 0) == g["GROUP"]]  # fmt: skip
            items.append({**g, "Pools": len(members), "Strategy": "Failover"})
        return self.ok(CODE_OK + 14, f"{len(items)} Group(s)", "GROUPS", items)

    def cmd_config(self, parameter: str | None) -> dict[str, Any]:
        item = {
            "ASC Count": len(self.hardware_boards()),
            "ControlBoardType": "cvitek",
            "Cooling": "Air",
            "CurtailMode": "Sleep" if self._curtailed() else "None",
            "DHCP": True,
            "FeeStatus": "Ok",
            "GreenLed": "auto",
            "Hostname": self.state.hostname,
            "IPAddr": self.address,
            "ImmersionMode": False,
            "IsAtmEnabled": self.atm_enabled,
            "IsPowerSupplyOn": True,
            "IsTuning": False,
            "MACAddr": self.state.mac,
            "Model": self.type_string,
            "NameplateTHS": self.hardware.nominal_hashrate,
            "OS": "LuxOS",
            "PGA Count": 0,
            "Pool Count": len(self.state.pools),
            "Profile": self.profile,
            "ProfileStep": str(self._profile(self.profile).step),  # type: ignore[union-attr]
            "RedLed": self.red_led,
            "SerialNumber": self.state.serial,
            "Strategy": "Failover",
            "SystemStatus": "Normal" if not self.state.errors else "Error",
        }
        return self.ok(33, f"{self.program} config", "CONFIG", [conform(item, CONFIG_2025_4)])

    def hardware_boards(self) -> range:
        return range(self.hardware.boards)

    def cmd_power(self, parameter: str | None) -> dict[str, Any]:
        r = self.state.read()
        return self.ok(311, "Power usage", "POWER", [{"PSU": False, "Watts": round(r.wattage)}])

    def cmd_fans(self, parameter: str | None) -> dict[str, Any]:
        r = self.state.read()
        speed = self.fan_speed if self.fan_speed >= 0 else round(100 * r.fans[0] / 6000)
        items = [
            {"FAN": f"FAN{i + 1}", "ID": i, "RPM": rpm, "Speed": speed}
            for i, rpm in enumerate(r.fans)
        ]
        ctrl = [{"MinFans": self.min_fans, "PowerOffSpeed": 20}]
        return {**self.ok(202, f"{len(items)} Fan(s)", "FANS", items), "FANCTRL": ctrl}

    def cmd_temps(self, parameter: str | None) -> dict[str, Any]:
        r = self.state.read()
        items = []
        for b in r.boards:
            hot, cool = (b.temp_chip, b.temp_pcb) if b.alive else (0.0, 0.0)
            items.append({"BottomLeft": hot, "BottomRight": cool, "ID": b.index,
                          "TEMP": b.index, "TopLeft": hot, "TopRight": cool})  # fmt: skip
        return {**self.ok(201, f"{len(items)} Temp(s)", "TEMPS", items),
                "METADATA": [TEMPS_METADATA_2025_4]}  # fmt: skip

    def cmd_tempctrl(self, parameter: str | None) -> dict[str, Any]:
        mode = "Manual" if self.fan_speed >= 0 else "Auto"
        return self.ok(200, "Temperature control", "TEMPCTRL", [{**self.temp_ctrl, "Mode": mode}])

    def cmd_profiles(self, parameter: str | None) -> dict[str, Any]:
        items = [
            {
                "CanRestore": True,
                "Frequency": p.frequency,
                "HasOverrides": False,
                "Hashrate": p.hashrate,
                "IsDynamic": True,
                "IsTuned": p.step == 0,
                "Profile Name": p.name,
                "Step": str(p.step),
                "Voltage": p.voltage,
                "Watts": p.watts,
            }
            for p in self.profiles
        ]
        return self.ok(323, "List profiles", "PROFILES", items)

    def cmd_atm(self, parameter: str | None) -> dict[str, Any]:
        item = {"Enabled": self.atm_enabled, "MaxProfile": "", "MinProfile": "",
                "PostRampMinutes": 15, "StartupMinutes": 15, "TempWindow": 7}  # fmt: skip
        return self.ok(339, "ATM configuration values", "ATM", [item])

    # ------------------------------------------------------------------ privileged
    def cmd_curtail(self, parameter: str | None) -> dict[str, Any]:
        args = self._privileged(parameter)
        if isinstance(args, dict):
            return args
        if args[:1] == ["sleep"]:
            self.state.set_mining(False)
        elif args[:1] == ["wakeup"]:
            self.state.set_mining(True)
        else:
            return self.err(CODE_OK + 1, "Invalid curtail mode, expected sleep or wakeup")
        action = "sleep mode" if args[0] == "sleep" else "wake up"
        return self.ok(335, "Curtailment command sent", "CURTAIL", [{"Action": action}])

    def cmd_ledset(self, parameter: str | None) -> dict[str, Any]:
        args = self._privileged(parameter)
        if isinstance(args, dict):
            return args
        if len(args) != 2 or args[0] not in ("red", "green") or args[1] not in (
            "on", "off", "blink", "auto"
        ):  # fmt: skip
            return self.err(CODE_OK + 3, "Invalid ledset parameters")
        if args[0] == "red":
            self.red_led = args[1]
            self.state.fault_light = args[1] in ("on", "blink")
        return self.ok(CODE_OK + 4, "LED set", None, [])

    def cmd_profileset(self, parameter: str | None) -> dict[str, Any]:
        args = self._privileged(parameter)
        if isinstance(args, dict):
            return args
        if len(args) != 1 or self._profile(args[0]) is None:
            return self.err(CODE_OK + 5, f"Profile not found: {','.join(args)}")
        if self.atm_enabled:
            return self.err(CODE_OK + 6, "Cannot set profile while ATM is enabled")
        self.apply_profile(args[0])
        confirmed = {"Board": 0, "FrequencyStep": 5, "Profile": args[0], "VoltageStep": 0.05}
        return self.ok(321, "Profile Set", "PROFILE", [confirmed])

    def cmd_atmset(self, parameter: str | None) -> dict[str, Any]:
        args = self._privileged(parameter)
        if isinstance(args, dict):
            return args
        for arg in args:
            key, _, value = arg.partition("=")
            if key == "enabled" and value in ("true", "false"):
                self.atm_enabled = value == "true"
        return self.ok(340, "Advanced Thermal Management configuration updated", None, [])

    def cmd_tempctrlset(self, parameter: str | None) -> dict[str, Any]:
        args = self._privileged(parameter)
        if isinstance(args, dict):
            return args
        keys = ("Target", "Hot", "Dangerous")
        for key, value in zip(keys, args, strict=False):
            if value:
                try:
                    self.temp_ctrl[key] = float(value)
                except ValueError:
                    return self.err(CODE_OK + 9, f"Invalid temperature {value!r}")
        target, hot, danger = (round(float(str(self.temp_ctrl[k]))) for k in keys)
        limits = {"ChipDangerous": danger + 10, "ChipHot": hot + 10, "Dangerous": danger,
                  "Hot": hot, "Target": target, "WaterInletDangerous": 55}  # fmt: skip
        return self.ok(330, "Set temperature control", "TEMPCTRL", [limits])

    def cmd_fanset(self, parameter: str | None) -> dict[str, Any]:
        args = self._privileged(parameter)
        if isinstance(args, dict):
            return args
        for arg in args:
            key, _, value = arg.partition("=")
            try:
                number = int(value)
            except ValueError:
                return self.err(CODE_OK + 11, f"Invalid fanset value {arg!r}")
            if key == "speed":
                self.fan_speed = number
            elif key == "min_fans":
                self.min_fans = number
        return self.ok(CODE_OK + 12, "Fan control updated", None, [])

    def cmd_rebootdevice(self, parameter: str | None) -> dict[str, Any]:
        args = self._privileged(parameter)
        if isinstance(args, dict):
            return args
        self._session = None
        self.spawn(self.reboot(self.restart_downtime))
        return self.ok(CODE_OK + 13, "Rebooting device", None, [])

    def cmd_resetminer(self, parameter: str | None) -> dict[str, Any]:
        args = self._privileged(parameter)
        if isinstance(args, dict):
            return args
        self.spawn(self.restart_service(["rpc"], self.restart_downtime))
        return self.ok(CODE_OK + 15, "Resetting miner", None, [])

    def cmd_addpool(self, parameter: str | None) -> dict[str, Any]:
        parts = (parameter or "").split(",")
        if len(parts) == 4:
            group = parts.pop()
            if not group.strip().isdigit():
                return self.err(53, f"Invalid group id '{group}'")
        result = super().cmd_addpool(",".join(parts))
        return result

    def cmd_restart(self, parameter: str | None) -> dict[str, Any]:
        return self.err(14, "Invalid command")

    def cmd_quit(self, parameter: str | None) -> dict[str, Any]:
        return self.err(14, "Invalid command")

    def cmd_privileged(self, parameter: str | None) -> dict[str, Any]:
        return self.err(14, "Invalid command")
