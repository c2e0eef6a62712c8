"""Prometheus metrics: ``metrics: {bind, port}`` serves http://bind:port/metrics.

The poll path stays as it was: a poll only stores its MinerData (one dict write) and adds
to the poll histogram.  The per-miner gauges are built at scrape time by a custom collector
from the last reading of each miner, so hundreds of gauges are never updated per poll, and a
removed miner is simply not in the next scrape.  Labels are bounded: the miner id, at most a
board or fan index (MAX_INDEXES of each), and small fixed sets (reason, outcome, sensor); no
per-chip series and no free text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from asic_bridge import __version__
from asic_bridge.bridge.adoption import Device
from asic_bridge.bridge.config import MetricsConfig
from asic_bridge.bridge.events import (
    CommandAnswered,
    Connected,
    EventBus,
    MinerOffline,
    MinerOnline,
    MinerRemoved,
    MinerRenamed,
    PollFailed,
    PollSucceeded,
    WatchdogActed,
)
from asic_bridge.bridge.registry import DeviceRecord
from asic_bridge.data import MinerData
from asic_bridge.data.hashrate import convert
from asic_bridge.errors import ConfigError

log = logging.getLogger("asic_bridge.bridge")

#: Boards and fans per miner that get series (a garbage answer listing thousands of boards
#: must not become thousands of series).
MAX_INDEXES = 32
POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
#: Request head limit and read deadline of the endpoint (it serves scrapers, not uploads).
MAX_REQUEST = 8192
REQUEST_TIMEOUT = 10.0


def family_of(record: DeviceRecord) -> str:
    """The poll histogram's family label: make and firmware (a bounded set: the drivers)."""
    return f"{record.make or 'unknown'}/{record.firmware or 'unknown'}"


@dataclass(frozen=True, slots=True)
class _Miner:
    """One miner as a scrape sees it, taken in the event loop."""

    id: str
    record: DeviceRecord
    online: bool
    data: MinerData | None


