"""Kill trials: run capture workers against the real server, SIGKILL them, check what is left.

Plain Python and the standard library only: the server and the laptops run as separate
processes, and every check reads their SQLite files directly, so nothing here shares code with
what it checks. Used by tests/trials/test_kill_trials.py and scripts/kill_trials.py.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("capture_worker.py")
STORE = "fieldapp.sqlite3"
SERVER_DB = "server.sqlite3"

# Local table of each synced entity, and the server table holding it.
LOCAL_TABLES = {
    "household": "household",
    "member": "member",
    "visit": "visit",
    "pledge": "pledge",
    "pledge_event": "pledge_event",
    "receipt": "receipt",
    "receipt_void": "receipt_void",
}
SERVER_TABLES = {
    "household": "households",
    "member": "members",
    "visit": "visits",
    "pledge": "pledges",
    "pledge_event": "pledge_events",
    "receipt": "receipts",
    "receipt_void": "receipt_voids",
}
# Journal words naming one committed record each, and the table it must be in.
JOURNALLED = {
    "household": "household",
    "member": "member",
    "visit": "visit",
    "pledge": "pledge",
    "receipt": "receipt",
}
WATCHDOG_SECONDS = 60.0
# A kill comes after up to this many journal lines, then up to this long into the next work.
LINES_BEFORE_KILL = 40
JITTER_SECONDS = 0.1


class TrialError(Exception):
    """The trial machinery itself failed (a server that would not start, a setup command)."""


def _python() -> str:
    return sys.executable


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("FIELDAPP_LANG", "en")
    return env


def _run(command: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a command from the source tree with the trials' environment; its output as text."""
    return subprocess.run(
        command, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=timeout
    )


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_only(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


# -- the server ---------------------------------------------------------------------------------


@dataclass
class TrialServer:
    """The provincial server as its own process (`fieldapp-server run`) over a SQLite file."""

    folder: Path
    base_url: str
    process: subprocess.Popen[bytes]
    laptops_made: int = 0

    def next_laptop_index(self) -> int:
        """A number of its own for each laptop: its commune code and receipt series."""
        self.laptops_made += 1
        return self.laptops_made

    @property
    def db_path(self) -> Path:
        return self.folder / SERVER_DB

    def admin(self, *args: str) -> str:
        """One `fieldapp-server` chore; its last line of output."""
        done = _run(
            [_python(), "-m", "sync.server.cli", "--data-dir", str(self.folder), *args], timeout=60
        )
        if done.returncode != 0:
            raise TrialError(f"fieldapp-server {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def running_server(folder: Path, *, env: dict[str, str] | None = None) -> Iterator[TrialServer]:
    """Start the server on a free loopback port; stop it at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = (folder / "server.log").open("ab")
    process = subprocess.Popen(
        [
            _python(),
            "-m",
            "sync.server.cli",
            "--data-dir",
            str(folder),
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**_env(), **(env or {})},
        cwd=ROOT,
    )
    server = TrialServer(folder, f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise TrialError(f"the server exited at start; see {folder / 'server.log'}")
            try:
                with urllib.request.urlopen(server.base_url + "/api/v1/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TrialError("the server did not answer within 30 s") from None
                time.sleep(0.05)
        yield server
    finally:
        server.stop()
        log.close()


# -- one laptop ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the trials did and found; failures lists each problem with its trial."""

    trials: int = 0
    kills: int = 0
    kills_before_ready: int = 0
    kills_with_batch_in_flight: int = 0
    operations: int = 0
    syncs_reported: int = 0
    store_checks: int = 0
    records_checked: int = 0
    server_checks: int = 0
    server_records_compared: int = 0
    operations_by_kind: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name in (
            "trials",
            "kills",
            "kills_before_ready",
            "kills_with_batch_in_flight",
            "operations",
            "syncs_reported",
            "store_checks",
            "records_checked",
            "server_checks",
            "server_records_compared",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.operations_by_kind.update(other.operations_by_kind)
        self.failures.extend(other.failures)

    def as_dict(self) -> dict[str, object]:
        return {
            "trials": self.trials,
            "kills": self.kills,
            "kills_before_ready": self.kills_before_ready,
            "kills_with_batch_in_flight": self.kills_with_batch_in_flight,
            "operations_committed": self.operations,
            "operations_by_kind": dict(sorted(self.operations_by_kind.items())),
            "syncs_completed": self.syncs_reported,
            "store_checks": self.store_checks,
            "records_checked": self.records_checked,
            "server_checks": self.server_checks,
            "server_records_compared": self.server_records_compared,
            "failures": len(self.failures),
        }


@dataclass
class Journal:
    """Everything the worker said it committed, across all the trials of one laptop."""

    ids: dict[str, set[str]] = field(default_factory=lambda: {t: set() for t in LOCAL_TABLES})
    receipts: dict[str, tuple[str, int]] = field(default_factory=dict)
    updates: list[tuple[str, str]] = field(default_factory=list)
    voided: set[str] = field(default_factory=set)
    cancelled: set[str] = field(default_factory=set)

    def take(self, lines: list[str], tally: Tally) -> None:
        for line in lines:
            words = line.split()
            if not words:
                continue
            kind = words[0]
            if kind == "sync":
                tally.syncs_reported += 1
                continue
            if kind in ("ready", "refused"):
                continue
            tally.operations += 1
            tally.operations_by_kind[kind] += 1
            if kind == "update":
                self.updates.append((words[1], words[2]))
            elif kind == "receipt":
                self.ids["receipt"].add(words[1])
                self.receipts[words[1]] = (words[2], int(words[3]))
            elif kind == "void":
                self.voided.add(words[1])
            elif kind == "cancel":
                self.cancelled.add(words[1])
            elif kind in JOURNALLED:
                self.ids[JOURNALLED[kind]].update(words[1:])
            else:
                tally.failures.append(f"unknown journal line {line!r}")


class Laptop:
    """One data folder enrolled with the server as one agent's device."""

    def __init__(self, server: TrialServer, folder: Path, index: int) -> None:
        self.server = server
        self.folder = folder
        self.index = index
        self.commune = f"{90000 + index:05d}"
        self.series = f"KT{index}/26"
        self.journal = Journal()
        self.counts: dict[str, int] = dict.fromkeys(LOCAL_TABLES, 0)
        self.device_id = ""
        self.stderr_log = folder.parent / f"{folder.name}.stderr.log"

    @property
    def store_path(self) -> Path:
        return self.folder / STORE

    def _worker(self, *args: str) -> list[str]:
        return [_python(), str(WORKER), str(self.folder), *args, "--server", self.server.base_url]

    def enrol(self) -> None:
        agent = self.server.admin(
            "agent", "add", f"Trial Agent {self.index}", "--commune", self.commune
        )
        self.server.admin(
            "receipt-book", "add", agent, "--series", self.series, "--from", "1", "--to", "99999"
        )
        code = self.server.admin("enrol-code", agent)
        done = _run([*self._worker("enrol"), "--code", code], timeout=120)
        if done.returncode != 0:
            raise TrialError(f"enrolment failed: {done.stdout}{done.stderr}")
        self.device_id = str(json.loads(done.stdout.strip().splitlines()[-1])["device_id"])

    def trial(self, rng: random.Random, tally: Tally) -> None:
        """Start the worker, kill it at a random moment, check the store it leaves."""
        tally.trials += 1
        with self.stderr_log.open("ab") as errors:
            process = subprocess.Popen(
                self._worker("capture", "--seed", str(rng.randrange(2**32))),
                stdout=subprocess.PIPE,
                stderr=errors,
                env=_env(),
                cwd=ROOT,
            )
        assert process.stdout is not None
        watchdog = threading.Timer(WATCHDOG_SECONDS, process.kill)
        watchdog.start()
        lines: list[str] = []
        try:
            if rng.random() < 0.1:
                # Some kills land while the app is still opening its store.
                time.sleep(rng.uniform(0.01, 0.25))
                tally.kills_before_ready += 1
            else:
                # The kill follows a random amount of work rather than a random time, so it lands
                # as deep into the day on a slow machine as on a fast one: after "ready" and a
                # random number of journal lines, then somewhere inside the next operations.
                for _ in range(1 + rng.randint(0, LINES_BEFORE_KILL)):
                    line = process.stdout.readline().decode()
                    if not line.endswith("\n"):
                        break  # the worker ended by itself; the check below reports it
                    lines.append(line)
                time.sleep(rng.uniform(0.0, JITTER_SECONDS))
            os.kill(process.pid, signal.SIGKILL)
            # Only whole lines: a kill can land while the worker's last line is half written
            # (its pipe buffer fills mid-line), and that line's record may not be committed.
            lines += process.stdout.read().decode(errors="replace").split("\n")[:-1]
            process.wait()
        finally:
            watchdog.cancel()
            process.stdout.close()
        tally.kills += 1
        if process.returncode != -signal.SIGKILL:
            tally.failures.append(
                f"laptop {self.index} trial {tally.trials}: the worker stopped by itself "
                f"(exit {process.returncode}); see {self.stderr_log}"
            )
        self.journal.take(lines, tally)
        problems = self.check_store(tally)
        tally.failures += [f"laptop {self.index} trial {tally.trials}: {p}" for p in problems]

    # -- checks on the laptop's store ---------------------------------------------------------

    def check_store(self, tally: Tally) -> list[str]:
        """Every invariant a killed laptop must keep; the list of what does not hold."""
        tally.store_checks += 1
        if not self.store_path.exists():
            return [] if not any(self.journal.ids.values()) else ["the store file is gone"]
        problems: list[str] = []
        with closing(_read_only(self.store_path)) as conn:
            if (
                conn.execute("SELECT name FROM sqlite_master WHERE name = 'receipt'").fetchone()
                is None
            ):
                return []  # killed before the first migration committed
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if integrity != "ok":
                problems.append(f"integrity_check: {integrity}")
            if conn.execute("PRAGMA foreign_key_check").fetchall():
                problems.append("foreign_key_check found rows pointing nowhere")
            problems += _half_written(conn)
            problems += _outbox_matches_records(conn)
            problems += _receipt_numbers(conn)
            problems += self._journal_in_store(conn)
            for entity, table in LOCAL_TABLES.items():
                n = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                if n < self.counts[entity]:
                    problems.append(f"{table}: {self.counts[entity]} rows before, {n} now")
                self.counts[entity] = n
                tally.records_checked += n
        return problems

    def _journal_in_store(self, conn: sqlite3.Connection) -> list[str]:
        problems = []
        for entity, ids in self.journal.ids.items():
            table = LOCAL_TABLES[entity]
            present = {r[0] for r in conn.execute(f"SELECT id FROM {table}")}
            lost = ids - present
            if lost:
                problems.append(
                    f"{len(lost)} {entity} reported committed are missing: {sorted(lost)[:3]}"
                )
        for receipt_id, (series, number) in self.journal.receipts.items():
            row = conn.execute(
                "SELECT series, number FROM receipt WHERE id = ?", (receipt_id,)
            ).fetchone()
            if row is not None and (row[0], row[1]) != (series, number):
                problems.append(f"receipt {receipt_id} was {series} {number}, is {tuple(row)}")
        voided = {r[0] for r in conn.execute("SELECT receipt_id FROM receipt_void")}
        if self.journal.voided - voided:
            problems.append(f"voids of receipts {sorted(self.journal.voided - voided)[:3]} lost")
        cancelled = {
            r[0]
            for r in conn.execute("SELECT pledge_id FROM pledge_event WHERE status = 'cancelled'")
        }
        if self.journal.cancelled - cancelled:
            problems.append(f"cancellations {sorted(self.journal.cancelled - cancelled)[:3]} lost")
        for household_id, phone in self.journal.updates:
            if not conn.execute(
                "SELECT 1 FROM outbox WHERE entity = 'household' AND entity_id = ? "
                "AND op = 'update' AND json_extract(data, '$.phone') = ?",
                (household_id, phone),
            ).fetchone():
                problems.append(f"the edit of household {household_id} to {phone} is lost")
        return problems

    def batch_in_flight(self) -> bool:
        """True when pending outbox rows carry a batch id: the kill came during an upload."""
        if not self.store_path.exists():
            return False
        with closing(_read_only(self.store_path)) as conn:
            try:
                row = conn.execute(
                    "SELECT 1 FROM outbox WHERE state = 'pending' AND batch_id IS NOT NULL LIMIT 1"
                ).fetchone()
            except sqlite3.OperationalError:
                return False
        return row is not None

    # -- a clean sync and the server's copy -----------------------------------------------------

    def check_server(self, tally: Tally) -> list[str]:
        """Sync cleanly, then the server must hold exactly this laptop's records, once each."""
        tally.server_checks += 1
        done = _run(self._worker("sync"), timeout=300)
        try:
            outcome = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            return [f"the clean sync crashed: {done.stderr.strip()[-800:]}"]
        if done.returncode != 0 or outcome["pending"] or outcome["refused"]:
            return [f"the clean sync did not finish cleanly: {outcome}"]
        problems: list[str] = []
        with (
            closing(_read_only(self.store_path)) as local,
            closing(_read_only(self.server.db_path)) as remote,
        ):
            for entity, table in LOCAL_TABLES.items():
                mine = {r[0] for r in local.execute(f"SELECT id FROM {table}")}
                server_table = SERVER_TABLES[entity]
                owner = "created_by" if entity in ("household", "member") else "device_id"
                rows = remote.execute(
                    f"SELECT id FROM {server_table} WHERE {owner} = ?", (self.device_id,)
                ).fetchall()
                theirs = [r[0] for r in rows]
                if len(theirs) != len(set(theirs)):
                    problems.append(f"{server_table}: some records are on the server twice")
                if set(theirs) != mine:
                    problems.append(
                        f"{server_table}: {len(mine - set(theirs))} missing on the server, "
                        f"{len(set(theirs) - mine)} there that the laptop does not have"
                    )
                tally.server_records_compared += len(mine)
            local_receipts = set(local.execute("SELECT id, series, number FROM receipt"))
            server_receipts = set(
                remote.execute(
                    "SELECT id, series, number FROM receipts WHERE device_id = ?", (self.device_id,)
                )
            )
            if {tuple(r) for r in local_receipts} != {tuple(r) for r in server_receipts}:
                problems.append("receipt numbers differ between the laptop and the server")
            local_phones = {tuple(r) for r in local.execute("SELECT id, phone FROM household")}
            server_phones = {
                (r[0], json.loads(r[1]).get("phone"))
                for r in remote.execute(
                    "SELECT id, data FROM households WHERE created_by = ?", (self.device_id,)
                )
            }
            if local_phones != server_phones:
                problems.append("household phones differ between the laptop and the server")
        return problems


def _half_written(conn: sqlite3.Connection) -> list[str]:
    problems = []
    voided = {r[0] for r in conn.execute("SELECT receipt_id FROM receipt_void")}
    histories: dict[str, list[tuple[str, str | None]]] = {
        r[0]: [] for r in conn.execute("SELECT id FROM pledge")
    }
    for pledge_id, status, receipt_id in conn.execute(
        "SELECT pledge_id, status, receipt_id FROM pledge_event ORDER BY pledge_id, at, rowid"
    ):
        histories.setdefault(pledge_id, []).append((status, receipt_id))
    broken = []
    for pledge_id, events in histories.items():
        # pledged -> paid | cancelled; paid -> pledged again only when that receipt was voided
        # (in the void's own transaction), and a voided receipt's "paid" is never the last word.
        ok = bool(events) and events[0][0] == "pledged"
        for (status, receipt_id), following in zip(events, [*events[1:], None], strict=True):
            if status == "pledged":
                ok = ok and (following is None or following[0] in ("paid", "cancelled"))
            elif status == "paid":
                ok = ok and (
                    following == ("pledged", None) if receipt_id in voided else following is None
                )
            else:
                ok = ok and following is None
        if not ok:
            broken.append(pledge_id)
    if broken:
        problems.append(f"{len(broken)} pledges with a broken status history, e.g. {broken[0]}")
    unpaid = conn.execute(
        "SELECT r.id, j.value FROM receipt r, json_each(r.pledge_ids) j WHERE NOT EXISTS "
        "(SELECT 1 FROM pledge_event e WHERE e.pledge_id = j.value AND e.status = 'paid' "
        "AND e.receipt_id = r.id)"
    ).fetchall()
    if unpaid:
        problems.append(f"{len(unpaid)} receipted pledges without their 'paid' event")
    stray = conn.execute(
        "SELECT id FROM pledge_event WHERE status = 'paid' AND "
        "(receipt_id IS NULL OR receipt_id NOT IN (SELECT id FROM receipt))"
    ).fetchall()
    if stray:
        problems.append(f"{len(stray)} 'paid' events without their receipt")
    empty = conn.execute(
        "SELECT h.id FROM household h WHERE NOT EXISTS (SELECT 1 FROM search_row s "
        "WHERE s.household_id = h.id AND s.member_id IS NULL)"
    ).fetchall()
    if empty:
        problems.append(f"{len(empty)} households missing from the search index")
    return problems


def _outbox_matches_records(conn: sqlite3.Connection) -> list[str]:
    problems = []
    known = ", ".join(f"'{e}'" for e in LOCAL_TABLES)
    unknown = conn.execute(
        f"SELECT DISTINCT entity FROM outbox WHERE entity NOT IN ({known})"
    ).fetchall()
    if unknown:
        problems.append(f"outbox rows for unknown entities {[r[0] for r in unknown]}")
    # Counted in Python: the outbox has no index on entity ids, and a query per record would
    # make each check slower than the trial it checks.
    inserts: Counter[tuple[str, str]] = Counter()
    logged: set[tuple[str, str]] = set()
    for entity, entity_id, op in conn.execute("SELECT entity, entity_id, op FROM outbox"):
        logged.add((entity, entity_id))
        if op == "insert":
            inserts[(entity, entity_id)] += 1
    for entity, table in LOCAL_TABLES.items():
        ids = {(entity, r[0]) for r in conn.execute(f"SELECT id FROM {table}")}
        orphans = {key for key in logged if key[0] == entity} - ids
        if orphans:
            problems.append(f"{len(orphans)} outbox rows for {entity} records that do not exist")
        unlogged = [key for key in ids if inserts[key] != 1]
        if unlogged:
            problems.append(f"{len(unlogged)} {entity} records without exactly one outbox insert")
    refused = conn.execute("SELECT count(*) FROM outbox WHERE state = 'refused'").fetchone()[0]
    if refused:
        problems.append(f"the server refused {refused} records")
    return problems


def _receipt_numbers(conn: sqlite3.Connection) -> list[str]:
    problems = []
    twice = conn.execute(
        "SELECT series, number FROM receipt GROUP BY series, number HAVING count(*) > 1"
    ).fetchall()
    if twice:
        problems.append(f"receipt numbers used twice: {[tuple(r) for r in twice][:3]}")
    for book in conn.execute(
        "SELECT b.id, b.series, b.first_number, b.next_number, "
        "(SELECT max(number) FROM receipt r WHERE r.book_id = b.id), "
        "(SELECT count(*) FROM receipt r WHERE r.book_id = b.id) FROM receipt_book b"
    ):
        _, series, first, next_number, highest, used = book
        expected_next = first if highest is None else highest + 1
        if next_number != expected_next:
            problems.append(f"book {series}: next number {next_number}, expected {expected_next}")
        if used != next_number - first:
            problems.append(f"book {series}: {used} receipts for {next_number - first} numbers")
    return problems


# -- many trials --------------------------------------------------------------------------------


def run_trials(
    server: TrialServer,
    folder: Path,
    *,
    trials: int,
    laptops: int = 2,
    seed: int = 20261123,
    server_check_every: int = 10,
    progress: bool = False,
) -> Tally:
    """`trials` kill trials spread over `laptops` data folders worked on side by side."""
    rng = random.Random(seed)
    made = []
    for _ in range(laptops):
        index = server.next_laptop_index()
        made.append(Laptop(server, folder / f"laptop-{index}", index=index))
    for laptop in made:
        laptop.enrol()
    tallies = [Tally() for _ in made]
    shares = [trials // laptops + (1 if i < trials % laptops else 0) for i in range(laptops)]
    errors: list[BaseException] = []

    def work(laptop: Laptop, tally: Tally, count: int, lane_seed: int) -> None:
        lane_rng = random.Random(lane_seed)
        try:
            for n in range(1, count + 1):
                laptop.trial(lane_rng, tally)
                if laptop.batch_in_flight():
                    tally.kills_with_batch_in_flight += 1
                if n % server_check_every == 0 or n == count:
                    tally.failures += [
                        f"laptop {laptop.index} after trial {n}: {p}"
                        for p in laptop.check_server(tally)
                    ]
                if progress and n % 50 == 0:
                    print(f"  laptop {laptop.index}: {n}/{count} trials", flush=True)
        except BaseException as exc:  # the machinery broke: report it, do not hang
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(lap, tal, cnt, rng.randrange(2**32)))
        for lap, tal, cnt in zip(made, tallies, shares, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    total = Tally()
    for tally in tallies:
        total.add(tally)
    return total
