from __future__ import annotations

import json
import re
import time

import pytest
from pydantic import ValidationError

from asic_bridge import MinerConfig, MinerData
from asic_bridge.data import (
    Fan,
    HashBoard,
    MinerErrorData,
    PoolMetrics,
    UnitError,
    convert,
    default_unit,
    to_default,
)


def make(ip: str, hashrate: float, wattage: int | None, temps: list[float]) -> MinerData:
    return MinerData(
        ip,
        make="AntMiner",
        model="S19j Pro",
        hashrate=hashrate,
        wattage=wattage,
        hashboards=[
            HashBoard(slot=i, hashrate=hashrate / len(temps), temp=t, chips=126, missing=False)
            for i, t in enumerate(temps)
        ],
        fans=[Fan(speed=6000)],
        is_mining=True,
    )


def test_positional_ip_and_own_timestamps() -> None:
    first = MinerData("10.0.0.1")
    time.sleep(0.01)
    second = MinerData("10.0.0.2")
    assert first.ip == "10.0.0.1"
    assert second.datetime > first.datetime  # pyasic shares one import-time timestamp
    assert isinstance(second.timestamp, int)


def test_computed_fields() -> None:
    data = MinerData(
        "1.2.3.4",
        hashrate=100.0,
        expected_hashrate=104.0,
        wattage=3000,
        wattage_limit=3250,
        expected_chips=378,
        hashboards=[
            HashBoard(slot=0, chips=126, temp=60, chip_temp=70),
            HashBoard(slot=1, chips=126, temp=62, chip_temp=74),
            HashBoard(slot=2, chips=120, temp=64),
        ],
    )
    assert data.total_chips == 372
    assert data.nominal is False
    assert data.percent_expected_chips == 98  # 372/378
    assert data.percent_expected_hashrate == 96  # 100/104
    assert data.percent_expected_wattage == 92  # 3000/3250
    assert data.temperature_avg == 62
    assert data.chip_temperature_avg == 72
    assert data.efficiency == 30
    assert data.efficiency_fract == 30.0
    assert data.hashrate_unit == "TH/s"
    assert data.hashrate_in("PH/s") == pytest.approx(0.1)


def test_computed_fields_tolerate_missing_values() -> None:
    data = MinerData("1.2.3.4")
    assert data.total_chips == 0
    assert data.efficiency is None
    assert data.temperature_avg is None
    assert data.percent_expected_hashrate is None
    assert MinerData("x", hashboards=[HashBoard()]).total_chips is None


def test_sum_and_average_by_hand() -> None:
    records = [
        make("10.0.0.1", 100.0, 3000, [60, 70]),
        make("10.0.0.2", 110.0, 3300, [62, 72]),
        make("10.0.0.3", 120.0, None, [64, 74]),  # this one did not report power
    ]
    total = sum(records, start=MinerData(""))
    assert total.hashrate == pytest.approx(330.0)
    assert total.wattage == 6300
    assert len(total.hashboards) == 6
    assert total.total_chips == 6 * 126
    average = total / len(records)
    assert average.hashrate == pytest.approx(110.0)  # (100+110+120)/3
    assert average.wattage == 3150  # (3000+3300)/2: only two reported power
    assert average.temperature_avg == 67  # mean of the six board temps
    assert average.make == "AntMiner"  # shared identity is kept
    assert average.ip == ""  # differing identity is blanked
    assert average.is_mining is True


def test_divide_a_single_record() -> None:
    half = make("10.0.0.1", 100.0, 3000, [60]) / 2
    assert half.hashrate == 50.0
    assert half.wattage == 1500


def test_sum_without_start_and_bools() -> None:
    a = make("a", 10.0, 100, [50])
    b = make("b", 20.0, 200, [50])
    b.is_mining = False
    assert (a + b).is_mining is False
    assert (a + b).hashrate == 30.0
    assert sum([a, b], start=MinerData("")).hashrate == 30.0


