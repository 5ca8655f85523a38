"""Writes to PostgreSQL: idempotent upserts, atomic job completion, dead letters.

Every write is an ``INSERT ... ON CONFLICT`` keyed on a natural identifier (job id, the
deterministic event id, the time-series primary keys), so a replayed or duplicated message
leaves the database as it was. A job is completed in one transaction: its status, its result
and its metrics are all written, or none is.

The Kafka consumer that calls these lives in :mod:`connectors.kafka_sink`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from connectors.db.jobs import update_job_progress
from schemas.codec import CodecError, decode_any
from schemas.records import (
    AnalysisResult,
    DeadLetter,
    Detection,
    JobProgress,
    UrgentAlert,
    WindowResult,
)

RESULT_SCHEMA = "brrr.eeg.AnalysisResult"
DETECTION_SCHEMA = "brrr.eeg.Detection"
WINDOW_RESULT_SCHEMA = "brrr.eeg.WindowResult"
PROGRESS_SCHEMA = "brrr.eeg.JobProgress"
DEAD_LETTER_SCHEMA = "brrr.eeg.DeadLetter"
ALERT_SCHEMA = "brrr.eeg.UrgentAlert"

#: Errors a message causes every time it is written (bad value, violated constraint): the
#: message goes to the dead letters. Anything else (connection lost...) is retried.
PERMANENT_DB_ERRORS: tuple[type[Exception], ...] = (
    psycopg.errors.IntegrityError,
    psycopg.DataError,
)

Outcome = Literal["written", "dead_letter"]


# --- atomic job completion ----------------------------------------------------------------------

_UPSERT_JOB = """
INSERT INTO analysis_jobs (job_id, file_id, recording_id, analysis_type, status, progress,
                           error, created_at, started_at, completed_at, updated_at)
VALUES (%(job_id)s, (SELECT file_id FROM uploaded_files WHERE file_id = %(file_id)s),
        %(recording_id)s, %(analysis_type)s, %(status)s, 1, %(error)s,
        %(created_at)s, %(created_at)s, %(created_at)s, now())
ON CONFLICT (job_id) DO UPDATE
   SET status = EXCLUDED.status,
       progress = 1,
       error = EXCLUDED.error,
       recording_id = COALESCE(analysis_jobs.recording_id, EXCLUDED.recording_id),
       started_at = COALESCE(analysis_jobs.started_at, EXCLUDED.started_at),
       completed_at = EXCLUDED.completed_at,
       updated_at = now()
"""

_UPSERT_RESULT = """
INSERT INTO analysis_results (job_id, recording_id, status, is_abnormal, confidence,
                              triage_priority, signal_quality_score, n_events, scorer,
                              model_weights_id, versions, result, created_at)
VALUES (%(job_id)s, %(recording_id)s, %(status)s, %(is_abnormal)s, %(confidence)s,
        %(triage_priority)s, %(signal_quality_score)s, %(n_events)s, %(scorer)s,
        %(model_weights_id)s, %(versions)s, %(result)s, %(created_at)s)
ON CONFLICT (job_id) DO UPDATE
   SET recording_id = EXCLUDED.recording_id, status = EXCLUDED.status,
       is_abnormal = EXCLUDED.is_abnormal, confidence = EXCLUDED.confidence,
       triage_priority = EXCLUDED.triage_priority,
       signal_quality_score = EXCLUDED.signal_quality_score, n_events = EXCLUDED.n_events,
       scorer = EXCLUDED.scorer, model_weights_id = EXCLUDED.model_weights_id,
       versions = EXCLUDED.versions, result = EXCLUDED.result,
       created_at = EXCLUDED.created_at
"""

_UPSERT_ANALYSIS_METRICS = """
INSERT INTO analysis_metrics (time, job_id, analysis_type, processing_time_s, inference_time_s,
                              n_windows, duration_s)
VALUES (%(created_at)s, %(job_id)s, %(analysis_type)s, %(processing_time_s)s,
        %(inference_time_s)s, %(n_windows)s, %(duration_s)s)
ON CONFLICT (job_id, time) DO UPDATE
   SET analysis_type = EXCLUDED.analysis_type,
       processing_time_s = EXCLUDED.processing_time_s,
       inference_time_s = EXCLUDED.inference_time_s,
       n_windows = EXCLUDED.n_windows, duration_s = EXCLUDED.duration_s
