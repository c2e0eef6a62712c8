"""Fan modes as MQTT and Home Assistant show them: the one place the library's names are
mapped.

The library (like pyasic) calls firmware-controlled fans ``normal``; on MQTT and in Home
Assistant they are ``auto``, the name zigbee2mqtt and HA's fan/climate entities use.
``normal`` is still accepted in a command, as an alias.
"""

from __future__ import annotations

from collections.abc import Iterable

#: library name -> the name shown on MQTT / in HA (names not listed are shown as they are)
_SHOWN = {"normal": "auto"}
_LIBRARY = {shown: library for library, shown in _SHOWN.items()}


def shown_fan_mode(mode: str) -> str:
    """The MQTT/HA name of the library's fan mode ``mode`` (``normal`` -> ``auto``)."""
    return _SHOWN.get(mode, mode)


def shown_fan_modes(modes: Iterable[str]) -> list[str]:
    """A miner's fan modes (``BaseMiner.fan_modes()``) in their MQTT/HA names, same order."""
    return [shown_fan_mode(m) for m in modes]


def library_fan_mode(name: str) -> str:
    """The library's name for an MQTT/HA fan mode (``auto`` -> ``normal``); the library's
    own names pass through, so ``normal`` works as an alias of ``auto``."""
    return _LIBRARY.get(name, name)


def shown_description(description: object) -> object:
    """A read-back as the library describes it (``"normal"``, ``"manual 60%"``) in the
    MQTT names, for an answer's ``reported``; anything else unchanged."""
    if not isinstance(description, str):
        return description
    mode, sep, rest = description.partition(" ")
    return shown_fan_mode(mode) + sep + rest
