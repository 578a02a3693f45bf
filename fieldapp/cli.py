"""The `fieldapp` command line: demo data, search, the calculator, imports (and the app itself)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fieldapp.cliutil import amount_arg, date_arg, open_workspace, print_json, usage
from fieldapp.errors import ValidationError
from sync.protocol.errors import FieldappError
from sync.protocol.i18n import language, say
from sync.protocol.money import format_vnd

Handler = Callable[[argparse.Namespace], int]


# -- commands ---------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from fieldapp.demo import DEMO_COMMUNE_NAME, create_demo

    ws = open_workspace(args)
    try:
        if not ws.is_empty() and args.if_empty:
            return 0
        if not ws.is_empty() and not args.force:
            print(
                say(
                    f"Kho dữ liệu {ws.store.path} đã có {ws.households.count()} hộ; "
                    "dùng --force để thêm dữ liệu mẫu.",
                    f"The store {ws.store.path} already has {ws.households.count()} households; "
                    "use --force to add demo data anyway.",
                ),
                file=sys.stderr,
            )
            return 1

        def progress(done: int, total: int) -> None:
            if not args.json and sys.stderr.isatty():
                print(f"\r{done}/{total}", end="", file=sys.stderr, flush=True)

        summary = create_demo(ws, households=args.households, seed=args.seed, on_progress=progress)
        if args.json:
            print_json({**summary.as_dict(), "store": str(ws.store.path)})
        else:
            if sys.stderr.isatty():
                print(file=sys.stderr)
            print(
                say(
                    f"Đã tạo {DEMO_COMMUNE_NAME}: {summary.households} hộ, "
                    f"{summary.members} nhân khẩu, {summary.visits} lần thăm, "
                    f"{summary.pledges} cam kết, trong {summary.villages} thôn/bản.",
                    f"Created {DEMO_COMMUNE_NAME}: {summary.households} households, "
                    f"{summary.members} members, {summary.visits} visits, "
                    f"{summary.pledges} pledges in {summary.villages} villages.",
                )
            )
            print(say(f"Kho dữ liệu: {ws.store.path}", f"Store: {ws.store.path}"))
    finally:
        ws.close()
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    try:
        hits = ws.search.find(args.text, village=args.village, limit=args.limit)
    finally:
        ws.close()
    if args.json:
        print_json([h.as_dict() for h in hits])
        return 0
    if not hits:
        print(say("Không tìm thấy ai.", "Nobody found."))
        return 0
    for h in hits:
        extra = " · ".join(p for p in (h.date_of_birth, h.cccd, h.phone) if p)
        head = "" if h.member_id is None or h.full_name == h.head_name else f" (hộ {h.head_name})"
        print(f"{h.full_name}{head} — {h.village}" + (f" — {extra}" if extra else ""))
    return 0


def _print_result(result: Any, args: argparse.Namespace) -> None:
    if args.json:
        print_json(result.as_dict())
        return
    rows = [
        (say("Tổng phải đóng", "Gross"), result.gross),
        (say("NSNN hỗ trợ", "Central support"), result.central_support),
        (say("Địa phương hỗ trợ", "Local support"), result.local_support),
        (say("Người tham gia đóng", "Payable"), result.payable),
    ]
    for label, amount in rows:
        print(f"{label:<22} {format_vnd(amount):>16}")
    print(say(f"Chính sách: {result.policy_version}", f"Policy: {result.policy_version}"))
    for note in result.notes if language() == "en" else result.notes_vi:
        print(f"* {note}")


def cmd_calc_bhyt(args: argparse.Namespace) -> int:
    from fieldapp.calculator import bhyt_household
    from fieldapp.policy import load_policy

    policy = load_policy(args.policy)
    result = bhyt_household(
        policy,
        members=args.members,
        months=args.months,
        on=args.on or dt.date.today(),
        support_group=args.support_group,
        province=args.province,
    )
    _print_result(result, args)
    return 0


def cmd_calc_bhxh(args: argparse.Namespace) -> int:
    from fieldapp.calculator import bhxh_voluntary
    from fieldapp.policy import load_policy

    policy = load_policy(args.policy)
    result = bhxh_voluntary(
        policy,
        income=args.income,
        months=args.months,
        groups=args.group or ["other"],
        on=args.on or dt.date.today(),
        province=args.province,
        lump_years=args.lump_years,
        back_months=args.back_months,
    )
    _print_result(result, args)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from fieldapp.importer import import_residents

    ws = open_workspace(args)
    try:
        report = import_residents(
            ws,
            Path(args.file),
            province_code=args.province,
            commune_code=args.commune,
        )
    finally:
        ws.close()
    if args.json:
        print_json(report.as_dict())
    else:
        print(report.summary(language()))
        for refused in report.refused:
            print(f"  {say('dòng', 'row')} {refused['row']}: {refused['reason']}")
        if report.refused_not_listed:
            print(
                "  "
                + say(
                    f"… và {report.refused_not_listed} dòng bị từ chối khác",
                    f"… and {report.refused_not_listed} more refused rows",
                )
            )
    return 0


# The desktop app is launched by the `fieldapp` entry point in ui/ (which hands its launcher
# in), so the core never imports the UI.
GuiLauncher = Callable[..., int]


def cmd_gui(args: argparse.Namespace, gui: GuiLauncher | None) -> int:
    if gui is None:
        print(
            say(
                "Bản cài này không có giao diện; hãy chạy lệnh `fieldapp gui` của ứng dụng.",
                "This installation has no desktop app; run the app's `fieldapp gui`.",
            ),
            file=sys.stderr,
        )
        return 2
    return int(gui(data_dir=args.data_dir, self_test=args.self_test))


# -- parser -----------------------------------------------------------------------------------


def _add_gui(sub: Any, gui: GuiLauncher | None) -> None:
    p = sub.add_parser("gui", help=say("mở ứng dụng", "open the desktop app"))
    p.add_argument(
        "--self-test",
        action="store_true",
        help=say("tự kiểm tra rồi thoát", "check start-up and exit"),
    )
    p.set_defaults(handler=lambda a: cmd_gui(a, gui))


def _command_of(argv: Sequence[str]) -> str | None:
    """The command word of a command line: the first word that is not --data-dir or its value."""
    words = iter(argv)
    for word in words:
        if word == "--data-dir":
            next(words, None)
        elif not word.startswith("--data-dir="):
            return word
    return None


def build_parser(
    gui: GuiLauncher | None = None,
    commands: Sequence[Callable[[Any], None]] = (),
    *,
    only_gui: bool = False,
) -> argparse.ArgumentParser:
    """The whole command line; with only_gui, just what opening the app needs (it starts
    faster: the other command groups are neither imported nor built)."""
    parser = argparse.ArgumentParser(
        prog="fieldapp",
        description=say(
            "Ứng dụng cho nhân viên thu BHXH tự nguyện và BHYT hộ gia đình.",
            "App for collection agents of voluntary social and household health insurance.",
        ),
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=say(
            "thư mục dữ liệu (mặc định: FIELDAPP_DATA_DIR hoặc thư mục dữ liệu người dùng)",
            "data folder (default: FIELDAPP_DATA_DIR or the user data folder)",
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if only_gui:
        _add_gui(sub, gui)
        return parser

    p = sub.add_parser("demo", help=say("tạo xã mẫu", "create a demo commune"))
    p.add_argument("--households", type=int, default=60, help=say("số hộ", "number of households"))
    p.add_argument(
        "--seed", type=int, default=2026, help=say("hạt giống ngẫu nhiên", "random seed")
    )
    p.add_argument(
        "--force",
        action="store_true",
        help=say("thêm cả khi đã có dữ liệu", "add even if the store has data"),
    )
    p.add_argument(
        "--if-empty",
        action="store_true",
        help=say("chỉ tạo khi kho còn trống", "only when the store is empty"),
    )
    p.add_argument("--json", action="store_true", help=say("in JSON", "print JSON"))
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser(
        "search", help=say("tìm người, hộ (không cần dấu)", "find people and households")
    )
    p.add_argument(
        "text",
        help=say(
            "tên (có hoặc không dấu), CCCD, số điện thoại, thôn", "name, CCCD, phone or village"
        ),
    )
    p.add_argument("--village", help=say("chỉ trong thôn/bản này", "only in this village"))
    p.add_argument(
        "--limit", type=int, default=50, help=say("số kết quả tối đa", "maximum results")
    )
    p.add_argument("--json", action="store_true", help=say("in JSON", "print JSON"))
    p.set_defaults(handler=cmd_search)

    calc = sub.add_parser("calc", help=say("tính mức đóng", "compute contributions"))
    calc_sub = calc.add_subparsers(dest="scheme", metavar="SCHEME")
    calc.set_defaults(handler=lambda a: usage(calc))

    p = calc_sub.add_parser("bhyt", help=say("BHYT hộ gia đình", "household health insurance"))
    p.add_argument(
        "--members",
        type=int,
        required=True,
        help=say("số thành viên tham gia", "members joining"),
    )
    p.add_argument(
        "--months", type=int, required=True, help=say("số tháng (3, 6, 12)", "months (3, 6, 12)")
    )
    p.add_argument(
        "--on",
        type=date_arg,
        help=say("ngày bắt đầu (YYYY-MM-DD), mặc định hôm nay", "start date, default today"),
    )
    p.add_argument(
        "--support-group",
        help=say("nhóm được hỗ trợ (near_poor, student, agri_average)", "supported group"),
    )
    p.add_argument(
        "--province", help=say("mã tỉnh (hỗ trợ của địa phương)", "province code (local support)")
    )
    p.add_argument(
        "--policy", type=Path, help=say("tệp chính sách JSON khác", "another policy JSON file")
    )
    p.add_argument("--json", action="store_true", help=say("in JSON", "print JSON"))
    p.set_defaults(handler=cmd_calc_bhyt)

    p = calc_sub.add_parser("bhxh", help=say("BHXH tự nguyện", "voluntary social insurance"))
    p.add_argument(
        "--income",
        type=amount_arg,
        required=True,
        help=say("thu nhập tháng lựa chọn (đồng)", "chosen monthly income (đồng)"),
    )
    p.add_argument(
        "--months",
        type=int,
        default=1,
        help=say("phương thức đóng: 1, 3, 6, 12 tháng", "period: 1, 3, 6, 12 months"),
    )
    p.add_argument(
        "--group",
        action="append",
        help=say(
            "poor, near_poor, ethnic_minority, island, other (lặp lại được)",
            "poor, near_poor, ethnic_minority, island, other (repeatable)",
        ),
    )
    p.add_argument(
        "--province", help=say("mã tỉnh (hỗ trợ của địa phương)", "province code (local support)")
    )
    p.add_argument(
        "--lump-years",
        type=int,
        help=say("đóng một lần cho 1–5 năm về sau", "lump sum for 1–5 future years"),
    )
    p.add_argument(
        "--back-months",
        type=int,
        help=say("đóng bù cho số tháng còn thiếu", "back-pay missing months"),
    )
    p.add_argument(
        "--on",
        type=date_arg,
        help=say("ngày bắt đầu (YYYY-MM-DD), mặc định hôm nay", "start date, default today"),
    )
    p.add_argument(
        "--policy", type=Path, help=say("tệp chính sách JSON khác", "another policy JSON file")
    )
    p.add_argument("--json", action="store_true", help=say("in JSON", "print JSON"))
    p.set_defaults(handler=cmd_calc_bhxh)

    p = sub.add_parser(
        "import",
        help=say("nhập danh sách dân cư (CSV, XLSX)", "import a resident list (CSV, XLSX)"),
    )
    p.add_argument("file", help=say("tệp CSV hoặc XLSX", "CSV or XLSX file"))
    p.add_argument(
        "--province",
        default=None,
        help=say("mã tỉnh của các hộ", "province code of the households"),
    )
    p.add_argument(
        "--commune", default=None, help=say("mã xã của các hộ", "commune code of the households")
    )
    p.add_argument("--json", action="store_true", help=say("in JSON", "print JSON"))
    p.set_defaults(handler=cmd_import)

    _add_gui(sub, gui)

    from fieldapp import cli_backup, cli_documents, cli_reports

    cli_documents.register(sub)
    cli_backup.register(sub)
    cli_reports.register(sub)
    for register in commands:
        register(sub)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    gui: GuiLauncher | None = None,
    commands: Sequence[Callable[[Any], None]] = (),
) -> int:
    """Run one command.

    The application's entry point hands in what lives outside the core: `gui`, the desktop
    app's launcher, and `commands`, functions that add command groups (e.g. `sync`).
    """
    words = sys.argv[1:] if argv is None else list(argv)
    if gui is not None and _command_of(words) == "gui":
        parser = build_parser(gui, only_gui=True)
    else:
        parser = build_parser(gui, commands)
    args = parser.parse_args(words)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        return usage(parser)
    try:
        return handler(args)
    except ValidationError as exc:
        for problem in exc.problems:
            print(problem.message(), file=sys.stderr)
        return 1
    except FieldappError as exc:
        print(exc.message(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
