"""Receipt books and receipts on a real store file: numbers, payments, voids, prints, crashes."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fieldapp.errors import NotFoundError, ValidationError
from fieldapp.model import Pledge
from fieldapp.receipts import ReceiptBook
from fieldapp.store import STORE_FILENAME
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock
from sync.protocol.errors import FieldappError
from sync.protocol.money import amount_in_words, format_vnd
from sync.protocol.receipt_qr import parse_receipt_qr, verify_receipt_qr
from tests.fieldapp.conftest import NOW
from tests.fieldapp.pdfcheck import decode_qr, flat, page_texts, render_png

WORKER = Path(__file__).with_name("receipt_worker.py")
LAYOUTS = ("a5", "a6", "roll80")
SERIES = "LC-NTA-24"
START = dt.date(2026, 12, 1)


@dataclass(frozen=True)
class Family:
    household_id: str
    member_ids: list[str]
    bhyt: list[Pledge]
    bhxh: Pledge


def _family(ws: Workspace, head: str, spouse: str, child: str) -> Family:
    household = ws.households.add(
        province_code="15",
        commune_code="99001",
        village="Bản Phìn Hồ",
        head_name=head,
        address="Bản Phìn Hồ, xã Tả Phìn, tỉnh Lào Cai",
        groups=["farmer"],
    )
    ids = [
        ws.members.add(household.id, full_name=name, relation=relation).id
        for name, relation in ((head, "Chủ hộ"), (spouse, "Vợ"), (child, "Con"))
    ]
    bhyt = ws.pledges.pledge_bhyt_household(household.id, member_ids=ids, months=12, start=START)
    floor = ws.policy.rural_poverty_line(START)
    bhxh = ws.pledges.pledge_bhxh(ids[1], income=floor, months=12, start=START)
    return Family(household.id, ids, bhyt, bhxh)


@pytest.fixture
def family(workspace: Workspace) -> Family:
    """A household of three with 12-month BHYT pledges from 01/12/2026 and one BHXH pledge."""
    return _family(workspace, "Giàng Thị Mỷ", "Sùng A Páo", "Sùng Thị Dợ")


@pytest.fixture
def neighbours(workspace: Workspace) -> Family:
    """A second household with the same kinds of pledges."""
    return _family(workspace, "Hoàng Văn Thắng", "Nông Thị Hoà", "Hoàng Đức Anh")


@pytest.fixture
def book(workspace: Workspace) -> ReceiptBook:
    """A receipt book LC-NTA-24 numbered 1 to 3."""
    return workspace.receipts.add_book(series=SERIES, first=1, last=3)


def _ids(pledges: list[Pledge]) -> list[str]:
    return [p.id for p in pledges]


def _count(ws: Workspace, sql: str, params: tuple[object, ...] = ()) -> int:
    return int(ws.store.scalar(sql, params))


def _status(ws: Workspace, pledge_id: str) -> str:
    return ws.pledges.get(pledge_id).status


def _text(pdf: bytes) -> str:
    (page,) = page_texts(pdf)
    return flat(page)


# --- issuing ----------------------------------------------------------------------------


def test_issue_records_the_payment_on_number_one(
    workspace: Workspace, book: ReceiptBook, family: Family
) -> None:
    """Paying a household's BHYT pledges gives receipt 1 for their sum; the pledges are paid."""
    outbox_before = _count(workspace, "SELECT max(seq) FROM outbox")
    receipt = workspace.receipts.issue(pledge_ids=_ids(family.bhyt))

    assert (receipt.series, receipt.number, receipt.status) == (SERIES, 1, "issued")
    assert receipt.amount == sum(p.payable for p in family.bhyt) > 0
    assert receipt.payer_name == "Giàng Thị Mỷ"
    assert receipt.household_id == family.household_id
    assert receipt.pledge_ids == tuple(_ids(family.bhyt))
    # First cards, paid on 23/11/2026: valid 30 days later, for 12 months (DOMAIN.md §2).
    assert (receipt.period_from, receipt.period_to) == ("2026-12-23", "2027-12-22")
    for pledge in family.bhyt:
        after = workspace.pledges.get(pledge.id)
        assert after.status == "paid"
        assert after.history[-1].status == "paid"
        assert after.history[-1].receipt_id == receipt.id
    assert _status(workspace, family.bhxh.id) == "pledged"

    rows = workspace.store.query(
        "SELECT entity, entity_id, data FROM outbox WHERE seq > ? ORDER BY seq", (outbox_before,)
    )
    receipt_rows = [r for r in rows if r["entity"] == "receipt"]
    assert [r["entity_id"] for r in receipt_rows] == [receipt.id]
    sent = json.loads(receipt_rows[0]["data"])
    assert (sent["number"], sent["amount"], sent["series"]) == (1, receipt.amount, SERIES)
    events = [json.loads(r["data"]) for r in rows if r["entity"] == "pledge_event"]
    assert sorted(e["pledge_id"] for e in events) == sorted(_ids(family.bhyt))
    assert {(e["status"], e["receipt_id"]) for e in events} == {("paid", receipt.id)}
    assert workspace.receipts.book(book.id).next_number == 2


