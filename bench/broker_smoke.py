"""Smoke-check the bridge against a broker that is already running (RabbitMQ, EMQX ...).

    isolated .venv/bin/python bench/broker_smoke.py --url mqtt://127.0.0.1:1883 [--miners 6]

Serves ``--miners`` simulated miners on 127.21.0.x, runs ``asic-bridge run`` against the
broker and checks, printing one line each: every miner's state arrives; a subscriber that
comes later still gets the retained discovery configs and ``bridge/state`` online; a
``set/fault_light`` command is answered on ``<id>/response``; after the bridge is killed
(SIGKILL, no clean goodbye) the broker sends its last will, ``bridge/state`` offline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiomqtt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PYTHON = str(ROOT / ".venv/bin/python")

KINDS = ("antminer_s19jpro", "whatsminer_m30s", "vnish_s19jpro", "luxos_s19jpro")


async def main(args: argparse.Namespace) -> int:
    from asic_bridge.sim import start_fleet, stop_fleet

    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 1883
    specs = [f"{KINDS[i % len(KINDS)]}@127.21.0.{i + 1}" for i in range(args.miners)]
    sims = await start_fleet(specs)
    work = Path(tempfile.mkdtemp(prefix="asic_smoke_"))
    (work / "bridge.yaml").write_text(
        f"mqtt:\n  url: {args.url}\n  protocol: '{args.protocol}'\n  keepalive: 5\n"
        "miners:\n  poll_interval: 5\n  scan_interval: 0\n  hosts:\n"
        + "".join(f"    - {s.split('@')[1]}\n" for s in specs)
        + f"state_dir: {work / 'state'}\nlog_level: warning\n"
    )
    results: list[tuple[str, bool]] = []
    bridge = subprocess.Popen(  # noqa: ASYNC220
        [PYTHON, "-m", "asic_bridge", "run", "-c", str(work / "bridge.yaml")]
    )
    try:
        ids = await _states(host, port, args.miners)
        results.append((f"state of all {args.miners} miners published", len(ids) == args.miners))
        retained = await _retained(host, port)
        results.append(
            (
                f"late subscriber: {retained['discovery']} retained discovery configs, "
                f"bridge/state {retained['state']!r}",
                retained["discovery"] > 0 and retained["state"] == "online",
            )
        )
        answer = await _command(host, port, sorted(ids)[0]) if ids else None
        answered = (answer or {}).get("status") == "ok"
        results.append((f"set/fault_light answered: {answer}", answered))
        bridge.kill()  # no clean disconnect: the broker must send the will
        bridge.wait()
        will = await _will(host, port, within=30)
        results.append((f"last will after SIGKILL: bridge/state {will!r}", will == "offline"))
    finally:
        if bridge.poll() is None:
            bridge.kill()
        await stop_fleet(sims)
    for text, ok in results:
        print(f"{'ok  ' if ok else 'FAIL'} {text}")
    return 0 if all(ok for _, ok in results) else 1


async def _states(host: str, port: int, count: int) -> set[str]:
    ids: set[str] = set()
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe("asic_bridge/+")
        deadline = time.monotonic() + 90
        async with asyncio.timeout(90):
            async for message in client.messages:
                miner_id = message.topic.value.split("/")[1]
                if miner_id != "bridge":
                    ids.add(miner_id)
                if len(ids) >= count or time.monotonic() > deadline:
                    break
    return ids


async def _retained(host: str, port: int) -> dict[str, object]:
    seen = {"discovery": 0, "state": None}
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe("homeassistant/#")
        await client.subscribe("asic_bridge/bridge/state")
        try:
            async with asyncio.timeout(5):
                async for message in client.messages:
                    if not message.retain:
                        continue
                    if message.topic.value.startswith("homeassistant/"):
                        seen["discovery"] = int(str(seen["discovery"])) + 1
                    else:
                        seen["state"] = bytes(message.payload).decode()  # type: ignore[arg-type]
        except TimeoutError:
            pass
    return seen


async def _command(host: str, port: int, miner_id: str) -> dict[str, object] | None:
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe(f"asic_bridge/{miner_id}/response", qos=1)
        body = {"value": True, "transaction": "smoke-1"}
        await client.publish(f"asic_bridge/{miner_id}/set/fault_light", json.dumps(body), qos=1)
        try:
            async with asyncio.timeout(30):
                async for message in client.messages:
                    answer = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                    if answer.get("transaction") == "smoke-1":
                        return dict(answer)
        except TimeoutError:
            return None
    return None


async def _will(host: str, port: int, within: float) -> str | None:
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe("asic_bridge/bridge/state")
        try:
            async with asyncio.timeout(within):
                async for message in client.messages:
                    text = bytes(message.payload).decode()  # type: ignore[arg-type]
                    if text == "offline":
                        return text
        except TimeoutError:
            return None
    return None


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--protocol", default="3.1.1", choices=("3.1.1", "5", "auto"))
    parser.add_argument("--miners", type=int, default=6)
    sys.exit(asyncio.run(main(parser.parse_args())))
