"""Latency samples, percentiles, CPU accounting and the printed tables of the benchmarks."""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from dataclasses import dataclass, field

_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list (NaN when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Samples:
    """Latencies (seconds) of successful operations and a count of failures by reason."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0  # wall-clock seconds the run took

    def ok(self, seconds: float) -> None:
        self.latencies.append(seconds)

    def fail(self, reason: str) -> None:
        self.errors[reason] += 1

    def merge(self, other: Samples) -> None:
        self.latencies.extend(other.latencies)
        self.errors.update(other.errors)

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else math.nan

    def pcts(self) -> tuple[float, float, float]:
        s = sorted(self.latencies)
        return percentile(s, 50), percentile(s, 95), percentile(s, 99)

    def line(self, *, rate: bool = True) -> str:
        p50, p95, p99 = self.pcts()
        text = f"{self.name:<34} n={self.count:<6}"
        if rate:
            text += f" {self.throughput:8.1f} ops/s"
        text += f"  p50 {ms(p50)}  p95 {ms(p95)}  p99 {ms(p99)}"
        if self.errors:
            text += "  errors " + ", ".join(f"{k}×{v}" for k, v in sorted(self.errors.items()))
        else:
            text += "  errors 0"
        return text


def ms(seconds: float) -> str:
    return "    n/a" if math.isnan(seconds) else f"{seconds * 1000:7.1f} ms"


def ratio(a: float, b: float) -> str:
    if not b or math.isnan(a) or math.isnan(b):
        return "n/a"
    return f"{a / b:.2f}×"


def ratio_lines(app: Samples, base: Samples) -> list[str]:
    """app / baseline: throughput and each latency percentile."""
    a, b = app.pcts(), base.pcts()
    return [
        f"ratio app/baseline: throughput {ratio(app.throughput, base.throughput)}"
        f"  latency p50 {ratio(a[0], b[0])}  p95 {ratio(a[1], b[1])}  p99 {ratio(a[2], b[2])}",
    ]


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (this one if ``pid`` is None), children excluded."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, IndexError, ValueError):
        return math.nan


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used (every core), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return math.nan
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / _TICKS


class CpuMeter:
    """CPU seconds used by named processes between ``start`` and ``stop`` (2 cores are shared)."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self.before: dict[str, float] = {}
        self.after: dict[str, float] = {}
        self.t0 = self.t1 = 0.0

    def start(self) -> CpuMeter:
        self.before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.machine0 = machine_busy_seconds()
        self.t0 = time.perf_counter()
        return self

    def stop(self) -> CpuMeter:
        self.after = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.machine1 = machine_busy_seconds()
        self.t1 = time.perf_counter()
        return self

    def line(self) -> str:
        wall = self.t1 - self.t0
        parts = [f"{name} {self.after[name] - self.before[name]:.1f}s" for name in self.pids]
        total = sum(self.after[n] - self.before[n] for n in self.pids)
        if not wall:
            return ""
        others = (self.machine1 - self.machine0) - total
        return (f"CPU during {wall:.1f}s wall: " + ", ".join(parts) + f" (= {total / wall:.2f} of {os.cpu_count()} cores;"
                f" other processes on the machine {max(others, 0) / wall:.2f} cores)")
