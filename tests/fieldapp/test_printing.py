"""Printing through the operating system: a real CUPS queue whose "paper" is a cups-pdf file."""

from __future__ import annotations

import datetime as dt
import io
import os
import pwd
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pypdf
import pytest

from fieldapp.printing import PrintingError, print_pdf, printers, require_printer
from fieldapp.receipts import Receipt
from fieldapp.workspace import Workspace
from sync.protocol.errors import FieldappError
from sync.protocol.money import format_vnd
from tests.fieldapp.conftest import check_imports_without_qt, run_fieldapp
from tests.fieldapp.pdfcheck import flat, need, page_texts

QUEUE = "fieldapp-test"
CUPS_PACKAGES = "cups cups-client printer-driver-cups-pdf"
CUPS_BINARIES = ("cupsd", "lp", "lpstat", "lpadmin", "lpinfo", "cupsaccept", "cupsreject")
CUPS_PDF_CONF = Path("/etc/cups/cups-pdf.conf")
WAIT_SECONDS = 30


def _which(name: str) -> str | None:
    # cupsd and lpadmin live in /usr/sbin, which a plain user's PATH may lack.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LC_ALL": "C"}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=30, check=False)


def _scheduler_running() -> bool:
    return "is running" in _run("lpstat", "-r").stdout


def _out_dirs() -> list[Path]:
    """Where cups-pdf writes the PDFs of jobs from this user (its Out, then its anonymous dir)."""
    user = pwd.getpwuid(os.geteuid())
    settings = {
        "Out": "/var/spool/cups-pdf/${USER}",
        "AnonDirName": "/var/spool/cups-pdf/ANONYMOUS",
    }
    if CUPS_PDF_CONF.exists():
        for line in CUPS_PDF_CONF.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.strip().partition(" ")
            if key in settings and value.strip():
                settings[key] = value.strip()
    return [
        Path(settings[key].replace("${HOME}", user.pw_dir).replace("${USER}", user.pw_name))
        for key in ("Out", "AnonDirName")
    ]


def _pdfs(folders: list[Path]) -> set[Path]:
    return {p for folder in folders if folder.is_dir() for p in folder.glob("*.pdf")}


def _wait_for_new_pdf(folders: list[Path], before: set[Path]) -> str:
    """The text of the first new PDF cups-pdf writes, once it is whole (bounded wait)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        for path in sorted(_pdfs(folders) - before):
            try:
                reader = pypdf.PdfReader(io.BytesIO(path.read_bytes()))
                text = " ".join(page.extract_text() or "" for page in reader.pages)
            except Exception:  # still being written
                continue
            if text.strip():
                return flat(text)
        time.sleep(0.2)
    queue = _run("lpstat", "-W", "all", "-o", QUEUE).stdout
    raise AssertionError(f"cups-pdf wrote no PDF in {folders} within {WAIT_SECONDS} s: {queue}")


@pytest.fixture(scope="module")
def cups_pdf_queue() -> Iterator[list[Path]]:
    """A cups-pdf print queue named fieldapp-test; the folders its PDFs land in.

    Starts the CUPS scheduler when it is not running (and stops it again afterwards).
    """
    missing = [name for name in CUPS_BINARIES if _which(name) is None]
    if missing:
        pytest.skip(
            f"CUPS not installed: {' '.join(missing)} missing (apt-get install -y {CUPS_PACKAGES})"
        )
    if os.geteuid() != 0:
        pytest.skip("not root: starting cupsd and adding a print queue need root")
    started: subprocess.Popen[bytes] | None = None
    if not _scheduler_running():
        cupsd = _which("cupsd")
        assert cupsd is not None
        started = subprocess.Popen(
            [cupsd, "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not _scheduler_running():
            assert started.poll() is None, "cupsd exited at start"
            assert time.monotonic() < deadline, "cupsd did not start within 10 s"
            time.sleep(0.1)
    try:
        models = _run(_which("lpinfo") or "lpinfo", "-m").stdout.splitlines()
        cups_pdf = sorted(m.split()[0] for m in models if "cups-pdf" in m.lower())
        if not cups_pdf:
            pytest.skip("no cups-pdf printer model (apt-get install -y printer-driver-cups-pdf)")
        # The "with options" model first: it is the one cups-pdf documents.
        model = next((m for m in cups_pdf if "_opt" in m), cups_pdf[0])
        lpadmin = _which("lpadmin") or "lpadmin"
        added = _run(lpadmin, "-p", QUEUE, "-E", "-v", "cups-pdf:/", "-m", model)
        assert added.returncode == 0, added.stderr
        try:
            yield _out_dirs()
        finally:
            _run(lpadmin, "-x", QUEUE)
    finally:
        if started is not None:
            started.terminate()
            started.wait(timeout=10)


@pytest.fixture
def receipt(workspace: Workspace) -> Receipt:
    """Receipt LC-NTA-24 no. 1 for a household's 12-month BHYT, not printed yet."""
    workspace.receipts.add_book(series="LC-NTA-24", first=1, last=50)
    household = workspace.households.add(
        province_code="15",
        commune_code="99001",
        village="Bản Phìn Hồ",
        head_name="Giàng Thị Mỷ",
    )
    ids = [
        workspace.members.add(household.id, full_name=name, relation=relation).id
        for name, relation in (("Giàng Thị Mỷ", "Chủ hộ"), ("Sùng A Páo", "Chồng"))
    ]
    pledges = workspace.pledges.pledge_bhyt_household(
        household.id, member_ids=ids, months=12, start=dt.date(2026, 12, 1)
    )
    return workspace.receipts.issue(pledge_ids=[p.id for p in pledges])


