"""``brrr worker``: the Faust app whose agents turn EEG into results.

::

    eeg.jobs      ──[feed_jobs: the raw file from S3, cut into segments]──> eeg.segments
    eeg.segments  ──[cut_windows: a StreamWindower per stream, in a table]──> eeg.windows
    eeg.windows   ──[describe_windows: EEGPT micro-batched]──> eeg.features
    eeg.windows   ──[check_live_windows: StreamQC and the window's score]──> eeg.window_checks
    eeg.features  ──[finish_jobs: count windows in a table; at the end, the recording-level
                     analysis]──> eeg.window_results, eeg.detections, eeg.progress, eeg.results
    eeg.window_checks ──[follow_live: scores, events while abnormal, episodes in a table]
                     ──> eeg.window_results, eeg.detections, eeg.alerts.urgent, eeg.results
    eeg.results, eeg.detections, eeg.window_results, eeg.progress, eeg.deadletter
                  ──[the result sink, in the same process]──> PostgreSQL

Each agent is thin: decode, call a processor or a connector, encode, send. A message that
cannot be decoded or processed goes to ``eeg.deadletter`` with the reason and its bytes, and
the agent carries on. Delivery is at least once (Faust commits a message's offset after its
agent is done with it and after the producer flushed what it sent); deterministic ids and
idempotent upserts make a message delivered twice count once.
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import logging
import os
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
import psycopg
from confluent_kafka import KafkaException
from psycopg_pool import AsyncConnectionPool

from connectors.cache import TwoLevelCache
from connectors.db import DatabaseError
from connectors.db.jobs import claim_stalled_jobs
from connectors.db.workers import WorkerStatus, report_worker_status
from connectors.kafka_sink import ResultSink, SinkUnavailableError
from connectors.kafka_topics import (
    MAX_MESSAGE_BYTES,
    KafkaUnavailableError,
    Topics,
    ensure_topics,
)
from connectors.object_store import ObjectStore, ObjectStoreError
from connectors.settings import Settings
from processors.analyze import AnalysisResult
from processors.errors import EEGError
from processors.types import WINDOW_S, Recording
from schemas.codec import CodecError, decode, encode
from schemas.records import (
    AnalysisJob,
    DeadLetter,
    EEGSegment,
    EEGWindow,
    JobProgress,
    UrgentAlert,
)
from schemas.records import WindowFeatures as WindowFeaturesRecord
from streams.finish import FinishedJob, Finisher, JobWindows
from streams.jobs import PRIORITY_ORDER, JobFeeder
from streams.live import (
    LiveState,
    RecentSegments,
    close_episodes,
    findings,
    live_summary,
    live_window_result,
    new_detections,
    recent_events,
    recent_segments,
    silence_marker,
    update_episodes,
)
from streams.pipeline import ModelCache
from streams.plot import plot_result
from streams.segments import SegmentError
from streams.window_analysis import WindowDescriber
from streams.windowing import RecordingWindowers, read_back_segments
from streams.worker_metrics import PROCESSING, WINDOWS, measure_lag, serve_metrics

log = logging.getLogger("brrr.worker")

#: App id (and consumer group) of the worker, in the settings' Kafka namespace.
WORKER_APP_ID = "brrr-worker"
#: The worker's tables (per-recording windowers, per-job window counts, live streams), each
#: backed by a changelog topic co-partitioned with the EEG topics.
TABLES = ("windowers", "jobs", "live")
TABLE_PARTITIONS = 6
#: Errors a message causes every time it is processed: it goes to the dead letters.
REFUSED = (CodecError, EEGError, SegmentError, ValueError, KeyError)


#: Longest wait of the live checks for a micro-batch to fill: they cost the same a window
#: alone or together, and a live window's verdict and alerts wait for them.
LIVE_CHECK_WAIT_S = 0.05


def _live_windows(
    events: list[faust.types.EventT],
) -> list[tuple[faust.types.EventT, EEGWindow]]:
    """The live devices' windows among these events (those without a job), with their
    events. A message that does not decode is left to ``describe_windows``, which sends it
    to the dead letters."""
    out = []
    for event in events:
        try:
            window: EEGWindow = decode("EEGWindow", event.value)  # type: ignore[assignment]
        except REFUSED:
            continue
        if window["job_id"] is None:
            out.append((event, window))
    return out


def faust_broker_url(bootstrap_servers: str) -> str:
    """Faust's broker URL for a comma-separated bootstrap list."""
    return ";".join(f"kafka://{server.strip()}" for server in bootstrap_servers.split(","))


