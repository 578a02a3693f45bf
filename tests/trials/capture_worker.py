"""An agent's laptop at work, as a separate process to be killed: capture, pay, sync, repeat.

    python capture_worker.py DATA_DIR enrol --server URL --code CODE
    python capture_worker.py DATA_DIR capture --server URL --seed N
    python capture_worker.py DATA_DIR sync --server URL

`capture` loops until killed: new households and members, visits, BHYT pledges for a
household's members, receipts from the receipt book the server allocated, an edit now and
then, a void or a cancellation, and a sync every few operations. After each operation has
committed it writes one journal line to stdout (flushed), so whatever the line names must be
in the store even when the process dies right after:

    household ID | member ID | update ID PHONE | visit ID | pledge ID [ID...]
    receipt ID SERIES NUMBER | void ID | cancel ID | sync ok|failed SENT ACCEPTED

`sync` runs clean syncs until nothing is pending and prints one JSON line with the outcome.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fieldapp.workspace import Workspace  # noqa: E402
from sync.client import SyncClient  # noqa: E402
from sync.protocol.errors import FieldappError  # noqa: E402

GIVEN = ("Páo", "Mỷ", "Thắng", "Nhất", "Đức Anh", "Hương", "Lù", "Sính", "Dình", "Ngọc Ánh")
FAMILY = ("Giàng", "Sùng", "Lò", "Triệu", "Hoàng", "Vàng", "Nguyễn", "Đặng")
VILLAGES = ("Thôn Nậm Mòn", "Bản Pắc Ngòi", "Xóm Đồng Tâm", "Bản Phố")


def say(*words: object) -> None:
    print(*words, flush=True)


def _name(rng: random.Random) -> str:
    middle = rng.choice(("Văn", "Thị", "A", "Seo", ""))
    return " ".join(p for p in (rng.choice(FAMILY), middle, rng.choice(GIVEN)) if p)


class Agent:
    """One laptop's workspace and the random choices of an agent's day."""

    def __init__(self, ws: Workspace, server: str, rng: random.Random) -> None:
        self.ws = ws
        self.server = server
        self.rng = rng
        row = ws.store.one("SELECT commune_code, province_code FROM assignment LIMIT 1")
        if row is None:
            raise SystemExit("the laptop has no assigned commune: enrol it first")
        self.commune = str(row["commune_code"])
        self.province = str(row["province_code"] or "") or "15"
        today = ws.store.clock.today()
        # Pledges start on the first of next month, as agents sign people up ahead.
        self.start = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)

    def _pick(self, sql: str, params: tuple[object, ...] = ()) -> str | None:
        rows = self.ws.store.query(sql, params)
        return str(self.rng.choice(rows)[0]) if rows else None

    def household(self) -> None:
        head = _name(self.rng)
        home = self.ws.households.add(
            province_code=self.province,
            commune_code=self.commune,
            village=self.rng.choice(VILLAGES),
            head_name=head,
            phone=f"09{self.rng.randrange(10**8):08d}",
            groups=self.rng.sample(("farmer", "ethnic_minority", "near_poor"), k=1),
            best_months=[self.rng.randint(1, 12)],
        )
        say("household", home.id)
        for n in range(self.rng.randint(1, 3)):
            person = self.ws.members.add(
                home.id,
                full_name=head if n == 0 else _name(self.rng),
                relation="Chủ hộ" if n == 0 else self.rng.choice(("Vợ", "Con", "Mẹ")),
                sex=self.rng.choice(("male", "female")),
                date_of_birth=dt.date(self.rng.randint(1950, 2015), self.rng.randint(1, 12), 1),
            )
            say("member", person.id)

    def update(self) -> None:
        home = self._pick("SELECT id FROM household")
        if home is None:
            return self.household()
        phone = f"08{self.rng.randrange(10**8):08d}"
        self.ws.households.update(home, phone=phone)
        say("update", home, phone)

    def visit(self) -> None:
        home = self._pick("SELECT id FROM household")
        if home is None:
            return self.household()
        visit = self.ws.visits.record(
            home,
            outcome=self.rng.choice(("consulted", "not_home", "follow_up", "pledged")),
            topics=["bhyt_household"],
            notes=self.rng.choice(("", "Hẹn sau vụ thu hoạch", "Đã phát tờ rơi")),
        )
        say("visit", visit.id)

    def pledge(self) -> None:
        # A household none of whose members has pledged yet: every member joins together.
        home = self._pick(
            "SELECT h.id FROM household h WHERE EXISTS (SELECT 1 FROM member m "
            "WHERE m.household_id = h.id) AND NOT EXISTS "
            "(SELECT 1 FROM pledge p WHERE p.household_id = h.id)"
        )
        if home is None:
            return self.household()
        members = [m.id for m in self.ws.members.of_household(home)]
        pledges = self.ws.pledges.pledge_bhyt_household(
            home, member_ids=members, months=self.rng.choice((3, 6, 12)), start=self.start
        )
        say("pledge", *(p.id for p in pledges))

    def _open_pledges(self) -> list[tuple[str, str]]:
        return [
            (str(r[0]), str(r[1]))
            for r in self.ws.store.query(
                "SELECT p.id, p.household_id FROM pledge p WHERE (SELECT e.status FROM "
                "pledge_event e WHERE e.pledge_id = p.id ORDER BY e.at DESC, e.rowid DESC "
                "LIMIT 1) = 'pledged'"
            )
        ]

    def pay(self) -> None:
        open_pledges = self._open_pledges()
        if not open_pledges:
            return self.pledge()
        home = self.rng.choice(open_pledges)[1]
        ids = [p for p, h in open_pledges if h == home]
        receipt = self.ws.receipts.issue(pledge_ids=ids)
        say("receipt", receipt.id, receipt.series, receipt.number)

    def cancel(self) -> None:
        open_pledges = self._open_pledges()
        if not open_pledges:
            return self.pledge()
        pledge_id = self.rng.choice(open_pledges)[0]
        self.ws.pledges.cancel(pledge_id, reason="Hộ đổi ý, chưa tham gia")
        say("cancel", pledge_id)

    def void(self) -> None:
        receipt = self._pick(
            "SELECT id FROM receipt WHERE id NOT IN (SELECT receipt_id FROM receipt_void)"
        )
        if receipt is None:
            return self.pay()
        self.ws.receipts.void(receipt, reason="Viết sai tên người nộp")
        say("void", receipt)

    def sync(self) -> None:
        # Few attempts and short waits: a killed worker is restarted soon anyway.
        with SyncClient(
            self.ws, server_url=self.server, max_attempts=2, backoff=0.05, timeout=10
        ) as client:
            result = client.run()
        say("sync", "ok" if result.ok else "failed", result.sent, result.accepted)


OPERATIONS = (
    ("household", 12),
    ("visit", 30),
    ("pledge", 18),
    ("pay", 20),
    ("update", 10),
    ("cancel", 4),
    ("void", 3),
)


def capture(ws: Workspace, server: str, seed: int) -> None:
    rng = random.Random(seed)
    agent = Agent(ws, server, rng)
    names = [name for name, _ in OPERATIONS]
    weights = [weight for _, weight in OPERATIONS]
    until_sync = rng.randint(3, 12)
    while True:
        try:
            getattr(agent, rng.choices(names, weights)[0])()
        except FieldappError as exc:
            # A refusal by the rules (e.g. the book ran out) is an answer, not a crash.
            say("refused", exc.code)
        until_sync -= 1
        if until_sync == 0:
            agent.sync()
            until_sync = rng.randint(3, 12)


def clean_sync(ws: Workspace, server: str) -> dict[str, object]:
    """Sync until nothing is pending (a few rounds at most); the outcome as a dict."""
    rounds = 0
    result = None
    while rounds < 5:
        rounds += 1
        with SyncClient(ws, server_url=server, backoff=0.2) as client:
            result = client.run()
        if ws.pending_sync() == 0 and result.ok:
            break
    assert result is not None
    return {
        "ok": result.ok,
        "rounds": rounds,
        "pending": ws.pending_sync(),
        "refused": int(ws.store.scalar("SELECT count(*) FROM outbox WHERE state = 'refused'")),
        "errors": [e.code for e in result.errors],
        "device_id": ws.store.meta("server_device_id"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("mode", choices=("enrol", "capture", "sync"))
    parser.add_argument("--server", required=True)
    parser.add_argument("--code")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    ws = Workspace.open(args.data_dir)
    try:
        if args.mode == "enrol":
            with SyncClient(ws) as client:
                client.enrol(args.server, args.code or "", device_name="trial laptop")
            outcome = clean_sync(ws, args.server)
            say(json.dumps(outcome))
            return 0 if outcome["ok"] else 1
        if args.mode == "sync":
            outcome = clean_sync(ws, args.server)
            say(json.dumps(outcome))
            return 0 if outcome["ok"] and outcome["pending"] == 0 else 1
        say("ready")
        capture(ws, args.server, args.seed)
    finally:
        ws.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
