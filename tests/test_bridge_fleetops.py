"""Pools and firmware updates end to end: a bridge on mosquitto serving simulated stock
Antminers.  A pool list set on a group gives each miner its worker from the template and is
read back per miner (its password never published); a firmware update of the group under a
concurrency limit of 1 runs one miner after the other with its events in order, reports the
new version, and never shows a miner offline; a wrong file is refused and nothing changes."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from bridge_support import MosquittoBroker, mosquitto_fixture  # noqa: F401
from test_bridge_mqtt import ANTMINER, Rig, bridge_rig

assert ANTMINER is not None
IMAGE = "Antminer-S19j-Pro-release-202401.tar.gz"
VERSION = "2024.01.e2e"
POOL_SECRET = "pool-Pass-4711"


def targz_image(version: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        payload = f"#!/bin/sh\nASIC_BRIDGE_SIM_VERSION={version}\n".encode()
        info = tarfile.TarInfo("runme.sh")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return gzip.compress(out.getvalue())


async def fleet(rig: Rig, group: str, payload: Any) -> dict[str, Any]:
    mark = rig.mqtt.mark()
    await rig.mqtt.publish(rig.t("fleet", group, "set"), payload)
    answer = await rig.mqtt.wait_topic(rig.t("fleet", group, "response"), since=mark, within=15)
    body: dict[str, Any] = answer.json()
    return body


async def test_pools_set_on_a_group_with_a_worker_template(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    groups = {"groups": {"rack": {}}}
    async with bridge_rig(mosquitto, tmp_path, [ANTMINER, ANTMINER], fleet=groups) as rig:
        pools = [
            {
                "url": "stratum+tcp://pool.example:3333",
                "user": "farm.{id}",
                "password": POOL_SECRET,
            },
            {"url": "stratum+tcp://backup.example:443", "user": "farm.{hostname}"},
        ]
        answer = await fleet(rig, "rack", {"pools": pools, "transaction": "g1"})
        assert answer["status"] == "ok" and answer["transaction"] == "g1", answer
        assert sorted(answer["data"]["miners"]) == sorted(rig.sims)
        mark = rig.mqtt.mark()
        for miner_id, sim in rig.sims.items():
            applied = answer["data"]["miners"][miner_id]["applied"]["pools"]
            hostname = rig.bridge.slots[miner_id].record.hostname
            assert applied[0] == {"url": pools[0]["url"], "user": f"farm.{miner_id}"}
            assert sim.state.pools[0].user == f"farm.{miner_id}"
            assert sim.state.pools[0].password == POOL_SECRET  # written, never published back
            # read back by the next poll: the state lists every pool with its own worker
            state = await rig.state(
                miner_id,
                lambda s, m=miner_id: (
                    [p.get("user") for p in s.get("pools", [])][:1] == [f"farm.{m}"]
                ),
                since=mark,
                within=10,
            )
            assert state["pools"][1]["user"] == f"farm.{hostname}"
            assert state["pool_url"] == pools[0]["url"]  # the primary pool sensor
        # a pool without a url: refused for the whole group, nothing changed
        before = {i: [(p.url, p.user) for p in s.state.pools] for i, s in rig.sims.items()}
        bad = await fleet(rig, "rack", {"pools": [{"user": "farm.x", "password": POOL_SECRET}]})
        assert bad["status"] == "error" and "url is missing" in bad["error"], bad
        one = next(iter(rig.sims))
        too_many = await rig.command(one, {"pools": [pools[0]] * 4})
        assert too_many["status"] == "error" and "3 pool slots" in too_many["error"]
        assert {i: [(p.url, p.user) for p in s.state.pools] for i, s in rig.sims.items()} == before
        # the password travelled only in our own commands: no state, answer, event has it
        for message in rig.mqtt.messages:
            if not message.topic.endswith("/set"):
                assert POOL_SECRET.encode() not in message.payload, message.topic


async def test_firmware_update_of_a_group_one_at_a_time(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    folder = tmp_path / "firmware"
    folder.mkdir()
    (folder / IMAGE).write_bytes(targz_image(VERSION))
    (folder / "wrong.zip").write_bytes(b"PK\x03\x04" + b"no firmware" * 20)
    manifest = [{"file": IMAGE, "version": VERSION, "firmware": "stock"}]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    sections: dict[str, Any] = {
        "fleet": {"groups": {"rack": {}}},
        "firmware": {"dir": str(folder), "concurrency": 1, "check_interval": 0.2, "timeout": 60},
    }
    async with bridge_rig(mosquitto, tmp_path, [ANTMINER, ANTMINER], **sections) as rig:
        for sim in rig.sims.values():
            sim.flash_time = 0.3
            sim.flash_downtime = 2.5  # longer than offline_after (2) polls of 1 s
        ids = sorted(rig.sims)
        # Home Assistant's update entity, offered because the manifest names a file for it
        for miner_id in ids:
            uid = rig.bridge.slots[miner_id].record.uid
            config = await rig.mqtt.wait_topic(f"homeassistant/update/{uid}/firmware/config")
            assert json.loads(config.json()["payload_install"]) == {"id": miner_id, "file": IMAGE}
            state = await rig.mqtt.wait_topic(rig.t(miner_id, "firmware_update"))
            assert state.json()["latest_version"] == VERSION
        # a wrong file and a path out of the folder: refused, nothing starts
        mark = rig.mqtt.mark()
        wrong = await rig.request("device/firmware_update", {"group": "rack", "file": "wrong.zip"})
        assert wrong["status"] == "error" and "nothing was sent" in wrong["error"], wrong
        escape = await rig.request("device/firmware_update", {"id": ids[0], "file": "../x.tar.gz"})
        assert escape["status"] == "error" and "'..'" in escape["error"]
        assert not rig.mqtt.on(rig.t("bridge", "event"), since=mark)
        assert all(s.installed_version is None for s in rig.sims.values())

        mark = rig.mqtt.mark()
        answer = await rig.request("device/firmware_update", {"group": "rack", "file": IMAGE})
        assert answer["status"] == "ok" and sorted(answer["data"]["started"]) == ids, answer

        def finished(m: Any) -> bool:
            events = [e.json() for e in rig.mqtt.on(rig.t("bridge", "event"), since=mark)]
            ends = [e for e in events if e["type"] == "firmware_update"]
            return sum(e["data"]["stage"] in ("done", "failed") for e in ends) == 2

        await rig.mqtt.wait_topic(rig.t("bridge", "event"), finished, since=mark, within=60)
        events = [e.json()["data"] for e in rig.mqtt.on(rig.t("bridge", "event"), since=mark)]
        stages = [(e["id"], e["stage"]) for e in events]
        first, second = stages[0][0], stages[3][0]
        assert stages == [
            (first, "uploading"),
            (first, "rebooting"),
            (first, "done"),
            (second, "uploading"),
            (second, "rebooting"),
            (second, "done"),
        ], stages
        assert all(VERSION in e["version"] for e in events if e["stage"] == "done")
        for miner_id in ids:
            seen = [m.text for m in rig.mqtt.on(rig.t(miner_id, "availability"), since=mark)]
            assert "offline" not in seen, (miner_id, seen)
            await rig.state(miner_id, lambda s: VERSION in str(s.get("fw_ver")), since=mark)
            await rig.mqtt.wait_topic(
                rig.t(miner_id, "firmware_update"),
                lambda m: (
                    VERSION in str(m.json()["installed_version"])
                    and m.json()["in_progress"] is False
                ),
                since=mark,
            )
