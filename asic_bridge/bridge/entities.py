"""Home Assistant MQTT discovery: which entities a miner gets, and their configs.

The entity set is a table (data, not code); a row is announced only when the miner can
support it (a capability, or a value it reports), and every entity of a device has its own
short name.  Every config carries ``unique_id``, the entity-id hint in both spellings HA has
read (``object_id`` up to 2025.9, ``default_entity_id`` from 2025.10; each version drops the
key it does not know), a device block, an origin block and availability = bridge online AND
miner online.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, get_args

from asic_bridge import __version__
from asic_bridge.bridge.commands import MAX_WATTS
from asic_bridge.bridge.config import LogLevel
from asic_bridge.bridge.power_inputs import MAX_FLEET_W, MODES
from asic_bridge.bridge.registry import DeviceRecord
from asic_bridge.bridge.topics import Topics
from asic_bridge.drivers.base import Capability

ORIGIN = {
    "name": "asic_bridge",
    "sw_version": __version__,
    "support_url": "https://github.com/asic-bridge/asic_bridge",
}


@dataclass(frozen=True)
class EntitySpec:
    """One entity kind.  ``key`` is the state field it reads (and the object id)."""

    key: str
    component: str
    name: str
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    category: str | None = None  # "diagnostic" | "config"
    icon: str | None = None
    precision: int | None = None
    capability: Capability | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    enabled_by_default: bool = True
    reads: str | None = None  # the state field shown, when not ``key`` (a control's)


HASHRATE_UNIT = "{hashrate_unit}"  # replaced with the miner's unit

SENSORS: tuple[EntitySpec, ...] = (
    EntitySpec(
        "hashrate",
        "sensor",
        "Hashrate",
        HASHRATE_UNIT,
        None,
        "measurement",
        icon="mdi:pickaxe",
        precision=2,
    ),
    EntitySpec(
        "expected_hashrate",
        "sensor",
        "Expected hashrate",
        HASHRATE_UNIT,
        None,
        "measurement",
        icon="mdi:pickaxe",
        precision=2,
    ),
    EntitySpec("power", "sensor", "Power", "W", "power", "measurement"),
    EntitySpec(
        "efficiency",
        "sensor",
        "Efficiency",
        "J/{unit_base}",
        None,
        "measurement",
        icon="mdi:lightning-bolt-outline",
        precision=1,
    ),
    EntitySpec("temperature", "sensor", "Temperature", "°C", "temperature", "measurement"),
    EntitySpec(
        "chip_temperature", "sensor", "Chip temperature", "°C", "temperature", "measurement"
    ),
    EntitySpec(
        "env_temperature", "sensor", "Ambient temperature", "°C", "temperature", "measurement"
    ),
    EntitySpec("energy", "sensor", "Energy", "kWh", "energy", "total_increasing", precision=3),
    EntitySpec("boot_time", "sensor", "Last boot", None, "timestamp", None, "diagnostic"),
    EntitySpec(
        "pool_url",
        "sensor",
        "Pool",
        None,
        None,
        None,
        "diagnostic",
        icon="mdi:pool",
        # host:port as the state (a full stratum URL pushes the name out of the row);
        # the whole URL stays an attribute
        extra={
            "value_template": "{{ value_json.pool_url.split('://')[-1]"
            " if value_json.pool_url is defined else None }}",
            "json_attributes_template": "{{ {'url': value_json.pool_url}"
            " | tojson if value_json.pool_url is defined else '{}' }}",
        },
    ),
    EntitySpec(
        "pool_accepted",
        "sensor",
        "Accepted shares",
        None,
        None,
        "total_increasing",
        "diagnostic",
        icon="mdi:check",
    ),
    EntitySpec(
        "pool_rejected",
        "sensor",
        "Rejected shares",
        None,
        None,
        "total_increasing",
        "diagnostic",
        icon="mdi:close",
    ),
    EntitySpec(
        "errors", "sensor", "Errors", None, None, "measurement", "diagnostic", icon="mdi:alert"
    ),
    EntitySpec(
        "total_chips", "sensor", "Chips", None, None, "measurement", "diagnostic", icon="mdi:chip"
    ),
    EntitySpec(
        "psu_fan_speed",
        "sensor",
        "PSU fan",
        "RPM",
        None,
        "measurement",
        "diagnostic",
        icon="mdi:fan",
    ),
    EntitySpec("fan_percent", "sensor", "Fan speed", "%", None, "measurement", icon="mdi:fan"),
    EntitySpec("ip", "sensor", "IP address", None, None, None, "diagnostic", icon="mdi:ip"),
    EntitySpec("mining", "binary_sensor", "Mining", None, "running"),
    EntitySpec("problem", "binary_sensor", "Problem", None, "problem"),
)

BOARD_SENSORS: tuple[EntitySpec, ...] = (
    EntitySpec(
        "board_{n}_hashrate",
        "sensor",
        "Board {n} hashrate",
        HASHRATE_UNIT,
        None,
        "measurement",
        icon="mdi:pickaxe",
        precision=2,
    ),
    EntitySpec(
        "board_{n}_temperature",
        "sensor",
        "Board {n} temperature",
        "°C",
        "temperature",
        "measurement",
    ),
    EntitySpec(
        "board_{n}_chip_temperature",
        "sensor",
        "Board {n} chip temperature",
        "°C",
        "temperature",
        "measurement",
    ),
    EntitySpec(
        "board_{n}_chips",
        "sensor",
        "Board {n} chips",
        None,
        None,
        "measurement",
        "diagnostic",
        icon="mdi:chip",
    ),
)

FAN_SENSORS: tuple[EntitySpec, ...] = (
    EntitySpec("fan_{n}_speed", "sensor", "Fan {n}", "RPM", None, "measurement", icon="mdi:fan"),
)

CONTROLS: tuple[EntitySpec, ...] = (
    EntitySpec("mining", "switch", "Mining", capability=Capability.STOP_MINING, icon="mdi:pickaxe"),
    EntitySpec(
        "fault_light",
        "switch",
        "Fault light",
        capability=Capability.FAULT_LIGHT,
        icon="mdi:alarm-light",
        category="config",
    ),
    EntitySpec(
        "power_limit",
        "number",
        "Power limit",
        "W",
        "power",
        capability=Capability.POWER_LIMIT,
        category="config",
    ),
    EntitySpec(
        "mode",
        "select",
        "Mode",
        capability=Capability.MINING_MODES,
        category="config",
        icon="mdi:speedometer",
    ),
    EntitySpec(
        "preset",
        "select",
        "Preset",
        capability=Capability.PRESETS,
        category="config",
        icon="mdi:tune-variant",
    ),
    EntitySpec(
        "fan_mode",
        "select",
        "Fan mode",
        capability=Capability.FAN_CONTROL,
        category="config",
        icon="mdi:fan-auto",
    ),
    # "Manual": setting it switches the fans to manual at that speed.  It shows the duty the
    # fans run at (fan_percent), which the "Fan speed" sensor also records as statistics.
    EntitySpec(
        "fan_speed",
        "number",
        "Manual fan speed",
        "%",
        capability=Capability.FAN_CONTROL,
        category="config",
        icon="mdi:fan",
        reads="fan_percent",
    ),
    EntitySpec(
        "reboot",
        "button",
        "Reboot",
        device_class="restart",
        capability=Capability.REBOOT,
        category="config",
    ),
    EntitySpec(
        "restart_backend",
        "button",
        "Restart software",
        device_class="restart",
        capability=Capability.RESTART_BACKEND,
        category="config",
    ),
    EntitySpec(
        "identify",
        "button",
        "Identify",
        device_class="identify",
        capability=Capability.FAULT_LIGHT,
        category="config",
    ),
)


def bridge_device_id(topics: Topics) -> str:
    """Sharded, each instance is its own HA device (its miners hang from it, via_device)."""
    node = f"asic_bridge_{topics.base.replace('/', '_')}"
    return f"{node}_{topics.instance}" if topics.instance else node


def device_block(device: DeviceRecord, topics: Topics) -> dict[str, Any]:
    port = device.ports.get("http")
    url_host = f"{device.ip}:{port}" if port and port != 80 else device.ip
    block: dict[str, Any] = {
        "identifiers": [f"asic_bridge_{device.uid}"],
        "name": device.friendly_name or f"{device.model or device.make or 'Miner'} {device.id}",
        "manufacturer": device.make,
        "model": device.model,
        "sw_version": device.fw_ver or device.firmware,
        "configuration_url": f"http://{url_host}/",
        "via_device": bridge_device_id(topics),
    }
    if device.mac:
        block["connections"] = [["mac", device.mac]]
    if device.serial_number:
        block["serial_number"] = device.serial_number
    return {k: v for k, v in block.items() if v is not None}


def entity_id_hint(component: str, object_id: str) -> dict[str, str]:
    """The entity id HA should give a new entity, in the key each supported version reads.

    HA up to 2025.9 reads ``object_id`` and drops ``default_entity_id`` as an unknown key;
    2025.10 to 2026.3 prefer ``default_entity_id`` (and warn only about an ``object_id``
    sent alone); 2026.4 on drop ``object_id``.  Sending both gives the same id everywhere.
    """
    return {"object_id": object_id, "default_entity_id": f"{component}.{object_id}"}


def _availability(device: DeviceRecord, topics: Topics) -> dict[str, Any]:
    return {
        "availability": [
            {"topic": topics.bridge_state},
            {"topic": topics.availability(device.id)},
        ],
        "availability_mode": "all",
    }


def _entity_slug(device: DeviceRecord) -> str:
    return device.friendly_name or f"miner_{device.id}"


def _format(text: str, device: DeviceRecord, n: int | None = None) -> str:
    unit = device.hashrate_unit
    return text.format(n=n, hashrate_unit=unit, unit_base=unit.removesuffix("/s"))


def _value_template(key: str) -> str:
    # A value missing from a state (not reported this poll) renders as None, which HA shows
    # as "unknown".  A bare ``value_json.key`` would log a template warning on every message
    # and keep the last value on screen (stale readings, hass-miner#519).
    return f"{{{{ value_json.{key} | default(None) }}}}"


def _on_off_template(key: str) -> str:
    value = f"value_json.{key}"
    return f"{{{{ ('ON' if {value} else 'OFF') if {value} is defined else None }}}}"


def power_number_bounds(device: DeviceRecord) -> tuple[int, int]:
    """The power number's min/max: the record's range (the firmware's, else the catalog's);
    with none known, every value the bridge passes to the miner to judge."""
    if device.power_min is not None and device.power_max is not None:
        return device.power_min, device.power_max
    return 1, MAX_WATTS


def _select_options(key: str, device: DeviceRecord) -> list[str]:
    """A select's options: the firmware's presets, fan modes or mining modes."""
    return {"preset": device.presets, "fan_mode": device.fan_modes}.get(key, device.modes)


def _config_for(
    spec: EntitySpec, device: DeviceRecord, topics: Topics, n: int | None = None
) -> tuple[str, dict[str, Any]]:
    key = _format(spec.key, device, n)
    state = topics.state(device.id)
    config: dict[str, Any] = {
        "name": _format(spec.name, device, n),
        "unique_id": f"asic_bridge_{device.uid}_{key}",
        **entity_id_hint(spec.component, f"{_entity_slug(device)}_{key}"),
    }
    shows = spec.reads or key
    if spec.component == "sensor":
        config["state_topic"] = state
        config["value_template"] = _value_template(key)
    elif spec.component == "binary_sensor":
        config["state_topic"] = state
        config["value_template"] = _on_off_template(key)
    elif spec.component == "switch":
        config["state_topic"] = state
        config["value_template"] = _on_off_template(key)
        config["command_topic"] = topics.set_field(device.id, key)
        config["payload_on"] = "ON"
        config["payload_off"] = "OFF"
    elif spec.component == "number":
        if key == "fan_speed":
            low, high, step = 0, 100, 1
        else:
            low, high = power_number_bounds(device)
            step = max(1, min(50, (high - low) // 20 or 1)) if device.power_min else 1
        config.update(
            state_topic=state,
            value_template=_value_template(shows),
            command_topic=topics.set_field(device.id, key),
            min=low,
            max=high,
            step=step,
            mode="box",
        )
    elif spec.component == "select":
        config.update(
            state_topic=state,
            value_template=_value_template(shows),
            command_topic=topics.set_field(device.id, key),
            options=_select_options(key, device),
        )
    elif spec.component == "button":
        config["command_topic"] = topics.set_field(device.id, "action")
        config["payload_press"] = key
    if spec.unit:
        config["unit_of_measurement"] = _format(spec.unit, device, n)
    if spec.device_class:
        config["device_class"] = spec.device_class
    if spec.state_class:
        config["state_class"] = spec.state_class
    if spec.category:
        config["entity_category"] = spec.category
    if spec.icon:
        config["icon"] = spec.icon
    if spec.precision is not None:
        config["suggested_display_precision"] = spec.precision
    if "json_attributes_template" in spec.extra:
        config["json_attributes_topic"] = state
    config.update(spec.extra)
    return key, config


def entity_configs(
    device: DeviceRecord, topics: Topics, reported: set[str] | None = None
) -> list[tuple[str, str, dict[str, Any]]]:
    """``(component, object_id, config)`` for every entity this miner supports.

    ``reported`` is the set of state keys the miner has ever reported; sensors for values it
    never reports are not announced.  ``None`` gives every sensor the model could have (the
    daemon does not announce a miner before its first poll; this is for previews and tests).
    """
    capabilities = set(device.capabilities)
    result: list[tuple[str, str, dict[str, Any]]] = []

    def add(spec: EntitySpec, n: int | None = None) -> None:
        key, config = _config_for(spec, device, topics, n)
        result.append((spec.component, key, config))

    switch_shows_mining = Capability.STOP_MINING.value in capabilities
    for spec in SENSORS:
        if spec.key == "mining" and spec.component == "binary_sensor" and switch_shows_mining:
            continue  # the Mining switch shows the same state: one "Mining" per device
        if spec.key == "energy":
            # the bridge integrates power into energy: nothing to count without power
            wanted = reported is None or "power" in reported
        else:
            wanted = reported is None or spec.key in reported
        if wanted:
            add(spec)
    boards = range(device.expected_hashboards or 0)
    if reported is not None:
        boards = range(max([*_indices(reported, "board_"), len(boards) - 1]) + 1)
    if len(boards) == 1:
        boards = range(0)  # one board's readings are the miner's totals, already announced
    for n in boards:
        for spec in BOARD_SENSORS:
            if reported is None or _format(spec.key, device, n) in reported:
                add(spec, n)
    fans = range(device.expected_fans or 0)
    if reported is not None:
        fans = range(max([*_indices(reported, "fan_"), len(fans) - 1]) + 1)
    for n in fans:
        for spec in FAN_SENSORS:
            if reported is None or _format(spec.key, device, n) in reported:
                add(spec, n)
    for spec in CONTROLS:
        if spec.capability is not None and spec.capability.value not in capabilities:
            continue
        if not _offered(spec.key, device):
            continue
        add(spec)
    return result


def _offered(key: str, device: DeviceRecord) -> bool:
    """Whether the firmware offers what a control sets (a select needs options, the fan
    speed the manual fan mode)."""
    if key == "fan_speed":
        return "manual" in device.fan_modes
    return key not in ("mode", "preset", "fan_mode") or bool(_select_options(key, device))


def _indices(keys: set[str], prefix: str) -> list[int]:
    found = []
    for key in keys:
        if key.startswith(prefix):
            number = key[len(prefix) :].split("_", 1)[0]
            if number.isdigit():
                found.append(int(number))
    return found


def discovery_messages(
    device: DeviceRecord,
    topics: Topics,
    *,
    device_mode: bool = False,
    reported: set[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Topic -> retained payload for this miner's discovery."""
    entities = entity_configs(device, topics, reported)
    block = device_block(device, topics)
    availability = _availability(device, topics)
    if device_mode:
        components = {}
        for component, key, config in entities:
            components[key if component != "switch" else f"{key}_switch"] = {
                "platform": component,
                **config,
            }
        payload = {"device": block, "origin": ORIGIN, **availability, "components": components}
        return {topics.device_discovery(device.uid): payload}
    messages = {}
    for component, key, config in entities:
        messages[topics.discovery(component, device.uid, key)] = {
            **config,
            "device": block,
            "origin": ORIGIN,
            **availability,
        }
    return messages


