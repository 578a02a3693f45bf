"""Records the server refused and that are still refused, read from the batches' stored acks,
with what fixes each reason."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync.protocol import wire
from sync.protocol.frozen import frozen
from sync.server.schema import IMMUTABLE_TABLES, agents, batches, devices
from sync.server.web.scope import Communes, visible_agent_ids

# Ids per `IN (…)` when looking for records taken since: inside every database's limit.
_CHUNK = 500

ENTITY_LABELS = {
    wire.HOUSEHOLD: "Hộ gia đình",
    wire.MEMBER: "Thành viên",
    wire.VISIT: "Lượt thăm",
    wire.PLEDGE: "Cam kết",
    wire.PLEDGE_EVENT: "Trạng thái cam kết",
    wire.RECEIPT: "Biên lai",
    wire.RECEIPT_VOID: "Huỷ biên lai",
    wire.CASH_HANDOVER: "Bàn giao tiền",
    wire.RECEIPT_BOOK: "Quyển biên lai tự nhập",
}

REASON_LABELS = {
    "receipt_book_mismatch": "Biên lai ngoài quyển được cấp",
    "receipt_number_used": "Số biên lai đã dùng",
    "book_overlap": "Quyển trùng số với quyển khác",
    "agent_mismatch": "Ghi tên nhân viên khác",
    "out_of_scope": "Xã chưa giao cho nhân viên",
    "unknown_household": "Máy chủ chưa có hộ",
    "unknown_member": "Máy chủ chưa có thành viên",
    "conflicting_duplicate": "Trùng mã, khác nội dung",
    "not_your_record": "Của nhân viên khác",
    "clock_out_of_range": "Đồng hồ máy sai",
    "time_out_of_range": "Thời điểm ở tương lai",
    "day_in_future": "Ngày chưa tới",
    "reason_required": "Thiếu lý do chênh lệch",
    "amount_mismatch": "Số tiền không khớp",
}

_CLOCK_FIX = (
    "Đồng hồ của máy tính đặt sai ngày giờ. Chỉnh lại ngày giờ trên máy; ứng dụng đóng dấu"
    " thời gian lại và gửi lại các bản ghi này ở lần đồng bộ sau."
)
_MISSING_PARENT_FIX = (
    "Máy chủ chưa có hộ hoặc thành viên mà bản ghi này nhắc tới — thường vì bản ghi tạo hộ,"
    " tạo thành viên bị từ chối hoặc chưa được gửi. Xử lý bản ghi đó trước (xem các dòng khác"
    " của cùng thiết bị), rồi cho máy đồng bộ lại."
)
FIXES = {
    "receipt_book_mismatch": (
        "Số biên lai không nằm trong quyển nào được cấp cho nhân viên này. Nếu đó là quyển"
        " biên lai viết tay hoặc tự nhập, hãy đăng ký quyển cho nhân viên ở trang Quyển biên lai"
        " (/web/books); nếu không, kiểm tra lại ký hiệu và số trên cuống biên lai."
    ),
    "book_overlap": (
        "Quyển biên lai nhân viên tự nhập trên máy trùng số với một quyển đã có trên máy chủ"
        " (cùng ký hiệu). Đối chiếu ký hiệu và dải số trên bìa quyển giấy với trang Quyển biên"
        " lai (/web/books) và với nhân viên thu trước khi xử lý các biên lai của quyển này."
    ),
    "receipt_number_used": (
        "Số biên lai đã dùng cho một biên lai khác trên máy chủ. Đối chiếu cuống biên lai giấy;"
        " huỷ biên lai trùng trên máy và lập lại với số kế tiếp trong quyển."
    ),
    "agent_mismatch": (
        "Bản ghi mang tên nhân viên khác với người đang giữ máy — thường vì nó được lập trước"
        " khi máy đăng ký cho nhân viên này (máy dùng chung, hoặc dữ liệu thử). Hỏi nhân viên"
        " thu; nếu đúng là việc của họ, lập lại trên máy đã đăng ký."
    ),
    "out_of_scope": (
        "Hộ gia đình thuộc xã chưa giao cho nhân viên này. Giao thêm xã cho nhân viên (nếu đúng"
        " là họ phụ trách) rồi để máy đồng bộ lại, hoặc để nhân viên phụ trách xã đó ghi lại."
    ),
    "unknown_household": _MISSING_PARENT_FIX,
    "unknown_member": _MISSING_PARENT_FIX,
    "conflicting_duplicate": (
        "Máy chủ đã có bản ghi cùng mã nhưng nội dung khác (thường do khôi phục bản sao lưu cũ"
        " hoặc chép dữ liệu giữa hai máy). Bản trên máy chủ được giữ; đối chiếu với nhân viên"
        " thu trước khi lập lại."
    ),
    "not_your_record": (
        "Cam kết hoặc biên lai này do nhân viên thu khác lập; chỉ người đó mới được thu tiền"
        " hoặc đổi trạng thái. Chuyển việc cho đúng nhân viên."
    ),
    "clock_out_of_range": _CLOCK_FIX,
    "time_out_of_range": _CLOCK_FIX,
    "day_in_future": _CLOCK_FIX,
    "reason_required": (
        "Số tiền nộp khác số phải nộp mà không ghi lý do. Nhân viên ghi lại lần bàn giao tiền"
        " kèm lý do chênh lệch."
    ),
}
DEFAULT_FIX = (
    "Dữ liệu của bản ghi không hợp lệ (thường do ứng dụng trên máy đã cũ). Cập nhật ứng dụng"
    " rồi đồng bộ lại; nếu vẫn bị từ chối, báo quản trị tỉnh kèm mã bản ghi."
)


def fix_for(code: str) -> str:
    """What a supervisor (or the agent) does about a refusal with this code."""
    return FIXES.get(code, DEFAULT_FIX)


def reason_label(code: str) -> str:
    return REASON_LABELS.get(code, code)


@frozen
class RefusedRecord:
    """One record a device sent that the server refused and has not taken since."""

    device_id: str
    device_name: str
    agent_id: str
    agent_name: str
    batch_id: str
    received_at: str
    seq: int
    record_id: str
    entity: str
    code: str
    reason: str

    @property
    def entity_label(self) -> str:
        return ENTITY_LABELS.get(self.entity, self.entity)

    @property
    def label(self) -> str:
        return reason_label(self.code)

    @property
    def fix(self) -> str:
        return fix_for(self.code)


def refusals_of(ack: Any) -> list[wire.Refusal]:
    """The refusals of a stored ack, each with the fields a page shows."""
    listed = ack.get("refused") if isinstance(ack, dict) else None
    if not isinstance(listed, list):
        return []
    keys = ("seq", "id", "entity", "code", "vi")
    return [
        cast(wire.Refusal, r) for r in listed if isinstance(r, dict) and all(k in r for k in keys)
    ]


def _accepted_of(ack: Any) -> Iterable[int]:
    listed = ack.get("accepted") if isinstance(ack, dict) else None
    return [s for s in listed if isinstance(s, int)] if isinstance(listed, list) else []


def still_refused(
    conn: Connection, communes: Communes, *, device_ids: Collection[str] | None = None
) -> list[RefusedRecord]:
    """Refused records of the devices of visible agents, newest first.

    A refused outbox row keeps its seq when the laptop sends it again, so a seq accepted in a
    later batch of the same device is no longer stuck; a fact (visit, receipt…) whose id the
    server holds by now is not either. A row refused more than once shows its latest reason.
    """
    query = (
        sa.select(
            batches.c.device_id,
            batches.c.batch_id,
            batches.c.received_at,
            batches.c.ack,
            devices.c.name.label("device_name"),
            devices.c.agent_id,
            agents.c.name.label("agent_name"),
        )
        .join(devices, devices.c.id == batches.c.device_id)
        .join(agents, agents.c.id == devices.c.agent_id)
        .where(devices.c.agent_id.in_(visible_agent_ids(communes)), _has_refusals())
        .order_by(batches.c.received_at, batches.c.batch_id)
        .execution_options(yield_per=100)
    )
    if device_ids is not None:
        query = query.where(batches.c.device_id.in_(sorted(device_ids)))
    latest: dict[tuple[str, int], RefusedRecord] = {}
    since: dict[str, str] = {}
    for row in conn.execute(query):
        since.setdefault(row.device_id, row.received_at)
        for refusal in refusals_of(row.ack):
            latest[(row.device_id, int(refusal["seq"]))] = RefusedRecord(
                device_id=row.device_id,
                device_name=row.device_name,
                agent_id=row.agent_id,
                agent_name=row.agent_name,
                batch_id=row.batch_id,
                received_at=row.received_at,
                seq=int(refusal["seq"]),
                record_id=str(refusal["id"]),
                entity=str(refusal["entity"]),
                code=str(refusal["code"]),
                reason=str(refusal["vi"]),
            )
    accepted = {device: _accepted_since(conn, device, at) for device, at in since.items()}
    stuck = [r for (device, seq), r in latest.items() if seq not in accepted[device]]
    taken = _facts_held(conn, stuck)
    stuck = [r for r in stuck if (r.entity, r.record_id) not in taken]
    stuck.sort(key=lambda r: (r.received_at, r.batch_id, -r.seq), reverse=True)
    return stuck


def _has_refusals() -> sa.ColumnElement[bool]:
    """Leaves out, in the database, the acks that say they refused nothing — nearly all of
    them — so that only the others travel. An ack written some other way is kept (and
    read), never wrongly left out: quotes inside JSON strings are escaped, so the text
    cannot occur anywhere but as the key and its empty list. Acks are stored compact
    (dumps_json); those stored before that have a space after the colon."""
    text = sa.cast(batches.c.ack, sa.Text)
    return sa.not_(sa.or_(text.like('%"refused":[]%'), text.like('%"refused": []%')))


def _accepted_since(conn: Connection, device_id: str, at: str) -> set[int]:
    """Seqs the server took from the device in batches received at or after `at`."""
    query = (
        sa.select(batches.c.ack)
        .where(batches.c.device_id == device_id, batches.c.received_at >= at)
        .execution_options(yield_per=100)
    )
    seqs: set[int] = set()
    for ack in conn.execute(query).scalars():
        seqs.update(_accepted_of(ack))
    return seqs


def _facts_held(conn: Connection, records: list[RefusedRecord]) -> set[tuple[str, str]]:
    """(entity, id) of the refused facts the server holds by now, however they came."""
    wanted: dict[str, list[str]] = defaultdict(list)
    for r in records:
        if r.entity in IMMUTABLE_TABLES:
            wanted[r.entity].append(r.record_id)
    held: set[tuple[str, str]] = set()
    for entity, ids in wanted.items():
        table = IMMUTABLE_TABLES[entity]
        unique = sorted(set(ids))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            found = conn.execute(sa.select(table.c.id).where(table.c.id.in_(chunk))).scalars()
            held.update((entity, str(i)) for i in found)
    return held


def counts_by_device(conn: Connection, device_ids: Collection[str]) -> dict[str, int]:
    """How many records of each device are still refused (devices without any are left out)."""
    if not device_ids:
        return {}
    counts: dict[str, int] = defaultdict(int)
    for r in still_refused(conn, None, device_ids=device_ids):
        counts[r.device_id] += 1
    return dict(counts)
