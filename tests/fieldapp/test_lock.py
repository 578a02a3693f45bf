"""The app lock: PIN format, hashing, back-off after wrong tries (kept across restarts), keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldapp.cli import main
from fieldapp.lock import (
    LockedOut,
    PinFormatError,
    PinLock,
    PinNotSetError,
    WrongPinError,
    wait_after,
)
from fieldapp.store import STORE_FILENAME, Store
from fieldapp.workspace import Workspace
from sync.protocol.clock import FixedClock

from .conftest import NOW

PIN = "2468"
WRONG = "1357"


@pytest.fixture
def store(workspace: Workspace) -> Store:
    """The workspace's store with the PIN 2468 set."""
    PinLock(workspace.store).set_pin(PIN)
    return workspace.store


@pytest.mark.parametrize("pin", ["", "123", "123456789", "12a4", "12 34", "١٢٣٤", "１２３４"])
def test_pin_format_is_refused(workspace: Workspace, pin: str) -> None:
    """A PIN that is not 4 to 8 ASCII digits is refused with a Vietnamese and English message."""
    with pytest.raises(PinFormatError) as caught:
        PinLock(workspace.store).set_pin(pin)
    assert "4 đến 8 chữ số" in caught.value.vi
    assert "4 to 8 digits" in caught.value.en
    assert not PinLock(workspace.store).has_pin()


def test_pin_is_stored_only_as_a_salted_hash(workspace: Workspace) -> None:
    """The PIN never appears in the store; its hash is scrypt with a 16-byte salt."""
    PinLock(workspace.store).set_pin("27182818")
    values = [str(r[0]) for r in workspace.store.query("SELECT value FROM meta")]
    assert not any("27182818" in v for v in values)
    [encoded] = [v for v in values if v.startswith("scrypt$")]
    scheme, n, r, p, salt, _digest = encoded.split("$")
    assert scheme == "scrypt"
    assert (n, r, p) == ("16384", "8", "1")
    assert len(bytes.fromhex(salt)) == 16


def test_right_and_wrong_pin(store: Store) -> None:
    """The right PIN is accepted, a wrong one is not; a right one clears earlier wrong tries."""
    assert PinLock(store).check(PIN)
    assert not PinLock(store).check(WRONG)
    assert not PinLock(store).check("abc")
    assert PinLock(store).check(PIN)
    assert store.meta("lock.failures") == "0"


def test_check_without_pin_set(workspace: Workspace) -> None:
    """Checking a PIN before one is set says so rather than unlocking."""
    with pytest.raises(PinNotSetError):
        PinLock(workspace.store).check(PIN)


def test_back_off_timing(store: Store, clock: FixedClock) -> None:
    """Three free tries, then waits of 5, 10, 20 s…; tries during a wait fail even if right."""
    for _ in range(3):
        assert not PinLock(store).check(WRONG)
    with pytest.raises(LockedOut) as caught:
        PinLock(store).check(PIN)
    assert caught.value.seconds == 5
    assert "5 giây" in caught.value.vi and "5 s" in caught.value.en
    clock.advance(seconds=4)
    with pytest.raises(LockedOut) as caught:
        PinLock(store).check(PIN)
    assert caught.value.seconds == 1
    clock.advance(seconds=1)
    assert not PinLock(store).check(WRONG)  # the fourth wrong PIN: next wait 10 s
    clock.advance(seconds=9)
    with pytest.raises(LockedOut) as caught:
        PinLock(store).check(WRONG)
    assert caught.value.seconds == 1
    clock.advance(seconds=1)
    assert not PinLock(store).check(WRONG)  # the fifth: 20 s
    with pytest.raises(LockedOut) as caught:
        PinLock(store).check(PIN)
    assert caught.value.seconds == 20
    clock.advance(seconds=20)
    assert PinLock(store).check(PIN)
    # After a success the count starts again: three free tries.
    for _ in range(3):
        assert not PinLock(store).check(WRONG)
    with pytest.raises(LockedOut):
        PinLock(store).check(PIN)


def test_back_off_is_capped_at_fifteen_minutes(store: Store, clock: FixedClock) -> None:
    """The wait doubles up to 15 minutes and stays there; the message gives minutes."""
    assert [wait_after(k) for k in range(3, 12)] == [5, 10, 20, 40, 80, 160, 320, 640, 900]
    assert wait_after(1000) == 900
    store.set_meta("lock.failures", "30")
    store.set_meta("lock.last_failure", clock.now().isoformat())
    with pytest.raises(LockedOut) as caught:
        PinLock(store).check(PIN)
    assert caught.value.seconds == 900
    assert "15 phút" in caught.value.vi


