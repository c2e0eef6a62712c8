"""Every MQTT topic the bridge uses, in one place (zigbee2mqtt's layout).

``<b>`` is the base topic, ``<id>`` a miner id (the MAC as 12 lowercase hex digits unless a
friendly name overrides it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RESERVED_IDS = frozenset({"bridge", "fleet"})


def valid_id(miner_id: str) -> bool:
    """Ids become topic levels and HA object ids: letters, digits, ``_`` and ``-`` only."""
    return bool(ID_PATTERN.match(miner_id)) and miner_id not in RESERVED_IDS


def mac_id(mac: str) -> str:
    """``AA:BB:CC:DD:EE:FF`` -> ``aabbccddeeff``."""
    return "".join(ch for ch in mac.lower() if ch in "0123456789abcdef")


@dataclass(frozen=True)
class Topics:
    """Topic builder for one base topic and discovery prefix."""

    base: str = "asic_bridge"
    discovery_prefix: str = "homeassistant"
    #: sharded (``shard.count`` > 1): this instance's level under ``<b>/bridge/``
    instance: str | None = None

    # bridge ---------------------------------------------------------------------
    @property
    def bridge(self) -> str:
        """``<b>/bridge``, or ``<b>/bridge/<instance>`` for one of several sharded bridges."""
        return f"{self.base}/bridge/{self.instance}" if self.instance else f"{self.base}/bridge"

    @property
    def bridge_state(self) -> str:
        return f"{self.bridge}/state"

    @property
    def bridge_info(self) -> str:
        return f"{self.bridge}/info"

    @property
    def bridge_devices(self) -> str:
        return f"{self.bridge}/devices"

    @property
    def bridge_event(self) -> str:
        return f"{self.bridge}/event"

    @property
    def bridge_logging(self) -> str:
        return f"{self.bridge}/logging"

    def bridge_request(self, op: str) -> str:
        return f"{self.bridge}/request/{op}"

    def bridge_response(self, op: str) -> str:
        return f"{self.bridge}/response/{op}"

    def shared_response(self, op: str) -> str:
        """Sharded: the answer to a request on the shared ``<b>/bridge/request/<op>``."""
        return f"{self.base}/bridge/response/{op}"

    # miners ---------------------------------------------------------------------
    def state(self, miner_id: str) -> str:
        return f"{self.base}/{miner_id}"

    def field(self, miner_id: str, name: str) -> str:
        return f"{self.base}/{miner_id}/{name}"

    def availability(self, miner_id: str) -> str:
        return f"{self.base}/{miner_id}/availability"

    def set(self, miner_id: str) -> str:
        return f"{self.base}/{miner_id}/set"

    def set_field(self, miner_id: str, name: str) -> str:
        return f"{self.base}/{miner_id}/set/{name}"

    def get(self, miner_id: str) -> str:
        return f"{self.base}/{miner_id}/get"

    def response(self, miner_id: str) -> str:
        return f"{self.base}/{miner_id}/response"

    def firmware(self, miner_id: str) -> str:
        """The firmware update state (HA's update entity); not ``/firmware``, a state key's
        per-field topic."""
        return f"{self.base}/{miner_id}/firmware_update"

    # fleet ----------------------------------------------------------------------
    def fleet_set(self, group: str) -> str:
        return f"{self.base}/fleet/{group}/set"

    def fleet_state(self, group: str) -> str:
        return f"{self.base}/fleet/{group}"

    def fleet_response(self, group: str) -> str:
        return f"{self.base}/fleet/{group}/response"

    def fleet_reading(self, group: str, what: str) -> str:
        """``price`` or ``surplus``: a plain-number signal for the group's controller."""
        return f"{self.base}/fleet/{group}/{what}"

    # Home Assistant -------------------------------------------------------------
    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/status"

    def discovery(self, component: str, node_id: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{node_id}/{object_id}/config"

    def device_discovery(self, node_id: str) -> str:
        return f"{self.discovery_prefix}/device/{node_id}/config"

    def discovery_filter(self) -> str:
        return f"{self.discovery_prefix}/+/+/+/config"

    # subscriptions --------------------------------------------------------------
    def subscriptions(self) -> list[str]:
        """What the bridge listens to: commands, requests, fleet targets, HA's birth."""
        return [
            f"{self.base}/+/set",
            f"{self.base}/+/set/+",
            f"{self.base}/+/get",
            # request paths of up to three levels (device/rename; deeper ones are answered
            # as unknown); never "#", which would also catch the bridge's own output
            f"{self.base}/bridge/request/+",
            f"{self.base}/bridge/request/+/+",
            f"{self.base}/bridge/request/+/+/+",
            # sharded: this instance's own requests too (bridge/<instance>/request/...)
            *(f"{self.bridge}/request/{levels}" for levels in self._own_request_levels()),
            f"{self.base}/fleet/+/set",
            f"{self.base}/fleet/+/price",
            f"{self.base}/fleet/+/surplus",
            self.ha_status,
        ]

    def _own_request_levels(self) -> tuple[str, ...]:
        return ("+", "+/+", "+/+/+") if self.instance else ()

    def classify(self, topic: str) -> Incoming | None:
        """Which command a received topic is, or None for topics the bridge ignores."""
        if topic == self.ha_status:
            return Incoming("ha_status")
        prefix = f"{self.base}/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix) :].split("/")
        if 3 <= len(parts) <= 5 and parts[:2] == ["bridge", "request"]:
            kind = "shared_request" if self.instance else "bridge_request"
            return Incoming(kind, name="/".join(parts[2:]))
        own = ["bridge", self.instance, "request"]
        if self.instance and 4 <= len(parts) <= 6 and parts[:3] == own:
            return Incoming("bridge_request", name="/".join(parts[3:]))
        if len(parts) == 3 and parts[0] == "fleet" and parts[2] == "set":
            return Incoming("fleet_set", target=parts[1])
        if len(parts) == 3 and parts[0] == "fleet" and parts[2] in ("price", "surplus"):
            return Incoming("fleet_reading", target=parts[1], name=parts[2])
        if parts[0] in RESERVED_IDS:
            return None
        if len(parts) == 2 and parts[1] == "set":
            return Incoming("set", target=parts[0])
        if len(parts) == 3 and parts[1] == "set":
            return Incoming("set_field", target=parts[0], name=parts[2])
        if len(parts) == 2 and parts[1] == "get":
            return Incoming("get", target=parts[0])
        return None


@dataclass(frozen=True)
class Incoming:
    """A classified incoming topic."""

    #: ha_status | bridge_request | shared_request (sharded: bridge/request/...) | fleet_set |
    #: fleet_reading | set | set_field | get
    kind: str
    target: str | None = None
    name: str | None = None
