"""What each running worker says about itself: its model's state and where its metrics are.

A worker refreshes its row every few seconds (``brrr worker``'s heartbeat); the API reads the
rows to refuse analyses that need a model no worker could load, and ``/ready`` to say
whether any worker is alive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from psycopg import AsyncConnection
from psycopg.rows import class_row

ModelState = Literal["ready", "failed", "not_configured"]


@dataclass(frozen=True)
class WorkerStatus:
    """One worker's last heartbeat."""

    worker_id: str
    namespace: str
    host: str
    pid: int
    model_state: ModelState
    model_error: str | None
    metrics_url: str | None
    started_at: datetime
    heartbeat_at: datetime


async def report_worker_status(conn: AsyncConnection, status: WorkerStatus) -> None:
    """Insert or refresh a worker's row (its heartbeat is the server's clock)."""
    await conn.execute(
        """
        INSERT INTO worker_status (worker_id, namespace, host, pid, model_state, model_error,
                                   metrics_url, started_at, heartbeat_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now())
        ON CONFLICT (worker_id) DO UPDATE
           SET model_state = EXCLUDED.model_state, model_error = EXCLUDED.model_error,
               metrics_url = EXCLUDED.metrics_url, heartbeat_at = now()
        """,
        (
            status.worker_id,
            status.namespace,
            status.host,
            status.pid,
            status.model_state,
            status.model_error,
            status.metrics_url,
            status.started_at,
        ),
    )


async def live_workers(
    conn: AsyncConnection, *, namespace: str, within_s: float
) -> list[WorkerStatus]:
    """Workers of the Kafka ``namespace`` whose heartbeat is younger than ``within_s``,
    freshest first."""
    async with conn.cursor(row_factory=class_row(WorkerStatus)) as cur:
        await cur.execute(
            """
            SELECT worker_id, namespace, host, pid, model_state, model_error, metrics_url,
                   started_at, heartbeat_at
              FROM worker_status
             WHERE namespace = %s AND heartbeat_at > now() - make_interval(secs => %s)
             ORDER BY heartbeat_at DESC
            """,
            (namespace, within_s),
        )
        return await cur.fetchall()


async def forget_worker(conn: AsyncConnection, worker_id: str) -> None:
    """Remove a worker's row (it stopped cleanly)."""
    await conn.execute("DELETE FROM worker_status WHERE worker_id = %s", (worker_id,))
