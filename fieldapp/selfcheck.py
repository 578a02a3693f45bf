"""The installed app checks itself: one household from entry to printed receipt, on a new store.

Used by the bundle's `--self-test` (and by anyone who wants to know whether an installation
works) without Qt: each step is what an agent does in the field, run through the real services
on a real store file, so a module or resource the installation lacks fails here, not at a
household's door.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

from fieldapp.store import STORE_FILENAME
from fieldapp.workspace import Workspace
from sync.protocol.clock import Clock, SystemClock
from sync.protocol.errors import FieldappError
from sync.protocol.money import format_vnd

T = TypeVar("T")

# A commune code the demo uses too; the self-check store is thrown away afterwards.
PROVINCE = "15"
COMMUNE = "99001"
VILLAGE = "Bản Kiểm Tra"
# Names with a word starting with "a": the app's window self-test searches for "a" on this store.
HEAD = "Lò Văn An"
SPOUSE = "Vàng Thị Ánh"
SERIES = "KT-TU-KIEM"
MONTHS = 12
# reportlab embeds a subset of the shipped TTF under a name like AAAAAA+DejaVuSans.
_EMBEDDED_FONT = re.compile(rb"/BaseFont\s*/[A-Z]{6}\+DejaVuSans\b")


def run_self_check(data_dir: Path, *, clock: Clock | None = None) -> list[str]:
    """Run the field workflow on a new store in data_dir; returns one line per step done.

    :param data_dir: a folder without a store (it is created when missing).
    :param clock: the clock the store uses; the system clock by default.
    :raises FieldappError: naming the step that failed and why.
    """
    data_dir = Path(data_dir)
    if (data_dir / STORE_FILENAME).exists():
        raise FieldappError(
            f"Tự kiểm tra cần một thư mục chưa có dữ liệu, nhưng {data_dir} đã có kho dữ liệu.",
            f"The self-check needs a folder without data, but {data_dir} already has a store.",
            code="selfcheck_not_fresh",
        )
    lines: list[str] = []
    ws = _step("mở kho dữ liệu", "opening the store", lambda: Workspace.open(data_dir, clock=clock))
    with ws:
        lines.append(f"Mở kho dữ liệu mới: {ws.path}")
        household = _step(
            "tạo hộ gia đình",
            "creating a household",
            lambda: ws.households.add(
                province_code=PROVINCE,
                commune_code=COMMUNE,
                village=VILLAGE,
                head_name=HEAD,
                address=f"{VILLAGE}, xã Tả Phìn, tỉnh Lào Cai",
                groups=["farmer"],
            ),
        )
        member_ids = [
            _step(
                "thêm thành viên",
                "adding a member",
                partial(ws.members.add, household.id, full_name=name, relation=relation),
            ).id
            for name, relation in ((HEAD, "Chủ hộ"), (SPOUSE, "Vợ"))
        ]
        lines.append(f"Tạo hộ {HEAD} ({VILLAGE}) với {len(member_ids)} thành viên.")

        start = (clock or SystemClock()).today()
        pledges = _step(
            "tính mức đóng BHYT hộ gia đình",
            "computing the household health insurance",
            lambda: ws.pledges.pledge_bhyt_household(
                household.id, member_ids=member_ids, months=MONTHS, start=start
            ),
        )
        total = sum(p.payable for p in pledges)
        if len(pledges) != len(member_ids) or total <= 0:
            raise FieldappError(
                f"Tự kiểm tra thất bại khi tính mức đóng BHYT: {len(pledges)} cam kết, "
                f"tổng {format_vnd(total)}.",
                f"Self-check failed computing BHYT: {len(pledges)} pledges, total {total}.",
                code="selfcheck_failed",
            )
        lines.append(
            f"Tính BHYT hộ gia đình {MONTHS} tháng cho {len(pledges)} người "
            f"(chính sách {pledges[0].policy_version}): phải đóng {format_vnd(total)}."
        )

        book = _step(
            "nhập quyển biên lai",
            "entering a receipt book",
            lambda: ws.receipts.add_book(series=SERIES, first=1, last=50),
        )
        lines.append(
            f"Nhập quyển biên lai {book.series} số {book.first_number}–{book.last_number}."
        )

        receipt = _step(
            "lập biên lai",
            "issuing a receipt",
            lambda: ws.receipts.issue(pledge_ids=[p.id for p in pledges]),
        )
        if receipt.amount != total:
            raise FieldappError(
                f"Tự kiểm tra thất bại: biên lai ghi {format_vnd(receipt.amount)}, "
                f"cam kết là {format_vnd(total)}.",
                f"Self-check failed: the receipt says {receipt.amount}, the pledges {total}.",
                code="selfcheck_failed",
            )
        lines.append(
            f"Lập biên lai {receipt.series} số {receipt.number:07d} cho {receipt.payer_name}: "
            f"{format_vnd(receipt.amount)}, mã kiểm tra {receipt.verification_code}."
        )

        pdf = _step(
            "in biên lai ra PDF", "rendering the receipt PDF", lambda: _render(ws, receipt.id)
        )
        lines.append(f"In biên lai ra PDF: {len(pdf) // 1024} KB, có phông DejaVu Sans nhúng sẵn.")
    return lines


def _render(ws: Workspace, receipt_id: str) -> bytes:
    pdf = ws.receipts.render(receipt_id)
    if not pdf.startswith(b"%PDF"):
        raise FieldappError(
            "Biên lai in ra không phải tệp PDF.",
            "The rendered receipt is not a PDF.",
            code="selfcheck_failed",
        )
    if _EMBEDDED_FONT.search(pdf) is None or b"/FontFile2" not in pdf:
        raise FieldappError(
            "Biên lai PDF không nhúng phông DejaVu Sans: chữ tiếng Việt sẽ hiện sai.",
            "The receipt PDF does not embed DejaVu Sans: Vietnamese text would show wrongly.",
            code="selfcheck_failed",
        )
    return pdf


def _step(what_vi: str, what_en: str, action: Callable[[], T]) -> T:
    """Run one step; any failure (a missing module in a bundle too) becomes a FieldappError."""
    try:
        return action()
    except FieldappError as exc:
        raise FieldappError(
            f"Tự kiểm tra thất bại khi {what_vi}: {exc.vi}",
            f"Self-check failed {what_en}: {exc.en}",
            code=exc.code,
        ) from exc
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"
        raise FieldappError(
            f"Tự kiểm tra thất bại khi {what_vi}: {detail}",
            f"Self-check failed {what_en}: {detail}",
            code="selfcheck_failed",
        ) from exc
