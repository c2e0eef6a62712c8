"""bridge.yaml: validated at start; a bad file names the key, the value and the reason.

Any string value may reference the environment as ``${NAME}`` (secrets stay out of the file);
a missing variable is an error naming the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails

from asic_bridge.bridge.power_inputs import GroupConfig
from asic_bridge.bridge.topics import valid_id
from asic_bridge.bridge.watchdog import WatchdogConfig
from asic_bridge.config import describe_validation_error
from asic_bridge.credentials import Credentials, CredentialTable, credential_key
from asic_bridge.errors import ConfigError

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TOPIC_LEVEL = re.compile(r"^[^#+\s]+$")
# scheme://user:password@host: everything up to the LAST '@' is masked after the first ':',
# so a password holding '@', '/', '#' or spaces (which also break URL parsing) never shows.
_URL_USERINFO = re.compile(r"(://)(.*)@")
_SECRET_WORDS = ("pass", "token", "secret")
_BROKER_USER = re.compile(r"^[^:\s]+$")  # a line of mosquitto's password file: user:hash
LogLevel = Literal["debug", "info", "warning", "error"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TLSConfig(_Section):
    """TLS to the broker (``mqtts://``): CA bundle, client certificate, and an opt-out."""

    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    insecure: bool = False

    @field_validator("ca_certs", "certfile", "keyfile")
    @classmethod
    def _readable_file(cls, path: str | None) -> str | None:
        # A file that is not there can never work: fail at start, not in the MQTT task.
        if path is not None and not os.access(path, os.R_OK):
            reason = "does not exist" if not os.path.exists(path) else "is not readable"
            raise ValueError(f"file {path} {reason}")
        return path


class EmbeddedBrokerConfig(_Section):
    """``mqtt.url: embedded``: mosquitto supervised by the bridge, amqtt if it is missing."""

    bind: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    #: auto = mosquitto when its binary is found, else amqtt; or force one of them.
    mode: Literal["auto", "mosquitto", "amqtt"] = "auto"
    #: With a username, only that login is accepted (the bridge uses it too); else anyone.
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    #: mosquitto keeps retained messages and sessions under state_dir/mosquitto/.
    persistence: bool = True

    @model_validator(mode="after")
    def _check_login(self) -> EmbeddedBrokerConfig:
        if self.password is not None and not self.username:
            raise ValueError("password is set but username is not")
        if self.username is not None and not _BROKER_USER.match(self.username):
            raise ValueError("username must be non-empty, without ':', spaces or line breaks")
        if self.password is not None and ("\n" in self.password or "\r" in self.password):
            raise ValueError("password must not contain line breaks")
        return self


class MQTTConfig(_Section):
    url: str = "embedded"
    base_topic: str = "asic_bridge"
    discovery_prefix: str = "homeassistant"
    discovery: bool = True
    discovery_mode: Literal["entity", "device"] = "entity"
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    client_id: str = "asic_bridge"
    keepalive: int = Field(default=60, ge=5, le=3600)
    protocol: Literal["auto", "3.1.1", "5"] = "auto"
    tls: TLSConfig = Field(default_factory=TLSConfig)
    embedded: EmbeddedBrokerConfig = Field(default_factory=EmbeddedBrokerConfig)
    per_field_topics: bool = False
    qos: int = Field(default=1, ge=0, le=2)
    #: Seconds a command's transaction id is remembered: a retry within it is answered with
    #: the first outcome instead of running twice.
    transaction_ttl: float = Field(default=300.0, ge=1.0, le=86400.0)
    #: QoS of the polled state topics.  0 like zigbee2mqtt's device state: every poll
    #: republishes the retained state and a reconnect republishes all of it, so a lost
    #: message is replaced within one poll_interval.  Responses, events and discovery: qos.
    state_qos: int = Field(default=0, ge=0, le=2)
    command_expiry: int = Field(default=60, ge=1)

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if url == "embedded":
            return url
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError("must be 'embedded', mqtt://[user:pass@]host[:port] or mqtts://...")
        if not parts.hostname:
            raise ValueError("has no host name")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            # also what an unencoded '/', '?' or '#' in a password turns into
            raise ValueError("has a path, query or fragment (percent-encode them in a password)")
        try:
            parts.port  # noqa: B018  (raises on a bad port)
        except ValueError:
            raise ValueError("has an invalid port") from None
        return url

    @field_validator("base_topic", "discovery_prefix")
    @classmethod
    def _check_topic(cls, value: str) -> str:
        if not value or not all(_TOPIC_LEVEL.match(level) for level in value.split("/")):
            raise ValueError("must be non-empty topic levels without '+', '#' or spaces")
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, (self.redacted_url() if name == "url" else value)

    @property
    def embedded_broker(self) -> bool:
        return self.url == "embedded"

    def endpoint(self) -> tuple[str, int, bool, str | None, str | None]:
        """(host, port, tls, username, password) with credentials from the URL or the keys."""
        if self.embedded_broker:
            embedded = self.embedded
            if embedded.username:  # the broker's own login
                return embedded.bind, embedded.port, False, embedded.username, embedded.password
            return embedded.bind, embedded.port, False, self.username, self.password
        parts = urlsplit(self.url)
        tls = parts.scheme in ("mqtts", "ssl")
        port = parts.port or (8883 if tls else 1883)
        user = unquote(parts.username) if parts.username else self.username
        password = unquote(parts.password) if parts.password else self.password
        assert parts.hostname is not None
        return parts.hostname, port, tls, user, password

    def redacted_url(self) -> str:
        if self.embedded_broker:
            return "embedded"
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}:***@" if parts.username else ""
        return f"{parts.scheme}://{user}{host}{port}"


