"""``mqtt.url: embedded`` behaves like a real MQTT broker, in both of its modes: mosquitto (a
supervised child) and the amqtt fallback (with the workarounds in ``amqtt_broker``).

Each behaviour is one a user met broken on plain amqtt (issue #13): retained messages to late
subscribers, routing with overlapping subscribers connecting together, commands published
and disconnected at once while ``#`` watchers run, keep-alive and wills, offline queues for
persistent sessions, and abrupt disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import os
import signal
import socket
import struct
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import pytest_asyncio
from bridge_support import MOSQUITTO, Broker, address_block, collector, free_port

from asic_bridge.bridge import broker as broker_module
from asic_bridge.bridge.amqtt_broker import LACKS
from asic_bridge.bridge.app import Bridge
from asic_bridge.bridge.broker import (
    EmbeddedBroker,
    MosquittoBroker,
    connect_packet,
    mqtt_ping,
    remaining_length,
)
from asic_bridge.bridge.config import parse_config
from asic_bridge.errors import ConfigError
from asic_bridge.sim import list_kinds

BASE = "asic_bridge"
KINDS = [k for k, *_ in list_kinds()]
KIND = next((k for k in ("whatsminer_m60", "whatsminer_m30s", "avalon_nano3") if k in KINDS), None)

MODES = [
    pytest.param(
        "mosquitto",
        marks=pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed"),
    ),
    pytest.param("amqtt"),
]


@pytest_asyncio.fixture(params=MODES, name="embedded")
async def embedded_fixture(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[EmbeddedBroker]:
    """An embedded broker in the given mode, as ``asic-bridge run`` starts it."""
    instance = EmbeddedBroker("127.0.0.1", free_port(), mode=request.param, state_dir=tmp_path)
    await asyncio.wait_for(instance.start(), 20)
    try:
        yield instance
    finally:
        await asyncio.wait_for(instance.stop(), 20)


def handle(embedded: EmbeddedBroker) -> Broker:
    """What ``collector`` needs to reach it."""
    return Broker(embedded.port)


def matches(topic: str, topic_filter: str) -> bool:
    """MQTT topic-filter matching (no ``$`` topics here)."""
    levels, wanted = topic.split("/"), topic_filter.split("/")
    for i, level in enumerate(wanted):
        if level == "#":
            return True
        if i >= len(levels) or level not in ("+", levels[i]):
            return False
    return len(levels) == len(wanted)


@contextlib.asynccontextmanager
async def client(embedded: EmbeddedBroker, **kwargs: Any) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(
        "127.0.0.1", embedded.port, logger=logging.getLogger("tests.client"), timeout=10, **kwargs
    ) as mqtt:
        yield mqtt


async def publish_retained(embedded: EmbeddedBroker, messages: dict[str, str]) -> None:
    async with client(embedded) as mqtt:
        for topic, payload in messages.items():
            await mqtt.publish(topic, payload, qos=1, retain=True)


# ============================================================================ retained
async def test_retained_messages_reach_late_subscribers(embedded: EmbeddedBroker) -> None:
    retained = {f"homeassistant/sensor/m{i}/config": f'{{"n": {i}}}' for i in range(40)}
    retained |= {f"{BASE}/m{i}": f'{{"hashrate": {i}}}' for i in range(40)}
    retained[f"{BASE}/m0/qos0"] = "zero"
    await publish_retained(embedded, retained)
    async with client(embedded) as mqtt:  # QoS 0 retained, sent at QoS 0 (not raised)
        await mqtt.publish(f"{BASE}/m0/qos0", "zero", qos=0, retain=True)
    for round_ in range(5):
        async with (
            collector(handle(embedded), ("homeassistant/#",)) as discovery,
            collector(handle(embedded), (f"{BASE}/+",)) as state,
        ):
            for sink, prefix in ((discovery, "homeassistant/"), (state, f"{BASE}/")):
                wanted = {t for t in retained if t.startswith(prefix) and t.count("/") < 4}
                if prefix == f"{BASE}/":
                    wanted = {t for t in wanted if t.count("/") == 1}
                await sink.wait_for(
                    lambda m, s=sink, w=wanted: w <= {x.topic for x in s.messages},
                    within=10,
                    what=f"all {len(wanted)} retained under {prefix} (round {round_})",
                )
                got = {m.topic: m for m in sink.messages}
                assert set(got) == wanted
                assert all(got[t].retain and got[t].text == retained[t] for t in wanted)
        async with collector(handle(embedded), (f"{BASE}/m0/qos0",)) as zero:
            message = await zero.wait_topic(f"{BASE}/m0/qos0", within=10)
            assert (message.retain, message.qos) == (True, 0)


async def test_delivery_qos_is_the_lower_of_publish_and_subscription(
    embedded: EmbeddedBroker,
) -> None:
    """[MQTT-3.8.4-6] on mosquitto; amqtt raises QoS 0 to the subscription's 1 (cannot be
    worked around without replacing its broadcast loop) and says so."""
    async with collector(handle(embedded), ("qos/#",)) as sink:  # subscribed at QoS 1
        async with client(embedded) as publisher:
            await publisher.publish("qos/zero", "0", qos=0)
            await publisher.publish("qos/one", "1", qos=1)
        zero = await sink.wait_topic("qos/zero", within=10)
        one = await sink.wait_topic("qos/one", within=10)
    assert one.qos == 1
    if embedded.description.startswith("mosquitto"):
        assert zero.qos == 0
    else:
        assert zero.qos == 1
        assert any("publisher's QoS" in item for item in LACKS)


# ============================================================================ routing
FILTERS = (
    f"{BASE}/#",
    f"{BASE}/+/response",
    f"{BASE}/m3/response",
    f"{BASE}/+",
    "homeassistant/#",
    "elsewhere/x",
)


async def test_overlapping_subscribers_connecting_together_get_only_their_topics(
    embedded: EmbeddedBroker,
) -> None:
    """50 rounds of clients without a client id, connecting at the same moment with
    overlapping filters, over retained and fresh messages: 0 misrouted, 0 missing."""
    retained = {f"{BASE}/m{i}": "state" for i in range(8)}
    retained |= {f"{BASE}/m{i}/mining": "true" for i in range(8)}
    retained |= {f"homeassistant/switch/m{i}/config": "{}" for i in range(8)}
    await publish_retained(embedded, retained)
    fresh = [f"{BASE}/m{i}/response" for i in range(8)]
    misrouted: list[str] = []
    missing: list[str] = []
    async with client(embedded) as publisher:
        for round_ in range(50):
            async with contextlib.AsyncExitStack() as stack:
                sinks = await asyncio.gather(
                    *(
                        stack.enter_async_context(collector(handle(embedded), (f,)))
                        for f in FILTERS
                    ),
                    stack.enter_async_context(
                        collector(handle(embedded), ())
                    ),  # subscribes to nothing
                )
                for topic in fresh:
                    await publisher.publish(topic, f"r{round_}", qos=1)
                for topic_filter, sink in zip((*FILTERS, None), sinks, strict=True):
                    wanted = (
                        set()
                        if topic_filter is None
                        else {t for t in (*retained, *fresh) if matches(t, topic_filter)}
                    )
                    if wanted:
                        with contextlib.suppress(AssertionError):
                            await sink.wait_for(
                                lambda m, s=sink, w=wanted: w <= {x.topic for x in s.messages},
                                within=10,
                            )
                    got = {m.topic for m in sink.messages}
                    misrouted += [f"{round_} {topic_filter}: {t}" for t in got - wanted]
                    missing += [f"{round_} {topic_filter}: {t}" for t in wanted - got]
    assert not misrouted, misrouted[:20]
    assert not missing, missing[:20]


# ============================================================================ keep-alive
async def test_a_silent_client_is_dropped_after_its_keepalive_and_its_will_sent(
    embedded: EmbeddedBroker,
) -> None:
    async with collector(handle(embedded), ("wills/#",)) as watcher:
        reader, writer = await asyncio.open_connection("127.0.0.1", embedded.port)
        try:
            writer.write(
                connect_packet("silent-one", keepalive=1, will=("wills/silent-one", b"gone"))
            )
            assert (await asyncio.wait_for(reader.readexactly(4), 10))[3] == 0
            # ... and then nothing: no PINGREQ.  1.5 s later the broker must drop it.
            will = await watcher.wait_topic("wills/silent-one", within=30)
            assert will.text == "gone"
            assert await asyncio.wait_for(reader.read(), 10) == b""  # the broker closed it
        finally:
            writer.close()


async def test_a_client_that_pings_is_kept(embedded: EmbeddedBroker) -> None:
    async with collector(handle(embedded), ("wills/#",)) as watcher:
        async with client(embedded, keepalive=1, will=aiomqtt.Will("wills/pinger", "gone")) as c:
            for _ in range(3):  # past 1.5 x keep-alive several times over
                await asyncio.sleep(1)
                await c.publish("alive/pinger", "yes", qos=1)
        assert not watcher.on("wills/pinger")


# ============================================================================ sessions
async def test_a_persistent_session_gets_what_was_published_while_it_was_away(
    embedded: EmbeddedBroker,
) -> None:
    async with client(embedded, identifier="keeper", clean_session=False) as keeper:
        await keeper.subscribe("queued/#", qos=1)
    async with client(embedded) as publisher:
        for i in range(5):
            await publisher.publish(f"queued/{i}", f"m{i}", qos=1)
    received: list[aiomqtt.Message] = []
    async with client(embedded, identifier="keeper", clean_session=False) as keeper:
        async with asyncio.timeout(10):
            async for message in keeper.messages:
                received.append(message)
                if len(received) == 5:
                    break
    assert sorted(str(m.topic) for m in received) == [f"queued/{i}" for i in range(5)]
    assert not any(m.retain for m in received)  # queued messages are not retained ones


@pytest.mark.parametrize("clean", [True, False], ids=["clean", "persistent"])
async def test_a_second_connection_with_the_same_client_id_takes_over(
    embedded: EmbeddedBroker, clean: bool
) -> None:
    """[MQTT-3.1.4-2]: the old connection is closed and the new one gets the messages (a
    bridge reconnecting after a blip).  As mosquitto does: a clean start ends the old
    session, so its will goes out now (not whenever the zombie goes); a persistent session
    continues, so no will at all."""
    async with collector(handle(embedded), ("wills/#",)) as watcher:
        old_reader, old_writer = await asyncio.open_connection("127.0.0.1", embedded.port)
        old_writer.write(
            connect_packet("twice", will=("wills/old", b"old gone"), clean=clean)
            + subscribe_packet("takeover/#", qos=1)
        )
        assert (await asyncio.wait_for(old_reader.readexactly(4), 10))[3] == 0
        assert (await asyncio.wait_for(old_reader.readexactly(5), 10))[0] == 0x90
        reader, writer = await asyncio.open_connection("127.0.0.1", embedded.port)
        try:
            writer.write(
                connect_packet("twice", will=("wills/new", b"new gone"), clean=clean)
                + subscribe_packet("takeover/#", qos=0)
            )
            assert (await asyncio.wait_for(reader.readexactly(4), 10))[3] == 0
            assert (await asyncio.wait_for(old_reader.read(), 10)) == b""  # closed by the broker
            if clean:
                assert (await watcher.wait_topic("wills/old", within=10)).text == "old gone"
            assert (await asyncio.wait_for(reader.readexactly(5), 10))[0] == 0x90
            async with client(embedded) as publisher:
                await publisher.publish("takeover/x", "to the new one", qos=1)
                await publisher.publish("wills/sync", "", qos=1)
            first, body = await asyncio.wait_for(read_packet(reader), 10)
            assert first & 0xF0 == 0x30 and body.endswith(b"to the new one")
            await watcher.wait_topic("wills/sync", within=10)
            assert [m.topic for m in watcher.messages] == (
                ["wills/old", "wills/sync"] if clean else ["wills/sync"]
            )
        finally:
            writer.write(b"\xe0\x00")
            writer.close()
            old_writer.close()


async def test_a_protocol_error_closes_the_connection_and_sends_the_will(
    embedded: EmbeddedBroker,
) -> None:
    """A PUBLISH with an empty topic name [MQTT-4.7.3-1] is a protocol error: the broker closes
    the connection, which publishes the will [MQTT-3.1.2-8].  amqtt stopped reading the client
    but kept it "connected" (a zombie the next CONNECT under its id had to wait for)."""
    async with collector(handle(embedded), ("wills/#",)) as watcher:
        reader, writer = await asyncio.open_connection("127.0.0.1", embedded.port)
        try:
            writer.write(connect_packet("erring", will=("wills/erring", b"gone")))
            assert (await asyncio.wait_for(reader.readexactly(4), 10))[3] == 0
            writer.write(b"\x30\x03\x00\x00x")  # topic "", payload "x"
            assert await asyncio.wait_for(reader.read(), 10) == b""
            assert (await watcher.wait_topic("wills/erring", within=10)).text == "gone"
        finally:
            writer.close()


# ============================================================================ abrupt clients
LOOPS = [pytest.param("asyncio")] + (
    [pytest.param("uvloop")] if sys.platform != "win32" else []  # what asic-bridge run uses
)


def run_on(loop: str, main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on a fresh loop of that kind."""
    factory = asyncio.new_event_loop
    if loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("mode", MODES)
