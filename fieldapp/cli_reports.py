"""The `report`, `reconcile` and `export` commands: end-of-day figures, cash handover, exports."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from fieldapp.cliutil import amount_arg, date_arg, month_arg, open_workspace, print_json
from sync.protocol.errors import FieldappError
from sync.protocol.i18n import say
from sync.protocol.money import amount_in_words, format_vnd

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _write(path: Path, data: bytes) -> None:
    """Write a file whole or not at all: a cut never leaves half a PDF under the real name."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as exc:
        raise _cannot_write(path, exc) from exc


def _cannot_write(path: Path, exc: OSError) -> FieldappError:
    return FieldappError(
        f"Không ghi được tệp {path}: {exc.strerror or exc}",
        f"Cannot write {path}: {exc.strerror or exc}",
        code="cannot_write",
    )


_SCHEME = {
    "bhyt_household": ("BHYT hộ gia đình", "BHYT household"),
    "bhxh_voluntary": ("BHXH tự nguyện", "Voluntary BHXH"),
}
_OUTCOME = {
    "not_home": ("Vắng nhà", "Not at home"),
    "consulted": ("Đã tư vấn", "Consulted"),
    "pledged": ("Đã cam kết", "Pledged"),
    "refused": ("Từ chối", "Refused"),
    "paid": ("Đã đóng tiền", "Paid"),
    "follow_up": ("Hẹn thăm lại", "Follow-up"),
}
_STATE = {
    "not_reconciled": ("chưa đối chiếu", "not reconciled"),
    "balanced": ("khớp", "balanced"),
    "difference": ("có chênh lệch (đã ghi lý do)", "difference (reason recorded)"),
    "outdated": ("số liệu đã thay đổi, cần đối chiếu lại", "figures changed, reconcile again"),
}


def _percent(value: float) -> str:
    text = f"{value:.1f}%"
    # Vietnamese writes a decimal comma: 73,8%.
    return say(text.replace(".", ","), text)


def _label(table: dict[str, tuple[str, str]], key: str) -> str:
    vi, en = table.get(key, (key, key))
    return say(vi, en)


def _print_day(report: Any) -> None:
    day = report.day.strftime("%d/%m/%Y")
    print(say(f"BÁO CÁO CUỐI NGÀY {day}", f"END-OF-DAY REPORT {day}"))
    if report.agent_name:
        print(say(f"Nhân viên thu: {report.agent_name}", f"Agent: {report.agent_name}"))
    print(say(f"Lượt thăm: {report.visits_total}", f"Visits: {report.visits_total}"))
    for outcome, n in report.visits.items():
        if n:
            print(f"  {_label(_OUTCOME, outcome):<20} {n:>5}")
    print(say("Cam kết mới:", "New pledges:"))
    for scheme, tally in report.pledges.items():
        print(f"  {_label(_SCHEME, scheme):<20} {tally.count:>5} {format_vnd(tally.amount):>16}")
    print(say("Biên lai đã lập / đã huỷ:", "Receipts issued / voided:"))
    for scheme, tally in report.receipts_issued.items():
        void = report.receipts_voided[scheme]
        print(
            f"  {_label(_SCHEME, scheme):<20} {tally.count:>5} {format_vnd(tally.amount):>16}"
            f"   {void.count:>3} {format_vnd(void.amount):>14}"
        )
    for v in (*report.voided, *report.earlier_voided):
        print(f"    {v.series} {v.number:07d} {format_vnd(v.amount)} — {v.reason}")
    print(say("Tiền mặt phải nộp:", "Cash to hand over:"))
    for scheme, amount in report.cash.items():
        print(f"  {_label(_SCHEME, scheme):<20} {format_vnd(amount):>22}")
    print(f"  {say('Tổng', 'Total'):<20} {format_vnd(report.cash_total):>22}")
    print(f"  {amount_in_words(report.cash_total)}")
    state = _label(_STATE, report.reconciliation)
    print(say(f"Đối chiếu: {state}", f"Reconciliation: {state}"))
    for h in report.handovers.values():
        print(
            say(
                f"  Phải nộp {format_vnd(h.expected)}, đã nộp {format_vnd(h.handed_over)}, "
                f"chênh lệch {format_vnd(h.difference)}",
                f"  Expected {format_vnd(h.expected)}, handed over {format_vnd(h.handed_over)}, "
                f"difference {format_vnd(h.difference)}",
            )
            + (f" — {h.reason}" if h.reason else "")
        )
    print(say(f"Chờ đồng bộ: {report.pending_sync}", f"Pending sync: {report.pending_sync}"))


