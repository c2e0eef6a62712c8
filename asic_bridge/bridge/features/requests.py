"""``<b>/bridge/request/<path>``: each path a registered handler, each answered on
``bridge/response/<path>`` with ``status``, ``data``, ``error`` and ``transaction``.

Features register their own paths; an unknown path (``device/unknown`` too) is answered
with an error naming the known ones, never silence.  Sharded (``shard.count`` > 1) these are
``<b>/bridge/<instance>/request/<path>``, and the shared topic is answered on the shared
response topic when ``shard.answered_here`` lets it through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asic_bridge.bridge import commands as cmd
from asic_bridge.bridge.mqtt import MqttSession, Publisher, Request, refused, request_transaction
from asic_bridge.bridge.topics import Topics

#: A request handler: the payload's JSON object in, the response's ``data`` out; raising
#: RequestError answers with that error.
RequestHandler = Callable[[dict[str, Any]], Awaitable[Any]]


class BridgeRequests:
    def __init__(self, publisher: Publisher, topics: Topics):
        self.publisher = publisher
        self.topics = topics
        self.handlers: dict[str, RequestHandler] = {}
        #: what runs after a path's successful answer was published (restart)
        self.then: dict[str, Callable[[], None]] = {}

    def routes(self, session: MqttSession) -> None:
        session.route("bridge_request", self.handle)
        session.route("shared_request", self.handle_shared)

    def register(
        self, path: str, handler: RequestHandler, then: Callable[[], None] | None = None
    ) -> None:
        self.handlers[path] = handler
        if then is not None:
            self.then[path] = then

    async def handle_shared(self, request: Request) -> None:
        """Sharded: ``<b>/bridge/request/<path>``, answered on ``<b>/bridge/response/<path>``."""
        await self.handle(request, self.topics.shared_response(request.incoming.name or ""))

    async def handle(self, request: Request, response_topic: str | None = None) -> None:
        """Answer on ``bridge/response/<path>`` (or ``response_topic``), whatever happens."""
        path, payload = request.incoming.name or "", request.payload
        body: dict[str, Any] = {
            "status": "error",
            "data": None,
            "error": None,
            "transaction": request_transaction(request),
        }
        try:
            args = cmd.decode_json(payload, "invalid JSON") if payload.strip() else {}
            if not isinstance(args, dict):
                raise cmd.RequestError("payload must be a JSON object")
            cmd.check_transaction(args.get("transaction"))
            handler = self.handlers.get(path)
            if handler is None:
                known = ", ".join(sorted(self.handlers))
                raise cmd.RequestError(f"unknown request {path[:40]!r}; known: {known}")
            body["data"] = await handler(args)
            body["status"] = "ok"
        except ValueError as exc:
            error = str(exc) if isinstance(exc, cmd.RequestError) else "invalid request"
            refused(body, error, f"bridge request {path[:40]}")
        topic = response_topic or self.topics.bridge_response(path)
        await self.publisher.respond(topic, body, request)
        after = self.then.get(path)
        if after is not None and body["status"] == "ok":
            after()
