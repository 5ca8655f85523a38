"""Schemathesis against the API's own OpenAPI document: generated requests to every
endpoint (valid and invalid) find no 5xx and no answer that breaks the document.

The API runs as ``brrr api`` (a real server over HTTP), signed in as a user of its own,
in a Kafka namespace of its own so that the analyses it queues reach no worker.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.db.migrate import migrate
from connectors.kafka_topics import Topics, ensure_topics
from connectors.settings import Settings
from tests.integration.api_client import sign_in
from tests.integration.workers import stream_settings, workers_for
from tests.ports import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
#: Whole schemathesis run, seconds (the run stops generating when it is spent).
BUDGET_S = 150


@pytest.fixture
def api_url(stack: Settings, tmp_path: Path) -> Iterator[str]:
    namespace = f"it-schema-{uuid.uuid4().hex[:8]}"
    migrate(stack.postgres_url)
    ensure_topics(stack.kafka_bootstrap_servers, Topics(namespace).partitions)
    # A worker of the namespace, so that /ready is ready (its 503 is a 5xx too).
    pools = workers_for(stream_settings(stack, namespace), tmp_path)
    next(pools).start()
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "BRRR_API_PORT": str(port),
        "BRRR_KAFKA_NAMESPACE": namespace,
    }
    log = (tmp_path / "api.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "api"], cwd=REPO, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/health", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None, (tmp_path / "api.log").read_text()
                assert time.monotonic() < deadline, "brrr api did not answer within 60 s"
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        pools.close()  # stops the worker


def test_generated_requests_find_no_server_error_and_no_answer_off_the_schema(
    stack: Settings, api_url: str, tmp_path: Path
) -> None:
    user = asyncio.run(sign_in(stack))
    command = [
        str(Path(sys.executable).parent / "st"),
        "run",
        f"{api_url}/openapi.json",
        "--checks",
        "not_a_server_error,response_schema_conformance,status_code_conformance,"
        "content_type_conformance",
        "--header",
        f"Authorization:{user.headers['Authorization']}",
        "--max-examples",
        "10",
        "--max-time",
        str(BUDGET_S),
        "--seed",
        "20261202",
        "--request-timeout",
        "30",
        "--workers",
        "2",
    ]
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=BUDGET_S + 120
    )
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
