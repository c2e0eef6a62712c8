"""``<b>/bridge/logging``: the bridge's own log records as ``{level, message}``.

Records of ``asic_bridge`` loggers at or above ``mqtt_log_level`` (an option, default
warning) are queued by a logging handler and published by one task; tracebacks are left
out, and so are records made while publishing (no loop).  The bridge's log lines never
carry secrets (the config's errors are redacted where they are raised).
"""

from __future__ import annotations

import asyncio
import collections
import logging

from asic_bridge.bridge.mqtt import Publisher
from asic_bridge.bridge.topics import Topics

#: Records waiting to be published at most (the oldest are dropped beyond).
QUEUE_SIZE = 500
DEFAULT_LEVEL = "warning"


class MqttLogging(logging.Handler):
    def __init__(self, publisher: Publisher, topics: Topics, level: str | None):
        super().__init__(logging.getLevelName((level or DEFAULT_LEVEL).upper()))
        self.publisher = publisher
        self.topic = topics.bridge_logging
        self.queue: collections.deque[dict[str, str]] = collections.deque(maxlen=QUEUE_SIZE)
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def level_name(self) -> str:
        return logging.getLevelName(self.level).lower()

    def set_level(self, level: str | None) -> None:
        self.setLevel((level or DEFAULT_LEVEL).upper())

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("asic_bridge.mqtt") or self._in_drain():
            return
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not break the caller
            return
        self.queue.append({"level": record.levelname.lower(), "message": message[:2000]})
        self.wake.set()

    def _in_drain(self) -> bool:
        try:
            return asyncio.current_task() is self._task
        except RuntimeError:  # logged from a thread without a loop
            return False

    def start(self) -> None:
        logging.getLogger("asic_bridge").addHandler(self)
        self._task = asyncio.create_task(self._drain(), name="bridge-logging")

    async def stop(self) -> None:
        logging.getLogger("asic_bridge").removeHandler(self)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _drain(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.queue:
                await self.publisher.publish(self.topic, self.queue.popleft())