def test_clock_set_back_does_not_lock_for_ever(store: Store, clock: FixedClock) -> None:
    """If the clock goes back after a failure, the wait is at most the normal one from now."""
    for _ in range(3):
        PinLock(store).check(WRONG)
    clock.advance(days=-30)
    with pytest.raises(LockedOut) as caught:
        PinLock(store).check(PIN)
    assert caught.value.seconds == 5


def test_back_off_survives_reopening(workspace: Workspace, clock: FixedClock) -> None:
    """Wrong tries and their time are in the store: closing and reopening does not reset them."""
    PinLock(workspace.store).set_pin(PIN)
    for _ in range(4):
        try:
            PinLock(workspace.store).check(WRONG)
        except LockedOut:
            clock.advance(seconds=5)
            PinLock(workspace.store).check(WRONG)
    path = workspace.store.path
    workspace.close()
    reopened = Store(path, clock=clock)
    try:
        with pytest.raises(LockedOut) as caught:
            PinLock(reopened).check(PIN)
        assert caught.value.seconds == 10
        clock.advance(seconds=10)
        assert PinLock(reopened).check(PIN)
    finally:
        reopened.close()


def test_changing_the_pin_needs_the_current_one(store: Store) -> None:
    """A new PIN replaces the old only when the current PIN is given."""
    with pytest.raises(WrongPinError):
        PinLock(store).set_pin("97531")
    with pytest.raises(WrongPinError):
        PinLock(store).set_pin("97531", current=WRONG)
    PinLock(store).set_pin("97531", current=PIN)
    assert PinLock(store).check("97531")
    assert not PinLock(store).check(PIN)


def test_derive_key(store: Store) -> None:
    """The backup key is 32 bytes, stable across PIN checks, and needs the right PIN."""
    key = PinLock(store).derive_key(PIN)
    assert len(key) == 32
    assert PinLock(store).derive_key(PIN) == key
    with pytest.raises(WrongPinError):
        PinLock(store).derive_key(WRONG)
    assert key.hex() not in {str(r[0]) for r in store.query("SELECT value FROM meta")}


def test_idle_timeout(workspace: Workspace) -> None:
    """Five minutes unless set; the setting is kept in the store and bounded."""
    assert PinLock(workspace.store).idle_timeout() == 300
    PinLock(workspace.store).set_idle_timeout(120)
    assert PinLock(workspace.store).idle_timeout() == 120
    with pytest.raises(Exception, match="30"):
        PinLock(workspace.store).set_idle_timeout(5)
    workspace.store.set_meta("lock.idle_timeout", "rubbish")
    assert PinLock(workspace.store).idle_timeout() == 300


def test_cli_pin_set_and_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pin set` sets the PIN; changing it needs the current one; a bad PIN fails on stderr."""
    monkeypatch.setenv("FIELDAPP_LANG", "vi")
    monkeypatch.setenv("FIELDAPP_PIN", "12")
    assert main(["--data-dir", str(tmp_path), "pin", "set"]) == 1
    assert "4 đến 8 chữ số" in capsys.readouterr().err

    monkeypatch.setenv("FIELDAPP_PIN", PIN)
    assert main(["--data-dir", str(tmp_path), "pin", "set"]) == 0
    assert "Đã đặt mã PIN" in capsys.readouterr().out

    monkeypatch.setenv("FIELDAPP_PIN", "86420")
    monkeypatch.setenv("FIELDAPP_CURRENT_PIN", WRONG)
    assert main(["--data-dir", str(tmp_path), "pin", "set"]) == 1
    assert "Sai mã PIN" in capsys.readouterr().err
    monkeypatch.setenv("FIELDAPP_CURRENT_PIN", PIN)
    assert main(["--data-dir", str(tmp_path), "pin", "set"]) == 0

    store = Store(tmp_path / STORE_FILENAME, clock=FixedClock(NOW))
    try:
        assert PinLock(store).check("86420")
    finally:
        store.close()


def test_cli_pin_set_asks_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without FIELDAPP_PIN the PIN is typed twice; two different entries change nothing."""
    monkeypatch.delenv("FIELDAPP_PIN", raising=False)
    monkeypatch.setenv("FIELDAPP_LANG", "en")
    answers = iter(["2468", "2469"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["--data-dir", str(tmp_path), "pin", "set"]) == 1
    assert "do not match" in capsys.readouterr().err
    answers = iter(["2468", "2468"])
    assert main(["--data-dir", str(tmp_path), "pin", "set"]) == 0
    assert "The PIN is set." in capsys.readouterr().out
