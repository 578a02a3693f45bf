"""The `report`, `reconcile` and `export` commands: end-of-day figures, cash handover, exports."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import Any

from fieldapp.errors import FieldappError, current_language
from fieldapp.money import amount_in_words, format_vnd

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _vi(vi: str, en: str) -> str:
    return en if current_language() == "en" else vi


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True))


def _workspace(args: argparse.Namespace) -> Any:
    from fieldapp.workspace import Workspace

    return Workspace.open(args.data_dir)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            _vi(f"ngày không hợp lệ: {text} (YYYY-MM-DD)", f"invalid date: {text} (YYYY-MM-DD)")
        ) from exc


def _month(text: str) -> str:
    if not _MONTH.match(text):
        raise argparse.ArgumentTypeError(
            _vi(f"tháng không hợp lệ: {text} (YYYY-MM)", f"invalid month: {text} (YYYY-MM)")
        )
    return text


def _amount(text: str) -> int:
    """Whole đồng, with or without thousands dots ("1.500.000"); a minus sign is kept so the
    core can refuse a negative amount with its own message."""
    cleaned = text.strip().replace(".", "").replace(",", "").replace("_", "").replace(" ", "")
    if not re.fullmatch(r"-?\d+", cleaned):
        raise argparse.ArgumentTypeError(
            _vi(f"số tiền phải là số nguyên đồng: {text}", f"an amount must be whole đồng: {text}")
        )
    return int(cleaned)


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
    return _vi(text.replace(".", ","), text)


def _label(table: dict[str, tuple[str, str]], key: str) -> str:
    vi, en = table.get(key, (key, key))
    return _vi(vi, en)


def _print_day(report: Any) -> None:
    day = report.day.strftime("%d/%m/%Y")
    print(_vi(f"BÁO CÁO CUỐI NGÀY {day}", f"END-OF-DAY REPORT {day}"))
    if report.agent_name:
        print(_vi(f"Nhân viên thu: {report.agent_name}", f"Agent: {report.agent_name}"))
    print(_vi(f"Lượt thăm: {report.visits_total}", f"Visits: {report.visits_total}"))
    for outcome, n in report.visits.items():
        if n:
            print(f"  {_label(_OUTCOME, outcome):<20} {n:>5}")
    print(_vi("Cam kết mới:", "New pledges:"))
    for scheme, tally in report.pledges.items():
        print(f"  {_label(_SCHEME, scheme):<20} {tally.count:>5} {format_vnd(tally.amount):>16}")
    print(_vi("Biên lai đã lập / đã huỷ:", "Receipts issued / voided:"))
    for scheme, tally in report.receipts_issued.items():
        void = report.receipts_voided[scheme]
        print(
            f"  {_label(_SCHEME, scheme):<20} {tally.count:>5} {format_vnd(tally.amount):>16}"
            f"   {void.count:>3} {format_vnd(void.amount):>14}"
        )
    for v in (*report.voided, *report.earlier_voided):
        print(f"    {v.series} {v.number:07d} {format_vnd(v.amount)} — {v.reason}")
    print(_vi("Tiền mặt phải nộp:", "Cash to hand over:"))
    for scheme, amount in report.cash.items():
        print(f"  {_label(_SCHEME, scheme):<20} {format_vnd(amount):>22}")
    print(f"  {_vi('Tổng', 'Total'):<20} {format_vnd(report.cash_total):>22}")
    print(f"  {amount_in_words(report.cash_total)}")
    state = _label(_STATE, report.reconciliation)
    print(_vi(f"Đối chiếu: {state}", f"Reconciliation: {state}"))
    for h in report.handovers.values():
        print(
            _vi(
                f"  Phải nộp {format_vnd(h.expected)}, đã nộp {format_vnd(h.handed_over)}, "
                f"chênh lệch {format_vnd(h.difference)}",
                f"  Expected {format_vnd(h.expected)}, handed over {format_vnd(h.handed_over)}, "
                f"difference {format_vnd(h.difference)}",
            )
            + (f" — {h.reason}" if h.reason else "")
        )
    print(_vi(f"Chờ đồng bộ: {report.pending_sync}", f"Pending sync: {report.pending_sync}"))


def cmd_report_day(args: argparse.Namespace) -> int:
    from fieldapp.reports import day_report
    from fieldapp.reports_pdf import render_day_report

    ws = _workspace(args)
    try:
        report = day_report(ws, args.date or ws.store.clock.today())
    finally:
        ws.close()
    if args.out is not None:
        _write(args.out, render_day_report(report))
    if args.json:
        _print_json(report.as_dict())
    else:
        _print_day(report)
    if args.out is not None:
        print(_vi(f"Đã ghi {args.out}", f"Wrote {args.out}"), file=sys.stderr)
    return 0


def cmd_report_month(args: argparse.Namespace) -> int:
    from fieldapp.reports import month_progress

    ws = _workspace(args)
    try:
        month = args.month or ws.store.clock.today().strftime("%Y-%m")
        progress = month_progress(ws, month)
    finally:
        ws.close()
    if args.json:
        _print_json([p.as_dict() for p in progress])
        return 0
    print(_vi(f"Tiến độ chỉ tiêu tháng {month}", f"Target progress for {month}"))
    for p in progress:
        target = "—" if p.target is None else str(p.target)
        percent = "" if p.percent is None else f" ({_percent(p.percent)})"
        print(
            _vi(
                f"  {_label(_SCHEME, p.scheme):<20} đạt {p.achieved} / chỉ tiêu {target}{percent}",
                f"  {_label(_SCHEME, p.scheme):<20} {p.achieved} of {target}{percent}",
            )
        )
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from fieldapp.reports import reconcile

    ws = _workspace(args)
    try:
        day = args.date or ws.store.clock.today()
        handover = reconcile(ws, day, args.amount, args.reason or "", scheme=args.scheme)
    finally:
        ws.close()
    if args.json:
        _print_json(handover.as_dict())
        return 0
    print(
        _vi(
            f"Đã ghi nhận nộp tiền ngày {day:%d/%m/%Y}: phải nộp {format_vnd(handover.expected)}, "
            f"đã nộp {format_vnd(handover.handed_over)}, "
            f"chênh lệch {format_vnd(handover.difference)}.",
            f"Recorded the handover for {day:%d/%m/%Y}: expected {format_vnd(handover.expected)}, "
            f"handed over {format_vnd(handover.handed_over)}, "
            f"difference {format_vnd(handover.difference)}.",
        )
    )
    print(
        _vi(
            "Bản ghi này chỉ lưu trên máy, chưa gửi lên máy chủ.",
            "This record is kept on this laptop; it is not sent to the server yet.",
        )
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from fieldapp.export import export_records

    fmt = args.format or ("xlsx" if args.out.suffix.lower() == ".xlsx" else "csv")
    ws = _workspace(args)
    try:
        summary = export_records(ws, args.out, fmt=fmt)
    except OSError as exc:
        raise _cannot_write(args.out, exc) from exc
    finally:
        ws.close()
    counts = ", ".join(f"{name} {n}" for name, n in summary.rows.items())
    print(_vi(f"Đã ghi {summary.path} ({counts})", f"Wrote {summary.path} ({counts})"))
    return 0


def register(sub: Any) -> None:
    """Add the `report`, `reconcile` and `export` commands to the top-level parser."""
    json_help = _vi("in JSON", "print JSON")
    date_help = _vi("ngày (YYYY-MM-DD), mặc định hôm nay", "day (YYYY-MM-DD), default today")

    report = sub.add_parser(
        "report",
        help=_vi("báo cáo cuối ngày, tiến độ chỉ tiêu", "end-of-day report, target progress"),
        description=_vi(
            "Báo cáo cuối ngày và tiến độ chỉ tiêu tháng.",
            "End-of-day report and monthly target progress.",
        ),
    )
    report_sub = report.add_subparsers(dest="report_command", metavar="COMMAND")
    report.set_defaults(handler=lambda a: _usage(report))

    p = report_sub.add_parser(
        "day",
        help=_vi("báo cáo cuối ngày", "end-of-day report"),
        description=_vi(
            "Lượt thăm, cam kết mới, biên lai, tiền mặt phải nộp và đối chiếu của một ngày.",
            "Visits, new pledges, receipts, cash to hand over and reconciliation of one day.",
        ),
    )
    p.add_argument("--date", type=_date, help=date_help)
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--out", type=Path, metavar="FILE", help=_vi("ghi ra tệp PDF", "write a PDF"))
    p.set_defaults(handler=cmd_report_day)

    p = report_sub.add_parser(
        "month",
        help=_vi("tiến độ chỉ tiêu tháng", "monthly target progress"),
        description=_vi(
            "Số người tham gia mới (đã đóng tiền) so với chỉ tiêu được giao.",
            "New participants (paid) against the assigned targets.",
        ),
    )
    p.add_argument(
        "--month",
        type=_month,
        metavar="YYYY-MM",
        help=_vi("tháng (YYYY-MM), mặc định tháng này", "month (YYYY-MM), default this month"),
    )
    p.add_argument("--json", action="store_true", help=json_help)
    p.set_defaults(handler=cmd_report_month)

    p = sub.add_parser(
        "reconcile",
        help=_vi("đối chiếu tiền mặt nộp cuối ngày", "reconcile the cash handed over"),
        description=_vi(
            "Ghi số tiền mặt đã nộp so với số phải nộp theo biên lai; có chênh lệch thì phải "
            "ghi lý do. Ghi lại lần nữa để điều chỉnh; lần ghi sau cùng được tính.",
            "Record the cash handed over against what the receipts say is due; a difference "
            "needs a reason. Record again to correct; the latest record counts.",
        ),
    )
    p.add_argument(
        "--amount",
        type=_amount,
        required=True,
        metavar="N",
        help=_vi("số tiền đã nộp (đồng)", "amount handed over (đồng)"),
    )
    p.add_argument("--date", type=_date, help=date_help)
    p.add_argument("--reason", default="", help=_vi("lý do chênh lệch", "reason for a difference"))
    p.add_argument(
        "--scheme",
        choices=("all", "bhyt_household", "bhxh_voluntary"),
        default="all",
        help=_vi("chỉ một loại bảo hiểm (mặc định: tất cả)", "one scheme only (default: all)"),
    )
    p.add_argument("--json", action="store_true", help=json_help)
    p.set_defaults(handler=cmd_reconcile)

    p = sub.add_parser(
        "export",
        help=_vi("xuất dữ liệu ra CSV (zip) hoặc Excel", "export records to CSV (zip) or Excel"),
        description=_vi(
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
        help=_vi("tệp cần ghi (.zip hoặc .xlsx)", "file to write (.zip or .xlsx)"),
    )
    p.add_argument(
        "--format",
        choices=("csv", "xlsx"),
        help=_vi("định dạng (mặc định theo đuôi tệp)", "format (default: from the file name)"),
    )
    p.set_defaults(handler=cmd_export)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2
