"""The parsers' fast paths give what the general rules give, on random and hostile input."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from asic_bridge.data import hashrate
from asic_bridge.data.hashrate import UnitError, convert, default_unit, to_default
from asic_bridge.drivers import antminer as am
from asic_bridge.drivers.values import number

# Values a sensor list may hold: plain, hostile, and the types number() treats specially.
_POOL: list[Any] = [
    0,
    0.0,
    -0.0,
    1,
    -3,
    45,
    61.25,
    -17.5,
    2**60,
    1e300,
    math.nan,
    math.inf,
    -math.inf,
    True,
    False,
    None,
    "",
    "42",
    " 38.5 ",
    "'40'",
    "nan",
    "x",
    [1],
    {},
]


class _Int(int):
    """An int subclass (numpy-like): not the exact type, the general path's case."""


def _general_mean(values: Any) -> float | None:
    """The definition: number() of each value, zeros and non-readings dropped."""
    if not isinstance(values, list):
        return None
    readings = [v for v in (number(x) for x in values) if v]
    return sum(readings) / len(readings) if readings else None


def _same(a: float | None, b: float | None) -> bool:
    return type(a) is type(b) and (a == b or (a is None and b is None))


def test_mean_nonzero_matches_the_general_rules_on_random_lists() -> None:
    rng = random.Random(18)
    plain = [x for x in _POOL if type(x) in (int, float)]
    for _ in range(5000):
        pool = plain if rng.random() < 0.6 else _POOL
        values = [rng.choice(pool) for _ in range(rng.randrange(0, 9))]
        if rng.random() < 0.05:
            values.append(_Int(7))
        assert _same(am._mean_nonzero(values), _general_mean(values)), values


@pytest.mark.parametrize(
    "values",
    [[], [0, 0], [1, 2], [40, 0, 50], [1.5, math.nan], [True, 2], [None, 3], ["4", 5], (1, 2)],
)
def test_mean_nonzero_cases(values: Any) -> None:
    assert _same(am._mean_nonzero(values), _general_mean(values))


def test_mean_nonzero_huge_int_fails_as_number_does() -> None:
    with pytest.raises(OverflowError):
        number(10**400)
    with pytest.raises(OverflowError):
        am._mean_nonzero([10**400])
    with pytest.raises(OverflowError):
        am._mean_nonzero([10**400, 1.5])


def test_to_default_matches_convert_bit_for_bit() -> None:
    rng = random.Random(5)
    units = ["H", "KH", "MH/s", "GH", "gh/s", "TH/s", " PH ", "EH"]
    for _ in range(2000):
        value = rng.choice([rng.uniform(0, 1e6), rng.randrange(0, 10**9), 0.1, 123.456])
        unit, algo = rng.choice(units), rng.choice(["SHA256", "Scrypt", "X11", "EtHash"])
        expected = convert(value, unit, default_unit(algo))
        got = to_default(value, unit, algo)
        assert got == expected and type(got) is type(expected)


def test_to_default_errors_are_not_cached() -> None:
    for _ in range(2):
        with pytest.raises(UnitError):
            to_default(1.0, "furlongs", "SHA256")
        with pytest.raises(UnitError):
            to_default(1.0, "GH", "NoSuchAlgo")
    assert ("furlongs", "SHA256") not in hashrate._PAIRS


def _stats(body: dict[str, Any]) -> dict[str, Any]:
    return {"STATS": [{"BMMiner": "1.0.0"}, body]}


def test_stats_body_per_answer() -> None:
    first, second = _stats({"Elapsed": 1}), _stats({"Elapsed": 2})
    assert am._stats_body(first)["Elapsed"] == 1
    assert am._stats_body(first)["Elapsed"] == 1  # asked again: the remembered body
    assert am._stats_body(second)["Elapsed"] == 2  # another answer: its own
    assert am._stats_body(first)["Elapsed"] == 1


