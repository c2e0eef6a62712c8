"""The fallback embedded broker: amqtt (MQTT 3.1.1, in this event loop), with its defects that
break an MQTT user worked around here, each at its root cause (amqtt 0.12.1 source):

1. Misrouting: on every CONNECT amqtt replays the retained messages matching *every* filter
   any client has subscribed to (``for topic in self._subscriptions``) to the new client.  A
   ``mosquitto_sub -t x/+/response`` started while a ``#`` watcher runs got every retained
   message; a client without subscriptions (``mosquitto_pub``) was sent hundreds.  Fixed:
   retained messages go out only in answer to the client's own SUBSCRIBE.
2. Lost publishes: a client that publishes and disconnects at once (``mosquitto_pub``, QoS 0
   or 1) could have its message dropped: amqtt's client loop ends on the disconnect and
   cancels the delivery still waiting in the session's queue.  It happened while that replay
   (1) kept the broker busy, i.e. whenever a ``#`` watcher was connected.  Fixed: the queue
   is drained before the disconnect is handled.
3. Keep-alive: amqtt notices that a client sent nothing for its keep-alive time, then ignores
   it, so a silent client was never dropped and its will never sent [MQTT-3.1.2-24].  Fixed:
   after 1.5 x keep-alive the connection is closed, which publishes the will.
4. Offline queue: amqtt's anonymous-auth plugin marks every client "anonymous", and amqtt
   neither queues QoS 1/2 messages for an anonymous persistent session nor keeps it.  Fixed:
   our own auth plugin, which marks nobody.  Queued messages were also sent flagged as
   retained; they go out as ordinary messages.
5. A QoS 0 retained message was sent at the subscription's QoS (``retained.qos or qos``).
6. Tracebacks: the replay tasks' exceptions (a client gone mid-replay) were never retrieved,
   one "Task exception was never retrieved" burst per short-lived client.
7. An ERROR line for every TCP connection closed before CONNECT (port and health checks).
8. Sends to a client already gone: a RuntimeError on uvloop, a 5 s wait for a PUBACK that
   cannot come on asyncio, each logged by amqtt with its traceback.  Nothing is sent.
9. Takeover: a client connecting with the client id of a connected one (a reconnect after
   a network blip) left the old connection open, its will sent whenever it finally closed;
   for a persistent session the new connection received nothing.  Now as mosquitto: the
   old connection is closed first (clean session: its will sent; persistent: none).
10. A protocol error (PUBLISH to an empty or ``$`` topic) stopped amqtt reading the client's
    packets but left the connection open and the session connected.  It is closed.

Not worked around (README "Embedded broker"; each would mean replacing a large amqtt method):
no MQTT 5; a QoS 1/2 message in flight when a persistent session drops is not redelivered on
reconnect (amqtt's QoS flows drop it when the connection's waiters are cancelled); messages
go out at the subscription's QoS, not the lower of it and the publisher's (its broadcast
loop); nothing survives a restart; a PUBLISH whose topic has a wildcard is skipped mid-stream
instead of closing the connection (its packet decoder; only malformed clients send one).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from amqtt.broker import Broker
from amqtt.mqtt.disconnect import DisconnectPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 5.0
KEEPALIVE_GRACE = 1.5  # [MQTT-3.1.2-24]: one and a half times the keep-alive

#: What the bridge logs once when it falls back to amqtt.
LACKS = (
    "MQTT 5 (the bridge speaks 3.1.1 to it)",
    "redelivery of a QoS 1/2 message that was in flight when a persistent session dropped",
    "delivery at the publisher's QoS when it is below the subscription's",
    "persistence across restarts (retained messages live in memory; the bridge republishes)",
)


class _Handler(BrokerProtocolHandler):  # type: ignore[misc]
    """amqtt's broker protocol handler, which drops a client silent past its keep-alive and
    sends nothing to a client that is gone."""

    def _gone(self) -> bool:
        writer = self.writer
        if writer is None or getattr(writer, "is_closed", False):
            return True
        stream = getattr(writer, "_writer", None)  # the asyncio StreamWriter of a TCP client
        return stream is not None and bool(stream.transport.is_closing())

    async def _send_packet(self, packet: Any) -> None:
        # (8) amqtt writes to connections the peer already closed and expects only
        # ConnectionResetError/BrokenPipeError then; uvloop (what asic-bridge run uses)
        # raises RuntimeError, which surfaced as logged tracebacks.
        if self._gone():
            return
        await super()._send_packet(packet)

    async def mqtt_publish(
        self, topic: str, data: bytes, qos: int | None, retain: bool, ack_timeout: int | None = None
    ) -> Any:
        # (8) and no 5 s wait for the PUBACK of a client that is gone, ending in a TimeoutError
        # that amqtt logs with its traceback
        if self._gone():
            return None
        return await super().mqtt_publish(topic, data, qos, retain, ack_timeout)

    def handle_read_timeout(self) -> None:
        # amqtt's reader waits keep_alive (scaled below) for a packet, then calls this, which
        # does nothing in amqtt.  End of stream makes its reader close the connection the
        # abnormal way: the will is published.
        if self.reader is not None:
            self.reader.feed_eof()


class _Broker(Broker):  # type: ignore[misc]
    """amqtt's Broker with the fixes listed in the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # sessions inside their message loop, by id(); counted, as a taken-over session's
        # old loop may still be ending when its new one starts
        self._serving: Counter[int] = Counter()

    async def _initialize_client_session(self, *args: Any, **kwargs: Any) -> Any:
        handler, session = await super()._initialize_client_session(*args, **kwargs)
        handler.__class__ = _Handler  # (3) same state, one method more
        if session.keep_alive > 0:
            session.keep_alive = math.ceil(session.keep_alive * KEEPALIVE_GRACE)
        return handler, session

    async def _delete_session(self, client_id: str) -> None:
        # (9) a clean-session CONNECT with the id of a connected client: amqtt dropped the old
        # session but left its connection open, and that zombie's will went out whenever it
        # finally closed (a bridge's "offline" after the bridge had reconnected).  As
        # mosquitto does: close the old connection now, its will before the new CONNACK.
        session, handler = self._sessions.get(client_id, (None, None))
        if session is not None and handler is not None and session.transitions.is_connected():
            await handler.handle_connection_closed()
            await _disconnected(session)
        await super()._delete_session(client_id)

    async def _handle_client_session(
        self, reader: Any, writer: Any, client_session: Any, handler: Any, *args: Any
    ) -> None:
        # (9) a persistent session taken over: amqtt closed the old connection the abnormal
        # way after the new one was attached to the same session, so the old connection's
        # end sent the *new* connection's will and marked the session disconnected, and the
        # new connection received nothing.  As mosquitto does: the old connection ends as if
        # it had said DISCONNECT (the session goes on, no will) before the new one starts.
        old = self._sessions.get(client_session.client_id)
        if (
            old is not None
            and old[0] is client_session
            and client_session.transitions.is_connected()
        ):
            await old[1].handle_disconnect(DisconnectPacket())
            await _disconnected(client_session)
        await super()._handle_client_session(reader, writer, client_session, handler, *args)

    async def _client_message_loop(self, client_session: Any, handler: Any) -> None:
        self._serving[id(client_session)] += 1
        try:
            await super()._client_message_loop(client_session, handler)
            if client_session.transitions.is_connected():
                # (10) amqtt leaves this loop on a protocol error (a PUBLISH to a '$' or
                # wildcard topic), logs "closing connection", and closes nothing: the session
                # stayed connected with nobody reading its packets.  End it as the protocol
                # error it is, will included [MQTT-3.1.2-8].
                gone: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                gone.set_result(None)
                await self._handle_disconnect(client_session, handler, gone)
        finally:
            self._serving[id(client_session)] -= 1
            if self._serving[id(client_session)] <= 0:
                del self._serving[id(client_session)]

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Any
    ) -> None:
        # (1) amqtt calls this at CONNECT for every filter of every client, before the
        # client's message loop starts; a SUBSCRIBE is handled inside the loop.
        if id(session) not in self._serving:
            return
        handler = self._get_handler(session)
        if handler is None:
            return
        topic_filter, qos = subscription
        sends = [
            handler.mqtt_publish(
                retained.topic,
                retained.data,
                qos if retained.qos is None else min(qos, retained.qos),  # (5)
                retain=True,
            )
            for topic, retained in list(self._retained_messages.items())
            if self._matches(topic, topic_filter)
        ]
        await _all_sent(sends, session)

    async def _publish_session_retained_messages(self, session: Any) -> None:
        # (4) what was queued for the offline session: ordinary messages, not retained ones
        handler = self._get_handler(session)
        if handler is None:
            return
        sends = []
        while not session.retained_messages.empty():
            queued = session.retained_messages.get_nowait()
            sends.append(handler.mqtt_publish(queued.topic, queued.data, queued.qos, retain=False))
        await _all_sent(sends, session)

    async def _handle_disconnect(
        self, client_session: Any, handler: Any, disconnect_waiter: Any
    ) -> None:
        # (2) deliver what the client published before it left, then let amqtt end it
        queue = client_session.delivered_message_queue
        while not queue.empty():
            done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            done.set_result(queue.get_nowait())
            await self._handle_message_delivery(client_session, handler, done)
        await super()._handle_disconnect(client_session, handler, disconnect_waiter)


