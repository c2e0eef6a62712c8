"""Whatsminer API v2 crypto/session and API v3 framing/signing, with local btminer stand-ins.

The md5-crypt vectors below were produced with OpenSSL 3.0.19 (``openssl passwd -1 -salt SALT
PASSWORD``); when an ``openssl`` binary is installed, the test also checks fresh random inputs
against it live.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import shutil
import string
import struct
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from asic_bridge.errors import (
    AuthenticationError,
    CommandError,
    InvalidResponseError,
    MinerConnectionError,
    MinerTimeoutError,
    ResponseTooLargeError,
)
from asic_bridge.transport.rpc import RPCClient
from asic_bridge.transport.whatsminer import (
    WhatsminerV2Session,
    WhatsminerV3Client,
    decode_v3_frame,
    decrypt_v2,
    decrypt_v3_param,
    derive_v2_keys,
    encode_v3_frame,
    encrypt_v2,
    encrypt_v3_param,
    md5_crypt,
    md5_crypt_hash,
    read_v3_frame,
    v3_aes_key,
    v3_token,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[int]:
    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


# --- md5-crypt ------------------------------------------------------------------------------

# (password, salt, `openssl passwd -1 -salt SALT PASSWORD` with OpenSSL 3.0.19)
OPENSSL_VECTORS = [
    ("admin", "BQ5hoXV9", "$1$BQ5hoXV9$RxmaDUO33TS7O26yeMHZ81"),
    ("password", "saltsalt", "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/"),
    ("", "abc", "$1$abc$Or2rbeUYTvt12aiVzMuS/."),
    (
        "super_long_password_exceeding_sixteen_chars_1234567890",
        "12345678",
        "$1$12345678$JVuuFNCaq6urSBOGNdsSh/",
    ),
    ("héllo", "xy", "$1$xy$5gb8gX5SNAJP.u0FMAxk50"),
    ("a", "a", "$1$a$44cUw6Nm5bX0muHWNIwub0"),
    ("x", "abcdefghij", "$1$abcdefgh$znAnv9M.XU2pRYfmSs46h/"),  # salt truncated to 8
    # The v2 sign step: md5_crypt(host_passwd_md5 + time, newsalt).
    ("RxmaDUO33TS7O26yeMHZ815080", "Q3Z0lbhv", "$1$Q3Z0lbhv$dqJvlKz0esXZ95PTi8CR/0"),
]


@pytest.mark.parametrize(("password", "salt", "expected"), OPENSSL_VECTORS)
def test_md5_crypt_matches_openssl_vectors(password: str, salt: str, expected: str) -> None:
    assert md5_crypt(password, salt) == expected
    assert md5_crypt(password, "$1$" + salt + "$") == expected
    assert md5_crypt_hash(password, salt) == expected.rsplit("$", 1)[1]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary")
def test_md5_crypt_matches_live_openssl() -> None:
    alphabet = string.ascii_letters + string.digits + "./"
    for length in (0, 1, 7, 15, 16, 17, 33):
        password = "".join(secrets.choice(string.printable[:94]) for _ in range(length))
        salt = "".join(secrets.choice(alphabet) for _ in range(8))
        # on stdin: a password starting with "-" would be read as an option on the command line
        out = subprocess.run(
            ["openssl", "passwd", "-1", "-salt", salt, "-stdin"],
            input=password + "\n",
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert md5_crypt(password, salt) == out, (password, salt)


def test_derive_v2_keys_vector() -> None:
    key, sign = derive_v2_keys("admin", "BQ5hoXV9", "Q3Z0lbhv", "5080")
    assert sign == "dqJvlKz0esXZ95PTi8CR/0"
    assert key == hashlib.sha256(b"RxmaDUO33TS7O26yeMHZ81").digest()
    assert len(key) == 32


# --- v2 AES ---------------------------------------------------------------------------------


def test_encrypt_decrypt_v2_symmetric() -> None:
    key, _ = derive_v2_keys("admin", "saltsalt", "newsalt1", "1234")
    for obj in ({"cmd": "reboot", "token": "x"}, {"cmd": "a" * 15}, {"k": "ü" * 100}, {}):
        b64 = encrypt_v2(key, obj)
        assert "\n" not in b64
        raw = base64.b64decode(b64)
        assert len(raw) % 16 == 0
        assert decrypt_v2(key, b64) == obj


def test_decrypt_v2_wrong_key_or_garbage() -> None:
    key = hashlib.sha256(b"a").digest()
    other = hashlib.sha256(b"b").digest()
    b64 = encrypt_v2(key, {"cmd": "reboot"})
    with pytest.raises(InvalidResponseError):
        decrypt_v2(other, b64)
    with pytest.raises(InvalidResponseError):
        decrypt_v2(key, "not base64 !!!")
    with pytest.raises(InvalidResponseError):
        decrypt_v2(key, base64.b64encode(b"short").decode())


# --- a btminer API v2 stand-in --------------------------------------------------------------


class FakeBtminerV2:
    """Plain commands in clear, privileged ones AES-encrypted with the token check."""

    def __init__(self, password: str = "admin", write_enabled: bool = True) -> None:
        self.password = password
        self.write_enabled = write_enabled
        self.salt, self.newsalt, self.time = "BQ5hoXV9", "Q3Z0lbhv", "5080"
        self.token_requests = 0
        self.executed: list[dict[str, Any]] = []

    def rotate(self) -> None:
        """The miner's token expired: a new newsalt/time pair is issued."""
        self.newsalt, self.time = "N3wSa1tX", str(int(self.time) + 1)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = json.loads(await reader.read(65536))
        writer.write(json.dumps(self.answer(request)).encode())

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("enc") == 1:
            return self.privileged(request["data"])
        command = request.get("command")
        if command == "get_token":
            self.token_requests += 1
            msg = {"time": self.time, "salt": self.salt, "newsalt": self.newsalt}
            return {"STATUS": "S", "When": 1, "Code": 134, "Msg": msg, "Description": ""}
        if command == "summary":
            return {"STATUS": [{"STATUS": "S", "Msg": "Summary"}], "SUMMARY": [{"MHS av": 1}]}
        return {"STATUS": "E", "When": 1, "Code": 14, "Msg": "invalid cmd", "Description": ""}

    def privileged(self, data: str) -> dict[str, Any]:
        key, sign = derive_v2_keys(self.password, self.salt, self.newsalt, self.time)
        try:
            inner = decrypt_v2(key, data)
        except InvalidResponseError:
            return {"STATUS": "E", "When": 1, "Code": 135, "Msg": "check token err"}
        if inner.get("token") != sign:
            return {"STATUS": "E", "When": 1, "Code": 135, "Msg": "check token err"}
        if not self.write_enabled:
            return {"STATUS": "E", "When": 1, "Code": 45, "Msg": "can't access write cmd"}
        self.executed.append(inner)
        if inner["cmd"] == "bad_cmd":
            reply = {"STATUS": "E", "When": 1, "Code": 132, "Msg": "Command error"}
        else:
            reply = {"STATUS": "S", "When": 1, "Code": 131, "Msg": "API command OK"}
        return {"enc": encrypt_v2(key, reply)}


