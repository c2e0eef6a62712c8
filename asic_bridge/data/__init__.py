"""The standard data model: MinerData and its parts, and hash-rate units."""

from asic_bridge.data.errors import MinerErrorData
from asic_bridge.data.hashrate import (
    ALGORITHMS,
    UNITS,
    UnitError,
    convert,
    default_unit,
    to_default,
)
from asic_bridge.data.miner_data import Fan, HashBoard, MinerData, PoolMetrics

__all__ = [
    "ALGORITHMS",
    "UNITS",
    "Fan",
    "HashBoard",
    "MinerData",
    "MinerErrorData",
    "PoolMetrics",
    "UnitError",
    "convert",
    "default_unit",
    "to_default",
]
