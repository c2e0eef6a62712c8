"""Availability: retained online/offline per miner, republished on announce, cleared on
remove, moved on rename."""

from __future__ import annotations

from bridge_fakes import RecordingPublisher, device

from asic_bridge.bridge.events import (
    Announce,
    EventBus,
    MinerOffline,
    MinerOnline,
    MinerRemoved,
    MinerRenamed,
)
from asic_bridge.bridge.features.availability import Availability
from asic_bridge.bridge.topics import Topics

T = Topics("base")


async def test_online_offline_announce_remove_rename() -> None:
    bus, pub = EventBus(), RecordingPublisher()
    Availability(bus, pub, T)
    a, b = device("a"), device("b")
    await bus.emit(Announce())
    assert pub.messages == []  # nothing known yet: nothing said
    await bus.emit(MinerOnline(a, back=False))
    await bus.emit(MinerOffline(b, was_online=False))
    assert [(m.topic, m.payload, m.retain) for m in pub.messages] == [
        ("base/a/availability", "online", True),
        ("base/b/availability", "offline", True),
    ]
    pub.clear()
    await bus.emit(Announce())
    assert {(m.topic, m.payload) for m in pub.messages} == {
        ("base/a/availability", "online"),
        ("base/b/availability", "offline"),
    }
    pub.clear()
    await bus.emit(MinerRemoved(b))
    assert [(m.topic, m.payload) for m in pub.messages] == [("base/b/availability", "")]
    pub.clear()
    a.record.id = "renamed"
    await bus.emit(MinerRenamed(a, old_id="a"))
    assert [(m.topic, m.payload) for m in pub.messages] == [
        ("base/a/availability", ""),
        ("base/renamed/availability", "online"),
    ]
    pub.clear()
    await bus.emit(Announce())
    assert [(m.topic, m.payload) for m in pub.messages] == [("base/renamed/availability", "online")]
