"""pyasic's side of bench/bridge_load.py: ``get_data()`` on every miner every interval.

Runs ONLY in the pyasic venv (``.venvs/pyasic/bin/python``), as its own process, so its CPU
time is its own.  Identification (``get_miner``) and one warm-up interval come first; then
every miner is read once per interval, spread over the interval like the bridge's polls,
for ``--window`` seconds.  Prints JSON: calls, failures and the process's user/system CPU
seconds over the window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from typing import Any


async def _poll(miner: Any, interval: float, stop_at: float, tally: dict[str, int]) -> None:
    await asyncio.sleep(random.uniform(0, interval))
    while time.monotonic() < stop_at:
        started = time.monotonic()
        try:
            await miner.get_data()
            tally["ok"] += 1
        except Exception:  # counted: a failed read costs CPU too
            tally["failed"] += 1
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


async def main(args: argparse.Namespace) -> None:
    import pyasic

    found = await asyncio.gather(*(pyasic.get_miner(ip) for ip in args.hosts))
    miners = [m for m in found if m is not None]
    warm = {"ok": 0, "failed": 0}
    await asyncio.gather(
        *(_poll(m, args.interval, time.monotonic() + args.interval, warm) for m in miners)
    )
    tally = {"ok": 0, "failed": 0}
    t0 = os.times()
    await asyncio.gather(
        *(_poll(m, args.interval, time.monotonic() + args.window, tally) for m in miners)
    )
    t1 = os.times()
    json.dump(
        {
            "identified": len(miners),
            "calls": tally["ok"] + tally["failed"],
            "failed": tally["failed"],
            "user": t1.user - t0.user,
            "sys": t1.system - t0.system,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("hosts", nargs="+")
    asyncio.run(main(parser.parse_args()))
