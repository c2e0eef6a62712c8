"""The MQTT session: connect, protocol fallback, backoff, publish, and routing of what arrives.

The features never see aiomqtt: they publish through :class:`MqttSession` (or, in their unit
tests, a recording publisher with the same two methods) and receive a :class:`Request` from
the route their topic kind is registered on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiomqtt
import orjson
from paho.mqtt.enums import MQTTErrorCode

from asic_bridge.bridge.commands import correlation_transaction, transaction_of
from asic_bridge.bridge.config import BridgeConfig
from asic_bridge.bridge.events import Announce, Connected, EventBus
from asic_bridge.bridge.topics import Incoming, Topics
from asic_bridge.bridge.waits import event_set_within
from asic_bridge.errors import ConfigError

log = logging.getLogger("asic_bridge.bridge")
CLOSE_PUBLISH_TIMEOUT = 3.0
"""Seconds close() waits for the broker to acknowledge the retained ``offline``."""

#: MQTT 5 session expiry (s): how long the broker queues commands for an absent bridge.
#: Longer than command_expiry on purpose, so a late command is answered "expired".
SESSION_EXPIRY = 3600

PUBLISH_WINDOW = 10
"""QoS 1/2 publishes awaiting their acknowledgement at once; the rest wait their turn.
aiomqtt walks every pending call on each publish (and warns above 10), so the thousands a
discovery burst for thousands of miners leaves pending cost quadratic CPU; ten keep a
broker's acknowledgements flowing as fast as more (bench/bridge_5k.py)."""


class Publisher(Protocol):
    """What a feature needs of the MQTT session."""

    async def publish(
        self,
        topic: str,
        payload: Any,
        *,
        retain: bool = False,
        qos: int | None = None,
        properties: Any = None,
    ) -> None: ...

    async def publish_many(self, messages: dict[str, Any], *, retain: bool = False) -> None: ...

    async def respond(self, default_topic: str, body: dict[str, Any], request: Request) -> None: ...


@dataclass(frozen=True, slots=True)
class Request:
    """An incoming command or request: its topic's meaning, payload and MQTT 5 reply info."""

    incoming: Incoming
    payload: bytes
    reply_to: str | None = None
    correlation: Any = None


Route = Callable[[Request], Awaitable[None]]


