"""Worker processes for the stream tests: started as ``brrr worker`` is, killed with -9.

Each test runs in a Kafka namespace of its own (``BRRR_KAFKA_NAMESPACE``), so its topics,
consumer groups and tables start empty and no other run's jobs reach its workers.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from connectors.settings import REPO_ROOT, Settings
from streams.alerts import follow_alerts
from streams.replay import FileOutcome, ReplayedFile, follow, submit

#: Settings the stream tests give their workers: short enough for tests, as in production.
TEST_WORKER_ENV = {
    "BRRR_JOB_STALL_TIMEOUT_S": "45",
    "BRRR_KAFKA_SESSION_TIMEOUT_S": "6",
    "BRRR_LIVE_SILENCE_S": "8",
}


def stream_settings(stack: Settings, namespace: str, **overrides: object) -> Settings:
    """The stack's settings in a namespace of the test's own."""
    values = {
        **stack.model_dump(),
        "kafka_namespace": namespace,
        "job_stall_timeout_s": 45.0,
        "kafka_session_timeout_s": 6.0,
        **overrides,
    }
    return Settings(**values)


@dataclass
class WorkerProcess:
    """One ``brrr worker`` process and its log."""

    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        """Until Faust says the worker is ready (its tables recovered)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if "Worker ready" in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"worker exited with {self.proc.returncode}:\n{self.log()[-4000:]}"
                )
            time.sleep(0.25)
        raise AssertionError(f"worker not ready within {timeout_s:g} s:\n{self.log()[-4000:]}")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()


@dataclass
class WorkerPool:
    """The workers one test started; all stopped at its end."""

    settings: Settings
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    started: list[WorkerProcess] = field(default_factory=list)

    def start(self, *, wait: bool = True) -> WorkerProcess:
        env = {
            **os.environ,
            **TEST_WORKER_ENV,
            **self.env,
            "BRRR_KAFKA_NAMESPACE": self.settings.kafka_namespace,
            "PYTHONPATH": str(REPO_ROOT),
        }
        log_path = self.log_dir / f"worker-{len(self.started)}.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker", "--loglevel", "INFO"],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = WorkerProcess(proc, log_path)
        self.started.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()


def workers_for(settings: Settings, log_dir: Path, **env: str) -> Iterator[WorkerPool]:
    pool = WorkerPool(settings, log_dir, env)
    try:
        yield pool
    finally:
        pool.stop_all()


def running_workers(settings: Settings, log_dir: Path, **env: str) -> Iterator[WorkerPool]:
    """``workers_for`` with one worker started and ready (a module's shared worker)."""
    for pool in workers_for(settings, log_dir, **env):
        pool.start()
        yield pool


def replay_files(
    settings: Settings, paths: list[Path], *, analysis_type: str = "screening", speed: str = "max"
) -> list[ReplayedFile]:
    replayed, skipped = asyncio.run(
        submit(settings, paths, analysis_type=analysis_type, speed=speed)  # type: ignore[arg-type]
    )
    assert not skipped, skipped
    return replayed


def follow_files(
    settings: Settings, replayed: list[ReplayedFile], timeout_s: float = 240.0
) -> list[FileOutcome]:
    outcomes = asyncio.run(
        follow(settings, replayed, on_state=lambda _i, _s: None, timeout_s=timeout_s)
    )
    for outcome in outcomes:
        assert outcome.state is not None and outcome.state.status == "completed", (
            outcome.replayed.path,
            outcome.state,
        )
    return outcomes


def job_progress(settings: Settings, job_id: str) -> float:
    with psycopg.connect(settings.postgres_url) as conn:
        row = conn.execute(
            "SELECT progress FROM analysis_jobs WHERE job_id = %s", (job_id,)
        ).fetchone()
    return float(row[0]) if row else 0.0


def wait_for_progress(
    settings: Settings, job_id: str, at_least: float, timeout_s: float = 120.0
) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        progress = job_progress(settings, job_id)
        if progress >= at_least:
            return progress
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not reach progress {at_least} within {timeout_s:g} s")


class AlertFollower:
    """``brrr alerts follow`` in a thread: every alert the urgent-triage topic delivers."""

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
