"""Fixtures for the Home Assistant tests (pytest-homeassistant-custom-component)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from unittest.mock import Mock

from homeassistant.core import HomeAssistant
import pytest

from custom_components.asic_bridge import const


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
