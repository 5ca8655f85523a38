"""Live devices through the real broker and worker: urgent alerts, once per episode."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import psycopg
import pytest

from connectors.settings import Settings
from streams.alerts import follow_alerts
from streams.device import Misbehaviour
from streams.device_run import run_devices
from tests.integration.workers import WorkerPool, stream_settings, workers_for

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(stack: Settings, unique_name: str) -> Settings:
    return stream_settings(stack, unique_name)


@pytest.fixture
def workers(settings: Settings, tmp_path: Path):
    yield from workers_for(settings, tmp_path)


class Follower:
    """``brrr alerts follow`` in a thread, collecting what it prints."""

    def __init__(self, settings: Settings) -> None:
        self.alerts: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(settings,), daemon=True)
        self._thread.start()

    def _run(self, settings: Settings) -> None:
        for alert in follow_alerts(settings, from_beginning=True, stop=self._stop.is_set):
            self.alerts.append(alert)

    def stop(self) -> list[dict]:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.alerts


def _stream(
    settings: Settings,
    *,
    seconds: float,
    speed: float,
    count: int = 1,
    events: tuple[str, ...] = (),
    seed: int = 0,
    faults: Misbehaviour = Misbehaviour(),
) -> int:
    return asyncio.run(
        run_devices(
            settings,
            file=None,
            loop=False,
            events=events,
            count=count,
            seconds=seconds,
            speed=speed,
            seed=seed,
            faults=faults,
            quiet=True,
        )
    )


def _windows_seen(settings: Settings, timeout_s: float, expected: int) -> None:
    """Wait until the worker has taken every window (its progress is in its log)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(1.0)
        if expected <= 0:
            return


def _stored_alerts(settings: Settings, recording_like: str = "live-%") -> list[tuple]:
    with psycopg.connect(settings.postgres_url) as conn:
        return conn.execute(
            "SELECT finding, status, onset_s, evidence_end_s FROM alerts "
            "WHERE recording_id LIKE %s ORDER BY emitted_at",
            (recording_like,),
        ).fetchall()


def test_a_seizure_on_a_live_device_raises_one_alert_then_its_end(
    settings: Settings, workers: WorkerPool
) -> None:
    workers.start()
    follower = Follower(settings)
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
    stored = [row for row in _stored_alerts(settings) if row[0] == "seizure"]
    deadline = time.monotonic() + 20
    while len(stored) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        stored = [row for row in _stored_alerts(settings) if row[0] == "seizure"]
    assert sorted(row[1] for row in stored) == ["ended", "onset"]
