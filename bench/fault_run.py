"""Fault run (issue #19): the bridge against malformed commands, broker restarts, kill -9,
huge answers and a command flood, with a real mosquitto and simulated miners.  Prints figures.

    .venv/bin/python bench/fault_run.py [--miners 8] [--malformed 2000] [--restarts 5]
        [--kills 3] [--huge-seconds 60] [--flood-rate 50] [--flood-seconds 20]

The simulated miners run in this process (so they can be told to misbehave); mosquitto
(persistence on, like a production broker) and ``asic-bridge run`` are subprocesses.  Run
it in a network namespace of its own (``unshare -n``) to keep its 127.21.x addresses apart.
It measures; it asserts nothing.  ``--huge-seconds 600`` is the 10-minute RSS run with two
miners answering 50 MB on every request (one RSS figure a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asic_bridge.sim import SimMiner, load_kinds  # noqa: E402

KINDS = (
    "antminer_s19jpro",
    "whatsminer_m30s",
    "braiins_s9",
    "avalon_1246",
    "vnish_s19jpro",
    "braiins_s19",
    "whatsminer_m60",
    "antminer_s21",
)
CLI = "import sys; from asic_bridge.cli import main; sys.exit(main())"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def malformed_payloads(rng: random.Random, n: int) -> list[tuple[str, bytes]]:
    """(topic suffix, payload) pairs that no command parser should act on."""
    bodies: list[bytes] = [
        b"",
        b"{",
        b"null",
        b"[]",
        b'"power_limit"',
        b"\xff\xfe\x00",
        b'{"power_limit": "a lot"}',
        b'{"power_limit": -5}',
        b'{"power_limit": 1e30}',
        b'{"mining": "yes"}',
        b'{"bogus": 1}',
        b'{"action": "format_disk"}',
        b'{"transaction": 123456789012345678901234567890, "mining": 3}',
        b'{"transaction": ' + b"[" * 300 + b"]" * 300 + b"}",
        b'{"mode": {"$ne": 1}}',
        b'{"fault_light": null}',
    ]
    topics = ["{id}/set", "{id}/set/power_limit", "{id}/set/mining", "fleet/all/set"]
    out = []
    for _ in range(n):
        body = rng.choice(bodies)
        if rng.random() < 0.2:
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        out.append((rng.choice(topics), body))
    return out


class Run:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.port = free_port()
        self.store = Path(tempfile.mkdtemp(prefix="fault-mosquitto-"))
        self.store.chmod(0o777)  # mosquitto, started as root, writes as its own user
        self.broker: asyncio.subprocess.Process | None = None
        self.bridge: asyncio.subprocess.Process | None = None
        self.sims: list[SimMiner] = []
        self.ids: dict[str, SimMiner] = {}
        self.messages: list[tuple[float, str, bytes, bool]] = []
        self.figures: dict[str, Any] = {}

    # ------------------------------------------------------------ processes
    async def start_broker(self) -> None:
        conf = self.work / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.store}/\nlog_dest none\n"
        )
        self.broker = await asyncio.create_subprocess_exec("mosquitto", "-c", str(conf))
        for _ in range(500):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.01)
        raise RuntimeError("mosquitto did not start")

    async def stop_broker(self) -> None:
        if self.broker is not None and self.broker.returncode is None:
            self.broker.terminate()
            await self.broker.wait()

    async def start_bridge(self) -> None:
        hosts = [{"ip": s.address, "ports": s.ports} for s in self.sims]
        config = {
            "mqtt": {"url": f"mqtt://127.0.0.1:{self.port}", "client_id": "fault_run"},
            "miners": {
                "hosts": hosts,
                "poll_interval": 2,
                "scan_interval": 0,
                "offline_after": 2,
            },
            "state_dir": str(self.work / "state"),
            "state_save_interval": 5,
        }
        path = self.work / "bridge.yaml"
        path.write_text(json.dumps(config))  # JSON is YAML
        log = (self.work / "bridge.log").open("ab")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.bridge = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLI, "run", "-c", str(path), stdout=log, stderr=log, env=env
        )

    async def kill_bridge(self) -> None:
        if self.bridge is not None and self.bridge.returncode is None:
            self.bridge.send_signal(signal.SIGKILL)
            await self.bridge.wait()

    # ------------------------------------------------------------ MQTT observer
    async def observe(self) -> None:
        """Record everything on the base topic, reconnecting across broker restarts."""
        while True:
            try:
                async with aiomqtt.Client("127.0.0.1", self.port, identifier="observer") as c:
                    self.client = c
                    await c.subscribe("asic_bridge/#", qos=1)
                    async for m in c.messages:
                        payload = m.payload if isinstance(m.payload, bytes) else b""
                        self.messages.append((time.monotonic(), m.topic.value, payload, m.retain))
            except aiomqtt.MqttError:
                self.client = None
                await asyncio.sleep(0.1)

    async def publish(self, topic: str, payload: bytes | str) -> None:
        for _ in range(100):
            client = getattr(self, "client", None)
            if client is not None:
                with contextlib.suppress(aiomqtt.MqttError):
                    await client.publish(topic, payload, qos=1)
                    return
            await asyncio.sleep(0.05)

    def since(self, mark: int, topic_part: str = "") -> list[tuple[float, str, bytes, bool]]:
        return [m for m in self.messages[mark:] if topic_part in m[1]]

    async def wait_for(self, check: Any, within: float) -> bool:
        end = time.monotonic() + within
        while time.monotonic() < end:
            if check():
                return True
            await asyncio.sleep(0.05)
        return False

    def devices(self) -> list[dict[str, Any]]:
        for _, topic, payload, _ in reversed(self.messages):
            if topic == "asic_bridge/bridge/devices" and payload:
                return list(json.loads(payload))
        return []

    def last_energy(self, mark: int = 0) -> dict[str, float]:
        energy: dict[str, float] = {}
        for _, topic, payload, _ in self.messages[mark:]:
            miner_id = topic.removeprefix("asic_bridge/")
            if miner_id in self.ids and payload:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    energy[miner_id] = float(json.loads(payload)["energy"])
        return energy

    # ------------------------------------------------------------ phases
    async def adopt(self) -> None:
        await self.start_bridge()
        started = time.monotonic()
        ok = await self.wait_for(lambda: len(self.devices()) >= len(self.sims), 120)
        by_ip = {s.address: s for s in self.sims}
        self.ids = {d["id"]: by_ip[d["ip"]] for d in self.devices() if d["ip"] in by_ip}
        self.figures["start-up: all adopted (s)"] = (
            round(time.monotonic() - started, 1) if ok else "not all"
        )
        await asyncio.sleep(3)  # first polls

    def fingerprint(self) -> list[tuple[Any, ...]]:
        return [(s.state.power_limit, s.state.mining, s.state.fault_light) for s in self.sims]

    async def malformed(self) -> None:
        rng = random.Random(19)
        before, mark = self.fingerprint(), len(self.messages)
        log = self.work / "bridge.log"
        tracebacks = log.read_text(errors="replace").count("Traceback")
        ids = list(self.ids)
        sent = 0
        for suffix, body in malformed_payloads(rng, self.args.malformed):
            await self.publish("asic_bridge/" + suffix.format(id=rng.choice(ids)), body)
            sent += 1
        await asyncio.sleep(5)
        answers = len(self.since(mark, "/response"))
        self.figures["malformed: sent / answered"] = f"{sent} / {answers}"
        self.figures["malformed: miners changed"] = sum(
            a != b for a, b in zip(before, self.fingerprint(), strict=True)
        )
        new = log.read_text(errors="replace").count("Traceback") - tracebacks
        self.figures["malformed: tracebacks logged"] = new

    async def broker_restarts(self) -> None:
        answered, back = 0, []
        target = next(iter(self.ids))
        for n in range(self.args.restarts):
            await self.stop_broker()
            await self.start_broker()
            mark, t0 = len(self.messages), time.monotonic()
            await self.publish(
                f"asic_bridge/{target}/set",
                json.dumps({"fault_light": n % 2 == 0, "transaction": f"restart{n}"}),
            )
            got = await self.wait_for(
                lambda m=mark, n=n: any(
                    f'"restart{n}"'.encode() in p for _, _, p, _ in self.since(m, "/response")
                ),
                30,
            )
            answered += got
            online = await self.wait_for(
                lambda m=mark: any(
                    t == "asic_bridge/bridge/state" and p == b"online"
                    for _, t, p, _ in self.since(m)
                ),
                30,
            )
            if online:
                first = next(
                    at for at, t, p, _ in self.since(mark) if t == "asic_bridge/bridge/state"
                )
                back.append(first - t0)
        self.figures["broker restarts: commands answered"] = f"{answered} / {self.args.restarts}"
        self.figures["broker restarts: re-announced within (s)"] = (
            round(max(back), 2) if back else "never"
        )

    async def kills(self) -> None:
        lost, lower, checks = 0, 0, 0
        for _ in range(self.args.kills):
            await asyncio.sleep(random.uniform(2, 6))
            before = self.last_energy()
            await self.kill_bridge()
            disk = json.loads((self.work / "state" / "devices.json").read_text())
            saved = {d["id"] for d in disk["devices"]}
            lost += len(set(self.ids) - saved)
            mark = len(self.messages)
            await self.start_bridge()
            wanted = set(before)
            await self.wait_for(lambda m=mark, w=wanted: set(self.last_energy(m)) >= w, 60)
            after = self.last_energy(mark)
            for miner_id, value in before.items():
                checks += 1
                lower += after.get(miner_id, value) < value
        self.figures["kill -9: adopted miners missing after restart"] = lost
        self.figures["kill -9: energy lower after restart"] = f"{lower} / {checks}"

    async def huge(self) -> None:
        assert self.bridge is not None
        pid = self.bridge.pid
        start = rss_mb(pid)
        peak = start
        huge = self.sims[:2]
        for sim in huge:
            await sim.set_mode("huge", huge_size=50 * 1024 * 1024)
        began = time.monotonic()
        end = began + self.args.huge_seconds
        samples: list[str] = []
        while time.monotonic() < end:
            await asyncio.sleep(1)
            rss = rss_mb(pid)
            peak = max(peak, rss)
            if len(samples) < (time.monotonic() - began) // 60:  # one sample a minute
                samples.append(f"{rss:.0f}")
        final = rss_mb(pid)
        if samples:
            self.figures["huge answers: RSS each minute MB"] = " ".join(samples)
        for sim in huge:
            await sim.set_mode("normal")
        self.figures["huge answers (2 miners, 50 MB): RSS start/peak/end MB"] = (
            f"{start:.0f} / {peak:.0f} / {final:.0f}"
        )

    async def flood(self) -> None:
        mark = len(self.messages)
        sent: dict[str, float] = {}
        ids = list(self.ids)
        interval = 1 / self.args.flood_rate
        end = time.monotonic() + self.args.flood_seconds
        n = 0
        while time.monotonic() < end:
            miner_id = ids[n % len(ids)]
            transaction = f"flood{n}"
            sent[transaction] = time.monotonic()
            body = {"fault_light": n % 2 == 0, "transaction": transaction}
            await self.publish(f"asic_bridge/{miner_id}/set", json.dumps(body))
            n += 1
            await asyncio.sleep(interval)
        await asyncio.sleep(15)
        latencies = []
        for at, _, payload, _ in self.since(mark, "/response"):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                transaction = json.loads(payload)["transaction"]
                if transaction in sent:
                    latencies.append(at - sent.pop(transaction))
        offline = [t for _, t, p, _ in self.since(mark, "/availability") if p == b"offline"]
        self.figures["flood: commands answered"] = f"{len(latencies)} / {n}"
        self.figures["flood: latency p50 / p99 (s)"] = (
            f"{percentile(latencies, 0.5):.2f} / {percentile(latencies, 0.99):.2f}"
        )
        self.figures["flood: miners marked offline"] = len(set(offline))


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="fault-run-"))
    run = Run(args, work)
    kinds = load_kinds()
    for i in range(args.miners):
        sim = kinds[KINDS[i % len(KINDS)]](f"127.21.0.{i + 1}")
        if hasattr(sim, "restart_downtime"):
            sim.restart_downtime = 2.0  # a real BOSminer restart takes seconds
        await sim.start()
        run.sims.append(sim)
    await run.start_broker()
    observer = asyncio.create_task(run.observe())
    try:
        await run.adopt()
        for phase in (run.malformed, run.broker_restarts, run.kills, run.huge, run.flood):
            print(f"-- {phase.__name__}", flush=True)
            await phase()
    finally:
        observer.cancel()
        await run.kill_bridge()
        await run.stop_broker()
        for sim in run.sims:
            await sim.stop()
        shutil.rmtree(run.store, ignore_errors=True)
    width = max(len(k) for k in run.figures)
    print(f"\nfault run: {args.miners} simulated miners, work dir {work}")
    for key, value in run.figures.items():
        print(f"  {key:<{width}}  {value}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--miners", type=int, default=8)
    parser.add_argument("--malformed", type=int, default=2000)
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--huge-seconds", type=float, default=60)
    parser.add_argument("--flood-rate", type=float, default=50)
    parser.add_argument("--flood-seconds", type=float, default=20)
    asyncio.run(main(parser.parse_args()))
