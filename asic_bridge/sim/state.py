"""The physical state of one simulated miner, shared by all of its protocol servers.

Every protocol (RPC, web, frames) reads the same :class:`MinerState`, so a control call made
through one of them (stop mining, power limit, fault light) shows up in all the others.
Readings are computed on demand from the controls and a monotonic clock: no timers run, so
hundreds of idle simulated miners cost no CPU.  Numbers carry a small jitter derived from the
MAC and a 5-second time slot, so they look alive yet stay within ``jitter`` of the model.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field
from typing import Literal, get_args

WorkMode = Literal["normal", "low", "high", "sleep"]
WORK_MODES: tuple[str, ...] = get_args(WorkMode)

MODE_POWER: dict[str, float] = {"normal": 1.0, "low": 0.75, "high": 1.15, "sleep": 0.0}
"""Power drawn in each work mode, as a fraction of the nominal power."""
IDLE_FRACTION = 0.07
"""Power of a miner that is not hashing (control board, fans), as a fraction of nominal."""
HASH_EXPONENT = 0.8
"""hashrate = nominal * (power / nominal_power) ** HASH_EXPONENT: efficiency improves when
under-clocked, which is what real tuners show."""
SHARES_PER_SECOND = 0.2
"""Accepted shares per second at nominal hashrate; one in ``REJECT_EVERY`` is rejected."""
REJECT_EVERY = 400
JITTER_PERIOD = 5.0
"""Seconds during which the jitter of a reading stays constant (like a 5 s average)."""

_UNIT_SCALE = {"H": 1.0, "KH": 1e3, "MH": 1e6, "GH": 1e9, "TH": 1e12, "PH": 1e15, "EH": 1e18}


def unit_scale(unit: str) -> float:
    """Hashes per second of one ``unit`` ("TH/s", "GH", "mh/s" ...)."""
    key = unit.strip().upper().removesuffix("/S")
    try:
        return _UNIT_SCALE[key]
    except KeyError:
        raise ValueError(f"unknown hashrate unit {unit!r}") from None


def convert_rate(value: float, from_unit: str, to_unit: str) -> float:
    """Convert a hashrate between units, e.g. TH/s to the GH/s that CGMiner reports."""
    return value * unit_scale(from_unit) / unit_scale(to_unit)


def derive_identity(seed: str) -> tuple[str, str]:
    """A stable (mac, serial) for a seed (normally the miner's address).

    The MAC is locally administered (first octet 0x02) so it can never clash with real hardware.
    """
    digest = hashlib.sha256(seed.encode()).digest()
    mac = ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))
    serial = "SIM" + digest[5:12].hex().upper()
    return mac, serial


@dataclass(frozen=True)
class Hardware:
    """What the box is built from; fixed for a model (see the catalog for real figures)."""

    boards: int = 3
    chips_per_board: int = 63
    board_hashrate: float = 4.5
    """Nominal hashrate of one board, in ``unit``."""
    unit: str = "TH/s"
    fans: int = 2
    fan_rpm_max: int = 6000
    nominal_power: float = 1350.0
    """Watts drawn at stock settings in the normal work mode."""
    min_power: float | None = None
    """Lowest power limit the firmware accepts; default 30 % of nominal."""
    max_power: float | None = None
    """Highest power limit the firmware accepts; default 130 % of nominal."""

    @property
    def nominal_hashrate(self) -> float:
        return self.boards * self.board_hashrate

    @property
    def power_range(self) -> tuple[float, float]:
        low = self.min_power if self.min_power is not None else 0.3 * self.nominal_power
        high = self.max_power if self.max_power is not None else 1.3 * self.nominal_power
        return low, high


@dataclass
class Pool:
    """One configured pool; the counters are the values at the last control change."""

    url: str
    user: str
    password: str = "x"
    enabled: bool = True
    alive: bool = True
    accepted: int = 0
    rejected: int = 0
    stale: int = 0
    get_failures: int = 0
    remote_failures: int = 0


@dataclass(frozen=True)
class Fault:
    """An error the miner reports (vendor code + text); kinds map it to their own format."""

    code: int
    message: str


@dataclass(frozen=True)
class BoardReading:
    index: int
    hashrate: float
    ideal_hashrate: float
    chips: int
    temp_pcb: float
    temp_chip: float
    frequency: float
    """Average chip clock in MHz (scaled with the power limit)."""
    voltage: float

    @property
    def alive(self) -> bool:
        return self.chips > 0


@dataclass(frozen=True)
class PoolReading:
    index: int
    url: str
    user: str
    priority: int
    enabled: bool
    alive: bool
    active: bool
    accepted: int
    rejected: int
    stale: int
    get_failures: int
    remote_failures: int

    @property
    def status(self) -> str:
        """CGMiner's pool status word."""
        if not self.enabled:
            return "Disabled"
        return "Alive" if self.alive else "Dead"


@dataclass(frozen=True)
class Readings:
    """One consistent snapshot of everything a miner reports; build replies from one of these."""

    unit: str
    hashing: bool
    hashrate: float
    """Sum of the boards' hashrate, in ``unit``."""
    ideal_hashrate: float
    """What the boards should do at the current settings (no jitter)."""
    nominal_hashrate: float
    wattage: float
    power_limit: float
    boards: tuple[BoardReading, ...]
    fans: tuple[int, ...]
    uptime: int
    """Seconds since the box booted."""
    elapsed: int
    """Seconds since the mining backend (cgminer, bosminer ...) started."""
    pools: tuple[PoolReading, ...]

    def rate(self, value: float, unit: str) -> float:
        """``value`` (in this snapshot's unit) expressed in ``unit``."""
        return convert_rate(value, self.unit, unit)

    @property
    def temp_max(self) -> float:
        """Hottest chip of a live board."""
        return max((b.temp_chip for b in self.boards if b.alive), default=0.0)

    @property
    def temp_avg(self) -> float:
        """Mean PCB temperature of the live boards."""
        live = [b.temp_pcb for b in self.boards if b.alive]
        return sum(live) / len(live) if live else 0.0

    @property
    def accepted(self) -> int:
        return sum(p.accepted for p in self.pools)

    @property
    def rejected(self) -> int:
        return sum(p.rejected for p in self.pools)

    @property
    def active_pool(self) -> PoolReading | None:
        return next((p for p in self.pools if p.active), None)


@dataclass(eq=False)
class MinerState:
    """The miner everyone reacts to: identity, controls, and readings derived from them.

    Change controls through the ``set_*``/pool methods (they keep share counters right);
    plain attributes such as ``fault_light``, ``hostname`` or ``errors`` may be set directly.
    """

    make: str
    model: str
    firmware: str
    hardware: Hardware = field(default_factory=Hardware)
    ip: str = "127.0.0.1"
    mac: str = ""
    serial: str = ""
    hostname: str = ""
    power_limit: float | None = None
    """Watts; None = no limit below the work mode's power."""
    mining: bool = True
    work_mode: WorkMode = "normal"
    fault_light: bool = False
    pools: list[Pool] = field(default_factory=list)
    errors: list[Fault] = field(default_factory=list)
    dead_boards: set[int] = field(default_factory=set)
    """Board indexes that report no chips and no hashrate (a failed hashboard)."""
    backend_running: bool = True
    """False after the mining process quit: nothing hashes whatever the controls say."""
    ambient_temp: float = 25.0
    jitter: float = 0.005
    """Relative amplitude of the noise on readings; 0 gives exact figures for tests."""
    clock: Callable[[], float] = time.monotonic
    power_ramp: float = 0.0
    """Seconds the drawn power takes to reach a new setting (linear, as a tuner settles and
    as a rebooted box climbs from idle); 0 = at once, which exact unit tests want."""
    seed: InitVar[str | None] = None
    """Identity seed (default: ``ip``); MAC and serial are derived from it when not given."""

    boot_at: float = field(init=False)
    backend_started_at: float = field(init=False)
    _preferred_pool: int = field(init=False, default=0)
    _work: float = field(init=False, default=0.0)
    _work_mark: float = field(init=False, default=0.0)
    _ramp_from: float | None = field(init=False, default=None)
    _ramp_at: float = field(init=False, default=0.0)

    def __post_init__(self, seed: str | None) -> None:
        mac, serial = derive_identity(seed or self.ip)
        self.mac = (self.mac or mac).lower()
        self.serial = self.serial or serial
        self.hostname = self.hostname or f"miner-{self.mac.replace(':', '')[-6:]}"
        if not self.pools:
            worker = f"sim.{self.mac.replace(':', '')[-6:]}"
            self.pools = [
                Pool("stratum+tcp://stratum.pool.example:3333", worker),
                Pool("stratum+tcp://backup.pool.example:3333", worker),
            ]
        now = self.clock()
        self.boot_at = self.backend_started_at = self._work_mark = now

    # ------------------------------------------------------------------ derived facts
    @property
    def hashing(self) -> bool:
        return self.mining and self.backend_running and self.work_mode != "sleep"

    @property
    def uptime(self) -> int:
        return int(self.clock() - self.boot_at)

    @property
    def elapsed(self) -> int:
        return int(self.clock() - self.backend_started_at)

    @property
    def effective_power_limit(self) -> float:
        """The power limit a firmware would report: the explicit one, else nominal."""
        return self.power_limit if self.power_limit is not None else self.hardware.nominal_power

    def _target(self) -> tuple[float, float]:
        """(watts, hashrate ratio vs nominal) the controls ask for."""
        hw = self.hardware
        if not self.hashing:
            return hw.nominal_power * IDLE_FRACTION, 0.0
        power = hw.nominal_power * MODE_POWER[self.work_mode]
        if self.power_limit is not None:
            power = min(power, self.power_limit)
        power = max(power, hw.power_range[0])
        return power, (power / hw.nominal_power) ** HASH_EXPONENT

    def _live_fraction(self) -> float:
        boards = self.hardware.boards
        live = sum(1 for i in range(boards) if i not in self.dead_boards)
        return live / boards if boards else 0.0

    def noise(self, key: str) -> float:
        """Deterministic value in [-1, 1] for (MAC, key, 5 s slot)."""
        slot = int(self.clock() / JITTER_PERIOD)
        return zlib.crc32(f"{self.mac}|{key}|{slot}".encode()) / 0xFFFFFFFF * 2.0 - 1.0

    def _wobble(self, key: str) -> float:
        return 1.0 + self.jitter * self.noise(key)

    # ------------------------------------------------------------------ readings
    def read(self) -> Readings:
        """A consistent snapshot of every reading at this moment."""
        hw = self.hardware
        power, ratio = self._target()
        load = power / hw.nominal_power if self.hashing else 0.0
        boards: list[BoardReading] = []
        for i in range(hw.boards):
            if i in self.dead_boards:
                boards.append(BoardReading(i, 0.0, 0.0, 0, 0.0, 0.0, 0.0, 0.0))
                continue
            ideal = hw.board_hashrate * ratio
            pcb = self.ambient_temp + 35.0 * load + 0.5 * self.noise(f"tp{i}")
            boards.append(
                BoardReading(
                    index=i,
                    hashrate=ideal * self._wobble(f"h{i}"),
                    ideal_hashrate=ideal,
                    chips=hw.chips_per_board,
                    temp_pcb=round(pcb, 1),
                    temp_chip=round(pcb + 15.0 * load + 0.5 * self.noise(f"tc{i}"), 1),
                    frequency=round(650.0 * min(ratio, 1.2), 1) if ratio else 0.0,
                    voltage=round(8.0 + 1.0 * min(load, 1.2), 2) if load else 0.0,
                )
            )
        wattage = self._wattage()
        fan_level = min(1.0, 0.45 + 0.45 * load) if self.hashing else 0.3
        fans = tuple(
            round(hw.fan_rpm_max * fan_level * self._wobble(f"f{i}")) for i in range(hw.fans)
        )
        return Readings(
            unit=hw.unit,
            hashing=self.hashing,
            hashrate=sum(b.hashrate for b in boards),
            ideal_hashrate=sum(b.ideal_hashrate for b in boards),
            nominal_hashrate=hw.nominal_hashrate,
            wattage=round(wattage * self._wobble("w"), 1),
            power_limit=self.effective_power_limit,
            boards=tuple(boards),
            fans=fans,
            uptime=self.uptime,
            elapsed=self.elapsed,
            pools=self._pool_readings(),
        )

    def _steady_wattage(self) -> float:
        """What the box draws once it has settled at the current controls."""
        power = self._target()[0]
        if not self.hashing:
            return power
        return max(power * self._live_fraction(), self.hardware.nominal_power * IDLE_FRACTION)

    def _wattage(self) -> float:
        """The power drawn now: on the ramp from the last change towards the steady value."""
        steady = self._steady_wattage()
        if self._ramp_from is None or self.power_ramp <= 0:
            return steady
        progress = (self.clock() - self._ramp_at) / self.power_ramp
        if progress >= 1.0:
            self._ramp_from = None
            return steady
        return self._ramp_from + (steady - self._ramp_from) * max(progress, 0.0)

    def _start_ramp(self, from_watts: float | None = None) -> None:
        if self.power_ramp > 0:
            self._ramp_from = self._wattage() if from_watts is None else from_watts
            self._ramp_at = self.clock()

    def _active_index(self) -> int | None:
        if not self.backend_running:
            return None
        order = self._pool_order()
        return next((i for i in order if self.pools[i].enabled and self.pools[i].alive), None)

    def _pool_order(self) -> list[int]:
        """Pool indexes by priority: the preferred (switched-to) pool first."""
        rest = [i for i in range(len(self.pools)) if i != self._preferred_pool]
        return [self._preferred_pool, *rest] if self._preferred_pool < len(self.pools) else rest

    def _pending_shares(self) -> tuple[int, int]:
        """Shares found since the last settle, not yet added to the active pool."""
        work = self._work + self._hash_ratio() * (self.clock() - self._work_mark)
        accepted = int(work * SHARES_PER_SECOND)
        return accepted, accepted // REJECT_EVERY

    def _hash_ratio(self) -> float:
        return self._target()[1] * self._live_fraction() if self.hashing else 0.0

    def _pool_readings(self) -> tuple[PoolReading, ...]:
        active = self._active_index()
        accepted, rejected = self._pending_shares() if active is not None else (0, 0)
        priority = {idx: rank for rank, idx in enumerate(self._pool_order())}
        return tuple(
            PoolReading(
                index=i,
                url=p.url,
                user=p.user,
                priority=priority[i],
                enabled=p.enabled,
                alive=p.alive,
                active=i == active,
                accepted=p.accepted + (accepted if i == active else 0),
                rejected=p.rejected + (rejected if i == active else 0),
                stale=p.stale,
                get_failures=p.get_failures,
                remote_failures=p.remote_failures,
            )
            for i, p in enumerate(self.pools)
        )

    # ------------------------------------------------------------------ controls
    def _settle(self) -> None:
        """Credit the shares found so far to the active pool before a control changes, and
        start the power ramp from what is drawn now."""
        self._start_ramp()
        active = self._active_index()
        accepted, rejected = self._pending_shares()
        if active is not None:
            self.pools[active].accepted += accepted
            self.pools[active].rejected += rejected
        self._work = 0.0
        self._work_mark = self.clock()

    def set_mining(self, on: bool) -> None:
        self._settle()
        self.mining = on

    def set_power_limit(self, watts: float | None) -> float | None:
        """Set (or clear with None) the power limit, clamped to the hardware range."""
        self._settle()
        if watts is None:
            self.power_limit = None
        else:
            low, high = self.hardware.power_range
            self.power_limit = min(max(float(watts), low), high)
        return self.power_limit

    def set_work_mode(self, mode: str) -> None:
        if mode not in WORK_MODES:
            raise ValueError(f"unknown work mode {mode!r}; expected one of {WORK_MODES}")
        self._settle()
        self.work_mode = mode  # type: ignore[assignment]  # checked above

    def set_backend_running(self, running: bool) -> None:
        self._settle()
        self.backend_running = running

    def restart_backend(self) -> None:
        """The mining process restarted: Elapsed and its share counters start from zero."""
        self._settle()
        self.backend_started_at = self.clock()
        self.backend_running = True
        for pool in self.pools:
            pool.accepted = pool.rejected = pool.stale = 0
            pool.get_failures = pool.remote_failures = 0

    def reboot(self) -> None:
        """The box rebooted: uptime restarts too.  Controls persist, as on real firmware: it
        comes back at its own stored limit, climbing from idle power."""
        self.restart_backend()
        self.boot_at = self.backend_started_at
        self._start_ramp(self.hardware.nominal_power * IDLE_FRACTION)

    # pools ------------------------------------------------------------
    def _check_pool(self, index: int) -> Pool:
        if not 0 <= index < len(self.pools):
            raise IndexError(f"no pool {index} (have {len(self.pools)})")
        return self.pools[index]

    def switch_pool(self, index: int) -> None:
        """Make ``index`` the top-priority pool (and enable it)."""
        pool = self._check_pool(index)
        self._settle()
        pool.enabled = True
        self._preferred_pool = index

    def enable_pool(self, index: int, enabled: bool = True) -> None:
        pool = self._check_pool(index)
        self._settle()
        pool.enabled = enabled

    def add_pool(self, url: str, user: str, password: str = "x") -> int:
        self._settle()
        self.pools.append(Pool(url, user, password))
        return len(self.pools) - 1

    def remove_pool(self, index: int) -> Pool:
        self._check_pool(index)
        self._settle()
        pool = self.pools.pop(index)
        if self._preferred_pool == index:
            self._preferred_pool = 0
        elif self._preferred_pool > index:
            self._preferred_pool -= 1
        return pool

    def set_pools(self, pools: list[Pool]) -> None:
        """Replace the pool list (a vendor config write); counters of kept URLs carry over."""
        self._settle()
        old = {(p.url, p.user): p for p in self.pools}
        for new in pools:
            prev = old.get((new.url, new.user))
            if prev is not None and not (new.accepted or new.rejected):
                new.accepted, new.rejected = prev.accepted, prev.rejected
        self.pools = list(pools)
        self._preferred_pool = 0

    def active_pool_index(self) -> int | None:
        return self._active_index()
