"""Read queries of the results database, for the REST layer and the benchmarks.

Time buckets use ``date_bin()`` (PostgreSQL 14+), which answers the same on plain
partitioned tables and on TimescaleDB hypertables (where ``time_bucket()`` would also do).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

#: Origin of every time bucket, so that buckets line up across queries (midnight UTC).
BUCKET_ORIGIN = datetime.fromisoformat("2000-01-01T00:00:00+00:00")


async def job_status(conn: AsyncConnection, job_id: str) -> dict[str, Any] | None:
    """A job's status, progress, retries, error and timestamps; None when unknown."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT job_id::text, file_id::text, recording_id, batch_id::text, analysis_type,
                   status, progress, retry_count, error, created_at, started_at,
                   completed_at, updated_at
              FROM analysis_jobs WHERE job_id = %s
            """,
            (job_id,),
        )
        return await cur.fetchone()


async def analysis_result(conn: AsyncConnection, job_id: str) -> dict[str, Any] | None:
    """A job's result summary and full document (``result``); None when there is none."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT job_id::text, recording_id, status, is_abnormal, confidence,
                   triage_priority, signal_quality_score, n_events, scorer, model_weights_id,
                   versions, result, created_at
              FROM analysis_results WHERE job_id = %s
            """,
            (job_id,),
        )
        return await cur.fetchone()


async def detections(
    conn: AsyncConnection,
    *,
    recording_id: str | None = None,
    job_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    event_type: str | None = None,
) -> list[dict[str, Any]]:
    """Detections of a recording or job, optionally of one type and time range, in time
    order."""
    if recording_id is None and job_id is None:
        raise ValueError("detections() needs a recording_id or a job_id")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT event_id::text, job_id::text, recording_id, event_type, subtype, onset_s,
                   duration_s, start_time, channels, confidence
              FROM detections
             WHERE (%(recording_id)s::text IS NULL OR recording_id = %(recording_id)s)
               AND (%(job_id)s::uuid IS NULL OR job_id = %(job_id)s::uuid)
               AND (%(since)s::timestamptz IS NULL OR start_time >= %(since)s)
               AND (%(until)s::timestamptz IS NULL OR start_time < %(until)s)
               AND (%(event_type)s::text IS NULL OR event_type = %(event_type)s)
             ORDER BY start_time, event_id
            """,
            {
                "recording_id": recording_id,
                "job_id": job_id,
                "since": since,
                "until": until,
                "event_type": event_type,
            },
        )
        return await cur.fetchall()


async def metric_average(
    conn: AsyncConnection,
    metric: str,
    *,
    since: datetime,
    until: datetime,
    bucket: timedelta = timedelta(hours=1),
    host: str | None = None,
) -> list[tuple[datetime, float, int]]:
    """Average of a system metric per time bucket: ``(bucket_start, mean, n_rows)`` rows.

    Parameters
    ----------
    metric : str
        Metric name, e.g. ``cpu_percent``.
    since, until : datetime
        Half-open time range ``[since, until)``.
    bucket : timedelta
        Bucket width (buckets start at :data:`BUCKET_ORIGIN` plus multiples of it).
    host : str or None
        One host, or all.
    """
    async with conn.cursor() as cur:
        await cur.execute(
            """
            SELECT date_bin(%(bucket)s, time, %(origin)s) AS bucket, avg(value), count(*)
              FROM system_metrics
             WHERE metric = %(metric)s AND time >= %(since)s AND time < %(until)s
               AND (%(host)s::text IS NULL OR host = %(host)s)
             GROUP BY bucket ORDER BY bucket
            """,
            {
                "bucket": bucket,
                "origin": BUCKET_ORIGIN,
                "metric": metric,
                "since": since,
                "until": until,
                "host": host,
            },
        )
        return [(b, float(mean), int(n)) for b, mean, n in await cur.fetchall()]


async def analysis_times(
    conn: AsyncConnection,
    *,
    since: datetime,
    until: datetime,
    bucket: timedelta = timedelta(hours=1),
) -> list[dict[str, Any]]:
    """Jobs per time bucket with mean processing and inference times, seconds."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT date_bin(%(bucket)s, time, %(origin)s) AS bucket, count(*) AS n_jobs,
                   avg(processing_time_s) AS mean_processing_time_s,
                   avg(inference_time_s) AS mean_inference_time_s
              FROM analysis_metrics
             WHERE time >= %(since)s AND time < %(until)s
             GROUP BY bucket ORDER BY bucket
            """,
            {"bucket": bucket, "origin": BUCKET_ORIGIN, "since": since, "until": until},
        )
        return await cur.fetchall()


async def alerts(
    conn: AsyncConnection,
    *,
    recording_id: str | None = None,
    since: datetime | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Urgent alerts, newest first: one row per episode and status (onset, ended)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT alert_id::text, status, recording_id, device_id, patient_ref, finding,
                   onset_s, onset_time, end_s, confidence, evidence_window, evidence_end_s,
                   emitted_at
              FROM alerts
             WHERE (%(recording)s::text IS NULL OR recording_id = %(recording)s)
               AND (%(since)s::timestamptz IS NULL OR emitted_at >= %(since)s)
             ORDER BY emitted_at DESC
             LIMIT %(limit)s
            """,
            {"recording": recording_id, "since": since, "limit": limit},
        )
        return await cur.fetchall()
