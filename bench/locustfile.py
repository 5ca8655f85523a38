"""Locust file of ``brrr bench api``: a clinic's requests to the REST API.

Each simulated clinician holds an access token and files uploaded beforehand (by
``bench/bench_api.py``, which writes them to the JSON file named by ``BRRR_BENCH_PLAN``:
``{"users": [{"token": ..., "file_ids": [...]}, ...]}``) and, between pauses of
``BRRR_BENCH_WAIT_S`` seconds (``"MIN,MAX"``, default ``"1,3"``), asks for

- a quick analysis of one of their files (weight 3),
- a comprehensive analysis (weight 1): quick ones three times as often,
- the status of their latest job (weight 8): twice as often as analyses overall.

The status requests are named by their template, ``/api/v1/jobs/{id}``, so that all jobs
make one line of the statistics. Locust (gevent) is imported only here and in its own
process, never by the API or the tests.

Usage: ``locust -f bench/locustfile.py --headless -u 50 -r 10 -t 60s --host URL --csv PREFIX``
"""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path
from typing import Any

from locust import HttpUser, between, task

ANALYZE = "/api/v1/eeg/analyze"
JOB_TEMPLATE = "/api/v1/jobs/{id}"


def _plan() -> list[dict[str, Any]]:
    """The users (token, file ids) the bench script prepared."""
    path = os.environ.get("BRRR_BENCH_PLAN")
    if not path:
        raise SystemExit("BRRR_BENCH_PLAN is unset: run this file through `brrr bench api`")
    return json.loads(Path(path).read_text())["users"]


def _wait_range() -> tuple[float, float]:
    """The pause between two tasks of one user, seconds (``BRRR_BENCH_WAIT_S``)."""
    low, high = os.environ.get("BRRR_BENCH_WAIT_S", "1,3").split(",")
    return float(low), float(high)


PLAN = _plan()
#: Hands each new simulated user the next prepared user, round robin.
_SEATS = itertools.count()


class Clinician(HttpUser):
    """One clinician: analysis requests and status polls of their own jobs."""

    wait_time = between(*_wait_range())

    def on_start(self) -> None:
        """Take a prepared user: their token and files."""
        seat = PLAN[next(_SEATS) % len(PLAN)]
        self.auth = {"Authorization": f"Bearer {seat['token']}"}
        self.file_ids: list[str] = seat["file_ids"]
        self.latest_job: str | None = None

    @task(3)
    def analyze_quick(self) -> None:
        """Ask for a quick analysis."""
        self._analyze("quick")

    @task(1)
    def analyze_comprehensive(self) -> None:
        """Ask for a comprehensive analysis."""
        self._analyze("comprehensive")

    @task(8)
    def job_status(self) -> None:
        """Poll the latest job's status (nothing before the first analysis)."""
        if self.latest_job is None:
            return
        with self.client.get(
            f"/api/v1/jobs/{self.latest_job}",
            headers=self.auth,
            name=JOB_TEMPLATE,
            catch_response=True,
        ) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}: {r.text[:200]}")

    def _analyze(self, analysis_type: str) -> None:
        body = {"file_id": random.choice(self.file_ids), "analysis_type": analysis_type}
        with self.client.post(ANALYZE, json=body, headers=self.auth, catch_response=True) as r:
            if r.status_code != 202:
                r.failure(f"{r.status_code}: {r.text[:200]}")
                return
            self.latest_job = r.json()["job_id"]
