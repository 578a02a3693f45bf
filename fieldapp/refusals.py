"""What the agent can do about a record the provincial server refused, and the re-stamping of
this laptop's own work made before enrolment for the agent it was enrolled for.

Every answer is recorded (tables restamp, refusal_action, outbox_discard) in the same
transaction as the change it makes: nothing is rewritten silently and nothing is deleted.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from fieldapp.errors import Problem, raise_if_errors
from fieldapp.households import Households
from fieldapp.store import Store, dumps, loads
from fieldapp.text import clean
from sync.protocol.errors import FieldappError
from sync.protocol.frozen import frozen

log = logging.getLogger(__name__)

# The server's reasons (sync/server/batches.py) each action answers.
AGENT_MISMATCH = "agent_mismatch"
OUT_OF_SCOPE = "out_of_scope"

RESTAMP = "restamp"
MOVE_COMMUNE = "move_commune"
DISCARD = "discard"

# Refusals that follow from the household not being on the server (it was refused as out of
# scope itself): sent again, after it, once the household is in an assigned commune.
_AFTER_HOUSEHOLD = frozenset(
    {OUT_OF_SCOPE, "unknown_household", "unknown_member", "unknown_pledge", "unknown_receipt"}
)

# Records that carry the agent who made them, and in which field.
_STAMPED = {"visit": "agent_id", "receipt": "issued_by"}


@frozen
class Restamp:
    """One record given the enrolled agent instead of the one it carried."""

    entity: str
    entity_id: str
    field: str
    old_agent: str
    new_agent: str
    cause: str
    at: str


@frozen
class Discarded:
    """A refused change the agent chose not to send, with the reason given."""

    seq: int
    entity: str
    entity_id: str
    reason: str
    refusal_code: str
    at: str


# -- re-stamping -------------------------------------------------------------------------------


def _new_stamps(store: Store) -> dict[str, str] | None:
    """What each stamped field should carry for the enrolled agent; None before enrolment."""
    agent_id = store.meta("agent_id")
    if not agent_id or agent_id == store.device_id:
        return None
    # A receipt names its collector as the receipt service does: the name, else the id.
    return {"agent_id": agent_id, "issued_by": store.meta("agent_name") or agent_id}


def _pre_enrolment(store: Store, field: str, value: Any) -> bool:
    """The stamp a record got on this laptop before it was enrolled: the laptop's own id as the
    agent (visits), or no collector's name at all (receipts). Another agent's id or name is
    that agent's work and never re-stamped."""
    if field == "agent_id":
        return bool(value == store.device_id)
    return value is None or value == store.device_id or not str(value).strip()


def _restamp_row(
    store: Store, conn: sqlite3.Connection, row: sqlite3.Row, stamps: dict[str, str], cause: str
) -> Restamp | None:
    field = _STAMPED.get(str(row["entity"]))
    if field is None:
        return None
    data = loads(row["data"]) or {}
    old = data.get(field)
    if not _pre_enrolment(store, field, old):
        return None
    new, at = stamps[field], store.now_iso()
    data[field] = new
    conn.execute(f"UPDATE {row['entity']} SET {field} = ? WHERE id = ?", (new, row["entity_id"]))
    # A re-stamped change leaves its batch: that batch id may already be known to the server
    # with the old content, and a batch is resent exactly as it was.
    conn.execute(
        "UPDATE outbox SET data = ?, state = 'pending', refusal = NULL, batch_id = NULL "
        "WHERE seq = ?",
        (dumps(data), row["seq"]),
    )
    conn.execute(
        "INSERT INTO restamp (entity, entity_id, field, old_agent, new_agent, outbox_seq, cause, "
        "at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (row["entity"], row["entity_id"], field, str(old or ""), new, row["seq"], cause, at),
    )
    return Restamp(str(row["entity"]), str(row["entity_id"]), field, str(old or ""), new, cause, at)


