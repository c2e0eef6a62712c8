"""Issue #19 item 4: nothing adopted is lost on ``kill -9``, and the published energy never
goes down across one.  A real bridge process (simulated miners in it, mosquitto outside)
is SIGKILLed at several moments after adoption and started again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from bridge_support import (
    MosquittoBroker,
    address_block,
    collector,
    mosquitto_fixture,  # noqa: F401  (the `mosquitto` fixture)
)

from asic_bridge.bridge.registry import DeviceRecord, Registry

KINDS = ["antminer_s19jpro", "whatsminer_m30s", "avalon_1246", "braiins_s19", "vnish_s19jpro"]
CLI = "import sys; from asic_bridge.cli import main; sys.exit(main())"


def _config(broker: MosquittoBroker, tmp_path: Path) -> Path:
    addr = address_block()
    miners = ", ".join(f"{kind}@{addr(i + 1)}" for i, kind in enumerate(KINDS))
    path = tmp_path / "bridge.yaml"
    path.write_text(
        f"mqtt: {{url: '{broker.url}', protocol: '5', client_id: kill9}}\n"
        "miners: {poll_interval: 1, scan_interval: 0}\n"
        f"simulator: {{miners: [{miners}]}}\n"
        f"state_dir: {tmp_path / 'state'}\n"
        "state_save_interval: 1\n"
    )
    return path


def _on_disk(tmp_path: Path) -> dict[str, dict[str, Any]]:
    raw = json.loads((tmp_path / "state" / "devices.json").read_text())
    return {d["id"]: d for d in raw["devices"]}


async def test_kill_9_loses_no_adoption_and_no_published_energy(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    config = _config(mosquitto, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    last_energy: dict[str, float] = {}
    async with collector(mosquitto, ("asic_bridge/#",)) as mqtt:
        for cycle, linger in enumerate((0.0, 1.5, 4.0)):
            mark = mqtt.mark()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", CLI, "run", "-c", str(config), env=env
            )
            try:
                # every miner published (adopted) ...
                devices = await mqtt.wait_topic(
                    "asic_bridge/bridge/devices",
                    lambda m: len(m.json()) == len(KINDS),
                    within=60,
                    since=mark,
                )
                ids = [d["id"] for d in devices.json()]
                # ... and after a restart, each one's energy is back, never lower
                for miner_id in ids if cycle else []:
                    state = await mqtt.wait_topic(
                        f"asic_bridge/{miner_id}", lambda m: not m.retain, within=20, since=mark
                    )
                    assert state.json()["energy"] >= last_energy.get(miner_id, 0.0), miner_id
                await asyncio.sleep(linger)
            finally:
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
            disk = _on_disk(tmp_path)
            assert set(ids) <= set(disk), f"cycle {cycle}: adopted but not saved"
            for message in mqtt.messages[mark:]:
                miner_id = message.topic.removeprefix("asic_bridge/")
                if miner_id in disk and message.payload:
                    energy = message.json()["energy"]
                    # what was published is never ahead of what is on disk
                    assert energy <= round(disk[miner_id]["energy_kwh"], 4) + 1e-9
                    last_energy[miner_id] = energy
    assert any(value > 0 for value in last_energy.values()), "energy never moved"


async def test_persist_is_coalesced_and_covers_every_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan adopting many miners at once shares a few writes; each caller returns only
    once its own change is on disk; the saved energy is what was written."""
    registry = Registry(tmp_path)
    writes: list[int] = []
    real_write = registry._write

    def counting_write(data: bytes) -> None:
        writes.append(len(json.loads(data)["devices"]))
        real_write(data)

    monkeypatch.setattr(registry, "_write", counting_write)

    async def adopt(n: int) -> None:
        record = DeviceRecord(id=f"m{n}", mac=None, ip=f"10.0.0.{n}", energy_kwh=float(n))
        registry.add(record)
        await registry.persist()
        assert f"m{n}" in _ids_on_disk(tmp_path)  # on disk when persist returns

    await asyncio.gather(*(adopt(n) for n in range(100)))
    assert len(writes) <= 3 and writes[-1] == 100
    assert registry.saved_energy("m42") == 42.0
    registry.devices["m42"].energy_kwh = 50.0
    assert registry.saved_energy("m42") == 42.0  # not saved yet: not publishable
    await registry.persist()
    assert registry.saved_energy("m42") == 50.0


def _ids_on_disk(state_dir: Path) -> set[str]:
    return {d["id"] for d in json.loads((state_dir / "devices.json").read_text())["devices"]}