#: the record's strings the configs only interpolate (never test beyond truth, never cut)
_INTERPOLATED = (
    "id",
    "uid",
    "friendly_name",
    "make",
    "model",
    "firmware",
    "fw_ver",
    "ip",
    "mac",
    "serial_number",
)
_SLOT = re.compile(r"\ue000(\d+)\ue001")  # a slot as it is in a topic
_JSON_SLOT = re.compile(r"\\ue000(\d+)\\ue001")  # and in JSON text (ensure_ascii)
_Parts = tuple[str | int, ...]  # literal text, and the number of the value in each slot


class DiscoveryTemplates:
    """:func:`discovery_messages` as compact sorted JSON, from a template per shape.

    The configs of a miner differ from another's of the same shape (model, capabilities,
    ranges, what it reports...) only where they interpolate its id, names, address and the
    like.  So they are built and encoded once per shape, for a record holding a slot mark
    in each such string, and a miner's are its values joined into the template: a 5,000-
    miner start-up built and ``json.dumps``-ed ~190,000 dicts, 8 % of its CPU until every
    config was out (bench/bridge_5k.py).  The bytes are those of building them (JSON escapes
    each character alone, so an escaped value joined in equals the escaped whole).
    """

    MAX_SHAPES = 512  # more than a farm has; past it, start again

    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        #: per shape: the (topic, payload) templates of its configs
        self._shapes: dict[tuple[Any, ...], list[tuple[_Parts, _Parts]]] = {}

    def texts(
        self, device: DeviceRecord, *, device_mode: bool = False, reported: set[str]
    ) -> dict[str, str]:
        """Topic -> the payload's compact JSON (keys sorted), as the builder's."""
        values = [getattr(device, name) for name in _INTERPOLATED]
        if any(v and ("\ue000" in v or "\ue001" in v) for v in values):
            return _encoded(
                discovery_messages(device, self.topics, device_mode=device_mode, reported=reported)
            )
        shape = (
            device_mode,
            frozenset(reported),
            device.hashrate_unit,
            tuple(device.capabilities),
            tuple(device.modes),
            tuple(device.presets),
            tuple(device.fan_modes),
            device.power_min,
            device.power_max,
            device.expected_hashboards,
            device.expected_fans,
            device.ports.get("http"),
            tuple(v if not v else True for v in values),  # which are set (or "" / None)
        )
        template = self._shapes.get(shape)
        if template is None:
            template = self._template(device, values, device_mode, reported)
            if len(self._shapes) >= self.MAX_SHAPES:
                self._shapes.clear()
            self._shapes[shape] = template
        raw = [str(v) for v in values]
        escaped = [json.dumps(v)[1:-1] for v in raw]
        return {_join(topic, raw): _join(text, escaped) for topic, text in template}

    def _template(
        self, device: DeviceRecord, values: list[Any], device_mode: bool, reported: set[str]
    ) -> list[tuple[_Parts, _Parts]]:
        marked: dict[str, Any] = {}
        for n, (name, value) in enumerate(zip(_INTERPOLATED, values, strict=True)):
            if value:
                marked[name] = f"\ue000{n}\ue001"
        proto = replace(device, **marked)
        built = _encoded(
            discovery_messages(proto, self.topics, device_mode=device_mode, reported=reported)
        )
        return [(_split(topic, _SLOT), _split(text, _JSON_SLOT)) for topic, text in built.items()]