class MqttSession:
    """One broker connection at a time, reconnected with backoff until ``stop``."""

    def __init__(self, config: BridgeConfig, topics: Topics, bus: EventBus):
        self.config = config
        self.topics = topics
        self.bus = bus
        self.client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self._lost_at: float | None = None  # monotonic time the last MQTT session ended
        self.protocol: aiomqtt.ProtocolVersion | None = None
        #: False when the broker in use (the embedded amqtt) speaks only 3.1.1
        self.broker_supports_v5 = True
        # resolved when the MQTT session ends (a fresh future for every session)
        self._session_ended: asyncio.Future[None] | None = None
        self._routes: dict[str, Route] = {}
        #: topics outside the base topic a feature reads (a meter's, a price feed's)
        self._listened: dict[str, Incoming] = {}
        #: whether this instance answers a message at all (sharded: see shard.answered_here)
        self.answers: Callable[[Incoming, bytes], bool] = lambda incoming, payload: True
        self._tasks: set[asyncio.Task[None]] = set()
        self._publish_window = asyncio.Semaphore(PUBLISH_WINDOW)
        #: this session's publish_many messages awaiting their PUBACK: mid -> its callback
        self._acks: dict[int, Callable[[int], None]] = {}
        #: this session's QoS 0 path past aiomqtt (None: paho lacks what it needs)
        self._qos0: Qos0Writer | None = None
        self.tls_context = tls_context(config) if config.mqtt.endpoint()[2] else None

    def route(self, kind: str, handler: Route) -> None:
        """Send incoming topics of ``kind`` (see ``Topics.classify``) to ``handler``."""
        self._routes[kind] = handler

    def listen(self, topic: str, incoming: Incoming) -> None:
        """Subscribe to ``topic`` too (from the next connect), delivered as ``incoming``."""
        self._listened[topic] = incoming

    @property
    def protocol_name(self) -> str:
        return "5" if self.protocol == aiomqtt.ProtocolVersion.V5 else "3.1.1"

    # ------------------------------------------------------------------ connection
    def _client_kwargs(self) -> dict[str, Any]:
        mqtt = self.config.mqtt
        host, port, tls, user, password = mqtt.endpoint()
        kwargs: dict[str, Any] = {
            "hostname": host,
            "port": port,
            "username": user,
            "password": password,
            "identifier": mqtt.client_id,
            "keepalive": mqtt.keepalive,
            "will": aiomqtt.Will(self.topics.bridge_state, "offline", qos=1, retain=True),
            "logger": logging.getLogger("asic_bridge.mqtt"),
            "timeout": 10,
        }
        if tls:
            kwargs["tls_context"] = self.tls_context
        return kwargs

    def _session_kwargs(self, protocol: aiomqtt.ProtocolVersion) -> dict[str, Any]:
        """A persistent session under the stable client id, so the broker queues the QoS 1
        commands published while the bridge reconnects (MQTT 5: kept SESSION_EXPIRY s after
        a disconnect; what was queued longer than command_expiry is answered "expired")."""
        if protocol != aiomqtt.ProtocolVersion.V5:
            return {"clean_session": False}
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY
        return {"clean_start": False, "properties": props}

    def _protocols(self) -> list[aiomqtt.ProtocolVersion]:
        choice = self.config.mqtt.protocol
        if self.protocol is not None:
            return [self.protocol]
        if choice == "5":
            return [aiomqtt.ProtocolVersion.V5]
        if choice == "3.1.1" or not self.broker_supports_v5:
            return [aiomqtt.ProtocolVersion.V311]
        return [aiomqtt.ProtocolVersion.V5, aiomqtt.ProtocolVersion.V311]

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, serve the session, reconnect after a loss, until ``stop`` is set."""
        backoff = 1.0
        logging.getLogger("asic_bridge.mqtt").setLevel(logging.ERROR)
        while not stop.is_set():
            for protocol in self._protocols():
                try:
                    kwargs = {**self._client_kwargs(), **self._session_kwargs(protocol)}
                    async with aiomqtt.Client(protocol=protocol, **kwargs) as client:
                        self.protocol = protocol
                        backoff = 1.0
                        await self._session(client)
                except aiomqtt.MqttError as exc:
                    # Never connected yet: try 3.1.1.  Some 3.1.1-only brokers refuse MQTT 5
                    # with a CONNACK code, others (amqtt) never answer, so any failure counts.
                    if protocol == aiomqtt.ProtocolVersion.V5 and self.protocol is None:
                        log.info("MQTT 5 connect failed (%s); trying 3.1.1", exc)
                        continue
                    log.warning("MQTT connection lost or refused: %s", exc)
                finally:
                    if self.client is not None:
                        self._lost_at = time.monotonic()
                    self.client = None
                    self.connected.clear()
                    if self._session_ended is not None and not self._session_ended.done():
                        self._session_ended.set_result(None)
                break
            if stop.is_set():
                return
            delay = backoff * (0.5 + random.random())
            log.info("reconnecting to the MQTT broker in %.1f s", delay)
            await event_set_within(stop, delay)
            backoff = min(backoff * 2, 60.0)

    async def _session(self, client: aiomqtt.Client) -> None:
        self._session_ended = asyncio.get_running_loop().create_future()
        self._acks = {}
        _route_acks(client, self._acks)
        self._qos0 = Qos0Writer.over(client._client, self._acks)
        fast_acks(client._client)
        self.client = client
        qos = max(1, self.config.mqtt.qos)  # QoS 1 at least: queued while we are away
        v5 = self.protocol == aiomqtt.ProtocolVersion.V5
        for topic in [*self.topics.subscriptions(), *self._listened]:
            if v5 and topic != self.topics.ha_status:
                from paho.mqtt.subscribeoptions import SubscribeOptions

                # retain as published: a retained command is seen as one and refused;
                # retained commands are never replayed to the bridge on subscribing
                options = SubscribeOptions(qos=qos, retainAsPublished=True, retainHandling=2)
                await client.subscribe(topic, options=options)
            else:
                await client.subscribe(topic, qos=qos)
        # What the broker queued for our session while we were away arrives at once, before
        # the subscriptions are confirmed.  After an outage longer than command_expiry (or
        # at start, when the outage is unknown) those commands may be that old: each is
        # answered "expired" instead of run.
        expiry = self.config.mqtt.command_expiry
        lost_at = self._lost_at
        outage = math.inf if lost_at is None else time.monotonic() - lost_at
        backlog = len(client.messages) if outage > expiry else 0
        await self.bus.emit(Announce())
        await self.bus.emit(Connected())
        self.connected.set()
        log.info("connected to MQTT broker %s", self.config.mqtt.redacted_url())
        async for message in client.messages:
            if backlog > 0:
                backlog -= 1
                self._spawn(self._refuse_expired(message, outage))
                continue
            self._spawn(self._on_message(message))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro, name="message")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Say offline (retained, as the will would) and end the message tasks."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Through publish(), which gives up when the connection dies, and bounded: the will
        # says offline too, so a broker that never acknowledges must not hold up the stop.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_PUBLISH_TIMEOUT):
                await self.publish(self.topics.bridge_state, "offline", qos=1, retain=True)

    # ------------------------------------------------------------------ publishing
    async def publish(
        self,
        topic: str,
        payload: Any,
        *,
        retain: bool = False,
        qos: int | None = None,
        properties: Any = None,
    ) -> None:
        """Publish if connected; while disconnected the caches are republished on reconnect."""
        client, ended = self.client, self._session_ended
        if client is None or ended is None:
            return
        if isinstance(payload, (dict, list)):
            payload = orjson.dumps(payload)  # compact UTF-8, 5-10x faster than json
        qos = self.config.mqtt.qos if qos is None else qos
        writer = self._qos0
        if not qos and properties is None and writer is not None:
            # every poll's state: no task, no Event, one socket write for many
            drained = writer.publish(topic, payload, retain)
            if drained is not None:  # the socket is backed up: wait like aiomqtt would
                await _unless_ended(drained, ended, topic)
            return
        publish = asyncio.ensure_future(
            self._publish_acknowledged(client, topic, payload, qos, retain, properties)
            if qos
            else client.publish(topic, payload, qos=0, retain=retain, properties=properties)
        )
        await _unless_ended(publish, ended, topic)

    async def publish_many(self, messages: dict[str, Any], *, retain: bool = False) -> None:
        """Publish ``messages`` (topic -> payload) at the configured QoS, in any order, and
        return once the broker acknowledged them all (or the session ended).

        For the discovery burst (~38 retained configs per miner, 190k for 5,000 miners).
        Through :meth:`publish` each one cost three tasks, an Event and a timeout; here they
        go to paho directly and its PUBACKs are matched by message id, one waiter for all,
        in the same window of unacknowledged publishes.
        """
        client, ended = self.client, self._session_ended
        if client is None or ended is None or not messages:
            return
        qos = self.config.mqtt.qos
        batch = asyncio.ensure_future(self._publish_batch(client, messages, qos, retain))
        await _unless_ended(batch, ended, f"{len(messages)} topics")

    async def _publish_batch(
        self, client: aiomqtt.Client, messages: dict[str, Any], qos: int, retain: bool
    ) -> None:
        if not qos:
            for topic, payload in messages.items():
                await client.publish(topic, _encoded(payload), qos=0, retain=retain)
            return
        paho, acks, window = client._client, self._acks, self._publish_window
        waiting: set[int] = set()
        all_acked = asyncio.get_running_loop().create_future()
        sent = False

        def acked(mid: int) -> None:
            waiting.discard(mid)
            window.release()
            if sent and not waiting and not all_acked.done():
                all_acked.set_result(None)

        try:
            for topic, payload in messages.items():
                await window.acquire()
                info = paho.publish(topic, _encoded(payload), qos, retain)
                if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    window.release()
                    raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
                waiting.add(info.mid)
                acks[info.mid] = acked
            sent = True
            if waiting:
                async with asyncio.timeout(client.timeout):  # as aiomqtt's own publish
                    await all_acked
        except TimeoutError:
            raise aiomqtt.MqttError("Operation timed out") from None
        finally:
            for mid in waiting:  # never acknowledged (the session ended): free their places
                if acks.pop(mid, None) is not None:
                    window.release()

    async def _publish_acknowledged(
        self,
        client: aiomqtt.Client,
        topic: str,
        payload: Any,
        qos: int,
        retain: bool,
        properties: Any,
    ) -> None:
        async with self._publish_window:
            await client.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    async def respond(self, default_topic: str, body: dict[str, Any], request: Request) -> None:
        """The answer to ``request``: on its MQTT 5 response topic if it named one."""
        properties = None
        if request.reply_to is not None:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            if request.correlation is not None:
                properties.CorrelationData = request.correlation
        topic = request.reply_to or default_topic
        try:
            payload = orjson.dumps(body)
        except TypeError as exc:  # orjson.JSONEncodeError; inputs are checked, so a bug
            log.warning("answer on %s could not be encoded (%s); sent a plain error", topic, exc)
            payload = orjson.dumps(
                {"status": "error", "transaction": None, "error": "the answer could not be encoded"}
            )
        await self.publish(topic, payload, properties=properties)

    # ------------------------------------------------------------------ routing
    async def _on_message(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        incoming = self._listened.get(topic) or self.topics.classify(topic)
        if incoming is None:
            return
        payload = (
            message.payload
            if isinstance(message.payload, bytes)
            else (str(message.payload).encode() if message.payload is not None else b"")
        )
        if not self.answers(incoming, payload):
            return
        try:
            if incoming.kind == "ha_status":
                if payload.strip().lower() == b"online":
                    await asyncio.sleep(random.uniform(0.5, 3.0))
                    await self.bus.emit(Announce())
                return
            request = Request(incoming, payload, *_response_properties(message))
            if message.retain and incoming.kind == "fleet_reading":
                log.debug("ignoring retained reading on %s (it carries no age)", topic)
                return
            if message.retain:
                # A retained command would replay on every reconnect: never act on it.  On
                # MQTT 5 (retain as published, no replay on subscribe) this is a command
                # just published with the retain flag: its sender is told why.
                log.warning("ignoring retained command on %s", topic)
                if self.protocol == aiomqtt.ProtocolVersion.V5:
                    error = "retained commands are refused (they would replay); publish without"
                    await self.refuse(request, "error", error + " retain")
                return
            handler = self._routes.get(incoming.kind)
            if handler is not None:
                await handler(request)
        except Exception:
            log.exception("handling %s failed", topic)

    def response_topic(self, incoming: Incoming) -> str:
        """Where the answer to a command of this kind goes (without an MQTT 5 reply topic)."""
        if incoming.kind == "bridge_request":
            return self.topics.bridge_response(incoming.name or "")
        if incoming.kind == "shared_request":
            return self.topics.shared_response(incoming.name or "")
        if incoming.kind == "fleet_set":
            return self.topics.fleet_response(incoming.target or "")
        return self.topics.response(incoming.target or "")

    async def refuse(self, request: Request, status: str, error: str) -> None:
        """Answer a command that is not run, on the response topic its kind uses."""
        incoming = request.incoming
        body: dict[str, Any] = {
            "status": status,
            "command": (incoming.name or incoming.kind)[:40],
            "transaction": request_transaction(request),
            "error": error,
        }
        if incoming.kind in ("set", "set_field", "get"):
            body["applied"] = {}
        await self.respond(self.response_topic(incoming), body, request)

    async def _refuse_expired(self, message: aiomqtt.Message, outage: float) -> None:
        """Answer a command the broker kept for us too long, without acting on it."""
        incoming = self.topics.classify(message.topic.value)
        if incoming is None or incoming.kind in ("ha_status", "fleet_reading") or message.retain:
            return  # (a retained command replayed on subscribing: ignored, as always)
        payload = message.payload if isinstance(message.payload, bytes) else b""
        if not self.answers(incoming, payload):
            return
        away = "since start-up" if math.isinf(outage) else f"for {outage:.0f} s"
        log.warning("refused a command on %s queued while away %s", message.topic.value, away)
        error = (
            f"queued by the broker while the bridge was away {away}, longer than "
            f"mqtt.command_expiry ({self.config.mqtt.command_expiry} s); not run"
        )
        request = Request(incoming, payload, *_response_properties(message))
        await self.refuse(request, "expired", error)


async def _unless_ended(
    publish: asyncio.Future[None], ended: asyncio.Future[None], what: str
) -> None:
    """Await ``publish``, but give up when the session ends.

    aiomqtt does not wake a QoS 1 publish whose connection died: it would wait out the whole
    client timeout (10 s) for a PUBACK that cannot come, holding up the caller (a poll
    holding its miner's lock, a command reply).
    """
    try:
        await asyncio.wait((publish, ended), return_when=asyncio.FIRST_COMPLETED)
    finally:
        abandoned = not publish.done()
        if abandoned:
            publish.cancel()
    if abandoned:
        log.debug("publish to %s abandoned: the MQTT connection was lost", what)
        return
    exc = publish.exception()
    if isinstance(exc, aiomqtt.MqttError):
        log.debug("publish to %s failed: %s", what, exc)
    elif exc is not None:
        raise exc


class Qos0Writer:
    """QoS 0 publishes framed here and put on paho's own outgoing queue, coalesced.

    Through aiomqtt, each one cost a task, an Event, a ``wait_for`` task, and in paho a
    ``send`` plus a ReasonCode and a Properties for its on_publish callback: about half of
    the bridge's own CPU per miner-poll.  Here a publish appends its bytes to the last
    queued packet when that is one of ours, so the publishes between two event-loop turns
    leave in one ``send``; paho still writes them (in order with its own packets, partial
    writes handled), its keep-alive sees them, and a publish without a connection is
    dropped, as paho's would be.  When the queue backs up (a stalled broker), the caller
    awaits the write of its packet, as it did through aiomqtt.

    While paho has nothing queued, the publishes of one event-loop turn are kept here and
    sent at the end of the turn straight to the socket: no writer registered and removed
    (two epoll_ctl and a wake-up), no paho write pass and no ReasonCode and Properties for
    an on_publish nobody waits for (~17 us each): every poll's state took that path alone.
    What the socket does not take, and anything still kept when paho is about to write its
    own packets (all queued after these), goes to the front of paho's queue, so the order
    on the wire stays the order of the calls.
    """

    MARK = "asic_bridge_qos0"
    #: bytes per coalesced packet: larger ones start a new one (the partial-write slices
    #: in paho copy the rest of a packet)
    PACKET_BYTES = 65536
    #: queued packets beyond which a publish waits for its own to be written
    BACKLOG = 64

    #: topic heads kept (see _head): every miner's state topic and a few more per miner
    HEADS = 32768

    __slots__ = ("acks", "encode", "heads", "kept", "paho", "v5")

    def __init__(self, paho: Any, acks: dict[int, Callable[[int], None]]) -> None:
        self.paho = paho
        self.acks = acks
        from paho.mqtt import client

        self.v5 = paho._protocol == client.MQTTv5
        #: paho's own payload conversion (str, bytes, numbers, None), as its publish() does
        self.encode: Callable[[Any], bytes | bytearray] = client._encode_payload
        self.heads: dict[str, bytes] = {}
        #: this turn's frames, not yet on paho's queue nor sent (None: nothing kept)
        self.kept: bytearray | None = None
        paho_write = paho.loop_write

        def loop_write() -> Any:
            self._hand_over()  # paho's queued packets came after what is kept here
            return paho_write()

        paho.loop_write = loop_write  # what aiomqtt's writer callback calls

    @classmethod
    def over(cls, paho: Any, acks: dict[int, Callable[[int], None]]) -> Qos0Writer | None:
        """A writer over this paho client, or None if its internals are not the known ones."""
        needed = ("_out_packet", "_sock", "_protocol", "_mid_generate")
        if not all(hasattr(paho, name) for name in needed):
            return None
        from paho.mqtt import client

        if not hasattr(paho, "_call_socket_register_write"):
            return None
        if not hasattr(client, "_encode_payload"):
            return None
        return cls(paho, acks)

    def publish(self, topic: str, payload: Any, retain: bool) -> asyncio.Future[None] | None:
        """Queue one QoS 0 PUBLISH; a future to await when the queue is backed up."""
        paho = self.paho
        if paho._sock is None:
            return None  # not connected: dropped (the caches are republished on reconnect)
        body = payload if type(payload) is bytes else self.encode(payload)
        head = self.heads.get(topic)
        if head is None:
            head = self._head(topic)
        remaining = len(head) + len(body)
        frame = bytearray((0x31 if retain else 0x30,))
        while remaining > 127:
            frame.append((remaining & 0x7F) | 0x80)
            remaining >>= 7
        frame.append(remaining)
        frame += head
        frame += body
        kept = self.kept
        if kept is not None:
            kept += frame
            if len(kept) >= self.PACKET_BYTES:
                self._hand_over()
            return None
        queue = paho._out_packet
        if not queue:
            self.kept = frame
            asyncio.get_running_loop().call_soon(self._send_kept)
            return None
        last = queue[-1]
        if self.MARK in last and last["to_process"] < self.PACKET_BYTES:
            last["packet"] += frame
            last["to_process"] += len(frame)
            return None
        mid = self._queue(frame, front=False)
        if len(queue) <= self.BACKLOG:
            return None
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done(_: int) -> None:
            if not written.done():
                written.set_result(None)

        self.acks[mid] = done  # on_publish for a QoS 0 packet: it left the socket
        return written

    def _head(self, topic: str) -> bytes:
        """The topic part of a PUBLISH (its length, its name, MQTT 5's empty properties),
        kept per topic: the same few topics of every miner are published on every poll."""
        name = topic.encode()
        if b"+" in name or b"#" in name or not name:
            raise ValueError(f"invalid topic to publish on: {topic!r}")
        head = len(name).to_bytes(2, "big") + name + (b"\0" if self.v5 else b"")
        if len(self.heads) >= self.HEADS:
            self.heads.clear()  # per-field topics of a big fleet: start over, stay bounded
        self.heads[topic] = head
        return head

    def _queue(self, frames: bytearray, *, front: bool) -> int:
        """Put ``frames`` on paho's queue as one of our packets (its mid); ``front``: before
        what paho queued since they were published."""
        from paho.mqtt.client import MQTTMessageInfo

        paho = self.paho
        mid: int = paho._mid_generate()
        packet = {
            "command": 0x30,
            "mid": mid,
            "qos": 0,
            "pos": 0,
            "to_process": len(frames),
            "packet": frames,
            "info": MQTTMessageInfo(mid),
            self.MARK: True,
        }
        if front:
            paho._out_packet.appendleft(packet)
        else:
            paho._out_packet.append(packet)
        paho._call_socket_register_write()
        return mid

    def _hand_over(self) -> None:
        """What is kept goes to the front of paho's queue (all there came after it)."""
        kept, self.kept = self.kept, None
        if kept is not None and self.paho._sock is not None:
            self._queue(kept, front=True)

    def _send_kept(self) -> None:
        """End of the turn: what is kept goes to the socket at once, if paho queued nothing
        meanwhile; the rest, as any write paho could not finish, through paho's queue."""
        kept, self.kept = self.kept, None
        paho = self.paho
        if kept is None or paho._sock is None:
            return  # handed over already, or the connection went: dropped, as paho would
        if paho._out_packet:
            self._queue(kept, front=True)
            return
        try:
            sent: int = paho._sock_send(kept)
        except OSError:  # would block (paho then waits to write), or the connection broke:
            sent = 0  # paho's own write of the rest meets the error and reports the loss
        if sent < len(kept):
            self._queue(kept[sent:], front=True)


def _encoded(payload: Any) -> Any:
    return orjson.dumps(payload) if isinstance(payload, (dict, list)) else payload


def _route_acks(client: aiomqtt.Client, acks: dict[int, Callable[[int], None]]) -> None:
    """PUBACKs of publish_many's messages go to their callback, all others to aiomqtt's."""
    paho = client._client
    theirs = paho.on_publish

    def on_publish(*args: Any) -> None:
        done = acks.pop(args[2], None)  # (client, userdata, mid, reason code, properties)
        if done is not None:
            done(args[2])
        elif theirs is not None:
            theirs(*args)

    paho.on_publish = on_publish


#: paho versions whose PUBACK handling :func:`fast_acks` was read against and tested with
FAST_ACK_PAHO = ("2.2.0",)


def fast_acks(paho: Any) -> bool:
    """Acknowledge a successful PUBACK without paho's decoding, on the paho versions checked.

    paho decodes every PUBACK into a ``ReasonCode`` and a ``Properties`` object (each
    built field by field) and logs it, even on MQTT 3.1.1: ~70 us per acknowledgement, a
    quarter of the bridge's start-up CPU when it sends ~190k discovery configs for 5,000
    miners (bench/bridge_5k.py --profile-phase startup).  A PUBACK that says success with
    no properties (3.1.1's 2 bytes; on MQTT 5 also a success reason code, such as
    mosquitto's 0x10 "no matching subscribers", with or without an empty property length)
    carries nothing but its mid and that code: it goes to paho's own ``_do_on_publish``
    with a shared ReasonCode per code and one empty Properties, which nobody mutates
    (aiomqtt and ``_route_acks`` read the mid only).  Anything else (PUBCOMP, an error
    code, properties) goes through paho's code as before.  Returns whether it was installed.
    """
    from paho.mqtt import __version__ as paho_version
    from paho.mqtt.enums import MQTTProtocolVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

    original = getattr(paho, "_handle_pubackcomp", None)
    if paho_version not in FAST_ACK_PAHO or original is None:
        return False
    reasons: dict[int, Any] = {}  # success codes (< 0x80) seen so far, by value
    no_properties = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]
    ok = MQTTErrorCode.MQTT_ERR_SUCCESS

    def handle(cmd: str) -> MQTTErrorCode:
        packet = paho._in_packet["packet"]
        size = len(packet)
        plain = cmd == "PUBACK" and (
            size == 2
            or (
                paho._protocol == MQTTProtocolVersion.MQTTv5
                and (size == 3 or (size == 4 and packet[3] == 0))
                and packet[2] < 0x80
            )
        )
        if not plain:
            return original(cmd)  # type: ignore[no-any-return]
        code = packet[2] if size > 2 else 0
        reason = reasons.get(code)
        if reason is None:
            try:
                reason = ReasonCode(PacketTypes.PUBACK, identifier=code)
            except Exception:  # a code paho does not know: its own handling decides
                return original(cmd)  # type: ignore[no-any-return]
            reasons[code] = reason
        mid = (packet[0] << 8) | packet[1]
        with paho._out_message_mutex:
            if mid in paho._out_messages:  # told once, as paho's own
                return paho._do_on_publish(mid, reason, no_properties)  # type: ignore[no-any-return]
        return ok

    paho._handle_pubackcomp = handle
    return True


def request_transaction(request: Request) -> str | int | None:
    """The transaction to echo: the payload's own, else the MQTT 5 correlation data as text."""
    transaction = transaction_of(request.payload)
    if transaction is not None:
        return transaction
    return correlation_transaction(request.correlation)


def refused(body: dict[str, Any], error: str, what: str) -> None:
    """Bad input is an expected event: an error answer and one log line, no traceback."""
    body.update(status="error", error=error)
    log.info("refused %s: %s", what, error)


def tls_context(config: BridgeConfig) -> ssl.SSLContext:
    """The broker's TLS context, built once at start: a CA or certificate file that cannot
    be loaded is a ConfigError naming its key (exit 2), not a failing MQTT task."""
    tls = config.mqtt.tls
    key = "mqtt.tls.ca_certs"
    try:
        context = ssl.create_default_context(cafile=tls.ca_certs)
        if tls.certfile:
            key = "mqtt.tls.certfile"
            context.load_cert_chain(tls.certfile, tls.keyfile)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"{key}: cannot be loaded ({exc.strerror or exc})") from None
    if tls.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _response_properties(message: aiomqtt.Message) -> tuple[str | None, Any]:
    props = message.properties
    if props is None:
        return None, None
    reply_to = getattr(props, "ResponseTopic", None)
    correlation = getattr(props, "CorrelationData", None)
    if reply_to is not None and ("+" in reply_to or "#" in reply_to):
        reply_to = None
    return reply_to, correlation
