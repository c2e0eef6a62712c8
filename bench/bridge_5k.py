"""One bridge, 5,000 simulated miners, a real mosquitto: the figures of a large farm.

    isolated .venv/bin/python bench/bridge_5k.py [--miners 5000] [--sims 4] [--window 60]

Runs inside its own network namespace (``isolated`` = ``unshare -n``): the fleet listens on
5,000 addresses 127.20.x.y.  The simulators are the package's own kinds, served by
``--sims`` processes in bench/cheap_fleet.py's cached mode (same bytes on the wire, the
readings' JSON built once per miner and request every ``--ttl`` s), a mixed fleet of the
common kinds (``--kinds``, weighted).  ``asic-bridge run`` polls every ``--poll-interval``
(30 s) with ``--concurrency`` (64) polls at once.

Prints, beside the machine facts: start-up until every miner published its first state
(target <= 60 s) and the bridge's CPU for it; until every discovery config arrived (they
follow the states: the bridge queues them, see features/discovery.py); the Home Assistant
discovery messages and their bytes; then over ``--window`` s of steady polling: the bridge
process's CPU per miner-poll (target <= 1 ms; the simulators' and mosquitto's CPU are
measured apart and not counted), its RSS (target <= 500 MB), and the broker's load
(messages and bytes per second as the subscribers to everything receive them, and
mosquitto's own $SYS counters); last, the latency of ``--commands`` (200)
``set/fault_light`` commands sent at ``--command-gap``
intervals to random miners, until their ``<id>/response`` arrives: p50 / p99 / max.

The discovery topics (``homeassistant/#``, ~38 retained configs per miner, 190k for 5,000)
are counted by ``mosquitto_sub`` (C; topic and payload length only), not by this process's
Python subscriber (``asic_bridge/#`` and ``$SYS``): decoding them in aiomqtt cost as much CPU
as mosquitto and the simulators during start-up, on the 2 cores the bridge needs.  The
discovery is complete when no new config topic arrived for ``--discovery-quiet`` s; the time
printed is that of the last new one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PYTHON = str(ROOT / ".venv/bin/python")

from bench.bridge_load import _stop, addresses, free_port, write_configs  # noqa: E402
from bench.machine import Cpu, cpu_of, describe, load_average, rss_mb  # noqa: E402

BASE = "asic_bridge"
DEFAULT_KINDS = (
    "antminer_s19jpro=3,antminer_s21=2,whatsminer_m30s=2,whatsminer_m50=1,"
    "vnish_s19jpro=1,luxos_s19jpro=1"
)

PROFILED = """
import cProfile, gc, runpy, sys, time
profile = cProfile.Profile(time.process_time)
sys.argv = {argv!r}
collecting = [0.0, 0.0, 0.0]
started = [0.0]
def timed(phase, info):
    if phase == "start":
        started[0] = time.process_time()
    else:
        collecting[info["generation"]] += time.process_time() - started[0]
gc.callbacks.append(timed)
{gc}
if {cprofile!r} and {phase!r} != "all":  # until / from the bench's SIGUSR1, to SIGUSR2
    import signal
    signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
    def dump(*_):
        profile.disable()
        profile.dump_stats({out!r})
    signal.signal(signal.SIGUSR2, dump)
if {cprofile!r} and {phase!r} != "steady":
    profile.enable()
try:
    runpy.run_module("asic_bridge", run_name="__main__")
except SystemExit:
    pass
finally:
    profile.disable()
    if {cprofile!r} and {phase!r} == "all":
        profile.dump_stats({out!r})
    print("bridge gc CPU by generation (s):", [round(c, 2) for c in collecting], flush=True)
