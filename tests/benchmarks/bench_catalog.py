"""Benchmark: load and validate a synthetic catalog of N entries; report time and peak memory.

    python tests/benchmarks/bench_catalog.py [N ...]      (default: 250 500 1000)

Each size runs in a fresh interpreter so peak RSS is that run's own. The synthetic
entries are copies of the built-in ones with new ids and a unique comment in every
template, so no template compile is shared between entries.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
t0 = time.perf_counter()
from dbstack.loader import load_catalog
t1 = time.perf_counter()
result = load_catalog([Path(sys.argv[1])], builtin=False)
t2 = time.perf_counter()
assert not result.problems, result.problems[:3]
print(json.dumps({"entries": len(result.specs), "import_s": t1 - t0, "load_s": t2 - t1,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


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


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [250, 500, 1000]
    print(f"{'entries':>8} {'load s':>8} {'ms/entry':>9} {'peak RSS MB':>12}")
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            make_catalog(Path(tmp), size)
            out = subprocess.run([sys.executable, "-c", CHILD, tmp], capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"benchmark run failed:\n{out.stderr}")
            figures = json.loads(out.stdout)
            print(
                f"{size:>8} {figures['load_s']:>8.3f} {1000 * figures['load_s'] / size:>9.3f} "
                f"{figures['peak_rss_mb']:>12.1f}"
            )


if __name__ == "__main__":
    main()
