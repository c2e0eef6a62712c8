"""HTTP/1.1 on an asyncio protocol: the bytes under every miner web request.

httpx stays the request model (URLs, forms, auth flows, cookies); this module carries the
bytes instead of httpx's own transport stack.  httpcore + h11 + anyio cost about 0.25 ms of
CPU per request on a kept-alive connection, which on a 500-miner fleet polled every 10 s
was most of the bridge's CPU; the same request here costs a fifth of that.  Miner web
servers (lighttpd, esp-httpd, mongoose, Go's net/http) speak plain HTTP/1.1, so the subset
needed is small: one request at a time per connection, ``Content-Length``, chunked or
read-to-close bodies, keep-alive.

Kept over aiohttp's client (C parser, digest auth since 3.12) because it is cheaper:
bench/wire_bench.py, 20 simulated miners x 100 rounds on kept-alive connections, CPU per
request through transport/http.py vs aiohttp: 87 vs 139 us with digest auth (1.6x), 108 vs
187 us without (1.7x); AMD EPYC, 2 cores, Python 3.11.7, Linux 6.18 (on asyncio streams,
before the protocol below).  On a new connection per request, as the bridge's 30 s polls
meet the miners' shorter keep-alive, the protocol makes 193 Python calls per ESP-Miner GET
where streams made 230 (cProfile, uvloop).
"""

# ruff: noqa: ASYNC109  (the caller's per-request timeouts are applied here, on purpose)

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass

import httpx

from asic_bridge.transport.deadline import Deadline

__all__ = [
    "BodyTooLarge",
    "MinerTransport",
    "ProtocolViolation",
    "RawResponse",
    "Target",
    "WireStats",
    "encode_request",
    "probe_get",
]

#: Largest status line + headers accepted (a miner's are a few hundred bytes).
MAX_HEAD_BYTES = 64 * 1024
_NO_BODY_STATUS = frozenset({204, 304})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyTooLarge(Exception):
    """The response body is larger than the caller's cap."""


class ProtocolViolation(Exception):
    """The peer's bytes are not an HTTP/1.x response."""


@dataclass
class RawResponse:
    """One parsed response: lower-cased header names in arrival order."""

    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    reusable: bool

    def header_map(self) -> dict[str, str]:
        """Lower-cased names; a repeated header's values joined with ", " (RFC 9110)."""
        result: dict[str, str] = {}
        for key, value in self.headers:
            result[key] = f"{result[key]}, {value}" if key in result else value
        return result

    def to_httpx(self, request: httpx.Request) -> httpx.Response:
        """The same answer as an ``httpx.Response`` (for auth flows and the cookie jar)."""
        return httpx.Response(
            self.status,
            headers=self.headers,
            stream=httpx.ByteStream(self.body),
            extensions={
                "http_version": self.version.encode("ascii"),
                "reason_phrase": self.reason.encode("latin-1"),
            },
            request=request,
        )


@dataclass
class WireStats:
    """What really went on the wire, for tests and benchmarks."""

    connections: int = 0
    requests: int = 0


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise ProtocolViolation("response header too large") from None
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ProtocolViolation("connection closed inside the response header") from None
        raise ConnectionResetError("server closed the connection without answering") from None


