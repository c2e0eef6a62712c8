"""Shared helpers for the bridge tests: free ports, real brokers, an MQTT collector client.

Brokers are real: the amqtt fallback the bridge embeds (MQTT 3.1.1, in this event loop) and a
``mosquitto`` subprocess (MQTT 3.1.1 and 5) when the binary is installed.  Both can be
restarted on the same port, to test the bridge's reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import shutil
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiomqtt
import pytest
import pytest_asyncio

from asic_bridge import factory, settings
from asic_bridge.bridge.broker import EmbeddedBroker

if TYPE_CHECKING:
    from asic_bridge.bridge.app import Bridge

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
)

for _noisy in ("amqtt", "transitions", "aiomqtt"):
    logging.getLogger(_noisy).setLevel(logging.ERROR)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# Other runs of this suite may be going on in parallel (other engineers, CI shards): start at a
# per-process offset and skip any /24 whose miner ports are taken.
_blocks = itertools.count(os.getpid() % 200)
_PROBE_PORTS = (4028, 80, 4433)


def _block_free(block: int) -> bool:
    for host in range(1, 5):
        for port in _PROBE_PORTS:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((f"127.14.{block}.{host}", port))
                except OSError:
                    return False
    return True


def address_block() -> Callable[[int], str]:
    """A fresh, currently unused 127.14.X.0/24 for one test: ``addr(1)`` -> ``127.14.X.1``."""
    for _ in range(254):
        block = next(_blocks) % 254 + 1
        if _block_free(block):
            return lambda n: f"127.14.{block}.{n}"
    raise RuntimeError("no free 127.14.X.0/24 block")


@pytest.fixture(name="short_timeouts")
def short_timeouts_fixture() -> Iterator[None]:
    """1 s miner timeouts (a stopped simulator is seen at once) and a fresh identification
    cache; modules that import it put ``pytestmark = pytest.mark.usefixtures(...)``."""
    settings.update("api_function_timeout", 1.0)
    settings.update("factory_get_timeout", 1.0)
    factory.cache.clear()
    yield
    factory.cache.clear()


# ============================================================================ brokers
class Broker:
    """A running broker the test can stop and start again on the same port."""

    kind: str = ""
    host = "127.0.0.1"
    supports_v5 = False

    def __init__(self, port: int):
        self.port = port

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def kill(self) -> None:
        """Stop as abruptly as this broker allows."""
        await self.stop()


class AmqttBroker(Broker):
    kind = "amqtt"

    def __init__(self, port: int):
        super().__init__(port)
        self._broker: EmbeddedBroker | None = None

    async def start(self) -> None:
        self._broker = EmbeddedBroker(self.host, self.port, mode="amqtt")
        await self._broker.start()

    async def stop(self) -> None:
        if self._broker is not None:
            broker, self._broker = self._broker, None
            await broker.stop()


class _ProcessBroker(Broker):
    """A broker in its own process, so a test can SIGKILL it."""

    def __init__(self, port: int, workdir: Path):
        super().__init__(port)
        self.workdir = workdir
        self.log = workdir / f"{self.kind}-{port}.log"
        self.proc: asyncio.subprocess.Process | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command(), stdout=log, stderr=log
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}: {tail}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection(self.host, self.port)
                writer.close()
                return
            await asyncio.sleep(0.02)
        raise RuntimeError(f"{self.kind} did not start listening within 15 s")

    async def _end(self, kill: bool) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        if kill:
            proc.kill()
        else:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    async def stop(self) -> None:
        await self._end(kill=False)

    async def kill(self) -> None:
        await self._end(kill=True)


class AmqttProcessBroker(_ProcessBroker):
    """amqtt as a separate process (the ``amqtt`` command), for broker-crash tests."""

    kind = "amqtt"

    def __init__(self, port: int, workdir: Path):
        super().__init__(port, workdir)
        self.conf = workdir / f"amqtt-{port}.yaml"
        self.conf.write_text(
            "listeners:\n"
            f"  default: {{type: tcp, bind: '127.0.0.1:{port}'}}\n"
            "plugins:\n"
            "  amqtt.plugins.authentication.AnonymousAuthPlugin: {allow_anonymous: true}\n"
        )

    def command(self) -> list[str]:
        return [str(Path(sys.executable).parent / "amqtt"), "-c", str(self.conf)]


class MosquittoBroker(_ProcessBroker):
    kind = "mosquitto"
    supports_v5 = True

    def __init__(self, port: int, workdir: Path):
        super().__init__(port, workdir)
        self.conf = workdir / f"mosquitto-{port}.conf"
        self.conf.write_text(
            f"listener {port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            # The collector runs in the test's event loop next to the bridge and dozens of
            # simulated miners; while that loop is busy (start-up: ~40 discovery configs per
            # miner) it reads late, and mosquitto's default queue of 1000 messages per client
            # dropped what the bridge had published ("Outgoing messages are being dropped" in
            # its log), failing test_every_simulated_kind_is_discovered_and_polled on main too.
            "max_queued_messages 0\n"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n"
        )

    def command(self) -> list[str]:
        assert MOSQUITTO is not None
        return [MOSQUITTO, "-c", str(self.conf)]


BROKER_KINDS = [
    pytest.param("amqtt", id="amqtt"),
    pytest.param(
        "mosquitto",
        id="mosquitto",
        marks=pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed"),
    ),
]


@pytest_asyncio.fixture(params=BROKER_KINDS, name="broker")
async def broker_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Broker]:
    """A fresh broker per test, parametrized over amqtt and mosquitto."""
    port = free_port()
    instance: Broker = (
        AmqttBroker(port) if request.param == "amqtt" else MosquittoBroker(port, tmp_path)
    )
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


@pytest_asyncio.fixture(params=BROKER_KINDS, name="killable_broker")
async def killable_broker_fixture(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Broker]:
    """Like ``broker``, but each in its own process, so it can be SIGKILLed and restarted."""
    port = free_port()
    instance: Broker = (
        AmqttProcessBroker(port, tmp_path)
        if request.param == "amqtt"
        else MosquittoBroker(port, tmp_path)
    )
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


@pytest_asyncio.fixture(name="mosquitto")
async def mosquitto_fixture(tmp_path: Path) -> AsyncIterator[MosquittoBroker]:
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed")
    instance = MosquittoBroker(free_port(), tmp_path)
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


# ============================================================================ collector
@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    properties: Any
    at: float
    index: int
    qos: int = 0

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Collector:
    """An MQTT client that records every message on the subscribed filters."""

    client: aiomqtt.Client
    messages: list[Received] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def mark(self) -> int:
        """An index to pass as ``since`` to look only at messages arriving after now."""
        return len(self.messages)

    def on(self, topic: str, since: int = 0) -> list[Received]:
        return [m for m in self.messages[since:] if m.topic == topic]

    def last(self, topic: str) -> Received | None:
        found = self.on(topic)
        return found[-1] if found else None

    async def wait_for(
        self,
        predicate: Callable[[Received], bool],
        within: float = 5.0,
        since: int = 0,
        what: str = "",
    ) -> Received:
        """The first message (from ``since`` on) satisfying ``predicate``, within ``within`` s."""
        deadline = asyncio.get_running_loop().time() + within
        checked = since
        while True:
            while checked < len(self.messages):
                message = self.messages[checked]
                checked += 1
                with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                    if predicate(message):
                        return message
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                recent = [f"{m.topic} {m.text[:120]}" for m in self.messages[since:][-15:]]
                raise AssertionError(
                    f"no message {what or 'matching'} within {within} s; last seen:\n  "
                    + "\n  ".join(recent)
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_topic(
        self,
        topic: str,
        check: Callable[[Received], bool] = lambda m: True,
        within: float = 5.0,
        since: int = 0,
    ) -> Received:
        return await self.wait_for(
            lambda m: m.topic == topic and check(m), within, since, what=f"on {topic}"
        )

    async def publish(self, topic: str, payload: Any, **kwargs: Any) -> None:
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        kwargs.setdefault("qos", 1)
        await self.client.publish(topic, payload, **kwargs)

    async def _pump(self) -> None:
        async for message in self.client.messages:
            payload = message.payload
            if not isinstance(payload, bytes):
                payload = b"" if payload is None else str(payload).encode()
            self.messages.append(
                Received(
                    message.topic.value,
                    payload,
                    bool(message.retain),
                    message.properties,
                    time.monotonic(),
                    len(self.messages),
                    message.qos,
                )
            )
            self._changed.set()


@contextlib.asynccontextmanager
async def collector(
    broker: Broker,
    filters: Iterable[str] = ("asic_bridge/#", "homeassistant/#"),
    *,
    v5: bool = False,
    identifier: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> AsyncIterator[Collector]:
    """A connected, subscribed :class:`Collector` for the duration of the block."""
    protocol = aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311
    client = aiomqtt.Client(
        broker.host,
        broker.port,
        protocol=protocol,
        identifier=identifier,
        username=username,
        password=password,
        logger=logging.getLogger("tests.collector"),
        timeout=10,
    )
    await client.__aenter__()
    task: asyncio.Task[None] | None = None
    try:
        result = Collector(client)
        for topic in filters:
            await client.subscribe(topic, qos=1)
        task = asyncio.create_task(result._pump())
        yield result
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task
        # the broker may be gone (restart tests): leaving must not fail the test
        with contextlib.suppress(aiomqtt.MqttError, OSError):
            await client.__aexit__(None, None, None)


def drop_connection(client: aiomqtt.Client) -> None:
    """Break a client's TCP connection without a DISCONNECT (the broker then sends its will).

    ``shutdown`` rather than ``close``: closing the descriptor under paho breaks it.
    """
    sock = client._client.socket()
    assert sock is not None, "client has no socket"
    sock.shutdown(socket.SHUT_RDWR)


@contextlib.asynccontextmanager
async def sim_bridge(
    broker: Broker, state_dir: Path, kinds: Iterable[str], poll_interval: float = 1
) -> AsyncIterator[Any]:
    """A started Bridge serving one simulated miner per kind (on a fresh 127.14.X.0/24),
    ready (first scan done); stopped and shut down after the block."""
    from asic_bridge import factory
    from asic_bridge.bridge.app import Bridge
    from asic_bridge.bridge.config import parse_config

    factory.cache.clear()
    addr = address_block()
    config = parse_config(
        {
            "mqtt": {"url": broker.url, "protocol": "3.1.1"},
            "miners": {"poll_interval": poll_interval, "scan_interval": 0},
            "simulator": {"miners": [f"{k}@{addr(i + 1)}" for i, k in enumerate(kinds)]},
            "state_dir": str(state_dir),
        }
    )
    bridge = Bridge(config)
    await bridge.start()
    try:
        await asyncio.wait_for(bridge.ready.wait(), 20)
        yield bridge
    finally:
        bridge.stop()
        await asyncio.wait_for(bridge.shutdown(), 20)


def quick_restarts(s: Any) -> None:
    """A simulated miner without jitter whose restarts to apply a change (``*_downtime``)
    last 50 ms: the tests wait for the answer, not for the pause."""
    s.state.jitter = 0.0
    for name in dir(s):
        if name.endswith("_downtime") and isinstance(getattr(s, name), (int, float)):
            setattr(s, name, 0.05)


@contextlib.asynccontextmanager
async def sim_miner(kind: str, address: str) -> AsyncIterator[tuple[Any, Any]]:
    """A started simulated ``kind`` on ``address`` (quick restarts) and the driver the
    factory identifies for it; both closed after the block."""
    from asic_bridge import sim
    from asic_bridge.drivers.base import UnknownMiner
    from asic_bridge.factory import get_miner

    s = sim.create(f"{kind}@{address}")
    quick_restarts(s)
    await s.start()
    miner = None
    try:
        miner = await get_miner(s.address, use_cache=False)
        assert miner is not None and not isinstance(miner, UnknownMiner), kind
        yield s, miner
    finally:
        if miner is not None:
            await miner.aclose()
        await s.stop()


async def discovery_arrived(mqtt: Collector, bridges: Iterable[Bridge]) -> None:
    """Until the collector has every discovery config the bridges announced: they follow the
    miners' first states (features/discovery.py queues them), so a wait for a state is no
    wait for them."""
    bridges = list(bridges)
    for bridge in bridges:
        await asyncio.wait_for(bridge.discovery.drained(), 20)
    wanted = {t for b in bridges for s in b.slots.values() for t in s.record.discovery_topics}

    def arrived(message: Received) -> bool:
        wanted.discard(message.topic)
        return not wanted

    if wanted:
        await mqtt.wait_for(arrived, within=20, what="of the discovery configs")
