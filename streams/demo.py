"""``brrr demo``: EEG in, results out, through the real stack.

1. start the local stack (Kafka, PostgreSQL, Redis, S3), create the topics and tables;
2. write two EDF files from the synthetic generator: a normal background and one with an
   evolving seizure, spikes and lateralized periodic discharges (known ground truth);
3. upload each raw file to the object store and register it;
4. analyse each file (``processors.analyze``) and publish the result and its detections,
   Avro-framed, to ``eeg.results`` and ``eeg.detections``;
5. run the result sink, which consumes those topics into PostgreSQL;
6. read the jobs and detections back from PostgreSQL, and the complete result through the
   Redis/S3 cache, and print them next to the ground truth.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from connectors.settings import Settings

if TYPE_CHECKING:  # imported when the demo runs: `brrr --help` stays fast
    from connectors.cache import TwoLevelCache
    from connectors.object_store import ObjectStore


def _step(message: str) -> None:
    click.echo(click.style("==> ", fg="cyan", bold=True) + message)


def write_demo_files(out_dir: Path) -> list[tuple[Path, list[Any]]]:
    """Two EDF files of 3 minutes, 19 channels, 256 Hz, with their injected events."""
    from processors.synthetic import InjectedEvent, generate_eeg

    out_dir.mkdir(parents=True, exist_ok=True)
    specs = {
        "demo_normal.edf": [],
        "demo_seizure.edf": [
            *[InjectedEvent("spike", onset_s=12.0 + 9.0 * i, duration_s=0.05) for i in range(4)],
            InjectedEvent("seizure", onset_s=70.0, duration_s=30.0),
            InjectedEvent("lpd", onset_s=130.0, duration_s=20.0),
        ],
    }
    files = []
    for seed, (name, events) in enumerate(specs.items()):
        eeg = generate_eeg(180.0, events=events, seed=100 + seed)
        path = eeg.write_edf(out_dir / name)
        truth = [e for e in eeg.events if e.kind not in {"blink", "muscle"}]
        files.append((Path(path), truth))
    return files


async def _run(settings: Settings, out_dir: Path) -> list[dict[str, Any]]:
    """The demo with its S3 and Redis clients, closed afterwards whatever happens."""
    from connectors.cache import TwoLevelCache
    from connectors.object_store import ObjectStore

    store = ObjectStore.from_settings(settings)
    cache = TwoLevelCache(store, settings.redis_url)
    try:
        return await _demo(settings, out_dir, store, cache)
    finally:
        cache.redis.close()
        store.close()


async def _demo(
    settings: Settings, out_dir: Path, store: ObjectStore, cache: TwoLevelCache
) -> list[dict[str, Any]]:
    from connectors.db import queries, redact_url
    from connectors.db.jobs import create_job, register_recording, register_upload
    from connectors.db.migrate import migrate
    from connectors.kafka_sink import DETECTIONS_TOPIC, RESULTS_TOPIC, ResultSink
    from connectors.kafka_topics import RecordProducer, ensure_topics
    from processors.analyze import analyze
    from processors.io import read_recording
    from streams.pipeline import build_options
    from streams.records import detection_records, result_record

    _step("topics, tables and bucket")
    created = ensure_topics(settings.kafka_bootstrap_servers)
    click.echo(f"    topics created: {', '.join(created) or 'none (all there)'}")
    report = migrate(settings.postgres_url)
    click.echo(f"    migrations: {report}")
    store.ensure_bucket()

    _step(f"writing synthetic EDF files to {out_dir}")
    files = write_demo_files(out_dir)
    producer = RecordProducer(settings.kafka_bootstrap_servers)
    import psycopg

    jobs: list[tuple[str, Path, list[Any]]] = []
    async with await psycopg.AsyncConnection.connect(settings.postgres_url) as conn:
        for path, truth in files:
            data = path.read_bytes()
            file_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"brrr-demo:{path.name}:{len(data)}"))
            stored = store.put_raw(file_id, path.name, data)
            job_id = str(uuid.uuid4())
            recording = read_recording(path)
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
                    source="upload",
                    file_id=file_id,
                    start_time=recording.start_time,
                    duration_s=recording.duration_s,
                    sfreq_hz=recording.sfreq_hz,
                    ch_names=recording.ch_names,
                )
                await create_job(
                    conn,
                    job_id=job_id,
                    analysis_type="screening",
                    file_id=file_id,
                    recording_id=recording.recording_id,
                )
            _step(f"analysing {path.name} ({recording.duration_s:.0f} s, job {job_id[:8]})")
            t0 = time.perf_counter()
            options = build_options(settings, recording.ch_names, analysis_type="screening")
            result = analyze(recording, "screening", options)
            click.echo(f"    analysed in {time.perf_counter() - t0:.1f} s")
            detections = detection_records(result, job_id=job_id)
            record = result_record(result, job_id=job_id, file_id=file_id)
            for detection in detections:
                producer.send(DETECTIONS_TOPIC, "Detection", recording.recording_id, detection)
            producer.send(RESULTS_TOPIC, "AnalysisResult", recording.recording_id, record)
            cache.put_result(job_id, file_id, result.to_dict())
            jobs.append((job_id, path, truth))
    producer.flush()
    _step(f"published {len(jobs)} results to {RESULTS_TOPIC} and their detections")

    _step("result sink: Kafka -> PostgreSQL")
    async with ResultSink(settings, group_id="brrr-demo-sink") as sink:
        deadline = time.monotonic() + 60
        async with await psycopg.AsyncConnection.connect(settings.postgres_url) as conn:
            while time.monotonic() < deadline:
                await sink.poll_once(timeout_ms=1000)
                states = [await queries.job_status(conn, job_id) for job_id, _, _ in jobs]
                if all(s and s["status"] == "completed" for s in states):
                    break
            else:
                raise click.ClickException("the sink did not complete the jobs within 60 s")

            _step("results, read back from PostgreSQL")
            summary = []
            for job_id, path, truth in jobs:
                row = await queries.analysis_result(conn, job_id)
                events = await queries.detections(conn, job_id=job_id)
                summary.append(
                    {"file": path.name, "job_id": job_id, "result": row, "detections": events}
                )
                verdict = "ABNORMAL" if row["is_abnormal"] else "normal"
                click.echo(
                    f"  {path.name}: {verdict} (confidence {row['confidence']:.2f}), "
                    f"triage {row['triage_priority'].upper()}, "
                    f"quality {row['signal_quality_score']:.2f}, {len(events)} detections"
                )
                artifacts = [e for e in events if e["event_type"] == "artifact"]
                if artifacts:
                    kinds = sorted({str(e["subtype"]) for e in artifacts})
                    click.echo(f"      {len(artifacts)} artifacts ({', '.join(kinds)}), not listed")
                for e in (e for e in events if e["event_type"] != "artifact"):
                    channels = ",".join(e["channels"][:4]) + ("…" if len(e["channels"]) > 4 else "")
                    click.echo(
                        f"      {e['event_type']:<18} at {e['onset_s']:7.2f} s for "
                        f"{e['duration_s']:6.2f} s  [{channels}]  conf {e['confidence']:.2f}"
                    )
                for t in truth:
                    click.echo(
                        f"      truth: {t.kind:<14} at {t.onset_s:7.2f} s for {t.duration_s:6.2f} s"
                    )
                cached = cache.get_result(job_id)
                stages = [k for k in cached if k.endswith(("_report", "_detection", "_analysis"))]
                click.echo(
                    f"      complete result via cache: {len(json.dumps(cached))} bytes, "
                    f"stages {stages}"
                )
    click.echo(
        "\nDone. Query PostgreSQL with: psql "
        f"{redact_url(settings.postgres_url)} -c 'SELECT job_id, status, triage_priority FROM "
        "analysis_results JOIN analysis_jobs USING (job_id)'\n"
        "(*** stands for the password in BRRR_POSTGRES_URL; the local stack's default is in "
        "connectors/settings.py)"
    )
    return summary


def run_demo(settings: Settings, out_dir: Path) -> list[dict[str, Any]]:
    """Run the demo end to end (the stack must be up); returns each file's result row and
    detections as read back from PostgreSQL."""
    return asyncio.run(_run(settings, out_dir))
