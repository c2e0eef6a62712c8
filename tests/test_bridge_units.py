"""Pure tests of the bridge's building blocks: no sockets, no broker, no event loop."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from asic_bridge.bridge.commands import (
    MAX_PAYLOAD,
    Action,
    RequestError,
    parse_set,
    parse_set_field,
    transaction_of,
)
from asic_bridge.bridge.config import BridgeConfig, parse_config
from asic_bridge.bridge.entities import (
    ORIGIN,
    bridge_device_id,
    bridge_discovery,
    discovery_messages,
)
from asic_bridge.bridge.fleet import Allocation, FleetMember, allocate
from asic_bridge.bridge.registry import DeviceRecord, Registry
from asic_bridge.bridge.state import stable_boot_time, state_payload
from asic_bridge.bridge.topics import Incoming, Topics, mac_id, valid_id
from asic_bridge.data import Fan, HashBoard, MinerData, PoolMetrics
from asic_bridge.data.errors import MinerErrorData
from asic_bridge.drivers.base import Capability
from asic_bridge.errors import ConfigError

ALL_CAPS = sorted(c.value for c in Capability)
SECRET = "hunter2-Secret"


def record(**overrides: Any) -> DeviceRecord:
    base: dict[str, Any] = {
        "id": "02aabbccddee",
        "mac": "02:aa:bb:cc:dd:ee",
        "ip": "10.0.0.5",
        "make": "AntMiner",
        "model": "S19j Pro",
        "firmware": "Stock",
        "fw_ver": "2023.01",
        "serial_number": "SN123",
        "capabilities": ALL_CAPS,
        "modes": ["low", "normal", "high"],
        "power_min": 1500,
        "power_max": 3600,
        "expected_hashboards": 3,
        "expected_fans": 4,
    }
    base.update(overrides)
    return DeviceRecord(**base)


# ============================================================================ topics
T = Topics("asic_bridge", "homeassistant")


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("homeassistant/status", Incoming("ha_status")),
        ("asic_bridge/bridge/request/scan", Incoming("bridge_request", name="scan")),
        ("asic_bridge/bridge/request/poll", Incoming("bridge_request", name="poll")),
        (
            "asic_bridge/bridge/request/device/rename",
            Incoming("bridge_request", name="device/rename"),
        ),
        ("asic_bridge/bridge/request/a/b/c", Incoming("bridge_request", name="a/b/c")),
        ("asic_bridge/fleet/all/set", Incoming("fleet_set", target="all")),
        ("asic_bridge/02aabbccddee/set", Incoming("set", target="02aabbccddee")),
        (
            "asic_bridge/garage_s19/set/power_limit",
            Incoming("set_field", target="garage_s19", name="power_limit"),
        ),
        ("asic_bridge/02aabbccddee/get", Incoming("get", target="02aabbccddee")),
    ],
)
def test_classify_every_incoming_kind(topic: str, expected: Incoming) -> None:
    assert T.classify(topic) == expected


@pytest.mark.parametrize(
    "topic",
    [
        # the bridge's own publications must never be taken for commands
        "asic_bridge/bridge/state",
        "asic_bridge/bridge/info",
        "asic_bridge/bridge/devices",
        "asic_bridge/bridge/event",
        "asic_bridge/bridge/response/scan",
        "asic_bridge/bridge/set",  # reserved id "bridge"
        "asic_bridge/bridge/set/power_limit",
        "asic_bridge/bridge/get",
        "asic_bridge/fleet/set",  # reserved id "fleet"
        "asic_bridge/fleet/all",  # fleet state
        "asic_bridge/fleet/all/response",
        "asic_bridge/02aabbccddee",  # miner state
        "asic_bridge/02aabbccddee/availability",
        "asic_bridge/02aabbccddee/response",
        "asic_bridge/02aabbccddee/hashrate",  # per-field topic
        "asic_bridge/02aabbccddee/set/power_limit/extra",
        "asic_bridge",
        "other_base/02aabbccddee/set",
        "asic_bridge_x/02aabbccddee/set",
        "homeassistant/sensor/x/y/config",
        "homeassistant/status/extra",
    ],
)
def test_classify_ignores_everything_else(topic: str) -> None:
    assert T.classify(topic) is None


def test_classify_with_multi_level_base_and_custom_prefix() -> None:
    topics = Topics("site/a/miners", "ha")
    assert topics.classify("site/a/miners/m1/set") == Incoming("set", target="m1")
    assert topics.classify("ha/status") == Incoming("ha_status")
    assert topics.classify("homeassistant/status") is None
    assert topics.classify("site/a/m1/set") is None


def test_subscriptions_cover_exactly_the_classified_kinds() -> None:
    subs = T.subscriptions()
    assert "asic_bridge/+/set" in subs
    assert "asic_bridge/+/set/+" in subs
    assert "asic_bridge/+/get" in subs
    assert "asic_bridge/bridge/request/+" in subs
    assert "asic_bridge/bridge/request/+/+" in subs  # device/rename, device/remove, ...
    assert "asic_bridge/fleet/+/set" in subs
    assert "homeassistant/status" in subs
    # no subscription catches the bridge's own retained output (state, availability, config)
    assert not any(s.endswith("#") for s in subs)


@pytest.mark.parametrize("good", ["02aabbccddee", "garage_s19", "Rack-1", "a" * 64])
def test_valid_ids(good: str) -> None:
    assert valid_id(good)


@pytest.mark.parametrize(
    "bad", ["bridge", "fleet", "", "a" * 65, "a/b", "a+b", "#", "+", "has space", "ü", "a.b"]
)
def test_invalid_ids(bad: str) -> None:
    assert not valid_id(bad)


def test_mac_id() -> None:
    assert mac_id("02:AA:bb:CC:dd:EE") == "02aabbccddee"
    assert mac_id("02-aa-bb-cc-dd-ee") == "02aabbccddee"


def test_topic_builders() -> None:
    assert T.state("m") == "asic_bridge/m"
    assert T.availability("m") == "asic_bridge/m/availability"
    assert T.set_field("m", "mining") == "asic_bridge/m/set/mining"
    assert T.response("m") == "asic_bridge/m/response"
    assert T.fleet_state("all") == "asic_bridge/fleet/all"
    assert T.discovery("sensor", "m", "hashrate") == "homeassistant/sensor/m/hashrate/config"
    assert T.device_discovery("m") == "homeassistant/device/m/config"


# ============================================================================ commands
DEV = record()


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"power_limit": 3000}', [Action("power_limit", 3000)]),
        (b'{"power_limit": "2999.6"}', [Action("power_limit", 3000)]),
        (b'{"mining": false}', [Action("mining", False)]),
        (b'{"mining": "ON"}', [Action("mining", True)]),
        (b'{"mining": "off"}', [Action("mining", False)]),
        (b'{"mining": 1}', [Action("mining", True)]),
        (b'{"mining": "0"}', [Action("mining", False)]),
        (b'{"fault_light": true}', [Action("fault_light", True)]),
        (b'{"fault_light": "OFF"}', [Action("fault_light", False)]),
        (b'{"mode": "LOW"}', [Action("mode", "low")]),
        (b'{"action": "reboot"}', [Action("action", "reboot")]),
        (b'{"action": "restart_backend"}', [Action("action", "restart_backend")]),
        (b'{"action": "identify"}', [Action("action", "identify")]),
        # settings before on/off, actions last, whatever the order in the payload
        (
            b'{"action": "reboot", "mining": true, "power_limit": 2000, "mode": "high"}',
            [
                Action("mode", "high"),
                Action("power_limit", 2000),
                Action("mining", True),
                Action("action", "reboot"),
            ],
        ),
    ],
)
def test_parse_set_valid(payload: bytes, expected: list[Action]) -> None:
    command = parse_set(payload, DEV)
    assert list(command.actions) == expected
    assert command.transaction is None


def test_parse_set_transaction_is_kept_and_not_an_action() -> None:
    command = parse_set(b'{"mining": true, "transaction": "t-1"}', DEV)
    assert command.transaction == "t-1"
    assert command.actions == (Action("mining", True),)
    assert command.name == "mining"
    assert parse_set(b'{"mining": true, "transaction": 7}', DEV).transaction == 7


@pytest.mark.parametrize(
    ("field", "payload", "expected"),
    [
        ("power_limit", b"3000", Action("power_limit", 3000)),
        ("power_limit", b" 2500 \n", Action("power_limit", 2500)),
        ("power_limit", b'"2500"', Action("power_limit", 2500)),
        ("mining", b"ON", Action("mining", True)),
        ("mining", b"OFF", Action("mining", False)),
        ("mining", b"true", Action("mining", True)),
        ("mining", b"false", Action("mining", False)),
        ("mining", b"1", Action("mining", True)),
        ("mining", b"0", Action("mining", False)),
        ("fault_light", b"on", Action("fault_light", True)),
        ("mode", b"normal", Action("mode", "normal")),
        ("mode", b'"high"', Action("mode", "high")),
        ("action", b"identify", Action("action", "identify")),
    ],
)
def test_parse_set_field_valid(field: str, payload: bytes, expected: Action) -> None:
    command = parse_set_field(field, payload, DEV)
    assert command.actions == (expected,)
    assert command.transaction is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"power_limit": 99999}', "outside 1500-3600"),
        (b'{"power_limit": 1499}', "outside 1500-3600"),
        (b'{"power_limit": "lots"}', "number of watts"),
        (b'{"power_limit": true}', "number of watts"),
        (b'{"power_limit": null}', "number of watts"),
        (b'{"power_limit": [3000]}', "number of watts"),
        (b'{"power_limit": NaN}', "number of watts"),
        (b'{"power_limit": Infinity}', "number of watts"),
        (b'{"power_limit": 1e999}', "number of watts"),
        (b'{"power_limit": "inf"}', "number of watts"),
        (b'{"mining": "maybe"}', "true/false"),
        (b'{"mining": 2}', "true/false"),
        (b'{"mining": null}', "true/false"),
        (b'{"fault_light": {}}', "true/false"),
        (b'{"mode": "turbo"}', "mode must be one of low, normal, high"),
        (b'{"mode": 3}', "mode must be one of"),
        (b'{"action": "selfdestruct"}', "action must be one of"),
        (b'{"colour": "red"}', "unknown field 'colour'"),
        (b'{"mining": true, "colour": "red"}', "unknown field"),  # one bad field: nothing runs
        (b"{}", "nothing to set"),
        (b'{"transaction": "t"}', "nothing to set"),
        (b"not json", "not valid JSON"),
        (b'{"mining": fals', "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"mining"', "JSON object"),
        (b"3000", "JSON object"),
        (b"null", "JSON object"),
        (b"[" * 2000 + b"]" * 2000, "not valid JSON"),  # deep nesting (RecursionError)
        (b'{"mining": "' + b"x" * MAX_PAYLOAD + b'"}', "too large"),
        (b'{"mining": "\xff\xfe"}', "not UTF-8"),
    ],
)
def test_parse_set_rejects(payload: bytes, reason: str) -> None:
    with pytest.raises(RequestError, match=reason.replace("(", r"\(")):
        parse_set(payload, DEV)


@pytest.mark.parametrize(
    ("field", "payload", "reason"),
    [
        ("power_limit", b"", "number of watts"),
        ("power_limit", b"3 kW", "number of watts"),
        ("power_limit", b"inf", "number of watts"),
        ("power_limit", b"1e400", "number of watts"),
        ("power_limit", b"nan", "number of watts"),
        ("power_limit", b"-5", "outside"),
        ("power_limit", b"100000", "outside"),
        ("mining", b"perhaps", "true/false"),
        ("mining", b'{"on": true}', "one plain value"),
        ("mining", b"[true]", "one plain value"),
        ("mining", b'"unterminated', "not a valid value"),
        ("mode", b"turbo", "mode must be one of"),
        ("volume", b"11", "unknown field 'volume'"),
        ("", b"1", "unknown field"),
        ("transaction", b"t", "unknown field"),
        ("mining", b"\xc3\x28", "not UTF-8"),
        ("power_limit", b"9" * (MAX_PAYLOAD + 1), "too large"),
    ],
)
def test_parse_set_field_rejects(field: str, payload: bytes, reason: str) -> None:
    with pytest.raises(RequestError, match=reason):
        parse_set_field(field, payload, DEV)


def test_power_limit_without_a_known_range_must_still_be_positive() -> None:
    device = record(power_min=None, power_max=None)
    assert parse_set_field("power_limit", b"12345", device).actions[0].value == 12345
    with pytest.raises(RequestError, match="positive"):
        parse_set_field("power_limit", b"0", device)
    with pytest.raises(RequestError, match="positive"):
        parse_set_field("power_limit", b"-100", device)
    with pytest.raises(RequestError, match="number of watts"):
        parse_set_field("power_limit", b"1e400", device)


@pytest.mark.parametrize(
    ("payload", "capability"),
    [
        (b'{"power_limit": 3000}', Capability.POWER_LIMIT),
        (b'{"mining": false}', Capability.STOP_MINING),
        (b'{"fault_light": true}', Capability.FAULT_LIGHT),
        (b'{"action": "identify"}', Capability.FAULT_LIGHT),
        (b'{"mode": "low"}', Capability.MINING_MODES),
        (b'{"action": "reboot"}', Capability.REBOOT),
        (b'{"action": "restart_backend"}', Capability.RESTART_BACKEND),
    ],
)
def test_unsupported_capability_is_refused(payload: bytes, capability: Capability) -> None:
    caps = [c for c in ALL_CAPS if c != capability.value]
    device = record(capabilities=caps)
    with pytest.raises(RequestError, match="not supported by AntMiner Stock"):
        parse_set(payload, device)
    # the same command on a miner that has the capability is fine
    assert parse_set(payload, DEV).actions


def test_mode_needs_modes_even_with_the_capability() -> None:
    with pytest.raises(RequestError, match="mode must be one of"):
        parse_set(b'{"mode": "low"}', record(modes=[]))


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"transaction": "abc", "colour": 1}', "abc"),
        (b'{"transaction": 42}', 42),
        (b'{"transaction": {"n": 1}}', None),  # unusable: the refusal says why
        (b'{"mining": true}', None),
        (b"[1]", None),
        (b"garbage", None),
        (b"\xff", None),
        (b"[" * 3000, None),
    ],
)
def test_transaction_is_echoed_even_from_invalid_commands(payload: bytes, expected: Any) -> None:
    assert transaction_of(payload) == expected


# ============================================================================ config
def config_error(raw: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    return str(info.value)


def test_defaults() -> None:
    config = parse_config(None)
    assert config.mqtt.url == "embedded"
    assert config.mqtt.base_topic == "asic_bridge"
    assert config.mqtt.discovery_prefix == "homeassistant"
    assert config.miners.poll_interval == 10
    assert config.fleet.groups.keys() == {"all"}
    assert config.mqtt.endpoint() == ("127.0.0.1", 1883, False, None, None)


def test_shipped_bridge_yaml_is_valid() -> None:
    from asic_bridge.bridge.config import load_config

    config = load_config(Path(__file__).parent.parent / "bridge.yaml")
    assert config.simulator.miners
    assert config.mqtt.embedded_broker


@pytest.mark.parametrize(
    ("raw", "key", "reason"),
    [
        ({"mqtt": {"bogus": 1}}, "mqtt.bogus", "Extra inputs are not permitted"),
        ({"nonsense": {}}, "nonsense", "Extra inputs are not permitted"),
        ({"miners": {"hosts": [{"ip": "10.0.0.1", "x": 1}]}}, "miners.hosts.0.x", "Extra"),
        ({"mqtt": {"url": "http://broker"}}, "mqtt.url", "must be 'embedded'"),
        ({"mqtt": {"url": "mqtt://"}}, "mqtt.url", "no host name"),
        ({"mqtt": {"url": "mqtt://host:99999"}}, "mqtt.url", "invalid port"),
        ({"mqtt": {"base_topic": "a/#"}}, "mqtt.base_topic", "without '+', '#'"),
        ({"mqtt": {"base_topic": ""}}, "mqtt.base_topic", "non-empty"),
        ({"mqtt": {"discovery_prefix": "home assistant"}}, "mqtt.discovery_prefix", "spaces"),
        ({"mqtt": {"discovery_mode": "both"}}, "mqtt.discovery_mode", "'entity' or 'device'"),
        ({"mqtt": {"qos": 3}}, "mqtt.qos", "less than or equal to 2"),
        ({"mqtt": {"state_qos": -1}}, "mqtt.state_qos", "greater than or equal to 0"),
        ({"mqtt": {"keepalive": 1}}, "mqtt.keepalive", "greater than or equal to 5"),
        ({"mqtt": {"protocol": "4"}}, "mqtt.protocol", "'auto', '3.1.1' or '5'"),
        ({"mqtt": {"embedded": {"port": 0}}}, "mqtt.embedded.port", "greater than or equal"),
        ({"mqtt": "embedded"}, "mqtt", "valid dictionary"),
        ({"miners": {"hosts": ["10.0.0.300"]}}, "miners.hosts.0.ip", "10.0.0.300"),
        ({"miners": {"hosts": "10.0.0.1"}}, "miners.hosts", "valid list"),
        ({"miners": {"scan": ["10.0.0.1-300"]}}, "miners.scan", "must be 0-255"),
        ({"miners": {"scan": ["10.0.0.0/33"]}}, "miners.scan", "bad subnet"),
        ({"miners": {"poll_interval": 0.5}}, "miners.poll_interval", "greater than or equal"),
        ({"miners": {"poll_interval": "often"}}, "miners.poll_interval", "valid number"),
        ({"miners": {"scan_interval": -1}}, "miners.scan_interval", "greater than or equal"),
        ({"miners": {"concurrency": 0}}, "miners.concurrency", "greater than or equal"),
        ({"miners": {"names": {"02:aa:bb:cc:dd:ee": "a b"}}}, "miners.names", "letters"),
        ({"fleet": {"groups": {"g": {"miners": "m1"}}}}, "fleet.groups.g.miners", "valid list"),
        ({"simulator": {"miners": "cgminer@127.0.0.2"}}, "simulator.miners", "valid list"),
        ({"log_level": "loud"}, "log_level", "'debug', 'info', 'warning' or 'error'"),
        ({"credentials": {"antminer": {"pasword": "x"}}}, "credentials.antminer.pasword", "Extra"),
    ],
)
def test_bad_keys_name_the_key_and_the_reason(raw: Any, key: str, reason: str) -> None:
    message = config_error(raw)
    assert f"{key}:" in message
    assert reason in message


def test_top_level_must_be_a_mapping() -> None:
    assert "top level must be a mapping" in config_error(["mqtt"])
    assert "top level must be a mapping" in config_error("mqtt: x")


@pytest.mark.parametrize(
    "name", ["bridge", "fleet", "has space", "a/b", "a+b", "#", "", "x" * 65, "dot.ted"]
)
def test_friendly_name_rules(name: str) -> None:
    message = config_error({"miners": {"hosts": [{"ip": "10.0.0.1", "friendly_name": name}]}})
    assert "miners.hosts.0.friendly_name:" in message
    assert "letters, digits" in message


def test_friendly_names_ok_and_must_be_unique() -> None:
    config = parse_config(
        {"miners": {"hosts": [{"ip": "10.0.0.1", "friendly_name": "Garage_S19-2"}, "10.0.0.2"]}}
    )
    assert config.miners.hosts[0].friendly_name == "Garage_S19-2"
    assert config.miners.hosts[1].ip == "10.0.0.2"
    message = config_error(
        {
            "miners": {
                "hosts": [{"ip": "10.0.0.1", "friendly_name": "a"}],
                "names": {"02:aa:bb:cc:dd:ee": "a"},
            }
        }
    )
    assert "miners:" in message  # names the section the clash is in, not "(root)"
    assert "friendly names must be unique: a" in message


def test_secrets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AB_TEST_MQTT_PASSWORD", SECRET)
    monkeypatch.setenv("AB_TEST_MINER_PASSWORD", "miner-" + SECRET)
    config = parse_config(
        {
            "mqtt": {"url": "mqtt://bob:${AB_TEST_MQTT_PASSWORD}@broker.lan:1884"},
            "credentials": {"antminer": {"password": "${AB_TEST_MINER_PASSWORD}"}},
            "miners": {"hosts": [{"ip": "10.0.0.1", "password": "pre-${AB_TEST_MINER_PASSWORD}"}]},
        }
    )
    assert config.mqtt.endpoint() == ("broker.lan", 1884, False, "bob", SECRET)
    assert config.credentials["antminer"].password == "miner-" + SECRET
    assert config.miners.hosts[0].password == "pre-miner-" + SECRET


def test_missing_environment_variable_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AB_TEST_UNSET", raising=False)
    message = config_error({"mqtt": {"password": "${AB_TEST_UNSET}"}})
    assert "mqtt.password" in message
    assert "AB_TEST_UNSET is not set" in message
    message = config_error({"miners": {"hosts": [{"ip": "${AB_TEST_UNSET}"}]}})
    assert "miners.hosts.0.ip" in message


def test_mqtts_url_and_url_credentials() -> None:
    config = parse_config({"mqtt": {"url": "mqtts://u%40x:p%3Aw@broker"}})
    assert config.mqtt.endpoint() == ("broker", 8883, True, "u@x", "p:w")
    config = parse_config({"mqtt": {"url": "mqtt://broker", "username": "u", "password": "p"}})
    assert config.mqtt.endpoint() == ("broker", 1883, False, "u", "p")


def full_secret_config() -> BridgeConfig:
    return parse_config(
        {
            "mqtt": {
                "url": f"mqtt://bob:{SECRET}@broker.lan:1883",
                "password": "mqtt-" + SECRET,
            },
            "credentials": {"antminer": {"username": "root", "password": "cred-" + SECRET}},
            "miners": {"hosts": [{"ip": "10.0.0.1", "password": "host-" + SECRET}]},
        }
    )


def test_summary_never_contains_passwords() -> None:
    config = full_secret_config()
    text = json.dumps(config.summary())
    assert SECRET not in text
    assert "bob:***@broker.lan:1883" in text
    assert "10.0.0.1" in text
    assert SECRET not in repr(config)


@pytest.mark.parametrize(
    "raw",
    [
        {"mqtt": {"url": f"mqtt://bob:{SECRET}@broker:99999"}},
        {"mqtt": {"url": f"ftp://bob:{SECRET}@broker"}},
        {"mqtt": {"password": SECRET, "qos": 9}},
        {"mqtt": {"password": ["not", SECRET]}},
        {"credentials": {"antminer": SECRET}},
        {"credentials": {"antminer": {"password": SECRET, "oops": 1}}},
        {"miners": {"hosts": [{"ip": "10.0.0.1", "password": 5, "friendly_name": SECRET}]}},
        # a clash detected across sections must not dump the surrounding (secret) input
        {
            "mqtt": {"url": f"mqtt://bob:{SECRET}@broker"},
            "miners": {
                "hosts": [
                    {"ip": "10.0.0.1", "friendly_name": "a", "password": SECRET},
                    {"ip": "10.0.0.2", "friendly_name": "a"},
                ]
            },
        },
    ],
)
def test_config_errors_never_echo_secrets(raw: Any) -> None:
    message = config_error(raw)
    # the friendly_name case is the one place the secret-looking text is *not* a secret,
    # but it is still not echoed in full (it is a valid name); everything else: redacted
    assert SECRET not in message, message


# ============================================================================ entities
def entity_messages(**kwargs: Any) -> dict[str, dict[str, Any]]:
    return discovery_messages(record(**kwargs.pop("rec", {})), T, **kwargs)


def test_every_entity_config_has_identity_device_origin_and_availability() -> None:
    messages = entity_messages()
    assert messages
    unique_ids = set()
    for topic, config in messages.items():
        component, node, object_id = topic.split("/")[1:4]
        assert topic == f"homeassistant/{component}/{node}/{object_id}/config"
        assert node == "02aabbccddee"
        assert config["unique_id"] == f"asic_bridge_02aabbccddee_{object_id}"
        # both spellings of the entity-id hint: HA <= 2025.9 reads object_id, later ones
        # default_entity_id (tests_ha checks the ids on the oldest and newest HA)
        assert config["default_entity_id"] == f"{component}.miner_02aabbccddee_{object_id}"
        assert config["object_id"] == f"miner_02aabbccddee_{object_id}"
        unique_ids.add((component, config["unique_id"]))
        assert config["availability"] == [
            {"topic": "asic_bridge/bridge/state"},
            {"topic": "asic_bridge/02aabbccddee/availability"},
        ]
        assert config["availability_mode"] == "all"
        assert "availability_topic" not in config
        assert config["origin"] == ORIGIN and config["origin"]["name"] == "asic_bridge"
        device = config["device"]
        assert device["identifiers"] == ["asic_bridge_02aabbccddee"]
        assert device["connections"] == [["mac", "02:aa:bb:cc:dd:ee"]]
        assert device["manufacturer"] == "AntMiner"
        assert device["model"] == "S19j Pro"
        assert device["sw_version"] == "2023.01"
        assert device["serial_number"] == "SN123"
        assert device["configuration_url"] == "http://10.0.0.5/"
        assert device["via_device"] == bridge_device_id(T)
        if component in ("sensor", "binary_sensor", "switch", "number", "select"):
            assert config["state_topic"] == "asic_bridge/02aabbccddee"
            assert "value_json." in config["value_template"]
    assert len(unique_ids) == len(messages)


def test_friendly_name_sets_entity_ids_and_device_name() -> None:
    messages = entity_messages(rec={"id": "garage", "friendly_name": "garage"})
    config = messages["homeassistant/sensor/garage/hashrate/config"]
    assert config["default_entity_id"] == "sensor.garage_hashrate"
    assert config["object_id"] == "garage_hashrate"
    assert config["device"]["name"] == "garage"
    assert config["unique_id"] == "asic_bridge_garage_hashrate"


def test_http_port_override_in_configuration_url() -> None:
    config = next(iter(entity_messages(rec={"ports": {"http": 8081}}).values()))
    assert config["device"]["configuration_url"] == "http://10.0.0.5:8081/"


def _by_key(messages: dict[str, dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(t.split("/")[1], t.split("/")[3]): c for t, c in messages.items()}


def test_controls_only_with_capabilities() -> None:
    full = _by_key(entity_messages())
    assert ("switch", "mining") in full
    assert ("switch", "fault_light") in full
    assert ("number", "power_limit") in full
    assert ("select", "mode") in full
    assert ("button", "reboot") in full
    assert ("button", "restart_backend") in full
    assert ("button", "identify") in full

    none = _by_key(entity_messages(rec={"capabilities": [], "modes": []}))
    controls = {"switch", "number", "select", "button"}
    assert not [k for k in none if k[0] in controls]
    assert ("sensor", "hashrate") in none and ("binary_sensor", "mining") in none
    # with a Mining switch, the switch shows the state: no second "Mining" entity
    assert ("binary_sensor", "mining") not in full

    only_light = _by_key(entity_messages(rec={"capabilities": ["fault_light"]}))
    assert {k for k in only_light if k[0] in controls} == {
        ("switch", "fault_light"),
        ("button", "identify"),
    }
    no_modes = _by_key(entity_messages(rec={"modes": []}))
    assert ("select", "mode") not in no_modes


def test_control_configs() -> None:
    full = _by_key(entity_messages())
    number = full[("number", "power_limit")]
    assert number["min"] == 1500 and number["max"] == 3600
    assert number["command_topic"] == "asic_bridge/02aabbccddee/set/power_limit"
    assert number["unit_of_measurement"] == "W" and number["device_class"] == "power"
    assert 1 <= number["step"] <= 50
    other = _by_key(entity_messages(rec={"power_min": 100, "power_max": 300}))
    assert (other[("number", "power_limit")]["min"], other[("number", "power_limit")]["max"]) == (
        100,
        300,
    )
    switch = full[("switch", "mining")]
    assert switch["command_topic"] == "asic_bridge/02aabbccddee/set/mining"
    assert (switch["payload_on"], switch["payload_off"]) == ("ON", "OFF")
    # what HA sends is what the bridge parses
    dev = record()
    assert parse_set_field("mining", switch["payload_off"].encode(), dev).actions == (
        Action("mining", False),
    )
    select = full[("select", "mode")]
    assert select["options"] == ["low", "normal", "high"]
    assert select["command_topic"] == "asic_bridge/02aabbccddee/set/mode"
    for key in ("reboot", "restart_backend", "identify"):
        button = full[("button", key)]
        assert button["command_topic"] == "asic_bridge/02aabbccddee/set/action"
        assert parse_set_field("action", button["payload_press"].encode(), dev).actions == (
            Action("action", key),
        )
    assert full[("button", "reboot")]["device_class"] == "restart"
    assert full[("button", "identify")]["device_class"] == "identify"


@pytest.mark.parametrize(
    ("component", "key", "unit", "device_class", "state_class"),
    [
        ("sensor", "hashrate", "TH/s", None, "measurement"),
        ("sensor", "expected_hashrate", "TH/s", None, "measurement"),
        ("sensor", "power", "W", "power", "measurement"),
        ("sensor", "efficiency", "J/TH", None, "measurement"),
        ("sensor", "temperature", "°C", "temperature", "measurement"),
        ("sensor", "chip_temperature", "°C", "temperature", "measurement"),
        ("sensor", "energy", "kWh", "energy", "total_increasing"),
        ("sensor", "boot_time", None, "timestamp", None),
        ("sensor", "board_0_hashrate", "TH/s", None, "measurement"),
        ("sensor", "board_2_temperature", "°C", "temperature", "measurement"),
        ("sensor", "fan_3_speed", "RPM", None, "measurement"),
        ("binary_sensor", "mining", None, "running", None),
        ("binary_sensor", "problem", None, "problem", None),
    ],
)
def test_units_and_classes(
    component: str, key: str, unit: str | None, device_class: str | None, state_class: str | None
) -> None:
    config = _by_key(entity_messages(rec={"capabilities": []}))[(component, key)]
    assert config.get("unit_of_measurement") == unit
    assert config.get("device_class") == device_class
    assert config.get("state_class") == state_class
    assert config["value_template"].startswith("{{")


def test_other_algorithm_units() -> None:
    config = _by_key(entity_messages(rec={"hashrate_unit": "GH/s"}))
    assert config[("sensor", "hashrate")]["unit_of_measurement"] == "GH/s"
    assert config[("sensor", "efficiency")]["unit_of_measurement"] == "J/GH"


def test_model_entities_before_the_first_poll_then_only_reported_ones() -> None:
    before = _by_key(entity_messages())
    assert ("sensor", "board_2_hashrate") in before and ("sensor", "fan_3_speed") in before
    reported = {"hashrate", "power", "board_0_hashrate", "board_1_hashrate", "fan_0_speed"}
    after = _by_key(entity_messages(reported=reported))
    assert ("sensor", "hashrate") in after and ("sensor", "power") in after
    assert ("sensor", "energy") in after  # the bridge's own counter, integrated from power
    assert ("sensor", "board_1_hashrate") in after
    assert ("sensor", "board_2_hashrate") not in after
    assert ("sensor", "board_0_temperature") not in after
    assert ("sensor", "chip_temperature") not in after
    assert ("sensor", "fan_3_speed") not in after
    assert ("switch", "mining") in after  # controls follow capabilities, not readings
    # boards beyond the catalog's count are announced when reported (slots 6-8 on an S9)
    s9 = _by_key(entity_messages(reported={"board_8_hashrate"}))
    assert ("sensor", "board_8_hashrate") in s9


def test_device_mode_payload_shape() -> None:
    entity_mode = entity_messages()
    messages = entity_messages(device_mode=True)
    assert list(messages) == ["homeassistant/device/02aabbccddee/config"]
    payload = messages["homeassistant/device/02aabbccddee/config"]
    assert payload["device"]["identifiers"] == ["asic_bridge_02aabbccddee"]
    assert payload["origin"]["name"] == "asic_bridge"
    assert payload["availability_mode"] == "all"
    assert len(payload["availability"]) == 2
    components = payload["components"]
    assert len(components) == len(entity_mode)
    platforms = {c["platform"] for c in components.values()}
    assert platforms == {"sensor", "binary_sensor", "switch", "number", "select", "button"}
    ids = [c["unique_id"] for c in components.values()]
    assert len(set(zip(ids, [c["platform"] for c in components.values()], strict=True))) == len(ids)
    for component in components.values():
        assert "device" not in component and "origin" not in component
        assert component["default_entity_id"] == f"{component['platform']}.{component['object_id']}"
        assert component["default_entity_id"].startswith(component["platform"] + ".")
    assert components["mining_switch"]["platform"] == "switch"
    assert components["mining_switch"]["object_id"] == "miner_02aabbccddee_mining"


def test_bridge_discovery() -> None:
    messages = bridge_discovery(T)
    ((topic, config),) = messages.items()
    assert topic.startswith("homeassistant/binary_sensor/")
    assert config["state_topic"] == "asic_bridge/bridge/state"
    assert (config["payload_on"], config["payload_off"]) == ("online", "offline")
    assert config["device"]["identifiers"] == [bridge_device_id(T)]
    assert config["device"]["name"] == "ASIC Bridge"  # not "asic_bridge (asic_bridge)"
    assert config["object_id"] == f"{bridge_device_id(T)}_connection_state"
    assert config["default_entity_id"] == f"binary_sensor.{config['object_id']}"
    other = bridge_discovery(Topics("site/asic", "homeassistant"))
    assert next(iter(other.values()))["device"]["name"] == "ASIC Bridge (site/asic)"


def test_no_energy_sensor_for_a_miner_that_reports_no_power() -> None:
    """A stock S19 reports no power: an energy sensor would read 0 kWh forever."""
    no_power = _by_key(entity_messages(reported={"hashrate", "temperature", "energy"}))
    assert ("sensor", "energy") not in no_power and ("sensor", "power") not in no_power
    with_power = _by_key(entity_messages(reported={"hashrate", "power", "energy"}))
    assert ("sensor", "energy") in with_power


def test_single_board_miner_gets_no_board_sensors() -> None:
    """A BitAxe's one board is the miner: its board readings repeat the totals."""
    keys = {"hashrate", "temperature", "total_chips", "board_0_hashrate", "board_0_temperature"}
    bitaxe = _by_key(entity_messages(rec={"expected_hashboards": 1}, reported=keys))
    assert ("sensor", "hashrate") in bitaxe and ("sensor", "total_chips") in bitaxe
    assert not [k for k in bitaxe if k[1].startswith("board_")]
    before_poll = _by_key(entity_messages(rec={"expected_hashboards": 1}))
    assert not [k for k in before_poll if k[1].startswith("board_")]
    # two boards (even when the catalog expected one) are announced
    two_boards = {"board_0_hashrate", "board_1_hashrate"}
    two = _by_key(entity_messages(rec={"expected_hashboards": 1}, reported=two_boards))
    assert ("sensor", "board_1_hashrate") in two and ("sensor", "board_0_hashrate") in two


