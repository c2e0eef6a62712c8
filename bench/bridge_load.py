"""The bridge under load: N simulated miners (separate process), mosquitto, poll every 10 s.

    .venv/bin/python bench/bridge_load.py [--miners 500] [--window 60]

Starts mosquitto on a free port, the simulated fleet in its own process, and ``asic-bridge
run`` as a subprocess.  After every miner has published its first state, it measures the
bridge process over ``--window`` seconds: CPU time per miner-poll (state publishes counted
on the broker) and resident memory.  Start-up (identification and discovery of every
miner) is reported apart: the window starts one poll interval after every miner published.
Targets: <= 1 ms CPU per miner-poll, <= 200 MB RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv/bin/python")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def addresses(n: int) -> list[str]:
    return [f"127.20.{i // 250}.{i % 250 + 1}" for i in range(n)]


async def main(args: argparse.Namespace) -> None:
    from asic_bridge.sim import list_kinds

    kinds = args.kinds.split(",") if args.kinds else [k[0] for k in list_kinds()]
    hosts = addresses(args.miners)
    specs = [f"{kinds[i % len(kinds)]}@{ip}" for i, ip in enumerate(hosts)]
    work = Path(tempfile.mkdtemp(prefix="asic_bench_"))
    port = free_port()
    (work / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "log_dest stderr\nlog_type error\nmax_queued_messages 100000\n"
    )
    (work / "bridge.yaml").write_text(
        "mqtt:\n"
        f"  url: mqtt://127.0.0.1:{port}\n"
        "  protocol: '3.1.1'\n"
        "miners:\n"
        f"  poll_interval: {args.poll_interval}\n"
        "  scan_interval: 0\n"
        f"  concurrency: {args.concurrency}\n"
        "  hosts:\n"
        + "".join(f"    - {ip}\n" for ip in hosts)
        + f"state_dir: {work / 'state'}\nlog_level: warning\n"
    )
    sim_code = (
        "import asyncio, sys\nfrom asic_bridge.sim import run_fleet\n"
        "asyncio.run(run_fleet(sys.argv[1:], announce=None))\n"
    )
    # Popen returns at once; these three start-ups are not on any hot path.
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen(["mosquitto", "-c", str(work / "mosquitto.conf")]))  # noqa: ASYNC220
        procs.append(subprocess.Popen([PYTHON, "-c", sim_code, *specs]))  # noqa: ASYNC220
        await asyncio.sleep(3)
        bridge = subprocess.Popen(  # noqa: ASYNC220
            [PYTHON, "-m", "asic_bridge", "run", "-c", str(work / "bridge.yaml")]
        )
        procs.append(bridge)
        seen: set[str] = set()
        publishes = 0
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.subscribe("asic_bridge/+")
            started = time.monotonic()
            settle_until: float | None = None
            window_start: float | None = None
            cpu_start = 0.0
            async for message in client.messages:
                miner_id = message.topic.value.split("/")[1]
                if miner_id == "bridge" or message.retain:
                    continue
                now = time.monotonic()
                if settle_until is None:
                    seen.add(miner_id)
                    if len(seen) >= args.miners or now - started > 240:
                        # Start-up (identification, discovery for every miner) is over once
                        # every miner has published; one more poll interval lets the last
                        # announcements finish, then the steady state is measured.
                        settle_until = now + args.poll_interval
                        startup_cpu = cpu_seconds(bridge.pid)
                        print(
                            f"{len(seen)} miners publishing after {now - started:.1f} s "
                            f"(start-up CPU {startup_cpu:.1f} s); settling "
                            f"{args.poll_interval:g} s, then measuring {args.window:g} s"
                        )
                    continue
                if window_start is None:
                    if now < settle_until:
                        continue
                    window_start, cpu_start = now, cpu_seconds(bridge.pid)
                publishes += 1
                if now - window_start >= args.window:
                    break
        cpu = cpu_seconds(bridge.pid) - cpu_start
        memory = rss_mb(bridge.pid)
        per_poll_ms = cpu / max(1, publishes) * 1000
        print(
            f"miners {args.miners}, poll interval {args.poll_interval:g} s, "
            f"window {args.window:g} s"
        )
        print(
            f"miner-polls published: {publishes} "
            f"({publishes / args.window:.1f}/s, expected ~{args.miners / args.poll_interval:.1f}/s)"
        )
        print(f"bridge CPU: {cpu:.2f} s = {per_poll_ms:.3f} ms per miner-poll (target <= 1 ms)")
        print(f"bridge RSS: {memory:.1f} MB (target <= 200 MB)")
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--miners", type=int, default=500)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--poll-interval", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--kinds", help="comma-separated simulator kinds (default: all)")
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(130)