class HostConfig(_Section):
    """One configured miner: its address and optional name, ports and password."""

    ip: str
    friendly_name: str | None = None
    ports: dict[str, int] = Field(default_factory=dict)
    password: str | None = Field(default=None, repr=False)
    group: str | None = None

    @field_validator("friendly_name")
    @classmethod
    def _check_name(cls, name: str | None) -> str | None:
        if name is not None and not valid_id(name):
            raise ValueError(
                "must be 1-64 letters, digits, '_' or '-' (it becomes an MQTT topic level), "
                "and not 'bridge' or 'fleet'"
            )
        return name

    @field_validator("ip")
    @classmethod
    def _check_ip(cls, ip: str) -> str:
        import ipaddress

        ipaddress.IPv4Address(ip)
        return ip


class MinersConfig(_Section):
    hosts: list[HostConfig] = Field(default_factory=list)
    scan: list[str] = Field(default_factory=list)
    poll_interval: float = Field(default=10.0, ge=1.0, le=3600)
    scan_interval: float = Field(default=300.0, ge=0, le=86400)
    offline_after: int = Field(default=2, ge=1, le=100)
    #: Seconds after a command that may restart the backend (power limit, mode, mining,
    #: restart_backend) during which failed polls do not count toward offline_after (the
    #: miner may be restarting to apply it, as BOSminer does).
    command_settle: float = Field(default=30.0, ge=0, le=600)
    concurrency: int = Field(default=64, ge=1, le=2000)
    # friendly names by MAC, for miners found by scanning
    names: dict[str, str] = Field(default_factory=dict)

    @field_validator("hosts", mode="before")
    @classmethod
    def _hosts_may_be_strings(cls, hosts: Any) -> Any:
        if isinstance(hosts, list):
            return [{"ip": h} if isinstance(h, str) else h for h in hosts]
        return hosts

    @field_validator("scan")
    @classmethod
    def _check_scan(cls, targets: list[str]) -> list[str]:
        from asic_bridge.network import MinerNetwork

        for target in targets:
            MinerNetwork.from_address(target)  # raises a clear ValueError
        return targets

    @field_validator("names")
    @classmethod
    def _check_names(cls, names: dict[str, str]) -> dict[str, str]:
        for mac, name in names.items():
            if not valid_id(name):
                raise ValueError(f"name {name!r} for {mac} must be letters, digits, '_' or '-'")
        return names

    @model_validator(mode="after")
    def _unique_names(self) -> MinersConfig:
        names = [h.friendly_name for h in self.hosts if h.friendly_name]
        names += list(self.names.values())
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"friendly names must be unique: {', '.join(sorted(dupes))}")
        return self


class FirmwareCredentials(_Section):
    """One ``credentials`` entry (a make, a firmware or a family: see CredentialTable)."""

    password: str | None = Field(default=None, repr=False)
    username: str | None = None
    ssh_password: str | None = Field(default=None, repr=False)

    def as_credentials(self) -> Credentials:
        return Credentials(
            username=self.username, password=self.password, ssh_password=self.ssh_password
        )


