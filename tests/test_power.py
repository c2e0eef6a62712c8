"""The fleet power controller, driven by a fake clock against simulated miner physics.

The miners are the simulator's own MinerState objects (power follows the limit, optionally
with a ramp; a reboot comes back at the stored limit), on the same fake clock; the writer
applies each write to them and the "poll" reads them back, as the bridge will.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from asic_bridge.bridge.power import Outcome, PowerController, Write, run_cycle
from asic_bridge.bridge.power_inputs import (
    GroupConfig,
    PowerInputError,
    Schedule,
    parse_reading,
    parse_set,
    schedule_at,
)
from asic_bridge.sim.state import Hardware, MinerState

POLL = 10.0  # seconds between polls; one poll + plan = one cycle here
INTERVAL = 60.0  # min_change_interval


class Clock:
    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# id: (nominal W, min W, max W, TH/s per board, can_limit, can_stop)
FLEET = {
    "a_s21": (3500, 1500, 3600, 66.7, True, True),  # 17.5 J/TH
    "b_m60": (3400, 1700, 3600, 62.0, True, True),  # 18.3 J/TH
    "c_s19xp": (3000, 1500, 3300, 46.7, True, True),  # 21.4 J/TH
    "d_s19j": (3000, 1500, 3300, 34.0, True, True),  # 29.4 J/TH
    "e_avalon": (1700, 1700, 1700, 13.0, False, True),  # stop only, 43.6 J/TH
    "f_stock": (1300, 1300, 1300, 4.5, False, False),  # uncontrollable
}


class Rig:
    """Six simulated miners, the controller, and the loop the bridge would run."""

    def __init__(self, config: GroupConfig | None = None, *, ramp: float = 0.0) -> None:
        self.clock = Clock()
        self.ctrl = PowerController(
            "home", config or GroupConfig(min_change_interval=INTERVAL), self.clock
        )
        self.miners: dict[str, MinerState] = {}
        self.caps: dict[str, tuple[bool, bool]] = {}
        self.down: set[str] = set()
        self.writes: dict[str, list[float]] = defaultdict(list)
        self.fail: dict[str, str] = {}
        self.overdraw: dict[str, float] = {}  # firmware that draws this much above its limit
        for miner_id, spec in FLEET.items():
            self.add(miner_id, *spec, ramp=ramp)

    def add(
        self,
        miner_id: str,
        nominal: int,
        low: int,
        high: int,
        board_th: float,
        can_limit: bool,
        can_stop: bool,
        *,
        ramp: float = 0.0,
    ) -> None:
        hw = Hardware(nominal_power=nominal, min_power=low, max_power=high, board_hashrate=board_th)
        self.miners[miner_id] = MinerState(
            "M", miner_id, "F", hw, ip="127.0.0.2", seed=miner_id, jitter=0,
            clock=self.clock, power_ramp=ramp,
        )  # fmt: skip
        self.caps[miner_id] = (can_limit, can_stop)
        self.ctrl.join(
            miner_id,
            power_min=low if can_limit else None,
            power_max=high if can_limit else None,
            range_source="firmware" if can_limit else "unknown",
            can_limit=can_limit,
            can_stop=can_stop,
            efficiency=nominal / hw.nominal_hashrate,
        )

    async def writer(self, write: Write) -> Outcome:
        self.writes[write.id].append(self.clock.now)
        if write.id in self.fail:
            return Outcome(False, self.fail[write.id])
        state = self.miners[write.id]
        if write.power_limit is not None:
            state.set_power_limit(write.power_limit + self.overdraw.get(write.id, 0.0))
        if write.mining is not None:
            state.set_mining(write.mining)
        limit = state.power_limit
        if limit is not None:
            limit -= self.overdraw.get(write.id, 0.0)
        return Outcome(True, power_limit=None if limit is None else int(limit))

    def measured(self) -> float:
        return sum(m.read().wattage for i, m in self.miners.items() if i not in self.down)

    def poll(self) -> None:
        for miner_id, state in self.miners.items():
            if miner_id in self.down:
                self.ctrl.offline(miner_id)
                continue
            limit = state.power_limit if self.caps[miner_id][0] else None
            if limit is not None:
                limit -= self.overdraw.get(miner_id, 0.0)  # what the firmware claims
            self.ctrl.observe(
                miner_id,
                measured_w=state.read().wattage,
                power_limit=None if limit is None else int(limit),
                mining=state.mining,
            )

    async def cycle(self, seconds: float = POLL) -> dict[str, object]:
        self.clock.now += seconds
        self.poll()
        result = await run_cycle(self.ctrl, self.writer)
        return result.state

    async def settle(self, cycles: int) -> dict[str, object]:
        state: dict[str, object] = {}
        for _ in range(cycles):
            state = await self.cycle()
        return state

    def assert_not_flapped(self) -> None:
        for miner_id, times in self.writes.items():
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert all(gap >= INTERVAL for gap in gaps), (miner_id, times)


def full_fleet_w() -> float:
    return sum(spec[0] for spec in FLEET.values())


async def test_settles_under_a_target_within_two_cycles() -> None:
    rig = Rig()
    assert rig.measured() == full_fleet_w()  # 15.4 kW before anything
    rig.ctrl.command({"target_w": 9300})
    await rig.cycle()
    state = await rig.cycle()
    measured = rig.measured()
    assert measured <= 9300 and measured >= 9300 - 1700  # not starved either
    assert state["status"] == "holding" and state["mode"] == "target"
    assert state["measured_w"] == round(measured) and state["target_w"] == 9300
    # most efficient first: the S21 and M60 at full power, the stock miner counted as it is
    assert {rig.miners[i].read().wattage for i in ("a_s21", "b_m60")} == {3500, 3400}
    assert rig.miners["d_s19j"].mining is False and rig.miners["e_avalon"].mining is False
    assert state["uncontrollable"] == ["f_stock"]
    miners = state["miners"]
    assert isinstance(miners, dict) and miners["f_stock"]["measured_w"] == 1300
    # held steady: no writes while nothing changes, however long
    writes = sum(len(t) for t in rig.writes.values())
    await rig.settle(50)
    assert sum(len(t) for t in rig.writes.values()) == writes


async def test_a_change_behind_its_back_is_answered_at_once_not_at_the_cadence() -> None:
    rig = Rig(GroupConfig(min_change_interval=0, replan_interval=3600))
    rig.ctrl.command({"target_w": 9300})
    await rig.settle(2)
    for disturb in (
        lambda: rig.miners["a_s21"].set_power_limit(1500),  # lowered: power given back
        lambda: rig.miners["c_s19xp"].set_power_limit(3300),
        lambda: rig.miners["d_s19j"].set_mining(True),
    ):
        before = {i: (m.mining, m.read().wattage) for i, m in rig.miners.items()}
        disturb()
        await rig.cycle()
        after = {i: (m.mining, m.read().wattage) for i, m in rig.miners.items()}
        assert after == before and rig.measured() <= 9300
    rig.down.add("b_m60")
    await rig.cycle()
    # its share went to the next most efficient, at once
    assert 9300 - 1800 < rig.measured() <= 9300 and rig.miners["c_s19xp"].power_limit == 3300


async def test_with_a_ramp_it_still_settles_and_says_converging_meanwhile() -> None:
    rig = Rig(ramp=8.0)
    rig.ctrl.command({"target_w": 9300})
    state = await rig.cycle(2.0)  # written, power still high
    assert state["status"] == "converging"
    state = await rig.settle(2)
    assert rig.measured() <= 9300 and state["status"] == "holding"


async def test_disturbances_are_corrected_within_the_interval_plus_two_cycles() -> None:
    rig = Rig()
    rig.ctrl.command({"target_w": 9300})
    await rig.settle(2)
    planned = {i: (m.mining, m.read().wattage) for i, m in rig.miners.items()}
    # limits raised on two miners behind the bridge's back, the sleeping ones resumed
    rig.miners["c_s19xp"].set_power_limit(3300)
    rig.miners["b_m60"].set_power_limit(3600)
    rig.miners["a_s21"].set_power_limit(3600)
    rig.miners["d_s19j"].set_mining(True)
    rig.miners["e_avalon"].set_mining(True)
    assert rig.measured() > 12000
    cycles = int((INTERVAL + 2 * POLL) / POLL)
    await rig.settle(cycles)
    assert 9300 - 1800 <= rig.measured() <= 9300
    rig.assert_not_flapped()
    # given time, most efficient first again: the plan it had before the disturbance
    await rig.settle(cycles)
    assert {i: (m.mining, m.read().wattage) for i, m in rig.miners.items()} == planned

    # a miner goes offline, comes back rebooted at its own (full) limit
    rig.down.add("c_s19xp")
    await rig.settle(3)
    assert rig.ctrl.state()["offline"] == ["c_s19xp"]
    rig.miners["c_s19xp"].set_power_limit(3300)
    rig.miners["c_s19xp"].reboot()
    rig.down.clear()
    await rig.settle(cycles)
    assert rig.measured() <= 9300
    rig.assert_not_flapped()

    # a new member joins at full power
    rig.add("g_new", 3250, 1600, 3500, 50.0, True, True)
    await rig.settle(cycles)
    assert rig.measured() <= 9300 and rig.ctrl.state()["status"] == "holding"
    rig.assert_not_flapped()


async def test_held_miners_are_counted_as_measured_and_others_give_way() -> None:
    rig = Rig()
    rig.ctrl.command({"target_w": 9300})
    await rig.settle(2)
    rig.miners["a_s21"].set_mining(True)
    rig.miners["d_s19j"].set_mining(True)  # was asleep, the plan's marginal miner
    state = await rig.cycle()
    # d_s19j was changed < INTERVAL ago: held at what it draws; nobody else may change either
    assert "d_s19j" in state["held"]  # type: ignore[operator]
    assert state["status"] == "converging" and "held" in str(state["reason"])
    result = await run_cycle(rig.ctrl, rig.writer)
    assert result.writes == [] and result.status == "pending"  # never "ok" while held


async def test_emergency_overrides_the_interval() -> None:
    rig = Rig()
    rig.ctrl.command({"target_w": 9300})
    await rig.settle(2)
    rig.ctrl.command({"target_w": 4000})
    await rig.cycle()
    assert rig.measured() > 4000  # every miner was changed a cycle ago: held
    rig.ctrl.command({"target_w": 4000, "emergency": True})
    state = await rig.cycle()
    assert rig.measured() <= 4000 and state["held"] == {}
    # the emergency was one plan only: the next change waits again
    rig.ctrl.command({"target_w": 9300})
    state = await rig.cycle()
    assert state["held"] and rig.measured() <= 4000


async def test_release_restores_each_miners_own_limit_and_mining_state() -> None:
    rig = Rig()
    rig.miners["a_s21"].set_power_limit(3100)
    rig.miners["c_s19xp"].set_mining(False)  # its owner had it stopped
    before = {i: (m.mining, m.power_limit) for i, m in rig.miners.items()}
    rig.ctrl.command({"target_w": 5000})
    await rig.settle(2)
    assert before != {i: (m.mining, m.power_limit) for i, m in rig.miners.items()}
    snapshot = json.loads(json.dumps(rig.ctrl.snapshot()))  # plain data, persistable
    assert set(snapshot["remembered"]) >= {"a_s21", "b_m60"}

    rig.ctrl.command({"target_w": None})
    state = await rig.cycle()
    assert state["mode"] == "off" and state["status"] == "converging"  # held for now
    await rig.settle(int(INTERVAL / POLL) + 1)
    for miner_id, (mining, limit) in before.items():
        state = rig.miners[miner_id]
        assert state.mining == mining, miner_id
        # a miner that had no limit of its own gets the top of its range back
        assert state.power_limit in ({limit} if limit else {None, FLEET[miner_id][2]}), miner_id
    final = rig.ctrl.state()
    assert final["status"] == "released" and final["remembered"] == []
    rig.assert_not_flapped()


async def test_restored_controller_remembers_own_settings() -> None:
    rig = Rig()
    rig.miners["a_s21"].set_power_limit(3100)
    rig.ctrl.command({"target_w": 5000})
    await rig.settle(2)
    saved = json.loads(json.dumps(rig.ctrl.snapshot()))
    fresh = PowerController("home", GroupConfig(), rig.clock)
    fresh.restore(saved)
    assert fresh.config.target_w == 5000 and fresh.remembered == rig.ctrl.remembered
    with pytest.raises(PowerInputError, match="bad saved power state"):
        fresh.restore({"config": {}, "remembered": {"x": {"mining": True}}})


async def test_a_failed_write_is_never_reported_ok() -> None:
    rig = Rig()
    rig.fail["b_m60"] = "connection reset"
    rig.ctrl.command({"target_w": 5000})
    rig.clock.now += POLL
    rig.poll()
    result = await run_cycle(rig.ctrl, rig.writer)
    assert result.status == "partial" and not result.outcomes["b_m60"].ok
    assert result.state["status"] == "cannot_meet"
    assert "b_m60: connection reset" in str(result.state["reason"])
    # retried only after the interval, not on every cycle
    rig.fail.clear()
    await rig.settle(int(INTERVAL / POLL) + 1)
    assert rig.writes["b_m60"][1] - rig.writes["b_m60"][0] >= INTERVAL
    assert rig.ctrl.state()["failed"] == {} and rig.measured() <= 5000


async def test_writer_exceptions_count_as_failures() -> None:
    rig = Rig()

    async def broken(write: Write) -> Outcome:
        raise OSError("no route to host")

    rig.ctrl.command({"target_w": 5000})
    rig.poll()
    result = await run_cycle(rig.ctrl, broken)
    assert result.status == "partial"
    assert all("no route to host" in str(o.error) for o in result.outcomes.values())


async def test_an_unmeetable_target_names_the_uncontrollable_miners() -> None:
    rig = Rig()
    rig.ctrl.command({"target_w": 1000})
    state = await rig.settle(2)
    assert state["status"] == "cannot_meet" and "f_stock" in str(state["reason"])
    assert [i for i, m in rig.miners.items() if m.hashing] == ["f_stock"]


async def test_price_bands_and_a_stale_price_fall_back_as_configured() -> None:
    price = {"bands": [{"up_to": 0.1}, {"up_to": 0.25, "target_w": 6000}], "stale_after": 600}
    rig = Rig(GroupConfig(min_change_interval=0, mode="price", price={**price, "fallback": 2000}))
    state = await rig.cycle()
    assert state["target_w"] == 2000 and "no price yet" in str(state["target_source"])
    rig.ctrl.price_reading(0.08)
    state = await rig.cycle()
    assert state["target_w"] is None  # cheap: full power (released)
    rig.ctrl.price_reading(0.2)
    await rig.cycle()
    state = await rig.cycle()
    assert state["target_w"] == 6000 and rig.measured() <= 6000
    rig.ctrl.price_reading(0.4)
    assert (await rig.cycle())["target_w"] == 0  # dearer than every band: sleep
    rig.clock.now += 600
    state = await rig.cycle()
    assert state["target_w"] == 2000 and "stale" in str(state["target_source"])
    # "hold": a stale price keeps the last target
    rig.ctrl.command({"price": {**price, "fallback": "hold"}})
    rig.ctrl.price_reading(0.2)
    assert (await rig.cycle())["target_w"] == 6000
    rig.clock.now += 700
    assert (await rig.cycle())["target_w"] == 6000
    rig.ctrl.command({"price": {"max_price": 0.3, "fallback": "release"}})
    assert (await rig.cycle())["target_w"] is None


async def test_surplus_following_tracks_a_moving_export_signal() -> None:
    rig = Rig(GroupConfig(min_change_interval=INTERVAL, deadband_w=200))
    house = 800.0

    def export(pv: float) -> float:
        return pv - house - rig.measured()

    rig.ctrl.command({"surplus_w": export(20000.0)})
    for pv in (20000.0, 14000.0, 9000.0, 9500.0, 12000.0, 6000.0):
        for _ in range(int(INTERVAL / POLL) + 2):
            rig.ctrl.surplus_reading(export(pv))
            state = await rig.cycle()
        available = pv - house
        assert rig.measured() <= available + 200, pv
        assert state["mode"] == "surplus"
        if available < full_fleet_w():
            assert rig.measured() >= available - 1800, pv  # one miner's step at most
    rig.assert_not_flapped()
    # the signal stops: default fallback sleeps what can sleep
    rig.clock.now += 121
    state = await rig.cycle()
    assert state["target_w"] == 0 and "stale" in str(state["target_source"])


async def test_schedule_windows_start_and_end_on_time() -> None:
    zone = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 2, 6, 59, 50, tzinfo=zone).timestamp()  # a Monday
    schedule = {
        "timezone": "Europe/Berlin",
        "windows": [
            {"days": ["mon", "tue"], "start": "07:00", "end": "09:00", "target_w": 4000},
            {"days": ["mon"], "start": "22:00", "end": "06:00", "sleep": True},
        ],
    }
    rig = Rig(GroupConfig(min_change_interval=0, mode="schedule", schedule=schedule))
    rig.clock.now = start - POLL
    state = await rig.cycle()  # 06:59:50
    assert state["target_w"] is None and "outside" in str(state["target_source"])
    state = await rig.cycle()  # 07:00:00
    assert state["target_w"] == 4000
    await rig.cycle()
    assert rig.measured() <= 4000
    nine = datetime(2026, 3, 2, 9, 0, tzinfo=zone).timestamp()
    rig.clock.now = nine - 1 - POLL
    assert (await rig.cycle())["target_w"] == 4000  # 08:59:59
    rig.clock.now = nine - POLL
    assert (await rig.cycle())["target_w"] is None  # 09:00:00
    await rig.cycle()
    assert rig.measured() == full_fleet_w()  # released: everything back as it was
    # the overnight window: Monday 22:00 to Tuesday 06:00, sleep
    parsed = Schedule.model_validate(schedule)
    at = datetime(2026, 3, 3, 5, 59, 59, tzinfo=zone).timestamp()
    now = schedule_at(parsed, at)
    assert now.target == 0 and now.until == at + 1
    assert schedule_at(parsed, at + 1).target is None
    # Tuesday night is not scheduled
    assert schedule_at(parsed, datetime(2026, 3, 3, 23, 0, tzinfo=zone).timestamp()).target is None
    # the next change after Monday 06:59:50 is 07:00 local
    assert schedule_at(parsed, start).until == start + 10


def test_schedule_follows_daylight_saving_time() -> None:
    zone = ZoneInfo("Europe/Berlin")
    parsed = Schedule.model_validate(
        {
            "timezone": "Europe/Berlin",
            "windows": [{"start": "07:00", "end": "08:00", "target_w": 1}],
        }
    )
    for day in (28, 29, 30):  # DST starts on 29 March 2026
        seven = datetime(2026, 3, day, 7, 0, tzinfo=zone).timestamp()
        assert schedule_at(parsed, seven - 1).target is None
        assert schedule_at(parsed, seven).target == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"target_w": -1}, "target_w: Input should be greater than or equal to 0"),
        ({"target_w": 1e12}, "target_w"),
        ({"target_w": "5000"}, "must be a number of watts"),
        ({"target_w": True}, "must be a number of watts"),
        ({"target_w": float("inf")}, "finite"),
        ({"target_w": 100, "transaction": ""}, "transaction must not be empty"),
        ({"target_w": 100, "transaction": True}, "transaction"),
        ({"target_w": "lots"}, "target_w"),
        ({"targt_w": 100}, "targt_w: Extra inputs are not permitted"),
        ({"mode": "turbo"}, "mode"),
        ({"mode": "schedule"}, "mode schedule needs schedule"),
        ({"mode": "price"}, "mode price needs price"),
        ({"surplus_w": float("nan")}, "surplus_w"),
        ({"emergency": "yes"}, "emergency"),
        ({"min_change_interval": -5}, "min_change_interval"),
        ({"schedule": {"windows": [{"start": "07:00", "end": "07:00", "sleep": True}]}}, "same"),
        ({"schedule": {"windows": [{"start": "07:00", "end": "08:00"}]}}, "target_w or sleep"),
        ({"schedule": {"timezone": "Nowhere/City", "windows": []}}, "unknown time zone"),
        ({"price": {"fallback": "panic", "max_price": 1}}, "fallback"),
        ({"price": {"stale_after": 0, "max_price": 1}}, "stale_after"),
        ({"price": {}}, "give max_price or bands"),
        ({"surplus": {"reserve_w": -100}}, "reserve_w"),
        ({"surplus": {"topic": "meter/#"}}, "not a wildcard"),
        ({"price": {"topic": "", "max_price": 1}}, "1-1024 characters"),
        ({"surplus": {"topic": "meter/export"}}, "surplus.topic can only be set in bridge.yaml"),
        ([1, 2], "payload must be a JSON object"),
    ],
)
def test_bad_commands_are_refused_and_change_nothing(payload: object, message: str) -> None:
    ctrl = PowerController("home", GroupConfig(mode="target", target_w=5000), Clock())
    with pytest.raises(PowerInputError, match=message.replace("(", r"\(")):
        ctrl.command(payload)
    assert ctrl.config.mode == "target" and ctrl.config.target_w == 5000


def test_a_mode_switch_keeps_the_configured_inputs() -> None:
    config = GroupConfig(target_w=5000, price={"max_price": 0.3})
    ctrl = PowerController("home", config, Clock())
    ctrl.command({"mode": "price"})
    assert ctrl.config.mode == "price" and ctrl.config.price is not None
    ctrl.command({"mode": "target"})
    assert ctrl.config.target_w == 5000
    assert parse_set({"surplus_w": -300, "transaction": "t1"}).transaction == "t1"
    assert parse_set({"target_w": 4999.6, "transaction": 7}).target_w == 5000


def test_a_runtime_input_section_keeps_the_configured_signal_topic() -> None:
    config = GroupConfig(price={"max_price": 0.3, "topic": "energy/price"})
    ctrl = PowerController("home", config, Clock())
    ctrl.command({"price": {"bands": [{"up_to": 0.1}], "fallback": "release"}})
    assert ctrl.config.price is not None and ctrl.config.price.topic == "energy/price"
    assert ctrl.config.price.max_price is None  # the section as a whole is the new one
    ctrl.command({"price": {"max_price": 0.2, "topic": "energy/price"}})  # the same: fine
    with pytest.raises(PowerInputError, match=r"price\.topic can only be set in bridge\.yaml"):
        ctrl.command({"price": {"max_price": 0.2, "topic": "energy/other"}})
    assert ctrl.config.price.max_price == 0.2
    with pytest.raises(ValueError, match="wildcard"):
        GroupConfig(price={"max_price": 0.3, "topic": "energy/+/price"})


@pytest.mark.parametrize("text", ["", "abc", "nan", "inf", "1e12", b"\xff"])
def test_bad_signal_readings_are_refused(text: str | bytes) -> None:
    with pytest.raises(PowerInputError, match="price"):
        parse_reading(text, "price")
    assert parse_reading(b"0.25", "price") == 0.25 and parse_reading("-1200", "surplus") == -1200


async def test_a_miner_drawing_above_its_limit_is_planned_at_what_it_draws() -> None:
    rig = Rig()
    rig.overdraw["c_s19xp"] = 600.0  # takes the limit, draws 600 W more once settled
    rig.ctrl.command({"target_w": 10500})
    await rig.settle(2)
    assert rig.miners["c_s19xp"].hashing
    assert rig.measured() > 10500  # the plan believed its limit
    await rig.settle(int(INTERVAL / POLL) + 2)
    assert rig.measured() <= 10500
    state = rig.ctrl.state()
    assert state["miners"]["c_s19xp"]["overdraw_w"] == 600  # type: ignore[index]
    assert state["status"] == "holding"
    rig.assert_not_flapped()


def _lone(clock: Clock, can_stop: bool) -> PowerController:
    ctrl = PowerController("one", GroupConfig(min_change_interval=60), clock)
    ctrl.join(
        "x", power_min=1000, power_max=2000, range_source="catalog", can_limit=True,
        can_stop=can_stop,
    )  # fmt: skip
    return ctrl


def test_a_miner_without_a_limit_is_counted_at_what_it_draws() -> None:
    clock = Clock()
    ctrl = _lone(clock, can_stop=True)
    ctrl.observe("x", measured_w=2600, power_limit=None, mining=True)  # above its range
    ctrl.command({"target_w": 5000})
    assert ctrl.plan() == [Write("x", power_limit=2000)]  # capped, though "full" = 2000


def test_an_overdraw_at_the_minimum_of_a_miner_that_cannot_stop_is_cannot_meet() -> None:
    clock = Clock()
    ctrl = _lone(clock, can_stop=False)
    ctrl.observe("x", measured_w=1900, power_limit=2000, mining=True)
    ctrl.command({"target_w": 1500})
    (write,) = ctrl.plan()
    ctrl.done(write, Outcome(True, power_limit=1500))
    clock.now += 61
    ctrl.observe("x", measured_w=2600, power_limit=1500, mining=True)  # settled: 1100 over
    clock.now += 30
    assert ctrl.plan() == [Write("x", power_limit=1000)]  # its minimum, still 2100 drawn
    state = ctrl.state()
    assert state["status"] == "cannot_meet" and "lowest this group can draw is 2100" in str(
        state["reason"]
    )


def test_overlapping_windows_first_listed_wins() -> None:
    parsed = Schedule.model_validate(
        {
            "timezone": "UTC",
            "windows": [
                {"start": "10:00", "end": "12:00", "target_w": 1000},
                {"start": "08:00", "end": "18:00", "target_w": 5000},
            ],
        }
    )
    day = datetime(2026, 6, 1, tzinfo=ZoneInfo("UTC")).timestamp()
    assert schedule_at(parsed, day + 9 * 3600).target == 5000
    eleven = schedule_at(parsed, day + 11 * 3600)
    assert eleven.target == 1000 and eleven.until == day + 12 * 3600
    assert schedule_at(parsed, day + 13 * 3600).target == 5000


def test_schedule_time_zone_defaults_to_tz_else_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    window = {"start": "07:00", "end": "08:00", "sleep": True}
    monkeypatch.setenv("TZ", "America/New_York")
    assert Schedule.model_validate({"windows": [window]}).timezone == "America/New_York"
    monkeypatch.setenv("TZ", "Not/AZone")
    assert Schedule.model_validate({"windows": [window]}).timezone == "UTC"


def test_an_available_power_signal_with_a_reserve() -> None:
    clock = Clock()
    config = GroupConfig(surplus={"signal": "available", "reserve_w": 500, "stale_after": 60})
    ctrl = PowerController("home", config, clock)
    ctrl.command({"surplus_w": 7000})
    assert ctrl.target() == (6500, "surplus 7000 W")
    clock.now += 61
    assert ctrl.target() == (0, "surplus is stale: fallback")


def test_runtime_settings_take_effect_and_are_shown() -> None:
    clock = Clock()
    ctrl = PowerController("home", GroupConfig(), clock)
    ctrl.command({"min_change_interval": 300, "deadband_w": 50, "target_w": 4000})
    state = ctrl.state()
    assert (state["min_change_interval"], state["deadband_w"], state["mode"]) == (300, 50, "target")
    assert ctrl.snapshot()["config"]["min_change_interval"] == 300
    # the inputs set at runtime are in the state, as validated
    ctrl.command({"price": {"max_price": 0.3}, "mode": "price"})
    inputs = ctrl.state()["inputs"]
    assert inputs["price"]["max_price"] == 0.3 and inputs["price"]["fallback"] == "hold"
    assert inputs["schedule"] is None and inputs["surplus"] is None


async def test_a_response_is_ok_only_for_a_plan_applied_that_can_hold() -> None:
    rig = Rig()
    rig.ctrl.command({"target_w": 9300})
    rig.clock.now += POLL
    rig.poll()
    result = await run_cycle(rig.ctrl, rig.writer)
    assert result.writes and result.status == "ok" and result.error is None
    # below what the uncontrollable miner draws: applied as far as it goes, and said so
    rig.ctrl.command({"target_w": 1000, "emergency": True})
    result = await run_cycle(rig.ctrl, rig.writer)
    assert result.state["status"] == "cannot_meet" and result.status == "partial"
    assert "f_stock" in str(result.error)
    # nobody polled yet: nothing could be planned, which is no "ok" either
    fresh = PowerController("home", GroupConfig(), rig.clock)
    fresh.join(
        "x", power_min=1, power_max=2, range_source="firmware", can_limit=True, can_stop=True
    )
    fresh.command({"target_w": 1000})
    result = await run_cycle(fresh, rig.writer)
    assert result.status == "partial" and result.error == "no member is online"


async def test_a_failed_limit_read_is_no_change_and_not_remembered_as_no_limit() -> None:
    rig = Rig()
    rig.miners["a_s21"].set_power_limit(3100)  # its owner's
    rig.clock.now += POLL
    rig.poll()
    # its limit could not be read this poll (a backend restarting): the last one stands
    rig.ctrl.observe("a_s21", measured_w=3500, power_limit=None, mining=None, limit_read=False)
    member = rig.ctrl.members["a_s21"]
    assert (member.power_limit, member.mining) == (3100, True)
    rig.ctrl.command({"target_w": 5000})
    await run_cycle(rig.ctrl, rig.writer)
    assert rig.ctrl.remembered["a_s21"].power_limit == 3100  # its own, not "none"
    await rig.settle(2)
    writes = sum(len(t) for t in rig.writes.values())
    rig.ctrl.observe("b_m60", measured_w=1700, power_limit=None, mining=True, limit_read=False)
    await run_cycle(rig.ctrl, rig.writer)  # nothing changed behind its back: no new plan
    assert sum(len(t) for t in rig.writes.values()) == writes