def test_second_receipt_gets_the_next_number(
    workspace: Workspace, book: ReceiptBook, family: Family
) -> None:
    """Two payments take numbers 1 and 2 of the book; one number is left."""
    first = workspace.receipts.issue(pledge_ids=_ids(family.bhyt))
    second = workspace.receipts.issue(pledge_ids=[family.bhxh.id])
    assert (first.number, second.number) == (1, 2)
    assert second.amount == family.bhxh.payable
    assert "Đóng tiền tham gia BHXH tự nguyện" in second.description
    assert workspace.receipts.book(book.id).remaining == 1
    assert [r.number for r in workspace.receipts.issued()] == [1, 2]
    assert [r.number for r in workspace.receipts.issued(household_id=family.household_id)] == [
        1,
        2,
    ]


def test_exhausted_book_is_refused_before_any_money_is_recorded(
    workspace: Workspace, family: Family, neighbours: Family
) -> None:
    """With every number used, a payment is refused and nothing of it is written."""
    workspace.receipts.add_book(series=SERIES, first=7, last=7)
    workspace.receipts.issue(pledge_ids=_ids(family.bhyt))
    before = {
        table: _count(workspace, f"SELECT count(*) FROM {table}")
        for table in ("receipt", "pledge_event", "outbox", "receipt_print")
    }
    with pytest.raises(FieldappError) as caught:
        workspace.receipts.issue(pledge_ids=_ids(neighbours.bhyt))
    assert caught.value.code == "no_receipt_numbers"
    assert "Hết số biên lai" in caught.value.vi
    assert "No receipt numbers left" in caught.value.en
    after = {table: _count(workspace, f"SELECT count(*) FROM {table}") for table in before}
    assert after == before
    assert {_status(workspace, pid) for pid in _ids(neighbours.bhyt)} == {"pledged"}
    (book,) = workspace.receipts.books()
    assert (book.next_number, book.remaining) == (8, 0)


def test_no_book_at_all_is_refused(workspace: Workspace, family: Family) -> None:
    """Without a receipt book no money can be taken."""
    with pytest.raises(FieldappError, match="Hết số biên lai"):
        workspace.receipts.issue(pledge_ids=_ids(family.bhyt))
    assert _count(workspace, "SELECT count(*) FROM receipt") == 0
    assert {_status(workspace, pid) for pid in _ids(family.bhyt)} == {"pledged"}


def test_full_book_moves_on_to_the_next_book(
    workspace: Workspace, family: Family, neighbours: Family
) -> None:
    """When the first book is used up, the next one the agent entered is used."""
    workspace.receipts.add_book(series=SERIES, first=1, last=1)
    workspace.receipts.add_book(series="LC-NTA-25", first=51, last=100)
    first = workspace.receipts.issue(pledge_ids=_ids(family.bhyt))
    second = workspace.receipts.issue(pledge_ids=_ids(neighbours.bhyt))
    assert [(first.series, first.number), (second.series, second.number)] == [
        (SERIES, 1),
        ("LC-NTA-25", 51),
    ]


