"""The embedded MQTT broker: mosquitto as a supervised child process where the binary exists,
the amqtt broker (in this event loop, see ``amqtt_broker``) only as the fallback.

mosquitto is what users otherwise install next to the bridge, and it conforms (retained
delivery, keep-alive, wills, offline queues, MQTT 5); amqtt lets the bridge run with nothing
installed (Windows, macOS without Homebrew, no root).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import hashlib
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from asic_bridge.bridge.config import EmbeddedBrokerConfig

log = logging.getLogger(__name__)
mosquitto_log = logging.getLogger("asic_bridge.mosquitto")

BrokerMode = Literal["auto", "mosquitto", "amqtt"]

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
HEALTH_INTERVAL = 30.0
HEALTH_TIMEOUT = 10.0
RESTART_BACKOFF = (1.0, 30.0)  # first and longest delay before restarting a dead mosquitto
STABLE_AFTER = 60.0  # a mosquitto that ran this long restarts with the first delay again
_SEARCH = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")
_VERSION = re.compile(rb"mosquitto version (\d+\.\d+\.\d+)")


def find_mosquitto() -> str | None:
    """The mosquitto binary: on PATH, or where Debian, /usr/local and Homebrew put it."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((path for path in _SEARCH if os.access(path, os.X_OK)), None)


