"""The sink against the real PostgreSQL and Kafka: atomic job completion, idempotent writes
under duplicated and replayed messages, poison messages to the dead letters."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from psycopg import AsyncConnection

from connectors.db.jobs import create_job, update_job_progress
from connectors.db.migrate import migrate
from connectors.db.sink import (
    SinkMessage,
    complete_job,
    write_message,
)
from connectors.kafka_sink import ResultSink, SinkUnavailableError
from connectors.settings import Settings
from schemas.codec import encode
from schemas.ids import detection_event_id
from tests.ports import free_port

pytestmark = pytest.mark.integration


def a_result(job_id: str, **overrides: object) -> dict:
    record = {
        "job_id": job_id,
        "file_id": None,
        "recording_id": f"rec-{job_id[:8]}",
        "analysis_type": "screening",
        "status": "completed",
        "created_at": datetime(2026, 11, 26, 9, 30, tzinfo=UTC),
        "is_abnormal": True,
        "confidence": 0.82,
        "triage_priority": "urgent",
        "signal_quality_score": 0.9,
        "n_events": 2,
        "scorer": "qeeg-baseline",
        "model_weights_id": None,
        "versions": {"brain-go-brrr": "0.1.0"},
        "n_windows": 150,
        "duration_s": 600.0,
        "processing_time_s": 11.2,
        "inference_time_s": 3.4,
        "error": None,
        "result_json": json.dumps({"abnormality": {"is_abnormal": True, "confidence": 0.82}}),
    }
    record.update(overrides)
    return record


def a_detection(job_id: str, onset_s: float, event_type: str = "seizure") -> dict:
    channels = ["T7", "P7"]
    return {
        "job_id": job_id,
        "recording_id": f"rec-{job_id[:8]}",
        "event_id": detection_event_id(job_id, event_type, onset_s, channels),
        "event_type": event_type,
        "subtype": None,
        "onset_s": onset_s,
        "duration_s": 12.0,
        "start_time": datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=onset_s),
        "channels": channels,
        "confidence": 0.9,
    }


@pytest.fixture(scope="module")
def migrated(stack: Settings) -> Settings:
    migrate(stack.postgres_url)
    return stack


@pytest.fixture
async def conn(migrated: Settings) -> AsyncIterator[AsyncConnection]:
    connection = await AsyncConnection.connect(migrated.postgres_url, autocommit=True)
    yield connection
    await connection.close()


async def job_state(conn: AsyncConnection, job_id: str) -> dict:
    """Status of the job and how many rows of each kind it has."""
    row = await (
        await conn.execute(
            "SELECT status, progress FROM analysis_jobs WHERE job_id = %s", (job_id,)
        )
    ).fetchone()
    counts = {}
    for table in ("analysis_results", "analysis_metrics", "detections"):
        query = f"SELECT count(*) FROM {table} WHERE job_id = %s"
        counts[table] = (await (await conn.execute(query, (job_id,))).fetchone())[0]
    return {"job": row, **counts}


async def test_failed_metrics_insert_leaves_no_half_written_job(conn: AsyncConnection) -> None:
    job_id = str(uuid.uuid4())
    await create_job(conn, job_id=job_id, analysis_type="screening")
    await update_job_progress(conn, job_id, 0.5)
    # a negative processing time passes the schema but violates analysis_metrics' CHECK:
    # the third statement of the completion fails after the job and result were written
    bad = a_result(job_id, processing_time_s=-1.0)
    message = SinkMessage(
        "eeg.results", 0, 10**9 + int(uuid.uuid4().int % 10**6), None, encode("AnalysisResult", bad)
    )
    async with conn.transaction():
        outcome = await write_message(conn, message)
    assert outcome == "dead_letter"
    state = await job_state(conn, job_id)
    assert state["job"] == ("processing", 0.5)  # untouched
    assert state["analysis_results"] == 0 and state["analysis_metrics"] == 0
    letter = await (
        await conn.execute(
            "SELECT error_code, error FROM dead_letters WHERE topic = %s AND kafka_offset = %s",
            (message.topic, message.offset),
        )
    ).fetchone()
    assert letter[0] == "db_23514" and "analysis_metrics" in letter[1]  # check_violation
    await conn.execute(
        "DELETE FROM dead_letters WHERE topic = %s AND kafka_offset = %s",
        (message.topic, message.offset),
    )


async def test_exception_between_statements_rolls_back_everything(conn: AsyncConnection) -> None:
    job_id = str(uuid.uuid4())
    await create_job(conn, job_id=job_id, analysis_type="quick")
    steps: list[str] = []

    def crash_after_result(step: str) -> None:
        steps.append(step)
        if step == "result":
            raise RuntimeError("worker killed between statements")

    with pytest.raises(RuntimeError, match="between statements"):
        await complete_job(conn, a_result(job_id), after_statement=crash_after_result)
    assert steps == ["job", "result"]
    state = await job_state(conn, job_id)
    assert state["job"] == ("queued", 0.0)
    assert state["analysis_results"] == state["analysis_metrics"] == 0

    # the same result, delivered again, completes the job; twice changes nothing more
    for _ in range(2):
        await complete_job(conn, a_result(job_id))
        state = await job_state(conn, job_id)
        assert state["job"] == ("completed", 1.0)
        assert state["analysis_results"] == state["analysis_metrics"] == 1


async def test_a_result_for_an_unknown_job_creates_it(conn: AsyncConnection) -> None:
    """Live streams have no job row in advance: the result creates it, completed."""
    job_id = str(uuid.uuid4())
    await complete_job(conn, a_result(job_id, status="failed", error="no EEG channel"))
    row = await (
        await conn.execute(
            "SELECT status, error, completed_at FROM analysis_jobs WHERE job_id = %s", (job_id,)
        )
    ).fetchone()
    assert row[0] == "failed" and row[1] == "no EEG channel" and row[2] is not None


@pytest.fixture
async def topics(migrated: Settings, unique_name: str) -> AsyncIterator[tuple[str, str]]:
    """A results and a detections topic of two partitions each, deleted afterwards."""
    names = (f"{unique_name}.results", f"{unique_name}.detections")
    admin = AIOKafkaAdminClient(bootstrap_servers=migrated.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=2, replication_factor=1) for n in names]
        )
        yield names
        await admin.delete_topics(list(names))
    finally:
        await admin.close()


async def drain(sink: ResultSink, expected: int, timeout_s: float = 30.0) -> int:
    """Poll until ``expected`` messages were handled (or time runs out)."""
    handled = 0
    deadline = asyncio.get_running_loop().time() + timeout_s
    while handled < expected and asyncio.get_running_loop().time() < deadline:
        handled += (await sink.poll_once(timeout_ms=500)).messages
    return handled


async def test_duplicated_and_replayed_messages_are_stored_once(
    migrated: Settings, conn: AsyncConnection, unique_name: str, topics: tuple[str, str]
) -> None:
    results_topic, detections_topic = topics
    job_id = str(uuid.uuid4())
    key = f"rec-{job_id[:8]}".encode()
    result = encode("AnalysisResult", a_result(job_id))
    detections = [encode("Detection", a_detection(job_id, onset)) for onset in (12.0, 95.5)]
    producer = AIOKafkaProducer(bootstrap_servers=migrated.kafka_bootstrap_servers)
    await producer.start()
    try:
        for _ in range(3):  # every message three times
            for payload in detections:
                await producer.send_and_wait(detections_topic, payload, key=key)
            await producer.send_and_wait(results_topic, result, key=key)
        # a poison message, then a valid one behind it on the same partition
        poison = await producer.send_and_wait(results_topic, b"\x00not avro at all", key=key)
        late = encode("Detection", a_detection(job_id, 200.0, "artifact"))
        await producer.send_and_wait(detections_topic, late, key=key)
    finally:
        await producer.stop()
    n_messages = 3 * 3 + 2

    async with ResultSink(migrated, topics=topics, group_id=f"{unique_name}-sink") as sink:
        assert await drain(sink, n_messages) == n_messages
        assert sink.totals == {"written": n_messages - 1, "dead_letter": 1}
    state = await job_state(conn, job_id)
    assert state == {
        "job": ("completed", 1.0),
        "analysis_results": 1,
        "analysis_metrics": 1,
        "detections": 3,
    }
    letter = await (
        await conn.execute(
            "SELECT error_code FROM dead_letters WHERE topic = %s AND kafka_offset = %s",
            (results_topic, poison.offset),
        )
    ).fetchone()
    assert letter == ("undecodable_payload",)

    # offsets were committed: the same group finds nothing more to do
    async with ResultSink(migrated, topics=topics, group_id=f"{unique_name}-sink") as sink:
        assert (await sink.poll_once(timeout_ms=3000)).messages == 0

    # a full replay by another group changes nothing
    async with ResultSink(migrated, topics=topics, group_id=f"{unique_name}-replay") as sink:
        assert await drain(sink, n_messages) == n_messages
    assert await job_state(conn, job_id) == state

    await conn.execute("DELETE FROM dead_letters WHERE topic = %s", (results_topic,))


async def test_offsets_are_not_committed_when_the_database_fails(
    migrated: Settings, unique_name: str, topics: tuple[str, str]
) -> None:
    topic = topics[1]
    job_id = str(uuid.uuid4())
    producer = AIOKafkaProducer(bootstrap_servers=migrated.kafka_bootstrap_servers)
    await producer.start()
    try:
        payload = encode("Detection", a_detection(job_id, 1.0))
        await producer.send_and_wait(topic, payload, key=b"k", partition=0)
    finally:
        await producer.stop()
    group = f"{unique_name}-sink"
    async with ResultSink(migrated, topics=(topic,), group_id=group) as sink:
        # the database drops the sink's connection under it
        pid = sink._conn.info.backend_pid
        async with await AsyncConnection.connect(migrated.postgres_url, autocommit=True) as other:
            await other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError):
            while True:
                await sink.poll_once(timeout_ms=500)
        check = AIOKafkaConsumer(bootstrap_servers=migrated.kafka_bootstrap_servers, group_id=group)
        await check.start()
        try:
            assert await check.committed(TopicPartition(topic, 0)) is None
            # the sink was rewound: once reconnected, it writes the message and commits
            stop = asyncio.Event()
            runner = asyncio.create_task(sink.run(stop, retry_pause_s=0.1))
            for _ in range(100):
                if await check.committed(TopicPartition(topic, 0)) == 1:
                    break
                await asyncio.sleep(0.1)
            stop.set()
            await runner
            assert await check.committed(TopicPartition(topic, 0)) == 1
        finally:
            await check.stop()
        assert sink.totals == {"written": 1}


async def test_a_record_the_database_cannot_take_goes_to_the_dead_letters(
    conn: AsyncConnection,
) -> None:
    """Valid Avro, but a job id that is not a UUID: refused by PostgreSQL, kept with why."""
    detection = a_detection(str(uuid.uuid4()), 5.0)
    detection["job_id"] = "job-42"
    offset = 10**9 + uuid.uuid4().int % 10**6
    message = SinkMessage("eeg.detections", 1, offset, b"k", encode("Detection", detection))
    async with conn.transaction():
        assert await write_message(conn, message) == "dead_letter"
    row = await (
        await conn.execute(
            "SELECT error_code, error, payload FROM dead_letters"
            " WHERE topic = %s AND kafka_partition = 1 AND kafka_offset = %s",
            (message.topic, message.offset),
        )
    ).fetchone()
    assert row[0] == "db_22P02" and "job-42" in row[1] and bytes(row[2]) == message.value
    found = await (
        await conn.execute("SELECT 1 FROM detections WHERE event_id = %s", (detection["event_id"],))
    ).fetchone()
    assert found is None
    await conn.execute(
        "DELETE FROM dead_letters WHERE topic = %s AND kafka_offset = %s",
        (message.topic, message.offset),
    )


async def test_kafka_down_is_named_and_the_database_connection_closed(
    migrated: Settings,
) -> None:
    port = free_port()
    nowhere = migrated.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{port}"})
    sink = ResultSink(nowhere)
    with pytest.raises(SinkUnavailableError, match="brrr stack up") as info:
        await sink.start()
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "BRRR_KAFKA_BOOTSTRAP_SERVERS" in str(info.value)
    # start() opened PostgreSQL first; nothing of it is left open
    assert sink._conn is None and sink._consumer is None


async def test_a_cancelled_start_closes_the_consumer_and_the_database_connection(
    migrated: Settings,
) -> None:
    # A "broker" that accepts the connection and never answers: the start hangs in Kafka.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        sink = ResultSink(migrated.model_copy(update={"kafka_bootstrap_servers": address}))
        starting = asyncio.create_task(sink.start())
        for _ in range(500):
            if sink._conn is not None:
                break
            await asyncio.sleep(0.01)
        assert sink._conn is not None  # PostgreSQL is open; Kafka (topic creation) hangs
        await asyncio.sleep(0.2)
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting
    assert sink._conn is None and sink._consumer is None


async def test_the_sink_creates_missing_topics_with_the_pipeline_partitions(
    migrated: Settings, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started before any producer, the sink creates its topics as the pipeline wants them
    (the broker's auto-creation would give one partition)."""
    import connectors.kafka_sink as kafka_sink

    name = f"{unique_name}.results"
    monkeypatch.setitem(kafka_sink.PIPELINE_TOPICS, name, 3)
    admin = AIOKafkaAdminClient(bootstrap_servers=migrated.kafka_bootstrap_servers)
    await admin.start()
    try:
        async with ResultSink(migrated, topics=(name,), group_id=f"{unique_name}-sink"):
            described = await admin.describe_topics([name])
        assert len(described[0]["partitions"]) == 3
        await admin.delete_topics([name])
    finally:
        await admin.close()
