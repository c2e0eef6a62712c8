"""Issue #12 item 3, over every simulator kind: the controls the bridge offers keep their
promise.

* MINING_MODES: after each ``set_mode`` the mode the miner reports (``get_config``) is one
  of ``supported_modes`` - the options of the bridge's select.
* POWER_LIMIT: a value inside :meth:`get_power_range` is accepted and the miner's own
  reading (``wattage_limit``) then says it (or the driver raised NotAppliedError, saying
  what the miner did instead); a value outside is a ConfigError naming the range, with no
  control call (the simulated miner's limit is unchanged).

Real sockets to each simulated kind on 127.62.x.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import pytest
from bridge_support import sim_miner

from asic_bridge import sim
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.errors import ConfigError, NotAppliedError, UnsupportedError

KINDS = [row[0] for row in sim.list_kinds()]
_hosts = itertools.count(1)


def running(kind: str) -> contextlib.AbstractAsyncContextManager[tuple[Any, BaseMiner]]:
    n = next(_hosts)
    return sim_miner(kind, f"127.62.{n // 250}.{n % 250 + 1}")


async def limit_read(miner: BaseMiner) -> int | None:
    """The miner's own power-limit reading, once it answers again (a firmware may restart
    its backend to apply a limit: legacy BOSminer does)."""
    for _ in range(100):
        data = await miner.get_data(include=["wattage_limit"])
        if "wattage_limit" not in data.field_errors:
            return data.wattage_limit
        await asyncio.sleep(0.05)
    raise AssertionError(data.field_errors)


@pytest.mark.parametrize("kind", KINDS)
async def test_every_mode_reads_back_as_an_option(kind: str) -> None:
    async with running(kind) as (_, miner):
        if not miner.supports(Capability.MINING_MODES):
            with pytest.raises(UnsupportedError):  # no mode select: and no silent write
                await miner.set_mode("normal")
            return
        options = miner.supported_modes
        assert options, kind
        for mode in [*options, options[0]]:
            try:
                await miner.set_mode(mode)
            except (ConfigError, UnsupportedError) as exc:
                # a mode that needs a value (a preset name, a tuning target) is only what a
                # reading can say: choosing it bare is refused before anything is sent
                assert mode in ("preset", "power_tuning", "hashrate_tuning", "manual"), exc
            except NotAppliedError as exc:
                pytest.fail(f"{kind}: set_mode({mode!r}) not applied: {exc}")
            reported = (await miner.get_config()).mining_mode
            assert reported is not None, (kind, mode)
            assert reported.mode in options, (kind, mode, reported.mode, options)


@pytest.mark.parametrize("kind", KINDS)
async def test_power_limit_inside_reads_back_outside_is_refused(kind: str) -> None:
    async with running(kind) as (s, miner):
        if not miner.supports(Capability.POWER_LIMIT):
            with pytest.raises(UnsupportedError):  # no power number: and no silent write
                await miner.set_power_limit(1000)
            return
        bounds = await miner.get_power_range()
        if miner.supports(Capability.PRESETS):
            rated = sorted(p.power for p in await miner.get_presets() if p.power)
            inside = rated[len(rated) // 2]  # a value the firmware can run exactly
        elif bounds.source == "unknown":  # the miner decides: what it draws now
            inside = round((await miner.get_wattage()) or 0, -2)
        else:
            mid = (bounds.low + bounds.high) // 2
            inside = mid // 100 * 100 if bounds.high - bounds.low >= 400 else mid
        assert bounds.low <= inside <= bounds.high, (kind, bounds)
        try:
            assert await miner.set_power_limit(inside) is True, kind
        except NotAppliedError as exc:  # the miner said what it did instead
            assert exc.wanted is not None and exc.applied != exc.wanted, kind
        else:
            assert await limit_read(miner) == inside, kind
        if bounds.source == "unknown":
            return  # the miner decides: nothing the bridge could refuse
        before = s.state.power_limit
        for outside in (bounds.low - 1, bounds.high + 1):
            with pytest.raises(ConfigError) as info:
                await miner.set_power_limit(outside)
            assert f"{bounds.low}-{bounds.high} W" in str(info.value)
            assert bounds.source in str(info.value)
        assert s.state.power_limit == before, kind


async def test_a_clamped_epic_power_target_is_not_applied() -> None:
    """ePIC's answer was a plain False before (the bridge said ok); now the error says what
    the tuner runs.  Inside the firmware's own range it is no bound to learn."""
    async with running("epic_s19jpro") as (s, miner):
        assert miner.supports(Capability.POWER_LIMIT)
        bounds = await miner.get_power_range()
        cap = bounds.high - 200

        class Clamping(dict[str, int]):  # a tuner that stops at its own ceiling
            def __setitem__(self, algo: str, target: int) -> None:
                super().__setitem__(algo, min(target, cap) if algo == "Power" else target)

        s.ptune_targets = Clamping(s.ptune_targets)
        with pytest.raises(NotAppliedError) as info:
            await miner.set_power_limit(bounds.high)
        assert (info.value.wanted, info.value.applied) == (bounds.high, cap)
        assert miner.power_range() == bounds
