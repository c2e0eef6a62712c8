"""Issue #19 item 7: memory stays bounded when miners answer more than max_response_bytes.

An aborted answer must not outlive its request: with the garbage collector off (the bridge
freezes start-up objects and full collections become rare), buffers kept alive only by
reference cycles through the raised exceptions would pile up poll after poll.  Two simulated
miners answer huge on every request (RPC and HTTP); the traced memory after many polls stays
within a few answers of where it started.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator

import pytest
from bridge_support import address_block

from asic_bridge import factory, settings
from asic_bridge.sim import load_kinds

HUGE = 2 * 1024 * 1024  # each answer; the cap below is half of it
POLLS = 25


@pytest.fixture
def no_gc() -> Iterator[None]:
    settings.update("max_response_bytes", HUGE // 2)
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        settings.reset()


@pytest.mark.parametrize("kinds", [("antminer_s19jpro", "whatsminer_m30s")])
async def test_huge_answers_do_not_accumulate(no_gc: None, kinds: tuple[str, ...]) -> None:
    addr = address_block()
    sims = [load_kinds()[kind](addr(i + 1)) for i, kind in enumerate(kinds)]
    miners = []
    for sim in sims:
        await sim.start()
        miner = await factory.get_miner(sim.address, ports=sim.ports, use_cache=False)
        assert miner is not None
        miners.append(miner)
        await sim.set_mode("huge", huge_size=HUGE)  # every server of the miner, from now on
    try:
        tracemalloc.start()
        for miner in miners:  # warm-up: lazily built clients, caches
            await miner.get_data()
        baseline = tracemalloc.get_traced_memory()[0]
        for _ in range(POLLS):
            for miner in miners:
                data = await miner.get_data()
                assert data.field_errors, "a huge answer must be an error, not data"
        growth = tracemalloc.get_traced_memory()[0] - baseline
        tracemalloc.stop()
        # without the fix: about POLLS x miners x (sources per poll) x cap, i.e. >50 MB
        assert growth < 3 * HUGE, f"{growth / 1e6:.1f} MB kept after {POLLS} polls"
    finally:
        for miner in miners:
            await miner.aclose()
        for sim in sims:
            await sim.stop()
