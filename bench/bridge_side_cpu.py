"""The bridge's own share of one miner-poll: no driver, no socket, no broker.

    .venv/bin/python bench/bridge_side_cpu.py [--miners 50] [--polls 5000]

``Poller.poll`` runs for ``--miners`` devices whose miner answers every ``get_data`` at
once with the same canned S19j Pro reading (3 boards, 4 fans, 1 pool), and the state
feature builds, encodes (orjson, as the MQTT session does) and "publishes" each state to a
publisher that drops it.  What that measures is the poller's wrapper (locks, deadline,
field policy, carried slow fields), the event bus and the state payload: the part of a
bench/bridge_5k.py poll that neither bench/poll_cpu.py (the library side) nor the sockets
explain.  Prints the least CPU per poll over 7 rounds (uvloop, the daemon's GC thresholds).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asic_bridge import settings  # noqa: E402
from asic_bridge.bridge.adoption import Device  # noqa: E402
from asic_bridge.bridge.app import GC_THRESHOLDS  # noqa: E402
from asic_bridge.bridge.config import parse_config  # noqa: E402
from asic_bridge.bridge.events import EventBus  # noqa: E402
from asic_bridge.bridge.features.state import StateFeature  # noqa: E402
from asic_bridge.bridge.poller import Poller  # noqa: E402
from asic_bridge.bridge.registry import DeviceRecord, Registry  # noqa: E402
from asic_bridge.bridge.topics import Topics  # noqa: E402
from asic_bridge.data import Fan, HashBoard, MinerData, PoolMetrics  # noqa: E402
from asic_bridge.drivers.antminer import AntminerModern  # noqa: E402


class DroppingPublisher:
    """Encodes a state as the MQTT session would, then drops it."""

    async def publish(self, topic: str, payload: Any, **_: Any) -> None:
        if isinstance(payload, (dict, list)):
            orjson.dumps(payload)


def reading() -> MinerData:
    data = MinerData("10.0.0.1", make="AntMiner", model="S19j Pro", firmware="stock")
    data.hashrate, data.expected_hashrate = 100.12, 104.0
    data.wattage, data.wattage_limit = 3000, 3100
    data.hashboards = [
        HashBoard(slot=i, hashrate=33.37, temp=60.2, chip_temp=70.7, chips=126, missing=False)
        for i in range(3)
    ]
    data.fans = [Fan(speed=5000 + i) for i in range(4)]
    data.pools = [
        PoolMetrics(url="stratum+tcp://pool:3333", user="u.1", active=True, accepted=10, index=0)
    ]
    data.uptime, data.mac, data.hostname, data.fw_ver = 1000, "02:00:00:00:00:01", "rig", "1"
    data.is_mining, data.errors = True, []
    return data


class CannedMiner:
    """What the poller needs of a driver: its fields, limits and an instant get_data."""

    FIELDS = AntminerModern.FIELDS

    def __init__(self) -> None:
        self.limits = settings.limits()
        self.last_error_type = None
        self.data = reading()

    async def get_data(self, include: Any = None) -> MinerData:
        return self.data


async def run(miners: int, polls: int) -> None:
    state_dir = tempfile.mkdtemp()
    config = parse_config({"mqtt": {"url": "mqtt://127.0.0.1:1"}, "state_dir": state_dir})
    bus = EventBus()
    StateFeature(bus, DroppingPublisher(), Topics("b"), config, Registry(Path(state_dir)))
    miner: Any = CannedMiner()
    devices = [
        Device(
            DeviceRecord(id=f"m{i}", mac=f"02:00:00:00:00:{i % 256:02x}", ip=f"10.0.0.{i % 256}")
        )
        for i in range(miners)
    ]
    for device in devices:
        device.miner = miner

    async def connect(device: Device) -> Any:
        return device.miner

    slots = asyncio.Semaphore(64)
    pollers = [
        Poller(d, connect=connect, bus=bus, interval=30, offline_after=3, semaphore=slots)
        for d in devices
    ]
    for poller in pollers:
        await poller.poll()  # first polls: new keys, the record learnt
    rounds = max(1, polls // miners)
    best = float("inf")
    for _ in range(7):
        started = time.process_time()
        for _ in range(rounds):
            for poller in pollers:
                await poller.poll()
        best = min(best, (time.process_time() - started) / (rounds * miners))
    print(f"bridge side of a poll: {best * 1e6:.1f} us CPU (least of 7 x {rounds * miners})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--miners", type=int, default=50)
    parser.add_argument("--polls", type=int, default=5000, help="polls per measured round")
    args = parser.parse_args()
    import uvloop

    gc.set_threshold(*GC_THRESHOLDS)
    uvloop.run(run(args.miners, args.polls))


if __name__ == "__main__":
    main()
