"""Coercing firmware values: the small rules every parser needs, in one place.

Firmwares send numbers as numbers, as strings (padded, quoted, with a ``%`` sign), empty, or
as garbage; a parser wants a finite number or None ("not reported"), never an exception and
never an invented zero.  Every driver takes these from here.
"""

from __future__ import annotations

import math

_isfinite = math.isfinite


def number(value: object) -> float | None:
    """A finite float from an int, float or numeric string (``" 42 "``, ``"1.3%"``,
    ``"'3280'"``); None for anything else.

    Booleans are not numbers here, and NaN / infinity mean "no reading".  Called ~50 times
    per poll: exact types are tested first (a bool is not ``type(x) is int``).
    """
    if type(value) is float:
        return value if _isfinite(value) else None
    if type(value) is int:
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip().strip("'\"").rstrip("%").strip())
        except ValueError:
            return None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        result = float(value)  # a subclass (numpy-like); never a bool
    else:
        return None
    return result if _isfinite(result) else None


def whole(value: object) -> int | None:
    """``number`` rounded to the nearest integer."""
    if type(value) is int:
        return value  # already whole (and exact beyond 2**53, where a float is not)
    result = number(value)
    return None if result is None else round(result)


def text(value: object) -> str | None:
    """A stripped, non-empty string; None for anything else."""
    if isinstance(value, str):
        return value.strip() or None
    return None


def loose_text(value: object) -> str | None:
    """:func:`text` without the quotes some firmware wraps values in, and a bare number
    written out (a version sent as ``2.0``); None for anything else."""
    if isinstance(value, str):
        return value.strip().strip("'\"").strip() or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def percent(value: object) -> int | None:
    """A whole percentage 0-100 (a fan duty, a PWM setting); None outside it or not a number."""
    result = whole(value)
    return result if result is not None and 0 <= result <= 100 else None
