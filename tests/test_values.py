from __future__ import annotations

import pytest

from asic_bridge.drivers.values import number, text, whole


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (3, 3.0),
        (2.5, 2.5),
        (" 42.5 ", 42.5),
        ("0", 0.0),
        ("", None),
        ("n/a", None),
        (None, None),
        (True, None),
        ([1], None),
        ("nan", None),
        ("inf", None),
        (float("inf"), None),
    ],
)
def test_number(raw: object, expected: float | None) -> None:
    assert number(raw) == expected


def test_whole_rounds() -> None:
    assert whole("5400.6") == 5401
    assert whole(None) is None


def test_text() -> None:
    assert text("  S19  ") == "S19"
    assert text("   ") is None
    assert text(19) is None
