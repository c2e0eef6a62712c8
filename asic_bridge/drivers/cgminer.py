"""The generic CGMiner family: CGMiner 4.x, BMMiner (old Antminers without a usable web UI)
and BFGMiner, spoken to over nothing but the CGMiner-style RPC on port 4028.

This family is tried *last*: it claims any host whose ``version`` answer names CGMiner,
BMMiner or BFGMiner and that no more specific family recognised.

What the API offers, and so what this driver does:

* one batched ``summary+stats+pools+devs`` request per reading (``version`` only when
  identification did not already learn the static facts);
* hashrate from ``GHS 5s``/``MHS 5s`` (BFGMiner: ``MHS 20s``) with the unit the key names;
  per-board readings from BMMiner's ``chain_*``/``temp*``/``fan*`` keys in ``stats``, else one
  board per ``devs`` entry;
* controls: ``restart`` (restart_backend) and pool changes through ``addpool`` /
  ``switchpool`` / ``removepool`` - only when the API grants write access (``privileged``),
  which is checked once at identification.  ``quit`` is not offered: it stops the backend with
  no way to resume it over the API.  No fault light, reboot, power limit or mining modes
  exist in this API, so those calls raise :class:`UnsupportedError`.

The parsers here are also used by other CGMiner-based families (Avalon).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from asic_bridge import catalog
from asic_bridge.credentials import Credentials
from asic_bridge.data import (
    Fan,
    HashBoard,
    MinerErrorData,
    PoolMetrics,
    board_from,
    pool_from,
    to_default,
)
from asic_bridge.drivers import Evidence, Family
from asic_bridge.drivers.base import (
    BaseMiner,
    Capability,
    FieldSpec,
    Identity,
    ParseContext,
)
from asic_bridge.drivers.values import number, whole
from asic_bridge.errors import APIError, CommandError, ConfigError, UnsupportedError
from asic_bridge.transport.rpc import RPCClient

if TYPE_CHECKING:
    from asic_bridge.config import MinerConfig, Pool, PoolConfig

__all__ = [
    "FAMILIES",
    "CGMiner",
    "first_entry",
    "model_name",
    "parse_api_ver",
    "parse_pools",
    "parse_pools_config",
    "parse_summary_hashrate",
    "parse_uptime",
    "sensor_reading",
    "validate_pool_field",
]

RPC_PORT = 4028

# ---------------------------------------------------------------------------------------------
# Small, total helpers: they never raise on a bad value, they return None.


def first_entry(payload: object, section: str) -> dict[str, Any] | None:
    """``payload[section][0]`` when it is a dict (the usual CGMiner reply shape), else None."""
    if type(payload) is not dict and not isinstance(payload, Mapping):  # dict: no ABC check
        return None
    items = payload.get(section)
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return items[0]
    if isinstance(items, dict):
        return items
    return None


def entries(payload: object, section: str) -> list[dict[str, Any]]:
    """Every dict in ``payload[section]``."""
    if type(payload) is not dict and not isinstance(payload, Mapping):  # dict: no ABC check
        return []
    items = payload.get(section)
    if isinstance(items, dict):
        return [items]
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict)]


# ---------------------------------------------------------------------------------------------
# Pure parsers (ctx, payload...) -> value or None.

# (key, unit) in order of preference: the shortest averaging window first.
_SUMMARY_RATE_KEYS: tuple[tuple[str, str], ...] = (
    ("GHS 5s", "GH/s"),
    ("MHS 5s", "MH/s"),
    ("KHS 5s", "KH/s"),
    ("MHS 20s", "MH/s"),  # BFGMiner
    ("GHS 30s", "GH/s"),
    ("MHS 30s", "MH/s"),
    ("MHS 1m", "MH/s"),
    ("GHS av", "GH/s"),
    ("MHS av", "MH/s"),
    ("KHS av", "KH/s"),
)


def rate_from(entry: Mapping[str, Any], keys: Sequence[tuple[str, str]], algo: str) -> float | None:
    """The first ``keys`` entry present as a number, converted to ``algo``'s default unit."""
    for key, unit in keys:
        value = number(entry.get(key))
        if value is not None:
            return to_default(max(value, 0.0), unit, algo)
    return None


def parse_summary_hashrate(ctx: ParseContext, summary: object) -> float | None:
    """The current hashrate from ``summary`` (GHS 5s / MHS 5s / ... whichever the miner has)."""
    entry = first_entry(summary, "SUMMARY")
    if entry is None:
        raise ValueError("summary has no SUMMARY section")
    return rate_from(entry, _SUMMARY_RATE_KEYS, ctx.algo)


