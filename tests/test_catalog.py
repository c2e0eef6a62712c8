"""The model catalog: data validity, pyasic-compatible names, real firmware strings, load cost."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from asic_bridge import catalog
from asic_bridge.catalog import (
    ALGORITHMS,
    FIRMWARES,
    ModelInfo,
    all_models,
    lookup,
    lookup_whatsminer,
    makes,
    normalize,
)

CATALOG_FILE = Path(catalog.__file__).with_name("models.json")

# pyasic's MinerMake strings (pyasic/device/makes.py). MSK is a firmware on Antminers there.
PYASIC_MAKES = {
    "AntMiner",
    "WhatsMiner",
    "AvalonMiner",
    "Innosilicon",
    "Goldshell",
    "Auradine",
    "ePIC",
    "BitAxe",
    "LuckyMiner",
    "IceRiver",
    "Hammer",
    "VolcMiner",
    "Elphapex",
    "Braiins",
}


def _variants() -> list[ModelInfo]:
    return [m for m in all_models() if m.make == "WhatsMiner" and " " in m.model]


# --- counts -----------------------------------------------------------------------------------


def test_counts() -> None:
    models = all_models()
    assert len(models) >= 300
    assert set(makes()) == PYASIC_MAKES
    assert {m.make for m in models} == PYASIC_MAKES
    assert len(_variants()) >= 200
    per_make = Counter(m.make for m in models)
    assert per_make["AntMiner"] >= 60
    assert per_make["AvalonMiner"] >= 18


def test_all_models_is_cached_and_immutable() -> None:
    assert all_models() is all_models()
    info = all_models()[0]
    with pytest.raises(AttributeError):
        info.model = "x"  # type: ignore[misc]


# --- entry validity ---------------------------------------------------------------------------


@pytest.mark.parametrize("info", all_models(), ids=lambda m: f"{m.make}:{m.model}")
def test_entry_valid(info: ModelInfo) -> None:
    assert info.model and info.model == info.model.strip()
    assert info.algo in ALGORITHMS
    assert info.firmware and set(info.firmware) <= set(FIRMWARES)
    for value in (info.hashboards, info.chips_per_board):
        assert value is None or (isinstance(value, int) and value > 0)
    assert info.fans is None or (isinstance(info.fans, int) and info.fans >= 0)
    assert info.nominal_hashrate is None or info.nominal_hashrate > 0
    assert (info.power_min is None) == (info.power_max is None)
    if info.power_min is not None and info.power_max is not None:
        assert 0 < info.power_min <= info.power_max
    if info.hashboards and info.chips_per_board:
        assert info.expected_chips == info.hashboards * info.chips_per_board
    else:
        assert info.expected_chips is None
    # Every name resolves back to its own entry within its make.
    for name in (info.model, *info.aliases):
        assert lookup(name, make=info.make) is info, name


def test_no_alias_collision_within_a_make() -> None:
    owners: dict[tuple[str, str], str] = {}
    for info in all_models():
        for name in (info.model, *info.aliases):
            key = (info.make, normalize(name))
            assert key[1], name
            assert owners.setdefault(key, info.model) == info.model, (key, info.model)


def test_json_shape() -> None:
    """The file stays the compact hand-editable shape: make -> list of one-line entries."""
    doc = json.loads(CATALOG_FILE.read_text(encoding="utf-8"))
    allowed = {
        "model",
        "aliases",
        "algo",
        "boards",
        "chips",
        "fans",
        "hashrate",
        "power",
        "firmware",
        "variants",
    }
    for make, entries in doc.items():
        if make.startswith("_"):
            continue
        for entry in entries:
            assert set(entry) <= allowed, entry["model"]
            assert "chips" in entry or "variants" in entry, entry["model"]


def test_whatsminer_variants_have_their_own_chips() -> None:
    # Board versions of one base model differ in chips per board; each keeps its own figure.
    m30s_plus = {m.model: m for m in _variants() if m.model.startswith("M30S+ ")}
    assert m30s_plus["M30S+ VE40"].chips_per_board == 156
    assert m30s_plus["M30S+ V20"].chips_per_board == 255
    assert m30s_plus["M30S+ VH60"].chips_per_board == 66
    # Per-variant board overrides survive expansion.
    assert lookup("M30S++ V10") == lookup_whatsminer("M30S++V10")
    info = lookup_whatsminer("M30S++V10")
    assert info is not None and info.hashboards == 4 and info.chips_per_board == 255
    # pyasic's factory key is the display name without spaces, upper-cased.
    for info in _variants():
        assert normalize(info.model) == info.model.replace(" ", "").upper()


# --- lookups of strings real firmwares report ---------------------------------------------------

REPORTED = [
    # Stock Antminer: version Type / get_system_info minertype
    ("Antminer S19j Pro", "AntMiner", "S19j Pro"),
    ("ANTMINER S19J PRO", "AntMiner", "S19j Pro"),
    ("Antminer S21 XP", "AntMiner", "S21 XP"),
    ("Antminer L7 (9500M)", "AntMiner", "L7"),
    ("Antminer L7_I", "AntMiner", "L7"),
    ("Antminer L9_I", "AntMiner", "L9"),
    ("Antminer S19_I", "AntMiner", "S19"),
    ("Antminer S19 Pro Hyd.", "AntMiner", "S19 Pro Hydro"),
    ("Antminer S21+ Hyd", "AntMiner", "S21+ Hydro"),
    ("Antminer S19Pro+", "AntMiner", "S19 Pro+"),
    ("Antminer S19K Pro", "AntMiner", "S19k Pro"),
    ("Antminer BHB68601", "AntMiner", "S21"),
    ("BHB42XXXX", "AntMiner", "S19j Pro+"),
    ("Antminer S19j88NoPIC", "AntMiner", "S19j No PIC"),
    ("Antminer KS5 Pro", "AntMiner", "KS5Pro"),
    ("Antminer E9 Pro", "AntMiner", "E9Pro"),
    ("Antminer L3+", "AntMiner", "L3+"),
    # Braiins OS devdetails (pyasic strips "Bitmain ")
    ("Bitmain Antminer S19XP", "AntMiner", "S19 XP"),
    ("Antminer S19j Pro Plus NoPIC", "AntMiner", "S19j Pro+ No PIC"),
    ("Antminer S19k Pro NoPIC", "AntMiner", "S19k Pro No PIC"),
    ("Braiins Mini Miner BMM 100", "Braiins", "BMM100"),
    ("Braiins Mini Miner BMM 101", "Braiins", "BMM101"),
    # VNish stats Type
    ("Antminer S19(88)", "AntMiner", "S19 No PIC"),
    ("Antminer S19j Pro (88)", "AntMiner", "S19j Pro No PIC"),
    ("Antminer S19j Pro AML", "AntMiner", "S19j Pro"),
    ("Antminer S19j Pro BB", "AntMiner", "S19j Pro"),
    ("Antminer S19 Pro A", "AntMiner", "S19 Pro A"),
    ("Antminer S21 Hydro", "AntMiner", "S21 Hydro"),
    # Hiveon, MSK, ePIC
    ("Antminer S19jPro HIVEON", "AntMiner", "S19j Pro"),
    ("Antminer S19X88 HIVEON", "AntMiner", "S19 No PIC"),
    ("S19-88", "AntMiner", "S19 No PIC"),
    ("Antminer S19j Pro Dual", "AntMiner", "S19j Pro Dual"),
    ("BlockMiner 520i", "ePIC", "BlockMiner 520i"),
    ("BlockMiner ELITE 1.0", "ePIC", "BlockMiner eLITE 1.0"),
    # Avalon version PROD/MODEL as pyasic composes them
    ("AvalonMiner 1246", "AvalonMiner", "Avalon 1246"),
    ("Avalon1566", "AvalonMiner", "Avalon 1566"),
    ("AVALONMINER 15-194", "AvalonMiner", "Avalon 1566"),
    ("AVALONMINER 1126PRO", "AvalonMiner", "Avalon 1126 Pro"),
    ("AVALONMINER NANO3", "AvalonMiner", "Avalon Nano 3"),
    ("AVALON NANO3S", "AvalonMiner", "Avalon Nano 3s"),
    ("AVALON MINI3", "AvalonMiner", "Avalon Mini 3"),
    ("AVALON Q", "AvalonMiner", "Avalon Q Home"),
    # Others: Goldshell /mcb/status, Innosilicon /api/type, Auradine devdetails, AxeOS ASICModel
    ("Goldshell KDBoxII", "Goldshell", "KD Box II"),
    ("GOLDSHELL MINIDOGE", "Goldshell", "Mini Doge"),
    ("Goldshell KDMax", "Goldshell", "KD Max"),
    ("T3H+", "Innosilicon", "T3H+"),
    ("A11MX", "Innosilicon", "A11MX"),
    ("AT1500", "Auradine", "AT1500"),
    ("AI3680", "Auradine", "AI3680"),
    ("BM1366", "BitAxe", "Ultra"),
    ("BM1368", "BitAxe", "Supra"),
    ("BM1397", "BitAxe", "Max"),
    ("BM1370", "BitAxe", "Gamma"),
    ("LV08", "LuckyMiner", "LV08"),
    ("KS0", "IceRiver", "KS0"),
    ("KS5L", "IceRiver", "KS5L"),
    ("10306", "IceRiver", "AL3"),
    ("Hammer D10", "Hammer", "D10"),
    ("VolcMiner D1", "VolcMiner", "D1"),
    ("DG1+", "Elphapex", "DG1+"),
    ("DG1-Home", "Elphapex", "DG1Home"),
    # Whatsminer devdetails through the generic lookup
    ("M30S+_VE41", "WhatsMiner", "M30S+ VE40"),
    ("WhatsMiner M50S VH50", "WhatsMiner", "M50S VH50"),
]


@pytest.mark.parametrize(("raw", "make", "model"), REPORTED)
def test_lookup_reported_strings(raw: str, make: str, model: str) -> None:
    info = lookup(raw)
    assert info is not None, raw
    assert (info.make, info.model) == (make, model)


@pytest.mark.parametrize(
    ("raw", "model"),
    [
        ("M30S+_VE41", "M30S+ VE40"),
        ("M30S+VE40", "M30S+ VE40"),
        ("M50.VH60", "M50 VH60"),
        ("M50_VH64", "M50 VH60"),
        ("M30S++V20", "M30S++ V20"),
        ("M31SE_V10", "M31SE V10"),
        ("M30S++_VH100", "M30S++ VH100"),
        ("M60_VK6A", "M60 VK6A"),
        ("M63S_VL50", "M63S VL50"),
        ("M70_VM30", "M70 VM30"),
        ("M32S", "M32S"),
        # unknown board version: the base model, chips unknown
        ("M30S+_VZ10", "M30S+"),
        ("M60S_VQ99", "M60S"),
    ],
)
def test_lookup_whatsminer(raw: str, model: str) -> None:
    info = lookup_whatsminer(raw)
    assert info is not None, raw
    assert info.make == "WhatsMiner"
    assert info.model == model


def test_whatsminer_base_fallback_keeps_board_facts() -> None:
    info = lookup_whatsminer("M53S_VX30")
    assert info is not None and info.model == "M53S"
    assert info.chips_per_board is None and info.expected_chips is None
    assert info.hashboards == 4 and info.fans == 0 and info.algo == "SHA256"


def test_make_resolves_shared_names() -> None:
    assert lookup("KS5").make == "AntMiner"  # type: ignore[union-attr]
    assert lookup("KS5", make="IceRiver").make == "IceRiver"  # type: ignore[union-attr]
    assert lookup("KS5", make="iceriver").make == "IceRiver"  # type: ignore[union-attr]
    assert lookup("IceRiver KS3").make == "IceRiver"  # type: ignore[union-attr]
    assert lookup("Antminer KS3", make="IceRiver").make == "IceRiver"  # type: ignore[union-attr]
    # make is a preference, not a filter: a name only one make has still resolves.
    assert lookup("Antminer S19j Pro", make="ePIC").model == "S19j Pro"  # type: ignore[union-attr]
    assert lookup("S19", make="not a make").model == "S19"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "Antminer",
        "AvalonMiner ",
        "()",
        "(88)",
        "Antminer S99 Ultra",
        "M99S_VZ10",
        "M",
        "\x00\xff\ufffd",
        "x" * 100_000,
        "Antminer S19j Pro" * 50,
        None,
        123,
        b"Antminer S19",
    ],
)
def test_garbage_gives_none(raw: object) -> None:
    assert lookup(raw) is None  # type: ignore[arg-type]
    assert lookup_whatsminer(raw) is None  # type: ignore[arg-type]
    assert normalize(raw) in ("", normalize(str(raw)))  # type: ignore[arg-type]


def test_normalize() -> None:
    assert normalize("Antminer S19j Pro") == "S19JPRO"
    assert normalize("ANTMINER S19 PRO HYD.") == normalize("S19 Pro Hydro")
    assert normalize("Antminer S19 (88)") == "S19NOPIC"
    assert normalize("Antminer L7 (9500M)") == "L7"
    assert normalize("Antminer S19j Pro AML") == "S19JPRO"
    assert normalize("M30S+_VE40") == "M30S+VE40"
    assert normalize("Bitmain Antminer S19 XP") == "S19XP"
    assert normalize(None) == ""  # type: ignore[arg-type]


def test_lookup_is_dict_access() -> None:
    # Every name of every entry is a key of the per-make index (no scanning at lookup time).
    by_make: dict[str, set[str]] = defaultdict(set)
    for info in all_models():
        by_make[info.make].add(normalize(info.model))
    for make, keys in by_make.items():
        assert keys <= set(catalog._catalog().by_make[make])