@pytest.mark.parametrize("caps", [ALL_CAPS, [], ["fault_light"], ["stop_mining"]])
def test_every_entity_of_a_miner_has_its_own_short_name(caps: list[str]) -> None:
    messages = entity_messages(rec={"capabilities": caps})
    names = [config["name"] for config in messages.values()]
    assert len(names) == len(set(names)), sorted(names)
    assert max(len(name) for name in names) <= 24, max(names, key=len)


def test_pool_sensor_shows_host_and_keeps_the_url_as_attribute() -> None:
    pool = _by_key(entity_messages())[("sensor", "pool_url")]
    assert pool["name"] == "Pool"
    assert "split('://')" in pool["value_template"]
    assert pool["json_attributes_topic"] == pool["state_topic"]
    assert "url" in pool["json_attributes_template"]


# ============================================================================ state
def test_state_payload_full_reading() -> None:
    data = MinerData(
        "10.0.0.5",
        make="AntMiner",
        model="S19j Pro",
        mac="02:aa:bb:cc:dd:ee",
        hashrate=100.123,
        expected_hashrate=104.0,
        wattage=3000,
        wattage_limit=3100,
        hashboards=[
            HashBoard(slot=0, hashrate=33.3, temp=60, chip_temp=70, chips=126, missing=False),
            HashBoard(slot=1, hashrate=33.4, temp=62, chip_temp=72, chips=126, missing=False),
        ],
        fans=[Fan(speed=5000), Fan(speed=5100)],
        pools=[
            PoolMetrics(url="stratum+tcp://a:3333", user="w", accepted=5, active=False),
            PoolMetrics(
                url="stratum+tcp://b:3333", user="w.2", accepted=9, rejected=1, active=True
            ),
        ],
        errors=[MinerErrorData(error_code=1, error_message="fan slow")],
        is_mining=True,
        fault_light=False,
        uptime=3600,
        expected_chips=378,
    )
    state = state_payload(data, energy_kwh=1.23456, boot_time=1_700_000_000.0, mode="normal", now=1)
    assert state["hashrate"] == 100.12
    assert state["power"] == 3000 and state["power_limit"] == 3100
    assert state["efficiency"] == round(3000 / 100.123, 2)
    assert state["temperature"] == 61 and state["chip_temperature"] == 71
    assert state["board_1_hashrate"] == 33.4 and state["board_0_chips"] == 126
    assert state["fan_1_speed"] == 5100
    assert state["pool_url"] == "stratum+tcp://b:3333" and state["pool_accepted"] == 9
    assert state["errors"] == 1 and state["error_messages"] == ["fan slow"]
    assert state["problem"] is True  # errors and 252 of 378 chips
    assert state["mining"] is True and state["fault_light"] is False
    assert state["energy"] == 1.2346
    assert state["boot_time"] == "2023-11-14T22:13:20+00:00"
    assert state["mode"] == "normal"
    json.dumps(state)  # plain JSON


