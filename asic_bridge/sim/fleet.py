"""Start and stop many simulated miners in one process (tests, demo, benchmarks).

All specs are parsed before anything binds, so a typo fails fast and leaves no socket open.
Miners start concurrently and hold no timers, so 500 of them start in about a second and
idle at ~0 % CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterable

from .base import SimMiner, create

log = logging.getLogger("asic_bridge.sim")


async def start_fleet(specs: Iterable[str], *, power_ramp: float = 0.0) -> list[SimMiner]:
    """Create and start one miner per ``KIND@ADDRESS[:PORTOFFSET]``; all or none start.

    ``power_ramp``: seconds each miner's power takes to follow a new limit (0 = at once).
    """
    if not 0 <= power_ramp <= 3600:
        raise ValueError(f"power_ramp {power_ramp!r} must be 0-3600 seconds")
    sims = [create(spec) for spec in specs]
    for sim in sims:
        sim.state.power_ramp = power_ramp
    seen: dict[tuple[str, int], str] = {}
    for sim in sims:
        for port in sim.ports.values():
            key = (sim.address, port)
            if port and key in seen:
                raise ValueError(
                    f"{sim.kind}@{sim.address} and {seen[key]} both want port {port}; "
                    "give each miner its own address or a port offset"
                )
            seen[key] = f"{sim.kind}@{sim.address}"
    results = await asyncio.gather(*(sim.start() for sim in sims), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        await stop_fleet(sims)
        raise failures[0]
    return sims


async def stop_fleet(sims: Iterable[SimMiner]) -> None:
    await asyncio.gather(*(sim.stop() for sim in sims), return_exceptions=True)


async def run_fleet(
    specs: list[str],
    *,
    stop_event: asyncio.Event | None = None,
    announce: Callable[[str], None] | None = print,
    power_ramp: float = 0.0,
) -> None:
    """Serve ``specs`` until ``stop_event`` is set or SIGINT/SIGTERM arrives, then stop.

    ``announce`` receives one line per miner (kind, address, ports); default: print.
    """
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not main thread / Windows
            pass
    sims: list[SimMiner] = []
    try:
        sims = await start_fleet(specs, power_ramp=power_ramp)
        for sim in sims:
            line = sim.describe()
            log.info("sim listening: %s", line.replace("\t", " "))
            if announce is not None:
                announce(line)
        await stop.wait()
    finally:
        await stop_fleet(sims)
        for sig in installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
