"""Schema migrations of the local store, registered in order; each runs in its own transaction."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable

from sync.protocol.clock import FixedClock
from sync.protocol.frozen import frozen
from sync.protocol.hlc import HybridClock
from sync.protocol.ids import uuid7


@frozen
class Migration:
    """One step of the store's schema: the version it brings the store to, and how."""

    version: int
    description: str
    apply: Callable[[sqlite3.Connection], None]


MIGRATIONS: list[Migration] = []


def migration(
    version: int, description: str
) -> Callable[[Callable[[sqlite3.Connection], None]], Callable[[sqlite3.Connection], None]]:
    """Register a migration; versions must be consecutive from 1."""

    def register(fn: Callable[[sqlite3.Connection], None]) -> Callable[[sqlite3.Connection], None]:
        expected = len(MIGRATIONS) + 1
        if version != expected:
            raise RuntimeError(f"migration {version} registered out of order (expected {expected})")
        MIGRATIONS.append(Migration(version, description, fn))
        return fn

    return register


def latest_version() -> int:
    return len(MIGRATIONS)


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run several statements inside the caller's transaction.

    sqlite3's executescript() would commit the open transaction first, which would leave a
    half-applied migration behind after a crash. sqlite-utils' executescript() does not, but it
    splits a script character by character (14 ms for the first step's, against 0.1 ms here)
    and would load sqlite-utils when a new store is first opened.
    """
    pending = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            conn.execute(pending)
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:60]}")


# The steps are plain SQL: sqlite-utils' create_table() cannot write CHECK constraints, partial
# indexes, triggers or the search table (prefix indexes, UNINDEXED columns), and these texts are
# history now (an upgraded store must end with the same schema as a new one). A later step may
# reshape a table with sqlite_utils.Database(conn).table(name).transform(), which joins the
# step's transaction as a savepoint; it drops the table's triggers, and it refuses to rename or
# drop columns while the table has a partial index, so such a step re-creates those itself.
@migration(1, "households, members, visits, pledges, outbox, search index")
def _initial(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE household (
            id TEXT PRIMARY KEY,
            province_code TEXT NOT NULL,
            commune_code TEXT NOT NULL,
            village TEXT NOT NULL,
            head_name TEXT NOT NULL,
            address TEXT NOT NULL DEFAULT '',
            phone TEXT,
            groups TEXT NOT NULL DEFAULT '[]',
            best_months TEXT NOT NULL DEFAULT '[]',
            notes TEXT NOT NULL DEFAULT '',
            import_key TEXT UNIQUE,
            clocks TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX household_village ON household (commune_code, village);
        CREATE TABLE member (
            id TEXT PRIMARY KEY,
            household_id TEXT NOT NULL REFERENCES household (id),
            full_name TEXT NOT NULL,
            sort_key TEXT NOT NULL,
            date_of_birth TEXT,
            sex TEXT CHECK (sex IN ('male', 'female')),
            relation TEXT NOT NULL DEFAULT '',
            cccd TEXT,
            bhxh_code TEXT,
            ethnicity TEXT NOT NULL DEFAULT '',
            bhyt_card TEXT,
            bhyt_expiry TEXT,
            covered_by TEXT,
            bhxh_status TEXT NOT NULL DEFAULT '',
            removed INTEGER NOT NULL DEFAULT 0,
            warnings TEXT NOT NULL DEFAULT '[]',
            import_key TEXT UNIQUE,
            clocks TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX member_household ON member (household_id);
        CREATE INDEX member_sort ON member (sort_key);
        CREATE INDEX member_cccd ON member (cccd) WHERE cccd IS NOT NULL;
        CREATE TABLE visit (
            id TEXT PRIMARY KEY,
            household_id TEXT NOT NULL REFERENCES household (id),
            agent_id TEXT NOT NULL,
            at TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (
                outcome IN ('not_home', 'consulted', 'pledged', 'refused', 'paid', 'follow_up')
            ),
            topics TEXT NOT NULL DEFAULT '[]',
            materials TEXT NOT NULL DEFAULT '[]',
            next_visit TEXT,
            notes TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX visit_household ON visit (household_id, at);
        CREATE TABLE pledge (
            id TEXT PRIMARY KEY,
            household_id TEXT NOT NULL REFERENCES household (id),
            member_id TEXT NOT NULL REFERENCES member (id),
            scheme TEXT NOT NULL CHECK (scheme IN ('bhyt_household', 'bhxh_voluntary')),
            params TEXT NOT NULL,
            gross INTEGER NOT NULL CHECK (gross >= 0),
            central_support INTEGER NOT NULL CHECK (central_support >= 0),
            local_support INTEGER NOT NULL CHECK (local_support >= 0),
            payable INTEGER NOT NULL CHECK (payable >= 0),
            policy_version TEXT NOT NULL,
            start_date TEXT NOT NULL,
            due_date TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX pledge_member ON pledge (member_id);
        CREATE INDEX pledge_household ON pledge (household_id);
        CREATE TABLE pledge_event (
            id TEXT PRIMARY KEY,
            pledge_id TEXT NOT NULL REFERENCES pledge (id),
            status TEXT NOT NULL CHECK (status IN ('pledged', 'paid', 'cancelled')),
            at TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            receipt_id TEXT
        );
        CREATE INDEX pledge_event_pledge ON pledge_event (pledge_id, at);
        -- The change log, written in the same transaction as every change it describes.
        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('insert', 'update')),
            hlc TEXT NOT NULL,
            data TEXT NOT NULL,
            base TEXT,
            created_at TEXT NOT NULL,
            batch_id TEXT,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'acked', 'refused')),
            refusal TEXT
        );
        CREATE INDEX outbox_pending ON outbox (seq) WHERE state = 'pending';
        CREATE INDEX outbox_refused ON outbox (seq) WHERE state = 'refused';
        -- Folded text (no tone marks, đ → d, lower case) so typing without diacritics finds names.
        CREATE VIRTUAL TABLE search_index USING fts5 (
            body,
            member_id UNINDEXED,
            household_id UNINDEXED,
            tokenize = "unicode61 remove_diacritics 2",
            prefix = '2 3 4'
        );
        """,
    )


