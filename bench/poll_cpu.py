"""The library side of one bridge poll: CPU per ``get_data()`` per kind, in one process.

    isolated .venv/bin/python bench/poll_cpu.py [--per-kind 40] [--rounds 24] [--profile FILE]

What the bridge's poller does per miner-poll, without MQTT and the bridge's state: identify
each simulated miner once (``factory.get_miner``), then every round call
``get_data(include=...)`` with the fields the bridge's ``FieldPolicy`` asks for (a full poll
every ``FULL_POLL_EVERY``-th round, the cheaper set in between) and carry the slow fields
over, the miners of one kind polled together (``--concurrency`` at once).  The simulators are
bench/cheap_fleet.py's cached mode in another process, so the CPU measured here (this
process's user + system) is the client's alone: the drivers, the transports, MinerData and
the event loop under them.  Prints CPU per poll per kind and the fleet mix's weighted mean
(bench/bridge_5k.py's default mix), which is the library's share of the bridge's CPU per
miner-poll (target of the whole: <= 1 ms), split into "parse" (the same get_data with every
source answered from memory: parsers, coercion, MinerData) and "wire" (the rest: transports,
the event loop, the kernel's socket work).  Each figure is the least over the measured
cycles of ``FULL_POLL_EVERY`` rounds: on a shared machine the least is the figure other work
disturbed least.  Runs on uvloop, as ``asic-bridge run`` does (``--asyncio``: asyncio's
loop).  ``--profile FILE``: cProfile of the measured rounds.  ``--fresh-http``: every HTTP
request on a new connection, as the bridge sees them at 30 s polls (the miners' keep-alive
is shorter: 15 s in the simulators, ~5 s on real lighttpd).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PYTHON = str(ROOT / ".venv/bin/python")

from bench.bridge_5k import DEFAULT_KINDS  # noqa: E402
from bench.machine import describe  # noqa: E402


def parse_kinds(kinds: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in kinds.split(","):
        name, _, weight = part.partition("=")
        out[name.strip()] = int(weight or 1)
    return out


@contextlib.asynccontextmanager
async def cached_fleet(specs: list[str]) -> AsyncIterator[None]:
    """bench/cheap_fleet.py serving ``specs`` (``KIND@ADDRESS``) in another process, answers
    cached for an hour, until the block ends."""
    with tempfile.TemporaryDirectory() as tmp:
        specfile = Path(tmp) / "fleet.txt"
        specfile.write_text("\n".join(specs) + "\n")
        sim = subprocess.Popen(  # noqa: ASYNC220
            [PYTHON, str(ROOT / "bench/cheap_fleet.py"), "--ttl", "3600", str(specfile)],
            stdout=subprocess.PIPE,
        )
        try:
            assert sim.stdout is not None
            line = await asyncio.to_thread(sim.stdout.readline)
            if not line.startswith(b"ready"):
                raise SystemExit(f"the simulator process failed to start: {line!r}")
            yield
        finally:
            sim.terminate()
            sim.wait()


async def run(args: argparse.Namespace) -> int:
    from asic_bridge import factory
    from asic_bridge.bridge.poller import FULL_POLL_EVERY, FieldPolicy
    from asic_bridge.drivers import load_families

    load_families()
    if args.fresh_http:
        fresh_http_connections()
    weights = parse_kinds(args.kinds)
    hosts: dict[str, list[str]] = {}
    specs = []
    n = 0
    for kind in weights:
        for _ in range(args.per_kind):
            ip = f"127.21.{n // 250}.{n % 250 + 1}"
            n += 1
            hosts.setdefault(kind, []).append(ip)
            specs.append(f"{kind}@{ip}")
    async with cached_fleet(specs):
        await measure(args, hosts, weights, factory, FieldPolicy, FULL_POLL_EVERY)
    return 0


def fresh_http_connections() -> None:
    """No HTTP connection is kept for the next poll (keep-alive expiry 0)."""
    from asic_bridge.transport import wire

    init = wire.MinerTransport.__init__

    def no_keepalive(self: Any, **options: Any) -> None:
        init(self, **{**options, "keepalive_expiry": 0.0})

    wire.MinerTransport.__init__ = no_keepalive  # type: ignore[method-assign]


async def measure(
    args: argparse.Namespace,
    hosts: dict[str, list[str]],
    weights: dict[str, int],
    factory: Any,
    policy_type: Any,
    cycle: int,
) -> None:
    miners: dict[str, list[Any]] = {}
    for kind, ips in hosts.items():
        found = await asyncio.gather(*(factory.get_miner(ip) for ip in ips))
        if any(m is None for m in found):
            raise SystemExit(f"{kind}: not every miner was identified")
        miners[kind] = found
    policies = {id(m): policy_type() for ms in miners.values() for m in ms}
    if not args.default_gc:  # as the daemon runs: its thresholds, start-up's objects frozen
        from asic_bridge.bridge.app import GC_THRESHOLDS

        gc.set_threshold(*GC_THRESHOLDS)
        gc.collect()
        gc.freeze()
    gc_cpu = [0.0, 0.0]

    def gc_timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_cpu[1] = time.process_time()
        else:
            gc_cpu[0] += time.process_time() - gc_cpu[1]

    gc.callbacks.append(gc_timed)
    semaphore = asyncio.Semaphore(args.concurrency)
    errors: dict[str, set[str]] = {}

    async def poll(kind: str, miner: Any) -> None:
        policy = policies[id(miner)]
        async with semaphore:
            fields = policy.fields(miner, True)
            data = await miner.get_data(include=fields)
        policy.carry(data, fields)
        if data.field_errors:
            errors.setdefault(kind, set()).update(data.field_errors)

    # CPU per kind per cycle of FULL_POLL_EVERY rounds (one full poll and the cheaper ones):
    # the least of the cycles is reported, the figure least disturbed by other work
    cycles = max(1, args.rounds // cycle)
    cpu: dict[str, list[float]] = {kind: [0.0] * cycles for kind in miners}
    times0 = os.times()
    profile = cProfile.Profile(time.process_time) if args.profile else None
    for round_ in range(args.warmup + cycles * cycle):
        measured = round_ >= args.warmup
        for kind, ms in miners.items():
            if measured and profile is not None:
                profile.enable()
            started = time.process_time()
            await asyncio.gather(*(poll(kind, m) for m in ms))
            if measured:
                cpu[kind][(round_ - args.warmup) // cycle] += time.process_time() - started
            if profile is not None:
                profile.disable()
    times1 = os.times()
    gc.callbacks.remove(gc_timed)
    user, system = times1.user - times0.user, times1.system - times0.system
    if profile is not None:
        profile.dump_stats(args.profile)
    parse = await parse_only(args, miners, policy_type)
    polls = cycle * args.per_kind
    least = {kind: min(cycles_cpu) for kind, cycles_cpu in cpu.items()}
    print(f"{'kind':<18} {'ms/poll':>8} {'parse':>7} {'wire':>7}  field errors")
    for kind in miners:
        total = least[kind] / polls * 1000
        print(
            f"{kind:<18} {total:8.3f} {parse[kind]:7.3f} {total - parse[kind]:7.3f}"
            f"  {sorted(errors.get(kind, ()))}"
        )
    total_w = sum(weights[k] for k in miners)
    mean = sum(least[k] / polls * weights[k] for k in miners) / total_w
    mean_parse = sum(parse[k] * weights[k] for k in miners) / total_w
    print(
        f"{'fleet mix':<18} {mean * 1000:8.3f} {mean_parse:7.3f} {mean * 1000 - mean_parse:7.3f}"
        "  ms per poll, weighted (library side)"
    )
    print(
        f"user {user / (user + system):.0%} / system {system / (user + system):.0%} of the CPU,"
        f" garbage collection {gc_cpu[0] / (user + system):.1%}"
    )


async def parse_only(
    args: argparse.Namespace, miners: dict[str, list[Any]], policy_type: Any
) -> dict[str, float]:
    """ms per poll of ``get_data`` with every source answered from memory (the last poll's
    payloads): parsing, coercion and MinerData alone; the rest of a poll is the wire."""
    out: dict[str, float] = {}
    for kind, ms in miners.items():
        miner = ms[0]
        policy = policy_type()
        recorded: dict[frozenset[str], dict[str, Any]] = {}
        real = miner._fetch_sources

        async def record(sources: Any, real: Any = real, recorded: Any = recorded) -> Any:
            raw = await real(sources)
            recorded[frozenset(sources)] = raw
            return raw

        fields_seen = []
        miner._fetch_sources = record
        for _ in range(6):  # a full poll and the cheaper ones
            fields = policy.fields(miner, True)
            fields_seen.append(fields)
            policy.carry(await miner.get_data(include=fields), fields)

        async def replay(sources: Any, recorded: Any = recorded) -> Any:
            return recorded[frozenset(sources)]

        miner._fetch_sources = replay
        rounds = max(1, args.per_kind)
        best = float("inf")
        for _ in range(max(1, args.rounds // 6)):
            started = time.process_time()
            for _ in range(rounds):
                for fields in fields_seen:
                    policy.carry(await miner.get_data(include=fields), fields)
            best = min(best, time.process_time() - started)
        out[kind] = best / (rounds * 6) * 1000
        del miner._fetch_sources
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kinds", default=DEFAULT_KINDS, help="kind=weight,...")
    parser.add_argument("--per-kind", type=int, default=40, help="miners of each kind")
    parser.add_argument(
        "--rounds",
        type=int,
        default=24,
        help="measured polls per miner, in cycles of FULL_POLL_EVERY; the least cycle counts",
    )
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured polls first")
    parser.add_argument("--concurrency", type=int, default=64, help="polls at once")
    parser.add_argument("--profile", help="cProfile of the measured rounds to this file")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="Python's GC thresholds (default: the daemon's, app.GC_THRESHOLDS, and gc.freeze)",
    )
    parser.add_argument(
        "--fresh-http",
        action="store_true",
        help="a new connection for every HTTP request (the bridge's case at 30 s polls)",
    )
    parser.add_argument(
        "--asyncio", action="store_true", help="asyncio's own loop (asic-bridge run uses uvloop)"
    )
    args = parser.parse_args()
    print(describe())
    if args.asyncio:
        asyncio.run(run(args))
    else:
        import uvloop

        uvloop.run(run(args))


if __name__ == "__main__":
    main()
