"""The `receipts` and `print` commands: receipt books, payments, voids, receipt and flyer PDFs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fieldapp.cli.common import (
    Commands,
    command,
    group,
    print_json,
    show_progress,
    workspace,
    write_file,
)
from sync.protocol.errors import FieldappError
from sync.protocol.i18n import say
from sync.protocol.money import format_vnd


def cmd_book_add(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        book = ws.receipts.add_book(series=args.series, first=args.first, last=args.last)
    print(
        say(
            f"Đã thêm quyển biên lai {book.series}: số {book.first_number}–{book.last_number}.",
            f"Added receipt book {book.series}: numbers {book.first_number}–{book.last_number}.",
        )
    )
    return 0


def cmd_receipts_list(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        receipts = ws.receipts.issued()
        books = ws.receipts.books()
    if args.json:
        print_json([r.as_dict() for r in receipts])
        return 0
    for book in books:
        numbers = f"{book.series} {book.first_number}–{book.last_number}"
        print(
            say(
                f"Quyển {numbers}: còn {book.remaining} số",
                f"Book {numbers}: {book.remaining} numbers left",
            )
        )
    for r in receipts:
        status = say("ĐÃ HUỶ", "VOID") if r.void_reason is not None else ""
        print(f"{r.series} {r.number:07d}  {format_vnd(r.amount):>14}  {r.payer_name}  {status}")
    return 0


def cmd_receipt_issue(args: argparse.Namespace) -> int:
    from fieldapp.receipts import RequoteNeeded

    with workspace(args) as ws:
        try:
            receipt = ws.receipts.issue(
                pledge_ids=args.pledge, payer_member_id=args.payer, requote=args.requote
            )
        except RequoteNeeded as exc:
            # Both amounts, then how to go on: the agent decides, nothing was stored.
            print(exc.message(), file=sys.stderr)
            for requote in exc.requotes:
                print(f"  {requote.line()}", file=sys.stderr)
            print(
                say(
                    "Chạy lại với --requote để tính lại theo quy định hiện hành và thu tiền.",
                    "Run again with --requote to re-quote under the rules in force and take "
                    "the payment.",
                ),
                file=sys.stderr,
            )
            return 3
    if args.json:
        print_json(receipt.as_dict())
        return 0
    amount = format_vnd(receipt.amount)
    print(
        say(
            f"Biên lai {receipt.series} số {receipt.number:07d}: {amount} — {receipt.id}",
            f"Receipt {receipt.series} no. {receipt.number:07d}: {amount} — {receipt.id}",
        )
    )
    return 0


def cmd_receipt_void(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        receipt = ws.receipts.void(args.receipt_id, reason=args.reason)
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
        write_file(args.out, pdf)
        print(say(f"Đã ghi {args.out}", f"Wrote {args.out}"))
    if args.printer is not None:
        from fieldapp.printing import print_pdf

        job = print_pdf(pdf, printer=args.printer, title=title)
        print(say(f"Đã gửi tới máy in {args.printer}: {job}", f"Sent to {args.printer}: {job}"))


def cmd_print_receipt(args: argparse.Namespace) -> int:
    _check_destination(args)
    with workspace(args) as ws:
        pdf = ws.receipts.render(args.receipt_id, layout=args.layout)
        receipt = ws.receipts.get(args.receipt_id)
    _deliver(args, pdf, title=f"Biên lai {receipt.series} {receipt.number:07d}")
    return 0


def cmd_print_flyers(args: argparse.Namespace) -> int:
    from fieldapp.flyers import village_flyers

    _check_destination(args)
    with workspace(args) as ws:
        pdf = village_flyers(
            ws,
            village=args.village,
            group=args.group,
            language=args.lang,
            only=args.only,
            on_progress=show_progress,
        )
    what = "Nhắc gia hạn thẻ BHYT" if args.only == "expiring" else "Tờ rơi"
    _deliver(args, pdf, title=f"{what} {args.village}")
    return 0


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


def register(commands: Commands) -> None:
    receipts = group(commands, "receipts", "quyển biên lai và biên lai", "receipts")
    command(
        receipts, "list", cmd_receipts_list, "liệt kê biên lai", "list receipts", json_flag=True
    )

    book = group(receipts, "book", "quyển biên lai", "receipt books")
    p = command(book, "add", cmd_book_add, "nhập quyển biên lai", "enter a receipt book")
    p.add_argument("--series", required=True, help=say("ký hiệu", "series (ký hiệu)"))
    p.add_argument("--from", dest="first", type=int, required=True, help=say("số đầu", "first"))
    p.add_argument("--to", dest="last", type=int, required=True, help=say("số cuối", "last"))

    p = command(
        receipts,
        "issue",
        cmd_receipt_issue,
        "thu tiền, lập biên lai",
        "take payment",
        json_flag=True,
    )
    p.add_argument(
        "--pledge", action="append", required=True, help=say("mã cam kết (lặp lại)", "pledge id")
    )
    p.add_argument("--payer", help=say("mã thành viên nộp tiền", "member id of the payer"))
    p.add_argument(
        "--requote",
        action="store_true",
        help=say(
            "nếu mức đóng theo quy định ngày thu khác lúc cam kết: tính lại (cam kết mới thay "
            "cam kết cũ) rồi thu tiền",
            "when the rules on the payment date give another amount: re-quote (a new pledge "
            "supersedes the old) and take the payment",
        ),
    )

    p = command(receipts, "void", cmd_receipt_void, "huỷ biên lai hỏng", "void a spoiled receipt")
    p.add_argument("receipt_id", help=say("mã biên lai", "receipt id"))
    p.add_argument("--reason", required=True, help=say("lý do huỷ", "reason"))

    printing = group(commands, "print", "in biên lai, tờ rơi (PDF)", "print to PDF")
    p = command(printing, "receipt", cmd_print_receipt, "in biên lai", "print a receipt")
    p.add_argument("receipt_id", help=say("mã biên lai", "receipt id"))
    _add_destination(p)
    p.add_argument(
        "--layout",
        choices=("a5", "a6", "roll80"),
        default="a5",
        help=say("khổ giấy: a5, a6, cuộn 80 mm", "paper: a5, a6, 80 mm roll"),
    )

    p = command(
        printing, "flyers", cmd_print_flyers, "in tờ rơi cả thôn", "print a village's flyers"
    )
    p.add_argument("--village", required=True, help=say("tên thôn/bản", "village"))
    p.add_argument("--group", help=say("chỉ nhóm này", "only this audience group"))
    p.add_argument(
        "--only",
        choices=("uninsured", "expiring"),
        help=say(
            "chỉ các hộ có người chưa có thẻ BHYT còn hạn (uninsured), hoặc chỉ các hộ có thẻ "
            "cần gia hạn, mỗi hộ một tờ nhắc gia hạn ghi tên, ngày hết hạn và số tiền (expiring)",
            "only households with someone lacking a valid BHYT card (uninsured), or only those "
            "with a card to renew, each getting a renewal reminder with names, card end dates "
            "and the amount (expiring)",
        ),
    )
    p.add_argument("--lang", default="vi", help=say("ngôn ngữ (vi, en, …)", "language"))
    _add_destination(p)
