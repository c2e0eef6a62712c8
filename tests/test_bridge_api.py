"""The zigbee2mqtt-style bridge API end to end, on mosquitto: device/rename, device/remove
with the block list, device/options, options, health_check, restart, bridge/logging,
bridge/info's additions, unknown paths, and the bridge device's entities."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from bridge_support import MosquittoBroker, mosquitto_fixture  # noqa: F401
from test_bridge_mqtt import BASE, HA, SOLO, Rig, bridge_rig

from asic_bridge.bridge.app import run_bridge
from asic_bridge.bridge.entities import bridge_device_id
from asic_bridge.bridge.topics import Topics

assert SOLO is not None


async def _retained_cleared(rig: Rig, topics: set[str], since: int) -> None:
    """Every topic in ``topics`` got an empty retained message after ``since``."""
    for topic in sorted(topics):
        await rig.mqtt.wait_topic(topic, lambda m: m.payload == b"", since=since, within=5)


async def test_rename_moves_topics_and_keeps_unique_ids(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    async with bridge_rig(mosquitto, tmp_path, [SOLO], mqtt={"per_field_topics": True}) as rig:
        (old,) = rig.sims
        config_topic = f"{HA}/sensor/{old}/hashrate/config"
        before = rig.mqtt.last(config_topic)
        assert before is not None
        unique_id = before.json()["unique_id"]
        mark = rig.mqtt.mark()
        answer = await rig.request(
            "device/rename", {"from": old, "to": "garage", "transaction": "r1"}
        )
        assert answer["status"] == "ok" and answer["transaction"] == "r1", answer
        assert answer["data"] == {"from": old, "to": "garage", "homeassistant_rename": False}
        # the old retained topics are cleared, the new ones carry the miner
        await _retained_cleared(
            rig, {rig.t(old), rig.t(old, "availability"), rig.t(old, "hashrate")}, mark
        )
        await rig.state("garage", lambda s: "hashrate" in s, since=mark, within=10)
        after = await rig.mqtt.wait_topic(
            config_topic, lambda m: m.payload != b"", since=mark, within=5
        )
        assert after.json()["unique_id"] == unique_id  # HA keeps the entity
        assert after.json()["state_topic"] == rig.t("garage")
        assert after.json()["device"]["name"] == "garage"
        devices = await rig.mqtt.wait_topic(
            rig.t("bridge", "devices"),
            lambda m: [d["id"] for d in m.json()] == ["garage"],
            since=mark,
        )
        assert devices.json()[0]["friendly_name"] == "garage"
        # commands follow the new id
        reply = await rig.command("garage", {"fault_light": True})
        assert reply["status"] == "ok", reply
        for bad, error in [
            ({"from": "garage", "to": "bridge"}, "to must be"),
            ({"from": "garage", "to": "a/b"}, "to must be"),
            ({"from": "ghost", "to": "x"}, "unknown miner"),
            ({"from": "garage", "to": "garage"}, "already"),
        ]:
            refused = await rig.request("device/rename", bad)
            assert refused["status"] == "error" and error in refused["error"], refused
        # the new id survives a restart (the registry has it)
    state = json.loads((tmp_path / "state" / "devices.json").read_text())
    assert [d["id"] for d in state["devices"]] == ["garage"]
    assert state["devices"][0]["uid"] == old


async def test_remove_with_block_clears_everything_and_is_not_adopted_again(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    async with bridge_rig(mosquitto, tmp_path, [SOLO], mqtt={"per_field_topics": True}) as rig:
        (miner_id,) = rig.sims
        record = rig.bridge.slots[miner_id].record
        announced = set(record.discovery_topics)
        assert announced and record.mac
        mark = rig.mqtt.mark()
        answer = await rig.request("device/remove", {"id": miner_id, "block": True})
        assert answer["status"] == "ok" and answer["data"]["block"] is True, answer
        await _retained_cleared(
            rig,
            {rig.t(miner_id), rig.t(miner_id, "availability"), rig.t(miner_id, "hashrate")}
            | announced,
            mark,
        )
        rescan = await rig.request("scan")
        assert rescan["status"] == "ok" and rescan["data"]["found"] == 1  # it answers ...
        assert miner_id not in rig.bridge.slots  # ... but is blocked
        options = json.loads((tmp_path / "state" / "options.json").read_text())
        assert options["bridge"]["blocklist"] == [record.mac]
        # the block list is an option like the others: emptied, the miner is adopted again
        cleared = await rig.request("options", {"options": {"blocklist": []}})
        assert cleared["status"] == "ok", cleared
        await rig.request("scan")
        assert miner_id in rig.bridge.slots


async def test_device_options_validated_persisted_and_applied(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    async with bridge_rig(mosquitto, tmp_path, [SOLO]) as rig:
        (miner_id,) = rig.sims
        for bad, error in [
            ({"id": miner_id, "options": {"poll_interval": 0.1}}, "poll_interval"),
            ({"id": miner_id, "options": {"colour": "red"}}, "colour"),
            ({"id": miner_id, "options": {"credentials": "nosuch"}}, "credentials"),
            ({"id": miner_id, "options": {}}, "options must be"),
            ({"id": "ghost", "options": {"disabled": True}}, "unknown miner"),
        ]:
            refused = await rig.request("device/options", bad)
            assert refused["status"] == "error" and error in refused["error"], (bad, refused)
        options = {"poll_interval": 30, "friendly_name": "Rack 3 left", "credentials": "luxos"}
        answer = await rig.request("device/options", {"id": miner_id, "options": options})
        assert answer["status"] == "ok" and answer["data"]["options"] == options, answer
        poller = rig.bridge.pollers.get(rig.bridge.slots[miner_id])
        assert poller.own_interval == 30
        stored = json.loads((tmp_path / "state" / "options.json").read_text())
        assert stored["devices"][miner_id] == options
        config = await rig.mqtt.wait_topic(
            f"{HA}/sensor/{miner_id}/hashrate/config",
            lambda m: m.payload != b"" and m.json()["device"]["name"] == "Rack 3 left",
        )
        assert config.json()["state_topic"] == rig.t(miner_id)  # the id stays
        # disabled: no more polls
        answer = await rig.request(
            "device/options", {"id": miner_id, "options": {"disabled": True}}
        )
        assert answer["status"] == "ok"
        await asyncio.sleep(0.2)  # a poll already running finishes
        mark = rig.mqtt.mark()
        await asyncio.sleep(2.5)  # more than two poll intervals of the bridge (1 s)
        assert rig.mqtt.on(rig.t(miner_id), since=mark) == []
        rig.assert_no_secrets()


async def test_options_health_info_logging_and_unknown_paths(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    async with bridge_rig(mosquitto, tmp_path, [SOLO]) as rig:
        health = await rig.request("health_check")
        assert health["status"] == "ok", health
        data = health["data"]
        assert data["healthy"] is True and data["broker"] == "connected"
        assert (data["miners_online"], data["miners_total"]) == (1, 1)
        assert data["last_poll_age"] is not None and data["last_poll_age"] >= 0

        info = rig.mqtt.last(rig.t("bridge", "info"))
        assert info is not None
        body = info.json()
        assert body["log_level"] == "info" and body["restart_required"] is False
        assert body["config_schema_version"] == 1 and body["broker"] == "external"

        mark = rig.mqtt.mark()
        answer = await rig.request(
            "options", {"options": {"log_level": "debug", "poll_interval": 2}}
        )
        assert answer["status"] == "ok" and answer["data"]["restart_required"] is False, answer
        info = await rig.mqtt.wait_topic(
            rig.t("bridge", "info"), lambda m: m.json()["log_level"] == "debug", since=mark
        )
        assert info.json()["config"]["miners"]["poll_interval"] == 2
        assert all(p.interval == 2 for p in rig.bridge.pollers.by_id.values())
        answer = await rig.request("options", {"options": {"per_field_topics": True}})
        assert answer["data"]["restart_required"] is True
        for bad, error in [
            ({"options": {"log_level": "loud"}}, "log_level"),
            ({"options": {"poll_interval": -1}}, "poll_interval"),
            ({"options": {"nonsense": 1}}, "nonsense"),
            ({}, "options must be"),
        ]:
            refused = await rig.request("options", bad)
            assert refused["status"] == "error" and error in refused["error"], (bad, refused)
        stored = json.loads((tmp_path / "state" / "options.json").read_text())
        assert stored["bridge"] == {
            "log_level": "debug",
            "poll_interval": 2,
            "per_field_topics": True,
        }

        # bridge/logging: records at or above mqtt_log_level, never the secret
        answer = await rig.request("options", {"options": {"mqtt_log_level": "info"}})
        assert answer["status"] == "ok"
        mark = rig.mqtt.mark()
        refused = await rig.command(next(iter(rig.sims)), {"power_limit": "lots"})
        assert refused["status"] == "error"
        line = await rig.mqtt.wait_topic(
            rig.t("bridge", "logging"), lambda m: "refused" in m.json()["message"], since=mark
        )
        assert line.json()["level"] == "info" and set(line.json()) == {"level", "message"}

        for path in ("device/unknown", "nonsense", "a/b/c"):
            answer = await rig.request(path, {"transaction": 5})
            assert answer["status"] == "error" and "unknown request" in answer["error"], answer
            assert answer["transaction"] == 5
        rig.assert_no_secrets()


async def test_bridge_device_entities(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    async with bridge_rig(mosquitto, tmp_path, [SOLO]) as rig:
        node = bridge_device_id(Topics(BASE, HA))
        entities: dict[str, Any] = {}
        for component, key in [
            ("button", "restart"),
            ("button", "scan"),
            ("select", "log_level"),
            ("sensor", "version"),
            ("binary_sensor", "connection_state"),
        ]:
            message = rig.mqtt.last(f"{HA}/{component}/{node}/{key}/config")
            assert message is not None, key
            entities[key] = message.json()
            assert entities[key]["device"]["identifiers"] == [node]
        # the scan button and the log-level select send working requests
        scan = entities["scan"]
        mark = rig.mqtt.mark()
        await rig.mqtt.publish(scan["command_topic"], scan["payload_press"])
        response = await rig.mqtt.wait_topic(rig.t("bridge", "response", "scan"), since=mark)
        assert response.json()["status"] == "ok"
        select = entities["log_level"]
        payload = select["command_template"].replace("{{ value }}", "warning")
        mark = rig.mqtt.mark()
        await rig.mqtt.publish(select["command_topic"], payload)
        info = await rig.mqtt.wait_topic(
            rig.t("bridge", "info"), lambda m: m.json()["log_level"] == "warning", since=mark
        )
        assert info.json()["log_level"] in select["options"]


async def test_restart_runs_the_bridge_again(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    """bridge/request/restart: answered, then the bridge stops and run_bridge starts anew
    with the config read again (and the options kept)."""
    from bridge_support import collector

    config_file = tmp_path / "bridge.yaml"
    state = tmp_path / "state"
    config_file.write_text(
        f"mqtt: {{url: 'mqtt://127.0.0.1:{mosquitto.port}', client_id: restarter}}\n"
        "miners: {scan_interval: 0}\n"
        f"state_dir: '{state}'\n"
    )
    async with collector(mosquitto, (f"{BASE}/#",)) as mqtt:
        runner = asyncio.create_task(run_bridge(str(config_file)))
        try:
            first = await mqtt.wait_topic(f"{BASE}/bridge/info", within=15)
            started = first.json()["started_at"]
            mark = mqtt.mark()
            await mqtt.publish(f"{BASE}/bridge/request/restart", {"transaction": "x"})
            answer = await mqtt.wait_topic(f"{BASE}/bridge/response/restart", since=mark)
            assert answer.json()["status"] == "ok" and answer.json()["transaction"] == "x"
            await mqtt.wait_topic(f"{BASE}/bridge/state", lambda m: m.text == "offline", since=mark)
            again = await mqtt.wait_topic(
                f"{BASE}/bridge/info",
                lambda m: m.json()["started_at"] > started,
                since=mark,
                within=15,
            )
            assert again.json()["restart_required"] is False
            assert not runner.done()
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
