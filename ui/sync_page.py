"""The Sync area: the provincial server, enrolment, what is pending, and syncing now or in the
background when the server can be reached; USB files for days without a network."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths, Qt, QTimer, Signal
from PySide6.QtNetwork import QNetworkInformation
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from fieldapp import refusals
from fieldapp.refusals import Assigned
from fieldapp.syncstate import RefusedRecord
from fieldapp.workspace import Workspace
from sync.client import PLAIN_HTTP_REFUSED, Enrolment, SyncClient, SyncResult, SyncStatus
from sync.protocol import i18n
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import frozen
from sync.protocol.i18n import say
from sync.protocol.labels import entity_label
from ui.forms import ERROR_STYLE
from ui.labels import moment_text
from ui.models import Column, RecordsModel
from ui.operations import Operations, Progress

HEALTH_TIMEOUT_S = 5.0
PROBE_INTERVAL_MS = 60_000
OK_STYLE = "color: #1b5e20;"
WARN_STYLE = "color: #8a5300;"
# A background sync gives up sooner than one the agent asked for: it will come round again.
BACKGROUND_OPTIONS: dict[str, Any] = {"max_attempts": 2, "timeout": 20.0}


def probe(ws: Workspace, server_url: str, *, timeout: float = HEALTH_TIMEOUT_S) -> bool:
    """Whether the server answers its health check in time; runs on the worker."""
    with SyncClient(ws, server_url=server_url) as client:
        return client.reachable(timeout=timeout)


@frozen
class SyncOutcome:
    """A finished run with where the laptop stands afterwards."""

    result: SyncResult
    status: SyncStatus


def run_sync(
    ws: Workspace, progress: Progress, *, server_url: str | None, options: dict[str, Any]
) -> SyncOutcome:
    """One sync run on the worker; a cancel stops it at the next batch or page."""
    with SyncClient(
        ws,
        server_url=server_url or None,
        should_cancel=lambda: progress.cancelled,
        progress=progress.report,
        **options,
    ) as client:
        result = client.run()
        return SyncOutcome(result, client.status())


def enrol(ws: Workspace, server_url: str, code: str, options: dict[str, Any]) -> Enrolment:
    """Exchange the one-time code; visits recorded from now on carry the enrolled agent's id."""
    with SyncClient(ws, **options) as client:
        return client.enrol(server_url, code)


def result_text(result: SyncResult, pending: int) -> str:
    """The run in plain words: counts first, then what did not go through and why."""
    counts = say(
        "Đã gửi {sent}, máy chủ nhận {accepted}, từ chối {refused}; đã nhận {pulled} thay đổi.",
        "Sent {sent}, the server accepted {accepted}, refused {refused}; received {pulled} "
        "changes.",
    )
    lines = [
        counts.format(
            sent=result.sent,
            accepted=result.accepted,
            refused=len(result.refused),
            pulled=result.pulled,
        ),
        *result.moved_notes(),
    ]
    if result.cancelled:
        lines.append(
            say(
                "Đã dừng theo yêu cầu. Còn {n} bản ghi chờ gửi; không mất dữ liệu nào.",
                "Stopped on request. {n} record(s) still pending; nothing was lost.",
            ).format(n=pending)
        )
    elif result.errors:
        lines.append(
            say(
                "Chưa đồng bộ xong: {error}. Còn {n} bản ghi chờ gửi lần sau.",
                "Sync not finished: {error}. {n} record(s) still pending for next time.",
            ).format(error=result.message(i18n.language()), n=pending)
        )
    elif result.refused:
        lines.append(
            say(
                "{n} bản ghi bị máy chủ từ chối: xem lý do bên dưới, sửa rồi đồng bộ lại.",
                "{n} record(s) refused by the server: see why below, correct them and sync again.",
            ).format(n=len(result.refused))
        )
    else:
        lines.append(
            say(
                "Đồng bộ xong; không còn bản ghi nào chờ gửi.", "Sync finished; nothing is pending."
            )
            if not pending
            else ""
        )
    return "\n".join(line for line in lines if line)


def _record_name(record: RefusedRecord) -> str:
    data = record.data
    for key in ("head_name", "full_name", "payer_name"):
        if data.get(key):
            return str(data[key])
    return record.entity_id[:8]


def _reason(record: RefusedRecord) -> str:
    return record.en if i18n.language() == "en" and record.en else record.vi


