"""Who is asking: signed access tokens and the ``current_user`` of a request.

An access token is a JWT signed with HS256 under ``BRRR_JWT_SECRET``: ``sub`` is the user's
id, ``iat`` and ``exp`` when it was issued and when it stops working (``BRRR_TOKEN_EXPIRY_S``
later), ``iss`` this service. A token is read with HS256 only (``alg: none`` and other
algorithms are refused), with every claim required. Passwords are checked in
:mod:`connectors.passwords` (argon2id).

Every data route takes ``user: CurrentUserDep`` and scopes its queries by ``user.user_id``;
a missing, malformed, expired, forged or wrongly signed token, or one whose user was deleted,
is answered 401 ``{"error": "unauthorized", ...}`` with ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

from api.dependencies import ConnDep, SettingsDep
from api.errors import ApiError
from connectors.db.users import User, user_by_id

#: Where clients get a token (the OpenAPI document's password flow names it).
TOKEN_URL = "/api/v1/auth/token"
ALGORITHM = "HS256"
ISSUER = "brain-go-brrr"
#: Shortest HS256 key accepted (RFC 7518 3.2: at least the hash's 256 bits).
MIN_SECRET_LENGTH = 32
_REQUIRED_CLAIMS = ["sub", "iat", "exp", "iss"]


class InvalidToken(Exception):
    """A token that cannot be used; the message says why, for the client."""


class Unauthorized(ApiError):
    """401 with the Bearer challenge (RFC 6750)."""

    def __init__(self, message: str, *, invalid_token: bool = True) -> None:
        challenge = 'Bearer error="invalid_token"' if invalid_token else "Bearer"
        super().__init__(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


@dataclass(frozen=True)
class AccessToken:
    """A token issued to a user, and how many seconds it is good for."""

    token: str
    expires_in: int


def issue_token(
    user_id: uuid.UUID, secret: str, expiry_s: int, *, now: datetime | None = None
) -> AccessToken:
    """Sign an access token for ``user_id``, good for ``expiry_s`` seconds from ``now``.

    Parameters
    ----------
    user_id : uuid.UUID
        The user (``sub``).
    secret : str
        The HS256 key (``settings.jwt_secret``), at least :data:`MIN_SECRET_LENGTH` characters.
    expiry_s : int
        Lifetime, seconds.
    now : datetime or None
        Issue time (tests); default now.
    """
    check_jwt_secret(secret)
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "iat": issued,
        "exp": issued + timedelta(seconds=expiry_s),
        "iss": ISSUER,
    }
    return AccessToken(jwt.encode(claims, secret, algorithm=ALGORITHM), expiry_s)


def read_token(token: str, secret: str) -> uuid.UUID:
    """The user id of a valid token.

    Raises
    ------
    InvalidToken
        Expired, signed with another key or algorithm (``none`` included), malformed, or
        missing a claim; the message says which.
    """
    check_jwt_secret(secret)
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": _REQUIRED_CLAIMS},
        )
        return uuid.UUID(claims["sub"])
    except jwt.ExpiredSignatureError:
        raise InvalidToken(
            "the access token has expired: get a new one from " + TOKEN_URL
        ) from None
    except jwt.InvalidSignatureError:
        raise InvalidToken(
            "the access token's signature is not this service's: get a token from " + TOKEN_URL
        ) from None
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise InvalidToken(
            f"the access token is not valid ({exc}): get a token from {TOKEN_URL}"
        ) from None


def check_jwt_secret(secret: str) -> None:
    """Raise ValueError, saying what to set, for a key too short for HS256."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"BRRR_JWT_SECRET has {len(secret)} characters; set at least {MIN_SECRET_LENGTH} "
            "random ones (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
        )


# auto_error=False: a missing token is answered by current_user, in the API's error body.
_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


async def current_user(
    token: Annotated[str | None, Depends(_bearer)], settings: SettingsDep, conn: ConnDep
) -> User:
    """The user whose bearer token came with the request.

    Raises
    ------
    Unauthorized
        No token, an invalid one (:func:`read_token`), or its user no longer exists.
    """
    if not token:
        raise Unauthorized(
            f"this endpoint needs an access token: get one from {TOKEN_URL} and send it as "
            "'Authorization: Bearer <token>'",
            invalid_token=False,
        )
    try:
        user_id = read_token(token, settings.jwt_secret.get_secret_value())
    except InvalidToken as exc:
        raise Unauthorized(str(exc)) from None
    user = await user_by_id(conn, user_id)
    if user is None:
        raise Unauthorized(f"the access token's user no longer exists: log in again at {TOKEN_URL}")
    return user


CurrentUserDep = Annotated[User, Depends(current_user)]
