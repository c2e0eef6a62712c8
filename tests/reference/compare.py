"""Run pyasic (in its own venv, as a subprocess) and compare its reading with ours.

pyasic was written against real hardware, so when it reads one of our simulated miners the
same way we do, the simulator is faithful and our driver agrees with the reference.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from asic_bridge.data import MinerData

ROOT = Path(__file__).resolve().parents[2]
PYASIC_PYTHON = ROOT / ".venvs" / "pyasic" / "bin" / "python"
PROBE = Path(__file__).with_name("pyasic_probe.py")


def pyasic_available() -> bool:
    return PYASIC_PYTHON.exists()


def run_pyasic(
    hosts: list[str],
    *,
    timeout: float = 3.0,
    data: bool = True,
    exclude: tuple[str, ...] = (),
) -> dict[str, Any]:
    """pyasic's view of each host: ``{ip: summary}`` (see pyasic_probe.py for the keys).

    ``exclude`` names pyasic data options to leave out of its ``get_data`` (for a parser of
    pyasic's that aborts the whole reading on a faithful answer; say why where it is used).
    """
    if not pyasic_available():
        raise RuntimeError(
            f"pyasic venv missing at {PYASIC_PYTHON}; run scripts/setup --test to create it"
        )
    cmd = [str(PYASIC_PYTHON), str(PROBE), "--timeout", str(timeout)]
    if not data:
        cmd.append("--no-data")
    for name in exclude:
        cmd += ["--exclude", name]
    proc = subprocess.run([*cmd, *hosts], capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise RuntimeError(f"pyasic probe failed with exit code {proc.returncode}")
    result = json.loads(proc.stdout)
    return {m["ip"]: m for m in result["miners"]}


def _close(a: float | None, b: float | None, rel: float) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-6)


def differences(
    ours: MinerData,
    theirs: dict[str, Any],
    *,
    rel: float = 0.01,
    skip: frozenset[str] = frozenset(),
) -> list[str]:
    """Every field where pyasic and asic_bridge disagree, as readable lines.

    ``skip`` names fields the caller documents as a known pyasic defect (with the reason
    in the test).
    """
    diffs: list[str] = []

    def check(name: str, equal: bool, a: Any, b: Any) -> None:
        if name not in skip and not equal:
            diffs.append(f"{name}: asic_bridge={a!r} pyasic={b!r}")

    for name in ("make", "model", "firmware", "mac", "hostname", "is_mining", "fault_light"):
        a, b = getattr(ours, name), theirs.get(name)
        if name == "mac" and isinstance(a, str) and isinstance(b, str):
            a, b = a.lower(), b.lower()
        check(name, a == b, a, b)
    for name in ("hashrate", "expected_hashrate"):
        a, b = getattr(ours, name), theirs.get(name)
        check(name, _close(a, b, rel), a, b)
    check("wattage", ours.wattage == theirs.get("wattage"), ours.wattage, theirs.get("wattage"))
    fans = [f.speed for f in ours.fans]
    check("fans", fans == theirs.get("fans"), fans, theirs.get("fans"))
    boards = theirs.get("hashboards") or []
    check(
        "hashboards.count", len(ours.hashboards) == len(boards), len(ours.hashboards), len(boards)
    )
    for mine, ref in zip(ours.hashboards, boards, strict=False):
        slot = ref.get("slot")
        check(
            f"hashboards[{slot}].hashrate",
            _close(mine.hashrate, ref.get("hashrate"), rel),
            mine.hashrate,
            ref.get("hashrate"),
        )
        for key in ("temp", "chip_temp", "chips"):
            a, b = getattr(mine, key), ref.get(key)
            equal = _close(float(a), float(b), 1e-6) if a is not None and b is not None else a == b
            check(f"hashboards[{slot}].{key}", equal, a, b)
    ref_pools = theirs.get("pools") or []
    check("pools.count", len(ours.pools) == len(ref_pools), len(ours.pools), len(ref_pools))
    for mine_pool, ref_pool in zip(ours.pools, ref_pools, strict=False):
        for key in ("url", "user", "accepted", "rejected", "active", "alive"):
            a, b = getattr(mine_pool, key), ref_pool.get(key)
            check(f"pools[{mine_pool.index}].{key}", a == b, a, b)
    return diffs


T = TypeVar("T")


class BackgroundLoop:
    """An event loop in a thread, so simulators keep answering while pyasic (a subprocess
    the test waits for) reads them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def frozen_clock(moment: float) -> Callable[[], float]:
    """A clock that stands still, so pyasic and asic_bridge read the very same numbers."""
    return lambda: moment
