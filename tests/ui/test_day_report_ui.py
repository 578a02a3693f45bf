"""The End of day area on a copy of the demo store: figures, cash handover, targets, exports."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

import pypdf
import pytest

from fieldapp import syncstate
from fieldapp.errors import ValidationError
from fieldapp.model import SCHEMES, VISIT_OUTCOMES
from fieldapp.workspace import Workspace
from sync.protocol.hlc import hlc_format
from sync.protocol.money import format_vnd
from tests.fieldapp.samples import new_household
from tests.ui.test_receipts_ui import issued_receipt
from ui.app import App
from ui.day_report import DayReportPage, amount_value
from ui.main_window import END_OF_DAY
from ui.printing import DocumentDialog


def open_day(app: App, idle) -> DayReportPage:
    """Open the End of day area: its page, with the day's figures loaded."""
    app.window.day_area_action.trigger()
    idle()
    assert app.window.stack.currentIndex() == END_OF_DAY
    page = app.window.day_page
    assert page.data is not None
    return page


def pull_bhyt_target(workspace: Workspace, count: int) -> str:
    """This month's BHYT target, as a page pulled from the server brings it; the month."""
    month = workspace.store.clock.today().strftime("%Y-%m")
    change = {
        "seq": 1,
        "entity": "target",
        "id": str(uuid.uuid4()),
        "hlc": hlc_format(1_795_000_000_000, 0, str(uuid.uuid4())),
        "data": {"scheme": "bhyt_household", "month": month, "count": count},
    }
    syncstate.apply_page(workspace.store, [change], new_cursor=1)
    return month


def test_figures_match_the_day_report(app: App, idle, workspace: Workspace) -> None:
    """Visits by outcome, pledges, receipts, cash per scheme and pending are the core's figures."""
    household_id, _receipt = issued_receipt(workspace)
    for outcome in ("consulted", "not_home", "consulted"):
        workspace.visits.record(household_id, outcome=outcome)
    # The demo's work stays on the laptop; a real household's visit waits for the sync.
    real = new_household(workspace, commune_code="04001", head_name="Hà Văn Dũng")
    workspace.visits.record(real.id, outcome="consulted")
    page = open_day(app, idle)
    report = workspace.reports.day(workspace.store.clock.today())
    assert page.data.report.day == report.day
    assert report.cash_total > 0 and report.visits_total > 0
    for code in VISIT_OUTCOMES:
        assert page.visit_labels[code].text() == str(report.visits[code])
    assert page.visits_total_label.text() == str(report.visits_total)
    for scheme in SCHEMES:
        pledged, issued = report.pledges[scheme], report.receipts_issued[scheme]
        shown = (page.pledge_labels[scheme].text(), page.issued_labels[scheme].text())
        assert shown == (
            f"{pledged.count} · {format_vnd(pledged.amount)}",
            f"{issued.count} · {format_vnd(issued.amount)}",
        )
        assert page.cash_labels[scheme].text() == format_vnd(report.cash[scheme])
    assert page.cash_total_label.text() == format_vnd(report.cash_total)
    # The real household and its visit, and the book entered by hand (it goes to the province).
    assert report.pending_sync == 3
    assert f"Còn {report.pending_sync} bản ghi" in page.pending_label.text()
    assert "Chưa ghi nhận bàn giao" in page.reconciliation_label.text()


def test_difference_needs_a_reason(app: App, idle, workspace: Workspace, typing) -> None:
    """Short cash and no reason: the core's message, nothing stored; with a reason it is kept."""
    issued_receipt(workspace)
    page = open_day(app, idle)
    day = page.data.report.day
    due = page.data.report.cash_total
    short = due - 50000
    with pytest.raises(ValidationError) as refused:
        workspace.reports.reconcile(day, short)  # what the core says; it stores nothing
    core_message = refused.value.problems[0].message("vi")

    page.amount_edit.setText(f"{short:,}".replace(",", "."))
    page.handover_button.click()
    idle()
    assert page.handover_message.text() == core_message
    assert "cần ghi lý do" in page.handover_message.text()
    assert workspace.reports.latest_handovers(day) == {}

    typing(page.reason_edit, "Hộ ông Páo trả thiếu, hẹn nộp bù")
    page.handover_button.click()
    idle()
    handovers = workspace.reports.latest_handovers(day)
    assert handovers["all"].difference == -50000
    assert handovers["all"].reason == "Hộ ông Páo trả thiếu, hẹn nộp bù"
    assert "Đã ghi nhận" in page.handover_message.text()
    assert "có chênh lệch" in page.reconciliation_label.text()
    assert page.amount_edit.text() == "" and page.reason_edit.text() == ""


def test_amount_typing_is_left_to_the_core() -> None:
    """Dots, spaces and đ around digits are read as đồng; anything else goes to the core as is."""
    assert amount_value("1.250.000 đ") == 1250000
    assert amount_value("1 250 000") == 1250000
    assert amount_value("một triệu") == "một triệu"


def test_targets_report_pdf_and_export(
    app: App, qtbot, idle, workspace: Workspace, tmp_path: Path
) -> None:
    """Targets pulled from the server show as progress bars; the PDF opens; records export."""
    pull_bhyt_target(workspace, 400)
    page = open_day(app, idle)
    bar = page.target_bars["bhyt_household"]
    achieved = next(t for t in page.data.targets if t.scheme == "bhyt_household").achieved
    assert (bar.maximum(), bar.value()) == (400, min(achieved, 400))
    assert bar.text().startswith(f"{achieved}/400 người")
    assert "chưa có chỉ tiêu" in page.target_bars["bhxh_voluntary"].text()

    page.print_button.click()
    idle()
    dialog = app.window.findChild(DocumentDialog)
    assert dialog is not None
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(dialog.document.pdf)).pages)
    assert format_vnd(page.data.report.cash_total).replace("\u00a0", " ")[:3] in text
    dialog.reject()

    page.export_to(tmp_path / "ban-ghi", "csv")
    idle()
    assert zipfile.is_zipfile(tmp_path / "ban-ghi.zip")
    assert "Đã xuất dữ liệu" in page.status_label.text()
    page.export_to(tmp_path / "ban-ghi.xlsx", "xlsx")
    idle()
    assert (tmp_path / "ban-ghi.xlsx").stat().st_size > 0
