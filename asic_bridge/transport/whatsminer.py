"""Whatsminer (btminer) API crypto and framing: API v2 on port 4028, API v3 on port 4433.

API v2 privileged ("write") commands are AES-256-ECB encrypted with a key derived from the
admin password through md5-crypt and a salt from ``get_token``.  API v3 frames every message
as a 4-byte little-endian length plus JSON and signs ``set.*`` commands with a short SHA-256
token.  The pure functions here are used by the client and by the simulated miners (server
side), so both sides share one definition of the wire format.
"""

# Per-call ``timeout`` arguments are deliberate: the callee owns the deadline so that it can
# name the miner and command in the MinerTimeoutError it raises.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import struct
import time as _time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asic_bridge import settings
from asic_bridge.errors import (
    APIError,
    AuthenticationError,
    CommandError,
    InvalidResponseError,
    MinerConnectionError,
    MinerTimeoutError,
    ResponseTooLargeError,
)
from asic_bridge.transport.rpc import RPCClient, check_status, json_object, parse_rpc_payload

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

__all__ = [
    "V2_TOKEN_TTL",
    "V3_ENCRYPTED_PARAM_COMMANDS",
    "V3_PORT",
    "V2Token",
    "WhatsminerV2Session",
    "WhatsminerV3Client",
    "decode_v3_frame",
    "decrypt_v2",
    "decrypt_v3_param",
    "derive_v2_keys",
    "encode_v3_frame",
    "encrypt_v2",
    "encrypt_v3_param",
    "md5_crypt",
    "md5_crypt_hash",
    "read_v3_frame",
    "v2_privileged_request",
    "v3_aes_key",
    "v3_token",
]

# --- md5-crypt -------------------------------------------------------------------------------
# The stdlib ``crypt`` module is gone in 3.13 and passlib is unmaintained, so this is the
# FreeBSD/glibc "$1$" algorithm written out; tests check it against `openssl passwd -1`.

_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_MD5_MAGIC = b"$1$"
# Byte order in which the final digest is emitted, three bytes per four characters.
_MD5_GROUPS = ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5))


def _to_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _b64_crypt(value: int, count: int) -> str:
    out = []
    for _ in range(count):
        out.append(_ITOA64[value & 0x3F])
        value >>= 6
    return "".join(out)


