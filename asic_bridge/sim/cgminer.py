"""Kind ``cgminer``: a CGMiner-4.x-era Antminer S9 on BMMiner 2.0.0, RPC only (no web UI).

Its ``version``/``stats``/``pools`` have the keys and JSON types of the real capture
``tests/fixtures/real/cgminer/bmminer-2.0.0-2019-07-31`` (stock S9, July 2019 build):
hashrates in GH/s (``GHS 5s`` as a string, ``GHS av`` a number; ``MHS av`` per device in
``devs``), the S9's chain slots 6-8 and fan slots 5-6 in ``stats`` with every slot 1-16
listed, ``freq_avgN``/``chain_rateidealN`` as floats, ``frequency`` a number.  Not
reproduced here, as every CGMiner-based kind inherits these answers: the build's ``VER``
number in ``version`` and its defect (a lone ``stats`` answer lacks the comma between its
STATS objects, ``}{``), which the kinds naming such a version in :attr:`MISSING_COMMA` serve
(``hiveon_s9``).  ``STATUS`` "S"/"E" with cgminer's codes, ``{"STATUS":"RESTART"}`` /
``{"STATUS":"BYE"}`` for restart/quit.  Other cgminer-based kinds may subclass it and add
``cmd_<name>`` methods.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from .base import SimMiner, SimServer, register
from .rpc_server import RpcReply, RpcServer, error_reply, invalid_command, reply
from .state import Hardware, Readings


@register
class CGMinerSim(SimMiner):
    """Answers each RPC command with ``cmd_<command>(parameter)``."""

    kind = "cgminer"
    make = "AntMiner"
    model = "S9"
    firmware = "Stock"
    default_ports = {"rpc": 4028}
    hardware = Hardware(
        boards=3,
        chips_per_board=63,
        board_hashrate=4.5,
        unit="TH/s",
        fans=2,
        fan_rpm_max=6000,
        nominal_power=1323.0,
    )

    # what the firmware says about itself
    program: ClassVar[str] = "BMMiner"
    """Name in VERSION/STATS[0] and in messages ("BMMiner versions")."""
    program_version: ClassVar[str] = "2.0.0"
    api_version: ClassVar[str] = "3.1"
    miner_version: ClassVar[str] = "16.8.1.3"
    compile_time: ClassVar[str] = "Sat Mar 16 16:16:08 CST 2019"
    type_string: ClassVar[str] = "Antminer S9"
    description: ClassVar[str] = "bmminer 1.0.0"
    rate_key: ClassVar[str] = "GHS"
    """Summary/stats hashrate prefix: BMMiner reports GHS, plain cgminer MHS."""
    device_name: ClassVar[str] = "BC5"
    chain_slot: ClassVar[int] = 6
    """stats key number of the first chain (S9: chain_acn6..8)."""
    fan_slot: ClassVar[int] = 5
    """stats key number of the first fan (S9: fan5, fan6)."""
    key_slots: ClassVar[int] = 16
    MISSING_COMMA: ClassVar[frozenset[str]] = frozenset()
    """Served versions whose lone ``stats`` answer lacks the comma between its STATS objects
    (bmminer 2.0.0 builds; off for this generic kind, which many tests read with json)."""
    frequency_as_text: ClassVar[bool] = False
    """``stats`` ``frequency`` as a string ("550", Hiveon's S9 build) or a number (645)."""

    restart_downtime: float = 1.0
    """Seconds the RPC port stays closed after ``restart``."""
    respawn_after_quit: float | None = None
    """Seconds until the process comes back after ``quit`` (None: until reboot)."""

    def make_servers(self) -> dict[str, SimServer]:
        return {"rpc": RpcServer(self.on_rpc_wire, description=self.description)}

    @property
    def rpc(self) -> RpcServer:
        server = self.servers["rpc"]
        assert isinstance(server, RpcServer)
        return server

    # ------------------------------------------------------------------ dispatch
    def on_rpc(
        self, command: str, parameter: str | None, request: dict[str, Any]
    ) -> dict[str, Any]:
        method = getattr(self, f"cmd_{command}", None) if command.isidentifier() else None
        if method is None:
            return invalid_command()
        result: dict[str, Any] = method(parameter)
        return result

    def on_rpc_wire(self, command: str, parameter: str | None, request: dict[str, Any]) -> RpcReply:
        """:meth:`on_rpc` as the served build writes it on the wire (its defects included)."""
        result = self.on_rpc(command, parameter, request)
        quirk = self.served_version in self.MISSING_COMMA
        if quirk and command == "stats" and request.get("command") == "stats":
            return _without_stats_comma(result)
        return result

    def ok(
        self, code: int, msg: str, section: str | None, items: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return reply(section, items, code=code, msg=msg, description=self.description)

    def err(self, code: int, msg: str) -> dict[str, Any]:
        return error_reply(code, msg, self.description)

    def gh(self, r: Readings, value: float) -> float:
        """A hashrate of the snapshot in this firmware's summary unit."""
        return r.rate(value, self.rate_key[0] + "H/s")

    # ------------------------------------------------------------------ read commands
    def cmd_version(self, parameter: str | None) -> dict[str, Any]:
        return self.ok(
            22,
            f"{self.program} versions",
            "VERSION",
            [
                {
                    self.program: self.program_version,
                    "API": self.api_version,
                    "Miner": self.miner_version,
                    "CompileTime": self.compile_time,
                    "Type": self.type_string,
                }
            ],
        )

    def cmd_config(self, parameter: str | None) -> dict[str, Any]:
        item = {
            "ASC Count": 1,
            "PGA Count": 0,
            "Pool Count": len(self.state.pools),
            "Strategy": "Failover",
            "Log Interval": 5,
            "Device Code": "",
            "OS": "Linux",
            "Hotplug": "None",
        }
        return self.ok(33, f"{self.program} config", "CONFIG", [item])

    def _share_stats(self, r: Readings) -> dict[str, Any]:
        accepted, rejected = r.accepted, r.rejected
        minutes = max(r.elapsed, 1) / 60
        return {
            "Accepted": accepted,
            "Rejected": rejected,
            "Hardware Errors": accepted // 300,
            "Utility": round(accepted / minutes, 2),
            "Difficulty Accepted": float(accepted * 65536),
            "Difficulty Rejected": float(rejected * 65536),
        }

    def cmd_summary(self, parameter: str | None) -> dict[str, Any]:
        r = self.state.read()
        shares = self._share_stats(r)
        now = int(time.time())
        key = self.rate_key
        total_mh = r.rate(r.ideal_hashrate, "MH/s") * r.elapsed
        item = {
            "Elapsed": r.elapsed,
            f"{key} 5s": f"{self.gh(r, r.hashrate):.2f}",
            f"{key} av": round(self.gh(r, r.ideal_hashrate), 2),
            "Found Blocks": 0,
            "Getworks": r.elapsed // 30,
            "Accepted": shares["Accepted"],
            "Rejected": shares["Rejected"],
            "Hardware Errors": shares["Hardware Errors"],
            "Utility": shares["Utility"],
            "Discarded": shares["Accepted"] * 2,
            "Stale": 0,
            "Get Failures": sum(p.get_failures for p in r.pools),
            "Local Work": r.elapsed * 40,
            "Remote Failures": sum(p.remote_failures for p in r.pools),
            "Network Blocks": r.elapsed // 600,
            "Total MH": round(total_mh, 4),
            "Work Utility": round(shares["Utility"] * 65536 / 60, 2),
            "Difficulty Accepted": shares["Difficulty Accepted"],
            "Difficulty Rejected": shares["Difficulty Rejected"],
            "Difficulty Stale": 0.0,
            "Best Share": shares["Accepted"] * 1877,
            "Device Hardware%": 0.0001 if r.hashing else 0.0,
            "Device Rejected%": _percent(shares["Rejected"], shares["Accepted"]),
            "Pool Rejected%": _percent(shares["Rejected"], shares["Accepted"]),
            "Pool Stale%": 0.0,
            "Last getwork": now,
        }
        return self.ok(11, "Summary", "SUMMARY", [item])

    def cmd_pools(self, parameter: str | None) -> dict[str, Any]:
        r = self.state.read()
        if not r.pools:
            return self.err(8, "No pools")
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
                    "Discarded": p.accepted * 2,
                    "Stale": p.stale,
                    "Get Failures": p.get_failures,
                    "Remote Failures": p.remote_failures,
                    "User": p.user,
                    "Last Share Time": "0:00:03" if p.active and r.hashing else "0",
                    "Diff": "65.5K",
                    "Diff1 Shares": 0,
                    "Proxy Type": "",
                    "Proxy": "",
                    "Difficulty Accepted": float(p.accepted * 65536),
                    "Difficulty Rejected": float(p.rejected * 65536),
                    "Difficulty Stale": 0.0,
                    "Last Share Difficulty": 65536.0 if p.accepted else 0.0,
                    "Has Stratum": True,
                    "Stratum Active": p.active,
                    "Stratum URL": _host(p.url) if p.active else "",
                    "Has GBT": False,
                    "Best Share": p.accepted * 1877,
                    "Pool Rejected%": _percent(p.rejected, p.accepted),
                    "Pool Stale%": 0.0,
                }
            )
        return self.ok(7, f"{len(items)} Pool(s)", "POOLS", items)

    def cmd_devs(self, parameter: str | None) -> dict[str, Any]:
        r = self.state.read()
        shares = self._share_stats(r)
        now = int(time.time())
        item = {
            "ASC": 0,
            "Name": self.device_name,
            "ID": 0,
            "Enabled": "Y",
            "Status": "Alive" if r.hashing else "Dead",
            "Temperature": round(r.temp_max, 2),
            "MHS av": round(r.rate(r.ideal_hashrate, "MH/s"), 2),
            "MHS 5s": round(r.rate(r.hashrate, "MH/s"), 2),
            "MHS 1m": round(r.rate(r.hashrate, "MH/s"), 2),
            "MHS 5m": round(r.rate(r.ideal_hashrate, "MH/s"), 2),
            "MHS 15m": round(r.rate(r.ideal_hashrate, "MH/s"), 2),
            "Accepted": shares["Accepted"],
            "Rejected": shares["Rejected"],
            "Hardware Errors": shares["Hardware Errors"],
            "Utility": shares["Utility"],
            "Last Share Pool": r.active_pool.index if r.active_pool else -1,
            "Last Share Time": now if r.hashing else 0,
            "Total MH": round(r.rate(r.ideal_hashrate, "MH/s") * r.elapsed, 4),
            "Diff1 Work": 0,
            "Difficulty Accepted": shares["Difficulty Accepted"],
            "Difficulty Rejected": shares["Difficulty Rejected"],
            "Last Share Difficulty": 65536.0 if shares["Accepted"] else 0.0,
            "Last Valid Work": now if r.hashing else 0,
            "Device Hardware%": 0.0001 if r.hashing else 0.0,
            "Device Rejected%": _percent(shares["Rejected"], shares["Accepted"]),
            "Device Elapsed": r.elapsed,
        }
        return self.ok(9, "1 ASC(s)", "DEVS", [item])

    def cmd_devdetails(self, parameter: str | None) -> dict[str, Any]:
        item = {
            "DEVDETAILS": 0,
            "Name": self.device_name,
            "ID": 0,
            "Driver": "bitmain",
            "Kernel": "",
            "Model": "",
            "Device Path": "",
        }
        return self.ok(69, "Device Details", "DEVDETAILS", [item])

    def cmd_stats(self, parameter: str | None) -> dict[str, Any]:
        r = self.state.read()
        slots = range(1, self.key_slots + 1)
        chains = {self.chain_slot + b.index: b for b in r.boards}
        fans = {self.fan_slot + i: rpm for i, rpm in enumerate(r.fans)}
        live = [b for b in r.boards if b.alive]

        def per_chain(fmt: str, value: Any, empty: Any = 0) -> dict[str, Any]:
            return {fmt.format(s): value(chains[s]) if s in chains else empty for s in slots}

        head = {
            self.program: self.program_version,
            "Miner": self.miner_version,
            "CompileTime": self.compile_time,
            "Type": self.type_string,
        }
        freq = round(sum(b.frequency for b in live) / len(live), 2) if live else 0.0
        stats: dict[str, Any] = {
            "STATS": 0,
            "ID": f"{self.device_name}0",
            "Elapsed": r.elapsed,
            "Calls": 0,
            "Wait": 0.0,
            "Max": 0.0,
            "Min": 99999999.0,
            f"{self.rate_key} 5s": f"{self.gh(r, r.hashrate):.2f}",
            f"{self.rate_key} av": round(self.gh(r, r.ideal_hashrate), 2),
            "miner_count": len(live),
            "frequency": f"{freq:.0f}" if self.frequency_as_text else round(freq),
            "fan_num": len(r.fans),
            **{f"fan{s}": fans.get(s, 0) for s in range(1, 9)},
            "temp_num": len(live),
            **per_chain("temp{}", lambda b: int(b.temp_pcb)),
            **per_chain("temp2_{}", lambda b: int(b.temp_chip)),
            **per_chain("temp3_{}", lambda b: 0),
            **{f"freq_avg{s}": float(chains[s].frequency) if s in chains else 0.0 for s in slots},
            "total_rateideal": round(self.gh(r, r.ideal_hashrate), 2),
            "total_freqavg": freq,
            "total_acn": sum(b.chips for b in r.boards),
            "total_rate": round(self.gh(r, r.hashrate), 2),
            **per_chain("chain_rateideal{}", lambda b: round(self.gh(r, b.ideal_hashrate), 2), 0.0),
            "temp_max": int(r.temp_max),
            "Device Hardware%": 0.0001 if r.hashing else 0.0,
            "no_matching_work": self._share_stats(r)["Hardware Errors"],
            **per_chain("chain_acn{}", lambda b: b.chips),
            **per_chain("chain_acs{}", lambda b: _chip_map(b.chips), ""),
            **per_chain("chain_hw{}", lambda b: 0),
            **per_chain(
                "chain_rate{}",
                lambda b: f"{self.gh(r, b.hashrate):.2f}" if b.alive else "",
                "",
            ),
        }
        for s, b in chains.items():
            if b.alive:
                stats[f"chain_xtime{s}"] = "{}"
                stats[f"chain_offside_{s}"] = "0"
                stats[f"chain_opencore_{s}"] = "1"
        stats["miner_version"] = self.miner_version
        return self.ok(70, f"{self.program} stats", "STATS", [head, stats])

    def cmd_estats(self, parameter: str | None) -> dict[str, Any]:
        return self.cmd_stats(parameter)

    def cmd_edevs(self, parameter: str | None) -> dict[str, Any]:
        return self.cmd_devs(parameter)

    def cmd_privileged(self, parameter: str | None) -> dict[str, Any]:
        return self.ok(46, "Privileged access OK", None, [])

    def cmd_check(self, parameter: str | None) -> dict[str, Any]:
        if not parameter:
            return self.err(71, "Missing check cmd")
        known = parameter.isidentifier() and hasattr(self, f"cmd_{parameter}")
        exists = "Y" if known else "N"
        return self.ok(72, "Check command", "CHECK", [{"Exists": exists, "Access": exists}])

    # ------------------------------------------------------------------ pool commands
    def _pool_id(self, parameter: str | None) -> int | dict[str, Any]:
        if parameter is None or parameter.strip() == "":
            return self.err(25, "Missing pool id parameter")
        try:
            index = int(parameter.split(",")[0])
        except ValueError:
            index = -1
        if not 0 <= index < len(self.state.pools):
            return self.err(
                26, f"Invalid pool id {index} - range is 0 - {len(self.state.pools) - 1}"
            )
        return index

    def cmd_switchpool(self, parameter: str | None) -> dict[str, Any]:
        index = self._pool_id(parameter)
        if isinstance(index, dict):
            return index
        self.state.switch_pool(index)
        return self.ok(27, f"Switching to pool {index}:'{self.state.pools[index].url}'", None, [])

    def cmd_enablepool(self, parameter: str | None) -> dict[str, Any]:
        index = self._pool_id(parameter)
        if isinstance(index, dict):
            return index
        pool = self.state.pools[index]
        if pool.enabled:
            return reply(
                None, None, code=49, msg=f"Pool {index}:'{pool.url}' already enabled",
                description=self.description, severity="I",
            )  # fmt: skip
        self.state.enable_pool(index, True)
        return self.ok(47, f"Enabling pool {index}:'{pool.url}'", None, [])

    def cmd_disablepool(self, parameter: str | None) -> dict[str, Any]:
        index = self._pool_id(parameter)
        if isinstance(index, dict):
            return index
        pool = self.state.pools[index]
        if not pool.enabled:
            return reply(
                None, None, code=50, msg=f"Pool {index}:'{pool.url}' already disabled",
                description=self.description, severity="I",
            )  # fmt: skip
        if sum(p.enabled for p in self.state.pools) == 1:
            return self.err(51, f"Cannot disable last active pool {index}:'{pool.url}'")
        self.state.enable_pool(index, False)
        return self.ok(48, f"Disabling pool {index}:'{pool.url}'", None, [])

    def cmd_addpool(self, parameter: str | None) -> dict[str, Any]:
        if not parameter:
            return self.err(52, "Missing addpool details")
        parts = parameter.split(",")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            return self.err(53, f"Invalid addpool details '{parameter}'")
        index = self.state.add_pool(parts[0], parts[1], parts[2])
        return self.ok(55, f"Added pool {index}: '{parts[0]}'", None, [])

    def cmd_removepool(self, parameter: str | None) -> dict[str, Any]:
        index = self._pool_id(parameter)
        if isinstance(index, dict):
            return index
        url = self.state.pools[index].url
        if len(self.state.pools) == 1:
            return self.err(66, f"Cannot remove last pool {index}:'{url}'")
        if self.state.active_pool_index() == index:
            return self.err(67, f"Cannot remove active pool {index}:'{url}'")
        self.state.remove_pool(index)
        return self.ok(68, f"Removed pool {index}:'{url}'", None, [])

    # ------------------------------------------------------------------ process control
    def cmd_restart(self, parameter: str | None) -> dict[str, Any]:
        self.spawn(self.restart_service(["rpc"], self.restart_downtime))
        return {"STATUS": "RESTART", "id": 1}

    def cmd_quit(self, parameter: str | None) -> dict[str, Any]:
        self.spawn(self._quit())
        return {"STATUS": "BYE", "id": 1}

    async def _quit(self) -> None:
        self.rpc.close_listener()
        self.state.set_backend_running(False)
        if self.respawn_after_quit is not None:
            await self.restart_service(["rpc"], self.respawn_after_quit)


def _without_stats_comma(result: dict[str, Any]) -> bytes:
    """The reply as bmminer 2.0.0 writes it: ``...,"Type":"..."}{"STATS":0,...`` (no comma)."""
    text = json.dumps(result, separators=(",", ":"))
    head = json.dumps(result["STATS"][0], separators=(",", ":"))
    return text.replace(head + ",", head, 1).encode() + b"\x00"


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 4) if whole else 0.0


def _host(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].rsplit(":", 1)[0]


def _chip_map(chips: int) -> str:
    """cgminer's chip status string: " oooooooo oooooooo ... ooooooo" (groups of 8)."""
    if chips <= 0:
        return ""
    groups = ["o" * 8] * (chips // 8) + (["o" * (chips % 8)] if chips % 8 else [])
    return " " + " ".join(groups)
