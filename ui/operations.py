"""The one helper that runs data operations off the UI thread and reports back on it.

A single worker thread owns the Workspace (like Anki's task manager): operations queue up and
run one after another, so the store is never used from two threads at once, and the UI thread
never waits on SQLite. Results and errors come back through a queued Qt signal.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import shiboken6
from PySide6 import QtCore
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from fieldapp.workspace import Workspace
from sync.protocol import i18n
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import kept_dataclass
from sync.protocol.i18n import say

# The dialogs are imported when first shown: PySide6 builds a Qt class's enums on first use,
# and neither dialog is needed to show the first screen.
if TYPE_CHECKING:
    from PySide6.QtWidgets import QProgressDialog

log = logging.getLogger(__name__)

T = TypeVar("T")


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


class Cancelled(Exception):
    """Raised inside a long operation at a chunk boundary when the agent pressed Cancel."""


class Progress:
    """Handed to long operations: report how far they are, and stop when cancelled."""

    def __init__(self, emit: Callable[[int, int], None]) -> None:
        self._emit = emit
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def __call__(self, done: int, total: int) -> None:
        """Progress callback for the core; raises Cancelled between chunks after a cancel."""
        self._emit(done, total)
        if self._cancel.is_set():
            raise Cancelled

    def report(self, done: int, total: int) -> None:
        """Progress without the cancel check, for code that asks `cancelled` itself (sync)."""
        self._emit(done, total)


@kept_dataclass
class _Pending:
    """An operation started on the worker: where its result, error and progress go."""

    parent: QObject | None
    success: Callable[[Any], None]
    failure: Callable[[Exception], None] | None
    dialog: QProgressDialog | None
    reporter: Progress | None = None
    on_progress: Callable[[int, int], None] | None = None


class Operations(QObject):
    """Runs callables that take the Workspace on one worker thread."""

    # Only the operation's number crosses threads: PySide6 can miscount references of Python
    # objects (None above all) carried by queued signals, which aborts the process.
    _finished = Signal(int)
    _progressed = Signal(int, int, int)
    idle_changed = Signal(bool)

    def __init__(self, workspace: Workspace, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._workspace: Workspace | None = workspace
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fieldapp-ops")
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._outcomes: dict[int, tuple[object, Exception | None]] = {}
        self._outcomes_lock = threading.Lock()
        # The signals are only emitted on the worker thread, so Qt's automatic connection
        # queues them and the slots run here, on the UI thread. (Naming the connection type
        # would load PySide6's whole Qt namespace, some 90 enum classes, before the first
        # screen.)
        self._finished.connect(self._on_finished)
        self._progressed.connect(self._on_progress)
        self.last_error: str | None = None

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    @property
    def closed(self) -> bool:
        """Whether shutdown() has been called: no more operations are taken."""
        return self._workspace is None

    def run_op(
        self,
        parent: QObject | None,
        fn: Callable[..., T],
        *,
        success: Callable[[T], None],
        failure: Callable[[Exception], None] | None = None,
        progress: str | None = None,
        cancellable: bool = True,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Queue fn(workspace) and call success(result) or failure(error) on the UI thread.

        With progress (a label), fn is called as fn(workspace, progress) and a cancellable
        progress dialog is shown; the core stops at its next chunk boundary, so what it has
        committed stays whole. Without failure, errors are shown in a message box. When the
        parent widget is gone by the time the result arrives, the result is dropped.

        With on_progress and no label, fn also gets a progress reporter but no dialog is shown:
        work in the background reports to on_progress, and cancel(op_id) stops it.
        """
        if self._workspace is None:
            raise RuntimeError("operations are shut down")
        op_id = next(self._ids)
        reporter: Progress | None = None
        dialog: QProgressDialog | None = None
        if progress is not None or on_progress is not None:
            reporter = Progress(lambda done, total: self._progressed.emit(op_id, done, total))
        if progress is not None and reporter is not None:
            from PySide6.QtWidgets import QProgressDialog

            stopper = reporter
            dialog = QProgressDialog(
                progress,
                say("Huỷ", "Cancel"),
                0,
                0,
                parent if isinstance(parent, QWidget) else None,
            )
            dialog.setWindowTitle(say("Đang xử lý", "Working"))
            dialog.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
            dialog.setMinimumDuration(0)
            dialog.setAutoClose(False)
            dialog.setAutoReset(False)
            # Through a lambda, which Qt holds strongly: a bound method of the reporter is held
            # weakly, so the reporter could be freed on the worker thread while the dialog is
            # being closed here, and the two threads would wait on each other for ever.
            dialog.canceled.connect(lambda: stopper.cancel())
            dialog.canceled.connect(
                lambda: dialog.setLabelText(
                    say("Đang dừng sau phần đang ghi…", "Stopping after the part being written…")
                )
            )
            if not cancellable:
                dialog.setCancelButton(None)
            dialog.show()
        self._pending[op_id] = _Pending(parent, success, failure, dialog, reporter, on_progress)
        if len(self._pending) == 1:
            self.idle_changed.emit(False)
        workspace = self._workspace
        name = getattr(fn, "__qualname__", type(fn).__name__)

        def work() -> None:
            outcome: tuple[object, Exception | None]
            started = time.perf_counter()
            log.debug("op %d %s started", op_id, name)
            try:
                outcome = (fn(workspace, reporter) if reporter is not None else fn(workspace), None)
            except Exception as exc:  # reported on the UI thread, never lost
                outcome = (None, exc)
                # The error's code or type only: its message may name a person.
                reason = exc.code if isinstance(exc, FieldappError) else type(exc).__name__
                log.info("op %d %s failed in %d ms: %s", op_id, name, _ms_since(started), reason)
            else:
                log.info("op %d %s finished in %d ms", op_id, name, _ms_since(started))
            with self._outcomes_lock:
                self._outcomes[op_id] = outcome
            self._finished.emit(op_id)

        self._executor.submit(work)
        return op_id

    def running(self, op_id: int) -> bool:
        """Whether the operation is still queued or running."""
        return op_id in self._pending

    def cancel(self, op_id: int) -> None:
        """Ask a running operation with a progress reporter to stop at its next check."""
        pending = self._pending.get(op_id)
        if pending is not None and pending.reporter is not None:
            pending.reporter.cancel()

    def _on_progress(self, op_id: int, done: int, total: int) -> None:
        pending = self._pending.get(op_id)
        if pending is None:
            return
        if pending.on_progress is not None and (
            pending.parent is None or shiboken6.isValid(pending.parent)
        ):
            pending.on_progress(done, total)
        if pending.dialog is not None:
            pending.dialog.setMaximum(total)
            pending.dialog.setValue(done)

    def _on_finished(self, op_id: int) -> None:
        with self._outcomes_lock:
            result, error = self._outcomes.pop(op_id)
        pending = self._pending.pop(op_id, None)
        if not self._pending:
            self.idle_changed.emit(True)
        if pending is None:
            return
        if pending.dialog is not None:
            pending.dialog.close()
            pending.dialog.deleteLater()
        if pending.parent is not None and not shiboken6.isValid(pending.parent):
            return
        try:
            if error is None:
                pending.success(result)
            elif pending.failure is not None:
                pending.failure(error)
            else:
                self.show_error(pending.parent, error)
        except Exception as exc:
            # A bug in a result handler must not take the app down with it.
            log.exception("operation handler failed")
            self.show_error(pending.parent, exc)

    def show_error(self, parent: QObject | None, error: Exception) -> None:
        """Tell the agent what went wrong: the core's own message, or a generic one."""
        if isinstance(error, Cancelled):
            return
        if isinstance(error, FieldappError):
            text = error.message(i18n.language())
        else:
            log.error("unexpected error in an operation", exc_info=error)
            text = say(
                "Đã có lỗi không mong muốn. Dữ liệu đã lưu vẫn an toàn; chi tiết ghi ở nhật ký.",
                "Something unexpected went wrong. Saved data is safe; the details are in the log.",
            )
        self.last_error = text
        from PySide6.QtWidgets import QMessageBox

        box = QMessageBox(
            QMessageBox.Icon.Warning,
            say("Không thực hiện được", "Could not be done"),
            text,
            QMessageBox.StandardButton.Ok,
            parent if isinstance(parent, QWidget) else None,
        )
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        # open() rather than exec(): no nested event loop, so results keep arriving.
        box.open()

    def shutdown(self) -> None:
        """Finish queued work, then close the workspace on the worker thread."""
        workspace, self._workspace = self._workspace, None
        if workspace is not None:
            self._executor.submit(workspace.close)
        self._executor.shutdown(wait=True)
