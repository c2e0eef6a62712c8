"""Shared fixtures: settings are reset around every test so no test leaks a change."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bridge_support import short_timeouts_fixture  # noqa: F401  (`short_timeouts`, for every test file)

from asic_bridge import settings


@pytest.fixture(autouse=True)
def _reset_settings() -> Iterator[None]:
    settings.reset()
    yield
    settings.reset()
