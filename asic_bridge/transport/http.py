"""HTTP clients for miner web APIs: one kept-alive ``httpx.AsyncClient`` per miner.

pyasic opens a new client (and redoes digest auth) for every command; here a miner gets one
client with a small connection pool, a digest challenge answered once and then reused, and
login tokens cached until they expire.  Every request has a connect timeout, a total
deadline and a body size cap, and fails with a typed error naming the miner and path (never
the credentials, never the query string, which some firmwares use for passwords).
"""

# Per-call ``timeout`` arguments are deliberate: the callee owns the deadline so that it can
# name the miner and command in the MinerTimeoutError it raises.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import binascii
import contextlib
import functools
import hashlib
import json as jsonlib
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import orjson

from asic_bridge import settings
from asic_bridge.errors import (
    APIError,
    AuthenticationError,
    InvalidResponseError,
    MinerConnectionError,
    MinerTimeoutError,
    ResponseTooLargeError,
)
from asic_bridge.transport.deadline import Deadline
from asic_bridge.transport.rpc import json_object
from asic_bridge.transport.wire import (
    BodyTooLarge,
    MinerTransport,
    RawResponse,
    Target,
    WireStats,
    encode_request,
)

__all__ = ["HTTPClient", "HTTPResult", "TokenAuth", "digest_auth"]


