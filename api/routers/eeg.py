"""``/api/v1/eeg``: upload a recording, and ask for its analysis.

An upload is read with the project's reader before anything is stored (:mod:`api.uploads`);
an analysis request only records the job and puts it on Kafka, where the worker takes it
(``brrr worker``), so it answers in milliseconds.
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request, UploadFile
from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.dependencies import ConnDep, JobQueueDep, SettingsDep, StoreDep
from api.errors import NotFound, ServiceUnavailable
from api.security import CurrentUserDep
from api.uploads import check_recording, receive, store_upload
from connectors.db.jobs import create_job
from connectors.db.requests import OwnedFile, delete_queued_job, owned_file
from connectors.db.users import User
from connectors.db.workers import live_workers
from connectors.job_queue import JobQueue
from connectors.kafka_topics import KafkaUnavailableError
from connectors.settings import Settings
from schemas.records import AnalysisJob, AnalysisType, JobPriority

router = APIRouter(prefix="/api/v1/eeg", tags=["eeg"])

#: Analysis types that run EEGPT (when one is configured).
NEEDS_MODEL: frozenset[str] = frozenset({"screening", "comprehensive"})


class UploadAnswer(BaseModel):
    """A stored recording."""

    file_id: str = Field(description="Id of the stored file, for /analyze.")
    filename: str
    size_bytes: int = Field(description="Bytes received.")
    sha256: str = Field(description="SHA-256 of the bytes received, hex.")
    channels: list[str] = Field(description="Scalp EEG channels found, standard names.")
    sampling_rate_hz: float
    duration_s: float


class StageSwitches(BaseModel):
    """Which stages to run. Quality control and the abnormality screen always run (every
    other stage depends on them); events and sleep can be turned off."""

    model_config = ConfigDict(extra="forbid")

    quality_control: Literal[True] = True
    abnormality_detection: Literal[True] = True
    sleep_analysis: bool = True
    event_detection: bool = True


class AnalyzeRequest(BaseModel):
    """An analysis of an uploaded file."""

    model_config = ConfigDict(extra="forbid")

    file_id: str = Field(description="The file_id an upload returned.")
    analysis_type: AnalysisType = "screening"
    options: StageSwitches = Field(default_factory=StageSwitches)


class AnalyzeAnswer(BaseModel):
    """A queued job: poll ``GET /api/v1/jobs/{job_id}``."""

    job_id: str
    status: Literal["queued"] = "queued"


@router.post(
    "/upload",
    response_model=UploadAnswer,
    responses={413: {"description": "Too large"}, 422: {"description": "Not a usable EEG"}},
)
async def upload(
    file: UploadFile,
    request: Request,
    user: CurrentUserDep,
    conn: ConnDep,
    store: StoreDep,
    settings: SettingsDep,
) -> UploadAnswer:
    """Store an EDF/BDF recording after reading it whole with the project's reader.

    A request over ``BRRR_UPLOAD_MAX_BYTES`` (plus the multipart envelope) is refused 413
    before it is read (:mod:`api.body_limits`); a file over it, while it is copied."""
    with tempfile.TemporaryDirectory(prefix="brrr-upload-") as folder:
        received = await receive(file, Path(folder), settings.upload_max_bytes)
        checked = await run_in_threadpool(check_recording, received)
        file_id = await store_upload(
            conn,
            store,
            received,
            checked,
            owner_id=user.user_id,
            phi_keys=request.app.state.phi_keys,
            patient_ref_key=settings.patient_ref_key.encode(),
        )
    return UploadAnswer(
        file_id=file_id,
        filename=received.filename,
        size_bytes=received.size_bytes,
        sha256=received.sha256,
        channels=checked.channels,
        sampling_rate_hz=checked.sampling_rate_hz,
        duration_s=round(checked.duration_s, 3),
    )


@router.post("/analyze", status_code=202, response_model=AnalyzeAnswer)
async def analyze(
    body: AnalyzeRequest,
    user: CurrentUserDep,
    conn: ConnDep,
    queue: JobQueueDep,
    settings: SettingsDep,
) -> AnalyzeAnswer:
    """Queue an analysis of one of the user's files."""
    found = await owned_file(conn, body.file_id, user.user_id)
    if found is None:
        raise unknown_file(body.file_id)
    await check_model(conn, settings, body.analysis_type)
    job_id = await submit_job(
        conn,
        queue,
        found,
        user=user,
        analysis_type=body.analysis_type,
        options=body.options,
        priority="normal",
        batch_id=None,
    )
    return AnalyzeAnswer(job_id=job_id)


def unknown_file(file_id: str) -> NotFound:
    """The 404 for a file that does not exist or is not the user's."""
    return NotFound(
        "file_not_found",
        f"no file {file_id!r}: use the file_id that POST /api/v1/eeg/upload returned",
    )


async def check_model(conn: AsyncConnection, settings: Settings, analysis_type: str) -> None:
    """Refuse (503) an analysis that needs EEGPT when every live worker failed to load it.

    A worker tries to load the model again every ``BRRR_MODEL_RETRY_S``, so a request after
    the checkpoint is fixed goes through.
    """
    if analysis_type not in NEEDS_MODEL:
        return
    workers = await live_workers(
        conn, namespace=settings.kafka_namespace, within_s=settings.worker_alive_s
    )
    if workers and all(w.model_state == "failed" for w in workers):
        raise ServiceUnavailable(
            "service",
            f"Model initialization failed: {workers[0].model_error}; "
            "a quick analysis does not need the model",
        )


async def submit_job(
    conn: AsyncConnection,
    queue: JobQueue,
    found: OwnedFile,
    *,
    user: User,
    analysis_type: str,
    options: StageSwitches,
    priority: JobPriority,
    batch_id: str | None,
) -> str:
    """Record a job and put it on Kafka; a job Kafka does not take is removed again (503)."""
    job_id = str(uuid.uuid4())
    switches = {
        "event_detection": str(options.event_detection).lower(),
        "sleep_analysis": str(options.sleep_analysis).lower(),
    }
    await create_job(
        conn,
        job_id=job_id,
        analysis_type=analysis_type,
        file_id=found.file_id,
        recording_id=found.recording_id,
        batch_id=batch_id,
        owner_id=str(user.user_id),
        priority=priority,
        options=switches,
    )
    await conn.commit()  # the worker may take the job before this request ends
    record = AnalysisJob(
        job_id=job_id,
        file_id=found.file_id,
        object_key=found.object_key,
        analysis_type=analysis_type,  # type: ignore[typeddict-item]
        options=switches,
        priority=priority,
        batch_id=batch_id,
        owner=str(user.user_id),
        submitted_at=datetime.now(UTC),
    )
    try:
        await queue.enqueue(record)
    except KafkaUnavailableError as exc:
        await delete_queued_job(conn, job_id)
        await conn.commit()  # kept although the request fails
        raise ServiceUnavailable("kafka", str(exc)) from None
    return job_id