def restamp_own_work(store: Store, *, cause: str = "enrolment") -> list[Restamp]:
    """Give the enrolled agent every not-yet-accepted record this laptop made before enrolment.

    Pending rows and rows refused as another agent's are taken; refused ones go back to
    pending. Joins the caller's transaction (enrolment writes the agent in the same one).
    """
    stamps = _new_stamps(store)
    if stamps is None:
        return []
    done: list[Restamp] = []
    with store.transaction() as conn:
        rows = conn.execute(
            "SELECT seq, entity, entity_id, data FROM outbox "
            "WHERE entity IN ('visit', 'receipt') AND (state = 'pending' OR "
            "(state = 'refused' AND json_extract(refusal, '$.code') = ?)) ORDER BY seq",
            (AGENT_MISMATCH,),
        ).fetchall()
        for row in rows:
            stamped = _restamp_row(store, conn, row, stamps, cause)
            if stamped is not None:
                done.append(stamped)
    if done:
        log.info(
            "%d record(s) made before enrolment re-stamped for agent %s (%s)",
            len(done),
            stamps["agent_id"],
            cause,
        )
    return done


def restamps(store: Store) -> list[Restamp]:
    """Every re-stamping, oldest first."""
    return [
        Restamp(
            str(r["entity"]),
            str(r["entity_id"]),
            str(r["field"]),
            str(r["old_agent"]),
            str(r["new_agent"]),
            str(r["cause"]),
            str(r["at"]),
        )
        for r in store.query("SELECT * FROM restamp ORDER BY id")
    ]


# -- actions on a refused record ---------------------------------------------------------------


def _refused_row(conn: sqlite3.Connection, seq: int) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM outbox WHERE seq = ? AND state = 'refused'", (seq,)
    ).fetchone()
    if row is None:
        raise FieldappError(
            f"Không có bản ghi bị từ chối số {seq} (có thể đã được xử lý).",
            f"No refused record number {seq} (it may have been dealt with already).",
            code="not_refused",
        )
    return row


def _code(row: sqlite3.Row) -> str:
    return str((loads(row["refusal"]) or {}).get("code", ""))


def _household_id(
    conn: sqlite3.Connection, entity: str, entity_id: str, data: dict[str, Any]
) -> Any:
    """The household a change concerns, as the outbox names it."""
    if entity == "household":
        return entity_id
    if entity == "pledge_event":
        found = conn.execute(
            "SELECT household_id FROM pledge WHERE id = ?", (data.get("pledge_id"),)
        ).fetchone()
        return None if found is None else found[0]
    if entity == "receipt_void":
        found = conn.execute(
            "SELECT household_id FROM receipt WHERE id = ?", (data.get("receipt_id"),)
        ).fetchone()
        return None if found is None else found[0]
    return data.get("household_id")


def _movable_household(conn: sqlite3.Connection, row: sqlite3.Row) -> sqlite3.Row | None:
    """The household of a refused change, when moving it to an assigned commune can help: it is
    still in this laptop's lists and its commune is not one of the assigned ones."""
    household_id = _household_id(
        conn, str(row["entity"]), str(row["entity_id"]), loads(row["data"])
    )
    if household_id is None:
        return None
    household: sqlite3.Row | None = conn.execute(
        "SELECT * FROM household WHERE id = ? AND moved_to IS NULL", (household_id,)
    ).fetchone()
    if household is None:
        return None
    assigned = conn.execute(
        "SELECT 1 FROM assignment WHERE commune_code = ?", (household["commune_code"],)
    ).fetchone()
    return None if assigned is not None else household


def actions_for(store: Store, seq: int) -> tuple[str, ...]:
    """The actions that can answer this refused record's reason; discarding always can."""
    row = _refused_row(store.conn, seq)
    code = _code(row)
    actions: list[str] = []
    field = _STAMPED.get(str(row["entity"]))
    if (
        code == AGENT_MISMATCH
        and field is not None
        and _new_stamps(store) is not None
        and _pre_enrolment(store, field, (loads(row["data"]) or {}).get(field))
    ):
        actions.append(RESTAMP)
    movable = _movable_household(store.conn, row)
    if code == OUT_OF_SCOPE and movable is not None and assigned_communes(store):
        actions.append(MOVE_COMMUNE)
    actions.append(DISCARD)
    return tuple(actions)


