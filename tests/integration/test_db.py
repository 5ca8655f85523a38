"""Migrations against the real PostgreSQL: twice, from two workers at once, and without
pg_partman rights. Each test works in a database of its own, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from connectors.db.migrate import TIME_SERIES_TABLES, discover, maintain_partitions, migrate
from connectors.settings import Settings

pytestmark = pytest.mark.integration


def url_for(settings: Settings, dbname: str, user: str | None = None, pw: str | None = None) -> str:
    parts = urlsplit(settings.postgres_url)
    netloc = parts.netloc
    if user is not None:  # the hosts (one or several) stay, the user changes
        netloc = f"{user}:{pw}@{netloc.rsplit('@', 1)[-1]}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{dbname}"))


def admin(settings: Settings) -> psycopg.Connection:
    return psycopg.connect(url_for(settings, "postgres"), autocommit=True)


@pytest.fixture
def fresh_db(stack: Settings) -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    name = f"brrr_it_{uuid.uuid4().hex[:10]}"
    with admin(stack) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield url_for(stack, name)
    with admin(stack) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def partitions_of(conn: psycopg.Connection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass ORDER BY 1",
        (table,),
    ).fetchall()
    return [r[0] for r in rows]


def test_migrations_run_twice(fresh_db: str) -> None:
    versions = [m.version for m in discover("partitioned")]
    first = migrate(fresh_db)
    second = migrate(fresh_db)
    assert first.backend == second.backend == "partitioned"  # no TimescaleDB on this server
    assert first.applied == versions and first.already == []
    assert second.applied == [] and second.already == versions
    with psycopg.connect(fresh_db) as conn:
        recorded = conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
        assert [r[0] for r in recorded] == versions
        for table in TIME_SERIES_TABLES:
            kind = conn.execute(
                "SELECT partstrat FROM pg_partitioned_table WHERE partrelid = %s::regclass",
                (table,),
            ).fetchone()
            assert kind == ("r",), f"{table} is not range-partitioned"
            names = partitions_of(conn, table)
            assert f"{table}_default" in names and len(names) >= 15  # 7 days back, 7 ahead
        # pg_partman manages them (the dev cluster lets the project role install it)
        managed = conn.execute("SELECT parent_table FROM partman.part_config ORDER BY 1")
        assert {r[0] for r in managed} == {f"public.{t}" for t in TIME_SERIES_TABLES}
        # a row of today lands in today's partition, not the default one
        now = datetime.now(UTC)
        conn.execute(
            "INSERT INTO system_metrics (time, host, metric, value) VALUES (%s, 'h', 'cpu', 1)",
            (now,),
        )
        where = conn.execute("SELECT tableoid::regclass::text FROM system_metrics").fetchone()[0]
        assert where != "system_metrics_default" and now.strftime("%Y_%m_%d") in where
    maintain_partitions(fresh_db)  # pg_partman's run_maintenance, nothing to add today


def test_two_workers_migrating_at_once_do_not_race(fresh_db: str) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(migrate, [fresh_db, fresh_db]))
    applied = sorted(v for r in reports for v in r.applied)
    assert applied == [m.version for m in discover("partitioned")]  # each once, no error
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(applied)


@pytest.fixture
def unprivileged_db(stack: Settings) -> Iterator[str]:
    """A new database owned by a new role that is not superuser (cannot install pg_partman)."""
    suffix = uuid.uuid4().hex[:10]
    role, name, pw = f"brrr_it_role_{suffix}", f"brrr_it_{suffix}", uuid.uuid4().hex
    with admin(stack) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(pw)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(role)
            )
        )
    yield url_for(stack, name, role, pw)
    with admin(stack) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_without_pg_partman_partitions_are_made_natively(unprivileged_db: str) -> None:
    report = migrate(unprivileged_db)
    assert report.backend == "partitioned"
    assert report.applied == [m.version for m in discover("partitioned")] == [1, 2, 3, 4, 5, 6, 7]
    with psycopg.connect(unprivileged_db) as conn:
        assert (
            conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_partman'").fetchone()
            is None
        )
        today = datetime.now(UTC).date()
        names = partitions_of(conn, "detections")
        for offset in (-7, 0, 7):
            day = today + timedelta(days=offset)
            assert f"detections_p{day:%Y%m%d}" in names
        assert "detections_default" in names
    assert migrate(unprivileged_db).applied == []  # and again, nothing to do
    # a worker's periodic maintenance recreates the days ahead
    last = f"detections_p{today + timedelta(days=7):%Y%m%d}"
    with psycopg.connect(unprivileged_db, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {last}")
        maintain_partitions(unprivileged_db)
        assert last in partitions_of(conn, "detections")


def test_hourly_average_with_date_bin(fresh_db: str) -> None:
    migrate(fresh_db)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=3)
    with psycopg.connect(fresh_db) as conn:
        with (
            conn.cursor() as cur,
            cur.copy("COPY system_metrics (time, host, metric, value) FROM STDIN") as copy,
        ):
            for minute in range(180):
                copy.write_row(
                    (start + timedelta(minutes=minute), "h1", "cpu", float(minute // 60))
                )
        rows = conn.execute(
            "SELECT date_bin('1 hour', time, '2000-01-01'), avg(value), count(*)"
            " FROM system_metrics GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert [(b, float(m), n) for b, m, n in rows] == [
        (start + timedelta(hours=h), float(h), 60) for h in range(3)
    ]


def columns_and_keys(conn: psycopg.Connection) -> list[tuple]:
    columns = conn.execute(
        "SELECT table_name, column_name, data_type, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_name = ANY(%s)"
        " ORDER BY table_name, ordinal_position",
        (list(TIME_SERIES_TABLES),),
    ).fetchall()
    keys = conn.execute(
        "SELECT conrelid::regclass::text, contype, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid::regclass::text = ANY(%s) ORDER BY 1, 2, 3",
        (list(TIME_SERIES_TABLES),),
    ).fetchall()
    return columns + keys


def test_timescaledb_variant_defines_the_same_tables(stack: Settings) -> None:
    """TimescaleDB is not installable here: run its migration with a stand-in
    create_hypertable() and check that it defines exactly the tables of the partitioned
    variant, and makes every time-series table a hypertable on the same time column."""
    names = [f"brrr_it_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with admin(stack) as conn:
        for name in names:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        timescale_url, partitioned_url = (url_for(stack, n) for n in names)
        migrations = {m.version: m for m in discover("timescaledb")}
        body = (
            migrations[2]
            .path.read_text()
            .replace("CREATE EXTENSION IF NOT EXISTS timescaledb;", "")
        )
        with psycopg.connect(timescale_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE hypertables (tbl text, col text)")
            conn.execute(
                "CREATE FUNCTION create_hypertable(t regclass, c name, chunk_time_interval"
                " interval, if_not_exists boolean) RETURNS void LANGUAGE sql AS"
                " $$ INSERT INTO hypertables VALUES (t::text, c::text) $$"
            )
            conn.execute(migrations[1].path.read_text())
            conn.execute(body)
            for later in (m for v, m in sorted(migrations.items()) if v > 3 and m.path):
                conn.execute(later.path.read_text())  # the migrations both variants share
            made = dict(conn.execute("SELECT tbl, col FROM hypertables").fetchall())
            timescale_schema = columns_and_keys(conn)
        migrate(partitioned_url)
        with psycopg.connect(partitioned_url) as conn:
            partitioned_schema = columns_and_keys(conn)
            partition_keys = dict(
                conn.execute(
                    "SELECT partrelid::regclass::text, a.attname FROM pg_partitioned_table p"
                    " JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]"
                    " WHERE partrelid::regclass::text = ANY(%s)",
                    (list(TIME_SERIES_TABLES),),
                ).fetchall()
            )
        assert len(timescale_schema) > 30  # 31 columns, 4 primary keys, checks
        assert timescale_schema == partitioned_schema
        assert made == partition_keys and set(made) == set(TIME_SERIES_TABLES)
    finally:
        with admin(stack) as conn:
            for name in names:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
