"""End-of-day report, cash reconciliation, target progress, the report PDF and record exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest

from fieldapp.cli import main
from fieldapp.demo import DEMO_COMMUNE, DEMO_PROVINCE
from fieldapp.errors import ValidationError
from fieldapp.export import export_records
from fieldapp.reports import MAX_HANDOVER, Tally
from fieldapp.reports_pdf import render_day_report
from fieldapp.workspace import Workspace
from sync.protocol.clock import VIETNAM_TZ, FixedClock
from sync.protocol.money import amount_in_words, format_vnd
from tests.fieldapp.pdfcheck import flat, page_sizes_mm, page_texts, render_png

DAY1 = dt.date(2026, 11, 22)
DAY2 = dt.date(2026, 11, 23)
AGENT = "Nguyễn Thị Hương"

# DOMAIN.md §2–3 with the base figure 2,530,000 (from 2026-07-01): the household ladder for
# 12 months (1st 1,366,200; 2nd 956,340; 3rd 819,720), one member for 6 months 683,100, and
# BHXH tự nguyện near-poor at the floor 198,000 a month (2,376,000 a year).
BHYT_3_12 = 1_366_200 + 956_340 + 819_720
BHYT_1_6 = 683_100
BHXH_NEAR_POOR_12 = 2_376_000


# Every visit outcome a day report counts, and every scheme it adds up.
OUTCOMES = ("not_home", "consulted", "pledged", "refused", "paid", "follow_up")


def outcomes(**counted: int) -> dict[str, int]:
    """A day's visits by outcome: the ones named, and zero for every other outcome."""
    return {outcome: counted.get(outcome, 0) for outcome in OUTCOMES}


def by_scheme(bhyt: object, bhxh: object) -> dict[str, object]:
    """A figure for each scheme: BHYT hộ gia đình, then BHXH tự nguyện."""
    return {"bhyt_household": bhyt, "bhxh_voluntary": bhxh}


def vn(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=VIETNAM_TZ)


def move_to(clock: FixedClock, moment: dt.datetime) -> None:
    delta = moment - clock.now()
    assert delta >= dt.timedelta(0), "the clock only moves forward"
    clock.advance(seconds=delta.total_seconds())


@pytest.fixture
def clock() -> FixedClock:
    """The agent's clock, starting at 07:00 on 22 November 2026 in Vietnam."""
    return FixedClock(vn(DAY1, 7))


@dataclass
class Known:
    ws: Workspace
    clock: FixedClock


def build_known_store(ws: Workspace, clock: FixedClock) -> Known:
    """Two days of work with figures worked out by hand (see the tests for each)."""
    ws.store.set_meta("agent_name", AGENT)
    ws.receipts.add_book(series="AB-26", first=1, last=50)

    def household(head: str, village: str, groups: list[str]) -> str:
        return ws.households.add(
            province_code=DEMO_PROVINCE,
            commune_code=DEMO_COMMUNE,
            village=village,
            head_name=head,
            groups=groups,
        ).id

    # Day 1: household A consulted, pledges BHYT for three, pays; B not at home late evening.
    move_to(clock, vn(DAY1, 8))
    a = household("Lê Văn An", "Thôn Nậm Mòn", ["farmer"])
    a_members = [
        ws.members.add(a, full_name="Lê Văn An", relation="Chủ hộ").id,
        ws.members.add(a, full_name="Đỗ Thị Ánh", relation="Vợ").id,
        ws.members.add(a, full_name="Lê Thị Ngọc", relation="Con").id,
    ]
    ws.visits.record(a, outcome="consulted")
    move_to(clock, vn(DAY1, 9))
    pledges_a = ws.pledges.pledge_bhyt_household(
        a, member_ids=a_members, months=12, start=dt.date(2026, 12, 1)
    )
    ws.receipts.issue(pledge_ids=[p.id for p in pledges_a])
    ws.visits.record(a, outcome="paid")
    b = household("Giàng Seo Sử", "Bản Lầu Thí Ngài", ["near_poor"])
    b_head = ws.members.add(b, full_name="Giàng Seo Sử", relation="Chủ hộ").id
    move_to(clock, vn(DAY1, 23, 30))
    ws.visits.record(b, outcome="not_home")

    # Day 2, half an hour after midnight: D not at home (counts on day 2, not day 1).
    d = household("Hoàng Văn Thắng", "Thôn Đồi Chè", [])
    move_to(clock, vn(DAY2, 0, 30))
    ws.visits.record(d, outcome="not_home")
    # B pledges BHXH tự nguyện at the floor and pays.
    move_to(clock, vn(DAY2, 8))
    ws.visits.record(b, outcome="pledged")
    bhxh = ws.pledges.pledge_bhxh(b_head, income=1_500_000, months=12, start=DAY2)
    ws.receipts.issue(pledge_ids=[bhxh.id])
    # C pledges BHYT for one member; the first receipt is spoiled and voided, which reopens
    # the pledge, and it is paid on a second receipt.
    c = household("Triệu Thị Xuân", "Bản Phố", [])
    c_member = ws.members.add(c, full_name="Triệu Thị Xuân", relation="Chủ hộ").id
    move_to(clock, vn(DAY2, 9))
    first = ws.pledges.pledge_bhyt_household(
        c, member_ids=[c_member], months=6, start=dt.date(2026, 12, 1)
    )
    spoiled = ws.receipts.issue(pledge_ids=[first[0].id])
    ws.receipts.void(spoiled.id, reason="Viết sai tên người nộp")
    ws.receipts.issue(pledge_ids=[first[0].id])
    ws.visits.record(c, outcome="paid")
    move_to(clock, vn(DAY2, 15))
    ws.visits.record(d, outcome="follow_up", next_visit=dt.date(2026, 12, 5))
    # Another agent's visit pulled from the server: in the store, but not this agent's work.
    ws.store.conn.execute(
        "INSERT INTO visit (id, household_id, agent_id, at, outcome) VALUES (?, ?, ?, ?, ?)",
        ("pulled-visit", d, "another-agent", "2026-11-23T05:00:00.000Z", "paid"),
    )
    move_to(clock, vn(DAY2, 17, 30))
    return Known(ws, clock)


