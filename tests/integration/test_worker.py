"""The stream worker against the real broker, PostgreSQL and S3: parity with the one-process
analysis, kill -9, two workers, a broker restart, poison messages."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest
from confluent_kafka import Consumer, Producer

from connectors.settings import Settings
from connectors.stack import up_service
from connectors.stack._process import stop_pid
from connectors.stack.kafka import Kafka
from processors.analyze import analyze
from processors.io import read_recording
from processors.synthetic import InjectedEvent, generate_eeg
from schemas.codec import decode
from streams.demo import write_demo_files
from streams.pipeline import build_options
from tests.integration.workers import (
    WorkerPool,
    follow_files,
    replay_files,
    wait_for_progress,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory) -> list[Path]:
    return [path for path, _truth in write_demo_files(tmp_path_factory.mktemp("demo"))]


def _long_file(tmp_path: Path, seconds: float = 600.0) -> Path:
    events = [InjectedEvent("seizure", onset_s=300.0, duration_s=30.0)]
    return Path(generate_eeg(seconds, events=events, seed=211).write_edf(tmp_path / "long.edf"))


def _stored(settings: Settings, job_id: str) -> dict:
    """What PostgreSQL holds of a job: its row, result, window rows and detections."""
    with psycopg.connect(settings.postgres_url) as conn:
        job = conn.execute(
            "SELECT status, retry_count, progress FROM analysis_jobs WHERE job_id = %s", (job_id,)
        ).fetchone()
        result = conn.execute(
            "SELECT result, triage_priority FROM analysis_results WHERE job_id = %s", (job_id,)
        ).fetchone()
        windows = conn.execute(
            "SELECT window_index, abnormal_score FROM window_quality WHERE job_id = %s "
            "ORDER BY window_index",
            (job_id,),
        ).fetchall()
        detections = conn.execute(
            "SELECT event_id, event_type, onset_s FROM detections WHERE job_id = %s", (job_id,)
        ).fetchall()
    return {"job": job, "result": result, "windows": windows, "detections": detections}


def _events(document: dict) -> list[dict]:
    stage = document["event_detection"]
    return stage["events"] if stage["status"] == "completed" else []


def _assert_same_result(stream: dict, whole: dict, window_scores: np.ndarray | None) -> None:
    """The parity of the streams issue: same windows, quality verdict, scores, events, triage."""
    doc = stream["result"][0]
    assert doc["recording_id"] == whole["recording_id"]
    qc_s, qc_w = doc["quality_report"], whole["quality_report"]
    assert qc_s["n_windows"] == qc_w["n_windows"]
    for field in ("bad_channels", "is_acceptable", "n_artifact_windows"):
        assert qc_s[field] == qc_w[field], field
    assert qc_s["signal_quality_score"] == pytest.approx(qc_w["signal_quality_score"], abs=1e-4)
    abn_s, abn_w = doc["abnormality_detection"], whole["abnormality_detection"]
    assert abn_s["status"] == abn_w["status"]
    assert abn_s["is_abnormal"] == abn_w["is_abnormal"]
    assert abn_s["confidence"] == pytest.approx(abn_w["confidence"], abs=1e-4)
    assert doc["triage_priority"] == whole["triage_priority"] == stream["result"][1]
    stored_scores = np.array([score for _index, score in stream["windows"]], dtype=float)
    assert [index for index, _ in stream["windows"]] == list(range(qc_w["n_windows"]))
    if window_scores is not None:
        np.testing.assert_allclose(stored_scores, window_scores, atol=1e-4)
    one_sample_s = 1.0 / 256.0  # events are found on the 256 Hz continuous signal
    ev_s = sorted(_events(doc), key=lambda e: (e["type"], e["onset_s"]))
    ev_w = sorted(_events(whole), key=lambda e: (e["type"], e["onset_s"]))
    assert [e["type"] for e in ev_s] == [e["type"] for e in ev_w]
    for a, b in zip(ev_s, ev_w, strict=True):
        assert abs(a["onset_s"] - b["onset_s"]) <= one_sample_s, (a, b)
        assert sorted(a["channels"]) == sorted(b["channels"])
    assert len(stream["detections"]) == len(ev_w)


def test_replayed_files_give_the_same_result_as_analyze_in_one_process(
    settings: Settings, workers: WorkerPool, demo_files: list[Path], real_data_dir: Path
) -> None:
    workers.start()
    files = [
        *demo_files,
        real_data_dir / "nihon_kohden_clinical_19ch_200hz.edf",
        real_data_dir / "openbci_sleep_125hz.bdf",
    ]
    replayed = replay_files(settings, files)
    outcomes = follow_files(settings, replayed)
    for item, outcome in zip(replayed, outcomes, strict=True):
        recording = read_recording(item.path)
        options = build_options(settings, recording.ch_names, analysis_type="screening")
        whole = analyze(recording, "screening", options)
        stored = _stored(settings, item.job_id)
        assert stored["job"][0] == "completed" and stored["job"][1] == 0
        _assert_same_result(stored, whole.to_dict(), whole.window_scores)
        assert outcome.triage == whole.triage_priority
    seizure = next(o for o in outcomes if o.replayed.path.name == "demo_seizure.edf")
    assert seizure.triage == "urgent" and seizure.events.get("seizure") == 1


def test_a_worker_killed_mid_recording_resumes_and_counts_each_window_once(
    settings: Settings, workers: WorkerPool, tmp_path: Path
) -> None:
    path = _long_file(tmp_path)
    first = workers.start()
    (item,) = replay_files(settings, [path], speed="40")  # 600 s in 15 s
    progress = wait_for_progress(settings, item.job_id, 0.2)
    first.kill9()
    workers.start()
    (outcome,) = follow_files(settings, [item], timeout_s=300)
    stored = _stored(settings, item.job_id)
    whole = analyze(read_recording(path), "screening")
    assert stored["job"][1] >= 1, "the interrupted job counts a retry"
    assert len(stored["windows"]) == whole.windows.n_windows == 150
    assert len({event_id for event_id, *_ in stored["detections"]}) == len(stored["detections"])
    _assert_same_result(stored, whole.to_dict(), whole.window_scores)
    print(f"killed at progress {progress:.2f}; completed with retry_count {stored['job'][1]}")
    assert outcome.events.get("seizure") == 1


def test_two_workers_share_the_recordings_and_one_takes_over_when_the_other_dies(
    settings: Settings, workers: WorkerPool, tmp_path: Path
) -> None:
    a, b = workers.start(), workers.start()
    paths = []
    for seed in range(4):
        sim = generate_eeg(240.0, seed=300 + seed)
        paths.append(Path(sim.write_edf(tmp_path / f"rec{seed}.edf")))
    replayed = replay_files(settings, paths, speed="30")  # 240 s in 8 s each
    wait_for_progress(settings, replayed[0].job_id, 0.1)
    a.kill9()
    outcomes = follow_files(settings, replayed, timeout_s=300)
    assert all(o.n_windows == 60 for o in outcomes)
    for item in replayed:
        assert len(_stored(settings, item.job_id)["windows"]) == 60
    assert b.proc.poll() is None


def test_replay_and_worker_carry_on_when_the_broker_restarts(
    settings: Settings, workers: WorkerPool, tmp_path: Path
) -> None:
    workers.start()
    path = _long_file(tmp_path, seconds=480.0)
    (item,) = replay_files(settings, [path], speed="20")  # 480 s in 24 s
    wait_for_progress(settings, item.job_id, 0.15)
    kafka = Kafka(settings)
    pid = kafka.pid()
    assert pid is not None
    stop_pid(pid, sig=kafka.stop_signal, timeout_s=30.0)
    kafka.pid_file.unlink(missing_ok=True)
    time.sleep(5)
    up_service(Kafka(settings))
    (outcome,) = follow_files(settings, [item], timeout_s=300)
    stored = _stored(settings, item.job_id)
    assert len(stored["windows"]) == outcome.n_windows == 120
    assert outcome.events.get("seizure") == 1


def test_a_poison_message_goes_to_the_dead_letters_and_the_partition_moves_on(
    settings: Settings, workers: WorkerPool, demo_files: list[Path]
) -> None:
    from connectors.kafka_topics import Topics

    topics = Topics(settings.kafka_namespace)
    workers.start()
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    poison_key = f"poison-{uuid.uuid4().hex[:8]}".encode()
    producer.produce(topics.segments, key=poison_key, value=b"\xb1 not an avro payload")
    producer.produce(topics.jobs, key=poison_key, value=b"garbage")
    producer.flush(10)
    (item,) = replay_files(settings, demo_files[:1])
    follow_files(settings, [item])
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"{settings.kafka_namespace}-dlq-reader",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topics.deadletter])
    letters = []
    deadline = time.monotonic() + 30
    while len(letters) < 2 and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            letters.append(decode("DeadLetter", message.value()))
    consumer.close()
    assert {(d["agent"], d["payload"]) for d in letters} == {
        ("cut_windows", b"\xb1 not an avro payload"),
        ("feed_jobs", b"garbage"),
    }
    assert all(d["error_code"] == "undecodable_payload" and d["error"] for d in letters)
    # the sink keeps them in PostgreSQL too, under their original topic and offset
    with psycopg.connect(settings.postgres_url) as conn:
        rows = conn.execute(
            "SELECT topic, agent FROM dead_letters WHERE topic IN (%s, %s)",
            (topics.segments, topics.jobs),
        ).fetchall()
    assert sorted(rows) == sorted([(topics.jobs, "feed_jobs"), (topics.segments, "cut_windows")])