async def test_v2_session_round_trip_and_token_cache() -> None:
    miner = FakeBtminerV2()
    async with serve(miner.handle) as port:
        session = WhatsminerV2Session(RPCClient("127.0.0.1", port), "admin")
        summary = await session.send("summary")
        assert summary["SUMMARY"] == [{"MHS av": 1}]
        for _ in range(3):
            resp = await session.privileged("set_led", param="auto")
            assert resp["Msg"] == "API command OK"
    assert miner.token_requests == 1
    assert session.token_fetches == 1
    assert [e["cmd"] for e in miner.executed] == ["set_led"] * 3
    assert miner.executed[0]["param"] == "auto"
    assert "token" in miner.executed[0]


async def test_v2_session_refetches_on_expiry_and_on_token_error() -> None:
    miner = FakeBtminerV2()
    async with serve(miner.handle) as port:
        session = WhatsminerV2Session(RPCClient("127.0.0.1", port), "admin", token_ttl=0.05)
        await session.privileged("reboot")
        await asyncio.sleep(0.1)
        await session.privileged("reboot")  # TTL passed: re-fetch before sending
        assert miner.token_requests == 2
        session.token_ttl = 3600
        miner.rotate()  # the miner dropped our token early
        await session.privileged("reboot")  # one refusal, one re-fetch, one retry
    assert miner.token_requests == 3
    assert len(miner.executed) == 3


async def test_v2_session_wrong_password() -> None:
    miner = FakeBtminerV2(password="secret")
    async with serve(miner.handle) as port:
        session = WhatsminerV2Session(RPCClient("127.0.0.1", port), "admin")
        with pytest.raises(AuthenticationError) as info:
            await session.privileged("reboot")
    assert miner.token_requests == 2  # one retry with a fresh token, then give up
    assert miner.executed == []
    assert "secret" not in str(info.value) and "admin" not in str(info.value)
    assert info.value.command == "reboot"


async def test_v2_session_write_disabled_and_command_error() -> None:
    miner = FakeBtminerV2(write_enabled=False)
    async with serve(miner.handle) as port:
        session = WhatsminerV2Session(RPCClient("127.0.0.1", port), "admin")
        with pytest.raises(AuthenticationError, match="write API"):
            await session.privileged("reboot")
        miner.write_enabled = True
        with pytest.raises(CommandError, match="Command error"):
            await session.privileged("bad_cmd")