def parse_uptime(ctx: ParseContext, summary: object) -> int | None:
    """Seconds the mining backend has been running (``Elapsed``)."""
    entry = first_entry(summary, "SUMMARY")
    if entry is None:
        raise ValueError("summary has no SUMMARY section")
    value = whole(entry.get("Elapsed"))
    return value if value is not None and value >= 0 else None


def parse_is_mining(ctx: ParseContext, summary: object) -> bool | None:
    """Mining = the backend reports a non-zero current hashrate."""
    rate = parse_summary_hashrate(ctx, summary)
    return None if rate is None else rate > 0


def parse_api_ver(ctx: ParseContext, version: object) -> str | None:
    entry = first_entry(version, "VERSION")
    if entry is None:
        raise ValueError("version has no VERSION section")
    value = entry.get("API")
    return str(value) if value not in (None, "") else None


_PROGRAM_KEYS = ("CGMiner", "BMMiner", "BFGMiner", "cgminer", "bmminer", "bfgminer")


def model_name(raw_type: str) -> str:
    """The model part of ``VERSION[0].Type``: its first line.

    A stock S9 build of July 2019 appends the board version after a line break
    (``"Antminer S9\nV1.3.58"``, real capture), which no model name contains.
    """
    lines = raw_type.strip().splitlines()
    return lines[0].strip() if lines else ""


def program_of(version_entry: Mapping[str, Any]) -> tuple[str, str] | None:
    """(program name, its version) from a VERSION entry, e.g. ("BMMiner", "2.0.0")."""
    for key in _PROGRAM_KEYS:
        value = version_entry.get(key)
        if isinstance(value, str) and value:
            return key, value
    return None


def parse_cgminer_fw_ver(ctx: ParseContext, version: object) -> str | None:
    """The firmware build: BMMiner's ``CompileTime``/``Miner``, else the program's version."""
    entry = first_entry(version, "VERSION")
    if entry is None:
        raise ValueError("version has no VERSION section")
    for key in ("CompileTime", "Miner"):
        value = entry.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    program = program_of(entry)
    return program[1] if program else None


def parse_pools(ctx: ParseContext, pools: object) -> list[PoolMetrics]:
    """Every configured pool with its share counters (CGMiner ``pools``)."""
    if not isinstance(pools, Mapping):
        raise ValueError("pools answer is not an object")
    out: list[PoolMetrics] = []
    for position, item in enumerate(entries(pools, "POOLS")):
        url = item.get("URL")
        index = whole(item.get("POOL"))
        active = item.get("Stratum Active")
        out.append(
            pool_from(
                {
                    "url": str(url) if url not in (None, "") else None,
                    "user": str(item["User"]) if item.get("User") is not None else None,
                    "index": index if index is not None else position,
                    "accepted": whole(item.get("Accepted")),
                    "rejected": whole(item.get("Rejected")),
                    "get_failures": whole(item.get("Get Failures")),
                    "remote_failures": whole(item.get("Remote Failures")),
                    "active": active if isinstance(active, bool) else None,
                    "alive": (item.get("Status") == "Alive") if "Status" in item else None,
                }
            )
        )
    return out


def parse_pools_config(pools: object) -> PoolConfig:
    """The pool part of a MinerConfig from ``pools``, in priority order.

    The API never reveals pool passwords; they read as ``"x"``, the usual placeholder.
    """
    from asic_bridge.config import Pool, PoolConfig, PoolGroup

    items = entries(pools, "POOLS")
    if not isinstance(pools, Mapping):
        raise ValueError("pools answer is not an object")

    def priority(item: Mapping[str, Any]) -> int:
        value = whole(item.get("Priority"))
        return value if value is not None else 1_000 + (whole(item.get("POOL")) or 0)

    parsed: list[Pool] = []
    for item in sorted(items, key=priority):
        url = item.get("URL")
        if not isinstance(url, str) or not url.strip():
            continue
        user = item.get("User")
        parsed.append(Pool(url=url.strip(), user=str(user) if user is not None else ""))
    return PoolConfig(groups=[PoolGroup(pools=parsed)])


# Matched against an entry's keys joined by newlines (one regex pass instead of one match
# per key: BMMiner's stats entry has ~100 keys, read on every poll).
_CHAIN_KEY = re.compile(r"^(chain_acn(\d+))$", re.MULTILINE)
_FAN_KEY = re.compile(r"^(fan(\d+))$", re.MULTILINE)


def _joined_keys(item: Mapping[str, Any]) -> str:
    try:
        return "\n".join(item)
    except TypeError:  # a key that is not a string (not from JSON): left out
        return "\n".join(key for key in item if isinstance(key, str))