@pytest.mark.parametrize(("first", "last"), [(3, 3), (1, 1), (2, 10), (0, 2), (3, 1)])
def test_overlapping_or_bad_range_is_refused(
    workspace: Workspace, book: ReceiptBook, first: int, last: int
) -> None:
    """A range that shares a number with the book 1–3, or is not a range, is refused."""
    with pytest.raises(ValidationError) as caught:
        workspace.receipts.add_book(series=SERIES.lower(), first=first, last=last)
    assert caught.value.code in ("overlapping_book", "bad_range")
    assert str(first) in caught.value.vi and str(first) in caught.value.en
    assert len(workspace.receipts.books()) == 1


def test_same_numbers_in_another_series_are_a_different_book(
    workspace: Workspace, book: ReceiptBook
) -> None:
    """Numbers 1–3 of another series do not overlap LC-NTA-24; 4–6 of the same series neither."""
    workspace.receipts.add_book(series="LC-NTA-25", first=1, last=3)
    workspace.receipts.add_book(series=SERIES, first=4, last=6)
    assert sorted((b.series, b.first_number) for b in workspace.receipts.books()) == [
        (SERIES, 1),
        (SERIES, 4),
        ("LC-NTA-25", 1),
    ]


@pytest.mark.parametrize("series", ["", "   ", "LC NTA", "LC|NTA", "-LC", "Ký-hiệu", "A" * 21])
def test_bad_series_is_refused(workspace: Workspace, series: str) -> None:
    """A series must be letters, digits, '-', '/', '.', at most 20 characters."""
    with pytest.raises(ValidationError) as caught:
        workspace.receipts.add_book(series=series, first=1, last=10)
    assert caught.value.code == "bad_series"
    assert "Ký hiệu biên lai" in caught.value.vi
    assert workspace.receipts.books() == []


def test_pledge_already_paid_is_refused(
    workspace: Workspace, book: ReceiptBook, family: Family
) -> None:
    """A pledge is paid once: paying it again, alone or with others, is refused."""
    first = workspace.receipts.issue(pledge_ids=_ids(family.bhyt)[:1])
    for pledge_ids in (_ids(family.bhyt)[:1], _ids(family.bhyt)):
        with pytest.raises(FieldappError) as caught:
            workspace.receipts.issue(pledge_ids=pledge_ids)
        assert caught.value.code == "pledge_not_open"
        assert "paid" in caught.value.en
    assert [r.id for r in workspace.receipts.issued()] == [first.id]
    assert workspace.receipts.book(book.id).next_number == 2
    assert {_status(workspace, pid) for pid in _ids(family.bhyt)[1:]} == {"pledged"}


def test_cancelled_or_unknown_pledge_is_refused(
    workspace: Workspace, book: ReceiptBook, family: Family
) -> None:
    """A cancelled pledge cannot be paid; an unknown id is not found."""
    workspace.pledges.cancel(family.bhxh.id, reason="Gia đình đổi ý")
    with pytest.raises(FieldappError, match="đã huỷ") as refused:
        workspace.receipts.issue(pledge_ids=[family.bhxh.id])
    assert refused.value.code == "pledge_not_open"
    with pytest.raises(NotFoundError):
        workspace.receipts.issue(pledge_ids=["no-such-pledge"])
    with pytest.raises(ValidationError):
        workspace.receipts.issue(pledge_ids=[])
    with pytest.raises(ValidationError):
        workspace.receipts.issue(pledge_ids=[family.bhyt[0].id, family.bhyt[0].id])
    assert workspace.receipts.book(book.id).next_number == 1


@pytest.mark.parametrize("mix", ["households", "schemes"])
def test_mixing_households_or_schemes_is_refused(
    workspace: Workspace, book: ReceiptBook, family: Family, neighbours: Family, mix: str
) -> None:
    """One receipt covers one household and one scheme."""
    other = neighbours.bhyt[0].id if mix == "households" else family.bhxh.id
    with pytest.raises(ValidationError) as caught:
        workspace.receipts.issue(pledge_ids=[*_ids(family.bhyt), other])
    assert caught.value.code == "mixed_pledges"
    assert "một hộ" in caught.value.vi and "one household" in caught.value.en
    assert _count(workspace, "SELECT count(*) FROM receipt") == 0
    assert workspace.receipts.book(book.id).next_number == 1


