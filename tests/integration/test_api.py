"""The REST API against the real stack: job status, the result through Redis, S3 and
PostgreSQL, detections, analysis metrics, /health with a service down, /metrics, and
``brrr api`` as a server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from fastapi import FastAPI

from api.app import create_app
from connectors.cache import REDIS_PREFIX
from connectors.db.jobs import create_job, register_recording, register_upload, update_job_progress
from connectors.db.migrate import migrate
from connectors.db.sink import (
    complete_job,
    upsert_detections,
)
from connectors.object_store import ObjectStore, result_key
from connectors.settings import Settings
from schemas.ids import detection_event_id
from tests.integration.api_client import SignedIn, sign_in
from tests.integration.api_client import app_client as _client
from tests.ports import free_port

pytestmark = pytest.mark.integration
#: The app, its pool and the client live across the module: one event loop for all.
session_loop = pytest.mark.asyncio(loop_scope="session")

REPO = Path(__file__).resolve().parents[2]


class Seeded:
    """What the module put into the stack: a completed job with detections, a running job."""

    def __init__(self) -> None:
        self.file_id = str(uuid.uuid4())
        self.job_id = str(uuid.uuid4())
        self.owner: SignedIn
        self.running_job_id = str(uuid.uuid4())
        self.recording_id = f"rec-api-{self.job_id[:8]}"
        self.start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
        self.created_at = datetime.now(UTC) - timedelta(minutes=5)
        self.document: dict[str, Any] = {
            "job_id": self.job_id,
            "recording_id": self.recording_id,
            "analysis_type": "screening",
            "triage_priority": "urgent",
            "abnormality_detection": {
                "status": "completed",
                "result": {"is_abnormal": True, "confidence": 0.91},
            },
            "event_detection": {"status": "completed", "result": {"n_events": 3}},
        }
        # (event_type, subtype, onset_s, duration_s)
        self.events = [
            ("epileptiform", "spike", 12.0, 0.05),
            ("epileptiform", "spike", 21.0, 0.05),
            ("seizure", None, 70.0, 30.0),
        ]

    def result_record(self) -> dict[str, Any]:
        """The ``brrr.eeg.AnalysisResult`` record, as ``streams.records.result_record``
        fills it."""
        return {
            "job_id": self.job_id,
            "file_id": self.file_id,
            "recording_id": self.recording_id,
            "analysis_type": "screening",
            "status": "completed",
            "created_at": self.created_at,
            "is_abnormal": True,
            "confidence": 0.91,
            "triage_priority": "urgent",
            "signal_quality_score": 0.88,
            "n_events": len(self.events),
            "scorer": "qeeg-baseline",
            "model_weights_id": None,
            "versions": {"brain-go-brrr": "0.1.0"},
            "n_windows": 45,
            "duration_s": 180.0,
            "processing_time_s": 4.2,
            "inference_time_s": None,
            "error": None,
            "result_json": json.dumps(self.document),
        }

    def detection_records(self) -> list[dict[str, Any]]:
        channels = ["T7", "P7"]
        return [
            {
                "job_id": self.job_id,
                "recording_id": self.recording_id,
                "event_id": detection_event_id(self.job_id, kind, onset_s, channels),
                "event_type": kind,
                "subtype": subtype,
                "onset_s": onset_s,
                "duration_s": duration_s,
                "start_time": self.start + timedelta(seconds=onset_s),
                "channels": channels,
                "confidence": 0.9,
            }
            for kind, subtype, onset_s, duration_s in self.events
        ]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seeded(stack: Settings) -> Seeded:
    """A completed job (result in PostgreSQL and in the cache, as the pipeline leaves it) with
    three detections, and a job still processing."""
    migrate(stack.postgres_url)
    store = ObjectStore.from_settings(stack)
    store.ensure_bucket()
    seed = Seeded()
    seed.owner = await sign_in(stack)
    async with await psycopg.AsyncConnection.connect(stack.postgres_url) as conn:
        await register_upload(
            conn,
            file_id=seed.file_id,
            filename="api.edf",
            object_key=f"raw/{seed.file_id}/api.edf",
            sha256="0" * 64,
            size_bytes=1000,
            uploaded_by=str(seed.owner.user.user_id),
        )
        await register_recording(
            conn,
            recording_id=seed.recording_id,
            source="upload",
            file_id=seed.file_id,
            start_time=seed.start,
            duration_s=180.0,
            sfreq_hz=256.0,
            ch_names=["T7", "P7"],
        )
        for job_id in (seed.job_id, seed.running_job_id):
            await create_job(
                conn,
                job_id=job_id,
                analysis_type="screening",
                file_id=seed.file_id,
                recording_id=seed.recording_id,
                owner_id=str(seed.owner.user.user_id),
            )
        await update_job_progress(conn, seed.running_job_id, 0.4)
        await complete_job(conn, seed.result_record())  # type: ignore[arg-type]
        await upsert_detections(conn, seed.detection_records())  # type: ignore[arg-type]
        await conn.commit()
    return seed


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(stack: Settings) -> FastAPI:
    return create_app(stack)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(app: FastAPI, seeded: Seeded) -> AsyncIterator[httpx.AsyncClient]:
    """A client signed in as the owner of the seeded jobs."""
    async for c in _client(app):
        c.headers.update(seeded.owner.headers)
        yield c


@session_loop
async def test_job_status(client: httpx.AsyncClient, seeded: Seeded) -> None:
    r = await client.get(f"/api/v1/jobs/{seeded.job_id}")
    assert r.status_code == 200
    job = r.json()
    assert job["job_id"] == seeded.job_id
    assert job["status"] == "completed" and job["progress"] == 100
    assert job["retry_count"] == 0 and job["error"] is None
    assert job["file_id"] == seeded.file_id and job["recording_id"] == seeded.recording_id
    assert datetime.fromisoformat(job["completed_at"]) == seeded.created_at

    running = (await client.get(f"/api/v1/jobs/{seeded.running_job_id}")).json()
    assert running["status"] == "processing" and running["progress"] == pytest.approx(40)
    assert running["completed_at"] is None and running["started_at"] is not None


@session_loop
async def test_unknown_job_is_404_whatever_the_form_of_its_id(client: httpx.AsyncClient) -> None:
    for unknown in (str(uuid.uuid4()), "job-1234"):
        for path in (f"/api/v1/jobs/{unknown}", f"/api/v1/results/{unknown}"):
            r = await client.get(path)
            assert r.status_code == 404, (path, r.text)
            assert r.json()["error"] == "job_not_found" and unknown in r.json()["message"]


@session_loop
async def test_another_users_job_is_404_and_no_token_401(
    stack: Settings, client: httpx.AsyncClient, seeded: Seeded
) -> None:
    other = await sign_in(stack)
    for path in (f"/api/v1/jobs/{seeded.job_id}", f"/api/v1/results/{seeded.job_id}"):
        r = await client.get(path, headers=other.headers)
        assert r.status_code == 404 and r.json()["error"] == "job_not_found"
        r = await client.get(path, headers={"Authorization": ""})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    url = f"/api/v1/recordings/{seeded.recording_id}/detections"
    assert (await client.get(url, headers=other.headers)).status_code == 404
    mine = (await client.get("/api/v1/user/analyses")).json()["analyses"]
    assert {seeded.job_id, seeded.running_job_id} <= {a["job_id"] for a in mine}
    theirs = (await client.get("/api/v1/user/analyses", headers=other.headers)).json()
    assert theirs == {"analyses": []}


@session_loop
async def test_result_from_redis_then_s3_then_postgres(
    app: FastAPI, client: httpx.AsyncClient, seeded: Seeded
) -> None:
    cache = app.state.cache
    key = result_key(seeded.job_id)
    # As the pipeline leaves it: the complete result in both cache levels.
    cache.put_result(seeded.job_id, seeded.file_id, seeded.document)

    async def get() -> tuple[str, dict]:
        r = await client.get(f"/api/v1/results/{seeded.job_id}")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        return r.headers["X-Result-Source"], r.json()

    assert await get() == ("redis", seeded.document)

    cache.redis.delete(REDIS_PREFIX + key)  # expired in Redis
    assert await get() == ("s3", seeded.document)
    assert cache.redis.exists(REDIS_PREFIX + key)  # the S3 hit filled Redis
    assert await get() == ("redis", seeded.document)

    assert cache.invalidate_file(seeded.file_id) >= 1  # the file changed: nothing cached
    assert not cache.store.exists(key)
    assert await get() == ("postgres", seeded.document)
    assert cache.store.exists(key)  # the PostgreSQL hit filled both levels
    assert await get() == ("redis", seeded.document)
    # ... as derived from the job's file, so a second invalidation removes it again
    assert cache.invalidate_file(seeded.file_id) == 1
    assert await get() == ("postgres", seeded.document)


@session_loop
async def test_no_result_yet_says_the_job_status(client: httpx.AsyncClient, seeded: Seeded) -> None:
    r = await client.get(f"/api/v1/results/{seeded.running_job_id}")
    assert r.status_code == 404
    body = r.json()
    assert body["error"] == "result_not_ready"
    assert "processing" in body["message"] and "40%" in body["message"]


@session_loop
async def test_detections_filtered(client: httpx.AsyncClient, seeded: Seeded) -> None:
    url = f"/api/v1/recordings/{seeded.recording_id}/detections"
    rows = (await client.get(url)).json()
    assert [(d["event_type"], d["onset_s"]) for d in rows] == [
        (kind, onset) for kind, _, onset, _ in seeded.events
    ]
    assert rows[0]["subtype"] == "spike" and rows[0]["channels"] == ["T7", "P7"]
    assert rows[0]["job_id"] == seeded.job_id

    seizures = (await client.get(url, params={"event_type": "seizure"})).json()
    assert [(d["event_type"], d["onset_s"], d["duration_s"]) for d in seizures] == [
        ("seizure", 70.0, 30.0)
    ]
    # [since, until) of wall-clock time: only the second spike (start + 21 s)
    window = {
        "since": (seeded.start + timedelta(seconds=20)).isoformat(),
        "until": (seeded.start + timedelta(seconds=60)).isoformat(),
    }
    assert [d["onset_s"] for d in (await client.get(url, params=window)).json()] == [21.0]
    # a filter that matches nothing is an empty list, not an unknown recording
    r = await client.get(url, params={"event_type": "burst_suppression"})
    assert r.status_code == 200 and r.json() == []

    r = await client.get(url, params={"event_type": "seizures"})
    assert r.status_code == 422 and "seizure" in r.json()["message"]
    r = await client.get(url, params={"since": "yesterday"})
    assert r.status_code == 422 and "since 'yesterday'" in r.json()["message"]
    assert "ISO 8601" in r.json()["message"]
    r = await client.get(url, params={"since": window["until"], "until": window["since"]})
    assert r.status_code == 422 and "before" in r.json()["message"]
    r = await client.get(f"/api/v1/recordings/no-such-{uuid.uuid4().hex[:8]}/detections")
    assert r.status_code == 404 and r.json()["error"] == "recording_not_found"


@session_loop
async def test_analysis_metrics_per_hour(client: httpx.AsyncClient, seeded: Seeded) -> None:
    body = (await client.get("/api/v1/metrics/analysis", params={"hours": 2})).json()
    hour = seeded.created_at.replace(minute=0, second=0, microsecond=0)
    buckets = {datetime.fromisoformat(b["bucket"]): b for b in body["buckets"]}
    assert buckets[hour]["n_jobs"] >= 1
    assert buckets[hour]["mean_processing_time_s"] > 0
    assert body["bucket_s"] == 3600
    r = await client.get("/api/v1/metrics/analysis", params={"hours": 0})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"


@session_loop
async def test_health_alive_and_ready_checks_every_service(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = await client.get("/ready")
    services = r.json()["services"]
    assert set(services) == {"postgres", "redis", "s3", "kafka", "worker"}
    for name in ("postgres", "redis", "s3", "kafka"):
        assert services[name]["ok"] and services[name]["latency_ms"] >= 0, services[name]
    # Without a worker alive the API is not ready, and says so.
    assert (r.status_code == 200) == services["worker"]["ok"], r.text


@session_loop
async def test_redis_down_is_503_naming_redis_but_results_still_served(
    stack: Settings, seeded: Seeded
) -> None:
    settings = stack.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async for client in _client(create_app(settings)):
        client.headers.update(seeded.owner.headers)
        r = await client.get("/ready")
        assert r.status_code == 503
        body = r.json()
        assert body["error"] == "service_unavailable" and "redis" in body["down"]
        assert "BRRR_REDIS_URL" in body["message"] and "brrr stack up" in body["message"]
        assert body["services"]["postgres"]["ok"] and body["services"]["kafka"]["ok"]
        # the cache degrades to S3 and PostgreSQL
        r = await client.get(f"/api/v1/results/{seeded.job_id}")
        assert r.status_code == 200 and r.headers["X-Result-Source"] in {"s3", "postgres"}
        assert r.json() == seeded.document


@session_loop
async def test_shutdown_closes_the_pool_and_the_s3_and_redis_connections(stack: Settings) -> None:
    app = create_app(stack)
    async for client in _client(app):
        assert (await client.get("/ready")).json()["services"]["redis"]["ok"]
        assert app.state.store._http.pools  # /ready asked S3 through the store's pool
    assert app.state.pool.closed
    assert not app.state.store._http.pools
    redis_connections = app.state.cache.redis.connection_pool._available_connections
    assert redis_connections and all(c._sock is None for c in redis_connections)
    assert not hasattr(app.state, "kafka_admin")


@session_loop
async def test_postgres_down_is_503_with_what_to_try(stack: Settings) -> None:
    url = f"postgresql://brrr:secret@127.0.0.1:{free_port()}/brrr"
    async for client in _client(create_app(stack.model_copy(update={"postgres_url": url}))):
        r = await client.get(f"/api/v1/jobs/{uuid.uuid4()}")
        assert r.status_code == 503
        body = r.json()
        assert body["error"] == "postgres_unavailable"
        assert "BRRR_POSTGRES_URL" in body["message"] and "secret" not in body["message"]


@session_loop
async def test_prometheus_metrics(client: httpx.AsyncClient, seeded: Seeded) -> None:
    await client.get(f"/api/v1/jobs/{seeded.job_id}")
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    lines = r.text.splitlines()
    assert any(line.startswith(("cache_hits_total{", "cache_misses_total{")) for line in lines)
    counted = [
        line
        for line in lines
        if line.startswith("http_requests_total{")
        and 'path="/api/v1/jobs/{job_id}"' in line
        and 'status="200"' in line
    ]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 1
    assert "http_request_duration_seconds_bucket{" in r.text


def test_brrr_api_serves_health(stack: Settings) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "BRRR_API_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "api"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "brrr api did not answer within 60 s"
                time.sleep(0.5)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ok"
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    # SIGTERM: uvicorn finishes the requests, runs the lifespan's shutdown, then exits
    assert "Application shutdown complete" in output.decode(), output.decode()


async def test_alerts_of_a_recording_newest_first(
    client: httpx.AsyncClient, stack: Settings
) -> None:
    from datetime import UTC, datetime, timedelta

    from connectors.db.sink import store_alert
    from streams.live import alert_id

    recording = f"live-api-{uuid.uuid4().hex[:8]}"
    episode = alert_id(recording, "seizure", 100.0)
    base = {
        "alert_id": episode,
        "recording_id": recording,
        "device_id": "bed-009",
        "patient_ref": "ab" * 32,
        "finding": "seizure",
        "onset_s": 100.0,
        "onset_time": None,
        "confidence": 0.95,
        "evidence_window": 27,
        "evidence_end_s": 112.0,
    }
    now = datetime.now(UTC)
    async with await psycopg.AsyncConnection.connect(stack.postgres_url, autocommit=True) as conn:
        await store_alert(conn, {**base, "status": "onset", "end_s": None, "emitted_at": now})
        await store_alert(conn, {**base, "status": "onset", "end_s": None, "emitted_at": now})
        await store_alert(
            conn,
            {**base, "status": "ended", "end_s": 130.0, "emitted_at": now + timedelta(seconds=30)},
        )
    r = await client.get("/api/v1/alerts", params={"recording_id": recording})
    assert (await client.get("/api/v1/alerts", headers={"Authorization": ""})).status_code == 401
    assert r.status_code == 200
    rows = r.json()
    assert [row["status"] for row in rows] == ["ended", "onset"]  # the duplicate stored once
    assert {row["alert_id"] for row in rows} == {episode}
    assert rows[0]["end_s"] == 130.0 and rows[1]["finding"] == "seizure"
    r = await client.get("/api/v1/alerts", params={"limit": 0})
    assert r.status_code == 422
