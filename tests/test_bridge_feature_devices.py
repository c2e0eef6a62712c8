"""The device requests on a real simulated miner, without a broker: remove (with the block
list), rename (the record, the registry, the options and the events follow), options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bridge_fakes import RecordingPublisher, adopted_sim

from asic_bridge.bridge.commands import RequestError
from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.events import MinerRemoved, MinerRenamed, RecordChanged
from asic_bridge.bridge.features.devices import DeviceRequests
from asic_bridge.bridge.features.requests import BridgeRequests
from asic_bridge.bridge.options import OptionsStore
from asic_bridge.bridge.poller import Pollers
from asic_bridge.bridge.topics import Topics


def _config(tmp_path: Path) -> Any:
    return parse_config(
        {
            "mqtt": {"url": "mqtt://127.0.0.1:1"},
            "credentials": {"antminer": {"password": "x"}},
            "state_dir": str(tmp_path),
        }
    )


async def test_remove_block_rename_and_options(tmp_path: Path) -> None:
    async with adopted_sim(tmp_path) as (adoption, bus, device, _sim):
        store = OptionsStore(tmp_path)
        adoption.blocked = store.blocked
        pollers = Pollers(bus, adoption.connect, 60, 3, 4)
        feature = DeviceRequests(bus, _config(tmp_path), adoption, pollers, store)
        requests = BridgeRequests(RecordingPublisher(), Topics("base"))
        feature.register(requests)
        heard: list[Any] = []

        async def hear(event: Any) -> None:
            heard.append(event)

        for kind in (MinerRemoved, MinerRenamed, RecordChanged):
            bus.on(kind, hear)
        old_id = device.id

        # rename: the id, the friendly name, the registry (energy too) and the options
        await requests.handlers["device/options"]({"id": old_id, "options": {"disabled": True}})
        answer = await requests.handlers["device/rename"]({"from": old_id, "to": "garage"})
        assert answer == {"from": old_id, "to": "garage", "homeassistant_rename": False}
        assert device.id == "garage" and device.record.friendly_name == "garage"
        assert device.record.uid == old_id
        assert list(adoption.devices) == ["garage"] and "garage" in adoption.registry.devices
        assert store.device("garage").disabled is True and old_id not in store.devices
        assert isinstance(heard[-1], MinerRenamed) and heard[-1].old_id == old_id
        with pytest.raises(RequestError, match=r"another miner|already"):
            await requests.handlers["device/rename"]({"from": "garage", "to": "garage"})

        # options: applied to the poller and the record
        answer = await requests.handlers["device/options"](
            {"id": "garage", "options": {"poll_interval": 45, "friendly_name": "Rack 3"}}
        )
        poller = pollers.get(device)
        assert poller.own_interval == 45 and poller.disabled is True
        assert device.record.friendly_name == "Rack 3"
        assert isinstance(heard[-1], RecordChanged)
        answer = await requests.handlers["device/options"](
            {"id": "garage", "options": {"disabled": None, "credentials": "antminer"}}
        )
        assert answer["options"] == {
            "poll_interval": 45,
            "friendly_name": "Rack 3",
            "credentials": "antminer",
        }
        assert poller.disabled is False
        assert adoption.credentials.hosts[device.record.ip].password == "x"
        await requests.handlers["device/options"](
            {"id": "garage", "options": {"credentials": None}}
        )
        assert device.record.ip not in adoption.credentials.hosts  # back to the config's

        # remove with block: gone, on the block list, not adopted by the next scan
        answer = await requests.handlers["device/remove"]({"id": "garage", "block": True})
        assert answer["block"] is True and adoption.devices == {}
        assert isinstance(heard[-1], MinerRemoved)
        assert store.bridge.blocklist == [device.record.mac]
        assert await adoption.scan() == 1 and adoption.devices == {}
        with pytest.raises(RequestError, match="unknown miner"):
            await requests.handlers["device/remove"]({"id": "garage"})
        with pytest.raises(RequestError, match="block must be"):
            await requests.handlers["device/remove"]({"id": "x", "block": "yes"})
