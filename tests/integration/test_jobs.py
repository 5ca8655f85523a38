"""A job's life cycle in PostgreSQL, and ``brrr replay`` without a worker."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from connectors.db.jobs import begin_attempt, create_job, fail_job, job_state
from connectors.db.migrate import migrate
from connectors.settings import Settings
from processors.synthetic import generate_eeg
from streams.cli import main as cli_main

pytestmark = pytest.mark.integration


async def _attempts(url: str, job_id: str, n: int, max_retries: int) -> list[tuple[str, int]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await create_job(conn, job_id=job_id, analysis_type="quick")
        seen = []
        for _ in range(n):
            attempt = await begin_attempt(conn, job_id, max_retries=max_retries)
            seen.append((attempt.action, attempt.attempt))
        state = await job_state(conn, job_id)
        assert state is not None
        seen.append((state.status, state.retry_count))
        return seen


def test_an_interrupted_job_is_retried_a_bounded_number_of_times(stack: Settings) -> None:
    migrate(stack.postgres_url)
    job_id = str(uuid.uuid4())
    seen = asyncio.run(_attempts(stack.postgres_url, job_id, n=5, max_retries=2))
    # first attempt, two retries (each pick-up of a job still processing), then failed
    assert seen[:4] == [("run", 0), ("run", 1), ("run", 2), ("gave_up", 3)]
    assert seen[4] == ("finished", 2)
    assert seen[5] == ("failed", 2)
    with psycopg.connect(stack.postgres_url) as conn:
        (error,) = conn.execute(
            "SELECT error FROM analysis_jobs WHERE job_id = %s", (job_id,)
        ).fetchone()
    assert "gave up after 3 attempts (2 retries)" in error and "interrupted" in error


def test_a_finished_job_is_not_run_again(stack: Settings) -> None:
    async def scenario() -> tuple[str, str]:
        async with await psycopg.AsyncConnection.connect(
            stack.postgres_url, autocommit=True
        ) as conn:
            job_id = str(uuid.uuid4())
            await create_job(conn, job_id=job_id, analysis_type="quick")
            await begin_attempt(conn, job_id, max_retries=3)
            await fail_job(conn, job_id, "no_eeg_channels: no scalp EEG channel")
            again = await begin_attempt(conn, job_id, max_retries=3)
            return again.action, again.state.status

    assert asyncio.run(scenario()) == ("finished", "failed")


def test_replay_skips_an_unreadable_file_and_says_no_worker_is_consuming(
    settings: Settings, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("BRRR_KAFKA_NAMESPACE", settings.kafka_namespace)
    from connectors.settings import get_settings

    get_settings.cache_clear()
    good = Path(generate_eeg(20.0, seed=5).write_edf(tmp_path / "good.edf"))
    corrupt = tmp_path / "corrupt.edf"
    corrupt.write_bytes(b"0       " + b"\x00" * 300)
    try:
        run = CliRunner().invoke(
            cli_main, ["replay", str(tmp_path), "--timeout", "3", "--quiet"], catch_exceptions=False
        )
    finally:
        get_settings.cache_clear()
    output = run.output
    assert run.exit_code == 1, output  # the good file's job is still queued
    assert "skipped" in output and "corrupt.edf" in output and "not_an_eeg_file" in output
    assert "no worker is consuming the jobs" in output
    table = output.split("events", 1)[1]
    assert "good.edf" in table and "queued" in table
    assert good.exists()


def test_a_stalled_job_is_claimed_by_one_worker_once_per_stall_period(stack: Settings) -> None:
    from connectors.db.jobs import claim_stalled_jobs, register_upload

    async def scenario() -> tuple[list[str], list[str]]:
        async with await psycopg.AsyncConnection.connect(
            stack.postgres_url, autocommit=True
        ) as conn:
            file_id, job_id = str(uuid.uuid4()), str(uuid.uuid4())
            await register_upload(
                conn,
                file_id=file_id,
                filename="x.edf",
                object_key=f"raw/{file_id}/x.edf",
                sha256="0" * 64,
                size_bytes=1,
            )
            await create_job(conn, job_id=job_id, analysis_type="quick", file_id=file_id)
            namespace = f"it-{job_id[:8]}"
            await begin_attempt(conn, job_id, max_retries=3, namespace=namespace)
            await conn.execute(
                "UPDATE analysis_jobs SET updated_at = now() - interval '10 minutes' "
                "WHERE job_id = %s",
                (job_id,),
            )
            # Only the workers of the job's namespace take it again.
            elsewhere = await claim_stalled_jobs(conn, stalled_for_s=300, namespace="other")
            assert job_id not in {j.job_id for j in elsewhere}
            first = await claim_stalled_jobs(conn, stalled_for_s=300, namespace=namespace)
            second = await claim_stalled_jobs(conn, stalled_for_s=300, namespace=namespace)
            mine = [j.job_id for j in first if j.job_id == job_id]
            assert all(j.object_key.startswith("raw/") for j in first)
            return mine, [j.job_id for j in second if j.job_id == job_id]

    first, second = asyncio.run(scenario())
    assert first and not second
