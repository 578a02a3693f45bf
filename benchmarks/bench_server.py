"""Server figures under load: every device's batch in flight at once against
`fieldapp-server run --workers N`, on PostgreSQL with 4 workers and with 1, and on SQLite with
1 worker at growing numbers in flight, to find where it stops keeping up.

Each device sends one batch of 50 records on a connection of its own, all at once; the figures
are the latency of those requests (p50, p99) and the records per second over the whole burst.
A run in which any batch is not acknowledged, is refused in part, or is applied more or less
than once (records, change-feed rows and stored batches counted in the database) measures
infinity and fails. The per-device rate limit stays as configured (each device sends once, so
it must refuse nothing). On SQLite the burst grows (500 to 3,000 in flight) until answers come
slower than the laptop's 30 s timeout. PostgreSQL rows need FIELDAPP_TEST_PG_URL (a fresh
schema each).
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from bench_sync import (
    PG_URL_ENV,
    _check_counts,
    _device_batch,
    _engine,
    _enrol_devices,
    _free_port,
    postgres_url,
)
from common import ROOT, Figure, percentile, print_table

from sync.protocol import wire

HOUSEHOLDS = 10  # 5 records each: 50 records a batch
RECORDS = HOUSEHOLDS * 5
# The laptop's own request timeout (sync.client.SyncClient): an answer slower than this is,
# for a laptop, no answer.
LAPTOP_TIMEOUT = 30.0
# The burst's own client waits longer, so that a slow answer is measured rather than lost.
BURST_TIMEOUT = 300.0
SINGLE_RUNS = 15


def _raise_open_files() -> int:
    """Raise this process's open-file limit to its hard limit (the servers started from here
    inherit it): every device in flight holds a socket at each end."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@contextmanager
def running_workers(database_url: str, workers: int, log: Path) -> Iterator[str]:
    """`fieldapp-server run --workers N` on 127.0.0.1; yields its base URL once every worker
    has started. The process is stopped by its own id."""
    port = _free_port()
    code = (
        "import sys; from sync.server.cli import main; "
        f"sys.exit(main(['--database-url', {database_url!r}, 'run', '--port', '{port}', "
        f"'--workers', '{workers}']))"
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while log.read_text(errors="replace").count("Application startup complete") < workers:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@dataclass(frozen=True)
class Answer:
    seconds: float
    status: int  # 0: no answer (timeout or connection error)
    ack: dict[str, object] | None


async def _burst(base_url: str, uploads: list[tuple[str, bytes]], timeout: float) -> list[Answer]:
    """Every (token, body) posted at once, each on a connection of its own."""
    limits = httpx.Limits(max_connections=len(uploads), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits) as http:

        async def one(token: str, body: bytes) -> Answer:
            start = time.perf_counter()
            try:
                response = await http.post(
                    wire.BATCHES_PATH,
                    content=body,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Encoding": "gzip",
                        "Content-Type": "application/json",
                    },
                )
            except httpx.HTTPError:
                return Answer(time.perf_counter() - start, 0, None)
            seconds = time.perf_counter() - start
            ack = response.json() if response.status_code == 200 else None
            return Answer(seconds, response.status_code, ack)

        return await asyncio.gather(*(one(token, body) for token, body in uploads))


@dataclass(frozen=True)
class Burst:
    """What one burst measured: latencies, wall time, what went wrong (empty when nothing)."""

    label: str
    devices: int
    workers: int
    single_p50: float
    latencies: list[float]
    wall: float
    wrong: list[str]
    slow: int  # answers slower than the laptop's timeout

    @property
    def rate(self) -> float:
        return self.devices * RECORDS / self.wall

    @property
    def single_rate(self) -> float:
        return RECORDS / self.single_p50


def burst(label: str, url: str, devices_count: int, workers: int, tmp: Path) -> Burst:
    """Enrol devices_count + 1 devices, measure one device alone, then all of them at once."""
    engine = _engine(url)
    enrolled = _enrol_devices(engine, devices_count + 1)
    single_id, single_agent, single_token = enrolled.pop()
    uploads = [(token, _device_batch(d, a, HOUSEHOLDS)) for d, a, token in enrolled]
    log = tmp / f"server-{label.replace(' ', '-')}-{devices_count}.log"
    with running_workers(url, workers, log) as base_url:
        single: list[float] = []
        for _ in range(SINGLE_RUNS):
            body = _device_batch(single_id, single_agent, HOUSEHOLDS)
            (alone,) = asyncio.run(_burst(base_url, [(single_token, body)], LAPTOP_TIMEOUT))
            if alone.status == 200:
                single.append(alone.seconds)
        start = time.perf_counter()
        answers = asyncio.run(_burst(base_url, uploads, BURST_TIMEOUT))
        wall = time.perf_counter() - start
    wrong = []
    statuses: dict[int, int] = {}
    for answer in answers:
        if answer.status != 200:
            statuses[answer.status] = statuses.get(answer.status, 0) + 1
    if statuses:
        named = {0: "no answer", 429: "429 rate limited"}
        wrong.append(
            ", ".join(f"{n} × {named.get(s, f'HTTP {s}')}" for s, n in sorted(statuses.items()))
        )
    refused = sum(len(a.ack["refused"]) for a in answers if a.ack)  # type: ignore[arg-type]
    if refused:
        wrong.append(f"{refused} records refused")
    problem = _check_counts(engine, [d for d, _a, _t in enrolled], devices_count * RECORDS)
    if problem:
        wrong.append(f"database: {problem}")
    if len(single) < SINGLE_RUNS:
        wrong.append(f"one device alone: {SINGLE_RUNS - len(single)} uploads failed")
    engine.dispose()
    latencies = [a.seconds for a in answers]
    slow = sum(1 for seconds in latencies if seconds > LAPTOP_TIMEOUT)
    return Burst(
        label,
        devices_count,
        workers,
        percentile(single, 50) if single else float("nan"),
        latencies,
        wall,
        wrong,
        slow,
    )


