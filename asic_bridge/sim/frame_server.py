"""Length-prefixed JSON frame server (Whatsminer API v3, TCP 4433).

Each message in either direction is a 4-byte little-endian length followed by that many
bytes of JSON.  The connection stays open for further frames until the client closes it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from .base import SimServer

FrameReply = dict[str, Any] | bytes
FrameHandler = Callable[[dict[str, Any]], FrameReply]
"""``message -> reply``: a dict is sent as a JSON frame, bytes as the frame's payload."""


def encode_frame(payload: dict[str, Any] | bytes) -> bytes:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return len(data).to_bytes(4, "little") + data


class FrameServer(SimServer):
    """Serve a :data:`FrameHandler`; ``bad_frame`` answers frames that are not a JSON object."""

    def __init__(
        self,
        handler: FrameHandler,
        *,
        key: str = "cmd",
        bad_frame: dict[str, Any] | None = None,
        max_frame: int = 1024 * 1024,
        idle_timeout: float = 15.0,
    ) -> None:
        super().__init__()
        self.handler = handler
        self.key = key
        self.bad_frame = bad_frame if bad_frame is not None else {"code": -1, "msg": "invalid"}
        self.max_frame = max_frame
        self.idle_timeout = idle_timeout

    async def read_frame(self, reader: asyncio.StreamReader) -> bytes | None:
        """One frame's payload; None on EOF, idle timeout or an oversized length."""
        try:
            header = await asyncio.wait_for(reader.readexactly(4), self.idle_timeout)
            size = int.from_bytes(header, "little")
            if size > self.max_frame:
                return None
            return await asyncio.wait_for(reader.readexactly(size), self.idle_timeout)
        except (asyncio.IncompleteReadError, TimeoutError):
            return None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            payload = await self.read_frame(reader)
            if payload is None:
                return
            self.counters.requests += 1
            try:
                message = json.loads(payload)
            except ValueError:
                message = None
            if isinstance(message, dict):
                self.counters.by_key[str(message.get(self.key))] += 1
            if not await self.before_reply(reader, writer):
                return
            result = self.handler(message) if isinstance(message, dict) else self.bad_frame
            writer.write(encode_frame(result))
            await writer.drain()
            if not await self.after_reply(result, reader, writer):
                return

    async def after_reply(
        self, reply: FrameReply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Continue the conversation after ``reply`` (a kind that takes a raw transfer next
        reads it here); False closes the connection."""
        return True

    def huge_payload(self) -> bytes:
        return encode_frame(b'{"code":0,"msg":{"junk":"' + b"x" * self.behaviour.huge_size + b'"}}')
