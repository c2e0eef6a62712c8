"""Give a simulated answer the exact shape of a real capture: its keys, its value types.

A simulator computes live values (hashrate, temperatures, shares) from ``MinerState``; the
set of keys and their JSON types must be those a named firmware version sends.  A template
is one captured object (its values serve as the defaults for keys the simulator does not
compute); :func:`conform` keeps the template's keys in its order, drops every other key and
casts numbers to the template's type (firmwares differ: ``1`` vs ``1.0`` is part of the
shape).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["conform"]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cast(value: Any, like: Any) -> Any:
    if isinstance(like, bool):
        return bool(value)
    if isinstance(like, int):
        return round(value) if _number(value) else like
    if isinstance(like, float):
        return float(value) if _number(value) else like
    if isinstance(like, str):
        return value if isinstance(value, str) else str(value)
    return value


def conform(item: Mapping[str, Any], template: Mapping[str, Any]) -> dict[str, Any]:
    """``item``'s values under exactly ``template``'s keys, typed like the template's."""
    out: dict[str, Any] = {}
    for key, like in template.items():
        out[key] = _cast(item[key], like) if key in item else copy.deepcopy(like)
    return out
