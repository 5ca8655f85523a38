"""``brrr users``: the API's users, in PostgreSQL (:mod:`connectors.db.users`)."""

from __future__ import annotations

import asyncio
import getpass
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from connectors.db.users import User

#: The roles of :data:`connectors.db.users.ROLES` (kept literal so that ``brrr --help`` does
#: not import the database driver; a test holds the two equal).
ROLE_CHOICES = ("clinician", "researcher", "admin", "service")


class PasswordInputError(Exception):
    """The password could not be read, or the two typed differ."""


@click.group()
def users() -> None:
    """Users of the REST API: they log in at /api/v1/auth/token."""


@users.command("create")
@click.argument("name")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)
@click.option(
    "--role",
    type=click.Choice(ROLE_CHOICES),
    default="clinician",
    show_default=True,
    help="What the user is.",
)
def users_create(name: str, password_stdin: bool, role: str) -> None:
    """Add a user NAME with a password (asked twice, or read with --password-stdin)."""
    from connectors.db import DatabaseError
    from connectors.db.users import check_user_fields
    from connectors.passwords import WeakPasswordError, hash_password
    from connectors.settings import get_settings

    try:
        check_user_fields(name, role)
        password = _read_password(password_stdin)
        password_hash = hash_password(password)
        user = asyncio.run(_create(get_settings().postgres_url, name, password_hash, role))
    except (DatabaseError, WeakPasswordError, PasswordInputError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"created user {user.name} ({user.role}), id {user.user_id}")


def _read_password(from_stdin: bool) -> str:
    """The password from stdin's first line, or typed twice at a prompt."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise PasswordInputError(
                "--password-stdin: standard input is empty; pipe the password in"
            )
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise PasswordInputError(
            "no terminal to ask the password on: pass --password-stdin and pipe it in"
        )
    first = getpass.getpass("password: ")
    if getpass.getpass("password again: ") != first:
        raise PasswordInputError("the two passwords differ: run the command again")
    return first


async def _create(postgres_url: str, name: str, password_hash: str, role: str) -> User:
    """Migrate the database if needed, then add the user (committed)."""
    from connectors.db import connect
    from connectors.db.migrate import migrate
    from connectors.db.users import create_user

    await asyncio.to_thread(migrate, postgres_url)
    async with await connect(postgres_url) as conn:
        return await create_user(conn, name=name, password_hash=password_hash, role=role)
