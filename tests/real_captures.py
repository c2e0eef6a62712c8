"""The corpus of real firmware captures: loading, provenance, and the shape comparison.

Layout: ``tests/fixtures/real/<family>/<firmware version>/<command or page>.json`` (``.txt``
for raw bytes), and one ``tests/fixtures/real/<family>/sources.yaml`` that names, for every
capture of that family, where it was published::

    "2.0.3/summary.json":
      source: "github:owner/repo path/in/repo.json @ 0123abc..."   # or an issue / document URL
      note: "what the capture is; what was masked"

Captures are data, committed as they were published except that MAC addresses are masked
into the documentation range ``00:00:5E:00:53:xx`` (RFC 7042) and serials replaced
consistently.  A simulator kind built from a capture must answer the same request with the
same shape (:func:`shape_diff`): the same keys at every level, the same JSON value types.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from asic_bridge import catalog
from asic_bridge.drivers.base import Identity, ParseContext

REAL = Path(__file__).parent / "fixtures" / "real"
SOURCES_FILE = "sources.yaml"


def families() -> list[str]:
    return sorted(p.name for p in REAL.iterdir() if p.is_dir())


def capture_files(family: str | None = None) -> list[Path]:
    """Every capture file (sources files excluded), optionally of one family."""
    roots = [REAL / family] if family else [REAL / f for f in families()]
    return sorted(
        p for root in roots for p in root.rglob("*") if p.is_file() and p.name != SOURCES_FILE
    )


@cache
def sources(family: str) -> dict[str, dict[str, str]]:
    """The provenance table of one family: relative capture path -> {source, note}."""
    path = REAL / family / SOURCES_FILE
    if not path.exists():
        return {}
    table = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(table, dict):
        raise ValueError(f"{path}: expected a mapping of capture path -> {{source, note}}")
    return table


def load(family: str, version: str, name: str) -> Any:
    """One capture: parsed JSON for ``.json`` files, the text itself otherwise."""
    path = REAL / family / version / name
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else text


# ----------------------------------------------------------------------------- shapes
def json_type(value: Any) -> str:
    """The JSON type of a decoded value; ``int`` and ``float`` are distinct (firmwares differ)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def shape_diff(
    capture: Any, answer: Any, *, ignore: Iterable[str] = (), path: str = "$"
) -> list[str]:
    """How ``answer`` differs in shape from ``capture``: missing or invented keys, other types.

    Lists are compared element-wise against the capture's elements (the first one stands for
    the rest when the answer is longer); their lengths may differ (boards, fans, pools vary by
    model).  ``ignore`` holds paths (``$.STATS[].chain_acn1``; ``[]`` for any list index) whose
    difference is known and explained at the call site.
    """
    ignored = set(ignore)
    return _diff(capture, answer, ignored, path)


def _diff(capture: Any, answer: Any, ignored: set[str], path: str) -> list[str]:
    if path in ignored:
        return []
    ctype, atype = json_type(capture), json_type(answer)
    if ctype != atype:
        return [f"{path}: capture has {ctype}, answer has {atype}"]
    problems: list[str] = []
    if ctype == "object":
        for key in capture.keys() - answer.keys():
            if f"{path}.{key}" not in ignored:
                problems.append(f"{path}.{key}: missing in answer")
        for key in answer.keys() - capture.keys():
            if f"{path}.{key}" not in ignored:
                problems.append(f"{path}.{key}: invented by answer (not in capture)")
        for key in capture.keys() & answer.keys():
            problems += _diff(capture[key], answer[key], ignored, f"{path}.{key}")
    elif ctype == "list" and capture and answer:
        for index, item in enumerate(answer):
            problems += _diff(capture[min(index, len(capture) - 1)], item, ignored, f"{path}[]")
    return problems


def assert_same_shape(capture: Any, answer: Any, *, ignore: Iterable[str] = ()) -> None:
    """Fail with every difference listed (not only the first)."""
    problems = shape_diff(capture, answer, ignore=ignore)
    assert not problems, "simulator answer differs from the real capture:\n  " + "\n  ".join(
        sorted(set(problems))
    )


async def rpc_answers(spec: str, *commands: str) -> list[Any]:
    """Start a simulator spec (``kind[:version]@address``), send each RPC command on its
    ``rpc`` port, stop it; the decoded answers in order."""
    from asic_bridge import sim
    from asic_bridge.transport.rpc import RPCClient

    s = sim.create(spec)
    await s.start()
    try:
        client = RPCClient(s.address, s.ports["rpc"])
        return [await client.send(command) for command in commands]
    finally:
        await s.stop()


def parse_context(make: str, model: str | None, algo: str) -> ParseContext:
    """A driver ParseContext for ``make``/``model`` (the catalog's entry when it has one), as
    identification would build it; for parser tests on captures."""
    info = catalog.lookup(model, make=make) if model else None
    ident = Identity(ip="127.0.0.1", make=make, firmware="Stock", algo=algo, model_info=info)
    return ParseContext(algo, info, ident)


# ----------------------------------------------------------------------------- API documents
def openapi_schema(doc: Any, name: str) -> tuple[dict[str, Any], set[str]]:
    """The properties and required keys of schema ``name`` of an OpenAPI document a firmware
    serves (``allOf`` parts and ``$ref`` followed)."""
    schema = doc["components"]["schemas"][name]
    props: dict[str, Any] = {}
    required: set[str] = set()
    for part in schema.get("allOf", [schema]):
        if "$ref" in part:
            more, need = openapi_schema(doc, part["$ref"].rsplit("/", 1)[-1])
            props.update(more)
            required |= need
        props.update(part.get("properties", {}))
        required |= set(part.get("required", []))
    return props, required


def openapi_problems(doc: Any, name: str, value: Any) -> list[str]:
    """Keys the document requires that ``value`` lacks, and keys of ``value`` it does not name."""
    props, required = openapi_schema(doc, name)
    return [f"{name}.{k}: required, missing" for k in sorted(required - value.keys())] + [
        f"{name}.{k}: not in the document" for k in sorted(value.keys() - props.keys())
    ]
