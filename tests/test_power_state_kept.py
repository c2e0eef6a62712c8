"""PowerController.state() keeps its per-miner part between calls (and snapshot() skips the
members while none was ever written to): it must say exactly what building it afresh says.

The reference below is the state as it was built before the parts were kept (every entry
made again on every call) and the publish key as features/fleet.py built it then (every
entry encoded again).  Random member sequences (joins, polls, outages, removals, commands,
plans with writes that succeed, fail or teach a range, restarts, the clock moving) are run
on one controller; after each step its state must be byte-identical to the reference's, and
two successive publish keys must be equal exactly when the reference's were.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import asdict
from operator import attrgetter, itemgetter
from typing import Any

import orjson
import pytest

from asic_bridge.bridge.features.fleet import MOVING, _unchanging
from asic_bridge.bridge.power import (
    Outcome,
    PowerController,
    Write,
    still_bytes,
)
from asic_bridge.bridge.power_inputs import GroupConfig, PowerInputError


class Clock:
    now = 1_780_000_000.0

    def __call__(self) -> float:
        return self.now


def reference_state(ctrl: PowerController) -> dict[str, Any]:
    """The state built from scratch, the way state() did before it kept its entries."""
    now, cfg = ctrl.clock(), ctrl.config
    target, measured = ctrl._target, ctrl.measured_w()
    online = [m for m in ctrl.members.values() if m.online]
    pending = [m.id for m in online if m.pending is not None]
    failed = {m.id: m.error for m in online if m.error}
    held = {i: t for i, t in ctrl._held.items() if t > now and i in ctrl.members}
    status, reason = ctrl._status(target, measured, pending, failed, held, online)
    miners: dict[str, dict[str, Any]] = {}
    uncontrollable, unmeasured, offline = [], [], []
    for m in sorted(ctrl.members.values(), key=attrgetter("id")):
        if not m.online:
            offline.append(m.id)
        else:
            if not m.controllable:
                uncontrollable.append(m.id)
            if m.measured_w is None:
                unmeasured.append(m.id)
        planned = ctrl._plan.get(m.id)
        miners[m.id] = {
            "online": m.online,
            "measured_w": m.measured_w,
            "power_limit": m.power_limit,
            "mining": m.mining,
            "planned": None if planned is None else asdict(planned),
            "range": [m.power_min, m.power_max] if m.controllable else None,
            "range_source": m.range_source,
            "controllable": m.controllable,
            "may_change_at": held.get(m.id),
            "error": m.error,
            "overdraw_w": round(m.overdraw_w) or None,
        }
    return {
        "group": ctrl.group,
        "mode": cfg.mode,
        "target_w": target,
        "target_source": ctrl._target_source,
        "planned_w": round(ctrl._planned_w),
        "measured_w": round(measured),
        "status": status,
        "reason": reason,
        "held": held,
        "uncontrollable": uncontrollable,
        "unmeasured": unmeasured,
        "offline": offline,
        "failed": failed,
        "remembered": sorted(ctrl.remembered),
        "min_change_interval": cfg.min_change_interval,
        "deadband_w": cfg.deadband_w,
        "replan_interval": cfg.replan_interval,
        "inputs": {
            key: None if value is None else value.model_dump(mode="json")
            for key, value in (
                ("schedule", cfg.schedule),
                ("price", cfg.price),
                ("surplus", cfg.surplus),
            )
        },
        "price": asdict(ctrl.price) if ctrl.price else None,
        "surplus": asdict(ctrl.surplus) if ctrl.surplus else None,
        "miners": miners,
        "updated_at": now,
    }


def reference_key(state: dict[str, Any]) -> bytes:
    """The publish key as features/fleet.py encoded it before (every entry, every cycle)."""
    miners: dict[str, dict[str, Any]] = state["miners"]
    rest = {k: v for k, v in state.items() if k not in MOVING and k != "miners"}
    first = next(iter(miners.values()), None)
    if first is None:
        return orjson.dumps((rest, ()))
    names = tuple(k for k in first if k != "measured_w")
    values = map(itemgetter(*names), miners.values())
    return orjson.dumps((rest, names, tuple(miners), tuple(values)))


class Walk:
    """One controller under a random sequence of what the bridge feeds it."""

    def __init__(self, seed: int, size: int) -> None:
        self.rng = random.Random(seed)
        self.clock = Clock()
        self.ctrl = PowerController("g", GroupConfig(min_change_interval=30), self.clock)
        self.ids = [f"m{i:02d}" for i in range(size)]

    def join(self, miner_id: str) -> None:
        rng = self.rng
        limited = rng.random() < 0.7
        self.ctrl.join(
            miner_id,
            power_min=rng.choice([None, 1000, 1000.0, 1200]) if limited else None,  # (a float)
            power_max=rng.choice([None, 3300, 3600]) if limited else None,
            range_source=rng.choice([None, "catalog", "firmware", "unknown"]),
            can_limit=limited,
            can_stop=rng.random() < 0.8,
            efficiency=rng.choice([None, 20.0, 30.0]),
        )

    def observe(self, miner_id: str) -> None:
        rng = self.rng
        self.ctrl.observe(
            miner_id,
            measured_w=rng.choice([None, 0.0, 150.0, rng.uniform(1000, 3700)]),
            power_limit=rng.choice([None, 2000, 3000, 3005, 3300]),
            mining=rng.choice([None, True, True, False]),
            efficiency=rng.choice([None, 25.0]),
            limit_read=rng.random() < 0.9,
        )

    def cycle(self) -> None:
        """plan() and the writes' outcomes, as run_cycle reports them."""
        rng = self.rng
        for write in self.ctrl.plan():
            roll = rng.random()
            if roll < 0.6:
                outcome = Outcome(True, power_limit=write.power_limit)
            elif roll < 0.8:
                outcome = Outcome(False, "refused")
            else:
                outcome = Outcome(False, "clamped", learned_range=(1100, 3400))
            self.ctrl.done(write, outcome)
        if rng.random() < 0.1:  # an outcome for a write of a member that has left
            self.ctrl.done(Write("gone", mining=False), Outcome(True))

    def command(self) -> None:
        rng = self.rng
        payload = rng.choice(
            [
                {"target_w": rng.randrange(0, 60_000, 500)},
                {"target_w": None},
                {"target_w": rng.randrange(0, 60_000, 500), "emergency": True},
                {"mode": "off"},
                {"surplus_w": rng.uniform(-5000, 30_000)},
                {"deadband_w": rng.choice([0, 100, 300])},
            ]
        )
        with contextlib.suppress(PowerInputError):  # every one is valid; a refusal is no step
            self.ctrl.command(payload)

    def restart(self) -> None:
        """The controller of the next run, restored from this one's snapshot."""
        snapshot = orjson.loads(orjson.dumps(self.ctrl.snapshot()))
        self.ctrl = PowerController("g", self.ctrl.config, self.clock)
        self.ctrl.restore(snapshot)

    def step(self) -> None:
        rng, ctrl = self.rng, self.ctrl
        miner_id = rng.choice(self.ids)
        action = rng.choices(
            ["join", "observe", "offline", "remove", "command", "cycle", "tick", "restart"],
            weights=[8, 40, 6, 2, 4, 12, 10, 1],
        )[0]
        if action == "join":
            self.join(miner_id)
        elif action == "observe":
            self.observe(miner_id)
        elif action == "offline":
            ctrl.offline(miner_id)
        elif action == "remove":
            ctrl.remove(miner_id)
        elif action == "command":
            self.command()
        elif action == "cycle":
            self.cycle()
        elif action == "tick":
            self.clock.now += rng.choice([0.5, 5.0, 10.0, 31.0, 61.0])
        else:
            self.restart()


