"""What every driver shares: the get_data engine, identity, capabilities, control defaults.

A driver declares *what* it reads as a table ``FIELDS: {field: FieldSpec(sources, parser)}``.
Sources are named ``"<group>:<name>"`` (``"rpc:summary"``, ``"web:get_system_info"``); the
engine asks each group for all its names at once (one batched RPC request, concurrent HTTP
requests on one kept-alive client), all groups concurrently, under one deadline.  Parsers are
pure functions of the payloads, so one broken field is recorded in ``MinerData.field_errors``
and never discards the others.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Hashable,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, cast

from asic_bridge import settings
from asic_bridge.catalog import ModelInfo
from asic_bridge.credentials import DEFAULT_CREDENTIALS, Credentials
from asic_bridge.data import (
    Fan,
    HashBoard,
    MinerData,
    MinerErrorData,
    PoolMetrics,
    data_from,
)
from asic_bridge.data.miner_data import _now
from asic_bridge.drivers.firmware import FirmwareFile, FirmwareSource, load_firmware
from asic_bridge.errors import (
    APIError,
    AsicBridgeError,
    BusyError,
    ConfigError,
    MinerTimeoutError,
    NotAppliedError,
    UnsupportedError,
)
from asic_bridge.transport.deadline import Deadline
from asic_bridge.transport.rpc import RPCClient

if TYPE_CHECKING:
    from asic_bridge.config import (
        FanMode,
        MinerConfig,
        MiningPreset,
    )

_Client = TypeVar("_Client")


class Capability(StrEnum):
    """Controls a miner really supports; the bridge offers exactly these."""

    FAULT_LIGHT = "fault_light"
    REBOOT = "reboot"
    RESTART_BACKEND = "restart_backend"
    STOP_MINING = "stop_mining"  # stop_mining and resume_mining
    POWER_LIMIT = "power_limit"
    MINING_MODES = "mining_modes"  # normal / low / high (/ sleep) through send_config
    GET_CONFIG = "get_config"
    SEND_CONFIG = "send_config"
    FIRMWARE_UPGRADE = "firmware_upgrade"  # upgrade_firmware(file): the firmware takes uploads
    PRESETS = "presets"  # get_presets / set_preset: the firmware's own named presets
    FAN_CONTROL = "fan_control"  # set_fan_mode: the firmware takes a fan write (fan_modes())


@dataclass
class Identity:
    """What identification learned about a host; the static facts reused on every poll."""

    ip: str
    make: str
    firmware: str
    model: str | None = None
    raw_model: str | None = None
    algo: str = "SHA256"
    model_info: ModelInfo | None = None
    mac: str | None = None
    serial_number: str | None = None
    hostname: str | None = None
    fw_ver: str | None = None
    api_ver: str | None = None
    # Family-specific facts found while identifying (API generation, web flavour, ...).
    extra: dict[str, Any] = field(default_factory=dict)
    identified_at: float = field(default_factory=time.monotonic)


Parser = Callable[..., Any]


@dataclass(frozen=True)
class ParseContext:
    """Facts a parser may need besides the payload (unit conversions, expected counts)."""

    algo: str
    model_info: ModelInfo | None
    identity: Identity


@dataclass(frozen=True)
class FieldSpec:
    """How to produce one MinerData field: ``parse(ctx, *payloads_of(sources))``.

    ``static`` fields (MAC, serial, hostname, versions) are taken from the cached identity when
    known, and only fetched when identification did not learn them.
    """

    sources: tuple[str, ...]
    parse: Parser
    static: bool = False


# Fields a plain get_data() fills; "config" is only read when asked for (include=["config"]).
DEFAULT_EXCLUDED = frozenset({"config"})

_MISSING = object()


class _FieldError:
    """Why one field of a poll has no value (its ``field_errors`` message)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


#: Every MinerData field name (``include`` is checked against it on every poll).
_DATA_FIELDS = frozenset(MinerData.model_fields)
#: ``setattr`` on a MinerData without pydantic's Python ``__setattr__`` in front: the same
#: validation (``validate_assignment``), about half the cost; ~20 per poll.
_assign = MinerData.__pydantic_validator__.validate_assignment


class _Plan:
    """What one poll of a field selection does, given which static fields the identity knows:
    those taken from it (``cached``), the fields to fetch and their sources (None: the
    driver's ``_sources_for`` picks them per poll)."""

    __slots__ = ("cached", "parsed", "sources", "to_fetch")

    def __init__(
        self,
        cached: tuple[str, ...],
        to_fetch: dict[str, FieldSpec],
        sources: frozenset[str] | None,
        inline: bool,
    ) -> None:
        self.cached = cached
        self.to_fetch = to_fetch
        self.sources = sources
        #: (name, spec, its one source, or None: parsed through _parse_field) per field
        self.parsed = tuple(
            (name, spec, spec.sources[0] if inline and len(spec.sources) == 1 else None)
            for name, spec in to_fetch.items()
        )


