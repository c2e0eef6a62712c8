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
from asic_bridge.data.miner_data import (
    Fan,
    HashBoard,
    MinerData,
    PoolMetrics,
    board_from,
    data_from,
    pool_from,
)

__all__ = [
    "ALGORITHMS",
    "UNITS",
    "Fan",
    "HashBoard",
    "MinerData",
    "MinerErrorData",
    "PoolMetrics",
    "UnitError",
    "board_from",
    "convert",
    "data_from",
    "default_unit",
    "pool_from",
    "to_default",
]
