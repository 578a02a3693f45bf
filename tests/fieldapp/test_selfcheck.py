"""The installation self-check on real store files: what it writes, what it says, how it fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldapp.selfcheck import SERIES, run_self_check
from fieldapp.store import STORE_FILENAME
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock
from sync.protocol.errors import FieldappError
from tests.fieldapp.conftest import NOW
from tests.fieldapp.pdfcheck import flat, page_texts


def test_self_check_runs_the_field_workflow_on_a_new_store(tmp_path: Path) -> None:
    """One household, two members, a paid BHYT pledge each, one printed receipt, six lines."""
    folder = tmp_path / "selfcheck"
    lines = run_self_check(folder, clock=FixedClock(NOW))

    assert len(lines) == 6
    assert str(folder / STORE_FILENAME) in lines[0]
    assert "2 thành viên" in lines[1]
    assert "BHYT hộ gia đình 12 tháng cho 2 người" in lines[2]
    assert SERIES in lines[3]
    assert "số 0000001" in lines[4]
    assert "PDF" in lines[5] and "DejaVu Sans" in lines[5]

    ws = Workspace.open(folder, clock=FixedClock(NOW))
    try:
        assert ws.households.count() == 1
        assert ws.members.count() == 2
        pledges = ws.pledges.of_household(ws.households.in_village("Bản Kiểm Tra")[0].id)
        assert [p.status for p in pledges] == ["paid", "paid"]
        (receipt,) = ws.receipts.issued()
        assert receipt.amount == sum(p.payable for p in pledges) > 0
        assert receipt.prints == 1
        assert f"{receipt.amount:,}".replace(",", ".") in lines[2]
        # What a reprint would give is the same receipt, readable text with Vietnamese marks.
        text = flat(" ".join(page_texts(ws.receipts.preview(receipt.id))))
        assert "Lò Văn An" in text
    finally:
        ws.close()


def test_self_check_refuses_a_folder_that_already_has_a_store(tmp_path: Path) -> None:
    """An agent's real data is never written to by the self-check."""
    Workspace.open(tmp_path, clock=FixedClock(NOW)).close()
    before = (tmp_path / STORE_FILENAME).read_bytes()

    with pytest.raises(FieldappError) as caught:
        run_self_check(tmp_path, clock=FixedClock(NOW))

    assert caught.value.code == "selfcheck_not_fresh"
    assert (tmp_path / STORE_FILENAME).read_bytes() == before


def test_self_check_failure_names_the_step(tmp_path: Path) -> None:
    """A store that cannot be opened (a file where the folder should be) is a FieldappError."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")

    with pytest.raises(FieldappError) as caught:
        run_self_check(blocker, clock=FixedClock(NOW))

    assert caught.value.code == "selfcheck_failed"
    assert "mở kho dữ liệu" in caught.value.vi
    assert "opening the store" in caught.value.en


def test_self_check_uses_the_system_clock_by_default(tmp_path: Path) -> None:
    """Run as the bundle runs it: no clock given, whatever today is."""
    lines = run_self_check(tmp_path / "today")

    assert len(lines) == 6
