from __future__ import annotations

import pytest

from asic_bridge import Credentials, SettingsError, settings

PYASIC_DEFAULTS = {
    "network_ping_retries": 1,
    "network_ping_timeout": 3,
    "network_scan_threads": 300,
    "factory_get_retries": 1,
    "factory_get_timeout": 3,
    "get_data_retries": 1,
    "api_function_timeout": 5,
    "default_whatsminer_password": "admin",
    "default_innosilicon_password": "admin",
    "default_antminer_password": "root",
    "default_bosminer_password": "root",
    "default_vnish_password": "admin",
    "default_goldshell_password": "123456789",
    "socket_linger_time": 1000,
}


@pytest.mark.parametrize(("key", "value"), PYASIC_DEFAULTS.items())
def test_documented_defaults(key: str, value: object) -> None:
    assert settings.get(key) == value


def test_update_then_get_and_reset() -> None:
    settings.update("network_ping_timeout", 1)
    assert settings.get("network_ping_timeout") == 1.0
    assert isinstance(settings.get("network_ping_timeout"), float)
    settings.update("default_antminer_password", "s3cret")
    assert settings.get("default_antminer_password") == "s3cret"
    settings.reset()
    assert settings.get("default_antminer_password") == "root"


def test_unknown_key_is_a_clear_error() -> None:
    with pytest.raises(SettingsError, match="unknown setting 'network_scan_thread'"):
        settings.update("network_scan_thread", 10)
    with pytest.raises(SettingsError, match="unknown setting 'nope'"):
        settings.get("nope")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("network_scan_threads", "300"),
        ("network_scan_threads", 2.5),
        ("network_scan_threads", True),
        ("api_function_timeout", "5"),
        ("default_antminer_password", 1234),
        ("network_ping_timeout", -1),
    ],
)
def test_wrong_type_names_the_key(key: str, value: object) -> None:
    before = settings.get(key)
    with pytest.raises(SettingsError, match=key):
        settings.update(key, value)
    assert settings.get(key) == before  # a rejected update changes nothing


def test_password_values_never_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        settings.update("default_antminer_password", 123456789)
    assert "123456789" not in str(info.value)
    assert settings.as_dict()["default_antminer_password"] == "***"


def test_per_miner_credentials_do_not_touch_globals() -> None:
    creds = Credentials(password="farm-pw")
    assert creds.password_or("default_antminer_password") == "farm-pw"
    assert Credentials().password_or("default_antminer_password") == "root"
    assert settings.get("default_antminer_password") == "root"
    assert "farm-pw" not in repr(creds)
