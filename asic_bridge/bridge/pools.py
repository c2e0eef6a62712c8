"""Pool lists: what the state shows of them, and a ``{"pools": [...]}`` command validated.

Pure.  A password is taken in and written to the miner, never shown: the state has no
password (the firmware reports none while mining), and what a command echoes back
(``applied``, the fleet's per-miner answer) is :func:`shown`, url and user only.
Worker names may carry ``{mac}``, ``{hostname}``, ``{ip}`` or ``{id}``: one group command then
gives each miner its own worker (``acct.{hostname}`` -> ``acct.rack1-07``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asic_bridge.bridge.registry import DeviceRecord
from asic_bridge.config import MinerConfig, Pool, PoolConfig
from asic_bridge.data import PoolMetrics

#: Bound on the request, not the firmware's limit: the driver refuses more than its firmware
#: holds (three slots on most) before anything is sent.
MAX_POOLS = 8
MAX_TEXT = 256
KEYS = ("url", "user", "password")
TEMPLATES = ("mac", "hostname", "ip", "id")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class PoolsError(ValueError):
    """A pool list that must not be written; the message says what is wrong."""


@dataclass(frozen=True)
class PoolEntry:
    url: str
    user: str
    password: str

    def __repr__(self) -> str:  # never the password, in any log line
        return f"PoolEntry(url={self.url!r}, user={self.user!r})"


def pool_state(pools: Sequence[PoolMetrics]) -> list[dict[str, Any]]:
    """Every configured pool the firmware reported, in its priority order.

    Each item key by key, left out when None (url, user, priority, active, status,
    accepted, rejected, stale): in every poll's state, so no dict built to be filtered.
    """
    out = []
    for position, pool in enumerate(pools):
        fields = pool.__dict__  # a model's attributes cost several times its items there
        item: dict[str, Any] = {}
        if (value := fields["url"]) is not None:
            item["url"] = value
        if (value := fields["user"]) is not None:
            item["user"] = value
        item["priority"] = position if (index := fields["index"]) is None else index
        if (active := fields["active"]) is not None:
            item["active"] = active
        if (alive := fields["alive"]) is not None:
            item["status"] = "alive" if alive else "dead"
        if (count := fields["accepted"]) is not None:
            item["accepted"] = count
        if (count := fields["rejected"]) is not None:
            item["rejected"] = count
        if (count := fields["get_failures"]) is not None:
            item["stale"] = count
        out.append(item)
    return out


def _text(value: Any, where: str, *, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        kind = "a non-empty string" if required else "a string"
        raise PoolsError(f"{where} must be {kind}")
    if len(value) > MAX_TEXT:
        raise PoolsError(f"{where} is longer than {MAX_TEXT} characters")
    return value.strip()


def _check_template(user: str, where: str) -> None:
    for name in _PLACEHOLDER.findall(user):
        if name not in TEMPLATES:
            raise PoolsError(
                f"{where}: unknown placeholder {{{name[:20]}}}; known: "
                + ", ".join(f"{{{t}}}" for t in TEMPLATES)
            )


def parse_pools(value: Any) -> tuple[PoolEntry, ...]:
    """``[{"url": ..., "user": ..., "password": ...}, ...]`` in failover order, all checked."""
    if not isinstance(value, list) or not value:
        raise PoolsError(
            'pools must be a non-empty list like [{"url": "stratum+tcp://host:3333", '
            '"user": "acct.{hostname}"}]'
        )
    if len(value) > MAX_POOLS:
        raise PoolsError(f"pools: at most {MAX_POOLS} pools, got {len(value)}")
    entries = []
    for n, item in enumerate(value):
        where = f"pools[{n}]"
        if not isinstance(item, dict):
            raise PoolsError(f"{where} must be an object with url, user, password")
        unknown = sorted(str(k)[:40] for k in item if k not in KEYS)
        if unknown:
            raise PoolsError(
                f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(KEYS)}"
            )
        if "url" not in item:
            raise PoolsError(f"{where}: url is missing")
        url = _text(item["url"], f"{where}.url", required=True)
        if "://" not in url:
            raise PoolsError(f"{where}.url must look like stratum+tcp://host:port")
        user = _text(item.get("user"), f"{where}.user", required=False)
        _check_template(user, f"{where}.user")
        password = _text(item.get("password"), f"{where}.password", required=False) or "x"
        entries.append(PoolEntry(url, user, password))
    return tuple(entries)


def _worker_part(value: str | None) -> str:
    """A record value as a worker name allows it (no ':', spaces or dots of an IP/MAC)."""
    return re.sub(r"[^A-Za-z0-9_-]", "", value or "") or "unknown"


def for_miner(pools: tuple[PoolEntry, ...], record: DeviceRecord) -> tuple[PoolEntry, ...]:
    """The pools with this miner's values in the worker names."""
    values = {
        "mac": _worker_part(record.mac).lower(),
        "hostname": _worker_part(record.hostname),
        "ip": _worker_part((record.ip or "").replace(".", "-")),
        "id": _worker_part(record.id),
    }

    def fill(user: str) -> str:
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], user)

    return tuple(PoolEntry(p.url, fill(p.user), p.password) for p in pools)


def as_config(pools: tuple[PoolEntry, ...]) -> MinerConfig:
    """Only the pools: send_config keeps every other part as it is on the miner."""
    return MinerConfig(
        pools=PoolConfig.simple([Pool(url=p.url, user=p.user, password=p.password) for p in pools])
    )


def configured(config: MinerConfig) -> list[tuple[str, str]]:
    """``(url, user)`` of the pools a read config holds, for the read-back."""
    if config.pools is None:
        return []
    return [(p.url, p.user) for g in config.pools.groups for p in g.pools if p.url]


def configured_shown(config: MinerConfig) -> list[dict[str, str]]:
    """What may be published of the pools a read config holds: url and user."""
    return [{"url": url, "user": user} for url, user in configured(config)]


def shown(pools: tuple[PoolEntry, ...]) -> list[dict[str, str]]:
    """What may be published of a pool list: url and user."""
    return [{"url": p.url, "user": p.user} for p in pools]
