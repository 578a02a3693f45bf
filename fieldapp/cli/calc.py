"""The `calc` commands: what a household or a person pays, from the rules in force on a date."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fieldapp.cli.common import Commands, amount_arg, command, date_arg, group, print_json
from sync.protocol.clock import SystemClock
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
    for note in result.notes if language() == "en" else result.notes_vi:
        print(f"* {note}")


def cmd_calc_bhyt(args: argparse.Namespace) -> int:
    from fieldapp.calculator import bhyt_household
    from fieldapp.policy import load_policy

    result = bhyt_household(
        load_policy(args.policy),
        members=args.members,
        months=args.months,
        on=args.on or SystemClock().today(),
        support_group=args.support_group,
        province=args.province,
    )
    _print_result(result, args)
    return 0


def cmd_calc_bhxh(args: argparse.Namespace) -> int:
    from fieldapp.calculator import bhxh_voluntary
    from fieldapp.policy import load_policy

    result = bhxh_voluntary(
        load_policy(args.policy),
        income=args.income,
        months=args.months,
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
        help=say("ngày bắt đầu (YYYY-MM-DD), mặc định hôm nay", "start date, default today"),
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
        "--support-group",
        help=say("nhóm được hỗ trợ (near_poor, student, agri_average)", "supported group"),
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
