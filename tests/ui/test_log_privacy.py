"""After a whole working day in the real app, its log files hold no CCCD, phone number or name.

The app runs on a copy of the demo store with the root logger at DEBUG and the start-of-day
path writing DATA_DIR/logs/fieldapp.log; the agent's day is driven through the real window,
worker, store and provincial server. Then every log file in the data folder is searched for
every CCCD, phone number and full name in the store and every value the agent typed, as typed,
composed, decomposed and folded without diacritics.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox

from fieldapp.demo import DEMO_COMMUNE
from fieldapp.logs import LOG_DIRNAME, setup_logging
from fieldapp.members import Members
from fieldapp.store import STORE_FILENAME
from fieldapp.text import fold, nfc
from fieldapp.validation import decode_cccd
from fieldapp.workspace import Workspace
from tests.sync.client_fixtures import server_counts
from tests.sync.conftest import Server, server_now  # noqa: F401 (a fixture used below)
from tests.ui.conftest import wait_idle
from tests.ui.test_day_report_ui import open_day
from tests.ui.test_receipts_ui import add_book_from, payment_dialog
from ui.app import App, start_day
from ui.household_dialog import HouseholdDialog
from ui.main_window import HOUSEHOLD, PRINT, SYNC
from ui.member_dialog import MemberDialog
from ui.pledge_dialog import PledgeDialog
from ui.printing import DocumentDialog
from ui.visit_dialog import VisitDialog

__all__ = ["server"]

# What the agent types in the day, refused values among them.
NEW_HEAD = "Sùng Seo Chứ"
NEW_HEAD_PHONE = "0987 654 321"
NEW_MEMBER = "Hầu Thị Dợ"
NEW_MEMBER_CCCD = "001190765432"  # Hà Nội, female, born 1990
MISTYPED_CCCD = "00119076543"  # one digit short: refused
# A resident list with two good rows and two refused ones (a mistyped CCCD, a digit in a name).
IMPORT_ROWS = [
    "Họ và tên;Ngày sinh;Giới tính;Số CCCD;Thôn/Bản;Quan hệ với chủ hộ;Số điện thoại",
    "Giàng Seo Phử;12/03/1980;Nam;015080246813;Bản Tả Van;Chủ hộ;0356 112 233",
    "Lù Thị Xuyến;02/02/1984;Nữ;015184135792;Bản Tả Van;Vợ;",
    "Thào A Tráng;01/01/1990;Nam;01509013579;Bản Tả Van;Con;0971 224 466",
    "Sần Văn 4;01/01/1992;Nam;;Bản Tả Van;Con;",
]
IMPORTED = [
    "Giàng Seo Phử",
    "015080246813",
    "0356 112 233",
    "Lù Thị Xuyến",
    "015184135792",
    "Thào A Tráng",
    "01509013579",
    "0971 224 466",
    "Sần Văn 4",
]


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Server:
    """The app runs on the system's clock, so the server does too: it refuses clock stamps
    more than two days past its own."""
    running: Server = request.getfixturevalue("server_now")
    return running


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The provincial server's database: a SQLite file."""
    return f"sqlite:///{tmp_path / 'server.sqlite3'}"


