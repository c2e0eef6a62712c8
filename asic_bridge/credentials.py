"""Per-miner credentials, so a farm with mixed passwords never mutates the global settings."""

from __future__ import annotations

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
