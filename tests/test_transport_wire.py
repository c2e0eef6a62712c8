"""The HTTP/1.1 wire under HTTPClient, against raw servers that write exact bytes.

Each test's server is a few lines of asyncio that answer the way some miner web server
does (chunked, HTTP/1.0 read-to-close, ``Connection: close``, interim 100, stale kept
connections), so the framing rules are checked on real sockets, byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from hashlib import md5
from pathlib import Path
from typing import Any

import pytest

from asic_bridge.errors import (
    AuthenticationError,
    MinerConnectionError,
    MinerTimeoutError,
    ResponseTooLargeError,
)
from asic_bridge.transport.http import HTTPClient
from asic_bridge.transport.wire import ProtocolViolation, probe_get

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.open = 0
        self.peak_open = 0
        self.requests: list[bytes] = []

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        return head + body

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.peak_open = max(self.peak_open, self.open)
        try:
            await self.handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


@asynccontextmanager
async def serve(
    make: Callable[[Server], Handler], tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[Server, int]]:
    server = Server(lambda r, w: asyncio.sleep(0))
    server.handler = make(server)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
    try:
        yield server, listener.sockets[0].getsockname()[1]
    finally:
        listener.close()


@asynccontextmanager
async def connected(
    make: Callable[[Server], Handler], tls: ssl.SSLContext | None = None, **options: Any
) -> AsyncIterator[tuple[Server, HTTPClient]]:
    """A server and an HTTPClient on it (``https`` when ``tls`` is given)."""
    async with serve(make, tls) as (server, port):
        scheme = "https" if tls is not None else "http"
        client = HTTPClient("127.0.0.1", port, scheme=scheme, **options)
        try:
            yield server, client
        finally:
            await client.aclose()


def ok(body: bytes, *extra: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def keep_alive(answer: Callable[[bytes, int], bytes]) -> Callable[[Server], Handler]:
    """A server answering every request on a connection with ``answer(request, n)``."""

    def make(server: Server) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                request = await server.read_request(reader)
                writer.write(answer(request, len(server.requests)))
                await writer.drain()

        return handler

    return make


async def test_kept_alive_connection_serves_every_request() -> None:
    async with connected(keep_alive(lambda req, n: ok(b'{"n": %d}' % n))) as (server, client):
        answers = [(await client.get("/x")).json()["n"] for _ in range(20)]
    assert answers == list(range(1, 21))
    assert server.connections == client.connections == 1
    assert client.requests == 20


async def test_chunked_body_with_extensions_and_trailers() -> None:
    def answer(req: bytes, n: int) -> bytes:
        return (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n"
        )

    async with connected(keep_alive(answer)) as (server, client):
        first = await client.get("/a")
        second = await client.get("/b")
    assert first.body == second.body == b"hello world"
    assert server.connections == 1  # the chunked framing left the connection reusable


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
    ],
    ids=["length", "chunked"],
)
async def test_answers_arriving_a_byte_at_a_time(reply: bytes) -> None:
    """The response is parsed as it arrives: every framing state split at every byte."""

    def make(server: Server) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                await server.read_request(reader)
                for i in range(len(reply)):
                    writer.write(reply[i : i + 1])
                    await writer.drain()
                    await asyncio.sleep(0)

        return handler

    async with connected(make) as (server, client):
        for path in ("/a", "/b"):
            assert (await client.get(path)).body == b"hello world"
    assert server.connections == 1


async def test_http10_body_read_to_close_and_connection_not_reused() -> None:
    def make(server: Server) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<title>x</title>")
            await writer.drain()

        return handler

    async with connected(make) as (server, client):
        for _ in range(3):
            assert (await client.get("/")).text == "<title>x</title>"
    assert server.connections == 3


async def test_connection_close_header_opens_a_fresh_connection() -> None:
    async with connected(keep_alive(lambda req, n: ok(b"{}", "Connection: close"))) as (
        server,
        client,
    ):
        for _ in range(3):
            assert (await client.get("/")).ok
    assert server.connections == 3


async def test_interim_100_skipped_and_no_body_statuses() -> None:
    def answer(req: bytes, n: int) -> bytes:
        if req.startswith(b"HEAD"):
            return b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n"
        if n == 1:
            return b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"done")
        return b"HTTP/1.1 204 No Content\r\n\r\n"

    async with connected(keep_alive(answer)) as (server, client):
        first = await client.post("/form", data={"a": "1"})
        second = await client.get("/empty")
        third = await client.request("HEAD", "/head")
        fourth = await client.get("/empty")
    assert (first.status, first.body) == (200, b"done")
    assert (second.status, second.body) == (204, b"")
    assert (third.status, third.body) == (200, b"")  # HEAD: the length describes a GET
    assert fourth.status == 204
    assert server.connections == 1
    assert server.requests[0].endswith(b"\r\n\r\na=1")


async def test_get_on_a_connection_the_miner_dropped_is_retried_once() -> None:
    """The miner closes a kept connection just as the next request arrives (its idle timer
    fired): a GET is sent again on a new connection, a POST is not (it may have acted)."""

    def make(server: Server) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(ok(b"first"))
            await writer.drain()
            await server.read_request(reader)  # the second request on this connection...
            # ...is dropped unanswered: the handler returns and the socket closes

        return handler

    async with connected(make) as (server, client):
        assert (await client.get("/a")).body == b"first"
        assert (await client.get("/b")).body == b"first"  # answered on a new connection
        assert server.connections == 2
        with pytest.raises(MinerConnectionError):
            await client.post("/c", json={"x": 1})
    assert server.connections == 2
    assert sum(req.startswith(b"POST") for req in server.requests) == 1


async def test_timeout_discards_the_connection_so_a_late_answer_is_never_misread() -> None:
    def make(server: Server) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                request = await server.read_request(reader)
                if b"/slow" in request:
                    await asyncio.sleep(0.5)
                    writer.write(ok(b"late"))
                else:
                    writer.write(ok(b"fresh"))
                await writer.drain()

        return handler

    async with connected(make) as (server, client):
        with pytest.raises(MinerTimeoutError):
            await client.get("/slow", timeout=0.2)
        await asyncio.sleep(0.5)
        assert (await client.get("/next")).body == b"fresh"
    assert server.connections == 2


@pytest.mark.parametrize(
    "reply",
    [
        b"SSH-2.0-dropbear\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: twelve\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    ],
    ids=["not-http", "bad-status", "bad-length", "bad-chunk", "truncated", "huge-header"],
)
async def test_garbage_answers_are_clear_errors(reply: bytes) -> None:
    def make(server: Server) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(reply)
            await writer.drain()

        return handler

    async with connected(make, timeout=2) as (_, client):
        with pytest.raises(MinerConnectionError) as caught:
            await client.get("/x")
    assert caught.value.ip == "127.0.0.1"
    assert "/x" in str(caught.value)


async def test_body_cap_applies_to_chunked_and_declared_lengths() -> None:
    def answer(req: bytes, n: int) -> bytes:
        if b"/declared" in req:
            return b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000
        chunks = b"".join(b"400\r\n" + b"y" * 1024 + b"\r\n" for _ in range(5))
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"

    async with connected(keep_alive(answer), max_bytes=4096) as (_, client):
        with pytest.raises(ResponseTooLargeError):
            await client.get("/declared")
        with pytest.raises(ResponseTooLargeError):
            await client.get("/chunked")


async def test_max_connections_bounds_concurrent_requests() -> None:
    def make(server: Server) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                await server.read_request(reader)
                await asyncio.sleep(0.05)
                writer.write(ok(b"{}"))
                await writer.drain()

        return handler

    async with connected(make, max_connections=2) as (server, client):
        results = await asyncio.gather(*(client.get(f"/{i}") for i in range(8)))
    assert all(r.ok for r in results)
    assert server.peak_open == server.connections == 2


async def test_cookies_set_by_the_miner_are_sent_back_and_dropped_on_close() -> None:
    def answer(req: bytes, n: int) -> bytes:
        if n == 1:
            return ok(b"{}", "Set-Cookie: session=abc123; Path=/")
        return ok(b"{}")

    async with serve(keep_alive(answer)) as (server, port):
        client = HTTPClient("127.0.0.1", port)
        await client.get("/login")
        await client.get("/data")
        await client.aclose()
        await client.get("/data")
        await client.aclose()
    assert b"session=abc123" not in server.requests[0]
    assert b"Cookie: session=abc123" in server.requests[1]
    assert b"session=abc123" not in server.requests[2]


def _self_signed(tmp: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "miner")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return context


async def test_https_with_a_self_signed_certificate(tmp_path: Path) -> None:
    """Miners (ePIC, Auradine, newer Whatsminer UIs) serve self-signed certificates."""
    tls = _self_signed(tmp_path)
    async with connected(keep_alive(lambda req, n: ok(b'{"tls": true}')), tls) as (server, client):
        assert (await client.get("/a")).json() == {"tls": True}
        assert (await client.get("/b")).ok
    assert server.connections == 1


async def _probe_answer(reply: bytes, cap: int = 64) -> tuple[int, dict[str, str], bytes]:
    """probe_get against a server that answers ``reply`` and closes."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await probe_get("127.0.0.1", port, "/", timeout=5, connect_timeout=5, cap=cap)
    finally:
        server.close()
        await server.wait_closed()
        assert not seen or seen[0].startswith(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")


async def test_probe_get_reads_status_headers_and_body() -> None:
    status, headers, body = await _probe_answer(
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\nWWW-Authenticate: Digest x\r\n"
        b"Server: lighttpd\r\nContent-Length: 5\r\n\r\nhello"
    )
    assert (status, body) == (401, b"hello")
    assert headers["server"] == "lighttpd" and headers["www-authenticate"] == "Digest x"


async def test_probe_get_takes_what_comes_cut_at_the_cap() -> None:
    long = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000
    assert (await _probe_answer(long, cap=64))[2] == b"x" * 64
    short = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"y" * 10  # closed early
    assert (await _probe_answer(short))[2] == b"y" * 10
    to_close = b"HTTP/1.0 200 OK\r\n\r\n" + b"z" * 100
    assert (await _probe_answer(to_close, cap=64))[2] == b"z" * 64
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    assert (await _probe_answer(chunked))[2] == b"abcde"
    cut_chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz"
    assert (await _probe_answer(cut_chunked))[2] == b"abc"


@pytest.mark.parametrize(
    "reply",
    [b"SSH-2.0-dropbear\r\n\r\n", b"HTTP/1.1 2000 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nX: y\r\n"],
    ids=["not-http", "bad-status", "cut-header"],
)
async def test_probe_get_refuses_what_is_not_http(reply: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        await _probe_answer(reply)


async def test_probe_get_on_a_closed_answer_is_a_connection_error() -> None:
    with pytest.raises(ConnectionResetError):
        await _probe_answer(b"")


async def test_request_bytes_on_the_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every byte HTTPClient sends, for a GET with a query and headers, a JSON POST, and a
    digest exchange: the challenge, a direct second request (nc 2), a stale nonce re-auth
    (nc back to 1).  The client nonce is fixed so that the whole request is known."""
    from asic_bridge.transport.http import digest_auth

    monkeypatch.setattr("asic_bridge.transport.http.os.urandom", lambda n: b"\x01" * n)
    challenges = iter(
        [
            b'Digest realm="antMiner Configuration", nonce="n1", qop="auth", opaque="op"',
            b'Digest realm="antMiner Configuration", nonce="n2", qop="auth", opaque="op", '
            b"stale=true",
        ]
    )

    def answer(request: bytes, n: int) -> bytes:
        if request.startswith(b"GET /cgi-bin/") and n in (3, 6):  # unasked, then stale
            head = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: " + next(challenges)
            return head + b"\r\nContent-Length: 0\r\n\r\n"
        return ok(b'{"ok": true}')

    async with connected(keep_alive(answer), headers={"X-Kind": "test"}) as (server, client):
        port = client.port
        await client.get("/api/info", headers={"X-Call": "1"}, a="1", b="x y")
        await client.post("/api/set", json={"mode": 1, "name": "é"})
        client.auth = digest_auth("root", "root")
        for _ in range(3):
            assert (await client.get("/cgi-bin/stats.cgi")).ok
        assert (await client.get("/cgi-bin/pools.cgi")).ok
    host = f"Host: 127.0.0.1:{port}\r\n".encode()
    common = b"User-Agent: asic_bridge\r\nAccept: */*\r\nX-Kind: test\r\n"

    def digest(path: bytes, nonce: bytes, nc: bytes) -> bytes:
        ha1 = md5(b"root:antMiner Configuration:root").hexdigest().encode()
        ha2 = md5(b"GET:" + path).hexdigest().encode()
        cnonce = b"0101010101010101"
        response = md5(b":".join((ha1, nonce, nc, cnonce, b"auth", ha2))).hexdigest().encode()
        return (
            b"GET " + path + b" HTTP/1.1\r\n" + host + common
            + b'Authorization: Digest username="root", realm="antMiner Configuration", nonce="'
            + nonce + b'", uri="' + path + b'", response="' + response
            + b'", algorithm=MD5, opaque="op", qop=auth, nc=' + nc
            + b', cnonce="' + cnonce + b'"\r\n\r\n'
        )  # fmt: skip

    stats, pools = b"/cgi-bin/stats.cgi", b"/cgi-bin/pools.cgi"
    assert server.requests == [
        b"GET /api/info?a=1&b=x+y HTTP/1.1\r\n" + host + common + b"X-Call: 1\r\n\r\n",
        b"POST /api/set HTTP/1.1\r\n" + host + common
        + b"Content-Length: 22\r\nContent-Type: application/json\r\n\r\n"
        + '{"mode":1,"name":"é"}'.encode(),
        b"GET /cgi-bin/stats.cgi HTTP/1.1\r\n" + host + common + b"\r\n",
        digest(stats, b"n1", b"00000001"),
        digest(stats, b"n1", b"00000002"),
        digest(stats, b"n1", b"00000003"),
        digest(stats, b"n2", b"00000001"),
        digest(pools, b"n2", b"00000002"),
    ]  # fmt: skip


async def _wire_of_a_session(monkeypatch: pytest.MonkeyPatch, fast: bool) -> list[bytes]:
    """The requests of a session that meets every answer the kept request bytes hand over
    to httpx for: challenges with and without qop, a 401 without a digest challenge, a
    cookie set and then dropped, a gzip body, a caller's own Authorization header."""
    import gzip

    from asic_bridge.transport.http import digest_auth

    if not fast:

        async def slow(*args: Any) -> None:
            return None

        monkeypatch.setattr(HTTPClient, "_fast", slow)
    monkeypatch.setattr("asic_bridge.transport.http.os.urandom", lambda n: b"\x02" * n)
    realm = 'realm="r", nonce="{}"'
    answers = {
        2: "WWW-Authenticate: Digest " + realm.format("a") + ', qop="auth"',
        5: "WWW-Authenticate: Basic realm=x",
        6: "WWW-Authenticate: Digest " + realm.format("b"),  # RFC 2069: no qop
        9: "Set-Cookie: sid=7; Path=/",
        11: "Set-Cookie: sid=; Max-Age=0; Path=/",
    }

    def answer(request: bytes, n: int) -> bytes:
        extra = answers.get(n)
        if extra is not None and extra.startswith("WWW"):
            return f"HTTP/1.1 401 No\r\n{extra}\r\nContent-Length: 0\r\n\r\n".encode()
        if request.startswith(b"GET /z "):
            return ok(gzip.compress(b'{"z": 1}'), "Content-Encoding: gzip")
        return ok(b"{}", *([extra] if extra else []))

    async with connected(keep_alive(answer), auth=digest_auth("u", "p")) as (server, client):
        for path in ["/a", "/a", "/b", "/a", "/c", "/c", "/c", "/a", "/a", "/b", "/b", "/z"]:
            with contextlib.suppress(AuthenticationError):
                await client.get(path)
        assert (await client.get("/z")).json() == {"z": 1}
        await client.get("/h", headers={"Authorization": "mine"})
        await client.get("/n", use_auth=False)
    port = f":{client.port}\r\n".encode()
    return [request.replace(port, b":PORT\r\n", 1) for request in server.requests]


async def test_kept_request_bytes_are_the_ones_httpx_builds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = await _wire_of_a_session(monkeypatch, fast=True)
    slow = await _wire_of_a_session(monkeypatch, fast=False)
    assert len(fast) == 17
    assert fast == slow
