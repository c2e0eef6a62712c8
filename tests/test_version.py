"""The version is written once, in ``asic_bridge/__init__.py``: the package metadata reads it
(pyproject's dynamic version), and everything that shows a version must say the same."""

from __future__ import annotations

import json
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

from asic_bridge import __version__
from asic_bridge.bridge.entities import bridge_controls, bridge_discovery
from asic_bridge.bridge.topics import Topics

ROOT = Path(__file__).resolve().parent.parent


def test_pyproject_reads_the_version_from_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"], "a second copy of the version in pyproject"
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "asic_bridge.__version__"}


def test_installed_metadata_has_the_package_version() -> None:
    # scripts/setup installs the package (editable): its metadata came from __version__
    assert version("asic-bridge") == __version__


def test_the_version_is_a_plain_literal() -> None:
    # setuptools reads the attribute statically (without importing the package and its
    # dependencies) only when it is a literal assignment
    source = (ROOT / "asic_bridge" / "__init__.py").read_text(encoding="utf-8")
    assert re.findall(r'(?m)^__version__ = "([^"]+)"$', source) == [__version__]


def test_home_assistant_manifest_has_the_same_version() -> None:
    manifest = ROOT / "custom_components" / "asic_bridge" / "manifest.json"
    assert json.loads(manifest.read_text(encoding="utf-8"))["version"] == __version__


def test_the_bridge_device_shows_the_package_version() -> None:
    topics = Topics("asic_bridge")
    configs = {**bridge_discovery(topics), **bridge_controls(topics)}
    assert {config["device"]["sw_version"] for config in configs.values()} == {__version__}


def test_changelog_names_no_other_released_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"(?m)^## \[([^\]]+)\]", text)
    assert headings and headings[0] == "Unreleased"
    released = headings[1:]
    if released:  # the newest release is the version the package says it is
        assert released[0] == __version__
