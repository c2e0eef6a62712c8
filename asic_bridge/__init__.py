"""asic_bridge: drive Bitcoin ASIC miners with pyasic's API, and bridge them to MQTT.

>>> from asic_bridge import get_miner
>>> miner = await get_miner("10.0.0.5")
>>> data = await miner.get_data()
"""

from typing import TYPE_CHECKING, Any

from asic_bridge import settings
from asic_bridge.credentials import Credentials
from asic_bridge.errors import (
    APIError,
    AsicBridgeError,
    AuthenticationError,
    CommandError,
    ConfigError,
    InvalidResponseError,
    MinerConnectionError,
    MinerTimeoutError,
    ResponseTooLargeError,
    SettingsError,
    UnsupportedError,
)

if TYPE_CHECKING:
    from asic_bridge.config import MinerConfig
    from asic_bridge.data import MinerData
    from asic_bridge.factory import get_miner
    from asic_bridge.network import MinerNetwork

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Import lazily what pulls in pydantic or the drivers: ``import asic_bridge`` (the errors,
    the settings) stays cheap, and each piece costs its import once it is used."""
    if name == "MinerConfig":
        from asic_bridge.config import MinerConfig

        return MinerConfig
    if name == "MinerData":
        from asic_bridge.data import MinerData

        return MinerData
    if name == "get_miner":
        from asic_bridge.factory import get_miner

        return get_miner
    if name == "MinerNetwork":
        from asic_bridge.network import MinerNetwork

        return MinerNetwork
    raise AttributeError(f"module 'asic_bridge' has no attribute {name!r}")


__all__ = [
    "APIError",
    "AsicBridgeError",
    "AuthenticationError",
    "CommandError",
    "ConfigError",
    "Credentials",
    "InvalidResponseError",
    "MinerConfig",
    "MinerConnectionError",
    "MinerData",
    "MinerNetwork",
    "MinerTimeoutError",
    "ResponseTooLargeError",
    "SettingsError",
    "UnsupportedError",
    "__version__",
    "get_miner",
    "settings",
]
