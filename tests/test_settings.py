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


def test_limits_are_the_settings_when_taken() -> None:
    settings.update("api_function_timeout", 1.5)
    settings.update("network_ping_timeout", 0.25)
    settings.update("factory_get_timeout", 2)
    settings.update("max_response_bytes", 4096)
    limits = settings.limits()
    assert limits == settings.Limits(1.5, 0.25, 2.0, 4096)
    settings.update("api_function_timeout", 9)
    assert limits.request_timeout == 1.5  # a snapshot: frozen, not a view
    with pytest.raises(AttributeError):
        limits.request_timeout = 3.0  # type: ignore[misc]
    # a call's own timeout first, then the client's, then the limit
    assert limits.timeout_for(0.1, 7.0) == 0.1
    assert limits.timeout_for(None, 7.0) == 7.0
    assert limits.timeout_for(None, None) == 1.5
    assert limits.cap_for(10) == 10 and limits.cap_for(None) == 4096


async def test_update_before_creating_miners_reaches_every_request() -> None:
    """pyasic's habit: settings.update() first, then make miners.  A miner and every client
    it keeps run under the limits of that moment; one made earlier keeps its own."""
    import asyncio

    from asic_bridge.drivers.antminer import AntminerModern
    from asic_bridge.drivers.cgminer import CGMiner

    before = CGMiner("127.0.0.1")
    settings.update("api_function_timeout", 0.3)
    settings.update("max_response_bytes", 5000)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    miner = CGMiner("127.0.0.1", ports={"rpc": port})
    web = AntminerModern("127.0.0.1")
    try:
        assert miner.limits.request_timeout == 0.3 and miner.rpc.limits is miner.limits
        assert web.web.limits is web.limits and web.web._cap() == 5000
        assert before.limits.request_timeout == 5.0 and before.rpc.limits is before.limits
        async with asyncio.timeout(20):  # bounds the test; not a speed assertion
            data = await miner.get_data(include=["hashrate"])
        assert "no answer within 0.3 s" in data.field_errors["hashrate"]
    finally:
        await miner.aclose()
        await web.aclose()
        server.close()
        await server.wait_closed()


async def test_identification_hands_its_limits_to_the_probes() -> None:
    from asic_bridge import factory

    settings.update("factory_get_timeout", 0.4)
    settings.update("network_ping_timeout", 0.2)
    evidence = await factory.probe("127.30.251.9", {}, per_probe=0.4, limits=settings.limits())
    assert evidence.limits.identify_timeout == 0.4 and evidence.limits.connect_timeout == 0.2
    assert not evidence.answered
