"""Fixtures for the Home Assistant tests (pytest-homeassistant-custom-component)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
import json
import os
from pathlib import Path
import subprocess
from typing import Any
from unittest.mock import Mock

from homeassistant.core import HomeAssistant
import pytest

from custom_components.asic_bridge import const

ROOT = Path(__file__).resolve().parent.parent
DAEMON_PYTHON = Path(os.environ.get("ASIC_BRIDGE_PYTHON", ROOT / ".venv" / "bin" / "python"))


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/ in every test."""


@pytest.fixture(autouse=True)
async def close_mqtt_socket(hass: HomeAssistant, mqtt_client_mock: Mock) -> AsyncGenerator[None]:
    """Report the mocked paho socket closed after each test.

    HA 2025.4's MQTT client keeps a periodic timer until the socket closes, and the mocked
    client never closes it: without this, teardown fails with "Lingering timer".
    """
    yield
    sock = Mock(fileno=Mock(return_value=-1))
    mqtt_client_mock.on_socket_close(mqtt_client_mock, None, sock)
    await hass.async_block_till_done()


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waits short enough for a test that expects no answer."""
    for key in const.TIMEOUTS:
        monkeypatch.setitem(const.TIMEOUTS, key, 0.3)
    monkeypatch.setitem(const.OFFLINE_GRACE_SECONDS, "value", 60.0)


def _generate(out: Path) -> list[dict[str, Any]]:
    """The bridge's real discovery payloads (tests_ha/gen_discovery.py, daemon venv)."""
    if not DAEMON_PYTHON.exists():
        pytest.fail(f"the daemon venv is missing ({DAEMON_PYTHON}); run scripts/setup first")
    subprocess.run(
        [str(DAEMON_PYTHON), str(ROOT / "tests_ha" / "gen_discovery.py"), str(out)],
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    return json.loads(out.read_text(encoding="utf-8"))["cases"]


@pytest.fixture(scope="session")
def discovery_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    cases = _generate(tmp_path_factory.mktemp("discovery") / "cases.json")
    return {case["name"]: case for case in cases}
