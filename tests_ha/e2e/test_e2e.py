"""Home Assistant + real broker + real bridge + simulated miners, end to end.

- mosquitto runs with docker/mosquitto's config and ACL (users asic_bridge, homeassistant);
- two simulated miners, each in its own ``asic-bridge simulate`` process: a WhatsMiner M60
  (power limit, mining on/off, reboot) and a stock Antminer S19j Pro;
- the bridge daemon ``asic-bridge run -c <tmp yaml>`` as a subprocess;
- Home Assistant's own MQTT integration connects to the broker, finds the bridge by MQTT
  discovery (manifest ``mqtt`` key), and the bridge's entities arrive by MQTT discovery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
import json
from pathlib import Path
import shutil
import subprocess
import time
from typing import Any

from homeassistant.components import mqtt, persistent_notification
from homeassistant.config_entries import SOURCE_MQTT, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.asic_bridge.const import DOMAIN, EVENT_ASIC_BRIDGE

from .conftest import (
    BRIDGE_PASSWORD,
    DAEMON_BIN,
    HA_PASSWORD,
    ROOT,
    Process,
    add_mqtt_entry,
    running_sims,
    unload_all,
)

pytestmark = pytest.mark.e2e

BASE = "asic_bridge"
M60 = "whatsminer_m60@127.77.3.1"
S19 = "antminer_s19jpro@127.77.3.2"
BRIDGE_NODE = "asic_bridge_asic_bridge"  # the bridge device's node id (entities.bridge_device_id)


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[dict[str, tuple[Process, dict[str, int]]]]:
    with running_sims(tmp_path, (M60, S19)) as started:
        yield started


@pytest.fixture
def bridge(
    tmp_path: Path, broker: int, sims: dict[str, tuple[Process, dict[str, int]]]
) -> Iterator[Process]:
    hosts = [{"ip": spec.partition("@")[2], "ports": ports} for spec, (_, ports) in sims.items()]
    config = {
        "mqtt": {
            "url": f"mqtt://asic_bridge:{BRIDGE_PASSWORD}@127.0.0.1:{broker}",
            "base_topic": BASE,
            "discovery_prefix": "homeassistant",
        },
        "miners": {"hosts": hosts, "poll_interval": 2, "scan_interval": 0, "offline_after": 2},
        "fleet": {"groups": {"all": {}}},
        "state_dir": str(tmp_path / "bridge-state"),
        "log_level": "info",
    }
    path = tmp_path / "bridge.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    process = Process("bridge", [str(DAEMON_BIN), "run", "-c", str(path)], tmp_path / "bridge.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def wait_until(predicate: Callable[[], Any], what: str, within: float = 30.0) -> Any:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            value = predicate()
        except (KeyError, AttributeError, TypeError, ValueError):
            value = None
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def entity_id(hass: HomeAssistant, component: str, miner: str, key: str) -> str:
    found = er.async_get(hass).async_get_entity_id(component, "mqtt", f"asic_bridge_{miner}_{key}")
    assert found, f"no {component} {key} for {miner}"
    return found


def state(hass: HomeAssistant, entity: str) -> str:
    current = hass.states.get(entity)
    return current.state if current else STATE_UNKNOWN


async def test_end_to_end(
    hass: HomeAssistant,
    socket_enabled: None,
    mock_hass_config: None,
    broker: int,
    sims: dict[str, tuple[Process, dict[str, int]]],
    bridge: Process,
    tmp_path: Path,
) -> None:
    mqtt_entry = add_mqtt_entry(hass, broker)
    try:
        await _scenario(hass, sims, bridge, mqtt_entry, tmp_path / "bridge.yaml")
    except BaseException:
        print("---- bridge log ----\n" + bridge.output()[-6000:])
        raise
    finally:
        await unload_all(hass, mqtt_entry)


async def _scenario(
    hass: HomeAssistant,
    sims: dict[str, tuple[Process, dict[str, int]]],
    bridge: Process,
    mqtt_entry: MockConfigEntry,
    bridge_config: Path,
) -> None:
    assert await async_setup_component(hass, "persistent_notification", {})
    assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
    await wait_until(lambda: mqtt.is_connected(hass), "HA's MQTT client to connect", 15)

    # 1. The bridge's retained bridge/info starts our config flow (manifest "mqtt" key).
    flows = await wait_until(
        lambda: hass.config_entries.flow.async_progress_by_handler(DOMAIN), "a discovery flow"
    )
    assert flows[0]["context"]["source"] == SOURCE_MQTT
    result = await hass.config_entries.flow.async_configure(flows[0]["flow_id"], {})
    entry = result["result"]
    assert entry.unique_id == BASE
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    runtime = entry.runtime_data
    events = async_capture_events(hass, EVENT_ASIC_BRIDGE)

    # 2. Both miners found; their entities arrive by MQTT discovery with live values.
    await wait_until(lambda: len(runtime.devices) == 2, "two miners on bridge/devices")
    by_ip = {record["ip"]: miner for miner, record in runtime.devices.items()}
    m60, s19 = by_ip["127.77.3.1"], by_ip["127.77.3.2"]
    await wait_until(
        lambda: (
            float(state(hass, entity_id(hass, "sensor", m60, "hashrate"))) > 0
            and float(state(hass, entity_id(hass, "sensor", s19, "hashrate"))) > 0
        ),
        "hashrate values",
    )
    expectations = {
        ("sensor", "hashrate"): ("TH/s", None, "measurement"),
        ("sensor", "power"): ("W", "power", "measurement"),
        ("sensor", "temperature"): ("°C", "temperature", "measurement"),
        ("sensor", "energy"): ("kWh", "energy", "total_increasing"),
        ("sensor", "boot_time"): (None, "timestamp", None),
        ("binary_sensor", "problem"): (None, "problem", None),
        ("number", "power_limit"): ("W", "power", None),
        ("switch", "mining"): (None, None, None),
        ("button", "reboot"): (None, "restart", None),
    }
    await wait_until(
        lambda: all(
            state(hass, entity_id(hass, c, m60, k)) not in (STATE_UNKNOWN, STATE_UNAVAILABLE)
            for c, k in expectations
            if c != "button"
        ),
        "every M60 entity to have a state",
    )
    for (component, key), (unit, device_class, state_class) in expectations.items():
        current = hass.states.get(entity_id(hass, component, m60, key))
        assert current is not None
        assert current.attributes.get("unit_of_measurement") == unit, key
        assert current.attributes.get("device_class") == device_class, key
        assert current.attributes.get("state_class") == state_class, key
    assert state(hass, entity_id(hass, "switch", m60, "mining")) == "on"
    # the Mining switch shows whether it mines: no second "Mining" binary sensor
    assert (
        er.async_get(hass).async_get_entity_id("binary_sensor", "mqtt", f"asic_bridge_{m60}_mining")
        is None
    )
    low, high = runtime.devices[m60]["power_limit_range"]
    number = hass.states.get(entity_id(hass, "number", m60, "power_limit"))
    assert (number.attributes["min"], number.attributes["max"]) == (low, high)
    # the stock Antminer has no power limit: no number entity
    assert (
        er.async_get(hass).async_get_entity_id("number", "mqtt", f"asic_bridge_{s19}_power_limit")
        is None
    )

    device = dr.async_get(hass).async_get_device(identifiers={("mqtt", f"asic_bridge_{m60}")})
    assert device is not None
    assert device.manufacturer == "WhatsMiner"
    assert device.model == runtime.devices[m60]["model"]
    assert (dr.CONNECTION_NETWORK_MAC, runtime.devices[m60]["mac"]) in device.connections
    assert entry.entry_id in device.config_entries  # linked to our integration
    parent = dr.async_get(hass).async_get(device.via_device_id)
    assert parent is not None and ("mqtt", "asic_bridge_asic_bridge") in parent.identifiers

    # 2a. The bridge device's entities work against the real bridge (restart: step 7b).
    await _bridge_device_controls(hass)

    # 2b. An MQTT 5 client's request answered on the response topic it chose, through the
    #     compose ACL (replies/<username>/...).
    answer = await hass.async_add_executor_job(mqtt5_request, broker_port(hass), m60)
    assert answer["status"] == "ok" and answer["command"] == "get", answer

    # 3. The power-limit number reaches the miner and the new value comes back.
    target = max(low, min(high, 3000))
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": entity_id(hass, "number", m60, "power_limit"), "value": target},
        blocking=True,
    )
    await wait_until(
        lambda: float(state(hass, entity_id(hass, "number", m60, "power_limit"))) == target,
        "the power limit to come back",
    )
    await wait_until(
        lambda: float(state(hass, entity_id(hass, "sensor", m60, "power"))) <= target * 1.05,
        "the power to follow the limit",
    )

    # 4. The mining switch off: the miner stops, hashrate falls to 0.
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": entity_id(hass, "switch", m60, "mining")}, blocking=True
    )
    await wait_until(
        lambda: state(hass, entity_id(hass, "switch", m60, "mining")) == "off", "switch off"
    )
    await wait_until(
        lambda: float(state(hass, entity_id(hass, "sensor", m60, "hashrate"))) == 0,
        "the miner to stop hashing",
    )

    # 5. Our actions wait for the bridge's answer: start mining again, a refused power limit.
    await hass.services.async_call(DOMAIN, "start_mining", {"device_id": device.id}, blocking=True)
    await wait_until(
        lambda: state(hass, entity_id(hass, "switch", m60, "mining")) == "on", "switch on"
    )
    with pytest.raises(HomeAssistantError, match="outside"):
        await hass.services.async_call(
            DOMAIN,
            "set_power_limit",
            {"device_id": device.id, "power_limit": high + 1000},
            blocking=True,
        )
    polled = await hass.services.async_call(
        DOMAIN, "poll_now", {"device_id": device.id}, blocking=True, return_response=True
    )
    assert polled == {"polled": {m60: True}}

    # 5b. Fans on the stock Antminer: our action sets manual at 60 %, written and read back,
    #     and the Fan mode select and Manual fan speed number follow; the select back to auto.
    assert runtime.devices[s19]["fan_modes"] == ["auto", "manual"]
    s19_device = dr.async_get(hass).async_get_device(identifiers={("mqtt", f"asic_bridge_{s19}")})
    assert s19_device is not None
    fan_select = entity_id(hass, "select", s19, "fan_mode")
    fan_number = entity_id(hass, "number", s19, "fan_speed")
    await wait_until(lambda: state(hass, fan_select) == "auto", "the fan mode select")
    await hass.services.async_call(
        DOMAIN,
        "set_fan_mode",
        {"device_id": s19_device.id, "mode": "manual", "speed": 60},
        blocking=True,
    )
    await wait_until(
        lambda: state(hass, fan_select) == "manual" and state(hass, fan_number) in ("60", "60.0"),
        "manual 60 % to come back",
    )
    await hass.services.async_call(
        "select", "select_option", {"entity_id": fan_select, "option": "auto"}, blocking=True
    )
    await wait_until(lambda: state(hass, fan_select) == "auto", "the fans back on auto")

    # 6. The reboot button reaches the miner: the bridge answers ok and uptime restarts.
    answers: list[dict[str, Any]] = []

    @callback
    def on_response(msg: mqtt.ReceiveMessage) -> None:
        answers.append(json.loads(msg.payload))

    unsubscribe = await mqtt.async_subscribe(hass, f"{BASE}/{m60}/response", on_response)
    await asyncio.sleep(0.5)  # let the subscription reach the broker
    uptime_before = runtime.states[m60]["uptime"]
    await hass.services.async_call(
        "button", "press", {"entity_id": entity_id(hass, "button", m60, "reboot")}, blocking=True
    )
    await wait_until(
        lambda: any(a.get("command") == "action" for a in answers), "the reboot answer"
    )
    assert [a["status"] for a in answers if a.get("command") == "action"] == ["ok"]
    await wait_until(
        lambda: runtime.states[m60]["uptime"] < uptime_before, "uptime to restart after the reboot"
    )
    unsubscribe()

    # 7. A miner that goes away: its entities become unavailable, miner_lost fires; it
    #    comes back: available again, miner_online fires.
    s19_process, _ = sims[S19]
    light = entity_id(hass, "switch", s19, "fault_light")
    assert state(hass, light) == "off"
    await hass.async_add_executor_job(s19_process.stop)
    #    A write from an entity to the miner that is gone (before the bridge gives up on
    #    it) fails: an event and a notification say why, the switch stays off.
    await hass.services.async_call("switch", "turn_on", {"entity_id": light}, blocking=True)
    failed = await wait_until(
        lambda: [e for e in events if e.data["type"] == "command_failed"], "the failed write"
    )
    assert (failed[0].data["miner_id"], failed[0].data["command"]) == (s19, "fault_light")
    notices = persistent_notification._async_get_or_create_notifications(hass)
    assert any(failed[0].data["error"] in n["message"] for n in notices.values()), notices
    assert state(hass, light) in ("off", STATE_UNAVAILABLE)
    s19_hashrate = entity_id(hass, "sensor", s19, "hashrate")
    await wait_until(
        lambda: state(hass, s19_hashrate) == STATE_UNAVAILABLE, "the S19 to go unavailable"
    )
    await wait_until(
        lambda: any(e.data["type"] == "miner_lost" and e.data["miner_id"] == s19 for e in events),
        "a miner_lost event",
    )
    s19_device = dr.async_get(hass).async_get_device(identifiers={("mqtt", f"asic_bridge_{s19}")})
    lost = next(e for e in events if e.data["type"] == "miner_lost")
    assert lost.data["device_id"] == s19_device.id
    assert state(hass, entity_id(hass, "sensor", m60, "hashrate")) != STATE_UNAVAILABLE
    await hass.async_add_executor_job(s19_process.start)
    await wait_until(
        lambda: state(hass, s19_hashrate) != STATE_UNAVAILABLE, "the S19 to come back", 45
    )
    await wait_until(
        lambda: any(e.data["type"] == "miner_online" and e.data["miner_id"] == s19 for e in events),
        "a miner_online event",
    )

    # 7b. The bridge device's restart button: the bridge answers, goes offline and comes back
    #     in the same process; its connection state and the miners follow.
    await _bridge_restart(hass, m60)

    # 8. The docker image's HEALTHCHECK script sees the bridge online on its broker.
    assert await hass.async_add_executor_job(healthcheck, bridge_config) == 0

    # 9. The bridge stops: everything unavailable, a repair issue says why, unhealthy.
    await hass.async_add_executor_job(bridge.stop)
    await wait_until(
        lambda: state(hass, entity_id(hass, "sensor", m60, "hashrate")) == STATE_UNAVAILABLE,
        "entities to go unavailable with the bridge",
    )
    await wait_until(
        lambda: ir.async_get(hass).async_get_issue(DOMAIN, f"bridge_offline_{entry.entry_id}"),
        "the bridge-offline repair issue",
    )
    with pytest.raises(HomeAssistantError, match="offline"):
        await hass.services.async_call(DOMAIN, "reboot", {"device_id": device.id}, blocking=True)
    assert await hass.async_add_executor_job(healthcheck, bridge_config) == 1


def bridge_entity(hass: HomeAssistant, component: str, key: str) -> str:
    found = er.async_get(hass).async_get_entity_id(component, "mqtt", f"{BRIDGE_NODE}_{key}")
    assert found, f"no {component} {key} on the bridge device"
    return found


async def _record(
    hass: HomeAssistant, topic: str
) -> tuple[list[tuple[str, str]], Callable[[], None]]:
    """Every message on ``topic`` (a filter) from now on, and the unsubscribe."""
    seen: list[tuple[str, str]] = []

    @callback
    def on_message(msg: mqtt.ReceiveMessage) -> None:
        seen.append((msg.topic, str(msg.payload)))

    unsubscribe = await mqtt.async_subscribe(hass, topic, on_message)
    await asyncio.sleep(0.5)  # let the subscription reach the broker
    return seen, unsubscribe


def _answers(seen: list[tuple[str, str]], path: str) -> list[str]:
    topic = f"{BASE}/bridge/response/{path}"
    return [json.loads(payload)["status"] for t, payload in seen if t == topic]


async def _bridge_device_controls(hass: HomeAssistant) -> None:
    """Connection state, version, the log-level select and the scan button."""
    info, stop_info = await _record(hass, f"{BASE}/bridge/info")  # the retained one first
    responses, stop_responses = await _record(hass, f"{BASE}/bridge/response/#")
    connection = bridge_entity(hass, "binary_sensor", "connection_state")
    await wait_until(lambda: state(hass, connection) == "on", "the bridge connection state on")
    version = json.loads(info[0][1])["version"]
    await wait_until(
        lambda: state(hass, bridge_entity(hass, "sensor", "version")) == version,
        "the version sensor to show bridge/info's version",
    )

    select = bridge_entity(hass, "select", "log_level")
    assert state(hass, select) == "info"  # the bridge config's log_level
    for level in ("warning", "info"):
        await hass.services.async_call(
            "select", "select_option", {"entity_id": select, "option": level}, blocking=True
        )
        await wait_until(lambda: _answers(responses, "options"), "the options answer")
        assert _answers(responses, "options") == ["ok"], responses
        # the select shows the level the bridge now says it runs at (bridge/info)
        await wait_until(
            lambda level=level: state(hass, select) == level, f"the select to show {level}"
        )
        assert json.loads(info[-1][1])["log_level"] == level
        responses.clear()

    await hass.services.async_call(
        "button", "press", {"entity_id": bridge_entity(hass, "button", "scan")}, blocking=True
    )
    await wait_until(lambda: _answers(responses, "scan"), "the scan answer")
    assert _answers(responses, "scan") == ["ok"], responses
    stop_info()
    stop_responses()


async def _bridge_restart(hass: HomeAssistant, miner: str) -> None:
    seen, unsubscribe = await _record(hass, f"{BASE}/bridge/#")
    await hass.services.async_call(
        "button", "press", {"entity_id": bridge_entity(hass, "button", "restart")}, blocking=True
    )
    await wait_until(lambda: _answers(seen, "restart"), "the restart answer")
    assert _answers(seen, "restart") == ["ok"], seen
    states = lambda: [p for t, p in seen if t == f"{BASE}/bridge/state"]  # noqa: E731
    await wait_until(lambda: states()[-2:] == ["offline", "online"], "offline, then online")
    connection = bridge_entity(hass, "binary_sensor", "connection_state")
    await wait_until(lambda: state(hass, connection) == "on", "the connection state back on")
    await wait_until(
        lambda: state(hass, entity_id(hass, "sensor", miner, "hashrate")) != STATE_UNAVAILABLE,
        "the miner's entities available after the restart",
    )
    unsubscribe()


def broker_port(hass: HomeAssistant) -> int:
    entry = hass.config_entries.async_entries(mqtt.DOMAIN)[0]
    return int(entry.data["port"])


def mqtt5_request(port: int, miner: str) -> dict[str, Any]:
    """mosquitto_rr (MQTT 5 request/response) as the homeassistant user: a poll request."""
    tool = shutil.which("mosquitto_rr") or "/usr/bin/mosquitto_rr"
    done = subprocess.run(
        [
            tool,
            *("-h", "127.0.0.1", "-p", str(port), "-u", "homeassistant", "-P", HA_PASSWORD),
            *("-V", "5", "-t", f"{BASE}/{miner}/get", "-n"),
            *("-e", "replies/homeassistant/e2e", "-W", "10"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, f"no answer on the response topic: {done.stderr}"
    return json.loads(done.stdout)


def healthcheck(config: Path) -> int:
    """docker/healthcheck.py with the daemon's Python, as the container runs it."""
    python = DAEMON_BIN.parent / "python"
    script = ROOT / "docker" / "healthcheck.py"
    done = subprocess.run([str(python), str(script), str(config)], capture_output=True, timeout=30)
    return done.returncode
