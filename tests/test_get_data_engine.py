"""BaseMiner.get_data's engine: one model validation per reading, the same reading as one
validated assignment per field (what it replaced), including when a value is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from asic_bridge.catalog import lookup
from asic_bridge.data import HashBoard, MinerData, PoolMetrics, board_from, data_from, pool_from
from asic_bridge.drivers.base import BaseMiner, FieldSpec, Identity, ParseContext, _FieldError
from asic_bridge.errors import APIError


def _hashrate(ctx: ParseContext, summary: Any) -> Any:
    return summary["rate"]


def _boards(ctx: ParseContext, stats: Any) -> list[HashBoard]:
    return [HashBoard(slot=i, hashrate=r, missing=False) for i, r in enumerate(stats)]


def _broken(ctx: ParseContext, summary: Any) -> Any:
    raise KeyError("Elapsed")


def _mac(ctx: ParseContext, info: Any) -> Any:
    return info["mac"]


def _hostname(ctx: ParseContext, info: Any) -> Any:
    return info["hostname"]


class TableMiner(BaseMiner):
    """A driver of table fields only, its sources answered from ``payloads``."""

    make = "AntMiner"
    firmware = "Stock"
    FIELDS: ClassVar[dict[str, FieldSpec]] = {
        "hashrate": FieldSpec(("rpc:summary",), _hashrate),
        "hashboards": FieldSpec(("rpc:stats",), _boards),
        "uptime": FieldSpec(("rpc:summary",), _broken),
        "wattage": FieldSpec(("rpc:power",), _hashrate),
        "mac": FieldSpec(("web:info",), _mac, static=True),
        "hostname": FieldSpec(("web:info",), _hostname, static=True),
    }

    def __init__(self, payloads: dict[str, Any], model: str | None = "S19j Pro") -> None:
        info = lookup(model, "AntMiner") if model else None
        super().__init__(
            "127.0.0.7",
            identity=Identity(
                ip="127.0.0.7", make="AntMiner", firmware="Stock", model=model, model_info=info
            ),
        )
        self.payloads = payloads

    async def _fetch_sources(self, sources: Collection[str]) -> dict[str, Any]:
        return {s: self.payloads[s] for s in sources}


def _answers(**changes: Any) -> dict[str, Any]:
    payloads: dict[str, Any] = {
        "rpc:summary": {"rate": 104.5},
        "rpc:stats": [34.1, 35.2, 35.0],
        "rpc:power": APIError("power: invalid command", ip="127.0.0.7", command="power"),
        "web:info": {"mac": "aa:bb:cc:dd:ee:ff", "hostname": "rack3-12"},
    }
    payloads.update(changes)
    return payloads


def _one_by_one(miner: TableMiner) -> MinerData:
    """The reading as the engine built it before: one validated assignment per field."""
    asyncio.run(miner.get_data())  # the same outcomes, to rebuild below
    ctx = ParseContext(miner.algo, miner.model_info, miner.identity)
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    read = []
    for name, spec in miner.FIELDS.items():
        value = miner._parse_field(name, spec, miner.payloads, ctx)
        if isinstance(value, _FieldError):
            errors[name] = value.message
        elif value is not None:
            values[name] = value
        if value is not None:
            read.append(name)
    return miner._build_each(values, errors, [], read, MinerData().datetime)


def _same(a: MinerData, b: MinerData) -> None:
    # datetime (and the timestamp computed from it) is when each was made
    moment = {"datetime", "timestamp"}
    assert a.model_dump(exclude=moment) == b.model_dump(exclude=moment)
    assert list(a.field_errors.items()) == list(b.field_errors.items())
    assert a.model_fields_set == b.model_fields_set
    for name in type(a).model_fields:
        assert type(getattr(a, name)) is type(getattr(b, name)), name


@pytest.mark.parametrize("model", ["S19j Pro", None])
def test_one_validation_gives_the_field_by_field_reading(model: str | None) -> None:
    data = asyncio.run(TableMiner(_answers(), model).get_data())
    assert data.hashrate == 104.5 and len(data.hashboards) == 3
    assert data.field_errors == {
        "uptime": "could not parse uptime: KeyError: 'Elapsed'",
        "wattage": "127.0.0.7 'power': power: invalid command",
    }
    assert "datetime" not in data.model_fields_set  # the default's, as a blank record's
    _same(data, _one_by_one(TableMiner(_answers(), model)))


def test_a_refused_value_is_that_fields_error_alone() -> None:
    """A parser's value the model refuses names that field; the others stay, and a refused
    static value is not learned into the identity."""
    miner = TableMiner(_answers(**{"rpc:summary": {"rate": "fast"}, "web:info": {"mac": 7}}))
    miner.FIELDS = {**TableMiner.FIELDS, "hostname": FieldSpec(("web:info",), _mac, static=True)}
    data = asyncio.run(miner.get_data())
    assert data.hashrate is None and data.mac is None and len(data.hashboards) == 3
    assert list(data.field_errors) == ["hashrate", "uptime", "wattage", "mac", "hostname"]
    assert data.field_errors["hashrate"].startswith(
        "could not parse hashrate: ValidationError: 1 validation error for MinerData\nhashrate"
    )
    assert miner.identity.mac is None and miner.identity.hostname is None
    _same(data, _one_by_one(miner))


def test_static_fields_are_learned_then_taken_from_the_identity() -> None:
    miner = TableMiner(_answers())
    first = asyncio.run(miner.get_data())
    assert (miner.identity.mac, miner.identity.hostname) == ("aa:bb:cc:dd:ee:ff", "rack3-12")
    miner.payloads["web:info"] = APIError("gone", ip="127.0.0.7", command="info")
    second = asyncio.run(miner.get_data())
    assert second.mac == first.mac and second.hostname == first.hostname
    assert "mac" not in second.field_errors


def test_the_reading_is_timed_when_the_poll_began() -> None:
    class Slow(TableMiner):
        async def _fetch_sources(self, sources: Collection[str]) -> dict[str, Any]:
            await asyncio.sleep(0.05)
            self.answered = MinerData().datetime
            return await super()._fetch_sources(sources)

    miner = Slow(_answers())
    before = MinerData().datetime
    data = asyncio.run(miner.get_data())
    assert before <= data.datetime
    assert (miner.answered - data.datetime).total_seconds() >= 0.04


def test_the_dict_builders_are_the_models_own_validation() -> None:
    """board_from / pool_from / data_from build what the constructors build, coercion and
    refusals included."""
    fields = {"slot": 2, "hashrate": 3, "temp": "61.5", "chips": 126, "missing": False}
    built, made = board_from(dict(fields)), HashBoard(**fields)
    assert built == made and built.model_fields_set == made.model_fields_set
    assert type(built.hashrate) is float and type(built.temp) is float
    pool = {"url": "stratum+tcp://pool:3333", "accepted": 10, "rejected": 1, "active": True}
    assert pool_from(dict(pool)) == PoolMetrics(**pool)
    reading = {"ip": "10.0.0.5", "hashrate": 104, "hashboards": [made]}
    data = data_from(dict(reading))
    assert data.model_dump(exclude={"datetime", "timestamp"}) == MinerData(**reading).model_dump(
        exclude={"datetime", "timestamp"}
    )
    assert data._records == 1 and data._counts == {}  # private attributes set up too
    with pytest.raises(ValidationError):
        board_from({"slot": 1, "chips": "many"})
    with pytest.raises(ValidationError):
        data_from({"ip": "10.0.0.5", "wattage": "lots"})


def test_each_reading_has_its_own_private_counts() -> None:
    """MinerData's private attributes (the fleet arithmetic's) are set up per instance, by
    every way one is made."""
    a, b = MinerData("10.0.0.1", hashrate=100.0), data_from({"ip": "10.0.0.2", "hashrate": 50.0})
    assert (a._records, a._counts, b._records, b._counts) == (1, {}, 1, {})
    assert a._counts is not b._counts
    mean = (a + b) / 2
    assert mean.hashrate == 75.0 and mean._records == 2 and a._counts == {}
    copy = a.model_copy()
    assert copy._records == 1
    assert MinerData.model_construct(ip="x")._records == 1
