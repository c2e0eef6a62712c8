"""Firmware updates through the firmware feature on two real simulated Antminers (stock web
API), answered and reported through a recording publisher: a group under a concurrency limit
of 1 updates one miner after the other, the events in order, the new version reported and
no miner offline meanwhile; a wrong file, a path out of the folder, a second update of the
same miner are refused and nothing changes."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import json
import tarfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bridge_fakes import RecordingPublisher
from bridge_support import address_block

from asic_bridge import factory, settings
from asic_bridge.bridge import commands as cmd
from asic_bridge.bridge.adoption import Adoption
from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.events import EventBus, MinerOffline
from asic_bridge.bridge.features.firmware import FirmwareUpdates
from asic_bridge.bridge.poller import Pollers
from asic_bridge.bridge.registry import Registry
from asic_bridge.bridge.topics import Topics
from asic_bridge.sim import SimMiner, load_kinds

T = Topics("base")
IMAGE = "Antminer-S19j-Pro-release-202401.tar.gz"


def targz_image(version: str) -> bytes:
    """A stock Antminer upgrade archive carrying the simulators' version marker."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        payload = f"#!/bin/sh\nASIC_BRIDGE_SIM_VERSION={version}\n".encode()
        info = tarfile.TarInfo("runme.sh")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return gzip.compress(out.getvalue())


@dataclass
class Rig:
    updates: FirmwareUpdates
    adoption: Adoption
    pollers: Pollers
    sims: list[SimMiner]
    pub: RecordingPublisher
    events: list[dict[str, Any]] = field(default_factory=list)
    offline: list[str] = field(default_factory=list)

    def stages(self) -> list[tuple[str, str]]:
        return [(e["id"], e["stage"]) for e in self.events]

    async def finished(self, count: int) -> None:
        for _ in range(600):
            if sum(e["stage"] in ("done", "failed") for e in self.events) >= count:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"updates did not finish: {self.events}")


@contextlib.asynccontextmanager
async def rig(tmp_path: Path, manifest: list[dict[str, str]] | None = None) -> AsyncIterator[Rig]:
    settings.update("api_function_timeout", 2.0)
    factory.cache.clear()
    addr = address_block()
    sims = [load_kinds()["antminer_s19jpro"](addr(n)) for n in (1, 2)]
    folder = tmp_path / "firmware"
    folder.mkdir()
    (folder / IMAGE).write_bytes(targz_image("2024.01.test"))
    (folder / "notes.zip").write_bytes(b"PK\x03\x04" + b"not a firmware archive" * 8)
    if manifest is not None:
        (folder / "manifest.json").write_text(json.dumps(manifest))
    for s in sims:
        s.state.jitter = 0.0
        s.flash_time = 0.2
        s.flash_downtime = 0.6
        await s.start()
    try:
        config = parse_config(
            {
                "mqtt": {"url": "mqtt://127.0.0.1:1"},
                "miners": {"hosts": [{"ip": s.address, "ports": s.ports} for s in sims]},
                "fleet": {"groups": {"rack": {}}},
                "firmware": {
                    "dir": str(folder),
                    "concurrency": 1,
                    "check_interval": 0.1,
                    "timeout": 30,
                },
                "state_dir": str(tmp_path),
            }
        )
        bus = EventBus()
        adoption = Adoption(config, Registry(tmp_path), bus)
        assert await adoption.scan() == 2
        await adoption.announced()
        # offline after one missed poll: any silence counted would show
        pollers = Pollers(bus, adoption.connect, 0.3, 1, 4)
        pub = RecordingPublisher()
        box: list[dict[str, Any]] = []

        async def sink(kind: str, data: dict[str, Any]) -> None:
            assert kind == "firmware_update"
            box.append(data)

        updates = FirmwareUpdates(bus, pub, T, config, adoption, pollers, sink)
        r = Rig(updates, adoption, pollers, sims, pub, box)

        async def offline(event: MinerOffline) -> None:
            r.offline.append(event.device.id)

        bus.on(MinerOffline, offline)
        for device in adoption.devices.values():
            assert await pollers.get(device).poll()
            pollers.start(device)
        yield r
        await updates.close()
        await pollers.stop()
        await adoption.close()
    finally:
        for s in sims:
            await s.stop()