@pytest.fixture
def known(workspace: Workspace, clock: FixedClock) -> Known:
    """The two-day store of build_known_store, the clock at 17:30 on day 2."""
    return build_known_store(workspace, clock)


# -- day report ---------------------------------------------------------------------------------


def test_day_one_figures(known: Known) -> None:
    """Day 1: three visits (23:30 counts), three BHYT pledges, one receipt, all of it cash."""
    report = known.ws.reports.day(DAY1)
    assert report.agent_name == AGENT
    assert dict(report.visits) == outcomes(not_home=1, consulted=1, paid=1)
    assert report.visits_total == 3
    assert report.pledges == by_scheme(Tally(3, BHYT_3_12), Tally(0, 0))
    assert BHYT_3_12 == 3_142_260
    assert report.receipts_issued == by_scheme(Tally(1, 3_142_260), Tally(0, 0))
    assert report.receipts_voided == by_scheme(Tally(), Tally())
    assert report.voided == ()
    assert report.cash == by_scheme(3_142_260, 0)
    assert report.cash_total == 3_142_260
    assert report.reconciliation == "not_reconciled"


def test_day_two_figures(known: Known) -> None:
    """Day 2: every figure to the đồng, the voided receipt left out of the cash."""
    report = known.ws.reports.day(DAY2)
    # 00:30 not at home, B pledged, C paid, D follow-up; the pulled visit is not counted.
    assert dict(report.visits) == outcomes(not_home=1, pledged=1, paid=1, follow_up=1)
    assert report.visits_total == 4
    assert report.pledges == by_scheme(Tally(1, BHYT_1_6), Tally(1, BHXH_NEAR_POOR_12))
    assert report.receipts_issued == by_scheme(Tally(2, 1_366_200), Tally(1, 2_376_000))
    assert report.receipts_voided == by_scheme(Tally(1, 683_100), Tally(0, 0))
    [voided] = report.voided
    assert (voided.series, voided.number, voided.amount) == ("AB-26", 3, 683_100)
    assert voided.reason == "Viết sai tên người nộp"
    assert voided.issued_on == "2026-11-23"
    assert report.earlier_voided == ()
    assert report.cash == by_scheme(683_100, 2_376_000)
    assert report.cash_total == 3_059_100
    for scheme, amount in report.cash.items():
        assert (
            amount == report.receipts_issued[scheme].amount - report.receipts_voided[scheme].amount
        )


