"""Field-wise writes of households and members, with their outbox rows and search index."""

from __future__ import annotations

import sqlite3
from typing import Any

from fieldapp.search import phone_terms
from fieldapp.store import Store, dumps, loads
from fieldapp.text import fold
from sync.protocol.fields import FIELDS, HOUSEHOLD, MEMBER

# Columns of households and members kept as JSON text in the store: their list fields.
JSON_FIELDS = {
    field.name
    for entity in (HOUSEHOLD, MEMBER)
    for field in FIELDS[entity].values()
    if field.kind == "json"
}


def to_column(name: str, value: Any) -> Any:
    if name in JSON_FIELDS:
        return dumps(list(value))
    if isinstance(value, bool):
        return int(value)
    return value


def insert_mergeable(store: Store, table: str, values: dict[str, Any]) -> None:
    """Insert a household or member row with a clock per field, and its outbox row."""
    stamp = store.tick()
    now = store.now_iso()
    synced = dict(values)
    columns = dict(synced)
    columns["clocks"] = dumps(dict.fromkeys(synced, stamp))
    columns["created_at"] = now
    columns["updated_at"] = now
    names = list(columns)
    store.conn.execute(
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
        [to_column(n, columns[n]) for n in names],
    )
    store.append_outbox(
        entity=table, entity_id=values["id"], op="insert", hlc=stamp, data=_wire(synced)
    )


def update_mergeable(
    store: Store,
    table: str,
    row: sqlite3.Row,
    changes: dict[str, Any],
    *,
    always: tuple[str, ...],
) -> dict[str, Any]:
    """Apply the fields that really change; returns them. Outbox carries the clocks they replace.

    `always` names fields sent with every update (the server authorises on them).
    """
    current = {k: _from_column(k, row[k]) for k in changes}
    changed = {k: v for k, v in changes.items() if current[k] != _normal(k, v)}
    if not changed:
        return {}
    stamp = store.tick()
    clocks: dict[str, str] = loads(row["clocks"])
    base = {k: clocks.get(k) for k in changed}
    clocks.update(dict.fromkeys(changed, stamp))
    sets = ", ".join(f"{k} = ?" for k in changed)
    store.conn.execute(
        f"UPDATE {table} SET {sets}, clocks = ?, updated_at = ? WHERE id = ?",
        [*(to_column(k, v) for k, v in changed.items()), dumps(clocks), store.now_iso(), row["id"]],
    )
    data = {"id": row["id"], **{k: row[k] for k in always}, **changed}
    store.append_outbox(
        entity=table, entity_id=row["id"], op="update", hlc=stamp, data=_wire(data), base=base
    )
    return changed


def _normal(name: str, value: Any) -> Any:
    if name in JSON_FIELDS:
        return list(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _from_column(name: str, value: Any) -> Any:
    return loads(value) if name in JSON_FIELDS else value


def _wire(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}


def reindex_household(conn: sqlite3.Connection, household_id: str) -> None:
    """Rebuild the folded search rows of one household: one for it, one per present member."""
    conn.execute(
        "DELETE FROM search_index WHERE rowid IN "
        "(SELECT id FROM search_row WHERE household_id = ?)",
        (household_id,),
    )
    conn.execute("DELETE FROM search_row WHERE household_id = ?", (household_id,))
    household = conn.execute(
        "SELECT head_name, village, phone, address FROM household "
        "WHERE id = ? AND moved_to IS NULL",
        (household_id,),
    ).fetchone()
    if household is None:  # gone, or moved to a commune this laptop does not serve
        return
    _index(
        conn,
        household_id,
        None,
        " ".join(
            fold(str(part))
            for part in (
                household["head_name"],
                household["village"],
                household["phone"] or "",
                household["address"],
            )
            if part
        ),
    )
    members = conn.execute(
        "SELECT id, full_name, cccd, bhxh_code, phone FROM member "
        "WHERE household_id = ? AND removed = 0",
        (household_id,),
    ).fetchall()
    village = fold(household["village"])
    for m in members:
        parts = (
            fold(m["full_name"]),
            m["cccd"] or "",
            m["bhxh_code"] or "",
            phone_terms(m["phone"]),
            village,
        )
        _index(conn, household_id, m["id"], " ".join(p for p in parts if p))


def _index(conn: sqlite3.Connection, household_id: str, member_id: str | None, body: str) -> None:
    """One search row: its household map entry first, the index row under the same rowid."""
    rowid = conn.execute(
        "INSERT INTO search_row (household_id, member_id) VALUES (?, ?)",
        (household_id, member_id),
    ).lastrowid
    conn.execute(
        "INSERT INTO search_index (rowid, body, member_id, household_id) VALUES (?, ?, ?, ?)",
        (rowid, body, member_id, household_id),
    )
