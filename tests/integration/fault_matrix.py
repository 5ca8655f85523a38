"""The fault matrix of the reliability issue, against the real stack.

Each fault is injected while three things run at once: a replay of EDF files through Kafka
(each with a seizure), a live bedside device (with a seizure, so an urgent alert is due) and
API traffic (job status, a stored result, readiness; uploads for the S3 fault). When the
fault is over and the work is done, what the stack holds is checked against what was sent:
every replayed file has its result, each of its windows stored once and counted once, its
seizure detected once; the device's windows are all stored and its seizure alerted once
(PostgreSQL and the urgent-triage topic); the API never answered a 5xx other than a 503
naming the service that was down. The time to recover is measured from the end of the fault
(the kill, or the service back) to the moment the pipeline moves again (a job progresses, a
live window is stored) and the API answers job status again, whichever is later.

``tests/integration/test_faults.py`` runs each fault as a test (nothing lost, nothing
duplicated); ``brrr bench faults`` runs the matrix and prints the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from api.app import create_app
from connectors.db.migrate import migrate
from connectors.object_store import ObjectStore
from connectors.settings import Settings
from connectors.stack import up, up_service
from connectors.stack._process import stop_pid
from connectors.stack._service import Service
from connectors.stack.kafka import Kafka
from connectors.stack.postgres import (
    PostgresMonitor,
    formation_nodes,
    primary_node,
    wait_until_settled,
)
from connectors.stack.redis import Redis
from connectors.stack.s3 import S3
from processors.synthetic import InjectedEvent, generate_eeg
from streams.device import Misbehaviour
from streams.device_run import run_devices
from streams.live import live_job_id
from streams.replay import submit
from tests.integration.api_client import SignedIn, app_client, sign_in
from tests.integration.workers import AlertFollower, WorkerPool, stream_settings, workers_for

#: Analysis windows are 4 s long, without overlap, for files and live streams alike.
WINDOW_S = 4.0


@dataclass(frozen=True)
class WorkloadSpec:
    """How much runs while the fault is injected, and when the fault comes."""

    replay_files: int = 2
    replay_minutes: float = 4.0
    replay_speed: float = 4.0  # 4 minutes fed in 60 s
    live_seconds: float = 120.0
    live_speed: float = 2.0  # 120 s of signal in 60 s
    seizure_onset_s: float = 50.0
    seizure_duration_s: float = 30.0
    fault_after_s: float = 12.0
    outage_s: float = 30.0
    finish_timeout_s: float = 360.0


@dataclass(frozen=True)
class ApiCall:
    """One request of the API traffic and its answer."""

    at: float
    what: str
    status: int
    body: str
    source: str = ""


@dataclass(frozen=True)
class FaultOutcome:
    """What one fault cost: how long to recover, what was lost or duplicated, and why."""

    fault: str
    recovery_s: float | None
    lost: int
    duplicated: int
    problems: tuple[str, ...]

    def row(self) -> str:
        recovery = "not recovered" if self.recovery_s is None else f"{self.recovery_s:.1f} s"
        return f"{self.fault:<34} {recovery:>14} {self.lost:>5} {self.duplicated:>11}"


@dataclass
class FaultRun:
    """Everything a fault and the checks after it need, while the workload runs."""

    settings: Settings
    spec: WorkloadSpec
    workers: WorkerPool
    client: httpx.AsyncClient
    who: SignedIn
    workdir: Path
    calls: list[ApiCall] = field(default_factory=list)
    #: (time, work done so far: see _progress_mark), sampled twice a second
    progress: list[tuple[float, float]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    restored_at: float = 0.0


class Fault:
    """One fault of the matrix: ``inject`` does it (and undoes it, for an outage) and returns
    when it is over; ``check`` adds what this fault in particular must hold."""

    name = ""

    async def inject(self, run: FaultRun) -> None:
        raise NotImplementedError

    async def check(self, run: FaultRun) -> None:
        """Checks of this fault beyond nothing lost or duplicated (problems go to run)."""

    def repair(self, settings: Settings) -> None:
        """Bring the stack back whole after the run (a killed node restarted...)."""
        up(settings)
        wait_until_settled(settings)


async def _stop_for(svc: Service, outage_s: float) -> None:
    """Stop a server of the stack (as an operator would), wait, start it again."""
    pid = svc.pid()
    assert pid is not None, f"{svc.name} is not running"
    await asyncio.to_thread(stop_pid, pid, sig=svc.stop_signal, timeout_s=30.0)
    svc.pid_file.unlink(missing_ok=True)
    await asyncio.sleep(outage_s)
    await asyncio.to_thread(up_service, svc)


class WorkerKilledTwice(Fault):
    name = "worker kill -9, twice within a minute"

    async def inject(self, run: FaultRun) -> None:
        for _ in range(2):
            await asyncio.to_thread(run.workers.started[-1].kill9)
            run.restored_at = time.monotonic()
            await asyncio.to_thread(run.workers.start)
            await asyncio.sleep(15.0)


class KafkaStopped(Fault):
    name = "Kafka broker stopped for 30 s"

    async def inject(self, run: FaultRun) -> None:
        await _stop_for(Kafka(run.settings), run.spec.outage_s)
        run.restored_at = time.monotonic()


class PostgresPrimaryKilled(Fault):
    name = "PostgreSQL primary kill -9"

    async def inject(self, run: FaultRun) -> None:
        node = primary_node(run.settings)
        assert node is not None and node.pid() is not None, "no primary to kill"
        os.killpg(node.pid(), signal.SIGKILL)  # type: ignore[arg-type]
        run.restored_at = time.monotonic()

    async def check(self, run: FaultRun) -> None:
        if primary_node(run.settings) is None:
            run.problems.append("no PostgreSQL primary after the failover")


class PostgresUnreachable(Fault):
    """Every PostgreSQL process frozen (SIGSTOP): connections hang rather than being refused,
    as behind a network partition; the monitor is frozen too, so no failover happens."""

    name = "PostgreSQL unreachable for 30 s"

    async def inject(self, run: FaultRun) -> None:
        groups = [
            svc.pid() for svc in (PostgresMonitor(run.settings), *formation_nodes(run.settings))
        ]
        assert all(groups), f"not every PostgreSQL process runs: {groups}"
        for pgid in groups:
            os.killpg(pgid, signal.SIGSTOP)  # type: ignore[arg-type]
        try:
            await asyncio.sleep(run.spec.outage_s)
        finally:
            for pgid in groups:
                os.killpg(pgid, signal.SIGCONT)  # type: ignore[arg-type]
        run.restored_at = time.monotonic()


class RedisDown(Fault):
    name = "Redis down for 30 s"

    async def inject(self, run: FaultRun) -> None:
        self.down_from = time.monotonic()
        await _stop_for(Redis(run.settings), run.spec.outage_s)
        run.restored_at = self.down_until = time.monotonic()

    async def check(self, run: FaultRun) -> None:
        during = [c for c in run.calls if self.down_from + 1.0 <= c.at <= self.down_until - 1.0]
        data = [c for c in during if c.what != "ready"]
        if not data:
            run.problems.append("no API traffic while Redis was down")
        for call in data:
            if call.status != 200:
                run.problems.append(f"{call.what} answered {call.status} while Redis was down")
            if call.what == "result" and call.source == "redis":
                run.problems.append("a result was served from Redis while Redis was down")
        ready = [c for c in during if c.what == "ready"]
        if not ready or any(c.status != 503 or "redis" not in c.body for c in ready):
            run.problems.append(f"/ready did not name Redis while it was down: {ready[:2]}")


class S3Down(Fault):
    name = "S3 down for 30 s"

    async def inject(self, run: FaultRun) -> None:
        s3 = S3(run.settings)
        pid = s3.pid()
        assert pid is not None, "the S3 server is not running"
        await asyncio.to_thread(stop_pid, pid, sig=s3.stop_signal, timeout_s=30.0)
        s3.pid_file.unlink(missing_ok=True)
        t_end = time.monotonic() + run.spec.outage_s
        await asyncio.sleep(2.0)
        self.refused = await _upload(run, self._file(run))
        await asyncio.sleep(max(0.0, t_end - time.monotonic()))
        await asyncio.to_thread(up_service, s3)
        run.restored_at = time.monotonic()

    def _file(self, run: FaultRun) -> Path:
        path = run.workdir / "upload-while-s3-down.edf"
        if not path.exists():
            generate_eeg(30.0, seed=977).write_edf(path)
        return path

    async def check(self, run: FaultRun) -> None:
        if self.refused.status_code != 503 or "s3" not in self.refused.text.lower():
            run.problems.append(
                f"upload while S3 was down answered {self.refused.status_code}: "
                f"{self.refused.text[:200]}"
            )
        name = self._file(run).name
        with psycopg.connect(run.settings.postgres_url) as conn:
            rows = conn.execute(
                "SELECT count(*) FROM uploaded_files WHERE filename = %s", (name,)
            ).fetchone()
        store = ObjectStore.from_settings(run.settings)
        objects = [key for key in store.list("raw/") if key.endswith(name)]
        if rows[0] or objects:
            run.problems.append(f"the refused upload left {rows[0]} rows and objects {objects}")
        again = await _upload(run, self._file(run))
        if again.status_code != 200:
            run.problems.append(f"upload after S3 came back answered {again.status_code}")


FAULTS: dict[str, Fault] = {
    "worker_killed_twice": WorkerKilledTwice(),
    "kafka_stopped": KafkaStopped(),
    "postgres_primary_killed": PostgresPrimaryKilled(),
    "postgres_unreachable": PostgresUnreachable(),
    "redis_down": RedisDown(),
    "s3_down": S3Down(),
}


# -- the workload -----------------------------------------------------------------------------
def _files(workdir: Path, spec: WorkloadSpec) -> tuple[Path, list[Path]]:
    """A short file to finish before the fault (its result is what the API serves), and the
    files analysed during it, each with a seizure: replayed, and one through the API."""
    baseline = workdir / "baseline.edf"
    generate_eeg(60.0, seed=900).write_edf(baseline)
    seizure = InjectedEvent("seizure", spec.seizure_onset_s, spec.seizure_duration_s)
    paths = []
    for i in range(spec.replay_files + 1):  # the last one goes through the API
        eeg = generate_eeg(60.0 * spec.replay_minutes, events=[seizure], seed=901 + i)
        paths.append(Path(eeg.write_edf(workdir / f"replay-{i}.edf")))
    return baseline, paths


async def _upload(run: FaultRun, path: Path) -> httpx.Response:
    with path.open("rb") as fid:
        return await run.client.post(
            "/api/v1/eeg/upload", files={"file": (path.name, fid)}, headers=run.who.headers
        )


async def _call(run: FaultRun, what: str, request: Awaitable[httpx.Response]) -> None:
    try:
        r = await request
        run.calls.append(
            ApiCall(time.monotonic(), what, r.status_code, r.text[:500],
                    r.headers.get("X-Result-Source", ""))
        )  # fmt: skip
    except httpx.HTTPError as exc:
        run.calls.append(ApiCall(time.monotonic(), what, 0, f"{type(exc).__name__}: {exc}"))


async def _api_traffic(run: FaultRun, jobs: list[str], baseline_job: str) -> None:
    """What clients do all along: poll their jobs, read a result, check readiness."""
    tick = 0
    headers = run.who.headers
    while True:
        for job_id in jobs:
            await _call(run, "job", run.client.get(f"/api/v1/jobs/{job_id}", headers=headers))
        path = f"/api/v1/results/{baseline_job}"
        await _call(run, "result", run.client.get(path, headers=headers))
        if tick % 4 == 0:
            await _call(run, "ready", run.client.get("/ready"))
        tick += 1
        await asyncio.sleep(0.5)


def _progress_mark(settings: Settings, jobs: list[str]) -> float | None:
    """A number that grows whenever the pipeline does work: the jobs' progress (the worker
    reports it as windows complete) and the live windows stored (the device's, as the only
    live stream of the run: tests run one at a time)."""
    try:
        with psycopg.connect(settings.postgres_url, connect_timeout=1) as conn:
            conn.execute("SET statement_timeout = 1000")
            progress = conn.execute(
                "SELECT coalesce(sum(progress), 0) FROM analysis_jobs WHERE job_id = ANY(%s)",
                ([uuid.UUID(j) for j in jobs],),
            ).fetchone()[0]
            live = conn.execute(
                "SELECT count(*) FROM window_quality WHERE job_id IS NULL"
            ).fetchone()[0]
        return 1000.0 * float(progress) + float(live)
    except psycopg.Error:
        return None


async def _sample_progress(run: FaultRun, jobs: list[str]) -> None:
    while True:
        count = await asyncio.to_thread(_progress_mark, run.settings, jobs)
        if count is not None:
            run.progress.append((time.monotonic(), count))
        await asyncio.sleep(0.5)


def _job_states(settings: Settings, jobs: list[str]) -> dict[str, str]:
    try:
        with psycopg.connect(settings.postgres_url, connect_timeout=2) as conn:
            rows = conn.execute(
                "SELECT job_id::text, status FROM analysis_jobs WHERE job_id = ANY(%s)",
                ([uuid.UUID(j) for j in jobs],),
            ).fetchall()
        return dict(rows)
    except psycopg.Error:
        return {}


async def _wait_finished(settings: Settings, jobs: list[str], timeout_s: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = await asyncio.to_thread(_job_states, settings, jobs)
        if len(states) == len(jobs) and all(s in ("completed", "failed") for s in states.values()):
            break
        await asyncio.sleep(1.0)
    return states


# -- what was lost or duplicated ----------------------------------------------------------------
@dataclass
class Tally:
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)

    def expect(self, what: str, found: int, expected: int) -> None:
        if found < expected:
            self.lost += expected - found
            self.problems.append(f"{what}: {found} of {expected} (lost {expected - found})")
        elif found > expected:
            self.duplicated += found - expected
            self.problems.append(f"{what}: {found}, {expected} expected (duplicated)")


@dataclass(frozen=True)
class SentFile:
    """A file analysed as a job, by replay or through the API."""

    path: Path
    job_id: str
    duration_s: float


async def _analyze_through_api(run: FaultRun, path: Path, duration_s: float) -> SentFile:
    r = await _upload(run, path)
    assert r.status_code == 200, r.text
    r = await run.client.post(
        "/api/v1/eeg/analyze",
        json={"file_id": r.json()["file_id"], "analysis_type": "screening"},
        headers=run.who.headers,
    )
    assert r.status_code == 202, r.text
    return SentFile(path, r.json()["job_id"], duration_s)


def _tally_files(settings: Settings, replayed: list[SentFile], tally: Tally) -> None:
    with psycopg.connect(settings.postgres_url) as conn:
        for item in replayed:
            job = uuid.UUID(item.job_id)
            expected = int(item.duration_s // WINDOW_S)
            name = item.path.name
            row = conn.execute(
                "SELECT result FROM analysis_results WHERE job_id = %s", (job,)
            ).fetchone()
            tally.expect(f"{name}: final result", 0 if row is None else 1, 1)
            if row is not None:
                counted = row[0]["quality_report"]["n_windows"]
                tally.expect(f"{name}: windows counted in the result", counted, expected)
            stored = conn.execute(
                "SELECT count(*), count(DISTINCT window_index) FROM window_quality"
                " WHERE job_id = %s",
                (job,),
            ).fetchone()
            tally.expect(f"{name}: windows stored", stored[1], expected)
            tally.expect(f"{name}: window rows per window", stored[0], stored[1])
            seizures = conn.execute(
                "SELECT count(*) FROM detections WHERE job_id = %s AND event_type = 'seizure'",
                (job,),
            ).fetchone()
            tally.expect(f"{name}: seizure detections", seizures[0], 1)


def _tally_live(
    settings: Settings, recordings: list[str], followed: list[dict], spec: WorkloadSpec,
    tally: Tally,
) -> None:  # fmt: skip
    expected = int(spec.live_seconds // WINDOW_S)
    with psycopg.connect(settings.postgres_url) as conn:
        for recording in recordings:
            stored = conn.execute(
                "SELECT count(DISTINCT window_index) FROM window_quality WHERE recording_id = %s",
                (recording,),
            ).fetchone()
            tally.expect(f"device {recording[:8]}: windows stored", stored[0], expected)
            onsets = conn.execute(
                "SELECT count(DISTINCT alert_id) FROM alerts WHERE recording_id = %s"
                " AND finding = 'seizure' AND status = 'onset'",
                (recording,),
            ).fetchone()
            tally.expect(f"device {recording[:8]}: seizure alerts stored", onsets[0], 1)
            summary = conn.execute(
                "SELECT count(*) FROM analysis_results WHERE job_id = %s",
                (live_job_id(recording),),
            ).fetchone()
            tally.expect(f"device {recording[:8]}: final summary", summary[0], 1)
            on_topic = {
                a["alert_id"]
                for a in followed
                if a["recording_id"] == recording and a["status"] == "onset"
            }
            tally.expect(f"device {recording[:8]}: seizure alerts on the topic", len(on_topic), 1)


def _tally_api(run: FaultRun, tally: Tally) -> None:
    broken = [c for c in run.calls if c.status == 0 or (c.status >= 500 and c.status != 503)]
    for call in broken[:5]:
        tally.problems.append(f"API {call.what} answered {call.status}: {call.body[:160]}")
    unnamed = [c for c in run.calls if c.status == 503 and "unavailable" not in c.body]
    for call in unnamed[:3]:
        tally.problems.append(f"API {call.what} answered 503 without naming why: {call.body}")


def _recovery_s(run: FaultRun) -> float | None:
    """From the end of the fault to the pipeline moving again (job progress or live windows)
    and job status answering again."""
    after = [(t, n) for t, n in run.progress if t >= run.restored_at]
    before = [n for t, n in run.progress if t < run.restored_at]
    baseline = max(before, default=0)
    stored_again = next((t for t, n in after if n > baseline), None)
    answered = next(
        (
            c.at
            for c in run.calls
            if c.what == "job" and c.status == 200 and c.at >= run.restored_at
        ),
        None,
    )
    if stored_again is None or answered is None:
        return None
    return max(stored_again, answered) - run.restored_at


# -- one fault, start to end ----------------------------------------------------------------
async def run_fault(
    stack: Settings, fault: Fault, workdir: Path, spec: WorkloadSpec | None = None,
    say: Callable[[str], None] = lambda _line: None,
) -> FaultOutcome:  # fmt: skip
    """Run the workload, inject ``fault`` during it, and count what was lost or duplicated.

    The stack is whole again afterwards (every server up, one PostgreSQL primary).
    """
    spec = spec or WorkloadSpec()
    settings = stream_settings(stack, f"it-fault-{uuid.uuid4().hex[:10]}")
    migrate(settings.postgres_url)
    baseline_path, paths = _files(workdir, spec)
    pool_iter = workers_for(settings, workdir / "workers")
    (workdir / "workers").mkdir(exist_ok=True)
    pool = next(pool_iter)
    follower: AlertFollower | None = None
    tasks: list[asyncio.Task] = []
    try:
        pool.start()
        async with contextlib.asynccontextmanager(app_client)(create_app(settings)) as client:
            run = FaultRun(settings, spec, pool, client, await sign_in(settings), workdir)
            follower = AlertFollower(settings)
            baseline = await _analyze_through_api(run, baseline_path, 60.0)
            states = await _wait_finished(settings, [baseline.job_id], 180.0)
            assert states.get(baseline.job_id) == "completed", f"baseline job: {states}"
            replayed, _ = await submit(settings, paths[:-1], analysis_type="screening",
                                       speed=f"{spec.replay_speed:g}")  # fmt: skip
            through_api = await _analyze_through_api(run, paths[-1], 60.0 * spec.replay_minutes)
            sent = [SentFile(r.path, r.job_id, r.duration_s) for r in replayed] + [through_api]
            jobs = [item.job_id for item in sent]
            devices = asyncio.create_task(
                run_devices(
                    settings, file=None, loop=False,
                    events=(f"seizure@{spec.seizure_onset_s:g}+{spec.seizure_duration_s:g}",),
                    count=1, seconds=spec.live_seconds, speed=spec.live_speed, seed=911,
                    faults=Misbehaviour(), quiet=True,
                )
            )  # fmt: skip
            tasks = [
                asyncio.create_task(_api_traffic(run, [through_api.job_id], baseline.job_id)),
                asyncio.create_task(_sample_progress(run, jobs)),
            ]
            await asyncio.sleep(spec.fault_after_s)
            say(f"  injecting: {fault.name}")
            await fault.inject(run)
            say("  fault over; waiting for the work to finish")
            states = await _wait_finished(settings, jobs, spec.finish_timeout_s)
            _sent, recordings = await devices
            await _wait_for_summaries(settings, recordings, timeout_s=90.0)
            await asyncio.sleep(2.0)  # the last alerts and windows reach the topic and the sink
            for task in tasks:
                task.cancel()
            tally = Tally(problems=list(run.problems))
            unfinished = {j: s for j, s in states.items() if s != "completed"}
            if unfinished or len(states) < len(jobs):
                tally.problems.append(f"jobs not completed: {unfinished or states}")
            _tally_files(settings, sent, tally)
            _tally_live(settings, recordings, follower.stop(), spec, tally)
            _tally_api(run, tally)
            await fault.check(run)
            tally.problems.extend(p for p in run.problems if p not in tally.problems)
            return FaultOutcome(
                fault.name, _recovery_s(run), tally.lost, tally.duplicated, tuple(tally.problems)
            )
    finally:
        for task in tasks:
            task.cancel()
        if follower is not None:
            follower.stop()
        with contextlib.suppress(StopIteration):
            next(pool_iter)  # stops the workers
        await asyncio.to_thread(fault.repair, stack)


async def _wait_for_summaries(settings: Settings, recordings: list[str], timeout_s: float) -> None:
    """Until each device, silent now, has been closed with its final summary."""
    deadline = time.monotonic() + timeout_s
    jobs = [live_job_id(r) for r in recordings]
    while time.monotonic() < deadline:
        with psycopg.connect(settings.postgres_url) as conn:
            n = conn.execute(
                "SELECT count(*) FROM analysis_results WHERE job_id = ANY(%s)",
                ([uuid.UUID(j) for j in jobs],),
            ).fetchone()[0]
        if n == len(jobs):
            return
        await asyncio.sleep(1.0)
