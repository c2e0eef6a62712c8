"""options.json: validated, persisted atomically, a damaged file ignored, MACs matched in
any spelling on the block list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.entities import bridge_controls
from asic_bridge.bridge.options import BridgeOptions, DeviceOptions, OptionsStore
from asic_bridge.bridge.topics import Topics


def test_round_trip_and_block_list(tmp_path: Path) -> None:
    store = OptionsStore(tmp_path)
    store.bridge = BridgeOptions(poll_interval=5, blocklist=["AA-BB-CC-DD-EE-FF", "10.0.0.9"])
    store.devices["m1"] = DeviceOptions(disabled=True)
    store.devices["m2"] = DeviceOptions()  # nothing set: not written
    store.save()
    raw = json.loads((tmp_path / "options.json").read_text())
    assert raw["bridge"]["poll_interval"] == 5 and raw["devices"] == {"m1": {"disabled": True}}
    again = OptionsStore(tmp_path)
    again.load()
    assert again.bridge.poll_interval == 5 and again.device("m1").disabled is True
    assert again.device("unknown") == DeviceOptions()
    assert again.blocked("aa:bb:cc:dd:ee:ff", "10.0.0.1")
    assert again.blocked(None, "10.0.0.9")
    assert not again.blocked("aa:bb:cc:dd:ee:00", "10.0.0.1")


@pytest.mark.parametrize("text", ["{not json", "[1]", '{"bridge": {"poll_interval": -4}}'])
def test_a_damaged_file_is_ignored(tmp_path: Path, text: str) -> None:
    (tmp_path / "options.json").write_text(text)
    store = OptionsStore(tmp_path)
    store.load()  # never raises: the bridge must start
    assert store.bridge == BridgeOptions() and store.devices == {}


def test_options_are_checked() -> None:
    with pytest.raises(ValidationError):
        BridgeOptions.model_validate({"log_level": "loud"})
    with pytest.raises(ValidationError):
        DeviceOptions.model_validate({"poll_interval": 0.5})
    with pytest.raises(ValidationError):
        DeviceOptions.model_validate({"colour": "red"})


def test_the_log_level_select_offers_what_the_options_request_accepts() -> None:
    """Every level of HA's log-level select is one bridge/request/options and bridge.yaml
    take; a level outside them is refused (so the select cannot offer a refused one)."""
    [select] = [
        c for t, c in bridge_controls(Topics("b")).items() if t.endswith("/log_level/config")
    ]
    assert select["options"]
    for level in select["options"]:
        assert BridgeOptions.model_validate({"log_level": level}).log_level == level
        config = parse_config({"mqtt": {"url": "mqtt://127.0.0.1:1"}, "log_level": level})
        assert config.log_level == level
    with pytest.raises(ValidationError):
        BridgeOptions.model_validate({"log_level": "trace"})
