"""The `receipts` and `print` commands: receipt books, payments, voids, receipt and flyer PDFs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fieldapp.cliutil import open_workspace, usage
from sync.protocol.errors import FieldappError
from sync.protocol.i18n import say
from sync.protocol.money import format_vnd


def _write(path: Path, data: bytes) -> None:
    """Write a PDF whole or not at all: a cut never leaves half a file under the real name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    partial.replace(path)


def cmd_book_add(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    try:
        book = ws.receipts.add_book(series=args.series, first=args.first, last=args.last)
    finally:
        ws.close()
    print(
        say(
            f"Đã thêm quyển biên lai {book.series}: số {book.first_number}–{book.last_number}.",
            f"Added receipt book {book.series}: numbers {book.first_number}–{book.last_number}.",
        )
    )
    return 0


def cmd_receipts_list(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    try:
        receipts = ws.receipts.issued()
        books = ws.receipts.books()
    finally:
        ws.close()
    if args.json:
        print(json.dumps([r.as_dict() for r in receipts], ensure_ascii=False, indent=2))
        return 0
    for book in books:
        print(
            say(
                f"Quyển {book.series} {book.first_number}–{book.last_number}: "
                f"còn {book.remaining} số",
                f"Book {book.series} {book.first_number}–{book.last_number}: "
                f"{book.remaining} numbers left",
            )
        )
    for r in receipts:
        status = say("ĐÃ HUỶ", "VOID") if r.void_reason is not None else ""
        print(f"{r.series} {r.number:07d}  {format_vnd(r.amount):>14}  {r.payer_name}  {status}")
    return 0


def cmd_receipt_issue(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    try:
        receipt = ws.receipts.issue(pledge_ids=args.pledge, payer_member_id=args.payer)
    finally:
        ws.close()
    if args.json:
        print(json.dumps(receipt.as_dict(), ensure_ascii=False, indent=2))
    else:
        print(
            say(
                f"Biên lai {receipt.series} số {receipt.number:07d}: {format_vnd(receipt.amount)}"
                f" — {receipt.id}",
                f"Receipt {receipt.series} no. {receipt.number:07d}: {format_vnd(receipt.amount)}"
                f" — {receipt.id}",
            )
        )
    return 0


def cmd_receipt_void(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    try:
        receipt = ws.receipts.void(args.receipt_id, reason=args.reason)
    finally:
        ws.close()
    print(
        say(
            f"Đã huỷ biên lai {receipt.series} số {receipt.number:07d}.",
            f"Voided receipt {receipt.series} no. {receipt.number:07d}.",
        )
    )
    return 0


def _check_destination(args: argparse.Namespace) -> None:
    """A PDF file, a printer or both; the printer is checked before anything is rendered."""
    if args.out is None and args.printer is None:
        raise FieldappError(
            "Cần --out TỆP hoặc --printer TÊN_MÁY_IN.",
            "Give --out FILE or --printer NAME.",
            code="no_destination",
        )
    if args.printer is not None:
        from fieldapp.printing import require_printer

        # A receipt's first render is its original: do not spend it on a printer that is not there.
        require_printer(args.printer)


def _deliver(args: argparse.Namespace, pdf: bytes, *, title: str) -> None:
    if args.out is not None:
        _write(args.out, pdf)
        print(say(f"Đã ghi {args.out}", f"Wrote {args.out}"))
    if args.printer is not None:
        from fieldapp.printing import print_pdf

        job = print_pdf(pdf, printer=args.printer, title=title)
        print(say(f"Đã gửi tới máy in {args.printer}: {job}", f"Sent to {args.printer}: {job}"))


def cmd_print_receipt(args: argparse.Namespace) -> int:
    _check_destination(args)
    ws = open_workspace(args)
    try:
        pdf = ws.receipts.render(args.receipt_id, layout=args.layout)
        receipt = ws.receipts.get(args.receipt_id)
    finally:
        ws.close()
    _deliver(args, pdf, title=f"Biên lai {receipt.series} {receipt.number:07d}")
    return 0


def cmd_print_flyers(args: argparse.Namespace) -> int:
    from fieldapp.flyers import village_flyers

    _check_destination(args)
    ws = open_workspace(args)

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\r{done}/{total}", end="", file=sys.stderr, flush=True)

    try:
        pdf = village_flyers(
            ws, village=args.village, group=args.group, language=args.lang, on_progress=progress
        )
    finally:
        ws.close()
    if sys.stderr.isatty():
        print(file=sys.stderr)
    _deliver(args, pdf, title=f"Tờ rơi {args.village}")
    return 0


def register(sub: Any) -> None:
    """Add the `receipts` and `print` command groups to the top-level parser."""
    receipts = sub.add_parser("receipts", help=say("quyển biên lai và biên lai", "receipts"))
    receipts_sub = receipts.add_subparsers(dest="receipts_command", metavar="COMMAND")
    receipts.set_defaults(handler=lambda a: usage(receipts))

    p = receipts_sub.add_parser("list", help=say("liệt kê biên lai", "list receipts"))
    p.add_argument("--json", action="store_true", help=say("in JSON", "print JSON"))
    p.set_defaults(handler=cmd_receipts_list)

    book = receipts_sub.add_parser("book", help=say("quyển biên lai", "receipt books"))
    book_sub = book.add_subparsers(dest="book_command", metavar="COMMAND")
    book.set_defaults(handler=lambda a: usage(book))
    p = book_sub.add_parser("add", help=say("nhập quyển biên lai", "enter a receipt book"))
    p.add_argument("--series", required=True, help=say("ký hiệu", "series (ký hiệu)"))
    p.add_argument("--from", dest="first", type=int, required=True, help=say("số đầu", "first"))
    p.add_argument("--to", dest="last", type=int, required=True, help=say("số cuối", "last"))
    p.set_defaults(handler=cmd_book_add)

    p = receipts_sub.add_parser("issue", help=say("thu tiền, lập biên lai", "take payment"))
    p.add_argument(
        "--pledge", action="append", required=True, help=say("mã cam kết (lặp lại)", "pledge id")
    )
    p.add_argument("--payer", help=say("mã thành viên nộp tiền", "member id of the payer"))
    p.add_argument("--json", action="store_true", help=say("in JSON", "print JSON"))
    p.set_defaults(handler=cmd_receipt_issue)

    p = receipts_sub.add_parser("void", help=say("huỷ biên lai hỏng", "void a spoiled receipt"))
    p.add_argument("receipt_id", help=say("mã biên lai", "receipt id"))
    p.add_argument("--reason", required=True, help=say("lý do huỷ", "reason"))
    p.set_defaults(handler=cmd_receipt_void)

    printing = sub.add_parser("print", help=say("in biên lai, tờ rơi (PDF)", "print to PDF"))
    print_sub = printing.add_subparsers(dest="print_command", metavar="WHAT")
    printing.set_defaults(handler=lambda a: usage(printing))

    p = print_sub.add_parser("receipt", help=say("in biên lai", "print a receipt"))
    p.add_argument("receipt_id", help=say("mã biên lai", "receipt id"))
    _add_destination(p)
    p.add_argument(
        "--layout",
        choices=("a5", "a6", "roll80"),
        default="a5",
        help=say("khổ giấy: a5, a6, cuộn 80 mm", "paper: a5, a6, 80 mm roll"),
    )
    p.set_defaults(handler=cmd_print_receipt)

    p = print_sub.add_parser("flyers", help=say("in tờ rơi cả thôn", "print a village's flyers"))
    p.add_argument("--village", required=True, help=say("tên thôn/bản", "village"))
    p.add_argument("--group", help=say("chỉ nhóm này", "only this audience group"))
    p.add_argument("--lang", default="vi", help=say("ngôn ngữ (vi, en, …)", "language"))
    _add_destination(p)
    p.set_defaults(handler=cmd_print_flyers)


def _add_destination(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, help=say("tệp PDF", "PDF file"))
    p.add_argument(
        "--printer",
        metavar="NAME",
        help=say(
            "gửi tới máy in này của hệ điều hành (CUPS; xem lpstat -e)",
            "send to this operating-system print queue (CUPS; see lpstat -e)",
        ),
    )
