"""A burst of QoS 1 publishes (discovery for thousands of miners) keeps few unacknowledged.

aiomqtt scans all its pending calls on every publish, so thousands awaiting their PUBACK
at once cost quadratic CPU (bench/bridge_5k.py found it at 500 miners).  Against a real
mosquitto: every message of the burst arrives, and no more than PUBLISH_WINDOW aiomqtt
publishes are ever in progress at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt
import pytest
from bridge_support import MosquittoBroker, mosquitto_fixture  # noqa: F401  (the fixture)
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion

from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.events import EventBus
from asic_bridge.bridge.mqtt import FAST_ACK_PAHO, PUBLISH_WINDOW, MqttSession, fast_acks
from asic_bridge.bridge.topics import Topics

BURST = 300


def start_session(
    mosquitto: MosquittoBroker, tmp_path: Path, client_id: str, protocol: str = "3.1.1"
) -> tuple[MqttSession, asyncio.Event, asyncio.Task[None]]:
    config = parse_config(
        {
            "mqtt": {"url": mosquitto.url, "protocol": protocol, "client_id": client_id},
            "miners": {"scan_interval": 0},
            "state_dir": str(tmp_path),
        }
    )
    session = MqttSession(config, Topics(), EventBus())
    stop = asyncio.Event()
    return session, stop, asyncio.create_task(session.run(stop))


async def test_a_qos1_burst_is_published_whole_through_a_small_window(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    session, stop, runner = start_session(mosquitto, tmp_path, "window_test")
    try:
        async with asyncio.timeout(10):
            await session.connected.wait()
        client = session.client
        assert client is not None
        in_progress = most = 0
        real_publish = client.publish

        async def counting_publish(*args: Any, **kwargs: Any) -> None:
            nonlocal in_progress, most
            in_progress += 1
            most = max(most, in_progress)
            try:
                await real_publish(*args, **kwargs)
            finally:
                in_progress -= 1

        client.publish = counting_publish  # type: ignore[method-assign]
        await asyncio.gather(
            *(session.publish(f"burst/{i}", {"n": i}, retain=True, qos=1) for i in range(BURST))
        )
        assert 1 < most <= PUBLISH_WINDOW

        seen: set[str] = set()
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as reader:
            await reader.subscribe("burst/#")
            async with asyncio.timeout(10):
                async for message in reader.messages:
                    seen.add(message.topic.value)
                    if len(seen) == BURST:
                        break
        assert seen == {f"burst/{i}" for i in range(BURST)}
    finally:
        stop.set()
        await session.close()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_publish_many_sends_a_burst_with_one_task_through_the_window(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    """publish_many (a miner's discovery configs) costs one task for the whole burst where
    publish costs three per message, keeps at most PUBLISH_WINDOW unacknowledged, gives every
    place back, and the broker retains every message."""
    session, stop, runner = start_session(mosquitto, tmp_path, "many_test")
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(10):
            await session.connected.wait()
        client = session.client
        assert client is not None
        paho = client._client
        unacked = []
        real_publish = paho.publish

        def counting_publish(*args: Any, **kwargs: Any) -> Any:
            unacked.append(len(session._acks))
            return real_publish(*args, **kwargs)

        paho.publish = counting_publish  # type: ignore[method-assign]
        tasks = 0

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
            nonlocal tasks
            tasks += 1
            return asyncio.Task(coro, loop=loop, **kwargs)

        loop.set_task_factory(factory)
        try:
            burst = {f"many/{i}": {"n": i} for i in range(BURST)}
            async with asyncio.timeout(10):
                await session.publish_many(burst, retain=True)
        finally:
            loop.set_task_factory(None)
        assert len(unacked) == BURST
        assert tasks <= 2, tasks  # publish: 3 * BURST (its own, aiomqtt's wait_for, gather's)
        assert 1 < max(unacked) < PUBLISH_WINDOW
        assert not session._acks and session._publish_window._value == PUBLISH_WINDOW

        seen: dict[str, bytes] = {}
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as reader:
            await reader.subscribe("many/#")
            async with asyncio.timeout(10):
                async for message in reader.messages:
                    assert message.retain
                    assert isinstance(message.payload, bytes)
                    seen[message.topic.value] = message.payload
                    if len(seen) == BURST:
                        break
        assert seen == {t: f'{{"n":{p["n"]}}}'.encode() for t, p in burst.items()}
    finally:
        stop.set()
        await session.close()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_plain_pubacks_skip_pahos_decoding(
    mosquitto: MosquittoBroker, tmp_path: Path, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fast_acks: mosquitto's PUBACKs (2 bytes on 3.1.1 and for an MQTT 5 success) complete
    publish_many's and aiomqtt's publishes without paho building a ReasonCode and a
    Properties per acknowledgement; paho's in-flight count and message table stay right."""
    assert paho.mqtt.__version__ in FAST_ACK_PAHO  # a new paho: read its ack handling again
    decoded = 0
    real_decode = _packet.decode_puback

    def counting_decode(*args: Any) -> Any:
        nonlocal decoded
        decoded += 1
        return real_decode(*args)

    monkeypatch.setattr(_packet, "decode_puback", counting_decode)
    session, stop, runner = start_session(mosquitto, tmp_path, f"ack_{protocol}", protocol)
    try:
        async with asyncio.timeout(10):
            await session.connected.wait()
        client = session.client
        assert client is not None
        async with asyncio.timeout(10):
            await session.publish_many({f"ack/{i}": {"n": i} for i in range(BURST)}, retain=True)
            await session.publish("ack/single", "x", qos=1)
        assert decoded == 0
        paho_client = client._client
        assert not paho_client._out_messages and paho_client._inflight_messages == 0
        assert not session._acks and session._publish_window._value == PUBLISH_WINDOW
    finally:
        stop.set()
        await session.close()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


def test_a_puback_with_a_reason_code_goes_through_paho() -> None:
    """Only the 2-byte form is taken; an MQTT 5 PUBACK with a reason code (a refusal) and
    PUBCOMP are paho's to decode, and an unknown version of paho is left alone."""
    calls: list[str] = []

    class Paho:
        _protocol = MQTTProtocolVersion.MQTTv5
        _in_packet: dict[str, Any] = {"packet": b"\x00\x07\x87\x00"}
        _out_message_mutex = contextlib.nullcontext()
        _out_messages: dict[int, Any] = {7: object()}

        def _handle_pubackcomp(self, cmd: str) -> str:
            calls.append(cmd)
            return "paho"

        def _do_on_publish(self, mid: int, reason: Any, properties: Any) -> str:
            calls.append(f"fast {mid}")
            return "fast"

    fake = Paho()
    assert fast_acks(fake)
    assert fake._handle_pubackcomp("PUBACK") == "paho"
    assert fake._handle_pubackcomp("PUBCOMP") == "paho"
    fake._in_packet = {"packet": b"\x00\x07\x00\x01\x1f"}  # a reason string: paho's
    assert fake._handle_pubackcomp("PUBACK") == "paho"
    fake._in_packet = {"packet": b"\x00\x07\x10\x00"}  # success, no matching subscribers
    assert fake._handle_pubackcomp("PUBACK") == "fast"
    fake._in_packet = {"packet": b"\x00\x08"}  # not ours any more: acknowledged once
    assert fake._handle_pubackcomp("PUBACK") == MQTTErrorCode.MQTT_ERR_SUCCESS
    fake._protocol = MQTTProtocolVersion.MQTTv311  # 3.1.1: exactly 2 bytes, or paho's error
    fake._out_messages = {7: object()}
    fake._in_packet = {"packet": b"\x00\x07\x00"}
    assert fake._handle_pubackcomp("PUBACK") == "paho"
    fake._in_packet = {"packet": b"\x00\x07"}
    assert fake._handle_pubackcomp("PUBACK") == "fast"
    assert calls == ["PUBACK", "PUBCOMP", "PUBACK", "fast 7", "PUBACK", "fast 7"]
