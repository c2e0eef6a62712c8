"""CGMiner-style RPC server (port 4028): one request per connection, one JSON reply, close.

The wire facts follow cgminer's api.c: the request is ``{"command": ..., "parameter": ...}``
(or plain ``command|parameter``) with no terminator, so it is taken as soon as it parses;
the reply is compact JSON followed by a NUL byte; the server then closes and clients read to
EOF.  ``"a+b"`` joins commands: the reply is ``{"a": [reply_a], "b": [reply_b], "id": 1}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Collection
from typing import Any

from .base import SimServer

RpcReply = dict[str, Any] | bytes
Parsed = tuple[str, "str | None", dict[str, Any]] | dict[str, Any]
"""``(command, parameter, request)`` of a good request, else the error reply to send."""
RpcHandler = Callable[[str, "str | None", dict[str, Any]], RpcReply]
"""``(command, parameter, request) -> reply``: a dict is sent as JSON, bytes are sent as is
(for kinds that reproduce a firmware's broken JSON)."""

# cgminer status codes used by the server itself and by kinds
CODE_INVALID_COMMAND = 14
CODE_INVALID_JSON = 23
CODE_MISSING_COMMAND = 24
CODE_ACCESS_DENIED = 45

NOT_JOINABLE: frozenset[str] = frozenset(
    {
        "quit", "restart", "save", "switchpool", "enablepool", "disablepool", "addpool",
        "removepool", "poolpriority", "poolquota", "ascenable", "ascdisable", "ascset",
        "pgaenable", "pgadisable", "pgaset", "setconfig", "zero", "hotplug", "debug",
        "failover-only", "lcd",
    }
)  # fmt: skip
"""Commands cgminer refuses inside a ``+`` batch (they change state)."""


def status(severity: str, code: int, msg: str, description: str | None = None) -> dict[str, Any]:
    """One ``STATUS`` entry; ``description`` is omitted when None (cgminer does so for code 14)."""
    entry: dict[str, Any] = {"STATUS": severity, "When": int(time.time()), "Code": code, "Msg": msg}
    if description is not None:
        entry["Description"] = description
    return entry


def reply(
    section: str | None,
    items: list[dict[str, Any]] | None,
    *,
    code: int,
    msg: str,
    description: str | None,
    severity: str = "S",
) -> dict[str, Any]:
    """A complete cgminer reply: ``{"STATUS": [...], section: items, "id": 1}``."""
    out: dict[str, Any] = {"STATUS": [status(severity, code, msg, description)]}
    if section is not None:
        out[section] = items if items is not None else []
    out["id"] = 1
    return out


def error_reply(code: int, msg: str, description: str | None = None) -> dict[str, Any]:
    return reply(None, None, code=code, msg=msg, description=description, severity="E")


def invalid_command() -> dict[str, Any]:
    """cgminer's answer to an unknown command (no Description, on purpose)."""
    return error_reply(CODE_INVALID_COMMAND, "Invalid command")


def batch_reply(
    handler: RpcHandler,
    command: str,
    request: dict[str, Any],
    *,
    description: str | None = None,
    not_joinable: Collection[str] = NOT_JOINABLE,
) -> dict[str, Any]:
    """Answer ``"a+b+c"`` from single-command handlers, the way cgminer joins them.

    Duplicates are answered once, empty parts skipped, state-changing commands denied;
    parameters are dropped (cgminer ignores them in a batch).
    """
    out: dict[str, Any] = {}
    for cmd in command.split("+"):
        if not cmd or cmd in out:
            continue
        if cmd in not_joinable:
            out[cmd] = [
                error_reply(CODE_ACCESS_DENIED, f"Access denied to '{cmd}' command", description)
            ]
            continue
        result = handler(cmd, None, request)
        if isinstance(result, bytes):
            try:
                result = json.loads(result.rstrip(b"\x00\r\n "))
            except ValueError:
                result = error_reply(CODE_INVALID_JSON, "Invalid JSON", description)
        out[cmd] = [result]
    out["id"] = 1
    return out


def parse_request(raw: bytes, description: str | None = None) -> Parsed:
    """``(command, parameter, request)``, or the error reply cgminer would send."""
    text = raw.decode("utf-8", "replace").strip("\x00\r\n\t ")
    if not text.startswith("{"):  # the old plain-text API: command|parameter
        name, sep, param_text = text.partition("|")
        plain = {"command": name, **({"parameter": param_text} if sep else {})}
        return name, param_text if sep else None, plain
    try:
        request = json.loads(text)
    except ValueError:
        return error_reply(CODE_INVALID_JSON, "Invalid JSON", description)
    if not isinstance(request, dict):
        return error_reply(CODE_INVALID_JSON, "Invalid JSON", description)
    command = request.get("command")
    if command is None:
        return error_reply(CODE_MISSING_COMMAND, "Missing JSON 'command'", description)
    if not isinstance(command, str):
        return invalid_command()
    value = request.get("parameter")
    parameter: str | None
    if isinstance(value, str):
        parameter = value
    elif isinstance(value, bool) or value is None:  # jansson: a bool is no parameter
        parameter = None
    elif isinstance(value, int):
        parameter = str(value)
    elif isinstance(value, float):
        parameter = f"{value:f}"
    else:
        parameter = None
    return command, parameter, request


def _complete(buf: bytes) -> bool:
    text = buf.rstrip(b"\x00\r\n\t ")
    if text.startswith(b"{"):
        try:
            json.loads(text)
        except ValueError:
            return False
        return True
    return b"\n" in buf


class RpcServer(SimServer):
    """Serve a :data:`RpcHandler` the cgminer way.

    ``refuse_batches`` makes ``a+b`` fail with STATUS E so clients exercise their fallback
    to single commands; ``nul`` controls the trailing NUL byte of replies.
    """

    def __init__(
        self,
        handler: RpcHandler,
        *,
        description: str | None = "cgminer 4.11.1",
        nul: bool = True,
        refuse_batches: bool = False,
        not_joinable: Collection[str] = NOT_JOINABLE,
        max_request: int = 64 * 1024,
        read_timeout: float = 10.0,
        quiet_time: float = 0.25,
    ) -> None:
        super().__init__()
        self.handler = handler
        self.description = description
        self.nul = nul
        self.refuse_batches = refuse_batches
        self.not_joinable = not_joinable
        self.max_request = max_request
        self.read_timeout = read_timeout
        self.quiet_time = quiet_time
        """After a first unparseable chunk, how long more bytes may take before we answer
        what we have (cgminer answers its single recv())."""

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        buf = b""
        timeout = self.read_timeout
        while len(buf) < self.max_request:
            try:
                chunk = await asyncio.wait_for(reader.read(4096), timeout)
            except TimeoutError:
                break
            if not chunk:
                break
            buf += chunk
            if _complete(buf):
                break
            timeout = self.quiet_time
        return buf[: self.max_request]

    def parse(self, raw: bytes) -> Parsed:
        """Raw request → (command, parameter, request) or an error reply.

        Override for firmwares that wrap requests (Whatsminer's encrypted ``{"enc": ...}``).
        """
        return parse_request(raw, self.description)

    def count(self, parsed: Parsed) -> None:
        if isinstance(parsed, dict):
            return
        self.counters.by_key.update({c for c in parsed[0].split("+") if c})

    def answer(self, parsed: Parsed) -> RpcReply:
        """The reply to one parsed request (see :func:`parse_request`)."""
        if isinstance(parsed, dict):
            return parsed
        command, parameter, request = parsed
        if "+" not in command:
            return self.handler(command, parameter, request)
        if self.refuse_batches:
            return invalid_command()
        return batch_reply(
            self.handler,
            command,
            request,
            description=self.description,
            not_joinable=self.not_joinable,
        )

    def encode(self, result: RpcReply) -> bytes:
        if isinstance(result, bytes):
            return result
        data = json.dumps(result, separators=(",", ":")).encode()
        return data + b"\x00" if self.nul else data

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = await self.read_request(reader)
        if not raw.strip(b"\x00\r\n\t "):
            return  # a port probe: connect and close
        self.counters.requests += 1
        parsed = self.parse(raw)
        self.count(parsed)
        if not await self.before_reply(reader, writer):
            return  # a hung or crashing firmware acts on nothing
        writer.write(self.encode(self.answer(parsed)))
        await writer.drain()
        await self.finish(reader, writer)

    def huge_payload(self) -> bytes:
        head = json.dumps(
            {"STATUS": [status("S", 11, "Summary", self.description)]}, separators=(",", ":")
        )
        junk = b"x" * self.behaviour.huge_size
        return head[:-1].encode() + b',"SUMMARY":[{"Junk":"' + junk + b'"}],"id":1}\x00'
