"""Cost of parsing one CGMiner-style RPC answer (the fast path every poll takes).

    .venv/bin/python bench/rpc_parse.py [--runs 2000]

Prints microseconds per parse of a 200-key STATS answer (best of five rounds).  A figure, not
a pass/fail test: the design rule is tens of microseconds per poll.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asic_bridge.transport.rpc import parse_rpc_payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    runs = parser.parse_args().runs
    raw = json.dumps({"STATS": [{f"chain_rate{i}": 1.0 * i for i in range(200)}]}).encode()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(runs):
            parse_rpc_payload(raw)
        best = min(best, (time.perf_counter() - start) / runs)
    print(f"parse_rpc_payload, 200-key STATS answer: {best * 1e6:.1f} us per call")


if __name__ == "__main__":
    main()