def test_payer_must_belong_to_the_household(
    workspace: Workspace, book: ReceiptBook, family: Family, neighbours: Family
) -> None:
    """Another member of the household may pay; someone from another household may not."""
    with pytest.raises(NotFoundError):
        workspace.receipts.issue(
            pledge_ids=_ids(family.bhyt), payer_member_id=neighbours.member_ids[0]
        )
    receipt = workspace.receipts.issue(
        pledge_ids=_ids(family.bhyt), payer_member_id=family.member_ids[1]
    )
    assert (receipt.number, receipt.payer_name) == (1, "Sùng A Páo")


# --- voids ------------------------------------------------------------------------------


def test_void_keeps_the_receipt_and_its_number(
    workspace: Workspace, book: ReceiptBook, family: Family
) -> None:
    """A voided receipt stays on record with its reason; its number is never given again."""
    spoiled = workspace.receipts.issue(pledge_ids=[family.bhxh.id])
    voided = workspace.receipts.void(spoiled.id, reason="  Viết sai   tên người nộp tiền ")
    assert (voided.status, voided.void_reason) == ("voided", "Viết sai tên người nộp tiền")
    assert voided.number == 1
    assert [r.status for r in workspace.receipts.issued()] == ["voided"]
    outbox = workspace.store.one(
        "SELECT data FROM outbox WHERE entity = 'receipt_void' ORDER BY seq DESC LIMIT 1"
    )
    assert outbox is not None
    assert json.loads(outbox["data"])["receipt_id"] == spoiled.id

    following = workspace.receipts.issue(pledge_ids=_ids(family.bhyt))
    assert following.number == 2

    text = _text(workspace.receipts.render(spoiled.id))
    assert "ĐÃ HUỶ — Lý do: Viết sai tên người nộp tiền" in text
    assert "Số: 0000001" in text
    assert "ĐÃ HUỶ" not in _text(workspace.receipts.render(following.id))

    with pytest.raises(FieldappError) as caught:
        workspace.receipts.void(spoiled.id, reason="again")
    assert caught.value.code == "already_void"


@pytest.mark.parametrize("reason", ["", "   ", "\u200b"])
def test_void_without_a_reason_is_refused(
    workspace: Workspace, book: ReceiptBook, family: Family, reason: str
) -> None:
    """An empty reason is refused and the receipt stays valid."""
    receipt = workspace.receipts.issue(pledge_ids=_ids(family.bhyt))
    with pytest.raises(ValidationError) as caught:
        workspace.receipts.void(receipt.id, reason=reason)
    assert caught.value.code == "reason_required"
    assert workspace.receipts.get(receipt.id).status == "issued"
    assert _count(workspace, "SELECT count(*) FROM receipt_void") == 0


def test_void_of_an_unknown_receipt_is_not_found(workspace: Workspace) -> None:
    """Voiding a receipt that does not exist names it."""
    with pytest.raises(NotFoundError, match="no-such-receipt"):
        workspace.receipts.void("no-such-receipt", reason="sai")


# --- prints -----------------------------------------------------------------------------


def test_reprint_says_copy(workspace: Workspace, book: ReceiptBook, family: Family) -> None:
    """The first print is the original; every later print, in any layout, says BẢN SAO."""
    receipt = workspace.receipts.issue(pledge_ids=_ids(family.bhyt))
    assert "BẢN SAO" not in _text(workspace.receipts.render(receipt.id))
    for layout in ("a5", "roll80", "a6"):
        text = _text(workspace.receipts.render(receipt.id, layout=layout))
        assert "BẢN SAO" in text
        assert "Số: 0000001" in text
    assert workspace.receipts.get(receipt.id).prints == 4
    copies = [r[0] for r in workspace.store.query("SELECT copy FROM receipt_print ORDER BY id")]
    assert copies == [0, 1, 1, 1]