def test_stats_body_follows_a_changed_answer() -> None:
    payload = _stats({"Elapsed": 1})
    assert am._stats_body(payload)["Elapsed"] == 1
    payload["STATS"] = [{"BMMiner": "1.0.0"}, {"Elapsed": 9}]  # a new list
    assert am._stats_body(payload)["Elapsed"] == 9
    payload["STATS"].insert(1, {"ID": "BC50", "Elapsed": 3})  # the same list, grown
    assert am._stats_body(payload)["Elapsed"] == 3
    del payload["STATS"]
    with pytest.raises(ValueError):
        am._stats_body(payload)


def test_numbered_keys_per_layout() -> None:
    from asic_bridge.drivers import cgminer

    def general(item: dict[Any, Any], pattern: Any) -> tuple[tuple[str, int], ...]:
        joined = "\n".join(k for k in item if isinstance(k, str))
        return tuple((k, int(n)) for k, n in pattern.findall(joined) if k in item)

    rng = random.Random(7)
    names = ["chain_acn1", "chain_acn12", "fan3", "fan", "chain_acnx", "temp1", "Elapsed"]
    names += ["chain_acn\u0663", "x\nfan2", "fan2", "chain_acn2\n", 5, True]
    for _ in range(3000):
        keys = rng.sample(names, rng.randrange(0, len(names)))
        item = {k: 1 for k in keys}
        for pattern in (cgminer._CHAIN_KEY, cgminer._FAN_KEY):
            assert cgminer._numbered_keys(item, pattern) == general(item, pattern), keys
    assert len(cgminer._NUMBERED_SEEN) <= cgminer._NUMBERED_SEEN_MAX


def test_numbered_entry() -> None:
    from asic_bridge.drivers import cgminer

    payload = {"STATS": [{"STATS": 0}, {"chain_acn1": 63, "fan1": 5000, "fan2": 5100}]}
    boards = cgminer._numbered_entry(payload, cgminer._CHAIN_KEY)
    fans = cgminer._numbered_entry(payload, cgminer._FAN_KEY)
    assert boards is not None and boards[1] == (("chain_acn1", 1),)
    assert fans is not None and fans[1] == (("fan1", 1), ("fan2", 2))
    payload["STATS"] = [{"chain_acn6": 1}]
    found = cgminer._numbered_entry(payload, cgminer._CHAIN_KEY)
    assert found is not None and found[1] == (("chain_acn6", 6),)
    assert cgminer._numbered_entry({"STATS": []}, cgminer._FAN_KEY) is None
    assert cgminer._numbered_entry("garbage", cgminer._FAN_KEY) is None


def test_vnish_summary_is_checked_not_copied() -> None:
    from asic_bridge.drivers import vnish

    summary = {"miner": {"miner_type": "x"}}
    assert vnish._summary(summary) is summary
    for bad in ({"miner": None}, {"miner": []}, None, []):
        with pytest.raises(ValueError):
            vnish._summary(bad)


def test_luxos_chain_layout_per_keys() -> None:
    from asic_bridge.drivers import luxos

    def general(stats: dict[str, Any]) -> tuple[dict[str, Any], list[int]] | None:
        for item in stats["STATS"]:
            if any(key.startswith("chain_acn") for key in item):
                slots = sorted(
                    int(k[9:]) for k in item if k.startswith("chain_acn") and k[9:].isdigit()
                )
                return item, slots
        return None

    rng = random.Random(11)
    names = ["chain_acn1", "chain_acn3", "chain_acn10", "chain_acnx", "chain_acn", "temp1"]
    names += ["Elapsed", "chain_acn\u0663", "xchain_acn2", "fan1"]
    for _ in range(3000):
        stats = {
            "STATS": [
                {k: 1 for k in rng.sample(names, rng.randrange(0, 5))}
                for _ in range(rng.randrange(1, 3))
            ]
        }
        expected = general(stats)
        if expected is None:
            with pytest.raises(ValueError):
                luxos._chain_section(stats)
            continue
        chain, keys = luxos._chain_section(stats)
        assert chain is expected[0] and luxos._chain_slots(chain, keys) == expected[1]
    assert len(luxos._SLOTS) <= luxos._LAYOUTS_MAX
