"""Bridge options without a broker: validated, persisted, put in force at once where they
can be (poll interval, log level), restart_required where not; health_check; restart."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from bridge_fakes import RecordingPublisher, device

from asic_bridge.bridge.adoption import Adoption
from asic_bridge.bridge.commands import RequestError
from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.events import EventBus
from asic_bridge.bridge.features.logging import MqttLogging
from asic_bridge.bridge.features.options import BridgeOptionsFeature, apply_stored
from asic_bridge.bridge.features.requests import BridgeRequests
from asic_bridge.bridge.mqtt import MqttSession
from asic_bridge.bridge.options import BridgeOptions, OptionsStore
from asic_bridge.bridge.poller import Pollers
from asic_bridge.bridge.registry import Registry
from asic_bridge.bridge.topics import Topics


async def test_options_health_and_restart(tmp_path: Path) -> None:
    config = parse_config({"mqtt": {"url": "mqtt://127.0.0.1:1"}, "state_dir": str(tmp_path)})
    bus, topics = EventBus(), Topics("base")
    store = OptionsStore(tmp_path)
    adoption = Adoption(config, Registry(tmp_path), bus)
    pollers = Pollers(bus, adoption.connect, 10, 2, 4)
    restarts: list[bool] = []
    infos: list[bool] = []

    async def info_changed() -> None:
        infos.append(True)

    logs = MqttLogging(RecordingPublisher(), topics, None)
    feature = BridgeOptionsFeature(
        config,
        store,
        MqttSession(config, topics, bus),
        adoption,
        pollers,
        lambda: restarts.append(True),
        info_changed,
        logs,
    )
    requests = BridgeRequests(RecordingPublisher(), topics)
    feature.register(requests)
    miner = adoption.devices["m1"] = device("m1")
    pollers.get(miner)

    answer = await requests.handlers["options"](
        {"options": {"poll_interval": 3, "log_level": "warning", "mqtt_log_level": "error"}}
    )
    assert answer["restart_required"] is False and infos == [True]
    assert config.miners.poll_interval == 3 and pollers.get(miner).interval == 3
    assert logging.getLogger("asic_bridge").level == logging.WARNING
    assert logs.level_name == "error"
    assert feature.info()["log_level"] == "warning"
    answer = await requests.handlers["options"]({"options": {"discovery": False}})
    assert answer["restart_required"] is True and feature.info()["restart_required"] is True
    assert config.mqtt.discovery is True  # not until the restart
    with pytest.raises(RequestError, match="poll_interval"):
        await requests.handlers["options"]({"options": {"poll_interval": "often"}})

    # persisted, and put over the YAML config at the next start
    again = OptionsStore(tmp_path)
    again.load()
    assert again.bridge == BridgeOptions(
        poll_interval=3, log_level="warning", mqtt_log_level="error", discovery=False
    )
    fresh = parse_config({"mqtt": {"url": "mqtt://127.0.0.1:1"}, "state_dir": str(tmp_path)})
    apply_stored(fresh, again.bridge)
    assert (fresh.miners.poll_interval, fresh.log_level, fresh.mqtt.discovery) == (
        3,
        "warning",
        False,
    )

    health = await requests.handlers["health_check"]({})
    assert health == {
        "healthy": False,
        "broker": "disconnected",
        "miners_online": 0,
        "miners_total": 1,
        "last_poll_age": None,
    }
    assert requests.then["restart"] is not None
    requests.then["restart"]()
    assert restarts == [True]
    logging.getLogger("asic_bridge").setLevel(logging.INFO)
