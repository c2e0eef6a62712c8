"""The watchdog's rule engine (pure, the clock passed in) and its configuration errors."""

from __future__ import annotations

from typing import Any

import pytest

from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.watchdog import (
    Engine,
    HashrateZero,
    NoShares,
    Reading,
    TemperatureAbove,
    reading_of,
    rules_for,
)
from asic_bridge.data import HashBoard, MinerData, PoolMetrics
from asic_bridge.errors import ConfigError

STUCK = Reading(hashrate=0.0, mining=True, accepted=10, max_temp=60.0)
FINE = Reading(hashrate=100.0, mining=True, accepted=10, max_temp=60.0)
ASLEEP = Reading(hashrate=0.0, mining=False, accepted=10, max_temp=30.0)


def _rule(**kw: Any) -> HashrateZero:
    return HashrateZero.model_validate({"when": "hashrate_zero", **kw})


def _feed(
    engine: Engine,
    rules: list[Any],
    readings: list[Reading],
    start: float = 0.0,
    step: float = 10.0,
) -> list[tuple[float, str]]:
    """(time, action) of every decision while feeding one reading per poll."""
    out = []
    for i, reading in enumerate(readings):
        now = start + i * step
        out += [(now, d.action) for d in engine.observe("m1", rules, reading, now)]
    return out


def test_hashrate_zero_restarts_after_n_polls_then_reboots_after_m_more() -> None:
    rule = _rule(polls=3, action="restart_backend", then={"action": "reboot", "polls": 2})
    engine = Engine()
    decided = _feed(engine, [rule], [STUCK] * 8)
    # poll 3 (t=20): restart; 2 polls later (t=40): reboot; then quiet (cool-down 600 s)
    assert decided == [(20.0, "restart_backend"), (40.0, "reboot")]


def test_a_fine_poll_resets_the_streak_and_asleep_is_not_stuck() -> None:
    engine = Engine()
    rule = _rule(polls=3, action="restart_backend")
    readings = [STUCK, STUCK, FINE, STUCK, STUCK, ASLEEP, ASLEEP, ASLEEP, ASLEEP]
    assert _feed(engine, [rule], readings) == []
    unknown = Reading(hashrate=None, mining=True, accepted=None, max_temp=None)
    # an unreadable poll neither counts nor clears
    assert _feed(engine, [rule], [STUCK, unknown, STUCK, STUCK], start=1000) == [
        (1030.0, "restart_backend")
    ]


def test_cooldown_and_attempt_limit_then_gave_up_once() -> None:
    rule = _rule(polls=1, action="restart_backend", cooldown=100, max_attempts=2)
    engine = Engine()
    decided = _feed(engine, [rule], [STUCK] * 40, step=10)
    # t=0 first, t=100 second (cool-down over), t=200 limit reached: one "gave up" event
    assert decided == [(0.0, "restart_backend"), (100.0, "restart_backend"), (200.0, "event")]
    decisions = engine.observe("m1", [rule], STUCK, 1000)
    assert decisions == []  # silent after giving up
    # clear for a whole cool-down: the count starts again
    engine.observe("m1", [rule], FINE, 1010)
    engine.observe("m1", [rule], FINE, 1111)
    again = engine.observe("m1", [rule], STUCK, 1120)
    assert [(d.action, d.attempt) for d in again] == [("restart_backend", 1)]


def test_attempts_are_per_miner() -> None:
    rule = _rule(polls=1, action="reboot", max_attempts=1)
    engine = Engine()
    assert [d.action for d in engine.observe("m1", [rule], STUCK, 0)] == ["reboot"]
    assert [d.action for d in engine.observe("m2", [rule], STUCK, 0)] == ["reboot"]
    engine.forget("m1")
    assert [d.attempt for d in engine.observe("m1", [rule], STUCK, 700)] == [1]


def test_no_shares_for_n_minutes() -> None:
    rule = NoShares.model_validate({"when": "no_shares", "minutes": 5, "cooldown": 3600})
    engine = Engine()
    same = [Reading(100.0, True, 42, 60.0)] * 40  # one poll every 10 s, counter stuck
    assert _feed(engine, [rule], same) == [(300.0, "event")]
    # shares moving: never
    engine2 = Engine()
    moving = [Reading(100.0, True, 42 + i, 60.0) for i in range(60)]
    assert _feed(engine2, [rule], moving) == []
    # asleep for an hour: not a missing-shares problem
    engine3 = Engine()
    assert _feed(engine3, [rule], [Reading(0.0, False, 42, 30.0)] * 400) == []