@pytest.fixture
def log_folder(app: App) -> Iterator[Path]:
    """The root logger at DEBUG and the data folder's log file at DEBUG, for this test only."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    root.setLevel(logging.DEBUG)
    # Installed first at DEBUG; the start-of-day path then finds it and keeps it.
    setup_logging(app.data_dir, level=logging.DEBUG)
    try:
        yield app.data_dir / LOG_DIRNAME
    finally:
        app.window.sync_page.stop_watching()
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)


# -- what must never be in the log ------------------------------------------------------------


_SEPARATOR = re.compile(r"[ .\-]")


def spellings(value: str) -> set[str]:
    """A value as composed, decomposed and folded (no diacritics, đ → d), in lower case; a
    number also without separators and in the groups people write it in ("0912 345 678",
    "+84 912.345.678", "001 185 654 321")."""
    composed = nfc(value).strip()
    found = {composed.lower(), unicodedata.normalize("NFD", composed).lower(), fold(composed)}
    digits = _SEPARATOR.sub("", composed)
    if not digits.isdigit():
        return found
    groupings = [(len(digits),)]
    if len(digits) == 10 and digits.startswith("0"):
        groupings += [(4, 3, 3), (3, 3, 4)]
        national = digits[1:]  # after +84
        found |= {national, *(sep.join(national[i : i + 3] for i in (0, 3, 6)) for sep in " .-")}
    if len(digits) == 12:
        groupings += [(3, 3, 3, 3), (4, 4, 4)]
    for sizes in groupings:
        parts, start = [], 0
        for size in sizes:
            parts.append(digits[start : start + size])
            start += size
        found |= {sep.join(parts) for sep in " .-"}
    return found


def leaks(text: str, values: Iterable[str]) -> list[str]:
    """The values found in the text in any of their spellings, case-insensitively."""
    haystacks = (text.lower(), nfc(text).lower(), fold(text))
    return sorted({v for v in values if any(s in h for s in spellings(v) for h in haystacks if s)})


def full_name(name: str | None) -> bool:
    """Two words or more. A name of one word (a given name alone, as a resident list may hold
    one) is a common syllable, "An" or "Mai", that ordinary words of a log line would match
    once folded; only full names are compared."""
    return name is not None and len(nfc(name).split()) >= 2


def personal_values(store_file: Path) -> set[str]:
    """Every CCCD, phone, card code and full name in the store, read with plain sqlite3."""
    con = sqlite3.connect(f"file:{store_file}?mode=ro", uri=True)
    try:
        rows = [
            *con.execute("SELECT cccd, bhxh_code, bhyt_card, full_name FROM member"),
            *con.execute("SELECT phone, head_name FROM household"),
            *con.execute("SELECT payer_bhxh_code, payer_name FROM receipt"),
            *con.execute("SELECT value FROM meta WHERE key IN ('agent_name', 'agent_phone')"),
        ]
    finally:
        con.close()
    values = {v for row in rows for v in row if v}
    return {v for v in values if any(c.isdigit() for c in v) or full_name(v)}


def log_text(data_dir: Path) -> str:
    """Every log file in the data folder, rotated ones too, after flushing the handlers."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    files = sorted({*(data_dir / LOG_DIRNAME).glob("*"), *data_dir.rglob("*.log")})
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files if p.is_file())


# -- the agent's day --------------------------------------------------------------------------


def target_household(ws: Workspace) -> tuple[str, str, str, str]:
    """A demo household with a phone and a member with a CCCD: its id, phone, the CCCD, the name."""
    for village in ws.households.villages():
        for household in ws.households.in_village(village):
            if not household.phone:
                continue
            for member in ws.members.of_household(household.id):
                if member.cccd and full_name(member.full_name):
                    return household.id, household.phone, member.cccd, member.full_name
    raise AssertionError("the demo has no household with a phone and a CCCD")


def search(app: App, qtbot, text: str) -> list[str]:
    """Type into the search box as the agent does; the households of the hits."""
    view = app.window.households
    app.window.focus_search()
    view.search_edit.clear()
    qtbot.keyClicks(view.search_edit, text)
    qtbot.waitUntil(lambda: view.model.query.text == text, timeout=10000)
    wait_idle(qtbot, app)
    return [view.model.hit(r).household_id for r in range(view.model.rowCount())]


def close_dialogs(app: App, qtbot) -> None:
    """Close whatever dialogs and message boxes are still open, as the agent would."""
    for widget in QApplication.topLevelWidgets() + app.window.findChildren(QDialog):
        if isinstance(widget, QDialog) and widget.isVisible():
            widget.reject()
    wait_idle(qtbot, app)


def message_box(title: str) -> QMessageBox:
    boxes = [
        w
        for w in QApplication.topLevelWidgets() + QApplication.allWidgets()
        if isinstance(w, QMessageBox) and w.isVisible() and w.windowTitle() == title
    ]
    assert boxes, title
    return boxes[0]


