"""Adoption on a real simulated miner: a scan adopts it once, on disk before anyone is told,
a rescan finds the same device, and connect() identifies a dropped miner again."""

from __future__ import annotations

import json
from pathlib import Path

from bridge_fakes import adopted_sim

from asic_bridge.bridge.events import MinerAdopted, ScanFinished
from asic_bridge.bridge.topics import mac_id


async def test_scan_adopts_once_and_persists_first(tmp_path: Path) -> None:
    async with adopted_sim(tmp_path) as (adoption, bus, device, _sim):
        assert device.id == mac_id(device.record.mac or "")
        assert device.record.make and device.record.capabilities
        assert device.miner is not None
        heard: list[tuple[str, bool, bool]] = []
        scans: list[int] = []

        async def adopted(event: MinerAdopted) -> None:
            on_disk = json.loads((tmp_path / "devices.json").read_text())
            ids = {d["id"] for d in on_disk["devices"]}
            heard.append((event.device.id, event.found, event.device.id in ids))

        async def scanned(event: ScanFinished) -> None:
            scans.append(event.found)

        bus.on(MinerAdopted, adopted)
        bus.on(ScanFinished, scanned)
        assert await adoption.scan() == 1
        assert heard == [(device.id, False, True)]  # the same device, not found anew
        assert list(adoption.devices) == [device.id] and scans == [1]
        assert adoption.devices[device.id] is device

        device.miner = None  # dropped (offline): connect identifies it again
        miner = await adoption.connect(device)
        assert miner is not None and device.miner is miner


async def test_a_new_miner_is_on_disk_before_miner_adopted(tmp_path: Path) -> None:
    """A kill -9 right after a scan must not lose a miner HA was already told about."""
    async with adopted_sim(tmp_path) as (adoption, bus, device, _sim):
        removed = await adoption.remove(device.id)
        assert removed is device and adoption.devices == {}
        on_disk = json.loads((tmp_path / "devices.json").read_text())
        assert on_disk["devices"] == []
        heard: list[tuple[bool, list[str]]] = []

        async def adopted(event: MinerAdopted) -> None:
            on_disk = json.loads((tmp_path / "devices.json").read_text())
            heard.append((event.found, [d["id"] for d in on_disk["devices"]]))

        bus.on(MinerAdopted, adopted)
        assert await adoption.scan() == 1
        await adoption.announced()
        assert heard == [(True, [device.id])]
