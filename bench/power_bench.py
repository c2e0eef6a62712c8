"""A fleet power controller holding 500 simulated miners under a moving solar surplus.

    .venv/bin/python bench/power_bench.py [--miners 500] [--hours 2] [--poll 10] [--ramp 5]
    .venv/bin/python bench/power_bench.py --steady [--miners 5000] [--cycles 60]

Pure: the miners are the simulator's MinerState physics (power ramps to each new limit) on a
simulated clock, no sockets, so hours of fleet time run in seconds.  The sun moves in steps
every 15 minutes with small noise in between; after each step the bench measures how long
(simulated) the fleet takes to settle under the available power and close to it.  Prints the
time to settle, writes per miner per hour, how often the fleet was over, and the CPU cost of
one control cycle.  Figures, not a pass/fail test.

``--steady``: the bridge's default group (``fleet.groups.all``, mode off) at a farm's size in
its steady state, what a cycle costs when only the polls of one 5 s cycle gap (a sixth of a
30 s poll interval) changed a reading: each poll's ``observe``, then the cycle as
features/fleet.py runs it (plan, state, the publish comparison, the saved payload); the
median and least of ``--cycles`` (other processes share the cores; the garbage collector
runs as it does in the bridge).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from asic_bridge.bridge.features.fleet import _unchanging
from asic_bridge.bridge.power import Outcome, PowerController, Write, run_cycle
from asic_bridge.bridge.power_inputs import GroupConfig
from asic_bridge.sim.state import Hardware, MinerState

STEP = 900.0  # seconds between sun steps


class Clock:
    now = 1_780_000_000.0

    def __call__(self) -> float:
        return self.now


def build(count: int, clock: Clock, ramp: float, ctrl: PowerController) -> dict[str, MinerState]:
    """A mixed fleet: 85 % with power targets, 10 % that can only stop, 5 % neither."""
    rng = random.Random(16)
    miners: dict[str, MinerState] = {}
    for i in range(count):
        nominal = rng.choice([1350, 2100, 3000, 3250, 3500])
        hw = Hardware(
            nominal_power=nominal,
            min_power=nominal * rng.uniform(0.35, 0.6),
            max_power=nominal * rng.uniform(1.0, 1.15),
            board_hashrate=nominal / rng.uniform(15, 35) / 3,  # 15-35 J/TH
        )
        miner_id = f"m{i:03d}"
        kind = rng.random()
        can_limit, can_stop = (True, True) if kind < 0.85 else (False, kind < 0.95)
        low, high = hw.power_range
        miners[miner_id] = MinerState(
            "Sim", miner_id, "F", hw, seed=miner_id, clock=clock, power_ramp=ramp, jitter=0.005
        )
        ctrl.join(
            miner_id,
            power_min=int(low) if can_limit else None,
            power_max=int(high) if can_limit else None,
            range_source="firmware" if can_limit else None,
            can_limit=can_limit,
            can_stop=can_stop,
            efficiency=nominal / hw.nominal_hashrate,
        )
    return miners


async def run(count: int, hours: float, poll: float, ramp: float) -> None:
    clock = Clock()
    config = GroupConfig(mode="surplus", min_change_interval=60, deadband_w=300)
    ctrl = PowerController("bench", config, clock)
    miners = build(count, clock, ramp, ctrl)
    full = sum(m.read().wattage for m in miners.values())
    rng = random.Random(7)
    writes = 0

    async def writer(write: Write) -> Outcome:
        nonlocal writes
        writes += 1
        state = miners[write.id]
        if write.power_limit is not None:
            state.set_power_limit(write.power_limit)
        if write.mining is not None:
            state.set_mining(write.mining)
        return Outcome(
            True, power_limit=None if state.power_limit is None else int(state.power_limit)
        )

    def drawn() -> float:
        return sum(m.read().wattage for m in miners.values())

    house = 0.05 * full
    sun = 0.0
    settle_times: list[float] = []
    unsettled: float | None = None
    over = cycles = 0
    cpu = 0.0
    end = clock.now + hours * 3600
    start_at = clock.now
    next_step = clock.now
    while clock.now < end:
        if clock.now >= next_step:
            sun = full * rng.uniform(0.2, 1.1)
            next_step += STEP
            if unsettled is not None:
                settle_times.append(STEP)  # never settled within the step
            unsettled = clock.now
        available = max(0.0, sun * rng.uniform(0.99, 1.01) - house)
        clock.now += poll
        export = available - drawn()
        polls = [(i, m.read().wattage, m.power_limit, m.mining) for i, m in miners.items()]
        began = time.perf_counter()  # the controller's own cost, not the physics'
        ctrl.surplus_reading(export)
        for miner_id, watts, limit, mining in polls:
            limit_w = None if limit is None else int(limit)
            ctrl.observe(miner_id, measured_w=watts, power_limit=limit_w, mining=mining)
        await run_cycle(ctrl, writer)
        cpu += time.perf_counter() - began
        cycles += 1
        now_drawn = drawn()
        if now_drawn > available + 300:
            over += 1
        close = now_drawn >= min(available, full) - 0.1 * full
        if unsettled is not None and now_drawn <= available + 300 and close:
            settle_times.append(clock.now - unsettled)
            unsettled = None
    elapsed_h = (clock.now - start_at) / 3600
    print(f"{count} miners, {hours:g} h simulated, poll {poll:g} s, power ramp {ramp:g} s")
    print(
        f"time to settle after a sun step: median {statistics.median(settle_times):.0f} s, "
        f"max {max(settle_times):.0f} s over {len(settle_times)} steps"
    )
    print(f"writes per miner per hour: {writes / count / elapsed_h:.2f}")
    print(f"cycles over the available power (+300 W): {100 * over / cycles:.1f} %")
    print(f"one control cycle (observe {count} + plan + state): {1000 * cpu / cycles:.2f} ms CPU")


async def steady(count: int, cycles: int) -> None:
    """The default group (mode off) with ``count`` online members, a sixth polled per cycle."""
    clock = Clock()
    ctrl = PowerController("all", GroupConfig(), clock)
    rng = random.Random(18)
    ids = [f"m{i:04d}" for i in range(count)]
    for i, miner_id in enumerate(ids):
        ctrl.join(
            miner_id,
            power_min=1000 if i % 3 else None,
            power_max=3500 if i % 3 else None,
            range_source="catalog" if i % 3 else None,
            can_limit=i % 3 != 0,
            can_stop=i % 5 != 0,
        )
        ctrl.observe(miner_id, measured_w=3000.0, power_limit=3200, mining=True)

    async def writer(write: Write) -> Outcome:
        return Outcome(True)

    await run_cycle(ctrl, writer)
    per_cycle = max(1, count // 6)
    polls, cycle_cpu = [], []
    for n in range(cycles):
        clock.now += 5.0
        batch = [ids[(n * per_cycle + k) % count] for k in range(per_cycle)]  # round the fleet
        began = time.perf_counter()
        for miner_id in batch:
            watts = 3000.0 + rng.uniform(-30, 30)
            ctrl.observe(miner_id, measured_w=watts, power_limit=3200, mining=True)
        observed = time.perf_counter()
        result = await run_cycle(ctrl, writer)
        _unchanging(result.state, ctrl)
        orjson.dumps({"groups": {"all": ctrl.snapshot()}}, option=orjson.OPT_SORT_KEYS)
        ended = time.perf_counter()
        polls.append((observed - began) / len(batch))
        cycle_cpu.append(ended - observed)
    print(f"default group, {count} members, mode off, {per_cycle} polls per cycle")
    print(
        "one cycle (plan + state + publish key + saved payload): "
        f"median {1000 * statistics.median(cycle_cpu):.3f} ms, least {1000 * min(cycle_cpu):.3f}"
    )
    print(f"one poll's observe: median {1e6 * statistics.median(polls):.2f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--miners", type=int, help="default 500; --steady: 5,000")
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--poll", type=float, default=10.0)
    parser.add_argument("--ramp", type=float, default=5.0)
    parser.add_argument("--steady", action="store_true", help="the default group at rest")
    parser.add_argument("--cycles", type=int, default=60)
    args = parser.parse_args()
    if args.steady:
        asyncio.run(steady(args.miners or 5000, args.cycles))
        return
    asyncio.run(run(args.miners or 500, args.hours, args.poll, args.ramp))


if __name__ == "__main__":
    main()
