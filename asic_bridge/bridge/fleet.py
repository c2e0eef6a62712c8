"""Fleet power curtailment: share a power target among miners, most efficient first.

Pure allocation (no I/O) so the rule is easy to read and test: the most efficient miners get
power first, each within its own range; a miner that cannot fit its minimum is put to sleep if
it can be, and only the remainder is spread.  Power-limit reductions are preferred over sleep.
A request is validated like a miner command: all of it, before any control call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from asic_bridge.bridge.commands import RequestError, check_transaction, decode_json

#: 1 GW: more than any farm draws; a larger target is a typo (or 1e30), not a plan.
MAX_TARGET_W = 1_000_000_000
FLEET_FIELDS = ("target_w", "emergency", "transaction")


@dataclass(frozen=True)
class FleetRequest:
    target_w: int
    emergency: bool = False
    transaction: str | int | None = None


def parse_fleet_request(payload: bytes) -> FleetRequest:
    """``{"target_w": 42000, "emergency": false, "transaction": "f1"}``; anything else is a
    RequestError (unknown fields included, as on ``<id>/set``)."""
    body: Any = decode_json(payload, 'payload must be JSON like {"target_w": 42000}')
    if not isinstance(body, dict):
        raise RequestError('payload must be a JSON object like {"target_w": 42000}')
    unknown = [str(k)[:40] for k in body if k not in FLEET_FIELDS]
    if unknown:
        raise RequestError(f"unknown field {unknown[0]!r}; known: {', '.join(FLEET_FIELDS)}")
    transaction = check_transaction(body.get("transaction"))
    target = body.get("target_w")
    if (
        isinstance(target, bool)
        or not isinstance(target, (int, float))
        or not math.isfinite(target)  # NaN, 1e999
        or not 0 <= target <= MAX_TARGET_W
    ):
        raise RequestError(
            f"target_w must be a number of watts from 0 to {MAX_TARGET_W}, got {target!r:.40}"
        )
    emergency = body.get("emergency", False)
    if not isinstance(emergency, bool):
        raise RequestError(f"emergency must be true or false, got {emergency!r:.40}")
    return FleetRequest(round(target), emergency, transaction)


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


def allocated_power(plan: list[Allocation], members: list[FleetMember]) -> int:
    by_id = {m.id: m for m in members}
    total = 0
    for item in plan:
        if item.mining:
            total += item.power_limit if item.power_limit is not None else by_id[item.id].max_w
    return total