def md5_crypt(password: str | bytes, salt: str | bytes) -> str:
    """The full ``$1$salt$hash`` string, as ``openssl passwd -1 -salt SALT PASSWORD`` prints.

    ``salt`` may carry the ``$1$`` prefix; like glibc and openssl it stops at ``$`` and is
    truncated to 8 characters.
    """
    pw = _to_bytes(password)
    s = _to_bytes(salt)
    if s.startswith(_MD5_MAGIC):
        s = s[len(_MD5_MAGIC) :]
    s = s.split(b"$", 1)[0][:8]

    alternate = hashlib.md5(pw + s + pw).digest()
    ctx = hashlib.md5(pw + _MD5_MAGIC + s)
    length = len(pw)
    ctx.update(alternate * (length // 16) + alternate[: length % 16])
    i = length
    while i:
        ctx.update(b"\x00" if i & 1 else pw[:1])
        i >>= 1
    digest = ctx.digest()

    # 1000 rounds, deliberately slow in 1994; ~0.3 ms today.
    for r in range(1000):
        round_ctx = hashlib.md5(pw if r & 1 else digest)
        if r % 3:
            round_ctx.update(s)
        if r % 7:
            round_ctx.update(pw)
        round_ctx.update(digest if r & 1 else pw)
        digest = round_ctx.digest()

    encoded = "".join(
        _b64_crypt((digest[a] << 16) | (digest[b] << 8) | digest[c], 4) for a, b, c in _MD5_GROUPS
    )
    encoded += _b64_crypt(digest[11], 2)
    return f"$1${s.decode('ascii', 'replace')}${encoded}"


def md5_crypt_hash(password: str | bytes, salt: str | bytes) -> str:
    """Only the hash field of :func:`md5_crypt` (what btminer calls ``host_passwd_md5``)."""
    return md5_crypt(password, salt).rsplit("$", 1)[1]


# --- API v2 privileged commands --------------------------------------------------------------

V2_TOKEN_TTL = 29 * 60.0
"""Seconds a v2 token is reused; the miner honours one for 30 minutes."""

# btminer status codes that mean "the token/sign did not check out".
_V2_TOKEN_CODES = frozenset({135, 136})
# "can't access write cmd" / permission denied: the write API is switched off on the miner.
_V2_DENIED_CODES = frozenset({45})


def derive_v2_keys(password: str, salt: str, newsalt: str, time: str) -> tuple[bytes, str]:
    """``(aes_key, sign)`` from the admin password and a ``get_token`` answer.

    host_passwd_md5 = hash(md5_crypt(password, salt)); sign = hash(md5_crypt(host_passwd_md5
    + time, newsalt)); key = sha256(host_passwd_md5).  The miner computes the same to check.
    """
    host_passwd_md5 = md5_crypt_hash(password, salt)
    sign = md5_crypt_hash(host_passwd_md5 + str(time), newsalt)
    key = hashlib.sha256(host_passwd_md5.encode("ascii")).digest()
    return key, sign


def _aes_ecb(key: bytes) -> Cipher[modes.ECB]:
    # imported here: reads need no AES, and cryptography costs ~20 ms of every start
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher(algorithms.AES(key), modes.ECB())


def encrypt_v2(key: bytes, obj: Mapping[str, Any]) -> str:
    """JSON, NUL-padded to 16 bytes, AES-256-ECB, base64 without newlines."""
    plain = json.dumps(dict(obj)).encode("utf-8")
    plain += b"\x00" * (-len(plain) % 16)
    encryptor = _aes_ecb(key).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")


def decrypt_v2(key: bytes, b64: str) -> dict[str, Any]:
    """Inverse of :func:`encrypt_v2`; :class:`InvalidResponseError` if it does not decode."""
    try:
        cipher = base64.b64decode(b64.encode("ascii"), validate=False)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InvalidResponseError("encrypted payload is not base64") from None
    if not cipher or len(cipher) % 16:
        raise InvalidResponseError("encrypted payload is not a whole number of AES blocks")
    decryptor = _aes_ecb(key).decryptor()
    plain = (decryptor.update(cipher) + decryptor.finalize()).rstrip(b"\x00")
    try:
        obj = json.loads(plain.decode("utf-8"), strict=False)
    except (UnicodeDecodeError, ValueError):
        raise InvalidResponseError("decrypted payload is not JSON (wrong key?)") from None
    return json_object(obj, what="decrypted payload")


def v2_privileged_request(key: bytes, sign: str, cmd: str, params: Mapping[str, Any]) -> bytes:
    """The bytes a client sends for a privileged command: ``{"enc":1,"data":<b64>}``."""
    inner = {"cmd": cmd, **params, "token": sign}
    return json.dumps({"enc": 1, "data": encrypt_v2(key, inner)}).encode("ascii")


@dataclass(frozen=True)
class V2Token:
    """A derived v2 credential; ``repr`` hides the secrets."""

    key: bytes
    sign: str
    fetched_at: float

    def __repr__(self) -> str:
        return f"V2Token(fetched_at={self.fetched_at:.0f})"


class WhatsminerV2Session:
    """btminer API v2 over an :class:`RPCClient`: plain reads, encrypted privileged writes.

    The token is fetched once and reused for :data:`V2_TOKEN_TTL` (the miner rate-limits
    ``get_token``); a token error re-fetches it once.  A refused write was not executed, so
    retrying it with a fresh token is safe.
    """

    def __init__(
        self,
        rpc: RPCClient,
        password: str | None = None,
        *,
        token_ttl: float = V2_TOKEN_TTL,
    ) -> None:
        self.rpc = rpc
        self._password = password
        self.token_ttl = token_ttl
        self._token: V2Token | None = None
        self._lock = asyncio.Lock()
        self.token_fetches = 0

    @property
    def ip(self) -> str:
        return self.rpc.ip

    def _pwd(self) -> str:
        if self._password is not None:
            return self._password
        return str(settings.get("default_whatsminer_password"))

    async def send(self, cmd: str, parameter: str | None = None, **params: Any) -> dict[str, Any]:
        """An unprivileged command (``summary``, ``devdetails``, ``get_version``, ...)."""
        return await self.rpc.send(cmd, parameter, **params)

    def invalidate(self) -> None:
        self._token = None

    async def token(self) -> V2Token:
        """The cached token, fetched with ``get_token`` when missing or expired."""
        async with self._lock:
            now = _time.monotonic()
            if self._token is not None and now - self._token.fetched_at < self.token_ttl:
                return self._token
            resp = await self.rpc.send("get_token")
            msg = resp.get("Msg")
            if not isinstance(msg, Mapping) or not all(
                isinstance(msg.get(k), (str, int)) for k in ("salt", "newsalt", "time")
            ):
                raise InvalidResponseError(
                    "get_token answer lacks salt/newsalt/time", ip=self.ip, command="get_token"
                )
            key, sign = derive_v2_keys(
                self._pwd(), str(msg["salt"]), str(msg["newsalt"]), str(msg["time"])
            )
            self.token_fetches += 1
            self._token = V2Token(key=key, sign=sign, fetched_at=now)
            return self._token

    async def privileged(self, cmd: str, **params: Any) -> dict[str, Any]:
        """Send an encrypted write command and return the decrypted, status-checked answer."""
        for attempt in (1, 2):
            token = await self.token()
            payload = v2_privileged_request(token.key, token.sign, cmd, params)
            raw = await self.rpc.send_raw(payload, command=cmd)
            if not raw:
                raise MinerConnectionError("closed without an answer", ip=self.ip, command=cmd)
            try:
                resp = parse_rpc_payload(raw)
                enc = resp.get("enc")
                if isinstance(enc, str):
                    resp = decrypt_v2(token.key, enc)
            except InvalidResponseError as exc:
                raise InvalidResponseError(exc.reason, ip=self.ip, command=cmd) from None
            code = resp.get("Code")
            msg = str(resp.get("Msg", ""))
            if resp.get("STATUS") == "E":
                if code in _V2_TOKEN_CODES or "token" in msg.lower():
                    self.invalidate()
                    if attempt == 1:
                        continue
                    raise AuthenticationError(
                        f"token rejected ({msg}); wrong password?", ip=self.ip, command=cmd
                    )
                if code in _V2_DENIED_CODES or "can't access write cmd" in msg:
                    raise AuthenticationError(
                        f"write API not enabled on the miner ({msg})", ip=self.ip, command=cmd
                    )
            check_status(resp, self.ip, cmd)
            return resp
        raise AssertionError("unreachable")  # pragma: no cover


# --- API v3 (port 4433) ----------------------------------------------------------------------

V3_PORT = 4433
_V3_HEADER = struct.Struct("<I")
# Commands whose ``param`` travels AES-encrypted (official API v3 documentation).
V3_ENCRYPTED_PARAM_COMMANDS = frozenset({"set.miner.pools", "set.user.change_passwd"})
_V3_NO_PERMISSION = -4


def encode_v3_frame(obj: Mapping[str, Any]) -> bytes:
    """4-byte little-endian length, then compact ASCII JSON."""
    body = json.dumps(dict(obj), separators=(",", ":")).encode("ascii")
    return _V3_HEADER.pack(len(body)) + body


def decode_v3_frame(
    buf: bytes, *, max_bytes: int | None = None
) -> tuple[dict[str, Any] | None, int]:
    """Decode the first frame in ``buf``: ``(message, bytes consumed)``.

    ``(None, 0)``: incomplete, read more.  ``(None, 4)``: a zero-length heartbeat frame.
    A declared length over ``max_bytes`` raises :class:`ResponseTooLargeError` before any of
    the body is needed.
    """
    if len(buf) < _V3_HEADER.size:
        return None, 0
    (length,) = _V3_HEADER.unpack_from(buf)
    if max_bytes is not None and length > max_bytes:
        raise ResponseTooLargeError(f"frame of {length} bytes exceeds {max_bytes}")
    if length == 0:
        return None, _V3_HEADER.size
    end = _V3_HEADER.size + length
    if len(buf) < end:
        return None, 0
    return _parse_v3_body(buf[_V3_HEADER.size : end]), end


def _parse_v3_body(body: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(body.decode("utf-8", errors="replace"), strict=False)
    except ValueError:
        raise InvalidResponseError("v3 frame is not JSON") from None
    return json_object(obj, what="v3 frame")


async def read_v3_frame(reader: asyncio.StreamReader, max_bytes: int) -> dict[str, Any]:
    """Read one frame from a stream, skipping heartbeats; never reads past ``max_bytes``."""
    while True:
        (length,) = _V3_HEADER.unpack(await reader.readexactly(_V3_HEADER.size))
        if length > max_bytes:
            raise ResponseTooLargeError(f"frame of {length} bytes exceeds {max_bytes}")
        if length:
            return _parse_v3_body(await reader.readexactly(length))


def v3_aes_key(cmd: str, password: str, salt: str, ts: int) -> bytes:
    """sha256(cmd + password + salt + ts): the signing digest, and the key for encrypted params."""
    return hashlib.sha256(f"{cmd}{password}{salt}{ts}".encode()).digest()


def v3_token(cmd: str, password: str, salt: str, ts: int) -> str:
    """The 8-character token of a ``set.*`` command: base64 of :func:`v3_aes_key`, cut."""
    return base64.b64encode(v3_aes_key(cmd, password, salt, ts)).decode("ascii")[:8]


def encrypt_v3_param(key: bytes, param: Any) -> str:
    """Encrypt a ``param`` for :data:`V3_ENCRYPTED_PARAM_COMMANDS`.

    The vendor document names the key (the full SHA-256 digest) but not the mode; this uses
    AES-256-ECB with PKCS#7 padding, as third-party v3 clients do.  Not verified on hardware.
    """
    plain = json.dumps(param, separators=(",", ":")).encode("utf-8")
    pad = 16 - len(plain) % 16
    plain += bytes([pad]) * pad
    encryptor = _aes_ecb(key).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")


def decrypt_v3_param(key: bytes, b64: str) -> Any:
    """Inverse of :func:`encrypt_v3_param`; also accepts NUL padding (the v2 style)."""
    try:
        cipher = base64.b64decode(b64.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InvalidResponseError("encrypted param is not base64") from None
    if not cipher or len(cipher) % 16:
        raise InvalidResponseError("encrypted param is not a whole number of AES blocks")
    decryptor = _aes_ecb(key).decryptor()
    plain = decryptor.update(cipher) + decryptor.finalize()
    pad = plain[-1]
    if 1 <= pad <= 16 and plain.endswith(bytes([pad]) * pad):
        plain = plain[:-pad]
    else:
        plain = plain.rstrip(b"\x00")
    try:
        return json.loads(plain.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidResponseError("decrypted param is not JSON (wrong key?)") from None


class WhatsminerV3Client:
    """btminer API v3 client (firmware newer than 2024.11) on TCP 4433.

    The firmware keeps a connection open for 300 s of inactivity and answers requests in
    order, so reads (``get.*``) share one kept connection (serialised by a lock) instead of
    one per command as pyasic does; ``keep_alive=False`` restores that behaviour.  Writes
    (``set.*``) always use a connection of their own (see :meth:`_exchange_locked`).  The salt for
    ``set.*`` signing is fetched once with ``get.device.info`` and cached.
    """

    def __init__(
        self,
        ip: str,
        port: int = V3_PORT,
        *,
        password: str | None = None,
        account: str = "super",
        timeout: float | None = None,
        max_bytes: int | None = None,
        limits: settings.Limits | None = None,
        keep_alive: bool = True,
        idle_timeout: float = 60.0,
    ) -> None:
        self.ip = ip
        self.port = port
        self.account = account
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.limits = limits or settings.limits()
        self.keep_alive = keep_alive
        self.idle_timeout = idle_timeout
        self._password = password
        self._salt: str | None = None
        self._lock = asyncio.Lock()
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._last_used = 0.0
        self.connections = 0

    def __repr__(self) -> str:
        return f"WhatsminerV3Client({self.ip}:{self.port})"

    def _pwd(self) -> str:
        if self._password is not None:
            return self._password
        return str(settings.get("default_whatsminer_v3_password"))

    def _total(self, timeout: float | None) -> float:
        return self.limits.timeout_for(timeout, self.timeout)

    def _cap(self) -> int:
        return self.limits.cap_for(self.max_bytes)

    async def salt(self) -> str:
        """The signing salt (``get.device.info`` with param ``salt``), cached."""
        if self._salt is None:
            resp = await self.send("get.device.info", "salt")
            msg = resp.get("msg")
            salt = msg.get("salt") if isinstance(msg, Mapping) else None
            if not isinstance(salt, str):
                raise InvalidResponseError(
                    "get.device.info has no msg.salt", ip=self.ip, command="get.device.info"
                )
            self._salt = salt
        return self._salt

    async def build_request(self, cmd: str, param: Any = None) -> dict[str, Any]:
        """The request object for ``cmd``, signed (and param-encrypted) for ``set.*``."""
        request: dict[str, Any] = {"cmd": cmd}
        if not cmd.startswith("set."):
            if param is not None:
                request["param"] = param
            return request
        salt = await self.salt()
        ts = int(_time.time())
        pwd = self._pwd()
        request.update(ts=ts, account=self.account, token=v3_token(cmd, pwd, salt, ts))
        if param is not None:
            if cmd in V3_ENCRYPTED_PARAM_COMMANDS:
                param = encrypt_v3_param(v3_aes_key(cmd, pwd, salt, ts), param)
            request["param"] = param
        return request

    async def send(
        self, cmd: str, param: Any = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Send one command; ``code != 0`` raises :class:`CommandError`.

        A ``set.*`` refused for permission is retried once with a freshly fetched salt (the
        miner did not act on it); if it fails again the error is an
        :class:`AuthenticationError`.
        """
        for attempt in (1, 2):
            request = await self.build_request(cmd, param)
            resp = await self._exchange(request, cmd, timeout)
            code = resp.get("code")
            if code == 0:
                return resp
            msg = resp.get("msg", "")
            if code == _V3_NO_PERMISSION and cmd.startswith("set."):
                if attempt == 1:
                    self._salt = None
                    continue
                raise AuthenticationError(
                    f"no permission ({msg}); wrong password or write API disabled",
                    ip=self.ip,
                    command=cmd,
                )
            raise CommandError(f"{msg} (code {code})", ip=self.ip, command=cmd)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(
        self, request: Mapping[str, Any], cmd: str, timeout: float | None
    ) -> dict[str, Any]:
        total = self._total(timeout)
        deadline = asyncio.get_running_loop().time() + total
        try:
            async with asyncio.timeout(total), self._lock:
                try:
                    return await self._exchange_locked(request, cmd, deadline)
                except BaseException:
                    self._drop()  # never reuse a connection in an unknown state
                    raise
                finally:
                    if not self.keep_alive:
                        self._drop(graceful=True)
        except APIError as exc:
            raise type(exc)(exc.reason, ip=self.ip, command=cmd) from None
        except TimeoutError:
            raise MinerTimeoutError(
                f"no answer within {total:g}s", ip=self.ip, command=cmd
            ) from None
        except ConnectionRefusedError:
            raise MinerConnectionError(
                f"connection refused on port {self.port}", ip=self.ip, command=cmd
            ) from None
        except (ConnectionError, asyncio.IncompleteReadError):
            raise MinerConnectionError(
                "connection closed before a complete answer", ip=self.ip, command=cmd
            ) from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise MinerConnectionError(reason, ip=self.ip, command=cmd) from None

    async def _exchange_locked(
        self, request: Mapping[str, Any], cmd: str, deadline: float
    ) -> dict[str, Any]:
        if cmd.startswith("set."):
            # Writes get a connection of their own.  On a kept connection that the miner
            # closed an instant earlier, a failure would leave it unknown whether the write
            # ran, and a write must not be repeated blindly; a fresh socket avoids that race.
            reader, writer = await self._open(deadline)
            try:
                return await self._roundtrip(reader, writer, request)
            finally:
                writer.close()
        reused = self._conn is not None
        try:
            return await self._roundtrip(*await self._connection(deadline), request)
        except (ConnectionError, asyncio.IncompleteReadError):
            self._drop()
            if not reused:
                raise
            # The kept connection was closed by the miner while idle: a read is safe to retry.
            return await self._roundtrip(*await self._connection(deadline), request)

    async def _roundtrip(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: Mapping[str, Any],
    ) -> dict[str, Any]:
        writer.write(encode_v3_frame(request))
        await writer.drain()
        resp = await read_v3_frame(reader, self._cap())
        self._last_used = asyncio.get_running_loop().time()
        return resp

    async def _connection(
        self, deadline: float
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        if self._conn is not None:
            reader, writer = self._conn
            idle = loop.time() - self._last_used
            if not reader.at_eof() and not writer.is_closing() and idle < self.idle_timeout:
                return self._conn
            self._drop(graceful=True)
        self._conn = await self._open(deadline)
        return self._conn

    async def _open(self, deadline: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        remaining = deadline - asyncio.get_running_loop().time()
        limit = min(self.limits.connect_timeout, max(remaining, 0.0))
        try:
            async with asyncio.timeout(limit):
                conn = await asyncio.open_connection(self.ip, self.port)
        except TimeoutError:
            raise MinerTimeoutError(f"no connect within {limit:g}s") from None
        self.connections += 1
        return conn

    def _drop(self, *, graceful: bool = False) -> None:
        if self._conn is None:
            return
        _, writer = self._conn
        self._conn = None
        if graceful:
            writer.close()
        else:
            writer.transport.abort()

    async def aclose(self) -> None:
        """Close the kept connection, if any."""
        self._drop(graceful=True)

    async def upload(self, cmd: str, data: bytes, *, timeout: float) -> dict[str, Any]:
        """A ``set.*`` command that answers ``"ready"`` and then takes ``data`` on the same
        connection as ``<u32 LE size> + bytes`` (``set.system.update_firmware``, API v3
        document 'Upgrade Flow'); returns the miner's final confirmation frame.

        On a connection of its own; a permission refusal is retried once with a fresh salt.
        """
        for attempt in (1, 2):
            request = await self.build_request(cmd)
            try:
                async with asyncio.timeout(timeout):
                    reader, writer = await asyncio.open_connection(self.ip, self.port)
                    self.connections += 1
                    try:
                        writer.write(encode_v3_frame(request))
                        await writer.drain()
                        ready = await read_v3_frame(reader, self._cap())
                        if ready.get("code") == _V3_NO_PERMISSION and attempt == 1:
                            self._salt = None
                            continue
                        if ready.get("code") != 0 or ready.get("msg") != "ready":
                            raise CommandError(
                                f"not ready: {ready.get('msg')} (code {ready.get('code')})",
                                ip=self.ip,
                                command=cmd,
                            )
                        writer.write(len(data).to_bytes(4, "little") + data)
                        await writer.drain()
                        return await read_v3_frame(reader, self._cap())
                    finally:
                        writer.close()
            except TimeoutError:
                raise MinerTimeoutError(
                    f"no answer within {timeout:g}s", ip=self.ip, command=cmd
                ) from None
            except (OSError, asyncio.IncompleteReadError) as exc:
                raise MinerConnectionError(
                    f"upload broken off: {type(exc).__name__}", ip=self.ip, command=cmd
                ) from None
        raise AuthenticationError(
            "no permission; wrong password or write API disabled", ip=self.ip, command=cmd
        )
