"""Qos0Writer's PUBLISH frames byte for byte, with its per-topic heads kept and bounded.

No socket: a stand-in for the few paho internals the writer uses, with a packet of ours
already queued, so every publish appends its frame to that packet.  The reference framing
is MQTT's own (fixed header, remaining length, topic, MQTT 5's empty properties, payload),
written out here independently of the writer.
"""

from __future__ import annotations

import collections
from typing import Any

import pytest
from paho.mqtt import client as paho_client

from asic_bridge.bridge.mqtt import Qos0Writer


class PahoStandIn:
    def __init__(self, protocol: int) -> None:
        self._protocol = protocol
        self._sock = object()
        self._out_packet: collections.deque[dict[str, Any]] = collections.deque()
        self.mids = 0

    def loop_write(self) -> None:
        pass

    def _mid_generate(self) -> int:
        self.mids += 1
        return self.mids

    def _call_socket_register_write(self) -> None:
        pass


def reference_frame(topic: str, payload: bytes, retain: bool, v5: bool) -> bytes:
    name = topic.encode()
    variable = len(name).to_bytes(2, "big") + name + (b"\x00" if v5 else b"")
    remaining = len(variable) + len(payload)
    length = bytearray()
    while True:
        digit, remaining = remaining % 128, remaining // 128
        length.append(digit | (0x80 if remaining else 0))
        if not remaining:
            break
    return bytes([0x31 if retain else 0x30]) + bytes(length) + variable + payload


@pytest.mark.parametrize("protocol", [paho_client.MQTTv311, paho_client.MQTTv5])
def test_frames_equal_mqtts_framing_with_heads_reused(
    protocol: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Qos0Writer, "HEADS", 3)  # start over often: bounded, still right
    paho = PahoStandIn(protocol)
    writer = Qos0Writer(paho, {})
    writer._queue(bytearray(), front=False)  # ours, last in paho's queue: appended to
    topics = ["b/m1", "b/m2", "b/m1", "b/ü/state", "b/" + "t" * 300, "b/m2", "b/m1"]
    payloads: list[Any] = [b"{}", b"x" * 126, b"y" * 20_000, "text", 42.5, b"", None]
    expected = b""
    for n, (topic, payload) in enumerate(zip(topics, payloads, strict=True)):
        assert writer.publish(topic, payload, retain=n % 2 == 0) is None
        body = paho_client._encode_payload(payload)
        expected += reference_frame(topic, bytes(body), n % 2 == 0, protocol == paho_client.MQTTv5)
    assert bytes(paho._out_packet[-1]["packet"]) == expected
    assert len(writer.heads) <= 3
    for bad in ("b/+/x", "b/#", ""):
        for _ in range(2):  # refused every time: an invalid topic is never kept
            with pytest.raises(ValueError):
                writer.publish(bad, b"x", retain=False)
        assert bad not in writer.heads
