"""``asic-bridge run`` tunes the garbage collector for a daemon with a large, stable heap.

bench/bridge_5k.py measured why: at 5,000 miners Python's default thresholds let full
collections take a fifth of the bridge's CPU.
"""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from bridge_support import MosquittoBroker, collector, mosquitto_fixture  # noqa: F401

from asic_bridge.bridge.app import GC_THRESHOLDS, run_bridge


async def test_run_bridge_sets_the_daemon_gc_thresholds(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    config_file = tmp_path / "bridge.yaml"
    config_file.write_text(
        f"mqtt: {{url: 'mqtt://127.0.0.1:{mosquitto.port}', client_id: gc_test}}\n"
        f"miners: {{scan_interval: 0}}\nstate_dir: '{tmp_path / 'state'}'\n"
    )
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # Python's defaults, whatever ran before
    try:
        async with collector(mosquitto, ("asic_bridge/#",)) as mqtt:
            runner = asyncio.create_task(run_bridge(str(config_file)))
            try:
                await mqtt.wait_topic("asic_bridge/bridge/info", within=15)
                assert gc.get_threshold() == GC_THRESHOLDS
                assert GC_THRESHOLDS[0] > 700
            finally:
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)
    finally:
        gc.set_threshold(*before)
