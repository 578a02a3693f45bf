"""Run kill trials against a fresh local server and print the tally.

    python scripts/kill_trials.py --trials 1000 [--laptops 2] [--seed N] [--keep DIR]

Each trial starts a capture worker on a laptop's data folder, lets it record visits, pledges,
receipts and syncs for 50-300 ms, kills it with SIGKILL and checks the store it leaves; every
few trials a clean sync follows and the server's copy is compared record by record. The exit
status is 0 only when no check failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.trials.harness import run_trials, running_server  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000, help="number of kills (1000)")
    parser.add_argument("--laptops", type=int, default=2, help="data folders side by side (2)")
    parser.add_argument("--seed", type=int, default=20261123, help="random seed")
    parser.add_argument(
        "--server-check-every", type=int, default=10, help="clean sync + server comparison"
    )
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--json", action="store_true", help="print the tally as JSON")
    args = parser.parse_args(argv)

    folder = args.keep or Path(tempfile.mkdtemp(prefix="kill-trials-"))
    started = time.monotonic()
    with running_server(folder / "server") as server:
        tally = run_trials(
            server,
            folder,
            trials=args.trials,
            laptops=args.laptops,
            seed=args.seed,
            server_check_every=args.server_check_every,
            progress=not args.json,
        )
    elapsed = time.monotonic() - started
    summary = {**tally.as_dict(), "seconds": round(elapsed, 1)}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            print(f"{key:28} {value}")
    for failure in tally.failures[:50]:
        print("FAILED", failure, file=sys.stderr)
    if args.keep is None and not tally.failures:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    elif tally.failures:
        print(f"data kept in {folder}", file=sys.stderr)
    return 0 if not tally.failures else 1


if __name__ == "__main__":
    sys.exit(main())
