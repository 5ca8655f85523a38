"""PostgreSQL failover, the scenario clients asked for, against the stack's real formation.

An analysis runs through the API and a ``brrr worker``; the primary PostgreSQL node is killed
with -9 (its pg_autoctl supervisor, its PostgreSQL and every backend: the whole process group).
Within 10 s the job's status answers again and a new analysis is accepted; both jobs complete;
every row committed before the kill is still there; the old primary, started again, rejoins as
the secondary and holds the same rows as the new primary. The stack is left healthy (both
nodes up, one primary) for the tests after this one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import pytest_asyncio

from api.app import create_app
from connectors.db.migrate import migrate
from connectors.settings import Settings, postgres_hosts
from connectors.stack import up
from connectors.stack.postgres import PostgresNode, primary_node, wait_until_settled
from processors.synthetic import InjectedEvent, generate_eeg
from tests.integration.api_client import SignedIn, app_client, sign_in
from tests.integration.workers import WorkerPool, running_workers, stream_settings

pytestmark = pytest.mark.integration
session_loop = pytest.mark.asyncio(loop_scope="session")

#: What "answers again" means in the issue: seconds from the kill.
RECOVERY_BUDGET_S = 10.0


@pytest.fixture(scope="module")
def failover_settings(stack: Settings) -> Settings:
    if stack.stack_mode != "local" or len(postgres_hosts(stack.postgres_url)) < 2:
        pytest.skip("needs the local stack's failover formation (two PostgreSQL nodes)")
    wait_until_settled(stack)
    migrate(stack.postgres_url)
    return stream_settings(stack, f"it-failover-{uuid.uuid4().hex[:10]}")


@pytest.fixture(scope="module")
def worker(
    failover_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerPool]:
    yield from running_workers(failover_settings, tmp_path_factory.mktemp("failover-worker"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(
    failover_settings: Settings, worker: WorkerPool
) -> AsyncIterator[httpx.AsyncClient]:
    async for c in app_client(create_app(failover_settings)):
        yield c


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def clinician(failover_settings: Settings) -> SignedIn:
    return await sign_in(failover_settings)


def _edf(folder: Path, name: str, minutes: float, seed: int) -> Path:
    eeg = generate_eeg(60.0 * minutes, events=[InjectedEvent("seizure", 40.0, 20.0)], seed=seed)
    return eeg.write_edf(folder / name)


async def _submit(client: httpx.AsyncClient, who: SignedIn, path: Path) -> str:
    with path.open("rb") as fid:
        r = await client.post(
            "/api/v1/eeg/upload", files={"file": (path.name, fid)}, headers=who.headers
        )
    assert r.status_code == 200, r.text
    r = await client.post(
        "/api/v1/eeg/analyze",
        json={"file_id": r.json()["file_id"], "analysis_type": "screening"},
        headers=who.headers,
    )
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


async def _status(client: httpx.AsyncClient, who: SignedIn, job_id: str) -> httpx.Response:
    return await client.get(f"/api/v1/jobs/{job_id}", headers=who.headers)


async def _wait(
    client: httpx.AsyncClient, who: SignedIn, job_id: str, until: str, timeout_s: float
) -> dict:
    """Poll the job until ``until`` holds ('completed', or 'progress' > 0); 503s (PostgreSQL
    being failed over) are waited through."""
    deadline = time.monotonic() + timeout_s
    last: dict = {}
    while time.monotonic() < deadline:
        r = await _status(client, who, job_id)
        if r.status_code == 200:
            last = r.json()
            assert last["status"] != "failed", last
            if (until == "completed" and last["status"] == "completed") or (
                until == "progress" and last["progress"] > 0
            ):
                return last
        else:
            assert r.status_code == 503, r.text
        await asyncio.sleep(0.3)
    raise AssertionError(f"job {job_id}: not {until} within {timeout_s:g} s: {last}")


def _node_url(settings: Settings, port: int) -> str:
    """A URL of one node alone (read-only sessions allowed: the secondary too)."""
    return f"postgresql://brrr:brrr@127.0.0.1:{port}/brrr?connect_timeout=3"


#: Every stored row of the test's jobs, as one text per table, in a fixed order.
SNAPSHOT_SQL = {
    "analysis_jobs": "SELECT job_id, status, retry_count FROM analysis_jobs"
    " WHERE job_id = ANY(%s) ORDER BY job_id",
    "analysis_results": "SELECT job_id, triage_priority, n_events, result::text"
    " FROM analysis_results WHERE job_id = ANY(%s) ORDER BY job_id",
    "window_quality": "SELECT job_id, window_index, quality_score FROM window_quality"
    " WHERE job_id = ANY(%s) ORDER BY job_id, window_index",
    "detections": "SELECT event_id, event_type, onset_s FROM detections"
    " WHERE job_id = ANY(%s) ORDER BY event_id",
}


def _snapshot(url: str, job_ids: list[str]) -> dict[str, list[tuple]]:
    ids = [uuid.UUID(j) for j in job_ids]
    with psycopg.connect(url) as conn:
        return {table: conn.execute(q, (ids,)).fetchall() for table, q in SNAPSHOT_SQL.items()}


def _kill_node(node: PostgresNode) -> None:
    """kill -9 of the node's whole process group: pg_autoctl, PostgreSQL, every backend."""
    pid = node.pid()
    assert pid is not None, f"{node.name} is not running"
    os.killpg(pid, signal.SIGKILL)