#: (pattern, an entry's keys in order) -> what :func:`_numbered_keys` found in them.  The
#: answer is new each poll but its keys are the same ones (~180 on BMMiner), and a regex
#: pass over them costs ~15x the lookup; bounded (cleared when full) for any fleet.
_NUMBERED_SEEN: dict[tuple[re.Pattern[str], tuple[Any, ...]], tuple[tuple[str, int], ...]] = {}
_NUMBERED_SEEN_MAX = 256


def _numbered_keys(
    item: Mapping[str, Any], pattern: re.Pattern[str]
) -> tuple[tuple[str, int], ...]:
    """``(key, N)`` for each key of ``item`` that ``pattern`` matches, in the entry's order.

    A function of the keys alone (their order included), so it is found once per layout.
    """
    layout = (pattern, tuple(item))
    found = _NUMBERED_SEEN.get(layout)
    if found is None:
        found = tuple(
            (key, int(number))
            for key, number in pattern.findall(_joined_keys(item))
            if key in item  # not a piece of a key with a newline in it
        )
        if len(_NUMBERED_SEEN) >= _NUMBERED_SEEN_MAX:
            _NUMBERED_SEEN.clear()
        _NUMBERED_SEEN[layout] = found
    return found


def _numbered_entry(
    stats: object, pattern: re.Pattern[str]
) -> tuple[dict[str, Any], tuple[tuple[str, int], ...]] | None:
    """The first ``stats`` entry with keys ``pattern`` matches, and those keys."""
    for item in entries(stats, "STATS"):
        keys = _numbered_keys(item, pattern)
        if keys:
            return item, keys
    return None


def _slots(present: Iterable[int], expected: int | None) -> list[int]:
    """Slot numbers to report: the live ones, widened to ``expected`` contiguous slots."""
    live = sorted(set(present))
    if not live:
        return []
    if expected and len(live) < expected:
        start = live[0]
        return sorted(set(live) | set(range(start, start + expected)))
    return live


def _board_count(ctx: ParseContext) -> int | None:
    return ctx.model_info.hashboards if ctx.model_info is not None else None


def _chips_per_board(ctx: ParseContext) -> int | None:
    return ctx.model_info.chips_per_board if ctx.model_info is not None else None


#: Below this a board or chip reading is a broken sensor, not a temperature: an S9 reported a
#: chip at -83 degC beside its sister chains at 62 degC (real capture, stock BMMiner 2.0.0),
#: while a cold-room S19 reads a few degrees below zero and is right.
SENSOR_FLOOR = -40.0


def sensor_reading(value: float | None) -> float | None:
    """A temperature reading, None for "no sensor" (0) or a broken one (below the floor)."""
    return value if value and value > SENSOR_FLOOR else None


def parse_cgminer_hashboards(
    ctx: ParseContext, stats: object, devs: object
) -> list[HashBoard] | None:
    """Boards from BMMiner's ``chain_*`` keys, else one per ``devs`` device.

    BMMiner numbers chains by connector (an S9 uses 6-8); they are reported as slots 0..n-1.
    ``temp{N}`` is the board (PCB) sensor and ``temp2_{N}`` the chip sensor.
    """
    found = _numbered_entry(stats, _CHAIN_KEY)
    if found is not None:
        chain, chain_keys = found
        present = []
        for key, slot in chain_keys:
            chips = whole(chain.get(key)) or 0
            rate = chain.get(f"chain_rate{slot}")
            if chips > 0 or (isinstance(rate, str) and rate.strip()):
                present.append(slot)
        boards = []
        for index, slot in enumerate(_slots(present, _board_count(ctx))):
            chip_count = whole(chain.get(f"chain_acn{slot}"))
            rate = number(chain.get(f"chain_rate{slot}"))
            temp = number(chain.get(f"temp{slot}"))
            chip_temp = number(chain.get(f"temp2_{slot}"))
            alive = bool(chip_count)
            boards.append(
                board_from(
                    {
                        "slot": index,
                        "hashrate": to_default(rate, "GH/s", ctx.algo)
                        if rate is not None
                        else None,
                        "temp": sensor_reading(temp),
                        "chip_temp": sensor_reading(chip_temp),
                        "chips": chip_count,
                        "expected_chips": _chips_per_board(ctx),
                        "missing": not alive,
                        "active": alive,
                    }
                )
            )
        return boards
    devices = [d for d in entries(devs, "DEVS") if d.get("Enabled", "Y") != "N"]
    if not devices:
        return None
    boards = []
    for index, dev in enumerate(devices):
        rate = rate_from(dev, _SUMMARY_RATE_KEYS, ctx.algo)
        temp = number(dev.get("Temperature"))
        alive = dev.get("Status", "Alive") == "Alive"
        boards.append(
            board_from(
                {
                    "slot": index,
                    "hashrate": rate,
                    "temp": temp if temp is not None and temp > -100 else None,
                    "expected_chips": _chips_per_board(ctx),
                    "missing": False,
                    "active": alive,
                }
            )
        )
    return boards


