"""PHI end to end: a recording that names its patient (header, signal free text,
annotations) is uploaded and analysed by a running worker; then every stored byte is read
back (every row of every table in PostgreSQL, bytea decoded; the file's and the job's
objects in S3; every message of the run's Kafka topics; the worker's log; the API's
metrics) and no identifier is found. The owner's authorised read returns the identifiers
decrypted; another user finds none of the owner's file, job, batch or result (404)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import pytest_asyncio
from confluent_kafka import Consumer, KafkaError, TopicPartition
from psycopg import sql

from api.app import create_app
from connectors.db.migrate import migrate
from connectors.object_store import ObjectStore
from connectors.settings import Settings
from tests.integration.api_client import SignedIn, app_client, sign_in
from tests.integration.workers import WorkerPool, running_workers, stream_settings
from tests.phi_files import NAME, SECRET_WORDS, readable_identifiers, write_identified_edf

pytestmark = pytest.mark.integration
session_loop = pytest.mark.asyncio(loop_scope="session")

_HEX = re.compile(r"\\x([0-9a-f]{2,})")


@pytest.fixture(scope="module")
def phi_settings(stack: Settings) -> Settings:
    migrate(stack.postgres_url)
    return stream_settings(stack, f"it-phi-{uuid.uuid4().hex[:10]}", worker_alive_s=20.0)


@pytest.fixture(scope="module")
def worker(
    phi_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerPool]:
    yield from running_workers(phi_settings, tmp_path_factory.mktemp("phi-worker"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(phi_settings: Settings, worker: WorkerPool) -> AsyncIterator[httpx.AsyncClient]:
    async for c in app_client(create_app(phi_settings)):
        yield c


async def _wait_done(client: httpx.AsyncClient, who: SignedIn, job_id: str) -> dict:
    deadline = time.monotonic() + 120.0
    while time.monotonic() < deadline:
        job = (await client.get(f"/api/v1/jobs/{job_id}", headers=who.headers)).json()
        if job["status"] in ("completed", "failed"):
            return job
        await asyncio.sleep(0.5)
    raise AssertionError(f"job {job_id} not done in 120 s: {job}")


async def _postgres_findings(postgres_url: str) -> dict[str, list[str]]:
    """Every identifier found in any row of any table (bytea columns decoded), by table."""
    found: dict[str, list[str]] = {}
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        tables = await (
            await conn.execute(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n"
                " ON n.oid = c.relnamespace WHERE c.relkind = 'r'"
                " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                " AND n.nspname NOT LIKE 'pg_toast%'"
            )
        ).fetchall()
        for schema, table in tables:
            query = sql.SQL("SELECT t::text FROM {}.{} t").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            rows = await (await conn.execute(query)).fetchall()
            text = "\n".join(row[0] for row in rows)
            data = text.encode() + b"".join(bytes.fromhex(h) for h in _HEX.findall(text))
            if hits := readable_identifiers(data):
                found[f"{schema}.{table}"] = hits
    return found


def _kafka_findings(settings: Settings) -> dict[str, list[str]]:
    """Every identifier found in any message (key or value) of the run's topics."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"{settings.kafka_namespace}.phi-scan",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    try:
        topics = consumer.list_topics(timeout=10).topics
        ours = [name for name in topics if name.startswith(settings.kafka_namespace + ".")]
        parts = [TopicPartition(t, p, 0) for t in ours for p in topics[t].partitions]
        consumer.assign(parts)
        data: dict[str, bytearray] = {t: bytearray() for t in ours}
        pending, deadline = {(p.topic, p.partition) for p in parts}, time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard((msg.topic(), msg.partition()))
                continue
            data[msg.topic()] += (msg.key() or b"") + (msg.value() or b"")
        assert not pending, f"topics not read to their end: {sorted(pending)}"
    finally:
        consumer.close()
    assert ours, f"no topic of namespace {settings.kafka_namespace}"
    return {t: hits for t, raw in data.items() if (hits := readable_identifiers(bytes(raw)))}


@session_loop
async def test_no_identifier_stored_and_the_owner_reads_it_decrypted(
    client: httpx.AsyncClient, phi_settings: Settings, worker: WorkerPool, tmp_path: Path
) -> None:
    owner, other = await sign_in(phi_settings), await sign_in(phi_settings)
    path = tmp_path / "Quixote_Zebulon_eeg.edf"  # file names often carry the name too
    write_identified_edf(path, duration_s=60.0)
    assert readable_identifiers(path.read_bytes()) == SECRET_WORDS
    with path.open("rb") as fid:
        r = await client.post(
            "/api/v1/eeg/upload", files={"file": (path.name, fid)}, headers=owner.headers
        )
    assert r.status_code == 200, r.text
    file_id = r.json()["file_id"]
    assert r.json()["filename"] == path.name  # the answer echoes what was sent
    r = await client.post(
        "/api/v1/eeg/analyze",
        json={"file_id": file_id, "analysis_type": "quick"},
        headers=owner.headers,
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    batch = await client.post(
        "/api/v1/batch/analyze",
        json={"file_ids": [file_id], "analysis_type": "quick", "priority": "low"},
        headers=owner.headers,
    )
    assert batch.status_code == 202, batch.text
    batch_id = batch.json()["batch_id"]
    job = await _wait_done(client, owner, job_id)
    assert job["status"] == "completed", job
    for batch_job in batch.json()["job_ids"]:
        await _wait_done(client, owner, batch_job)

    # The owner reads the identifiers, decrypted.
    r = await client.get(f"/api/v1/eeg/files/{file_id}/patient", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == NAME and r.json()["patient_code"] == "MRN-778899"
    assert r.json()["birthdate"] == "01-MAR-1970"
    assert "ADM-STMARY" in r.json()["recording_field"]

    # Nothing readable anywhere the system keeps bytes.
    assert await _postgres_findings(phi_settings.postgres_url) == {}
    store = ObjectStore.from_settings(phi_settings)
    keys = [*store.list(f"raw/{file_id}/"), *store.list(f"results/{job_id}/")]
    assert any(k.startswith("raw/") for k in keys) and any(k.startswith("results/") for k in keys)
    assert readable_identifiers("\n".join(keys).encode()) == []
    assert {k: h for k in keys if (h := readable_identifiers(store.get(k, verify=False)))} == {}
    assert _kafka_findings(phi_settings) == {}
    assert readable_identifiers(worker.started[0].log().encode()) == []
    metrics = await client.get("/metrics")
    assert readable_identifiers(metrics.content) == []

    # Another user finds none of it.
    for url in (
        f"/api/v1/eeg/files/{file_id}/patient",
        f"/api/v1/jobs/{job_id}",
        f"/api/v1/results/{job_id}",
        f"/api/v1/results/{job_id}/report.png",
        f"/api/v1/batch/{batch_id}/status",
        f"/api/v1/batch/{batch_id}/results",
        f"/api/v1/recordings/{job['recording_id']}/detections",
    ):
        mine = await client.get(url, headers=owner.headers)
        theirs = await client.get(url, headers=other.headers)
        assert mine.status_code == 200, (url, mine.text)
        assert theirs.status_code == 404, (url, theirs.text)
    r = await client.post(
        "/api/v1/eeg/analyze", json={"file_id": file_id, "analysis_type": "quick"},
        headers=other.headers,
    )  # fmt: skip
    assert r.status_code == 404
    mine = (await client.get("/api/v1/user/analyses", headers=other.headers)).json()
    assert job_id not in {a["job_id"] for a in mine["analyses"]}
