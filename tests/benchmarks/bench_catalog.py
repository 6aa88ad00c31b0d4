"""Benchmark: `dbstack catalog validate DIR` on a synthetic catalog of N entries, cold and warm.

    python tests/benchmarks/bench_catalog.py [--baseline PATH/TO/dbstack] [--repeat R] [N ...]
                                                             (default: one run each of 250 500 1000 4000)

Each run is a whole `dbstack` process (start, imports, the built-in catalog and DIR, the report); its CPU
time (user + system) and peak RSS come from wait4(2), its wall time from the clock. "cold" is a first run
with an empty cache folder (every entry parsed and checked, and the cache written); "warm" is the run after
it (every file read and hashed, nothing checked again). Targets for 1,000 entries: cold under 1 s, warm
under 0.2 s, under 100 MB; ms per entry about flat from 250 to 4,000 (linear).

With --baseline, another install's `dbstack` (say, a virtualenv of main) validates the same catalogs right
after this one, with a cache folder of its own: its rows are labelled "base". With --repeat, each cold (from
an emptied cache folder) and warm run is made R times and the one with the least CPU time is shown (peak RSS:
the largest of the R), which keeps other people's load on a shared machine out of the figures.

The synthetic entries are copies of the built-in ones with new ids and a unique comment in every template,
so no template is shared between entries (no compile or scan is reused).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DBSTACK = Path(sys.executable).parent / "dbstack"


def make_catalog(folder: Path, count: int) -> None:
    from dbstack.loader.registry import BUILTIN_CATALOG

    originals = sorted(BUILTIN_CATALOG.glob("*.yaml"))
    for index in range(count):
        source = originals[index % len(originals)]
        text = source.read_text(encoding="utf-8")
        new_id = f"{source.stem[:20]}-{index:05d}"
        text = re.sub(r"^id: .*$", f"id: {new_id}", text, count=1, flags=re.M)
        text = re.sub(r"^aliases: .*$", f"aliases: [{new_id}-alias]", text, count=1, flags=re.M)
        text = text.replace("{{", f"{{# {index} #}}{{{{")  # every template source unique (an f-string: {{ is {)
        (folder / f"{new_id}.yaml").write_text(text, encoding="utf-8")


def validate(dbstack: Path, folder: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one `dbstack catalog validate folder`."""
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a long report cannot block the child
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(dbstack), "catalog", "validate", str(folder)], env=env, stdout=subprocess.PIPE, stderr=errors
        )
        assert process.stdout is not None
        out = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)  # the child's own CPU time and peak RSS
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode or not out.startswith(b"ok: "):
            errors.seek(0)
            sys.exit(f"validate failed:\n{errors.read().decode(errors='replace')[:2000]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    args = sys.argv[1:]
    installs = [("", DBSTACK)]
    repeat = 1
    while args[:1] in (["--baseline"], ["--repeat"]):
        if args[0] == "--baseline":
            installs.append(("base ", Path(args[1])))
        else:
            repeat = int(args[1])
        args = args[2:]
    sizes = [int(arg) for arg in args] or [250, 500, 1000, 4000]
    print(f"{'entries':>8} {'cache':<10} {'wall s':>7} {'CPU s':>7} {'ms/entry':>9} {'peak RSS MB':>12}")
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            catalog = Path(tmp) / "catalog"
            catalog.mkdir()
            make_catalog(catalog, size)
            for prefix, dbstack in installs:
                cache = Path(tmp) / f"cache{prefix.strip()}"
                env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
                env.pop("DBSTACK_NO_CACHE", None)
                runs: dict[str, list[tuple[float, float, float]]] = {"cold": [], "warm": []}
                for _ in range(repeat):  # the run with the least CPU time: the least disturbed by other work
                    shutil.rmtree(cache, ignore_errors=True)
                    for label in ("cold", "warm"):
                        runs[label].append(validate(dbstack, catalog, env))
                for label, measured in runs.items():
                    wall, cpu, _ = min(measured, key=lambda run: run[1])
                    row = f"{size:>8} {prefix + label:<10} {wall:>7.3f} {cpu:>7.3f} {1000 * cpu / size:>9.3f}"
                    print(f"{row} {max(run[2] for run in measured):>12.1f}", flush=True)
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