def test_pending_sync_is_the_outbox(known: Known) -> None:
    """Records pending sync are the outbox's pending rows; none once the server has them all."""
    pending = known.ws.store.scalar("SELECT count(*) FROM outbox WHERE state = 'pending'")
    assert pending > 0
    assert known.ws.reports.day(DAY2).pending_sync == pending
    known.ws.store.conn.execute("UPDATE outbox SET state = 'acked'")
    assert known.ws.reports.day(DAY2).pending_sync == 0


def test_void_of_an_earlier_day_is_flagged(known: Known) -> None:
    """A day-1 receipt voided on day 2 leaves day 1's cash and shows on day 2 as earlier."""
    known.ws.reports.reconcile(DAY1, 3_142_260)
    [receipt_id] = [
        r.id for r in known.ws.receipts.issued() if r.issued_at.startswith("2026-11-22")
    ]
    known.ws.receipts.void(receipt_id, reason="Trùng biên lai")
    day1 = known.ws.reports.day(DAY1)
    assert day1.cash_total == 0
    assert day1.reconciliation == "outdated"
    [earlier] = known.ws.reports.day(DAY2).earlier_voided
    assert (earlier.amount, earlier.issued_on, earlier.reason) == (
        3_142_260,
        "2026-11-22",
        "Trùng biên lai",
    )


def test_empty_day(workspace: Workspace) -> None:
    """A day without work reports zeros everywhere, and its PDF says "Không đồng" of cash."""
    report = workspace.reports.day(DAY1)
    assert report.visits_total == 0
    assert report.cash_total == 0
    assert all(t == Tally() for t in report.receipts_issued.values())
    assert "Bằng chữ: Không đồng." in flat(" ".join(page_texts(render_day_report(report))))


# -- reconciliation -----------------------------------------------------------------------------


def test_reconcile_without_difference(known: Known) -> None:
    """Handing over exactly the expected cash needs no reason and balances the day."""
    handover = known.ws.reports.reconcile(DAY2, 3_059_100)
    assert (handover.expected, handover.handed_over, handover.difference) == (
        3_059_100,
        3_059_100,
        0,
    )
    assert handover.scheme == "all"
    report = known.ws.reports.day(DAY2)
    assert report.handover == handover
    assert report.reconciliation == "balanced"


def test_reconcile_with_difference_and_reason(known: Known) -> None:
    """A shortfall with a reason is stored with its negative difference."""
    handover = known.ws.reports.reconcile(DAY2, 3_000_000, "Thiếu 59.100 đ, nộp bổ sung ngày mai")
    assert handover.difference == -59_100
    assert handover.reason == "Thiếu 59.100 đ, nộp bổ sung ngày mai"
    assert known.ws.reports.day(DAY2).reconciliation == "difference"


def test_reconcile_difference_without_reason_is_refused(known: Known) -> None:
    """A difference without a reason is refused in both languages and nothing is stored."""
    outbox = known.ws.store.scalar("SELECT count(*) FROM outbox")
    with pytest.raises(ValidationError) as caught:
        known.ws.reports.reconcile(DAY2, 3_100_000, "   ")
    assert caught.value.code == "reason_required"
    assert "lý do" in caught.value.vi
    assert "reason" in caught.value.en
    assert known.ws.store.scalar("SELECT count(*) FROM cash_handover") == 0
    assert known.ws.store.scalar("SELECT count(*) FROM outbox") == outbox


@pytest.mark.parametrize(
    ("amount", "code"),
    [(-1, "negative_amount"), (MAX_HANDOVER + 1, "amount_too_large"), (True, "not_whole_dong")],
)
def test_reconcile_refuses_bad_amounts(known: Known, amount: int, code: str) -> None:
    """Negative, absurd (over 10 billion đồng) and non-integer amounts are refused."""
    with pytest.raises(ValidationError) as caught:
        known.ws.reports.reconcile(DAY2, amount, "lý do")
    assert caught.value.code == code
    assert known.ws.store.scalar("SELECT count(*) FROM cash_handover") == 0


def test_reconcile_refuses_a_future_day(known: Known) -> None:
    """A day that has not come yet cannot be reconciled."""
    with pytest.raises(ValidationError) as caught:
        known.ws.reports.reconcile(DAY2 + dt.timedelta(days=1), 0)
    assert caught.value.code == "day_in_future"


