"""Power management that holds: one controller per fleet group.

Pure and clock-injected: no sockets, no MQTT, no tasks.  The wiring feeds it what the miners
do (``join``, ``observe``, ``offline``), commands and signals (``command``, ``price_reading``,
``surplus_reading``); ``plan`` says which writes to make now, and the outcome of each write
comes back through ``done``.  ``run_cycle`` glues the two for a writer coroutine.

Why it holds where a one-shot plan did not: it plans again on a fixed cadence and at once when
a member changes (came back, joined, went offline, its limit or mining state changed behind
our back), and it plans from what the miners draw (held and uncontrollable miners count at
their measured power), not from the last plan.  Allocation is :func:`bridge.fleet.allocate`
(most efficient first, each within its own range).  ``min_change_interval`` keeps a miner from
being changed more often than that (many firmwares restart hashing on every change) unless a
command says ``emergency``; ``deadband_w`` keeps small gains from causing writes.  Before the
first change to a miner its own limit and mining state are remembered; release restores them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from operator import itemgetter
from typing import Any

import orjson

from asic_bridge.bridge.fleet import FleetMember, allocate
from asic_bridge.bridge.power_inputs import (
    FleetSet,
    GroupConfig,
    PowerInputError,
    Reading,
    SurplusInput,
    fallback_target,
    parse_set,
    schedule_at,
    surplus_target,
)

#: a read-back this far from what was applied means someone else changed the limit
LIMIT_DRIFT_W = 25
#: a miner left alone this long has settled: a draw above its limit then is its own habit
SETTLE_S = 30.0
#: what a sleeping miner is assumed to draw, of its full power, until it was seen asleep
#: (fans and control board; a guess on the high side, so a cap is not overshot meanwhile)
IDLE_GUESS = 0.1
#: a member's entry in the published state less ``measured_w`` (which moves with every poll),
#: in the entry's own key order: what features/fleet.py compares to decide a publish
STILL_KEYS = (
    "online",
    "power_limit",
    "mining",
    "planned",
    "range",
    "range_source",
    "controllable",
    "may_change_at",
    "error",
    "overdraw_w",
)
_still_values = itemgetter(*STILL_KEYS)


def _same(a: object, b: object) -> bool:
    """Equal and of one type (1000 and 1000.0 are equal, not the same JSON)."""
    return a is b or (type(a) is type(b) and a == b)


def still_bytes(miners: dict[str, dict[str, Any]]) -> bytes:
    """The state's ``miners`` without what moves, as bytes equal exactly when that part is:
    the ids, then each entry's STILL_KEYS values, one JSON array per miner (complete JSON
    values one after another, so the concatenation is unambiguous)."""
    return orjson.dumps(tuple(miners)) + b"".join(
        map(orjson.dumps, map(_still_values, miners.values()))
    )


@dataclass(frozen=True)
class Setting:
    """A miner's controllable state: mining or not, and its power limit (None: its own)."""

    mining: bool
    power_limit: int | None


@dataclass(frozen=True)
class Write:
    """One change to make on one miner; None fields are left alone."""

    id: str
    mining: bool | None = None
    power_limit: int | None = None
    restore: bool = False  # back to the miner's own setting (release)


@dataclass(frozen=True)
class Outcome:
    """What a write did: ``ok`` only if confirmed; ``power_limit`` as the miner applied it."""

    ok: bool
    error: str | None = None
    power_limit: int | None = None
    #: a refused or clamped limit showed the miner's real range (low, high): planned with it
    #: from now on, and the failure counts as understood (not a standing error)
    learned_range: tuple[int, int] | None = None


