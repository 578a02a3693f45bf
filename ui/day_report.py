"""The End of day area: the day's figures, the cash handover, the report PDF, exports, targets."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from PySide6.QtCore import QDate, QStandardPaths, Qt, Signal
from PySide6.QtWidgets import (
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fieldapp.errors import ValidationError
from fieldapp.export import ExportSummary, export_records
from fieldapp.model import SCHEMES, VISIT_OUTCOMES
from fieldapp.reports import DayReport, Handover, TargetProgress
from fieldapp.reports_pdf import render_day_report
from fieldapp.workspace import Workspace
from sync.protocol import i18n
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import frozen
from sync.protocol.i18n import say
from sync.protocol.labels import outcome_label, scheme_label
from sync.protocol.money import format_vnd
from ui.charts import TargetChart
from ui.forms import ERROR_STYLE
from ui.labels import date_text, moment_text
from ui.operations import Operations
from ui.printing import show_document

OK_STYLE = "color: #1b5e20;"
WARN_STYLE = "color: #8a5300;"
# What the agent may type around the digits of an amount: "1.250.000 đ", "1 250 000".
_AMOUNT_DECORATION = re.compile(r"[\s.,đ₫]|VND", re.IGNORECASE)


@frozen
class DayData:
    """One day's report with the month's targets, read together on the worker."""

    report: DayReport
    targets: list[TargetProgress]


def load_day(ws: Workspace, day: dt.date | None) -> DayData:
    day = day or ws.today()
    return DayData(ws.reports.day(day), ws.reports.month_progress(day.strftime("%Y-%m")))


def amount_value(text: str) -> int | str:
    """The typed amount as whole đồng; anything else goes to the core as typed, to refuse."""
    digits = _AMOUNT_DECORATION.sub("", text)
    return int(digits) if digits.isdigit() else text.strip()


def _value(label: QLabel) -> QLabel:
    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return label


class DayReportPage(QWidget):
    """Shows one day (today by default) and records the cash handed over for it."""

    handed_over = Signal()
    pending_changed = Signal(int)

    def __init__(self, ops: Operations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ops = ops
        self.data: DayData | None = None
        self.day: dt.date | None = None

        self.heading = QLabel()
        self.heading.setProperty("role", "title")
        self.day_edit = QDateEdit()
        self.day_edit.setCalendarPopup(True)
        self.day_edit.setDisplayFormat("dd/MM/yyyy")
        self.day_edit.dateChanged.connect(self._day_chosen)
        self.print_button = QPushButton()
        self.print_button.clicked.connect(self.show_pdf)
        self.export_button = QPushButton()
        self.export_button.clicked.connect(self.choose_export_file)
        top = QHBoxLayout()
        top.addWidget(self.heading)
        top.addWidget(self.day_edit)
        top.addStretch(1)
        top.addWidget(self.print_button)
        top.addWidget(self.export_button)

        # Visits by outcome.
        self.visits_box = QGroupBox()
        visits_form = QFormLayout(self.visits_box)
        self.outcome_captions = {code: QLabel() for code in VISIT_OUTCOMES}
        self.visit_labels = {code: _value(QLabel()) for code in VISIT_OUTCOMES}
        for code in VISIT_OUTCOMES:
            visits_form.addRow(self.outcome_captions[code], self.visit_labels[code])
        self.visits_total_caption = QLabel()
        self.visits_total_label = _value(QLabel())
        self.visits_total_label.setStyleSheet("font-weight: bold;")
        visits_form.addRow(self.visits_total_caption, self.visits_total_label)

        # Pledges, receipts and cash per scheme.
        self.money_box = QGroupBox()
        grid = QGridLayout(self.money_box)
        grid.setHorizontalSpacing(18)
        self.money_headers = [QLabel() for _ in range(5)]
        for column, header in enumerate(self.money_headers):
            header.setStyleSheet("font-weight: bold;")
            grid.addWidget(header, 0, column)
        self.scheme_captions: dict[str, QLabel] = {}
        self.pledge_labels: dict[str, QLabel] = {}
        self.issued_labels: dict[str, QLabel] = {}
        self.voided_labels: dict[str, QLabel] = {}
        self.cash_labels: dict[str, QLabel] = {}
        for row, scheme in enumerate(SCHEMES, start=1):
            self.scheme_captions[scheme] = QLabel()
            self.pledge_labels[scheme] = _value(QLabel())
            self.issued_labels[scheme] = _value(QLabel())
            self.voided_labels[scheme] = _value(QLabel())
            self.cash_labels[scheme] = _value(QLabel())
            for column, widget in enumerate(
                (
                    self.scheme_captions[scheme],
                    self.pledge_labels[scheme],
                    self.issued_labels[scheme],
                    self.voided_labels[scheme],
                    self.cash_labels[scheme],
                )
            ):
                grid.addWidget(widget, row, column)
        last = len(SCHEMES) + 1
        self.counts_note = QLabel()
        self.counts_note.setStyleSheet("color: #555;")
        grid.addWidget(self.counts_note, last, 0, 1, 4)
        last += 1
        self.cash_total_caption = QLabel()
        self.cash_total_caption.setStyleSheet("font-weight: bold;")
        self.cash_total_label = _value(QLabel())
        self.cash_total_label.setObjectName("cashTotal")
        self.cash_total_label.setStyleSheet("font-weight: bold; font-size: 14pt;")
        grid.addWidget(self.cash_total_caption, last, 0, 1, 4)
        grid.addWidget(self.cash_total_label, last, 4)
        self.pending_label = QLabel()
        self.pending_label.setWordWrap(True)
        grid.addWidget(self.pending_label, last + 1, 0, 1, 5)
        self.voided_note = QLabel()
        self.voided_note.setWordWrap(True)
        self.voided_note.setStyleSheet(WARN_STYLE)
        grid.addWidget(self.voided_note, last + 2, 0, 1, 5)

        # The cash handover.
        self.handover_box = QGroupBox()
        handover_form = QFormLayout(self.handover_box)
        self.expected_caption = QLabel()
        self.expected_label = QLabel()
        self.expected_label.setStyleSheet("font-weight: bold;")
        self.amount_caption = QLabel()
        self.amount_edit = QLineEdit()
        self.amount_edit.setObjectName("handedOver")
        self.amount_edit.setPlaceholderText("0")
        self.amount_caption.setBuddy(self.amount_edit)
        self.reason_caption = QLabel()
        self.reason_edit = QLineEdit()
        self.reason_caption.setBuddy(self.reason_edit)
        self.handover_button = QPushButton()
        self.handover_button.clicked.connect(self.reconcile)
        self.amount_edit.returnPressed.connect(self.reconcile)
        self.reason_edit.returnPressed.connect(self.reconcile)
        self.handover_message = QLabel()
        self.handover_message.setObjectName("handoverMessage")
        self.handover_message.setWordWrap(True)
        self.reconciliation_label = QLabel()
        self.reconciliation_label.setWordWrap(True)
        handover_form.addRow(self.expected_caption, self.expected_label)
        handover_form.addRow(self.amount_caption, self.amount_edit)
        handover_form.addRow(self.reason_caption, self.reason_edit)
        button_row = QHBoxLayout()
        button_row.addWidget(self.handover_button)
        button_row.addStretch(1)
        handover_form.addRow("", button_row)
        handover_form.addRow(self.handover_message)
        handover_form.addRow(self.reconciliation_label)

        # The month's targets.
        self.targets_box = QGroupBox()
        self.targets_layout = QFormLayout(self.targets_box)
        self.target_captions: dict[str, QLabel] = {}
        self.target_bars: dict[str, QProgressBar] = {}
        for scheme in SCHEMES:
            caption = QLabel()
            bar = QProgressBar()
            bar.setMinimumWidth(200)
            self.target_captions[scheme] = caption
            self.target_bars[scheme] = bar
            self.targets_layout.addRow(caption, bar)
        # The same figures drawn against the target, and day by day against the target pace.
        self.target_chart = TargetChart()
        self.targets_layout.addRow(self.target_chart)

        self.status_label = QLabel()
        self.status_label.setWordWrap(True)

        left = QVBoxLayout()
        left.addWidget(self.visits_box)
        left.addWidget(self.targets_box)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(self.money_box)
        right.addWidget(self.handover_box)
        right.addStretch(1)
        columns = QHBoxLayout()
        columns.addLayout(left, 2)
        columns.addLayout(right, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(columns, 1)
        layout.addWidget(self.status_label)
        self.retranslate()

    # -- loading --------------------------------------------------------------------------

    def refresh(self) -> None:
        day = self.day
        self._ops.run_op(self, lambda ws: load_day(ws, day), success=self._show)

    def _day_chosen(self, date: QDate) -> None:
        chosen = dt.date(date.year(), date.month(), date.day())
        if self.data is not None and chosen != self.data.report.day:
            self.day = chosen
            self.handover_message.clear()
            self.refresh()

    def _show(self, data: DayData) -> None:
        self.data = data
        report = data.report
        self.day_edit.blockSignals(True)
        self.day_edit.setDate(QDate(report.day.year, report.day.month, report.day.day))
        self.day_edit.blockSignals(False)
        for code in VISIT_OUTCOMES:
            self.visit_labels[code].setText(str(report.visits.get(code, 0)))
        self.visits_total_label.setText(str(report.visits_total))
        for scheme in SCHEMES:
            pledged = report.pledges[scheme]
            issued = report.receipts_issued[scheme]
            voided = report.receipts_voided[scheme]
            self.pledge_labels[scheme].setText(f"{pledged.count} · {format_vnd(pledged.amount)}")
            self.issued_labels[scheme].setText(f"{issued.count} · {format_vnd(issued.amount)}")
            self.voided_labels[scheme].setText(f"{voided.count} · {format_vnd(voided.amount)}")
            self.cash_labels[scheme].setText(format_vnd(report.cash[scheme]))
        self.cash_total_label.setText(format_vnd(report.cash_total))
        self.expected_label.setText(format_vnd(report.cash_total))
        self.pending_changed.emit(report.pending_sync)
        if report.pending_sync:
            self.pending_label.setStyleSheet(WARN_STYLE)
            self.pending_label.setText(
                say(
                    "Còn {n} bản ghi chưa đồng bộ lên máy chủ tỉnh.",
                    "{n} record(s) not yet synced to the provincial server.",
                ).format(n=report.pending_sync)
            )
        else:
            self.pending_label.setStyleSheet(OK_STYLE)
            self.pending_label.setText(
                say("Mọi bản ghi đã được đồng bộ.", "Every record has been synced.")
            )
        earlier = report.earlier_voided
        self.voided_note.setVisible(bool(earlier))
        if earlier:
            self.voided_note.setText(
                say(
                    "{n} biên lai của ngày trước bị huỷ hôm nay: kiểm tra lại khoản đã bàn giao.",
                    "{n} receipt(s) of earlier days voided today: check what was handed over.",
                ).format(n=len(earlier))
            )
        self._show_reconciliation(report)
        self._show_targets(data.targets)

    def _show_reconciliation(self, report: DayReport) -> None:
        state = report.reconciliation
        handover = report.handover
        texts = {
            "not_reconciled": say(
                "Chưa ghi nhận bàn giao tiền cho ngày này.",
                "No cash handover recorded for this day yet.",
            ),
            "balanced": say("Đã bàn giao đủ.", "Handed over in full."),
            "difference": say("Đã bàn giao, có chênh lệch.", "Handed over, with a difference."),
            "outdated": say(
                "Biên lai đã thay đổi sau lần bàn giao: cần đối chiếu lại.",
                "Receipts changed after the handover: reconcile again.",
            ),
        }
        lines = [texts.get(state, state)]
        if handover is not None:
            lines.append(self._handover_text(handover))
        self.reconciliation_label.setStyleSheet(OK_STYLE if state == "balanced" else WARN_STYLE)
        self.reconciliation_label.setText("\n".join(lines))

    @staticmethod
    def _handover_text(handover: Handover) -> str:
        text = say(
            "Lần gần nhất {at}: nộp {amount}, chênh lệch {difference}",
            "Latest {at}: handed over {amount}, difference {difference}",
        ).format(
            at=moment_text(handover.at),
            amount=format_vnd(handover.handed_over),
            difference=format_vnd(handover.difference),
        )
        return f"{text} ({handover.reason})" if handover.reason else text

    def _show_targets(self, targets: list[TargetProgress]) -> None:
        by_scheme = {t.scheme: t for t in targets}
        for scheme in SCHEMES:
            progress = by_scheme.get(scheme)
            bar = self.target_bars[scheme]
            achieved = progress.achieved if progress else 0
            target = progress.target if progress else None
            if target:
                bar.setRange(0, target)
                bar.setValue(min(achieved, target))
                bar.setFormat(
                    say(
                        "{achieved}/{target} người ({percent}%)",
                        "{achieved}/{target} people ({percent}%)",
                    ).format(
                        achieved=achieved,
                        target=target,
                        percent=progress.percent if progress else 0,
                    )
                )
            else:
                bar.setRange(0, 1)
                bar.setValue(0)
                bar.setFormat(
                    say(
                        "{achieved} người (chưa có chỉ tiêu)", "{achieved} people (no target set)"
                    ).format(achieved=achieved)
                )
            self.target_captions[scheme].setText(scheme_label(scheme))
        self.target_chart.set_progress(targets)

    # -- the cash handover ----------------------------------------------------------------

    def reconcile(self) -> None:
        """Record the amount handed over; the core decides whether a reason is needed."""
        if self.data is None:
            return
        day = self.data.report.day
        amount = amount_value(self.amount_edit.text())
        reason = self.reason_edit.text()
        self.handover_button.setEnabled(False)
        self._ops.run_op(
            self,
            lambda ws: ws.reports.reconcile(day, amount, reason),  # type: ignore[arg-type]
            success=self._reconciled,
            failure=self._reconcile_failed,
        )

    def _reconciled(self, handover: Handover) -> None:
        self.handover_button.setEnabled(True)
        self.handover_message.setStyleSheet(OK_STYLE)
        self.handover_message.setText(
            say(
                "Đã ghi nhận: nộp {amount} cho ngày {day}.",
                "Recorded: {amount} handed over for {day}.",
            ).format(amount=format_vnd(handover.handed_over), day=date_text(handover.day))
        )
        self.amount_edit.clear()
        self.reason_edit.clear()
        self.handed_over.emit()
        self.refresh()

    def _reconcile_failed(self, exc: Exception) -> None:
        self.handover_button.setEnabled(True)
        if not isinstance(exc, FieldappError):
            self._ops.show_error(self, exc)
            return
        self.handover_message.setStyleSheet(ERROR_STYLE)
        if isinstance(exc, ValidationError):
            lang = i18n.language()
            self.handover_message.setText("\n".join(p.message(lang) for p in exc.problems))
            field = exc.problems[0].field if exc.problems else ""
            (self.reason_edit if field == "reason" else self.amount_edit).setFocus()
        else:
            self.handover_message.setText(exc.message(i18n.language()))

    # -- the report PDF and exports -------------------------------------------------------

    def show_pdf(self) -> None:
        """The day report as a PDF, to print or save (made by the core on the worker)."""
        if self.data is None:
            return
        day = self.data.report.day
        show_document(
            self,
            self._ops,
            lambda ws: render_day_report(ws.reports.day(day)),
            title=say("Báo cáo cuối ngày {day}", "End-of-day report {day}").format(
                day=date_text(day)
            ),
            file_name=f"bao-cao-ngay-{day.isoformat()}.pdf",
        )

    def choose_export_file(self) -> None:
        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        day = self.data.report.day.isoformat() if self.data else "du-lieu"
        csv_filter, xlsx_filter = (
            say("Các tệp CSV nén (*.zip)", "Zipped CSV files (*.zip)"),
            say("Bảng tính Excel (*.xlsx)", "Excel workbook (*.xlsx)"),
        )
        path, chosen = QFileDialog.getSaveFileName(
            self,
            say("Xuất dữ liệu", "Export records"),
            str(Path(folder) / f"fieldapp-{day}.xlsx"),
            f"{xlsx_filter};;{csv_filter}",
        )
        if path:
            self.export_to(Path(path), "csv" if chosen == csv_filter else "xlsx")

    def export_to(self, path: Path, fmt: str) -> None:
        """Export the records (CSV files in a zip, or one workbook) on the worker."""
        suffix = ".zip" if fmt == "csv" else ".xlsx"
        if path.suffix.lower() != suffix:
            path = path.with_name(path.name + suffix)
        self.status_label.setStyleSheet("")
        self.status_label.setText(say("Đang xuất dữ liệu…", "Exporting records…"))
        self._ops.run_op(
            self,
            lambda ws: export_records(ws, path, fmt=fmt),
            success=lambda summary: self._exported(path, summary),
            failure=lambda exc: self._export_failed(path, exc),
        )

    def _exported(self, path: Path, summary: ExportSummary) -> None:
        self.status_label.setStyleSheet(OK_STYLE)
        self.status_label.setText(
            say("Đã xuất dữ liệu ra {path}", "Records exported to {path}").format(path=path)
        )

    def _export_failed(self, path: Path, exc: Exception) -> None:
        self.status_label.setStyleSheet(ERROR_STYLE)
        if isinstance(exc, FieldappError):
            error = exc.message(i18n.language())
        elif isinstance(exc, OSError):
            error = str(exc.strerror or exc)
        else:
            self._ops.show_error(self, exc)
            error = say("lỗi không mong muốn", "unexpected error")
        self.status_label.setText(
            say("Không xuất được {path}: {error}", "Could not export {path}: {error}").format(
                path=path, error=error
            )
        )

    # -- language -------------------------------------------------------------------------

    def retranslate(self) -> None:
        self.heading.setText(say("Cuối ngày", "End of day"))
        self.print_button.setText(say("In / lưu báo cáo…", "Print / save report…"))
        self.export_button.setText(say("Xuất dữ liệu (CSV/XLSX)…", "Export records (CSV/XLSX)…"))
        self.visits_box.setTitle(say("Lần thăm trong ngày", "Visits this day"))
        for code, caption in self.outcome_captions.items():
            caption.setText(outcome_label(code))
        self.visits_total_caption.setText(say("Tổng số lần thăm", "Total visits"))
        self.money_box.setTitle(
            say("Cam kết, biên lai và tiền phải nộp", "Pledges, receipts and cash to hand over")
        )
        headers = (
            say("Loại", "Scheme"),
            say("Cam kết mới", "New pledge"),
            say("Biên lai đã lập", "Receipts issued"),
            say("Biên lai đã huỷ", "Receipts voided"),
            say("Tiền phải nộp", "Cash to hand over"),
        )
        for header, text in zip(self.money_headers, headers, strict=True):
            header.setText(text)
        for scheme, caption in self.scheme_captions.items():
            caption.setText(scheme_label(scheme))
        self.cash_total_caption.setText(say("Tổng tiền phải nộp", "Total cash to hand over"))
        self.counts_note.setText(say("Mỗi ô: số lượng · số tiền.", "Each cell: count · amount."))
        self.handover_box.setTitle(say("Bàn giao tiền", "Cash handover"))
        self.expected_caption.setText(say("Phải nộp:", "Due:"))
        self.amount_caption.setText(say("Số tiền đã &nộp (đồng):", "Amount handed &over (đồng):"))
        self.reason_caption.setText(say("&Lý do chênh lệch:", "&Reason for a difference:"))
        self.reason_edit.setPlaceholderText(
            say(
                "Bắt buộc khi số tiền nộp khác số phải nộp",
                "Required when the amount differs from what is due",
            )
        )
        self.handover_button.setText(say("Ghi nhận bàn giao", "Record handover"))
        self.targets_box.setTitle(say("Chỉ tiêu tháng", "This month's targets"))
        self.target_chart.retranslate()
        if self.data is not None:
            self._show(self.data)
