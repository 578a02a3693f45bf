"""Sending PDFs to the operating system's print queues: CUPS `lp` on Linux and macOS."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from sync.protocol.errors import FieldappError

# Long enough for a busy scheduler to accept a job; `lp` only queues it, it does not wait for paper.
LP_TIMEOUT_SECONDS = 60
_JOB_ID = re.compile(r"request id is (\S+)")
# CUPS refuses queue names with white space, '/', '#' or control characters.
_BAD_NAME = re.compile(r"[\s/#\x00-\x1f\x7f]")


class PrintingError(FieldappError):
    """The PDF could not be handed to the print system."""


def printers() -> list[str]:
    """Names of the print queues the operating system knows (`lpstat -e`)."""
    lpstat = _program("lpstat")
    result = _run([lpstat, "-e"], stdin=None)
    if result.returncode != 0:
        raise _failed("lpstat -e", result)
    return [line.strip() for line in result.stdout.decode(errors="replace").splitlines() if line]


def require_printer(printer: str) -> None:
    """Refuse a queue the print system does not know, before anything is rendered for it."""
    _require_posix()
    if not printer or _BAD_NAME.search(printer) or printer not in printers():
        raise _unknown(printer)


def print_pdf(pdf: bytes, *, printer: str, title: str) -> str:
    """Queue a PDF on a printer with `lp -d PRINTER -t TITLE`; returns the job id ("HP-12")."""
    _require_posix()
    if not printer or _BAD_NAME.search(printer) or len(printer) > 127:
        raise _unknown(printer)
    lp = _program("lp")
    # With no file named, lp reads the job from standard input.
    result = _run([lp, "-d", printer, "-t", title], stdin=pdf)
    if result.returncode != 0:
        if _queue_missing(printer):
            raise _unknown(printer)
        raise _failed(f"lp -d {printer}", result)
    match = _JOB_ID.search(result.stdout.decode(errors="replace"))
    if match is None:
        raise PrintingError(
            f"Đã gửi lệnh in tới {printer} nhưng không nhận được mã lệnh in: "
            f"{result.stdout.decode(errors='replace').strip()}",
            f"The job was sent to {printer} but lp gave no job id: "
            f"{result.stdout.decode(errors='replace').strip()}",
            code="print_failed",
        )
    return match.group(1)


def _require_posix() -> None:
    if sys.platform == "win32":
        raise PrintingError(
            "Trên Windows, hãy in từ ứng dụng (nút In dùng máy in của Windows); "
            "lệnh dòng lệnh chỉ ghi được tệp PDF (--out).",
            "On Windows, print from the desktop app (its Print button uses the Windows "
            "printers through Qt's QPrinter); the command line can only write a PDF file (--out).",
            code="printing_unsupported",
        )


def _program(name: str) -> str:
    _require_posix()
    found = shutil.which(name)
    if found is None:
        raise PrintingError(
            f"Không tìm thấy lệnh in «{name}» của CUPS. Hãy cài CUPS "
            "(Debian/Ubuntu: apt-get install cups cups-client).",
            f"The CUPS command '{name}' was not found. Install CUPS "
            "(Debian/Ubuntu: apt-get install cups cups-client).",
            code="lp_missing",
        )
    return found


def _run(args: list[str], *, stdin: bytes | None) -> subprocess.CompletedProcess[bytes]:
    # The C locale keeps lp's output in English, so the job id can be read back.
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    try:
        return subprocess.run(
            args,
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            capture_output=True,
            env=env,
            timeout=LP_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PrintingError(
            f"Hệ thống in không trả lời sau {LP_TIMEOUT_SECONDS} giây ({args[0]}).",
            f"The print system did not answer within {LP_TIMEOUT_SECONDS} s ({args[0]}).",
            code="print_timeout",
        ) from exc
    except OSError as exc:
        raise PrintingError(
            f"Không chạy được {args[0]}: {exc}",
            f"Could not run {args[0]}: {exc}",
            code="print_failed",
        ) from exc


def _queue_missing(printer: str) -> bool:
    try:
        return printer not in printers()
    except PrintingError:
        return False


def _scheduler_running() -> bool:
    lpstat = shutil.which("lpstat")
    if lpstat is None:
        return False
    result = _run([lpstat, "-r"], stdin=None)
    return b"is running" in result.stdout


def _unknown(printer: str) -> PrintingError:
    if not _scheduler_running():
        return PrintingError(
            f"Không có máy in «{printer}»: dịch vụ in (CUPS) chưa chạy.",
            f"Unknown printer '{printer}': the print service (CUPS) is not running.",
            code="unknown_printer",
        )
    try:
        known = ", ".join(printers()) or "—"
    except PrintingError:
        known = "?"
    return PrintingError(
        f"Không có máy in «{printer}». Các máy in hiện có: {known}.",
        f"Unknown printer '{printer}'. Printers available: {known}.",
        code="unknown_printer",
    )


def _failed(command: str, result: subprocess.CompletedProcess[bytes]) -> PrintingError:
    stderr = result.stderr.decode(errors="replace").strip() or f"exit {result.returncode}"
    return PrintingError(
        f"In không thành công ({command}): {stderr}",
        f"Printing failed ({command}): {stderr}",
        code="print_failed",
    )
