"""drivers/values.py: the one set of coercions every parser uses, garbage included."""

from __future__ import annotations

import math

import pytest

from asic_bridge.drivers.values import loose_text, number, percent, text, whole

# What firmware sends where it has no reading, or sends nonsense: never a value, never raises.
GARBAGE: list[object] = [
    None,
    "",
    "   ",
    "N/A",
    "n/a",
    "-",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    math.nan,
    math.inf,
    -math.inf,
    True,
    False,
    [1],
    [],
    {"value": 1},
    {},
    (2,),
    b"12",
    object(),
    "12 W",
    "1.2.3",
    "%",
    "''",
]


@pytest.mark.parametrize("raw", GARBAGE, ids=repr)
def test_garbage_is_not_a_number(raw: object) -> None:
    assert number(raw) is None
    assert whole(raw) is None
    assert percent(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (3, 3.0),
        (0, 0.0),
        (-4, -4.0),
        (2.5, 2.5),
        (" 42.5 ", 42.5),
        ("0", 0.0),
        ("13530.69", 13530.69),
        ("1e3", 1000.0),
        ("1.3%", 1.3),  # CGMiner-style percentages
        (" 98 % ", 98.0),
        ("'3280'", 3280.0),  # Whatsminer quotes some values
        ('"-7"', -7.0),
    ],
)
def test_number(raw: object, expected: float) -> None:
    result = number(raw)
    assert isinstance(result, float) and result == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(5400, 5400), ("5400.6", 5401), (2.4, 2), ("-1.6", -2), ("'7'", 7), ("50%", 50), (0, 0)],
)
def test_whole_rounds_to_the_nearest(raw: object, expected: int) -> None:
    result = whole(raw)
    assert isinstance(result, int) and not isinstance(result, bool) and result == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(0, 0), (100, 100), ("55", 55), ("55%", 55), (99.6, 100), (-1, None), (101, None)],
)
def test_percent_is_a_whole_0_to_100(raw: object, expected: int | None) -> None:
    assert percent(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  S19  ", "S19"),
        ("x", "x"),
        ("'quoted'", "'quoted'"),  # text keeps quotes; loose_text takes them off
        ("", None),
        ("   ", None),
        (None, None),
        (19, None),
        (1.5, None),
        (True, None),
        (["S19"], None),
        ({"a": "b"}, None),
        (b"S19", None),
    ],
)
def test_text(raw: object, expected: str | None) -> None:
    assert text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  S19  ", "S19"),
        ("'20240101.1'", "20240101.1"),
        ('" 2.0.5 "', "2.0.5"),
        (2.0, "2.0"),  # a version sent as a bare number
        (7, "7"),
        ("''", None),
        ("", None),
        (None, None),
        (True, None),
        (False, None),
        (["x"], None),
        ({"a": 1}, None),
        (b"x", None),
    ],
)
def test_loose_text(raw: object, expected: str | None) -> None:
    assert loose_text(raw) == expected