@pytest.mark.parametrize("seed", range(40))
def test_the_kept_state_is_the_state_built_afresh(seed: int) -> None:
    walk = Walk(seed, size=random.Random(seed).choice([1, 3, 12, 30]))
    last: tuple[bytes, bytes] | None = None
    for _ in range(400):
        walk.step()
        if walk.rng.random() < 0.4:  # a state is not asked after every change
            continue
        expected = reference_state(walk.ctrl)
        state = walk.ctrl.state()
        assert orjson.dumps(state) == orjson.dumps(expected)
        snapshot = walk.ctrl.snapshot()  # its last changes as they were walked for, always
        assert snapshot["last_change"] == {
            i: m.last_change for i, m in walk.ctrl.members.items() if m.last_change > float("-inf")
        }
        key, old_key = _unchanging(state, walk.ctrl), reference_key(expected)
        # the kept bytes are the ones built from the state alone
        assert walk.ctrl.still_of(state) == still_bytes(state["miners"])
        if last is not None:
            assert (key == last[0]) == (old_key == last[1])
        last = (key, old_key)


def test_an_earlier_state_does_not_change_with_later_ones() -> None:
    walk = Walk(1, size=5)
    for miner_id in walk.ids:
        walk.join(miner_id)
        walk.observe(miner_id)
    first = walk.ctrl.state()
    before = orjson.dumps(first)
    for _ in range(200):
        walk.step()
        walk.ctrl.state()
    assert orjson.dumps(first) == before