def _parse_head(head: bytes | bytearray) -> tuple[str, int, str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise ProtocolViolation(f"not an HTTP/1.x status line: {lines[0][:40]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip().lower(), value.strip()))
    return version, int(code), reason, headers


async def probe_get(
    ip: str, port: int, path: str, *, timeout: float, connect_timeout: float, cap: int
) -> tuple[int, dict[str, str], bytes]:
    """A minimal ``GET`` on a fresh connection: status, lower-cased headers (the last of a
    repeated one), and the body cut at ``cap`` bytes.

    Identification reads only the status line, a few headers and the page title, so a full
    HTTP client per scanned address would be wasted work (it dominated scan CPU).  Unlike
    :class:`MinerTransport` it takes what comes: a body longer than ``cap`` is cut, a body
    the server ends early is kept as far as it came.  ``connect_timeout`` bounds the connect
    (the "ping") within ``timeout``.  Raises OSError, TimeoutError or ProtocolViolation.
    """
    async with asyncio.timeout(timeout):
        async with asyncio.timeout(min(connect_timeout, timeout)):
            reader, writer = await asyncio.open_connection(ip, port, limit=MAX_HEAD_BYTES)
        try:
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {ip}\r\nUser-Agent: asic_bridge\r\n"
                "Accept: */*\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            _, status, _, header_list = _parse_head(await _read_head(reader))
            headers = dict(header_list)
            length = headers.get("content-length", "")
            if length.isdigit():
                body = await _read_up_to(reader, min(int(length), cap))
            else:
                body = await _read_up_to(reader, cap)
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    body = _dechunk(body)
            return status, headers, body
        finally:
            writer.close()


async def _read_up_to(reader: asyncio.StreamReader, cap: int) -> bytes:
    """Up to ``cap`` bytes, fewer if the peer closes first."""
    chunks: list[bytes] = []
    size = 0
    while size < cap:
        chunk = await reader.read(cap - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _dechunk(data: bytes) -> bytes:
    """The payload of a (possibly cut) chunked body, as far as it is whole."""
    out = bytearray()
    while data:
        line, sep, rest = data.partition(b"\r\n")
        if not sep:
            break
        try:
            size = int(line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            break
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)


# Where the parser of a response is (one response at a time per connection).
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _TRAILERS, _TO_CLOSE = range(6)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; each response parsed as its bytes arrive.

    A protocol rather than streams (as transport/rpc.py's ``_Exchange``): no StreamReader,
    StreamWriter and their waiter futures per connection, and no await and event-loop turn
    per read; the whole response is handed over once.  With the miners' keep-alive shorter
    than the bridge's poll interval, nearly every request opens a connection.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False  # the peer ended it or it was lost: never reused
        self.idle_since = time.monotonic()
        self._buffer = bytearray()
        self._answer: asyncio.Future[RawResponse] | None = None
        self._on_lost: asyncio.Future[None] | None = None
        self._method = "GET"
        self._cap = 0
        self._mode = _HEAD
        self._need = 0
        self._total = 0
        self._chunks: list[bytes] = []
        self._head: tuple[int, str, str, list[tuple[str, str]], bool] = (0, "", "", [], False)

    # -- asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport, though not an asyncio.Transport subclass under uvloop
        self.transport = transport  # type: ignore[assignment]  # (no cast() call per connection)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._answer is None or self._answer.done():
            if len(self._buffer) > MAX_HEAD_BYTES:  # unasked bytes: never reused anyway
                self._buffer.clear()
                self.close()
            return
        try:
            self._advance()
        except (ProtocolViolation, BodyTooLarge) as exc:
            self._fail(exc)

    def eof_received(self) -> bool:
        self._ended(None)
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)
        if self._on_lost is not None and not self._on_lost.done():
            self._on_lost.set_result(None)

    # -- used by MinerTransport
    def request(self, payload: bytes, method: str, cap: int) -> asyncio.Future[RawResponse]:
        """Send one request; the future gets its response (or the failure)."""
        assert self.transport is not None
        answer = self._answer = asyncio.get_running_loop().create_future()
        self._method, self._cap, self._mode, self._total = method, cap, _HEAD, 0
        if self.closed:
            answer.set_exception(ConnectionResetError("the connection is closed"))
        else:
            self.transport.write(payload)
        return answer

    def usable(self, expiry: float) -> bool:
        """Still open, not closed by the server meanwhile, not idle too long."""
        assert self.transport is not None
        return (
            not self.closed
            and not self._buffer
            and not self.transport.is_closing()
            and time.monotonic() - self.idle_since < expiry
        )

    def close(self) -> None:
        self._answer = None
        self._buffer.clear()
        self._chunks = []
        if self.transport is not None:
            self.transport.close()

    async def wait_closed(self) -> None:
        if self.transport is None or self.closed:
            return
        if self._on_lost is None:
            self._on_lost = asyncio.get_running_loop().create_future()
        await self._on_lost

    # -- parsing
    def _advance(self) -> None:
        """Parse what the buffer holds, as far as it goes."""
        buf = self._buffer
        while self._answer is not None and not self._answer.done():
            mode = self._mode
            if mode == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD_BYTES:
                        raise ProtocolViolation("response header too large")
                    return
                if end + 4 > MAX_HEAD_BYTES:
                    raise ProtocolViolation("response header too large")
                head = buf[: end + 4]
                del buf[: end + 4]
                self._start_body(*_parse_head(head))
            elif mode == _LENGTH:
                if len(buf) < self._need:
                    return
                body = bytes(buf[: self._need])
                del buf[: self._need]
                self._finish(body)
            elif mode in (_CHUNK_SIZE, _TRAILERS):
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD_BYTES:
                        raise ProtocolViolation("bad chunked body")
                    return
                line = bytes(buf[:end])
                del buf[: end + 2]
                if mode == _TRAILERS:
                    if not line:  # trailers (ignored) end with an empty line
                        chunks, self._chunks = self._chunks, []
                        self._finish(b"".join(chunks))
                    continue
                try:
                    size = int(line.split(b";", 1)[0].strip() or b"x", 16)
                except ValueError:
                    raise ProtocolViolation("bad chunk size") from None
                if size == 0:
                    self._mode = _TRAILERS
                    continue
                self._total += size
                if self._total > self._cap:
                    raise BodyTooLarge
                self._need = size + 2  # and its CRLF
                self._mode = _CHUNK_DATA
            elif mode == _CHUNK_DATA:
                if len(buf) < self._need:
                    return
                self._chunks.append(bytes(buf[: self._need - 2]))
                del buf[: self._need]
                self._mode = _CHUNK_SIZE
            else:  # _TO_CLOSE: the body ends with the connection
                if len(buf) > self._cap:
                    raise BodyTooLarge
                return

    def _start_body(
        self, version: str, status: int, reason: str, headers: list[tuple[str, str]]
    ) -> None:
        if status < 200 and status != 101:
            return  # an interim answer: the real one follows
        values = dict(headers)
        connection = values.get("connection", "").lower()
        reusable = (
            "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        )
        self._head = (status, reason, version, headers, reusable)
        length = values.get("content-length", "")
        if self._method == "HEAD" or status in _NO_BODY_STATUS or status < 200:
            self._finish(b"")
        elif "chunked" in values.get("transfer-encoding", "").lower():
            self._mode = _CHUNK_SIZE
            self._chunks = []
        elif length:
            if not length.isdigit():
                raise ProtocolViolation(f"bad Content-Length {length[:20]!r}")
            if int(length) > self._cap:
                raise BodyTooLarge
            self._need = int(length)
            self._mode = _LENGTH
        else:
            self._head = (status, reason, version, headers, False)
            self._mode = _TO_CLOSE

    def _finish(self, body: bytes) -> None:
        status, reason, version, headers, reusable = self._head
        answer, self._answer = self._answer, None
        self._mode = _HEAD
        assert answer is not None
        # bytes beyond the response: nothing sane to do with them but not reuse it
        reusable = reusable and not self._buffer and not self.closed
        answer.set_result(RawResponse(status, reason, version, headers, body, reusable))

    def _fail(self, exc: BaseException) -> None:
        # A raised exception keeps its frames (data_received's chunk among them) and this
        # protocol reachable, in reference cycles until a full collection: drop the bytes
        # and the traceback (the await re-raises it with its own).
        exc.__traceback__ = None
        self._buffer.clear()
        self._chunks = []
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_exception(exc)

    def _ended(self, exc: Exception | None) -> None:
        """The peer closed or the connection broke: end a response that was under way."""
        self.closed = True
        answer = self._answer
        if answer is None or answer.done():
            return
        if exc is not None:
            self._fail(exc)
        elif self._mode == _TO_CLOSE:
            body = bytes(self._buffer)
            self._buffer.clear()
            self._finish(body)
        elif self._mode == _HEAD:
            if self._buffer:
                self._fail(ProtocolViolation("connection closed inside the response header"))
            else:
                self._fail(ConnectionResetError("server closed the connection without answering"))
        elif self._mode in (_CHUNK_SIZE, _TRAILERS):
            self._fail(ProtocolViolation("bad chunked body"))
        else:
            self._fail(ProtocolViolation("connection closed inside the response body"))


def encode_request(request: httpx.Request, body: bytes) -> bytes:
    """The request's bytes on the wire (``body`` read from it already)."""
    url = request.url
    target = url.raw_path or b"/"
    lines = [request.method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    chunked = False
    for name, value in request.headers.raw:
        if name.lower() == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
            continue  # the body is fully read: send it with a length instead
        lines += [name, b": ", value, b"\r\n"]
    if chunked or (body and b"content-length" not in (n.lower() for n, _ in request.headers.raw)):
        lines += [b"Content-Length: ", str(len(body)).encode(), b"\r\n"]
    lines.append(b"\r\n")
    return b"".join(lines) + body


Target = tuple[str, int, bool]
"""Where a request goes: host, port, and whether over TLS."""


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None]:
    timeout = request.extensions.get("timeout") or {}
    return timeout.get("connect"), timeout.get("read")


class MinerTransport:
    """HTTP/1.1 to one miner over kept-alive connections, for ``httpx.Request`` objects.

    At most ``max_connections`` requests run at once (the rest wait); idle connections are
    kept for ``keepalive_expiry`` seconds.  A GET on a kept connection that the miner had
    closed meanwhile is retried once on a fresh one; other methods are not (the miner may
    have acted on them).  Errors are httpx's exception types, so the HTTP client handles one
    family whether httpx (building the request) or the wire failed.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 4,
        keepalive_expiry: float = 15.0,
        max_bytes: int,
        stats: WireStats | None = None,
    ) -> None:
        self._ssl = ssl_context
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []
        self._expiry = keepalive_expiry
        self._cap = max_bytes
        self.stats = stats if stats is not None else WireStats()

    async def exchange(self, request: httpx.Request) -> RawResponse:
        """One round trip, answered as a :class:`RawResponse` (no httpx models built)."""
        body = await request.aread()
        connect_timeout, read_timeout = _timeouts(request)
        url = request.url
        tls = url.scheme == "https"
        target = (url.host, url.port or (443 if tls else 80), tls)
        payload = encode_request(request, body)
        return await self.send(
            payload, request.method, target, connect_timeout, read_timeout, request
        )

    async def send(
        self,
        payload: bytes,
        method: str,
        target: Target,
        connect_timeout: float | None,
        read_timeout: float | None = None,
        request: httpx.Request | None = None,
    ) -> RawResponse:
        """One round trip of an encoded request to ``target`` (host, port, TLS).

        The HTTP client's hot path: a GET whose bytes it keeps per path sends them here with
        no ``httpx.Request`` behind them; ``request``, when there is one, is named by the
        httpx errors raised.
        """
        async with self._slots:
            for attempt in (1, 2):
                conn, reused = await self._connection(target, connect_timeout, request)
                try:
                    self.stats.requests += 1
                    answer = conn.request(payload, method, self._cap)
                    if read_timeout is None:  # the caller's own deadline bounds the read
                        raw = await answer
                    else:
                        with Deadline(read_timeout):
                            raw = await answer
                except BaseException as exc:
                    conn.close()
                    retry = (
                        reused
                        and attempt == 1
                        and method in _IDEMPOTENT
                        and isinstance(exc, ConnectionError)
                    )
                    if not retry:
                        raise _as_httpx_error(exc, request) from None
                    continue
                if raw.reusable:
                    conn.idle_since = time.monotonic()
                    self._idle.append(conn)
                else:
                    conn.close()
                return raw
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connection(
        self, target: Target, timeout: float | None, request: httpx.Request | None
    ) -> tuple[_Connection, bool]:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable(self._expiry):
                return conn, True
            conn.close()
        host, port, tls = target
        loop = asyncio.get_running_loop()
        try:
            with Deadline(timeout):
                _, conn = await loop.create_connection(
                    _Connection,
                    host,
                    port,
                    ssl=(self._ssl or ssl.create_default_context()) if tls else None,
                    server_hostname="" if tls else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout("connect timed out", request=request) from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from None
        self.stats.connections += 1
        return conn, False

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
            with contextlib.suppress(Exception):
                await conn.wait_closed()


def _as_httpx_error(exc: BaseException, request: httpx.Request | None) -> BaseException:
    """Our failures as httpx's types; cancellation and caps pass through unchanged."""
    if isinstance(exc, TimeoutError):
        return httpx.ReadTimeout("no answer in time", request=request)
    if isinstance(exc, ProtocolViolation):
        return httpx.RemoteProtocolError(str(exc), request=request)
    if isinstance(exc, (ConnectionError, asyncio.IncompleteReadError)):
        return httpx.RemoteProtocolError(f"connection lost: {type(exc).__name__}", request=request)
    if isinstance(exc, (OSError, ssl.SSLError)):
        return httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request)
    return exc