@dataclass
class Member:
    """One miner as the controller sees it."""

    id: str
    power_min: int | None = None
    power_max: int | None = None
    range_source: str = "unknown"
    can_limit: bool = False
    can_stop: bool = False
    efficiency: float | None = None  # J/TH, fixed once known so the ranking does not shuffle
    online: bool = False
    measured_w: float | None = None
    power_limit: int | None = None
    mining: bool | None = None
    seen_at: float | None = None
    max_seen_w: float | None = None  # highest draw seen while mining
    idle_w: float | None = None  # the draw last seen while not mining
    overdraw_w: float = 0.0  # how far above its limit it draws once settled (firmware habit)
    applied: Setting | None = None  # our last confirmed setting
    last_change: float = float("-inf")  # when we last wrote to it (attempted)
    pending: Write | None = None
    error: str | None = None

    @property
    def controllable(self) -> bool:
        return self.can_stop or (self.can_limit and self._range() is not None)

    def _range(self) -> tuple[int, int] | None:
        """The limits it accepts: the firmware's or catalog's range; unknown: none."""
        if self.range_source == "unknown" or self.power_min is None or self.power_max is None:
            return None
        return self.power_min, self.power_max

    def full_w(self) -> float:
        """What it draws at full power: the top of the range it may be limited in, else the
        most it was seen drawing, else the top of its catalog range (a high guess)."""
        bounds = self._range()
        if self.can_limit and bounds is not None:
            return bounds[1] + self.overdraw_w
        return self.max_seen_w or self.measured_w or float(self.power_max or 0)

    def sleep_w(self) -> float:
        return self.idle_w if self.idle_w is not None else IDLE_GUESS * self.full_w()

    def fleet_member(self) -> FleetMember:
        """For allocation, in watts drawn: a limit of L costs L + its overdraw."""
        bounds = self._range()
        can_limit = self.can_limit and bounds is not None
        if bounds is None:
            low = high = int(self.full_w())
        else:
            low, high = (int(b + self.overdraw_w) for b in bounds)
        return FleetMember(self.id, low, high, self.efficiency, can_limit, self.can_stop)


@dataclass
class CycleResult:
    """One planning cycle: the writes made and how each went, and the state after."""

    writes: list[Write]
    outcomes: dict[str, Outcome]
    state: dict[str, Any]

    @property
    def status(self) -> str:
        """For a command's response: ``ok`` only if every write was confirmed and nothing the
        target needs is waiting (``pending``: held miners; ``partial``: a write failed, or
        the target cannot be met even so -- :attr:`error` says why)."""
        if any(not o.ok for o in self.outcomes.values()) or self.state["status"] == "cannot_meet":
            return "partial"
        if self.state["status"] != "holding" and self.state["held"]:
            return "pending"
        return "ok"

    @property
    def error(self) -> str | None:
        """Why the response is not ``ok``: the failed writes, else the state's reason."""
        failed = {i: o.error for i, o in self.outcomes.items() if not o.ok}
        if failed:
            return "; ".join(f"{i}: {e}" for i, e in sorted(failed.items()))
        if self.status == "ok":
            return None
        return str(self.state["reason"]) or None