def test_a_failed_render_does_not_use_up_the_original(
    workspace: Workspace, book: ReceiptBook, family: Family
) -> None:
    """A print that produced no PDF is not counted: the next print is still the original."""
    receipt = workspace.receipts.issue(pledge_ids=_ids(family.bhyt))
    with pytest.raises(ValueError, match="layout"):
        workspace.receipts.render(receipt.id, layout="letter")  # type: ignore[arg-type]
    assert workspace.receipts.get(receipt.id).prints == 0
    assert "BẢN SAO" not in _text(workspace.receipts.render(receipt.id))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_receipt_pdf_carries_the_payment(
    workspace: Workspace, book: ReceiptBook, family: Family, layout: str
) -> None:
    """Each layout prints title, series, number, amount in figures and words, payer, period."""
    receipt = workspace.receipts.issue(pledge_ids=_ids(family.bhyt))
    text = _text(workspace.receipts.render(receipt.id, layout=layout))  # type: ignore[arg-type]
    amount = sum(p.payable for p in family.bhyt)
    for expected in (
        "BIÊN LAI THU TIỀN",
        f"Ký hiệu: {SERIES}",
        "Số: 0000001",
        f"Số tiền: {format_vnd(amount)}",
        f"Viết bằng chữ: {amount_in_words(amount)}.",
        "Họ tên người nộp tiền: Giàng Thị Mỷ",
        "Địa chỉ: Bản Phìn Hồ, xã Tả Phìn, tỉnh Lào Cai",
        "Tiền đóng BHYT hộ gia đình cho 3 người, phương thức đóng 12 tháng, "
        "thẻ có giá trị từ ngày 23/12/2026 đến ngày 22/12/2027",
        "Ngày 23 tháng 11 năm 2026",
        f"Mã tra cứu: {receipt.verification_code}",
    ):
        assert expected in text, expected
    assert "Số tiền: 3.142.260 đ" in text  # the 2026 ladder for three people, 12 months
    assert "BẢN SAO" not in text


@pytest.mark.parametrize("enrolled", [False, True])
def test_qr_on_the_pdf_verifies_with_the_store_key(
    workspace: Workspace, book: ReceiptBook, family: Family, tmp_path: Path, enrolled: bool
) -> None:
    """The QR read back from the printed page is signed with the key the store keeps."""
    enrolment_key = bytes(range(32))
    if enrolled:
        # As the server hands it over at enrolment: base64 of 32 random bytes.
        workspace.store.set_meta("device_key", base64.b64encode(enrolment_key).decode("ascii"))
    receipt = workspace.receipts.issue(pledge_ids=_ids(family.bhyt))
    png = render_png(workspace.receipts.render(receipt.id), tmp_path / "png", dpi=200)
    (payload,) = decode_qr(png)
    assert payload == receipt.qr_payload
    fields = parse_receipt_qr(payload)
    assert (fields["receipt_id"], fields["series"], fields["number"], fields["amount"]) == (
        receipt.id,
        SERIES,
        1,
        receipt.amount,
    )
    assert fields["issued_on"] == dt.date(2026, 11, 23)
    if enrolled:
        key = enrolment_key
    else:
        local = workspace.store.meta("local_receipt_key")
        assert local
        key = local.encode("ascii")
    assert verify_receipt_qr(payload, key)
    assert not verify_receipt_qr(payload, b"another device")
    assert (workspace.store.meta("local_receipt_key") is None) == enrolled


# --- other processes --------------------------------------------------------------------


def _books_and_pledges(data_dir: Path, *, households: int, last: int) -> list[list[str]]:
    """A store with one receipt book and a BHYT pledge per household; the pledges to pay."""
    ws = Workspace.open(data_dir, clock=FixedClock(NOW))
    try:
        ws.receipts.add_book(series=SERIES, first=1, last=last)
        names = ("Giàng A Páo", "Lò Thị Hoà", "Triệu Văn Quẩy", "Nông Thị Thu")
        todo = []
        for i in range(households):
            household = ws.households.add(
                province_code="15",
                commune_code="99001",
                village="Thôn Đồi Chè",
                head_name=names[i % len(names)],
            )
            member = ws.members.add(household.id, full_name=names[i % len(names)])
            pledges = ws.pledges.pledge_bhyt_household(
                household.id, member_ids=[member.id], months=12, start=START
            )
            todo.append(_ids(pledges))
        return todo
    finally:
        ws.close()