def test_correction_supersedes_and_history_is_kept(known: Known) -> None:
    """A correction is a new row; the latest counts, the earlier stays; each one is synced."""
    outbox = known.ws.store.scalar("SELECT count(*) FROM outbox")
    first = known.ws.reports.reconcile(DAY2, 3_000_000, "Đếm thiếu")
    second = known.ws.reports.reconcile(DAY2, 3_059_100)
    assert known.ws.reports.day(DAY2).handover == second
    assert known.ws.reports.day(DAY2).reconciliation == "balanced"
    assert known.ws.reports.handover_history(DAY2) == [first, second]
    assert known.ws.store.scalar("SELECT count(*) FROM outbox") == outbox + 2
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        known.ws.store.conn.execute("UPDATE cash_handover SET handed_over = 0")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        known.ws.store.conn.execute("DELETE FROM cash_handover")


def test_reconcile_one_scheme(known: Known) -> None:
    """A handover for one scheme is checked against that scheme's cash only."""
    handover = known.ws.reports.reconcile(DAY2, 2_376_000, scheme="bhxh_voluntary")
    assert (handover.expected, handover.difference) == (2_376_000, 0)
    assert set(known.ws.reports.day(DAY2).handovers) == {"bhxh_voluntary"}


# -- targets ------------------------------------------------------------------------------------


def test_month_progress_against_targets(known: Known) -> None:
    """November: 4 people newly covered by BHYT (A's three and C), 1 by BHXH, against targets."""
    store = known.ws.store
    store.conn.executemany(
        "INSERT INTO target (id, scheme, month, count) VALUES (?, ?, ?, ?)",
        [
            ("t1", "bhyt", "2026-11", 10),
            ("t2", "bhxh_voluntary", "2026-11", 4),
            ("t3", "bhyt", "2026-12", 99),
        ],
    )
    # A payment half an hour into December (Vietnam time) belongs to December.
    e = known.ws.households.add(
        province_code=DEMO_PROVINCE,
        commune_code=DEMO_COMMUNE,
        village="Bản Cốc Ly",
        head_name="Lò Văn Pó",
    ).id
    member = known.ws.members.add(e, full_name="Lò Văn Pó", relation="Chủ hộ").id
    [pledge] = known.ws.pledges.pledge_bhyt_household(
        e, member_ids=[member], months=6, start=dt.date(2026, 12, 1)
    )
    move_to(known.clock, vn(dt.date(2026, 12, 1), 0, 30))
    known.ws.receipts.issue(pledge_ids=[pledge.id])

    november = {p.scheme: p for p in known.ws.reports.month_progress("2026-11")}
    assert (november["bhyt_household"].target, november["bhyt_household"].achieved) == (10, 4)
    assert november["bhyt_household"].percent == 40.0
    assert (november["bhxh_voluntary"].target, november["bhxh_voluntary"].achieved) == (4, 1)
    assert november["bhxh_voluntary"].percent == 25.0
    december = {p.scheme: p for p in known.ws.reports.month_progress("2026-12")}
    assert (december["bhyt_household"].target, december["bhyt_household"].achieved) == (99, 1)
    assert (december["bhxh_voluntary"].target, december["bhxh_voluntary"].percent) == (None, None)


def test_month_progress_leaves_out_voided_payments(known: Known) -> None:
    """A member whose only payment was voided is not newly covered."""
    store = known.ws.store
    store.conn.execute(
        "INSERT INTO target (id, scheme, month, count) VALUES ('t', 'bhyt', '2026-11', 3)"
    )
    before = known.ws.reports.month_progress("2026-11")[0]
    last = max(known.ws.receipts.issued(), key=lambda r: r.number)
    known.ws.receipts.void(last.id, reason="Khách đổi ý")
    after = known.ws.reports.month_progress("2026-11")[0]
    assert (before.achieved, after.achieved) == (4, 3)
    assert after.percent == 100.0


def test_month_progress_refuses_a_bad_month(workspace: Workspace) -> None:
    """A month not in YYYY-MM form is refused."""
    with pytest.raises(ValidationError):
        workspace.reports.month_progress("2026-13")


# -- PDF ----------------------------------------------------------------------------------------


