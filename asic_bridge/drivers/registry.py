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
    "whatsminer",
    "avalon",
    "antminer",
    "cgminer",
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