def create_app(settings: Settings, *, with_sink: bool = True) -> faust.App:
    """The worker's Faust app, its topics, tables and agents.

    Parameters
    ----------
    settings : Settings
        Kafka, PostgreSQL, S3, the models and the worker's tuning.
    with_sink : bool
        Also run the result sink (``brrr db sink``) in the worker's process.
    """
    topics = Topics(settings.kafka_namespace)
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        topics.group(WORKER_APP_ID),
        broker=faust_broker_url(settings.kafka_bootstrap_servers),
        store="memory://",  # tables are rebuilt from their changelog topics at start
        # Faust's own folder, in the stack's data folder rather than the working folder.
        datadir=str(settings.data_dir / "faust" / "{conf.name}"),
        processing_guarantee="at_least_once",
        topic_partitions=6,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=max(0.5, settings.kafka_session_timeout_s / 5),
        broker_commit_interval=1.0,
        producer_max_request_size=MAX_MESSAGE_BYTES,
        consumer_max_fetch_size=4 * MAX_MESSAGE_BYTES,
        producer_acks=-1,
        web_enabled=False,
        table_standby_replicas=0,
        # A job's message stays unacknowledged while its job runs (see streams.jobs); a
        # rebalance must not wait for it (the job is fed again by the partition's new owner,
        # and every record it produces is idempotent downstream).
        stream_wait_empty=False,
    )
    app.conf.table_cleanup_interval = 60.0

    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, value_serializer="raw")

    segments, windows = topic(topics.segments), topic(topics.windows)
    features, deadletter = topic(topics.features), topic(topics.deadletter)
    window_checks = topic(topics.window_checks)
    window_results, detections = topic(topics.window_results), topic(topics.detections)
    results, progress = topic(topics.results), topic(topics.progress)
    alerts = topic(topics.alerts)

    windower_table, job_table, live_table = (
        app.Table(name, default=None, partitions=TABLE_PARTITIONS) for name in TABLES
    )
    started_at = time.time()

    # EEGPT passes side by side, one torch thread each (see Settings.eegpt_threads)
    models = ModelCache(settings, torch_threads=1)
    describer = WindowDescriber(models, parallel_passes=settings.eegpt_threads)
    windowers = RecordingWindowers(windower_table)
    held_segments = RecentSegments()  # live recordings' last minute, for their detectors
    finisher = Finisher(settings.kafka_bootstrap_servers, topics.segments, topics.features, models)

    async def send(target: faust.TopicT, schema: str, key: str, record: Any) -> Any:
        return await target.send(key=key.encode(), value=encode(schema, dict(record)))

    async def refuse(event: faust.types.EventT, agent: str, exc: Exception) -> None:
        message = event.message
        code = getattr(exc, "code", type(exc).__name__)
        log.warning(
            "%s: %s[%d]@%d to the dead letters (%s: %s)",
            agent,
            message.topic,
            message.partition,
            message.offset,
            code,
            exc,
        )
        letter = DeadLetter(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            payload=message.value,
            agent=agent,
            error_code=str(code),
            error=f"{type(exc).__name__}: {exc}",
            failed_at=datetime.now(UTC),
        )
        await deadletter.send(key=message.key, value=encode("DeadLetter", dict(letter)))

    async def decoded(event: faust.types.EventT, schema: str, agent: str) -> Any | None:
        """The event's record, or None once a message that does not decode is refused."""
        try:
            return decode(schema, event.value)
        except REFUSED as exc:
            await refuse(event, agent, exc)
            return None

    async def feed_jobs(stream: faust.StreamT) -> None:
        """Feed each analysis job's file, read from the object store, into the segments."""
        async for event in stream.events():
            job: AnalysisJob | None = await decoded(event, "AnalysisJob", "feed_jobs")
            if job is not None:
                await feeder.run(job)

    for priority in PRIORITY_ORDER:  # one topic per priority; the feeder's slots order them
        app.agent(
            topic(topics.jobs_for(priority)),
            name=f"feed_jobs_{priority}",
            concurrency=settings.worker_job_concurrency,
        )(feed_jobs)

    @app.agent(segments)
    async def cut_windows(stream: faust.StreamT) -> None:
        """Cut each stream's segments into analysis windows."""
        async for event in stream.events():
            partition, offset = event.message.partition, event.message.offset
            try:
                segment: EEGSegment = decode("EEGSegment", event.value)  # type: ignore[assignment]
                cut = []
                span = windowers.read_back_span(segment, offset)
                if span is not None:  # a live stream this worker takes over: from the log
                    logged = await read_back_segments(
                        settings.kafka_bootstrap_servers,
                        topics.segments,
                        partition,
                        span,
                        segment["recording_id"],
                    )
                    cut = windowers.rebuild(segment, logged)
                cut += windowers.push(segment, partition, offset)
            except REFUSED as exc:
                await refuse(event, "cut_windows", exc)
                continue
            if segment["job_id"] is None:
                held_segments.add(segment, partition, offset)
            for window in cut:
                await send(windows, "EEGWindow", window["recording_id"], window)

    @app.agent(windows)
    async def describe_windows(stream: faust.StreamT) -> None:
        """Feature every window with EEGPT, in micro-batches across recordings."""
        async for events in stream.take_events(
            settings.feature_batch_windows, within=settings.feature_batch_wait_s
        ):
            batch: list[EEGWindow] = []
            for event in events:
                window = await decoded(event, "EEGWindow", "describe_windows")
                if window is not None:
                    batch.append(window)
            if not batch:
                continue
            # Off the event loop: consuming, heartbeats and commits go on while EEGPT runs.
            try:
                described = await asyncio.to_thread(describer.describe, batch)
            except REFUSED as exc:
                for event in events:
                    await refuse(event, "describe_windows", exc)
                continue
            for record in described:
                await send(features, "WindowFeatures", record["recording_id"], record)
            WINDOWS.labels("live" if batch[0]["job_id"] is None else "file").inc(len(described))

    @app.agent(windows)
    async def check_live_windows(stream: faust.StreamT) -> None:
        """Check and score each live window as it arrives, apart from EEGPT."""
        async for events in stream.take_events(
            settings.feature_batch_windows, within=LIVE_CHECK_WAIT_S
        ):
            live = _live_windows(events)
            if not live:
                continue
            batch = [window for _event, window in live]
            # A live stream's key is its recording, whose state (with its QC calibration)
            # is in this worker's live table: eeg.windows and eeg.window_checks are
            # co-partitioned.
            calibrations = {}
            for key in describer.unknown_streams(batch):
                value = live_table.get(key)
                if value is not None and value.get("qc_calibration") is not None:
                    calibrations[key] = value["qc_calibration"]
            try:
                checked = await asyncio.to_thread(describer.check_live, batch, calibrations)
            except REFUSED as exc:
                for event, _window in live:
                    await refuse(event, "check_live_windows", exc)
                continue
            for record in checked:
                await send(window_checks, "WindowFeatures", record["recording_id"], record)

    @app.agent(features)
    async def finish_jobs(stream: faust.StreamT) -> None:
        """Count each job's windows once; when the last is in, analyse the recording."""
        async for event in stream.events():
            record: WindowFeaturesRecord | None = await decoded(
                event, "WindowFeatures", "finish_jobs"
            )
            if record is None:
                continue
            if record["job_id"] is None:
                continue  # a live window's features: kept in the log, its checks are followed
            stored = job_table.get(record["job_id"])
            job = (
                JobWindows.from_json(stored)
                if stored is not None
                else JobWindows(
                    job_id=record["job_id"],
                    recording_id=record["recording_id"],
                    analysis_type=record["analysis_type"],
                    features_partition=event.message.partition,
                    features_first_offset=event.message.offset,
                )
            )
            if job.done:
                continue
            if record["end_of_recording"]:
                job.end(record)
            else:
                job.expected = record["expected_windows"]
                job.mark(record["window_index"])
            if job.complete:
                try:
                    await finish(job)
                except REFUSED as exc:
                    await refuse(event, "finish_jobs", exc)
                    await feeder.fail(job.job_id, f"{type(exc).__name__}: {exc}")
                job.done, job.seen_b64 = True, ""
            elif job.progress - job.reported_progress >= 0.05:
                await report_progress(job)
            job_table[job.job_id] = job.to_json()

    @app.agent(window_checks)
    async def follow_live_recordings(stream: faust.StreamT) -> None:
        """Follow each live recording window by window: its score, its events while it is
        abnormal, its alerts."""
        async for event in stream.events():
            record: WindowFeaturesRecord | None = await decoded(
                event, "WindowFeatures", "follow_live_recordings"
            )
            if record is not None:
                await follow_live(record)

    async def follow_live(record: WindowFeaturesRecord) -> None:
        """A live recording's window: its score, its events while abnormal, its alerts."""
        stored = live_table.get(record["recording_id"])
        state = (
            LiveState.from_json(stored)
            if stored is not None
            else LiveState(
                recording_id=record["recording_id"],
                device_id=record["device_id"],
                patient_ref=record["patient_ref"],
                segments_partition=record["segments_partition"],
            )
        )
        if state.outbox:  # decided before a restart, maybe not sent: send them now
            await send_outbox(state)
            live_table[state.recording_id] = state.to_json()
        if record["end_of_recording"]:
            stopped = record["n_windows_total"] is not None
            if not stopped and state.last_index >= record["window_index"]:
                # A silence marker is queued behind the windows not yet analysed (a worker
                # catching up after a restart): windows came after it, the device is alive.
                log.info("live recording %s: heard again, not closed", state.recording_id)
                return
            if stored is not None:  # the device was silent too long (or said it stopped)
                await close_live(state, "device stopped" if stopped else "device silent")
            return
        if not state.observe(record):
            return
        await send(window_results, "WindowResult", state.recording_id, live_window_result(record))
        if state.recording_start is None and record["recording_start"] is not None:
            state.recording_start = record["recording_start"].isoformat()
        found: list = []
        if state.wants_events():
            segments_read = await recent_segments(
                settings.kafka_bootstrap_servers, topics.segments, state, held_segments
            )
            window_end_s = record["start_s"] + WINDOW_S
            events, context = await asyncio.to_thread(
                recent_events, segments_read, state, window_end_s
            )
            found = findings(state, events, context[1] - context[0])
            for detection in new_detections(state, events, context):
                await send(detections, "Detection", state.recording_id, detection)
        decided = update_episodes(state, found, record["window_index"])
        if decided:
            state.outbox += [outbox_entry(alert) for alert in decided]
            await store_live_state_durably(state)
        await send_outbox(state)
        live_table[state.recording_id] = state.to_json()

    async def store_live_state_durably(state: LiveState) -> None:
        """Store the state, and wait until its changelog has it.

        The episodes are in the changelog before their alerts are out, so a worker killed
        after sending them restarts knowing them and does not alert again. The table's own
        changelog write is only buffered (faust's ``producer.flush()`` gives up after 0.1 s
        without progress), so the same value is sent once more and its delivery awaited:
        the two share the changelog partition, so the first is in when the second is.
        """
        value = state.to_json()
        live_table[state.recording_id] = value
        partition = faust.current_event().message.partition
        await live_table.send_changelog(partition, state.recording_id, value)

    async def send_outbox(state: LiveState) -> None:
        """Send the alerts decided for this recording (again, after a restart: same ids)."""
        for entry in state.outbox:
            payload = base64.b64decode(entry)
            await alerts.send(key=state.recording_id.encode(), value=payload)
            alert = decode("UrgentAlert", payload)
            log.warning(
                "ALERT %s %s on %s (device %s) at %.1f s, confidence %.2f",
                alert["status"],
                alert["finding"],
                alert["recording_id"],
                alert["device_id"],
                alert["onset_s"],
                alert["confidence"],
            )
        state.outbox = []

    async def close_live(state: LiveState, reason: str) -> None:
        await send_outbox(state)
        for alert in close_episodes(state):  # open episodes end with the recording
            await send(alerts, "UrgentAlert", state.recording_id, alert)
        summary = live_summary(state, reason=reason)
        await send(results, "AnalysisResult", state.recording_id, summary)
        log.info(
            "live recording %s closed (%s): %.1f min, triage %s, %d urgent findings",
            state.recording_id,
            reason,
            state.n_windows * 4 / 60,
            summary["triage_priority"],
            len(state.history),
        )
        del live_table[state.recording_id]
        held_segments.forget(state.recording_id)

    @app.on_partitions_revoked.connect
    async def forget_revoked_streams(sender: faust.App, revoked: set, **kwargs: Any) -> None:
        """What this worker holds in memory of the streams of partitions it gives up."""
        partitions = {tp.partition for tp in revoked if tp.topic == topics.segments}
        held_segments.forget_partitions(partitions)
        windowers.forget_partitions(partitions)

    @app.timer(interval=max(1.0, settings.live_silence_s / 4))
    async def close_silent_recordings() -> None:
        """A device silent for ``live_silence_s`` is closed: its end marker is queued."""
        now = time.time()
        for recording_id, value in list(live_table.items()):
            # Silence counts from this worker's start too: a restarted worker first gives
            # the devices time to be heard again.
            last_heard = max(value["last_seen_wall_s"], started_at) if value else now
            if now - last_heard < settings.live_silence_s:
                continue
            marker = silence_marker(LiveState.from_json(value))
            await send(window_checks, "WindowFeatures", recording_id, marker)

    async def report_progress(job: JobWindows) -> None:
        job.reported_progress = job.progress
        record = JobProgress(
            job_id=job.job_id,
            recording_id=job.recording_id,
            windows_done=job.n_seen,
            windows_expected=job.n_total or job.expected,
            progress=job.progress,
            emitted_at=datetime.now(UTC),
        )
        await send(progress, "JobProgress", job.recording_id, record)

    async def finish(job: JobWindows) -> None:
        segments_read = await finisher.segments_of(job)
        precomputed = await finisher.features_of(job)
        origin = await _origin_of(connections.pool, job.job_id)
        done = await asyncio.to_thread(
            finisher.analyse, job, segments_read, precomputed, origin.file_id, origin.options
        )
        if origin.owner_id is not None:  # asked through the API, which serves the report's plot
            await store_report(job.job_id, done)
        key = job.recording_id
        pending = [await send(window_results, "WindowResult", key, w) for w in done.windows]
        pending += [await send(detections, "Detection", key, d) for d in done.detections]
        await asyncio.gather(*pending)  # stored before the result that completes the job
        await store_result(job.job_id, origin.file_id, done.document)
        await send(results, "AnalysisResult", key, done.result_record)
        PROCESSING.labels(job.analysis_type).observe(time.time() - job.started_at)
        # A job frees a recording's worth of arrays: hand the freed heap back to the system,
        # or the worker's resident memory creeps up job after job (heap fragmentation).
        await asyncio.to_thread(release_free_memory)
        log.info(
            "job %s: analysed %d windows of %s: %s, triage %s, %d events",
            job.job_id,
            done.result_record["n_windows"],
            job.recording_id,
            "abnormal" if done.result_record["is_abnormal"] else "normal",
            done.result_record["triage_priority"],
            len(done.detections),
        )

    async def send_segment(segment: EEGSegment) -> None:
        await send(segments, "EEGSegment", segment["recording_id"], segment)

    async def store_report(job_id: str, done: FinishedJob) -> None:
        try:
            png = await asyncio.to_thread(render_report, done.recording, done.result)
            await asyncio.to_thread(connections.store.put_report, job_id, png)
        except ObjectStoreError as exc:
            log.error("job %s: report plot not stored in S3 (%s)", job_id, exc)

    async def store_result(job_id: str, file_id: str | None, document: dict[str, Any]) -> None:
        try:
            if file_id is not None:
                await asyncio.to_thread(connections.cache.put_result, job_id, file_id, document)
            else:
                await asyncio.to_thread(connections.store.put_result, job_id, document)
        except ObjectStoreError as exc:  # PostgreSQL still gets the whole document
            log.error("job %s: result not stored in S3 (%s)", job_id, exc)

    connections = WorkerConnections(settings)
    feeder = JobFeeder(settings, connections.pool, connections.store, send_segment)

    worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    metrics_url: list[str] = []

    @app.task
    async def open_connections() -> None:
        await connections.pool.open(wait=False)
        served = serve_metrics(settings.worker_metrics_address)
        if served is not None:
            metrics_url.append(served[1])

    @app.timer(interval=settings.worker_heartbeat_s)
    async def heartbeat() -> None:
        """Say that this worker is alive and whether its model is loaded (worker_status)."""
        state, error = await asyncio.to_thread(models.state)
        status = WorkerStatus(
            worker_id=worker_id,
            namespace=settings.kafka_namespace,
            host=socket.gethostname(),
            pid=os.getpid(),
            model_state=state,
            model_error=error,
            metrics_url=metrics_url[0] if metrics_url else None,
            started_at=datetime.fromtimestamp(started_at, UTC),
            heartbeat_at=datetime.now(UTC),
        )
        try:
            async with connections.pool.connection(timeout=5) as conn:
                await report_worker_status(conn, status)
        except (psycopg.Error, TimeoutError) as exc:
            log.error("heartbeat not stored: PostgreSQL does not answer (%s)", exc)

    @app.timer(interval=15.0)
    async def consumer_lag() -> None:
        """Messages waiting per partition of the worker's input topics (kafka_consumer_lag)."""
        inputs = [*(topics.jobs_for(p) for p in PRIORITY_ORDER), topics.segments]
        inputs += [topics.windows, topics.features, topics.window_checks]
        try:
            await asyncio.to_thread(
                measure_lag, settings.kafka_bootstrap_servers, app.conf.id, inputs
            )
        except KafkaException as exc:
            log.warning("consumer lag not measured: %s", exc)

    @app.timer(interval=max(5.0, settings.job_stall_timeout_s / 4))
    async def requeue_stalled_jobs() -> None:
        """Queue again the jobs whose worker died without another picking them up."""
        try:
            async with connections.pool.connection(timeout=5) as conn:
                stalled = await claim_stalled_jobs(
                    conn,
                    stalled_for_s=settings.job_stall_timeout_s,
                    namespace=settings.kafka_namespace,
                )
        except (psycopg.Error, TimeoutError) as exc:
            log.error("stalled jobs not checked: PostgreSQL does not answer (%s)", exc)
            return
        for job in stalled:
            log.warning(
                "job %s: no progress for %g s; queued again",
                job.job_id,
                settings.job_stall_timeout_s,
            )
            record = AnalysisJob(
                job_id=job.job_id,
                file_id=job.file_id,
                object_key=job.object_key,
                analysis_type=job.analysis_type,  # type: ignore[typeddict-item]
                options=job.options,
                priority=job.priority,  # type: ignore[typeddict-item]
                batch_id=job.batch_id,
                owner=job.owner_id,
                submitted_at=datetime.now(UTC),
            )
            await send(topic(topics.jobs_for(job.priority)), "AnalysisJob", job.job_id, record)

    if with_sink:

        @app.task
        async def run_sink() -> None:
            """The result sink, in the worker's process: outputs to PostgreSQL."""
            while True:
                try:
                    async with ResultSink(settings) as sink:
                        log.info("result sink: consuming %s", ", ".join(sink.topics))
                        await sink.run(asyncio.Event())
                except (DatabaseError, SinkUnavailableError) as exc:
                    log.error("result sink: %s; retrying in 5 s", exc)
                    await asyncio.sleep(5)

    return app


