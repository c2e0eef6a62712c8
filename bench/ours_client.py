"""asic_bridge's side of the scan benchmark: scan a network, then get_data on every miner.

Prints JSON: wall and CPU time of each phase and what was found.  Run as its own process so
its CPU time is its own (the simulated miners live in another process); scan_bench.py takes
the whole process's CPU time from the kernel as well.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any


async def main(args: argparse.Namespace) -> None:
    from asic_bridge import MinerNetwork, settings
    from asic_bridge.drivers import load_families

    settings.update("network_ping_timeout", args.timeout)
    settings.update("factory_get_timeout", args.identify_timeout or args.timeout)
    if args.concurrency:
        settings.update("network_scan_threads", args.concurrency)
    # The driver modules and the model catalog before the phase clocks start, as
    # `import pyasic` does for pyasic; the wire libraries stay lazy (imported by the first
    # driver that needs them), and the benchmark's headline figure is the whole process's
    # CPU anyway, imports included.
    load_families()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    miners = await MinerNetwork.from_subnet(args.scan).scan()
    cpu1, wall1 = time.process_time(), time.perf_counter()
    if args.no_data:
        readings: list[Any] = [None] * len(miners)
    else:
        readings = await asyncio.gather(*(m.get_data() for m in miners), return_exceptions=True)
    cpu2, wall2 = time.process_time(), time.perf_counter()
    found = []
    for miner, data in zip(miners, readings, strict=True):
        ok = data is not None and not isinstance(data, BaseException)
        found.append(
            {
                "ip": miner.ip,
                "make": miner.identity.make,
                "model": miner.model,
                "firmware": miner.identity.firmware,
                "hashrate": None if not ok else data.hashrate,  # type: ignore[union-attr]
                "data_ok": ok and not data.field_errors,  # type: ignore[union-attr]
            }
        )
    json.dump(
        {
            "scan_wall": wall1 - wall0,
            "scan_cpu": cpu1 - cpu0,
            "data_wall": wall2 - wall1,
            "data_cpu": cpu2 - cpu1,
            "miners": found,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--scan", required=True)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--identify-timeout", type=float, help="default: --timeout")
    parser.add_argument("--no-data", action="store_true", help="scan only")
    parser.add_argument("--concurrency", type=int, help="probes at once (network_scan_threads)")
    asyncio.run(main(parser.parse_args()))
