"""Identification: probe a host once, decide its family from the evidence, cache the answer.

``get_miner(ip)`` returns a driver object, an :class:`UnknownMiner` when something answers but
cannot be identified, or ``None`` when nothing answers.  A known host costs no round trip until
its identification expires or a call on it fails completely.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Mapping
from functools import cache as memoize

from asic_bridge import settings
from asic_bridge.catalog import makes
from asic_bridge.credentials import (
    DEFAULT_CREDENTIALS,
    Credentials,
    CredentialTable,
    credential_key,
)
from asic_bridge.drivers import Evidence, Family, load_families
from asic_bridge.drivers.base import BaseMiner, Identity, UnknownMiner
from asic_bridge.errors import APIError, CommandError
from asic_bridge.transport.rpc import RPCClient
from asic_bridge.transport.wire import ProtocolViolation, probe_get

_MAX_PROBE_BODY = 64 * 1024


class _Cache:
    """Identified miners per (host, port overrides), with a TTL."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, tuple[tuple[str, int], ...]], tuple[BaseMiner, float]] = {}

    @staticmethod
    def key(ip: str, ports: Mapping[str, int]) -> tuple[str, tuple[tuple[str, int], ...]]:
        return ip, tuple(sorted(ports.items()))

    def get(self, ip: str, ports: Mapping[str, int]) -> BaseMiner | None:
        entry = self._entries.get(self.key(ip, ports))
        if entry is None:
            return None
        miner, expires = entry
        if time.monotonic() >= expires:
            del self._entries[self.key(ip, ports)]
            return None
        return miner

    def put(self, miner: BaseMiner) -> None:
        ttl = float(settings.get("identification_ttl"))
        self._entries[self.key(miner.ip, miner.ports)] = (miner, time.monotonic() + ttl)

    def forget(self, ip: str) -> None:
        for key in [k for k in self._entries if k[0] == ip]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()


cache = _Cache()


def forget(ip: str) -> None:
    """Drop the cached identification of ``ip`` (after a failure, or an IP change)."""
    cache.forget(ip)


async def get_miner(
    ip: str,
    *,
    credentials: Credentials | CredentialTable | None = None,
    ports: Mapping[str, int] | None = None,
    use_cache: bool = True,
) -> BaseMiner | None:
    """Identify the miner at ``ip``.

    ``ports`` overrides the standard ports (``{"rpc": 14028, "http": 8081}``) for
    port-forwarded farms.  ``credentials`` are used for this miner only, from identification
    on (so a non-default password still reads the MAC): one :class:`Credentials`, or a
    :class:`CredentialTable` resolved by host, firmware and make as identification learns
    them.  A cached miner built with other credentials is identified again.
    """
    ports = dict(ports or {})
    if use_cache:
        cached = cache.get(ip, ports)
        if cached is not None and cached.credentials == _resolve(
            credentials, ip, cached.identity.make, cached.identity.firmware
        ):
            return cached
    retries = max(1, int(settings.get("factory_get_retries")))
    limits = settings.limits()
    timeout = limits.identify_timeout
    miner: BaseMiner | None = None
    for _ in range(retries):
        try:
            async with asyncio.timeout(timeout * 2):
                evidence = await probe(ip, ports, per_probe=timeout, limits=limits)
                miner = await identify(evidence, credentials)
        except (TimeoutError, APIError):
            miner = None
        if miner is not None:
            break
    if miner is not None and not isinstance(miner, UnknownMiner):
        cache.put(miner)
    return miner


