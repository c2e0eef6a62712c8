"""Power-target bounds: the firmware's own where it reports them, the catalog's guess else."""

from __future__ import annotations

import pytest

from asic_bridge.catalog import lookup
from asic_bridge.drivers.base import BaseMiner, Capability, Identity, PowerRange
from asic_bridge.errors import ConfigError, NotAppliedError


class RangedMiner(BaseMiner):
    """A driver whose firmware reports 1200-3600 W (as BOS+ does for an S19j Pro)."""

    default_capabilities = frozenset({Capability.POWER_LIMIT})
    reported: tuple[int, int] | None = (1200, 3600)

    def __init__(self, model: str | None = "S19j Pro") -> None:
        info = lookup(model, "AntMiner") if model else None
        super().__init__(
            "127.0.0.9",
            identity=Identity(
                ip="127.0.0.9", make="AntMiner", firmware="Stock", model=model, model_info=info
            ),
        )
        self.written: list[int] = []
        self.reads = 0

    async def _read_power_range(self) -> tuple[int, int] | None:
        self.reads += 1
        return self.reported

    async def _set_power_limit(self, wattage: int) -> bool:
        self.written.append(wattage)
        return True


async def test_firmware_range_wins_and_is_read_once() -> None:
    miner = RangedMiner()
    assert miner.power_range().source == "catalog"  # nothing read yet
    assert await miner.get_power_range() == PowerRange(1200, 3600, "firmware")
    await miner.get_power_range()
    assert miner.reads == 1
    assert await miner.set_power_limit(1300)  # below the catalog's guess, inside the firmware's
    with pytest.raises(ConfigError, match=r"3650 W is outside 1200-3600 W .*from the firmware"):
        await miner.set_power_limit(3650)
    assert miner.written == [1300]


async def test_catalog_then_unknown_when_the_firmware_reports_nothing() -> None:
    miner = RangedMiner()
    miner.reported = None
    bounds = await miner.get_power_range()
    assert bounds.source == "catalog" and bounds.low < bounds.high
    blind = RangedMiner(model=None)
    blind.reported = None
    assert (await blind.get_power_range()).source == "unknown"
    assert await blind.set_power_limit(9000)  # no range known: the miner decides
    with pytest.raises(ConfigError, match="outside"):
        await blind.set_power_limit(10**9)  # absurd values are still refused


async def test_a_nonsense_firmware_range_is_ignored() -> None:
    miner = RangedMiner()
    miner.reported = (3600, 1200)
    assert (await miner.get_power_range()).source == "catalog"


class ClampingMiner(RangedMiner):
    """Acknowledges any target but keeps at most 3000 W, as a firmware clamp looks."""

    reported = None

    async def _set_power_limit(self, wattage: int) -> bool:
        applied = min(wattage, 3000)
        self._confirm_applied("power limit (W)", wattage, applied, "set_power_limit")
        return True


async def test_a_clamped_target_teaches_the_real_bound() -> None:
    miner = ClampingMiner()
    guess = await miner.get_power_range()
    assert guess.source == "catalog" and guess.high > 3000
    with pytest.raises(NotAppliedError, match="asked for 3500, the miner reports 3000"):
        await miner.set_power_limit(3500)
    assert miner.power_range() == PowerRange(guess.low, 3000, "firmware")
    with pytest.raises(ConfigError, match=r"outside \d+-3000 W"):
        await miner.set_power_limit(3500)  # refused before any call now
    assert await miner.set_power_limit(3000)