def parse_cgminer_fans(ctx: ParseContext, stats: object) -> list[Fan] | None:
    """Fan RPMs from BMMiner's ``fan{N}`` keys (an S9 uses 5-6), widened to the model's count."""
    found = _numbered_entry(stats, _FAN_KEY)
    if found is None:
        return None
    chain, keys = found
    speeds = {slot: whole(chain[key]) for key, slot in keys}
    present = [slot for slot, rpm in speeds.items() if rpm]
    expected = ctx.model_info.fans if ctx.model_info is not None else None
    return [Fan(speed=speeds.get(slot) or 0) for slot in _slots(present, expected)]


def parse_cgminer_expected_hashrate(ctx: ParseContext, stats: object) -> float | None:
    """BMMiner's ``total_rateideal`` in its ``rate_unit`` (GH when absent)."""
    for item in entries(stats, "STATS"):
        value = number(item.get("total_rateideal"))
        if value is not None:
            unit = str(item.get("rate_unit") or "GH")
            try:
                return to_default(value, unit, ctx.algo)
            except ValueError:
                return to_default(value, "GH/s", ctx.algo)
    return None


def parse_cgminer_errors(ctx: ParseContext, devs: object) -> list[MinerErrorData]:
    """A device the backend reports as not Alive (Sick, Dead, NoStart...) is an error."""
    out = []
    for dev in entries(devs, "DEVS"):
        status = dev.get("Status")
        if isinstance(status, str) and status and status != "Alive":
            name = f"{dev.get('Name', 'device')}{dev.get('ID', '')}"
            out.append(MinerErrorData(error_message=f"{name} is {status}"))
    return out


def parse_cgminer_config(ctx: ParseContext, pools: object) -> MinerConfig:
    from asic_bridge.config import MinerConfig

    return MinerConfig(pools=parse_pools_config(pools))


_FORBIDDEN_POOL_CHARS = frozenset(',|\\"\n\r\x00')


def validate_pool_field(name: str, value: str) -> str:
    """A pool URL/user/password as a CGMiner parameter accepts it, or ConfigError.

    Parameters are comma-separated and the plain-text API splits on ``|``; nothing that
    could change the command is ever sent.
    """
    bad = sorted({ch for ch in value if ch in _FORBIDDEN_POOL_CHARS or ord(ch) < 32})
    if bad:
        shown = ", ".join(repr(ch) for ch in bad)
        raise ConfigError(f"pool {name} may not contain {shown} (the miner API cannot take it)")
    return value


# ---------------------------------------------------------------------------------------------
# The driver.


class CGMinerRPCMiner(BaseMiner):
    """Shared plumbing for CGMiner-API drivers: one RPC client, batched ``rpc:`` sources."""

    # Commands whose "STATUS E" means "nothing to report" rather than a failure.
    EMPTY_OK: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, ip: str, **kwargs: Any) -> None:
        super().__init__(ip, **kwargs)

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group != "rpc":
            return await super()._fetch_group(group, names)
        results: dict[str, Any] = dict(await self.rpc.multicommand(*names))
        for name in self.EMPTY_OK & set(names):
            if isinstance(results.get(name), CommandError):
                results[name] = {}
        return results

    async def _command(self, command: str, parameter: str | None = None) -> dict[str, Any]:
        """One control command; a refusal (STATUS E) raises CommandError with its message."""
        return await self.rpc.send(command, parameter)