class RefusalDialog(QDialog):
    """Asks what an action on a refused record needs: an assigned commune to move the household
    to, or the reason for discarding the record. OK stays off until the answer is given."""

    def __init__(
        self,
        record: RefusedRecord,
        *,
        communes: list[Assigned] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.record = record
        self.commune_box: QComboBox | None = None
        self.reason_edit: QLineEdit | None = None
        form = QFormLayout(self)
        what = QLabel(f"{entity_label(record.entity)} · {_record_name(record)} — {_reason(record)}")
        what.setWordWrap(True)
        form.addRow(what)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(say("Huỷ", "Cancel"))
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        if communes is not None:
            ok.setText(say("Chuyển hộ", "Move"))
            self.setWindowTitle(say("Chuyển hộ sang xã được giao", "Move the household"))
            self.commune_box = QComboBox()
            for commune in communes:
                shown = f"{commune.commune_code} {commune.name}".strip()
                self.commune_box.addItem(shown, commune.commune_code)
            form.addRow(say("Xã được giao:", "Assigned commune:"), self.commune_box)
        else:
            ok.setText(say("Bỏ bản ghi", "Discard"))
            self.setWindowTitle(say("Bỏ bản ghi này", "Discard this record"))
            self.reason_edit = QLineEdit()
            self.reason_edit.setPlaceholderText(
                say("Vì sao không gửi bản ghi này nữa", "Why this record is no longer sent")
            )
            self.reason_edit.textChanged.connect(self._check)
            form.addRow(say("Lý do (bắt buộc):", "Reason (required):"), self.reason_edit)
        form.addRow(self.buttons)
        self._check()

    def _check(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        if self.reason_edit is not None:
            ok.setEnabled(bool(self.reason_edit.text().strip()))
        elif self.commune_box is not None:
            ok.setEnabled(self.commune_box.count() > 0)

    @property
    def commune_code(self) -> str:
        return str(self.commune_box.currentData()) if self.commune_box is not None else ""

    @property
    def reason(self) -> str:
        return self.reason_edit.text() if self.reason_edit is not None else ""


class SyncPage(QWidget):
    """Shows the server and sync state; runs at most one sync at a time on the worker."""

    synced = Signal()
    pending_changed = Signal(int)
    enrolled = Signal(str, str)  # server address, communes (comma separated)
    status_message = Signal(str)

    def __init__(
        self,
        ops: Operations,
        *,
        server_url: str = "",
        communes: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._ops = ops
        self.server_url = server_url
        self.communes = communes
        # Extra SyncClient arguments (timeouts; tests pass a transport).
        self.client_options: dict[str, Any] = {}
        self.status: SyncStatus | None = None
        self.reachable: bool | None = None
        self._sync_op: int | None = None
        self._probe_op: int | None = None
        self._background = False
        # The question about a plain-HTTP server, while it is open.
        self.plain_http_box: QMessageBox | None = None

        self.heading = QLabel()
        self.heading.setProperty("role", "title")

        self.server_caption = QLabel()
        self.server_label = QLabel()
        self.server_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reach_label = QLabel()
        self.check_button = QPushButton()
        self.check_button.clicked.connect(self.probe_now)
        self.agent_caption = QLabel()
        self.agent_label = QLabel()
        self.agent_label.setWordWrap(True)
        self.pending_caption = QLabel()
        self.pending_label = QLabel()
        self.pending_label.setStyleSheet("font-size: 14pt; font-weight: bold;")
        self.last_caption = QLabel()
        self.last_label = QLabel()
        self.last_label.setWordWrap(True)
        self.restamp_caption = QLabel()
        self.restamp_label = QLabel()
        self.restamp_label.setWordWrap(True)
        server_row = QHBoxLayout()
        server_row.addWidget(self.server_label, 1)
        server_row.addWidget(self.reach_label)
        server_row.addWidget(self.check_button)
        facts = QFormLayout()
        facts.addRow(self.server_caption, server_row)
        facts.addRow(self.agent_caption, self.agent_label)
        facts.addRow(self.pending_caption, self.pending_label)
        facts.addRow(self.last_caption, self.last_label)
        facts.addRow(self.restamp_caption, self.restamp_label)
        self._facts = facts

        self.sync_button = QPushButton()
        self.sync_button.setObjectName("syncNow")
        self.sync_button.setStyleSheet("font-weight: bold; padding: 8px 20px;")
        self.sync_button.clicked.connect(lambda: self.sync_now())
        self.cancel_button = QPushButton()
        self.cancel_button.clicked.connect(self.cancel_sync)
        self.cancel_button.setEnabled(False)
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(True)
        self.progress_bar.hide()
        self.export_button = QPushButton()
        self.export_button.clicked.connect(self.choose_export_file)
        self.ack_button = QPushButton()
        self.ack_button.clicked.connect(self.choose_ack_file)
        actions = QHBoxLayout()
        actions.addWidget(self.sync_button)
        actions.addWidget(self.cancel_button)
        actions.addWidget(self.progress_bar, 1)
        actions.addStretch(0)
        actions.addWidget(self.export_button)
        actions.addWidget(self.ack_button)
        self.result_label = QLabel()
        self.result_label.setObjectName("syncResult")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.enrol_box = QGroupBox()
        self.enrol_url_caption = QLabel()
        self.enrol_url_edit = QLineEdit(server_url)
        self.enrol_url_edit.setPlaceholderText("https://bhxh-tinh.example.vn")
        self.enrol_code_caption = QLabel()
        self.enrol_code_edit = QLineEdit()
        self.enrol_button = QPushButton()
        self.enrol_button.clicked.connect(self.enrol_now)
        self.enrol_code_edit.returnPressed.connect(self.enrol_now)
        self.enrol_message = QLabel()
        self.enrol_message.setWordWrap(True)
        enrol_form = QFormLayout(self.enrol_box)
        enrol_form.addRow(self.enrol_url_caption, self.enrol_url_edit)
        code_row = QHBoxLayout()
        code_row.addWidget(self.enrol_code_edit, 1)
        code_row.addWidget(self.enrol_button)
        enrol_form.addRow(self.enrol_code_caption, code_row)
        enrol_form.addRow(self.enrol_message)

        self.refused_caption = QLabel()
        self.refused_caption.setStyleSheet("font-weight: bold;")
        self.refused_model = RecordsModel(
            [
                Column(lambda: say("Loại", "Kind"), lambda r: entity_label(r.entity)),
                Column(lambda: say("Bản ghi", "Record"), _record_name),
                Column(lambda: say("Lý do máy chủ từ chối", "Why the server refused it"), _reason),
            ],
            parent=self,
        )
        self.refused_table = QTableView()
        self.refused_table.setModel(self.refused_model)
        self.refused_table.verticalHeader().hide()
        self.refused_table.setWordWrap(True)
        self.refused_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.refused_table.horizontalHeader().setStretchLastSection(True)
        self.refused_table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.refused_table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.refused_table.selectionModel().selectionChanged.connect(self._update_actions)
        # What fixes the selected refused record's reason (the core says which apply).
        self.restamp_button = QPushButton()
        self.restamp_button.clicked.connect(self.restamp_selected)
        self.move_button = QPushButton()
        self.move_button.clicked.connect(self.move_selected)
        self.discard_button = QPushButton()
        self.discard_button.clicked.connect(self.discard_selected)
        refusal_actions = QHBoxLayout()
        refusal_actions.addWidget(self.restamp_button)
        refusal_actions.addWidget(self.move_button)
        refusal_actions.addWidget(self.discard_button)
        refusal_actions.addStretch(1)
        # The question an action asks, while it is open.
        self.action_dialog: RefusalDialog | None = None

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(facts)
        layout.addLayout(actions)
        layout.addWidget(self.result_label)
        layout.addWidget(self.enrol_box)
        layout.addWidget(self.refused_caption)
        layout.addWidget(self.refused_table, 1)
        layout.addLayout(refusal_actions)

        self.probe_timer = QTimer(self)
        self.probe_timer.setInterval(PROBE_INTERVAL_MS)
        self.probe_timer.timeout.connect(self.probe_now)
        self._network: QNetworkInformation | None = None
        self.retranslate()

    # -- start and connectivity -----------------------------------------------------------

    def start_watching(self) -> None:
        """Probe now and every minute; also when the system says the network came back."""
        self.probe_timer.start()
        if QNetworkInformation.loadDefaultBackend():
            self._network = QNetworkInformation.instance()
            if self._network is not None:
                self._network.reachabilityChanged.connect(self._reachability_changed)
        self.refresh(probe_after=True)

    def stop_watching(self) -> None:
        self.probe_timer.stop()
        if self._network is not None:
            self._network.reachabilityChanged.disconnect(self._reachability_changed)
            self._network = None

    def _reachability_changed(self, reachability: QNetworkInformation.Reachability) -> None:
        # The system's view is only a hint (it says Online behind a dead 3G link): probe.
        if reachability == QNetworkInformation.Reachability.Online:
            self.probe_now()

    @property
    def effective_url(self) -> str:
        stored = self.status.server_url if self.status is not None else None
        return self.server_url or stored or ""

    @property
    def syncing(self) -> bool:
        return self._sync_op is not None

    def probe_now(self) -> None:
        """Ask the server's health check on the worker; with pending records, sync after it."""
        url = self.effective_url
        if not url or self._probe_op is not None or self.syncing:
            return

        def check(ws: Workspace) -> tuple[bool, int]:
            return probe(ws, url), ws.pending_sync()

        self.reach_label.setText(say("đang kiểm tra…", "checking…"))
        self.reach_label.setStyleSheet("")
        self._probe_op = self._ops.run_op(
            self, check, success=self._probed, failure=self._probe_failed
        )

    def _probed(self, outcome: tuple[bool, int]) -> None:
        self._probe_op = None
        reachable, pending = outcome
        self.reachable = reachable
        self._show_reachability()
        enrolled = self.status is not None and self.status.enrolled
        if reachable and pending and enrolled and not self.syncing:
            self.sync_now(background=True)

    def _probe_failed(self, _exc: Exception) -> None:
        self._probe_op = None
        self.reachable = False
        self._show_reachability()

    def _show_reachability(self) -> None:
        if self.reachable is None:
            self.reach_label.setText("")
        elif self.reachable:
            self.reach_label.setText(say("● kết nối được", "● reachable"))
            self.reach_label.setStyleSheet(OK_STYLE)
        else:
            self.reach_label.setText(say("● không kết nối được", "● not reachable"))
            self.reach_label.setStyleSheet(ERROR_STYLE)

    # -- state ----------------------------------------------------------------------------

    def refresh(self, *, probe_after: bool = False) -> None:
        def shown(status: SyncStatus) -> None:
            self._show_status(status)
            if probe_after:
                self.probe_now()

        self._ops.run_op(self, lambda ws: SyncClient(ws).status(), success=shown)

    def _show_status(self, status: SyncStatus) -> None:
        self.status = status
        self.server_label.setText(
            self.effective_url or say("(chưa có địa chỉ máy chủ)", "(no server address yet)")
        )
        if status.enrolled:
            agent = status.agent_name or ""
            text = say("{agent} · xã {communes}", "{agent} · communes {communes}").format(
                agent=agent, communes=self.communes
            )
            self.agent_label.setText(text if self.communes else agent)
            self.agent_label.setStyleSheet("")
        else:
            self.agent_label.setText(
                say(
                    "Máy này chưa đăng ký với máy chủ tỉnh.",
                    "This laptop is not enrolled with the provincial server.",
                )
            )
            self.agent_label.setStyleSheet(WARN_STYLE)
        self.enrol_box.setVisible(not status.enrolled)
        self.pending_label.setText(
            say("{n} bản ghi chờ gửi", "{n} record(s) pending").format(n=status.pending)
        )
        self.pending_changed.emit(status.pending)
        self.last_label.setText(self._last_text(status.last_sync))
        self._show_restamps(status)
        self.refused_model.set_records(status.refused)
        self.refused_caption.setText(
            say(
                "Bản ghi bị từ chối ({n}) — không bị xoá; sửa rồi đồng bộ lại",
                "Refused records ({n}) — kept, not deleted; correct them and sync again",
            ).format(n=len(status.refused))
        )
        self.refused_table.resizeRowsToContents()
        self._update_buttons()

    def _show_restamps(self, status: SyncStatus) -> None:
        """The re-stamp log, never hidden from the agent once anything was re-stamped."""
        self._facts.setRowVisible(self.restamp_label, bool(status.restamps))
        self.restamp_label.setText(
            say(
                "{n} bản ghi làm trước khi đăng ký đã được ghi lại cho nhân viên đã đăng ký.",
                "{n} record(s) made before enrolment now carry the enrolled agent.",
            ).format(n=len(status.restamps))
        )
        self.restamp_label.setToolTip(
            "\n".join(
                f"{moment_text(r.at)} · {entity_label(r.entity)} {r.entity_id[:8]}: "
                f"{r.old_agent or '—'} → {r.new_agent}"
                for r in status.restamps
            )
        )

    def _last_text(self, last: dict[str, Any] | None) -> str:
        if not last:
            return say("Chưa đồng bộ lần nào.", "Never synced.")
        kinds = {
            "sync": say("đồng bộ", "sync"),
            "enrol": say("đăng ký máy", "enrolment"),
            "export": say("xuất tệp USB", "USB file export"),
            "ack_file": say("nhập tệp xác nhận", "ack file import"),
        }
        kind = kinds.get(str(last.get("kind")), str(last.get("kind")))
        when = moment_text(str(last.get("at") or ""))
        if last.get("ok"):
            outcome = say("xong", "done")
        elif last.get("message") == "cancelled":
            outcome = say("đã dừng theo yêu cầu", "stopped on request")
        elif not last.get("message") and last.get("refused"):
            outcome = say("có bản ghi bị từ chối", "some records refused")
        else:
            outcome = say("chưa xong: {message}", "not finished: {message}").format(
                message=last.get("message") or "?"
            )
        counts = say(
            "gửi {sent}, nhận {accepted}, từ chối {refused}, kéo về {pulled}",
            "sent {sent}, accepted {accepted}, refused {refused}, pulled {pulled}",
        ).format(
            sent=last.get("sent", 0),
            accepted=last.get("accepted", 0),
            refused=last.get("refused", 0),
            pulled=last.get("pulled", 0),
        )
        return f"{when} · {kind}: {outcome} ({counts})"

    def _update_buttons(self) -> None:
        enrolled = self.status is not None and self.status.enrolled
        self.sync_button.setEnabled(enrolled and not self.syncing)
        self.export_button.setEnabled(enrolled and not self.syncing)
        self.ack_button.setEnabled(enrolled and not self.syncing)
        self.cancel_button.setEnabled(self.syncing)
        self.check_button.setEnabled(bool(self.effective_url))
        self._update_actions()

    # -- refused records ------------------------------------------------------------------

    def selected_refusal(self) -> RefusedRecord | None:
        rows = self.refused_table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= self.refused_model.rowCount():
            return None
        record: RefusedRecord = self.refused_model.record(rows[0].row())
        return record

    def _update_actions(self, *_args: object) -> None:
        record = self.selected_refusal()
        offered = (
            () if record is None or self.status is None else self.status.actions.get(record.seq, ())
        )
        self.restamp_button.setEnabled(refusals.RESTAMP in offered and not self.syncing)
        self.move_button.setEnabled(refusals.MOVE_COMMUNE in offered and not self.syncing)
        self.discard_button.setEnabled(refusals.DISCARD in offered and not self.syncing)

    def _acted(self, text: str) -> None:
        self.result_label.setStyleSheet(OK_STYLE)
        self.result_label.setText(text)
        self.refresh()

    def restamp_selected(self) -> None:
        record = self.selected_refusal()
        if record is None:
            return
        seq = record.seq
        self._ops.run_op(
            self,
            lambda ws: ws.refusals.restamp(seq),
            success=lambda _stamped: self._acted(
                say(
                    "Đã ghi lại bản ghi cho nhân viên đã đăng ký; sẽ gửi ở lần đồng bộ tới.",
                    "The record now carries the enrolled agent; it goes out with the next sync.",
                )
            ),
        )

    def move_selected(self) -> None:
        record = self.selected_refusal()
        if record is None:
            return
        self._ops.run_op(
            self,
            lambda ws: ws.refusals.assigned_communes(),
            success=lambda communes: self._ask(
                RefusalDialog(record, communes=communes, parent=self)
            ),
        )

    def discard_selected(self) -> None:
        record = self.selected_refusal()
        if record is not None:
            self._ask(RefusalDialog(record, parent=self))

    def _ask(self, dialog: RefusalDialog) -> None:
        self.action_dialog = dialog
        dialog.accepted.connect(lambda: self._answered(dialog))
        dialog.finished.connect(lambda _result: setattr(self, "action_dialog", None))
        dialog.open()

    def _answered(self, dialog: RefusalDialog) -> None:
        seq = dialog.record.seq
        if dialog.commune_box is not None:
            commune = dialog.commune_code
            self._ops.run_op(
                self,
                lambda ws: ws.refusals.move_to_assigned_commune(seq, commune),
                success=lambda n: self._acted(
                    say(
                        "Đã chuyển hộ sang xã {commune}; {n} bản ghi sẽ được gửi lại ở lần "
                        "đồng bộ tới.",
                        "The household moved to commune {commune}; {n} record(s) go out again "
                        "with the next sync.",
                    ).format(commune=commune, n=n)
                ),
            )
            return
        reason = dialog.reason
        self._ops.run_op(
            self,
            lambda ws: ws.refusals.discard(seq, reason),
            success=lambda _gone: self._acted(
                say(
                    "Đã bỏ bản ghi; nó vẫn được giữ trên máy cùng lý do, và không gửi nữa.",
                    "The record was discarded; it stays on this laptop with the reason and is "
                    "no longer sent.",
                )
            ),
        )

    # -- enrolment ------------------------------------------------------------------------

    def enrol_now(self, *, allow_insecure: bool = False) -> None:
        url, code = self.enrol_url_edit.text().strip(), self.enrol_code_edit.text().strip()
        if not url or not code:
            self.enrol_message.setStyleSheet(ERROR_STYLE)
            self.enrol_message.setText(
                say(
                    "Cần địa chỉ máy chủ và mã đăng ký một lần.",
                    "The server address and the one-time code are needed.",
                )
            )
            return
        self.enrol_button.setEnabled(False)
        self.enrol_message.setStyleSheet("")
        self.enrol_message.setText(say("Đang đăng ký…", "Enrolling…"))
        options = {**self.client_options, "allow_insecure": allow_insecure}
        self._ops.run_op(
            self,
            lambda ws: enrol(ws, url, code, options),
            success=self._enrolled,
            failure=self._enrol_failed,
        )

    def _enrolled(self, enrolment: Enrolment) -> None:
        self.enrol_button.setEnabled(True)
        self.enrol_code_edit.clear()
        self.server_url = enrolment.server_url
        self.communes = ", ".join(enrolment.communes)
        self.enrol_message.clear()
        self.result_label.setStyleSheet(OK_STYLE)
        text = say(
            "Đã đăng ký máy cho {agent}; xã được giao: {communes}.",
            "Laptop enrolled for {agent}; assigned communes: {communes}.",
        ).format(agent=enrolment.agent_name, communes=self.communes or "—")
        note = enrolment.restamped_note()
        self.result_label.setText(text if note is None else f"{text}\n{note}")
        self.enrolled.emit(enrolment.server_url, self.communes)
        self.refresh(probe_after=True)

    def _enrol_failed(self, exc: Exception) -> None:
        self.enrol_button.setEnabled(True)
        if not isinstance(exc, FieldappError):
            self._ops.show_error(self, exc)
            return
        self.enrol_message.setStyleSheet(ERROR_STYLE)
        if exc.code == PLAIN_HTTP_REFUSED:
            # Refused before anything was sent: ask, and enrol again if the agent agrees.
            self.enrol_message.setText(
                say(
                    "Chưa đăng ký: máy chủ không dùng https://.",
                    "Not enrolled: the server does not use https://.",
                )
            )
            self.ask_plain_http(
                self.enrol_url_edit.text().strip(), lambda: self.enrol_now(allow_insecure=True)
            )
            return
        self.enrol_message.setText(exc.message(i18n.language()))

    def ask_plain_http(self, url: str, go_on: Callable[[], None]) -> None:
        """Say what plain HTTP to another computer exposes; go on only if the agent agrees.
        The core decides when to ask (sync.client) and keeps the answer for that address."""
        box = QMessageBox(self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(say("Kết nối không mã hoá", "Unencrypted connection"))
        box.setText(
            say(
                "Địa chỉ {url} dùng http:// (không mã hoá) tới một máy khác.",
                "The address {url} uses http:// (no encryption) to another computer.",
            ).format(url=url)
        )
        box.setInformativeText(
            say(
                "Mã đăng ký, khoá của máy này và dữ liệu người dân (họ tên, số CCCD, số tiền) sẽ "
                "đi qua mạng ở dạng ai trên đường truyền cũng đọc và sửa được. Chỉ tiếp tục khi "
                "BHXH tỉnh xác nhận đây là mạng nội bộ tin cậy; nếu không, hãy hỏi tỉnh địa chỉ "
                "https:// của máy chủ. Máy sẽ nhớ lựa chọn cho địa chỉ này.",
                "The enrolment code, this laptop's key and residents' records (names, ID "
                "numbers, amounts) would cross the network where anyone on the way can read and "
                "change them. Go on only if the provincial office confirms this is a trusted "
                "local network; otherwise ask them for the server's https:// address. The "
                "laptop remembers the choice for this address.",
            )
        )
        go = box.addButton(
            say("Vẫn dùng http://", "Use http:// anyway"), QMessageBox.ButtonRole.AcceptRole
        )
        stop = box.addButton(say("Không dùng", "Do not connect"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(stop)
        box.setEscapeButton(stop)

        def chosen(button: Any) -> None:
            self.plain_http_box = None
            if button is go:
                go_on()

        box.buttonClicked.connect(chosen)
        self.plain_http_box = box
        box.open()

    # -- syncing --------------------------------------------------------------------------

    def sync_now(self, *, background: bool = False, allow_insecure: bool = False) -> bool:
        """Start a sync unless one is running; the page and the status line show its progress."""
        if self.syncing:
            return False
        url = self.server_url or None
        options = {**(BACKGROUND_OPTIONS if background else {}), **self.client_options}
        if allow_insecure:
            options["allow_insecure"] = True
        self._background = background
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        self.result_label.setStyleSheet("")
        self.result_label.setText(
            say("Đang đồng bộ nền…", "Syncing in the background…")
            if background
            else say("Đang đồng bộ…", "Syncing…")
        )
        self.status_message.emit(self.result_label.text())
        self._sync_op = self._ops.run_op(
            self,
            lambda ws, progress: run_sync(ws, progress, server_url=url, options=options),
            success=self._synced,
            failure=self._sync_failed,
            on_progress=self._progressed,
        )
        self._update_buttons()
        return True

    def cancel_sync(self) -> None:
        if self._sync_op is not None:
            self._ops.cancel(self._sync_op)
            self.cancel_button.setEnabled(False)
            self.result_label.setText(
                say("Đang dừng sau lô đang gửi…", "Stopping after the batch being sent…")
            )

    def _progressed(self, done: int, total: int) -> None:
        if total:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)
            text = say(
                "Đang gửi {done}/{total} bản ghi…", "Sending {done}/{total} records…"
            ).format(done=done, total=total)
        else:
            self.progress_bar.setRange(0, 0)
            text = say(
                "Đang nhận thay đổi từ máy chủ: {n}…", "Receiving changes from the server: {n}…"
            ).format(n=done)
        if self._background:
            text = say("Đồng bộ nền: {text}", "Background sync: {text}").format(text=text)
        self.status_message.emit(text)

    def _finish(self) -> None:
        self._sync_op = None
        self.progress_bar.hide()
        self._update_buttons()

    def _synced(self, outcome: SyncOutcome) -> None:
        self._finish()
        result = outcome.result
        failed = result.errors or result.cancelled
        self.result_label.setStyleSheet(
            OK_STYLE if result.ok else ERROR_STYLE if failed else WARN_STYLE
        )
        self.result_label.setText(result_text(result, outcome.status.pending))
        self._show_status(outcome.status)
        if result.errors:
            # The server is not answering properly: the next probe tells the agent.
            self.reachable = False if result.sent == 0 else self.reachable
            self._show_reachability()
        prefix = (
            say("Đồng bộ nền", "Background sync") if self._background else say("Đồng bộ", "Sync")
        )
        self.status_message.emit(f"{prefix}: {self.result_label.text().splitlines()[0]}")
        self.synced.emit()
        refused_http = any(getattr(e, "code", None) == PLAIN_HTTP_REFUSED for e in result.errors)
        if refused_http and not self._background:
            # A laptop enrolled over plain HTTP before it was asked: ask now, then sync.
            self.ask_plain_http(self.effective_url, lambda: self.sync_now(allow_insecure=True))

    def _sync_failed(self, exc: Exception) -> None:
        self._finish()
        self.result_label.setStyleSheet(ERROR_STYLE)
        if isinstance(exc, FieldappError):
            text = say("Chưa đồng bộ được: {error}", "Not synced: {error}").format(
                error=exc.message(i18n.language())
            )
        else:
            self._ops.show_error(self, exc)
            text = say(
                "Chưa đồng bộ được: lỗi không mong muốn (ghi ở nhật ký).",
                "Not synced: unexpected error (written to the log).",
            )
        self.result_label.setText(text)
        self.status_message.emit(text)
        self.refresh()

    # -- USB files ------------------------------------------------------------------------

    def choose_export_file(self) -> None:
        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        path, _filter = QFileDialog.getSaveFileName(
            self,
            say("Xuất tệp lô để mang bằng USB", "Export a batch file to carry on a USB stick"),
            str(Path(folder) / "fieldapp-lo.batch"),
            say("Tệp lô (*.batch)", "Batch file (*.batch)"),
        )
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        """Write pending records to signed batch file(s) for the provincial office."""
        options = dict(self.client_options)

        def work(ws: Workspace) -> SyncOutcome:
            with SyncClient(ws, **options) as client:
                return SyncOutcome(client.export_batches(path), client.status())

        self._ops.run_op(self, work, success=self._exported)

    def _exported(self, outcome: SyncOutcome) -> None:
        result = outcome.result
        if result.errors:
            self.result_label.setStyleSheet(ERROR_STYLE)
            self.result_label.setText(
                say("Không xuất được tệp: {error}", "Could not export the file: {error}").format(
                    error=result.message(i18n.language())
                )
            )
        else:
            self.result_label.setStyleSheet(OK_STYLE)
            self.result_label.setText(
                say(
                    "Đã ghi {n} bản ghi vào {files}. Các bản ghi vẫn chờ xác nhận: mang tệp lên "
                    "bưu điện hoặc BHXH tỉnh, rồi nhập tệp xác nhận (.ack) họ trả lại.",
                    "Wrote {n} record(s) to {files}. They stay pending until confirmed: take the "
                    "file to the post office or the provincial office, then apply the ack file "
                    "(.ack) they give back.",
                ).format(n=result.sent, files=", ".join(p.name for p in result.files) or "—")
            )
        self._show_status(outcome.status)

    def choose_ack_file(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self,
            say("Chọn tệp xác nhận của máy chủ", "Choose the server's ack file"),
            "",
            say("Tệp xác nhận (*.ack)", "Ack file (*.ack)"),
        )
        if path:
            self.apply_ack(Path(path))

    def apply_ack(self, path: Path) -> None:
        """Mark the outbox from the server's signed ack file, as an upload's answer would."""
        options = dict(self.client_options)

        def work(ws: Workspace) -> SyncOutcome:
            with SyncClient(ws, **options) as client:
                return SyncOutcome(client.apply_ack_file(path), client.status())

        self._ops.run_op(self, work, success=self._ack_applied)

    def _ack_applied(self, outcome: SyncOutcome) -> None:
        result = outcome.result
        self.result_label.setStyleSheet(OK_STYLE if result.ok else ERROR_STYLE)
        if result.errors:
            self.result_label.setText(
                say(
                    "Tệp xác nhận không dùng được: {error}", "The ack file cannot be used: {error}"
                ).format(error=result.message(i18n.language()))
            )
        else:
            self.result_label.setText(
                say(
                    "Máy chủ đã nhận {accepted}, từ chối {refused}; còn {n} bản ghi chờ gửi.",
                    "The server accepted {accepted}, refused {refused}; {n} record(s) still "
                    "pending.",
                ).format(
                    accepted=result.accepted,
                    refused=len(result.refused),
                    n=outcome.status.pending,
                )
            )
        self._show_status(outcome.status)
        self.synced.emit()

    # -- language -------------------------------------------------------------------------

    def retranslate(self) -> None:
        self.heading.setText(say("Đồng bộ với máy chủ tỉnh", "Sync with the provincial server"))
        self.server_caption.setText(say("Máy chủ:", "Server:"))
        self.agent_caption.setText(say("Nhân viên thu:", "Agent:"))
        self.pending_caption.setText(say("Chờ gửi:", "Pending:"))
        self.last_caption.setText(say("Lần gần nhất:", "Last time:"))
        self.restamp_caption.setText(say("Ghi lại:", "Re-stamped:"))
        self.check_button.setText(say("Kiểm tra kết nối", "Check connection"))
        self.sync_button.setText(say("Đồng bộ ngay", "Sync now"))
        self.cancel_button.setText(say("Huỷ", "Cancel"))
        self.export_button.setText(say("Xuất tệp USB…", "Export USB file…"))
        self.export_button.setToolTip(
            say(
                "Khi không có mạng: ghi dữ liệu chờ gửi ra tệp có chữ ký",
                "Without a network: write pending records to a signed file",
            )
        )
        self.ack_button.setText(say("Nhập tệp xác nhận…", "Apply ack file…"))
        self.enrol_box.setTitle(
            say("Đăng ký máy với máy chủ tỉnh", "Enrol this laptop with the provincial server")
        )
        self.enrol_url_caption.setText(say("Địa chỉ máy chủ:", "Server address:"))
        self.enrol_code_caption.setText(say("Mã đăng ký một lần:", "One-time enrolment code:"))
        self.enrol_button.setText(say("Đăng ký", "Enrol"))
        self.refused_model.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, 2)
        self.restamp_button.setText(
            say("Ghi lại cho nhân viên đã đăng ký", "Re-stamp for the enrolled agent")
        )
        self.move_button.setText(
            say("Chuyển hộ sang xã được giao…", "Move the household to an assigned commune…")
        )
        self.discard_button.setText(say("Bỏ bản ghi này…", "Discard this record…"))
        self._show_reachability()
        if self.status is not None:
            self._show_status(self.status)