@functools.cache
def _insecure_context() -> ssl.SSLContext:
    """The one unverified TLS context every miner client shares (built on first use).

    Not ``create_default_context()``: that loads the system CA store (~15 ms), which an
    unverified context never consults.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


LoginResult = str | tuple[str, float | None]
"""What a login callable returns: the token, or ``(token, seconds_valid)``."""


#: Sent with every request (a driver's own headers win).  No Accept-Encoding: miner answers
#: are small and on the LAN, so compressing them would only cost CPU at both ends.
_DEFAULT_HEADERS = {"User-Agent": "asic_bridge", "Accept": "*/*"}


class _DigestAuth(httpx.DigestAuth):
    """httpx's digest flow with the fixed part of each answer computed once.

    Every poll of a digest miner (an Antminer's three CGI pages) answered the last challenge
    again: HA1, HA2 and the header's quoted fields were hashed and formatted per request.
    For the common challenge (MD5, qop ``auth`` or none) they are kept per (challenge,
    method, path); per request only the nonce count, a client nonce and the response hash
    are new, so the header is the one httpx would send.  Other algorithms go to httpx.
    """

    def __init__(self, username: str, password: str) -> None:
        super().__init__(username, password)
        self._prepared: dict[tuple[Any, str, bytes], tuple[bytes, bytes, bytes, bytes, bool]] = {}

    def _build_auth_header(self, request: httpx.Request, challenge: Any) -> str:
        if challenge.algorithm.upper() != "MD5":
            return super()._build_auth_header(request, challenge)
        return self._answer(challenge, request.method, request.url.raw_path, request).decode()

    def ours(self) -> bool:
        """Whether :meth:`answer` builds the next header (no challenge yet, or MD5)."""
        challenge = self._last_challenge
        return challenge is None or challenge.algorithm.upper() == "MD5"

    def answer(self, method: str, path: bytes) -> bytes | None:
        """The ``Authorization`` value for the next request to ``path`` (the nonce count
        taken), or None when it is not ours to build: no challenge yet, or not MD5."""
        challenge = self._last_challenge
        if challenge is None or challenge.algorithm.upper() != "MD5":
            return None
        return self._answer(challenge, method, path, None)

    def _answer(
        self, challenge: Any, method: str, path: bytes, request: httpx.Request | None
    ) -> bytes:
        key = (challenge, method, path)
        prepared = self._prepared.get(key)
        if prepared is None:
            # refuses auth-int only; its error takes no request on the hot path (None is fine)
            qop = self._resolve_qop(challenge.qop, request=cast(httpx.Request, request))
            if len(self._prepared) >= 64:
                self._prepared.clear()
            ha1 = _md5_hex(b":".join((self._username, challenge.realm, self._password)))
            ha2 = _md5_hex(b":".join((method.encode(), path)))
            head = (
                f'Digest username="{self._username.decode()}", realm="{challenge.realm.decode()}", '
                f'nonce="{challenge.nonce.decode()}", uri="{path.decode()}", response="'
            )
            tail = f'", algorithm={challenge.algorithm}'
            if challenge.opaque:
                tail += f', opaque="{challenge.opaque.decode()}"'
            prepared = (
                ha1 + b":" + challenge.nonce + b":",
                ha2,
                head.encode(),
                tail.encode(),
                qop is not None,
            )
            self._prepared[key] = prepared
        start, ha2, head_bytes, tail_bytes, with_qop = prepared
        nc = b"%08x" % self._nonce_count
        self._nonce_count += 1
        if not with_qop:  # RFC 2069
            return head_bytes + _md5_hex(start + ha2) + tail_bytes
        cnonce = binascii.hexlify(os.urandom(8))
        response = hashlib.md5(b":".join((start + nc, cnonce, b"auth", ha2))).hexdigest().encode()
        return b'%s%s%s, qop=auth, nc=%s, cnonce="%s"' % (
            head_bytes,
            response,
            tail_bytes,
            nc,
            cnonce,
        )


def _md5_hex(data: bytes) -> bytes:
    return hashlib.md5(data).hexdigest().encode()  # HTTP digest's MD5


def digest_auth(username: str, password: str) -> httpx.DigestAuth:
    """HTTP digest credentials for :class:`HTTPClient`.

    ``httpx.DigestAuth`` keeps the last challenge and counts ``nc`` up, so one instance reused
    by one client answers the 401 once and then authenticates every later request directly
    (tests/test_transport_http.py proves it by counting 401s on a real server).
    """
    return _DigestAuth(username, password)


@dataclass(frozen=True)
class HTTPResult:
    """A complete, size-checked HTTP answer."""

    status: int
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    ip: str = ""
    path: str = ""
    history: tuple[int, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def charset(self) -> str:
        """The declared charset, utf-8 when none is."""
        ctype = self.headers.get("content-type", "")
        for part in ctype.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip('"')
        return "utf-8"

    @property
    def text(self) -> str:
        try:
            return self.body.decode(self.charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; :class:`InvalidResponseError` if it is not."""
        if self.charset.lower() in ("utf-8", "utf8"):
            # orjson on the bytes (5x faster); the lenient parser below takes what it refuses
            with contextlib.suppress(orjson.JSONDecodeError):
                return orjson.loads(self.body)
        try:
            return jsonlib.loads(self.text, strict=False)
        except ValueError:
            snippet = self.text[:80]
            raise InvalidResponseError(
                f"HTTP {self.status} body is not JSON: {snippet!r}", ip=self.ip, command=self.path
            ) from None

    def json_object(self) -> dict[str, Any]:
        """The body of a 200 answer as a JSON object: APIError for another status,
        :class:`InvalidResponseError` for a body that is not one."""
        if self.status != 200:
            raise APIError(f"HTTP {self.status}", ip=self.ip, command=self.path)
        return json_object(self.json(), ip=self.ip, command=self.path)


class TokenAuth:
    """A login token, fetched by an async callable and cached until it expires.

    ``login`` returns the token or ``(token, seconds_valid)``; it usually posts credentials
    through the same :class:`HTTPClient` with ``use_auth=False``.  The token is sent as
    ``header: template.format(token=...)`` - ``Authorization: Bearer x`` by default, raw with
    ``template="{token}"``, or a custom header such as ``Token: x``.  A 401 (or an answer
    ``is_expired`` recognises, for firmwares that say "expired" with a 200) triggers one
    re-login and one retry.
    """

    def __init__(
        self,
        login: Callable[[], Awaitable[LoginResult]],
        *,
        header: str = "Authorization",
        template: str = "Bearer {token}",
        ttl: float | None = None,
        is_expired: Callable[[HTTPResult], bool] | None = None,
    ) -> None:
        self._login = login
        self.header = header
        self.template = template
        self.ttl = ttl
        self._is_expired = is_expired
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.logins = 0

    def __repr__(self) -> str:
        return f"TokenAuth(header={self.header!r}, cached={self._token is not None})"

    async def token(self) -> str:
        """The cached token, logging in first if there is none or it expired.

        A valid cached token is returned without the lock, which only serialises logins
        (taking it cost ~1.5 us on every request of a token miner's poll)."""
        token = self._token
        if token is not None and time.monotonic() < self._expires_at:
            return token
        async with self._lock:
            if self._token is not None and time.monotonic() < self._expires_at:
                return self._token
            result = await self._login()
            token, ttl = result if isinstance(result, tuple) else (result, self.ttl)
            if not isinstance(token, str) or not token:
                raise AuthenticationError("login returned no token")
            self.logins += 1
            self._token = token
            self._expires_at = float("inf") if ttl is None else time.monotonic() + ttl
            return token

    def header_for(self, token: str) -> dict[str, str]:
        return {self.header: self.template.format(token=token)}

    def is_expired(self, result: HTTPResult) -> bool:
        if result.status == 401:
            return True
        return self._is_expired is not None and self._is_expired(result)

    def invalidate(self, token: str | None = None) -> None:
        """Forget the token (only if it is still ``token``: a concurrent re-login wins)."""
        if token is None or token == self._token:
            self._token = None


def _reason(exc: BaseException) -> str:
    """An error text without URLs or query strings (they may carry passwords)."""
    text = str(exc).split("\n", 1)[0]
    if "://" in text or "?" in text or not text:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text}"


