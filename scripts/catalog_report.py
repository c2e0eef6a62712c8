"""Print what the model catalog holds (per make, algorithm, firmware) and its cold load time.

Run: .venv/bin/python scripts/catalog_report.py

The load time is measured in fresh interpreters (best of five) that load only the catalog module,
so it reflects the catalog's own cost, not whatever the rest of the package imports.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asic_bridge.catalog import ALGORITHMS, all_models, makes  # noqa: E402

CATALOG_INIT = ROOT / "asic_bridge" / "catalog" / "__init__.py"

_COLD = """
import importlib.util, sys, time
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("_catalog_cold", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
sys.modules["_catalog_cold"] = mod
spec.loader.exec_module(mod)
t1 = time.perf_counter()
mod.all_models()
t2 = time.perf_counter()
print((t1 - t0) * 1000, (t2 - t1) * 1000)
"""


def cold_load_ms(runs: int = 5) -> tuple[float, float]:
    """Best (import ms, parse+index ms) over several fresh interpreters."""
    best = (float("inf"), float("inf"))
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _COLD, str(CATALOG_INIT)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        run = (float(out[0]), float(out[1]))
        if sum(run) < sum(best):
            best = run
    return best


def _table(title: str, counts: Counter[str], order: list[str] | None = None) -> None:
    print(f"\n{title}")
    keys = order if order is not None else sorted(counts, key=lambda k: (-counts[k], k))
    for key in keys:
        print(f"  {key:<14} {counts[key]:>4}")


def main() -> None:
    models = all_models()
    variants = [m for m in models if m.make == "WhatsMiner" and " " in m.model]
    print(f"models: {len(models)} (WhatsMiner board versions: {len(variants)})")
    _table("per make", Counter(m.make for m in models), list(makes()))
    algo_counts = Counter(m.algo for m in models)
    print("\nper algorithm (default unit)")
    for algo, unit in ALGORITHMS.items():
        print(f"  {algo:<14} {algo_counts[algo]:>4}  {unit}")
    _table("per firmware", Counter(fw for m in models for fw in m.firmware))
    known = sum(m.nominal_hashrate is not None for m in models)
    chips = sum(m.expected_chips is not None for m in models)
    print(f"\nwith nominal hashrate: {known}; with expected chips: {chips}")
    imported, loaded = cold_load_ms()
    print(
        f"\ncold load: import {imported:.1f} ms + parse/index {loaded:.1f} ms "
        f"= {imported + loaded:.1f} ms"
    )


if __name__ == "__main__":
    main()
