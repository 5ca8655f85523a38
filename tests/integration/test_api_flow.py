"""The REST contract end to end, against the real stack and a running ``brrr worker``:
upload -> analyze -> poll -> result (and its copies in S3 and PostgreSQL), batches with
their progress, priority, bad uploads, and the worker's metrics."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import pytest_asyncio

from api.app import create_app
from connectors.db.migrate import migrate
from connectors.object_store import ObjectStore
from connectors.settings import Settings
from processors.synthetic import InjectedEvent, generate_eeg
from schemas.document import check_document
from tests.integration.api_client import SignedIn, app_client, sign_in
from tests.integration.workers import WorkerPool, running_workers, stream_settings

pytestmark = pytest.mark.integration
session_loop = pytest.mark.asyncio(loop_scope="session")

#: One job at a time, so that queued jobs wait and priority shows.
WORKER_ENV = {"BRRR_WORKER_JOB_CONCURRENCY": "1", "BRRR_WORKER_HEARTBEAT_S": "2"}


@pytest.fixture(scope="module")
def flow_settings(stack: Settings) -> Settings:
    migrate(stack.postgres_url)
    return stream_settings(
        stack, f"it-api-{uuid.uuid4().hex[:10]}", worker_job_concurrency=1, worker_alive_s=20.0
    )


@pytest.fixture(scope="module")
def worker(
    flow_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerPool]:
    yield from running_workers(flow_settings, tmp_path_factory.mktemp("api-worker"), **WORKER_ENV)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(flow_settings: Settings, worker: WorkerPool) -> AsyncIterator[httpx.AsyncClient]:
    async for c in app_client(create_app(flow_settings)):
        yield c


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def clinician(flow_settings: Settings) -> SignedIn:
    return await sign_in(flow_settings)


def _edf(folder: Path, name: str, minutes: float, seed: int, **events: float) -> Path:
    injected = [InjectedEvent(kind, onset_s, 30.0) for kind, onset_s in events.items()]
    eeg = generate_eeg(60.0 * minutes, events=injected, seed=seed)
    return eeg.write_edf(folder / name, patient_name="Ada_Testpatient", patient_code="MRN4711")


async def _upload(client: httpx.AsyncClient, who: SignedIn, path: Path) -> httpx.Response:
    with path.open("rb") as fid:
        return await client.post(
            "/api/v1/eeg/upload", files={"file": (path.name, fid)}, headers=who.headers
        )


async def _analyze(
    client: httpx.AsyncClient, who: SignedIn, file_id: str, analysis_type: str
) -> str:
    r = await client.post(
        "/api/v1/eeg/analyze",
        json={"file_id": file_id, "analysis_type": analysis_type},
        headers=who.headers,
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued"
    return r.json()["job_id"]


async def _wait_done(
    client: httpx.AsyncClient, who: SignedIn, job_id: str, timeout_s: float
) -> list[dict]:
    """Poll the job until it is completed or failed; every status seen."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = await client.get(f"/api/v1/jobs/{job_id}", headers=who.headers)
        assert r.status_code == 200, r.text
        seen.append(r.json())
        if seen[-1]["status"] in ("completed", "failed"):
            return seen
        await asyncio.sleep(0.5)
    raise AssertionError(f"job {job_id} not done in {timeout_s:g} s: {seen[-1]}")


def _polygraphy_only(path: Path) -> Path:
    """An EDF of ECG, EMG and respiration: no scalp EEG."""
    import mne
    import numpy as np

    info = mne.create_info(["ECG", "EMG1", "Resp"], 256.0, ch_types=["ecg", "emg", "resp"])
    raw = mne.io.RawArray(np.random.default_rng(3).normal(0, 1e-5, (3, 256 * 30)), info)
    mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose="ERROR")
    return path


