"""Checkpoints of the server's SQLite write-ahead log, on a thread of their own.

In WAL mode SQLite appends each commit to the -wal file and copies the pages back into the
database file at a checkpoint. By default the connection whose commit takes the log past
1,000 pages does that copy (and its fsyncs) before its commit returns: on an upload of
20,000 records that was about a tenth of the time the laptop waited for its acks.

While the server runs, a thread of its own checkpoints right after each applied batch (and
once a second anyway), next to the requests instead of inside them. The request connections
keep a checkpoint of their own only as a safety net, if the log ever passes SAFETY_PAGES
(the thread stopped or could not keep up). Checkpoints are PASSIVE: they copy what no reader
still needs and never wait for, or block, a reader or a writer.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# Pages (4 KiB each) the log may reach before a committing connection checkpoints itself.
SAFETY_PAGES = 10_000
# Seconds between checkpoints when nothing asks for one sooner.
INTERVAL = 1.0


def database_file(engine: Engine) -> str | None:
    """The file of a SQLite engine; None for another database or SQLite in memory."""
    if engine.dialect.name != "sqlite":
        return None
    name = engine.url.database
    if not name or name == ":memory:" or name.startswith("file::memory:"):
        return None
    return name


class WalCheckpointer:
    """Checkpoints one SQLite database's write-ahead log on a daemon thread (see above)."""

    def __init__(self, engine: Engine, path: str, *, interval: float = INTERVAL) -> None:
        self._engine = engine
        self._path = path
        self._interval = interval
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.checkpoints = 0

    @classmethod
    def start_for(cls, engine: Engine, *, interval: float = INTERVAL) -> WalCheckpointer | None:
        """A running checkpointer for a SQLite file engine; None for any other engine."""
        path = database_file(engine)
        if path is None:
            return None
        checkpointer = cls(engine, path, interval=interval)
        checkpointer.start()
        return checkpointer

    def start(self) -> None:
        event.listen(self._engine, "connect", _raise_autocheckpoint)
        # Connections already pooled (the migration's) were made before the listener.
        self._engine.dispose()
        self._thread = threading.Thread(
            target=self._run, name="fieldapp-wal-checkpoint", daemon=True
        )
        self._thread.start()

    def soon(self) -> None:
        """Ask for a checkpoint now (a batch was just committed)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the checkpoint under way, then stop; connections opened afterwards
        checkpoint themselves again."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if event.contains(self._engine, "connect", _raise_autocheckpoint):
            event.remove(self._engine, "connect", _raise_autocheckpoint)
        self._engine.dispose()

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            log.exception("WAL checkpoints: cannot open %s; commits do them", self._path)
            return
        try:
            connection.execute("PRAGMA synchronous = NORMAL")
            while not self._stopping:
                self._wake.wait(self._interval)
                self._wake.clear()
                self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            busy, pages, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            # A full disk, a file gone: the requests meet it too and answer for it; this
            # thread only tries again at the next wake.
            log.warning("WAL checkpoint failed", exc_info=True)
            return
        self.checkpoints += 1
        if pages > SAFETY_PAGES:
            log.info("WAL checkpoint: %d of %d pages copied (busy %d)", copied, pages, busy)


def _raise_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_PAGES:d}")
    cursor.close()