"""


def fleet_specs(n: int, kinds: str) -> list[str]:
    """``n`` specs, the kinds interleaved by weight (``kind=weight,...``)."""
    wheel: list[str] = []
    for item in kinds.split(","):
        kind, _, weight = item.partition("=")
        wheel += [kind.strip()] * int(weight or 1)
    return [f"{wheel[i % len(wheel)]}@{ip}" for i, ip in enumerate(addresses(n))]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class DiscoveryCount:
    """``homeassistant/#`` counted by mosquitto_sub in a thread: messages, bytes, the config
    topics holding a config, and when the last new one came."""

    SENTINEL = "homeassistant/bench_5k/ready"

    def __init__(self, port: int) -> None:
        command = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port)]
        self.proc = subprocess.Popen(
            [*command, "-t", "homeassistant/#", "-F", "%l %t"],
            stdout=subprocess.PIPE,
        )
        self.messages = 0
        self.bytes = 0
        self.configs: set[bytes] = set()
        self.last_new: float | None = None
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        sentinel = self.SENTINEL.encode()
        for line in self.proc.stdout:
            length, _, topic = line.rstrip(b"\n").partition(b" ")
            if topic == sentinel:
                self.ready.set()
                continue
            size = int(length)
            self.messages += 1
            self.bytes += size + len(topic)
            if not size:  # a cleared config (a key the miner no longer reports)
                self.configs.discard(topic)
            elif topic not in self.configs:
                self.configs.add(topic)
                self.last_new = time.monotonic()

    def per_miner(self, ids: set[str]) -> list[int]:
        counts = Counter(t.split(b"/")[2].decode() for t in list(self.configs))
        return sorted(counts[i] for i in ids)


def deciles(values: list[float]) -> str:
    """``10 % a, 50 % b, 90 % c``: when a share of the fleet had got there."""
    return ", ".join(f"{int(q * 100)} % {percentile(values, q):.1f}" for q in (0.1, 0.5, 0.9))


@dataclass
class Beside:
    """What shares the two cores with the bridge (the simulators, mosquitto and this bench),
    with their CPU at a start (the bridge's start, the steady window's): what each used since
    is printed beside the bridge's own figures and not counted in them."""

    sims: list[subprocess.Popen[bytes]]
    broker: subprocess.Popen[bytes]
    sims0: list[Cpu] = field(init=False)
    broker0: Cpu = field(init=False)
    bench0: float = field(init=False)

    def __post_init__(self) -> None:
        self.sims0 = [cpu_of(s.pid) for s in self.sims]
        self.broker0 = cpu_of(self.broker.pid)
        self.bench0 = time.process_time()

    def sims_cpu(self) -> float:
        return sum(
            (cpu_of(s.pid) - c for s, c in zip(self.sims, self.sims0, strict=True)), Cpu(0, 0)
        ).total

    def broker_cpu(self) -> float:
        return (cpu_of(self.broker.pid) - self.broker0).total

    def bench_cpu(self) -> float:
        return time.process_time() - self.bench0