async def test_a_group_updates_one_at_a_time_and_reports_the_new_version(
    tmp_path: Path,
) -> None:
    entry = {"file": IMAGE, "version": "2024.01.test", "firmware": "stock"}
    async with rig(tmp_path, [entry]) as r:
        ids = sorted(r.adoption.devices)
        before = {d.id: d.record.fw_ver for d in r.adoption.devices.values()}
        answer = await r.updates._request({"group": "rack", "file": IMAGE})
        assert sorted(answer["started"]) == ids and answer["concurrency"] == 1
        await r.finished(2)
        stages = r.stages()
        first, second = stages[0][0], stages[3][0]
        assert stages == [
            (first, "uploading"),
            (first, "rebooting"),
            (first, "done"),
            (second, "uploading"),
            (second, "rebooting"),
            (second, "done"),
        ], stages
        assert {first, second} == set(ids)
        for e in r.events:
            if e["stage"] == "done":
                assert e["version"] is not None and "2024.01.test" in e["version"]
                assert before[e["id"]] != e["version"]
        assert all(s.installed_version == "2024.01.test" for s in r.sims)
        assert r.offline == []  # the reboots were not taken for a miner gone
        for miner_id in ids:
            state = r.pub.last(f"base/{miner_id}/firmware_update").json()
            assert state["in_progress"] is False
            assert "2024.01.test" in state["installed_version"]
            assert state["latest_version"] == "2024.01.test"
        # HA's update entity: install sends the request for this file
        config = r.pub.last(
            f"homeassistant/update/{r.adoption.devices[ids[0]].record.uid}/firmware/config"
        )
        cfg = config.json()
        assert cfg["command_topic"] == "base/bridge/request/device/firmware_update"
        assert json.loads(cfg["payload_install"]) == {"id": ids[0], "file": IMAGE}
        assert cfg["state_topic"] == f"base/{ids[0]}/firmware_update"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"group": "rack", "file": "notes.zip"}, "nothing was sent"),
        ({"group": "rack", "file": "../firmware/" + IMAGE}, "not a plain file name"),
        ({"group": "rack", "file": "/etc/passwd"}, "not a plain file name"),
        ({"group": "rack", "file": "missing.tar.gz"}, "not in the firmware folder"),
        ({"group": "nope", "file": IMAGE}, "unknown fleet group"),
        ({"group": "rack", "id": "x", "file": IMAGE}, "either id"),
        ({"group": "rack", "file": IMAGE, "path": "/tmp"}, "unknown field(s) path"),
    ],
)
async def test_a_wrong_request_is_refused_and_nothing_changes(
    tmp_path: Path, args: dict[str, Any], error: str
) -> None:
    async with rig(tmp_path) as r:
        with pytest.raises(cmd.RequestError, match=None) as refused:
            await r.updates._request(args)
        assert error in str(refused.value), refused.value
        await asyncio.sleep(0.3)
        assert r.events == [] and r.updates.updating == set()
        assert all(s.installed_version is None and not s.upgrading for s in r.sims)


async def test_one_update_at_a_time_per_miner(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        miner_id = sorted(r.adoption.devices)[0]
        await r.updates._request({"id": miner_id, "file": IMAGE})
        with pytest.raises(cmd.RequestError, match="already running"):
            await r.updates._request({"id": miner_id, "file": IMAGE})
        await r.finished(1)
        assert [s for _, s in r.stages()] == ["uploading", "rebooting", "done"]
        # without a manifest the miner's new version is what it reports once back
        assert "2024.01.test" in r.events[-1]["version"]