class HTTPClient:
    """One miner's web API: kept-alive connections, cached auth, bounded requests.

    ``auth`` is an ``httpx.Auth`` (e.g. :func:`digest_auth`, reused so the challenge is
    answered once) or a :class:`TokenAuth`.  Non-2xx answers are returned, not raised (the
    drivers and the identification probe read them); a 401 on an authenticated request is an
    :class:`AuthenticationError`.  ``connections`` and ``requests`` count what really went
    on the wire (401 round trips included), for tests and benchmarks.
    """

    def __init__(
        self,
        ip: str,
        port: int = 80,
        *,
        scheme: str = "http",
        timeout: float | None = None,
        auth: httpx.Auth | TokenAuth | None = None,
        max_bytes: int | None = None,
        limits: settings.Limits | None = None,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 4,
    ) -> None:
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported scheme {scheme!r}")
        self.ip = ip
        self.port = port
        self.scheme = scheme
        self.timeout = timeout
        self.auth = auth
        self.max_bytes = max_bytes
        self.limits = limits or settings.limits()
        self.max_connections = max_connections
        self._headers = dict(headers or {})
        self._wire: MinerTransport | None = None
        self._urls: dict[str, httpx.URL] = {}
        self._templates: dict[tuple[Any, ...], httpx.Request] = {}
        self._heads: dict[tuple[Any, ...], tuple[bytes, bytes, bool]] = {}
        self._target: Target | None = None
        self.cookies = httpx.Cookies()
        self.stats = WireStats()
        host = f"[{ip}]" if ":" in ip else ip
        self.base_url = f"{scheme}://{host}:{port}"

    def __repr__(self) -> str:
        return f"HTTPClient({self.base_url})"

    @property
    def connections(self) -> int:
        """TCP connections opened so far."""
        return self.stats.connections

    @property
    def requests(self) -> int:
        """Requests sent so far, auth round trips included."""
        return self.stats.requests

    async def __aenter__(self) -> HTTPClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _total(self, timeout: float | None) -> float:
        return self.limits.timeout_for(timeout, self.timeout)

    def _cap(self) -> int:
        return self.limits.cap_for(self.max_bytes)

    def _transport(self) -> MinerTransport:
        if self._wire is None:
            # No certificate checks: miners serve self-signed certificates.  One shared SSL
            # context, because building one per client (even unverified) costs ~1 ms, which
            # was a third of the CPU of identifying a miner during a scan.  No proxy
            # settings are read: a desktop proxy must not carry LAN miner traffic.
            self._wire = MinerTransport(
                ssl_context=_insecure_context(),
                max_connections=self.max_connections,
                keepalive_expiry=15.0,
                max_bytes=self._cap(),
                stats=self.stats,
            )
        return self._wire

    def _url(self, path: str) -> httpx.URL:
        """Parsed once per path: httpx's URL parser costs ~30 us a call, on every request."""
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) >= 64:
                self._urls.clear()
            url = self._urls[path] = httpx.URL(self.base_url + path)
        return url

    async def aclose(self) -> None:
        """Close the kept connections and forget session cookies; reopens lazily if used."""
        self.cookies.clear()
        if self._wire is not None:
            wire, self._wire = self._wire, None
            await wire.aclose()

    async def get(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        use_auth: bool = True,
        **params: Any,
    ) -> HTTPResult:
        """GET ``path`` with ``params`` as the query string."""
        return await self.request(
            "GET", path, params=params or None, headers=headers, timeout=timeout, use_auth=use_auth
        )

    async def post(
        self,
        path: str,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        use_auth: bool = True,
        params: Mapping[str, Any] | None = None,
    ) -> HTTPResult:
        """POST a JSON body (``json``) or a form (``data``)."""
        return await self.request(
            "POST",
            path,
            json=json,
            data=data,
            params=params,
            headers=headers,
            timeout=timeout,
            use_auth=use_auth,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        use_auth: bool = True,
    ) -> HTTPResult:
        """One request, including any auth round trip, under one total deadline."""
        if not path.startswith("/"):
            path = "/" + path
        name = path.split("?", 1)[0]
        total = self._total(timeout)
        token_auth = self.auth if use_auth and isinstance(self.auth, TokenAuth) else None
        httpx_auth = self.auth if use_auth and isinstance(self.auth, httpx.Auth) else None
        try:
            with Deadline(total):
                for attempt in (1, 2):
                    all_headers = dict(headers or {})
                    token: str | None = None
                    if token_auth is not None:
                        token = await token_auth.token()
                        all_headers.update(token_auth.header_for(token))
                    result = await self._send(
                        method,
                        path,
                        name,
                        total,
                        httpx_auth,
                        params=params,
                        json=json,
                        data=data,
                        content=content,
                        headers=all_headers,
                    )
                    if token_auth is not None and token_auth.is_expired(result):
                        token_auth.invalidate(token)
                        if attempt == 1:
                            continue
                        raise AuthenticationError(
                            f"token rejected (HTTP {result.status})", ip=self.ip, command=name
                        )
                    if result.status == 401 and httpx_auth is not None:
                        raise AuthenticationError(
                            "credentials rejected (HTTP 401)", ip=self.ip, command=name
                        )
                    return result
        except TimeoutError as exc:
            if isinstance(exc, APIError):
                raise
            raise MinerTimeoutError(
                f"no complete answer within {total:g}s", ip=self.ip, command=name
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self,
        method: str,
        path: str,
        name: str,
        total: float,
        auth: httpx.Auth | None,
        *,
        headers: dict[str, str],
        **body: Any,
    ) -> HTTPResult:
        """Build the request, run the auth flow (a digest 401 and its answer), read the body.

        httpx supplies the request model, the auth flows and the cookie jar; the bytes go
        through :class:`MinerTransport` directly, skipping ``AsyncClient``'s per-request
        machinery (redirect and event-hook handling, URL merging), which no miner needs.
        A GET without a body, cookies or an auth scheme other than ours (every poll of a web
        miner) needs no httpx model at all: its bytes are kept per path (:meth:`_fast`),
        and httpx takes over only for what the answer asks (a challenge, a cookie).
        """
        transport = self._transport()
        connect = min(self.limits.connect_timeout, total)
        cap = self._cap()
        try:
            history: list[int] = []
            flow: Any = None
            request: httpx.Request | None = None
            raw: RawResponse | None = None
            answer_headers: dict[str, str] | None = None
            digest = auth if type(auth) is _DigestAuth else None
            if (auth is None or digest is not None) and not self._has_cookies():
                raw = await self._fast(transport, method, path, connect, headers, body, digest)
            if raw is None:
                request = self._request(method, path, connect, total, headers, body)
                if auth is not None:
                    flow = auth.async_auth_flow(request)
                    request = await flow.__anext__()
                raw = await self._exchange(transport, request)
            else:
                answer_headers = raw.header_map()
                cookie = "set-cookie" in answer_headers
                if cookie or (raw.status == 401 and digest is not None):
                    # what the slow path would hold now: the jar updated, the flow waiting
                    # for this answer (the header it sets on the request goes last either way)
                    request = self._request(method, path, connect, total, headers, body)
                    if cookie:
                        self.cookies.extract_cookies(raw.to_httpx(request))
                    if raw.status == 401 and digest is not None:
                        flow = await _resumed_flow(digest, request)
            if flow is not None:
                assert request is not None
                # digest (the httpx scheme drivers use) only answers a 401 challenge, so a
                # final answer needs no httpx.Response built for the flow
                while raw.status == 401:
                    try:
                        request = await flow.asend(raw.to_httpx(request))
                    except StopAsyncIteration:
                        break
                    history.append(raw.status)
                    raw = await self._exchange(transport, request)
                await flow.aclose()
                answer_headers = None
            if answer_headers is None:
                answer_headers = raw.header_map()
            content = raw.body
            if "content-encoding" in answer_headers:
                if request is None:
                    request = self._request(method, path, connect, total, headers, body)
                content = await _decoded(raw.to_httpx(request), cap)
        except BodyTooLarge:
            raise ResponseTooLargeError(
                f"body exceeds {cap} bytes", ip=self.ip, command=name
            ) from None
        except httpx.TimeoutException as exc:
            phase = "connect" if isinstance(exc, httpx.ConnectTimeout) else "answer"
            raise MinerTimeoutError(f"no {phase} in time", ip=self.ip, command=name) from None
        except httpx.ConnectError as exc:
            raise MinerConnectionError(_reason(exc), ip=self.ip, command=name) from None
        except httpx.DecodingError as exc:
            raise InvalidResponseError(_reason(exc), ip=self.ip, command=name) from None
        except httpx.ProtocolError as exc:
            if isinstance(exc, httpx.RemoteProtocolError):
                raise MinerConnectionError(_reason(exc), ip=self.ip, command=name) from None
            raise InvalidResponseError(_reason(exc), ip=self.ip, command=name) from None
        except httpx.TransportError as exc:
            raise MinerConnectionError(_reason(exc), ip=self.ip, command=name) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise APIError(_reason(exc), ip=self.ip, command=name) from None
        return HTTPResult(
            status=raw.status,
            headers=answer_headers,
            body=content,
            ip=self.ip,
            path=name,
            history=tuple(history),
        )

    def _request(
        self,
        method: str,
        path: str,
        connect: float,
        total: float,
        headers: dict[str, str],
        body: dict[str, Any],
    ) -> httpx.Request:
        """A fresh ``httpx.Request``; one without a body copied from a kept template.

        Building one (header normalisation, URL checks, an empty stream) cost ~0.1 ms of CPU,
        on each of a web-UI miner's requests of every poll, always the same few.  The copy
        has its own headers, so what the auth flow or the cookie jar sets on it stays its own.
        A template serves every path (only the URL differs, and that is cached per path):
        one per path cost ~1.6 kB each, ~20 MB for 5,000 miners.
        """
        key = None
        if all(value is None for value in body.values()):
            key = (method, connect, total, *headers.items())
            template = self._templates.get(key)
            if template is not None:
                request = object.__new__(httpx.Request)
                request.__dict__.update(template.__dict__)
                request.url = self._url(path)
                request.headers = httpx.Headers(template.headers)
                return request
        request = httpx.Request(
            method,
            self._url(path),
            headers={**_DEFAULT_HEADERS, **self._headers, **headers},
            # no read timeout of the wire's own: the whole request is under ``total``
            # already (request()), started before the connect, so it always ran out first
            # (an asyncio.timeout costs ~6 us, on every request)
            extensions={
                "timeout": {"connect": connect, "read": None, "write": total, "pool": total}
            },
            **body,
        )
        if key is not None:
            request.read()  # an empty body, kept with the template (``aread`` returns it)
            if len(self._templates) >= 64:
                self._templates.clear()
            template = object.__new__(httpx.Request)
            template.__dict__.update(request.__dict__)
            template.headers = httpx.Headers(request.headers)
            self._templates[key] = template
        return request

    async def _fast(
        self,
        transport: MinerTransport,
        method: str,
        path: str,
        connect: float,
        headers: dict[str, str],
        body: dict[str, Any],
        digest: _DigestAuth | None,
    ) -> RawResponse | None:
        """Send a request without a body from its kept bytes; None if it has one (or a header
        or challenge that only httpx's flow handles), for the slow path to send.

        The bytes are those of the ``httpx.Request`` the slow path builds, encoded once per
        (method, path, headers) and kept without the blank line that ends them, so that the
        digest header the auth flow would append goes last.  Building and copying that
        request, its ``Headers`` and the flow's generators were most of the client's work
        above the socket (a digest or plain GET: 125k instructions, 80k without them).
        """
        for value in body.values():
            if value is not None:
                return None
        key = (method, path, *headers.items())
        entry = self._heads.get(key)
        if entry is None:
            request = httpx.Request(
                method, self._url(path), headers={**_DEFAULT_HEADERS, **self._headers, **headers}
            )
            head = encode_request(request, b"")[:-2]
            own = any(name.lower() == b"authorization" for name, _ in request.headers.raw)
            entry = (head, request.url.raw_path, own)
            if len(self._heads) >= 64:
                self._heads.clear()
            self._heads[key] = entry
            if self._target is None:
                url = request.url
                tls = url.scheme == "https"
                self._target = (url.host, url.port or (443 if tls else 80), tls)
        head, raw_path, own = entry
        sent = None
        if digest is not None:
            if own or not digest.ours():
                return None  # the flow replaces a caller's header; httpx's algorithm
            sent = digest.answer(method, raw_path)
        payload = head + b"\r\n" if sent is None else b"%sAuthorization: %s\r\n\r\n" % (head, sent)
        assert self._target is not None
        return await transport.send(payload, method, self._target, connect)

    def _has_cookies(self) -> bool:
        """``bool(self.cookies)`` without walking the jar when it never held one (that walk,
        under the jar's lock, cost ~0.5 us on every request)."""
        return bool(self.cookies.jar._cookies) and bool(self.cookies)  # type: ignore[attr-defined]

    async def _exchange(self, transport: MinerTransport, request: httpx.Request) -> RawResponse:
        """One round trip, with the session cookies sent and updated."""
        if self._has_cookies():
            self.cookies.set_cookie_header(request)
        raw = await transport.exchange(request)
        if any(name == "set-cookie" for name, _ in raw.headers):
            self.cookies.extract_cookies(raw.to_httpx(request))
        return raw


async def _resumed_flow(auth: _DigestAuth, request: httpx.Request) -> Any:
    """httpx's digest flow for ``request``, waiting for the answer to it as if it had sent
    it: started with no challenge, so that its first step builds no header (the nonce count
    stays as the request sent left it)."""
    challenge, auth._last_challenge = auth._last_challenge, None
    try:
        flow = auth.async_auth_flow(request)
        await flow.__anext__()
    finally:
        if auth._last_challenge is None:
            auth._last_challenge = challenge
    return flow


async def _decoded(response: httpx.Response, cap: int) -> bytes:
    """A gzip/deflate body decoded, stopped at ``cap`` decoded bytes (a zip bomb too)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            chunks.clear()  # not kept alive by the exception's frame (see wire.py)
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