def add_household(app: App, qtbot, typing) -> None:
    app.window.new_household()
    dialog = app.window.dialog
    assert isinstance(dialog, HouseholdDialog)
    dialog.village_combo.setCurrentText("Thôn Mới")
    typing(dialog.head_edit, NEW_HEAD)
    qtbot.keyClicks(dialog.phone_edit, NEW_HEAD_PHONE)
    dialog.group_boxes["farmer"].setChecked(True)
    dialog.save()
    wait_idle(qtbot, app)
    qtbot.waitUntil(lambda: app.window.dialog is None)
    wait_idle(qtbot, app)


def add_member(app: App, qtbot, typing, household_id: str) -> None:
    """First with a CCCD one digit short (refused under the field), then corrected and saved."""
    app.window.add_member(household_id)
    dialog = app.window.dialog
    assert isinstance(dialog, MemberDialog)
    typing(dialog.name_edit, NEW_MEMBER)
    qtbot.keyClicks(dialog.dob_edit, "05/03/1990")
    dialog.sex_combo.setCurrentIndex(dialog.sex_combo.findData("female"))
    qtbot.keyClicks(dialog.cccd_edit, MISTYPED_CCCD)
    dialog.save()
    wait_idle(qtbot, app)
    assert dialog.isVisible() and dialog.problems.severity("cccd") == "error"
    dialog.cccd_edit.clear()
    qtbot.keyClicks(dialog.cccd_edit, NEW_MEMBER_CCCD)
    dialog.save()
    wait_idle(qtbot, app)
    qtbot.waitUntil(lambda: app.window.dialog is None)
    wait_idle(qtbot, app)


def member_save_fails(app: App, qtbot, typing, monkeypatch, household_id: str) -> None:
    """A fault in the core while saving a member: the agent sees the generic message and the
    traceback goes to the log. The fault is the core's own CCCD decoder meeting a number one
    digit short, as it would if a check before it were missing."""
    real_add = Members.add

    def faulty_add(self: Members, household: str, **values: object) -> object:
        decode_cccd(str(values["cccd"]))
        return real_add(self, household, **values)

    app.window.add_member(household_id)
    dialog = app.window.dialog
    assert isinstance(dialog, MemberDialog)
    typing(dialog.name_edit, NEW_MEMBER)
    qtbot.keyClicks(dialog.cccd_edit, MISTYPED_CCCD)
    with monkeypatch.context() as patched:
        patched.setattr(Members, "add", faulty_add)
        dialog.save()
        wait_idle(qtbot, app)
    message_box("Không thực hiện được")
    assert "không mong muốn" in str(app.ops.last_error)
    close_dialogs(app, qtbot)


def record_visit(app: App, qtbot) -> None:
    app.window.record_visit_here()
    wait_idle(qtbot, app)
    dialog = app.window.dialog
    assert isinstance(dialog, VisitDialog)
    qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_2)
    dialog.topics_list.setFocus()
    dialog.topics_list.setCurrentRow(0)
    qtbot.keyClick(dialog.topics_list, Qt.Key.Key_Space)
    qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, app)
    qtbot.waitUntil(lambda: app.window.dialog is None)


def pledge(app: App, qtbot, household_id: str) -> list[str]:
    app.window.new_pledge(household_id)
    wait_idle(qtbot, app)
    dialog = app.window.dialog
    assert isinstance(dialog, PledgeDialog)
    qtbot.waitUntil(lambda: dialog.result is not None)
    wait_idle(qtbot, app)
    dialog.save()
    wait_idle(qtbot, app)
    assert dialog.saved_pledges
    pledge_ids = [p.id for p in dialog.saved_pledges]
    dialog.accept()
    wait_idle(qtbot, app)
    return pledge_ids


