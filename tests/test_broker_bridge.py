"""Sites feeding one broker: docker/sites/'s mosquitto bridge, run for real.

Two mosquitto processes configured from the committed files: the central broker
(docker/sites/central.conf + central.acl) and a site broker (site.conf + site.acl, whose
``connection`` block bridges to the central one), each with a password file as the compose
file's init services write it.  Only the listener, the paths and the central address are
rewritten for the test.  The real Bridge with one simulated miner talks to the site broker
only; the test's client is Home Assistant's user on the central broker only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from bridge_support import (
    MOSQUITTO,
    Collector,
    MosquittoBroker,
    address_block,
    collector,
    free_port,
)
from test_bridge_mqtt import SOLO, make_config
from test_bridge_mqtt import _short_timeouts as _short_timeouts  # autouse: 1 s timeouts

from asic_bridge.bridge.app import Bridge
from asic_bridge.sim.base import SimMiner

SITES = Path(__file__).resolve().parents[1] / "docker" / "sites"
BASE = "asic_bridge_site1"  # docker/sites/bridge.yaml's base topic
PASSWORDS = {"site1": "link-pw-1", "homeassistant": "ha-pw-2", "asic_bridge": "bridge-pw-3"}

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")


class ConfiguredMosquitto(MosquittoBroker):
    """mosquitto on a committed config file, with what only a container has rewritten."""

    def __init__(self, port: int, workdir: Path, name: str, users: list[str], **extra: str):
        super().__init__(port, workdir)
        passwd = workdir / f"{name}.passwd"
        for i, user in enumerate(users):
            create = ["-c"] if i == 0 else []
            subprocess.run(
                ["mosquitto_passwd", *create, "-b", str(passwd), user, PASSWORDS[user]],
                check=True,
            )
        replace = {
            "listener 1883": f"listener {port} 127.0.0.1",
            "password_file /mosquitto/auth/passwd": f"password_file {passwd}",
            "acl_file /mosquitto/config/acl": f"acl_file {SITES / f'{name}.acl'}",
            "persistence true": "persistence false",
            "log_dest stdout": "log_dest stderr",
            **extra,
        }
        lines = []
        for line in (SITES / f"{name}.conf").read_text().splitlines():
            if line.startswith("persistence_location"):
                continue
            lines.append(replace.get(line, line))
        if os.geteuid() == 0:  # else mosquitto becomes user "mosquitto": no access to tmp_path
            lines.insert(0, "user root")
        if name == "site":  # what the compose service site-auth appends
            lines.append(f"remote_password {PASSWORDS['site1']}")
        self.conf.write_text("\n".join(lines) + "\n")


@dataclass
class Sites:
    central: Collector
    bridge: Bridge
    miner_id: str
    sim: SimMiner
    site: MosquittoBroker


@contextlib.asynccontextmanager
async def two_brokers(tmp_path: Path) -> AsyncIterator[Sites]:
    central_port = free_port()
    central = ConfiguredMosquitto(central_port, tmp_path, "central", ["site1", "homeassistant"])
    site = ConfiguredMosquitto(
        free_port(),
        tmp_path,
        "site",
        ["asic_bridge"],
        **{"address central:1883": f"address 127.0.0.1:{central_port}"},
    )
    await central.start()
    await site.start()
    try:
        config = make_config(
            site,
            [f"{SOLO}@{address_block()(1)}"],
            tmp_path / "state",
            mqtt={
                "url": f"mqtt://asic_bridge:{PASSWORDS['asic_bridge']}@127.0.0.1:{site.port}",
                "base_topic": BASE,
                "protocol": "5",
            },
        )
        # Home Assistant's user on the central broker: subscribed before the bridge starts
        filters = (f"{BASE}/#", "homeassistant/#", "replies/homeassistant/#")
        login = {"username": "homeassistant", "password": PASSWORDS["homeassistant"]}
        async with collector(central, filters, v5=True, **login) as mqtt:
            bridge = Bridge(config)
            await bridge.start()
            try:
                await asyncio.wait_for(bridge.ready.wait(), 20)
                sim = bridge.sims[0]
                slot = next(s for s in bridge.slots.values() if s.record.ip == sim.address)
                yield Sites(mqtt, bridge, slot.record.id, sim, site)
            finally:
                bridge.stop()
                await asyncio.wait_for(bridge.shutdown(), 20)
    finally:
        await site.stop()
        await central.stop()


async def test_state_and_discovery_reach_the_central_broker(tmp_path: Path) -> None:
    async with two_brokers(tmp_path) as sites:
        mqtt = sites.central
        link = await mqtt.wait_topic(f"{BASE}/link/state", within=10)
        assert link.text == "1"
        await mqtt.wait_topic(f"{BASE}/bridge/state", lambda m: m.text == "online", within=10)
        state = await mqtt.wait_topic(
            f"{BASE}/{sites.miner_id}", lambda m: m.json().get("hashrate", 0) > 0, within=10
        )
        assert state.json()["hashrate"] > 0
        # discovery crossed too, and names the topics as they are on the central broker
        config = await mqtt.wait_for(
            lambda m: (
                m.topic.startswith("homeassistant/")
                and m.topic.endswith("/config")
                and sites.miner_id in m.topic
            ),
            within=10,
            what="a discovery config of the miner",
        )
        assert f"{BASE}/{sites.miner_id}" in config.text


async def test_a_command_from_the_central_broker_reaches_the_miner(tmp_path: Path) -> None:
    async with two_brokers(tmp_path) as sites:
        mqtt, sim = sites.central, sites.sim
        await mqtt.wait_topic(f"{BASE}/{sites.miner_id}", within=10)
        assert sim.state.hashing
        mark = mqtt.mark()
        await mqtt.publish(f"{BASE}/{sites.miner_id}/set", {"mining": False, "transaction": "c1"})
        answer = await mqtt.wait_topic(f"{BASE}/{sites.miner_id}/response", since=mark, within=10)
        assert answer.json()["status"] == "ok", answer.text
        assert answer.json()["transaction"] == "c1"
        assert not sim.state.hashing  # the simulated miner itself stopped


async def test_an_mqtt5_request_is_answered_across_both_brokers(tmp_path: Path) -> None:
    """Response topic and correlation data survive the link both ways (MQTT 5 bridge)."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    async with two_brokers(tmp_path) as sites:
        mqtt, sim = sites.central, sites.sim
        await mqtt.wait_topic(f"{BASE}/{sites.miner_id}", within=10)
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = "replies/homeassistant/ops-1"
        props.CorrelationData = b"corr-42"
        mark = mqtt.mark()
        await mqtt.publish(f"{BASE}/{sites.miner_id}/set", {"mining": False}, properties=props)
        answer = await mqtt.wait_topic("replies/homeassistant/ops-1", since=mark, within=10)
        assert answer.json()["status"] == "ok", answer.text
        assert answer.properties.CorrelationData == b"corr-42"
        assert not sim.state.hashing
        # answered where it was asked, not (also) on the miner's default response topic
        assert not mqtt.on(f"{BASE}/{sites.miner_id}/response", since=mark)


async def test_the_site_link_going_down_is_seen_centrally(tmp_path: Path) -> None:
    """The link's last will: the central side tells a dead site from a quiet one."""
    async with two_brokers(tmp_path) as sites:
        mqtt = sites.central
        await mqtt.wait_topic(f"{BASE}/link/state", lambda m: m.text == "1", within=10)
        mark = mqtt.mark()
        await sites.site.kill()
        await mqtt.wait_topic(f"{BASE}/link/state", lambda m: m.text == "0", since=mark, within=10)