def test_clients_that_disconnect_abruptly_leave_no_traceback(
    mode: str, loop: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On each event loop the bridge runs on (uvloop raises where asyncio ignores a write to
    a closed connection)."""
    caplog.set_level(logging.DEBUG)
    run_on(loop, asyncio.wait_for(_abrupt_clients(mode, tmp_path), 60))
    bad = [r for r in caplog.records if r.exc_info or "never retrieved" in r.getMessage()]
    assert not bad, [r.getMessage() for r in bad]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("loop", LOOPS)
def test_amqtt_sends_nothing_to_a_client_whose_connection_closed(loop: str) -> None:
    """The race behind amqtt's tracebacks, made deterministic: its broadcast reaches a
    client's handler after the client's connection closed but before amqtt noticed.  Stock
    amqtt raised (uvloop: RuntimeError on the write) or waited 5 s for a PUBACK and raised
    TimeoutError, both logged with a traceback."""

    async def scenario() -> None:
        embedded = EmbeddedBroker("127.0.0.1", free_port(), mode="amqtt")
        await embedded.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", embedded.port)
            writer.write(connect_packet("leaving") + subscribe_packet("gone/#", qos=1))
            assert (await asyncio.wait_for(reader.readexactly(4), 10))[3] == 0
            assert (await asyncio.wait_for(reader.readexactly(5), 10))[0] == 0x90
            broker = embedded.impl._broker  # type: ignore[union-attr]
            handler = broker.sessions["leaving"][1]
            handler.writer._writer.transport.abort()  # closed; amqtt's reader not yet told
            for qos in (0, 1):
                await asyncio.wait_for(handler.mqtt_publish("gone/x", b"x", qos, False), 10)
            writer.close()
        finally:
            await embedded.stop()

    run_on(loop, scenario())


async def _abrupt_clients(mode: str, tmp_path: Path) -> None:
    embedded = EmbeddedBroker("127.0.0.1", free_port(), mode=mode, state_dir=tmp_path)
    await embedded.start()
    try:
        await publish_retained(
            embedded, {f"{BASE}/m{i}/f{j}": "x" * 200 for i in range(20) for j in range(10)}
        )

        async def live_traffic() -> None:  # what a polling bridge publishes meanwhile
            async with client(embedded) as publisher:
                for n in itertools.count():
                    await publisher.publish(f"{BASE}/m{n % 20}/live", str(n), qos=n % 2)
                    await asyncio.sleep(0.002)

        async with collector(handle(embedded), (f"{BASE}/#",)) as watcher:
            await watcher.wait_for(lambda m: len(watcher.messages) >= 200, within=15)
            traffic = asyncio.create_task(live_traffic())
            for i in range(30):
                # subscribe to 200 retained messages and the live ones, acknowledge nothing,
                # leave while they are being sent: by FIN or RST without DISCONNECT, or with
                sock = socket.create_connection(("127.0.0.1", embedded.port))
                sock.sendall(
                    connect_packet(f"abrupt-{i}") + subscribe_packet(f"{BASE}/#", qos=i % 2)
                )
                await asyncio.sleep(0.01 * (i % 5))
                if i % 3 == 1:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif i % 3 == 2:  # politely, like mosquitto_sub -C 1, amid the traffic
                    sock.sendall(b"\xe0\x00")
                sock.close()
                # a TCP connection that never says CONNECT
                silent = socket.create_connection(("127.0.0.1", embedded.port))
                silent.close()
            await asyncio.sleep(1)
            traffic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await traffic
            gc.collect()  # "Task exception was never retrieved" is logged when the task is freed
            await asyncio.sleep(0.1)
            # the broker still works
            async with client(embedded) as publisher:
                await publisher.publish(f"{BASE}/after", "ok", qos=1)
            await watcher.wait_topic(f"{BASE}/after", within=10)
    finally:
        await embedded.stop()


async def publish_and_leave(port: int, topic: str, payload: str, qos: int) -> None:
    """What ``mosquitto_pub`` does: CONNECT, PUBLISH (at QoS 1: wait for PUBACK), DISCONNECT
    at once, no client id."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(connect_packet(""))
        assert (await asyncio.wait_for(reader.readexactly(4), 10))[3] == 0
        name, data = topic.encode(), payload.encode()
        body = len(name).to_bytes(2, "big") + name + (b"\x00\x01" if qos else b"") + data
        writer.write(bytes((0x30 | qos << 1, *remaining_length(len(body)))) + body)
        if qos:
            assert (await asyncio.wait_for(reader.readexactly(4), 10))[0] == 0x40  # PUBACK
        writer.write(b"\xe0\x00")
        await writer.drain()
    finally:
        writer.close()


def subscribe_packet(topic_filter: str, qos: int) -> bytes:
    data = topic_filter.encode()
    body = b"\x00\x01" + len(data).to_bytes(2, "big") + data + bytes((qos,))
    return bytes((0x82, len(body))) + body


@contextlib.asynccontextmanager
async def running_bridge(
    mode: str, tmp_path: Path, poll_interval: float
) -> AsyncIterator[tuple[Bridge, int, Callable[[int], str]]]:
    """The bridge on its embedded broker in ``mode``, serving one simulated ``KIND`` miner,
    adopted: (bridge, broker port, the miner's address block)."""
    port = free_port()
    addr = address_block()
    config = parse_config(
        {
            "mqtt": {"url": "embedded", "embedded": {"port": port, "mode": mode}},
            "miners": {"poll_interval": poll_interval, "scan_interval": 0},
            "simulator": {"miners": [f"{KIND}@{addr(1)}"]},
            "state_dir": str(tmp_path / "state"),
        }
    )
    bridge = Bridge(config)
    await asyncio.wait_for(bridge.start(), 30)
    try:
        await asyncio.wait_for(bridge.ready.wait(), 30)
        yield bridge, port, addr
    finally:
        bridge.stop()
        await asyncio.wait_for(bridge.shutdown(), 30)


# ============================================================================ the bridge
@pytest.mark.skipif(KIND is None, reason="no simulated kind with a power limit")
@pytest.mark.parametrize("mode", MODES)
async def test_commands_at_qos_0_and_1_are_answered_while_watchers_are_connected(
    mode: str, tmp_path: Path
) -> None:
    """The README's ``mosquitto_sub -t 'asic_bridge/#'`` running, and ``mosquitto_pub``-style
    clients (connect, publish, disconnect at once) sending commands at QoS 0 and 1."""
    async with running_bridge(mode, tmp_path, poll_interval=2) as (bridge, port, addr):
        (miner_id,) = bridge.slots
        record = bridge.slots[miner_id].record
        assert "power_limit" in record.capabilities
        assert record.power_min is not None and record.power_max is not None
        target = int((record.power_min + record.power_max) / 2)
        async with (
            collector(Broker(port), (f"{BASE}/#", "homeassistant/#")) as watcher,
            collector(Broker(port), (f"{BASE}/#",)),
        ):
            await watcher.wait_topic(f"{BASE}/{miner_id}", within=15)
            # as many retained messages as the default eight-miner fleet keeps (about 400)
            await publish_retained(
                bridge.broker, {f"{BASE}/filler/{i}": "x" * 100 for i in range(400)}
            )
            info = (await watcher.wait_topic(f"{BASE}/bridge/info")).json()
            assert info["broker"] == bridge.broker.description
            lost = []
            for qos in (0, 1):
                for i in range(8):
                    mark = watcher.mark()
                    transaction = f"q{qos}-{i}"
                    await publish_and_leave(
                        port,
                        f"{BASE}/{miner_id}/set",
                        f'{{"power_limit": {target + i}, "transaction": "{transaction}"}}',
                        qos,
                    )
                    try:
                        reply = await watcher.wait_topic(
                            f"{BASE}/{miner_id}/response",
                            lambda m, t=transaction: m.json()["transaction"] == t,
                            within=10,
                            since=mark,
                        )
                        assert reply.json()["status"] == "ok", reply.text
                    except AssertionError:
                        lost.append(transaction)
            assert not lost
        # what Home Assistant does when it (re)starts: discovery and state, retained
        async with collector(Broker(port), ("homeassistant/#", f"{BASE}/{miner_id}")) as late:
            state = await late.wait_topic(f"{BASE}/{miner_id}", within=10)
            assert state.retain and state.json()["ip"] == addr(1)
            config = await late.wait_for(
                lambda m: m.topic.endswith("/config") and miner_id in m.topic, within=10
            )
            assert config.retain and config.json()["state_topic"].startswith(BASE)


@pytest.mark.parametrize("mode", MODES)
async def test_bridge_info_names_the_broker(
    mode: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    config = parse_config(
        {
            "mqtt": {"url": "embedded", "embedded": {"port": port, "mode": mode}},
            "miners": {"scan_interval": 0},
            "state_dir": str(tmp_path / "state"),
        }
    )
    caplog.set_level(logging.INFO)
    bridge = Bridge(config)
    await asyncio.wait_for(bridge.start(), 30)
    try:
        async with collector(Broker(port), (f"{BASE}/bridge/info",)) as mqtt:
            info = (await mqtt.wait_topic(f"{BASE}/bridge/info", within=15)).json()
    finally:
        bridge.stop()
        await asyncio.wait_for(bridge.shutdown(), 30)
    if mode == "mosquitto":
        assert info["broker"].startswith("mosquitto 2.") or info["broker"].startswith("mosquitto ")
        assert info["mqtt_protocol"] == "5"
    else:
        assert info["broker"] == "amqtt (fallback)"
        assert info["mqtt_protocol"] == "3.1.1"
        # what it lacks, said once
        said = [r for r in caplog.records if "lacks" in r.getMessage()]
        assert len(said) == 1 and all(item in said[0].getMessage() for item in LACKS)


# ============================================================================ supervision
@pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")
async def test_mosquitto_is_restarted_when_it_dies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broker_module, "RESTART_BACKOFF", (0.2, 1.0))
    caplog.set_level(logging.INFO)
    embedded = EmbeddedBroker("127.0.0.1", free_port(), mode="mosquitto", state_dir=tmp_path)
    await embedded.start()
    try:
        impl = embedded.impl
        assert isinstance(impl, MosquittoBroker)
        for round_ in range(3):
            first = impl.pid()
            assert first is not None
            os.kill(first, signal.SIGKILL)
            if round_ == 2:  # its port taken meanwhile: it keeps trying until it is free
                with socket.socket() as squatter:
                    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    await asyncio.sleep(0.05)
                    squatter.bind(("127.0.0.1", embedded.port))
                    squatter.listen()
                    async with asyncio.timeout(20):
                        while True:
                            if any("did not restart" in r.getMessage() for r in caplog.records):
                                break
                            await asyncio.sleep(0.1)
            async with asyncio.timeout(20):
                while True:
                    if impl.restarts > round_ and await mqtt_ping("127.0.0.1", embedded.port):
                        break
                    await asyncio.sleep(0.1)
            assert impl.pid() not in (None, first)
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("exited" in w for w in warnings)
        assert any("did not restart" in w and "in use" in w for w in warnings)
    finally:
        await embedded.stop()
    assert impl.pid() is None


@pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")
@pytest.mark.skipif(KIND is None, reason="no simulated kind")
async def test_the_bridge_carries_on_when_its_mosquitto_crashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL the embedded mosquitto under a running bridge: it is restarted, the bridge
    reconnects, says it is online again and keeps answering commands."""
    monkeypatch.setattr(broker_module, "RESTART_BACKOFF", (0.2, 1.0))
    async with running_bridge("mosquitto", tmp_path, poll_interval=1) as (bridge, port, _):
        (miner_id,) = bridge.slots
        impl = bridge.broker.impl  # type: ignore[union-attr]
        assert isinstance(impl, MosquittoBroker)
        first = impl.pid()
        assert first is not None
        os.kill(first, signal.SIGKILL)
        async with asyncio.timeout(30):
            while True:
                if impl.restarts and await mqtt_ping("127.0.0.1", port):
                    break
                await asyncio.sleep(0.1)
        async with collector(Broker(port), (f"{BASE}/#",)) as mqtt:
            mark = mqtt.mark()
            await mqtt.wait_topic(
                f"{BASE}/bridge/state", lambda m: m.text == "online", within=30, since=mark
            )
            await publish_and_leave(port, f"{BASE}/{miner_id}/get", "", 1)
            await mqtt.wait_topic(f"{BASE}/{miner_id}", lambda m: not m.retain, within=15)


@pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")
@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
async def test_mosquitto_does_not_outlive_a_killed_bridge(tmp_path: Path) -> None:
    """A bridge killed with SIGKILL cannot stop its mosquitto: the kernel does (otherwise the
    orphan would hold the port and the next start would fail)."""
    port = free_port()
    script = (
        "import asyncio, sys\n"
        "from asic_bridge.bridge.broker import EmbeddedBroker\n"
        "async def main():\n"
        f"    b = EmbeddedBroker('127.0.0.1', {port}, mode='mosquitto', state_dir=sys.argv[1])\n"
        "    await b.start()\n"
        "    print(b.impl.pid(), flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    bridge = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, str(tmp_path), stdout=asyncio.subprocess.PIPE
    )
    assert bridge.stdout is not None
    try:
        child = int(await asyncio.wait_for(bridge.stdout.readline(), 30))
    finally:
        bridge.kill()
        await bridge.wait()
    try:
        async with asyncio.timeout(15):
            while True:
                if not alive(child):
                    break
                await asyncio.sleep(0.1)
    finally:
        if alive(child):  # the failure case: leave no orphan behind either
            os.kill(child, signal.SIGKILL)
    assert not await mqtt_ping("127.0.0.1", port, within=2)


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("mode", MODES)
async def test_retained_messages_across_a_broker_restart(mode: str, tmp_path: Path) -> None:
    """mosquitto keeps them (persistence under state_dir); amqtt cannot, and says so."""
    port = free_port()
    first = EmbeddedBroker("127.0.0.1", port, mode=mode, state_dir=tmp_path)
    await first.start()
    try:
        await publish_retained(first, {"kept/one": "1"})
    finally:
        await first.stop()  # mosquitto saves its database on SIGTERM
    second = EmbeddedBroker("127.0.0.1", port, mode=mode, state_dir=tmp_path)
    await second.start()
    try:
        async with collector(handle(second), ("kept/#", "sync")) as mqtt:
            async with client(second) as publisher:
                await publisher.publish("sync", "after", qos=1)
            await mqtt.wait_topic("sync", within=10)
            kept = mqtt.on("kept/one")
    finally:
        await second.stop()
    if mode == "mosquitto":
        assert [m.text for m in kept] == ["1"]
    else:  # the documented limitation, not a silent skip
        assert not kept
        assert any("persistence across restarts" in item for item in LACKS)


@pytest.mark.parametrize("mode", MODES)
async def test_an_unacknowledged_message_is_redelivered_to_a_persistent_session(
    mode: str, tmp_path: Path
) -> None:
    """A QoS 1 message in flight when a persistent session's connection drops comes again
    (DUP set) when it reconnects [MQTT-4.4.0-1]: mosquitto does; amqtt cannot, and says so."""
    embedded = EmbeddedBroker("127.0.0.1", free_port(), mode=mode, state_dir=tmp_path)
    await embedded.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", embedded.port)
        writer.write(connect_packet("inflight", clean=False))
        assert (await asyncio.wait_for(reader.readexactly(4), 10))[3] == 0
        writer.write(subscribe_packet("inflight/#", qos=1))
        assert (await asyncio.wait_for(reader.readexactly(5), 10))[0] == 0x90  # SUBACK
        async with client(embedded) as publisher:
            await publisher.publish("inflight/x", "once", qos=1)
        first = await asyncio.wait_for(read_packet(reader), 10)
        assert first[0] & 0xF0 == 0x30 and first[1].endswith(b"once")  # PUBLISH, no PUBACK
        writer.transport.abort()  # gone without acknowledging it
        reader, writer = await asyncio.open_connection("127.0.0.1", embedded.port)
        writer.write(connect_packet("inflight", clean=False))
        assert (await asyncio.wait_for(reader.readexactly(4), 10))[3] == 0
        try:
            again: tuple[int, bytes] | None = await asyncio.wait_for(read_packet(reader), 3)
        except TimeoutError:
            again = None
        writer.close()
    finally:
        await embedded.stop()
    if mode == "mosquitto":
        assert again is not None and again[0] & 0x08 and again[1].endswith(b"once")
    else:  # the documented limitation, not a silent skip
        assert again is None
        assert any("redelivery" in item for item in LACKS)


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(first byte, rest) of one MQTT packet."""
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    while True:
        digit = (await reader.readexactly(1))[0]
        length |= (digit & 0x7F) << shift
        shift += 7
        if not digit & 0x80:
            return first, await reader.readexactly(length)


@pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")
async def test_mosquitto_on_a_taken_port_is_a_clear_oserror(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        embedded = EmbeddedBroker("127.0.0.1", port, mode="mosquitto", state_dir=tmp_path)
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}.*in use"):
            await asyncio.wait_for(embedded.start(), 20)
        await embedded.stop()


@pytest.mark.parametrize("mode", MODES)
async def test_embedded_login(mode: str, tmp_path: Path) -> None:
    """With ``mqtt.embedded.username``, only that login gets in (mosquitto: a generated
    password file, which is not world-readable)."""
    port = free_port()
    embedded = EmbeddedBroker(
        "127.0.0.1", port, mode=mode, username="bridge", password="pa:ss word", state_dir=tmp_path
    )
    await asyncio.wait_for(embedded.start(), 20)
    try:
        assert await mqtt_ping("127.0.0.1", port, "bridge", "pa:ss word")
        assert not await mqtt_ping("127.0.0.1", port, "bridge", "wrong")
        assert not await mqtt_ping("127.0.0.1", port)
        if mode == "mosquitto":
            passwords = tmp_path / "mosquitto" / "passwords"
            assert passwords.stat().st_mode & 0o077 == 0
            assert "pa:ss word" not in passwords.read_text()
    finally:
        await embedded.stop()


@pytest.mark.parametrize(
    ("embedded", "wrong"),
    [
        ({"password": "pw-SECRET"}, "username is not"),
        ({"username": "a:b", "password": "pw-SECRET"}, "without ':'"),
        ({"username": "a b"}, "without ':'"),
        ({"username": "ok", "password": "pw-SECRET\nother:hash"}, "line breaks"),
        ({"mode": "docker"}, "mode"),
    ],
)
def test_bad_embedded_broker_settings_are_config_errors(
    embedded: dict[str, Any], wrong: str
) -> None:
    with pytest.raises(ConfigError, match=r"mqtt\.embedded") as caught:
        parse_config({"mqtt": {"embedded": embedded}})
    assert wrong in str(caught.value)
    assert "SECRET" not in str(caught.value)


async def test_forced_mosquitto_without_the_binary_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(broker_module, "find_mosquitto", lambda: None)
    with pytest.raises(OSError, match="no mosquitto binary"):
        EmbeddedBroker("127.0.0.1", 1883, mode="mosquitto")
    assert EmbeddedBroker("127.0.0.1", 1883).description == "amqtt (fallback)"