def test_day_report_pdf(known: Known, tmp_path: Path) -> None:
    """The PDF is A4 portrait with the title, the agent's name, the cash in figures and words."""
    known.ws.reports.reconcile(DAY2, 3_000_000, "Thiếu tiền lẻ, nộp bổ sung ngày 24/11")
    pdf = render_day_report(known.ws.reports.day(DAY2))
    [(w, h)] = page_sizes_mm(pdf)
    assert (round(w), round(h)) == (210, 297)
    text = flat(" ".join(page_texts(pdf)))
    assert unicodedata.is_normalized("NFC", text)
    assert "BÁO CÁO CUỐI NGÀY" in text
    assert AGENT in text
    assert format_vnd(3_059_100) in text
    assert amount_in_words(3_059_100) in text
    assert "Ba triệu không trăm năm mươi chín nghìn một trăm đồng" in text
    assert "Viết sai tên người nộp" in text
    assert format_vnd(-59_100) in text
    assert "Nhân viên thu" in text
    assert "Người nhận tiền" in text
    assert "(Ký, ghi rõ họ tên)" in text
    assert render_png(pdf, tmp_path, dpi=70).stat().st_size > 0


def test_day_report_pdf_not_reconciled_and_nfd_name(known: Known) -> None:
    """A decomposed (NFD) agent name comes out NFC; an unreconciled day leaves blanks to fill."""
    known.ws.store.set_meta("agent_name", unicodedata.normalize("NFD", AGENT))
    pdf = render_day_report(known.ws.reports.day(DAY1))
    text = flat(" ".join(page_texts(pdf)))
    assert AGENT in text
    assert "Chưa đối chiếu" in text
    assert amount_in_words(3_142_260) in text


# -- export -------------------------------------------------------------------------------------


def test_export_csv_zip(known: Known, tmp_path: Path) -> None:
    """CSV export: a zip of UTF-8 CSVs with a BOM, Vietnamese intact, own records only."""
    path = tmp_path / "out" / "ban-ghi.zip"
    summary = export_records(known.ws, path, fmt="csv")
    assert summary.rows == {
        "households": 4,
        "members": 5,
        "visits": 7,
        "pledges": 5,
        "receipts": 4,
    }
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted(f"{n}.csv" for n in summary.rows)
        raw = archive.read("members.csv")
        assert raw.startswith(b"\xef\xbb\xbf")
        members = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        receipts = list(
            csv.DictReader(io.StringIO(archive.read("receipts.csv").decode("utf-8-sig")))
        )
    assert {m["Họ và tên"] for m in members} >= {"Đỗ Thị Ánh", "Giàng Seo Sử"}
    voided = [r for r in receipts if r["Trạng thái"] == "voided"]
    assert [(r["Số tiền (đ)"], r["Lý do huỷ"]) for r in voided] == [
        ("683100", "Viết sai tên người nộp")
    ]
    assert not list(path.parent.glob("*.part"))


def test_export_xlsx(known: Known, tmp_path: Path) -> None:
    """XLSX export: one sheet per table, read back with openpyxl, amounts as integers."""
    path = tmp_path / "ban-ghi.xlsx"
    export_records(known.ws, path, fmt="xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Hộ gia đình", "Thành viên", "Lần thăm", "Cam kết", "Biên lai"]
    heads = {row[4] for row in book["Hộ gia đình"].iter_rows(min_row=2, values_only=True)}
    assert "Triệu Thị Xuân" in heads
    pledges = list(book["Cam kết"].iter_rows(min_row=2, values_only=True))
    assert sum(p[9] for p in pledges) == BHYT_3_12 + BHYT_1_6 + BHXH_NEAR_POOR_12
    assert {p[12] for p in pledges} == {"paid"}


def test_export_keeps_formulas_as_text(workspace: Workspace, tmp_path: Path) -> None:
    """Text that looks like a spreadsheet formula is defused (a leading apostrophe) in XLSX and
    in CSV alike, so editing the cell in Excel cannot turn it into a formula either."""
    workspace.households.add(
        province_code=DEMO_PROVINCE,
        commune_code=DEMO_COMMUNE,
        village="Thôn Nậm Mòn",
        head_name="Lê Văn An",
        notes='=HYPERLINK("http://example.invalid")',
    )
    export_records(workspace, tmp_path / "a.xlsx", fmt="xlsx")
    cell = openpyxl.load_workbook(tmp_path / "a.xlsx")["Hộ gia đình"]["J2"]
    assert cell.data_type == "s"
    assert cell.value == '\'=HYPERLINK("http://example.invalid")'
    export_records(workspace, tmp_path / "a.zip", fmt="csv")
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        rows = list(csv.reader(io.StringIO(archive.read("households.csv").decode("utf-8-sig"))))
    assert rows[1][9] == '\'=HYPERLINK("http://example.invalid")'


