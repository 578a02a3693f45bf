"""The `demo`, `search` and `import` commands: the commune's households and their members."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fieldapp.cli.common import Commands, command, print_json, show_progress, workspace
from sync.protocol.i18n import language, say


def cmd_demo(args: argparse.Namespace) -> int:
    from fieldapp.demo import DEMO_COMMUNE_NAME, create_demo

    if args.remove:
        return _remove_demo(args)
    with workspace(args) as ws:
        if not ws.is_empty() and args.if_empty:
            return 0
        if not ws.is_empty() and not args.force:
            count = ws.households.count()
            print(
                say(
                    f"Kho dữ liệu {ws.path} đã có {count} hộ; dùng --force để thêm dữ liệu mẫu.",
                    f"The store {ws.path} already has {count} households; "
                    "use --force to add demo data anyway.",
                ),
                file=sys.stderr,
            )
            return 1
        progress = None if args.json else show_progress
        summary = create_demo(ws, households=args.households, seed=args.seed, on_progress=progress)
        path = ws.path
    if args.json:
        print_json({**summary.as_dict(), "store": str(path)})
        return 0
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
    print(say(f"Kho dữ liệu: {path}", f"Store: {path}"))
    print(
        say(
            "Dữ liệu mẫu chỉ ở trên máy này, không bao giờ được gửi lên máy chủ; xoá bằng "
            "`fieldapp demo --remove`.",
            "Demo data stays on this laptop and is never sent to the server; remove it with "
            "`fieldapp demo --remove`.",
        )
    )
    return 0


def _remove_demo(args: argparse.Namespace) -> int:
    from fieldapp.demo import remove_demo

    with workspace(args) as ws:
        removed = remove_demo(ws)
    if args.json:
        print_json(removed.as_dict())
        return 0
    if not removed.households:
        print(say("Không có dữ liệu mẫu để xoá.", "There is no demo data to remove."))
        return 0
    print(
        say(
            f"Đã xoá dữ liệu mẫu: {removed.households} hộ, {removed.members} nhân khẩu, "
            f"{removed.visits} lần thăm, {removed.pledges} cam kết, {removed.receipts} biên lai "
            f"và {removed.changes} thay đổi ghi trên máy. Dữ liệu thật không bị động đến.",
            f"Removed the demo data: {removed.households} households, {removed.members} "
            f"members, {removed.visits} visits, {removed.pledges} pledges, {removed.receipts} "
            f"receipts and {removed.changes} changes logged on this laptop. Real data was not "
            "touched.",
        )
    )
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        hits = ws.search.find(args.text, village=args.village, limit=args.limit)
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


def cmd_import(args: argparse.Namespace) -> int:
    from fieldapp.importer import import_residents

    with workspace(args) as ws:
        report = import_residents(
            ws, Path(args.file), province_code=args.province, commune_code=args.commune
        )
    if args.json:
        print_json(report.as_dict())
        return 0
    print(report.summary(language()))
    for kept in report.kept_lines(language()):
        print(f"  {kept}")
    for refused in report.refused:
        print(f"  {say('dòng', 'row')} {refused['row']}: {refused['reason']}")
    if report.refused_not_listed:
        n = report.refused_not_listed
        print("  " + say(f"… và {n} dòng bị từ chối khác", f"… and {n} more refused rows"))
    return 0


def register(commands: Commands) -> None:
    p = command(commands, "demo", cmd_demo, "tạo xã mẫu", "create a demo commune", json_flag=True)
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
    p.add_argument(
        "--remove",
        action="store_true",
        help=say(
            "xoá mọi hộ mẫu cùng nhân khẩu, lần thăm, cam kết, biên lai của họ (dữ liệu thật "
            "giữ nguyên)",
            "remove every demo household with its members, visits, pledges and receipts (real "
            "data stays)",
        ),
    )

    p = command(
        commands,
        "search",
        cmd_search,
        "tìm người, hộ (không cần dấu)",
        "find people and households",
        json_flag=True,
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

    p = command(
        commands,
        "import",
        cmd_import,
        "nhập danh sách dân cư (CSV, XLSX)",
        "import a resident list (CSV, XLSX)",
        json_flag=True,
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
