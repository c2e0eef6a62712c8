"""The bridge under load against pyasic on the same simulators, side by side in one run.

    .venv/bin/python bench/bridge_load.py [--miners 500] [--window 60]

Starts mosquitto on a free port, the simulated fleet in its own process, and ``asic-bridge
run`` as a subprocess.  After every miner has published its first state and one more poll
interval, it measures the bridge process over ``--window`` seconds: CPU time (user + system)
per miner-poll (state publishes counted on the broker), resident memory, and apart from it
the simulators' and mosquitto's CPU.  Start-up (identification, discovery) is reported
apart.  Then the bridge stops and pyasic (``.venvs/pyasic``, its own process,
bench/pyasic_poll.py) reads the same simulators at the same rate for the same window: its
CPU per ``get_data()``.  The ratio of the two is the figure that travels between machines;
the absolute one depends on the CPU and, for the system part, on the kernel's syscall cost.
Targets: a miner-poll incl. the MQTT publish <= 0.25x pyasic's ``get_data()``, <= 1 ms,
<= 200 MB RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PYTHON = str(ROOT / ".venv/bin/python")
PYASIC = str(ROOT / ".venvs/pyasic/bin/python")

from bench.machine import Cpu, cpu_of, describe, load_average, rss_mb  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def addresses(n: int) -> list[str]:
    return [f"127.20.{i // 250}.{i % 250 + 1}" for i in range(n)]


def write_configs(
    work: Path,
    port: int,
    hosts: list[str],
    *,
    poll_interval: float,
    concurrency: int,
    mosquitto_extra: str = "",
    mqtt_extra: str = "",
) -> None:
    """``work/mosquitto.conf`` (one local listener) and ``work/bridge.yaml`` polling ``hosts``."""
    (work / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "log_dest stderr\nlog_type error\nmax_queued_messages 100000\n" + mosquitto_extra
    )
    (work / "bridge.yaml").write_text(
        "mqtt:\n"
        f"  url: mqtt://127.0.0.1:{port}\n"
        "  protocol: '3.1.1'\n" + mqtt_extra + "miners:\n"
        f"  poll_interval: {poll_interval}\n"
        "  scan_interval: 0\n"
        f"  concurrency: {concurrency}\n"
        "  hosts:\n"
        + "".join(f"    - {ip}\n" for ip in hosts)
        + f"state_dir: {work / 'state'}\nlog_level: warning\n"
    )


async def main(args: argparse.Namespace) -> None:
    from asic_bridge.sim import list_kinds

    print(describe(asic_bridge=PYTHON, pyasic=PYASIC))
    kinds = args.kinds.split(",") if args.kinds else [k[0] for k in list_kinds()]
    hosts = addresses(args.miners)
    specs = [f"{kinds[i % len(kinds)]}@{ip}" for i, ip in enumerate(hosts)]
    work = Path(tempfile.mkdtemp(prefix="asic_bench_"))
    port = free_port()
    write_configs(work, port, hosts, poll_interval=args.poll_interval, concurrency=args.concurrency)
    sim_code = (
        "import asyncio, sys\nfrom asic_bridge.sim import run_fleet\n"
        "asyncio.run(run_fleet(sys.argv[1:], announce=None))\n"
    )
    # Popen returns at once; these start-ups are not on any hot path.
    procs: list[subprocess.Popen[bytes]] = []
    try:
        broker = subprocess.Popen(["mosquitto", "-c", str(work / "mosquitto.conf")])  # noqa: ASYNC220
        procs.append(broker)
        sim = subprocess.Popen([PYTHON, "-c", sim_code, *specs])  # noqa: ASYNC220
        procs.append(sim)
        await asyncio.sleep(3)
        bridge = subprocess.Popen(  # noqa: ASYNC220
            [PYTHON, "-m", "asic_bridge", "run", "-c", str(work / "bridge.yaml")]
        )
        procs.append(bridge)
        ours = await _measure_bridge(args, port, bridge.pid, sim.pid, broker.pid)
        _stop(bridge)
        theirs = await _measure_pyasic(args, hosts, sim.pid)
    finally:
        for proc in reversed(procs):
            _stop(proc)
    _report(args, ours, theirs)


async def _measure_bridge(
    args: argparse.Namespace, port: int, pid: int, sim_pid: int, broker_pid: int
) -> dict[str, Any]:
    seen: set[str] = set()
    publishes = 0
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe("asic_bridge/+")
        started = time.monotonic()
        settle_until: float | None = None
        window_start: float | None = None
        cpu0 = sim0 = broker0 = Cpu(0, 0)
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
                    print(
                        f"{len(seen)} miners publishing after {now - started:.1f} s "
                        f"(start-up CPU {cpu_of(pid).total:.1f} s); settling "
                        f"{args.poll_interval:g} s, then measuring {args.window:g} s"
                    )
                continue
            if window_start is None:
                if now < settle_until:
                    continue
                window_start = now
                cpu0, sim0, broker0 = cpu_of(pid), cpu_of(sim_pid), cpu_of(broker_pid)
            publishes += 1
            if now - window_start >= args.window:
                break
    return {
        "polls": publishes,
        "cpu": cpu_of(pid) - cpu0,
        "sim": cpu_of(sim_pid) - sim0,
        "broker": cpu_of(broker_pid) - broker0,
        "rss": rss_mb(pid),
    }


async def _measure_pyasic(args: argparse.Namespace, hosts: list[str], sim_pid: int) -> Any:
    print(f"pyasic: get_data() on the same {len(hosts)} simulators, {args.window:g} s")
    proc = await asyncio.create_subprocess_exec(
        PYASIC,
        str(ROOT / "bench/pyasic_poll.py"),
        "--interval",
        str(args.poll_interval),
        "--window",
        str(args.window),
        *hosts,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,  # pyasic warns about simulated models it half knows
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors="replace")[-3000:])
        raise SystemExit("pyasic_poll failed")
    return json.loads(out)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _report(args: argparse.Namespace, ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    polls, cpu = ours["polls"], ours["cpu"]
    per_poll = cpu.total / max(1, polls) * 1000
    calls = theirs["calls"]
    per_call = (theirs["user"] + theirs["sys"]) / max(1, calls) * 1000
    print(f"load average (1/5/15 min) after: {load_average()}")
    print(f"miners {args.miners}, poll interval {args.poll_interval:g} s, window {args.window:g} s")
    print(
        f"bridge miner-polls published: {polls} ({polls / args.window:.1f}/s, "
        f"expected ~{args.miners / args.poll_interval:.1f}/s)"
    )
    print(
        f"bridge CPU: {cpu.total:.2f} s (user {cpu.user:.2f}, sys {cpu.sys:.2f}) = "
        f"{per_poll:.3f} ms per miner-poll incl. MQTT publish (target <= 1 ms)"
    )
    print(
        f"  beside it: simulators {ours['sim'].total:.2f} s, mosquitto "
        f"{ours['broker'].total:.2f} s CPU (not counted)"
    )
    print(f"bridge RSS: {ours['rss']:.1f} MB (target <= 200 MB)")
    print(
        f"pyasic: {theirs['identified']} miners identified, {calls} get_data() "
        f"({theirs['failed']} failed), CPU {theirs['user'] + theirs['sys']:.2f} s "
        f"(user {theirs['user']:.2f}, sys {theirs['sys']:.2f}) = {per_call:.3f} ms per get_data()"
    )
    print(
        f"ratio: bridge miner-poll / pyasic get_data() = {per_poll / per_call:.2f}x "
        "(target <= 0.25x)"
    )


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
