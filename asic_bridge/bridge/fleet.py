"""Fleet power allocation: share a power target among miners, most efficient first.

Pure (no I/O) so the rule is easy to read and test: the most efficient miners get power
first, each within its own range; a miner that cannot fit its minimum is put to sleep if it
can be, and only the remainder is spread.  Power-limit reductions are preferred over sleep.
bridge.power's controllers plan with it, again and again, to hold a target.
"""

from __future__ import annotations

from dataclasses import dataclass

#: 1 GW: more than any farm draws; a larger target is a typo (or 1e30), not a plan.
MAX_TARGET_W = 1_000_000_000


@dataclass(frozen=True)
class FleetMember:
    id: str
    min_w: int
    max_w: int
    efficiency: float | None  # J/TH; lower is better; None = unknown (ranked last)
    can_limit: bool
    can_stop: bool


@dataclass(frozen=True)
class Allocation:
    id: str
    mining: bool
    power_limit: int | None  # None: leave the limit alone


def allocate(target_w: int, members: list[FleetMember]) -> list[Allocation]:
    """Plan for ``target_w`` watts across ``members``.

    Miners that can neither limit nor stop keep running and their full power counts first.
    """
    plan: list[Allocation] = []
    remaining = target_w
    fixed = [m for m in members if not m.can_limit and not m.can_stop]
    for member in fixed:
        remaining -= member.max_w
        plan.append(Allocation(member.id, True, None))
    flexible = sorted(
        (m for m in members if m.can_limit or m.can_stop),
        key=lambda m: (m.efficiency is None, m.efficiency or 0.0, m.id),
    )
    for member in flexible:
        if member.can_limit and remaining >= member.min_w:
            watts = min(member.max_w, remaining)
            remaining -= watts
            plan.append(Allocation(member.id, True, watts))
        elif not member.can_limit and remaining >= member.max_w:
            remaining -= member.max_w
            plan.append(Allocation(member.id, True, None))
        elif member.can_stop:
            plan.append(Allocation(member.id, False, None))
        else:  # cannot stop: run at its minimum
            remaining -= member.min_w
            plan.append(Allocation(member.id, True, member.min_w))
    return plan
