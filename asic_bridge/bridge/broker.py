"""The embedded MQTT broker (amqtt, MQTT 3.1.1), so the bridge runs with nothing installed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 5.0


class EmbeddedBroker:
    """amqtt bound to one address; anonymous clients allowed (it listens on loopback by default)."""

    def __init__(self, bind: str = "127.0.0.1", port: int = 1883):
        self.bind = bind
        self.port = port
        self._broker: Any = None

    async def start(self) -> None:
        from amqtt.broker import Broker

        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.bind}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        self._broker = Broker(config)
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
        log.info("embedded MQTT broker listening on %s:%d", self.bind, self.port)

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
