"""Fan control in the bridge (issue #16 item 5), the pure parts: the fan_mode / fan_speed
commands validated against a DeviceRecord, the state keys, bridge/devices and the HA
entities.  The commands feature on a simulated miner is in test_bridge_feature_commands.py,
end to end over mosquitto in test_bridge_fan_mqtt.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from asic_bridge.bridge import commands as cmd
from asic_bridge.bridge.commands import FanSetting, RequestError, parse_set, parse_set_field
from asic_bridge.bridge.entities import entity_configs
from asic_bridge.bridge.fans import library_fan_mode, shown_description, shown_fan_mode
from asic_bridge.bridge.registry import DeviceRecord
from asic_bridge.bridge.state import state_payload
from asic_bridge.bridge.topics import Topics
from asic_bridge.config import FanModeImmersion, FanModeManual, FanModeNormal
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import Capability

T = Topics("base")


def fan_record(**overrides: Any) -> DeviceRecord:
    fields: dict[str, Any] = {
        "id": "m1",
        "mac": None,
        "ip": "127.0.0.1",
        "make": "BitAxe",
        "firmware": "Stock",
        "capabilities": [Capability.FAN_CONTROL.value],
        "fan_modes": ["auto", "manual", "immersion"],
        **overrides,
    }
    return DeviceRecord(**fields)


def only(command: cmd.Command) -> FanSetting:
    (action,) = command.actions
    assert isinstance(action.value, FanSetting)
    return action.value


# ============================================================================ names
def test_normal_is_auto_on_mqtt_and_both_are_accepted() -> None:
    assert shown_fan_mode("normal") == "auto"
    assert shown_fan_mode("manual") == "manual" and shown_fan_mode("immersion") == "immersion"
    assert library_fan_mode("auto") == library_fan_mode("normal") == "normal"
    assert shown_description("manual 60%") == "manual 60%"
    assert shown_description("normal") == "auto"
    assert shown_description(None) is None


# ============================================================================ parsing
@pytest.mark.parametrize("name", ["auto", "AUTO", " normal ", "Normal"])
def test_auto_and_its_alias_normal(name: str) -> None:
    setting = only(parse_set(json.dumps({"fan_mode": name}).encode(), fan_record()))
    assert setting == FanSetting("normal")
    assert setting.config() == FanModeNormal()
    assert setting.shown() == {"fan_mode": "auto"}


def test_mode_and_speed_together_are_one_write() -> None:
    command = parse_set(b'{"fan_mode": "manual", "fan_speed": 60, "transaction": 7}', fan_record())
    assert only(command) == FanSetting("manual", 60)
    assert command.name == "fan_mode" and command.transaction == 7
    assert only(command).config() == FanModeManual(speed=60)
    assert cmd.shown(command.actions[0]) == {"fan_mode": "manual", "fan_speed": 60}


@pytest.mark.parametrize("payload", [b"40", b"40.4", b'"40"', b'{"value": 40}', b" 40 "])
def test_a_speed_alone_means_manual_at_that_speed(payload: bytes) -> None:
    command = parse_set_field("fan_speed", payload, fan_record())
    assert only(command) == FanSetting("manual", 40) and command.name == "fan_speed"
    assert only(parse_set(b'{"fan_speed": 0}', fan_record())) == FanSetting("manual", 0)
    assert only(parse_set(b'{"fan_speed": 100}', fan_record())) == FanSetting("manual", 100)


def test_bare_manual_keeps_the_current_duty_or_is_refused() -> None:
    known = fan_record(fan_percent=47)
    assert only(parse_set_field("fan_mode", b"manual", known)) == FanSetting("manual", 47)
    with pytest.raises(RequestError, match=r"needs a fan_speed .* not known"):
        parse_set_field("fan_mode", b"manual", fan_record(fan_percent=None))
    # a speed given wins over the current duty
    assert only(parse_set(b'{"fan_mode": "manual", "fan_speed": 80}', known)).speed == 80


def test_immersion_takes_no_speed() -> None:
    assert only(parse_set_field("fan_mode", b"immersion", fan_record())).config() == (
        FanModeImmersion()
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"fan_speed": 101}', "percentage 0-100"),
        (b'{"fan_speed": -1}', "percentage 0-100"),
        (b'{"fan_speed": "fast"}', "percentage 0-100"),
        (b'{"fan_speed": true}', "percentage 0-100"),
        (b'{"fan_speed": null}', "percentage 0-100"),
        (b'{"fan_speed": [50]}', "percentage 0-100"),
        (b'{"fan_speed": "nan"}', "percentage 0-100"),
        (b'{"fan_speed": 1e999}', "percentage 0-100"),
        (b'{"fan_mode": "turbo"}', "fan_mode must be one of auto, manual, immersion"),
        (b'{"fan_mode": 1}', "fan_mode must be one of"),
        (b'{"fan_mode": "auto", "fan_speed": 50}', "cannot go with fan_mode auto"),
        (b'{"fan_mode": "immersion", "fan_speed": 0}', "cannot go with fan_mode immersion"),
    ],
)
def test_bad_fan_commands_are_refused(payload: bytes, reason: str) -> None:
    with pytest.raises(RequestError, match=reason):
        parse_set(payload, fan_record(fan_percent=50))


def test_a_mode_the_firmware_lacks_is_refused() -> None:
    epic = fan_record(fan_modes=["auto", "manual"])  # no immersion on ePIC
    with pytest.raises(RequestError, match="one of auto, manual, got 'immersion'"):
        parse_set_field("fan_mode", b"immersion", epic)
    no_manual = fan_record(fan_modes=["auto", "immersion"])
    with pytest.raises(RequestError, match="fan_speed needs the manual fan mode"):
        parse_set_field("fan_speed", b"50", no_manual)


def test_fan_commands_need_the_capability() -> None:
    without = fan_record(capabilities=["power_limit"])
    for payload in (b'{"fan_mode": "auto"}', b'{"fan_speed": 50}'):
        with pytest.raises(RequestError, match="not supported by BitAxe Stock"):
            parse_set(payload, without)


def test_fan_runs_after_the_mining_settings_before_on_off() -> None:
    rec = fan_record(capabilities=["fan_control", "power_limit", "stop_mining"])
    rec.power_min, rec.power_max = 10, 40
    command = parse_set(b'{"mining": true, "fan_speed": 70, "power_limit": 20}', rec)
    assert [a.field for a in command.actions] == ["power_limit", "fan_speed", "mining"]


# ============================================================================ state
def test_state_shows_the_mode_in_mqtt_names_and_the_duty() -> None:
    data = MinerData("10.0.0.1", fan_mode="normal", fan_percent=38)
    state = state_payload(data, energy_kwh=0.0, boot_time=None, mode=None, now=0.0)
    assert state["fan_mode"] == "auto" and state["fan_percent"] == 38
    bare = state_payload(MinerData("10.0.0.1"), energy_kwh=0.0, boot_time=None, mode=None, now=0)
    assert "fan_mode" not in bare and "fan_percent" not in bare  # never invented


def test_bridge_devices_lists_the_fan_modes() -> None:
    assert fan_record(fan_modes=["auto", "manual"]).public()["fan_modes"] == ["auto", "manual"]


# ============================================================================ discovery
def _entities(rec: DeviceRecord, reported: set[str] | None) -> dict[tuple[str, str], Any]:
    return {(c, k): config for c, k, config in entity_configs(rec, T, reported)}


def test_fan_select_number_and_sensor() -> None:
    found = _entities(fan_record(), {"fan_percent", "fan_mode"})
    select = found[("select", "fan_mode")]
    assert select["options"] == ["auto", "manual", "immersion"]
    assert select["command_topic"] == "base/m1/set/fan_mode"
    assert select["value_template"] == "{{ value_json.fan_mode | default(None) }}"
    assert select["entity_category"] == "config" and select["name"] == "Fan mode"
    number = found[("number", "fan_speed")]
    assert (number["min"], number["max"], number["step"], number["mode"]) == (0, 100, 1, "box")
    assert number["unit_of_measurement"] == "%" and number["entity_category"] == "config"
    assert number["command_topic"] == "base/m1/set/fan_speed"
    assert number["value_template"] == "{{ value_json.fan_percent | default(None) }}"
    sensor = found[("sensor", "fan_percent")]
    assert sensor["unit_of_measurement"] == "%" and sensor["state_class"] == "measurement"
    assert sensor["name"] == "Fan speed" and "entity_category" not in sensor
    names = [c["name"] for c in found.values()]
    assert len(names) == len(set(names)), sorted(names)


def test_fan_entities_only_where_the_miner_has_them() -> None:
    # no capability: no controls; a duty it reports still gets its sensor
    plain = _entities(fan_record(capabilities=[], fan_modes=[]), {"fan_percent"})
    assert ("select", "fan_mode") not in plain and ("number", "fan_speed") not in plain
    assert ("sensor", "fan_percent") in plain
    # no duty reported: no sensor; no manual mode: no speed number
    auto_only = _entities(fan_record(fan_modes=["auto", "immersion"]), {"hashrate"})
    assert ("select", "fan_mode") in auto_only and ("number", "fan_speed") not in auto_only
    assert ("sensor", "fan_percent") not in auto_only
    # the capability with no mode known: nothing to select
    empty = _entities(fan_record(fan_modes=[]), set())
    assert ("select", "fan_mode") not in empty and ("number", "fan_speed") not in empty
