"""Kill trials in CI: laptops SIGKILLed at random moments lose nothing and duplicate nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.trials.harness import TrialServer, run_trials, running_server

TRIALS = int(os.environ.get("FIELDAPP_KILL_TRIALS", "200"))


@pytest.fixture(scope="session")
def trial_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrialServer]:
    """One real server process for the whole session, over its own SQLite file."""
    with running_server(tmp_path_factory.mktemp("trial-server")) as server:
        yield server


def test_killed_laptops_keep_every_committed_record(
    trial_server: TrialServer, tmp_path: Path
) -> None:
    """200 SIGKILLs mid-capture, mid-payment and mid-sync leave every store whole and synced."""
    tally = run_trials(trial_server, tmp_path, trials=TRIALS, laptops=2, server_check_every=10)
    assert tally.failures == []
    assert tally.kills == tally.trials == TRIALS
    # The kills really landed in the middle of things.
    assert tally.operations > 10 * TRIALS
    assert tally.kills_with_batch_in_flight > TRIALS // 10
    assert tally.server_checks >= TRIALS // 10
    for kind in ("household", "member", "visit", "pledge", "receipt", "update", "void", "cancel"):
        assert tally.operations_by_kind[kind] > 0, kind