@migration(2, "receipt books and receipts; sync state pulled from the provincial server")
def _receipts_and_sync(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE receipt_book (
            id TEXT PRIMARY KEY,
            series TEXT NOT NULL,
            first_number INTEGER NOT NULL CHECK (first_number >= 1),
            last_number INTEGER NOT NULL CHECK (last_number >= first_number),
            next_number INTEGER NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('manual', 'server')),
            created_at TEXT NOT NULL,
            CHECK (next_number BETWEEN first_number AND last_number + 1)
        );
        CREATE UNIQUE INDEX receipt_book_range ON receipt_book (series, first_number);
        CREATE TABLE receipt (
            id TEXT PRIMARY KEY,
            book_id TEXT NOT NULL REFERENCES receipt_book (id),
            series TEXT NOT NULL,
            number INTEGER NOT NULL,
            payer_name TEXT NOT NULL,
            payer_bhxh_code TEXT,
            payer_address TEXT NOT NULL DEFAULT '',
            household_id TEXT NOT NULL REFERENCES household (id),
            pledge_ids TEXT NOT NULL,
            amount INTEGER NOT NULL CHECK (amount > 0),
            description TEXT NOT NULL,
            period_from TEXT NOT NULL,
            period_to TEXT NOT NULL,
            issued_at TEXT NOT NULL,
            issued_by TEXT NOT NULL,
            verification_code TEXT NOT NULL,
            qr_payload TEXT NOT NULL,
            UNIQUE (series, number)
        );
        CREATE INDEX receipt_household ON receipt (household_id);
        CREATE TABLE receipt_void (
            id TEXT PRIMARY KEY,
            receipt_id TEXT NOT NULL UNIQUE REFERENCES receipt (id),
            reason TEXT NOT NULL,
            at TEXT NOT NULL
        );
        -- Local only: each print of a receipt; every print after the first is a copy.
        CREATE TABLE receipt_print (
            id INTEGER PRIMARY KEY,
            receipt_id TEXT NOT NULL REFERENCES receipt (id),
            at TEXT NOT NULL,
            copy INTEGER NOT NULL
        );
        CREATE TABLE assignment (
            commune_code TEXT PRIMARY KEY,
            province_code TEXT NOT NULL DEFAULT '',
            name TEXT NOT NULL DEFAULT '',
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE target (
            id TEXT PRIMARY KEY,
            scheme TEXT NOT NULL,
            month TEXT NOT NULL,
            count INTEGER NOT NULL,
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE policy_document (
            version TEXT PRIMARY KEY,
            document TEXT NOT NULL,
            received_at TEXT NOT NULL
        );
        CREATE TABLE sync_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            ok INTEGER NOT NULL,
            sent INTEGER NOT NULL DEFAULT 0,
            accepted INTEGER NOT NULL DEFAULT 0,
            refused INTEGER NOT NULL DEFAULT 0,
            pulled INTEGER NOT NULL DEFAULT 0,
            message TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX outbox_batch ON outbox (batch_id) WHERE batch_id IS NOT NULL;
        """,
    )


@migration(3, "cash handed over at the end of the day (local only, append-only)")
def _cash_handover(conn: sqlite3.Connection) -> None:
    # A correction is a new row; the latest row (highest seq) of a day and scheme counts.
    # seq gives that order even when two rows share a timestamp; id is a UUIDv7 like every
    # other record, ready for when the provincial server learns this entity.
    run_script(
        conn,
        """
        CREATE TABLE cash_handover (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            day TEXT NOT NULL,
            scheme TEXT NOT NULL CHECK (scheme IN ('all', 'bhyt_household', 'bhxh_voluntary')),
            expected INTEGER NOT NULL CHECK (expected >= 0),
            handed_over INTEGER NOT NULL CHECK (handed_over >= 0),
            difference INTEGER NOT NULL CHECK (difference = handed_over - expected),
            reason TEXT NOT NULL DEFAULT '',
            at TEXT NOT NULL,
            CHECK (difference = 0 OR reason <> '')
        );
        CREATE INDEX cash_handover_day ON cash_handover (day, scheme, seq);
        CREATE TRIGGER cash_handover_no_update BEFORE UPDATE ON cash_handover
        BEGIN SELECT RAISE(ABORT, 'cash_handover is append-only'); END;
        CREATE TRIGGER cash_handover_no_delete BEFORE DELETE ON cash_handover
        BEGIN SELECT RAISE(ABORT, 'cash_handover is append-only'); END;
        """,
    )


@migration(4, "an indexed map from households to their search rows")
def _search_rows(conn: sqlite3.Connection) -> None:
    # FTS5 cannot index its UNINDEXED columns, so finding a household's rows meant reading the
    # whole index on every change. This table maps each search row (same rowid) to its
    # household through an ordinary index.
    run_script(
        conn,
        """
        CREATE TABLE search_row (
            id INTEGER PRIMARY KEY,
            household_id TEXT NOT NULL,
            member_id TEXT
        );
        CREATE INDEX search_row_household ON search_row (household_id);
        INSERT INTO search_row (id, household_id, member_id)
            SELECT rowid, household_id, member_id FROM search_index;
        """,
    )


@migration(5, "cash handovers become synced facts: earlier handovers join the outbox")
def _handover_outbox(conn: sqlite3.Connection) -> None:
    # Until this version cash handovers stayed on the laptop and had no outbox row. From now
    # on each one is written with its outbox row, like a visit. The rows recorded before are
    # enqueued here, in this migration's transaction, so the province receives every handover
    # ever made: a store that migrates either has all of them queued or none (and stays at
    # version 4). Their clock stamps come after every stamp this store has written or seen,
    # which keeps the newest outbox row the one with the largest stamp; created_at is the
    # handover's own time, since a migration has no clock to read.
    rows = conn.execute(
        "SELECT id, day, scheme, expected, handed_over, difference, reason, at "
        "FROM cash_handover h WHERE NOT EXISTS "
        "(SELECT 1 FROM outbox o WHERE o.entity = 'cash_handover' AND o.entity_id = h.id) "
        "ORDER BY seq"
    ).fetchall()
    if not rows:
        return
    clock = _outbox_clock(conn, max(_unix_ms(r[7]) for r in rows))
    for id_, day, scheme, expected, handed_over, difference, reason, at in rows:
        data = {
            "id": id_,
            "day": day,
            "scheme": scheme,
            "expected": int(expected),
            "handed_over": int(handed_over),
            "difference": int(difference),
            "reason": reason,
            "at": at,
        }
        conn.execute(
            "INSERT INTO outbox (entity, entity_id, op, hlc, data, created_at) "
            "VALUES ('cash_handover', ?, 'insert', ?, ?, ?)",
            (
                id_,
                clock.tick(_unix_ms(at)),
                json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True),
                at,
            ),
        )


def _outbox_clock(conn: sqlite3.Connection, latest_ms: int) -> HybridClock:
    """A clock for outbox rows a migration enqueues: its stamps come after every stamp this
    store has written or seen, so the newest outbox row keeps the largest stamp."""
    device_id = _meta(conn, "device_id")
    if device_id is None:
        # Not expected (a store gets its device id when it is first opened), but a record
        # must not be lost for it: mint the id the store would have, from the records' time.
        device_id = uuid7(FixedClock(dt.datetime.fromtimestamp(latest_ms / 1000, dt.UTC)))
        conn.execute("INSERT INTO meta (key, value) VALUES ('device_id', ?)", (device_id,))
    clock = HybridClock(device_id)
    newest = conn.execute("SELECT hlc FROM outbox ORDER BY seq DESC LIMIT 1").fetchone()
    for known in (_meta(conn, "hlc_seen"), None if newest is None else str(newest[0])):
        if known:
            clock.observe(known)
    return clock


def _unix_ms(stamp: object) -> int:
    """A stored UTC timestamp as Unix milliseconds; 0 when it cannot be read.

    An unreadable time must not keep the store from opening: the stamp then simply follows
    the newest one, and the server refuses the record with a reason the agent sees.
    """
    try:
        moment = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            return 0
        return max(int(moment.timestamp() * 1000), 0)
    except (ValueError, OverflowError):
        return 0


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


@migration(6, "households that moved to a commune this laptop does not serve")
def _moved_households(conn: sqlite3.Connection) -> None:
    # Local only: the commune a household moved to, learnt from the province. The household
    # stays (its visits, pledges and receipts are facts of this laptop) but leaves the lists
    # and the search; a later change of it from the province, back in scope, clears this.
    conn.execute("ALTER TABLE household ADD COLUMN moved_to TEXT")


@migration(7, "an index of the households still in this laptop's communes")
def _households_here_index(conn: sqlite3.Connection) -> None:
    # The village list, the counts on the start screen and a village's households all ask
    # for households "WHERE moved_to IS NULL"; without this partial index each of them scans
    # the whole table (12 ms at 25,000 households instead of 1 ms).
    conn.execute("CREATE INDEX household_here ON household (village) WHERE moved_to IS NULL")


@migration(8, "each member's BHYT group, card dates and BHXH state; re-quoted pledges")
def _participation(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        ALTER TABLE member ADD COLUMN bhyt_group TEXT;
        ALTER TABLE member ADD COLUMN bhyt_valid_from TEXT;
        ALTER TABLE member ADD COLUMN bhxh_participating INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE member ADD COLUMN bhxh_income INTEGER;
        ALTER TABLE member ADD COLUMN bhxh_paid_through TEXT;
        ALTER TABLE member ADD COLUMN bhxh_supported_months INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE member ADD COLUMN old_id TEXT;
        -- A status event may now say a pledge was re-quoted; a CHECK cannot be altered, so
        -- the table is rebuilt with its rows and index.
        CREATE TABLE pledge_event_new (
            id TEXT PRIMARY KEY,
            pledge_id TEXT NOT NULL REFERENCES pledge (id),
            status TEXT NOT NULL
                CHECK (status IN ('pledged', 'paid', 'cancelled', 'superseded')),
            at TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            receipt_id TEXT
        );
        INSERT INTO pledge_event_new (id, pledge_id, status, at, reason, receipt_id)
            SELECT id, pledge_id, status, at, reason, receipt_id FROM pledge_event ORDER BY rowid;
        DROP TABLE pledge_event;
        ALTER TABLE pledge_event_new RENAME TO pledge_event;
        CREATE INDEX pledge_event_pledge ON pledge_event (pledge_id, at);
        -- Local only: what a payment changed on its member (card dates, BHXH months), so
        -- that voiding the receipt can put the member's values back.
        CREATE TABLE payment_effect (
            receipt_id TEXT NOT NULL REFERENCES receipt (id),
            pledge_id TEXT NOT NULL REFERENCES pledge (id),
            member_id TEXT NOT NULL REFERENCES member (id),
            before TEXT NOT NULL,
            PRIMARY KEY (receipt_id, pledge_id)
        );
        """,
    )
    _fill_participation(conn)


def _fill_participation(conn: sqlite3.Connection) -> None:
    """Fill the new fields from what the store already knows, for this laptop's own use.

    The BHYT group from the card's prefix or the old free-text "covered by"; the card's
    period, where no expiry was recorded, from the last paid BHYT pledge (what its receipt
    printed); the BHXH state from the paid BHXH pledges (each supported month was counted,
    since no cap was applied before). These are local readings of synced facts: they are not
    queued, and the next edit or payment of the member sends them.
    """
    from fieldapp.participation import group_from_card, group_from_text
    from fieldapp.periods import period_end

    for member_id, card, covered_by in conn.execute(
        "SELECT id, bhyt_card, covered_by FROM member"
    ).fetchall():
        group = group_from_card(card)
        if group is None and covered_by and str(covered_by).strip():
            group = group_from_text(covered_by) or "other_covered"
        if group is not None:
            conn.execute("UPDATE member SET bhyt_group = ? WHERE id = ?", (group, member_id))
    paid = (
        "SELECT p.member_id, p.scheme, p.params, p.start_date, p.central_support "
        "FROM pledge p JOIN pledge_event e ON e.pledge_id = p.id AND e.status = 'paid' "
        "ORDER BY p.start_date, p.created_at"
    )
    bhxh: dict[str, dict[str, object]] = {}
    for member_id, scheme, params_text, start_text, central in conn.execute(paid).fetchall():
        try:
            params = json.loads(params_text)
            months = int(params["months"])
            start = dt.date.fromisoformat(start_text)
        except (ValueError, KeyError, TypeError):
            continue
        end = period_end(start, months)
        if scheme == "bhyt_household":
            conn.execute(
                "UPDATE member SET bhyt_valid_from = ?, bhyt_expiry = ? "
                "WHERE id = ? AND (bhyt_expiry IS NULL OR bhyt_expiry <= ?)",
                (start.isoformat(), end.isoformat(), member_id, end.isoformat()),
            )
            continue
        state = bhxh.setdefault(member_id, {"supported": 0})
        state["income"] = params.get("income")
        state["paid_through"] = end.isoformat()
        if int(central) > 0 and params.get("mode", "periodic") != "back_payment":
            state["supported"] = int(str(state["supported"])) + months
    for member_id, state in bhxh.items():
        income = state.get("income")
        conn.execute(
            "UPDATE member SET bhxh_participating = 1, bhxh_income = ?, bhxh_paid_through = ?, "
            "bhxh_supported_months = ? WHERE id = ?",
            (
                income if isinstance(income, int) else None,
                state["paid_through"],
                state["supported"],
                member_id,
            ),
        )


@migration(
    9, "members' own phone numbers; the commune's coverage day by day; card and BHXH ends indexed"
)
def _coverage(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        ALTER TABLE member ADD COLUMN phone TEXT;
        -- Local only: each village's coverage counts as first computed on a day, so the month's
        -- change ("+12 since 1 December") compares what was seen then with what is seen now
        -- (a renewed card's new dates say nothing about the days before it).
        CREATE TABLE coverage_day (
            day TEXT NOT NULL,
            village TEXT NOT NULL,
            residents INTEGER NOT NULL,
            insured INTEGER NOT NULL,
            PRIMARY KEY (day, village)
        );
        -- Renewals ask for the cards ending around a day, Today for the BHXH periods ending
        -- this month.
        CREATE INDEX member_card_end ON member (bhyt_expiry) WHERE removed = 0;
        CREATE INDEX member_bhxh_end ON member (bhxh_paid_through)
            WHERE removed = 0 AND bhxh_participating = 1;
        """,
    )


# SQL condition: the outbox row (columns entity, entity_id, data) is a change to a demo
# household or to something hanging on it. Each entity names its household as it does on the
# wire: the household itself, a household_id field, or the pledge or receipt it belongs to.
_DEMO_OUTBOX_ROW = """
    (entity = 'household' AND entity_id IN (SELECT id FROM household WHERE demo = 1))
    OR (entity IN ('member', 'visit', 'pledge', 'receipt')
        AND json_extract(data, '$.household_id') IN (SELECT id FROM household WHERE demo = 1))
    OR (entity = 'pledge_event' AND json_extract(data, '$.pledge_id') IN (
        SELECT p.id FROM pledge p JOIN household h ON h.id = p.household_id WHERE h.demo = 1))
    OR (entity = 'receipt_void' AND json_extract(data, '$.receipt_id') IN (
        SELECT r.id FROM receipt r JOIN household h ON h.id = r.household_id WHERE h.demo = 1))
"""


# What `fieldapp demo` and "Tạo xã mẫu" gave every household before demo data was marked as
# such (fieldapp.demo): the demo commune's code, outside the range of real codes, and an
# address ending in the demo commune's name.
_DEMO_COMMUNE = "99001"
_DEMO_ADDRESS = "%, Xã Bản Mẫu (dữ liệu mẫu)"


@migration(10, "demo households are marked, and their changes stay on this laptop")
def _demo_data(conn: sqlite3.Connection) -> None:
    # An outbox row may now be 'local': a change to demo data, kept here and never sent. A
    # CHECK cannot be altered, so the table is rebuilt with its rows, indexes and sequence
    # (the next change must not reuse the number of a row sent before).
    sequence = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    run_script(
        conn,
        """
        ALTER TABLE household ADD COLUMN demo INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE outbox_new (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('insert', 'update')),
            hlc TEXT NOT NULL,
            data TEXT NOT NULL,
            base TEXT,
            created_at TEXT NOT NULL,
            batch_id TEXT,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'acked', 'refused', 'local')),
            refusal TEXT
        );
        INSERT INTO outbox_new (seq, entity, entity_id, op, hlc, data, base, created_at,
                batch_id, state, refusal)
            SELECT seq, entity, entity_id, op, hlc, data, base, created_at, batch_id, state,
                refusal
            FROM outbox ORDER BY seq;
        DROP TABLE outbox;
        ALTER TABLE outbox_new RENAME TO outbox;
        CREATE INDEX outbox_pending ON outbox (seq) WHERE state = 'pending';
        CREATE INDEX outbox_refused ON outbox (seq) WHERE state = 'refused';
        CREATE INDEX outbox_batch ON outbox (batch_id) WHERE batch_id IS NOT NULL;
        -- A sync counts the changes it kept back.
        CREATE INDEX outbox_local ON outbox (seq) WHERE state = 'local';
        """,
    )
    if sequence is not None:
        kept = conn.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'outbox'", (sequence[0],)
        ).rowcount
        if not kept:  # every row had been deleted: the copy left no sequence behind
            conn.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (sequence[0],)
            )
    conn.execute(
        "UPDATE household SET demo = 1 WHERE commune_code = ? AND address LIKE ?",
        (_DEMO_COMMUNE, _DEMO_ADDRESS),
    )
    # What the demo made and has not been sent yet stays here from now on.
    conn.execute(
        f"UPDATE outbox SET state = 'local', batch_id = NULL "
        f"WHERE state = 'pending' AND ({_DEMO_OUTBOX_ROW})"
    )


@migration(11, "work stamped again for the enrolled agent, and refused changes set aside")
def _refusal_actions(conn: sqlite3.Connection) -> None:
    # An outbox row may now be 'discarded': a refused change the agent chose not to send, with
    # the reason kept in outbox_discard. The table is rebuilt as in version 10 (a CHECK cannot
    # be altered), keeping its rows, indexes and sequence.
    sequence = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    run_script(
        conn,
        """
        CREATE TABLE outbox_new (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('insert', 'update')),
            hlc TEXT NOT NULL,
            data TEXT NOT NULL,
            base TEXT,
            created_at TEXT NOT NULL,
            batch_id TEXT,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'acked', 'refused', 'local', 'discarded')),
            refusal TEXT
        );
        INSERT INTO outbox_new (seq, entity, entity_id, op, hlc, data, base, created_at,
                batch_id, state, refusal)
            SELECT seq, entity, entity_id, op, hlc, data, base, created_at, batch_id, state,
                refusal
            FROM outbox ORDER BY seq;
        DROP TABLE outbox;
        ALTER TABLE outbox_new RENAME TO outbox;
        CREATE INDEX outbox_pending ON outbox (seq) WHERE state = 'pending';
        CREATE INDEX outbox_refused ON outbox (seq) WHERE state = 'refused';
        CREATE INDEX outbox_batch ON outbox (batch_id) WHERE batch_id IS NOT NULL;
        CREATE INDEX outbox_local ON outbox (seq) WHERE state = 'local';
        -- Every record of this laptop's own work given the enrolled agent instead of the one
        -- it carried (the laptop's own id before enrolment): never a silent rewrite.
        CREATE TABLE restamp (
            id INTEGER PRIMARY KEY,
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            field TEXT NOT NULL,
            old_agent TEXT NOT NULL,
            new_agent TEXT NOT NULL,
            outbox_seq INTEGER REFERENCES outbox (seq),
            cause TEXT NOT NULL CHECK (cause IN ('enrolment', 'refusal_action')),
            at TEXT NOT NULL
        );
        CREATE INDEX restamp_entity ON restamp (entity, entity_id);
        -- A refused change the agent chose not to send: why, and the refusal it answered.
        CREATE TABLE outbox_discard (
            seq INTEGER PRIMARY KEY REFERENCES outbox (seq),
            reason TEXT NOT NULL CHECK (reason <> ''),
            refusal TEXT,
            at TEXT NOT NULL
        );
        -- Other answers to a refusal (a household moved to an assigned commune), for the log.
        CREATE TABLE refusal_action (
            id INTEGER PRIMARY KEY,
            action TEXT NOT NULL,
            outbox_seq INTEGER NOT NULL REFERENCES outbox (seq),
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}',
            at TEXT NOT NULL
        );
        """,
    )
    if sequence is not None:
        kept = conn.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'outbox'", (sequence[0],)
        ).rowcount
        if not kept:
            conn.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (sequence[0],)
            )


@migration(
    12, "receipt books entered by hand are sent to the province: earlier ones join the outbox"
)
def _hand_book_outbox(conn: sqlite3.Connection) -> None:
    # From this version a book entered by hand is written with its outbox row, and the
    # province takes it as the agent's own book. Books entered before are enqueued here, in
    # this migration's transaction, as cash handovers were in version 5. They come after
    # receipts from them already in the outbox: the server takes the books of a batch before
    # its other records.
    rows = conn.execute(
        "SELECT id, series, first_number, last_number, created_at FROM receipt_book b "
        "WHERE source = 'manual' AND NOT EXISTS "
        "(SELECT 1 FROM outbox o WHERE o.entity = 'receipt_book' AND o.entity_id = b.id) "
        "ORDER BY created_at, series, first_number"
    ).fetchall()
    if not rows:
        return
    clock = _outbox_clock(conn, max(_unix_ms(r[4]) for r in rows))
    for id_, series, first, last, created_at in rows:
        data = {"id": id_, "series": series, "first": int(first), "last": int(last)}
        conn.execute(
            "INSERT INTO outbox (entity, entity_id, op, hlc, data, created_at) "
            "VALUES ('receipt_book', ?, 'insert', ?, ?, ?)",
            (
                id_,
                clock.tick(_unix_ms(created_at)),
                json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True),
                created_at,
            ),
        )


@migration(13, "an index of visits by time")
def _visits_by_time(conn: sqlite3.Connection) -> None:
    # Today lists the latest visits and the day's report counts a day's visits; without this
    # each of them scans and sorts every visit (6 ms at 25,000 visits on Today's first screen,
    # and the visits only grow).
    conn.execute("CREATE INDEX visit_at ON visit (at, id)")


@migration(14, "renewals read in their order from the card-end index")
def _card_end_in_order(conn: sqlite3.Connection) -> None:
    # The renewal list is ordered by card end, then name and id. With the card end alone in
    # the index, SQLite sorted each day's cards before giving the first of them: 4-7 ms of
    # Today's first read on a 200,000-member store, in every start. With the name and id in
    # the index the rows come in order as they are read (under 1 ms for the first screen).
    conn.execute("DROP INDEX member_card_end")
    conn.execute(
        "CREATE INDEX member_card_end ON member (bhyt_expiry, full_name, id) WHERE removed = 0"
    )
