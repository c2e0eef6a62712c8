"""Per-miner credentials, so a farm with mixed passwords never mutates the global settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from asic_bridge import settings


@dataclass(frozen=True)
class Credentials:
    """Passwords for one miner; ``None`` means "use the settings default for this firmware".

    ``repr`` hides the values so a credentials object can be logged safely.
    """

    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    ssh_username: str | None = field(default=None, repr=False)
    ssh_password: str | None = field(default=None, repr=False)

    def password_or(self, settings_key: str) -> str:
        """The explicit password, else the settings default named ``settings_key``."""
        return self.password if self.password is not None else str(settings.get(settings_key))

    def ssh_password_or(self, settings_key: str) -> str:
        if self.ssh_password is not None:
            return self.ssh_password
        return str(settings.get(settings_key))

    def username_or(self, default: str) -> str:
        return self.username if self.username is not None else default


DEFAULT_CREDENTIALS = Credentials()


def credential_key(name: str) -> str:
    """A make, firmware or family name as a credentials-table key: lower case, letters and
    digits only (``"BOS+"`` -> ``"bos"``, ``"WhatsMiner"`` -> ``"whatsminer"``)."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


@dataclass(frozen=True)
class CredentialTable:
    """Which credentials a miner gets: per host, per firmware, per make.

    Precedence, field by field (password, username, SSH password): the host's entry, then
    the firmware's (its name as ``bridge/devices`` shows it, or its driver family's name:
    ``bos``/``braiins``, ``luxos``, ``vnish``, ``hive``/``hiveon``, ``epic``, ``marafw``),
    then the make's (``antminer``, ``whatsminer``, ``avalonminer``, ...), then the settings
    default of the firmware.  The most specific entry wins because a host is one machine,
    and a firmware (say BOS+ on an Antminer) replaces the make's stock login.
    """

    hosts: Mapping[str, Credentials] = field(default_factory=dict)
    #: credential_key(make or firmware or family name) -> credentials
    names: Mapping[str, Credentials] = field(default_factory=dict)

    def resolve(
        self,
        ip: str,
        *,
        make: str | None = None,
        firmware: str | None = None,
        family: str | None = None,
    ) -> Credentials:
        firmware_keys = [credential_key(n) for n in (firmware, family) if n]
        levels = [self.hosts.get(ip)]
        levels += [self.names.get(key) for key in firmware_keys]
        levels.append(self.names.get(credential_key(make)) if make else None)
        chosen = [level for level in levels if level is not None]
        return Credentials(
            **{
                name: next((getattr(c, name) for c in chosen if getattr(c, name) is not None), None)
                for name in ("username", "password", "ssh_username", "ssh_password")
            }
        )
