"""The simulator framework: listening servers that can misbehave, the SimMiner base, the registry.

A *kind* is one firmware family on one model.  To add one, write a module in ``asic_bridge/sim/``::

    @register
    class MySim(SimMiner):
        kind = "vendor_model"
        make, model, firmware = "Vendor", "Model", "Firmware"
        default_ports = {"rpc": 4028, "http": 80}
        hardware = Hardware(boards=3, chips_per_board=..., board_hashrate=..., nominal_power=...)

        def make_servers(self) -> dict[str, SimServer]:
            return {"rpc": RpcServer(self.on_rpc), "http": self.build_http()}

Modules in this package are imported by :func:`load_kinds`, so nothing else needs editing.
Every server reads and changes ``self.state`` (a :class:`MinerState`); misbehaviour, counters,
port fallback, restarts and moves are handled here once for all kinds.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gzip
import importlib
import io
import ipaddress
import logging
import os
import pkgutil
import random
import re
import socket
import struct
import tarfile
import zlib
from collections import Counter
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar, get_args

from .state import Hardware, MinerState

log = logging.getLogger("asic_bridge.sim")

Mode = Literal["normal", "hang", "slow", "garbage", "reset", "offline", "huge"]
MODES: tuple[str, ...] = get_args(Mode)


@dataclass
class Counters:
    """What one server saw; tests assert on these (e.g. one RPC connection per poll).

    ``by_key`` counts RPC commands (each part of a ``a+b`` batch separately), HTTP
    ``"METHOD /path"`` and frame ``cmd`` values.
    """

    connections: int = 0
    requests: int = 0
    unauthorized: int = 0
    """HTTP 401 answers sent (digest challenges included)."""
    open: int = 0
    """Connections open right now."""
    by_key: Counter[str] = field(default_factory=Counter)

    def reset(self) -> None:
        self.connections = self.requests = self.unauthorized = 0
        self.by_key.clear()


@dataclass
class Behaviour:
    """How a server misbehaves; change through :meth:`SimMiner.set_mode`."""

    mode: Mode = "normal"
    delay: float = 2.0
    """Seconds before each answer in ``slow`` mode."""
    huge_size: int = 8 * 1024 * 1024
    """Bytes of the answer in ``huge`` mode."""


class SimServer:
    """One listening TCP socket of a simulated miner, with counters and misbehaviour.

    Subclasses implement :meth:`serve` for their protocol and call :meth:`before_reply` once a
    request has been read: it applies the current mode and says whether to answer normally.
    """

    close_wait: float = 1.0
    """Seconds to wait for the peer's FIN after our last byte, so an unread byte cannot turn
    our close into an RST that destroys the answer."""
    stream_limit: int = 64 * 1024

    def __init__(self) -> None:
        self.name = "server"
        self.counters = Counters()
        self.behaviour = Behaviour()
        self.host: str | None = None
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._conns: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    # ------------------------------------------------------------------ protocol hooks
    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Handle one connection (read request(s), answer)."""
        raise NotImplementedError

    def huge_payload(self) -> bytes:
        """What ``huge`` mode sends; protocols override it to keep their framing."""
        return b'{"junk":"' + b"x" * self.behaviour.huge_size + b'"}'

    # ------------------------------------------------------------------ lifecycle
    @property
    def listening(self) -> bool:
        return self._server is not None

    async def listen(self, host: str, port: int) -> int:
        """Bind and listen; returns the bound port (useful with port 0)."""
        if self._server is not None:
            return self.port or port
        server = await asyncio.start_server(
            self._on_connect, host, port, reuse_address=True, limit=self.stream_limit
        )
        self._server = server
        self.host = host
        self.port = int(server.sockets[0].getsockname()[1])
        return self.port

    def close_listener(self) -> None:
        """Stop accepting (connect → refused); open connections finish on their own."""
        if self._server is not None:
            self._server.close()
            self._server = None

    async def drop_connections(self) -> None:
        """Abort every open connection and wait for their handlers to end."""
        current = asyncio.current_task()
        tasks = [t for t in self._conns if t is not current]
        for task in tasks:
            self._conns[task].transport.abort()
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        self.close_listener()
        await self.drop_connections()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns[task] = writer
        self.counters.connections += 1
        self.counters.open += 1
        try:
            if self.behaviour.mode == "offline":  # accepted in the instant before going offline
                writer.transport.abort()
                return
            await self.serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, OSError):
            pass
        except asyncio.CancelledError:
            # we cancel only to drop the connection; asyncio 3.11's done-callback would log a
            # cancelled handler task as an error, so end it normally
            pass
        except Exception:  # a bug in a kind must not kill the listener
            log.exception("sim %s %s:%s: handler failed", self.name, self.host, self.port)
        finally:
            self.counters.open -= 1
            self._conns.pop(task, None)
            if not writer.transport.is_closing():
                writer.transport.abort()

    # ------------------------------------------------------------------ helpers for serve()
    async def before_reply(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Apply the misbehaviour mode after a request was read; True = answer normally."""
        b = self.behaviour
        if b.mode == "normal":
            return True
        if b.mode == "slow":
            await asyncio.sleep(b.delay)
            return True
        if b.mode == "hang":  # hold the connection, never answer, until the peer gives up
            while await reader.read(65536):
                pass
        elif b.mode == "garbage":
            writer.write(garbage_bytes(f"{self.host}:{self.port}:{self.counters.requests}"))
            await writer.drain()
            await self.finish(reader, writer)
        elif b.mode == "huge":
            writer.write(self.huge_payload())
            await writer.drain()
            await self.finish(reader, writer)
        else:  # reset, offline
            reset_connection(writer)
        return False

    async def finish(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Close after the answer like real firmware: FIN, then let the peer close first."""
        try:
            if writer.can_write_eof():
                writer.write_eof()
            async with asyncio.timeout(self.close_wait):
                while await reader.read(65536):
                    pass
        except (TimeoutError, ConnectionError, OSError):
            pass
        writer.close()


def garbage_bytes(seed: str, size: int = 700) -> bytes:
    """Deterministic bytes that are neither JSON, nor HTTP, nor UTF-8."""
    return b"\xff\xfe" + random.Random(seed).randbytes(size)


def reset_connection(writer: asyncio.StreamWriter) -> None:
    """Close with an RST (SO_LINGER 0), as a crashing firmware does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


# ---------------------------------------------------------------------------- SimMiner
class SimMiner:
    """One simulated miner: a :class:`MinerState` served on its firmware's ports.

    Subclasses set the ClassVars and implement :meth:`make_servers`; see the module docstring.
    """

    kind: ClassVar[str] = ""
    make: ClassVar[str] = ""
    model: ClassVar[str] = ""
    firmware: ClassVar[str] = ""
    default_ports: ClassVar[dict[str, int]] = {}
    hardware: ClassVar[Hardware] = Hardware()
    versions: ClassVar[tuple[str, ...]] = ()
    """Firmware versions this kind can serve, newest (the default) first.  Each names a real
    capture under ``tests/fixtures/real/<family>/<version>/`` whose key set, types and quirks
    the kind reproduces; pick one with ``KIND:VERSION@ADDRESS``.  Empty: one unnamed version."""

    assume_unprivileged: bool = bool(os.environ.get("ASIC_BRIDGE_SIM_UNPRIVILEGED"))
    """Act as a non-root user: move ports below 1024 without trying them (tests, demos)."""

    def __init__(
        self,
        address: str,
        *,
        state: MinerState | None = None,
        ports: dict[str, int] | None = None,
        version: str | None = None,
    ) -> None:
        self.address = check_address(address)
        if version is not None and version not in self.versions:
            known = ", ".join(self.versions) or "none (this kind has one version)"
            raise ValueError(f"{self.kind}: unknown firmware version {version!r} (known: {known})")
        self.served_version: str = version or (self.versions[0] if self.versions else "")
        """The firmware version served (one of ``versions``; ``""`` for a one-version kind)."""
        unknown = set(ports or {}) - set(self.default_ports)
        if unknown:
            raise ValueError(
                f"{self.kind}: unknown server name(s) {sorted(unknown)}; "
                f"this kind serves {sorted(self.default_ports)}"
            )
        self._wanted = {**self.default_ports, **(ports or {})}
        for name, port in self._wanted.items():
            if not 0 <= port <= 65535:
                raise ValueError(f"{self.kind}: port {port} for {name!r} is out of range")
        seed = self.address
        if self._wanted != self.default_ports:
            seed += "|" + ",".join(f"{k}={v}" for k, v in sorted(self._wanted.items()))
        self.state = state if state is not None else self.default_state(seed)
        self.state.ip = self.address
        self.servers = self.make_servers()
        if set(self.servers) != set(self._wanted):
            raise TypeError(
                f"{type(self).__name__}.make_servers() returned {sorted(self.servers)}, "
                f"default_ports names {sorted(self._wanted)}"
            )
        for name, server in self.servers.items():
            server.name = f"{self.kind}/{name}"
        self.running = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.installed_version: str | None = None
        """The firmware version an upload installed (None: the served one); kinds report it."""
        self.upgrading = False
        """An upload was accepted and the box is flashing / rebooting: a second one is refused."""
        self.flash_time = 0.3
        """Seconds between accepting an image and the reboot (the flash write); tests raise it."""
        self.flash_downtime = 1.0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind}@{self.address} {self.ports}>"

    # ------------------------------------------------------------------ for subclasses
    def default_state(self, seed: str) -> MinerState:
        """The state a fresh miner of this kind starts with; override to add pools etc."""
        return MinerState(
            make=self.make,
            model=self.model,
            firmware=self.firmware,
            hardware=self.hardware,
            ip=self.address,
            seed=seed,
        )

    def make_servers(self) -> dict[str, SimServer]:
        """One server per name in ``default_ports``."""
        raise NotImplementedError

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a background action (restart, reboot ...) that :meth:`stop` will cancel."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ introspection
    @property
    def ports(self) -> dict[str, int]:
        """The ports actually used (after any unprivileged fallback), by server name."""
        return {
            name: srv.port if srv.port is not None else self._wanted[name]
            for name, srv in self.servers.items()
        }

    @property
    def counters(self) -> dict[str, Counters]:
        return {name: srv.counters for name, srv in self.servers.items()}

    def reset_counters(self) -> None:
        for srv in self.servers.values():
            srv.counters.reset()

    def describe(self) -> str:
        """One line saying where this miner listens."""
        ports = " ".join(f"{n}={p}" for n, p in self.ports.items())
        return f"{self.spec_kind}\t{self.address}\t{ports}"

    @property
    def spec_kind(self) -> str:
        """The kind as a spec names it: ``kind:version`` when the kind has several versions."""
        return f"{self.kind}:{self.served_version}" if self.versions else self.kind

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Listen on every port (servers in ``offline`` mode stay closed)."""
        if self.running:
            return
        await self._start_servers()
        self.running = True

    async def stop(self) -> None:
        """Close every listener and connection and cancel background actions."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._stop_servers()
        self.running = False

    async def __aenter__(self) -> SimMiner:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _start_servers(self, names: Iterable[str] | None = None) -> None:
        try:
            for name in names if names is not None else self.servers:
                server = self.servers[name]
                if server.behaviour.mode != "offline":
                    await self._bind(name, server)
        except BaseException:
            await self._stop_servers()
            raise

    async def _stop_servers(self) -> None:
        await asyncio.gather(*(srv.stop() for srv in self.servers.values()))

    async def _bind(self, name: str, server: SimServer) -> int:
        # after a pause or move, reuse the port we had so clients find us again
        port = server.port if server.port is not None else self._wanted[name]
        if 0 < port < 1024 and self.assume_unprivileged:
            return await self._bind_unprivileged(name, server, port)
        try:
            return await server.listen(self.address, port)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM) and 0 < port < 1024:
                return await self._bind_unprivileged(name, server, port)
            raise OSError(
                exc.errno,
                f"{self.kind}@{self.address}: cannot listen on {name} port {port}: "
                f"{exc.strerror or exc}"
                + (
                    " (the address is not on this host; any 127.x address works)"
                    if exc.errno == errno.EADDRNOTAVAIL
                    else ""
                ),
            ) from exc

    async def _bind_unprivileged(self, name: str, server: SimServer, port: int) -> int:
        """Port < 1024 without root: use 8000 + port (80 → 8080, 443 → 8443) or the next free."""
        taken = set(self._wanted.values()) | {
            s.port for s in self.servers.values() if s is not server and s.port
        }
        candidates = [p for p in range(8000 + port, 8000 + port + 20) if p not in taken]
        for candidate in [*candidates, 0]:
            try:
                bound = await server.listen(self.address, candidate)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    continue
                raise
            log.warning(
                "sim %s@%s: no permission to bind %s port %d (not root); listening on %d instead",
                self.kind,
                self.address,
                name,
                port,
                bound,
            )
            return bound
        raise AssertionError("port 0 always binds")  # pragma: no cover

    # ------------------------------------------------------------------ runtime changes
    async def set_mode(
        self,
        mode: Mode,
        *,
        servers: str | Iterable[str] | None = None,
        delay: float | None = None,
        huge_size: int | None = None,
    ) -> None:
        """Make some (default: all) servers misbehave, or return them to ``normal``.

        ``hang`` accepts and never answers, ``slow`` answers after ``delay`` s, ``garbage``
        sends random bytes, ``reset`` answers with an RST, ``huge`` sends ``huge_size`` bytes,
        ``offline`` stops listening (connect is refused) until another mode is set.
        """
        if mode not in MODES:
            raise ValueError(f"unknown misbehaviour mode {mode!r}; expected one of {MODES}")
        names = [servers] if isinstance(servers, str) else list(servers or self.servers)
        for name in names:
            if name not in self.servers:
                raise ValueError(f"{self.kind} has no server {name!r} ({sorted(self.servers)})")
        for name in names:
            server = self.servers[name]
            previous = server.behaviour.mode
            server.behaviour.mode = mode
            if delay is not None:
                server.behaviour.delay = delay
            if huge_size is not None:
                server.behaviour.huge_size = huge_size
            if mode == "offline":
                await server.stop()
            elif previous == "offline" and self.running:
                await self._bind(name, server)

    async def move_to(self, address: str) -> None:
        """Change IP (same MAC, serial and state), as after a new DHCP lease."""
        address = check_address(address)
        await self._stop_servers()
        old, self.address = self.address, address
        self.state.ip = address
        if self.running:
            await self._start_servers()
        log.info("sim %s moved %s -> %s", self.kind, old, address)

    async def reboot(self, downtime: float = 1.0) -> None:
        """Whole-box reboot: every port closes for ``downtime`` s and uptime restarts."""
        await asyncio.sleep(0.05)  # let the answer to the reboot request reach the client
        await self._stop_servers()
        self.state.reboot()
        await asyncio.sleep(downtime)
        if self.running:
            await self._start_servers()

    def begin_upgrade(self) -> bool:
        """Claim the one update slot; False when an update is already running."""
        if self.upgrading:
            return False
        self.upgrading = True
        return True

    def end_upgrade(self, data: bytes | None) -> None:
        """The upload ended: ``data`` None = it failed (the miner stays as it was, the slot is
        free again); else flash it, reboot and come back reporting the image's version."""
        if data is None:
            self.upgrading = False
            return
        self.spawn(self._flash(firmware_version_in(data)))

    def installed(self, version: str) -> None:
        """The box came back running ``version``; kinds whose version lives elsewhere extend it."""
        self.installed_version = version

    async def _flash(self, version: str | None) -> None:
        try:
            await asyncio.sleep(self.flash_time)
            await self._stop_servers()
            self.state.reboot()
            if version is not None:
                self.installed(version)
            await asyncio.sleep(self.flash_downtime)
            if self.running:
                await self._start_servers()
        finally:
            self.upgrading = False

    async def restart_service(self, names: Iterable[str], downtime: float = 0.5) -> None:
        """Restart the mining backend behind ``names``: those ports close for ``downtime`` s,
        its Elapsed and counters restart; other servers (the web UI) stay up."""
        names = list(names)
        for name in names:
            self.servers[name].close_listener()
        self.state.restart_backend()
        await asyncio.sleep(downtime)
        if self.running:
            await self._start_servers(names)


# ---------------------------------------------------------------------------- firmware images
SIM_VERSION_MARK = re.compile(rb"ASIC_BRIDGE_SIM_VERSION=([A-Za-z0-9._+\-]{1,64})")
"""How a test image names the version a simulator installs: this marker anywhere in the
image (inside a gzip stream too).  Real images carry their version in vendor-specific places
(tar member names, ESP32 app descriptors ...); one marker keeps every kind's test alike.  An
image without it re-installs the version already running."""


def firmware_version_in(data: bytes) -> str | None:
    """The version a (test) image installs, from its ``ASIC_BRIDGE_SIM_VERSION=`` marker."""
    found = SIM_VERSION_MARK.search(data)
    if found is None and data[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError, EOFError, zlib.error):
            found = SIM_VERSION_MARK.search(gzip.decompress(data))
    return found.group(1).decode() if found else None


def gzip_intact(data: bytes) -> bool:
    """True when ``data`` is one complete gzip stream (what ``tar z`` needs)."""
    try:
        gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return False
    return True


def tar_intact(data: bytes) -> bool:
    """True when ``data`` is a tar whose every member can be read to its end (what
    ``sysupgrade -T`` / ``tar x`` need)."""
    if len(data) < 512 or data[257:262] != b"ustar":
        return False
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for member in archive:
                handle = archive.extractfile(member)
                if handle is not None and len(handle.read()) != member.size:
                    return False
    except (tarfile.TarError, OSError, EOFError):
        return False
    return True


# ---------------------------------------------------------------------------- registry
KINDS: dict[str, type[SimMiner]] = {}
"""Every registered kind by name; call :func:`load_kinds` first to see them all."""

_FRAMEWORK_MODULES = frozenset(
    {"base", "state", "rpc_server", "http_server", "frame_server", "fleet"}
)

S = TypeVar("S", bound=type[SimMiner])


def register(cls: S) -> S:
    """Class decorator adding a kind to :data:`KINDS`."""
    for attr in ("kind", "make", "model", "firmware"):
        if not isinstance(getattr(cls, attr), str) or not getattr(cls, attr):
            raise TypeError(f"{cls.__name__}.{attr} must be a non-empty string")
    if not cls.default_ports:
        raise TypeError(f"{cls.__name__}.default_ports is empty")
    if any(c.isspace() or c in "@:" for c in cls.kind):
        raise TypeError(f"{cls.__name__}.kind {cls.kind!r} may not contain spaces, '@' or ':'")
    existing = KINDS.get(cls.kind)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(
            f"kind {cls.kind!r} registered twice ({existing.__name__}, {cls.__name__})"
        )
    KINDS[cls.kind] = cls
    return cls


def load_kinds() -> dict[str, type[SimMiner]]:
    """Import every kind module of this package (each registers itself)."""
    package = importlib.import_module(__package__ or "asic_bridge.sim")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in _FRAMEWORK_MODULES and not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")
    return KINDS


def list_kinds() -> list[tuple[str, str, str, str]]:
    """(kind, make, model, firmware) of every kind, sorted by kind.

    A kind with several firmware versions is listed once bare (its newest version) and once
    per version as ``kind:version``, the firmware column naming the version.
    """
    rows: list[tuple[str, str, str, str]] = []
    for kind, cls in sorted(load_kinds().items()):
        if not cls.versions:
            rows.append((kind, cls.make, cls.model, cls.firmware))
            continue
        rows.append((kind, cls.make, cls.model, f"{cls.firmware} {cls.versions[0]}"))
        rows.extend(
            (f"{kind}:{version}", cls.make, cls.model, f"{cls.firmware} {version}")
            for version in cls.versions
        )
    return rows


def check_address(address: str) -> str:
    """The address as a canonical IPv4 string, or a ValueError saying what is wrong."""
    try:
        return str(ipaddress.IPv4Address(address.strip()))
    except (ipaddress.AddressValueError, AttributeError):
        raise ValueError(f"{address!r} is not an IPv4 address (e.g. 127.0.0.2)") from None


def parse_spec(spec: str) -> tuple[str, str, int]:
    """Split ``KIND[:VERSION]@ADDRESS[:PORTOFFSET]`` into (kind, address, offset).

    The kind keeps its ``:VERSION`` suffix; :func:`split_kind` takes it apart.
    """
    usage = (
        "expected KIND[:VERSION]@ADDRESS[:PORTOFFSET], e.g. cgminer@127.0.0.2, "
        "vnish_s19jpro:1.2.0@127.0.0.3 or cgminer@127.0.0.1:10000"
    )
    if not isinstance(spec, str) or spec.count("@") != 1:
        raise ValueError(f"bad simulator spec {spec!r}: {usage}")
    kind, _, rest = spec.strip().partition("@")
    if not kind:
        raise ValueError(f"bad simulator spec {spec!r}: missing KIND; {usage}")
    address, sep, offset_text = rest.partition(":")
    try:
        address = check_address(address)
    except ValueError as exc:
        raise ValueError(f"bad simulator spec {spec!r}: {exc}") from None
    offset = 0
    if sep:
        if not offset_text.isdigit() or int(offset_text) > 65535:
            raise ValueError(
                f"bad simulator spec {spec!r}: port offset {offset_text!r} is not 0-65535"
            )
        offset = int(offset_text)
    return kind, address, offset


def split_kind(kind: str) -> tuple[str, str | None]:
    """``"vnish_s19jpro:1.2.0"`` -> ``("vnish_s19jpro", "1.2.0")``; no suffix -> version None."""
    name, sep, version = kind.partition(":")
    return name, (version if sep else None)


def create(spec: str) -> SimMiner:
    """Build (not start) the miner a ``KIND[:VERSION]@ADDRESS[:PORTOFFSET]`` spec describes."""
    kind, address, offset = parse_spec(spec)
    name, version = split_kind(kind)
    cls = load_kinds().get(name)
    if cls is None:
        known = ", ".join(sorted(KINDS)) or "none"
        raise ValueError(f"bad simulator spec {spec!r}: unknown kind {name!r} (known: {known})")
    if version is not None and version not in cls.versions:
        known = ", ".join(cls.versions) or "none (this kind has one version)"
        raise ValueError(
            f"bad simulator spec {spec!r}: {name} has no firmware version {version!r} "
            f"(known: {known})"
        )
    ports = {name: port + offset for name, port in cls.default_ports.items()}
    too_high = {n: p for n, p in ports.items() if p > 65535}
    if too_high:
        raise ValueError(
            f"bad simulator spec {spec!r}: offset {offset} pushes {too_high} past 65535"
        )
    return cls(address, ports=ports, version=version)
