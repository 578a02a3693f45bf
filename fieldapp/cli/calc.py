"""The `calc` commands: what a household or a person pays, from the rules in force on a date."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fieldapp.cli.common import Commands, amount_arg, command, date_arg, group, print_json
from sync.protocol.clock import SystemClock
from sync.protocol.fields import BHYT_PAYING_GROUPS
from sync.protocol.i18n import language, say
from sync.protocol.money import format_vnd


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
    from fieldapp.calculator import group_name

    for person in getattr(result, "people", ()):
        place = (
            say(f"người thứ {person.position}", f"member {person.position}")
            if person.position
            else group_name(person.group, language())
        )
        card = ""
        if person.card_valid_from and person.card_valid_to:
            card = say(
                f", thẻ {person.card_valid_from:%d/%m/%Y} – {person.card_valid_to:%d/%m/%Y}",
                f", card {person.card_valid_from:%d/%m/%Y} – {person.card_valid_to:%d/%m/%Y}",
            )
        print(f"  {person.index}. {place}: {format_vnd(person.payable)}{card}")
    for note in result.notes if language() == "en" else result.notes_vi:
        print(f"* {note}")


def cmd_calc_bhyt(args: argparse.Namespace) -> int:
    from fieldapp.calculator import bhyt_household
    from fieldapp.policy import load_policy

    group = args.group or args.support_group
    result = bhyt_household(
        load_policy(args.policy),
        members=args.members,
        months=args.months,
        on=args.on or SystemClock().today(),
        support_group=None if group == "household" else group,
        province=args.province,
        already_enrolled=args.already_enrolled,
        previous_expiry=args.previous_expiry,
    )
    _print_result(result, args)
    return 0


def cmd_calc_bhxh(args: argparse.Namespace) -> int:
    from fieldapp.calculator import bhxh_voluntary
    from fieldapp.policy import load_policy

    months = args.months
    if months is None and args.lump_years is None and args.back_months is None:
        months = 1
    result = bhxh_voluntary(
        load_policy(args.policy),
        income=args.income,
        months=months,
        supported_months_used=args.supported_months_used,
        groups=args.group or ["other"],
        on=args.on or SystemClock().today(),
        province=args.province,
        lump_years=args.lump_years,
        back_months=args.back_months,
    )
    _print_result(result, args)
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    """--on, --province and --policy, which both calculators take."""
    p.add_argument(
        "--on",
        type=date_arg,
        help=say(
            "ngày đóng tiền (YYYY-MM-DD), mặc định hôm nay: quy định của ngày này được áp dụng",
            "the day of payment (YYYY-MM-DD), default today: the rules in force that day apply",
        ),
    )
    p.add_argument(
        "--province", help=say("mã tỉnh (hỗ trợ của địa phương)", "province code (local support)")
    )
    p.add_argument(
        "--policy", type=Path, help=say("tệp chính sách JSON khác", "another policy JSON file")
    )


def register(commands: Commands) -> None:
    calc = group(commands, "calc", "tính mức đóng", "compute contributions")

    p = command(
        calc,
        "bhyt",
        cmd_calc_bhyt,
        "BHYT hộ gia đình",
        "household health insurance",
        json_flag=True,
    )
    p.add_argument(
        "--members", type=int, required=True, help=say("số thành viên tham gia", "members joining")
    )
    p.add_argument(
        "--months", type=int, required=True, help=say("số tháng (3, 6, 12)", "months (3, 6, 12)")
    )
    p.add_argument(
        "--group",
        choices=BHYT_PAYING_GROUPS,
        help=say(
            "nhóm tham gia: household (theo bậc của hộ), near_poor, student, agri_average",
            "participation group: household (on the ladder), near_poor, student, agri_average",
        ),
    )
    # The earlier name of --group, kept for scripts written against it.
    p.add_argument("--support-group", choices=BHYT_PAYING_GROUPS, help=argparse.SUPPRESS)
    p.add_argument(
        "--already-enrolled",
        type=int,
        default=0,
        help=say(
            "số người trong hộ đã tham gia trong năm (bậc tiếp theo)",
            "household members already enrolled this year (the ladder continues)",
        ),
    )
    first = p.add_mutually_exclusive_group()
    first.add_argument(
        "--first-time",
        action="store_true",
        help=say("tham gia lần đầu (mặc định)", "joining for the first time (the default)"),
    )
    first.add_argument(
        "--previous-expiry",
        type=date_arg,
        help=say("ngày hết hạn của thẻ cũ (YYYY-MM-DD)", "the old card's last day (YYYY-MM-DD)"),
    )
    _common(p)

    p = command(
        calc, "bhxh", cmd_calc_bhxh, "BHXH tự nguyện", "voluntary social insurance", json_flag=True
    )
    p.add_argument(
        "--income",
        type=amount_arg,
        required=True,
        help=say("thu nhập tháng lựa chọn (đồng)", "chosen monthly income (đồng)"),
    )
    p.add_argument(
        "--months",
        type=int,
        help=say(
            "phương thức đóng: 1, 3, 6, 12 tháng (mặc định 1; suy ra từ --lump-years)",
            "period: 1, 3, 6, 12 months (default 1; inferred from --lump-years)",
        ),
    )
    p.add_argument(
        "--supported-months-used",
        type=int,
        default=0,
        help=say(
            "số tháng đã được nhà nước hỗ trợ trước đây (tối đa 120)",
            "months of state support already used (at most 120)",
        ),
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
        "--lump-years",
        type=int,
        help=say("đóng một lần cho 1–5 năm về sau", "lump sum for 1–5 future years"),
    )
    p.add_argument(
        "--back-months",
        type=int,
        help=say("đóng bù cho số tháng còn thiếu", "back-pay missing months"),
    )
    _common(p)
