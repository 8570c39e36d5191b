"""Measuring: the closed load loop and its latency figures, the machine a run is on, and the
main every benchmark shares (arguments, a temporary folder whose servers are stopped on
the way out, the report, ``--json``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shlex
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["Measurement", "machine", "memory_kib", "merge", "run_benchmark", "run_load"]


@dataclass(slots=True)
class Measurement:
    """Latencies of one path, in milliseconds, and the wall time they took."""

    name: str
    requests: int
    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: int) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[p - 1]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.latencies_ms)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requests": self.requests,
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 4),
            "rps": round(self.rps, 2),
            "p50_ms": round(self.p50, 3),
            "p99_ms": round(self.p99, 3),
            "mean_ms": round(self.mean, 3),
        }


async def run_load(
    name: str, once: Callable[[], Awaitable[None]], requests: int, concurrency: int
) -> Measurement:
    """*requests* calls of *once*, at most *concurrency* at a time (closed loop)."""
    remaining = requests
    latencies: list[float] = []

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            await once()
            latencies.append((time.perf_counter() - start) * 1000.0)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))
    return Measurement(name, requests, concurrency, time.perf_counter() - started, latencies)


def merge(name: str, parts: Sequence[Measurement], concurrency: int | None = None) -> Measurement:
    """The rounds of one path as one measurement: their requests, time and latencies (at
    *concurrency*, default the first round's)."""
    return Measurement(
        name,
        sum(p.requests for p in parts),
        parts[0].concurrency if concurrency is None else concurrency,
        sum(p.seconds for p in parts),
        [ms for p in parts for ms in p.latencies_ms],
    )


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def machine() -> dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "nproc": usable or os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        # Load average (1, 5, 15 min) as the run ends: other work shares the machine.
        "load": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "packages": {
            d: _version(d)
            for d in (
                "pymongo",
                "pymongocrypt",
                "strawberry-graphql",
                "starlette",
                "uvicorn",
                "httpx",
                "orjson",
            )
        },
    }


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_benchmark(
    module: str,
    argv: Sequence[str] | None,
    parse: Callable[[Sequence[str] | None], Any],
    run: Callable[[Any, Path, contextlib.ExitStack], Any],
    report: Callable[[str, dict[str, Any], Any, Any], dict[str, Any]],
) -> int:
    """The shared main of every benchmark: parse arguments, run in a temporary folder whose
    servers are stopped on the way out (also on SIGTERM and Ctrl-C), print the report and
    optionally write it as JSON (``--json PATH``)."""
    args = parse(argv)
    command = shlex.join(
        ["uv", "run", "python", "-m", module, *(sys.argv[1:] if argv is None else argv)]
    )
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="enclave-bench-") as tmp,
            contextlib.ExitStack() as cleanup,
        ):
            results = run(args, Path(tmp), cleanup)
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130
    figures = report(command, machine(), args, results)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
        print(f"\nwrote {args.json}")
    return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of the largest process in the group our child leads (the gateway's
    Python process under ``uv run``)."""
    best: dict[str, int] = {"VmRSS": 0, "VmHWM": 0}
    for member in _descendants(pid):
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{member}/status").read_text().splitlines()
            values = {
                k: int(v.split()[0])
                for k, _, v in (line.partition(":") for line in status)
                if k in ("VmRSS", "VmHWM")
            }
            if values.get("VmHWM", 0) > best["VmHWM"]:
                best = {"VmRSS": values.get("VmRSS", 0), "VmHWM": values["VmHWM"]}
    return best