class Watch:
    """What the broker carries under the base topic and ``$SYS``, seen by this bench's
    subscriber; the discovery topics are counted apart (DiscoveryCount)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.first_state: dict[str, float] = {}
        self.messages = 0
        self.bytes = 0
        self.state_publishes = 0
        self.sys: dict[str, str] = {}
        self.responses: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.all_published = asyncio.Event()
        self.found: list[float] = []  # when each miner_found event came (adoptions)
        self.count: DiscoveryCount | None = None

    def on_message(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        payload = message.payload if isinstance(message.payload, bytes) else b""
        if topic.startswith("$SYS/"):
            self.sys[topic] = payload.decode(errors="replace")
            return
        self.messages += 1
        self.bytes += len(payload) + len(topic)
        parts = topic.split("/")
        if topic == f"{BASE}/bridge/event" and b'"miner_found"' in payload:
            self.found.append(time.monotonic())
        if len(parts) == 2 and parts[1] != "bridge":
            self.state_publishes += 1
            if parts[1] not in self.first_state:
                self.first_state[parts[1]] = time.monotonic()
                if len(self.first_state) >= self.args.miners:
                    self.all_published.set()
        elif len(parts) == 3 and parts[2] == "response":
            with contextlib.suppress(ValueError):
                body = json.loads(payload)
                future = self.responses.pop(str(body.get("transaction")), None)
                if future is not None and not future.done():
                    future.set_result(body)


async def main(args: argparse.Namespace) -> None:
    print(describe(asic_bridge=PYTHON))
    specs = fleet_specs(args.miners, args.kinds)
    print(f"fleet: {Counter(s.split('@')[0] for s in specs).most_common()}")
    work = args.work = Path(tempfile.mkdtemp(prefix="asic_bench5k_"))
    port = free_port()
    hosts = [spec.split("@")[1] for spec in specs]
    write_configs(
        work,
        port,
        hosts,
        poll_interval=args.poll_interval,
        concurrency=args.concurrency,
        mosquitto_extra="sys_interval 5\n",
        mqtt_extra=f"  discovery_mode: {args.discovery_mode}\n",
    )
    if args.bridge_yaml:  # an experiment: more bridge settings (top-level sections)
        with (work / "bridge.yaml").open("a") as config:
            config.write(args.bridge_yaml.replace("\\n", "\n") + "\n")
    procs: list[subprocess.Popen[bytes]] = []
    sims: list[subprocess.Popen[bytes]] = []
    try:
        broker = subprocess.Popen(["mosquitto", "-c", str(work / "mosquitto.conf")])  # noqa: ASYNC220
        procs.append(broker)
        for i in range(args.sims):
            part = work / f"fleet{i}.txt"
            part.write_text("\n".join(specs[i :: args.sims]) + "\n")
            sim = subprocess.Popen(  # noqa: ASYNC220
                [PYTHON, str(ROOT / "bench/cheap_fleet.py"), "--ttl", str(args.ttl), str(part)],
                stdout=subprocess.PIPE,
            )
            procs.append(sim)
            sims.append(sim)
        for sim in sims:  # "ready <n>" once all of its miners listen
            assert sim.stdout is not None
            line = await asyncio.to_thread(sim.stdout.readline)
            if not line.startswith(b"ready"):
                raise SystemExit(f"a simulator process failed to start: {line!r}")
        sim_start = sum((cpu_of(s.pid) for s in sims), Cpu(0, 0))
        print(f"simulators ready ({args.sims} processes, start-up CPU {sim_start.total:.1f} s)")
        await _run(args, port, procs, sims, broker)
    finally:
        for proc in reversed(procs):
            _stop(proc)
        for sim in sims:
            if sim.stdout is not None:
                tail = sim.stdout.read().decode(errors="replace").strip()
                if tail:
                    print(f"simulator {sim.pid} cache: {tail}")


async def _run(
    args: argparse.Namespace,
    port: int,
    procs: list[subprocess.Popen[bytes]],
    sims: list[subprocess.Popen[bytes]],
    broker: subprocess.Popen[bytes],
) -> None:
    watch = Watch(args)
    count = watch.count = DiscoveryCount(port)
    procs.append(count.proc)
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(f"{BASE}/#")
        await client.subscribe("$SYS/broker/#")
        reader = asyncio.create_task(_read(client, watch))
        while not count.ready.is_set():  # subscribed before the bridge starts
            await client.publish(count.SENTINEL, "1")
            await asyncio.to_thread(count.ready.wait, 0.2)
        beside = Beside(sims, broker)
        started = time.monotonic()
        run = ["run", "-c", str(args.work / "bridge.yaml")]
        if args.profile:  # CPU time, not wall time: an idle event loop costs nothing
            cprofile = args.profile != "gc"
            code = PROFILED.format(
                out=args.profile,
                argv=["asic_bridge", *run],
                cprofile=cprofile,
                gc=args.gc,
                phase=args.profile_phase,
            )
            bridge = subprocess.Popen([PYTHON, "-c", code])  # noqa: ASYNC220
        else:
            bridge = subprocess.Popen([PYTHON, "-m", "asic_bridge", *run])  # noqa: ASYNC220
        procs.append(bridge)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch.all_published.wait(), args.startup_limit)
        startup = time.monotonic() - started
        if args.profile_phase == "startup":
            bridge.send_signal(signal.SIGUSR2)
        startup_cpu = cpu_of(bridge.pid)
        published = len(watch.first_state)
        print(
            f"start-up: {published} of {args.miners} miners published state after "
            f"{startup:.1f} s (target <= 60 s); bridge CPU {startup_cpu.total:.1f} s, "
            f"RSS {rss_mb(bridge.pid):.0f} MB"
        )
        _print_startup_beside(watch, started, beside)
        await _discovery_complete(args, watch, started, beside, bridge.pid)
        if args.profile_phase == "discovery":
            bridge.send_signal(signal.SIGUSR2)
        # (what arrives within one more poll interval is counted in the line after; then the
        # steady state is measured)
        await asyncio.sleep(args.poll_interval)
        discovery, discovery_bytes = count.messages, count.bytes
        print(
            f"HA discovery: {discovery} messages, {discovery_bytes / 1e6:.1f} MB "
            f"({discovery / max(1, published):.1f} per miner)"
        )
        cpu0 = cpu_of(bridge.pid)
        window = Beside(sims, broker)
        polls0, msgs0, bytes0 = (
            watch.state_publishes,
            watch.messages + count.messages,
            watch.bytes + count.bytes,
        )
        sys0 = dict(watch.sys)
        t0 = time.monotonic()
        if args.profile_phase == "steady":
            bridge.send_signal(signal.SIGUSR1)
        await asyncio.sleep(args.window)
        if args.profile_phase == "steady":
            bridge.send_signal(signal.SIGUSR2)
        elapsed = time.monotonic() - t0
        cpu = cpu_of(bridge.pid) - cpu0
        sim_cpu, broker_cpu = window.sims_cpu(), window.broker_cpu()
        polls = watch.state_publishes - polls0
        rss = rss_mb(bridge.pid)
        per_poll = cpu.total / max(1, polls) * 1000
        print(f"load average (1/5/15 min) during the window: {load_average()}")
        print(
            f"steady state, {elapsed:.0f} s window: {polls} miner-polls published "
            f"({polls / elapsed:.1f}/s, expected ~{args.miners / args.poll_interval:.1f}/s)"
        )
        print(
            f"bridge CPU: {cpu.total:.2f} s (user {cpu.user:.2f}, sys {cpu.sys:.2f}) = "
            f"{per_poll:.3f} ms per miner-poll incl. MQTT publish (target <= 1 ms); "
            f"{cpu.total / elapsed * 100:.0f} % of one core"
        )
        print(f"bridge RSS: {rss:.0f} MB (target <= 500 MB)")
        print(
            f"  beside it (not counted): simulators {sim_cpu:.2f} s "
            f"({sim_cpu / max(1, polls) * 1000:.3f} ms per poll), "
            f"mosquitto {broker_cpu:.2f} s"
        )
        print(
            f"broker load (subscriber to '#'): "
            f"{(watch.messages + count.messages - msgs0) / elapsed:.0f} msg/s, "
            f"{(watch.bytes + count.bytes - bytes0) / elapsed / 1e3:.0f} kB/s"
        )
        _print_sys(sys0, watch.sys, elapsed)
        await _commands(args, client, watch)
        reader.cancel()
        print(f"bridge RSS at the end: {rss_mb(bridge.pid):.0f} MB")
        print(f"load average (1/5/15 min) after: {load_average()}")


def _print_startup_beside(watch: Watch, started: float, beside: Beside) -> None:
    """When the first states came (a slow tail or a late first one say different things)
    and what competed with the bridge for the cores meanwhile."""
    times = sorted(t - started for t in watch.first_state.values())
    if times:
        print(f"  first states: the first after {times[0]:.1f} s; {deciles(times)} s")
    found = sorted(t - started for t in watch.found)
    if found:
        print(
            f"  adopted (bridge/event miner_found): {len(found)}, the first after "
            f"{found[0]:.1f} s; {deciles(found)}; the last {found[-1]:.1f} s"
        )
    assert watch.count is not None
    print(
        f"  beside it during start-up: simulators {beside.sims_cpu():.1f} s, mosquitto "
        f"{beside.broker_cpu():.1f} s, this bench (its subscriber to "
        f"'{BASE}/#') {beside.bench_cpu():.1f} s, mosquitto_sub "
        f"(counting 'homeassistant/#') {cpu_of(watch.count.proc.pid).total:.1f} s CPU; "
        f"{len(watch.count.configs)} discovery configs had arrived"
    )


async def _discovery_complete(
    args: argparse.Namespace, watch: Watch, started: float, beside: Beside, bridge_pid: int
) -> None:
    """Until no new discovery config arrived for ``--discovery-quiet`` s (or the limit)."""
    count = watch.count
    assert count is not None
    limit = started + args.startup_limit
    while time.monotonic() < limit:
        last = count.last_new
        if last is not None and time.monotonic() - last >= args.discovery_quiet:
            break
        await asyncio.sleep(0.5)
    last = count.last_new
    at = f"{last - started:.1f} s" if last is not None else "never"
    per_miner = count.per_miner(set(watch.first_state))
    spread = f"{per_miner[0]}-{per_miner[-1]}" if per_miner else "none"
    print(
        f"discovery: every config arrived after {at} (the last new config topic; decided by "
        f"none new for {args.discovery_quiet:g} s): {len(count.configs)} configs, "
        f"{spread} per miner"
    )
    print(
        f"  until then: bridge CPU {cpu_of(bridge_pid).total:.1f} s; simulators "
        f"{beside.sims_cpu():.1f} s, mosquitto {beside.broker_cpu():.1f} s"
    )


def _print_sys(before: dict[str, str], after: dict[str, str], elapsed: float) -> None:
    def delta(name: str) -> float | None:
        key = f"$SYS/broker/{name}"
        if key in before and key in after:
            return (float(after[key]) - float(before[key])) / elapsed
        return None

    got = {
        name: delta(name)
        for name in (
            "messages/received",
            "messages/sent",
            "bytes/received",
            "bytes/sent",
        )
    }
    parts = [f"{n} {v:.0f}/s" for n, v in got.items() if v is not None]
    clients = after.get("$SYS/broker/clients/connected", "?")
    print(f"mosquitto $SYS: {', '.join(parts) or 'n/a'}; clients connected {clients}")


async def _read(client: aiomqtt.Client, watch: Watch) -> None:
    async for message in client.messages:
        watch.on_message(message)


async def _commands(args: argparse.Namespace, client: aiomqtt.Client, watch: Watch) -> None:
    ids = sorted(watch.first_state)
    rng = random.Random(18)
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    loop = asyncio.get_running_loop()

    async def one(n: int) -> None:
        miner_id = rng.choice(ids)
        transaction = f"bench-{n}"
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        watch.responses[transaction] = future
        sent = time.monotonic()
        await client.publish(
            f"asic_bridge/{miner_id}/set/fault_light",
            json.dumps({"value": n % 2 == 0, "transaction": transaction}),
            qos=1,
        )
        try:
            body = await asyncio.wait_for(future, 60)
        except TimeoutError:
            outcomes["no answer in 60 s"] += 1
            return
        latencies.append((time.monotonic() - sent) * 1000)
        outcomes[str(body.get("status"))] += 1

    print(
        f"commands: {args.commands} set/fault_light to random miners, one every "
        f"{args.command_gap:g} s, while polling goes on"
    )
    tasks = []
    for n in range(args.commands):
        tasks.append(asyncio.create_task(one(n)))
        await asyncio.sleep(args.command_gap)
    await asyncio.gather(*tasks)
    print(
        f"command latency to <id>/response: p50 {percentile(latencies, 0.5):.0f} ms, "
        f"p99 {percentile(latencies, 0.99):.0f} ms, max {max(latencies, default=0):.0f} ms; "
        f"outcomes {dict(outcomes)}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--miners", type=int, default=5000)
    parser.add_argument("--sims", type=int, default=4, help="simulator processes")
    parser.add_argument("--kinds", default=DEFAULT_KINDS, help="kind=weight,... (mixed fleet)")
    parser.add_argument("--poll-interval", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--ttl", type=float, default=120.0, help="simulator answer cache, s")
    parser.add_argument("--startup-limit", type=float, default=300.0)
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument(
        "--discovery-quiet",
        type=float,
        default=5.0,
        help="discovery is complete when no new config topic came for this long, s",
    )
    parser.add_argument("--command-gap", type=float, default=0.25)
    parser.add_argument("--discovery-mode", choices=("entity", "device"), default="entity")
    parser.add_argument("--bridge-yaml", help="appended to bridge.yaml: 'fleet: {groups: {}}'")
    parser.add_argument("--profile", help="cProfile the bridge to this file; 'gc': time the GC")
    parser.add_argument(
        "--profile-phase",
        choices=("all", "startup", "discovery", "steady"),
        default="all",
        help="with --profile FILE: profile only until every miner published (startup), until "
        "every discovery config arrived too (discovery), or only the steady window (the "
        "profiler's own cost inflates the CPU figures)",
    )
    parser.add_argument(
        "--gc", default="", help="with --profile: Python run first, e.g. gc.freeze()"
    )
    ns = parser.parse_args()
    ns.work = None
    try:
        asyncio.run(main(ns))
    except KeyboardInterrupt:
        sys.exit(130)
