"""``<b>/bridge/request/<path>``: each path a registered handler, each answered on
``bridge/response/<path>`` with ``status``, ``data``, ``error`` and ``transaction``.

Features register their own paths; an unknown path (``device/unknown`` too) is answered
with an error naming the known ones, never silence.  Sharded (``shard.count`` > 1) these are
``<b>/bridge/<instance>/request/<path>``, and ``SharedRequests`` answers the shared topic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

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

    def register(
        self, path: str, handler: RequestHandler, then: Callable[[], None] | None = None
    ) -> None:
        self.handlers[path] = handler
        if then is not None:
            self.then[path] = then

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


#: The requests about one miner, by path, and the key naming the miner in their payload.
MINER_REQUESTS = {
    "poll": "id",
    "remove": "id",
    "device/remove": "id",
    "device/rename": "from",
    "device/options": "id",
    "device/firmware_update": "id",
}


class SharedRequests:
    """Sharded, every instance hears the shared ``<b>/bridge/request/<path>``: a request
    about one miner (``MINER_REQUESTS``, naming it as a string) is answered by its owner on
    ``<b>/bridge/response/<path>``; every other one there is left unanswered, since N answers
    would contradict each other: those go to ``<b>/bridge/<instance>/request/<path>``."""

    def __init__(self, requests: BridgeRequests, devices: Mapping[str, object]):
        self.requests = requests
        self.devices = devices  # the miners this instance owns, by id

    def routes(self, session: MqttSession) -> None:
        session.route("shared_request", self.handle)

    async def handle(self, request: Request) -> None:
        path = request.incoming.name or ""
        key = MINER_REQUESTS.get(path)
        if key is None:
            return
        try:
            args = orjson.loads(request.payload)
        except orjson.JSONDecodeError:
            return
        if isinstance(args, dict) and isinstance(args.get(key), str) and args[key] in self.devices:
            await self.requests.handle(request, self.requests.topics.shared_response(path))