class PowerController:
    """Holds one fleet group at its target (see the module docstring)."""

    def __init__(self, group: str, config: GroupConfig, clock: Callable[[], float]) -> None:
        self.group = group
        self.config = config
        self.clock = clock
        self.members: dict[str, Member] = {}
        self.remembered: dict[str, Setting] = {}  # each miner's own setting before we changed it
        self.price: Reading | None = None
        self.surplus: Reading | None = None
        self._due: str | None = "start"
        self._last_plan_at = float("-inf")
        self._emergency = False
        self._target: int | None = None  # the target last planned for
        self._target_source = "off"
        self._planned_w = 0.0
        self._plan: dict[str, Setting] = {}
        self._held: dict[str, float] = {}  # id -> when it may change
        self._hold_ends = float("inf")  # when the first hold runs out
        self._reason = ""
        # The state's per-miner part, kept between calls (see state()): each member's entry
        # and its still_bytes part, in id order, rebuilt only for the members marked dirty.
        self._entries: dict[str, dict[str, Any]] = {}
        self._still: dict[str, bytes] = {}
        self._dirty: set[str] = set()
        self._moved: set[str] = set()  # members whose reading alone changed: entries copied
        self._reorder = True  # a member joined or left: the id order is made again
        self._lists: tuple[list[str], list[str], list[str]] = ([], [], [])
        self._entry_plan: dict[str, Setting] = {}  # the plan and holds the entries show
        self._entry_held: dict[str, float] = {}
        self._ids_json = b"[]"
        self._still_joined: bytes | None = None  # still_of's bytes, until an entry is made again
        self._last_miners: dict[str, dict[str, Any]] | None = None  # of the last state()
        #: a member's last_change was set (a write, a restore): until then snapshot(), made
        #: every cycle, has no members to walk for it (the default group that never writes)
        self._changed_any = False

    # ------------------------------------------------------------------ members
    def join(
        self,
        miner_id: str,
        *,
        power_min: int | None,
        power_max: int | None,
        range_source: str | None,
        can_limit: bool,
        can_stop: bool,
        efficiency: float | None = None,
    ) -> None:
        """A miner is (still) a member, with what its record says it supports."""
        member = self.members.get(miner_id)
        if member is None:
            member = self.members[miner_id] = Member(miner_id)
            self._mark(f"{miner_id} joined")
            self._reorder = True
        source = range_source or "unknown"
        facts = (power_min, power_max, source, can_limit, can_stop)
        known = (m := member).power_min, m.power_max, m.range_source, m.can_limit, m.can_stop
        if facts != known:
            self._mark(f"{miner_id}: range or capabilities changed")
        self._dirty.add(miner_id)  # (equal facts of another type, 1000.0 for 1000, show too)
        member.power_min, member.power_max, member.range_source = power_min, power_max, source
        member.can_limit, member.can_stop = can_limit, can_stop
        if member.efficiency is None:
            member.efficiency = efficiency

    def needs_efficiency(self, miner_id: str) -> bool:
        """Whether :meth:`observe` would take an efficiency for this member (none known yet):
        computing one for every poll is the caller's to skip otherwise."""
        member = self.members.get(miner_id)
        return member is not None and member.efficiency is None

    def remove(self, miner_id: str) -> None:
        if self.members.pop(miner_id, None) is not None:
            self.remembered.pop(miner_id, None)
            self._mark(f"{miner_id} left the group")
            self._reorder = True
            self._entries.pop(miner_id, None)  # one who joins again is made afresh

    def observe(
        self,
        miner_id: str,
        *,
        measured_w: float | None,
        power_limit: int | None,
        mining: bool | None,
        efficiency: float | None = None,
        limit_read: bool = True,
    ) -> None:
        """A poll answered: what the miner draws and is set to.  A change nobody here made
        (came back, limit moved, resumed from sleep) makes the next ``plan`` run at once.

        ``limit_read=False``: reading the limit failed this time (e.g. the backend was
        restarting): the last known limit stands.  Taken as "no limit" it would look like a
        change behind our back, and if remembered as the miner's own, release would give it
        the top of its range instead of its own limit.  A mining state of None is unknown
        the same way."""
        member = self.members.get(miner_id)
        if member is None:
            return
        now = self.clock()
        if not limit_read:
            power_limit = member.power_limit
        if mining is None:
            mining = member.mining
        if not member.online:
            self._mark(f"{miner_id} {'came back' if member.seen_at is not None else 'is online'}")
        elif member.pending is None:  # what it was set to (by us or as last seen) moved
            old = member.power_limit
            if power_limit != old and (
                power_limit is None or old is None or abs(power_limit - old) > LIMIT_DRIFT_W
            ):
                self._mark(f"{miner_id}: limit changed on the miner to {power_limit} W")
            if mining is not None and member.mining is not None and mining != member.mining:
                self._mark(f"{miner_id}: {'resumed' if mining else 'stopped'} on the miner")
        was = member.online, member.power_limit, member.mining, member.overdraw_w
        member.online, member.seen_at = True, now
        member.measured_w, member.power_limit, member.mining = measured_w, power_limit, mining
        settled = now - member.last_change >= max(SETTLE_S, self.config.min_change_interval)
        if mining and measured_w is not None and power_limit is not None and settled:
            over = measured_w - power_limit
            member.overdraw_w = over if over > LIMIT_DRIFT_W else 0.0
        if mining and measured_w is not None:
            member.max_seen_w = max(member.max_seen_w or 0.0, measured_w)
        elif mining is False and measured_w is not None:
            member.idle_w = measured_w
        if member.efficiency is None and efficiency is not None and efficiency > 0:
            member.efficiency = efficiency
        # most polls move the reading alone: the state's entry is then copied with it
        if (
            was[0]
            and _same(power_limit, was[1])
            and _same(mining, was[2])
            and _same(member.overdraw_w, was[3])
        ):
            self._moved.add(miner_id)
        else:
            self._dirty.add(miner_id)

    def offline(self, miner_id: str) -> None:
        member = self.members.get(miner_id)
        if member is not None and member.online:
            member.online = False
            self._mark(f"{miner_id} went offline")
            self._dirty.add(miner_id)

    def _mark(self, reason: str) -> None:
        self._due = self._due or reason

    @property
    def due(self) -> bool:
        """Something changed that the next :meth:`plan` acts on at once."""
        return self._due is not None

    def replan(self, reason: str, *, emergency: bool = False) -> None:
        """Make the next :meth:`plan` run at once (e.g. a write taught a miner's range);
        ``emergency`` carries an emergency command's right to change held miners over."""
        self._mark(reason)
        self._emergency = self._emergency or emergency

    # ------------------------------------------------------------------ commands and signals
    def command(self, payload: Any) -> FleetSet:
        """Apply a ``fleet/<group>/set`` payload (decoded JSON); PowerInputError if invalid,
        and then nothing changes."""
        request = payload if isinstance(payload, FleetSet) else parse_set(payload)
        config = request.merged(self.config)
        self.config = config
        if request.surplus_w is not None:
            self.surplus_reading(request.surplus_w)
        if request.emergency:
            self._emergency = True
        self._mark("command")
        return request

    def price_reading(self, value: float) -> None:
        self.price = Reading(value, self.clock())
        self._mark("price")

    def surplus_reading(self, value: float) -> None:
        """An export reading is relative to what the fleet draws at that moment: a miner
        written to since its last poll counts at its new setting, not its old reading."""
        seen = any(m.online for m in self.members.values())
        self.surplus = Reading(value, self.clock(), self._drawing_now() if seen else None)
        self._mark("surplus")

    def _drawing_now(self) -> float:
        total = 0.0
        for m in self.members.values():
            if not m.online:
                continue
            changed = m.seen_at is not None and m.last_change >= m.seen_at and m.error is None
            total += self._setting_w(m, self._current(m)) if changed else (m.measured_w or 0.0)
        return total

    # ------------------------------------------------------------------ targets
    def target(self) -> tuple[int | None, str]:
        """(watts or None = release, where it comes from) at this moment."""
        now, cfg = self.clock(), self.config
        if cfg.mode == "off":
            return None, "off"
        if cfg.mode == "target":
            return cfg.target_w, "target_w"
        if cfg.mode == "schedule":
            assert cfg.schedule is not None  # GroupConfig guarantees it
            at = schedule_at(cfg.schedule, now)
            return at.target, at.window.label() if at.window else "outside the schedule windows"
        if cfg.mode == "price":
            assert cfg.price is not None
            if self.price is None or now - self.price.at > cfg.price.stale_after:
                why = "no price yet" if self.price is None else "price is stale"
                return fallback_target(cfg.price.fallback, self._target), f"{why}: fallback"
            return cfg.price.target_for(self.price.value), f"price {self.price.value:g}"
        surplus = cfg.surplus or SurplusInput()  # a bare surplus_w stream: the defaults
        if self.surplus is None or now - self.surplus.at > surplus.stale_after:
            why = "no surplus reading yet" if self.surplus is None else "surplus is stale"
            return fallback_target(surplus.fallback, self._target), f"{why}: fallback"
        if self.surplus.fleet_w is None:  # came before any poll: relative to the draw now
            self.surplus.fleet_w = self._drawing_now()
        return surplus_target(surplus, self.surplus), f"surplus {self.surplus.value:g} W"

    def measured_w(self) -> float:
        return sum(m.measured_w or 0.0 for m in self.members.values() if m.online)

    # ------------------------------------------------------------------ planning
    def plan(self) -> list[Write]:
        """The writes to make now: nothing unless the cadence is up, something changed, the
        target moved or a hold ran out.  Report each returned write's outcome to :meth:`done`."""
        now, cfg = self.clock(), self.config
        target, self._target_source = self.target()
        if target != self._target:
            self._mark("target changed")
        if now >= self._hold_ends:
            self._mark("a hold ran out")
        if self._due is None and now - self._last_plan_at < cfg.replan_interval:
            return []
        self._due, self._last_plan_at = None, now
        emergency, self._emergency = self._emergency, False
        self._target = target
        online = [m for m in self.members.values() if m.online]
        self._held = {
            m.id: m.last_change + cfg.min_change_interval
            for m in online
            if m.pending is not None
            or (not emergency and now - m.last_change < cfg.min_change_interval)
        }
        self._hold_ends = min(self._held.values(), default=float("inf"))
        writes = self._release(online) if target is None else self._allocate(target, online)
        for write in writes:
            member = self.members[write.id]
            if write.id not in self.remembered and not write.restore:
                self.remembered[write.id] = self._current(member)
            member.pending, member.last_change = write, now
            self._changed_any = True
        return writes

    def _release(self, online: list[Member]) -> list[Write]:
        """Each remembered miner back to its own setting (once it may change)."""
        self._plan, self._reason = {}, ""
        writes = []
        for member in online:
            own = self.remembered.get(member.id)
            if own is None:
                continue
            self._plan[member.id] = own
            if member.id in self._held or not member.controllable:
                continue
            limit = own.power_limit
            if limit is None and member.power_limit is not None:
                limit = member.power_max  # it had no limit of its own: the top of its range
            if not own.mining or not member.can_limit or limit == member.power_limit:
                limit = None
            mining = (
                own.mining
                if member.can_stop and own.mining != self._current(member).mining
                else None
            )
            if limit is None and mining is None:
                self.remembered.pop(member.id)  # already as it was
                continue
            writes.append(Write(member.id, mining=mining, power_limit=limit, restore=True))
        self._planned_w = self.measured_w()
        return writes

    def _allocate(self, target: int, online: list[Member]) -> list[Write]:
        """Most efficient first within each range, around what cannot change now."""
        fixed = [m for m in online if m.id in self._held or not m.controllable]
        flexible = [m for m in online if m not in fixed]
        fixed_w = sum(self._expected_w(m) for m in fixed)
        by_id = {m.id: m for m in flexible}
        candidates = [m.fleet_member() for m in flexible]
        # a sleeping miner still draws its idle power: plan again with that set aside until
        # the set of sleepers stops growing (it only grows, so this ends)
        reserve = 0.0
        for _ in range(len(flexible) + 1):
            allocation = allocate(int(target - fixed_w - reserve), candidates)
            idle = sum(by_id[a.id].sleep_w() for a in allocation if not a.mining)
            if idle <= reserve:
                break
            reserve = idle
        plan: dict[str, Setting] = {m.id: self._current(m) for m in fixed}
        changes: list[tuple[Member, Setting, float]] = []  # member, wanted, watts it saves
        planned = fixed_w
        for item in allocation:
            member = by_id[item.id]
            limit = None
            if member.fleet_member().can_limit and item.power_limit is not None:
                limit = int(item.power_limit - member.overdraw_w)  # watts drawn -> the limit
            wanted = Setting(item.mining, limit if item.mining else member.power_limit)
            plan[member.id] = wanted
            now_w = self._setting_w(member, self._current(member))
            if member.power_limit is None and member.mining and member.measured_w:
                now_w = max(now_w, member.measured_w)  # no limit: it draws what it draws
            new_w = self._setting_w(member, wanted)
            planned += new_w
            if wanted == self._current(member) or (
                wanted.mining and limit is None and member.mining
            ):
                if member.error is not None:
                    self._dirty.add(member.id)
                member.error = None  # as planned (a clamped write may have got it there)
                continue
            same_state = wanted.mining == (member.mining is not False)
            small = same_state and abs(new_w - now_w) < self.config.deadband_w
            changes.append((member, wanted, now_w - new_w if small else float("inf")))
        # a small change is skipped, unless skipping a decrease would leave the plan over target
        keep: list[tuple[Member, Setting]] = []
        for member, wanted, saves in sorted(changes, key=lambda c: -c[2]):
            if saves == float("inf") or (saves > 0 and planned + saves > target):
                keep.append((member, wanted))
            else:
                planned += saves
                plan[member.id] = self._current(member)
        self._plan, self._planned_w = plan, planned
        self._reason = self._why_not(target, fixed, flexible)
        return [self._write(member, wanted) for member, wanted in keep]

    def _why_not(self, target: int, fixed: list[Member], flexible: list[Member]) -> str:
        """Why the target cannot be met even when every held miner may change (or "")."""
        stuck = [m for m in fixed if not m.controllable]
        floor = sum(self._expected_w(m) for m in stuck)
        for m in (m for m in [*fixed, *flexible] if m.controllable):
            floor += m.sleep_w() if m.can_stop else (m.power_min or 0) + m.overdraw_w
        if floor <= target:
            return ""
        names = ", ".join(sorted(m.id for m in stuck)) or "none"
        return (
            f"the lowest this group can draw is {floor:.0f} W > {target} W "
            f"(uncontrollable: {names}; the others asleep or at their minimum)"
        )

    def _current(self, member: Member) -> Setting:
        return Setting(member.mining is not False, member.power_limit)

    def _setting_w(self, member: Member, setting: Setting) -> float:
        if not setting.mining:
            return member.sleep_w()
        if setting.power_limit is not None:
            return setting.power_limit + member.overdraw_w
        return member.full_w()

    def _expected_w(self, member: Member) -> float:
        """What a miner is counted at: its measured power; one we just set is counted at the
        higher of that and its new limit (its power may still be ramping up)."""
        measured = member.measured_w
        applied = member.applied
        if applied is not None and applied.mining and applied.power_limit is not None:
            return max(measured or 0.0, applied.power_limit + member.overdraw_w)
        return measured if measured is not None else self._setting_w(member, self._current(member))

    def _write(self, member: Member, wanted: Setting) -> Write:
        mining = wanted.mining if wanted.mining != (member.mining is not False) else None
        limit = None
        if wanted.mining and wanted.power_limit is not None:
            limit = wanted.power_limit if wanted.power_limit != member.power_limit else None
        return Write(member.id, mining=mining if member.can_stop else None, power_limit=limit)

    def done(self, write: Write, outcome: Outcome) -> None:
        """The outcome of a write ``plan`` returned: confirmed, or why not."""
        member = self.members.get(write.id)
        if member is None:
            return
        member.pending = None
        self._dirty.add(write.id)
        if outcome.learned_range is not None:
            member.power_min, member.power_max = outcome.learned_range
            member.range_source = "firmware"
        if not outcome.ok:
            member.error = None if outcome.learned_range else outcome.error or "write failed"
            member.applied = None
            self._mark(f"{write.id}: write failed")
            return
        member.error = None
        if write.power_limit is not None:
            member.power_limit = outcome.power_limit or write.power_limit
        if write.mining is not None:
            member.mining = write.mining
        member.applied = Setting(member.mining is not False, member.power_limit)
        if write.restore:
            self.remembered.pop(write.id, None)
            member.applied = None

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        """The honest picture for ``fleet/<group>``: what is asked, planned, drawn, and why.

        Built on every cycle (every <= 5 s) for the whole group, so its per-miner part is
        kept: only the entries of members that changed since (a poll, a write, the plan or
        a hold) are made again, and the id lists only when one of their members moved.  The
        state is for reading: its entries are shared with the next state's."""
        now, cfg = self.clock(), self.config
        target, measured = self._target, self.measured_w()
        online = [m for m in self.members.values() if m.online]
        pending = [m.id for m in online if m.pending is not None]
        failed = {m.id: m.error for m in online if m.error}
        held = {i: t for i, t in self._held.items() if t > now and i in self.members}
        status, reason = self._status(target, measured, pending, failed, held, online)
        miners = self._miners(held)
        uncontrollable, unmeasured, offline = (list(ids) for ids in self._lists)
        return {
            "group": self.group,
            "mode": cfg.mode,
            "target_w": target,
            "target_source": self._target_source,
            "planned_w": round(self._planned_w),
            "measured_w": round(measured),
            "status": status,
            "reason": reason,
            "held": held,
            "uncontrollable": uncontrollable,
            # online but reporting no power: counted at their full power, not measured
            "unmeasured": unmeasured,
            "offline": offline,
            "failed": failed,
            "remembered": sorted(self.remembered),
            "min_change_interval": cfg.min_change_interval,
            "deadband_w": cfg.deadband_w,
            "replan_interval": cfg.replan_interval,
            # the inputs as set now (bridge.yaml or a runtime command), to see what decides
            "inputs": {
                key: None if value is None else value.model_dump(mode="json")
                for key, value in (
                    ("schedule", cfg.schedule),
                    ("price", cfg.price),
                    ("surplus", cfg.surplus),
                )
            },
            "price": asdict(self.price) if self.price else None,
            "surplus": asdict(self.surplus) if self.surplus else None,
            "miners": miners,
            "updated_at": now,
        }

    def _miners(self, held: dict[str, float]) -> dict[str, dict[str, Any]]:
        """The state's ``miners`` (id order): the kept entries, the dirty ones made again."""
        dirty, entries, plan = self._dirty, self._entries, self._plan
        if plan is not self._entry_plan:  # a new plan: the members whose part of it moved
            old = self._entry_plan
            dirty.update(i for i in plan.keys() | old.keys() if plan.get(i) is not old.get(i))
            self._entry_plan = plan
        if held != self._entry_held:
            old_held = self._entry_held
            dirty.update(i for i in held.keys() | old_held.keys() if held.get(i) != old_held.get(i))
            self._entry_held = dict(held)  # (the state's own is the caller's)
        reorder = self._reorder
        if reorder:
            dirty.update(self.members.keys() - entries.keys())
        relist = reorder
        members = self.members
        for miner_id in self._moved:  # only measured_w changed since the entry was made
            m = members.get(miner_id)
            was = entries.get(miner_id)
            if m is None or was is None or miner_id in dirty:
                continue
            if (was["measured_w"] is None) != (m.measured_w is None):
                relist = True  # in or out of "unmeasured"
            entries[miner_id] = {**was, "measured_w": m.measured_w}
        self._moved.clear()
        for miner_id in dirty:
            m = members.get(miner_id)
            if m is None:
                continue
            controllable = m.controllable
            planned = plan.get(miner_id)
            entry = {
                "online": m.online,
                "measured_w": m.measured_w,
                "power_limit": m.power_limit,
                "mining": m.mining,
                "planned": None if planned is None else asdict(planned),
                "range": [m.power_min, m.power_max] if controllable else None,
                "range_source": m.range_source,
                "controllable": controllable,
                "may_change_at": held.get(miner_id),
                "error": m.error,
                "overdraw_w": round(m.overdraw_w) or None,
            }
            was = entries.get(miner_id)
            if was is None or (was["online"], was["controllable"], was["measured_w"] is None) != (
                m.online,
                controllable,
                m.measured_w is None,
            ):
                relist = True
            entries[miner_id] = entry
            self._still[miner_id] = orjson.dumps(_still_values(entry))
            self._still_joined = None
        dirty.clear()
        if reorder:
            ids = sorted(members)
            self._entries = entries = {i: entries[i] for i in ids}
            self._still = {i: self._still[i] for i in ids}
            self._ids_json = orjson.dumps(ids)
            self._still_joined = None
            self._reorder = False
        if relist:
            uncontrollable: list[str] = []  # of the online ones
            unmeasured: list[str] = []
            offline: list[str] = []
            for miner_id, entry in entries.items():
                if not entry["online"]:
                    offline.append(miner_id)
                else:
                    if not entry["controllable"]:
                        uncontrollable.append(miner_id)
                    if entry["measured_w"] is None:
                        unmeasured.append(miner_id)
            self._lists = (uncontrollable, unmeasured, offline)
        self._last_miners = miners = dict(entries)
        return miners

    def still_of(self, state: dict[str, Any]) -> bytes:
        """:func:`still_bytes` of ``state["miners"]``, from the kept parts when ``state`` is
        the last one this controller made (the bytes are the same)."""
        miners: dict[str, dict[str, Any]] = state["miners"]
        if miners is not self._last_miners:
            return still_bytes(miners)
        if self._still_joined is None:
            self._still_joined = self._ids_json + b"".join(self._still.values())
        return self._still_joined

    def _status(
        self,
        target: int | None,
        measured: float,
        pending: list[str],
        failed: dict[str, str],
        held: dict[str, float],
        online: list[Member],
    ) -> tuple[str, str]:
        deadband = self.config.deadband_w
        if failed:
            return "cannot_meet", "write failed: " + "; ".join(
                f"{i}: {e}" for i, e in failed.items()
            )
        if target is None:
            waiting = [i for i in self.remembered if self.members.get(i, Member(i)).online]
            if pending or waiting:
                return "converging", f"restoring {len(pending) + len(waiting)} miner(s)"
            return "released", ""
        if not online:
            return "cannot_meet", "no member is online"
        if self._reason:
            return "cannot_meet", self._reason
        if pending:
            return "converging", f"writing to {', '.join(sorted(pending))}"
        if measured > target + deadband:
            if held:
                until = max(held.values())
                return (
                    "converging",
                    f"held miners may change by {until:.0f}: {', '.join(sorted(held))}",
                )
            return "converging", "power is following the new limits"
        return "holding", ""

    # ------------------------------------------------------------------ persistence
    def snapshot(self) -> dict[str, Any]:
        """Plain data to persist: the runtime settings and each miner's own setting."""
        return {
            "config": self.config.model_dump(mode="json"),
            "remembered": {i: asdict(s) for i, s in self.remembered.items()},
            "last_change": {
                i: m.last_change for i, m in self.members.items() if m.last_change > float("-inf")
            }
            if self._changed_any
            else {},
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Undo :meth:`snapshot` (after a restart); bad data is a PowerInputError."""
        try:
            config = GroupConfig.model_validate(data["config"])
            remembered = {
                str(i): Setting(
                    bool(s["mining"]), None if s["power_limit"] is None else int(s["power_limit"])
                )
                for i, s in dict(data["remembered"]).items()
            }
            changes = {str(i): float(t) for i, t in dict(data.get("last_change", {})).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise PowerInputError(f"bad saved power state: {exc}") from None
        self.config, self.remembered = config, remembered
        for miner_id, at in changes.items():
            if miner_id not in self.members:
                self.members[miner_id] = Member(miner_id)
                self._reorder = True
            self.members[miner_id].last_change = at
            self._changed_any = True
        self._mark("restored")


Writer = Callable[[Write], Awaitable[Outcome]]


async def run_cycle(controller: PowerController, writer: Writer) -> CycleResult:
    """Plan, make the writes concurrently, report each outcome back, and return the state.

    A writer that raises counts as a failed write (its message kept), never as applied.
    """
    writes = controller.plan()

    async def one(write: Write) -> Outcome:
        try:
            return await writer(write)
        except Exception as exc:  # a writer's bug or I/O error: reported, not applied
            return Outcome(False, f"{type(exc).__name__}: {exc}")

    outcomes = await asyncio.gather(*(one(w) for w in writes))
    for write, outcome in zip(writes, outcomes, strict=True):
        controller.done(write, outcome)
    return CycleResult(
        writes, {w.id: o for w, o in zip(writes, outcomes, strict=True)}, controller.state()
    )
