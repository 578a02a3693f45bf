"""The audit log: who did what and when on the provincial server.

Every supervisor action on the pages, every enrolment and every revocation is recorded in the
same transaction as the action itself, so an action that did not happen leaves no entry and
one that happened cannot lose its entry. Entries are never updated or deleted. An action is
scoped to the communes it touches (one row per commune, sharing an entry id) so that a commune
supervisor reads the entries of their communes; an action touching no commune (the province's
policy, a supervisor account) is for the province's administrators only.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync.protocol.clock import Clock, iso_utc
from sync.protocol.frozen import frozen
from sync.server.schema import audit_log

ActorKind = Literal["supervisor", "device", "operator"]
# None: every commune (a provincial admin), as on the supervisor pages.
Communes = Collection[str] | None

# What each action is called on the audit page.
ACTION_LABELS: Mapping[str, str] = {
    "agent_add": "Thêm nhân viên thu",
    "agent_communes": "Đổi xã phụ trách",
    "agent_deactivate": "Ngừng hoạt động nhân viên thu",
    "enrol_code": "Tạo mã đăng ký thiết bị",
    "device_enrol": "Đăng ký thiết bị",
    "device_revoke": "Thu hồi thiết bị",
    "book_allocate": "Cấp quyển biên lai",
    "book_register": "Đăng ký quyển biên lai tự nhập",
    "target_set": "Đặt chỉ tiêu",
    "targets_upload": "Tải lên bảng chỉ tiêu",
    "coverage_target": "Đặt mục tiêu bao phủ",
    "batch_upload": "Tải lên tệp đồng bộ",
    "conflict_resolve": "Giải quyết xung đột",
    "people_merge": "Gộp người trùng CCCD",
    "policy_publish": "Ban hành chính sách địa phương",
}

# What each key of an entry's detail is called on the audit page; a key not listed is not shown
# (ids the page already shows as the entry's target, or that mean nothing to a supervisor).
DETAIL_LABELS: Mapping[str, str] = {
    "agent": "Nhân viên",
    "name": "Tên",
    "communes": "Xã",
    "before": "Trước",
    "after": "Sau",
    "device": "Máy",
    "device_name": "Máy",
    "devices_revoked": "Số máy thu hồi",
    "reason": "Lý do",
    "valid_hours": "Hiệu lực (giờ)",
    "series": "Ký hiệu",
    "first": "Từ số",
    "last": "Đến số",
    "scheme": "Chương trình",
    "month": "Tháng",
    "village": "Thôn/bản",
    "count": "Chỉ tiêu",
    "file": "Tệp",
    "rows": "Số dòng",
    "applied": "Đã nhận",
    "refused": "Từ chối",
    "again": "Gửi lại",
    "field": "Trường",
    "choice": "Giá trị chọn",
    "closed": "Số xung đột đóng",
    "merged": "Đã gộp",
    "percent_tenths": "Mục tiêu (phần nghìn)",
    "due_on": "Hạn",
    "province": "Tỉnh",
    "builds_on": "Dựa trên bảng",
    "added": "Thêm dòng",
    "ended": "Kết thúc dòng",
}

_ACTOR_LIMIT = 64
_TARGET_LIMIT = 128


@frozen
class Entry:
    id: int
    at: str
    actor: str
    actor_kind: str
    action: str
    target: str | None
    communes: tuple[str, ...]
    detail: dict[str, Any]

    @property
    def label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action)

    def details(self) -> list[tuple[str, str]]:
        """The detail as the page shows it: (label, value), known keys only, in order."""
        shown = []
        for key, value in self.detail.items():
            if key not in DETAIL_LABELS or value in (None, "", [], {}):
                continue
            shown.append((DETAIL_LABELS[key], _shown(value)))
        return shown


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "có" if value else "không"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    return str(value)


def record(
    conn: Connection,
    *,
    clock: Clock,
    actor: str,
    actor_kind: ActorKind,
    action: str,
    target: str | None = None,
    communes: Iterable[str] = (),
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Add one entry (one row per commune touched; one row with no commune when none)."""
    if action not in ACTION_LABELS:
        raise ValueError(f"unknown audit action {action!r}")
    entry = str(uuid.uuid4())
    at = iso_utc(clock.now())
    scoped: list[str | None] = sorted(set(communes)) or [None]
    conn.execute(
        audit_log.insert(),
        [
            {
                "entry": entry,
                "at": at,
                "actor": actor[:_ACTOR_LIMIT],
                "actor_kind": actor_kind,
                "action": action,
                "target": None if target is None else target[:_TARGET_LIMIT],
                "commune_code": commune,
                "detail": dict(detail or {}),
            }
            for commune in scoped
        ],
    )


def entries(
    conn: Connection,
    communes: Communes,
    *,
    action: str | None = None,
    limit: int = 200,
    before: int | None = None,
) -> list[Entry]:
    """The newest entries a supervisor may read, newest first, `limit` at most; `before` pages
    on (an entry id from the previous page)."""
    scope = sa.true() if communes is None else audit_log.c.commune_code.in_(sorted(communes))
    first = sa.func.min(audit_log.c.id).label("first")
    query = sa.select(audit_log.c.entry, first).where(scope).group_by(audit_log.c.entry)
    if action:
        query = query.where(audit_log.c.action == action)
    if before is not None:
        query = query.having(sa.func.min(audit_log.c.id) < before)
    chosen = conn.execute(query.order_by(first.desc()).limit(max(1, limit))).fetchall()
    if not chosen:
        return []
    rows = conn.execute(
        sa.select(audit_log)
        .where(audit_log.c.entry.in_([r.entry for r in chosen]), scope)
        .order_by(audit_log.c.id)
    ).fetchall()
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.entry, []).append(row)
    result = []
    for entry, _first in chosen:
        group = grouped[entry]
        head = group[0]
        result.append(
            Entry(
                id=head.id,
                at=head.at,
                actor=head.actor,
                actor_kind=head.actor_kind,
                action=head.action,
                target=head.target,
                communes=tuple(sorted(r.commune_code for r in group if r.commune_code)),
                detail=dict(head.detail or {}),
            )
        )
    return result
