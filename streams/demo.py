"""``brrr demo``: EEG in, results out, through the real stack and the stream worker.

1. start the local stack (Kafka, PostgreSQL, Redis, S3), create the topics and tables;
2. write two EDF files from the synthetic generator: a normal background and one with an
   evolving seizure, spikes and lateralized periodic discharges (known ground truth);
3. start a stream worker (``brrr worker``: the Faust agents and the result sink);
4. replay the files through Kafka (``brrr replay``): each is uploaded to the object store,
   registered as a job, read back by the worker and streamed through its agents, with a
   progress bar while they run;
5. print each file's result as read back from PostgreSQL, beside the ground truth, and the
   complete result document through the Redis/S3 cache;
6. stop the worker it started (on Ctrl-C too); the stack stays up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from connectors.settings import Settings


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


@contextlib.contextmanager
def demo_worker(settings: Settings) -> Iterator[Path]:
    """A ``brrr worker`` process for the demo, stopped when the demo ends (or is
    interrupted); yields its log file."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from connectors.settings import REPO_ROOT

    log_path = settings.logs_dir / "demo-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the demo, which stops the worker itself
        )
    try:
        deadline = time.monotonic() + 120
        while "Worker ready" not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise click.ClickException(f"the worker did not start; its log ends:\n{tail}")
            time.sleep(0.25)
        yield log_path
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        _step(f"worker stopped (its log: {log_path})")


class LiveDemo:
    """One simulated bedside device with a seizure at 60 s, streaming 150 s at ten times real
    time, and a follower of the urgent topic, both in threads of the demo."""

    def __init__(self, settings: Settings) -> None:
        import threading

        self.settings = settings
        self.alerts: list[Any] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> LiveDemo:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def start(self) -> None:
        import threading

        from streams.alerts import follow_alerts
        from streams.device import Misbehaviour
        from streams.device_run import run_devices

        def follow() -> None:
            for alert in follow_alerts(self.settings, stop=self._stop.is_set):
                self.alerts.append(alert)

        def stream() -> None:
            asyncio.run(
                run_devices(
                    self.settings,
                    file=None,
                    loop=False,
                    events=["seizure@60+30"],
                    count=1,
                    seconds=150.0,
                    speed=10.0,
                    seed=7,
                    faults=Misbehaviour(),
                    quiet=True,
                )
            )

        for target in (follow, stream):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)

    def wait_for_alerts(self, timeout_s: float) -> list[Any]:
        """The alerts so far, once the seizure's onset alert and its end are in (or the
        timeout passed)."""
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(a["status"] == "ended" for a in self.alerts):
                break
            time.sleep(0.5)
        if not self.alerts:
            click.echo("    no alert arrived: see the worker's log", err=True)
        return list(self.alerts)


def print_file_results(summary: list[dict[str, Any]], truths: dict[str, list[Any]]) -> None:
    """Each file's verdict, triage and detections, beside what was injected."""
    for row in summary:
        result, events = row["result"], row["detections"]
        verdict = "ABNORMAL" if result["is_abnormal"] else "normal"
        click.echo(
            f"  {row['file']}: {verdict} (confidence {result['confidence']:.2f}), "
            f"triage {result['triage_priority'].upper()}, "
            f"quality {result['signal_quality_score']:.2f}, {len(events)} detections, "
            f"job {row['job_status']['status']} (retries {row['job_status']['retry_count']})"
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
        for t in truths[row["file"]]:
            click.echo(f"      truth: {t.kind:<14} at {t.onset_s:7.2f} s for {t.duration_s:6.2f} s")
        click.echo(f"      complete result via the Redis/S3 cache: {row['cached']}")


async def read_back(settings: Settings, outcomes: list[Any]) -> list[dict[str, Any]]:
    """Each replayed file's job, result and detections from PostgreSQL, and its complete
    result document through the cache."""
    import psycopg

    from connectors.cache import TwoLevelCache
    from connectors.db import queries
    from connectors.object_store import ObjectStore

    store = ObjectStore.from_settings(settings)
    cache = TwoLevelCache(store, settings.redis_url)
    summary = []
    try:
        async with await psycopg.AsyncConnection.connect(settings.postgres_url) as conn:
            for outcome in outcomes:
                job_id = outcome.replayed.job_id
                document = cache.get_result(job_id)
                stages = [k for k in document or {} if k.endswith(("_report", "_detection"))]
                summary.append(
                    {
                        "file": outcome.replayed.path.name,
                        "job_id": job_id,
                        "job_status": await queries.job_status(conn, job_id),
                        "result": await queries.analysis_result(conn, job_id),
                        "detections": await queries.detections(conn, job_id=job_id),
                        "cached": (
                            f"{len(json.dumps(document))} bytes, stages {stages}"
                            if document
                            else "missing"
                        ),
                    }
                )
    finally:
        cache.redis.close()
        store.close()
    return summary


def run_demo(settings: Settings, out_dir: Path) -> list[dict[str, Any]]:
    """Run the demo end to end (the stack must be up); returns each file's job, result row
    and detections as read back from PostgreSQL."""
    from connectors.db import redact_url
    from connectors.db.migrate import migrate
    from connectors.kafka_topics import Topics, ensure_topics
    from streams.alerts import format_alert
    from streams.replay_view import format_table, run_follow

    _step("topics, tables and bucket")
    created = ensure_topics(
        settings.kafka_bootstrap_servers, Topics(settings.kafka_namespace).partitions
    )
    click.echo(f"    topics created: {', '.join(created) or 'none (all there)'}")
    click.echo(f"    migrations: {migrate(settings.postgres_url)}")

    _step(f"writing synthetic EDF files to {out_dir}")
    files = write_demo_files(out_dir)
    truths = {path.name: truth for path, truth in files}

    _step("starting a stream worker (brrr worker: Faust agents and the result sink)")
    with demo_worker(settings) as log_path, LiveDemo(settings) as live:
        click.echo(f"    worker log: {log_path}")
        _step(
            "a live bedside device (brrr device --synthetic --event seizure@60+30 --speed 10), "
            "its alerts followed (brrr alerts follow)"
        )
        live.start()
        _step("replaying the files through Kafka (brrr replay)")
        outcomes = asyncio.run(
            run_follow(settings, [p for p, _ in files], analysis_type="screening", speed="max")
        )
        click.echo(format_table(outcomes, []))
        _step("waiting for the live device's urgent alert")
        for alert in live.wait_for_alerts(timeout_s=90):
            click.echo("    " + click.style(format_alert(alert), fg="red", bold=True))
    _step("results, read back from PostgreSQL")
    summary = asyncio.run(read_back(settings, outcomes))
    print_file_results(summary, truths)
    click.echo(
        "\nDone. Query PostgreSQL with: psql "
        f"{redact_url(settings.postgres_url)} -c 'SELECT job_id, status, triage_priority FROM "
        "analysis_results JOIN analysis_jobs USING (job_id)'\n"
        "(*** stands for the password in BRRR_POSTGRES_URL; the local stack's default is in "
        "connectors/settings.py)"
    )
    return summary