def cmd_report_day(args: argparse.Namespace) -> int:
    from fieldapp.reports import day_report
    from fieldapp.reports_pdf import render_day_report

    ws = open_workspace(args)
    try:
        report = day_report(ws, args.date or ws.store.clock.today())
    finally:
        ws.close()
    if args.out is not None:
        _write(args.out, render_day_report(report))
    if args.json:
        print_json(report.as_dict())
    else:
        _print_day(report)
    if args.out is not None:
        print(say(f"Đã ghi {args.out}", f"Wrote {args.out}"), file=sys.stderr)
    return 0


def cmd_report_month(args: argparse.Namespace) -> int:
    from fieldapp.reports import month_progress

    ws = open_workspace(args)
    try:
        month = args.month or ws.store.clock.today().strftime("%Y-%m")
        progress = month_progress(ws, month)
    finally:
        ws.close()
    if args.json:
        print_json([p.as_dict() for p in progress])
        return 0
    print(say(f"Tiến độ chỉ tiêu tháng {month}", f"Target progress for {month}"))
    for p in progress:
        target = "—" if p.target is None else str(p.target)
        percent = "" if p.percent is None else f" ({_percent(p.percent)})"
        print(
            say(
                f"  {_label(_SCHEME, p.scheme):<20} đạt {p.achieved} / chỉ tiêu {target}{percent}",
                f"  {_label(_SCHEME, p.scheme):<20} {p.achieved} of {target}{percent}",
            )
        )
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from fieldapp.reports import reconcile

    ws = open_workspace(args)
    try:
        day = args.date or ws.store.clock.today()
        handover = reconcile(ws, day, args.amount, args.reason or "", scheme=args.scheme)
    finally:
        ws.close()
    if args.json:
        print_json(handover.as_dict())
        return 0
    print(
        say(
            f"Đã ghi nhận nộp tiền ngày {day:%d/%m/%Y}: phải nộp {format_vnd(handover.expected)}, "
            f"đã nộp {format_vnd(handover.handed_over)}, "
            f"chênh lệch {format_vnd(handover.difference)}.",
            f"Recorded the handover for {day:%d/%m/%Y}: expected {format_vnd(handover.expected)}, "
            f"handed over {format_vnd(handover.handed_over)}, "
            f"difference {format_vnd(handover.difference)}.",
        )
    )
    print(
        say(
            "Bản ghi này chỉ lưu trên máy, chưa gửi lên máy chủ.",
            "This record is kept on this laptop; it is not sent to the server yet.",
        )
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from fieldapp.export import export_records

    fmt = args.format or ("xlsx" if args.out.suffix.lower() == ".xlsx" else "csv")
    ws = open_workspace(args)
    try:
        summary = export_records(ws, args.out, fmt=fmt)
    except OSError as exc:
        raise _cannot_write(args.out, exc) from exc
    finally:
        ws.close()
    counts = ", ".join(f"{name} {n}" for name, n in summary.rows.items())
    print(say(f"Đã ghi {summary.path} ({counts})", f"Wrote {summary.path} ({counts})"))
    return 0


def register(sub: Any) -> None:
    """Add the `report`, `reconcile` and `export` commands to the top-level parser."""
    json_help = say("in JSON", "print JSON")
    date_help = say("ngày (YYYY-MM-DD), mặc định hôm nay", "day (YYYY-MM-DD), default today")

    report = sub.add_parser(
        "report",
        help=say("báo cáo cuối ngày, tiến độ chỉ tiêu", "end-of-day report, target progress"),
        description=say(
            "Báo cáo cuối ngày và tiến độ chỉ tiêu tháng.",
            "End-of-day report and monthly target progress.",
        ),
    )
    report_sub = report.add_subparsers(dest="report_command", metavar="COMMAND")
    report.set_defaults(handler=lambda a: usage(report))

    p = report_sub.add_parser(
        "day",
        help=say("báo cáo cuối ngày", "end-of-day report"),
        description=say(
            "Lượt thăm, cam kết mới, biên lai, tiền mặt phải nộp và đối chiếu của một ngày.",
            "Visits, new pledges, receipts, cash to hand over and reconciliation of one day.",
        ),
    )
    p.add_argument("--date", type=date_arg, help=date_help)
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--out", type=Path, metavar="FILE", help=say("ghi ra tệp PDF", "write a PDF"))
    p.set_defaults(handler=cmd_report_day)

    p = report_sub.add_parser(
        "month",
        help=say("tiến độ chỉ tiêu tháng", "monthly target progress"),
        description=say(
            "Số người tham gia mới (đã đóng tiền) so với chỉ tiêu được giao.",
            "New participants (paid) against the assigned targets.",
        ),
    )
    p.add_argument(
        "--month",
        type=month_arg,
        metavar="YYYY-MM",
        help=say("tháng (YYYY-MM), mặc định tháng này", "month (YYYY-MM), default this month"),
    )
    p.add_argument("--json", action="store_true", help=json_help)
    p.set_defaults(handler=cmd_report_month)

    p = sub.add_parser(
        "reconcile",
        help=say("đối chiếu tiền mặt nộp cuối ngày", "reconcile the cash handed over"),
        description=say(
            "Ghi số tiền mặt đã nộp so với số phải nộp theo biên lai; có chênh lệch thì phải "
            "ghi lý do. Ghi lại lần nữa để điều chỉnh; lần ghi sau cùng được tính.",
            "Record the cash handed over against what the receipts say is due; a difference "
            "needs a reason. Record again to correct; the latest record counts.",
        ),
    )
    p.add_argument(
        "--amount",
        type=amount_arg,
        required=True,
        metavar="N",
        help=say("số tiền đã nộp (đồng)", "amount handed over (đồng)"),
    )
    p.add_argument("--date", type=date_arg, help=date_help)
    p.add_argument("--reason", default="", help=say("lý do chênh lệch", "reason for a difference"))
    p.add_argument(
        "--scheme",
        choices=("all", "bhyt_household", "bhxh_voluntary"),
        default="all",
        help=say("chỉ một loại bảo hiểm (mặc định: tất cả)", "one scheme only (default: all)"),
    )
    p.add_argument("--json", action="store_true", help=json_help)
    p.set_defaults(handler=cmd_reconcile)

    p = sub.add_parser(
        "export",
        help=say("xuất dữ liệu ra CSV (zip) hoặc Excel", "export records to CSV (zip) or Excel"),
        description=say(
            "Xuất hộ, thành viên, lượt thăm, cam kết và biên lai: các tệp CSV trong một tệp "
            ".zip, hoặc một tệp .xlsx.",
            "Export households, members, visits, pledges and receipts: CSV files in a .zip, "
            "or one .xlsx workbook.",
        ),
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE",
        help=say("tệp cần ghi (.zip hoặc .xlsx)", "file to write (.zip or .xlsx)"),
    )
    p.add_argument(
        "--format",
        choices=("csv", "xlsx"),
        help=say("định dạng (mặc định theo đuôi tệp)", "format (default: from the file name)"),
    )
    p.set_defaults(handler=cmd_export)


def usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2
