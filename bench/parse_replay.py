"""The parse share of a poll, replayed: ``get_data`` on recorded payloads, no wire, no loop.

    isolated .venv/bin/python bench/parse_replay.py record FILE [--kinds all|k1,k2]
    .venv/bin/python bench/parse_replay.py time FILE [--loops 2000] [--repeat 5]
    .venv/bin/python bench/parse_replay.py dump FILE OUT.json

``record`` polls one simulated miner per kind (bench/cheap_fleet.py) through a cycle of
the bridge's field sets (a full poll and the cheaper ones, as bench/poll_cpu.py's parse
share does) and pickles each miner's identity and the payloads every poll's sources got.
``time`` rebuilds each miner from the file and runs the same ``get_data`` calls on those
payloads, the coroutine driven by hand (it never suspends: nothing is awaited), so what is
timed is the drivers' field machinery, the parsers, coercion and MinerData alone: the
figure to A/B a parsing change with, steady on a busy machine (the least of ``--repeat``
runs, CPU time).  ``dump`` writes every result (every field, its Python type, the field
errors) as JSON, so two versions of the package can be proved to give the same readings.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import pickle
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bridge_5k import DEFAULT_KINDS  # noqa: E402
from bench.poll_cpu import cached_fleet, parse_kinds  # noqa: E402

CYCLE = 6  # polls recorded per kind: the full one and the cheaper ones after it


async def record(args: argparse.Namespace) -> list[dict[str, Any]]:
    from asic_bridge import factory
    from asic_bridge.bridge.poller import FieldPolicy
    from asic_bridge.drivers import load_families
    from asic_bridge.sim import KINDS

    load_families()
    kinds = sorted(KINDS) if args.kinds == "all" else list(parse_kinds(args.kinds))
    specs = [f"{kind}@127.22.0.{n + 1}" for n, kind in enumerate(kinds)]
    out: list[dict[str, Any]] = []
    async with cached_fleet(specs):
        for kind, spec in zip(kinds, specs, strict=True):
            miner = await factory.get_miner(spec.partition("@")[2])
            if miner is None:
                print(f"{kind}: not identified, left out", file=sys.stderr)
                continue
            policy = FieldPolicy()
            polls: list[tuple[list[str], dict[str, Any]]] = []
            real = miner._fetch_sources
            for _ in range(CYCLE):
                fields = policy.fields(miner, True)
                seen: dict[str, Any] = {}

                async def keep(sources: Any, real: Any = real, seen: Any = seen) -> Any:
                    raw = await real(sources)
                    seen.update(raw)
                    return raw

                miner._fetch_sources = keep  # type: ignore[method-assign]
                policy.carry(await miner.get_data(include=fields), fields)
                polls.append((fields, dict(seen)))
            del miner._fetch_sources
            cls = type(miner)
            out.append(
                {
                    "kind": kind,
                    "cls": (cls.__module__, cls.__qualname__),
                    "ip": miner.ip,
                    "identity": miner.identity,
                    "polls": polls,
                }
            )
            await miner.aclose()
    return out


def rebuilt(entry: dict[str, Any]) -> Any:
    """The recorded miner again, its sources answered from the recording."""
    from asic_bridge.drivers import load_families

    load_families()
    module, name = entry["cls"]
    miner = getattr(importlib.import_module(module), name)(entry["ip"], identity=entry["identity"])
    return miner


def run_sync(coro: Any) -> Any:
    """Run a coroutine that never suspends (every source is in memory) without a loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("get_data suspended: a source was not recorded")


def polls_of(entry: dict[str, Any]) -> tuple[Any, list[tuple[list[str], Any]]]:
    miner = rebuilt(entry)
    calls = []
    for fields, raw in entry["polls"]:

        async def replay(sources: Any, raw: Any = raw) -> Any:
            return {s: raw[s] for s in sources}

        calls.append((fields, replay))
    return miner, calls


def timing(args: argparse.Namespace) -> None:
    entries = pickle.loads(Path(args.file).read_bytes())
    weights = parse_kinds(DEFAULT_KINDS)
    per_kind: dict[str, float] = {}
    only = None if args.kinds == "all" else set(parse_kinds(args.kinds))
    for entry in entries:
        if only is not None and entry["kind"] not in only:
            continue
        miner, calls = polls_of(entry)
        best = float("inf")
        for _ in range(args.repeat):
            started = time.process_time()
            for _ in range(args.loops):
                for fields, replay in calls:
                    miner._fetch_sources = replay
                    run_sync(miner.get_data(include=fields))
            best = min(best, time.process_time() - started)
        per_kind[entry["kind"]] = best / (args.loops * len(calls)) * 1e6
        print(f"{entry['kind']:<22} {per_kind[entry['kind']]:8.1f} us/get_data")
    mix = {k: w for k, w in weights.items() if k in per_kind}
    if mix:
        mean = sum(per_kind[k] * w for k, w in mix.items()) / sum(mix.values())
        print(f"{'fleet mix':<22} {mean:8.1f} us/get_data (bridge_5k's weights)")


def typed(value: Any) -> Any:
    """``value`` with every node's exact type beside it (so an int for a float shows)."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        fields = {k: typed(getattr(value, k)) for k in type(value).model_fields}
        return [type(value).__name__, fields]
    if isinstance(value, dict):
        return ["dict", {str(k): typed(v) for k, v in value.items()}]
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [typed(v) for v in value]]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return [type(value).__name__, value]
    return [type(value).__name__, repr(value)]


def dump(args: argparse.Namespace) -> None:
    entries = pickle.loads(Path(args.file).read_bytes())
    out: dict[str, Any] = {}
    for entry in entries:
        miner, calls = polls_of(entry)
        results = []
        for fields, replay in calls:
            miner._fetch_sources = replay
            data = run_sync(miner.get_data(include=fields))
            node = typed(data)
            node[1].pop("datetime")
            results.append(node)
        out[entry["kind"]] = results
    Path(args.out).write_text(json.dumps(out, indent=1, sort_keys=True))
    print(f"{len(out)} kinds dumped to {args.out}")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("file")
    rec.add_argument("--kinds", default="all", help="'all' or kind[=weight],...")
    tim = sub.add_parser("time")
    tim.add_argument("file")
    tim.add_argument("--loops", type=int, default=2000)
    tim.add_argument("--repeat", type=int, default=5)
    tim.add_argument("--kinds", default=DEFAULT_KINDS, help="'all' or kind[=weight],...")
    dmp = sub.add_parser("dump")
    dmp.add_argument("file")
    dmp.add_argument("out")
    args = parser.parse_args()
    if args.command == "record":
        out = asyncio.run(record(args))
        Path(args.file).write_bytes(pickle.dumps(out))
        print(f"{len(out)} kinds recorded to {args.file}")
    elif args.command == "time":
        timing(args)
    else:
        dump(args)


if __name__ == "__main__":
    main()
