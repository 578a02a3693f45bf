"""Store version 11: a store written by version 10 keeps every outbox row and its numbering, and
gains the re-stamp log and discarded changes; re-stamping never touches another agent's work."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldapp import migrations, refusals
from fieldapp.store import STORE_FILENAME, Store, dumps
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock
from tests.fieldapp.conftest import NOW
from tests.fieldapp.samples import new_household


def test_a_version_10_store_keeps_its_outbox_and_numbering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows in every state survive the rebuild as they were; the next row is numbered after
    the highest number ever used, even one pruned off the end."""
    path = tmp_path / STORE_FILENAME
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:10])
        old = Store(path, clock=FixedClock(NOW))
        refusal = dumps({"code": "agent_mismatch", "vi": "x", "en": "x"})
        with old.transaction() as conn:
            for seq, state, why in (
                (1, "acked", None),
                (2, "refused", refusal),
                (3, "local", None),
                (4, "pending", None),
                (9, "acked", None),
            ):
                conn.execute(
                    "INSERT INTO outbox (seq, entity, entity_id, op, hlc, data, created_at, "
                    "batch_id, state, refusal) VALUES (?, 'visit', ?, 'insert', ?, '{}', 'now', "
                    "?, ?, ?)",
                    (seq, f"v{seq}", old.tick(), "b" if state == "pending" else None, state, why),
                )
            conn.execute("DELETE FROM outbox WHERE seq = 9")
        before = old.query("SELECT * FROM outbox ORDER BY seq")
        old.close()

    store = Store(path, clock=FixedClock(NOW))
    try:
        assert store.schema_version == migrations.latest_version() >= 11
        after = store.query("SELECT * FROM outbox ORDER BY seq")
        assert [tuple(r) for r in after] == [tuple(r) for r in before]
        with store.transaction():
            seq = store.append_outbox(
                entity="visit", entity_id="v10", op="insert", hlc=store.tick(), data={}
            )
        assert seq == 10
        assert store.scalar("SELECT count(*) FROM restamp") == 0
        assert store.scalar("SELECT count(*) FROM outbox_discard") == 0
    finally:
        store.close()


def test_restamp_takes_only_this_laptops_own_unsent_work(tmp_path: Path) -> None:
    """Before enrolment nothing is re-stamped; after it, a pending visit under the laptop's own
    id is, an accepted one and another agent's are not, and each change is logged once."""
    with Workspace.open(tmp_path, clock=FixedClock(NOW)) as ws:
        home = new_household(ws, commune_code="04001", province_code="04").id
        own = ws.visits.record(home, outcome="consulted")
        sent = ws.visits.record(home, outcome="not_home")
        ws.store.conn.execute("UPDATE outbox SET state = 'acked' WHERE entity_id = ?", (sent.id,))
        assert refusals.restamp_own_work(ws.store) == []  # not enrolled: nothing to give
        ws.store.set_meta("agent_id", "0192f000-0000-7000-8000-00000000000a")
        theirs = ws.visits.record(home, outcome="refused")
        ws.store.set_meta("agent_id", "0192f000-0000-7000-8000-00000000000b")

        done = refusals.restamp_own_work(ws.store)
        assert [(r.entity_id, r.new_agent) for r in done] == [
            (own.id, "0192f000-0000-7000-8000-00000000000b")
        ]
        agents = dict(ws.store.query("SELECT id, agent_id FROM visit"))
        assert agents[sent.id] == ws.store.device_id  # accepted already: left as sent
        assert agents[theirs.id] == "0192f000-0000-7000-8000-00000000000a"
        assert refusals.restamp_own_work(ws.store) == []  # done once
        assert len(refusals.restamps(ws.store)) == 1
