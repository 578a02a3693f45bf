"""Run every benchmark in this folder and print one table of ratios against in-run floors.

python benchmarks/run_all.py [--quick] [--only NAME]
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import Figure, print_table  # noqa: E402


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    only = argv[argv.index("--only") + 1] if "--only" in argv else None
    figures: list[Figure] = []
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem
        if only and only not in name:
            continue
        module = importlib.import_module(name)
        start = time.perf_counter()
        print(f"running {name} …", file=sys.stderr, flush=True)
        figures += module.run(quick=quick)
        print(f"  {name}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    print_table(figures, "fieldapp benchmarks" + (" (quick)" if quick else ""))
    return 0 if all(f.passed for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
