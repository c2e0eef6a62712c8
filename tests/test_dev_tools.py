"""The pre-commit hooks run the same checks as the test scripts, so a commit that passes them
does not fail CI's lint or type check (and the two cannot drift apart)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

#: a lint or type check as the scripts call it: ruff or mypy from one of the project's venvs
CHECK = re.compile(
    r"(\.venvs?/\S*?bin/(?:ruff check|ruff format --check|mypy|python -m mypy)\b[^\n;&|]*)"
)


def _script_checks(name: str) -> set[str]:
    text = (ROOT / "scripts" / name).read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return {" ".join(m.split()) for line in lines for m in CHECK.findall(line)}


def _hooks() -> list[dict[str, object]]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    repos = config["repos"]
    assert [r["repo"] for r in repos] == ["local"], "hooks fetched from the network"
    return [hook for repo in repos for hook in repo["hooks"]]


def test_hooks_run_what_the_test_scripts_run() -> None:
    scripts = _script_checks("test") | _script_checks("test_ha")
    assert any("mypy" in c for c in scripts) and any("ruff check" in c for c in scripts)
    hooks = {" ".join(str(hook["entry"]).split()) for hook in _hooks()}
    assert hooks == scripts


def test_hooks_check_the_whole_tree_with_the_venvs_tools() -> None:
    for hook in _hooks():
        assert hook["language"] == "system", hook["id"]
        # the scripts check whole folders (mypy needs every module of its packages)
        assert hook["pass_filenames"] is False, hook["id"]
