"""The order in which families are tried: most specific evidence first."""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asic_bridge.drivers import Family

# Driver modules in priority order.  Keep look-alikes before the family they resemble and
# the generic CGMiner family last.
FAMILY_MODULES: tuple[str, ...] = (
    "braiins",  # Braiins OS (BOSminer / BOS+): RPC says BOSminer, web says Braiins OS
    "luxos",  # LuxOS on Antminer hardware: RPC says LUXminer
    "vnish",  # VNish on Antminer hardware: RPC/web say VNish / AnthillOS
    "marafw",  # MaraFW on Antminer hardware: digest realm like stock, plus /kaonsu/v1
    "hiveon",  # Hiveon on Antminer hardware: RPC says Hiveon
    "epic",  # ePIC UMC: web dashboard, HTTP API on 4028
    "whatsminer",
    "avalon",
    "auradine",
    "goldshell",
    "innosilicon",
    "iceriver",
    "espminer",  # BitAxe / LuckyMiner (AxeOS)
    "hammer",  # Hammer / VolcMiner: digest realm blackMiner
    "elphapex",  # Elphapex: digest realm Daoge
    "antminer",  # stock Antminer, after every firmware that runs on Antminer hardware
    "cgminer",  # any other CGMiner-style RPC: last
)


@cache
def families() -> list[Family]:
    ordered: list[Family] = []
    for name in FAMILY_MODULES:
        try:
            module = importlib.import_module(f"asic_bridge.drivers.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"asic_bridge.drivers.{name}":
                raise
            continue  # a family not built yet in this tree
        ordered.extend(module.FAMILIES)
    return ordered