def test_state_payload_leaves_out_what_was_not_reported() -> None:
    data = MinerData("10.0.0.5", hashrate=50.0)
    state = state_payload(data, energy_kwh=0.0, boot_time=None, mode=None, now=1)
    assert state["hashrate"] == 50.0
    for absent in (
        "power",
        "power_limit",
        "efficiency",
        "temperature",
        "chip_temperature",
        "mining",
        "fault_light",
        "uptime",
        "boot_time",
        "mode",
        "total_chips",
        "pool_url",
        "pool_accepted",
        "fan_0_speed",
        "board_0_hashrate",
        "env_temperature",
    ):
        assert absent not in state, absent
    assert not [k for k, v in state.items() if v is None]


def test_state_payload_never_invents_zeros_for_failed_fields() -> None:
    data = MinerData(
        "10.0.0.5",
        hashrate=50.0,
        field_errors={
            "errors": "timeout",
            "wattage": "timeout",
            "fans": "timeout",
            "hashboards": "timeout",
            "pools": "timeout",
        },
    )
    state = state_payload(data, energy_kwh=0.5, boot_time=None, mode=None, now=1)
    assert "power" not in state and "fan_0_speed" not in state
    assert "total_chips" not in state and "pool_accepted" not in state
    # the error list was not read: no "0 errors, no problem" claim
    assert "errors" not in state and "problem" not in state
    assert state["unreadable"] == ["errors", "fans", "hashboards", "pools", "wattage"]
    assert state["energy"] == 0.5
    # a zero the miner did report is kept
    zero = state_payload(
        MinerData("10.0.0.5", hashrate=0.0, wattage=0, is_mining=False),
        energy_kwh=0,
        boot_time=None,
        mode=None,
        now=1,
    )
    assert zero["hashrate"] == 0.0 and zero["power"] == 0 and zero["mining"] is False
    assert zero["errors"] == 0 and zero["problem"] is False
    assert "efficiency" not in zero  # 0 W / 0 TH/s is not an efficiency


