"""Benchmark of the results database: one day of per-minute system metrics.

Against the configured PostgreSQL (the local stack by default), after applying the
migrations:

- 1,440 per-minute rows (one day, one host, one metric) inserted in bulk with COPY
  (:func:`connectors.db.sink.copy_system_metrics`);
- the same rows inserted row by row, one INSERT and one commit each (the naive way), and the
  ratio of the two;
- the hourly average over the last 24 hours with ``date_bin``
  (:func:`connectors.db.queries.metric_average`): the first (cold) query and the median of
  the following ones.

Each measurement is repeated ``--repeats`` times on fresh hosts and the median reported. The
original specification asked for the bulk insert under 1 s and the query under 100 ms; the
figures are printed against those targets, not asserted. Rows written are deleted at the end.
Figures go to stdout and ``bench/results/connectors.json``.

Usage: ``python bench/bench_connectors.py [--repeats 3] [--queries 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection

from connectors.db.migrate import migrate
from connectors.db.queries import metric_average
from connectors.db.sink import copy_system_metrics
from connectors.settings import get_settings

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MINUTES_PER_DAY = 1440
METRIC = "cpu_percent"


def day_of_rows(host: str, end: datetime) -> list[tuple[datetime, str, str, float]]:
    """1,440 per-minute rows ending at ``end``: a 6-hour sawtooth of CPU load."""
    start = end - timedelta(minutes=MINUTES_PER_DAY)
    return [
        (start + timedelta(minutes=m), host, METRIC, 40.0 + 30.0 * ((m % 360) / 360.0))
        for m in range(MINUTES_PER_DAY)
    ]


async def time_copy(conn: AsyncConnection, rows: list) -> float:
    started = time.perf_counter()
    async with conn.transaction():
        await copy_system_metrics(conn, rows)
    return time.perf_counter() - started


async def time_row_by_row(conn: AsyncConnection, rows: list) -> float:
    started = time.perf_counter()
    for row in rows:  # autocommit: one INSERT, one commit per row
        await conn.execute(
            "INSERT INTO system_metrics (time, host, metric, value) VALUES (%s, %s, %s, %s)", row
        )
    return time.perf_counter() - started


async def time_queries(
    conn: AsyncConnection, host: str, end: datetime, n: int
) -> tuple[float, float, int]:
    """(cold, median warm) seconds of the hourly average, and its number of buckets."""
    durations = []
    buckets = 0
    for _ in range(n + 1):
        started = time.perf_counter()
        rows = await metric_average(
            conn, METRIC, since=end - timedelta(hours=24), until=end, host=host
        )
        durations.append(time.perf_counter() - started)
        buckets = len(rows)
    return durations[0], statistics.median(durations[1:]), buckets


async def run(repeats: int, n_queries: int) -> dict[str, Any]:
    settings = get_settings()
    report = await asyncio.to_thread(migrate, settings.postgres_url)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    hosts: list[str] = []
    copy_s, row_s, cold_s, warm_s = [], [], [], []
    buckets = 0
    async with await AsyncConnection.connect(settings.postgres_url, autocommit=True) as conn:
        try:
            for _ in range(repeats):
                bulk_host, naive_host = (f"bench-{uuid.uuid4().hex[:8]}" for _ in range(2))
                hosts += [bulk_host, naive_host]
                copy_s.append(await time_copy(conn, day_of_rows(bulk_host, end)))
                row_s.append(await time_row_by_row(conn, day_of_rows(naive_host, end)))
                cold, warm, buckets = await time_queries(conn, bulk_host, end, n_queries)
                cold_s.append(cold)
                warm_s.append(warm)
        finally:
            await conn.execute("DELETE FROM system_metrics WHERE host = ANY(%s)", (hosts,))
        version = (await (await conn.execute("SHOW server_version")).fetchone())[0]
    copy_med, row_med = statistics.median(copy_s), statistics.median(row_s)
    return {
        "rows": MINUTES_PER_DAY,
        "repeats": repeats,
        "queries_per_repeat": n_queries,
        "backend": report.backend,
        "postgres": version,
        "machine": platform.platform(),
        "copy_insert_s": copy_med,
        "row_by_row_insert_s": row_med,
        "row_by_row_over_copy": row_med / copy_med,
        "hourly_average_cold_s": statistics.median(cold_s),
        "hourly_average_warm_s": statistics.median(warm_s),
        "hourly_buckets": buckets,
        "all_copy_s": copy_s,
        "all_row_by_row_s": row_s,
        "targets": {"bulk_insert_s": 1.0, "hourly_average_s": 0.1},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()
    figures = asyncio.run(run(args.repeats, args.queries))

    def verdict(value: float, target: float) -> str:
        return "within" if value < target else "OVER"

    print(f"PostgreSQL {figures['postgres']} ({figures['backend']} time-series tables)")
    print(
        f"bulk insert, COPY, {figures['rows']} rows:   {figures['copy_insert_s'] * 1e3:8.1f} ms"
        f"  ({verdict(figures['copy_insert_s'], 1.0)} the 1 s target)"
    )
    print(
        f"row by row, one commit each:       {figures['row_by_row_insert_s'] * 1e3:8.1f} ms"
        f"  ({figures['row_by_row_over_copy']:.1f}x slower than COPY)"
    )
    print(
        f"hourly average, 24 h, date_bin:    {figures['hourly_average_warm_s'] * 1e3:8.2f} ms"
        f"  (cold {figures['hourly_average_cold_s'] * 1e3:.2f} ms, {figures['hourly_buckets']}"
        f" buckets; {verdict(figures['hourly_average_warm_s'], 0.1)} the 100 ms target)"
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "connectors.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
