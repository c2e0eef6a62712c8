"""Rules every driver class must keep, checked over all of them at once."""

from __future__ import annotations

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
