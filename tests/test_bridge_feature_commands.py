"""The commands feature on a real simulated miner, answered through a recording publisher:
validated before anything runs, duplicates answered and not run again, a failure corrects
the UI, every command makes the next poll a full one."""

from __future__ import annotations

import json
from pathlib import Path

from bridge_fakes import RecordingPublisher, adopted_sim, request

from asic_bridge.bridge.events import CommandDone
from asic_bridge.bridge.features.commands import Commands
from asic_bridge.bridge.poller import Pollers
from asic_bridge.bridge.topics import Topics

T = Topics("base")


async def test_set_runs_answers_and_asks_for_a_full_poll(tmp_path: Path) -> None:
    async with adopted_sim(tmp_path) as (adoption, bus, device, sim):
        pub = RecordingPublisher()
        pollers = Pollers(bus, adoption.connect, 60, 3, 4)
        commands = Commands(bus, pub, T, adoption, pollers, 300)
        done: list[bool] = []

        async def heard(event: CommandDone) -> None:
            done.append(event.ok)

        bus.on(CommandDone, heard)
        poller = pollers.get(device)
        poller.policy.full_poll_due = False
        payload = json.dumps({"fault_light": True, "transaction": "t1"}).encode()
        await commands.handle(request("set", payload, target=device.id))
        answer = pub.last(f"base/{device.id}/response").json()
        assert answer["status"] == "ok" and answer["transaction"] == "t1", answer
        assert sim.state.fault_light is True
        assert poller.policy.full_poll_due and poller.poll_now.is_set()
        assert done == []

        # the same transaction again: the first answer, marked, and nothing run
        sim.state.fault_light = False
        await commands.handle(request("set", payload, target=device.id))
        again = pub.last(f"base/{device.id}/response").json()
        assert again["duplicate"] is True and again["status"] == "ok"
        assert sim.state.fault_light is False


async def test_invalid_and_unknown_are_refused_before_anything_runs(tmp_path: Path) -> None:
    async with adopted_sim(tmp_path) as (adoption, bus, device, sim):
        pub = RecordingPublisher()
        pollers = Pollers(bus, adoption.connect, 60, 3, 4)
        commands = Commands(bus, pub, T, adoption, pollers, 300)
        done: list[bool] = []

        async def heard(event: CommandDone) -> None:
            done.append(event.ok)

        bus.on(CommandDone, heard)
        before = sim.state.fault_light
        payload = b'{"fault_light": true, "power_limit": "lots"}'
        await commands.handle(request("set", payload, target=device.id))
        answer = pub.last(f"base/{device.id}/response").json()
        assert answer["status"] == "error" and "power_limit" in answer["error"]
        assert sim.state.fault_light is before  # all or nothing
        assert done == [False]  # the UI is corrected with the real state

        await commands.handle(request("set_field", b"on", target="ghost", name="fault_light"))
        ghost = pub.last("base/ghost/response").json()
        assert ghost["status"] == "error" and "ghost" in ghost["error"]

        await commands.handle(request("get", target=device.id))
        assert pub.last(f"base/{device.id}/response").json()["status"] == "ok"
        assert pollers.get(device).poll_now.is_set()


async def test_an_unreachable_miner_is_an_error_not_a_hang(tmp_path: Path) -> None:
    async with adopted_sim(tmp_path) as (adoption, bus, device, sim):
        pub = RecordingPublisher()
        pollers = Pollers(bus, adoption.connect, 60, 3, 4)
        commands = Commands(bus, pub, T, adoption, pollers, 300)
        await sim.stop()
        await commands.handle(request("set_field", b"on", target=device.id, name="fault_light"))
        answer = pub.last(f"base/{device.id}/response").json()
        assert answer["status"] in ("error", "unknown") and answer["error"], answer
