"""The firmware folder (``firmware: {dir: ...}``): which file a request may name, and which
file is meant for which miner.

A request names a file *in* the folder, never a path: ``..``, separators and absolute names
are refused, so nothing outside the folder can be sent to a miner.  ``<dir>/manifest.json``
lists the images the bridge offers (Home Assistant's update entities), one object each::

    [{"file": "Antminer-S19j-Pro-release-202307.tar.gz", "version": "2023.07.10",
      "firmware": "stock", "model": "Antminer S19j Pro"}]

``firmware`` (the record's firmware family: stock, braiins, vnish, ...) is required; ``make``
and ``model`` narrow it.  Matching ignores case and spaces; the most specific entry wins.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from asic_bridge.bridge.registry import DeviceRecord

MANIFEST = "manifest.json"


class FirmwareFileError(ValueError):
    """A file name or manifest the bridge will not use; the message says why."""


class FirmwareEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str = Field(min_length=1, max_length=255)
    version: str = Field(min_length=1, max_length=64)
    firmware: str = Field(min_length=1, max_length=64)
    make: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=128)


def safe_name(name: object) -> str:
    """``name`` if it is a plain file name inside the folder; else FirmwareFileError."""
    if not isinstance(name, str) or not name.strip():
        raise FirmwareFileError("file must be the name of a file in the firmware folder")
    if (
        len(name) > 255
        or name in (".", "..")
        or ".." in name
        or "/" in name
        or "\\" in name
        or name.startswith("~")
        or any(ord(c) < 32 for c in name)
    ):
        raise FirmwareFileError(
            f"file {name[:60]!r} is not a plain file name in the firmware folder "
            "(no paths, no '..')"
        )
    return name


def resolve(folder: str, name: object) -> Path:
    """The path of the file ``name`` in ``folder``; it must exist there as a regular file."""
    path = Path(folder) / safe_name(name)
    if path.resolve().parent != Path(folder).resolve() or not path.is_file():
        raise FirmwareFileError(f"file {str(name)[:60]!r} is not in the firmware folder")
    return path


def load_manifest(folder: str) -> list[FirmwareEntry]:
    """The folder's manifest (none: an empty list); an invalid one is an error, not ignored."""
    path = Path(folder) / MANIFEST
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise FirmwareFileError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(raw, list):
        raise FirmwareFileError(f"{path}: must be a list of entries")
    try:
        entries = [FirmwareEntry.model_validate(item) for item in raw]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FirmwareFileError(f"{path}: {where}: {first['msg']}") from None
    for entry in entries:
        safe_name(entry.file)
    return entries


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").replace(" ", "").lower() == (b or "").replace(" ", "").lower()


def match(entries: list[FirmwareEntry], record: DeviceRecord) -> FirmwareEntry | None:
    """The entry meant for this miner: its firmware family, then make and model if given."""
    best: tuple[int, FirmwareEntry] | None = None
    for entry in entries:
        if not _same(entry.firmware, record.firmware):
            continue
        if entry.make is not None and not _same(entry.make, record.make):
            continue
        if entry.model is not None and not _same(entry.model, record.model):
            continue
        rank = (entry.make is not None) + 2 * (entry.model is not None)
        if best is None or rank > best[0]:
            best = (rank, entry)
    return best[1] if best else None
