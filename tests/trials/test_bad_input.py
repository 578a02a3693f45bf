"""Bad input everywhere: the wire format, the server's endpoints, text, amounts, dates, imports."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import os
import random
import time
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldapp import calculator
from fieldapp.cli import main as fieldapp_main
from fieldapp.errors import ValidationError
from fieldapp.importer import import_residents
from fieldapp.policy import load_policy
from fieldapp.text import clean
from fieldapp.workspace import Workspace
from sync.protocol import signing, wire
from sync.protocol.clock import FixedClock
from sync.protocol.errors import FieldappError, ProtocolError
from sync.protocol.hlc import EPOCH_MS, hlc_format, usable
from sync.server.admin import add_receipt_book
from tests.sync.client_fixtures import Laptop as ClientLaptop
from tests.sync.conftest import Laptop, Server, household, member, new_id, pledge, receipt, visit

NOW = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)
START = dt.date(2026, 12, 1)
KEY = b"k" * 32
DEVICE = "01a20000-0000-7000-8000-000000000001"
LIMITS = {"max_compressed": 64 * 1024, "max_decompressed": 256 * 1024}
COMMUNE = "04001"

# Values at the edges the server must bound: clocks from the far future, the calendar's ends,
# text past every column's length, and text a spreadsheet would take for a formula.
EXTREME = st.sampled_from(
    [
        "999999999999999-99999-" + DEVICE,
        "1000000000000000-00000-" + DEVICE,
        "000000000000001-00000-" + DEVICE,
        "9999-12-31",
        "0001-01-01",
        "9999-12-31T23:59:59-12:00",
        "0001-01-01T00:00:00+14:00",
        "2026-11-23T08:00:00.000000000+07:00:00",
        '=HYPERLINK("http://x","bấm")',
        "+84912345678",
        "-1+1",
        "@SUM(A1)",
        "\t=1",
        "\r=1",
    ]
) | st.text(min_size=2001, max_size=2100)

# Any JSON value, nested a little.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | EXTREME,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _only_protocol_errors(work: Callable[[], object]) -> None:
    with contextlib.suppress(ProtocolError):
        work()


# -- the wire format ------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_are_refused_with_a_protocol_error(raw: bytes) -> None:
    """Random bytes as a body, a gzip body or a batch file raise ProtocolError, nothing else."""
    _only_protocol_errors(lambda: wire.decode_body(raw, **LIMITS))
    _only_protocol_errors(lambda: wire.decode_body(gzip.compress(raw), **LIMITS))
    _only_protocol_errors(lambda: signing.read_batch_file(raw, lambda _: KEY))
    _only_protocol_errors(lambda: wire.parse_json(raw))


@FUZZ
@given(json_values)
def test_any_json_as_a_batch_is_a_batch_or_a_protocol_error(value: Any) -> None:
    """Any JSON value, as a body, a signed batch file or a batch's records, is judged cleanly."""
    body = wire.encode_body(value)
    _only_protocol_errors(lambda: wire.validate_batch(wire.decode_body(body, **LIMITS)))
    envelope = {"format": "fieldapp-batch", "version": 1, "device_id": DEVICE, "batch": value}
    envelope["signature"] = signing.sign(value, KEY)
    raw = json.dumps(envelope).encode()
    _only_protocol_errors(lambda: signing.read_batch_file(raw, lambda _: KEY))
    for entity in wire.ENTITIES:
        record = {"seq": 1, "entity": entity, "id": new_id(), "op": "insert", "hlc": "x"}
        for data in (
            value,
            {"id": new_id(), "x": value},
            dict.fromkeys(wire.FIELDS[entity], value),
        ):
            for hlc in ("x", hlc_format(EPOCH_MS, 0, DEVICE)):
                problem = wire.check_record({**record, "hlc": hlc, "data": data, "base": value})
                assert problem is None or problem.code


