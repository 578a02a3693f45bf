"""The `visit` and `pledge` commands: an agent's day at a household, from a script."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from fieldapp.cli.common import (
    Commands,
    amount_arg,
    command,
    date_arg,
    group,
    print_json,
    workspace,
)
from sync.protocol.errors import FieldappError
from sync.protocol.i18n import say
from sync.protocol.labels import outcome_label, scheme_label
from sync.protocol.money import format_vnd

if TYPE_CHECKING:
    from fieldapp.model import Pledge
    from fieldapp.workspace import Workspace

# Refused input: the reason on stderr and exit status 2, as for a malformed argument.
BAD_INPUT = 2
SCHEMES = {"bhyt": "bhyt_household", "bhxh": "bhxh_voluntary"}


class _Refused(Exception):
    """Input the core refused; nothing was stored."""


@contextmanager
def _refusals() -> Iterator[None]:
    """An error of the core about the input: its reason on stderr, and `_Refused`."""
    from fieldapp.errors import ValidationError

    try:
        yield
    except ValidationError as exc:
        for problem in exc.problems:
            print(problem.message(), file=sys.stderr)
        raise _Refused from exc
    except FieldappError as exc:
        print(exc.message(), file=sys.stderr)
        raise _Refused from exc


def _refused(vi: str, en: str, code: str) -> FieldappError:
    return FieldappError(vi, en, code=code)


# -- visit add ----------------------------------------------------------------------------------


def cmd_visit_add(args: argparse.Namespace) -> int:
    try:
        with workspace(args) as ws, _refusals():
            household = ws.households.get(args.household)
            visit = ws.visits.record(
                household.id,
                outcome=args.outcome,
                topics=args.topic or (),
                materials=args.material or (),
                next_visit=args.next_visit,
                notes=args.notes,
            )
    except _Refused:
        return BAD_INPUT
    if args.json:
        print_json(dataclasses.asdict(visit))
        return 0
    outcome = outcome_label(visit.outcome)
    print(
        say(
            f"Đã ghi lần thăm hộ {household.head_name}: {outcome} — {visit.id}",
            f"Visit to the household of {household.head_name} recorded: {outcome} — {visit.id}",
        )
    )
    if visit.next_visit:
        day = _day_text(visit.next_visit)
        print(say(f"Hẹn thăm lại: {day}", f"Next visit: {day}"))
    return 0


def _day_text(iso: str) -> str:
    """A stored date as the agent writes it (23/11/2026)."""
    year, month, day = iso.split("-")
    return f"{day}/{month}/{year}"


# -- pledge add ---------------------------------------------------------------------------------


def _pledge(ws: Workspace, args: argparse.Namespace) -> list[Pledge]:
    """Record the pledges the command asks for, all or none."""
    household = ws.households.get(args.household)
    scheme = SCHEMES[args.scheme]
    member_ids = list(args.member or ())
    if not member_ids:
        member_ids = [m.id for m in ws.pledges.members_who_can_join(household.id, scheme)]
        if not member_ids:
            raise _refused(
                f"Hộ {household.head_name} không có ai có thể tham gia "
                f"{scheme_label(scheme, lang='vi')}.",
                f"Nobody in the household of {household.head_name} can join "
                f"{scheme_label(scheme, lang='en')}.",
                "no_members",
            )
    today = ws.today()
    if scheme == "bhyt_household":
        if args.income is not None:
            raise _refused(
                "--income chỉ dùng cho BHXH tự nguyện (mức thu nhập làm căn cứ đóng).",
                "--income applies to voluntary social insurance (BHXH) only.",
                "income_not_for_bhyt",
            )
        return ws.pledges.pledge_bhyt_household(
            household.id, member_ids=member_ids, months=args.months, start=today
        )
    if args.income is None:
        raise _refused(
            "BHXH tự nguyện cần --income: mức thu nhập tháng làm căn cứ đóng (đồng).",
            "Voluntary social insurance (BHXH) needs --income: the monthly income the "
            "contribution is based on (đồng).",
            "income_required",
        )
    if len(set(member_ids)) != len(member_ids):
        raise _refused(
            "Một thành viên được chọn hai lần.", "A member was chosen twice.", "duplicate_member"
        )
    present = {m.id for m in ws.members.of_household(household.id)}
    for member_id in member_ids:
        if member_id not in present:
            raise _refused(
                f"Không tìm thấy thành viên của hộ: {member_id}",
                f"member of the household not found: {member_id}",
                "not_found",
            )
    with ws.store.transaction():
        return [
            ws.pledges.pledge_bhxh(member_id, income=args.income, months=args.months, start=today)
            for member_id in member_ids
        ]


def _pledge_dict(pledge: Pledge, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": pledge.id,
        "household_id": pledge.household_id,
        "member_id": pledge.member_id,
        "member_name": names.get(pledge.member_id, ""),
        "scheme": pledge.scheme,
        "params": pledge.params,
        "gross": pledge.gross,
        "central_support": pledge.central_support,
        "local_support": pledge.local_support,
        "payable": pledge.payable,
        "policy_version": pledge.policy_version,
        "start_date": pledge.start_date,
        "due_date": pledge.due_date,
        "status": pledge.status,
    }


def cmd_pledge_add(args: argparse.Namespace) -> int:
    try:
        with workspace(args) as ws, _refusals():
            pledges = _pledge(ws, args)
            names = {m.id: m.full_name for m in ws.members.of_household(args.household)}
    except _Refused:
        return BAD_INPUT
    if args.json:
        print_json([_pledge_dict(p, names) for p in pledges])
        return 0
    for p in pledges:
        what = f"{scheme_label(p.scheme)}, {p.params.get('months')} " + say("tháng", "months")
        print(f"{names.get(p.member_id, p.member_id)}: {what} — {format_vnd(p.payable)} — {p.id}")
    total = format_vnd(sum(p.payable for p in pledges))
    print(
        say(
            f"Đã ghi {len(pledges)} cam kết, tổng phải đóng {total}.",
            f"Recorded {len(pledges)} pledge(s), {total} payable in all.",
        )
    )
    return 0


# -- the commands -------------------------------------------------------------------------------


def register(commands: Commands) -> None:
    from fieldapp.model import VISIT_OUTCOMES

    visit = group(commands, "visit", "ghi lần thăm hộ", "record visits to households")
    p = command(
        visit, "add", cmd_visit_add, "ghi một lần thăm hộ", "record a visit", json_flag=True
    )
    p.add_argument("--household", required=True, help=say("mã hộ", "household id"))
    p.add_argument(
        "--outcome",
        required=True,
        metavar="OUTCOME",
        help=say(
            f"kết quả lần thăm: {', '.join(VISIT_OUTCOMES)}",
            f"the visit's outcome: {', '.join(VISIT_OUTCOMES)}",
        ),
    )
    p.add_argument(
        "--next-visit",
        type=date_arg,
        metavar="DATE",
        help=say("ngày hẹn thăm lại (YYYY-MM-DD)", "next visit (YYYY-MM-DD)"),
    )
    p.add_argument(
        "--topic", action="append", help=say("nội dung đã tư vấn (lặp lại)", "topic discussed")
    )
    p.add_argument(
        "--material",
        action="append",
        help=say("tài liệu đã phát (lặp lại)", "material handed out"),
    )
    p.add_argument("--notes", default="", help=say("ghi chú", "notes"))

    pledge = group(commands, "pledge", "ghi cam kết tham gia", "record pledges")
    p = command(
        pledge,
        "add",
        cmd_pledge_add,
        "ghi cam kết BHYT hộ gia đình hoặc BHXH tự nguyện",
        "record BHYT household or voluntary BHXH pledges",
        json_flag=True,
    )
    p.add_argument("--household", required=True, help=say("mã hộ", "household id"))
    p.add_argument(
        "--scheme",
        required=True,
        choices=tuple(SCHEMES),
        help=say(
            "bhyt: BHYT hộ gia đình; bhxh: BHXH tự nguyện",
            "bhyt: household health insurance; bhxh: voluntary social insurance",
        ),
    )
    p.add_argument(
        "--member",
        action="append",
        metavar="ID",
        help=say(
            "mã thành viên (lặp lại); mặc định: mọi thành viên có thể tham gia",
            "member id (repeat); default: every member who can join",
        ),
    )
    p.add_argument(
        "--months", type=int, required=True, help=say("số tháng đóng", "months paid for")
    )
    p.add_argument(
        "--income",
        type=amount_arg,
        help=say(
            "mức thu nhập tháng làm căn cứ đóng BHXH (đồng)",
            "monthly income the BHXH contribution is based on (đồng)",
        ),
    )