def test_stable_boot_time() -> None:
    boot = stable_boot_time(None, 1000, now=11_000.4)
    assert boot == 10_000.0
    # later polls with clock jitter keep the same boot time
    assert stable_boot_time(boot, 1030, now=11_031.0) == boot
    assert stable_boot_time(boot, 2000, now=12_100.0) == boot
    # a reboot (uptime restarts) moves it
    assert stable_boot_time(boot, 5, now=12_100.0) == 12_095.0
    # no uptime: keep what we had
    assert stable_boot_time(boot, None, now=99_999.0) == boot
    assert stable_boot_time(None, None, now=1.0) is None


# ============================================================================ registry
def test_registry_round_trip(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "state")
    rec = record(
        energy_kwh=1.5,
        discovery_topics=["homeassistant/sensor/x/y/config"],
        reported=["hashrate", "power"],
    )
    registry.add(rec)
    registry.save(force=True)
    again = Registry(tmp_path / "state")
    again.load()
    assert again.devices == {rec.id: rec}
    assert again.by_mac("02:AA:BB:CC:DD:EE") == rec
    assert again.by_ip("10.0.0.5") == rec
    assert again.by_ip("10.0.0.6") is None
    assert not list((tmp_path / "state").glob("*.tmp"))


def test_registry_save_is_throttled_unless_forced(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    registry.add(record())
    registry.save()
    assert registry.path.exists()
    registry.devices["02aabbccddee"].energy_kwh = 9.0
    registry.mark_dirty()
    registry.save()  # within min_interval: not written
    assert json.loads(registry.path.read_text())["devices"][0]["energy_kwh"] == 0.0
    registry.save(force=True)
    assert json.loads(registry.path.read_text())["devices"][0]["energy_kwh"] == 9.0


def test_registry_failed_write_leaves_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = Registry(tmp_path)
    registry.add(record(energy_kwh=1.0))
    registry.save(force=True)
    before = registry.path.read_bytes()
    registry.devices["02aabbccddee"].energy_kwh = 2.0

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        registry.save(force=True)
    assert registry.path.read_bytes() == before
    assert not list(tmp_path.glob(".devices.*"))


def test_registry_crash_mid_write_leaves_old_file(tmp_path: Path) -> None:
    """A process killed half-way through writing: the old registry is intact and loads."""
    registry = Registry(tmp_path)
    registry.add(record(energy_kwh=1.0))
    registry.save(force=True)
    before = registry.path.read_bytes()
    script = textwrap.dedent(
        f"""
        import json, os
        from asic_bridge.bridge import registry as reg

        r = reg.Registry({str(tmp_path)!r})
        r.load()
        r.devices["02aabbccddee"].energy_kwh = 99.0

        def half_written_then_die(fd):
            os.ftruncate(fd, os.fstat(fd).st_size // 2)  # only half reached the disk
            os._exit(9)  # killed mid-write

        reg.os.fsync = half_written_then_die
        r.save(force=True)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert result.returncode == 9, result.stderr.decode()
    assert list(tmp_path.glob(".devices.*.tmp"))  # the half-written temp file
    assert registry.path.read_bytes() == before
    again = Registry(tmp_path)
    again.load()
    assert again.devices["02aabbccddee"].energy_kwh == 1.0


@pytest.mark.parametrize(
    "content",
    ["{not json", "", "[]", "null", '"text"', '{"devices": 5}', '{"devices": [1, "x"]}'],
)
def test_corrupt_registry_is_moved_aside(tmp_path: Path, content: str) -> None:
    path = tmp_path / "devices.json"
    path.write_text(content)
    registry = Registry(tmp_path)
    registry.load()  # never raises
    assert registry.devices == {}
    if content in ('{"devices": [1, "x"]}',):
        return  # a readable file with bad entries: entries skipped, file kept
    assert not path.exists()
    assert (tmp_path / "devices.broken").read_text() == content
    registry.add(record())
    registry.save(force=True)  # and a fresh one is written
    assert json.loads(path.read_text())["devices"][0]["id"] == "02aabbccddee"


def test_registry_skips_malformed_entries_and_ignores_unknown_keys(tmp_path: Path) -> None:
    good = {"id": "a", "mac": None, "ip": "10.0.0.1", "future_key": 1, "energy_kwh": "2.5"}
    bad = {"mac": None}  # no id
    wrong_type = {"id": "b", "mac": None, "ip": "10.0.0.2", "energy_kwh": "x"}
    wrong_list = {"id": "c", "mac": None, "ip": "10.0.0.3", "capabilities": "reboot"}
    devices = [good, bad, wrong_type, wrong_list]
    (tmp_path / "devices.json").write_text(json.dumps({"version": 1, "devices": devices}))
    registry = Registry(tmp_path)
    registry.load()
    assert list(registry.devices) == ["a"]
    assert registry.devices["a"].energy_kwh == 2.5  # a numeric string is still a number


def test_energy_integration_by_hand() -> None:
    rec = record()
    rec.add_energy(3000, now=1000.0, poll_interval=5)
    assert rec.energy_kwh == 0.0  # one reading is not an interval
    rec.add_energy(3000, now=1010.0, poll_interval=5)
    assert math.isclose(rec.energy_kwh, 3000 * 10 / 3_600_000)
    assert round(rec.energy_kwh, 6) == 0.008333
    # trapezoid: 3000 W -> 1000 W over 36 s = 2000 W * 36 s = 0.02 kWh
    rec.add_energy(1000, now=1046.0, poll_interval=15)
    assert math.isclose(rec.energy_kwh, 0.008333333 + 0.02, rel_tol=1e-6)


def test_energy_gaps_are_not_integrated() -> None:
    rec = record()
    rec.add_energy(3000, now=0.0, poll_interval=1)
    rec.add_energy(3000, now=3.0, poll_interval=1)  # exactly 3 intervals: counted
    counted = rec.energy_kwh
    assert counted > 0
    rec.add_energy(3000, now=3.0 + 3.01, poll_interval=1)  # > 3 poll intervals: not counted
    assert rec.energy_kwh == counted
    rec.add_energy(3000, now=7.0, poll_interval=1)  # but it restarts from that reading
    assert rec.energy_kwh > counted
    # unknown power breaks the chain; a clock going backwards adds nothing
    total = rec.energy_kwh
    rec.add_energy(None, now=8.0, poll_interval=1)
    rec.add_energy(3000, now=9.0, poll_interval=1)
    assert rec.energy_kwh == total
    rec.add_energy(3000, now=5.0, poll_interval=1)
    assert rec.energy_kwh == total


def test_public_record_has_no_bookkeeping() -> None:
    public = record(energy_kwh=3.0, discovery_topics=["x"]).public()
    assert public["power_limit_range"] == [1500, 3600]
    assert "energy_kwh" not in public and "discovery_topics" not in public
    assert record(power_min=None).public()["power_limit_range"] is None


# ============================================================================ fleet
def member(
    mid: str,
    eff: float | None,
    lo: int = 1000,
    hi: int = 3000,
    limit: bool = True,
    stop: bool = True,
) -> FleetMember:
    return FleetMember(mid, lo, hi, eff, limit, stop)


def allocated_power(plan: list[Allocation], members: list[FleetMember]) -> int:
    """The watts a plan gives out: a limit where set, else the miner's full power."""
    by_id = {m.id: m for m in members}
    return sum(
        (p.power_limit if p.power_limit is not None else by_id[p.id].max_w)
        for p in plan
        if p.mining
    )


def test_allocate_most_efficient_first_within_ranges() -> None:
    members = [member("old", 35.0), member("new", 20.0), member("mid", 28.0)]
    plan = allocate(5000, members)
    by_id = {p.id: p for p in plan}
    assert by_id["new"] == Allocation("new", True, 3000)  # best gets its maximum
    assert by_id["mid"] == Allocation("mid", True, 2000)  # next gets the rest (>= its min)
    assert by_id["old"] == Allocation("old", False, None)  # nothing left: sleeps
    assert allocated_power(plan, members) == 5000


def test_allocate_sleeps_a_miner_whose_minimum_does_not_fit() -> None:
    members = [member("a", 20.0), member("b", 25.0)]
    plan = {p.id: p for p in allocate(3500, members)}
    assert plan["a"] == Allocation("a", True, 3000)
    assert plan["b"] == Allocation("b", False, None)  # 500 W left < 1000 W minimum
    assert allocated_power(list(plan.values()), members) == 3000  # never above the target


def test_allocate_full_power_and_zero() -> None:
    members = [member("a", 20.0), member("b", 25.0)]
    assert all(p.mining and p.power_limit == 3000 for p in allocate(100_000, members))
    assert all(not p.mining for p in allocate(0, members))


def test_allocate_unknown_efficiency_ranks_last() -> None:
    plan = allocate(3000, [member("unknown", None), member("known", 30.0)])
    assert {p.id: p.mining for p in plan} == {"known": True, "unknown": False}


def test_allocate_miners_that_cannot_limit_or_stop() -> None:
    fixed = member("fixed", 50.0, lo=2000, hi=2000, limit=False, stop=False)
    on_off = member("on_off", 25.0, lo=3000, hi=3000, limit=False, stop=True)
    limit_only = member("limit_only", 30.0, lo=1000, hi=3000, limit=True, stop=False)
    members = [fixed, on_off, limit_only]
    plan = {p.id: p for p in allocate(4000, members)}
    # the fixed miner always runs and is counted first: 2000 W left
    assert plan["fixed"] == Allocation("fixed", True, None)
    # on/off-only miner needs its full 3000 W: does not fit, sleeps
    assert plan["on_off"] == Allocation("on_off", False, None)
    # limit-only takes what is left
    assert plan["limit_only"] == Allocation("limit_only", True, 2000)
    # with almost nothing left, a miner that cannot stop runs at its minimum
    plan = {p.id: p for p in allocate(2100, members)}
    assert plan["limit_only"] == Allocation("limit_only", True, 1000)
    plan = {p.id: p for p in allocate(6000, members)}
    assert plan["on_off"] == Allocation("on_off", True, None)
    assert allocated_power(list(plan.values()), members) == 6000


def test_registry_finds_a_record_by_mac_through_adds_removals_and_a_reload(
    tmp_path: Path,
) -> None:
    """by_mac is an index now (a scan asks once per miner): it must answer as the walk over
    every record did, the first record of a MAC, across removals and a reload."""
    registry = Registry(tmp_path)
    first = DeviceRecord(id="a", mac="02:aa:bb:cc:dd:01", ip="10.0.0.1")
    twin = DeviceRecord(id="b", mac="02:aa:bb:cc:dd:01", ip="10.0.0.2")
    other = DeviceRecord(id="c", mac="02:aa:bb:cc:dd:02", ip="10.0.0.3")
    no_mac = DeviceRecord(id="d", mac=None, ip="10.0.0.4")
    for record in (first, twin, other, no_mac):
        registry.add(record)
    assert registry.by_mac("02:AA:BB:CC:DD:01") is first
    assert registry.by_mac("02:aa:bb:cc:dd:02") is other
    assert registry.by_mac("02:aa:bb:cc:dd:03") is None
    registry.remove("a")
    assert registry.by_mac("02:aa:bb:cc:dd:01") is twin
    registry.remove("b")
    assert registry.by_mac("02:aa:bb:cc:dd:01") is None
    replaced = DeviceRecord(id="c", mac="02:aa:bb:cc:dd:09", ip="10.0.0.3")
    registry.add(replaced)  # the same id again: the old record's MAC is gone
    assert registry.by_mac("02:aa:bb:cc:dd:02") is None
    assert registry.by_mac("02:aa:bb:cc:dd:09") is replaced
    registry.save(force=True)
    again = Registry(tmp_path)
    again.load()
    found = again.by_mac("02:aa:bb:cc:dd:09")
    assert found is not None and found.id == "c"
    assert again.by_mac("02:aa:bb:cc:dd:01") is None
