"""The real-capture corpus itself: every capture has its provenance, MACs are masked."""

from __future__ import annotations

import re

import pytest
from real_captures import (
    REAL,
    SOURCES_FILE,
    capture_files,
    families,
    shape_diff,
    sources,
)

MAC = re.compile(r"\b(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}\b")
MASKED_PREFIX = "00:00:5e:00:53"


@pytest.mark.parametrize("family", families())
def test_every_capture_has_a_source_and_every_source_a_capture(family: str) -> None:
    table = sources(family)
    on_disk = {p.relative_to(REAL / family).as_posix() for p in capture_files(family)}
    assert on_disk, f"{family}: no captures"
    assert on_disk - table.keys() == set(), f"{family}: captures without a {SOURCES_FILE} entry"
    assert table.keys() - on_disk == set(), f"{family}: {SOURCES_FILE} names missing files"
    for name, entry in table.items():
        assert isinstance(entry, dict) and str(entry.get("source", "")).strip(), (
            f"{family}/{name}: no source"
        )


@pytest.mark.parametrize("family", families())
def test_macs_are_masked(family: str) -> None:
    for path in capture_files(family):
        for mac in MAC.findall(path.read_text(encoding="utf-8", errors="replace")):
            normal = mac.lower().replace("-", ":")
            assert normal.startswith(MASKED_PREFIX) or normal == "00:00:00:00:00:00", (
                f"{path.relative_to(REAL)}: unmasked MAC {mac}"
            )


def test_shape_diff_finds_missing_invented_and_retyped_keys() -> None:
    capture = {"a": 1, "b": [{"x": 1.0, "y": "s"}], "c": None}
    answer = {"a": 1.0, "b": [{"x": 1.0}, {"x": 2.0, "y": "t", "z": True}], "d": 0}
    problems = shape_diff(capture, answer)
    assert "$.a: capture has int, answer has float" in problems
    assert "$.b[].y: missing in answer" in problems
    assert "$.b[].z: invented by answer (not in capture)" in problems
    assert "$.c: missing in answer" in problems
    assert "$.d: invented by answer (not in capture)" in problems
    assert shape_diff(capture, answer, ignore=["$.a", "$.b[].y", "$.b[].z", "$.c", "$.d"]) == []
    assert shape_diff(capture, dict(capture)) == []