async def probe(
    ip: str,
    ports: Mapping[str, int],
    *,
    per_probe: float,
    limits: settings.Limits | None = None,
) -> Evidence:
    """One concurrent round: RPC ``version``, a raw ``GET /``, and the families' own probes
    (Whatsminer v3 ``get.device.info``).

    The probes are the "ping": a host that refuses costs a refused connect each and nothing
    else (no HTTP client is built for it).  ``devdetails`` is only asked when ``version``
    answered, on the same deadline.
    """
    evidence = Evidence(ip=ip, ports=ports, limits=limits or settings.limits())
    limits = evidence.limits
    rpc = RPCClient(ip, ports.get("rpc", 4028), timeout=per_probe, limits=limits)

    async def rpc_probe() -> None:
        try:
            evidence.rpc_version = await rpc.send("version")
        except APIError as exc:
            evidence.notes.append(f"rpc version: {exc.reason}")
            if not isinstance(exc, CommandError):
                return  # nothing speaks RPC here
        try:
            evidence.rpc_devdetails = await rpc.send("devdetails")
        except APIError as exc:
            evidence.notes.append(f"rpc devdetails: {exc.reason}")

    async def http_probe() -> None:
        try:
            # the connect is the "ping": bounded like the RPC and Whatsminer probes' connects,
            # so a silent host costs network_ping_timeout, not the whole identification deadline
            status, headers, body = await probe_get(
                ip,
                ports.get("http", 80),
                "/",
                timeout=per_probe,
                connect_timeout=limits.connect_timeout,
                cap=_MAX_PROBE_BODY,
            )
        except (OSError, TimeoutError, ProtocolViolation) as exc:
            evidence.notes.append(f"http /: {type(exc).__name__}")
            return
        evidence.http_status, evidence.http_headers = status, headers
        evidence.http_body = body.decode("utf-8", "replace")

    own = [f.probe(evidence, per_probe) for f in load_families() if f.probe is not None]
    await asyncio.gather(rpc_probe(), http_probe(), *own)
    return evidence


def _resolve(
    credentials: Credentials | CredentialTable | None,
    ip: str,
    make: str | None,
    firmware: str | None,
    family: Family | None = None,
) -> Credentials:
    if credentials is None:
        return DEFAULT_CREDENTIALS
    if isinstance(credentials, Credentials):
        return credentials
    family_name = family.name.split("_")[0] if family is not None else None
    return credentials.resolve(ip, make=make, firmware=firmware, family=family_name)


@memoize
def _family_classes(family: Family) -> tuple[type[BaseMiner], ...]:
    module = sys.modules[family.build.__module__]
    return tuple(
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, BaseMiner) and value is not BaseMiner
    )


def _one(values: set[str]) -> str | None:
    return next(iter(values)) if len(values) == 1 else None


def _guess(
    credentials: Credentials | CredentialTable | None, ip: str, family: Family
) -> Credentials:
    """The credentials to build ``family`` with, before the make and firmware are known.

    Where the family's drivers share a make or firmware, its entries apply.  A family of
    several makes (Hammer and VolcMiner) may learn the make only through the login: if the
    table gives exactly one of its makes its own credentials, those are tried.
    """
    classes = _family_classes(family)
    firmware = _one({c.firmware for c in classes})
    plain = _resolve(credentials, ip, _one({c.make for c in classes}), firmware, family)
    options = {_resolve(credentials, ip, c.make, firmware, family) for c in classes} - {plain}
    return options.pop() if len(options) == 1 else plain


@memoize
def credential_names() -> frozenset[str]:
    """Every key a credentials table can name: makes, firmwares and family names."""
    names = {credential_key(m) for m in makes()}
    for family in load_families():
        names.add(credential_key(family.name.split("_")[0]))
        for cls in _family_classes(family):
            names |= {credential_key(cls.make), credential_key(cls.firmware)}
    return frozenset(names - {"stock", "unknown", ""})


async def identify(
    evidence: Evidence, credentials: Credentials | CredentialTable | None = None
) -> BaseMiner | None:
    """Pick the first family whose evidence test accepts the host and let it build the miner.

    With a table, the family is built with the credentials its make and firmware resolve
    to (when all its drivers share one); if the built miner turns out to be another make or
    firmware whose credentials differ, it is built once more with those.
    """
    if not evidence.answered:
        return None
    ip = evidence.ip
    for family in load_families():
        if family.matches(evidence):
            guess = _guess(credentials, ip, family)
            miner = await family.build(evidence, guess)
            if miner is not None:
                ident = miner.identity
                final = _resolve(credentials, ip, ident.make, ident.firmware, family)
                if final != guess:
                    await miner.aclose()
                    miner = await family.build(evidence, final)
            if miner is not None:
                miner.ports.update(evidence.ports)
                return miner
    unknown = UnknownMiner(evidence.ip, ports=evidence.ports)
    unknown.identity = Identity(ip=evidence.ip, make="Unknown", firmware="Unknown")
    unknown.identity.extra["evidence"] = {
        "rpc_version": evidence.rpc_version,
        "http_status": evidence.http_status,
        "http_title": _title(evidence.http_body),
        "notes": evidence.notes,
    }
    return unknown


def _title(body: str) -> str | None:
    lower = body.lower()
    start = lower.find("<title>")
    end = lower.find("</title>", start)
    if start < 0 or end < 0:
        return None
    return body[start + 7 : end].strip()[:120]