def test_export_refuses_mismatched_name(workspace: Workspace, tmp_path: Path) -> None:
    """A CSV export must be named .zip (it holds several files); nothing is written otherwise."""
    with pytest.raises(ValidationError):
        export_records(workspace, tmp_path / "out" / "x.csv", fmt="csv")
    with pytest.raises(ValidationError):
        export_records(workspace, tmp_path / "out" / "x.xlsx", fmt="ods")
    assert not (tmp_path / "out").exists()


# -- command line -------------------------------------------------------------------------------


@pytest.fixture
def cli_store(tmp_path: Path) -> Path:
    """The known store in a data folder of its own, closed, for the command line to open."""
    folder = tmp_path / "cli-data"
    clock = FixedClock(vn(DAY1, 7))
    ws = Workspace.open(folder, clock=clock)
    build_known_store(ws, clock)
    ws.close()
    return folder


# What cli gives: run the command line with these arguments.
Command = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(
    cli_store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Command:
    """Run `fieldapp --data-dir <the known store> …`, in Vietnamese: exit code, stdout, stderr."""
    monkeypatch.setenv("FIELDAPP_LANG", "vi")

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--data-dir", str(cli_store), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_cli_report_day(cli: Command, tmp_path: Path) -> None:
    """report day: Vietnamese text, --json with exact figures, --out writes the PDF."""
    base = ("report", "day", "--date", "2026-11-23")
    code, out, err = cli(*base)
    assert code == 0, err
    assert "Tiền mặt phải nộp" in out
    assert "3.059.100 đ" in out
    code, out, _ = cli(*base, "--json")
    data = json.loads(out)
    assert data["cash_total"] == 3_059_100
    assert data["receipts_voided"]["bhyt_household"] == {"count": 1, "amount": 683_100}
    pdf = tmp_path / "bao-cao.pdf"
    code, _, err = cli(*base, "--out", str(pdf))
    assert code == 0
    assert "BÁO CÁO CUỐI NGÀY" in " ".join(page_texts(pdf.read_bytes()))


def test_cli_reconcile_and_month(cli: Command, monkeypatch: pytest.MonkeyPatch) -> None:
    """reconcile refuses a difference without reason (stderr, exit 1), then records one."""
    code, out, err = cli("reconcile", "--amount", "3.000.000", "--date", "2026-11-23")
    assert code == 1
    assert out == ""
    assert "lý do" in err
    code, out, err = cli("reconcile", "--amount", "-5", "--date", "2026-11-23")
    assert code == 1
    assert "âm" in err
    code, out, err = cli(
        "reconcile",
        "--amount",
        "3000000",
        "--date",
        "2026-11-23",
        "--reason",
        "Thiếu tiền lẻ",
    )
    assert code == 0, err
    assert "-59.100 đ" in out
    code, out, _ = cli("report", "day", "--date", "2026-11-23", "--json")
    assert json.loads(out)["handovers"]["all"]["difference"] == -59_100

    monkeypatch.setenv("FIELDAPP_LANG", "en")
    code, out, err = cli("report", "month", "--month", "2026-11", "--json")
    assert code == 0, err
    achieved = {p["scheme"]: p["achieved"] for p in json.loads(out)}
    assert achieved == {"bhyt_household": 4, "bhxh_voluntary": 1}
    code, out, err = cli("reconcile", "--amount", "1", "--date", "2026-11-23")
    assert code == 1
    assert "reason" in err


def test_cli_export(cli: Command, tmp_path: Path) -> None:
    """export writes a zip of CSVs or an XLSX workbook, chosen by --format or the file name."""
    code, _, err = cli("export", "--out", str(tmp_path / "a.xlsx"))
    assert code == 0, err
    assert openpyxl.load_workbook(tmp_path / "a.xlsx").sheetnames[0] == "Hộ gia đình"
    code, _, err = cli("export", "--out", str(tmp_path / "a.zip"), "--format", "csv")
    assert code == 0, err
    assert zipfile.is_zipfile(tmp_path / "a.zip")
    code, _out, err = cli("export", "--out", str(tmp_path / "a.csv"))
    assert code == 1
    assert ".zip" in err


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    """--help works for every new command and is in Vietnamese by default."""
    for argv in (["report"], ["report", "day"], ["report", "month"], ["reconcile"], ["export"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*argv, "--help"])
        assert exit_info.value.code == 0
        out, _ = capsys.readouterr()
        assert "usage:" in out
