"""A separate process taking payments on a store file, for the concurrency and kill tests.

    python receipt_worker.py DATA_DIR pay PLEDGES.json   # one receipt per pledge listed
    python receipt_worker.py DATA_DIR loop               # new pledge, receipt, print; forever
    python receipt_worker.py DATA_DIR hold               # one receipt, then wait to be killed

`--go FILE` waits for FILE to exist before the first payment, so that several workers start at
the same moment. Each step is reported on stdout as it completes: "issued ID NUMBER" once
issue() has returned, "printed ID" once render() has returned.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fieldapp.workspace import Workspace  # noqa: E402
from sync.protocol.clock import FixedClock  # noqa: E402

# The same instant as the test fixtures, so every process computes amounts under one policy.
NOW = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)


def _say(*words: object) -> None:
    print(*words, flush=True)


HEADS = ("Giàng A Páo", "Sùng Thị Mỷ", "Lò Văn Thắng", "Triệu Thị Nhất", "Hoàng Đức Anh")


def _new_pledge(ws: Workspace, n: int) -> list[str]:
    """A new household whose head pledges BHYT for 12 months; the pledge ids to pay."""
    head = HEADS[n % len(HEADS)]
    household = ws.households.add(
        province_code="15",
        commune_code="99001",
        village="Thôn Nậm Mòn",
        head_name=head,
        groups=["farmer"],
    )
    member = ws.members.add(household.id, full_name=head, relation="Chủ hộ")
    pledges = ws.pledges.pledge_bhyt_household(
        household.id, member_ids=[member.id], months=12, start=dt.date(2026, 12, 1)
    )
    return [p.id for p in pledges]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("mode", choices=("pay", "loop", "hold"))
    parser.add_argument("pledges", nargs="?", type=Path)
    parser.add_argument("--go", type=Path)
    args = parser.parse_args(argv)

    ws = Workspace.open(args.data_dir, clock=FixedClock(NOW))
    if args.mode == "pay":
        todo: list[list[str]] = json.loads(args.pledges.read_text(encoding="utf-8"))
    _say("ready")
    while args.go is not None and not args.go.exists():
        time.sleep(0.001)

    if args.mode == "pay":
        for pledge_ids in todo:
            receipt = ws.receipts.issue(pledge_ids=pledge_ids)
            _say("issued", receipt.id, receipt.number)
    elif args.mode == "hold":
        receipt = ws.receipts.issue(pledge_ids=_new_pledge(ws, 0))
        _say("issued", receipt.id, receipt.number)
        time.sleep(3600)
    else:
        n = 0
        while True:
            n += 1
            receipt = ws.receipts.issue(pledge_ids=_new_pledge(ws, n))
            _say("issued", receipt.id, receipt.number)
            ws.receipts.render(receipt.id, layout="roll80")
            _say("printed", receipt.id)
    ws.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
