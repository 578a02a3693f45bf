"""Supervisor login limits per name and per address: atomic under concurrency, table bounded."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from sync.server.web import auth
from tests.sync.conftest import Server
from tests.sync.test_web import PASSWORD, add_supervisor, csrf_of, log_in

ATTACKER = "203.0.113.7"
OFFICE = "198.51.100.20"
THREADS = 8


def attempt(server: Server, username: str, password: str, *, address: str = ATTACKER) -> int:
    """One login from a browser at `address` (the TLS proxy's X-Forwarded-For); its status."""
    with server.http(headers={"X-Forwarded-For": address}) as client:
        return log_in(client, username, password).status_code


def rows(server: Server) -> dict[tuple[str, str], int]:
    with server.engine.connect() as conn:
        found = conn.execute(sa.text("SELECT kind, subject, failures FROM login_failures"))
        return {(kind, subject): failures for kind, subject, failures in found}


def concurrently(server: Server, logins: list[tuple[str, str]], address: str) -> Counter[int]:
    """Each (user name, password) from its own browser, all sent at the same moment; the
    statuses answered."""
    start = threading.Barrier(len(logins))

    def one(login: tuple[str, str]) -> int:
        with server.http(headers={"X-Forwarded-For": address}) as client:
            form = {"csrf": csrf_of(client.get("/web/login").text), "next": "/web/"}
            start.wait(timeout=30)
            answer = client.post(
                "/web/login", data={**form, "username": login[0], "password": login[1]}
            )
            return answer.status_code

    with ThreadPoolExecutor(len(logins)) as pool:
        return Counter(pool.map(one, logins))


def test_concurrent_guesses_at_one_name_get_the_free_guesses_and_no_more(server: Server) -> None:
    """Eight browsers guess at once, three times each: no 500 (concurrent first failures once
    hit a duplicate key on PostgreSQL), exactly FREE_FAILURES wrong-password answers, the rest
    locked; then the right password waits too."""
    add_supervisor(server, "xa1", "commune", ["04001"])
    statuses: Counter[int] = Counter()
    for _ in range(3):
        statuses += concurrently(server, [("xa1", "đoán sai")] * THREADS, ATTACKER)
    assert statuses == {401: auth.FREE_FAILURES, 429: 3 * THREADS - auth.FREE_FAILURES}
    assert rows(server)[("name", "xa1")] == auth.FREE_FAILURES
    assert attempt(server, "xa1", PASSWORD, address=OFFICE) == 429


def test_concurrent_first_failures_of_many_names_are_each_counted(server: Server) -> None:
    """Eight new names at once from one address: eight answers, eight counts, no lost update."""
    statuses = concurrently(server, [(f"ten{i}", "sai") for i in range(THREADS)], ATTACKER)
    assert statuses == {401: THREADS}
    counted = rows(server)
    assert counted[("address", ATTACKER)] == THREADS
    assert all(counted[("name", f"ten{i}")] == 1 for i in range(THREADS))


def test_many_names_from_one_address_are_stopped(server: Server) -> None:
    """25 names x 5 guesses from one address: only ADDRESS_FREE_FAILURES are checked, and the
    rest leave no rows behind; the real supervisor at another address still gets in."""
    add_supervisor(server, "tinh", "admin", [])
    statuses = Counter(
        attempt(server, f"nguoi{n}", f"mat khau {guess}") for n in range(25) for guess in range(5)
    )
    assert statuses == {401: auth.ADDRESS_FREE_FAILURES, 429: 125 - auth.ADDRESS_FREE_FAILURES}
    assert len(rows(server)) <= auth.ADDRESS_FREE_FAILURES + 1
    assert attempt(server, "tinh", PASSWORD) == 429, "the address is locked for every name"
    assert attempt(server, "tinh", PASSWORD, address=OFFICE) == 303


def test_concurrent_guesses_at_many_names_stop_at_the_address_limit(server: Server) -> None:
    """32 names guessed at the same moment from one address: the address limit holds under
    concurrency too."""
    names = [(f"khach{i}", "sai") for i in range(32)]
    statuses = concurrently(server, names, ATTACKER)
    assert statuses == {401: auth.ADDRESS_FREE_FAILURES, 429: 32 - auth.ADDRESS_FREE_FAILURES}


def test_right_passwords_give_their_attempt_back_but_clear_no_failures(server: Server) -> None:
    """An office's supervisors sign in all day from one address without a lock; yet signing in
    to one's own account does not wipe the address's wrong guesses."""
    add_supervisor(server, "tinh", "admin", [])
    assert all(
        attempt(server, "tinh", PASSWORD, address=OFFICE) == 303
        for _ in range(auth.ADDRESS_FREE_FAILURES + 5)
    )
    assert rows(server).get(("address", OFFICE), 0) == 0
    for n in range(auth.ADDRESS_FREE_FAILURES - 1):
        assert attempt(server, f"ai{n}", "sai") == 401
    assert attempt(server, "tinh", PASSWORD) == 303
    assert attempt(server, "ai-nua", "sai") == 401
    assert attempt(server, "tinh", PASSWORD) == 429


def test_old_failures_are_forgotten_and_their_rows_deleted(server: Server) -> None:
    """A day after the last failure (and the lock's end) the counts start again and the rows
    of the old failures are gone."""
    add_supervisor(server, "xa1", "commune", ["04001"])
    for n in range(10):
        attempt(server, f"ban{n}", "sai")
    for _ in range(auth.FREE_FAILURES):
        assert attempt(server, "xa1", "sai", address=OFFICE) == 401
    assert attempt(server, "xa1", PASSWORD, address=OFFICE) == 429
    assert len(rows(server)) == 10 + 3
    server.clock.advance(seconds=auth.FIRST_LOCKOUT_SECONDS)
    server.clock.advance(seconds=auth.FORGET_AFTER.total_seconds())
    assert attempt(server, "xa1", "sai", address=OFFICE) == 401
    assert rows(server) == {("address", OFFICE): 1, ("name", "xa1"): 1}
    assert attempt(server, "xa1", PASSWORD, address=OFFICE) == 303


@pytest.mark.parametrize("username", ["xa1\x00", "\x00", "x" * 10_000, "ⓧⓐ①", "a'; --", " "])
def test_text_that_cannot_be_a_user_name_counts_against_the_address(
    server: Server, username: str
) -> None:
    """NUL (which PostgreSQL cannot store), 10,000 letters, symbols: a plain wrong-login answer,
    counted against the address only."""
    assert attempt(server, username, "sai") == 401
    assert rows(server) == {("address", ATTACKER): 1}


def test_addresses_are_counted_per_ipv4_address_and_ipv6_64() -> None:
    """One IPv6 /64 is one household or office; an IPv4-mapped address is its IPv4 address;
    anything else is hashed into the column's width."""
    same = {auth.address_key("2001:db8:1:2::1"), auth.address_key("2001:db8:1:2:ffff::9")}
    assert same == {"2001:db8:1:2::/64"}
    assert auth.address_key("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert auth.address_key("::ffff:203.0.113.7") == auth.address_key(ATTACKER) == ATTACKER
    odd = auth.address_key("x" * 1000 + "\x00")
    assert odd.startswith("?") and len(odd) <= 64
    assert auth.address_key(None) == auth.address_key("")