class WorkerConnections:
    """PostgreSQL, S3 and Redis clients the agents share (they connect on first use)."""

    def __init__(self, settings: Settings) -> None:
        self.pool = AsyncConnectionPool(
            settings.postgres_url,
            min_size=1,
            max_size=settings.worker_job_concurrency + 2,
            kwargs={"autocommit": True, "connect_timeout": 5},
            # A connection to a server that died (a PostgreSQL failover) is replaced, not
            # handed out: the URL leads the new one to the new primary.
            check=AsyncConnectionPool.check_connection,
            open=False,
        )
        self.store = ObjectStore.from_settings(settings)
        self.cache = TwoLevelCache(self.store, settings.redis_url)


@dataclass(frozen=True)
class JobOrigin:
    """Where a job came from: its uploaded file, who asked, which stages they turned off."""

    file_id: str | None
    owner_id: str | None
    options: dict[str, str]


async def _origin_of(pool: AsyncConnectionPool, job_id: str) -> JobOrigin:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT file_id::text, owner_id::text, options FROM analysis_jobs WHERE job_id = %s",
            (job_id,),
        )
        row = await cur.fetchone()
    if row is None:  # the feeder registers every job before its first segment
        raise LookupError(f"job {job_id} is not in analysis_jobs")
    return JobOrigin(row[0], row[1], dict(row[2] or {}))


