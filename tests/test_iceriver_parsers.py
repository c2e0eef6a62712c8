"""Pure parsers of the IceRiver driver on captured-style ``userpanel`` answers."""

from __future__ import annotations

from typing import Any

import pytest

from asic_bridge import catalog
from asic_bridge.drivers import iceriver as ice
from asic_bridge.drivers.base import Identity, ParseContext

KS3M = catalog.lookup("KS3M", make="IceRiver")


def ctx() -> ParseContext:
    return ParseContext(
        "kHeavyHash", KS3M, Identity(ip="10.0.0.11", make="IceRiver", firmware="Stock")
    )


def panel(**override: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "softver1": "BOOT_1_2_ks3m_miner",
        "mac": "AA-BB-CC-DD-EE-0F",
        "host": "ks3m-01",
        "locate": False,
        "rtpow": "6.05T",
        "unit": "T",
        "runtime": "1:02:03:04",
        "powstate": True,
        "fans": [5400, 5380, 5420, 5390],
        "boards": [
            {"no": 1, "chipnum": 18, "rtpow": "2016.50G", "intmp": 48.5, "outtmp": 61.0},
            {"no": 3, "chipnum": 18, "rtpow": "2010.00G", "intmp": 49, "outtmp": 60},
        ],
        "pools": [
            {"no": 1, "addr": "stratum+tcp://kas.example:1", "user": "k.w", "pass": "x",
             "connect": True, "state": 1, "accepted": 120, "rejected": 1},
            {"no": 2, "addr": "", "user": "", "pass": "", "connect": False, "state": 0},
        ],
    }  # fmt: skip
    data.update(override)
    return {"code": 0, "data": data}


def test_a_complete_reading() -> None:
    c, p = ctx(), panel()
    assert ice.parse_hashrate(c, p) == pytest.approx(6.05)
    assert ice.parse_mac(c, p) == "aa:bb:cc:dd:ee:0f"
    assert (ice.parse_hostname(c, p), ice.parse_fw_ver(c, p)) == ("ks3m-01", "BOOT_1_2_ks3m_miner")
    assert ice.parse_uptime(c, p) == 86400 + 2 * 3600 + 3 * 60 + 4
    assert [f.speed for f in ice.parse_fans(c, p) or []] == [5400, 5380, 5420, 5390]
    boards = ice.parse_hashboards(c, p)
    assert [(b.slot, b.missing) for b in boards] == [(0, False), (1, True), (2, False)]
    assert boards[0].hashrate == pytest.approx(2.0165)
    assert (boards[0].inlet_temp, boards[0].outlet_temp, boards[0].temp) == (48.5, 61.0, 61.0)
    [pool] = ice.parse_pools(c, p)
    assert (pool.url, pool.accepted, pool.active, pool.alive) == (
        "stratum+tcp://kas.example:1",
        120,
        True,
        True,
    )
    assert ice.parse_is_mining(c, p) is True and ice.parse_fault_light(c, p) is False
    config = ice.parse_config(c, p)
    assert config.pools is not None and len(config.pools.first_group) == 1


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [("6.05T", "T", 6.05), ("980.5G", "T", 0.9805), (6.0, "T", 6.0), ("12", "G", 0.012)],
)
def test_rates(text: object, unit: str, expected: float) -> None:
    assert ice.parse_rate(text, unit, "kHeavyHash") == pytest.approx(expected)


def test_garbage_stays_in_its_field() -> None:
    c = ctx()
    p = panel(rtpow="lots", runtime="soon", fans="none", mac=None, boards=[{"no": "x"}])
    assert ice.parse_hashrate(c, p) is None
    assert ice.parse_uptime(c, p) is None
    assert ice.parse_fans(c, p) is None
    assert ice.parse_mac(c, p) is None
    assert all(b.missing for b in ice.parse_hashboards(c, p))
    assert ice.parse_hostname(c, p) == "ks3m-01"
    with pytest.raises(ValueError):
        ice.parse_hashrate(c, {"code": -1, "msg": "not logged in"})


@pytest.mark.parametrize(
    ("data", "model"),
    [
        ({"softver1": "BOOT_1_2_ks3m_miner"}, "KS3M"),
        ({"softver1": "ks3mminer_20231208"}, "KS3M"),  # pyasic reads "20231208" here
        ({"softver1": "KS5L-2.1.0"}, "KS5L"),
        ({"model": "none", "softver1": "os_ks0ultra_ks0_miner"}, "KS0"),
        ({"softver1": "al3_miner"}, "AL3"),
    ],
)
def test_model_from_any_spelling(data: dict[str, Any], model: str) -> None:
    raw, info = ice.model_from(data)
    assert info is not None and info.model == model and raw == model


def test_unknown_model_keeps_a_raw_name() -> None:
    assert ice.model_from({"softver1": "zz9_miner"}) == ("ZZ9", None)
    assert ice.model_from({}) == (None, None)