def refused_actions(store: Store) -> dict[int, tuple[str, ...]]:
    """The actions offered for each refused record, by outbox row."""
    seqs = [int(r[0]) for r in store.query("SELECT seq FROM outbox WHERE state = 'refused'")]
    return {seq: actions_for(store, seq) for seq in seqs}


def restamp_refused(store: Store, seq: int) -> Restamp:
    """Give the enrolled agent a refused record this laptop made before enrolment; it is sent
    again with the next sync. Another agent's record is refused here: only that agent's
    enrolment can send it."""
    with store.transaction() as conn:
        row = _refused_row(conn, seq)
        if _code(row) != AGENT_MISMATCH:
            raise FieldappError(
                "Bản ghi này không bị từ chối vì tên nhân viên; không cần ghi lại.",
                "This record was not refused for its agent; there is nothing to re-stamp.",
                code="not_agent_mismatch",
            )
        stamps = _new_stamps(store)
        if stamps is None:
            raise FieldappError(
                "Máy này chưa đăng ký với máy chủ: chưa có nhân viên để ghi lại.",
                "This laptop is not enrolled: there is no agent to re-stamp for.",
                code="not_enrolled",
            )
        stamped = _restamp_row(store, conn, row, stamps, "refusal_action")
        if stamped is None:
            raise FieldappError(
                "Bản ghi này do một nhân viên khác đã đăng ký trên máy làm; không thể ghi lại "
                "cho nhân viên hiện tại (có thể bỏ bản ghi kèm lý do).",
                "This record was made by another enrolled agent on this laptop; it cannot be "
                "re-stamped for the current agent (it can be discarded with a reason).",
                code="other_agents_work",
            )
    log.info(
        "refused %s %s re-stamped for agent %s",
        stamped.entity,
        stamped.entity_id,
        stamped.new_agent,
    )
    return stamped


@frozen
class Assigned:
    """A commune assigned to this laptop, as a household can be moved to it."""

    commune_code: str
    province_code: str
    name: str


def assigned_communes(store: Store) -> list[Assigned]:
    return [
        Assigned(str(r["commune_code"]), str(r["province_code"]), str(r["name"]))
        for r in store.query(
            "SELECT commune_code, province_code, name FROM assignment ORDER BY commune_code"
        )
    ]


def move_to_assigned_commune(store: Store, seq: int, commune_code: str) -> int:
    """Move the household of a record refused as out of scope to one of this laptop's assigned
    communes, and send again what the province refused because of where it was.

    The move is a normal edit of the household (its own outbox row). The household's refused
    changes that carry the old commune are sent again with the new one (the province must
    create it where it is now), and the household's other changes it refused because it did
    not have the household follow it. Returns how many refused rows go out again.
    """
    commune_code = clean(commune_code)
    with store.transaction() as conn:
        row = _refused_row(conn, seq)
        if _code(row) != OUT_OF_SCOPE:
            raise FieldappError(
                "Bản ghi này không bị từ chối vì xã ngoài địa bàn được giao.",
                "This record was not refused for a commune outside the assignment.",
                code="not_out_of_scope",
            )
        household = _movable_household(conn, row)
        if household is None:
            raise FieldappError(
                "Hộ của bản ghi này không còn trên máy hoặc đã ở xã được giao.",
                "This record's household is no longer on this laptop or is already in an "
                "assigned commune.",
                code="not_movable",
            )
        target = conn.execute(
            "SELECT commune_code, province_code FROM assignment WHERE commune_code = ?",
            (commune_code,),
        ).fetchone()
        if target is None:
            raise_if_errors(
                [
                    Problem(
                        "commune_code",
                        "commune_not_assigned",
                        f"Xã {commune_code} không thuộc các xã được giao cho máy này.",
                        f"Commune {commune_code} is not one of this laptop's assigned communes.",
                    )
                ]
            )
        old_commune = str(household["commune_code"])
        changes = {"commune_code": commune_code}
        if target["province_code"]:
            changes["province_code"] = str(target["province_code"])
        Households(store).update(str(household["id"]), **changes)
        requeued = 0
        for refused in conn.execute(
            "SELECT * FROM outbox WHERE state = 'refused' ORDER BY seq"
        ).fetchall():
            data = loads(refused["data"]) or {}
            entity = str(refused["entity"])
            if _code(refused) not in _AFTER_HOUSEHOLD:
                continue
            if _household_id(conn, entity, str(refused["entity_id"]), data) != household["id"]:
                continue
            if entity == "household":
                data.update(changes)
            conn.execute(
                "UPDATE outbox SET data = ?, state = 'pending', refusal = NULL, batch_id = NULL "
                "WHERE seq = ?",
                (dumps(data), refused["seq"]),
            )
            conn.execute(
                "INSERT INTO refusal_action (action, outbox_seq, entity, entity_id, detail, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    MOVE_COMMUNE,
                    refused["seq"],
                    entity,
                    refused["entity_id"],
                    dumps(
                        {
                            "household_id": household["id"],
                            "from": old_commune,
                            "to": commune_code,
                            "refusal": loads(refused["refusal"]),
                        }
                    ),
                    store.now_iso(),
                ),
            )
            requeued += 1
    log.info(
        "household %s moved from commune %s to %s; %d refused row(s) sent again",
        household["id"],
        old_commune,
        commune_code,
        requeued,
    )
    return requeued


