"""Hash-rate units per algorithm.

Every hash rate in this package is a plain float in its algorithm's default unit (TH/s for
SHA-256, GH/s for Scrypt, ...), with the unit carried beside it.  An unknown model never
changes the unit: the firmware's algorithm decides it (pyasic falls back to H/s, pyasic#316).
"""

from __future__ import annotations

import functools

from asic_bridge.catalog import ALGORITHMS
from asic_bridge.errors import AsicBridgeError

UNITS: tuple[str, ...] = ("H/s", "KH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s", "ZH/s")
_FACTOR = {unit: 1000.0**power for power, unit in enumerate(UNITS)}

# Algorithm name -> default unit; the catalog holds the one table.
__all__ = ["ALGORITHMS", "UNITS", "UnitError", "convert", "default_unit", "to_default"]


class UnitError(AsicBridgeError, ValueError):
    """An unknown hash-rate unit or algorithm name."""


@functools.lru_cache(maxsize=64)
def _canonical_unit(unit: str) -> str:
    # Cached: parsers convert every board's rate on every poll, with a handful of spellings.
    cleaned = unit.strip().upper().removesuffix("/S").removesuffix("S")
    for known in UNITS:
        if known.upper().removesuffix("/S") == cleaned:
            return known
    raise UnitError(f"unknown hash-rate unit {unit!r}; expected one of {', '.join(UNITS)}")


def default_unit(algo: str) -> str:
    """The unit every hash rate of ``algo`` is reported in."""
    try:
        return ALGORITHMS[algo]
    except KeyError:
        raise UnitError(f"unknown algorithm {algo!r}; known: {', '.join(ALGORITHMS)}") from None


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert ``value`` between units (``"GH"``, ``"GH/s"`` and ``"gh/s"`` are all accepted)."""
    return value * _FACTOR[_canonical_unit(from_unit)] / _FACTOR[_canonical_unit(to_unit)]


#: (unit as written, algorithm) -> (its factor, the default unit's factor); parsers convert
#: every board's rate each poll with a handful of pairs, so each is resolved once.
_PAIRS: dict[tuple[str, str], tuple[float, float]] = {}


def to_default(value: float, from_unit: str, algo: str) -> float:
    """Convert a raw firmware reading into ``algo``'s default unit."""
    pair = _PAIRS.get((from_unit, algo))
    if pair is None:  # resolved (and its errors raised) as convert does
        pair = (_FACTOR[_canonical_unit(from_unit)], _FACTOR[_canonical_unit(default_unit(algo))])
        if len(_PAIRS) < 256:
            _PAIRS[from_unit, algo] = pair
    return value * pair[0] / pair[1]  # convert's arithmetic, in its order: the same float