class Metrics:
    """The metrics feature: bridge counters updated on events, miner gauges at scrape time."""

    def __init__(
        self,
        bus: EventBus,
        devices: Callable[[], Iterable[Device]],
        config: MetricsConfig | None = None,
    ):
        self._devices = devices
        self.config = config
        self._latest: dict[str, MinerData] = {}
        self._online: dict[str, bool] = {}
        self._connects = 0
        self.registry = registry = CollectorRegistry()
        self.poll_duration = Histogram(
            "asic_bridge_poll_duration_seconds",
            "Time one poll of a miner took (connect and read), by make/firmware.",
            ["family"],
            buckets=POLL_BUCKETS,
            registry=registry,
        )
        self.poll_failures = Counter(
            "asic_bridge_poll_failures",
            "Polls without a usable answer, by make/firmware and reason.",
            ["family", "reason"],
            registry=registry,
        )
        self.commands = Counter(
            "asic_bridge_commands",
            "Commands to miners (<id>/set) by the status they were answered with.",
            ["outcome"],
            registry=registry,
        )
        self.reconnects = Counter(
            "asic_bridge_mqtt_reconnects",
            "MQTT sessions after the first (reconnects to the broker).",
            registry=registry,
        )
        self.watchdog_actions = Counter(
            "asic_bridge_watchdog_actions",
            "Actions the watchdog took, by rule, action and outcome.",
            ["rule", "action", "outcome"],
            registry=registry,
        )
        self._durations: dict[str, Histogram] = {}  # family -> its child, off the hot path
        self.collector = MinerCollector()
        registry.register(self.collector)
        self._server: asyncio.Server | None = None
        self._scrape_lock = asyncio.Lock()
        if config is None:
            return  # metrics off: not on the bus, nothing kept per poll
        bus.on(PollSucceeded, self._polled)
        bus.on(PollFailed, self._poll_failed)
        bus.on(MinerOnline, self._online_event)
        bus.on(MinerOffline, self._offline_event)
        bus.on(MinerRemoved, self._removed)
        bus.on(MinerRenamed, self._renamed)
        bus.on(CommandAnswered, self._command)
        bus.on(Connected, self._connected)
        bus.on(WatchdogActed, self._watchdog)

    # ------------------------------------------------------------------ events
    async def _polled(self, event: PollSucceeded) -> None:
        self._latest[event.device.id] = event.data
        family = family_of(event.device.record)
        child = self._durations.get(family)
        if child is None:
            child = self._durations[family] = self.poll_duration.labels(family)
        child.observe(event.duration)

    async def _poll_failed(self, event: PollFailed) -> None:
        family = family_of(event.device.record)
        self.poll_failures.labels(family, event.reason).inc()
        self.poll_duration.labels(family).observe(event.duration)

    async def _online_event(self, event: MinerOnline) -> None:
        self._online[event.device.id] = True

    async def _offline_event(self, event: MinerOffline) -> None:
        # no stale figures for a miner that does not answer: only its up, info and counters
        self._online[event.device.id] = False
        self._latest.pop(event.device.id, None)

    async def _removed(self, event: MinerRemoved) -> None:
        self._online.pop(event.device.id, None)
        self._latest.pop(event.device.id, None)

    async def _renamed(self, event: MinerRenamed) -> None:
        for table in (self._online, self._latest):
            if event.old_id in table:
                table[event.device.id] = table.pop(event.old_id)  # type: ignore[assignment]

    async def _command(self, event: CommandAnswered) -> None:
        self.commands.labels(event.status).inc()

    async def _connected(self, event: Connected) -> None:
        self._connects += 1
        if self._connects > 1:
            self.reconnects.inc()

    async def _watchdog(self, event: WatchdogActed) -> None:
        self.watchdog_actions.labels(event.rule, event.action, event.outcome).inc()

    # ------------------------------------------------------------------ scrapes
    def snapshot(self) -> list[_Miner]:
        """Every adopted miner with its last reading (in the loop: no race with polls)."""
        return [
            _Miner(d.id, d.record, self._online.get(d.id, False), self._latest.get(d.id))
            for d in self._devices()
        ]

    async def render(self) -> bytes:
        """The exposition text; built in a worker thread so a big fleet's scrape does not
        hold the event loop (the readings are not mutated after their poll)."""
        async with self._scrape_lock:
            self.collector.miners = self.snapshot()
            return await asyncio.to_thread(generate_latest, self.registry)

    async def start(self) -> None:
        """Listen (when configured); a port that cannot be had is a ConfigError naming it."""
        config = self.config
        if config is None:
            return
        try:
            self._server = await asyncio.start_server(
                self._serve, config.bind, config.port, limit=MAX_REQUEST
            )
        except OSError as exc:
            raise ConfigError(
                f"metrics: cannot listen on {config.bind}:{config.port} ({exc.strerror or exc})"
            ) from None
        log.info("Prometheus metrics on http://%s:%d/metrics", config.bind, config.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One HTTP/1.x request per connection: GET /metrics, anything else 404/405."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            if method not in ("GET", "HEAD"):
                status, body, ctype = "405 Method Not Allowed", b"GET only\n", "text/plain"
            elif path != "/metrics":
                status, body, ctype = "404 Not Found", b"see /metrics\n", "text/plain"
            else:
                status, body, ctype = "200 OK", await self.render(), CONTENT_TYPE_LATEST
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            )
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a scraper that went away or sent no request: nothing to answer
        except Exception:
            log.exception("metrics request failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class MinerCollector(Collector):
    """Builds the per-miner families from the snapshot the scrape took."""

    def __init__(self) -> None:
        self.miners: list[_Miner] = []

    def collect(self) -> Iterator[Metric]:
        miners = self.miners
        g = _Families()
        online = 0
        for m in miners:
            online += m.online
            rec = m.record
            g.up.add_metric([m.id], 1.0 if m.online else 0.0)
            g.info.add_metric(
                [
                    m.id,
                    rec.make or "",
                    rec.model or "",
                    rec.firmware or "",
                    rec.fw_ver or "",
                    rec.hashrate_unit,
                ],
                1.0,
            )
            if m.data is not None:
                g.add_reading(m.id, m.data)
        yield from g.all()
        yield GaugeMetricFamily("asic_bridge_miners", "Adopted miners.", value=len(miners))
        yield GaugeMetricFamily(
            "asic_bridge_miners_online", "Adopted miners answering their polls.", value=online
        )
        info = GaugeMetricFamily("asic_bridge_info", "The bridge's version.", labels=["version"])
        info.add_metric([__version__], 1.0)
        yield info


class _Families:
    """The per-miner metric families of one scrape."""

    def __init__(self) -> None:
        def gauge(name: str, doc: str, *labels: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=["miner", *labels])

        self.up = gauge("asic_miner_up", "1 while the miner answers its polls, else 0.")
        self.info = gauge(
            "asic_miner_info",
            "Identity of the miner (always 1).",
            "make",
            "model",
            "firmware",
            "version",
            "hashrate_unit",
        )
        self.hashrate = gauge("asic_miner_hashrate_hashes_per_second", "Hash rate.")
        self.expected = gauge(
            "asic_miner_expected_hashrate_hashes_per_second", "Hash rate the miner aims at."
        )
        self.power = gauge("asic_miner_power_watts", "Power drawn.")
        self.limit = gauge("asic_miner_power_limit_watts", "Power limit set.")
        self.efficiency = gauge(
            "asic_miner_efficiency",
            "Joules per hash-rate unit (J/TH for SHA-256; the unit is asic_miner_info's).",
        )
        self.temp = gauge("asic_miner_temperature_celsius", "Average board temperature.")
        self.env_temp = gauge("asic_miner_environment_temperature_celsius", "Ambient reading.")
        self.board_temp = gauge(
            "asic_miner_board_temperature_celsius",
            "Board temperatures by sensor (board, chip, inlet, outlet).",
            "board",
            "sensor",
        )
        self.board_rate = gauge(
            "asic_miner_board_hashrate_hashes_per_second", "Hash rate per board.", "board"
        )
        self.board_chips = gauge("asic_miner_board_chips", "Chips a board reports.", "board")
        self.chips = gauge("asic_miner_chips", "Chips all boards report.")
        self.expected_chips = gauge("asic_miner_expected_chips", "Chips the model has.")
        self.fan = gauge("asic_miner_fan_speed_rpm", "Fan speeds (fan=psu: the PSU's).", "fan")
        self.mining = gauge("asic_miner_mining", "1 while mining, 0 asleep or stopped.")
        self.uptime = gauge("asic_miner_uptime_seconds", "Seconds since the miner booted.")
        self.errors = gauge("asic_miner_errors", "Errors the firmware reports now.")
        self.accepted = CounterMetricFamily(
            "asic_miner_shares_accepted", "Accepted shares, all pools.", labels=["miner"]
        )
        self.rejected = CounterMetricFamily(
            "asic_miner_shares_rejected", "Rejected shares, all pools.", labels=["miner"]
        )

    def all(self) -> Iterator[Metric]:
        return iter(vars(self).values())

    def add_reading(self, miner: str, d: MinerData) -> None:
        ids = [miner]
        unit = d.hashrate_unit

        def put(family: GaugeMetricFamily, value: float | None, *labels: str) -> None:
            if value is not None:
                family.add_metric([miner, *labels], float(value))

        if d.hashrate is not None:
            put(self.hashrate, convert(d.hashrate, unit, "H/s"))
        if d.expected_hashrate is not None:
            put(self.expected, convert(d.expected_hashrate, unit, "H/s"))
        put(self.power, d.wattage)
        put(self.limit, d.wattage_limit)
        put(self.efficiency, d.efficiency_fract)
        put(self.temp, d.temperature_avg)
        put(self.env_temp, d.env_temp)
        put(self.chips, d.total_chips)
        put(self.expected_chips, d.expected_chips)
        put(self.uptime, d.uptime)
        if d.is_mining is not None:
            put(self.mining, 1.0 if d.is_mining else 0.0)
        if "errors" not in d.field_errors:
            put(self.errors, len(d.errors))
        seen: set[int] = set()  # a firmware listing one slot twice must not give twin series
        for board in d.hashboards[:MAX_INDEXES]:
            if board.slot in seen:
                continue
            seen.add(board.slot)
            index = str(board.slot)
            if board.hashrate is not None:
                put(self.board_rate, convert(board.hashrate, unit, "H/s"), index)
            put(self.board_chips, board.chips, index)
            for sensor, value in (
                ("board", board.temp),
                ("chip", board.chip_temp),
                ("inlet", board.inlet_temp),
                ("outlet", board.outlet_temp),
            ):
                put(self.board_temp, value, index, sensor)
        for i, fan in enumerate(d.fans[:MAX_INDEXES]):
            put(self.fan, fan.speed, str(i))
        put(self.fan, d.fan_psu, "psu")
        accepted = [p.accepted for p in d.pools if p.accepted is not None]
        rejected = [p.rejected for p in d.pools if p.rejected is not None]
        if accepted:
            self.accepted.add_metric(ids, float(sum(accepted)))
        if rejected:
            self.rejected.add_metric(ids, float(sum(rejected)))
