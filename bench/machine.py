"""Facts about the machine a figure was measured on, and per-process CPU time.

Every benchmark prints these beside its figures: a CPU time per poll means little without
the CPU it ran on, the Python that ran it and how busy the machine was meanwhile.  CPU time
is the process's user + system time from ``/proc/<pid>/stat`` (Linux), never wall time.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Cpu:
    """User and system CPU seconds of one process."""

    user: float
    sys: float

    @property
    def total(self) -> float:
        return self.user + self.sys

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.user - other.user, self.sys - other.sys)

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(self.user + other.user, self.sys + other.sys)


def cpu_of(pid: int) -> Cpu:
    """User + system time of a live process (its own, not its children's)."""
    # the command name may hold spaces or ')': the fields start after the last ')'
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return Cpu(int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def python_version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "unknown"


def reference_loop_ms() -> float:
    """CPU time of a fixed pure-Python loop, in this interpreter: the same model of CPU can
    run a third slower or faster from one hour to the next on a shared VM (frequency, the
    host's other tenants), and this shows it beside the figures."""
    started = time.process_time()
    total = 0
    for i in range(3_000_000):
        total += i * i
    return (time.process_time() - started) * 1000


def describe(**pythons: str) -> str:
    """One line per fact: CPU model, cores usable/present, kernel, the reference loop, each
    named Python, the load average."""
    usable = len(os.sched_getaffinity(0))
    lines = [
        f"machine: {cpu_model()}, {usable} cores usable of {os.cpu_count()}, "
        f"Linux {platform.release()}",
        f"reference loop (3M iterations of pure Python, CPU): {reference_loop_ms():.0f} ms",
        *(f"python ({name}): {python_version(path)}" for name, path in pythons.items()),
        f"load average (1/5/15 min) before: {load_average()}",
    ]
    return "\n".join(lines)
