"""The `report`, `reconcile` and `export` commands: end-of-day figures, cash handover, exports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fieldapp.cli.common import (
    Commands,
    amount_arg,
    cannot_write,
    command,
    date_arg,
    group,
    month_arg,
    percent_text,
    print_json,
    workspace,
    write_file,
)
from sync.protocol.i18n import say
from sync.protocol.labels import outcome_label, scheme_label
from sync.protocol.money import amount_in_words, format_vnd

_STATE = {
    "not_reconciled": ("chưa đối chiếu", "not reconciled"),
    "balanced": ("khớp", "balanced"),
    "difference": ("có chênh lệch (đã ghi lý do)", "difference (reason recorded)"),
    "outdated": ("số liệu đã thay đổi, cần đối chiếu lại", "figures changed, reconcile again"),
}


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
            print(f"  {outcome_label(outcome):<20} {n:>5}")
    print(say("Cam kết mới:", "New pledges:"))
    for scheme, tally in report.pledges.items():
        print(f"  {scheme_label(scheme):<20} {tally.count:>5} {format_vnd(tally.amount):>16}")
    print(say("Biên lai đã lập / đã huỷ:", "Receipts issued / voided:"))
    for scheme, tally in report.receipts_issued.items():
        void = report.receipts_voided[scheme]
        print(
            f"  {scheme_label(scheme):<20} {tally.count:>5} {format_vnd(tally.amount):>16}"
            f"   {void.count:>3} {format_vnd(void.amount):>14}"
        )
    for v in (*report.voided, *report.earlier_voided):
        print(f"    {v.series} {v.number:07d} {format_vnd(v.amount)} — {v.reason}")
    print(say("Tiền mặt phải nộp:", "Cash to hand over:"))
    for scheme, amount in report.cash.items():
        print(f"  {scheme_label(scheme):<20} {format_vnd(amount):>22}")
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
    from fieldapp.reports_pdf import render_day_report

    with workspace(args) as ws:
        report = ws.reports.day(args.date or ws.today())
    if args.out is not None:
        write_file(args.out, render_day_report(report))
    if args.json:
        print_json(report.as_dict())
    else:
        _print_day(report)
    if args.out is not None:
        print(say(f"Đã ghi {args.out}", f"Wrote {args.out}"), file=sys.stderr)
    return 0


def cmd_report_month(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        month = args.month or ws.today().strftime("%Y-%m")
        progress = ws.reports.month_progress(month)
    if args.json:
        print_json([p.as_dict() for p in progress])
        return 0
    print(say(f"Tiến độ chỉ tiêu tháng {month}", f"Target progress for {month}"))
    for p in progress:
        target = "—" if p.target is None else str(p.target)
        percent = "" if p.percent is None else f" ({percent_text(p.percent)})"
        scheme = scheme_label(p.scheme)
        print(
            say(
                f"  {scheme:<20} đạt {p.achieved} / chỉ tiêu {target}{percent}",
                f"  {scheme:<20} {p.achieved} of {target}{percent}",
            )
        )
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        day = args.date or ws.today()
        handover = ws.reports.reconcile(day, args.amount, args.reason or "", scheme=args.scheme)
    if args.json:
        print_json(handover.as_dict())
        return 0
    expected, handed = format_vnd(handover.expected), format_vnd(handover.handed_over)
    difference = format_vnd(handover.difference)
    print(
        say(
            f"Đã ghi nhận nộp tiền ngày {day:%d/%m/%Y}: phải nộp {expected}, "
            f"đã nộp {handed}, chênh lệch {difference}.",
            f"Recorded the handover for {day:%d/%m/%Y}: expected {expected}, "
            f"handed over {handed}, difference {difference}.",
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
    with workspace(args) as ws:
        try:
            summary = export_records(ws, args.out, fmt=fmt)
        except OSError as exc:
            raise cannot_write(args.out, exc) from exc
    counts = ", ".join(f"{name} {n}" for name, n in summary.rows.items())
    print(say(f"Đã ghi {summary.path} ({counts})", f"Wrote {summary.path} ({counts})"))
    return 0


def register(commands: Commands) -> None:
    date_help = say("ngày (YYYY-MM-DD), mặc định hôm nay", "day (YYYY-MM-DD), default today")

    report = group(
        commands,
        "report",
        "báo cáo cuối ngày, tiến độ chỉ tiêu tháng",
        "end-of-day report, monthly target progress",
    )
    p = command(
        report,
        "day",
        cmd_report_day,
        "Lượt thăm, cam kết mới, biên lai, tiền mặt phải nộp và đối chiếu của một ngày.",
        "Visits, new pledges, receipts, cash to hand over and reconciliation of one day.",
        json_flag=True,
    )
    p.add_argument("--date", type=date_arg, help=date_help)
    p.add_argument("--out", type=Path, metavar="FILE", help=say("ghi ra tệp PDF", "write a PDF"))

    p = command(
        report,
        "month",
        cmd_report_month,
        "Số người tham gia mới (đã đóng tiền) so với chỉ tiêu được giao.",
        "New participants (paid) against the assigned targets.",
        json_flag=True,
    )
    p.add_argument(
        "--month",
        type=month_arg,
        metavar="YYYY-MM",
        help=say("tháng (YYYY-MM), mặc định tháng này", "month (YYYY-MM), default this month"),
    )

    p = command(
        commands,
        "reconcile",
        cmd_reconcile,
        "Ghi số tiền mặt đã nộp so với số phải nộp theo biên lai; có chênh lệch thì phải "
        "ghi lý do. Ghi lại lần nữa để điều chỉnh; lần ghi sau cùng được tính.",
        "Record the cash handed over against what the receipts say is due; a difference "
        "needs a reason. Record again to correct; the latest record counts.",
        json_flag=True,
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

    p = command(
        commands,
        "export",
        cmd_export,
        "Xuất hộ, thành viên, lượt thăm, cam kết và biên lai: các tệp CSV trong một tệp "
        ".zip, hoặc một tệp .xlsx.",
        "Export households, members, visits, pledges and receipts: CSV files in a .zip, "
        "or one .xlsx workbook.",
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
