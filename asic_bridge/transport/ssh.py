"""SSH command execution on miners (Antminer, BOSminer) through asyncssh.

Commands are given as argv lists and quoted here, never as shell strings, so a value from a
config or an MQTT payload cannot become shell syntax.  One connection per miner is kept and
reused until :meth:`SSHClient.aclose`.
"""

# Per-call ``timeout`` arguments are deliberate: the callee owns the deadline so that it can
# name the miner and command in the MinerTimeoutError it raises.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import ctypes.util
import shlex
from collections.abc import Sequence
from typing import Any

from asic_bridge import settings
from asic_bridge.errors import (
    APIError,
    AuthenticationError,
    MinerConnectionError,
    MinerTimeoutError,
    ResponseTooLargeError,
)


def _no_native_crypto(name: str) -> str | None:
    skipped = name.removeprefix("lib").split("-")[0] in _SKIPPED_LIBRARIES  # libnettle-6 too
    return None if skipped else _find_library(name)


# At import asyncssh looks for liboqs (the sntrup761 key exchange) and libnettle (UMAC) with
# ctypes.util.find_library, which on Linux runs ldconfig and, for what it misses, gcc and ld
# as subprocesses: about 50 ms of CPU, a seventh of what a /24 scan plus get_data on 64
# miners costs (bench/scan_bench.py).  Without them asyncssh offers every other key exchange
# (curve25519, ECDH, DH, ML-KEM through cryptography) and MAC (HMAC-SHA2, AES-GCM,
# ChaCha20-Poly1305), which is what a miner's dropbear or OpenSSH negotiates with anyway.
_SKIPPED_LIBRARIES = frozenset({"oqs", "nettle"})
_find_library = ctypes.util.find_library
ctypes.util.find_library = _no_native_crypto
try:
    import asyncssh
finally:
    ctypes.util.find_library = _find_library

__all__ = ["SSHClient", "build_command"]

_FORBIDDEN = ("\x00", "\n", "\r")
_READ_CHUNK = 64 * 1024


def build_command(argv: Sequence[str]) -> str:
    """A shell command line from argv, every argument quoted.

    NUL and line breaks are refused outright: a NUL truncates the line in C code on the
    miner, and a newline would start a second command in shells that read line by line.
    """
    if isinstance(argv, str) or not argv:
        raise ValueError("argv must be a non-empty sequence of strings, not a string")
    for arg in argv:
        if not isinstance(arg, str):
            raise ValueError(f"argv items must be str, got {type(arg).__name__}")
        if any(ch in arg for ch in _FORBIDDEN):
            raise ValueError("argv items must not contain NUL or line breaks")
    return shlex.join(argv)


class SSHClient:
    """Run commands on one miner over SSH, reusing one connection."""

    def __init__(
        self,
        ip: str,
        port: int = 22,
        *,
        username: str,
        password: str,
        timeout: float | None = None,
        max_bytes: int | None = None,
        limits: settings.Limits | None = None,
    ) -> None:
        self.ip = ip
        self.port = port
        self.username = username
        self._password = password
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.limits = limits or settings.limits()
        self._conn: Any = None  # asyncssh.SSHClientConnection (untyped library)
        self._lock = asyncio.Lock()
        self.connections = 0

    def __repr__(self) -> str:
        return f"SSHClient({self.username}@{self.ip}:{self.port})"

    def _total(self, timeout: float | None) -> float:
        return self.limits.timeout_for(timeout, self.timeout)

    def _cap(self) -> int:
        return self.limits.cap_for(self.max_bytes)

    async def _connection(self, connect_timeout: float) -> Any:
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return self._conn
            self._conn = await asyncssh.connect(
                self.ip,
                self.port,
                username=self.username,
                password=self._password,
                # Miners regenerate host keys on reflash and come with factory defaults, and
                # a farm has thousands of them: there is no stable key to pin, so host keys
                # are not checked.  The LAN is the trust boundary, as with their HTTP APIs.
                known_hosts=None,
                # Only the given password: no local keys, no agent, no ~/.ssh/config.
                client_keys=None,
                agent_path=None,
                config=None,
                preferred_auth="password,keyboard-interactive",
                connect_timeout=connect_timeout,
                login_timeout=connect_timeout,
                keepalive_interval=30,
            )
            self.connections += 1
            return self._conn

    async def run(
        self, argv: Sequence[str], *, timeout: float | None = None, stdin: bytes | None = None
    ) -> tuple[int, str, str]:
        """Run ``argv`` and return ``(exit_status, stdout, stderr)``.

        A non-zero exit is returned, not raised: the caller knows what the command means.
        The output is capped at ``max_response_bytes`` per stream.  ``stdin`` is fed to the
        command and then closed, so file contents travel as data (``tee FILE``), never as
        shell syntax.
        """
        command = build_command(argv)
        name = argv[0]
        total = self._total(timeout)
        connect = min(self.limits.connect_timeout, total)
        try:
            async with asyncio.timeout(total):
                conn = await self._connection(connect)
                return await self._run_on(conn, command, stdin)
        except APIError as exc:
            raise type(exc)(exc.reason, ip=self.ip, command=name) from None
        except TimeoutError:
            raise MinerTimeoutError(
                f"no result within {total:g}s", ip=self.ip, command=name
            ) from None
        except asyncssh.PermissionDenied:
            await self._discard()
            raise AuthenticationError("SSH login rejected", ip=self.ip, command=name) from None
        except (asyncssh.Error, OSError) as exc:
            await self._discard()
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None)
            reason = reason or type(exc).__name__
            raise MinerConnectionError(f"SSH: {reason}", ip=self.ip, command=name) from None

    async def _run_on(
        self, conn: Any, command: str, stdin: bytes | None = None
    ) -> tuple[int, str, str]:
        process = await conn.create_process(command, encoding=None)
        try:
            if stdin is not None:
                process.stdin.write(stdin)
            process.stdin.write_eof()
            out, err = await asyncio.gather(
                self._read_capped(process.stdout), self._read_capped(process.stderr)
            )
            await process.wait_closed()
        except BaseException:
            process.close()
            raise
        status = process.exit_status
        return (
            -1 if status is None else int(status),
            out.decode("utf-8", errors="replace"),
            err.decode("utf-8", errors="replace"),
        )

    async def _read_capped(self, stream: Any) -> bytes:
        cap = self._cap()
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk: bytes = await stream.read(_READ_CHUNK)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > cap:
                raise ResponseTooLargeError(f"output exceeds {cap} bytes")
            chunks.append(chunk)

    async def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()

    async def aclose(self) -> None:
        """Close the kept connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
                await asyncio.wait_for(conn.wait_closed(), 1.0)