def test_truncated_gzip_bombs_deep_json_and_huge_numbers() -> None:
    """Each hostile body gets its own ProtocolError code, within the memory limits."""
    good = wire.encode_body({"protocol": 1})
    cases: dict[str, bytes] = {
        **{f"truncated at {n}": good[:n] for n in range(len(good))},
        "bomb": gzip.compress(b"0" * (64 * 1024 * 1024), compresslevel=9),
        "bomb in JSON": gzip.compress(b'{"a":"' + b"a" * (8 * 1024 * 1024) + b'"}'),
        "deep list": gzip.compress(b"[" * 100_000 + b"]" * 100_000),
        "deep object": gzip.compress(b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
        "huge number": gzip.compress(b'{"n":' + b"9" * 100_000 + b"}"),
        "NaN": gzip.compress(b'{"n":NaN}'),
        "Infinity": gzip.compress(b'{"n":-Infinity}'),
        "latin-1": gzip.compress(b'{"a":"Nguy\xe1n"}'),
        "lone surrogate": gzip.compress(b'{"a":"\\ud800"}'),
        "NUL": gzip.compress(b'{"a":"x\\u0000y"}'),
        "two members": gzip.compress(b"{}") + gzip.compress(b"{}"),
        "trailing junk": good + b"junk",
        "not a dict": gzip.compress(b"[1, 2]"),
        "zlib not gzip": zlib.compress(b"{}"),
    }
    codes = {}
    for name, raw in cases.items():
        with pytest.raises(ProtocolError) as caught:
            wire.decode_body(raw, max_compressed=4 * 1024 * 1024, max_decompressed=4 * 1024 * 1024)
        codes[name] = caught.value.code
    assert codes["bomb"] == codes["bomb in JSON"] == "too_large"
    assert codes["deep list"] == codes["deep object"] == "too_deep"
    assert codes["lone surrogate"] == codes["NUL"] == "bad_json"


def test_batch_file_with_wrong_types_everywhere_is_refused_whole() -> None:
    """Every envelope field of a signed batch file replaced by each wrong type is refused."""
    batch = {
        "protocol": 1,
        "device_id": DEVICE,
        "batch_id": new_id(),
        "seq_from": 1,
        "seq_to": 1,
        "records": [{"seq": 1}],
    }
    tried = 0
    for key in batch:
        for wrong in (None, True, -1, 2**64, 1.5, "", "x" * 1000, [], {}, [None]):
            broken = {**batch, key: wrong}
            raw = signing.write_batch_file(broken, KEY)  # type: ignore[arg-type]
            _only_protocol_errors(lambda raw=raw: signing.read_batch_file(raw, lambda _: KEY))
            tried += 1
    assert tried == 60


# -- the server's endpoints ----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fuzzing sends hundreds of requests a second; the limit has tests of its own."""
    monkeypatch.setenv("FIELDAPP_SERVER_RATE_LIMIT", "off")


def _enrolled(server: Server) -> Laptop:
    agent = server.add_agent("Trần Thị Bình", [COMMUNE])
    return server.laptop(agent)


def _no_5xx(response: httpx.Response) -> httpx.Response:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert {"code", "vi", "en"} <= set(body), body
    return response


def test_every_endpoint_answers_malformed_requests_with_4xx(server: Server) -> None:
    """Garbage, wrong types, wrong encodings, huge and deep bodies: 4xx with a JSON reason."""
    laptop = _enrolled(server)
    bodies: list[tuple[bytes, dict[str, str]]] = []
    for raw in (
        b"",
        b"null",
        b"[]",
        b"{",
        b"\xff\xfe",
        os.urandom(512),
        b"[" * 10_000 + b"]" * 10_000,
        b'{"code":' + b"9" * 20_000 + b"}",
        b'{"code": {"$ne": null}, "device_name": ["x"]}',
        b'{"code": "\' OR 1=1 --", "device_name": "<script>alert(1)</script>"}',
        b'{"protocol": 1, "device_id": "\\ud800"}',
    ):
        for headers in (
            {},
            {"Content-Type": "text/plain"},
            {"Content-Type": "multipart/form-data; boundary=x"},
            {"Content-Encoding": "gzip"},
            {"Content-Encoding": "br"},
            {"Content-Encoding": "deflate, gzip"},
        ):
            bodies.append((raw, headers))
    bodies.append((os.urandom(5 * 1024 * 1024), {"Content-Encoding": "gzip"}))
    bodies.append((gzip.compress(b" " * (40 * 1024 * 1024)), {"Content-Encoding": "gzip"}))
    statuses = []
    with server.http() as anonymous:
        for raw, headers in bodies:
            for client in (anonymous, laptop.http):
                for path in (wire.ENROL_PATH, wire.BATCHES_PATH):
                    response = _no_5xx(client.post(path, content=raw, headers=headers))
                    statuses.append(response.status_code)
        queries: list[dict[str, Any]] = [
            {"since": "-1"},
            {"since": "1" * 40},
            {"since": "abc"},
            {"limit": "0"},
            {"limit": "100000"},
            {"since": "1.5", "limit": "[]"},
        ]
        for params in queries:
            statuses.append(_no_5xx(laptop.http.get(wire.CHANGES_PATH, params=params)).status_code)
        for params in (
            {},
            {"id": "x"},
            {"id": "x" * 100, "sig": "y"},
            {"id": "'--", "sig": "\x00"},
        ):
            statuses.append(
                _no_5xx(anonymous.get(wire.RECEIPT_VERIFY_PATH, params=params)).status_code
            )
        for path in ("/r/" + "x" * 100, "/r/%00?s=1", "/r/..%2F..%2Fetc?s=1", "/api/v1/nothing"):
            statuses.append(_no_5xx(anonymous.get(path)).status_code)
        for token in ("x" * 10_000, "Bearer", "\u00e9", "a b c"):
            response = anonymous.get(
                wire.CHANGES_PATH, headers={"Authorization": f"Bearer {token}".encode()}
            )
            statuses.append(_no_5xx(response).status_code)
    assert all(400 <= s < 500 for s in statuses if s != 200)
    assert statuses.count(200) <= len(queries) + 8  # only well-formed pulls and verifies succeed


@FUZZ
@given(data=st.data())
def test_records_with_any_field_values_are_refused_not_crashed(server: Server, data: Any) -> None:
    """Uploads whose records carry random JSON in every field, extreme clocks, dates and lengths
    and formula-looking text get an ack, never a 5xx; what is taken has a usable clock."""
    if not hasattr(server, "_fuzz_laptop"):
        laptop = _enrolled(server)
        with server.engine.begin() as conn:
            add_receipt_book(
                conn,
                agent_id=laptop.agent_id,
                series="AA/26",
                first=1,
                last=100,
                clock=server.clock,
            )
        home = household(COMMUNE)
        person = member(home["id"])
        laptop.send(laptop.record("household", home), laptop.record("member", person))
        server._fuzz_laptop = (laptop, home, person)  # type: ignore[attr-defined]
    laptop, home, person = server._fuzz_laptop  # type: ignore[attr-defined]
    templates = {
        "household": household(COMMUNE),
        "member": member(home["id"]),
        "visit": visit(home["id"], laptop.agent_id),
        "pledge": pledge(home["id"], person["id"]),
        "receipt": receipt(home["id"], new_id(), 1),
    }
    entity = data.draw(st.sampled_from(sorted(templates)))
    record = dict(templates[entity])
    for name in data.draw(st.sets(st.sampled_from(sorted(record)), min_size=1, max_size=3)):
        record[name] = data.draw(json_values)
    sent = laptop.record(entity, record, record_id=new_id())
    if data.draw(st.booleans()):
        sent["hlc"] = data.draw(EXTREME).replace(DEVICE, laptop.device_id)
    response = _no_5xx(laptop.upload(laptop.batch([sent])))
    assert response.status_code in (200, 400, 413)
    if response.status_code == 200 and not response.json()["refused"]:
        # What was taken is within bounds: a clock the server's pages and laptops can use.
        assert usable(sent["hlc"], now_ms=int(server.clock.now().timestamp() * 1000))


def test_surrogates_nul_and_huge_numbers_in_records_do_not_break_the_server(
    server: Server,
) -> None:
    """Text the database cannot hold and integers past 64 bits are refused, not a 500."""
    laptop = _enrolled(server)
    home = household(COMMUNE)
    cases = [
        ("household", household(COMMUNE, head_name="Lò \ud800 Văn")),
        ("household", household(COMMUNE, notes="x\x00y")),
        ("pledge", pledge(home["id"], new_id(), gross=2**64, payable=2**64)),
        ("receipt", receipt(home["id"], new_id(), 2**63)),
        ("visit", visit(home["id"], laptop.agent_id, at="2026-11-23T08:00:00+99:00")),
    ]
    for entity, record in cases:
        body = json.dumps(laptop.batch([laptop.record(entity, record)])).encode()
        _no_5xx(laptop.post(gzip.compress(body)))


# -- text: names, notes, villages ------------------------------------------------------------------

HOSTILE = [
    "Robert'); DROP TABLE household;--",
    "1' OR '1'='1",
    '" OR 1=1 --',
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "&lt;b&gt;&amp;",
    "%s %d {0} {name} $(rm -rf /)",
    "NEAR( ) AND OR NOT * ^ :",
    "😀👨‍👩‍👧‍👦🇻🇳",
    "\u202eRTL override\u202c",
    "Tab\there  and\nnewline",
]


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh workspace at a fixed time."""
    workspace = Workspace.open(tmp_path / "data", clock=FixedClock(NOW))
    yield workspace
    workspace.close()


@pytest.mark.parametrize("evil", HOSTILE)
def test_hostile_text_is_stored_as_plain_nfc_text_and_found(ws: Workspace, evil: str) -> None:
    """Injection strings, emoji, NFD and zero-width marks are kept as NFC text and searchable."""
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Hương")
    # Names may not hold digits (a rule of their own); notes and villages may.
    name = f"{nfd} \u200b{''.join(c for c in evil if not c.isdigit())}\u200d"
    village = unicodedata.normalize("NFD", "Bản Pắc Ngòi ") + evil
    home = ws.households.add(
        province_code="15",
        commune_code="99001",
        village=village,
        head_name=name[:90],
        notes=f"<b>{evil}</b>\ufeff",
    )
    person = ws.members.add(home.id, full_name=name[:90], relation="Chủ hộ")
    visit_ = ws.visits.record(home.id, outcome="consulted", notes=evil)
    expected_name = unicodedata.normalize(
        "NFC", " ".join(name[:90].replace("\u200b", "").replace("\u200d", "").split())
    )
    stored = ws.households.get(home.id)
    assert stored.head_name == ws.members.get(person.id).full_name == clean(name[:90])
    assert stored.head_name == expected_name
    assert stored.village == clean(village) and unicodedata.is_normalized("NFC", stored.village)
    assert stored.notes == clean(f"<b>{evil}</b>")
    assert ws.visits.get(visit_.id).notes == clean(evil)
    for query in ("nguyen thi huong", nfd, "Hương", "pac ngoi"):
        assert person.id in {h.member_id for h in ws.search.find(query)}, query
    ws.search.find(evil)  # the hostile text itself is a harmless query
    assert ws.store.integrity_ok()
    assert ws.households.count() == 1


def test_hostile_text_survives_the_trip_through_the_server(server: Server, tmp_path: Path) -> None:
    """What one laptop stores comes back byte for byte on another laptop of the same agent."""
    agent = server.add_agent("A", [COMMUNE])
    a, b = ClientLaptop(server, tmp_path / "a"), ClientLaptop(server, tmp_path / "b")
    try:
        a.enrol(agent)
        b.enrol(agent)
        names = ("".join(c for c in f"Lò Văn {evil}" if not c.isdigit())[:90] for evil in HOSTILE)
        ids = [a.add_household(head=name) for name in names]
        assert a.sync().ok
        assert b.sync().ok
        for home in ids:
            assert b.ws.households.get(home) == a.ws.households.get(home)
    finally:
        a.ws.close()
        b.ws.close()


# -- amounts and dates ---------------------------------------------------------------------------

POLICY = load_policy()
BAD_BHXH: list[dict[str, Any]] = [
    {"income": 10**15},
    {"income": -1},
    {"income": 0},
    {"months": -1},
    {"months": 0},
    {"months": 10**9},
    {"on": dt.date(1900, 1, 1)},
    {"on": dt.date(1, 1, 1)},
    {"lump_years": -1, "months": -12},
    {"lump_years": 10**6, "months": 12},
    {"back_months": -5, "months": -5},
    {"groups": ["'; DROP TABLE x"]},
    {"income": 2.5},
    {"income": True},
]
BAD_BHYT: list[dict[str, Any]] = [
    {"members": 0},
    {"members": -1},
    {"members": 10**6},
    {"months": -1},
    {"months": 7},
    {"months": 10**15},
    {"on": dt.date(1900, 1, 1)},
    {"support_group": "<script>"},
    {"covered_elsewhere": -1},
]


@pytest.mark.parametrize("bad", BAD_BHXH, ids=lambda b: json.dumps(b, default=str))
def test_calculator_refuses_absurd_bhxh_input_with_a_reason(bad: dict[str, Any]) -> None:
    """Out-of-range incomes, months, years and dates raise ValidationError with both languages."""
    args = {"income": 3_000_000, "months": 1, "groups": [], "on": START, **bad}
    with pytest.raises(ValidationError) as caught:
        calculator.bhxh_voluntary(POLICY, **args)
    assert caught.value.problems[0].vi and caught.value.problems[0].en


@pytest.mark.parametrize("bad", BAD_BHYT, ids=lambda b: json.dumps(b, default=str))
def test_calculator_refuses_absurd_bhyt_input_with_a_reason(bad: dict[str, Any]) -> None:
    """Out-of-range members, months and dates raise ValidationError with both languages."""
    with pytest.raises(ValidationError) as caught:
        calculator.bhyt_household(POLICY, **{"members": 2, "months": 12, "on": START, **bad})
    assert caught.value.problems[0].en


def _snapshot(ws: Workspace) -> tuple[int, ...]:
    tables = ("household", "member", "visit", "pledge", "pledge_event", "receipt", "receipt_book")
    return tuple(int(ws.store.scalar(f"SELECT count(*) FROM {t}")) for t in (*tables, "outbox"))


def test_services_refuse_bad_values_and_store_nothing(ws: Workspace) -> None:
    """Each refused change leaves every table, the outbox included, exactly as it was."""
    home = ws.households.add(
        province_code="15", commune_code="99001", village="Bản A", head_name="Giàng A Páo"
    )
    person = ws.members.add(home.id, full_name="Giàng A Páo", relation="Chủ hộ")
    attempts: list[Callable[[], object]] = [
        lambda: ws.pledges.pledge_bhxh(person.id, income=10**15, months=1, start=START),
        lambda: ws.pledges.pledge_bhxh(person.id, income=-1, months=1, start=START),
        lambda: ws.pledges.pledge_bhxh(person.id, income=3_000_000, months=-1, start=START),
        lambda: ws.pledges.pledge_bhyt_household(
            home.id, member_ids=[person.id], months=-1, start=START
        ),
        lambda: ws.pledges.pledge_bhyt_household(home.id, member_ids=[], months=12, start=START),
        lambda: ws.pledges.pledge_bhyt_household(
            home.id, member_ids=[person.id], months=12, start=dt.date(1, 1, 1)
        ),
        lambda: ws.members.add(home.id, full_name="Lò Thị A", date_of_birth="2026-02-30"),
        lambda: ws.members.add(home.id, full_name="Lò Thị A", date_of_birth="2030-01-01"),
        lambda: ws.members.add(home.id, full_name="Lò Thị A", date_of_birth="0001-01-01"),
        lambda: ws.members.add(home.id, full_name="Lò Thị A", date_of_birth="hôm qua"),
        lambda: ws.members.add(home.id, full_name="\u200b \ufeff"),
        lambda: ws.members.add(home.id, full_name="A" * 10_000),
        lambda: ws.members.add(home.id, full_name="Lò Thị A", cccd="'; DROP TABLE member;--"),
        lambda: ws.households.add(
            province_code="1", commune_code="99001", village="B", head_name="X Y"
        ),
        lambda: ws.households.add(
            province_code="15", commune_code="99001", village="", head_name="X Y"
        ),
        lambda: ws.households.add(
            province_code="15",
            commune_code="99001",
            village="B",
            head_name="X Y",
            best_months=[0, 13],
        ),
        lambda: ws.households.add(
            province_code="15", commune_code="99001", village="B", head_name="X Y", phone="<script>"
        ),
        lambda: ws.visits.record(home.id, outcome="consulted", at=NOW + dt.timedelta(days=1)),
        lambda: ws.visits.record(home.id, outcome="consulted", next_visit=dt.date(2000, 1, 1)),
        lambda: ws.visits.record(home.id, outcome="<b>paid</b>"),
        lambda: ws.receipts.add_book(series="AA", first=-1, last=5),
        lambda: ws.receipts.add_book(series="AA", first=0, last=0),
        lambda: ws.receipts.add_book(series="AA", first=1, last=10**20),
        lambda: ws.receipts.add_book(series="AA", first=10**19, last=10**19),
        lambda: ws.receipts.add_book(series="'; DROP", first=1, last=5),
        lambda: ws.receipts.issue(pledge_ids=[]),
        lambda: ws.pledges.cancel(new_id(), reason=" "),
    ]
    before = _snapshot(ws)
    for attempt in attempts:
        with pytest.raises(FieldappError) as caught:
            attempt()
        assert caught.value.message("en") and caught.value.message("vi")
        assert _snapshot(ws) == before
    assert ws.store.integrity_ok()


@pytest.mark.parametrize(
    "argv",
    [
        ["calc", "bhxh", "--income", "1000000000000000"],
        ["calc", "bhxh", "--income", "-1"],
        ["calc", "bhxh", "--income", "3000000", "--months", "-1"],
        ["calc", "bhxh", "--income", "3000000", "--lump-years", "99"],
        ["calc", "bhxh", "--income", "3000000", "--on", "2026-13-01"],
        ["calc", "bhxh", "--income", "3000000", "--on", "1900-01-01"],
        ["calc", "bhxh", "--income", "3000000", "--group", "<script>"],
        ["calc", "bhyt", "--members", "0", "--months", "12"],
        ["calc", "bhyt", "--members", "2", "--months", "-1"],
        ["calc", "bhyt", "--members", "99999999999999999999", "--months", "12"],
        ["calc", "bhyt", "--members", "two", "--months", "12"],
        [
            "receipts",
            "book",
            "add",
            "--series",
            "AA",
            "--first",
            "10000000000000000000",
            "--last",
            "10000000000000000000",
        ],
    ],
    ids=lambda argv: " ".join(argv[:3] + argv[-2:]),
)
def test_cli_refuses_bad_values_on_stderr_with_nonzero_exit(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused value exits non-zero with a message on stderr, no traceback, nothing stored."""
    try:
        status = fieldapp_main(["--data-dir", str(tmp_path), *argv])
    except SystemExit as exc:  # argparse's own refusal
        status = int(exc.code or 0)
    _, err = capsys.readouterr()
    assert status != 0
    assert err.strip() and "Traceback" not in err
    if (tmp_path / "fieldapp.sqlite3").exists():
        ws = Workspace.open(tmp_path)
        try:
            assert ws.pending_sync() == 0 and ws.receipts.books() == []
        finally:
            ws.close()


# -- resident import -----------------------------------------------------------------------------


def _junk_csv(path: Path, size: int, rng: random.Random) -> None:
    alphabet = "abcđếỗ0123456789/-;\"' <>"
    with path.open("w", encoding="utf-8") as out:
        out.write("Họ và tên,Ngày sinh,Giới tính,Số CCCD,Thôn\n")
        while out.tell() < size:
            cells = (
                "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))) for _ in range(5)
            )
            out.write(",".join(cells) + "\n")


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\xef\xbb\xbf",
        b"\x00" * 4096,
        bytes(random.Random(1).randrange(256) for _ in range(20_000)),
        b"PK\x03\x04" + bytes(random.Random(2).randrange(256) for _ in range(5_000)),
        b"\x1f\x8b\x08" + b"\x00" * 100,
        "Họ và tên,Ngày sinh\n".encode("utf-16"),
    ],
    ids=["empty", "bom-only", "nul", "random", "fake-zip", "gzip", "utf-16-header-only"],
)
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_import_of_garbage_is_a_clear_error_and_stores_nothing(
    ws: Workspace, tmp_path: Path, content: bytes, suffix: str
) -> None:
    """Binary garbage, empty and fake files are refused with a message, or import no one."""
    path = tmp_path / f"list{suffix}"
    path.write_bytes(content)
    before = _snapshot(ws)
    try:
        report = import_residents(ws, path, province_code="15", commune_code="99001")
    except FieldappError as exc:
        assert exc.message("en") and exc.message("vi")
    else:
        assert report.households_added == report.members_added == 0
    assert _snapshot(ws) == before


def test_import_of_a_large_junk_file_ends_in_bounded_time(ws: Workspace, tmp_path: Path) -> None:
    """Two MB of junk rows are read, judged row by row and reported within seconds."""
    path = tmp_path / "junk.csv"
    _junk_csv(path, 2 * 1024 * 1024, random.Random(3))
    started = time.monotonic()
    report = import_residents(ws, path, province_code="15", commune_code="99001")
    elapsed = time.monotonic() - started
    assert report.total_rows > 20_000
    assert report.refused_count > report.total_rows * 0.9
    assert len(report.refused) == 1000  # reasons for the first rows only: memory stays bounded
    assert elapsed < 30, elapsed
    assert ws.store.integrity_ok()
    # Whatever rows passed are whole households with their members and outbox rows.
    assert ws.households.count() == report.households_added
    assert ws.pending_sync() == report.households_added + report.members_added
