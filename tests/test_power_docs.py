"""The power management docs say what the bridge does: every bridge.yaml example, every
``mosquitto_pub`` line and every Home Assistant automation in the README's "Power management"
section and in docs/power.md goes through the bridge's own validation (the config model, the
topic router, the fleet command and reading parsers, a controller applying the commands in
order), and the state example names only fields the controller publishes."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.features.fleet import group_config
from asic_bridge.bridge.power import PowerController
from asic_bridge.bridge.power_inputs import GroupConfig, parse_reading, parse_set_payload
from asic_bridge.bridge.topics import Topics

ROOT = Path(__file__).resolve().parent.parent
TOPICS = Topics()


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Power management\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


DOCS = {
    "README": _readme_section(),
    "docs/power.md": (ROOT / "docs" / "power.md").read_text(),
}


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.M | re.S)


def _configs(text: str) -> dict[str, GroupConfig]:
    """The groups of every bridge.yaml example, validated as the bridge loads them."""
    groups: dict[str, GroupConfig] = {}
    for block in _blocks(text, "yaml"):
        data = yaml.safe_load(block)
        if isinstance(data, dict) and "fleet" in data:
            config = parse_config({"mqtt": {"url": "mqtt://127.0.0.1:1"}, **data})
            groups.update({g: group_config(c) for g, c in config.fleet.groups.items()})
    return groups


def _signal_topics(groups: dict[str, GroupConfig]) -> set[str]:
    return {
        s.topic
        for c in groups.values()
        for s in (c.price, c.surplus)
        if s is not None and s.topic is not None
    }


class Bridge:
    """What the bridge does with a message: route it, and apply it to the group's controller."""

    def __init__(self, groups: dict[str, GroupConfig]) -> None:
        self.signal_topics = _signal_topics(groups)
        self.controllers = {
            g: PowerController(g, c, lambda: 1_780_000_000.0) for g, c in groups.items()
        }

    def receive(self, topic: str, payload: str) -> None:
        if topic in self.signal_topics:
            parse_reading(payload, topic)
            return
        incoming = TOPICS.classify(topic)
        assert incoming is not None, f"the bridge ignores {topic}"
        assert incoming.kind in ("fleet_set", "fleet_reading"), topic
        assert incoming.target in self.controllers, f"no group {incoming.target} in the docs"
        ctrl = self.controllers[incoming.target]
        if incoming.kind == "fleet_reading":
            value = parse_reading(payload, topic)
            (ctrl.price_reading if incoming.name == "price" else ctrl.surplus_reading)(value)
        else:
            ctrl.command(parse_set_payload(payload.encode()))  # raises if refused


def _commands(block: str) -> list[list[str]]:
    joined = block.replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip()]


def _option(words: list[str], flag: str) -> str:
    return words[words.index(flag) + 1]


@pytest.mark.parametrize("doc", DOCS)
def test_the_mqtt_examples_are_accepted_by_the_bridge(doc: str) -> None:
    text = DOCS[doc]
    bridge = Bridge(_configs(text))
    published = 0
    for block in _blocks(text, "sh"):
        for words in _commands(block):
            if not words:
                continue
            if words[0] == "mosquitto_sub":
                incoming = TOPICS.classify(_option(words, "-t"))
                assert incoming is None  # a state topic, which the bridge publishes
                assert re.fullmatch(r"asic_bridge/fleet/\w+", _option(words, "-t"))
                continue
            assert words[0] == "mosquitto_pub", words
            bridge.receive(_option(words, "-t"), _option(words, "-m"))
            published += 1
    assert published >= 4


def _automation_actions(text: str) -> list[dict[str, Any]]:
    actions = []
    for block in _blocks(text, "yaml"):
        data = yaml.safe_load(block)
        if isinstance(data, dict):
            data = data.get("automation")
        if not isinstance(data, list):
            continue
        for automation in data:
            assert automation["triggers"] and automation["alias"], automation
            actions.extend(automation["actions"])
    return actions


@pytest.mark.parametrize("doc", DOCS)
def test_the_home_assistant_automations_send_what_the_bridge_takes(doc: str) -> None:
    text = DOCS[doc]
    bridge = Bridge(_configs(text))
    actions = _automation_actions(text)
    if doc == "README":
        assert len(actions) >= 3  # the solar surplus and both tariff automations
    for action in actions:
        assert action["action"] == "mqtt.publish", action
        topic, payload = action["data"]["topic"], action["data"]["payload"]
        if "{{" in payload:  # a template: HA renders a sensor's number
            incoming = TOPICS.classify(topic)
            assert incoming is not None and incoming.kind == "fleet_reading", topic
            payload = "1234.5"
        bridge.receive(topic, payload)


def test_the_state_example_names_only_published_fields() -> None:
    (example,) = _blocks(DOCS["docs/power.md"], "json")
    documented = json.loads(example)
    ctrl = PowerController("farm", GroupConfig(), lambda: 0.0)
    ctrl.join("x", power_min=1, power_max=2, range_source="firmware", can_limit=True, can_stop=True)
    state = ctrl.state()
    assert set(documented) <= set(state), set(documented) - set(state)
    for miner in documented["miners"].values():
        assert set(miner) <= set(state["miners"]["x"]), set(miner) - set(state["miners"]["x"])
    assert set(documented["inputs"]) == set(state["inputs"])
    assert documented["status"] in ("holding", "converging", "cannot_meet", "released")


def test_the_docs_name_the_statuses_the_code_answers() -> None:
    text = DOCS["docs/power.md"]
    for status in ("ok", "pending", "partial", "error"):
        assert f"| `{status}` |" in text, status
    assert "Not wired yet" not in text
