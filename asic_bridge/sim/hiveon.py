"""Hiveon (Hive OS firmware for Antminers): bmminer RPC on 4028 plus a copy of the stock CGI UI.

Kinds: ``hiveon_s19jpro`` (an S19j Pro on the X19-era image) and ``hiveon_t9`` (a T9 on the
X9-era image).  Wire facts reproduced here (from a captured Hiveon S19 ``stats`` answer, the
stock UI it copies, and the T9 chain layout pyasic reads):

- RPC: bmminer's framing and replies; the firmware names itself in ``Type``
  (``"Antminer S19jPro Hiveon"``: no space in "S19jPro", ``Hiveon`` appended) and in the
  ``BMMiner`` version (``"4.11.1 rwglr"``).  ``stats`` carries the X19 keys without a
  ``rate_unit`` (every rate is GH/s): chains 1..3, ``tempN`` = PCB, ``temp2_N`` and
  ``temp3_N`` = chip, ``temp_pcbN``/``temp_chipN`` as "a-b-c-d", plus what stock firmware
  lacks: power (``total_power`` watts, ``chain_powerN`` per chain and the older text form
  ``chain_power`` "1345 W"), ``chain_voltageN``, ``freqN``, ``fan_pwm``.
- HTTP: the stock digest-protected UI (realm ``antMiner Configuration``, user ``root``):
  ``get_system_info`` (``minertype`` names Hiveon too), ``get_network_info``,
  ``get_miner_conf``/``set_miner_conf`` (JSON, ``miner-mode`` 0 normal / 1 sleep / 3 low),
  ``summary``, ``stats``, ``pools``, ``get_blink_status``, ``reboot`` (answers JSON), and
  the RPC mirrors ``miner_stats``/``miner_summary``/``miner_pools``.  ``blink.cgi`` takes the
  old UI's form (``action=startBlink|stopBlink|onPageLoaded``) or the modern JSON
  (``{"blink": "true"}``) and answers the modern code (``B000`` blinking, ``B100`` not)
  together with the state (``"blink"``).

The T9 image keeps the old stock UI (``isBlinking`` blink, positional form ``set_miner_conf``)
and reports each of its three boards as three chains in ``stats`` (2,9,10 / 3,11,12 /
4,13,14; 18 chips each, numeric ``chain_rateN`` in GH/s), ``temp3_N`` = inlet air, fans in
``fan5``/``fan6`` and its power only as the text ``chain_power`` ("1576.37 W").

State, controls and misbehaviour come from the stock Antminer simulator this UI copies.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from .antminer import AntminerModernSim, AntminerOldSim, _sensor_text, slot_keys
from .base import register
from .cgminer import CGMinerSim
from .http_server import HttpReply, Request, json_reply, text_reply
from .state import Hardware

_HIVEON_PAGE = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Hiveon ASIC</title></head>'
    '<body><div id="app">Hiveon Miner Configuration</div></body></html>\n'
)


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "on", "yes")


class HiveonSim(AntminerModernSim):
    """The modern Hiveon image: stock UI and RPC, Hiveon's name and its power figures."""

    firmware = "Hive"
    program_version = "4.11.1 rwglr"
    miner_version = "0.0.1.3"
    compile_time = "Thu Apr 10 18:12:59 UTC 2025"
    kernel = "Linux 4.9.38 #1 SMP PREEMPT Thu Apr 10 17:58:02 UTC 2025"

    def cgi_routes(self) -> dict[str, Any]:
        return {
            **super().cgi_routes(),
            "miner_stats": self.cgi_miner_stats,
            "miner_summary": self.cgi_miner_summary,
            "miner_pools": self.cgi_miner_pools,
        }

    def fan_pwm(self, rpms: tuple[int, ...]) -> int:
        """The manual bitmain-fan-pwm when set, else what the fastest fan turns at."""
        if self.conf.get("bitmain-fan-ctrl"):
            return int(str(self.conf.get("bitmain-fan-pwm", "100")))
        return round(100 * max(rpms, default=0) / self.hardware.fan_rpm_max)

    # ------------------------------------------------------------------ RPC
    def cmd_stats(self, parameter: str | None) -> dict[str, Any]:
        """The key set and types of the capture ``hiveon/4.11.1-rwglr-2025-04-10`` (an S19 of
        88 chips): every slot 1-16, numbers for the chain rates, no ``rate_unit`` (GH/s), power
        as ``total_power`` and ``chain_powerN`` (W), ``chain_voltageN`` for every slot."""
        r = self.state.read()
        chains = {1 + b.index: b for b in r.boards}
        live = [b for b in r.boards if b.alive]
        slots = range(1, 17)
        per_chain = round(r.wattage / len(live)) if live and r.hashing else 0
        ideal = round(self.gh(r, self.hardware.board_hashrate * 1.0), 2)

        per_slot = slot_keys(r, slots)
        fans = {1 + i: rpm for i, rpm in enumerate(r.fans)}
        body: dict[str, Any] = {
            "STATS": 0,
            "ID": "BC50",
            "Elapsed": r.elapsed,
            "Calls": 0,
            "Wait": 0.0,
            "Max": 0.0,
            "Min": 99999999.0,
            "GHS 5s": round(self.gh(r, r.hashrate), 2),
            "GHS av": round(self.gh(r, r.ideal_hashrate), 2),
            "bringup_temp": round(self.state.ambient_temp - 3),
            **per_slot("chain_acn{}", lambda b: b.chips),
            **per_slot("chain_acs{}", lambda b: " xx" * (b.chips // 2), ""),
            **per_slot("chain_avgrate{}", lambda b: round(self.gh(r, b.ideal_hashrate), 2), 0.0),
            **per_slot("chain_hw{}", lambda b: 0),
            **per_slot("chain_rate{}", lambda b: round(self.gh(r, b.hashrate), 2), 0.0),
            # bmminer fills the rate of an empty slot with the nominal board figure
            **per_slot(
                "chain_rateideal{}", lambda b: round(self.gh(r, b.ideal_hashrate), 2), ideal
            ),
            **{f"chain_voltage{n}": chains[n].voltage if n in chains else 14.2 for n in slots},
            "downscale_mode": "0",
            **{f"fan{n}": fans.get(n, 0) for n in range(1, 9)},
            "fan_num": len(r.fans),
            "fan_pwm": self.fan_pwm(r.fans),
            **per_slot("freq{}", lambda b: round(b.frequency)),
            "frequency": "",
            "has_hotel_fee": "0",
            "has_pic": "0",
            "miner_count": len(live),
            "miner_id": self._miner_id(),
            "miner_version": self.miner_version,
            "no_matching_work": r.accepted // 300,
            "psu_status": "PSU power ok",
            **per_slot("temp{}", lambda b: round(b.temp_pcb)),
            **per_slot("temp2_{}", lambda b: round(b.temp_chip)),
            **per_slot("temp3_{}", lambda b: round(b.temp_chip)),
            **per_slot("temp_chip{}", lambda b: _sensor_text(b.temp_chip), "0-0-0-0"),
            "temp_max": round(max((b.temp_pcb for b in live), default=0)),
            "temp_num": len(live),
            **per_slot("temp_pcb{}", lambda b: _sensor_text(b.temp_pcb), "0-0-0-0"),
            "total_acn": sum(b.chips for b in r.boards),
            "total_freqavg": 0.0,
            "total_power": round(r.wattage),
            "total_rate": round(self.gh(r, r.hashrate), 2),
            "total_rateideal": round(self.gh(r, r.ideal_hashrate), 2),
            "tune_running": "0",
        }
        for n, b in chains.items():
            if b.alive:
                body[f"chain_offside_{n}"] = ""
                body[f"chain_opencore_{n - 1}"] = "1"  # numbered from 0 on this build
                body[f"chain_power{n}"] = per_chain
                body[f"chain_xtime{n}"] = "{}"
        return self.ok(70, f"{self.program} stats", "STATS", [self._stats_head(), body])

    # ------------------------------------------------------------------ web
    async def page_index(self, request: Request) -> HttpReply:
        return text_reply(_HIVEON_PAGE)

    async def cgi_blink(self, request: Request) -> HttpReply:
        """The old UI's ``action`` form or the modern ``blink`` JSON; modern code answers."""
        action: str | None = None
        blink: Any = None
        if request.method == "POST":
            try:
                body = request.json()
            except ValueError:
                body = request.form()
            if isinstance(body, dict):
                action = body.get("action")
                blink = body.get("blink")
        action = action or request.query.get("action")
        if action == "startBlink":
            self.state.fault_light = True
        elif action == "stopBlink":
            self.state.fault_light = False
        elif blink is not None:
            self.state.fault_light = _truthy(blink)
        elif action != "onPageLoaded":
            return json_reply({"code": "B001", "msg": "missing action"})
        on = self.state.fault_light
        return json_reply({"code": "B000" if on else "B100", "msg": "OK!", "blink": on})

    async def cgi_reboot(self, request: Request) -> HttpReply:
        self.spawn(self._reboot_soon())
        return json_reply({"stats": "success", "code": "R000", "msg": "Rebooting"})

    async def cgi_miner_stats(self, request: Request) -> HttpReply:
        return json_reply(self.cmd_stats(None))

    async def cgi_miner_summary(self, request: Request) -> HttpReply:
        return json_reply(self.cmd_summary(None))

    async def cgi_miner_pools(self, request: Request) -> HttpReply:
        return json_reply(self.cmd_pools(None))


@register
class HiveonS19jProSim(HiveonSim):
    kind = "hiveon_s19jpro"
    versions: ClassVar[tuple[str, ...]] = ("4.11.1-rwglr-2025-04-10",)
    model = "S19j Pro"
    type_string = "Antminer S19jPro Hiveon"
    hardware = Hardware(
        boards=3,
        chips_per_board=126,
        board_hashrate=104.0 / 3,
        unit="TH/s",
        fans=4,
        fan_rpm_max=6000,
        nominal_power=3068.0,
    )


class HiveonX9Sim(AntminerOldSim):
    """The X9-era Hiveon image: old stock UI, the S9 bmminer RPC plus Hiveon's power keys.

    ``stats`` has the keys and JSON types of the real capture ``hiveon/2.0.0-rwglr-2019-11-20``
    (an S9): every slot 1-16, ``frequency`` as text, ``chain_power{N}`` and a ``chain_power``
    text, and the build's missing comma between the two STATS objects.
    """

    versions: ClassVar[tuple[str, ...]] = ()  # the T9 has no capture; the S9 kind names its
    firmware = "Hive"
    program_version = "2.0.0 rwglr"
    miner_version = "30.0.1.3"
    description = "bmminer 1.0.0"
    device_name = "BC5"
    frequency_as_text = True
    fan_slot = 5
    key_slots = 16
    work_modes: ClassVar[dict[int, str]] = {}

    def cmd_stats(self, parameter: str | None) -> dict[str, Any]:
        result = CGMinerSim.cmd_stats(self, parameter)  # the X9 bmminer layout, not the X17's
        body = result["STATS"][1]
        body.update({f"chain_power{n}": 0.0 for n in range(1, self.key_slots + 1)})
        body.update(self.chain_power(body))
        return result

    def chain_power(self, body: dict[str, Any]) -> dict[str, Any]:
        """The S9 build's power keys: 11.55 per live chain and their sum "34.65 (AB)" while
        the machine draws ~1200 W; what they measure is not known, and it is not watts."""
        live = [n for n in range(1, self.key_slots + 1) if body.get(f"chain_acn{n}")]
        power: dict[str, Any] = {f"chain_power{n}": 11.55 for n in live}
        power["chain_power"] = f"{11.55 * len(live):.2f} (AB)"
        return power


@register
class HiveonS9Sim(HiveonX9Sim):
    kind = "hiveon_s9"
    versions: ClassVar[tuple[str, ...]] = ("2.0.0-rwglr-2019-11-20",)
    MISSING_COMMA = frozenset(versions)
    model = "S9"
    type_string = "Antminer S9 Hiveon"
    compile_time = "Tue Nov 20 10:12:30 UTC 2019"
    kernel = "Linux 4.6.0-xilinx #1 SMP PREEMPT Tue Nov 20 10:05:41 UTC 2019"
    chain_slot = 6
    hardware = Hardware(
        boards=3,
        chips_per_board=63,
        board_hashrate=13.5 / 3,
        unit="TH/s",
        fans=2,
        fan_rpm_max=6000,
        nominal_power=1323.0,
    )


@register
class HiveonT9Sim(HiveonX9Sim):
    """A T9 on the X9 Hiveon image: each board is three chains (2,9,10 / 3,11,12 / 4,13,14).
    No T9 capture is published: the key set is the S9 build's, the layout pyasic's HiveonT9
    map, and ``chain_power`` is the "1345 W" text the driver reads."""

    kind = "hiveon_t9"
    model = "T9"
    type_string = "Antminer T9 Hiveon"
    miner_version = "16.8.1.3"
    compile_time = "Fri Jun 14 11:02:47 UTC 2019"
    kernel = "Linux 4.6.0-xilinx #1 SMP PREEMPT Fri Jun 14 10:55:10 UTC 2019"
    CHAINS: ClassVar[tuple[tuple[int, ...], ...]] = ((2, 9, 10), (3, 11, 12), (4, 13, 14))
    hardware = Hardware(
        boards=3,
        chips_per_board=54,
        board_hashrate=12.5 / 3,
        unit="TH/s",
        fans=2,
        fan_rpm_max=6000,
        nominal_power=1576.0,
    )

    def cmd_stats(self, parameter: str | None) -> dict[str, Any]:
        result = super().cmd_stats(parameter)
        body = result["STATS"][1]
        for key in [k for k in body if _LIVE_ONLY.match(k)]:
            del body[key]
        for key in [k for k in body if _PER_SLOT.match(k)]:
            body[key] = _EMPTY[type(body[key])]
        r = self.state.read()
        for board, chains in zip(r.boards, self.CHAINS, strict=True):
            share = len(chains)
            for n in chains:
                chips = board.chips // share
                body[f"chain_acn{n}"] = chips
                body[f"chain_acs{n}"] = " oooooooo oooooooo oo" if chips else ""
                # a number on the T9 (pyasic's HiveonT9 sums them), text on the S9 capture
                body[f"chain_rate{n}"] = round(self.gh(r, board.hashrate) / share, 2)
                body[f"chain_rateideal{n}"] = round(self.gh(r, board.ideal_hashrate) / share, 2)
                body[f"freq_avg{n}"] = float(board.frequency)
                if board.alive:
                    body[f"temp{n}"] = round(board.temp_pcb)
                    body[f"temp2_{n}"] = round(board.temp_chip)
                    body[f"temp3_{n}"] = round(self.state.ambient_temp + 3)
                    body.update({f"chain_xtime{n}": "{}", f"chain_offside_{n}": "0"})
                    body[f"chain_opencore_{n}"] = "0"
        body["chain_power"] = f"{r.wattage:.2f} W"
        return result


#: Keys bmminer lists for every slot 1-16, and those it lists for live chains only.
_PER_SLOT = re.compile(r"^(?:chain_(?:acn|acs|hw|rate|rateideal)|temp|temp2_|temp3_|freq_avg)\d+$")
_LIVE_ONLY = re.compile(r"^chain_(?:xtime|offside_|opencore_)\d+$")
_EMPTY: dict[type, Any] = {int: 0, float: 0.0, str: ""}