"""

#: The statements of a job completion, in order; names passed to ``after_statement``.
COMPLETION_STEPS = ("job", "result", "metrics")


async def complete_job(
    conn: AsyncConnection,
    result: AnalysisResult,
    *,
    after_statement: Callable[[str], None] | None = None,
) -> None:
    """Complete a job from its result: status, result row and metrics, all or nothing.

    Runs in one transaction (a savepoint when the caller already has one open). Replaying
    the same result leaves the same rows.

    Parameters
    ----------
    conn : psycopg.AsyncConnection
        An open connection.
    result : AnalysisResult
        The decoded ``brrr.eeg.AnalysisResult`` record.
    after_statement : callable or None
        Called with each name of :data:`COMPLETION_STEPS` after its statement ran, inside
        the transaction: an exception it raises rolls the whole completion back (used to
        show that a failure half-way leaves no half-written job).

    Raises
    ------
    ValueError
        When ``result_json`` is not JSON (nothing is written).
    psycopg.Error
        When a statement fails (nothing is written).
    """
    try:
        document = json.loads(result["result_json"])
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"result_json of job {result['job_id']} is not JSON ({exc}): fix the producer"
        ) from None
    params: dict[str, Any] = {
        "file_id": None,
        "is_abnormal": None,
        "signal_quality_score": None,
        "model_weights_id": None,
        "inference_time_s": None,
        "error": None,
        **result,
        "versions": Jsonb(result.get("versions", {})),
        "result": Jsonb(document),
    }
    statements = (_UPSERT_JOB, _UPSERT_RESULT, _UPSERT_ANALYSIS_METRICS)
    async with conn.transaction():
        for step, statement in zip(COMPLETION_STEPS, statements, strict=True):
            await conn.execute(statement, params)
            if after_statement is not None:
                after_statement(step)


# --- detections and time series -----------------------------------------------------------------

_UPSERT_DETECTION = """
INSERT INTO detections (event_id, start_time, job_id, recording_id, event_type, subtype,
                        onset_s, duration_s, channels, confidence)
VALUES (%(event_id)s, %(start_time)s, %(job_id)s, %(recording_id)s, %(event_type)s,
        %(subtype)s, %(onset_s)s, %(duration_s)s, %(channels)s, %(confidence)s)
ON CONFLICT (event_id, start_time) DO NOTHING
"""


async def upsert_detections(conn: AsyncConnection, detections: Sequence[Detection]) -> None:
    """Insert detections; one already there (same event id and time) is left unchanged."""
    if not detections:
        return
    rows = [{"subtype": None, **d} for d in detections]
    async with conn.cursor() as cur:
        await cur.executemany(_UPSERT_DETECTION, rows)


@dataclass(frozen=True)
class WindowQualityRow:
    """Quality of one analysis window."""

    recording_id: str
    window_index: int
    window_start: datetime
    quality_score: float
    is_artifact: bool = False
    bad_channels: tuple[str, ...] = ()
    job_id: str | None = None


async def upsert_window_quality(conn: AsyncConnection, rows: Iterable[WindowQualityRow]) -> None:
    """Insert or replace per-window quality rows (keyed on recording, window, time)."""
    params = [
        (
            r.recording_id,
            r.window_index,
            r.window_start,
            r.job_id,
            r.quality_score,
            r.is_artifact,
            list(r.bad_channels),
        )
        for r in rows
    ]
    if not params:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            """
            INSERT INTO window_quality (recording_id, window_index, window_start, job_id,
                                        quality_score, is_artifact, bad_channels)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (recording_id, window_index, window_start) DO UPDATE
               SET job_id = EXCLUDED.job_id, quality_score = EXCLUDED.quality_score,
                   is_artifact = EXCLUDED.is_artifact, bad_channels = EXCLUDED.bad_channels
            """,
            params,
        )


_UPSERT_WINDOW_RESULT = """
INSERT INTO window_quality (recording_id, window_index, window_start, job_id, quality_score,
                            is_artifact, bad_channels, abnormal_score, start_s)
VALUES (%(recording_id)s, %(window_index)s, %(window_start)s, %(job_id)s, %(quality_score)s,
        %(is_artifact)s, %(bad_channels)s, %(abnormal_score)s, %(start_s)s)
ON CONFLICT (recording_id, window_index, window_start) DO UPDATE
   SET job_id = EXCLUDED.job_id, quality_score = EXCLUDED.quality_score,
       is_artifact = EXCLUDED.is_artifact, bad_channels = EXCLUDED.bad_channels,
       abnormal_score = EXCLUDED.abnormal_score, start_s = EXCLUDED.start_s
