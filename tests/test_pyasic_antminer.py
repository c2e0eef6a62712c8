"""pyasic (the reference, in its own venv) against our Antminer simulators, beside our driver.

pyasic was written against real Antminers, so where it reads a simulator the way we do, the
simulator is faithful and our driver agrees with the reference.  The few fields skipped are
pyasic defects, each with its reason next to it.  The simulators run on their own event-loop
thread (127.11.1.x, the ports pyasic hard-codes) so the pyasic subprocess can talk to them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from reference.compare import differences, pyasic_available, run_pyasic
from sim_answers import pyasic_beside_ours

from asic_bridge import factory
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import BaseMiner
from asic_bridge.sim import SimMiner, load_kinds

pytestmark = pytest.mark.skipif(
    not pyasic_available(), reason="pyasic venv missing (.venvs/pyasic; scripts/setup --test)"
)

T = TypeVar("T")

HOSTS = {
    "antminer_s19jpro": "127.11.1.1",
    "antminer_s21": "127.11.1.2",
    "antminer_l7": "127.11.1.3",
    "antminer_s17pro": "127.11.1.4",
}

_L7_UNITS = (
    "pyasic reads 'GHS 5s' and stats.cgi 'rate_real' as GH/s whatever rate_unit says; the L7 "
    "reports MH/s there (rate_unit 'MH'), so pyasic's L7 rates are 1000x too high"
)
_OLD_WEB = (
    "pyasic's AntminerOld web multicommand returns its results without the 'multicommand' "
    "marker, so each parser gets the whole dict and finds no key (it also asks "
    "get_blink_status.cgi, which the old UI does not have: it answers blink.cgi onPageLoaded)"
)
_OLD_FANS = (
    "pyasic's AntminerOld reads fan3.. as soon as any of fan1..fan4 spins; X17 bmminer puts its "
    "four fans in fan1..fan4 (fan5..fan16 are 0), so pyasic reports fan3, fan4, 0, 0"
)
_OLD_TEMPS = (
    "pyasic's AntminerOld takes tempN as the chip and temp2_N as the board temperature; on "
    "X17 bmminer tempN is the PCB and temp2_N the hottest chip (temp2_N = max of temp_chipN)"
)
_2025_WATT = (
    "pyasic's Antminer backend reads no power draw; stock builds from 2025 report it as "
    "stats.cgi 'watt' (asic-rs PR #325), which we read: real firmware is the truth"
)
SKIPS: dict[str, dict[str, str]] = {
    "antminer_s19jpro": {},
    "antminer_s21": {"wattage": _2025_WATT},
    "antminer_l7": {
        "hashrate": _L7_UNITS,
        **{f"hashboards[{i}].hashrate": _L7_UNITS for i in range(3)},
    },
    "antminer_s17pro": {
        "hostname": _OLD_WEB,
        "fault_light": _OLD_WEB,
        "expected_hashrate": "pyasic's AntminerOld has no data location for expected hashrate",
        "fw_ver": "pyasic's CGMiner backend reads VERSION[0]['CGMiner']; X17 bmminer names it "
        "'BMMiner' (its build date, CompileTime, is what the other Antminer backends report)",
        "fans": _OLD_FANS,
        **{f"hashboards[{i}].{k}": _OLD_TEMPS for i in range(3) for k in ("temp", "chip_temp")},
    },
}


@dataclass
class Counts:
    rpc_connections: int
    http_connections: int
    http_requests: int
    unauthorized: int

    def __str__(self) -> str:
        return (
            f"rpc {self.rpc_connections} conn, http {self.http_connections} conn / "
            f"{self.http_requests} req ({self.unauthorized}x 401)"
        )


def counts(sim: SimMiner) -> Counts:
    rpc, http = sim.counters["rpc"], sim.counters["http"]
    return Counts(rpc.connections, http.connections, http.requests, http.unauthorized)


def minus(a: Counts, b: Counts) -> Counts:
    return Counts(
        a.rpc_connections - b.rpc_connections,
        a.http_connections - b.http_connections,
        a.http_requests - b.http_requests,
        a.unauthorized - b.unauthorized,
    )


@dataclass
class Session:
    """Simulators on a private loop thread, and what both libraries saw of them."""

    loop: asyncio.AbstractEventLoop
    sims: dict[str, SimMiner] = field(default_factory=dict)
    theirs: dict[str, dict[str, Any]] = field(default_factory=dict)
    ours: dict[str, MinerData] = field(default_factory=dict)
    miners: dict[str, BaseMiner] = field(default_factory=dict)
    pyasic_get_data: dict[str, Counts] = field(default_factory=dict)
    pyasic_identify: dict[str, Counts] = field(default_factory=dict)
    our_get_data: dict[str, Counts] = field(default_factory=dict)
    our_identify: dict[str, Counts] = field(default_factory=dict)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    def reset(self) -> None:
        for sim in self.sims.values():
            sim.reset_counters()


async def _start(kinds: dict[str, str]) -> dict[str, SimMiner]:
    sims = {}
    for kind, address in kinds.items():
        sim = load_kinds()[kind](address)
        fixed = time.monotonic() + 100.0  # frozen clock: shares and uptime cannot drift
        sim.state.clock = lambda fixed=fixed: fixed
        await sim.start()
        sims[kind] = sim
    return sims


async def _stop(sims: list[SimMiner]) -> None:
    await asyncio.gather(*(sim.stop() for sim in sims))


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="antminer-sims", daemon=True)
    thread.start()
    s = Session(loop)
    try:
        s.sims = s.run(_start(HOSTS))
        for kind, sim in s.sims.items():
            assert sim.ports == {"rpc": 4028, "http": 80}, (
                f"{kind}: pyasic hard-codes ports 4028/80 but the simulator got {sim.ports}; "
                "run the tests as root (or with CAP_NET_BIND_SERVICE)"
            )
        hosts = list(HOSTS.values())
        # pyasic: identification alone, then identification + get_data; the difference is
        # what one get_data costs it.
        s.reset()
        run_pyasic(hosts, data=False)
        s.pyasic_identify = {k: counts(sim) for k, sim in s.sims.items()}
        s.reset()
        s.theirs = run_pyasic(hosts)
        s.pyasic_get_data = {
            k: minus(counts(sim), s.pyasic_identify[k]) for k, sim in s.sims.items()
        }
        # ours, on the same loop as the simulators
        for kind, sim in s.sims.items():
            s.reset()
            miner = s.run(factory.get_miner(sim.address))
            assert miner is not None, f"asic_bridge did not find {kind}"
            s.miners[kind] = miner
            s.our_identify[kind] = counts(sim)
            s.reset()
            s.ours[kind] = s.run(miner.get_data())
            s.our_get_data[kind] = counts(sim)
        yield s
    finally:
        for miner in s.miners.values():
            s.run(miner.aclose())
        for sim in s.sims.values():
            factory.forget(sim.address)
        s.run(_stop(list(s.sims.values())))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def more_differences(
    ours: MinerData, theirs: dict[str, Any], skip: frozenset[str] = frozenset()
) -> list[str]:
    """The fields compare.differences leaves out, in the same ``name: ...`` form."""
    pairs: dict[str, tuple[Any, Any]] = {
        "uptime": (ours.uptime, theirs.get("uptime")),
        "fw_ver": (ours.fw_ver, theirs.get("fw_ver")),
        "api_ver": (ours.api_ver, theirs.get("api_ver")),
        "serial_number": (ours.serial_number, theirs.get("serial_number")),
        "errors": ([e.error_message for e in ours.errors], theirs.get("errors")),
        "hashboards.serial_number": (
            [b.serial_number for b in ours.hashboards],
            [b.get("serial_number") for b in theirs.get("hashboards") or []],
        ),
    }
    return [
        f"{name}: asic_bridge={a!r} pyasic={b!r}"
        for name, (a, b) in pairs.items()
        if name not in skip and a != b
    ]


@pytest.mark.parametrize("kind", list(HOSTS))
def test_pyasic_identifies_the_same_miner(session: Session, kind: str) -> None:
    theirs = session.theirs[HOSTS[kind]]
    ours = session.ours[kind]
    assert theirs["found"] and theirs["error"] is None, theirs
    assert (theirs["make"], theirs["model"], theirs["firmware"]) == (
        ours.make,
        ours.model,
        ours.firmware,
    ), f"pyasic class {theirs['cls']}"
    assert not theirs["cls"].endswith("Unknown"), theirs["cls"]


@pytest.mark.parametrize("kind", list(HOSTS))
def test_pyasic_reads_the_same_data(session: Session, kind: str) -> None:
    theirs = session.theirs[HOSTS[kind]]
    ours = session.ours[kind]
    assert ours.field_errors == {}
    skip = frozenset(SKIPS[kind])
    diffs = differences(ours, theirs, rel=0.01, skip=skip) + more_differences(ours, theirs, skip)
    assert diffs == [], "\n".join(diffs)
    assert theirs["mac"] and theirs["hashrate"] and theirs["pools"]
    assert all(b["chips"] for b in theirs["hashboards"])


def test_skipped_fields_really_are_pyasic_defects(session: Session) -> None:
    """Every skip must still be needed: if pyasic gets fixed, the skip has to go."""
    for kind, skips in SKIPS.items():
        if not skips:
            continue
        ours, theirs = session.ours[kind], session.theirs[HOSTS[kind]]
        diffs = differences(ours, theirs) + more_differences(ours, theirs)
        differing = {line.split(":", 1)[0] for line in diffs}
        assert differing == set(skips), f"{kind}: skips {sorted(skips)} vs diffs {diffs}"


def test_connection_counts_per_get_data(session: Session) -> None:
    print()
    for kind in HOSTS:
        print(
            f"{kind:18} get_data  pyasic: {session.pyasic_get_data[kind]}\n"
            f"{'':18}           ours:   {session.our_get_data[kind]}\n"
            f"{'':18} identify  pyasic: {session.pyasic_identify[kind]}\n"
            f"{'':18}           ours:   {session.our_identify[kind]}"
        )
    for kind, ours in session.our_get_data.items():
        assert ours.rpc_connections <= 1, kind
        assert ours.http_connections <= 1, kind
        assert ours.unauthorized == 0, kind
        theirs = session.pyasic_get_data[kind]
        assert ours.rpc_connections + ours.http_connections < (
            theirs.rpc_connections + theirs.http_connections
        ), kind


def test_pyasic_does_not_know_the_s23_hydro() -> None:
    """pyasic 0.79 has no S23 Hyd. class: an unknown Antminer without boards or power, where we
    read the 2026 build (real capture antminer/2026-06-26) with its stats.cgi 'watt'."""
    theirs, ours = pyasic_beside_ours("antminer_s23hyd", "127.11.1.9")
    assert theirs["found"] and theirs["cls"] == "AntminerUnknown" and theirs["model"] is None
    assert theirs["hashboards"] == [] and theirs["wattage"] is None
    assert ours.model == "S23 Hydro" and len(ours.hashboards) == 3 and ours.wattage
