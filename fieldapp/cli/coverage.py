"""The `coverage` and `renewals` commands: who is insured on a day, and whose card to renew."""

from __future__ import annotations

import argparse
from pathlib import Path

from fieldapp.cli.common import Commands, command, date_arg, percent_text, print_json, workspace
from sync.protocol.i18n import say
from sync.protocol.labels import BHYT_GROUP_LABELS, label
from sync.protocol.money import format_vnd


def cmd_coverage(args: argparse.Namespace) -> int:
    from fieldapp.coverage import export_coverage

    with workspace(args) as ws:
        on = args.on or ws.today()
        rows = ws.coverage.by_village(on, village=args.village)
        change = ws.coverage.change(on, counts=rows) if args.village is None else None
        written = export_coverage(ws, args.xlsx, on) if args.xlsx else None
    if args.json:
        # One object per village; the commune's total is the sum of these. "change": the
        # insured gained (or lost) since the day the month's change counts from, when known.
        found = []
        for r in rows:
            if not r.village:
                continue
            row = r.as_dict()
            if change is not None:
                row["change"] = {
                    "since": change.since.isoformat(),
                    "insured": change.insured.get(r.village, 0),
                }
            found.append(row)
        print_json(found)
        return 0
    print(say(f"Độ bao phủ BHYT ngày {on:%d/%m/%Y}", f"BHYT coverage on {on:%d/%m/%Y}"))
    since = f"{change.since:%d/%m}" if change else ""
    header = say(
        f"{'Thôn/bản':<22}{'Dân số':>8}{'Có thẻ':>8}{'Tỷ lệ':>8}{'Sắp hết':>9}{'Hết hạn':>9}"
        f"{'Chưa có':>9}{'Nhóm khác':>11}" + (f"{'Từ ' + since:>12}" if change else ""),
        f"{'Village':<22}{'People':>8}{'Insured':>8}{'Rate':>8}{'Expiring':>9}{'Lapsed':>9}"
        f"{'Never':>9}{'Elsewhere':>11}" + (f"{'Since ' + since:>12}" if change else ""),
    )
    print(header)
    for r in rows:
        name = r.village or say("Cả xã", "Commune")
        gained = ""
        if change is not None:
            gained = f"{change.insured.get(r.village, 0):>+12d}"
        print(
            f"{name[:21]:<22}{r.residents:>8}{r.insured:>8}{percent_text(r.rate_percent):>8}"
            f"{r.expiring_30d:>9}{r.lapsed:>9}{r.uninsured:>9}{r.covered_elsewhere:>11}{gained}"
        )
    if written is not None:
        print(say(f"Đã ghi {written}", f"Written to {written}"))
    return 0


def cmd_renewals(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        on = args.on or ws.today()
        due = ws.coverage.renewals(on, within=args.within, limit=args.limit)
        total = ws.coverage.renewal_count(on, args.within) if args.limit is not None else len(due)
    if args.json:
        print_json(
            [
                {
                    "member_id": p.member_id,
                    "full_name": p.full_name,
                    "household_id": p.household_id,
                    "village": p.village,
                    "card_valid_to": p.card_valid_to.isoformat() if p.card_valid_to else None,
                    "days_left": p.days_left,
                    "group": p.group,
                    "amount": amount,
                }
                for p, amount in due
            ]
        )
        return 0
    print(
        say(
            f"Cần gia hạn thẻ BHYT ({total} người, ngày {on:%d/%m/%Y})",
            f"BHYT cards to renew ({total} people, on {on:%d/%m/%Y})",
        )
    )
    for p, amount in due:
        end = p.card_valid_to.strftime("%d/%m/%Y") if p.card_valid_to else "—"
        when = (
            say(f"còn {p.days_left} ngày", f"{p.days_left} days left")
            if (p.days_left or 0) >= 0
            else say(f"đã hết hạn {-(p.days_left or 0)} ngày", f"lapsed {-(p.days_left or 0)} days")
        )
        cost = format_vnd(amount) if amount is not None else "—"
        print(
            f"{p.full_name:<28} {p.village[:18]:<19} {end}  {when:<20} "
            f"{label(BHYT_GROUP_LABELS, p.group):<28} {cost:>12}"
        )
    return 0


def register(commands: Commands) -> None:
    p = command(
        commands,
        "coverage",
        cmd_coverage,
        "độ bao phủ BHYT theo thôn/bản",
        "BHYT coverage per village",
        json_flag=True,
    )
    p.add_argument("--on", type=date_arg, help=say("ngày (YYYY-MM-DD), mặc định hôm nay", "date"))
    p.add_argument("--village", help=say("chỉ thôn/bản này", "only this village"))
    p.add_argument(
        "--xlsx",
        type=Path,
        metavar=say("TỆP", "PATH"),
        help=say(
            "ghi sổ tính .xlsx: số liệu từng thôn/bản và từng người",
            "write an .xlsx workbook: counts per village and each resident",
        ),
    )

    p = command(
        commands,
        "renewals",
        cmd_renewals,
        "thẻ BHYT cần gia hạn, sớm nhất trước",
        "BHYT cards to renew, soonest first",
        json_flag=True,
    )
    p.add_argument("--on", type=date_arg, help=say("ngày (YYYY-MM-DD), mặc định hôm nay", "date"))
    p.add_argument(
        "--within",
        type=int,
        default=30,
        help=say("thẻ hết hạn trong số ngày này (mặc định 30)", "cards ending within DAYS"),
    )
    p.add_argument(
        "--limit",
        type=int,
        help=say("chỉ bấy nhiêu người đầu danh sách", "only the first N people"),
    )