def discard(store: Store, seq: int, reason: str) -> Discarded:
    """Stop sending a refused change, for a reason the agent gives. The change stays in the
    store, with its refusal and the reason, and is no longer listed as refused."""
    reason = clean(reason)
    if not reason:
        raise_if_errors(
            [
                Problem(
                    "reason",
                    "reason_required",
                    "Hãy ghi lý do bỏ bản ghi này.",
                    "Give the reason for discarding this record.",
                )
            ]
        )
    with store.transaction() as conn:
        row = _refused_row(conn, seq)
        at = store.now_iso()
        conn.execute(
            "INSERT INTO outbox_discard (seq, reason, refusal, at) VALUES (?, ?, ?, ?)",
            (seq, reason, row["refusal"], at),
        )
        conn.execute("UPDATE outbox SET state = 'discarded', batch_id = NULL WHERE seq = ?", (seq,))
    log.info("refused %s %s discarded: %s", row["entity"], row["entity_id"], reason)
    return Discarded(seq, str(row["entity"]), str(row["entity_id"]), reason, _code(row), at)


def discarded(store: Store) -> list[Discarded]:
    """Every change the agent chose not to send, oldest first."""
    out = []
    for r in store.query(
        "SELECT o.seq, o.entity, o.entity_id, d.reason, d.refusal, d.at FROM outbox_discard d "
        "JOIN outbox o ON o.seq = d.seq ORDER BY d.seq"
    ):
        code = str((loads(r["refusal"]) or {}).get("code", ""))
        out.append(
            Discarded(
                int(r["seq"]),
                str(r["entity"]),
                str(r["entity_id"]),
                str(r["reason"]),
                code,
                str(r["at"]),
            )
        )
    return out


class Refusals:
    """The workspace's door to the answers above, for the desktop app and the command line."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def actions(self) -> dict[int, tuple[str, ...]]:
        return refused_actions(self.store)

    def assigned_communes(self) -> list[Assigned]:
        return assigned_communes(self.store)

    def restamp(self, seq: int) -> Restamp:
        return restamp_refused(self.store, seq)

    def move_to_assigned_commune(self, seq: int, commune_code: str) -> int:
        return move_to_assigned_commune(self.store, seq, commune_code)

    def discard(self, seq: int, reason: str) -> Discarded:
        return discard(self.store, seq, reason)

    def restamps(self) -> list[Restamp]:
        return restamps(self.store)

    def discarded(self) -> list[Discarded]:
        return discarded(self.store)