async def test_v2_session_default_password_from_settings() -> None:
    miner = FakeBtminerV2(password="admin")
    async with serve(miner.handle) as port:
        session = WhatsminerV2Session(RPCClient("127.0.0.1", port))
        await session.privileged("reboot")
    assert len(miner.executed) == 1


# --- v3 framing and signing -----------------------------------------------------------------


def test_v3_frame_round_trip() -> None:
    frame = encode_v3_frame({"cmd": "get.device.info", "param": "miner"})
    (length,) = struct.unpack("<I", frame[:4])
    assert length == len(frame) - 4
    assert json.loads(frame[4:]) == {"cmd": "get.device.info", "param": "miner"}
    assert decode_v3_frame(frame) == ({"cmd": "get.device.info", "param": "miner"}, len(frame))


def test_v3_frame_partial_heartbeat_and_too_large() -> None:
    frame = encode_v3_frame({"code": 0})
    assert decode_v3_frame(frame[:3]) == (None, 0)
    assert decode_v3_frame(frame[:-1]) == (None, 0)
    assert decode_v3_frame(b"\x00\x00\x00\x00" + frame) == (None, 4)
    two = frame + encode_v3_frame({"code": 1})
    first, used = decode_v3_frame(two)
    assert first == {"code": 0}
    assert decode_v3_frame(two[used:])[0] == {"code": 1}
    with pytest.raises(ResponseTooLargeError):
        decode_v3_frame(struct.pack("<I", 10_000_000), max_bytes=1_000_000)
    with pytest.raises(InvalidResponseError):
        decode_v3_frame(struct.pack("<I", 3) + b"abc")


def test_v3_token_matches_the_documented_algorithm() -> None:
    cmd, pwd, salt, ts = "set.miner.service", "super", "px5hoXa9", 1700000000
    digest = hashlib.sha256(b"set.miner.servicesuperpx5hoXa91700000000").digest()
    assert v3_aes_key(cmd, pwd, salt, ts) == digest
    assert v3_token(cmd, pwd, salt, ts) == base64.b64encode(digest).decode()[:8]
    assert len(v3_token(cmd, pwd, salt, ts)) == 8


def test_v3_param_encryption_symmetric() -> None:
    key = v3_aes_key("set.miner.pools", "super", "px5hoXa9", 1)
    pools = [{"pool": "stratum+tcp://p:3333", "worker": "w", "passwd": "x"}]
    assert decrypt_v3_param(key, encrypt_v3_param(key, pools)) == pools


class FakeBtminerV3:
    """A v3 stand-in: length-prefixed frames, several requests per connection, signed set.*."""

    def __init__(self, password: str = "super") -> None:
        self.password = password
        self.salt = "px5hoXa9"
        self.connections = 0
        self.requests: list[dict[str, Any]] = []
        self.close_after_each = False
        self.close_lazily = False
        self.huge = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while True:
            try:
                request = await read_v3_frame(reader, 1 << 20)
            except asyncio.IncompleteReadError:
                return
            self.requests.append(request)
            if self.huge:
                writer.write(struct.pack("<I", 50 * 1024 * 1024))
                await writer.drain()
                await asyncio.sleep(30)
            writer.write(encode_v3_frame(self.answer(request)))
            await writer.drain()
            if self.close_after_each:
                return
            if self.close_lazily:
                # Answer, then drop the connection a moment later without reading the next
                # request: what an idle timeout racing a new request looks like.
                await asyncio.sleep(0.05)
                return

    def answer(self, req: dict[str, Any]) -> dict[str, Any]:
        cmd = req["cmd"]
        base = {"when": int(time.time()), "desc": cmd}
        if cmd == "get.device.info":
            if req.get("param") == "salt":
                return {**base, "code": 0, "msg": {"salt": self.salt}}
            return {**base, "code": 0, "msg": {"miner": {"type": "M60S_VK10"}}}
        if cmd == "get.miner.status":
            return {**base, "code": 0, "msg": {"summary": {"hash-realtime": 101.8}}}
        if cmd.startswith("set."):
            expected = v3_token(cmd, self.password, self.salt, req["ts"])
            if req.get("account") != "super" or req.get("token") != expected:
                return {**base, "code": -4, "msg": "no permission"}
            if cmd == "set.miner.pools":
                key = v3_aes_key(cmd, self.password, self.salt, req["ts"])
                pools = decrypt_v3_param(key, req["param"])
                return {**base, "code": 0, "msg": {"pools": pools}}
            return {**base, "code": 0, "msg": "ok"}
        return {**base, "code": -2, "msg": "invalid command"}


