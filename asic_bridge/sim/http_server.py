"""A small HTTP/1.1 server on asyncio streams, for simulated miner web UIs and APIs.

Written on raw streams (no framework) so a simulator controls every byte: misbehaviour,
odd headers, auth challenges.  It does request line, headers, Content-Length and chunked
bodies (413 past ``max_body``), keep-alive (HTTP/1.1 default; ``Connection: close`` honoured),
routing by method + path to async handlers returning ``(status, headers, body)``, and auth
guards: :class:`DigestAuth` (RFC 2617/7616, qop=auth, one nonce for the server's life so a
client can reuse it), Basic, bearer tokens and cookies.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .base import SimServer, log

Headers = Mapping[str, str] | Sequence[tuple[str, str]]
HttpReply = tuple[int, Headers, bytes | str]
"""``(status, headers, body)``; Content-Length, Date, Server and Connection are added."""
HttpHandler = Callable[["Request"], Awaitable[HttpReply]]
Guard = Callable[["Request"], "HttpReply | None"]
"""Auth check run before a handler: None lets the request through, a reply refuses it."""


class HttpError(Exception):
    """A request we answer with an error status and then close the connection."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message or HTTPStatus(status).phrase)
        self.status = status


@dataclass
class Request:
    method: str
    target: str
    """The raw request-target, e.g. ``/cgi-bin/x.cgi?a=1``."""
    path: str
    """Percent-decoded path without the query."""
    version: str
    headers: dict[str, str]
    """Lower-case names; repeated headers joined with ", " (cookies with "; ")."""
    body: bytes = b""
    query_lists: dict[str, list[str]] = field(default_factory=dict)

    @property
    def query(self) -> dict[str, str]:
        """Query parameters, first value of each."""
        return {k: v[0] for k, v in self.query_lists.items()}

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    def json(self) -> Any:
        """The body as JSON (ValueError if it is not)."""
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        """An ``application/x-www-form-urlencoded`` body, first value of each field."""
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def multipart(self) -> dict[str, tuple[str | None, bytes]]:
        """A ``multipart/form-data`` body: ``{field: (file name or None, bytes)}``, first
        part of each name.  ValueError when the body is not multipart."""
        ctype = self.headers.get("content-type", "")
        kind, _, params = ctype.partition(";")
        if kind.strip().lower() != "multipart/form-data":
            raise ValueError(f"not multipart/form-data: {ctype!r}")
        boundary = parse_auth_params(params).get("boundary")
        if not boundary:
            raise ValueError("multipart body without a boundary")
        delimiter = b"--" + boundary.encode("latin-1")
        out: dict[str, tuple[str | None, bytes]] = {}
        chunks = self.body.split(delimiter)
        if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
            raise ValueError("truncated multipart body")
        for chunk in chunks[1:-1]:
            head, sep, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
            if not sep:
                raise ValueError("multipart part without headers")
            disposition = ""
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-disposition":
                    disposition = value
            params_of = parse_auth_params(disposition.partition(";")[2].replace(";", ","))
            field_name = params_of.get("name")
            if field_name is not None and field_name not in out:
                out[field_name] = (params_of.get("filename"), content.removesuffix(b"\r\n"))
        return out

    def cookies(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in self.headers.get("cookie", "").split(";"):
            name, sep, value = part.strip().partition("=")
            if sep:
                out[name] = value
        return out


# ---------------------------------------------------------------------------- replies
def json_reply(obj: Any, status: int = 200, headers: Headers | None = None) -> HttpReply:
    hdrs = [("Content-Type", "application/json"), *_header_items(headers)]
    return status, hdrs, json.dumps(obj, separators=(",", ":"))


def text_reply(
    text: str,
    status: int = 200,
    content_type: str = "text/html; charset=utf-8",
    headers: Headers | None = None,
) -> HttpReply:
    return status, [("Content-Type", content_type), *_header_items(headers)], text


def _header_items(headers: Headers | None) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


# ---------------------------------------------------------------------------- auth
def parse_auth_params(value: str) -> dict[str, str]:
    """``a="x, y", b=z`` → {"a": "x, y", "b": "z"} (quoted strings may hold commas)."""
    out: dict[str, str] = {}
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " ,":
            i += 1
        eq = value.find("=", i)
        if eq < 0:
            break
        key = value[i:eq].strip().lower()
        i = eq + 1
        if i < n and value[i] == '"':
            i += 1
            chars: list[str] = []
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(value[i])
                i += 1
            out[key] = "".join(chars)
            i += 1
        else:
            end = value.find(",", i)
            end = n if end < 0 else end
            out[key] = value[i:end].strip()
            i = end
    return out


class DigestAuth:
    """Server-side HTTP Digest auth that really verifies the response hash.

    One nonce lives as long as this object (real lighttpd nonces last long too), so a client
    that caches it authenticates without a new 401.  ``users`` is consulted on every request,
    so a kind may change a password at runtime.  ``challenges`` counts 401s sent.
    """

    def __init__(
        self,
        realm: str,
        users: Mapping[str, str],
        *,
        algorithm: str = "MD5",
        qop: str | None = "auth",
        opaque: str | None = None,
        check_uri: bool = True,
    ) -> None:
        self.realm = realm
        self.users = users
        self.algorithm = algorithm
        self.qop = qop
        self.opaque = opaque
        self.check_uri = check_uri
        self.nonce = secrets.token_hex(16)
        self.challenges = 0
        self._hash = _digest_hash(algorithm)

    def __call__(self, request: Request) -> HttpReply | None:
        return None if self.verify(request) else self.challenge(request)

    def challenge(self, request: Request | None = None) -> HttpReply:
        self.challenges += 1
        parts = [f'realm="{self.realm}"', 'charset="UTF-8"', f"algorithm={self.algorithm}"]
        parts.append(f'nonce="{self.nonce}"')
        if self.opaque is not None:
            parts.append(f'opaque="{self.opaque}"')
        if self.qop:
            parts.append(f'qop="{self.qop}"')
        headers = [("WWW-Authenticate", "Digest " + ", ".join(parts))]
        return text_reply(_error_page(401), 401, headers=headers)

    def verify(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "digest":
            return False
        p = parse_auth_params(rest)
        user, response = p.get("username"), p.get("response")
        if user is None or response is None or p.get("nonce") != self.nonce:
            return False
        if p.get("realm", self.realm) != self.realm:
            return False
        password = self.users.get(user)
        if password is None:
            return False
        uri = p.get("uri", "")
        if self.check_uri and uri != request.target:
            return False
        h = self._hash
        ha1 = h(f"{user}:{self.realm}:{password}")
        if self.algorithm.lower().endswith("-sess"):
            ha1 = h(f"{ha1}:{self.nonce}:{p.get('cnonce', '')}")
        ha2 = h(f"{request.method}:{uri}")
        qop = p.get("qop")
        if qop:
            if qop != "auth" or "nc" not in p or "cnonce" not in p:
                return False
            expected = h(f"{ha1}:{self.nonce}:{p['nc']}:{p['cnonce']}:{qop}:{ha2}")
        else:
            expected = h(f"{ha1}:{self.nonce}:{ha2}")
        return hmac.compare_digest(expected, response.lower())


def _digest_hash(algorithm: str) -> Callable[[str], str]:
    name = algorithm.lower().removesuffix("-sess")
    table = {"md5": "md5", "sha-256": "sha256", "sha-512-256": "sha512_256"}
    if name not in table:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    hash_name = table[name]
    return lambda text: hashlib.new(hash_name, text.encode()).hexdigest()


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """(user, password) from ``Authorization: Basic ...``, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def basic_guard(realm: str, users: Mapping[str, str]) -> Guard:
    """A guard accepting HTTP Basic credentials from ``users``."""

    def guard(request: Request) -> HttpReply | None:
        creds = basic_credentials(request)
        if creds is not None and users.get(creds[0]) == creds[1]:
            return None
        headers = [("WWW-Authenticate", f'Basic realm="{realm}", charset="UTF-8"')]
        return text_reply(_error_page(401), 401, headers=headers)

    return guard


def bearer_token(request: Request, header: str = "authorization") -> str | None:
    """The token of ``Authorization: Bearer x`` (or the raw value of another header)."""
    value = request.headers.get(header.lower())
    if value is None:
        return None
    scheme, sep, token = value.partition(" ")
    if header.lower() == "authorization" and sep and scheme.lower() == "bearer":
        return token.strip()
    return value.strip()


def token_guard(
    tokens: Collection[str],
    *,
    header: str = "authorization",
    refusal: HttpReply | None = None,
) -> Guard:
    """A guard accepting a token (issued by a login handler) from ``tokens``.

    ``refusal`` is what a vendor sends on a bad token (default: 401 JSON).
    """

    def guard(request: Request) -> HttpReply | None:
        token = bearer_token(request, header)
        if token is not None and token in tokens:
            return None
        return refusal or json_reply({"error": "unauthorized"}, 401)

    return guard


def cookie_guard(name: str, values: Collection[str], refusal: HttpReply | None = None) -> Guard:
    """A guard accepting a session cookie ``name`` whose value is in ``values``."""

    def guard(request: Request) -> HttpReply | None:
        if request.cookies().get(name) in values:
            return None
        return refusal or text_reply(_error_page(403), 403)

    return guard


def _error_page(status: int) -> str:
    phrase = HTTPStatus(status).phrase
    return f"<html><head><title>{status} {phrase}</title></head><body><h1>{status} {phrase}</h1></body></html>\n"  # noqa: E501


# ---------------------------------------------------------------------------- server
@dataclass
class _Route:
    handler: HttpHandler
    public: bool
    guard: Guard | None


class HttpServer(SimServer):
    """Route requests to async handlers; ``guard`` protects every non-public route.

    Paths match exactly, or by prefix when registered with a trailing ``*``
    (``/kaonsu/v1/*``).  Unknown paths get ``fallback`` (default 404), behind the guard
    like the rest of the site.
    """

    def __init__(
        self,
        *,
        guard: Guard | None = None,
        server_header: str | None = "lighttpd/1.4.32",
        max_body: int = 1024 * 1024,
        max_header: int = 32 * 1024,
        keepalive_timeout: float = 15.0,
        header_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self.guard = guard
        self.server_header = server_header
        self.max_body = max_body
        self.max_header = max_header
        self.keepalive_timeout = keepalive_timeout
        self.header_timeout = header_timeout
        self.fallback: HttpHandler = _not_found
        self._exact: dict[tuple[str, str], _Route] = {}
        self._prefix: list[tuple[str, str, _Route]] = []

    def route(
        self,
        method: str,
        path: str,
        handler: HttpHandler,
        *,
        public: bool = False,
        guard: Guard | None = None,
    ) -> None:
        """Serve ``method`` (``"*"`` = any) on ``path``; ``guard`` overrides the server's."""
        entry = _Route(handler, public, guard)
        if path.endswith("*"):
            self._prefix.append((method.upper(), path[:-1], entry))
            self._prefix.sort(key=lambda item: -len(item[1]))
        else:
            self._exact[(method.upper(), path)] = entry

    # ------------------------------------------------------------------ dispatch
    def _find(self, method: str, path: str) -> tuple[_Route | None, bool]:
        """(route, path_known) for a request."""
        methods = (method, "GET", "*") if method == "HEAD" else (method, "*")
        for m in methods:
            hit = self._exact.get((m, path))
            if hit is not None:
                return hit, True
        known = any(p == path for _, p in self._exact)
        for m, prefix, entry in self._prefix:
            if path.startswith(prefix):
                if m in methods:
                    return entry, True
                known = True
        return None, known

    async def dispatch(self, request: Request) -> HttpReply:
        route, known = self._find(request.method, request.path)
        guard = (route.guard or self.guard) if route is not None else self.guard
        if guard is not None and not (route is not None and route.public):
            refusal = guard(request)
            if refusal is not None:
                return refusal
        if route is None:
            if known:
                return text_reply(_error_page(405), 405)
            return await self.fallback(request)
        return await route.handler(request)

    # ------------------------------------------------------------------ wire
    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                request = await self.read_request(reader, writer)
            except HttpError as exc:
                self._write(writer, (exc.status, [], _error_page(exc.status)), False, False)
                await writer.drain()
                await self.finish(reader, writer)
                return
            if request is None:
                return
            self.counters.requests += 1
            self.counters.by_key[f"{request.method} {request.path}"] += 1
            if not await self.before_reply(reader, writer):
                return
            try:
                result = await self.dispatch(request)
            except Exception:
                log.exception("sim %s: handler for %s failed", self.name, request.target)
                result = text_reply(_error_page(500), 500)
            if result[0] == 401:
                self.counters.unauthorized += 1
            keep = request.keep_alive and not _asks_close(result[1])
            self._write(writer, result, keep, request.method == "HEAD")
            await writer.drain()
            if not keep:
                await self.finish(reader, writer)
                return

    async def read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Request | None:
        """The next request, None on a clean EOF/idle timeout, HttpError when malformed."""
        try:
            line = await asyncio.wait_for(reader.readuntil(b"\n"), self.keepalive_timeout)
        except (asyncio.IncompleteReadError, TimeoutError):
            return None
        except asyncio.LimitOverrunError:
            raise HttpError(414) from None
        while line in (b"\r\n", b"\n"):  # tolerated stray CRLF between requests
            line = await asyncio.wait_for(reader.readuntil(b"\n"), self.keepalive_timeout)
        parts = line.decode("latin-1").strip().split(" ")
        if len(parts) != 3:
            raise HttpError(400)
        method, target, version = parts
        if not version.startswith("HTTP/1."):
            raise HttpError(505)
        if not method.isalpha() or not method.isupper():
            raise HttpError(400)
        headers = await self._read_headers(reader)
        split = urlsplit(target)
        request = Request(
            method=method,
            target=target,
            path=unquote(split.path) or "/",
            version=version,
            headers=headers,
            query_lists=parse_qs(split.query, keep_blank_values=True),
        )
        request.body = await self._read_body(request, reader, writer)
        return request

    async def _read_headers(self, reader: asyncio.StreamReader) -> dict[str, str]:
        headers: dict[str, str] = {}
        size = 0
        try:
            async with asyncio.timeout(self.header_timeout):
                while True:
                    line = await reader.readuntil(b"\n")
                    size += len(line)
                    if size > self.max_header:
                        raise HttpError(431)
                    if line in (b"\r\n", b"\n"):
                        return headers
                    name, sep, value = line.decode("latin-1").partition(":")
                    if not sep or not name or name != name.strip():
                        raise HttpError(400)
                    key, value = name.lower(), value.strip()
                    if key in headers:
                        value = f"{headers[key]}{'; ' if key == 'cookie' else ', '}{value}"
                    headers[key] = value
        except asyncio.LimitOverrunError:
            raise HttpError(431) from None
        except TimeoutError:
            raise HttpError(408) from None

    async def _read_body(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bytes:
        headers = request.headers
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length_text = headers.get("content-length")
        if not chunked and length_text is None:
            return b""
        length = 0
        if not chunked:
            if length_text is None or not length_text.strip().isdigit():
                raise HttpError(400)
            length = int(length_text)
            if length > self.max_body:
                raise HttpError(413)
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        async with asyncio.timeout(self.header_timeout):
            if not chunked:
                return await reader.readexactly(length)
            return await self._read_chunked(reader)

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        body = bytearray()
        while True:
            size_line = await reader.readuntil(b"\n")
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise HttpError(400) from None
            if size == 0:
                while await reader.readuntil(b"\n") not in (b"\r\n", b"\n"):
                    pass  # trailers
                return bytes(body)
            if len(body) + size > self.max_body:
                raise HttpError(413)
            body += await reader.readexactly(size)
            await reader.readuntil(b"\n")

    def _write(
        self, writer: asyncio.StreamWriter, result: HttpReply, keep: bool, head_only: bool
    ) -> None:
        status, headers, body = result
        data = body.encode() if isinstance(body, str) else body
        items = _header_items(headers)
        names = {n.lower() for n, _ in items}
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{n}: {v}" for n, v in items]
        if "content-length" not in names and status >= 200 and status not in (204, 304):
            lines.append(f"Content-Length: {len(data)}")
        if "date" not in names:
            lines.append(f"Date: {formatdate(usegmt=True)}")
        if self.server_header and "server" not in names:
            lines.append(f"Server: {self.server_header}")
        if not keep and "connection" not in names:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        writer.write(head if head_only else head + data)

    def huge_payload(self) -> bytes:
        body = b'{"junk":"' + b"x" * self.behaviour.huge_size + b'"}'
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        return head.encode() + body


def _asks_close(headers: Headers) -> bool:
    return any(
        n.lower() == "connection" and "close" in v.lower() for n, v in _header_items(headers)
    )


async def _not_found(request: Request) -> HttpReply:
    return text_reply(_error_page(404), 404)
