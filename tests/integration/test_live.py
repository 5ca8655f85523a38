"""Live devices through the real broker and worker: urgent alerts, once per episode."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import psycopg
import pytest

from connectors.settings import Settings
from streams.device import Misbehaviour
from streams.device_run import run_devices
from tests.integration.workers import AlertFollower, WorkerPool

pytestmark = pytest.mark.integration


def _stream(
    settings: Settings,
    *,
    seconds: float,
    speed: float,
    count: int = 1,
    events: tuple[str, ...] = (),
    seed: int = 0,
    faults: Misbehaviour | None = None,
) -> list[str]:
    """``brrr device --synthetic``; returns the devices' recordings."""
    _sent, recordings = asyncio.run(
        run_devices(
            settings,
            file=None,
            loop=False,
            events=events,
            count=count,
            seconds=seconds,
            speed=speed,
            seed=seed,
            faults=faults or Misbehaviour(),
            quiet=True,
        )
    )
    return recordings


def _live_windows(
    recordings: list[str], expected: int, settings: Settings, timeout_s: float = 180.0
) -> list[tuple]:
    """The recordings' stored windows, once the worker has stored ``expected`` of them."""
    deadline = time.monotonic() + timeout_s
    rows: list[tuple] = []
    while time.monotonic() < deadline:
        with psycopg.connect(settings.postgres_url) as conn:
            rows = conn.execute(
                "SELECT recording_id, window_index, bad_channels, is_artifact "
                "FROM window_quality WHERE recording_id = ANY(%s) "
                "ORDER BY recording_id, window_index",
                (recordings,),
            ).fetchall()
        if len(rows) >= expected:
            return rows
        time.sleep(1.0)
    raise AssertionError(f"{len(rows)} live windows stored, {expected} expected")


def _summary(settings: Settings, recording_id: str, timeout_s: float = 60.0) -> dict:
    """The final summary of a closed live recording, from PostgreSQL."""
    from streams.live import live_job_id

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with psycopg.connect(settings.postgres_url) as conn:
            row = conn.execute(
                "SELECT result FROM analysis_results WHERE job_id = %s",
                (live_job_id(recording_id),),
            ).fetchone()
        if row is not None:
            return row[0]
        time.sleep(1.0)
    raise AssertionError(f"no summary of {recording_id} within {timeout_s:g} s")


def _alerts_of(settings: Settings, recordings: list[str]) -> list[tuple]:
    with psycopg.connect(settings.postgres_url) as conn:
        return conn.execute(
            "SELECT finding, status, onset_s, evidence_end_s, alert_id FROM alerts "
            "WHERE recording_id = ANY(%s) ORDER BY emitted_at",
            (recordings,),
        ).fetchall()


def test_a_seizure_on_a_live_device_raises_one_alert_then_its_end(
    settings: Settings, workers: WorkerPool
) -> None:
    workers.start()
    follower = AlertFollower(settings)
    _stream(settings, seconds=210.0, speed=15.0, events=("seizure@100+30",), seed=21)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if any(a["status"] == "ended" for a in follower.alerts):
            break
        time.sleep(1.0)
    alerts = follower.stop()
    onsets = [a for a in alerts if a["status"] == "onset"]
    assert [a["finding"] for a in onsets] == ["seizure"], alerts
    seizure = onsets[0]
    assert abs(seizure["onset_s"] - 100.0) <= 3.0
    # the evidence was complete during the seizure, not before it began
    assert 100.0 <= seizure["evidence_end_s"] <= 130.0
    assert seizure["device_id"] == "bed-001" and seizure["patient_ref"]
    ended = [a for a in alerts if a["status"] == "ended"]
    assert len(ended) == 1 and ended[0]["alert_id"] == seizure["alert_id"]
    assert 125.0 <= ended[0]["end_s"] <= 140.0
    stored = _alerts_of(settings, [seizure["recording_id"]])
    deadline = time.monotonic() + 20
    while len(stored) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        stored = _alerts_of(settings, [seizure["recording_id"]])
    assert sorted(row[1] for row in stored) == ["ended", "onset"]
    # the device stopped: after its silence the recording is closed with a summary
    summary = _summary(settings, seizure["recording_id"])
    assert summary["triage_priority"] == "urgent"
    assert [f["finding"] for f in summary["urgent_findings"]] == ["seizure"]
    assert summary["good_signal_minutes"] > 2.5 and summary["closed"] == "device silent"


def test_clean_background_on_devices_for_two_hours_raises_no_urgent_alert(
    settings: Settings, workers: WorkerPool
) -> None:
    workers.start()
    recordings = _stream(settings, seconds=900.0, speed=60.0, count=8, seed=500)  # 8 x 15 min
    rows = _live_windows(recordings, expected=8 * 225, settings=settings, timeout_s=300)
    hours = len(rows) * 4.0 / 3600
    assert hours >= 2.0
    assert _alerts_of(settings, recordings) == []
    for recording in recordings:
        summary = _summary(settings, recording)
        assert summary["triage_priority"] == "routine" and summary["urgent_findings"] == []


