"""``brrr replay``: an EDF/BDF archive through Kafka, file by file, to results.

Each file is checked with the project's reader, uploaded to the object store and registered
as a job (as an upload through the REST API would be), and its ``AnalysisJob`` is sent to
``eeg.jobs`` by an idempotent producer. The worker does the rest; this command follows each
job's progress in PostgreSQL and ends with a table of every file's triage and events, read
back from PostgreSQL. A file that cannot be read is reported and skipped; the others go on.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from connectors.db import queries
from connectors.db.jobs import JobState, create_job, job_state, register_recording, register_upload
from connectors.kafka_topics import RecordProducer, Topics, ensure_topics
from connectors.object_store import ObjectStore
from connectors.settings import Settings
from processors.errors import EEGError
from processors.io import read_recording
from schemas.ids import BRRR_UUID_NAMESPACE
from schemas.records import AnalysisJob, AnalysisType
from streams.worker import WORKER_APP_ID

#: File name endings the replay picks up in a folder.
ARCHIVE_SUFFIXES = (".edf", ".bdf")


@dataclass(frozen=True)
class ReplayedFile:
    """A file sent to the worker as a job."""

    path: Path
    job_id: str
    file_id: str
    recording_id: str
    duration_s: float


@dataclass(frozen=True)
class SkippedFile:
    """A file that could not be read, and why."""

    path: Path
    reason: str


@dataclass
class FileOutcome:
    """What became of a replayed file, read back from PostgreSQL."""

    replayed: ReplayedFile
    state: JobState | None
    triage: str | None = None
    is_abnormal: bool | None = None
    events: dict[str, int] = field(default_factory=dict)
    n_windows: int | None = None


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, and the EDF/BDF files inside the folders named (sorted, recursive)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in ARCHIVE_SUFFIXES
            )
        else:
            found.append(path)
    return found


def file_id_of(data: bytes) -> str:
    """A file's id from its content: the same archive replayed twice is one upload."""
    return str(uuid.uuid5(BRRR_UUID_NAMESPACE, "file:" + hashlib.sha256(data).hexdigest()))


def worker_members(settings: Settings, timeout_s: float = 5.0) -> int | None:
    """How many workers are in the worker's consumer group now (None: Kafka did not say)."""
    group = Topics(settings.kafka_namespace).group(WORKER_APP_ID)
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers, "log_level": 3})
    try:
        future = admin.describe_consumer_groups([group], request_timeout=timeout_s)[group]
        return len(future.result(timeout=timeout_s).members)
    except KafkaException:
        return None


async def submit(
    settings: Settings,
    paths: Sequence[Path],
    *,
    analysis_type: AnalysisType,
    speed: str,
    on_skip: Callable[[SkippedFile], None] = lambda _s: None,
) -> tuple[list[ReplayedFile], list[SkippedFile]]:
    """Check, upload and register each file and send its job to ``eeg.jobs``."""
    topics = Topics(settings.kafka_namespace)
    await asyncio.to_thread(ensure_topics, settings.kafka_bootstrap_servers, topics.partitions)
    store = ObjectStore.from_settings(settings)
    producer = RecordProducer(settings.kafka_bootstrap_servers)
    replayed: list[ReplayedFile] = []
    skipped: list[SkippedFile] = []
    try:
        store.ensure_bucket()
        async with await psycopg.AsyncConnection.connect(
            settings.postgres_url, autocommit=True
        ) as conn:
            for path in paths:
                try:
                    recording = await asyncio.to_thread(read_recording, path)
                    data = path.read_bytes()
                except (EEGError, OSError) as exc:
                    code = getattr(exc, "code", type(exc).__name__)
                    skip = SkippedFile(path, f"{code}: {exc}")
                    skipped.append(skip)
                    on_skip(skip)
                    continue
                file_id, job_id = file_id_of(data), str(uuid.uuid4())
                stored = await asyncio.to_thread(store.put_raw, file_id, path.name, data)
                async with conn.transaction():
                    await register_upload(
                        conn,
                        file_id=file_id,
                        filename=path.name,
                        object_key=stored.key,
                        sha256=stored.sha256,
                        size_bytes=len(data),
                    )
                    await register_recording(
                        conn,
                        recording_id=recording.recording_id,
                        source="replay",
                        file_id=file_id,
                        start_time=recording.start_time,
                        duration_s=recording.duration_s,
                        sfreq_hz=recording.sfreq_hz,
                        ch_names=recording.ch_names,
                    )
                    await create_job(
                        conn,
                        job_id=job_id,
                        analysis_type=analysis_type,
                        file_id=file_id,
                        recording_id=recording.recording_id,
                    )
                job = AnalysisJob(
                    job_id=job_id,
                    file_id=file_id,
                    object_key=stored.key,
                    analysis_type=analysis_type,
                    options={"speed": speed},
                    priority="normal",
                    batch_id=None,
                    owner=None,
                    submitted_at=datetime.now(UTC),
                )
                producer.send(topics.jobs, "AnalysisJob", job_id, job)
                replayed.append(
                    ReplayedFile(
                        path, job_id, file_id, recording.recording_id, recording.duration_s
                    )
                )
        producer.flush()
    finally:
        store.close()
    return replayed, skipped


async def follow(
    settings: Settings,
    replayed: Sequence[ReplayedFile],
    *,
    on_state: Callable[[ReplayedFile, JobState], None],
    timeout_s: float | None = None,
    poll_s: float = 0.5,
) -> list[FileOutcome]:
    """Poll every job until it is completed or failed (or ``timeout_s`` passed), calling
    ``on_state`` with each new state; then read each file's results back."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    async with await psycopg.AsyncConnection.connect(
        settings.postgres_url, autocommit=True
    ) as conn:
        states: dict[str, JobState | None] = {}
        while True:
            for item in replayed:
                state = await job_state(conn, item.job_id)
                if state is not None and state != states.get(item.job_id):
                    on_state(item, state)
                states[item.job_id] = state
            if all(s is not None and s.is_finished for s in states.values()):
                break
            if deadline is not None and time.monotonic() > deadline:
                break
            await asyncio.sleep(poll_s)
        return [await read_outcome(conn, item, states[item.job_id]) for item in replayed]


async def read_outcome(
    conn: psycopg.AsyncConnection, item: ReplayedFile, state: JobState | None, wait_s: float = 10.0
) -> FileOutcome:
    """A replayed file's triage and events from PostgreSQL (waiting briefly until every
    detection the result announces has been stored)."""
    outcome = FileOutcome(item, state)
    if state is None or state.status != "completed":
        return outcome
    row = await queries.analysis_result(conn, item.job_id)
    if row is None:
        return outcome
    deadline = time.monotonic() + wait_s
    events = await queries.detections(conn, job_id=item.job_id)
    while len(events) < row["n_events"] and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        events = await queries.detections(conn, job_id=item.job_id)
    outcome.triage, outcome.is_abnormal = row["triage_priority"], row["is_abnormal"]
    outcome.n_windows = row["result"]["quality_report"]["n_windows"]
    for event in events:
        outcome.events[event["event_type"]] = outcome.events.get(event["event_type"], 0) + 1
    return outcome
