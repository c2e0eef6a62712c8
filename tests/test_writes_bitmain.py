"""Writes on the Bitmain-derived firmwares, confirmed by reading back (issue #12).

Stock Antminer, Hiveon and Elphapex answer ``M000``/``ok`` to a config write before they
apply it, and keep what they do not recognise as before; only reading the config back
tells.  Every control is written and read back here; a write in keys the firmware does not
read (the driver's encoder replaced by one using another key) must raise NotAppliedError
with what was wanted and what the miner kept, never answer ok.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from real_captures import load
from sim_answers import driven

from asic_bridge.config import FanModeManual, MinerConfig, MiningModeSleep, Pool, PoolConfig
from asic_bridge.drivers import antminer as am
from asic_bridge.drivers import elphapex as el
from asic_bridge.drivers import hiveon as hv
from asic_bridge.errors import ConfigError, NotAppliedError
from asic_bridge.sim.antminer import AntminerModernSim
from asic_bridge.sim.http_server import HttpReply, Request, text_reply

NEW_POOLS = PoolConfig.simple(
    [Pool(url="stratum+tcp://new.pool.example:3333", user="acct.w1", password="x")]
)


def renamed(encode: Callable[..., Any], old: str, new: str) -> Callable[..., Any]:
    """``encode`` with key ``old`` sent as ``new``: a write the firmware does not read."""

    def wrong(*args: Any, **kwargs: Any) -> Any:
        body = encode(*args, **kwargs)
        if isinstance(body, dict):
            return {new if k == old else k: v for k, v in body.items()}
        return [(new if k == old else k, v) for k, v in body]

    return wrong


# ----------------------------------------------------------------------------- Antminer modern
@pytest.mark.parametrize("kind", ["antminer_s19jpro", "hiveon_s19jpro"])
async def test_stop_resume_read_back(kind: str) -> None:
    async with driven(kind) as (sim, ours):
        assert await ours.stop_mining() is True
        assert sim.state.work_mode == "sleep"
        assert (await ours.get_config()).mining_mode == MiningModeSleep()
        assert await ours.resume_mining() is True
        assert sim.state.work_mode == "normal"


@pytest.mark.parametrize("kind", ["antminer_s19jpro", "hiveon_s19jpro", "elphapex_dg1plus"])
async def test_pools_and_fan_read_back(kind: str) -> None:
    async with driven(kind) as (sim, ours):
        await ours.send_config(MinerConfig(pools=NEW_POOLS, fan_mode=FanModeManual(speed=40)))
        assert [(p.url, p.user) for p in sim.state.pools] == [
            ("stratum+tcp://new.pool.example:3333", "acct.w1")
        ]
        config = await ours.get_config()
        assert config.fan_mode == FanModeManual(speed=40)
        assert config.pools is not None and config.pools.first_group[0].user == "acct.w1"


@pytest.mark.parametrize(("kind", "module"), [("antminer_s19jpro", am), ("hiveon_s19jpro", hv)])
async def test_mode_in_a_key_the_firmware_ignores_is_not_applied(
    kind: str, module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """set_miner_conf.cgi reads the work mode from ``miner-mode``; under get_miner_conf's own
    name it is dropped and the mode written back is the default."""
    wrong = renamed(am.encode_modern_conf, "miner-mode", "bitmain-work-mode")
    monkeypatch.setattr(module, "encode_modern_conf", wrong)
    async with driven(kind) as (sim, ours):
        with pytest.raises(NotAppliedError) as caught:
            await ours.stop_mining()
    assert caught.value.wanted == {"mining_mode": "sleep"}
    assert caught.value.applied == {"mining_mode": "normal"}
    assert sim.state.work_mode == "normal" and sim.address in str(caught.value)


# ----------------------------------------------------------------------------- Antminer old UI
async def test_old_form_read_by_position(monkeypatch: pytest.MonkeyPatch) -> None:
    """The X17 script reads its 16 fields by position: a field out of place lands elsewhere."""
    async with driven("antminer_s17pro") as (sim, ours):
        await ours.send_config(MinerConfig(pools=NEW_POOLS))  # the driver's order: applied
        assert sim.state.pools[0].user == "acct.w1"

        encode = am.encode_old_form

        def swapped(config: MinerConfig, live: Any) -> list[tuple[str, str]]:
            form = encode(config, live)
            form[0], form[1] = form[1], form[0]  # user before url
            return form

        monkeypatch.setattr(am, "encode_old_form", swapped)
        other = PoolConfig.simple([Pool(url="stratum+tcp://b.example:3333", user="acct.w2")])
        with pytest.raises(NotAppliedError) as caught:
            await ours.send_config(MinerConfig(pools=other))
    assert caught.value.wanted == {"pools": [("stratum+tcp://b.example:3333", "acct.w2")]}


# ----------------------------------------------------------------------------- Elphapex
async def test_elphapex_fan_in_a_key_it_ignores_is_not_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        el, "encode_elphapex_conf", renamed(el.encode_elphapex_conf, "fc-fan-pwm", "fan-pwm")
    )
    async with driven("elphapex_dg1plus") as (sim, ours):
        with pytest.raises(NotAppliedError) as caught:
            await ours.send_config(MinerConfig(fan_mode=FanModeManual(speed=40)))
        assert sim.conf["fc-fan-pwm"] == "100"  # a pwm it did not find is written as 100
    assert caught.value.wanted == {"fan_mode": "manual 40%"}
    assert caught.value.applied == {"fan_mode": "manual 100%"}


# ----------------------------------------------------------------------------- MaraFW
async def test_marafw_power_target_reads_back_as_one_of_the_options() -> None:
    """After a power limit the firmware runs Auto/PowerTarget: the mode read back must be one
    of the select's options (it was 'power_tuning', outside ('normal', 'sleep'))."""
    async with driven("marafw_s19xp") as (_, ours):
        low, high = ours.power_range().low, ours.power_range().high
        target = (low + high) // 2
        assert await ours.set_power_limit(target) is True
        config = await ours.get_config()
        assert config.mining_mode is not None
        assert config.mining_mode.mode == "power_tuning"
        assert config.mining_mode.mode in ours.supported_modes
        with pytest.raises(ConfigError, match="power target"):
            await ours.set_mode("power_tuning")  # an option, but it needs its target
        assert await ours.stop_mining() is True
        assert (await ours.get_config()).mining_mode == MiningModeSleep()