def mosquitto_version(binary: str) -> str | None:
    """``2.0.11`` from ``mosquitto -h`` (it exits 3 after printing its usage)."""
    try:
        out = subprocess.run([binary, "-h"], capture_output=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(out)
    return match.group(1).decode() if match else None


def password_line(username: str, password: str) -> str:
    """One mosquitto password-file line: PBKDF2-SHA512 in mosquitto's ``$7$`` format (the
    format ``mosquitto_passwd`` writes), so no tool needs the password on its command line."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101)
    encoded = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"{username}:$7$101${encoded[0]}${encoded[1]}\n"


def connect_packet(
    client_id: str,
    username: str | None = None,
    password: str | None = None,
    *,
    keepalive: int = 10,
    will: tuple[str, bytes] | None = None,
    clean: bool = True,
) -> bytes:
    """An MQTT 3.1.1 CONNECT; ``will`` is (topic, payload) at QoS 0."""
    flags = 0x02 if clean else 0
    payload = _mqtt_string(client_id)
    if will is not None:
        flags |= 0x04
        payload += _mqtt_string(will[0]) + len(will[1]).to_bytes(2, "big") + will[1]
    if username is not None:
        flags |= 0x80
        payload += _mqtt_string(username)
        if password is not None:
            flags |= 0x40
            payload += _mqtt_string(password)
    body = _mqtt_string("MQTT") + bytes((4, flags)) + keepalive.to_bytes(2, "big") + payload
    return bytes((0x10, *remaining_length(len(body)))) + body


async def mqtt_ping(
    host: str,
    port: int,
    username: str | None = None,
    password: str | None = None,
    within: float = HEALTH_TIMEOUT,
) -> bool:
    """True if an MQTT CONNECT on ``host:port`` is accepted (CONNACK code 0).

    A listening socket is not enough: a broker that accepts TCP but no MQTT is not healthy.
    """
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(within):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(
                connect_packet(f"asic_bridge-health-{secrets.token_hex(4)}", username, password)
            )
            connack = await reader.readexactly(4)
            writer.write(b"\xe0\x00")  # DISCONNECT: no will, no error in its log
            await writer.drain()
            return connack[0] == 0x20 and connack[3] == 0
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _mqtt_string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def remaining_length(length: int) -> bytes:
    """An MQTT packet's variable-length "remaining length" field."""
    out = bytearray()
    while True:
        length, digit = divmod(length, 128)
        out.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _linux_prctl() -> Any:
    """libc's prctl, looked up in the parent: the child between fork and exec should do as
    little as possible."""
    if sys.platform != "linux":
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _linux_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_the_bridge() -> None:
    """In the child before exec: SIGTERM when the bridge dies, even by SIGKILL, so no orphan
    mosquitto holds the port the next start needs (Linux; elsewhere stop() is the only way)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


class MosquittoBroker:
    """mosquitto as a child: generated config, health check, restart with backoff, clean stop."""

    supports_v5 = True

    def __init__(
        self,
        binary: str,
        bind: str,
        port: int,
        workdir: Path,
        *,
        username: str | None = None,
        password: str | None = None,
        persistence: bool = True,
    ):
        self.binary = binary
        self.bind = bind
        self.port = port
        self.workdir = workdir.absolute()  # its config names files; its cwd is not ours to rely on
        self.username = username
        self.password = password
        self.persistence = persistence
        self.version = "unknown version"  # from the binary, at start()
        self._proc: asyncio.subprocess.Process | None = None
        self._output: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._starting = False
        self._last_error = ""
        self.restarts = 0  # for bridge tests and the log

    @property
    def description(self) -> str:
        return f"mosquitto {self.version}"

    def config_text(self) -> str:
        lines = [
            "# generated by asic_bridge at every start from bridge.yaml (mqtt.embedded)",
            f"listener {self.port} {self.bind}",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "log_timestamp false",
            "connection_messages true",
        ]
        if self.username:
            lines += ["allow_anonymous false", f"password_file {self.workdir / 'passwords'}"]
        else:
            lines.append("allow_anonymous true")
        if self.persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.workdir}/",
                "autosave_interval 60",
            ]
        else:
            lines.append("persistence false")
        if (
            getattr(os, "geteuid", lambda: -1)() == 0
        ):  # (no geteuid on Windows) as root mosquitto switches to user "mosquitto", who cannot
            import pwd  # read our state_dir: stay who we are

            lines.append(f"user {pwd.getpwuid(0).pw_name}")
        return "\n".join(lines) + "\n"

    def _write_files(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.username:
            passwords = self.workdir / "passwords"
            passwords.touch(mode=0o600)
            passwords.chmod(0o600)
            passwords.write_text(password_line(self.username, self.password or ""))
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.config_text())
        return conf

    async def start(self) -> None:
        """Start and wait until it accepts an MQTT connection; OSError if it cannot."""
        self._stopping = False
        found: str | None = await asyncio.to_thread(mosquitto_version, self.binary)
        self.version = found or self.version
        await self._launch()
        self._supervisor = asyncio.create_task(self._supervise(), name="mosquitto")
        log.info(
            "embedded MQTT broker: %s listening on %s:%d", self.description, self.bind, self.port
        )

    async def _launch(self) -> None:
        conf = self._write_files()
        self._last_error = ""
        self._starting = True
        self._proc = await asyncio.create_subprocess_exec(
            self.binary,
            "-c",
            str(conf),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal reaches the bridge, not it
            preexec_fn=_die_with_the_bridge if _PRCTL is not None else None,
        )
        self._output = asyncio.create_task(self._forward_output(self._proc), name="mosquitto-log")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.returncode is not None:
                break
            if await mqtt_ping(self.bind_host, self.port, self.username, self.password, 2.0):
                self._starting = False
                return
            await asyncio.sleep(0.05)
        await self._terminate()
        reason = self._last_error or "it did not accept an MQTT connection in time"
        raise OSError(f"embedded MQTT broker cannot listen on {self.bind}:{self.port} ({reason})")

    @property
    def bind_host(self) -> str:
        """Where to reach it: a wildcard bind is reached on loopback."""
        return "127.0.0.1" if self.bind in ("0.0.0.0", "", "::") else self.bind

    async def _forward_output(self, proc: asyncio.subprocess.Process) -> None:
        """Its log lines into ours: errors and warnings as such, the chatter at debug."""
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if not line:
                continue
            if line.startswith("Error"):
                self._last_error = line.removeprefix("Error: ")
                # while starting, the OSError that start() raises carries it
                mosquitto_log.log(logging.DEBUG if self._starting else logging.ERROR, "%s", line)
            elif line.startswith("Warning") and "run as root" not in line:  # our choice
                mosquitto_log.warning("%s", line)
            else:
                mosquitto_log.debug("%s", line)

    async def _supervise(self) -> None:
        """Restart it when it dies; kill it when it stops answering MQTT (a hung broker)."""
        delay = RESTART_BACKOFF[0]
        while not self._stopping:
            proc = self._proc
            if proc is not None:  # None: the last restart failed; try again
                started = time.monotonic()
                code = await self._wait_or_check(proc)
                if self._stopping:
                    return
                if time.monotonic() - started > STABLE_AFTER:
                    delay = RESTART_BACKOFF[0]
                detail = f": {self._last_error}" if self._last_error else ""
                log.warning("embedded mosquitto exited (code %s%s)", code, detail)
            log.info("restarting embedded mosquitto in %.0f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_BACKOFF[1])
            if self._stopping:
                return
            try:
                await self._launch()
            except OSError as exc:
                log.warning("embedded mosquitto did not restart: %s", exc)
                continue
            self.restarts += 1
            log.info("embedded mosquitto restarted")

    async def _wait_or_check(self, proc: asyncio.subprocess.Process) -> int | None:
        """Wait for ``proc`` to exit; two failed health checks in a row kill it."""
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(proc.wait()), HEALTH_INTERVAL)
            if proc.returncode is not None or self._stopping:
                return proc.returncode
            if await mqtt_ping(self.bind_host, self.port, self.username, self.password):
                failures = 0
                continue
            failures += 1
            if failures >= 2:
                log.warning("embedded mosquitto stopped answering MQTT; killing it")
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()

    async def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()  # SIGTERM: it saves its persistence file and exits
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                log.warning("embedded mosquitto ignored SIGTERM; killing it")
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        output, self._output = self._output, None
        if output is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(output, 1.0)  # its last lines (a bind error) first

    async def stop(self) -> None:
        self._stopping = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        await self._terminate()

    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None


class EmbeddedBroker:
    """``mqtt.url: embedded``: mosquitto if it can be had, else the amqtt fallback.

    ``mode`` forces one (``mqtt.embedded.mode``; the tests run both).
    """

    def __init__(
        self,
        bind: str = "127.0.0.1",
        port: int = 1883,
        *,
        mode: BrokerMode = "auto",
        username: str | None = None,
        password: str | None = None,
        state_dir: str | Path = ".asic_bridge_state",
        persistence: bool = True,
    ):
        self.bind = bind
        self.port = port
        binary = find_mosquitto() if mode != "amqtt" else None
        if mode == "mosquitto" and binary is None:
            raise OSError("mqtt.embedded.mode is mosquitto but no mosquitto binary was found")
        self._impl: MosquittoBroker | AmqttFallback
        if binary is not None:
            self._impl = MosquittoBroker(
                binary,
                bind,
                port,
                Path(state_dir) / "mosquitto",
                username=username,
                password=password,
                persistence=persistence,
            )
        else:
            from asic_bridge.bridge.amqtt_broker import AmqttFallback

            why = "mqtt.embedded.mode is amqtt" if mode == "amqtt" else "mosquitto not found"
            self._impl = AmqttFallback(bind, port, username=username, password=password, why=why)

    @classmethod
    def from_config(cls, config: EmbeddedBrokerConfig, state_dir: str | Path) -> EmbeddedBroker:
        return cls(
            config.bind,
            config.port,
            mode=config.mode,
            username=config.username,
            password=config.password,
            state_dir=state_dir,
            persistence=config.persistence,
        )

    @property
    def description(self) -> str:
        """What ``bridge/info`` says: ``mosquitto 2.0.11`` or ``amqtt (fallback)``."""
        return self._impl.description

    @property
    def supports_v5(self) -> bool:
        return self._impl.supports_v5

    @property
    def impl(self) -> MosquittoBroker | AmqttFallback:
        return self._impl

    async def start(self) -> None:
        await self._impl.start()

    async def stop(self) -> None:
        await self._impl.stop()


if TYPE_CHECKING:
    from asic_bridge.bridge.amqtt_broker import AmqttFallback
