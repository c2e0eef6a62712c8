"""Rules every driver class must keep, checked over all of them at once."""

from __future__ import annotations

import asyncio
import importlib
import inspect

import pytest

from asic_bridge.config import FAN_MODES, MINING_MODES
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import BaseMiner, Capability, UnknownMiner
from asic_bridge.drivers.registry import FAMILY_MODULES, families


def driver_classes() -> list[type[BaseMiner]]:
    found: dict[str, type[BaseMiner]] = {}
    for name in FAMILY_MODULES:
        module = importlib.import_module(f"asic_bridge.drivers.{name}")
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseMiner)
                and obj not in (BaseMiner, UnknownMiner)
                and obj.__module__ == module.__name__
                and obj.FIELDS
            ):
                found[f"{module.__name__}.{obj.__name__}"] = obj
    return [found[k] for k in sorted(found)]


DRIVERS = driver_classes()


def test_every_registered_module_exists_and_registers_a_family() -> None:
    assert len(families()) >= len(FAMILY_MODULES)
    assert len(DRIVERS) >= len(FAMILY_MODULES)


@pytest.mark.parametrize("cls", DRIVERS, ids=lambda c: c.__name__)
def test_fields_are_minerdata_fields(cls: type[BaseMiner]) -> None:
    for name, spec in cls.FIELDS.items():
        assert name in MinerData.model_fields, f"{cls.__name__}.FIELDS has unknown {name!r}"
        assert spec.sources, name
        assert all(":" in src for src in spec.sources), (name, spec.sources)
        assert callable(spec.parse)


@pytest.mark.parametrize("cls", DRIVERS, ids=lambda c: c.__name__)
def test_identity_strings(cls: type[BaseMiner]) -> None:
    assert cls.firmware and cls.firmware != "Unknown"
    if not cls.__module__.endswith(".cgminer"):  # the generic family learns the make per host
        assert cls.make and cls.make != "Unknown"


@pytest.mark.parametrize("cls", DRIVERS, ids=lambda c: c.__name__)
def test_modes_are_declared_with_the_capability(cls: type[BaseMiner]) -> None:
    """The bridge's mode select lists ``supported_modes``: a mode capability needs them."""
    if Capability.MINING_MODES in cls.default_capabilities:
        assert cls.supported_modes, f"{cls.__name__} offers modes but lists none"
    assert set(cls.supported_modes) <= set(MINING_MODES), cls.supported_modes


@pytest.mark.parametrize("cls", DRIVERS, ids=lambda c: c.__name__)
def test_fan_modes_are_declared_with_the_capability(cls: type[BaseMiner]) -> None:
    """The bridge's fan select lists ``fan_modes()``: a fan capability needs modes."""
    if Capability.FAN_CONTROL in cls.default_capabilities:
        assert cls.supported_fan_modes, f"{cls.__name__} offers fan control but lists no mode"
    assert set(cls.supported_fan_modes) <= set(FAN_MODES), cls.supported_fan_modes


WEB_DRIVERS = [c for c in DRIVERS if isinstance(inspect.getattr_static(c, "web", None), property)]


async def _one_connection_server() -> tuple[asyncio.Server, asyncio.Event]:
    """Answers one HTTP request with ``{}`` per connection; ``closed`` is set once a client
    closes its connection."""
    closed = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        )
        await writer.drain()
        await reader.read()  # until the client closes its kept-alive connection
        closed.set()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0), closed


@pytest.mark.parametrize("cls", WEB_DRIVERS, ids=lambda c: c.__name__)
async def test_a_port_change_rebuilds_the_web_client_and_closes_the_old_one(
    cls: type[BaseMiner],
) -> None:
    server, closed = await _one_connection_server()
    port = server.sockets[0].getsockname()[1]
    miner = cls("127.0.0.1", ports={"http": port, "web": port, "rpc": port})
    try:
        old = miner.web  # type: ignore[attr-defined]
        assert miner.web is old  # type: ignore[attr-defined]
        assert (await old.get("/", use_auth=False)).status == 200
        assert not closed.is_set()  # kept alive
        miner.ports.update(http=port + 1, web=port + 1, rpc=port + 1)
        new = miner.web  # type: ignore[attr-defined]
        assert new is not old and new.port == port + 1
        await asyncio.wait_for(closed.wait(), 10)  # the replaced client closed its connection
    finally:
        await miner.aclose()
        server.close()
        await server.wait_closed()


async def test_aclose_closes_every_kept_client() -> None:
    server, closed = await _one_connection_server()
    port = server.sockets[0].getsockname()[1]
    miner = WEB_DRIVERS[0]("127.0.0.1", ports={"http": port, "web": port, "rpc": port})
    try:
        assert (await miner.web.get("/", use_auth=False)).status == 200  # type: ignore[attr-defined]
        await miner.aclose()
        await asyncio.wait_for(closed.wait(), 10)
    finally:
        server.close()
        await server.wait_closed()


def test_family_probes_live_in_their_families() -> None:
    """The factory runs the common probes; a family's own (Whatsminer API v3 on its port)
    comes from that family's module."""
    probes = {f.name: f.probe for f in families() if f.probe is not None}
    assert set(probes) == {"whatsminer_v3"}
    assert all(inspect.iscoroutinefunction(p) for p in probes.values())
    assert probes["whatsminer_v3"].__module__ == "asic_bridge.drivers.whatsminer"
