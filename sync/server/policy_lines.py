"""The province's local support lines (DOMAIN.md §2–§3: "dated provincial lines"), edited on the
supervisor pages and published to the laptops as a new version of the policy tables.

A line is never edited or deleted once published: a line that stops is given an end date in a
new version, so a pledge quoted under the old version can still be explained. Each change makes
a new version named after the tables it builds on ("vn-2026.12" → "vn-2026.12-t04.1", then
"-t04.2" …) and is published with admin.publish_policy, which the laptops pull and their
calculator uses. The laptop checks every document again when it reads it; this module refuses
what the laptop would refuse, so a supervisor is told at once.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import resources
from sync.protocol.clock import Clock
from sync.protocol.fields import VERSION_LENGTH
from sync.protocol.frozen import frozen
from sync.protocol.money import format_vnd
from sync.server import admin, audit
from sync.server.errors import ServerError
from sync.server.schema import policies

SCHEMES = ("bhyt_household", "bhxh_voluntary")
ALL_GROUPS = "all"
# đồng per month (per member for BHYT): well above any line a province has passed.
MAX_AMOUNT = 5_000_000
MAX_SOURCE = 300
MAX_LINES = 500
_PROVINCE = re.compile(r"\d{2}")
_SHARE = re.compile(r"\d{1,3}(\.\d{1,6})?")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_LOCAL_VERSION = re.compile(r"^(?P<base>.+)-t(?P<province>\d{2})\.(?P<n>\d+)$")


def _bad(vi: str, en: str) -> ServerError:
    return ServerError(vi, en, code="bad_policy_line")


@frozen
class Line:
    """One local support line as shown on the page."""

    index: int
    province: str
    scheme: str
    group: str
    start: str
    end: str | None
    share_pct: str | None
    amount: int | None
    source: str
    unconfirmed: bool


def _key(document: dict[str, Any]) -> tuple[str, tuple[int, ...], str]:
    """Newest first by publication day, then the numbers in the version (as the laptop orders)."""
    version = str(document.get("version", ""))
    return (
        str(document.get("published", "")),
        tuple(int(n) for n in re.findall(r"\d+", version)),
        version,
    )


def shipped_documents() -> list[dict[str, Any]]:
    """The national tables shipped with this release (resources/policy)."""
    folder = resources.path("policy")
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def published_documents(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(policies.c.document)).scalars()
    return [dict(d) for d in rows if isinstance(d, dict) and "local_support" in d]


def newest_document(conn: Connection) -> dict[str, Any]:
    """The newest full tables: a version published here, or the newest shipped one."""
    return max([*shipped_documents(), *published_documents(conn)], key=_key)


def lines_of(document: dict[str, Any]) -> list[Line]:
    lines = []
    for i, raw in enumerate(document.get("local_support", [])):
        lines.append(
            Line(
                index=i,
                province=str(raw.get("province", "")),
                scheme=str(raw.get("scheme", "")),
                group=str(raw.get("group", "")),
                start=str(raw.get("from", "")),
                end=raw.get("to"),
                share_pct=raw.get("share_pct"),
                amount=raw.get("amount"),
                source=str(raw.get("source", "")),
                unconfirmed=bool(raw.get("unconfirmed", False)),
            )
        )
    return lines


def groups_of(document: dict[str, Any], scheme: str) -> list[str]:
    """The groups a line of this scheme may name in these tables, and "all"."""
    if scheme == "bhyt_household":
        groups = {*document.get("bhyt_household", {}).get("support_pct", {}), "household"}
    else:
        groups = set(document.get("bhxh_voluntary", {}).get("central_support_pct", {}))
    return [*sorted(groups), ALL_GROUPS]


def _day(text: str, what_vi: str, what_en: str) -> dt.date:
    text = text.strip()
    try:
        if not _DAY.fullmatch(text):
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _bad(
            f"{what_vi} phải là một ngày (năm-tháng-ngày)", f"{what_en} must be a date (YYYY-MM-DD)"
        ) from None


def _next_version(base: str, province: str, taken: set[str]) -> str:
    match = _LOCAL_VERSION.match(base)
    root = match.group("base") if match else base
    n = int(match.group("n")) + 1 if match and match.group("province") == province else 1
    while f"{root}-t{province}.{n}" in taken:
        n += 1
    version = f"{root}-t{province}.{n}"
    if len(version) > VERSION_LENGTH:
        raise _bad("Tên phiên bản chính sách quá dài", "The policy version name is too long")
    return version


def _publish(
    conn: Connection,
    base: dict[str, Any],
    lines: list[dict[str, Any]],
    *,
    province: str,
    clock: Clock,
    actor: str,
    detail: dict[str, Any],
) -> str:
    document = copy.deepcopy(base)
    document["local_support"] = lines
    taken = {str(d.get("version")) for d in [*shipped_documents(), *published_documents(conn)]}
    document["version"] = _next_version(str(base["version"]), province, taken)
    # Never older than the tables it builds on: the laptop takes the newest by this day.
    document["published"] = max(clock.today().isoformat(), str(base.get("published", "")))
    version, _ = admin.publish_policy(conn, document=document, clock=clock)
    audit.record(
        conn,
        clock=clock,
        actor=actor,
        actor_kind="supervisor",
        action="policy_publish",
        target=version,
        detail={"province": province, "builds_on": base["version"], **detail},
    )
    return version


def add_line(conn: Connection, *, form: dict[str, str], clock: Clock, actor: str) -> str:
    """Validate a line from the page's form and publish the tables with it; the new version."""
    base = newest_document(conn)
    existing = list(base.get("local_support", []))
    if len(existing) >= MAX_LINES:
        raise _bad("Đã có quá nhiều dòng hỗ trợ địa phương", "Too many local support lines")
    province = form.get("province", "").strip()
    if not _PROVINCE.fullmatch(province):
        raise _bad("Mã tỉnh phải có 2 chữ số", "The province code must have 2 digits")
    scheme = form.get("scheme", "")
    if scheme not in SCHEMES:
        raise _bad("Hãy chọn BHYT hộ gia đình hoặc BHXH tự nguyện", "Choose a scheme")
    group = form.get("group", "")
    if group not in groups_of(base, scheme):
        raise _bad(
            "Nhóm đối tượng này không có trong chương trình đã chọn",
            "This group is not part of the chosen scheme",
        )
    start = _day(form.get("from", ""), "Ngày bắt đầu", "The start")
    end_text = form.get("to", "").strip()
    end = _day(end_text, "Ngày kết thúc", "The end") if end_text else None
    if end is not None and end < start:
        raise _bad("Ngày kết thúc đứng trước ngày bắt đầu", "The end is before the start")
    line: dict[str, Any] = {"province": province, "scheme": scheme, "group": group}
    line["from"] = start.isoformat()
    if end is not None:
        line["to"] = end.isoformat()
    share_text = form.get("share_pct", "").strip().replace(",", ".")
    amount_text = form.get("amount", "").strip().replace(".", "").replace(" ", "")
    if bool(share_text) == bool(amount_text):
        raise _bad(
            "Hãy ghi đúng một trong hai: tỷ lệ hỗ trợ (%) hoặc số tiền mỗi tháng",
            "Give exactly one of a share (%) or an amount per month",
        )
    if share_text:
        try:
            share = Decimal(share_text)
        except InvalidOperation:
            share = Decimal(-1)
        if not _SHARE.fullmatch(share_text) or not 0 < share <= 100:
            raise _bad(
                "Tỷ lệ hỗ trợ phải là một số lớn hơn 0 và tối đa 100 (%)",
                "The share must be more than 0 and at most 100 (%)",
            )
        line["share_pct"] = share_text
    else:
        if not amount_text.isdigit() or not 0 < int(amount_text) <= MAX_AMOUNT:
            raise _bad(
                "Số tiền hỗ trợ phải là số đồng lớn hơn 0 và tối đa "
                f"{format_vnd(MAX_AMOUNT)} mỗi tháng",
                f"The amount must be whole đồng, more than 0 and at most {MAX_AMOUNT:,} a month",
            )
        line["amount"] = int(amount_text)
    source = " ".join(form.get("source", "").split())
    if not source or len(source) > MAX_SOURCE:
        raise _bad(
            f"Hãy ghi tên nghị quyết (tối đa {MAX_SOURCE} ký tự)",
            f"Name the resolution (at most {MAX_SOURCE} characters)",
        )
    line["source"] = source
    line["unconfirmed"] = form.get("unconfirmed") == "1"
    return _publish(
        conn,
        base,
        [*existing, line],
        province=province,
        clock=clock,
        actor=actor,
        detail={"added": line},
    )


def end_line(conn: Connection, *, index: str, to: str, clock: Clock, actor: str) -> str:
    """Give a line an end date in a new version (a published line is never removed)."""
    base = newest_document(conn)
    existing = [dict(line) for line in base.get("local_support", [])]
    if not index.isdigit() or int(index) >= len(existing):
        raise ServerError(
            "Không tìm thấy dòng hỗ trợ này", "No such line", code="not_found", status=404
        )
    line = existing[int(index)]
    end = _day(to, "Ngày kết thúc", "The end")
    if end < dt.date.fromisoformat(line["from"]):
        raise _bad("Ngày kết thúc đứng trước ngày bắt đầu", "The end is before the start")
    if line.get("to") is not None and dt.date.fromisoformat(line["to"]) <= end:
        raise _bad(
            "Dòng này đã kết thúc vào hoặc trước ngày đó", "The line already ends on or before then"
        )
    line["to"] = end.isoformat()
    existing[int(index)] = line
    return _publish(
        conn,
        base,
        existing,
        province=str(line["province"]),
        clock=clock,
        actor=actor,
        detail={"ended": line},
    )
