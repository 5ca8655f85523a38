"""Writes and reads of the results database that the REST layer uses, against the real
PostgreSQL: uploads, recordings, per-window quality, job status, results, detections and
the date_bin time buckets."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from psycopg import AsyncConnection

from connectors.db import queries
from connectors.db.jobs import create_job, patient_reference, register_recording, register_upload
from connectors.db.migrate import migrate
from connectors.db.sink import (
    WindowQualityRow,
    complete_job,
    upsert_detections,
    upsert_window_quality,
)
from connectors.settings import Settings
from schemas.ids import detection_event_id

pytestmark = pytest.mark.integration


@pytest.fixture
async def conn(stack: Settings) -> AsyncIterator[AsyncConnection]:
    migrate(stack.postgres_url)
    connection = await AsyncConnection.connect(stack.postgres_url, autocommit=True)
    yield connection
    await connection.close()


async def test_upload_job_result_and_events_read_back(conn: AsyncConnection) -> None:
    file_id, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    recording_id = f"rec-{file_id[:8]}"
    data = b"0       EDF bytes"
    ref = patient_reference("Doe^Jane 1970-01-01", b"deployment-secret-key")
    await register_upload(
        conn,
        file_id=file_id,
        filename="night.edf",
        object_key=f"raw/{file_id}/night.edf",
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        patient_ref=ref,
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    await register_recording(
        conn,
        recording_id=recording_id,
        source="upload",
        file_id=file_id,
        patient_ref=ref,
        start_time=start,
        duration_s=600.0,
        sfreq_hz=256.0,
        ch_names=["Fp1", "Fp2"],
    )
    stored = await (
        await conn.execute("SELECT * FROM recordings WHERE recording_id = %s", (recording_id,))
    ).fetchone()
    assert not any("Jane" in str(v) for v in stored)  # no name anywhere in the row

    await create_job(conn, job_id=job_id, analysis_type="screening", file_id=file_id)
    assert (await queries.job_status(conn, job_id))["status"] == "queued"
    assert await queries.analysis_result(conn, job_id) is None

    await upsert_window_quality(
        conn,
        [
            WindowQualityRow(recording_id, i, start + timedelta(seconds=4 * i), 0.9, i == 2)
            for i in range(5)
        ],
    )
    document = {"abnormality": {"is_abnormal": True}, "windows": 150}
    result = {
        "job_id": job_id,
        "file_id": file_id,
        "recording_id": recording_id,
        "analysis_type": "screening",
        "status": "completed",
        "created_at": start + timedelta(minutes=30),
        "is_abnormal": True,
        "confidence": 0.8,
        "triage_priority": "expedite",
        "signal_quality_score": 0.9,
        "n_events": 2,
        "scorer": "qeeg-baseline",
        "versions": {},
        "n_windows": 150,
        "duration_s": 600.0,
        "processing_time_s": 9.0,
        "inference_time_s": 2.0,
        "result_json": json.dumps(document),
    }
    await complete_job(conn, result)
    events = [
        {
            "job_id": job_id,
            "recording_id": recording_id,
            "event_id": detection_event_id(job_id, kind, onset, ["T7"]),
            "event_type": kind,
            "onset_s": onset,
            "duration_s": 1.0,
            "start_time": start + timedelta(seconds=onset),
            "channels": ["T7"],
            "confidence": 0.7,
        }
        for kind, onset in (("epileptiform", 30.0), ("seizure", 300.0))
    ]
    await upsert_detections(conn, events)

    status = await queries.job_status(conn, job_id)
    assert status["status"] == "completed" and status["file_id"] == file_id
    stored = await queries.analysis_result(conn, job_id)
    assert stored["result"] == document and stored["triage_priority"] == "expedite"
    found = await queries.detections(conn, recording_id=recording_id)
    assert [e["event_type"] for e in found] == ["epileptiform", "seizure"]
    assert await queries.detections(conn, job_id=job_id, event_type="seizure") == found[1:]
    done_at = result["created_at"]
    times = await queries.analysis_times(conn, since=done_at, until=done_at + timedelta(seconds=1))
    assert [
        (t["n_jobs"], t["mean_processing_time_s"], t["mean_inference_time_s"]) for t in times
    ] == [(1, 9.0, 2.0)]
    quality = await (
        await conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_artifact) FROM window_quality"
            " WHERE recording_id = %s",
            (recording_id,),
        )
    ).fetchone()
    assert quality == (5, 1)

    # deleting the upload cascades to its recording; the job keeps its history
    await conn.execute("DELETE FROM window_quality WHERE recording_id = %s", (recording_id,))
    await conn.execute("DELETE FROM detections WHERE job_id = %s", (job_id,))
    await conn.execute("DELETE FROM analysis_metrics WHERE job_id = %s", (job_id,))
    await conn.execute("DELETE FROM analysis_jobs WHERE job_id = %s", (job_id,))
    await conn.execute("DELETE FROM uploaded_files WHERE file_id = %s", (file_id,))
    gone = await (
        await conn.execute("SELECT 1 FROM recordings WHERE recording_id = %s", (recording_id,))
    ).fetchone()
    assert gone is None


async def test_metric_average_buckets_by_hour(conn: AsyncConnection) -> None:
    from connectors.db.sink import copy_system_metrics

    host = f"it-{uuid.uuid4().hex[:8]}"
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows = [
        (end - timedelta(minutes=120 - m), host, "cpu_percent", 10.0 if m < 60 else 30.0)
        for m in range(120)
    ]
    async with conn.transaction():
        assert await copy_system_metrics(conn, rows) == 120
    averages = await queries.metric_average(
        conn, "cpu_percent", since=end - timedelta(hours=2), until=end, host=host
    )
    assert averages == [
        (end - timedelta(hours=2), 10.0, 60),
        (end - timedelta(hours=1), 30.0, 60),
    ]
    await conn.execute("DELETE FROM system_metrics WHERE host = %s", (host,))
