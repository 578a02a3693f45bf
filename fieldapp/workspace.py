"""The agent's workspace: the one door to the laptop's data — its store, clock, policy and the
services on them (households, members, visits, search, pledges, receipts, reports, the PIN lock,
backups), opened and closed together."""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import AbstractContextManager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from fieldapp.households import Households
from fieldapp.members import Members
from fieldapp.search import Search
from fieldapp.store import STORE_FILENAME, Store, default_data_dir
from fieldapp.text import clean
from fieldapp.visits import Visits
from sync.protocol.clock import Clock, SystemClock
from sync.protocol.errors import FieldappError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from fieldapp.backup import Backups
    from fieldapp.coverage import Coverage
    from fieldapp.lock import PinLock
    from fieldapp.pledges import Pledges
    from fieldapp.policy import Policy
    from fieldapp.receipts import Receipts
    from fieldapp.refusals import Refusals
    from fieldapp.reports import Reports


def _back_up_before_upgrade(store: Store, version: int) -> None:
    """An existing store is copied before a migration touches it."""
    # Imported here: the backup module brings the cipher library, needed only on an upgrade.
    from fieldapp.backup import Backups

    Backups(store).before_migration(version)


class Workspace(AbstractContextManager["Workspace"]):
    """Everything the UI and the CLI reach data through. Not thread-safe: use one per thread.

    Use it as a context manager (``with Workspace.open(folder) as ws:``) so the store is
    closed however the block ends.
    """

    def __init__(self, store: Store, *, policy: Policy | None = None) -> None:
        self.store = store
        # A policy given by the caller (tests, benchmarks) is used as it is.
        self._fixed_policy = policy
        self._policy: Policy | None = None
        self._policy_pulled = -1
        self._policy_written = -1
        self.households = Households(store)
        self.members = Members(store, policy=lambda: self.policy)
        self.visits = Visits(store)
        self.search = Search(store)

    # Pledges and receipts bring the policy tables, the calculator and the QR signer with them;
    # they are made when first used, so opening the app on its Households view stays quick.
    @cached_property
    def pledges(self) -> Pledges:
        from fieldapp.pledges import Pledges

        return Pledges(self.store, policy=lambda: self.policy)

    @cached_property
    def receipts(self) -> Receipts:
        from fieldapp.receipts import Receipts

        return Receipts(self.store, pledges=self.pledges)

    @cached_property
    def coverage(self) -> Coverage:
        from fieldapp.coverage import Coverage

        return Coverage(self)

    @cached_property
    def reports(self) -> Reports:
        from fieldapp.reports import Reports

        return Reports(self)

    @cached_property
    def refusals(self) -> Refusals:
        """What the agent can do about records the provincial server refused."""
        from fieldapp.refusals import Refusals

        return Refusals(self.store)

    @cached_property
    def lock(self) -> PinLock:
        from fieldapp.lock import PinLock

        return PinLock(self.store)

    @cached_property
    def backups(self) -> Backups:
        from fieldapp.backup import Backups

        return Backups(self.store)

    @classmethod
    def open(
        cls,
        data_dir: Path | None = None,
        *,
        clock: Clock | None = None,
        policy: Policy | None = None,
    ) -> Workspace:
        folder = Path(data_dir) if data_dir is not None else default_data_dir()
        store = Store(
            folder / STORE_FILENAME,
            clock=clock or SystemClock(),
            before_migration=_back_up_before_upgrade,
        )
        return cls(store, policy=policy)

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        """The store file."""
        return self.store.path

    @property
    def data_dir(self) -> Path:
        return self.store.path.parent

    @property
    def clock(self) -> Clock:
        return self.store.clock

    def today(self) -> dt.date:
        """Today's date in Vietnam, by the workspace's clock."""
        return self.store.clock.today()

    @property
    def policy(self) -> Policy:
        """The newest policy tables: the shipped ones, or a newer version the provincial
        server published (with the province's local support lines) and the laptop pulled.

        Read again when a pull has brought a new version (the pulled table is small: a count
        tells)."""
        if self._fixed_policy is not None:
            return self._fixed_policy
        # Nothing written since the last look (the connection's change counter): no query.
        written = self.store.conn.total_changes
        if self._policy is not None and written == self._policy_written:
            return self._policy
        self._policy_written = written
        pulled = int(self.store.scalar("SELECT count(*) FROM policy_document") or 0)
        if self._policy is None or self._policy_pulled != pulled:
            self._policy = self._newest_policy()
            self._policy_pulled = pulled
        return self._policy

    def _newest_policy(self) -> Policy:
        from fieldapp.policy import Policy, PolicySet
        from fieldapp.store import loads

        policies = PolicySet.from_directory()
        for row in self.store.query("SELECT version, document FROM policy_document"):
            try:
                policies = policies.with_policy(Policy.from_dict(loads(row["document"])))
            except FieldappError as exc:
                # A document this version of the app cannot read (a newer format, or a
                # minimal one): the other tables stand. Said in the log, not to the agent.
                log.warning("pulled policy %s not used: %s", row["version"], exc.en)
        return policies.latest()

    @property
    def agent_id(self) -> str:
        """The agent this device works for; the device id until the device is enrolled.

        Read from the store each time: services of an open workspace follow an enrolment
        (which writes it) at once.
        """
        return self.store.agent_id

    @property
    def agent_name(self) -> str:
        return self.store.meta("agent_name") or ""

    @property
    def agent_phone(self) -> str:
        return self.store.meta("agent_phone") or ""

    def set_agent(self, *, name: str, phone: str) -> None:
        """The agent's own name and phone, as printed on receipts and reports (local only)."""
        with self.store.transaction():
            self.store.set_meta("agent_name", clean(name))
            self.store.set_meta("agent_phone", clean(phone))

    def pending_sync(self) -> int:
        return int(self.store.scalar("SELECT count(*) FROM outbox WHERE state = 'pending'"))

    def is_empty(self) -> bool:
        return self.households.count() == 0

    def close(self) -> None:
        self.store.close()
