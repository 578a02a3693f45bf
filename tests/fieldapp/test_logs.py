"""The log file: personal data (CCCD, phone numbers, names) never reaches it, at any level."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from fieldapp.backup import Backups
from fieldapp.errors import ValidationError
from fieldapp.logs import mask, setup_logging
from fieldapp.workspace import Workspace

HEAD = "Nguyễn Thị Hương"
CHILD = "Trần Văn Đức"
HEAD_CCCD = "001185654321"  # Hà Nội, female, born 1985
CHILD_CCCD = "001210123456"  # Hà Nội, male, born 2010
PHONE = "0912345678"
MISTYPED_CCCD = "00121012345"  # one digit short


@pytest.fixture
def log_file(workspace: Workspace) -> Iterator[Path]:
    """The workspace's log file at DEBUG; the handler is removed again afterwards."""
    root = logging.getLogger()
    level = root.level
    handler = setup_logging(workspace.data_dir, level=logging.DEBUG)
    root.setLevel(logging.DEBUG)
    yield workspace.data_dir / "logs" / "fieldapp.log"
    root.removeHandler(handler)
    handler.close()
    root.setLevel(level)


def test_personal_data_never_reaches_the_log(workspace: Workspace, log_file: Path) -> None:
    """A day's work logged carelessly at DEBUG leaves no CCCD, phone or name in the log file."""
    log = logging.getLogger("ui.operations")
    household = workspace.households.add(
        province_code="01", commune_code="00001", village="Thôn Đông", head_name=HEAD, phone=PHONE
    )
    log.info("household added: %s, phone %s", HEAD, PHONE, extra={"person": HEAD})
    for name, cccd, sex, born in (
        (HEAD, HEAD_CCCD, "female", "1985-03-02"),
        (CHILD, CHILD_CCCD, "male", "2010-09-01"),
    ):
        member = workspace.members.add(
            household.id, full_name=name, cccd=cccd, sex=sex, date_of_birth=born
        )
        log.debug("member saved: %r", member, extra={"person": name})
    try:
        workspace.members.add(household.id, full_name=CHILD, cccd=MISTYPED_CCCD, sex="male")
    except ValidationError as exc:
        log.warning("member refused for %s: %s", CHILD, exc, extra={"person": CHILD})
        log.exception("details", extra={"person": CHILD})
    # Search text typed without diacritics, a name typed in NFD, a phone typed in groups.
    log.debug("search %r", "nguyen thi huong", extra={"person": HEAD})
    log.debug("typed %s", unicodedata.normalize("NFD", HEAD), extra={"person": [HEAD, CHILD]})
    log.debug("call 0912 345 678 or +84 912 345 678, CCCD 001 185 654 321")
    try:
        raise RuntimeError(f"sync refused {CHILD_CCCD}")
    except RuntimeError:
        log.exception("sync failed")
    Backups(workspace.store).make()
    logging.getLogger("fieldapp.backup").debug("after backup, %d households", 1)

    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text(encoding="utf-8")
    assert "backup written" in text and "member refused" in text and "Traceback" in text
    assert "<cccd>" in text and "<phone>" in text and "<person>" in text
    forbidden = [HEAD_CCCD, CHILD_CCCD, MISTYPED_CCCD, PHONE, "912345678", "345 678"]
    forbidden += [HEAD, CHILD, "nguyen thi huong", "tran van duc"]
    forbidden += [unicodedata.normalize("NFD", n) for n in (HEAD, CHILD)]
    folded = text.lower()
    for secret in forbidden:
        assert secret.lower() not in folded, secret


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CCCD 001185654321.", "CCCD <cccd>."),
        ("tel 0912345678", "tel <phone>"),
        ("tel 0912.345.678", "tel <phone>"),
        ("tel +84912345678", "tel <phone>"),
        ("old id 012345678", "old id <number>"),
        ("amount 3142260 đồng on 2026-11-23 10:00", "amount 3142260 đồng on 2026-11-23 10:00"),
        ("file fieldapp-20261123-100000-auto.fabak", "file fieldapp-20261123-100000-auto.fabak"),
    ],
)
def test_mask(text: str, expected: str) -> None:
    """Numbers that identify people are masked; amounts, dates and backup names are kept."""
    assert mask(text) == expected


def test_setup_logging_twice_adds_one_handler(tmp_path: Path) -> None:
    """Setting up logging again for the same folder reuses the handler already installed."""
    root = logging.getLogger()
    level = root.level
    first = setup_logging(tmp_path)
    try:
        assert setup_logging(tmp_path) is first
        assert sum(h is first for h in root.handlers) == 1
    finally:
        root.removeHandler(first)
        first.close()
        root.setLevel(level)


def test_the_console_shows_warnings_masked_and_no_chatter(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The terminal the app runs in gets warnings with personal data masked, not INFO lines."""
    from fieldapp.logs import setup_console_logging

    root = logging.getLogger()
    before = list(root.handlers)
    handler = setup_console_logging()
    try:
        assert setup_console_logging() is handler
        log = logging.getLogger("ui.operations")
        log.info("op 1 finished in 3 ms")
        log.warning("refused CCCD %s for %s", HEAD_CCCD, HEAD, extra={"person": HEAD})
        handler.flush()
    finally:
        root.handlers[:] = before
    err = capsys.readouterr().err
    assert "refused CCCD <cccd> for <person>" in err
    assert "op 1 finished" not in err
    assert HEAD_CCCD not in err and HEAD not in err
