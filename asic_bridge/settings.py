"""Process-wide defaults: timeouts, concurrency, default passwords.

The keys and defaults are the ones pyasic users know.  ``update`` validates both the key and
the type, so a typo fails loudly instead of being silently ignored.  Per-miner credentials
never touch these globals: pass a :class:`asic_bridge.credentials.Credentials` to
``get_miner`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asic_bridge.errors import SettingsError

# key -> (default, accepted types).  A float key also accepts an int.
_SPEC: dict[str, tuple[Any, tuple[type, ...]]] = {
    "network_ping_retries": (1, (int,)),
    "network_ping_timeout": (3.0, (float, int)),
    "network_scan_threads": (300, (int,)),
    "factory_get_retries": (1, (int,)),
    "factory_get_timeout": (3.0, (float, int)),
    "get_data_retries": (1, (int,)),
    "api_function_timeout": (5.0, (float, int)),
    "socket_linger_time": (1000, (int,)),
    # Bounds that keep a broken or hostile miner from eating memory.
    "max_response_bytes": (8 * 1024 * 1024, (int,)),
    # How long an identification stays cached; a failed call invalidates it earlier.
    "identification_ttl": (3600.0, (float, int)),
    # Default passwords (user names are fixed by each firmware and live in its driver).
    "default_antminer_password": ("root", (str,)),
    "default_antminer_ssh_password": ("miner", (str,)),
    "default_bosminer_password": ("root", (str,)),
    "default_bosminer_ssh_password": ("root", (str,)),
    "default_whatsminer_password": ("admin", (str,)),
    "default_whatsminer_v3_password": ("super", (str,)),
    "default_innosilicon_password": ("admin", (str,)),
    "default_vnish_password": ("admin", (str,)),
    "default_goldshell_password": ("123456789", (str,)),
    "default_epic_password": ("letmein", (str,)),
    "default_auradine_password": ("admin", (str,)),
    "default_avalon_password": ("root", (str,)),  # pyasic: AvalonMinerWebAPI root/root
    "default_hammer_password": ("root", (str,)),
    "default_volcminer_password": ("ltc@dog", (str,)),
    "default_elphapex_password": ("root", (str,)),
    "default_hiveon_password": ("root", (str,)),
    "default_iceriver_password": ("12345678", (str,)),
    "default_marafw_password": ("root", (str,)),
    "default_luxos_password": ("root", (str,)),
}

_values: dict[str, Any] = {key: default for key, (default, _) in _SPEC.items()}


@dataclass(frozen=True)
class Limits:
    """The timeouts and size cap that requests run under, taken from the settings once.

    A miner (and each client it keeps) gets its own when it is made and hands it down, so
    ``update()`` before creating miners takes effect, and no request reads the globals.
    """

    request_timeout: float  # api_function_timeout: one request, one get_data
    connect_timeout: float  # network_ping_timeout: one connect (the "ping")
    identify_timeout: float  # factory_get_timeout: one identification probe
    max_response_bytes: int  # max_response_bytes: one answer

    def timeout_for(self, *choices: float | None) -> float:
        """The first of ``choices`` given (a call's, then a client's own), else
        ``request_timeout``.  A loop, not next() over a generator: it runs on every request."""
        for choice in choices:
            if choice is not None:
                return float(choice)
        return self.request_timeout

    def cap_for(self, choice: int | None) -> int:
        """``choice`` (a client's own cap) if given, else ``max_response_bytes``."""
        return choice if choice is not None else self.max_response_bytes


def limits() -> Limits:
    """The current settings' :class:`Limits`."""
    return Limits(
        request_timeout=float(_values["api_function_timeout"]),
        connect_timeout=float(_values["network_ping_timeout"]),
        identify_timeout=float(_values["factory_get_timeout"]),
        max_response_bytes=int(_values["max_response_bytes"]),
    )


def keys() -> list[str]:
    """All known setting names."""
    return list(_SPEC)


def _check_key(key: str) -> tuple[Any, tuple[type, ...]]:
    try:
        return _SPEC[key]
    except KeyError:
        raise SettingsError(
            f"unknown setting {key!r}; known settings: {', '.join(_SPEC)}"
        ) from None


def get(key: str) -> Any:
    """The current value of ``key``; an unknown key raises :class:`SettingsError`."""
    _check_key(key)
    return _values[key]


def update(key: str, value: Any) -> None:
    """Set ``key`` to ``value`` after checking the key exists and the type fits."""
    _, types = _check_key(key)
    if isinstance(value, bool) or not isinstance(value, types):
        wanted = " or ".join(t.__name__ for t in types)
        raise SettingsError(
            f"setting {key!r} must be {wanted}, got {type(value).__name__} {value!r}"
            if not key.endswith("password")
            else f"setting {key!r} must be {wanted}, got {type(value).__name__}"
        )
    if isinstance(value, (int, float)):
        if value < 0:
            raise SettingsError(f"setting {key!r} must not be negative, got {value!r}")
        if float in types:
            value = float(value)
    _values[key] = value


def reset() -> None:
    """Restore every default (for tests and long-lived embedders)."""
    _values.update({key: default for key, (default, _) in _SPEC.items()})


def as_dict() -> dict[str, Any]:
    """A copy of all settings with passwords masked, safe to log."""
    return {k: ("***" if k.endswith("password") else v) for k, v in _values.items()}