def pay_and_print(app: App, qtbot, pledge_ids: list[str], out: Path) -> None:
    """No receipt book yet: the refusal; a book entered from the dialog; the receipt saved."""
    idle = lambda: wait_idle(qtbot, app)  # noqa: E731
    dialog = payment_dialog(app, idle, app.window.household, pledge_ids)
    dialog.confirm()
    idle()
    assert dialog.receipt is None and dialog.error_label.text()
    add_book_from(dialog, idle).reject()
    dialog.confirm()
    idle()
    assert dialog.receipt is not None
    dialog.print_button.click()
    idle()
    document = app.window.dialog
    assert isinstance(document, DocumentDialog)
    document.save_to(out)
    idle()
    assert out.stat().st_size > 0
    close_dialogs(app, qtbot)


def household_flyer(app: App, qtbot, household_id: str, out: Path) -> None:
    app.window.print_household_flyer(household_id)
    wait_idle(qtbot, app)
    document = app.window.dialog
    assert isinstance(document, DocumentDialog)
    document.save_to(out)
    wait_idle(qtbot, app)
    assert out.stat().st_size > 0
    close_dialogs(app, qtbot)


def village_flyers(app: App, qtbot, village: str) -> None:
    app.window.print_area_action.trigger()
    wait_idle(qtbot, app)
    assert app.window.stack.currentIndex() == PRINT
    app.window.print_page.village_combo.setCurrentText(village)
    app.window.print_page.make_flyers()
    wait_idle(qtbot, app)
    assert isinstance(app.window.dialog, DocumentDialog)
    close_dialogs(app, qtbot)


def end_of_day(app: App, qtbot, typing, reason: str, out: Path) -> None:
    """Cash handed over short without a reason (refused), then with one; the PDF; the export."""
    page = open_day(app, lambda: wait_idle(qtbot, app))
    due = page.data.report.cash_total
    assert due > 0
    page.amount_edit.setText(f"{due - 10000:,}".replace(",", "."))
    page.handover_button.click()
    wait_idle(qtbot, app)
    assert "lý do" in page.handover_message.text()
    typing(page.reason_edit, reason)
    page.handover_button.click()
    wait_idle(qtbot, app)
    assert "Đã ghi nhận" in page.handover_message.text()
    page.print_button.click()
    wait_idle(qtbot, app)
    assert app.window.findChild(DocumentDialog) is not None
    close_dialogs(app, qtbot)
    page.export_to(out, "csv")
    wait_idle(qtbot, app)
    assert "Đã xuất dữ liệu" in page.status_label.text()


def import_lists(app: App, qtbot, monkeypatch, folder: Path) -> None:
    """A list with refused rows: the report box; then a file that is no list: the error box."""
    good = folder / "danh-sach-ta-van.csv"
    good.write_text("\n".join(IMPORT_ROWS) + "\n", encoding="utf-8")
    junk = folder / "danh-sach-hong.xlsx"
    junk.write_bytes(b"PK\x03\x04 not a workbook " + NEW_MEMBER_CCCD.encode())
    for path in (good, junk):
        monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *_a, p=path, **_k: (str(p), ""))
        app.window.import_requested.emit()
        wait_idle(qtbot, app)
        if path is good:
            box = message_box("Kết quả nhập danh sách")
            assert "Dòng 4" in box.detailedText() and "Dòng 5" in box.detailedText()
        else:
            message_box("Không thực hiện được")
            assert app.ops.last_error
        close_dialogs(app, qtbot)


def sync_with_server(app: App, qtbot, server: Server, agent: str) -> None:
    page = app.window.sync_page
    app.window.nav.setCurrentRow(SYNC)
    wait_idle(qtbot, app)
    agent_id = server.add_agent(agent, [DEMO_COMMUNE])
    page.enrol_url_edit.setText(server.base_url)
    page.enrol_code_edit.setText(server.enrol_code(agent_id))
    page.enrol_button.click()
    wait_idle(qtbot, app)
    assert agent in page.agent_label.text()
    # The enrolment's probe may have started a background sync already; this one then waits.
    page.sync_now()
    wait_idle(qtbot, app, timeout=30000)
    if page.syncing:
        wait_idle(qtbot, app, timeout=30000)
    assert page.result_label.text().startswith("Đã gửi")
    assert page.status is not None and page.status.pending == 0
    counts = server_counts(server)
    assert counts["household"] > 0 and counts["member"] > 0 and counts["cash_handover"] == 1
    # The demo household's work (its visit, pledge and receipt) stays on the laptop: none of it
    # is sent, so none of it is refused.
    assert page.refused_model.rowCount() == 0


