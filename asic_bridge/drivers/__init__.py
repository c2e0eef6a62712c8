"""Firmware families.  Each module holds one family's parsers, controls and config codec.

Each driver module exposes ``FAMILIES: list[Family]``.  ``registry`` puts them in the order
the factory consults them: the first family whose ``matches`` accepts the identification
evidence builds the miner.  More specific families come first (look-alikes such as MaraFW on
Antminer hardware before stock Antminer; the generic CGMiner family last).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from asic_bridge import settings
from asic_bridge.credentials import Credentials
from asic_bridge.drivers.base import BaseMiner


@dataclass
class Evidence:
    """Everything one round of identification probes saw on a host."""

    ip: str
    ports: Mapping[str, int] = field(default_factory=dict)
    rpc_version: dict[str, Any] | None = None
    rpc_devdetails: dict[str, Any] | None = None
    http_status: int | None = None
    http_headers: Mapping[str, str] = field(default_factory=dict)
    http_body: str = ""
    whatsminer_v3: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    #: The limits identification runs under (the settings when it started).
    limits: settings.Limits = field(default_factory=settings.limits)

    @property
    def rpc_text(self) -> str:
        """Both RPC answers upper-cased, for substring tests like pyasic's."""
        return f"{self.rpc_version or ''} {self.rpc_devdetails or ''}".upper()

    @property
    def www_authenticate(self) -> str:
        return str(self.http_headers.get("www-authenticate", ""))

    @property
    def answered(self) -> bool:
        return bool(
            self.rpc_version or self.rpc_devdetails or self.http_status or self.whatsminer_v3
        )


Builder = Callable[[Evidence, Credentials], Awaitable[BaseMiner | None]]
Prober = Callable[[Evidence, float], Awaitable[None]]


@dataclass(frozen=True)
class Family:
    """One firmware family as the factory sees it."""

    name: str
    matches: Callable[[Evidence], bool]
    build: Builder
    #: The family's own identification probe, run with the common RPC and web ones for a
    #: firmware that may answer only on a port of its own; it records what it saw in the
    #: evidence (``probe(evidence, per_probe_timeout)``).
    probe: Prober | None = None


def load_families() -> list[Family]:
    """Every family, in the order the factory tries them (see ``registry``).

    Also loads the model catalog, which every identification needs: like importing the
    driver modules, it is start-up work, done once per process.
    """
    from asic_bridge.catalog import all_models
    from asic_bridge.drivers.registry import families

    all_models()
    return families()