async def _disconnected(session: Any) -> None:
    """Until amqtt's message loop of ``session``'s old connection has ended it (bounded)."""
    for _ in range(200):
        if not session.transitions.is_connected():
            return
        await asyncio.sleep(0.01)
    log.warning("the old connection of MQTT client %s did not end in time", session.client_id)


async def _all_sent(sends: list[Any], session: Any) -> None:
    """Run the sends; a client that left meanwhile is no error (6)."""
    results = await asyncio.gather(*sends, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        log.debug("%d of %d messages not sent to %s", len(failed), len(sends), session.client_id)


class OpenAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Anyone, or only ``username``/``password`` when set; never marks a client anonymous (4)."""

    @dataclass
    class Config:
        username: str | None = None
        password: str | None = None

    async def authenticate(self, *, session: Any) -> bool:
        config = self.context.config
        if not config.username:
            return True
        return (session.username or "") == config.username and hmac.compare_digest(
            (session.password or "").encode(), (config.password or "").encode()
        )


class _ClientNoise(logging.Filter):
    """Drops amqtt's error lines for a TCP connection that closed before its CONNECT (a port
    check, a health check): the client's business, not a broker error (7)."""

    NOISE = ("No data from", "Failed to initialize client session")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.NOISE)


_NOISE_FILTER = _ClientNoise()