# -- the test ---------------------------------------------------------------------------------


def test_a_full_day_leaves_no_personal_data_in_the_log(
    app: App,
    qtbot,
    typing,
    workspace: Workspace,
    server: Server,
    log_folder: Path,
    tmp_path: Path,
    monkeypatch,
) -> None:
    """Searches, a household, members, a visit, a pledge, a receipt, flyers, the day's report,
    imports, a sync: the log has the run's entries and none of the people in them."""
    start_day(app)
    wait_idle(qtbot, app)
    household_id, phone, cccd, name = target_household(workspace)
    agent = app.settings.value("agent_name")

    # Search as the agent types: a name without diacritics, a CCCD, a phone number.
    assert household_id in search(app, qtbot, fold(name))
    assert household_id in search(app, qtbot, phone)
    assert search(app, qtbot, cccd)[0] == household_id
    qtbot.keyClick(app.window.households.search_edit, Qt.Key.Key_Return)
    wait_idle(qtbot, app)
    assert app.window.stack.currentIndex() == HOUSEHOLD
    assert app.window.household.household_id == household_id

    add_member(app, qtbot, typing, household_id)
    member_save_fails(app, qtbot, typing, monkeypatch, household_id)
    assert any(m.cccd == NEW_MEMBER_CCCD for m in workspace.members.of_household(household_id))
    record_visit(app, qtbot)
    pledge_ids = pledge(app, qtbot, household_id)
    pay_and_print(app, qtbot, pledge_ids, tmp_path / "bien-lai.pdf")
    household_flyer(app, qtbot, household_id, tmp_path / "to-roi.pdf")
    village_flyers(app, qtbot, workspace.households.get(household_id).village)
    add_household(app, qtbot, typing)
    head = workspace.households.get(household_id).head_name
    end_of_day(app, qtbot, typing, f"Hộ {head} trả thiếu, hẹn nộp bù", tmp_path / "ban-ghi")
    import_lists(app, qtbot, monkeypatch, tmp_path)
    sync_with_server(app, qtbot, server, str(agent))
    close_dialogs(app, qtbot)

    assert (log_folder / "fieldapp.log").stat().st_size > 0
    text = log_text(app.data_dir)
    lines = text.splitlines()
    # The run is in the log: the day's backup, the worker's operations, refusals among them.
    assert len(lines) >= 50, text
    assert "backup written" in text
    assert " finished in " in text and "cccd_format" in text
    assert "unexpected error in an operation" in text and "Traceback" in text

    stored = personal_values(app.data_dir / STORE_FILENAME)
    # What the day added is among them: the new member, the new household, the imported list.
    assert {NEW_MEMBER_CCCD, NEW_MEMBER, NEW_HEAD, "Giàng Seo Phử", "015184135792"} <= stored
    typed = {fold(name), cccd, phone, NEW_HEAD, NEW_HEAD_PHONE, NEW_MEMBER, NEW_MEMBER_CCCD}
    typed |= {MISTYPED_CCCD, str(agent), *IMPORTED}
    assert leaks(text, stored | typed) == []
    # A number did reach a log call (the fault's message) and went in masked.
    assert "<number>" in text

    # The check itself finds a value planted in a copy of the log, in each spelling.
    digits = phone.replace(" ", "")
    for planted in (
        cccd,
        f"{cccd[:3]} {cccd[3:6]} {cccd[6:9]} {cccd[9:]}",
        digits,
        f"+84 {digits[1:4]}.{digits[4:7]}.{digits[7:]}",
        name,
        unicodedata.normalize("NFD", name),
        fold(name).upper(),
        "Thao A Trang",
    ):
        assert leaks(f"{text}\nop 7 saved {planted}\n", stored | typed), planted
