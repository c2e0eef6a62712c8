"""The miner model catalog: static facts about each model, kept as data in ``models.json``.

Drivers identify a miner by the model string its firmware reports; the catalog turns that string
into the facts pyasic hard-codes per class (boards, chips per board, fans, algorithm) plus the
nominal hashrate and power from the manufacturer's sheet. Keeping it as one JSON file means a new
model is a one-line data change, not a new class.

Lookups are forgiving about spelling (case, separators, make prefixes, firmware build notes) and
never raise: an unknown model gives ``None`` and the caller keeps the raw name and the firmware's
own algorithm, so units never change silently.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "ALGORITHMS",
    "FIRMWARES",
    "ModelInfo",
    "all_models",
    "lookup",
    "lookup_whatsminer",
    "makes",
    "normalize",
]

#: Algorithm name -> its default hashrate unit (the unit ``nominal_hashrate`` is in).  The one
#: table for the whole package: ``asic_bridge.data.hashrate`` re-exports it.  It lives here so the
#: catalog stays importable on its own (no pydantic), which keeps its cold load cheap.
ALGORITHMS: dict[str, str] = {
    "SHA256": "TH/s",
    "Scrypt": "GH/s",
    "X11": "GH/s",
    "kHeavyHash": "TH/s",
    "Eaglesong": "TH/s",
    "Blake256": "TH/s",
    "Handshake": "TH/s",
    "Kadena": "TH/s",
    "EtHash": "MH/s",
    "Equihash": "KH/s",
    "zkSNARK": "GH/s",
    "BlockFlow": "MH/s",
}

#: Firmware family ids a catalog entry may name (one driver module per family).
FIRMWARES: tuple[str, ...] = (
    "stock",
    "bos",
    "vnish",
    "luxos",
    "epic",
    "hiveon",
    "marafw",
    "espminer",
    "auradine",
    "goldshell",
    "innosilicon",
    "iceriver",
    "avalon",
    "hammer",
    "elphapex",
    "whatsminer",
    "msk",
)

_DATA_FILE = Path(__file__).with_name("models.json")

# Longer than any real model string; bounds the work done on garbage input.
_MAX_RAW_LEN = 200

# Leading words that name the make, not the model (matched after separators are removed, longest
# first), and the make each one implies.
_PREFIX_MAKES: tuple[tuple[str, str], ...] = tuple(
    sorted(
        {
            "BITMAIN": "AntMiner",
            "ANTMINER": "AntMiner",
            "WHATSMINER": "WhatsMiner",
            "MICROBT": "WhatsMiner",
            "AVALONMINER": "AvalonMiner",
            "AVALON": "AvalonMiner",
            "CANAAN": "AvalonMiner",
            "BRAIINSMINIMINER": "Braiins",
            "BRAIINS": "Braiins",
            "BITAXE": "BitAxe",
            "LUCKYMINER": "LuckyMiner",
            "GOLDSHELL": "Goldshell",
            "ICERIVER": "IceRiver",
            "AURADINE": "Auradine",
            "INNOSILICON": "Innosilicon",
            "ELPHAPEX": "Elphapex",
            "HAMMER": "Hammer",
            "VOLCMINER": "VolcMiner",
        }.items(),
        key=lambda kv: -len(kv[0]),
    )
)

# Names a caller may use for a make besides pyasic's own strings (matched upper-cased).
_MAKE_SYNONYMS: dict[str, str] = {
    "BITMAIN": "AntMiner",
    "MICROBT": "WhatsMiner",
    "AVALON": "AvalonMiner",
    "CANAAN": "AvalonMiner",
}

_NOPIC_RE = re.compile(r"\(\s*88\s*\)")
_PAREN_RE = re.compile(r"\([^)]*\)")
_NOISE_RE = re.compile(r"\b(?:AML|HIVEON)\b")
_HYDRO_RE = re.compile(r"\bHYDRO\b")
_PLUS_RE = re.compile(r"\s*\bPLUS\b")
_SUFFIX_I_RE = re.compile(r"_I\s*$")
_SEP_RE = re.compile(r"[\s_\-.]+")
# Whatsminer "<base><board version>", e.g. M30S+ + VE40, M31SE + V10, M60 + VK6A.
_WM_RE = re.compile(r"^(M\d+[A-Z]*?\+*)(V[A-Z]?\d[0-9A-Z]*)$")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Static facts about one miner model (or one Whatsminer board version)."""

    make: str
    model: str
    algo: str
    hashboards: int | None
    chips_per_board: int | None
    fans: int | None
    nominal_hashrate: float | None
    power_min: int | None
    power_max: int | None
    firmware: tuple[str, ...]
    aliases: tuple[str, ...]

    @property
    def expected_chips(self) -> int | None:
        """Total chips a healthy miner reports; ``None`` when either factor is unknown."""
        if self.hashboards is None or self.chips_per_board is None:
            return None
        return self.hashboards * self.chips_per_board


@dataclass(frozen=True, slots=True)
class _Catalog:
    models: tuple[ModelInfo, ...]
    makes: tuple[str, ...]
    by_make: dict[str, dict[str, ModelInfo]]
    anywhere: dict[str, ModelInfo]
    make_keys: dict[str, str]