class FleetGroup(GroupConfig):
    """``fleet.groups.<group>``: members, hold settings, schedule/price/surplus inputs, and
    the group's watchdog (opt-in)."""

    watchdog: WatchdogConfig | None = None


class FleetConfig(_Section):
    groups: dict[str, FleetGroup] = Field(default_factory=lambda: {"all": FleetGroup()})


class MetricsConfig(_Section):
    """``metrics``: a Prometheus endpoint at http://bind:port/metrics (off without it)."""

    bind: str = "127.0.0.1"
    port: int = Field(default=9464, ge=1, le=65535)

    @field_validator("bind")
    @classmethod
    def _check_bind(cls, bind: str) -> str:
        import ipaddress

        try:
            ipaddress.ip_address(bind)
        except ValueError:
            raise ValueError("must be an IP address to listen on (0.0.0.0 for all)") from None
        return bind


class FirmwareConfig(_Section):
    """``firmware``: the folder of images the bridge may install.  Requests name a file in
    it, never a path; ``<dir>/manifest.json`` says which miners each file is for (the
    Home Assistant update entities)."""

    dir: str = Field(min_length=1)
    #: updates running at once in one fleet group (the others wait their turn)
    concurrency: int = Field(default=1, ge=1, le=64)
    #: seconds from the upload to the new version reported before the update counts as failed
    timeout: float = Field(default=900.0, ge=1, le=7200)
    #: seconds between looks at a rebooting miner
    check_interval: float = Field(default=10.0, ge=0.05, le=300)


#: levels under ``<b>/bridge/`` an instance name would collide with
_BRIDGE_LEVELS = frozenset({"state", "info", "devices", "event", "logging", "request", "response"})


class ShardConfig(_Section):
    """``shard``: this instance is ``index`` of ``count`` bridges sharing one base topic and
    the same scan ranges (asic_bridge/bridge/shard.py decides which miners it owns)."""

    index: int = Field(default=0, ge=0, strict=True)
    count: int = Field(default=1, ge=1, le=1024, strict=True)
    #: this instance's level in ``<b>/bridge/<name>/...``; ``shard-<index>`` without it
    name: str | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str | None) -> str | None:
        if name is not None and (not valid_id(name) or name in _BRIDGE_LEVELS):
            raise ValueError(
                "must be 1-64 letters, digits, '_' or '-', and not one of "
                + ", ".join(sorted(_BRIDGE_LEVELS | {"bridge", "fleet"}))
            )
        return name

    @model_validator(mode="after")
    def _index_in_range(self) -> ShardConfig:
        if self.index >= self.count:
            raise ValueError(f"index {self.index} must be below count {self.count} (0..count-1)")
        return self

    @property
    def instance(self) -> str | None:
        """The instance's topic level, or None unsharded (count 1: today's topics)."""
        return None if self.count == 1 else (self.name or f"shard-{self.index}")


class SimulatorConfig(_Section):
    miners: list[str] = Field(default_factory=list)