@session_loop
async def test_upload_analyze_poll_and_read_the_result(
    client: httpx.AsyncClient, clinician: SignedIn, flow_settings: Settings, tmp_path: Path
) -> None:
    path = _edf(tmp_path, "ten-minutes.edf", 10.0, seed=71, seizure=300.0)
    r = await _upload(client, clinician, path)
    assert r.status_code == 200, r.text
    uploaded = r.json()
    assert (
        uploaded["filename"] == "ten-minutes.edf" and uploaded["size_bytes"] == path.stat().st_size
    )
    assert len(uploaded["channels"]) == 19 and uploaded["sampling_rate_hz"] == 256.0
    assert uploaded["duration_s"] == pytest.approx(600.0)

    t0 = time.monotonic()
    job_id = await _analyze(client, clinician, uploaded["file_id"], "screening")
    seen = await _wait_done(client, clinician, job_id, timeout_s=120.0)
    assert seen[-1]["status"] == "completed", seen[-1]
    assert time.monotonic() - t0 < 120.0
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress) and progress[-1] == 100
    assert seen[-1]["started_at"] and seen[-1]["completed_at"]

    r = await client.get(f"/api/v1/results/{job_id}", headers=clinician.headers)
    assert r.status_code == 200, r.text
    document = r.json()
    check_document(document)
    assert document["job_id"] == job_id and document["file_id"] == uploaded["file_id"]
    assert document["abnormality_detection"]["is_abnormal"] is True
    assert document["triage_priority"] == "urgent"
    assert any(e["type"] == "seizure" for e in document["event_detection"]["events"])
    assert 0.0 <= document["quality_report"]["signal_quality_score"] <= 1.0
    assert document["sleep_analysis"]["status"] == "skipped"

    # One document everywhere: the object store's copy and PostgreSQL's are the same.
    store = ObjectStore.from_settings(flow_settings)
    assert store.get_result(job_id) == document
    with psycopg.connect(flow_settings.postgres_url) as conn:
        (stored,) = conn.execute(
            "SELECT result FROM analysis_results WHERE job_id = %s", (job_id,)
        ).fetchone()
    assert stored == document

    png = await client.get(f"/api/v1/results/{job_id}/report.png", headers=clinician.headers)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")

    mine = (await client.get("/api/v1/user/analyses", headers=clinician.headers)).json()
    assert job_id in {a["job_id"] for a in mine["analyses"]}


@session_loop
async def test_a_batch_completes_with_progress_that_never_decreases(
    client: httpx.AsyncClient, clinician: SignedIn, tmp_path: Path
) -> None:
    file_ids = []
    for i in range(10):
        r = await _upload(client, clinician, _edf(tmp_path, f"batch-{i}.edf", 1.0, seed=200 + i))
        assert r.status_code == 200, r.text
        file_ids.append(r.json()["file_id"])
    r = await client.post(
        "/api/v1/batch/analyze",
        json={"file_ids": file_ids, "analysis_type": "quick", "priority": "normal"},
        headers=clinician.headers,
    )
    assert r.status_code == 202, r.text
    batch = r.json()
    assert len(batch["job_ids"]) == 10

    progress: list[float] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status = (
            await client.get(f"/api/v1/batch/{batch['batch_id']}/status", headers=clinician.headers)
        ).json()
        progress.append(status["progress"])
        if status["completed"] + status["failed"] == status["total"]:
            break
        await asyncio.sleep(0.5)
    assert status == {**status, "total": 10, "completed": 10, "failed": 0, "progress": 100.0}
    assert progress == sorted(progress), progress

    results = (
        await client.get(f"/api/v1/batch/{batch['batch_id']}/results", headers=clinician.headers)
    ).json()
    assert [a["job_id"] for a in results["analyses"]] == batch["job_ids"]
    for analysis in results["analyses"]:
        assert analysis["status"] == "completed"
        check_document(analysis["result"])