class AmqttFallback:
    """amqtt bound to one address (MQTT 3.1.1 only)."""

    supports_v5 = False
    description = "amqtt (fallback)"

    def __init__(
        self,
        bind: str = "127.0.0.1",
        port: int = 1883,
        *,
        username: str | None = None,
        password: str | None = None,
        why: str = "mosquitto not found",
    ):
        self.why = why
        self.bind = bind
        self.port = port
        self.username = username
        self.password = password
        self._broker: _Broker | None = None

    async def start(self) -> None:
        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.bind}:{self.port}"}},
            "plugins": {
                f"{__name__}.OpenAuthPlugin": {
                    "username": self.username,
                    "password": self.password,
                },
            },
        }
        amqtt_log = logging.getLogger("amqtt.broker")
        if _NOISE_FILTER not in amqtt_log.filters:
            amqtt_log.addFilter(_NOISE_FILTER)
        self._broker = _Broker(config)
        startup_log = logging.getLogger("amqtt.broker")
        startup_log.setLevel(logging.CRITICAL)  # its own traceback would duplicate ours
        try:
            await self._broker.start()
        except Exception as exc:  # amqtt wraps the bind OSError in its BrokerError
            self._broker = None
            cause = exc.__cause__ or exc
            raise OSError(
                f"embedded MQTT broker cannot listen on {self.bind}:{self.port} ({cause})"
            ) from None
        finally:
            startup_log.setLevel(logging.WARNING)
        log.warning(
            "embedded MQTT broker: amqtt (fallback, %s) on %s:%d; it lacks: %s."
            " Install mosquitto or set mqtt.url to your broker",
            self.why,
            self.bind,
            self.port,
            "; ".join(LACKS),
        )

    async def stop(self) -> None:
        """Shut down, bounded: amqtt's shutdown can wait forever for a client handler that
        ignored its cancellation (seen on Python 3.11), and the daemon must still exit."""
        broker, self._broker = self._broker, None
        if broker is None:
            return
        task = asyncio.ensure_future(broker.shutdown())
        done, _ = await asyncio.wait({task}, timeout=SHUTDOWN_TIMEOUT)
        if not done:
            task.cancel()
            log.warning("embedded MQTT broker did not stop within %.0f s", SHUTDOWN_TIMEOUT)
        elif task.exception() is not None:
            log.warning("embedded MQTT broker shutdown failed: %s", task.exception())
