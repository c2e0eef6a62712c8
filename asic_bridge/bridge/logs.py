"""Log levels of the bridge process: ours from ``log_level``, third-party ones quiet.

At ``log_level: debug`` the libraries under us would drown the bridge's own lines (h2's
``hpack`` logger alone wrote ~3,000 lines in 20 s for one BOS+ miner), so they stay at
WARNING unless ``log_levels`` names them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

#: Loggers of the libraries the bridge runs on, kept at WARNING by default.
THIRD_PARTY = (
    "aiomqtt",
    "amqtt",
    "asyncio",
    "asyncssh",
    "grpc",
    "h2",
    "hpack",
    "httpcore",
    "httpx",
    "paho",
    "passlib",
    "transitions",
    "websockets",
)


def configure_logging(level: str, overrides: Mapping[str, str] | None = None) -> None:
    """``level`` for the root and ``asic_bridge`` loggers, WARNING for THIRD_PARTY, then
    ``overrides`` (logger name -> level) on top, so any of them can be turned up on purpose."""
    logging.getLogger().setLevel(level.upper())
    logging.getLogger("asic_bridge").setLevel(level.upper())
    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name, wanted in (overrides or {}).items():
        logging.getLogger(name).setLevel(wanted.upper())