async def test_v3_client_kept_connection_and_signing() -> None:
    miner = FakeBtminerV3()
    async with serve(miner.handle) as port:
        client = WhatsminerV3Client("127.0.0.1", port, password="super")
        info = await client.send("get.device.info", "miner")
        assert info["msg"]["miner"]["type"] == "M60S_VK10"
        assert (await client.send("set.system.reboot"))["msg"] == "ok"
        assert (await client.send("set.miner.power_limit", 3000))["msg"] == "ok"
        for _ in range(3):
            await client.send("get.miner.status", "summary")
        await client.aclose()
    # reads share one kept connection; each write has its own
    assert client.connections == 3 == miner.connections
    cmds = [r["cmd"] for r in miner.requests]
    assert cmds == [
        "get.device.info",
        "get.device.info",
        "set.system.reboot",
        "set.miner.power_limit",
        *["get.miner.status"] * 3,
    ]
    assert miner.requests[0] == {"cmd": "get.device.info", "param": "miner"}
    signed = miner.requests[3]
    assert set(signed) == {"cmd", "param", "ts", "account", "token"}
    assert signed["param"] == 3000


async def test_v3_encrypted_param_and_concurrent_commands() -> None:
    miner = FakeBtminerV3()
    pools = [{"pool": "stratum+tcp://pool:3333", "worker": "w.1", "passwd": "x"}]
    async with serve(miner.handle) as port:
        client = WhatsminerV3Client("127.0.0.1", port)
        resp = await client.send("set.miner.pools", pools)
        assert resp["msg"]["pools"] == pools
        results = await asyncio.gather(*(client.send("get.device.info", "miner") for _ in range(5)))
        await client.aclose()
    assert all(r["code"] == 0 for r in results)
    assert miner.connections == 2  # one kept for the reads, one for the write
    assert isinstance(miner.requests[1]["param"], str)  # sent encrypted


async def test_v3_one_connection_per_command_mode_and_server_close() -> None:
    miner = FakeBtminerV3()
    miner.close_after_each = True
    async with serve(miner.handle) as port:
        client = WhatsminerV3Client("127.0.0.1", port)
        for _ in range(3):
            await client.send("get.device.info")
            await asyncio.sleep(0.02)  # the close reaches us: a new connection, no error
        assert client.connections == 3
        # No pause: a read may hit the connection the miner is closing (retried once), and a
        # write right after never does (it has its own connection).
        for _ in range(5):
            await client.send("get.device.info", "miner")
            assert (await client.send("set.system.reboot"))["msg"] == "ok"
        assert sum(r["cmd"] == "set.system.reboot" for r in miner.requests) == 5
        no_keep = WhatsminerV3Client("127.0.0.1", port, keep_alive=False)
        await no_keep.send("get.device.info")
        await no_keep.send("get.device.info")
        await client.aclose()
    assert no_keep.connections == 2


async def test_v3_read_retried_once_when_kept_connection_dies() -> None:
    miner = FakeBtminerV3()
    miner.close_lazily = True
    async with serve(miner.handle) as port:
        client = WhatsminerV3Client("127.0.0.1", port)
        await client.send("get.device.info", "miner")
        # sent on the kept connection, which the miner then closes without answering
        assert (await client.send("get.miner.status", "summary"))["code"] == 0
        await client.aclose()
    assert client.connections == 2
    assert [r["cmd"] for r in miner.requests] == ["get.device.info", "get.miner.status"]


async def test_v3_errors() -> None:
    miner = FakeBtminerV3(password="changed")
    async with serve(miner.handle) as port:
        client = WhatsminerV3Client("127.0.0.1", port, password="super")
        with pytest.raises(CommandError, match="invalid command") as info:
            await client.send("get.nothing")
        assert info.value.command == "get.nothing"
        with pytest.raises(AuthenticationError) as auth:
            await client.send("set.system.reboot")
        assert "super" not in str(auth.value) and "changed" not in str(auth.value)
        # the salt was fetched twice: once, then again after the refusal
        salts = [r for r in miner.requests if r.get("param") == "salt"]
        assert len(salts) == 2
        await client.aclose()


async def test_v3_too_large_frame_and_timeout() -> None:
    miner = FakeBtminerV3()
    miner.huge = True
    async with serve(miner.handle) as port:
        client = WhatsminerV3Client("127.0.0.1", port, max_bytes=1 << 20, timeout=2)
        with pytest.raises(ResponseTooLargeError):
            await client.send("get.device.info")

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async with serve(silent) as port:
        client = WhatsminerV3Client("127.0.0.1", port, timeout=0.3)
        async with asyncio.timeout(20):  # bounds the test; not a speed assertion
            with pytest.raises(MinerTimeoutError):
                await client.send("get.device.info")


async def test_v3_connection_refused() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(MinerConnectionError):
        await WhatsminerV3Client("127.0.0.1", port).send("get.device.info")
