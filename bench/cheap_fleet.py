"""One simulator process of a large benchmark fleet: the real simulators, answers cached.

    .venv/bin/python bench/cheap_fleet.py [--ttl 120] SPECFILE

SPECFILE holds one ``KIND@ADDRESS`` per line.  The miners are the package's own simulators
(``asic_bridge.sim``), so every byte on the wire is what the real kinds send: the same
listeners, framing, digest challenges, keep-alive and closes.  What is cheap: an RPC answer
(``RpcServer.answer``, encoded) and an HTTP GET handler's 2xx reply are kept per server and
request and served again until the miner changes or ``--ttl`` seconds pass; building the
readings and their JSON is most of a simulator's CPU, and 5,000 miners on two cores cannot
pay it on every poll beside the bridge being measured.

A miner "changes" when any attribute of its SimMiner is set, or a public attribute of its
MinerState (``fault_light``, ``power_limit``, ``mining`` ...): each set bumps a generation
that is part of every cache key, and an answer during which the generation moved (a write)
is never kept.  Encrypted Whatsminer writes, gRPC, SSH and HTTP guards (digest, tokens)
always run for real.  Readings freeze for up to ``--ttl`` seconds; the bridge still parses
and publishes every poll in full.

Prints ``ready <n>`` once every miner listens, and on SIGTERM one JSON line with the cache's
hits and misses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asic_bridge.sim import MinerState, SimMiner, run_fleet  # noqa: E402
from asic_bridge.sim.http_server import HttpServer, Request  # noqa: E402
from asic_bridge.sim.rpc_server import Parsed, RpcReply, RpcServer  # noqa: E402

STATS = {"hits": 0, "misses": 0, "uncacheable": 0}


def _bump_on_set(cls: type[Any], *, private_too: bool) -> None:
    """Make every attribute set on ``cls`` instances bump their ``_gen`` (dataclass or not)."""
    base_setattr = cls.__setattr__

    def setattr_counting(self: Any, name: str, value: Any) -> None:
        base_setattr(self, name, value)
        if name != "_gen" and (private_too or not name.startswith("_")):
            object.__setattr__(self, "_gen", self.__dict__.get("_gen", 0) + 1)

    cls.__setattr__ = setattr_counting  # type: ignore[method-assign]


def generation(sim: SimMiner | None) -> tuple[int, int]:
    if sim is None:
        return (0, 0)
    return (sim.__dict__.get("_gen", 0), sim.state.__dict__.get("_gen", 0))


class Cache:
    """Answers of one process's servers, by server and request; hit, or build and maybe keep."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.kept: dict[tuple[int, Any], tuple[float, Any]] = {}

    def get(self, server: object, key: Any) -> Any:
        hit = self.kept.get((id(server), key))
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            STATS["hits"] += 1
            return hit[1]
        return None

    def put(self, server: object, key: Any, result: Any, keep: bool) -> Any:
        """Keep ``result`` when ``keep`` (the miner did not change while answering)."""
        STATS["misses" if keep else "uncacheable"] += 1
        if keep:
            self.kept[(id(server), key)] = (time.monotonic(), result)
        return result


def install(ttl: float) -> None:
    """Patch the servers of this process (benchmarks only; the package is untouched)."""
    _bump_on_set(MinerState, private_too=False)  # read() moves private counters
    _bump_on_set(SimMiner, private_too=True)  # sessions, tokens' owners, LED state ...
    cache = Cache(ttl)
    answer = RpcServer.answer
    dispatch = HttpServer.dispatch

    def cached_answer(self: RpcServer, parsed: Parsed) -> RpcReply:
        if isinstance(parsed, dict):  # an error reply, already built
            return answer(self, parsed)
        sim: SimMiner | None = getattr(self, "bench_sim", None)
        before = generation(sim)
        key = (parsed[0], parsed[1], before)
        hit = cache.get(self, key)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        result = self.encode(answer(self, parsed))  # bytes: serve() sends them as they are
        return cache.put(self, key, result, generation(sim) == before)  # type: ignore[no-any-return]

    async def cached_dispatch(self: HttpServer, request: Request) -> Any:
        route, _ = self._find(request.method, request.path)
        if request.method != "GET" or route is None:
            return await dispatch(self, request)
        guard = route.guard or self.guard
        if guard is not None and not route.public:
            refusal = guard(request)  # the real check (digest, token) on every request
            if refusal is not None:
                return refusal
        sim: SimMiner | None = getattr(self, "bench_sim", None)
        before = generation(sim)
        key = (request.target, before)
        hit = cache.get(self, key)
        if hit is not None:
            return hit
        result = await route.handler(request)
        return cache.put(self, key, result, 200 <= result[0] < 300 and generation(sim) == before)

    RpcServer.answer = cached_answer  # type: ignore[method-assign]
    HttpServer.dispatch = cached_dispatch  # type: ignore[method-assign]


async def serve(specs: list[str]) -> None:
    from asic_bridge.sim import fleet

    start_fleet = fleet.start_fleet

    async def start_and_tag(specs: Any, **kwargs: Any) -> list[SimMiner]:
        sims = await start_fleet(specs, **kwargs)
        for sim in sims:
            for server in sim.servers.values():
                server.bench_sim = sim  # type: ignore[attr-defined]
        print(f"ready {len(sims)}", flush=True)
        return sims

    fleet.start_fleet = start_and_tag  # type: ignore[assignment]
    await run_fleet(specs, announce=None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ttl", type=float, default=120.0)
    parser.add_argument("specfile", type=Path)
    args = parser.parse_args()
    specs = [line.strip() for line in args.specfile.read_text().splitlines() if line.strip()]
    install(args.ttl)
    try:
        asyncio.run(serve(specs))
    finally:
        print(json.dumps(STATS), flush=True)


if __name__ == "__main__":
    main()
