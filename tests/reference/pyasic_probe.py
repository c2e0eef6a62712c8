"""Read miners with pyasic and print what it saw as JSON (one object per host).

Runs ONLY inside the separate pyasic venv (``.venvs/pyasic/bin/python``); the package never
imports pyasic.  The comparison tests and benchmarks start this as a subprocess and compare
its view of a simulated miner with asic_bridge's.

Usage: pyasic_probe.py [--timeout S] [--no-data] [--exclude FIELD ...] IP [IP ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _summarise(ip: str, miner: Any, data: Any, error: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"ip": ip, "found": miner is not None, "error": error}
    if miner is None:
        return out
    out.update(
        cls=type(miner).__name__,
        make=str(miner.make) if miner.make else None,
        model=str(miner.raw_model) if getattr(miner, "raw_model", None) else None,
        firmware=str(miner.firmware) if miner.firmware else None,
    )
    if data is None:
        return out
    out.update(
        model=data.model or out["model"],
        mac=data.mac,
        hostname=data.hostname,
        serial_number=data.serial_number,
        fw_ver=data.fw_ver,
        api_ver=data.api_ver,
        hashrate=_num(data.hashrate),
        expected_hashrate=_num(data.expected_hashrate),
        wattage=data.wattage,
        wattage_limit=data.wattage_limit,
        fans=[f.speed for f in data.fans],
        hashboards=[
            {
                "slot": b.slot,
                "hashrate": _num(b.hashrate),
                "temp": b.temp,
                "chip_temp": b.chip_temp,
                "chips": b.chips,
                "serial_number": b.serial_number,
            }
            for b in data.hashboards
        ],
        pools=[
            {
                "url": str(p.url) if p.url else None,
                "user": p.user,
                "accepted": p.accepted,
                "rejected": p.rejected,
                "active": p.active,
                "alive": p.alive,
            }
            for p in data.pools
        ],
        is_mining=data.is_mining,
        fault_light=data.fault_light,
        uptime=data.uptime,
        errors=[getattr(e, "error_message", str(e)) for e in data.errors],
    )
    return out


async def _one(ip: str, want_data: bool, exclude: list[str] | None = None) -> dict[str, Any]:
    import pyasic

    miner = data = None
    error = None
    try:
        miner = await pyasic.get_miner(ip)
        if miner is not None and want_data:
            data = await miner.get_data(exclude=exclude or None)
    except Exception as exc:  # report, do not crash: the caller compares
        error = f"{type(exc).__name__}: {exc}"
    return _summarise(ip, miner, data, error)


async def _scan(args: argparse.Namespace) -> None:
    """Benchmark mode: scan a subnet, then get_data on every miner, timing both phases."""
    from pyasic import MinerNetwork

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
                "make": str(miner.make) if miner.make else None,
                "model": str(miner.raw_model) if miner.raw_model else None,
                "firmware": str(miner.firmware) if miner.firmware else None,
                "hashrate": _num(data.hashrate) if ok else None,
                "data_ok": ok,
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


async def _main(args: argparse.Namespace) -> None:
    from pyasic import settings

    settings.update("factory_get_timeout", args.identify_timeout or args.timeout)
    settings.update("network_ping_timeout", args.timeout)
    if args.concurrency:
        settings.update("network_scan_semaphore", args.concurrency)
    if args.scan:
        await _scan(args)
        return
    started = time.perf_counter()
    results = await asyncio.gather(*(_one(ip, not args.no_data, args.exclude) for ip in args.hosts))
    json.dump({"elapsed": time.perf_counter() - started, "miners": results}, sys.stdout)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--identify-timeout", type=float, help="default: --timeout")
    parser.add_argument("--no-data", action="store_true")
    parser.add_argument(
        "--exclude", action="append", default=[], help="a DataOptions name pyasic skips"
    )
    parser.add_argument("--scan", help="benchmark mode: scan this subnet")
    parser.add_argument("--concurrency", type=int, help="scan: network_scan_semaphore")
    parser.add_argument("hosts", nargs="*")
    asyncio.run(_main(parser.parse_args()))