def _worker(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(data_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "ready", (line, process.stderr.read() if process.stderr else "")


def test_two_processes_take_numbers_at_the_same_time(tmp_path: Path) -> None:
    """Two processes issuing 30 receipts each get 60 distinct numbers without a gap."""
    data_dir = tmp_path / "data"
    todo = _books_and_pledges(data_dir, households=60, last=500)
    go = tmp_path / "go"
    workers: list[subprocess.Popen[str]] = []
    for half in (todo[:30], todo[30:]):
        plan = tmp_path / f"plan-{len(workers)}.json"
        plan.write_text(json.dumps(half), encoding="utf-8")
        workers.append(_worker(data_dir, "pay", str(plan), "--go", str(go)))
    for process in workers:
        _wait_ready(process)
    go.touch()
    reported: list[int] = []
    for process in workers:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        reported += [int(line.split()[2]) for line in out.splitlines() if line.startswith("issued")]

    assert sorted(reported) == list(range(1, 61))
    ws = Workspace.open(data_dir, clock=FixedClock(NOW))
    try:
        receipts = ws.receipts.issued()
        assert sorted(r.number for r in receipts) == list(range(1, 61))
        (book,) = ws.receipts.books()
        assert book.next_number == 61
        # Both processes signed with the one key the store keeps.
        key = ws.store.meta("local_receipt_key")
        assert key
        assert all(verify_receipt_qr(r.qr_payload, key.encode("ascii")) for r in receipts)
    finally:
        ws.close()


@pytest.fixture
def loop_store(tmp_path: Path) -> Iterator[Path]:
    """An empty store with a large receipt book, for workers that make their own pledges."""
    data_dir = tmp_path / "data"
    _books_and_pledges(data_dir, households=0, last=100_000)
    yield data_dir


def _check_consistent(path: Path) -> tuple[int, int]:
    """Assert the store's receipts and pledges agree; the receipt count and printed count."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        numbers = [r[0] for r in conn.execute("SELECT number FROM receipt ORDER BY number")]
        assert len(numbers) == len(set(numbers))
        next_number = conn.execute("SELECT next_number FROM receipt_book").fetchone()[0]
        # No number lost, none reused: the numbers are exactly 1..next-1.
        assert numbers == list(range(1, next_number))
        for receipt_id, pledge_ids in conn.execute("SELECT id, pledge_ids FROM receipt"):
            for pledge_id in json.loads(pledge_ids):
                (status,) = conn.execute(
                    "SELECT status FROM pledge_event WHERE pledge_id = ? "
                    "ORDER BY at DESC, rowid DESC LIMIT 1",
                    (pledge_id,),
                ).fetchone()
                assert status == "paid", (receipt_id, pledge_id)
        dangling = conn.execute(
            "SELECT count(*) FROM pledge_event WHERE status = 'paid' AND "
            "(receipt_id IS NULL OR receipt_id NOT IN (SELECT id FROM receipt))"
        ).fetchone()[0]
        assert dangling == 0
        per_receipt = conn.execute(
            "SELECT r.id, (SELECT count(*) FROM outbox o "
            "WHERE o.entity = 'receipt' AND o.entity_id = r.id) FROM receipt r"
        ).fetchall()
        assert all(n == 1 for _, n in per_receipt), per_receipt
        outbox_receipts = conn.execute(
            "SELECT count(*) FROM outbox WHERE entity = 'receipt'"
        ).fetchone()[0]
        assert outbox_receipts == len(numbers)
        printed = conn.execute("SELECT count(DISTINCT receipt_id) FROM receipt_print").fetchone()[0]
        return len(numbers), printed
    finally:
        conn.close()


def test_killed_worker_never_loses_or_reuses_a_number(loop_store: Path) -> None:
    """SIGKILL at random moments while taking payments leaves a consistent store every time."""
    rng = random.Random(20261123)
    path = loop_store / STORE_FILENAME
    issued_total = 0
    kills = mid_run = 0
    while kills < 25:
        process = _worker(loop_store, "loop")
        _wait_ready(process)
        # The kill follows 0-4 lines of work and then up to 50 ms more, rather than a wall
        # time, so it lands as deep into the payments on a slow machine as on a fast one.
        assert process.stdout is not None
        seen: list[str] = []
        for _ in range(rng.randint(0, 4)):
            line = process.stdout.readline()
            if not line.endswith("\n"):
                break
            seen.append(line)
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(process.pid, signal.SIGKILL)
        rest, _ = process.communicate()
        out = "".join(seen) + rest
        assert process.returncode == -signal.SIGKILL
        kills += 1
        issued, _ = _check_consistent(path)
        assert issued >= issued_total
        issued_total = issued
        # Every receipt the agent was told about survived the kill.
        told = [line.split()[1] for line in out.splitlines() if line.startswith("issued")]
        mid_run += bool(told)
        conn = sqlite3.connect(path)
        try:
            for receipt_id in told:
                assert conn.execute("SELECT 1 FROM receipt WHERE id = ?", (receipt_id,)).fetchone()
        finally:
            conn.close()
    assert mid_run >= 10  # most kills landed while receipts were being taken and printed
    # A receipt whose worker died between issue() and render() was never printed: its first
    # print now is the original.
    ws = Workspace.open(loop_store, clock=FixedClock(NOW))
    try:
        for receipt in ws.receipts.issued():
            if receipt.prints == 0:
                assert "BẢN SAO" not in _text(ws.receipts.render(receipt.id, layout="roll80"))
    finally:
        ws.close()


def test_number_is_committed_before_anything_is_printed(loop_store: Path) -> None:
    """Killed after issue() and before the print, the receipt stays; its first print is original."""
    process = _worker(loop_store, "hold")
    _wait_ready(process)
    assert process.stdout is not None
    line = process.stdout.readline().split()
    assert line[0] == "issued"
    receipt_id, number = line[1], int(line[2])
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()

    assert _check_consistent(loop_store / STORE_FILENAME) == (1, 0)
    ws = Workspace.open(loop_store, clock=FixedClock(NOW))
    try:
        receipt = ws.receipts.get(receipt_id)
        assert (receipt.number, receipt.status, receipt.prints) == (number, "issued", 0)
        assert "BẢN SAO" not in _text(ws.receipts.render(receipt_id))
        assert "BẢN SAO" in _text(ws.receipts.render(receipt_id))
    finally:
        ws.close()


def test_void_reopens_the_pledges_for_a_new_receipt(
    workspace: Workspace, book: ReceiptBook, family: Family
) -> None:
    """Voiding puts the receipt's pledges back to waiting; they are paid on the next number."""
    ids = _ids(family.bhyt)
    spoiled = workspace.receipts.issue(pledge_ids=ids)
    workspace.receipts.void(spoiled.id, reason="Viết sai tên")
    for pledge_id in ids:
        history = workspace.pledges.get(pledge_id).history
        assert [e.status for e in history] == ["pledged", "paid", "pledged"]
        assert "Viết sai tên" in history[-1].reason
        assert f"{spoiled.number:07d}" in history[-1].reason
    again = workspace.receipts.issue(pledge_ids=ids)
    assert again.number == spoiled.number + 1
    assert again.amount == spoiled.amount
    assert {workspace.pledges.get(p).status for p in ids} == {"paid"}
    assert workspace.receipts.get(spoiled.id).status == "voided"


def test_preview_counts_no_print(workspace: Workspace, book: ReceiptBook, family: Family) -> None:
    """A preview shows the original without using it up; the first real print is the original."""
    receipt = workspace.receipts.issue(pledge_ids=_ids(family.bhyt))
    for _ in range(2):
        assert "BẢN SAO" not in flat(page_texts(workspace.receipts.preview(receipt.id))[0])
    assert workspace.receipts.get(receipt.id).prints == 0
    assert "BẢN SAO" not in flat(page_texts(workspace.receipts.render(receipt.id))[0])
    assert "BẢN SAO" in flat(page_texts(workspace.receipts.preview(receipt.id))[0])
    assert workspace.receipts.get(receipt.id).prints == 1
