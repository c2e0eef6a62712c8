"""Error codes a miner reports about itself (not errors of this library)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class MinerErrorData(BaseModel):
    """One error the firmware reports: a vendor code where it has one, and a readable message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    error_code: int | None = None
    error_message: str = ""
