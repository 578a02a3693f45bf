"""What a supervisor may see: communes as a filter on every query, and labels for display."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from sync.protocol.clock import VIETNAM_TZ
from sync.protocol.fields import moment
from sync.server.errors import ServerError
from sync.server.schema import agent_communes, agents

# None means every commune (a provincial admin).
Communes = Collection[str] | None


class OutOfScope(ServerError):
    """Unknown, or outside the supervisor's communes: the two look the same (404)."""

    def __init__(self) -> None:
        super().__init__("Không tìm thấy", "Not found", code="not_found", status=404)


class AgentPartlyInScope(ServerError):
    """An agent who also works in communes outside the supervisor's: theirs to act on only
    whole, or a code for a new laptop would reach the other communes' households (403)."""

    def __init__(self) -> None:
        super().__init__(
            "Nhân viên thu này còn được giao xã ngoài địa bàn của bạn; chỉ người quản lý tất cả"
            " các xã của họ (hoặc cán bộ cấp tỉnh) mới thao tác được với nhân viên này.",
            "This agent also works in communes outside yours; only a supervisor of all their"
            " communes (or the province) can act on them.",
            code="agent_partly_in_scope",
            status=403,
        )


def in_scope(column: sa.ColumnElement[Any], communes: Communes) -> sa.ColumnElement[bool]:
    """A WHERE clause keeping rows whose commune column is in scope."""
    if communes is None:
        return sa.true()
    return column.in_(sorted(communes))


def visible_agent_ids(communes: Communes) -> sa.Select[Any]:
    """Agents all of whose communes are in scope: only those may a supervisor see or act on
    (an agent's devices, codes and cash reach every commune the agent works in)."""
    if communes is None:
        return sa.select(agents.c.id)
    elsewhere = sa.select(agent_communes.c.agent_id).where(
        agent_communes.c.commune_code.not_in(sorted(communes))
    )
    return (
        sa.select(agent_communes.c.agent_id)
        .where(
            agent_communes.c.commune_code.in_(sorted(communes)),
            agent_communes.c.agent_id.not_in(elsewhere),
        )
        .distinct()
    )


def parse_stamp(stamp: str | None) -> dt.datetime | None:
    """A stored timestamp, or None when there is none or it is not a sane moment (a record
    stored before times were bounded may hold year 0001 or 9999)."""
    return moment(stamp) if stamp else None


def local_time(stamp: str | dt.datetime | None) -> str:
    """A timestamp as Vietnamese supervisors read it: 23/11/2026 08:10 (Vietnam time)."""
    moment = parse_stamp(stamp) if isinstance(stamp, str) or stamp is None else stamp
    if moment is None:
        return "—"
    return moment.astimezone(VIETNAM_TZ).strftime("%d/%m/%Y %H:%M")


def local_date(stamp: str | None) -> str:
    moment = parse_stamp(stamp)
    return "—" if moment is None else moment.astimezone(VIETNAM_TZ).strftime("%d/%m/%Y")


FIELD_LABELS = {
    "province_code": "Mã tỉnh",
    "commune_code": "Mã xã",
    "village": "Thôn/bản",
    "head_name": "Chủ hộ",
    "address": "Địa chỉ",
    "phone": "Số điện thoại",
    "groups": "Nhóm đối tượng",
    "best_months": "Tháng nên đến",
    "notes": "Ghi chú",
    "household_id": "Hộ gia đình",
    "full_name": "Họ và tên",
    "date_of_birth": "Ngày sinh",
    "sex": "Giới tính",
    "relation": "Quan hệ với chủ hộ",
    "cccd": "Số CCCD",
    "bhxh_code": "Mã số BHXH",
    "ethnicity": "Dân tộc",
    "bhyt_card": "Thẻ BHYT",
    "bhyt_expiry": "Hạn thẻ BHYT",
    "covered_by": "Đang có BHYT qua",
    "bhxh_status": "Tình trạng BHXH tự nguyện",
    "removed": "Đã rời hộ",
}
ENTITY_LABELS = {"household": "Hộ gia đình", "member": "Thành viên"}
SCHEME_LABELS = {"bhyt_household": "BHYT hộ gia đình", "bhxh_voluntary": "BHXH tự nguyện"}
# What a cash handover covers: the whole day, or one scheme's receipts.
HANDOVER_LABELS = {"all": "Cả ngày", **SCHEME_LABELS}


def iso_day(day: str | None) -> str:
    """An ISO date (2026-11-23) as Vietnamese supervisors read it: 23/11/2026."""
    try:
        return dt.date.fromisoformat(day or "").strftime("%d/%m/%Y")
    except ValueError:
        return "—"


def show_value(value: object) -> str:
    """A field value as text for a page or an export."""
    if value is None or value == "" or value == []:
        return "(trống)"
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
