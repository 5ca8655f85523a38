"""EEGPT configured but not loadable: analyses that need it are refused with 503, those that do
not go on, and once the checkpoint is fixed the next request goes through (no restart)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import torch

from api.app import create_app
from connectors.db.migrate import migrate
from connectors.settings import Settings
from processors.features import EEGPT_LARGE, _build_model, map_channels
from processors.montage import STANDARD_1020_19
from processors.synthetic import generate_eeg
from tests.integration.api_client import SignedIn, app_client, sign_in
from tests.integration.workers import WorkerPool, running_workers, stream_settings

pytestmark = pytest.mark.integration
session_loop = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "eegpt.ckpt"
    path.write_bytes(b"not a torch checkpoint, truncated by a failed copy")
    return path


@pytest.fixture
def model_settings(stack: Settings) -> Settings:
    migrate(stack.postgres_url)
    return stream_settings(stack, f"it-model-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def worker(model_settings: Settings, checkpoint: Path, tmp_path: Path) -> Iterator[WorkerPool]:
    env = {
        "BRRR_MODEL_CHECKPOINT_PATH": str(checkpoint),
        "BRRR_MODEL_RETRY_S": "2",
        "BRRR_WORKER_HEARTBEAT_S": "1",
        "BRRR_EEGPT_PRECISION": "int8",
    }
    yield from running_workers(model_settings, tmp_path, **env)


def _model_state(settings: Settings) -> str | None:
    with psycopg.connect(settings.postgres_url) as conn:
        row = conn.execute(
            "SELECT model_state FROM worker_status WHERE namespace = %s "
            "ORDER BY heartbeat_at DESC LIMIT 1",
            (settings.kafka_namespace,),
        ).fetchone()
    return None if row is None else row[0]


async def _until_state(settings: Settings, state: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _model_state(settings) != state:
        assert time.monotonic() < deadline, f"worker model not {state} in {timeout_s:g} s"
        await asyncio.sleep(0.5)


async def _analyze(
    client: httpx.AsyncClient, who: SignedIn, file_id: str, analysis_type: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/eeg/analyze",
        json={"file_id": file_id, "analysis_type": analysis_type},
        headers=who.headers,
    )


@session_loop
async def test_model_failure_is_503_for_the_types_that_need_it_and_recovers(
    model_settings: Settings, worker: WorkerPool, checkpoint: Path, tmp_path: Path
) -> None:
    who = await sign_in(model_settings)
    path = generate_eeg(60.0, seed=12).write_edf(tmp_path / "one-minute.edf")
    async for client in app_client(create_app(model_settings)):
        with path.open("rb") as fid:
            r = await client.post(
                "/api/v1/eeg/upload", files={"file": (path.name, fid)}, headers=who.headers
            )
        file_id = r.json()["file_id"]
        await _until_state(model_settings, "failed", timeout_s=60)

        for analysis_type in ("screening", "comprehensive"):
            r = await _analyze(client, who, file_id, analysis_type)
            assert r.status_code == 503, r.text
            body = r.json()
            assert body["error"] == "service_unavailable"
            assert body["message"].startswith("Model initialization failed: "), body
            assert str(checkpoint.name) in body["message"] or "checkpoint" in body["message"]
        r = await client.get("/ready")
        assert r.status_code == 503 and "worker" in r.json()["down"]
        assert (await _analyze(client, who, file_id, "quick")).status_code == 202

        # The checkpoint is put right: the worker loads it on its next try, and the next
        # request goes through, without a restart of the worker or the API.
        torch.save(
            _build_model(map_channels(STANDARD_1020_19), EEGPT_LARGE).state_dict(), checkpoint
        )
        await _until_state(model_settings, "ready", timeout_s=120)
        r = await _analyze(client, who, file_id, "screening")
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        deadline = time.monotonic() + 180
        while True:
            job = (await client.get(f"/api/v1/jobs/{job_id}", headers=who.headers)).json()
            if job["status"] in ("completed", "failed"):
                break
            assert time.monotonic() < deadline, job
            await asyncio.sleep(1)
        assert job["status"] == "completed", job
        result = (await client.get(f"/api/v1/results/{job_id}", headers=who.headers)).json()
        assert result["features"]["status"] == "completed", result["features"]
