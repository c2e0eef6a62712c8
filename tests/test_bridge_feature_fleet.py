"""The fleet feature on a real simulated miner: a target below its minimum puts it to sleep,
a recent change is held, an emergency is not, bad requests are refused, and the outcome is
retained and republished."""

from __future__ import annotations

from pathlib import Path

from bridge_fakes import RecordingPublisher, adopted_sim, request

from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.events import Announce
from asic_bridge.bridge.features.commands import Commands
from asic_bridge.bridge.features.fleet import Fleet
from asic_bridge.bridge.features.state import StateFeature
from asic_bridge.bridge.poller import Pollers
from asic_bridge.bridge.topics import Topics

T = Topics("base")


async def test_curtail_hold_emergency_and_refusals(tmp_path: Path) -> None:
    async with adopted_sim(tmp_path) as (adoption, bus, device, sim):
        config = parse_config(
            {
                "mqtt": {"url": "mqtt://127.0.0.1:1"},
                "fleet": {"groups": {"all": {"min_change_interval": 3600}}},
                "state_dir": str(tmp_path),
            }
        )
        pub = RecordingPublisher()
        pollers = Pollers(bus, adoption.connect, 60, 3, 4)
        state = StateFeature(bus, pub, T, config, adoption.registry)
        commands = Commands(bus, pub, T, adoption, pollers, 300)
        fleet = Fleet(bus, pub, T, config, adoption, pollers, state, commands)
        assert await pollers.get(device).poll()  # online, with a power reading
        assert sim.state.hashing

        await fleet._request(request("fleet_set", b'{"target_w": 1, "transaction": "f"}', "all"))
        answer = pub.last("base/fleet/all/response").json()
        assert answer["status"] == "ok" and answer["transaction"] == "f", answer
        assert answer["data"]["miners"]["sleeping"] == [device.id]
        assert not sim.state.hashing
        assert pub.last("base/fleet/all").retain

        # changed a moment ago: held as it is, unless it is an emergency
        await fleet._request(request("fleet_set", b'{"target_w": 100000}', "all"))
        assert pub.last("base/fleet/all/response").json()["data"]["held"] == [device.id]
        assert not sim.state.hashing
        body = b'{"target_w": 100000, "emergency": true}'
        await fleet._request(request("fleet_set", body, "all"))
        assert pub.last("base/fleet/all/response").json()["status"] == "ok"
        assert sim.state.hashing

        for payload, error in [
            (b'{"target_w": -5}', "target_w"),
            (b'{"target_w": "lots"}', "target_w"),
            (b"not json", "JSON"),
            (b'{"target_w": 5, "emergency": "yes"}', "emergency"),
        ]:
            await fleet._request(request("fleet_set", payload, "all"))
            refused = pub.last("base/fleet/all/response").json()
            assert refused["status"] == "error" and error in refused["error"], refused
        await fleet._request(request("fleet_set", b'{"target_w": 5}', "nowhere"))
        assert "nowhere" in pub.last("base/fleet/nowhere/response").json()["error"]

        pub.clear()
        await bus.emit(Announce())
        assert pub.last("base/fleet/all").json()["target_w"] == 100000
