"""Versioned schema migrations, applied on start and by ``brrr db migrate``.

Migrations are the numbered files of ``migrations/``: ``NNNN_name.sql`` applies to every
server, ``NNNN_name.<backend>.sql`` only to servers of that backend:

- ``timescaledb``: the TimescaleDB extension can be loaded (it is listed in
  ``pg_available_extensions`` and preloaded): time-series tables are hypertables;
- ``partitioned``: plain PostgreSQL: time-series tables are range-partitioned on time and
  their partitions managed by pg_partman.

The backend is chosen once, on the first run, and recorded in ``schema_migrations``.
Each migration runs in its own transaction and is recorded in the same one; a session
advisory lock makes a second worker wait rather than race, and it then finds nothing to do.
So running the migrations twice, or from two workers at once, is safe.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from connectors.db import MigrationError, redact_url, unavailable

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BACKENDS = ("timescaledb", "partitioned")
TIME_SERIES_TABLES = ("window_quality", "detections", "system_metrics", "analysis_metrics")
#: Key of the session advisory lock held while migrating ("brrr" in ASCII).
ADVISORY_LOCK_KEY = 0x62727272
_FILE_RE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<backend>[a-z]+))?\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    backend     text NOT NULL,
    file        text,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    """One numbered migration, resolved for a backend (``path`` None: not needed there)."""

    version: int
    name: str
    path: Path | None


@dataclass
class MigrationReport:
    """What a run of :func:`migrate` did."""

    backend: str
    applied: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)


def discover(backend: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations of ``directory`` for ``backend``, in version order.

    Raises
    ------
    MigrationError
        On a file name that does not follow ``NNNN_name[.backend].sql``, an unknown
        backend, or two files of the same version for the same backend.
    """
    if backend not in BACKENDS:
        raise MigrationError(f"unknown backend {backend!r}; use one of {BACKENDS}")
    versions: dict[int, dict[str | None, Path]] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if match is None or (match["backend"] and match["backend"] not in BACKENDS):
            raise MigrationError(
                f"migration file {path.name} is misnamed: use NNNN_name.sql or "
                f"NNNN_name.<backend>.sql with backend in {BACKENDS}"
            )
        variants = versions.setdefault(int(match["version"]), {})
        variants[match["backend"]] = path
    migrations = []
    for version, variants in sorted(versions.items()):
        if None in variants and len(variants) > 1:
            raise MigrationError(
                f"migration {version:04d} has both a common file and backend variants: "
                f"{sorted(p.name for p in variants.values())}"
            )
        path = variants.get(None, variants.get(backend))
        any_path = next(iter(variants.values()))
        name = _FILE_RE.match(any_path.name)["name"]
        migrations.append(Migration(version, name, path))
    return migrations


def detect_backend(conn: psycopg.Connection) -> str:
    """``timescaledb`` where the extension is installed or can be installed and loaded now,
    else ``partitioned``."""
    installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    if installed:
        return "timescaledb"
    available = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    if not available:
        return "partitioned"
    try:
        # It must also be preloaded and we must be allowed to create it: try, and keep it.
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        log.warning("TimescaleDB is available but cannot be used (%s): partitioned tables", exc)
        return "partitioned"
    return "timescaledb"


def migrate(postgres_url: str, backend: str | None = None) -> MigrationReport:
    """Bring the database at ``postgres_url`` up to the latest migration.

    Parameters
    ----------
    postgres_url : str
        libpq URL of the database.
    backend : str or None
        Force ``timescaledb`` or ``partitioned``; None: the backend recorded by an earlier
        run, or detected on the first.

    Returns
    -------
    MigrationReport
        The backend and the versions applied now and found already applied.

    Raises
    ------
    DatabaseUnavailableError
        When PostgreSQL does not answer.
    MigrationError
        When a migration fails (it is rolled back; the earlier ones stay applied).
    """
    with _connect(postgres_url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            return _migrate_locked(conn, postgres_url, backend)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


def _migrate_locked(
    conn: psycopg.Connection, postgres_url: str, backend: str | None
) -> MigrationReport:
    conn.execute(_CREATE_TABLE)
    rows = conn.execute("SELECT version, backend FROM schema_migrations").fetchall()
    done = {version: recorded for version, recorded in rows}
    recorded = set(done.values())
    if len(recorded) > 1:
        raise MigrationError(f"schema_migrations mixes backends {sorted(recorded)}")
    if recorded and backend is not None and backend not in recorded:
        raise MigrationError(
            f"the database was migrated for {recorded.pop()}, not {backend}: "
            "drop it (or use another database) to change backend"
        )
    backend = recorded.pop() if recorded else backend or detect_backend(conn)
    report = MigrationReport(backend=backend)
    for migration in discover(backend):
        if migration.version in done:
            report.already.append(migration.version)
            continue
        _apply(conn, migration, backend, postgres_url)
        report.applied.append(migration.version)
    if backend == "partitioned":
        _partman_maintenance(conn)
    return report


def _apply(conn: psycopg.Connection, migration: Migration, backend: str, url: str) -> None:
    label = migration.path.name if migration.path else f"{migration.version:04d}_{migration.name}"
    try:
        with conn.transaction():
            if migration.path is not None:
                conn.execute(migration.path.read_text())
            conn.execute(
                "INSERT INTO schema_migrations (version, name, backend, file)"
                " VALUES (%s, %s, %s, %s)",
                (migration.version, migration.name, backend, label if migration.path else None),
            )
    except psycopg.Error as exc:
        raise MigrationError(
            f"migration {label} failed on {redact_url(url)} and was rolled back: {str(exc).strip()}"
        ) from exc
    log.info("applied migration %s (%s)", label, backend)


def maintain_partitions(postgres_url: str) -> None:
    """Create the coming days' partitions (no-op on TimescaleDB); long-running workers
    call it periodically, since pg_partman's background worker is not configured here."""
    with _connect(postgres_url) as conn:
        _partman_maintenance(conn)


def _connect(postgres_url: str) -> psycopg.Connection:
    """An autocommit connection, or :class:`DatabaseUnavailableError` saying what to do."""
    try:
        return psycopg.connect(postgres_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise unavailable(postgres_url, exc) from None


def _partman_maintenance(conn: psycopg.Connection) -> None:
    """Create the daily partitions ahead of time: pg_partman's maintenance where pg_partman
    manages the tables, else the native ``brrr_ensure_daily_partitions``."""
    managed = conn.execute(
        "SELECT to_regclass('partman.part_config') IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_partman')"
    ).fetchone()[0]
    if (
        managed
        and conn.execute(
            "SELECT 1 FROM partman.part_config WHERE parent_table = 'public.system_metrics'"
        ).fetchone()
    ):
        conn.execute("SELECT partman.run_maintenance()")
    elif conn.execute("SELECT to_regproc('brrr_ensure_daily_partitions')").fetchone()[0]:
        for table in TIME_SERIES_TABLES:
            conn.execute("SELECT brrr_ensure_daily_partitions(%s::regclass, 7, 7)", (table,))