class BridgeConfig(_Section):
    mqtt: MQTTConfig = Field(default_factory=MQTTConfig)
    miners: MinersConfig = Field(default_factory=MinersConfig)
    credentials: dict[str, FirmwareCredentials] = Field(default_factory=dict)
    fleet: FleetConfig = Field(default_factory=FleetConfig)
    simulator: SimulatorConfig = Field(default_factory=SimulatorConfig)
    shard: ShardConfig = Field(default_factory=ShardConfig)
    metrics: MetricsConfig | None = None
    firmware: FirmwareConfig | None = None
    state_dir: str = ".asic_bridge_state"
    #: Seconds between registry writes for energy; the published energy is the saved one,
    #: so it moves in steps of this length (adoptions and IP changes are written at once).
    state_save_interval: float = Field(default=30.0, ge=0.5, le=3600)
    log_level: LogLevel = "info"
    #: Levels of single loggers, over log_level and the WARNING default of third-party
    #: ones (bridge.logs.THIRD_PARTY): ``{hpack: debug}`` to see what h2 does.
    log_levels: dict[str, LogLevel] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _metrics_port_free(self) -> BridgeConfig:
        embedded = self.mqtt.embedded
        if (
            self.metrics is not None
            and self.mqtt.embedded_broker
            and self.metrics.port == embedded.port
            and (
                self.metrics.bind == embedded.bind
                or "0.0.0.0" in (self.metrics.bind, embedded.bind)
            )
        ):
            raise ValueError(f"metrics.port {self.metrics.port} is the embedded broker's port")
        return self

    @model_validator(mode="after")
    def _no_fleet_groups_when_sharded(self) -> BridgeConfig:
        """A fleet group's target is for all its miners, which no single shard sees: sharded,
        there are no groups (the default ``all`` is dropped) and configured ones are refused."""
        if self.shard.count == 1:
            return self
        if "fleet" in self.model_fields_set and self.fleet.groups:
            raise ValueError(
                "fleet.groups cannot be used with shard.count > 1 (each instance sees only "
                "its part of a group); run fleet control on one unsharded bridge"
            )
        self.fleet.groups = {}
        return self

    @field_validator("credentials")
    @classmethod
    def _known_credential_names(
        cls, table: dict[str, FirmwareCredentials]
    ) -> dict[str, FirmwareCredentials]:
        from asic_bridge.factory import credential_names

        known = credential_names()
        unknown = sorted(name for name in table if credential_key(name) not in known)
        if unknown:
            raise ValueError(
                f"unknown make or firmware {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return table

    def credential_table(self) -> CredentialTable:
        """Per-host passwords over the ``credentials`` entries (see CredentialTable)."""
        hosts = {h.ip: Credentials(password=h.password) for h in self.miners.hosts if h.password}
        names = {credential_key(k): v.as_credentials() for k, v in self.credentials.items()}
        return CredentialTable(hosts=hosts, names=names)

    def summary(self) -> dict[str, Any]:
        """The config without secrets, for ``bridge/info``."""
        return {
            "mqtt": {
                "url": self.mqtt.redacted_url(),
                "base_topic": self.mqtt.base_topic,
                "discovery_prefix": self.mqtt.discovery_prefix,
                "discovery": self.mqtt.discovery,
                "discovery_mode": self.mqtt.discovery_mode,
            },
            "miners": {
                "hosts": [h.ip for h in self.miners.hosts],
                "scan": self.miners.scan,
                "poll_interval": self.miners.poll_interval,
                "scan_interval": self.miners.scan_interval,
            },
            "fleet_groups": sorted(self.fleet.groups),
            "simulated_miners": len(self.simulator.miners),
        }


def _expand_env(value: Any, where: str) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(f"{where}: environment variable {name} is not set")
            return os.environ[name]

        return _ENV_REF.sub(replace, value)
    if isinstance(value, dict):
        return {k: _expand_env(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{where}.{i}") for i, v in enumerate(value)]
    return value


def parse_config(raw: Any, source: str = "bridge.yaml") -> BridgeConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    try:
        return BridgeConfig.model_validate(_expand_env(raw, ""))
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(_without_secrets(exc), source)) from None


def _redact(value: Any, key: str = "") -> Any:
    """A copy of ``value`` safe to show: passwords (by key, or inside URLs) masked."""
    if any(word in key.lower() for word in _SECRET_WORDS):
        return "***"
    if isinstance(value, str):
        return _URL_USERINFO.sub(_mask_userinfo, value)
    if isinstance(value, dict):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, key) for v in value]
    return value


def _mask_userinfo(match: re.Match[str]) -> str:
    user, sep, _ = match.group(2).partition(":")
    return f"{match.group(1)}{user}{':***' if sep else ''}@"


def _without_secrets(exc: ValidationError) -> ValidationError:
    """The same errors with their echoed inputs redacted (a URL's password, a whole
    ``credentials`` entry, password keys inside a section quoted by a section-level error)."""
    details = []
    for err in exc.errors():
        loc = err["loc"]
        key = str(loc[-1]) if loc else ""
        value = "***" if loc[:1] == ("credentials",) else _redact(err["input"], key)
        details.append(
            InitErrorDetails(type=err["type"], loc=loc, input=value, ctx=err.get("ctx", {}))
        )
    return ValidationError.from_exception_data(exc.title, details)


def load_config(path: str | Path) -> BridgeConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return parse_config(raw, str(path))