async def test_marafw_power_limit_outside_the_range_is_refused_before_any_call() -> None:
    """No MaraFW capture publishes bounds: the range is the catalog's, and says so."""
    async with driven("marafw_s19xp") as (sim, ours):
        bounds = ours.power_range()
        assert bounds.source == "catalog"
        sim.reset_counters()
        with pytest.raises(ConfigError) as caught:
            await ours.set_power_limit(bounds.high + 1)
        assert f"{bounds.low}-{bounds.high} W" in str(caught.value)
        assert "catalog" in str(caught.value)
        assert sum(sim.servers["http"].counters.by_key.values()) == 0  # nothing was sent


async def test_a_bare_ok_answer_is_read_back_too() -> None:
    """The 2020 X19 build answers set_miner_conf.cgi with the text "ok" (real capture), not
    the later JSON; the write is still confirmed by the read-back, not refused."""
    ok = load("antminer", "2020-12-11", "set_miner_conf.cgi.txt")
    async with driven("antminer_s19jpro") as (sim, ours):
        assert isinstance(sim, AntminerModernSim)
        original = sim.cgi_set_miner_conf

        async def like_2020(request: Request) -> HttpReply:
            await original(request)
            return text_reply(ok)

        sim.http.route("*", "/cgi-bin/set_miner_conf.cgi", like_2020)
        assert await ours.stop_mining() is True
        assert sim.state.work_mode == "sleep"