def test_temperature_above_sleeps() -> None:
    rule = TemperatureAbove.model_validate(
        {"when": "temperature_above", "celsius": 85, "polls": 2, "action": "sleep"}
    )
    engine = Engine()
    hot = Reading(100.0, True, 1, 91.5)
    decided = engine.observe("m1", [rule], hot, 0) + engine.observe("m1", [rule], hot, 10)
    assert [(d.action, d.reason) for d in decided] == [("sleep", "temperature 91.5 °C")]


def test_offline_interrupts_the_streak() -> None:
    rule = _rule(polls=3, action="restart_backend")
    engine = Engine()
    _feed(engine, [rule], [STUCK, STUCK])
    engine.interrupt("m1")
    assert _feed(engine, [rule], [STUCK, STUCK], start=100) == []


def test_reading_of_takes_the_hottest_sensor_and_sums_the_pools() -> None:
    data = MinerData(
        "10.0.0.1",
        hashrate=0.0,
        is_mining=True,
        hashboards=[HashBoard(slot=0, temp=60, chip_temp=75), HashBoard(slot=1, temp=88)],
        pools=[PoolMetrics(accepted=5), PoolMetrics(accepted=7), PoolMetrics()],
    )
    assert reading_of(data) == Reading(0.0, True, 12, 88.0)


def test_rules_for_follow_group_members() -> None:
    config = parse_config(
        {
            "fleet": {
                "groups": {
                    "all": {},
                    "garage": {
                        "miners": ["m1"],
                        "watchdog": {"rules": [{"when": "hashrate_zero"}]},
                    },
                    "off": {
                        "watchdog": {
                            "enabled": False,
                            "rules": [{"when": "no_shares", "minutes": 1}],
                        }
                    },
                }
            }
        }
    )
    groups = [(g.miners, g.watchdog) for g in config.fleet.groups.values()]
    assert [r.label for r in rules_for("m1", groups)] == ["hashrate_zero"]
    assert rules_for("m2", groups) == []


@pytest.mark.parametrize(
    ("rule", "key"),
    [
        ({"when": "hashrate_zero", "pols": 3}, "rules.0.hashrate_zero.pols"),
        ({"when": "hashrate_zero", "polls": 0}, "rules.0.hashrate_zero.polls"),
        ({"when": "hashrate_zero", "action": "explode"}, "rules.0.hashrate_zero.action"),
        ({"when": "overheat"}, "rules.0"),
        ({"when": "no_shares"}, "rules.0.no_shares.minutes"),
        ({"when": "temperature_above", "celsius": -5}, "rules.0.temperature_above.celsius"),
        ({"when": "hashrate_zero", "then": {"action": "reboot"}}, "then.polls"),
        ({"when": "hashrate_zero", "cooldown": "soon"}, "rules.0.hashrate_zero.cooldown"),
        ({"when": "hashrate_zero", "max_attempts": 0}, "max_attempts"),
    ],
)
def test_bad_rules_are_config_errors_naming_the_key(rule: dict[str, Any], key: str) -> None:
    raw = {"fleet": {"groups": {"all": {"watchdog": {"rules": [rule]}}}}}
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    message = str(caught.value)
    assert "fleet.groups.all.watchdog." in message and key in message, message


def test_watchdog_needs_rules_and_unique_names() -> None:
    for watchdog, words in (
        ({}, "rules"),
        ({"rules": []}, "rules"),
        ({"rules": [{"when": "hashrate_zero"}, {"when": "hashrate_zero"}]}, "unique"),
        ({"rulez": []}, "rulez"),
    ):
        with pytest.raises(ConfigError, match=words):
            parse_config({"fleet": {"groups": {"all": {"watchdog": watchdog}}}})
    ok = parse_config(
        {
            "fleet": {
                "groups": {
                    "all": {
                        "watchdog": {
                            "rules": [
                                {"when": "hashrate_zero"},
                                {"when": "hashrate_zero", "name": "slow_check", "polls": 30},
                            ]
                        }
                    }
                }
            }
        }
    )
    watchdog = ok.fleet.groups["all"].watchdog
    assert watchdog is not None and [r.label for r in watchdog.rules] == [
        "hashrate_zero",
        "slow_check",
    ]


@pytest.mark.parametrize(
    ("metrics", "words"),
    [
        ({"port": 0}, "metrics.port"),
        ({"port": 70000}, "metrics.port"),
        ({"bind": "my host"}, "metrics.bind"),
        ({"prot": 9100}, "metrics.prot"),
        ({"port": 1883}, "embedded broker"),
    ],
)
def test_bad_metrics_config(metrics: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_config({"metrics": metrics})


def test_metrics_off_by_default() -> None:
    assert parse_config({}).metrics is None
    on = parse_config({"metrics": {"port": 9100}}).metrics
    assert on is not None and (on.bind, on.port) == ("127.0.0.1", 9100)
