"""Protocol-faithful simulated miners, one kind per firmware family, and a fleet runner.

Quick use::

    from asic_bridge import sim
    miners = await sim.start_fleet(["cgminer@127.0.0.2", "cgminer@127.0.0.3"])
    miners[0].state.set_power_limit(1000)        # readings follow
    await miners[1].set_mode("hang")             # misbehave
    await sim.stop_fleet(miners)

Add a kind by writing a module here with an ``@register`` SimMiner subclass (see base.py);
it is imported automatically.
"""

from __future__ import annotations

from .base import (
    KINDS,
    MODES,
    Behaviour,
    Counters,
    Mode,
    SimMiner,
    SimServer,
    create,
    list_kinds,
    load_kinds,
    parse_spec,
    register,
    split_kind,
)
from .fleet import run_fleet, start_fleet, stop_fleet
from .state import Fault, Hardware, MinerState, Pool, Readings

__all__ = [
    "KINDS",
    "MODES",
    "Behaviour",
    "Counters",
    "Fault",
    "Hardware",
    "MinerState",
    "Mode",
    "Pool",
    "Readings",
    "SimMiner",
    "SimServer",
    "create",
    "list_kinds",
    "load_kinds",
    "parse_spec",
    "register",
    "run_fleet",
    "split_kind",
    "start_fleet",
    "stop_fleet",
]

load_kinds()