def _verdict(result: Burst) -> str:
    if result.wrong:
        return "WRONG: " + "; ".join(result.wrong)
    return "all acknowledged once"


def burst_figures(result: Burst) -> list[Figure]:
    """p50, p99 and records/s of one burst; a wrong run measures infinity."""
    ok = not result.wrong
    name = (
        f"{result.devices} devices × {RECORDS} rec, all in flight "
        f"({result.label}, {result.workers} worker{'s' if result.workers > 1 else ''})"
    )
    slow = (
        f"; {result.slow} answers slower than the laptop's {LAPTOP_TIMEOUT:.0f} s timeout"
        if result.slow
        else ""
    )
    note = f"{_verdict(result)}{slow}; floor: one device alone"
    p50 = percentile(result.latencies, 50) * 1000 if ok else float("inf")
    p99 = percentile(result.latencies, 99) * 1000 if ok else float("inf")
    single_ms = result.single_p50 * 1000
    return [
        Figure(f"{name}: p50", p50, single_ms, "ms", None, note=note),
        Figure(f"{name}: p99", p99, single_ms, "ms", None, note=note),
        Figure(
            f"{name}: records/s",
            result.rate if ok else float("inf"),
            result.single_rate,
            "/s",
            None,
            lower_is_better=False,
            note=f"{_verdict(result)}; floor: one device alone, sequentially",
        ),
    ]


def gain_figure(many: Burst, one: Burst) -> Figure:
    """Records/s with several workers against one, the same burst on the same database."""
    ok = not many.wrong and not one.wrong
    return Figure(
        f"PostgreSQL {many.devices} in flight: {many.workers} workers vs 1",
        many.rate if ok else float("inf"),
        one.rate,
        "/s",
        None,
        lower_is_better=False,
        note=(
            f"records/s with {many.workers} workers; floor: the same with 1; "
            + ("both all acknowledged once" if ok else "WRONG: a run failed")
        ),
    )


def sqlite_levels(levels: list[int], tmp: Path) -> list[Figure]:
    """SQLite, 1 worker, at each number in flight: where it stops keeping up, i.e. requests
    fail or answers come slower than the laptop's timeout."""
    figures: list[Figure] = []
    gave_out: int | None = None
    for level in levels:
        url = f"sqlite:///{tmp / f'server-{level}.sqlite3'}"
        result = burst("SQLite", url, level, 1, tmp)
        # Slow answers are what this row looks for, not a wrong run; a wrong run still fails.
        kept_up = not result.wrong and result.slow == 0
        if not kept_up and gave_out is None:
            gave_out = level
        p99 = percentile(result.latencies, 99) * 1000
        state = (
            "keeps up"
            if kept_up
            else (
                f"stops keeping up: {result.slow} of {level} answers slower than "
                f"{LAPTOP_TIMEOUT:.0f} s"
            )
        )
        figures.append(
            Figure(
                f"SQLite, 1 worker, {level} in flight: p99",
                p99 if not result.wrong else float("inf"),
                result.single_p50 * 1000,
                "ms",
                None,
                note=(
                    f"{_verdict(result)}; {state}; p50 "
                    f"{percentile(result.latencies, 50) * 1000:,.0f} ms, "
                    f"{result.rate:,.0f} records/s; floor: one device alone"
                ),
            )
        )
    summary = (
        f"SQLite (1 worker) stops keeping up at {gave_out} in flight"
        if gave_out is not None
        else f"SQLite (1 worker) keeps up to {levels[-1]} in flight"
    )
    print(f"bench_server: {summary}", file=sys.stderr)
    return figures


def run(quick: bool = False) -> list[Figure]:
    fds = _raise_open_files()
    devices_count = 100 if quick else 2000
    levels = [25, 50, 100] if quick else [500, 1000, 2000, 3000]
    if fds < max(devices_count, *levels) + 200:
        print(f"bench_server: only {fds} open files allowed", file=sys.stderr)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with postgres_url() as pg_url:
            if pg_url is None:
                print(
                    f"bench_server: PostgreSQL rows skipped ({PG_URL_ENV} is not set)",
                    file=sys.stderr,
                )
            else:
                many = burst("PostgreSQL", pg_url, devices_count, 4, tmp)
        if pg_url is not None:
            with postgres_url() as pg_url_one:
                assert pg_url_one is not None
                one = burst("PostgreSQL", pg_url_one, devices_count, 1, tmp)
            figures += burst_figures(many) + burst_figures(one) + [gain_figure(many, one)]
        figures += sqlite_levels(levels, tmp)
    return figures


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv), "fieldapp server under load")