class _Selection:
    """The fields one ``(driver, FIELDS table, include, exclude)`` asks for, worked out once
    (every poll of a fleet asks for one of a few selections), and its plans by which of its
    static fields the identity knows.  ``fields`` is held so the table's id stays its own."""

    __slots__ = ("config", "fields", "inline", "own_sources", "plans", "statics", "wanted")

    def __init__(
        self, fields: Mapping[str, FieldSpec], wanted: list[str], own: bool, inline: bool
    ) -> None:
        self.fields = fields
        self.wanted = tuple(wanted)
        self.statics = tuple(n for n in wanted if fields[n].static)
        self.config = "config" in wanted
        self.own_sources = own
        self.inline = inline
        self.plans: dict[tuple[bool, ...], _Plan] = {}

    def plan(self, known: tuple[bool, ...]) -> _Plan:
        """The plan when the statics flagged in ``known`` come from the identity (kept)."""
        taken = {n for n, k in zip(self.statics, known, strict=True) if k}
        fields = self.fields
        to_fetch = {n: fields[n] for n in self.wanted if n not in taken}
        sources = None
        if not self.own_sources:
            sources = frozenset(src for spec in to_fetch.values() for src in spec.sources)
        plan = self.plans[known] = _Plan(
            tuple(n for n in self.statics if n in taken), to_fetch, sources, self.inline
        )
        return plan


#: Field selections by (driver class, id of its FIELDS, include, exclude); bounded.
_SELECTIONS: dict[tuple[Any, ...], _Selection] = {}


class _Split:
    """A source set split by group, sorted: ``(group, names, "group:name" keys)`` each."""

    __slots__ = ("groups",)

    def __init__(self, sources: Collection[str]) -> None:
        groups: dict[str, list[str]] = {}
        for src in sorted(sources):
            group, _, name = src.partition(":")
            groups.setdefault(group, []).append(name)
        self.groups = tuple(
            (group, tuple(names), tuple(f"{group}:{n}" for n in names))
            for group, names in groups.items()
        )


#: Splits by source set (a plan's frozenset is the same object every poll); bounded.
_SPLITS: dict[frozenset[str], _Split] = {}
_CACHE_LIMIT = 512


@dataclass(frozen=True)
class PowerRange:
    """The watts a power target may take on this miner, and where the bounds came from.

    ``firmware``: the miner reported them (BOS+ bounds, VNish presets, ...), so they are the
    miner's own.  ``catalog``: the model table's range widened for tuning, a guess used only
    when the firmware reports none.  ``unknown``: nothing known; the miner decides.
    """

    low: int
    high: int
    source: Literal["firmware", "catalog", "unknown"]

    def as_dict(self) -> dict[str, Any]:
        return {"min": self.low, "max": self.high, "source": self.source}


if TYPE_CHECKING:
    Preset = MiningPreset
    """One of the firmware's named presets: ``name`` (what ``set_preset`` takes), ``power``
    (W) and ``hashrate`` (the algorithm's default unit) where the firmware rates it."""


def __getattr__(name: str) -> Any:
    # ``Preset`` (config.MiningPreset) stays importable from here without loading the
    # config models at import: a scan and get_data() never build one.
    if name == "Preset":
        from asic_bridge.config import MiningPreset

        return MiningPreset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


UNKNOWN_POWER_RANGE = PowerRange(1, 100_000, "unknown")
"""No range known: only absurd values are refused, the miner judges the rest."""


def normalize_mac(raw: object) -> str | None:
    """``AA-BB-CC-DD-EE-FF`` / ``aabb.ccdd.eeff`` -> ``aa:bb:cc:dd:ee:ff``; None if not a MAC."""
    if not isinstance(raw, str):
        return None
    digits = "".join(ch for ch in raw.lower() if ch in "0123456789abcdef")
    if len(digits) != 12 or digits == "0" * 12:
        return None
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