def release_free_memory() -> None:
    """Return the C heap's free pages to the system (glibc ``malloc_trim``; elsewhere a
    no-op)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.malloc_trim(0)


def outbox_entry(alert: UrgentAlert) -> str:
    """An alert as the live state's outbox keeps it (encoded, base64)."""
    return base64.b64encode(encode("UrgentAlert", dict(alert))).decode()


def render_report(recording: Recording, result: AnalysisResult) -> bytes:
    """The PNG ``brrr analyze --plot`` draws, as bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = plot_result(recording, result, Path(folder) / "report.png")
        return path.read_bytes()


def changelog_topic(topics: Topics, table: str) -> str:
    """The changelog topic Faust gives a table of the worker (``{app id}-{table}-changelog``)."""
    return f"{topics.group(WORKER_APP_ID)}-{table}-changelog"


def run_worker(settings: Settings, *, with_sink: bool = True, loglevel: str = "INFO") -> None:
    """Run the worker until interrupted (Ctrl-C or SIGTERM stop it cleanly)."""
    topics = Topics(settings.kafka_namespace)
    while True:  # the agents' topics must exist before Faust subscribes to them
        try:
            # The changelogs too: Faust creates them itself, but a broker slow to publish
            # their metadata then crashes the table's agent (PartitionsMismatch).
            changelogs = {changelog_topic(topics, name): TABLE_PARTITIONS for name in TABLES}
            ensure_topics(
                settings.kafka_bootstrap_servers,
                {**topics.partitions, **changelogs},
                compacted=changelogs,
            )
            break
        except KafkaUnavailableError as exc:
            log.error("%s; retrying in 5 s", exc)
            time.sleep(5)
    app = create_app(settings, with_sink=with_sink)
    worker = faust.Worker(app, loglevel=loglevel, redirect_stdouts=False)
    worker.execute_from_commandline()
