"""Adoption: scans, the miners they find, their addresses, credentials and the registry."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from asic_bridge.bridge.config import HostConfig
from asic_bridge.bridge.registry import DeviceRecord
from asic_bridge.drivers.base import BaseMiner


@dataclass(eq=False)
class Device:
    """One adopted miner as every part sees it: its record, its driver, its lock.

    Everything else about a miner belongs to the feature that needs it (the poller's
    schedule, the state feature's last state, the commands' transactions).
    """

    record: DeviceRecord
    miner: BaseMiner | None = None
    host: HostConfig | None = None
    #: held by a poll or a command: one conversation with the miner at a time
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def id(self) -> str:
        return self.record.id
