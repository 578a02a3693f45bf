"""Receipt books and receipts: numbers taken in the payment's own transaction, voids, prints."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import resources
from fieldapp.errors import NotFoundError, Problem, ValidationError
from fieldapp.model import Pledge, Stored
from fieldapp.periods import period_end
from fieldapp.pledges import Pledges, Requote
from fieldapp.store import Store, dumps, loads
from fieldapp.text import clean
from sync.protocol.clock import VIETNAM_TZ, iso_utc
from sync.protocol.errors import FieldappError
from sync.protocol.fields import MAX_BOOK_SIZE, MAX_RECEIPT_NUMBER, RECEIPT_BOOK
from sync.protocol.frozen import frozen
from sync.protocol.receipt_qr import ReceiptSeal, verification_code

if TYPE_CHECKING:
    from fieldapp.documents.receipt import ReceiptDocument

Layout = Literal["a5", "a6", "roll80"]
_SERIES = re.compile(r"^[0-9A-Za-z][0-9A-Za-z/.-]{0,19}$")
_STATUS_VI = {"paid": "đã đóng tiền", "cancelled": "đã huỷ", "pledged": "chờ thu tiền"}


@frozen
class ReceiptBook(Stored):
    id: str
    series: str
    first_number: int
    last_number: int
    next_number: int
    source: str

    @property
    def remaining(self) -> int:
        return self.last_number - self.next_number + 1


@frozen
class Receipt(Stored):
    id: str
    book_id: str
    series: str
    number: int
    payer_name: str
    payer_bhxh_code: str | None
    payer_address: str
    household_id: str
    pledge_ids: tuple[str, ...]
    amount: int
    description: str
    period_from: str
    period_to: str
    issued_at: str
    issued_by: str
    verification_code: str
    qr_payload: str
    void_reason: str | None
    prints: int

    @property
    def status(self) -> str:
        return "voided" if self.void_reason is not None else "issued"

    def as_dict(self) -> dict[str, Any]:
        """What the command line prints of a receipt."""
        shown = ("id", "series", "number", "payer_name", "amount", "issued_at", "status")
        values = {name: getattr(self, name) for name in shown}
        return {
            **values,
            "void_reason": self.void_reason,
            "prints": self.prints,
            "pledge_ids": list(self.pledge_ids),
        }


# Books are used up in the order they were received; the first with a number left is next.
_BOOK_ORDER = "created_at, series, first_number"
_NEXT_BOOK = (
    f"SELECT * FROM receipt_book WHERE next_number <= last_number ORDER BY {_BOOK_ORDER} LIMIT 1"
)


def _problem(field: str, code: str, vi: str, en: str) -> ValidationError:
    return ValidationError([Problem(field, code, vi, en)])


class RequoteNeeded(FieldappError):
    """The rules in force on the payment date give other amounts than the pledges say."""

    def __init__(self, requotes: Sequence[Requote]) -> None:
        self.requotes = list(requotes)
        day = self.requotes[0].on
        lines_vi = "; ".join(r.line("vi") for r in self.requotes)
        lines_en = "; ".join(r.line("en") for r in self.requotes)
        super().__init__(
            f"Mức đóng theo quy định ngày {day:%d/%m/%Y} khác với lúc cam kết ({lines_vi}). "
            "Cần tính lại trước khi thu tiền.",
            f"The amounts under the rules in force on {day:%d/%m/%Y} differ from the pledge "
            f"({lines_en}). Re-quote before taking the money.",
            code="requote_needed",
        )


def _amounts(requotes: Sequence[Requote]) -> dict[str, dict[str, int]]:
    return {r.pledge.id: r.new for r in requotes}


def _paid_period(
    pledges: Sequence[sqlite3.Row], periods: dict[str, tuple[dt.date | None, dt.date | None]]
) -> tuple[dt.date, dt.date]:
    """What a receipt says is paid for: the cards' period (BHYT), the months covered (BHXH),
    as quoted on the payment date. Without a card rule in the policy, the pledge's start and
    months stand in."""
    starts, ends = [], []
    for pledge in pledges:
        start, end = periods.get(pledge["id"], (None, None))
        if start is None or end is None:
            start = dt.date.fromisoformat(pledge["start_date"])
            end = period_end(start, int(loads(pledge["params"])["months"]))
        starts.append(start)
        ends.append(end)
    return min(starts), max(ends)


def _vn_date(iso: str) -> str:
    return dt.date.fromisoformat(iso).strftime("%d/%m/%Y")


class Receipts:
    """Issue receipts from the agent's receipt books; a number is never used twice."""

    def __init__(self, store: Store, *, pledges: Pledges) -> None:
        self.store = store
        self.pledges = pledges

    # -- books ----------------------------------------------------------------------------

    def add_book(
        self, *, series: str, first: int, last: int, source: str = "manual", book_id: str = ""
    ) -> ReceiptBook:
        series = clean(series).upper()
        if not _SERIES.match(series):
            raise _problem(
                "series",
                "bad_series",
                "Ký hiệu biên lai chỉ gồm chữ, số, '-', '/', '.' (tối đa 20 ký tự).",
                "A receipt series has letters, digits, '-', '/', '.' (at most 20).",
            )
        if not (1 <= first <= last <= MAX_RECEIPT_NUMBER) or last - first + 1 > MAX_BOOK_SIZE:
            raise _problem(
                "range",
                "bad_range",
                f"Dải số không hợp lệ: {first}–{last} (từ 1, tối đa {MAX_BOOK_SIZE} số).",
                f"Invalid number range: {first}–{last} (from 1, at most {MAX_BOOK_SIZE}).",
            )
        with self.store.transaction() as conn:
            overlap = conn.execute(
                "SELECT first_number, last_number FROM receipt_book "
                "WHERE series = ? AND first_number <= ? AND last_number >= ?",
                (series, last, first),
            ).fetchone()
            if overlap is not None:
                raise _problem(
                    "range",
                    "overlapping_book",
                    f"Dải số {first}–{last} trùng với quyển {series} "
                    f"{overlap[0]}–{overlap[1]} đã có.",
                    f"Numbers {first}–{last} overlap book {series} {overlap[0]}–{overlap[1]}.",
                )
            book_id = book_id or self.store.new_id()
            conn.execute(
                "INSERT INTO receipt_book (id, series, first_number, last_number, next_number, "
                "source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (book_id, series, first, last, first, source, self.store.now_iso()),
            )
            # A book entered by hand goes to the province (before any receipt from it, which
            # comes later in the outbox), so that its receipts are taken without a supervisor.
            if source == "manual":
                self.store.append_outbox(
                    entity=RECEIPT_BOOK,
                    entity_id=book_id,
                    op="insert",
                    hlc=self.store.tick(),
                    data={"id": book_id, "series": series, "first": first, "last": last},
                )
        return self.book(book_id)

    def book(self, book_id: str) -> ReceiptBook:
        row = self.store.one("SELECT * FROM receipt_book WHERE id = ?", (book_id,))
        if row is None:
            raise NotFoundError("quyển biên lai", "receipt book", book_id)
        return ReceiptBook.from_row(row)

    def books(self) -> list[ReceiptBook]:
        """Every book on this device, in the order their numbers are used."""
        rows = self.store.query(f"SELECT * FROM receipt_book ORDER BY {_BOOK_ORDER}")
        return [ReceiptBook.from_row(r) for r in rows]

    def next_book(self) -> ReceiptBook | None:
        """The book the next receipt's number comes from: the choice `issue` makes."""
        row = self.store.one(_NEXT_BOOK)
        return None if row is None else ReceiptBook.from_row(row)

    # -- issuing --------------------------------------------------------------------------

    def requotes(self, pledge_ids: Sequence[str]) -> list[Requote]:
        """The pledges whose amount, under the rules in force today, differs from the quote."""
        return self.pledges.requotes(pledge_ids, self._today())

    def _today(self) -> dt.date:
        return self.store.clock.now().astimezone(VIETNAM_TZ).date()

    def issue(
        self,
        *,
        pledge_ids: Sequence[str],
        payer_member_id: str | None = None,
        requote: bool = False,
        seen: Sequence[Requote] | None = None,
    ) -> Receipt:
        """Record the payment of these pledges on the next free receipt number.

        Every pledge is first quoted again under the rules in force on the payment date. If
        an amount differs, the payment is refused (`requote_needed`, naming old and new
        amounts) unless `requote`: then each such pledge is replaced by a new one at the new
        amount (the old one marked superseded) and the new ones are paid. `seen` holds the
        re-quotes the agent was shown: if the rules give anything else by now, the payment is
        refused again rather than charging an amount nobody saw.
        Number, receipt, re-quotes, the pledges' "paid" events and the members' new card or
        BHXH months are one transaction: all of it is recorded, or nothing.
        """
        if not pledge_ids or len(set(pledge_ids)) != len(pledge_ids):
            raise _problem(
                "pledge_ids",
                "no_pledges",
                "Chọn các cam kết (không trùng) cần thu tiền.",
                "Choose the pledges (without repeats) being paid.",
            )
        with self.store.transaction() as conn:
            # Inside the transaction: two processes must not each mint a different local key.
            key = self._device_key()
            pledges = [self._open_pledge(conn, pid) for pid in pledge_ids]
            households = {p["household_id"] for p in pledges}
            schemes = {p["scheme"] for p in pledges}
            if len(households) != 1 or len(schemes) != 1:
                raise _problem(
                    "pledge_ids",
                    "mixed_pledges",
                    "Một biên lai chỉ thu cho một hộ và một loại bảo hiểm.",
                    "One receipt covers one household and one scheme.",
                )
            book = conn.execute(_NEXT_BOOK).fetchone()
            if book is None:
                raise FieldappError(
                    "Hết số biên lai: chưa có quyển biên lai còn số. Hãy nhận quyển mới trước "
                    "khi thu tiền.",
                    "No receipt numbers left: no receipt book has numbers. Get a new book "
                    "before taking money.",
                    code="no_receipt_numbers",
                )
            quote = self.pledges.payment_quote(pledge_ids, self._today())
            if quote.requotes and not requote:
                raise RequoteNeeded(quote.requotes)
            if seen is not None and _amounts(quote.requotes) != _amounts(seen):
                raise RequoteNeeded(quote.requotes or list(seen))
            if quote.requotes:
                replaced = self.pledges.apply_requotes(quote.requotes)
                pledge_ids = [replaced.get(pid, pid) for pid in pledge_ids]
                periods = {replaced.get(pid, pid): quote.periods[pid] for pid in quote.periods}
                pledges = [self._open_pledge(conn, pid) for pid in pledge_ids]
            else:
                periods = quote.periods
            number = int(book["next_number"])
            conn.execute(
                "UPDATE receipt_book SET next_number = next_number + 1 WHERE id = ?", (book["id"],)
            )
            household = conn.execute(
                "SELECT * FROM household WHERE id = ?", (pledges[0]["household_id"],)
            ).fetchone()
            payer = self._payer(conn, payer_member_id, pledges, household)
            receipt_id = self.store.new_id()
            now = self.store.clock.now()
            amount = sum(int(p["payable"]) for p in pledges)
            if amount <= 0:
                raise _problem(
                    "amount",
                    "nothing_to_pay",
                    "Số tiền phải thu bằng 0.",
                    "There is nothing to pay.",
                )
            start, end = _paid_period(pledges, periods)
            issued_on = now.astimezone(VIETNAM_TZ).date()
            seal = ReceiptSeal(receipt_id, book["series"], number, amount, issued_on)
            sig = seal.signature(key)
            data = {
                "id": receipt_id,
                "book_id": book["id"],
                "series": book["series"],
                "number": number,
                "payer_name": payer["full_name"],
                "payer_bhxh_code": payer["bhxh_code"],
                "payer_address": household["address"] or household["village"],
                "household_id": household["id"],
                "pledge_ids": list(pledge_ids),
                "amount": amount,
                "description": self._description(pledges[0]["scheme"], pledges, start, end),
                "period_from": start.isoformat(),
                "period_to": end.isoformat(),
                "issued_at": iso_utc(now),
                "issued_by": self.store.meta("agent_name") or self.store.meta("agent_id") or "",
                "verification_code": verification_code(sig),
            }
            qr = seal.qr_payload(key, server_url=self.store.meta("verify_url"))
            conn.execute(
                "INSERT INTO receipt (id, book_id, series, number, payer_name, payer_bhxh_code, "
                "payer_address, household_id, pledge_ids, amount, description, period_from, "
                "period_to, issued_at, issued_by, verification_code, qr_payload) VALUES "
                "(:id, :book_id, :series, :number, :payer_name, :payer_bhxh_code, "
                ":payer_address, :household_id, :pledge_ids, :amount, :description, "
                ":period_from, :period_to, :issued_at, :issued_by, :verification_code, :qr)",
                {**data, "pledge_ids": dumps(data["pledge_ids"]), "qr": qr},
            )
            self.store.append_outbox(
                entity="receipt",
                entity_id=receipt_id,
                op="insert",
                hlc=self.store.tick(),
                data=data,
            )
            for pledge in pledges:
                self.pledges.record_event(pledge["id"], "paid", reason="", receipt_id=receipt_id)
                before = self.pledges.record_payment(Pledge.from_row(pledge), periods[pledge["id"]])
                conn.execute(
                    "INSERT INTO payment_effect (receipt_id, pledge_id, member_id, before) "
                    "VALUES (?, ?, ?, ?)",
                    (receipt_id, pledge["id"], pledge["member_id"], dumps(before)),
                )
        return self.get(receipt_id)

    def void(self, receipt_id: str, *, reason: str) -> Receipt:
        """Void a spoiled receipt; it stays on record and its number is never reused."""
        reason = clean(reason)
        if not reason:
            raise _problem(
                "reason",
                "reason_required",
                "Cần ghi lý do huỷ biên lai.",
                "A reason is required to void a receipt.",
            )
        with self.store.transaction() as conn:
            receipt = self.get(receipt_id)
            if receipt.void_reason is not None:
                raise FieldappError(
                    f"Biên lai {receipt.series} số {receipt.number} đã bị huỷ trước đó.",
                    f"Receipt {receipt.series} {receipt.number} is already void.",
                    code="already_void",
                )
            data = {
                "id": self.store.new_id(),
                "receipt_id": receipt_id,
                "reason": reason,
                "at": self.store.now_iso(),
            }
            conn.execute(
                "INSERT INTO receipt_void (id, receipt_id, reason, at) "
                "VALUES (:id, :receipt_id, :reason, :at)",
                data,
            )
            self.store.append_outbox(
                entity="receipt_void",
                entity_id=data["id"],
                op="insert",
                hlc=self.store.tick(),
                data=data,
            )
            # The money of a spoiled receipt is taken again on a new one: its pledges wait for
            # payment again (a new status event; the "paid" event stays in the history).
            for pledge_id in receipt.pledge_ids:
                latest = conn.execute(
                    "SELECT status, receipt_id FROM pledge_event WHERE pledge_id = ? "
                    "ORDER BY at DESC, rowid DESC LIMIT 1",
                    (pledge_id,),
                ).fetchone()
                if latest is not None and tuple(latest) == ("paid", receipt_id):
                    self.pledges.record_event(
                        pledge_id,
                        "pledged",
                        reason=f"Biên lai {receipt.series} số {receipt.number:07d} huỷ: {reason}",
                        receipt_id=None,
                    )
                    effect = conn.execute(
                        "SELECT member_id, before FROM payment_effect "
                        "WHERE receipt_id = ? AND pledge_id = ?",
                        (receipt_id, pledge_id),
                    ).fetchone()
                    if effect is not None:
                        self.pledges.undo_payment(effect[0], loads(effect[1]))
        return self.get(receipt_id)

    # -- printing -------------------------------------------------------------------------

    def preview(self, receipt_id: str, *, layout: Layout = "a5") -> bytes:
        """The PDF the next print would give (original or copy), without counting a print."""
        from fieldapp.documents.receipt import render_receipt

        receipt = self.get(receipt_id)
        return render_receipt(
            self.document(receipt),
            layout=layout,
            copy=receipt.prints > 0,
            voided_reason=receipt.void_reason,
        )

    def render(self, receipt_id: str, *, layout: Layout = "a5") -> bytes:
        """The receipt's PDF, counted as a print; every print after the first is a copy."""
        # reportlab is loaded only when something is printed.
        from fieldapp.documents.receipt import render_receipt

        # Rendered inside the transaction: a render that fails counts no print, and two
        # processes printing at once cannot both get the original.
        with self.store.transaction() as conn:
            receipt = self.get(receipt_id)
            copy = receipt.prints > 0
            pdf = render_receipt(
                self.document(receipt),
                layout=layout,
                copy=copy,
                voided_reason=receipt.void_reason,
            )
            conn.execute(
                "INSERT INTO receipt_print (receipt_id, at, copy) VALUES (?, ?, ?)",
                (receipt_id, self.store.now_iso(), int(copy)),
            )
        return pdf

    def document(self, receipt: Receipt) -> ReceiptDocument:
        from fieldapp.documents.receipt import ReceiptDocument

        settings = self.header()
        return ReceiptDocument(
            bhxh_office=settings["bhxh_office"],
            collector_org=settings["collector_org"],
            form_no=settings["form_no"],
            series=receipt.series,
            number=receipt.number,
            issued_at=dt.datetime.fromisoformat(receipt.issued_at.replace("Z", "+00:00")),
            payer_name=receipt.payer_name,
            payer_bhxh_code=receipt.payer_bhxh_code or "",
            payer_address=receipt.payer_address,
            description=receipt.description,
            period_from=dt.date.fromisoformat(receipt.period_from),
            period_to=dt.date.fromisoformat(receipt.period_to),
            amount=receipt.amount,
            collector_name=receipt.issued_by,
            verification_code=receipt.verification_code,
            qr_payload=self.store.scalar(
                "SELECT qr_payload FROM receipt WHERE id = ?", (receipt.id,)
            ),
            receipt_id=receipt.id,
        )

    def header(self) -> dict[str, str]:
        """Receipt header texts: shipped defaults, overridden by the agent's settings."""
        defaults: dict[str, Any] = json.loads(resources.read_text("receipt.json"))
        return {
            key: self.store.meta(f"receipt_{key}") or str(defaults[key])
            for key in ("form_no", "bhxh_office", "collector_org")
        }

    # -- reading --------------------------------------------------------------------------

    def get(self, receipt_id: str) -> Receipt:
        rows = self._select("WHERE r.id = ?", (receipt_id,))
        if not rows:
            raise NotFoundError("biên lai", "receipt", receipt_id)
        return rows[0]

    def issued(self, *, household_id: str | None = None) -> list[Receipt]:
        if household_id:
            return self._select(
                "WHERE r.household_id = ? ORDER BY r.series, r.number", (household_id,)
            )
        return self._select("ORDER BY r.series, r.number", ())

    def _select(self, where: str, params: tuple[Any, ...]) -> list[Receipt]:
        rows = self.store.query(
            "SELECT r.*, v.reason AS void_reason, "
            "(SELECT count(*) FROM receipt_print p WHERE p.receipt_id = r.id) AS prints "
            "FROM receipt r LEFT JOIN receipt_void v ON v.receipt_id = r.id " + where,
            params,
        )
        return [Receipt.from_row(r) for r in rows]

    # -- internals ------------------------------------------------------------------------

    def _device_key(self) -> bytes:
        """The key receipts are signed with: the one from enrolment, else a local one."""
        enrolled = self.store.meta("device_key")
        if enrolled:
            # The key the server gave at enrolment (base64), which it uses to check receipts.
            return base64.b64decode(enrolled)
        local = self.store.meta("local_receipt_key")
        if local:
            return local.encode("ascii")
        value = os.urandom(32).hex()
        self.store.set_meta("local_receipt_key", value)
        return value.encode("ascii")

    def _open_pledge(self, conn: sqlite3.Connection, pledge_id: str) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM pledge WHERE id = ?", (pledge_id,)).fetchone()
        if row is None:
            raise NotFoundError("cam kết", "pledge", pledge_id)
        status = self.pledges.get(pledge_id).status
        if status != "pledged":
            # Said in words the family would use, with the member it concerns.
            raise FieldappError(
                f"Cam kết của {self._member_name(conn, row['member_id'])} không còn chờ thu "
                f"tiền ({_STATUS_VI.get(status, status)}).",
                f"The pledge of {self._member_name(conn, row['member_id'])} is not waiting for "
                f"payment ({status}).",
                code="pledge_not_open",
            )
        return row  # type: ignore[no-any-return]

    @staticmethod
    def _member_name(conn: sqlite3.Connection, member_id: str) -> str:
        row = conn.execute("SELECT full_name FROM member WHERE id = ?", (member_id,)).fetchone()
        return str(row[0]) if row else member_id

    def _payer(
        self,
        conn: sqlite3.Connection,
        payer_member_id: str | None,
        pledges: list[sqlite3.Row],
        household: sqlite3.Row,
    ) -> sqlite3.Row:
        # The head of the household pays by default, as on the paper receipts.
        head = conn.execute(
            "SELECT id FROM member WHERE household_id = ? AND removed = 0 AND relation = ? "
            "ORDER BY created_at LIMIT 1",
            (household["id"], "Chủ hộ"),
        ).fetchone()
        member_id = payer_member_id or (head[0] if head else pledges[0]["member_id"])
        row = conn.execute(
            "SELECT full_name, bhxh_code, household_id FROM member WHERE id = ?", (member_id,)
        ).fetchone()
        if row is None or row["household_id"] != household["id"]:
            raise NotFoundError("người nộp tiền trong hộ", "payer in the household", member_id)
        return row  # type: ignore[no-any-return]

    @staticmethod
    def _description(scheme: str, pledges: list[sqlite3.Row], start: dt.date, end: dt.date) -> str:
        months = int(loads(pledges[0]["params"])["months"])
        if scheme == "bhyt_household":
            # The card period (DOMAIN.md §4): what the family's cards will say.
            people = f" cho {len(pledges)} người" if len(pledges) > 1 else ""
            period = f"thẻ có giá trị từ ngày {start:%d/%m/%Y} đến ngày {end:%d/%m/%Y}"
            return f"Tiền đóng BHYT hộ gia đình{people}, phương thức đóng {months} tháng, {period}"
        period = f"từ tháng {start:%m/%Y} đến tháng {end:%m/%Y}"
        mode = loads(pledges[0]["params"]).get("mode", "periodic")
        how = {
            "lump_sum": f"đóng một lần cho {months // 12} năm về sau",
            "back_payment": f"đóng bù {months} tháng còn thiếu",
        }.get(mode, f"phương thức đóng {months} tháng")
        return f"Đóng tiền tham gia BHXH tự nguyện, {how}, {period}"
