"""The commands feature on a real simulated miner, answered through a recording publisher:
validated before anything runs, duplicates answered and not run again, a failure corrects
the UI, every command makes the next poll a full one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bridge_fakes import RecordingPublisher, adopted_sim, request

from asic_bridge.bridge.adoption import Adoption
from asic_bridge.bridge.events import CommandDone, EventBus
from asic_bridge.bridge.features.commands import Commands
from asic_bridge.bridge.poller import Pollers
from asic_bridge.bridge.topics import Topics

T = Topics("base")


def _rig(
    adoption: Adoption, bus: EventBus
) -> tuple[RecordingPublisher, Pollers, Commands, list[bool]]:
    """The commands feature answering through a recording publisher, and the outcome of
    every CommandDone it emits (False: the state feature republishes the real state)."""
    pub = RecordingPublisher()
    pollers = Pollers(bus, adoption.connect, 60, 3, 4)
    commands = Commands(bus, pub, T, adoption, pollers, 300)
    done: list[bool] = []

    async def heard(event: CommandDone) -> None:
        done.append(event.ok)

    bus.on(CommandDone, heard)
    return pub, pollers, commands, done


async def test_set_runs_answers_and_asks_for_a_full_poll(tmp_path: Path) -> None:
    async with adopted_sim(tmp_path) as (adoption, bus, device, sim):
        pub, pollers, commands, done = _rig(adoption, bus)
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
        pub, pollers, commands, done = _rig(adoption, bus)
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


async def test_fan_commands_are_checked_and_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #16 item 5 on a simulated BitAxe (ESP-Miner): what the simulator's fan settings
    show, not what the bridge says, proves a write happened or did not."""
    async with adopted_sim(tmp_path, "bitaxe_gamma") as (adoption, bus, device, sim):
        assert device.record.fan_modes == ["auto", "manual"]
        assert "fan_modes" in device.record.public()
        pub, _, commands, done = _rig(adoption, bus)
        response = f"base/{device.id}/response"

        payload = b'{"fan_mode": "manual", "fan_speed": 35, "transaction": "f1"}'
        await commands.handle(request("set", payload, target=device.id))
        answer = pub.last(response).json()
        assert answer["status"] == "ok", answer
        assert answer["applied"] == {"fan_mode": "manual", "fan_speed": 35}
        assert answer["command"] == "fan_mode" and answer["transaction"] == "f1"
        assert (sim.autofan, sim.manual_fan) == (0, 35)

        await commands.handle(request("set_field", b"auto", target=device.id, name="fan_mode"))
        answer = pub.last(response).json()
        assert answer["status"] == "ok" and answer["applied"] == {"fan_mode": "auto"}, answer
        assert sim.autofan == 1

        await commands.handle(request("set_field", b"80", target=device.id, name="fan_speed"))
        answer = pub.last(response).json()
        assert answer["applied"] == {"fan_mode": "manual", "fan_speed": 80}, answer
        assert answer["command"] == "fan_speed"
        assert (sim.autofan, sim.manual_fan) == (0, 80)
        assert done == []

        # refused before anything is written: the firmware has no immersion mode, a speed
        # outside 0-100, garbage; each answered with the reason, the UI corrected
        for kind, name, body in (
            ("set_field", "fan_mode", b"immersion"),
            ("set_field", "fan_speed", b"150"),
            ("set", None, b'{"fan_speed": "loud"}'),
            ("set", None, b'{"fan_mode": "auto", "fan_speed": 20}'),
            ("set", None, b'{"fan_mode": '),
        ):
            await commands.handle(request(kind, body, target=device.id, name=name))
            refused = pub.last(response).json()
            assert refused["status"] == "error" and refused["error"], (body, refused)
            assert refused["applied"] == {}
        assert (sim.autofan, sim.manual_fan) == (0, 80)
        assert done == [False] * 5

        # a firmware that answers the write with 200 and keeps its fans: not applied, and
        # what it runs is reported in the MQTT names ("auto", not the library's "normal")
        await commands.handle(request("set_field", b"auto", target=device.id, name="fan_mode"))
        assert pub.last(response).json()["status"] == "ok"
        monkeypatch.setattr(sim, "_apply_table", lambda body: None)
        await commands.handle(request("set", b'{"fan_speed": 30}', target=device.id))
        ignored = pub.last(response).json()
        assert ignored["status"] == "error" and ignored["applied"] == {}, ignored
        assert ignored["reported"] == {"fan_speed": "auto"}
        assert sim.autofan == 1 and done == [False] * 6


async def test_an_ignored_pool_write_is_reported_without_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ESP-Miner's send_config confirms itself and hands back its whole read-back config
    (passwords included): the answer shows only the pools' urls and users, and is sent."""
    async with adopted_sim(tmp_path, "bitaxe_gamma") as (adoption, bus, device, sim):
        pub, _, commands, done = _rig(adoption, bus)
        monkeypatch.setattr(sim, "_apply_table", lambda body: None)  # 200, nothing kept
        sim.passwords = ["old-Secret-1", "old-Secret-2"]
        pools = [{"url": "stratum+tcp://pool.example:3333", "user": "me", "password": "new-Pw"}]
        payload = json.dumps({"pools": pools, "transaction": "p1"}).encode()
        await commands.handle(request("set", payload, target=device.id))
        answer = pub.last(f"base/{device.id}/response")
        body = answer.json()
        assert body["status"] == "error" and body["transaction"] == "p1", body
        shown = body["reported"]["pools"]
        assert shown and all(set(p) == {"url", "user"} for p in shown), shown
        assert "Secret" not in answer.text and "new-Pw" not in answer.text
        assert done == [False]
