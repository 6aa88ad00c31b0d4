"""Benchmark: `dbstack generate` and `dbstack recommend` end to end (process start to files written).

    python tests/benchmarks/bench_cli.py [RUNS]        (default: 10)

Reports the median and worst wall time and the peak RSS of the child processes.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DBSTACK = Path(sys.executable).parent / "dbstack"


def measure(args: list[str], runs: int) -> tuple[float, float, float]:
    times = []
    peak = 0.0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            subprocess.run([str(DBSTACK), *args], cwd=tmp, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        # ru_maxrss of the children is the largest any of them reached (KiB on Linux).
        peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return statistics.median(times), max(times), peak


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    print(f"{'command':<44} {'median s':>9} {'worst s':>8} {'peak RSS MB':>12}")
    for args in (
        ["generate"],
        ["generate", "--env", "production", "--use", "cache=redis", "-o", "out"],
        ["recommend"],
        ["recommend", "--format", "json"],
    ):
        median, worst, peak = measure(args, runs)
        print(f"{'dbstack ' + ' '.join(args):<44} {median:>9.3f} {worst:>8.3f} {peak:>12.1f}")


if __name__ == "__main__":
    main()