def test_receipt_printed_on_a_real_cups_queue(
    cups_pdf_queue: list[Path],
    workspace: Workspace,
    receipt: Receipt,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`fieldapp print receipt ID --printer Q --out F` writes F and Q prints the same receipt."""
    assert QUEUE in printers()
    before = _pdfs(cups_pdf_queue)
    out = tmp_path / "bien-lai.pdf"
    options = ("--printer", QUEUE, "--out", str(out), "--layout", "roll80")
    code = run_fieldapp(workspace, "print", "receipt", receipt.id, *options)
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    job = re.search(rf"{QUEUE}-\d+", stdout)
    assert job is not None, stdout

    printed = _wait_for_new_pdf(cups_pdf_queue, before)
    assert "LC-NTA-24" in printed
    assert "0000001" in printed
    assert format_vnd(receipt.amount).removesuffix(" đ") in printed
    assert "BẢN SAO" not in flat(page_texts(out.read_bytes())[0])
    assert "0000001" in flat(page_texts(out.read_bytes())[0])
    # Written to the file and sent to the printer, it is one print: the original.
    assert workspace.receipts.get(receipt.id).prints == 1


def test_print_pdf_returns_the_job_id(cups_pdf_queue: list[Path]) -> None:
    """print_pdf hands the PDF to lp and gives back the job id lp printed."""
    before = _pdfs(cups_pdf_queue)
    job = print_pdf(_hello_pdf(), printer=QUEUE, title="Thử máy in — Lào Cai")
    assert re.fullmatch(rf"{QUEUE}-\d+", job)
    assert "fieldapp printing check" in _wait_for_new_pdf(cups_pdf_queue, before)


def test_queue_that_refuses_jobs_reports_lp_error(cups_pdf_queue: list[Path]) -> None:
    """When lp itself fails, the error carries what lp said."""
    assert _run("cupsreject", QUEUE).returncode == 0
    try:
        with pytest.raises(PrintingError) as caught:
            print_pdf(_hello_pdf(), printer=QUEUE, title="refused")
    finally:
        _run("cupsaccept", QUEUE)
    assert caught.value.code == "print_failed"
    assert "not accepting" in caught.value.en
    assert "In không thành công" in caught.value.vi and "not accepting" in caught.value.vi


def test_unknown_printer_is_a_clear_error() -> None:
    """A queue the print system does not know is named in the error, in both languages."""
    need("lp", "cups-client")
    with pytest.raises(PrintingError) as caught:
        print_pdf(_hello_pdf(), printer="no-such-printer", title="x")
    assert caught.value.code == "unknown_printer"
    assert "no-such-printer" in caught.value.vi and "Không có máy in" in caught.value.vi
    assert "Unknown printer 'no-such-printer'" in caught.value.en


def test_unknown_printer_does_not_spend_the_original(
    workspace: Workspace, receipt: Receipt, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command checks the printer before rendering: the receipt is not counted as printed."""
    need("lpstat", "cups-client")
    code = run_fieldapp(workspace, "print", "receipt", receipt.id, "--printer", "no-such-printer")
    assert code == 1
    assert "no-such-printer" in capsys.readouterr().err
    assert workspace.receipts.get(receipt.id).prints == 0


@pytest.mark.parametrize("name", ["", "máy in 1", "a/b", "tab\there", "x" * 128])
def test_impossible_queue_names_are_refused(name: str) -> None:
    """Names CUPS cannot have are refused before lp runs."""
    with pytest.raises(PrintingError) as caught:
        print_pdf(b"%PDF-1.4", printer=name, title="x")
    assert caught.value.code == "unknown_printer"
    with pytest.raises(PrintingError):
        require_printer(name)


def test_missing_lp_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without CUPS's lp on the PATH the error says what to install."""
    monkeypatch.setenv("PATH", str(tmp_path))
    for call in (lambda: print_pdf(_hello_pdf(), printer="office", title="x"), printers):
        with pytest.raises(PrintingError) as caught:
            call()
        assert caught.value.code == "lp_missing"
        assert "cups-client" in caught.value.en and "Không tìm thấy lệnh in" in caught.value.vi


def test_windows_prints_from_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows the error sends the agent to the desktop app, which prints through Qt."""
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(FieldappError) as caught:
        print_pdf(_hello_pdf(), printer="HP LaserJet", title="x")
    assert caught.value.code == "printing_unsupported"
    assert "QPrinter" in caught.value.en and "Windows" in caught.value.vi
    with pytest.raises(FieldappError, match="Windows"):
        printers()


def test_printing_does_not_import_qt() -> None:
    """The print module is core code: it runs without Qt."""
    check_imports_without_qt("fieldapp.printing")


def _hello_pdf() -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, "fieldapp printing check")
    page.save()
    return buffer.getvalue()
