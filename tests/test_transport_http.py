"""HTTPClient against a real keep-alive HTTP/1.1 server on 127.0.0.1 (written here).

The server implements digest auth (RFC 7616, MD5, qop=auth) and token endpoints itself, and
counts connections, requests and 401s, so the tests see what really went over the wire.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.request import parse_http_list, parse_keqv_list

import httpx
import pytest

from asic_bridge.errors import (
    APIError,
    AuthenticationError,
    InvalidResponseError,
    MinerConnectionError,
    MinerTimeoutError,
    ResponseTooLargeError,
)
from asic_bridge.transport.http import HTTPClient, HTTPResult, TokenAuth, digest_auth


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False
    hang: bool = False


Route = Callable[[Request], Awaitable[Reply]]


class MiniHTTP:
    """Just enough HTTP/1.1 for the tests: keep-alive, Content-Length bodies, chunked replies."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.connections = 0
        self.requests = 0
        self.statuses: list[int] = []
        self.seen: list[Request] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                req = Request(method, target, headers, body)
                self.requests += 1
                self.seen.append(req)
                reply = await self.route(req)
                self.statuses.append(reply.status)
                if reply.hang:
                    await asyncio.sleep(30)
                await self.send(writer, reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def send(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        head = [f"HTTP/1.1 {reply.status} X", "Content-Type: application/json"]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        if reply.chunked:
            writer.write(("\r\n".join([*head, "Transfer-Encoding: chunked"]) + "\r\n\r\n").encode())
            chunk = b"y" * 65536
            for _ in range(len(reply.body) // len(chunk) + 1):
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        else:
            head.append(f"Content-Length: {len(reply.body)}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + reply.body)
        await writer.drain()


@asynccontextmanager
async def serve(route: Route) -> AsyncIterator[tuple[MiniHTTP, int]]:
    http = MiniHTTP(route)
    server = await asyncio.start_server(http.handle, "127.0.0.1", 0)
    try:
        yield http, server.sockets[0].getsockname()[1]
    finally:
        server.close()


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class DigestRealm:
    """Server-side digest auth as lighttpd on an Antminer does it."""

    realm = "antMiner Configuration"

    def __init__(self, user: str = "root", password: str = "root") -> None:
        self.user, self.password = user, password
        self.nonce = secrets.token_hex(8)
        self.challenges = 0

    def check(self, req: Request) -> Reply | None:
        header = req.headers.get("authorization", "")
        if header.lower().startswith("digest "):
            f = parse_keqv_list(parse_http_list(header[7:]))
            ha1 = md5(f"{self.user}:{self.realm}:{self.password}")
            ha2 = md5(f"{req.method}:{f.get('uri')}")
            want = md5(f"{ha1}:{f.get('nonce')}:{f.get('nc')}:{f.get('cnonce')}:auth:{ha2}")
            fields_ok = f.get("username") == self.user and f.get("nonce") == self.nonce
            if fields_ok and f.get("response") == want and f.get("uri") == req.target:
                return None
        self.challenges += 1
        challenge = f'Digest realm="{self.realm}", nonce="{self.nonce}", qop="auth", algorithm=MD5'
        return Reply(401, b"<html>401 Unauthorized</html>", {"WWW-Authenticate": challenge})


# --- digest ---------------------------------------------------------------------------------


async def test_digest_challenge_answered_once_over_many_requests() -> None:
    realm = DigestRealm()

    async def route(req: Request) -> Reply:
        return realm.check(req) or Reply(body=json.dumps({"path": req.path}).encode())

    auth = digest_auth("root", "root")
    async with serve(route) as (server, port), HTTPClient("127.0.0.1", port, auth=auth) as client:
        first = await client.get("/cgi-bin/get_system_info.cgi")
        assert first.status == 200 and first.json() == {"path": "/cgi-bin/get_system_info.cgi"}
        for _ in range(10):
            assert (await client.get("/cgi-bin/summary.cgi")).ok
        results = await asyncio.gather(*(client.get("/cgi-bin/stats.cgi") for _ in range(20)))
        assert all(r.ok for r in results)
        posted = await client.post("/cgi-bin/set_miner_conf.cgi", json={"miner-mode": 1})
        assert posted.ok
    assert realm.challenges == 1
    assert server.statuses.count(401) == 1
    assert server.requests == 1 + 1 + 10 + 20 + 1
    assert client.requests == server.requests
    assert server.connections <= client.max_connections
    assert client.connections == server.connections
    assert json.loads(server.seen[-1].body) == {"miner-mode": 1}


async def test_digest_new_nonce_costs_one_more_challenge() -> None:
    realm = DigestRealm()

    async def route(req: Request) -> Reply:
        return realm.check(req) or Reply()

    async with (
        serve(route) as (_, port),
        HTTPClient("127.0.0.1", port, auth=digest_auth("root", "root")) as client,
    ):
        await client.get("/a")
        realm.nonce = secrets.token_hex(8)  # server rotated its nonce
        assert (await client.get("/b")).ok
        assert (await client.get("/c")).ok
    assert realm.challenges == 2


async def test_digest_wrong_password_is_authentication_error() -> None:
    realm = DigestRealm(password="letmein-secret")

    async def route(req: Request) -> Reply:
        return realm.check(req) or Reply()

    async with (
        serve(route) as (_, port),
        HTTPClient("127.0.0.1", port, auth=digest_auth("root", "wrong-secret")) as client,
    ):
        with pytest.raises(AuthenticationError) as info:
            await client.get("/cgi-bin/summary.cgi")
    text = str(info.value)
    assert "secret" not in text
    assert info.value.ip == "127.0.0.1"
    assert info.value.command == "/cgi-bin/summary.cgi"


async def test_unauthenticated_401_is_returned_for_identification() -> None:
    realm = DigestRealm()

    async def route(req: Request) -> Reply:
        return realm.check(req) or Reply()

    async with serve(route) as (_, port), HTTPClient("127.0.0.1", port) as client:
        result = await client.get("/")
    assert result.status == 401
    assert "antMiner" in result.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("qop", "opaque", "algorithm"),
    [(b"auth", None, "MD5"), (b"auth,auth-int", b"xyz", "md5"), (None, b"o", "MD5")],
)
def test_digest_header_is_the_one_httpx_builds(
    monkeypatch: pytest.MonkeyPatch, qop: bytes | None, opaque: bytes | None, algorithm: str
) -> None:
    """The per-(challenge, path) cache in digest_auth changes no byte of the header: the same
    client nonces give httpx's own header, nc counting up, for two paths in turn."""
    from httpx._auth import _DigestAuthChallenge

    challenge = _DigestAuthChallenge(
        realm=b"antMiner Configuration", nonce=b"n0nce", algorithm=algorithm, opaque=opaque, qop=qop
    )
    ours, theirs = digest_auth("root", "pa:ss"), httpx.DigestAuth("root", "pa:ss")
    cnonces = iter(bytes([i]) * 8 for i in range(1, 7))
    monkeypatch.setattr("asic_bridge.transport.http.os.urandom", lambda n: next(cnonces))
    for i, path in enumerate(["/cgi-bin/stats.cgi", "/cgi-bin/summary.cgi"] * 3, start=1):
        request = httpx.Request("GET", "http://10.0.0.1" + path)
        monkeypatch.setattr(
            theirs, "_get_client_nonce", lambda *_, i=i: (bytes([i]) * 8).hex().encode()
        )
        assert ours._build_auth_header(request, challenge) == theirs._build_auth_header(
            request, challenge
        )


async def test_requests_from_the_template_keep_their_own_headers() -> None:
    """A repeated GET is copied from a kept request: the digest header of each is new (nc
    counts up), a custom header is not carried to a request without it, and a cookie the
    server dropped is not sent again."""
    realm = DigestRealm()
    cookie = ["sid=1"]

    async def route(req: Request) -> Reply:
        challenge = realm.check(req)
        if challenge is not None:
            return challenge
        return Reply(headers={"Set-Cookie": cookie.pop()} if cookie else {})

    auth = digest_auth("root", "root")
    async with serve(route) as (server, port), HTTPClient("127.0.0.1", port, auth=auth) as client:
        for path in ["/cgi-bin/stats.cgi", "/cgi-bin/summary.cgi?x=1", "/cgi-bin/stats.cgi"]:
            assert (await client.get(path)).ok
        assert (await client.get("/cgi-bin/stats.cgi", headers={"X-Extra": "1"})).ok
        assert (await client.get("/cgi-bin/stats.cgi")).ok
        client.cookies.clear()
        assert (await client.get("/cgi-bin/stats.cgi")).ok
    answered = [r for r in server.seen if "authorization" in r.headers]
    ncs = [parse_keqv_list(parse_http_list(r.headers["authorization"][7:]))["nc"] for r in answered]
    assert ncs == [f"{n:08x}" for n in range(1, len(answered) + 1)]
    assert [("x-extra" in r.headers) for r in server.seen[-3:]] == [True, False, False]
    targets = [r.target for r in server.seen[1:4]]  # after the challenge
    assert targets == ["/cgi-bin/stats.cgi", "/cgi-bin/summary.cgi?x=1", "/cgi-bin/stats.cgi"]
    assert all(r.headers["host"] == f"127.0.0.1:{port}" for r in server.seen)
    assert "cookie" in server.seen[-2].headers and "cookie" not in server.seen[-1].headers
    assert realm.challenges == 1


# --- token auth -----------------------------------------------------------------------------


class TokenServer:
    def __init__(self) -> None:
        self.valid: set[str] = set()
        self.issued = 0
        self.expired_via_body = False

    async def route(self, req: Request) -> Reply:
        if req.path == "/api/auth":
            if json.loads(req.body or b"{}").get("password") != "admin":
                return Reply(403, b'{"success":false}')
            self.issued += 1
            token = f"tok{self.issued}"
            self.valid.add(token)
            return Reply(body=json.dumps({"jwt": token}).encode())
        auth = req.headers.get("authorization") or req.headers.get("token") or ""
        token = auth.removeprefix("Bearer ")
        if self.expired_via_body and token in self.valid:
            self.valid.discard(token)
            self.expired_via_body = False
            return Reply(200, b'{"success":false,"token":"expired"}')
        if token not in self.valid:
            return Reply(401, b'{"message":"unauthorized"}')
        return Reply(body=json.dumps({"ok": True, "token": token}).encode())


def make_login(client_ref: list[HTTPClient], password: str = "admin") -> Callable[[], Any]:
    async def login() -> str:
        result = await client_ref[0].post("/api/auth", json={"password": password}, use_auth=False)
        if result.status != 200:
            raise AuthenticationError("login refused", ip=client_ref[0].ip, command="/api/auth")
        token: str = result.json()["jwt"]
        return token

    return login


async def test_token_login_cached_then_relogin_on_401() -> None:
    tokens = TokenServer()
    async with serve(tokens.route) as (_, port):
        ref: list[HTTPClient] = []
        auth = TokenAuth(make_login(ref))
        async with HTTPClient("127.0.0.1", port, auth=auth) as client:
            ref.append(client)
            for _ in range(5):
                assert (await client.get("/api/summary")).json()["token"] == "tok1"
            assert auth.logins == 1
            tokens.valid.clear()  # the miner rebooted: tokens forgotten
            assert (await client.get("/api/summary")).json()["token"] == "tok2"
            # concurrent requests after another expiry share one re-login
            tokens.valid.clear()
            results = await asyncio.gather(*(client.get("/api/summary") for _ in range(5)))
    assert all(r.ok for r in results)
    assert auth.logins == 3


async def test_token_ttl_expiry_relogins_without_401() -> None:
    tokens = TokenServer()
    async with serve(tokens.route) as (server, port):
        ref: list[HTTPClient] = []
        auth = TokenAuth(make_login(ref), ttl=0.05)
        async with HTTPClient("127.0.0.1", port, auth=auth) as client:
            ref.append(client)
            await client.get("/api/summary")
            await asyncio.sleep(0.1)
            await client.get("/api/summary")
    assert auth.logins == 2
    assert 401 not in server.statuses


async def test_token_custom_header_and_expired_body() -> None:
    tokens = TokenServer()

    def expired(result: HTTPResult) -> bool:
        return b'"token":"expired"' in result.body

    async with serve(tokens.route) as (server, port):
        ref: list[HTTPClient] = []
        auth = TokenAuth(make_login(ref), header="Token", template="{token}", is_expired=expired)
        async with HTTPClient("127.0.0.1", port, auth=auth) as client:
            ref.append(client)
            assert (await client.get("/fan")).ok
            assert server.seen[-1].headers["token"] == "tok1"
            tokens.expired_via_body = True
            assert (await client.get("/fan")).json()["token"] == "tok2"
    assert auth.logins == 2


async def test_token_rejected_twice_is_authentication_error() -> None:
    async def route(req: Request) -> Reply:
        if req.path == "/api/auth":
            return Reply(body=b'{"jwt":"never-valid"}')
        return Reply(401)

    async with serve(route) as (_, port):
        ref: list[HTTPClient] = []
        auth = TokenAuth(make_login(ref))
        async with HTTPClient("127.0.0.1", port, auth=auth) as client:
            ref.append(client)
            with pytest.raises(AuthenticationError) as info:
                await client.get("/api/summary")
    assert auth.logins == 2
    assert "never-valid" not in str(info.value)


async def test_login_failure_propagates() -> None:
    tokens = TokenServer()
    async with serve(tokens.route) as (_, port):
        ref: list[HTTPClient] = []
        auth = TokenAuth(make_login(ref, password="wrong"))
        async with HTTPClient("127.0.0.1", port, auth=auth) as client:
            ref.append(client)
            with pytest.raises(AuthenticationError, match="login refused"):
                await client.get("/api/summary")


# --- limits and failures --------------------------------------------------------------------


async def test_body_size_cap_with_and_without_content_length() -> None:
    big = b"x" * (5 * 1024 * 1024)

    async def route(req: Request) -> Reply:
        return Reply(body=big, chunked=req.path == "/chunked")

    async with (
        serve(route) as (_, port),
        HTTPClient("127.0.0.1", port, max_bytes=256 * 1024) as client,
    ):
        with pytest.raises(ResponseTooLargeError) as info:
            await client.get("/sized")
        assert info.value.command == "/sized"
        with pytest.raises(ResponseTooLargeError):
            await client.get("/chunked")
        small = HTTPClient("127.0.0.1", port, max_bytes=len(big))
        assert len((await small.get("/sized")).body) == len(big)
        await small.aclose()


async def test_timeout_within_deadline() -> None:
    async def route(req: Request) -> Reply:
        return Reply(hang=True)

    async with serve(route) as (_, port), HTTPClient("127.0.0.1", port, timeout=0.3) as client:
        async with asyncio.timeout(20):  # bounds the test; not a speed assertion
            with pytest.raises(MinerTimeoutError) as info:
                await client.get("/api/summary")
    assert info.value.command == "/api/summary"


async def test_connection_refused_without_leaking_query() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with HTTPClient("127.0.0.1", port) as client:
        with pytest.raises(MinerConnectionError) as info:
            await client.get("/user/login", username="admin", password="hunter2")
    assert "hunter2" not in str(info.value)
    assert info.value.command == "/user/login"


async def test_json_garbage_status_codes_and_query() -> None:
    async def route(req: Request) -> Reply:
        if req.path == "/missing":
            return Reply(404, b"not found")
        return Reply(body=f"garbage {req.target}".encode())

    async with serve(route) as (server, port), HTTPClient("127.0.0.1", port) as client:
        result = await client.get("/mcb/status", a="1", b="x y")
        assert server.seen[-1].target == "/mcb/status?a=1&b=x+y"
        with pytest.raises(InvalidResponseError):
            result.json()
        missing = await client.get("missing")
        assert missing.status == 404 and not missing.ok
        assert missing.text == "not found"


async def test_form_post_and_reopen_after_close() -> None:
    async def route(req: Request) -> Reply:
        return Reply(body=req.body)

    async with serve(route) as (server, port):
        client = HTTPClient("127.0.0.1", port)
        result = await client.post("/cgi-bin/luci", data={"luci_username": "root", "x": "1 2"})
        assert result.body == b"luci_username=root&x=1+2"
        await client.aclose()
        assert (await client.get("/again")).ok
        await client.aclose()
    assert server.connections == 2


def test_json_object_wants_a_200_answer_holding_an_object() -> None:
    def answer(status: int, body: bytes) -> HTTPResult:
        return HTTPResult(status, {"content-type": "application/json"}, body, "10.0.0.9", "/x")

    assert answer(200, b'{"a": 1}').json_object() == {"a": 1}
    with pytest.raises(APIError, match="HTTP 404") as info:
        answer(404, b'{"a": 1}').json_object()
    assert not isinstance(info.value, InvalidResponseError) and info.value.command == "/x"
    with pytest.raises(InvalidResponseError, match="got list") as bad:
        answer(200, b"[1]").json_object()
    assert bad.value.ip == "10.0.0.9" and bad.value.command == "/x"
    with pytest.raises(InvalidResponseError, match="not JSON"):
        answer(200, b"<html>").json_object()
