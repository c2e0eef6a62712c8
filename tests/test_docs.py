"""The docs that describe the code say what the code does: the README's bridge API table
names every ``bridge/request/<path>`` the bridge routes (and no other), and
``docs/architecture.md`` names every module of the bridge, and no module, class, method or
event that is gone."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import bridge_fakes

from asic_bridge.bridge.app import Bridge
from asic_bridge.bridge.config import parse_config

ROOT = Path(__file__).resolve().parent.parent
BRIDGE = ROOT / "asic_bridge" / "bridge"


def _routed_paths(tmp_path: Path) -> set[str]:
    """The request paths a bridge with every optional feature configured has handlers for."""
    firmware = tmp_path / "firmware"
    firmware.mkdir()
    config = parse_config(
        {
            "mqtt": {"url": "mqtt://127.0.0.1:1"},
            "state_dir": str(tmp_path / "state"),
            "metrics": {"port": 9464},
            "firmware": {"dir": str(firmware)},
            "fleet": {"groups": {"all": {}}},
        }
    )
    return set(Bridge(config).requests.handlers)


def _readme_request_table() -> set[str]:
    """Every path named in the first cell of the README's ``| path | payload | does |``."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("| path | payload | does |")
    paths: set[str] = set()
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        first_cell = line.split("|")[1]
        paths.update(re.findall(r"`([^`]+)`", first_cell))
    return paths


def test_readme_documents_every_bridge_request_path(tmp_path: Path) -> None:
    routed = _routed_paths(tmp_path)
    assert {"scan", "restart", "options", "device/rename"} <= routed  # the extraction works
    documented = _readme_request_table()
    assert routed - documented == set(), "routed but not in the README's bridge API table"
    assert documented - routed == set(), "in the README's bridge API table but not routed"


def _architecture() -> str:
    return (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def test_architecture_names_every_bridge_module() -> None:
    text = _architecture()
    modules = [p for p in BRIDGE.glob("*.py") if p.name != "__init__.py"]
    features = [p for p in (BRIDGE / "features").glob("*.py") if p.name != "__init__.py"]
    assert modules and features
    # a module is named by its path (``bridge/mqtt.py``) or in backticks (``topics.py``)
    missing = [
        p.name
        for p in modules
        if not re.search(rf"bridge/{re.escape(p.name)}\b|`{re.escape(p.name)}`", text)
    ]
    # a feature is listed under bridge/features/ by its file name alone
    block = text[text.index("bridge/features/") :]
    missing += [
        f"features/{p.name}"
        for p in features
        if not re.search(rf"(?m)^\s+{re.escape(p.name)}\s", block)
    ]
    assert missing == [], "modules docs/architecture.md does not mention"


def test_architecture_names_no_module_that_is_gone() -> None:
    text = _architecture()
    named = set(re.findall(r"\bbridge/([\w/]+\.py)\b", text))
    named |= {f"features/{n}" for n in re.findall(r"(?m)^   ([a-z_]+\.py)\s", text)}
    named |= set(re.findall(r"`([a-z_]+\.py)`", text))
    gone = sorted(n for n in named if not (BRIDGE / n).exists())
    assert gone == [], "docs/architecture.md names modules that do not exist"


def _bridge_modules() -> dict[str, ModuleType]:
    """Every module of the bridge by its short name (``features/state`` for a feature)."""
    found = {}
    for path in [*BRIDGE.glob("*.py"), *(BRIDGE / "features").glob("*.py")]:
        if path.name == "__init__.py":
            continue
        relative = path.relative_to(BRIDGE).with_suffix("")
        dotted = "asic_bridge.bridge." + ".".join(relative.parts)
        found["/".join(relative.parts)] = importlib.import_module(dotted)
    return found


def test_architecture_names_only_what_the_code_has() -> None:
    """The classes, events and ``Class.method`` / ``module.name`` it names exist."""
    text = _architecture()
    modules = _bridge_modules()
    names: dict[str, Any] = {"RecordingPublisher": bridge_fakes.RecordingPublisher}
    for module in modules.values():
        names.update(vars(module))
    camel = set(re.findall(r"\b[A-Z][a-z]+(?:[A-Z][a-z]*)+\b", text))
    assert {"EventBus", "PollSucceeded", "MqttSession"} <= camel  # the extraction works
    unknown = sorted(name for name in camel if name not in names)
    # what "Adding a feature" calls on the parts a feature is handed
    instances = {"session": names["MqttSession"], "requests": names["BridgeRequests"]}
    dotted = re.findall(r"`(?:\w+\.)*?(\w+)\.(\w+)[`(]", text)
    for owner, attribute in dotted:
        if attribute == "py":  # a file name
            continue
        target = modules.get(owner) or instances.get(owner) or names.get(owner)
        if target is None or not hasattr(target, attribute):
            unknown.append(f"{owner}.{attribute}")
    assert unknown == [], "docs/architecture.md names what the code does not have"


def test_every_feature_has_its_own_unit_test_file() -> None:
    """architecture.md's rule: a feature is tested without a broker in its own file."""
    assert "tests/test_bridge_feature_<name>.py" in _architecture()
    features = sorted(p.stem for p in (BRIDGE / "features").glob("*.py") if p.stem != "__init__")
    tests = ROOT / "tests"
    missing = [f for f in features if not (tests / f"test_bridge_feature_{f}.py").exists()]
    assert missing == []