@session_loop
async def test_a_high_priority_job_starts_before_queued_low_priority_ones(
    client: httpx.AsyncClient, clinician: SignedIn, tmp_path: Path
) -> None:
    files = []
    for i in range(5):
        r = await _upload(client, clinician, _edf(tmp_path, f"prio-{i}.edf", 2.0, seed=300 + i))
        files.append(r.json()["file_id"])
    r = await client.post(
        "/api/v1/batch/analyze",
        json={"file_ids": files[:4], "analysis_type": "quick", "priority": "low"},
        headers=clinician.headers,
    )
    low = r.json()["job_ids"]
    r = await client.post(
        "/api/v1/batch/analyze",
        json={"file_ids": files[4:], "analysis_type": "quick", "priority": "high"},
        headers=clinician.headers,
    )
    (high,) = r.json()["job_ids"]
    done = {}
    for job_id in [*low, high]:
        done[job_id] = (await _wait_done(client, clinician, job_id, timeout_s=180.0))[-1]
    starts = sorted(done, key=lambda j: done[j]["started_at"])
    # One job at a time: the first low job had started; the high one came next, before the
    # three low jobs still queued behind it.
    assert starts.index(high) <= 1, [(done[j]["priority"], done[j]["started_at"]) for j in starts]


@session_loop
async def test_bad_uploads_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, clinician: SignedIn, flow_settings: Settings, tmp_path: Path
) -> None:
    with psycopg.connect(flow_settings.postgres_url) as conn:
        (before,) = conn.execute(
            "SELECT count(*) FROM uploaded_files WHERE uploaded_by = %s", (clinician.user.user_id,)
        ).fetchone()
    not_edf = tmp_path / "notes.edf"
    not_edf.write_text("this is a text file, not a recording\n" * 20)
    empty = tmp_path / "empty.edf"
    empty.write_bytes(b"")
    short = generate_eeg(2.0, seed=5).write_edf(tmp_path / "short.edf")
    no_eeg = _polygraphy_only(tmp_path / "no-eeg.edf")
    cases = {
        not_edf: "not_an_eeg_file",
        empty: "not_an_eeg_file",
        short: "recording_too_short",
        no_eeg: "no_eeg_channels",
    }
    for path, code in cases.items():
        r = await _upload(client, clinician, path)
        assert r.status_code == 422, (path.name, r.text)
        assert r.json()["error"] == code and path.name in r.json()["message"], r.text

    small = create_app(flow_settings.model_copy(update={"upload_max_bytes": 4096}))
    async for limited in app_client(small):
        r = await _upload(limited, clinician, _edf(tmp_path, "big.edf", 1.0, seed=7))
        assert r.status_code == 413 and r.json()["error"] == "file_too_large", r.text

    r = await client.post(
        "/api/v1/eeg/analyze",
        json={"file_id": str(uuid.uuid4()), "analysis_type": "quick"},
        headers=clinician.headers,
    )
    assert r.status_code == 404 and r.json()["error"] == "file_not_found"
    r = await client.post(
        "/api/v1/eeg/analyze",
        json={"file_id": "x", "analysis_type": "deep"},
        headers=clinician.headers,
    )
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    with psycopg.connect(flow_settings.postgres_url) as conn:
        (after,) = conn.execute(
            "SELECT count(*) FROM uploaded_files WHERE uploaded_by = %s", (clinician.user.user_id,)
        ).fetchone()
    assert after == before


@session_loop
async def test_the_workers_metrics_are_served(
    client: httpx.AsyncClient, clinician: SignedIn, flow_settings: Settings
) -> None:
    r = await client.get("/ready")
    assert r.status_code == 200, r.text
    with psycopg.connect(flow_settings.postgres_url) as conn:
        (url,) = conn.execute(
            "SELECT metrics_url FROM worker_status WHERE namespace = %s ORDER BY heartbeat_at DESC",
            (flow_settings.kafka_namespace,),
        ).fetchone()
    text = httpx.get(url, timeout=10).text
    for name in (
        "eeg_processing_duration_seconds_bucket",
        "eeg_windows_processed_total",
        "kafka_consumer_lag",
        "model_inference_duration_seconds",
    ):
        assert name in text, name
    api_metrics = (await client.get("/metrics")).text
    for name in ("http_requests_total", "http_request_duration_seconds", "cache_misses_total"):
        assert name in api_metrics, name
