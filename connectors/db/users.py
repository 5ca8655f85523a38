"""Users of the API: who they are (:class:`User`), created by ``brrr users create``, found by
the login (by name) and by every request's token (by id).

Names are unique without regard to case (``Alice`` and ``alice`` are one user) and have no
white space; passwords are stored as argon2id hashes only (:mod:`connectors.passwords`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Literal, get_args

import psycopg
from psycopg import AsyncConnection

from connectors.db import DatabaseError

Role = Literal["clinician", "researcher", "admin", "service"]
ROLES: tuple[str, ...] = get_args(Role)
#: What a user name may be (the database checks length and white space too).
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")


class UserExistsError(DatabaseError):
    """A user of that name exists already."""

    code = "user_exists"


class InvalidUserError(DatabaseError, ValueError):
    """A user name or role the database would refuse."""

    code = "invalid_user"


@dataclass(frozen=True)
class User:
    """A user, as the API sees them: never the password hash."""

    user_id: uuid.UUID
    name: str
    role: Role


@dataclass(frozen=True)
class Credentials:
    """A user with the stored password hash, for the login only (None: cannot log in)."""

    user: User
    password_hash: str | None


def check_user_fields(name: str, role: str) -> None:
    """Raise :class:`InvalidUserError` for a name or role the database would refuse."""
    if not NAME_RE.fullmatch(name):
        raise InvalidUserError(
            f"user name {name!r} is not allowed: use 1 to 64 letters, digits and . _ @ + -, "
            "starting with a letter or digit"
        )
    if role not in ROLES:
        raise InvalidUserError(f"role {role!r} is not a role: use one of {', '.join(ROLES)}")


async def create_user(
    conn: AsyncConnection, *, name: str, password_hash: str | None, role: Role = "clinician"
) -> User:
    """Add a user (in the caller's transaction) and return them.

    Parameters
    ----------
    conn : AsyncConnection
        Where to write; the caller commits.
    name : str
        Login name (see :data:`NAME_RE`), unique without regard to case.
    password_hash : str or None
        From :func:`connectors.passwords.hash_password`; None: a user who cannot log in.
    role : Role
        clinician (default), researcher, admin or service.

    Raises
    ------
    InvalidUserError
        A name or role that is not allowed.
    UserExistsError
        A user of that name exists (whatever the case).
    """
    check_user_fields(name, role)
    try:
        async with conn.transaction():  # a savepoint: a duplicate leaves the caller's work
            cur = await conn.execute(
                "INSERT INTO users (name, password_hash, role) VALUES (%s, %s, %s)"
                " RETURNING user_id",
                (name, password_hash, role),
            )
            row = await cur.fetchone()
    except psycopg.errors.UniqueViolation:
        raise UserExistsError(
            f"a user named {name!r} exists already (names ignore case): choose another name"
        ) from None
    return User(user_id=row[0], name=name, role=role)


async def user_by_id(conn: AsyncConnection, user_id: uuid.UUID) -> User | None:
    """The user with that id, or None (never existed, or deleted)."""
    cur = await conn.execute("SELECT user_id, name, role FROM users WHERE user_id = %s", (user_id,))
    row = await cur.fetchone()
    return None if row is None else User(*row)


async def credentials_by_name(conn: AsyncConnection, name: str) -> Credentials | None:
    """The user of that name (any case) with their password hash, or None."""
    cur = await conn.execute(
        "SELECT user_id, name, role, password_hash FROM users WHERE lower(name) = lower(%s)",
        (name,),
    )
    row = await cur.fetchone()
    return None if row is None else Credentials(User(*row[:3]), row[3])


async def delete_user(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    """Remove a user (their tokens stop working at once); True when there was one."""
    cur = await conn.execute("DELETE FROM users WHERE user_id = %s", (user_id,))
    return cur.rowcount == 1