def _encoded(messages: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {t: json.dumps(p, separators=(",", ":"), sort_keys=True) for t, p in messages.items()}


def _split(text: str, slot: re.Pattern[str]) -> _Parts:
    pieces = slot.split(text)  # literal, slot number, literal, ...
    return tuple(int(p) if i % 2 else p for i, p in enumerate(pieces) if p)


def _join(parts: _Parts, values: list[str]) -> str:
    # a list, not a generator: one call per config (str.format's parse of a 1 kB
    # template, or a generator's step per part, cost twice as much)
    return "".join([values[p] if isinstance(p, int) else p for p in parts])


def bridge_discovery(topics: Topics) -> dict[str, dict[str, Any]]:
    """The bridge's own device: a connectivity sensor other devices hang from (via_device)."""
    node = bridge_device_id(topics)
    config = {
        "name": "Connection state",
        "unique_id": f"{node}_connection_state",
        **entity_id_hint("binary_sensor", f"{node}_connection_state"),
        "state_topic": topics.bridge_state,
        "payload_on": "online",
        "payload_off": "offline",
        "device_class": "connectivity",
        "entity_category": "diagnostic",
        "device": _bridge_device(topics),
        "origin": ORIGIN,
    }
    return {topics.discovery("binary_sensor", node, "connection_state"): config}


def _bridge_device(topics: Topics) -> dict[str, Any]:
    # the base topic only tells bridges apart when it is not the default one
    name = "ASIC Bridge" if topics.base == "asic_bridge" else f"ASIC Bridge ({topics.base})"
    if topics.instance:
        name += f" {topics.instance}"
    return {
        "identifiers": [bridge_device_id(topics)],
        "name": name,
        "manufacturer": "asic_bridge",
        "model": "MQTT bridge",
        "sw_version": __version__,
    }


#: The levels the bridge's log-level select offers: those ``log_level`` accepts.
LOG_LEVELS: list[str] = list(get_args(LogLevel))


def bridge_controls(topics: Topics) -> dict[str, dict[str, Any]]:
    """The bridge device's controls (zigbee2mqtt's bridge has the same): restart and scan
    buttons and a log-level select, which send bridge requests, and a version sensor.  They
    are available while the bridge says online."""
    node = bridge_device_id(topics)
    common = {
        "device": _bridge_device(topics),
        "origin": ORIGIN,
        "availability_topic": topics.bridge_state,
        "payload_available": "online",
        "payload_not_available": "offline",
    }
    entities: list[tuple[str, str, dict[str, Any]]] = [
        (
            "button",
            "restart",
            {
                "name": "Restart",
                "command_topic": topics.bridge_request("restart"),
                "payload_press": "{}",
                "device_class": "restart",
                "entity_category": "config",
            },
        ),
        (
            "button",
            "scan",
            {
                "name": "Scan for miners",
                "command_topic": topics.bridge_request("scan"),
                "payload_press": "{}",
                "icon": "mdi:radar",
                "entity_category": "config",
            },
        ),
        (
            "select",
            "log_level",
            {
                "name": "Log level",
                "state_topic": topics.bridge_info,
                "value_template": "{{ value_json.log_level }}",
                "command_topic": topics.bridge_request("options"),
                "command_template": '{"options": {"log_level": "{{ value }}"}}',
                "options": LOG_LEVELS,
                "entity_category": "config",
            },
        ),
        (
            "sensor",
            "version",
            {
                "name": "Version",
                "state_topic": topics.bridge_info,
                "value_template": "{{ value_json.version }}",
                "icon": "mdi:information-outline",
                "entity_category": "diagnostic",
            },
        ),
    ]
    return _node_entities(topics, node, entities, common)


StateKeyFilter = Callable[[str], bool]


def firmware_update_discovery(
    device: DeviceRecord, topics: Topics, file: str
) -> tuple[str, dict[str, Any]]:
    """``(topic, config)`` of the miner's HA ``update`` entity: its state is
    ``<b>/<id>/firmware`` (installed/latest version, in progress), Install sends a
    ``device/firmware_update`` request for ``file``.  Its own discovery topic in both
    discovery modes, published by the firmware feature (it knows the folder)."""
    key = "firmware"
    config: dict[str, Any] = {
        "name": "Firmware",
        "unique_id": f"asic_bridge_{device.uid}_{key}",
        **entity_id_hint("update", f"{_entity_slug(device)}_{key}"),
        "device_class": "firmware",
        "state_topic": topics.firmware(device.id),
        "command_topic": topics.bridge_request("device/firmware_update"),
        "payload_install": json.dumps({"id": device.id, "file": file}, separators=(",", ":")),
        "device": device_block(device, topics),
        "origin": ORIGIN,
        **_availability(device, topics),
    }
    return topics.discovery("update", device.uid, key), config


#: what ``fleet/<group>`` says its status is (bridge.power.PowerController.state)
FLEET_STATUSES = ["holding", "converging", "cannot_meet", "released"]


def fleet_group_discovery(topics: Topics, group: str) -> dict[str, dict[str, Any]]:
    """A fleet group as an HA device (via the bridge): its target, mode, power and status.

    Every entity reads the retained ``fleet/<group>`` state; the number and the select send
    the same ``fleet/<group>/set`` payloads a user or the integration's ``set_fleet_power``
    would.  Available while the bridge is online.
    """
    bridge = bridge_device_id(topics)
    node = f"{bridge}_fleet_{group}"
    state = topics.fleet_state(group)
    common = {
        "device": {
            "identifiers": [node],
            "name": f"Fleet {group}",
            "manufacturer": "asic_bridge",
            "model": "Fleet group",
            "via_device": bridge,
        },
        "origin": ORIGIN,
        "availability_topic": topics.bridge_state,
        "payload_available": "online",
        "payload_not_available": "offline",
        "state_topic": state,
    }
    power = {"device_class": "power", "unit_of_measurement": "W", "state_class": "measurement"}
    entities: list[tuple[str, str, dict[str, Any]]] = [
        (
            "number",
            "target",
            {
                "name": "Power target",
                # null (released) renders "None": HA's payload_reset, the number is unknown
                "value_template": "{{ value_json.target_w }}",
                "command_topic": topics.fleet_set(group),
                "command_template": '{"target_w": {{ value | int }}}',
                "min": 0,
                "max": MAX_FLEET_W,
                "step": 50,
                "mode": "box",
                "device_class": "power",
                "unit_of_measurement": "W",
            },
        ),
        (
            "select",
            "mode",
            {
                "name": "Mode",
                "value_template": "{{ value_json.mode }}",
                "command_topic": topics.fleet_set(group),
                "command_template": '{"mode": "{{ value }}"}',
                "options": list(MODES),
            },
        ),
        (
            "sensor",
            "measured_power",
            {"name": "Measured power", "value_template": "{{ value_json.measured_w }}", **power},
        ),
        (
            "sensor",
            "planned_power",
            {"name": "Planned power", "value_template": "{{ value_json.planned_w }}", **power},
        ),
        (
            "sensor",
            "status",
            {
                "name": "Status",
                "value_template": "{{ value_json.status }}",
                "device_class": "enum",
                "options": FLEET_STATUSES,
                "json_attributes_topic": state,
                "json_attributes_template": "{{ {'reason': value_json.reason, 'held': "
                "value_json.held, 'failed': value_json.failed} | tojson }}",
            },
        ),
        (
            "binary_sensor",
            "problem",
            {
                "name": "Target not met",
                "value_template": "{{ 'ON' if value_json.status == 'cannot_meet' else 'OFF' }}",
                "device_class": "problem",
            },
        ),
    ]
    return _node_entities(topics, node, entities, common)


def _node_entities(
    topics: Topics,
    node: str,
    entities: list[tuple[str, str, dict[str, Any]]],
    common: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """(component, key, config) -> {discovery topic: config}, with ids from ``node``."""
    return {
        topics.discovery(component, node, key): {
            **config,
            "unique_id": f"{node}_{key}",
            **entity_id_hint(component, f"{node}_{key}"),
            **common,
        }
        for component, key, config in entities
    }
