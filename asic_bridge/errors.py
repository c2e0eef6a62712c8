"""Typed errors: every failure says which miner, which command, and why.

All library errors derive from :class:`AsicBridgeError`, so callers can catch one type.
"""

from __future__ import annotations


class AsicBridgeError(Exception):
    """Base of every error this package raises on purpose."""


class SettingsError(AsicBridgeError, ValueError):
    """An unknown settings key or a value of the wrong type."""


class ConfigError(AsicBridgeError, ValueError):
    """Invalid configuration input (MinerConfig, bridge.yaml, a vendor config)."""


class APIError(AsicBridgeError):
    """A miner could not be reached or answered something we cannot use.

    ``ip`` and ``command`` name the miner and the request so a log line is useful on
    its own; messages never contain credentials.
    """

    def __init__(self, message: str, *, ip: str | None = None, command: str | None = None):
        self.ip = ip
        self.command = command
        self.reason = message
        where = " ".join(part for part in (ip, f"'{command}'" if command else None) if part)
        super().__init__(f"{where}: {message}" if where else message)


class MinerConnectionError(APIError):
    """The connection was refused, reset, or closed before a complete answer."""


class MinerTimeoutError(APIError, TimeoutError):
    """No (complete) answer within the deadline.

    For a write, the outcome is unknown: the miner may or may not have acted.
    """


class ResponseTooLargeError(APIError):
    """The miner sent more bytes than the configured maximum; the rest was discarded."""


class InvalidResponseError(APIError):
    """The answer is not the expected protocol (garbage, broken JSON, wrong shape)."""


class CommandError(APIError):
    """The miner understood the request and refused it (STATUS E, code != 0, ...)."""


class NotAppliedError(APIError):
    """The miner accepted a write but reading back shows it did something else (ignored it,
    clamped it).  ``wanted`` and ``applied`` say what was asked and what the miner did."""

    def __init__(
        self,
        message: str,
        *,
        wanted: object = None,
        applied: object = None,
        ip: str | None = None,
        command: str | None = None,
    ):
        self.wanted = wanted
        self.applied = applied
        super().__init__(message, ip=ip, command=command)


class BusyError(APIError):
    """The miner is already doing this (one firmware update at a time); nothing was sent."""


class AuthenticationError(APIError):
    """The miner rejected the credentials."""


class UnsupportedError(AsicBridgeError, NotImplementedError):
    """The firmware cannot do this; raised instead of silently returning False."""

    def __init__(self, action: str, firmware: str):
        self.action = action
        self.firmware = firmware
        super().__init__(f"{action} is not supported by {firmware}")