"""


async def upsert_window_results(conn: AsyncConnection, results: Sequence[WindowResult]) -> None:
    """Insert or replace the final per-window rows of the stream (one per window)."""
    if results:
        async with conn.cursor() as cur:
            await cur.executemany(_UPSERT_WINDOW_RESULT, results)


async def copy_system_metrics(
    conn: AsyncConnection, rows: Iterable[tuple[datetime, str, str, float]]
) -> int:
    """Bulk-load ``(time, host, metric, value)`` rows with COPY; returns the row count.

    COPY does not upsert: use it for fresh rows (a duplicate key fails the whole copy).
    """
    n = 0
    statement = "COPY system_metrics (time, host, metric, value) FROM STDIN"
    async with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            await copy.write_row(row)
            n += 1
    return n


# --- one Kafka message ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SinkMessage:
    """What the sink needs of one Kafka message."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


async def dead_letter(
    conn: AsyncConnection, message: SinkMessage, error_code: str, error: str
) -> None:
    """Keep a message the sink cannot use, with the reason (idempotent on its offset)."""
    await conn.execute(
        """
        INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, message_key, payload,
                                  error_code, error)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING
        """,
        (
            message.topic,
            message.partition,
            message.offset,
            message.key,
            message.value,
            error_code,
            error,
        ),
    )


async def store_kafka_dead_letter(conn: AsyncConnection, letter: DeadLetter) -> None:
    """Keep a message an agent refused (from ``eeg.deadletter``) under its original topic,
    partition and offset, so ``dead_letters`` lists everything refused in one place."""
    await conn.execute(
        """
        INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, message_key, payload,
                                  error_code, error, agent)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING
        """,
        (
            letter["topic"],
            letter["partition"],
            letter["offset"],
            letter["key"],
            letter["payload"],
            letter["error_code"],
            letter["error"],
            letter["agent"],
        ),
    )


async def store_alert(conn: AsyncConnection, alert: UrgentAlert) -> None:
    """Keep an urgent alert (once per episode and status, however often it is delivered)."""
    await conn.execute(
        """
        INSERT INTO alerts (alert_id, status, recording_id, device_id, patient_ref, finding,
                            onset_s, onset_time, end_s, confidence, evidence_window,
                            evidence_end_s, emitted_at)
        VALUES (%(alert_id)s, %(status)s, %(recording_id)s, %(device_id)s, %(patient_ref)s,
                %(finding)s, %(onset_s)s, %(onset_time)s, %(end_s)s, %(confidence)s,
                %(evidence_window)s, %(evidence_end_s)s, %(emitted_at)s)
        ON CONFLICT (alert_id, status) DO NOTHING
        """,
        alert,
    )


async def _write_record(conn: AsyncConnection, name: str, record: dict[str, Any]) -> None:
    """Write one decoded record where its schema says it belongs."""
    if name == RESULT_SCHEMA:
        await complete_job(conn, record)  # type: ignore[arg-type]
    elif name == DETECTION_SCHEMA:
        await upsert_detections(conn, [record])  # type: ignore[list-item]
    elif name == WINDOW_RESULT_SCHEMA:
        await upsert_window_results(conn, [record])  # type: ignore[list-item]
    elif name == PROGRESS_SCHEMA:
        progress: JobProgress = record  # type: ignore[assignment]
        await update_job_progress(conn, progress["job_id"], min(1.0, progress["progress"]))
    elif name == ALERT_SCHEMA:
        await store_alert(conn, record)  # type: ignore[arg-type]
    elif name == DEAD_LETTER_SCHEMA:
        await store_kafka_dead_letter(conn, record)  # type: ignore[arg-type]
    else:
        raise _RefusedError("unexpected_schema", f"the sink does not store {name}")


async def write_message(conn: AsyncConnection, message: SinkMessage) -> Outcome:
    """Decode one message and write it, or send it to the dead letters.

    Runs in a savepoint of the caller's transaction: a message refused by a constraint
    is rolled back on its own and recorded as a dead letter, and the batch goes on.
    Transient errors (connection lost, serialization failure) propagate, so the caller
    rolls back and retries without committing offsets.
    """
    try:
        if message.value is None:
            raise _RefusedError("empty_payload", "message has no value (a tombstone?)")
        try:
            name, record = decode_any(message.value)
        except CodecError as exc:
            raise _RefusedError(exc.code, str(exc)) from None
        try:
            async with conn.transaction():
                await _write_record(conn, name, record)
        except PERMANENT_DB_ERRORS as exc:
            code = exc.sqlstate or "db_refused"
            raise _RefusedError(f"db_{code}", f"{type(exc).__name__}: {str(exc).strip()}") from None
        except ValueError as exc:
            raise _RefusedError("invalid_value", str(exc)) from None
    except _RefusedError as refused:
        await dead_letter(conn, message, refused.code, refused.message)
        return "dead_letter"
    return "written"


class _RefusedError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
