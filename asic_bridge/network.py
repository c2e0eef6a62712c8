"""MinerNetwork: which addresses to scan, and a scan whose concurrency bound really holds.

A fixed pool of ``network_scan_threads`` workers pulls addresses from a lazy iterator, so a
/16 never creates 65k tasks and never has more than the bound in flight.  The identification
probe itself is the "ping": no separate connection is spent on a host before identifying it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from asic_bridge import settings
from asic_bridge.credentials import Credentials, CredentialTable
from asic_bridge.drivers.base import BaseMiner
from asic_bridge.factory import get_miner

ProgressCallback = Callable[[int, int, int], None]
"""Called as ``progress(done, total, found)`` after each address."""


@dataclass(frozen=True)
class Host:
    """An address to scan, with optional per-host port overrides (port-forwarded farms)."""

    ip: str
    ports: Mapping[str, int] | None = None


def _parse_octet_range(part: str, whole: str) -> range:
    bounds = part.split("-")
    try:
        numbers = [int(b) for b in bounds]
    except ValueError:
        raise ValueError(f"bad address range {whole!r}: {part!r} is not a number or a-b") from None
    if len(numbers) not in (1, 2) or not all(0 <= n <= 255 for n in numbers):
        raise ValueError(f"bad address range {whole!r}: octet {part!r} must be 0-255 or a-b")
    low, high = numbers[0], numbers[-1]
    if low > high:
        raise ValueError(f"bad address range {whole!r}: {low} > {high}")
    return range(low, high + 1)


class MinerNetwork:
    """A set of addresses; build it with one of the ``from_*`` constructors."""

    def __init__(
        self, hosts: Iterable[Host] | Callable[[], Iterator[Host]], size: int | None = None
    ):
        if callable(hosts):
            self._factory: Callable[[], Iterator[Host]] = hosts
        else:
            materialised = list(hosts)
            self._factory = lambda: iter(materialised)
            size = len(materialised)
        self._size = size

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_subnet(cls, subnet: str) -> MinerNetwork:
        """``"10.0.0.0/24"`` (host bits allowed: ``"10.0.0.5/24"`` means the same /24)."""
        try:
            net = ipaddress.ip_network(subnet.strip(), strict=False)
        except ValueError as exc:
            raise ValueError(f"bad subnet {subnet!r}: {exc}") from None
        if net.version != 4:
            raise ValueError(f"bad subnet {subnet!r}: only IPv4 is supported")
        size = net.num_addresses - 2 if net.prefixlen < 31 else net.num_addresses
        return cls(lambda: (Host(str(ip)) for ip in net.hosts()), size=size)

    @classmethod
    def from_address(cls, address: str) -> MinerNetwork:
        """Octet ranges: ``"10.1-2.1.1-50"``; a plain address or a CIDR also works."""
        address = address.strip()
        if "/" in address:
            return cls.from_subnet(address)
        parts = address.split(".")
        if len(parts) != 4:
            raise ValueError(f"bad address range {address!r}: expected four octets")
        ranges = [_parse_octet_range(p, address) for p in parts]
        size = 1
        for r in ranges:
            size *= len(r)

        def generate() -> Iterator[Host]:
            for octets in itertools.product(*ranges):
                yield Host(".".join(map(str, octets)))

        return cls(generate, size=size)

    @classmethod
    def from_list(cls, addresses: Iterable[str]) -> MinerNetwork:
        """Each item an address, a range or a subnet; duplicates removed, order sorted."""
        seen: set[str] = set()
        for item in addresses:
            for host in cls.from_address(item).hosts():
                seen.add(host.ip)
        ordered = sorted(seen, key=lambda ip: tuple(int(o) for o in ip.split(".")))
        return cls([Host(ip) for ip in ordered])

    @classmethod
    def from_hosts(
        cls, hosts: Iterable[str | Host | tuple[str, Mapping[str, int]]]
    ) -> MinerNetwork:
        """Exact hosts, optionally with port overrides: ``("10.0.0.5", {"http": 8081})``."""
        parsed: list[Host] = []
        for item in hosts:
            if isinstance(item, Host):
                parsed.append(item)
            elif isinstance(item, str):
                ipaddress.IPv4Address(item)  # raises a clear ValueError on garbage
                parsed.append(Host(item))
            else:
                ip, ports = item
                ipaddress.IPv4Address(ip)
                parsed.append(Host(ip, dict(ports)))
        return cls(parsed)

    # ------------------------------------------------------------ inspection
    def hosts(self) -> Iterator[Host]:
        return self._factory()

    def __len__(self) -> int:
        if self._size is None:
            self._size = sum(1 for _ in self._factory())
        return self._size

    def __iter__(self) -> Iterator[str]:
        return (h.ip for h in self._factory())

    # ------------------------------------------------------------ scanning
    async def scan(
        self,
        *,
        credentials: Credentials | CredentialTable | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[BaseMiner]:
        """Every miner found, in address order."""
        found = [m async for m in self.scan_iter(credentials=credentials, progress=progress)]
        return sorted(found, key=lambda m: tuple(int(o) for o in m.ip.split(".")))

    async def scan_network_for_miners(self) -> list[BaseMiner]:
        """pyasic's name for :meth:`scan`."""
        return await self.scan()

    def __aiter__(self) -> AsyncIterator[BaseMiner]:
        return self.scan_iter()

    async def scan_iter(
        self,
        *,
        credentials: Credentials | CredentialTable | None = None,
        progress: ProgressCallback | None = None,
    ) -> AsyncIterator[BaseMiner]:
        """Yield miners as they are found, with at most ``network_scan_threads`` probes at once."""
        limit = max(1, int(settings.get("network_scan_threads")))
        total = len(self)
        hosts = self.hosts()
        results: asyncio.Queue[BaseMiner | None] = asyncio.Queue()
        done = 0
        found = 0

        async def worker() -> None:
            for host in hosts:  # shared iterator: each host is taken by exactly one worker
                miner = None
                try:
                    miner = await _probe_host(host, credentials)
                finally:
                    await results.put(miner)

        workers = [asyncio.create_task(worker()) for _ in range(min(limit, max(total, 1)))]
        try:
            while done < total:
                miner = await results.get()
                done += 1
                if miner is not None:
                    found += 1
                if progress is not None:
                    progress(done, total, found)
                if miner is not None:
                    yield miner
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)


async def _probe_host(
    host: Host, credentials: Credentials | CredentialTable | None
) -> BaseMiner | None:
    retries = max(1, int(settings.get("network_ping_retries")))
    for _ in range(retries):
        try:
            miner = await get_miner(host.ip, credentials=credentials, ports=host.ports)
        except Exception:  # one broken host never stops a scan
            miner = None
        if miner is not None:
            return miner
    return None