def test_as_json_hashrate_plain_number_with_unit() -> None:
    data = make("10.0.0.1", 104.5, 3000, [60])
    payload = json.loads(data.as_json())
    assert payload["hashrate"] == 104.5
    assert payload["hashrate_unit"] == "TH/s"
    assert payload["efficiency"] == 28
    assert payload["hashboards"][0]["temp"] == 60
    assert data.as_dict()["wattage"] == 3000


def test_scrypt_unit() -> None:
    data = MinerData("x", algo="Scrypt", hashrate=9500.0)
    assert data.hashrate_unit == "GH/s"
    assert json.loads(data.as_json())["hashrate_unit"] == "GH/s"


def test_as_csv_with_header() -> None:
    data = make("10.0.0.1", 100.0, 3000, [60, 70])
    data.errors.append(MinerErrorData(error_code=1, error_message="fan lost, speed 0"))
    text = data.as_csv(header=True)
    header, row = text.split("\n")
    columns = header.split(",")
    assert columns[0] == "ip"
    values = dict(zip(columns, _split_csv(row), strict=True))
    assert values["ip"] == "10.0.0.1"
    assert values["hashrate"] == "100.0"
    assert values["wattage"] == "3000"
    assert values["hashboards"] == "2"
    assert values["errors"] == "fan lost, speed 0"  # quoted, comma preserved
    assert data.as_csv() == row


def _split_csv(row: str) -> list[str]:
    import csv

    return next(csv.reader([row]))


def test_as_influxdb() -> None:
    data = make("10.0.0.1", 100.0, 3000, [60])
    data.mac = "aa:bb:cc:dd:ee:ff"
    line = data.as_influxdb()
    measurement_and_tags, fields, stamp = re.split(r"(?<!\\) ", line)
    assert measurement_and_tags.startswith("miner_data,ip=10.0.0.1,mac=aa:bb:cc:dd:ee:ff")
    assert "model=S19j\\ Pro" in measurement_and_tags
    assert "hashrate=100.0" in fields
    assert "wattage=3000i" in fields
    assert "hashboards.0.temp=60.0" in fields
    assert int(stamp) == int(data.datetime.timestamp() * 1e9)
    assert "hashboards_0_temp" in data.as_influxdb(level_delimiter="_")


def test_fields_lists_stored_and_computed() -> None:
    names = MinerData.fields()
    for name in (
        "ip",
        "hashrate",
        "hashboards",
        "config",
        "efficiency",
        "total_chips",
        "percent_expected_hashrate",
        "timestamp",
        "field_errors",
    ):
        assert name in names


def test_invalid_input_is_rejected() -> None:
    with pytest.raises(ValidationError):
        MinerData("x", wattage="lots")
    with pytest.raises(ValidationError):
        MinerData("x", not_a_field=1)
    data = MinerData("x")
    with pytest.raises(ValidationError):
        data.hashrate = "fast"  # type: ignore[assignment]


def test_pool_metrics_percentages() -> None:
    pool = PoolMetrics(url="stratum+tcp://pool:3333", accepted=90, rejected=10, get_failures=5)
    assert pool.pool_rejected_percent == 10.0
    assert pool.pool_stale_percent == 5.0
    assert PoolMetrics().pool_rejected_percent == 0.0


def test_units() -> None:
    assert default_unit("SHA256") == "TH/s"
    assert default_unit("Scrypt") == "GH/s"
    assert convert(104000, "GH", "TH/s") == pytest.approx(104.0)
    assert convert(1, "ph/s", "TH") == pytest.approx(1000.0)
    assert to_default(9500, "MH/s", "Scrypt") == pytest.approx(9.5)
    with pytest.raises(UnitError, match="unknown hash-rate unit"):
        convert(1, "furlongs", "TH/s")
    with pytest.raises(UnitError, match="unknown algorithm"):
        default_unit("Magic")


def test_config_embedded() -> None:
    data = MinerData("x", config=MinerConfig.from_dict({"mining_mode": {"mode": "low"}}))
    assert data.as_dict()["config"]["mining_mode"] == {"mode": "low"}