@lru_cache(maxsize=2048)
def _split(raw: str) -> tuple[str, str | None]:
    """Return (lookup key, make implied by a stripped prefix)."""
    s = raw.upper()
    # VNish writes "(88)" for boards without PIC; pyasic turns it into NOPIC.
    s = _NOPIC_RE.sub(" NOPIC ", s)
    # Other parentheses are build notes: "L7 (9500M)", "S19j Pro (104T)".
    s = _PAREN_RE.sub(" ", s).split("(", 1)[0]
    s = _NOISE_RE.sub(" ", s)
    s = _HYDRO_RE.sub("HYD", s)
    s = _PLUS_RE.sub("+", s)
    s = _SUFFIX_I_RE.sub("", s.strip())
    s = _SEP_RE.sub("", s)
    hint: str | None = None
    stripped = True
    while stripped:
        stripped = False
        for prefix, make in _PREFIX_MAKES:
            if s.startswith(prefix):
                # A bare make name ("Antminer") is left alone: it names no model.
                if len(s) > len(prefix):
                    s = s[len(prefix) :]
                    hint = hint or make
                    stripped = True
                break
    return s, hint


def normalize(raw: str) -> str:
    """Reduce a reported model string to its lookup key ("" for anything unusable).

    Upper-cases, drops spaces/``_``/``-``/``.``, make prefixes ("Antminer ", "WhatsMiner ",
    "AvalonMiner ", "Bitmain ", ...), build notes in parentheses, " AML", " HIVEON", a trailing
    "_I"; maps "(88)" to NOPIC, "HYDRO" to "HYD" and "PLUS" to "+".
    """
    if not isinstance(raw, str) or not raw or len(raw) > _MAX_RAW_LEN:
        return ""
    return _split(raw)[0]


def _power(value: Any) -> tuple[int | None, int | None]:
    if value is None:
        return None, None
    if isinstance(value, list):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _entry_infos(make: str, entry: dict[str, Any]) -> list[ModelInfo]:
    """One ModelInfo for a plain entry; base + one per board version for a Whatsminer entry."""
    pmin, pmax = _power(entry.get("power"))
    hashrate = entry.get("hashrate")
    base = ModelInfo(
        make=make,
        model=entry["model"],
        algo=entry["algo"],
        hashboards=entry.get("boards"),
        chips_per_board=entry.get("chips"),
        fans=entry.get("fans"),
        nominal_hashrate=None if hashrate is None else float(hashrate),
        power_min=pmin,
        power_max=pmax,
        firmware=tuple(entry.get("firmware", ())),
        aliases=tuple(entry.get("aliases", ())),
    )
    infos = [base]
    for version, spec in entry.get("variants", {}).items():
        over: dict[str, Any] = spec if isinstance(spec, dict) else {"chips": spec}
        infos.append(
            ModelInfo(
                make=make,
                model=f"{base.model} {version}",
                algo=base.algo,
                hashboards=over.get("boards", base.hashboards),
                chips_per_board=over.get("chips"),
                fans=over.get("fans", base.fans),
                nominal_hashrate=base.nominal_hashrate,
                power_min=base.power_min,
                power_max=base.power_max,
                firmware=base.firmware,
                aliases=tuple(over.get("aliases", ())),
            )
        )
    return infos


@cache
def _catalog() -> _Catalog:
    """Parse models.json and build the indexes, once per process."""
    with _DATA_FILE.open("rb") as fh:
        doc: dict[str, Any] = json.load(fh)
    models: list[ModelInfo] = []
    by_make: dict[str, dict[str, ModelInfo]] = {}
    anywhere: dict[str, ModelInfo] = {}
    make_keys: dict[str, str] = dict(_MAKE_SYNONYMS)
    for make, entries in doc.items():
        if make.startswith("_"):
            continue
        index = by_make.setdefault(make, {})
        make_keys[make.upper()] = make
        for entry in entries:
            for info in _entry_infos(make, entry):
                models.append(info)
                for name in (info.model, *info.aliases):
                    key = _split(name)[0]
                    index.setdefault(key, info)
                    anywhere.setdefault(key, info)
    return _Catalog(tuple(models), tuple(by_make), by_make, anywhere, make_keys)


def _whatsminer(key: str, index: dict[str, ModelInfo]) -> ModelInfo | None:
    """Match a normalised Whatsminer key the way pyasic does, then fall back to the base model."""
    found = index.get(key)
    if found is not None:
        return found
    # pyasic replaces the board version's last digit with 0 (VE41 -> VE40).
    found = index.get(key[:-1] + "0")
    if found is not None:
        return found
    m = _WM_RE.match(key)
    return index.get(m.group(1)) if m else None


def lookup(raw: str, make: str | None = None) -> ModelInfo | None:
    """Find a model by any reported spelling; ``None`` when unknown.

    ``make`` (a pyasic make string, case-insensitive) is a preference that resolves names two
    makes share (Antminer KS5 vs IceRiver KS5); a make prefix in ``raw`` does the same.
    """
    if not normalize(raw):
        return None
    key, hint = _split(raw)
    cat = _catalog()
    preferred = cat.make_keys.get(make.upper()) if isinstance(make, str) else None
    preferred = preferred or hint
    if preferred is not None:
        found = cat.by_make.get(preferred, {}).get(key)
        if found is not None:
            return found
    found = cat.anywhere.get(key)
    if found is not None:
        return found
    if preferred in (None, "WhatsMiner") and key[:1] == "M":
        return _whatsminer(key, cat.by_make.get("WhatsMiner", {}))
    return None


def lookup_whatsminer(raw: str) -> ModelInfo | None:
    """Resolve a Whatsminer ``devdetails`` Model such as "M30S+_VE41" or "M50.VH60".

    Exact board version first, then pyasic's rule (last character -> "0"), then the base model
    without a board version (chips per board unknown) so boards, fans and algorithm still resolve.
    """
    key = normalize(raw)
    if not key:
        return None
    return _whatsminer(key, _catalog().by_make.get("WhatsMiner", {}))


def all_models() -> tuple[ModelInfo, ...]:
    """Every catalog entry, Whatsminer base models and board versions included, in file order."""
    return _catalog().models


def makes() -> tuple[str, ...]:
    """The make strings present in the catalog, in file order (AntMiner first)."""
    return _catalog().makes