class BaseMiner:
    """The public surface of every miner (pyasic's names).  Drivers override what they can."""

    make: ClassVar[str] = "Unknown"
    firmware: ClassVar[str] = "Unknown"
    default_algo: ClassVar[str] = "SHA256"
    default_capabilities: ClassVar[frozenset[Capability]] = frozenset()
    # Mining modes send_config accepts (MinerConfig.mining_mode.mode values), for the bridge's
    # mode select; only meaningful with Capability.MINING_MODES.
    supported_modes: ClassVar[tuple[str, ...]] = ()
    # Fan modes the firmware takes (subset of config.FAN_MODES), for the bridge's fan select;
    # only offered with Capability.FAN_CONTROL (see fan_modes()).
    supported_fan_modes: ClassVar[tuple[str, ...]] = ()
    rpc_port: ClassVar[int] = 4028  # the CGMiner-style API port of this firmware
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {}

    def __init__(
        self,
        ip: str,
        *,
        identity: Identity | None = None,
        credentials: Credentials | None = None,
        ports: Mapping[str, int] | None = None,
        limits: settings.Limits | None = None,
    ) -> None:
        self.ip = ip
        #: The timeouts and size cap of this miner's requests (the settings when it was made).
        self.limits = limits or settings.limits()
        self.identity = identity or Identity(
            ip=ip, make=self.make, firmware=self.firmware, algo=self.default_algo
        )
        self.credentials = credentials or DEFAULT_CREDENTIALS
        self.ports: dict[str, int] = dict(ports or {})
        self.capabilities: frozenset[Capability] = self.default_capabilities
        self._lock = asyncio.Lock()
        self._upgrade_lock = asyncio.Lock()
        # kind ("rpc", "web", ...) -> (the key it was built for, the kept client)
        self._clients: dict[str, tuple[Hashable, Any]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._firmware_power_range: PowerRange | None = None
        self._parse_ctx: ParseContext | None = None  # see _parse_context

    # ------------------------------------------------------------ identity
    @property
    def model(self) -> str | None:
        return self.identity.model

    @property
    def algo(self) -> str:
        return self.identity.algo

    @property
    def model_info(self) -> ModelInfo | None:
        return self.identity.model_info

    @property
    def rpc(self) -> RPCClient:
        """The miner's RPC client, rebuilt only when its port override changes."""
        port = self.port("rpc", self.rpc_port)
        return self._client_for("rpc", port, lambda: RPCClient(self.ip, port, limits=self.limits))

    def _client_for(self, kind: str, key: Hashable, factory: Callable[[], _Client]) -> _Client:
        """The kept client of ``kind``, built by ``factory`` on first use and again whenever
        ``key`` (its port, or whatever else it was built from) changes; the replaced client
        is closed, so a port override never leaves a connection open behind it.  A kept
        client runs under the miner's :attr:`limits`."""
        slot = self._clients.get(kind)
        if slot is not None and slot[0] == key:
            return cast(_Client, slot[1])
        client = factory()
        self._set_client(kind, key, client)
        if slot is not None:
            self._close_later(slot[1])
        return client

    def _set_client(self, kind: str, key: Hashable, client: Any) -> None:
        """Keep ``client`` (one identification already opened) as the client of ``kind``."""
        if hasattr(client, "limits"):
            client.limits = self.limits
        self._clients[kind] = (key, client)

    def _close_later(self, client: object) -> None:
        close = getattr(client, "aclose", None)
        if close is None:
            return
        try:
            task = asyncio.get_running_loop().create_task(close())
        except RuntimeError:  # no loop running: nothing can be open
            return
        self._closing.add(task)
        task.add_done_callback(self._closed)

    def _closed(self, task: asyncio.Task[None]) -> None:
        self._closing.discard(task)
        if not task.cancelled():
            task.exception()  # a failed close of a replaced client is of no consequence

    def port(self, name: str, default: int) -> int:
        """The port for ``name`` (``"rpc"``, ``"http"`` ...), honouring per-host overrides."""
        return self.ports.get(name, default)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ip!r}, {self.make} {self.model}, {self.firmware})"

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def _require(self, capability: Capability, action: str) -> None:
        if capability not in self.capabilities:
            raise UnsupportedError(action, f"{self.make} {self.firmware}")

    async def aclose(self) -> None:
        """Close every kept client's connections (a client reopens lazily if used again)."""
        for _, client in list(self._clients.values()):
            close = getattr(client, "aclose", None)
            if close is not None:
                await close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    #: The type of the first source failure of the last get_data (None: every source
    #: answered), so the bridge can say why a poll got nothing (its metrics' reason label).
    #: A type, not the exception: that would keep its traceback and the payloads alive.
    last_error_type: type[BaseException] | None = None

    # ------------------------------------------------------------ get_data engine
    @classmethod
    def data_fields(cls) -> list[str]:
        return list(cls.FIELDS)

    async def get_data(
        self,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        allow_warning: bool = False,
    ) -> MinerData:
        """Read the miner once: every field the firmware offers, under one deadline.

        ``include`` limits the fields, ``exclude`` removes some (exclude wins).  A field that
        fails is named in ``field_errors``; the rest is still returned.
        """
        del allow_warning  # accepted for pyasic compatibility; warnings are field_errors here
        fields = self.FIELDS
        key = (
            type(self),
            id(fields),
            None if include is None else tuple(include),
            None if exclude is None else tuple(exclude),
        )
        selection = _SELECTIONS.get(key)
        if selection is None or selection.fields is not fields:
            selection = self._selection(fields, key)
        ctx = self._parse_context()
        started = _now()  # the reading's time: when the poll began, as a blank record has it
        values = self._blank_fields()  # the reading's fields, filled below
        # which static fields the identity knows picks the plan (they are not fetched)
        identity = self.identity
        known = []
        for name in selection.statics:
            value = getattr(identity, name, None)
            if value is not None:
                values[name] = value
            known.append(value is not None)
        plan = selection.plans.get(tuple(known)) or selection.plan(tuple(known))
        to_fetch = plan.to_fetch
        sources: Collection[str] | None = plan.sources
        if sources is None:  # a driver that picks its sources per poll
            sources = self._sources_for(to_fetch)
        raw = await self._fetch_sources(sources) if sources else {}
        error_type: type[BaseException] | None = None
        for value in raw.values():
            if isinstance(value, BaseException):
                error_type = type(value)
                break
        self.last_error_type = error_type
        read: list[str] = []  # fetched fields that got a value or an error, in order
        errors: dict[str, str] = {}
        for name, spec, source in plan.parsed:
            if source is None:  # several sources, or a driver's own _parse_field
                value = self._parse_field(name, spec, raw, ctx)
                if value is None:
                    continue
                if type(value) is _FieldError:
                    errors[name] = value.message
                    read.append(name)
                    continue
            else:  # one source: _parse_field's work without the call (most fields)
                payload = raw.get(source)
                if isinstance(payload, BaseException):
                    errors[name] = _describe(payload)
                    read.append(name)
                    continue
                try:
                    value = spec.parse(ctx, payload)
                except Exception as exc:
                    errors[name] = f"could not parse {name}: {_describe(exc)}"
                    read.append(name)
                    continue
                if value is None:
                    continue
            values[name] = value
            read.append(name)
        data = self._build_data(values, errors, plan.cached, read, started)
        if not selection.config:
            return data
        if data.wattage_limit is None and data.config is not None:
            mode = data.config.mining_mode
            power = getattr(mode, "power", None)
            if isinstance(power, int):
                data.wattage_limit = power
        if data.config is not None and data.config.fan_mode is not None:
            from asic_bridge.config import FanModeManual  # loaded: data.config is one

            fan = data.config.fan_mode
            if data.fan_mode is None:
                data.fan_mode = fan.mode
            if data.fan_percent is None and isinstance(fan, FanModeManual):
                data.fan_percent = fan.speed  # a manual setting is the duty the fans run at
        return data

    def _selection(self, fields: Mapping[str, FieldSpec], key: tuple[Any, ...]) -> _Selection:
        """The selection for ``key`` (see get_data), worked out and kept."""
        wanted = self._select_fields(key[2], key[3])
        own = type(self)._sources_for is not BaseMiner._sources_for
        inline = type(self)._parse_field is BaseMiner._parse_field
        selection = _Selection(fields, wanted, own, inline)
        if len(_SELECTIONS) >= _CACHE_LIMIT:
            _SELECTIONS.clear()
        _SELECTIONS[key] = selection
        return selection

    def _sources_for(self, fields: Mapping[str, FieldSpec]) -> set[str]:
        """The sources to fetch for ``fields`` (a driver may leave out one it can spare)."""
        return {src for spec in fields.values() for src in spec.sources}

    def _select_fields(
        self, include: Iterable[str] | None, exclude: Iterable[str] | None
    ) -> list[str]:
        known = self.FIELDS
        if include is not None:
            include = list(include)
            unknown = [n for n in include if n not in _DATA_FIELDS]
            if unknown:
                raise ValueError(f"unknown MinerData field(s): {', '.join(unknown)}")
            wanted = [n for n in include if n in known]
        else:
            wanted = [n for n in known if n not in DEFAULT_EXCLUDED]
        excluded = set(exclude or ())
        return [n for n in wanted if n not in excluded]

    def _blank_fields(self) -> dict[str, Any]:
        """What every reading of this miner starts from: who it is and what its model expects."""
        ident = self.identity
        blank: dict[str, Any] = {
            "ip": self.ip,
            "make": ident.make,
            "model": ident.model or ident.raw_model,
            "firmware": ident.firmware,
            "algo": ident.algo,
        }
        info = self.model_info
        if info is not None:
            blank["expected_hashboards"] = info.hashboards
            blank["expected_chips"] = info.expected_chips
            blank["expected_fans"] = info.fans
            blank["sticker_hashrate"] = info.nominal_hashrate
        return blank

    def _blank_data(self) -> MinerData:
        """A reading with nothing read yet (identity and the model's expectations only)."""
        return MinerData(**self._blank_fields())

    def _parse_field(
        self, name: str, spec: FieldSpec, raw: Mapping[str, Any], ctx: ParseContext
    ) -> Any:
        """The parsed value of one field (None: not reported), or a :class:`_FieldError`."""
        sources = spec.sources
        if len(sources) == 1:  # most fields: no lists built
            payload = raw.get(sources[0])
            if isinstance(payload, BaseException):
                return _FieldError(_describe(payload))
            payloads: tuple[Any, ...] | list[Any] = (payload,)
        else:
            payloads = [raw.get(src) for src in sources]
            failed = [p for p in payloads if isinstance(p, BaseException)]
            if failed:
                return _FieldError(_describe(failed[0]))
        try:
            return spec.parse(ctx, *payloads)
        except Exception as exc:  # a parser bug or an unexpected payload shape
            return _FieldError(f"could not parse {name}: {_describe(exc)}")

    def _parse_context(self) -> ParseContext:
        """The parsers' context, kept while the identity it was made from stays the same."""
        ctx = self._parse_ctx
        identity = self.identity
        if (
            ctx is None
            or ctx.identity is not identity
            or ctx.algo != identity.algo
            or ctx.model_info is not identity.model_info
        ):
            ctx = self._parse_ctx = ParseContext(self.algo, self.model_info, identity)
        return ctx

    def _build_data(
        self,
        values: dict[str, Any],
        errors: dict[str, str],
        cached: Sequence[str],
        read: list[str],
        started: dt.datetime,
    ) -> MinerData:
        """The reading from the blank fields, the identity's and the parsed values, validated
        once as a whole.

        One model validation instead of one ``validate_assignment`` per field (~20 a poll,
        each paying pydantic's call overhead); when a value fails validation, the reading is
        built again field by field so that field alone is named in ``field_errors``, exactly
        as assigning each would have done.  Static fields read are kept in the identity.
        """
        values["datetime"] = started
        try:
            data = data_from(values)
        except Exception:  # a value the model refuses: find which, as assigning would
            return self._build_each(values, errors, cached, read, started)
        # a blank record's datetime comes from its default: not a field "set" (as before)
        data.__pydantic_fields_set__.discard("datetime")
        if errors:
            data.field_errors.update(errors)
        fields = self.FIELDS
        identity = self.identity
        for name in read:
            if fields[name].static and name not in errors and hasattr(identity, name):
                setattr(identity, name, values[name])
        return data

    def _build_each(
        self,
        values: dict[str, Any],
        errors: dict[str, str],
        cached: Sequence[str],
        read: list[str],
        started: dt.datetime,
    ) -> MinerData:
        """The reading one assignment per field: a value that fails validation is that
        field's error and the others stay (the slow path of :meth:`_build_data`).  Errors
        and values are assigned in the order the fields were asked for, as they were read."""
        data = self._blank_data()
        data.datetime = started
        data.__pydantic_fields_set__.discard("datetime")
        for name in cached:
            _assign(data, name, values[name])
        fields = self.FIELDS
        identity = self.identity
        for name in read:
            if name in errors:
                data.field_errors[name] = errors[name]
                continue
            value = values[name]
            try:
                _assign(data, name, value)
            except Exception as exc:
                data.field_errors[name] = f"could not parse {name}: {_describe(exc)}"
                continue
            if fields[name].static and hasattr(identity, name):
                setattr(identity, name, value)
        return data

    async def _fetch_sources(self, sources: Collection[str]) -> dict[str, Any]:
        """Fetch every source, the groups concurrently under one ``api_function_timeout``
        deadline: the first group (in sorted order) awaited in place, a task for each other
        (most polls have one group: no task at all; a task costs a loop turn).

        Groups that finish in time keep their payloads; the others are cancelled and become
        timeout errors.  A cancellation of the poll cancels every group's task and propagates.
        """
        key = sources if type(sources) is frozenset else frozenset(sources)
        split = _SPLITS.get(key)
        if split is None:
            if len(_SPLITS) >= _CACHE_LIMIT:
                _SPLITS.clear()
            split = _SPLITS[key] = _Split(key)
        groups = split.groups
        if not groups:
            return {}
        timeout = self.limits.request_timeout
        fetch = self._fetch_group
        tasks = [asyncio.ensure_future(fetch(group, list(names))) for group, names, _ in groups[1:]]
        first: Any = _MISSING
        deadline = Deadline(timeout)
        try:
            with deadline:  # a plain with: it awaits nothing
                try:
                    first = await fetch(groups[0][0], list(groups[0][1]))
                except Exception as exc:
                    first = exc
                for task in tasks:
                    if not task.done():
                        # a deadline or a cancellation here cancels the awaited task too
                        try:
                            await task
                        except Exception:
                            continue  # its outcome is read below
        except TimeoutError:
            if not deadline.expired():
                raise
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        outcomes: list[Any] = [
            self._group_timeout(groups[0][0], timeout) if first is _MISSING else first
        ]
        if tasks:
            pending = [task for task in tasks if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            for (group, _, _), task in zip(groups[1:], tasks, strict=True):
                if task.cancelled() and deadline.expired():
                    outcomes.append(self._group_timeout(group, timeout))
                else:
                    outcomes.append(task.exception() or task.result())
        result: dict[str, Any] = {}
        for (_, names, keys), outcome in zip(groups, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                for src in keys:
                    result[src] = outcome
            else:
                for n, src in zip(names, keys, strict=True):
                    # the error only built for a missing payload (a default argument would
                    # build one for every source of every poll)
                    result[src] = (
                        outcome[n]
                        if n in outcome
                        else APIError("no payload", ip=self.ip, command=n)
                    )
        return result

    def _group_timeout(self, group: str, timeout: float) -> MinerTimeoutError:
        return MinerTimeoutError(f"no answer within {timeout:g} s", ip=self.ip, command=group)

    @staticmethod
    async def _fetch_each(
        names: list[str], fetch: Callable[[str], Awaitable[Any]]
    ) -> dict[str, Any]:
        """``{name: await fetch(name)}`` run concurrently; a failed request becomes its name's
        value (so the other fields still arrive), while cancellation propagates to the engine
        (and cancels the requests still running).

        The first name is awaited in place, a task for each other (gather would make a task
        for every one, and its gathering future): most polls have one name, so no task.
        """
        first = names[0]
        if len(names) == 1:
            try:
                return {first: await fetch(first)}
            except Exception as exc:
                return {first: exc}
        rest = names[1:]
        tasks = [asyncio.ensure_future(fetch(name)) for name in rest]
        out: dict[str, Any] = {}
        try:
            try:
                out[first] = await fetch(first)
            except Exception as exc:
                out[first] = exc
            for name, task in zip(rest, tasks, strict=True):
                try:
                    out[name] = await task
                except Exception as exc:
                    out[name] = exc
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        return out

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        """Return ``{name: payload or exception}`` for one source group.  Drivers implement."""
        raise NotImplementedError(f"{type(self).__name__} has no source group {group!r}")

    # ------------------------------------------------------------ single-field getters
    async def _get_field(self, name: str) -> Any:
        data = await self.get_data(include=[name])
        if name in data.field_errors:
            raise APIError(data.field_errors[name], ip=self.ip, command=f"get_{name}")
        if name not in self.FIELDS:
            raise UnsupportedError(f"reading {name}", f"{self.make} {self.firmware}")
        return getattr(data, name)

    async def get_model(self) -> str | None:
        return self.identity.model or self.identity.raw_model

    async def get_mac(self) -> str | None:
        return self.identity.mac or await self._get_field("mac")

    async def get_serial_number(self) -> str | None:
        return await self._get_field("serial_number")  # type: ignore[no-any-return]

    async def get_hostname(self) -> str | None:
        return await self._get_field("hostname")  # type: ignore[no-any-return]

    async def get_fw_ver(self) -> str | None:
        return await self._get_field("fw_ver")  # type: ignore[no-any-return]

    async def get_api_ver(self) -> str | None:
        return await self._get_field("api_ver")  # type: ignore[no-any-return]

    async def get_hashrate(self) -> float | None:
        return await self._get_field("hashrate")  # type: ignore[no-any-return]

    async def get_expected_hashrate(self) -> float | None:
        return await self._get_field("expected_hashrate")  # type: ignore[no-any-return]

    async def get_hashboards(self) -> list[HashBoard]:
        return await self._get_field("hashboards")  # type: ignore[no-any-return]

    async def get_env_temp(self) -> float | None:
        return await self._get_field("env_temp")  # type: ignore[no-any-return]

    async def get_wattage(self) -> int | None:
        return await self._get_field("wattage")  # type: ignore[no-any-return]

    async def get_wattage_limit(self) -> int | None:
        return await self._get_field("wattage_limit")  # type: ignore[no-any-return]

    async def get_fans(self) -> list[Fan]:
        return await self._get_field("fans")  # type: ignore[no-any-return]

    async def get_fan_psu(self) -> int | None:
        return await self._get_field("fan_psu")  # type: ignore[no-any-return]

    async def get_pools(self) -> list[PoolMetrics]:
        return await self._get_field("pools")  # type: ignore[no-any-return]

    async def get_uptime(self) -> int | None:
        return await self._get_field("uptime")  # type: ignore[no-any-return]

    async def get_errors(self) -> list[MinerErrorData]:
        return await self._get_field("errors")  # type: ignore[no-any-return]

    async def get_fault_light(self) -> bool | None:
        return await self._get_field("fault_light")  # type: ignore[no-any-return]

    async def check_light(self) -> bool | None:
        return await self.get_fault_light()

    async def is_mining(self) -> bool | None:
        return await self._get_field("is_mining")  # type: ignore[no-any-return]

    # ------------------------------------------------------------ controls
    async def fault_light_on(self) -> bool:
        self._require(Capability.FAULT_LIGHT, "fault_light_on")
        return await self._set_fault_light(True)

    async def fault_light_off(self) -> bool:
        self._require(Capability.FAULT_LIGHT, "fault_light_off")
        return await self._set_fault_light(False)

    async def reboot(self) -> bool:
        self._require(Capability.REBOOT, "reboot")
        return await self._reboot()

    async def restart_backend(self) -> bool:
        self._require(Capability.RESTART_BACKEND, "restart_backend")
        return await self._restart_backend()

    async def stop_mining(self) -> bool:
        self._require(Capability.STOP_MINING, "stop_mining")
        return await self._set_mining(False)

    async def resume_mining(self) -> bool:
        self._require(Capability.STOP_MINING, "resume_mining")
        return await self._set_mining(True)

    async def set_power_limit(self, wattage: int) -> bool:
        """Set the power target in watts, checked against the model's known range."""
        self._require(Capability.POWER_LIMIT, "set_power_limit")
        if isinstance(wattage, bool) or not isinstance(wattage, int) or wattage <= 0:
            raise ConfigError(
                f"power limit must be a positive whole number of watts, got {wattage!r}"
            )
        bounds = await self.get_power_range()
        if not bounds.low <= wattage <= bounds.high:
            raise ConfigError(
                f"power limit {wattage} W is outside {bounds.low}-{bounds.high} W for "
                f"{self.model} (range from the {bounds.source})"
            )
        try:
            return await self._set_power_limit(wattage)
        except NotAppliedError as exc:
            self._learn_power_bound(wattage, exc.applied)
            raise

    def _learn_power_bound(self, wanted: int, applied: object) -> None:
        """A miner that clamped a power target has shown one of its real bounds: keep it, so
        the next plan or validation uses the firmware's limit instead of the catalog's guess."""
        if isinstance(applied, bool) or not isinstance(applied, int) or applied <= 0:
            return
        bounds = self.power_range()
        if bounds.source == "firmware" and bounds.low <= applied <= bounds.high:
            return  # the firmware's own range already holds it: not a clamp to learn from
        low, high = bounds.low, bounds.high
        if applied < wanted:
            high = applied
        elif applied > wanted:
            low = applied
        self._firmware_power_range = PowerRange(min(low, high), high, "firmware")

    async def get_power_range(self) -> PowerRange:
        """The miner's power-target bounds: read from the firmware once where it reports them
        (:meth:`_read_power_range`), else the catalog's guess, else unknown."""
        if self._firmware_power_range is None and self.supports(Capability.POWER_LIMIT):
            read = await self._read_power_range()
            if read is not None and 0 < read[0] <= read[1]:
                self._firmware_power_range = PowerRange(int(read[0]), int(read[1]), "firmware")
        return self.power_range()

    def power_range(self) -> PowerRange:
        """The best range known without I/O (the firmware's once read, else the catalog's)."""
        if self._firmware_power_range is not None:
            return self._firmware_power_range
        info = self.model_info
        if info is not None and info.power_min and info.power_max:
            return PowerRange(
                max(100, int(info.power_min * 0.5)), int(info.power_max * 1.2), "catalog"
            )
        return UNKNOWN_POWER_RANGE

    def power_limit_range(self) -> tuple[int, int]:
        """``(low, high)`` of :meth:`power_range` (the older name, kept for callers)."""
        bounds = self.power_range()
        return bounds.low, bounds.high

    async def get_config(self) -> MinerConfig:
        self._require(Capability.GET_CONFIG, "get_config")
        return await self._get_config()

    async def set_mode(self, mode: str) -> bool:
        """Switch to one of ``supported_modes`` (normal/low/high/sleep) keeping all else."""
        from asic_bridge.config import MinerConfig

        self._require(Capability.MINING_MODES, "set_mode")
        if mode not in self.supported_modes:
            raise ConfigError(
                f"mode {mode!r} is not one of {', '.join(self.supported_modes)} for {self.model}"
            )
        config = MinerConfig.from_dict({"mining_mode": {"mode": mode}})
        await self.send_config(config)
        return True

    def fan_modes(self) -> tuple[str, ...]:
        """The fan modes ``set_fan_mode`` takes here ("normal", "manual", "immersion");
        empty when the firmware has no fan write."""
        from asic_bridge.config import FAN_MODES

        if not self.supports(Capability.FAN_CONTROL):
            return ()
        return tuple(m for m in FAN_MODES if m in self.supported_fan_modes)

    async def set_fan_mode(self, mode: FanMode | Mapping[str, Any]) -> None:
        """Switch the fans to ``mode`` (a FanMode, or its dict such as ``{"mode": "manual",
        "speed": 60}``), confirmed by reading it back (NotAppliedError when the miner runs
        something else).  A mode this firmware lacks is an UnsupportedError and a bad value
        (speed outside 0-100) a ConfigError; nothing is sent for either."""
        from asic_bridge.config import check_fan_mode, lacks_minimums, with_live_minimums

        self._require(Capability.FAN_CONTROL, "set_fan_mode")
        wanted = check_fan_mode(mode)
        if wanted.mode not in self.fan_modes():
            raise UnsupportedError(
                f"fan mode {wanted.mode!r} (this firmware takes {', '.join(self.fan_modes())})",
                f"{self.make} {self.firmware}",
            )
        if self.supports(Capability.GET_CONFIG) and lacks_minimums(wanted):
            wanted = with_live_minimums(wanted, (await self._get_config()).fan_mode)
        await self._set_fan_mode(wanted)

    async def _set_fan_mode(self, mode: FanMode) -> None:
        """Write ``mode`` and confirm it.  The default goes through ``send_config`` with only
        ``fan_mode`` set and reads ``get_config`` back; drivers with a dedicated call (or a
        send_config that already confirms) override it."""
        from asic_bridge.config import MinerConfig

        await self.send_config(MinerConfig(fan_mode=mode))
        applied = (await self._get_config()).fan_mode
        self._confirm_fan_mode(mode, applied, "send_config")

    def _confirm_fan_mode(self, wanted: FanMode, applied: FanMode | None, command: str) -> None:
        """NotAppliedError unless the read-back runs the wanted mode (for manual, the wanted
        speed) with the minimums asked for, where the firmware reports them."""
        from asic_bridge.config import fan_mode_shown

        self._confirm_applied("fan mode", *fan_mode_shown(wanted, applied), command)

    async def get_presets(self) -> list[Preset]:
        """The firmware's own presets, in its order (VNish presets, LuxOS profiles)."""
        self._require(Capability.PRESETS, "get_presets")
        return await self._get_presets()

    async def get_active_preset(self) -> str | None:
        """The name of the preset the miner runs (one of :meth:`get_presets`)."""
        self._require(Capability.PRESETS, "get_active_preset")
        return await self._get_field("active_preset")  # type: ignore[no-any-return]

    async def set_preset(self, name: str) -> bool:
        """Run the preset ``name``; checked against the firmware's list before anything is
        sent, and read back (NotAppliedError when the miner runs another one)."""
        self._require(Capability.PRESETS, "set_preset")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a preset is named by a non-empty string, got {name!r:.40}")
        names = [p.name for p in await self._get_presets()]
        if name not in names:
            raise ConfigError(
                f"preset {name[:40]!r} is not one of this miner's: {', '.join(names)}"
            )
        return await self._set_preset(name)

    async def send_config(self, config: MinerConfig, user_suffix: str | None = None) -> None:
        """Write ``config``; parts left ``None`` keep their live values (read-modify-write)."""
        from asic_bridge.config import MinerConfig

        self._require(Capability.SEND_CONFIG, "send_config")
        if not isinstance(config, MinerConfig):
            raise ConfigError(f"send_config needs a MinerConfig, got {type(config).__name__}")
        async with self._lock:
            live = await self._get_config()
            merged = config.merged_over(live)
            if user_suffix and merged.pools is not None:
                merged = _with_user_suffix(merged, user_suffix)
            await self._send_config(merged, live)

    async def upgrade_firmware(
        self,
        file: FirmwareSource | FirmwareFile | None = None,
        *,
        url: str | None = None,
        version: str | None = None,
        keep_settings: bool = True,
    ) -> bool:
        """Upload a firmware image (a path or its bytes) the way the vendor's web UI / API
        does; True once the firmware accepted it (it then flashes and reboots by itself).

        pyasic's signature.  The file is checked first as the firmware's updater would (type,
        magic, size): a wrong file is a ConfigError and nothing is sent.  A refusal by the
        miner is a CommandError with its message; a second update while one is running on
        this miner is a BusyError.  ``url``/``version`` (download by the miner) are not offered.
        """
        self._require(Capability.FIRMWARE_UPGRADE, "upgrade_firmware")
        if url is not None or version is not None:
            raise ConfigError("upgrade_firmware takes a file (path or bytes), not a url/version")
        if file is None:
            raise ConfigError("upgrade_firmware needs the firmware file (a path or its bytes)")
        if not isinstance(keep_settings, bool):
            raise ConfigError(f"keep_settings must be true or false, got {keep_settings!r}")
        firmware = self.check_firmware(file)
        if self._upgrade_lock.locked():
            raise BusyError(
                "a firmware update is already running on this miner",
                ip=self.ip,
                command="upgrade_firmware",
            )
        async with self._upgrade_lock:
            result = await self._upgrade_firmware(firmware, keep_settings)
            # the version facts are static: forget them so the rebooted miner is asked again
            self.identity.fw_ver = None
            self.identity.api_ver = None
            return result

    def check_firmware(self, file: FirmwareSource | FirmwareFile) -> FirmwareFile:
        """The image loaded and checked as :meth:`upgrade_firmware` checks it, nothing sent:
        a ConfigError says why it cannot be an image for this firmware (the bridge refuses a
        wrong file before any miner of a group is touched)."""
        self._require(Capability.FIRMWARE_UPGRADE, "upgrade_firmware")
        firmware = load_firmware(file)
        self._check_firmware(firmware)
        return firmware

    # Driver hooks --------------------------------------------------------------------
    def _check_firmware(self, firmware: FirmwareFile) -> None:
        """Raise ConfigError when ``firmware`` cannot be an image for this firmware."""

    async def _upgrade_firmware(self, firmware: FirmwareFile, keep_settings: bool) -> bool:
        raise UnsupportedError("upgrade_firmware", f"{self.make} {self.firmware}")

    async def _set_fault_light(self, on: bool) -> bool:
        raise UnsupportedError("fault light", f"{self.make} {self.firmware}")

    async def _reboot(self) -> bool:
        raise UnsupportedError("reboot", f"{self.make} {self.firmware}")

    async def _restart_backend(self) -> bool:
        raise UnsupportedError("restart_backend", f"{self.make} {self.firmware}")

    async def _set_mining(self, on: bool) -> bool:
        raise UnsupportedError("stop/resume mining", f"{self.make} {self.firmware}")

    async def _set_power_limit(self, wattage: int) -> bool:
        raise UnsupportedError("set_power_limit", f"{self.make} {self.firmware}")

    async def _get_config(self) -> MinerConfig:
        raise UnsupportedError("get_config", f"{self.make} {self.firmware}")

    async def _get_presets(self) -> list[Preset]:
        raise UnsupportedError("presets", f"{self.make} {self.firmware}")

    async def _set_preset(self, name: str) -> bool:
        """Write the (already validated) preset and confirm it by reading it back."""
        raise UnsupportedError("presets", f"{self.make} {self.firmware}")

    def _confirm_applied(self, what: str, wanted: object, applied: object, command: str) -> None:
        """Raise NotAppliedError when the read-back ``applied`` is not what was ``wanted``
        (the miner answered ok but ignored or clamped the write)."""
        if applied != wanted:
            raise NotAppliedError(
                f"{what}: asked for {wanted}, the miner reports {applied}",
                wanted=wanted,
                applied=applied,
                ip=self.ip,
                command=command,
            )

    async def _read_power_range(self) -> tuple[int, int] | None:
        """The firmware's own power-target bounds in watts, or None where it reports none.

        Drivers whose firmware publishes bounds (BOS+, VNish presets, LuxOS profiles, ePIC,
        Auradine, Whatsminer ...) override this; errors propagate (the caller decides)."""
        return None

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        raise UnsupportedError("send_config", f"{self.make} {self.firmware}")


def _with_user_suffix(config: MinerConfig, suffix: str) -> MinerConfig:
    assert config.pools is not None
    pools = config.pools.model_copy(deep=True)
    for group in pools.groups:
        for pool in group.pools:
            if pool.user and not pool.user.endswith(f".{suffix}"):
                pool.user = f"{pool.user}.{suffix}"
    return config.model_copy(update={"pools": pools})


def _describe(exc: BaseException) -> str:
    if isinstance(exc, AsicBridgeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class UnknownMiner(BaseMiner):
    """Something answered but could not be identified; ``identity.extra`` holds what was seen."""

    make = "Unknown"
    firmware = "Unknown"


Fetcher = Callable[[], Awaitable[Any]]