def test_a_worker_killed_during_a_seizure_does_not_alert_twice(
    settings: Settings, workers: WorkerPool
) -> None:
    first = workers.start()
    follower = AlertFollower(settings)
    devices = threading.Thread(
        target=_stream,
        args=(settings,),
        kwargs={"seconds": 200.0, "speed": 5.0, "events": ("seizure@60+60",), "seed": 33},
    )
    devices.start()
    deadline = time.monotonic() + 120
    while not follower.alerts and time.monotonic() < deadline:
        time.sleep(0.2)
    assert follower.alerts, "no alert before the kill"
    first.kill9()  # mid-seizure: it runs until 120 s of the recording
    workers.start()
    devices.join(timeout=120)
    deadline = time.monotonic() + 120
    while not any(a["status"] == "ended" for a in follower.alerts) and time.monotonic() < deadline:
        time.sleep(1.0)
    alerts = follower.stop()
    onsets = {a["alert_id"] for a in alerts if a["status"] == "onset"}
    assert len(onsets) == 1, alerts
    assert [a["finding"] for a in alerts if a["status"] == "onset"] == ["seizure"]
    assert any(a["status"] == "ended" for a in alerts)
    stored = _alerts_of(settings, [alerts[0]["recording_id"]])
    assert len({row[4] for row in stored if row[1] == "onset"}) == 1


def test_gaps_reconnections_and_bad_channels_are_reported_not_crashes(
    settings: Settings, workers: WorkerPool
) -> None:
    worker = workers.start()
    faults = Misbehaviour(
        gap_at_s=40.0,
        gap_s=8.0,
        reconnect_at_s=80.0,
        duplicate_every=5,
        reorder_every=7,
        nan_channel="O1",
        flat_channel="T8",
        bad_from_s=100.0,
    )
    (recording,) = _stream(settings, seconds=180.0, speed=20.0, seed=44, faults=faults)
    # 45 windows minus the three the 40-48 s gap touches (10, 11: 40-48 s; 9 ends at 40)
    rows = _live_windows([recording], expected=43, settings=settings)
    indexes = [row[1] for row in rows]
    assert len(indexes) == len(set(indexes))  # duplicates and reordering counted once
    assert 10 not in indexes and 11 not in indexes and 12 in indexes
    assert set(range(12, 45)) <= set(indexes)  # the reconnection lost nothing
    late = [set(row[2]) for row in rows if row[1] >= 30]  # from 120 s: a minute after 100 s
    assert late and all({"O1", "T8"} <= bad for bad in late), late
    assert worker.proc.poll() is None
    with psycopg.connect(settings.postgres_url) as conn:
        refused = conn.execute(
            "SELECT count(*) FROM dead_letters WHERE topic = %s",
            (f"{settings.kafka_namespace}.eeg.segments",),
        ).fetchone()[0]
    assert refused == 0


def test_a_file_streamed_live_reports_the_events_analyze_finds(
    settings: Settings, workers: WorkerPool, tmp_path: Path
) -> None:
    """The live hierarchy and the file one agree on the urgent events of the demo's seizure
    file: same types, onsets within the seizure detector's tolerance."""
    from processors.analyze import analyze
    from processors.io import read_recording
    from streams.demo import write_demo_files
    from streams.live import live_job_id

    path = next(p for p, _ in write_demo_files(tmp_path) if p.name == "demo_seizure.edf")
    workers.start()
    _sent, (recording,) = asyncio.run(
        run_devices(
            settings,
            file=path,
            loop=False,
            events=(),
            count=1,
            seconds=None,
            speed=15.0,
            seed=0,
            faults=Misbehaviour(),
            quiet=True,
        )
    )
    _summary(settings, recording)  # closed after its silence: everything is in
    with psycopg.connect(settings.postgres_url) as conn:
        live = conn.execute(
            "SELECT event_type, onset_s FROM detections WHERE job_id = %s ORDER BY onset_s",
            (live_job_id(recording),),
        ).fetchall()
    whole = analyze(read_recording(path), "screening").to_dict()
    urgent = ("seizure", "PLED", "GPED", "burst_suppression")
    expected = [
        (e["type"], e["onset_s"]) for e in whole["event_detection"]["events"] if e["type"] in urgent
    ]
    got = [(kind, onset) for kind, onset in live if kind in urgent]
    assert [k for k, _ in got] == [k for k, _ in expected], (got, expected)
    for (_, a), (_, b) in zip(got, expected, strict=True):
        assert abs(a - b) <= 2.0, (got, expected)
