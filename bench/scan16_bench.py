"""A /16 scan (65,536 addresses), asic_bridge vs pyasic, in a private network namespace.

    sudo .venv/bin/python bench/scan16_bench.py [--timeout 1] [--concurrency 1000]

Re-executes itself under ``unshare -n`` (root needed) and routes 10.98.0.0/16 to ``lo``.
The first quarter (10.98.0.0/18) refuses connections and holds the simulated miners (the
first ``--per-block`` addresses of each of its 64 /24s, every simulator kind in turn); the
other three quarters are silent (iptables DROP: connections time out, like absent hosts on a
LAN).  Each client scans the whole /16 once, scan only, as its own process with the same
probe timeout (``network_ping_timeout``; an answering host gets ``--identify`` seconds to be
identified, ``factory_get_timeout``, as simulators on a saturated 2-core machine answer
late) and the same number of probes at once (``network_scan_threads`` for us,
``network_scan_semaphore`` for pyasic, whose default is no bound at all).  Printed: wall
time (target <= 120 s; 49,152 silent hosts at 1 s and 1,000 probes at once take >= 49 s),
whole-process CPU and peak RSS, and the found set of each against the simulated truth.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NET = "10.98"
SILENT = (f"{NET}.64.0/18", f"{NET}.128.0/17")


def _setup_network() -> None:
    commands = [
        ["ip", "link", "set", "lo", "up"],
        ["ip", "route", "add", "local", f"{NET}.0.0/16", "dev", "lo"],
    ]
    commands += [["iptables", "-A", "INPUT", "-d", cidr, "-j", "DROP"] for cidr in SILENT]
    for cmd in commands:
        subprocess.run(cmd, check=True)


async def _scan(name: str, cmd: list[str]) -> dict[str, Any]:
    from bench.scan_bench import run_process

    print(f"{name}: scanning {NET}.0.0/16 ...", flush=True)
    started = time.perf_counter()
    result, usage = await asyncio.to_thread(run_process, cmd)
    return {
        "wall": time.perf_counter() - started,
        "scan_wall": result["scan_wall"],
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "found": {m["ip"] for m in result["miners"]},
    }


async def _bench(args: argparse.Namespace) -> None:
    from asic_bridge.sim import list_kinds, start_fleet, stop_fleet
    from bench.machine import describe, load_average

    print(describe(asic_bridge=sys.executable, pyasic=str(ROOT / ".venvs/pyasic/bin/python")))
    kinds = [k[0] for k in list_kinds()]
    addresses = [f"{NET}.{block}.{i + 1}" for block in range(64) for i in range(args.per_block)]
    specs = [f"{kinds[i % len(kinds)]}@{ip}" for i, ip in enumerate(addresses)]
    sims = await start_fleet(specs)
    truth = {sim.address for sim in sims}
    print(
        f"network {NET}.0.0/16: {len(sims)} simulated miners ({len(kinds)} kinds) in "
        f"{NET}.0.0/18 (the rest of it refuses), {' + '.join(SILENT)} silent (DROP); "
        f"probe timeout {args.timeout:g} s (identification {args.identify:g} s), "
        f"{args.concurrency} probes at once"
    )
    common = ["--scan", f"{NET}.0.0/16", "--timeout", str(args.timeout), "--no-data"]
    common += ["--concurrency", str(args.concurrency), "--identify-timeout", str(args.identify)]
    rows: dict[str, dict[str, Any]] = {}
    try:
        rows["asic_bridge"] = await _scan(
            "asic_bridge",
            [sys.executable, str(ROOT / "bench/ours_client.py"), *common],
        )
        rows["pyasic"] = await _scan(
            "pyasic",
            [
                str(ROOT / ".venvs/pyasic/bin/python"),
                str(ROOT / "tests/reference/pyasic_probe.py"),
                *common,
            ],
        )
    finally:
        await stop_fleet(sims)
    print(f"load average (1/5/15 min) after: {load_average()}")
    print(f"\n{'':26}{'asic_bridge':>14}{'pyasic':>14}")
    ours, theirs = rows["asic_bridge"], rows["pyasic"]
    for label, key, fmt in (
        ("scan wall (s)", "scan_wall", "{:.1f}"),
        ("process wall (s)", "wall", "{:.1f}"),
        ("process CPU (s)", "cpu", "{:.2f}"),
        ("peak RSS (MB)", "rss_mb", "{:.0f}"),
    ):
        print(f"{label:26}{fmt.format(ours[key]):>14}{fmt.format(theirs[key]):>14}")
    for name, row in rows.items():
        found = row["found"]
        print(
            f"{name}: found {len(found)} of {len(truth)} miners, "
            f"{len(found - truth)} not simulated, missed: {sorted(truth - found)[:10]}"
        )
    print(f"found by asic_bridge only: {sorted(ours['found'] - theirs['found'])[:10]}")
    print(f"found by pyasic only: {sorted(theirs['found'] - ours['found'])[:10]}")
    print(f"asic_bridge scan wall {ours['scan_wall']:.1f} s (target <= 120 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument(
        "--identify", type=float, default=5.0, help="identification timeout of a host that answers"
    )
    parser.add_argument("--per-block", type=int, default=5, help="miners per /24 of the /18")
    args = parser.parse_args()
    if not 1 <= args.per_block <= 250:
        sys.exit("--per-block must be 1-250")
    if os.environ.get("ASIC_BENCH_NETNS") != "1":
        if os.geteuid() != 0:
            sys.exit("scan16_bench needs root (unshare -n, iptables)")
        env = {**os.environ, "ASIC_BENCH_NETNS": "1"}
        os.execvpe("unshare", ["unshare", "-n", sys.executable, __file__, *sys.argv[1:]], env)
    # a probe holds several sockets: 1,000 at once need more than the usual 1,024 descriptors
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    _setup_network()
    asyncio.run(_bench(args))


if __name__ == "__main__":
    main()
