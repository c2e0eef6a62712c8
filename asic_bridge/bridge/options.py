"""Runtime options: what ``bridge/request/options`` and ``device/options`` change, persisted.

``<state_dir>/options.json`` holds them over the YAML config (which stays as written): the
bridge's options, each miner's options by id, and the block list (MACs or IPs a scan never
adopts).  The file is meant to be readable and editable by hand while the bridge is stopped.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from asic_bridge.bridge.config import LogLevel

log = logging.getLogger("asic_bridge.bridge")

#: Version of the configuration's schema (bridge.yaml and options.json), in bridge/info.
CONFIG_SCHEMA_VERSION = 1


class BridgeOptions(BaseModel):
    """The bridge options that can change at runtime (``None``: as configured)."""

    model_config = ConfigDict(extra="forbid")

    poll_interval: float | None = Field(default=None, ge=1.0, le=3600)
    scan_interval: float | None = Field(default=None, ge=0, le=86400)
    log_level: LogLevel | None = None
    #: the level from which log records are published on bridge/logging
    mqtt_log_level: LogLevel | None = None
    per_field_topics: bool | None = None
    discovery: bool | None = None
    #: MACs (any spelling) or IPs a scan does not adopt
    blocklist: list[str] | None = None


#: Options that take effect only after a restart (the retained topics already published
#: would otherwise be half of one setting, half of the other).
RESTART_REQUIRED = frozenset({"per_field_topics", "discovery"})


class DeviceOptions(BaseModel):
    """One miner's options (``None``: the bridge's)."""

    model_config = ConfigDict(extra="forbid")

    poll_interval: float | None = Field(default=None, ge=1.0, le=3600)
    #: the name Home Assistant and bridge/devices show (the id stays; see device/rename)
    friendly_name: str | None = Field(default=None, min_length=1, max_length=64)
    #: a ``credentials`` entry of the config (its make or firmware name) used for this miner
    credentials: str | None = None
    #: a disabled miner is not polled (its last state stays retained)
    disabled: bool | None = None


def validation_message(exc: ValidationError) -> str:
    """The first problem of a validation error in one line, naming its key."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "options"
    return f"{where}: {err['msg']}"


class OptionsStore:
    """options.json: read at start, written atomically on every change."""

    def __init__(self, state_dir: str | Path):
        self.path = Path(state_dir) / "options.json"
        self.bridge = BridgeOptions()
        self.devices: dict[str, DeviceOptions] = {}

    def load(self) -> None:
        """Read the file; a missing one is no options, a damaged one is logged and ignored
        (the bridge must start; the YAML config still applies)."""
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("%s cannot be read (%s); runtime options ignored", self.path, exc)
            return
        try:
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            self.bridge = BridgeOptions.model_validate(raw.get("bridge") or {})
            self.devices = {
                str(k): DeviceOptions.model_validate(v)
                for k, v in (raw.get("devices") or {}).items()
            }
        except (ValidationError, ValueError, AttributeError) as exc:
            log.warning("%s is not valid (%s); runtime options ignored", self.path, exc)
            self.bridge, self.devices = BridgeOptions(), {}

    def save(self) -> None:
        payload: dict[str, Any] = {
            "version": CONFIG_SCHEMA_VERSION,
            "bridge": self.bridge.model_dump(exclude_none=True),
            "devices": {
                k: v.model_dump(exclude_none=True)
                for k, v in self.devices.items()
                if v.model_dump(exclude_none=True)
            },
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".options.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(payload, handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def device(self, miner_id: str) -> DeviceOptions:
        return self.devices.get(miner_id) or DeviceOptions()

    def blocked(self, mac: str | None, ip: str) -> bool:
        entries = self.bridge.blocklist or []
        if not entries:
            return False
        wanted = {_norm(e) for e in entries}
        return ip in wanted or (mac is not None and _norm(mac) in wanted)


def _norm(entry: str) -> str:
    """A MAC in any spelling -> 12 lowercase hex digits; anything else (an IP) unchanged."""
    digits = "".join(ch for ch in entry.lower() if ch in "0123456789abcdef")
    return digits if len(digits) == 12 and "." not in entry else entry.strip()
