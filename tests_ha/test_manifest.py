"""Static checks hassfest would make: manifest, translations, services, icons, HACS."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml

from custom_components.asic_bridge.const import DOMAIN, TRIGGER_TYPES

ROOT = Path(__file__).resolve().parent.parent
COMPONENT = ROOT / "custom_components" / DOMAIN


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_manifest() -> None:
    manifest = _json(COMPONENT / "manifest.json")
    assert manifest["domain"] == DOMAIN
    assert manifest["dependencies"] == ["mqtt"]
    assert manifest["mqtt"] == ["asic_bridge/bridge/info", "asic_bridge/bridge/+/info"]
    assert manifest["config_flow"] is True
    assert manifest["iot_class"] == "local_push"
    assert manifest["requirements"] == []
    assert manifest["version"]
    hacs = _json(ROOT / "hacs.json")
    assert hacs["name"] and hacs["homeassistant"]


def test_no_daemon_or_pydantic_imports() -> None:
    """The integration runs in HA's Python: never the daemon package, never pydantic."""
    for path in COMPONENT.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                assert root not in ("asic_bridge", "pydantic", "aiomqtt", "paho"), (
                    f"{path.name} imports {name}"
                )


def test_translations_match_strings() -> None:
    assert _json(COMPONENT / "strings.json") == _json(COMPONENT / "translations" / "en.json")


def test_services_documented() -> None:
    services = load_yaml(str(COMPONENT / "services.yaml"))
    strings = _json(COMPONENT / "strings.json")["services"]
    icons = _json(COMPONENT / "icons.json")["services"]
    assert set(services) == set(strings) == set(icons)
    for name, service in services.items():
        for field in (service or {}).get("fields", {}):
            assert field in strings[name]["fields"], f"{name}.{field} has no translation"
    triggers = _json(COMPONENT / "strings.json")["device_automation"]["trigger_type"]
    assert set(triggers) == set(TRIGGER_TYPES)


async def test_services_registered(hass: HomeAssistant, mqtt_mock) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    services = load_yaml(str(COMPONENT / "services.yaml"))
    assert set(hass.services.async_services_for_domain(DOMAIN)) == set(services)
