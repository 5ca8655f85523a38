"""PostgreSQL/TimescaleDB: schema migrations, the idempotent result sink, and queries."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from psycopg import AsyncConnection


class DatabaseError(Exception):
    """Base of the database connector's errors; ``code`` is stable for logs and answers."""

    code = "database_error"


class DatabaseUnavailableError(DatabaseError):
    """PostgreSQL does not answer at the configured URL."""

    code = "database_unavailable"


class MigrationError(DatabaseError):
    """A migration file failed; nothing of it was applied."""

    code = "migration_failed"


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def unavailable(url: str, exc: Exception) -> DatabaseUnavailableError:
    """The error to raise when connecting to ``url`` failed with ``exc``."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DatabaseUnavailableError(
        f"PostgreSQL at {redact_url(url)} does not answer ({first_line}); start the local "
        "stack with `brrr stack up`, or set BRRR_POSTGRES_URL to a running server"
    )


async def connect(url: str) -> AsyncConnection:
    """An async connection to ``url`` (not autocommit), or :class:`DatabaseUnavailableError`
    saying what to do."""
    import psycopg

    try:
        return await psycopg.AsyncConnection.connect(url, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise unavailable(url, exc) from None