class CGMiner(CGMinerRPCMiner):
    """Any CGMiner / BMMiner / BFGMiner speaking only the RPC API."""

    make = "Unknown"
    firmware = "Stock"
    default_capabilities = frozenset({Capability.GET_CONFIG})
    EMPTY_OK = frozenset({"devs"})
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "api_ver": FieldSpec(("rpc:version",), parse_api_ver, static=True),
        "fw_ver": FieldSpec(("rpc:version",), parse_cgminer_fw_ver, static=True),
        "hashrate": FieldSpec(("rpc:summary",), parse_summary_hashrate),
        "expected_hashrate": FieldSpec(("rpc:stats",), parse_cgminer_expected_hashrate),
        "hashboards": FieldSpec(("rpc:stats", "rpc:devs"), parse_cgminer_hashboards),
        "fans": FieldSpec(("rpc:stats",), parse_cgminer_fans),
        "uptime": FieldSpec(("rpc:summary",), parse_uptime),
        "is_mining": FieldSpec(("rpc:summary",), parse_is_mining),
        "errors": FieldSpec(("rpc:devs",), parse_cgminer_errors),
        "pools": FieldSpec(("rpc:pools",), parse_pools),
        "config": FieldSpec(("rpc:pools",), parse_cgminer_config),
    }

    # -------------------------------------------------------------- controls
    async def _restart_backend(self) -> bool:
        await self._command("restart")  # a refusal raises; the answer is {"STATUS": "RESTART"}
        return True

    async def _get_config(self) -> MinerConfig:
        from asic_bridge.config import MinerConfig

        return MinerConfig(pools=parse_pools_config(await self._command("pools")))

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        for part in ("fan_mode", "temperature", "mining_mode"):
            if getattr(config, part) != getattr(live, part):
                raise UnsupportedError(f"setting {part}", f"the {self.firmware} RPC API")
        if config.pools is None or config.pools == live.pools:
            return
        wanted = [p for group in config.pools.groups for p in group.pools]
        if not wanted:
            raise ConfigError("at least one pool is needed; CGMiner cannot run without one")
        for pool in wanted:
            validate_pool_field("url", pool.url)
            validate_pool_field("user", pool.user)
            validate_pool_field("password", pool.password)
        current = await self._live_pools()
        have = {(url, user) for _, url, user in current}
        for pool in wanted:
            if (pool.url, pool.user) not in have:
                await self._command("addpool", f"{pool.url},{pool.user},{pool.password}")
        current = await self._live_pools()
        index_of = {(url, user): index for index, url, user in current}
        top = index_of.get((wanted[0].url, wanted[0].user))
        if top is None:
            raise APIError("the added pool did not appear in the pool list", ip=self.ip)
        await self._command("switchpool", str(top))
        keep = {(p.url, p.user) for p in wanted}
        for index, url, user in sorted(current, reverse=True):
            if (url, user) not in keep:
                await self._command("removepool", str(index))

    async def _live_pools(self) -> list[tuple[int, str, str]]:
        resp = await self._command("pools")
        out = []
        for position, item in enumerate(entries(resp, "POOLS")):
            index = whole(item.get("POOL"))
            out.append(
                (index if index is not None else position, str(item.get("URL", "")),
                 str(item.get("User", "")))
            )  # fmt: skip
        return out


# ---------------------------------------------------------------------------------------------
# Identification.


def _version_entry(e: Evidence) -> dict[str, Any] | None:
    return first_entry(e.rpc_version, "VERSION")


def _description(e: Evidence) -> str:
    status = first_entry(e.rpc_version, "STATUS")
    return str(status.get("Description", "")) if status else ""


def _matches(e: Evidence) -> bool:
    entry = _version_entry(e)
    if entry is not None and program_of(entry) is not None:
        return True
    return _description(e).lower().startswith(("cgminer", "bmminer", "bfgminer"))


async def _writable(rpc: RPCClient) -> bool:
    """Whether this API client may use write commands (cgminer's ``privileged``)."""
    try:
        await rpc.send("privileged", timeout=rpc.limits.identify_timeout)
    except APIError:
        return False
    return True


async def _build(e: Evidence, creds: Credentials) -> BaseMiner | None:
    entry = _version_entry(e) or {}
    program = program_of(entry)
    raw_model = entry.get("Type") if isinstance(entry.get("Type"), str) else None
    info = catalog.lookup(model_name(raw_model)) if raw_model else None
    identity = Identity(
        ip=e.ip,
        make=info.make if info else "Unknown",
        firmware="Stock" if info else (program[0] if program else "CGMiner"),
        model=info.model if info else raw_model,
        raw_model=raw_model,
        algo=info.algo if info else "SHA256",
        model_info=info,
        api_ver=str(entry["API"]) if entry.get("API") else None,
    )
    if entry:
        identity.fw_ver = parse_cgminer_fw_ver(
            ParseContext(identity.algo, info, identity), e.rpc_version
        )
    if program is not None:
        identity.extra["program"] = program[0]
    miner = CGMiner(e.ip, identity=identity, credentials=creds, ports=e.ports)
    if await _writable(miner.rpc):
        miner.capabilities = miner.capabilities | {
            Capability.RESTART_BACKEND,
            Capability.SEND_CONFIG,
        }
    return miner


FAMILIES = [Family("cgminer", _matches, _build)]