@session_loop
async def test_primary_killed_answers_within_10_s_loses_nothing_and_rejoins(
    client: httpx.AsyncClient,
    clinician: SignedIn,
    failover_settings: Settings,
    tmp_path: Path,
) -> None:
    settings = failover_settings
    done_before = await _submit(client, clinician, _edf(tmp_path, "before.edf", 2.0, seed=801))
    await _wait(client, clinician, done_before, "completed", timeout_s=180.0)
    running = await _submit(client, clinician, _edf(tmp_path, "during.edf", 8.0, seed=802))
    await _wait(client, clinician, running, "progress", timeout_s=120.0)

    old_primary = primary_node(settings)
    assert old_primary is not None, "no primary before the kill"
    committed = _snapshot(settings.postgres_url, [done_before])
    assert committed["analysis_results"] and committed["window_quality"], committed
    assert committed["detections"], "the seizure of the finished job was stored"
    _kill_node(old_primary)
    killed_at = time.monotonic()

    # The job's status answers again, from the new primary, within the budget.
    while (await _status(client, clinician, running)).status_code != 200:
        assert time.monotonic() - killed_at < RECOVERY_BUDGET_S, "job status still not answering"
        await asyncio.sleep(0.2)
    status_back_s = time.monotonic() - killed_at
    after = await _submit(client, clinician, _edf(tmp_path, "after.edf", 2.0, seed=803))
    accepted_s = time.monotonic() - killed_at
    assert accepted_s <= RECOVERY_BUDGET_S, f"new analysis accepted after {accepted_s:.1f} s"
    new_primary = primary_node(settings)
    assert new_primary is not None and new_primary.name != old_primary.name

    for job_id in (running, after):
        await _wait(client, clinician, job_id, "completed", timeout_s=300.0)
    print(f"failover: status back in {status_back_s:.1f} s, new analysis in {accepted_s:.1f} s")

    # Nothing committed before the kill is lost, nor changed.
    assert _snapshot(settings.postgres_url, [done_before]) == committed
    # The old primary, started again, rejoins as the secondary with the same rows.
    up(settings)
    roles = wait_until_settled(settings)
    assert roles == {old_primary.name: "secondary", new_primary.name: "primary"}, roles
    jobs = [done_before, running, after]
    on_primary = _snapshot(_node_url(settings, new_primary.port), jobs)
    assert len(on_primary["analysis_results"]) == 3
    deadline = time.monotonic() + 30.0
    while _snapshot(_node_url(settings, old_primary.port), jobs) != on_primary:
        assert time.monotonic() < deadline, "the rejoined secondary does not hold the same rows"
        await asyncio.sleep(0.5)
