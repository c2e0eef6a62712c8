"""Shared fixtures: settings are reset around every test so no test leaks a change."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asic_bridge import settings


@pytest.fixture(autouse=True)
def _reset_settings() -> Iterator[None]:
    settings.reset()
    yield
    settings.reset()
