"""``POST /api/v1/auth/token``: a user name and password (OAuth2 password form) for an access
token (:mod:`api.security`); ``GET /api/v1/auth/me``: whom a token belongs to.

Failed attempts are limited per user name (``BRRR_LOGIN_MAX_ATTEMPTS`` in
``BRRR_LOGIN_WINDOW_S``, :mod:`connectors.rate_limit`): past the limit the answer is 429
with ``Retry-After``, even for the right password, until the window ends.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.dependencies import ConnDep, SettingsDep
from api.errors import ApiError, ErrorAnswer
from api.security import TOKEN_URL, CurrentUserDep, Unauthorized, issue_token
from connectors.db.users import NAME_RE, credentials_by_name
from connectors.passwords import verify_password
from connectors.rate_limit import LoginRateLimiter

router = APIRouter(tags=["auth"])


class TokenAnswer(BaseModel):
    """An access token: send it as ``Authorization: Bearer <access_token>``."""

    access_token: str = Field(description="a signed JWT")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the token stops working")


class UserAnswer(BaseModel):
    """A user as the API shows them."""

    user_id: str
    name: str
    role: str


class TooManyAttempts(ApiError):
    """429: too many failed logins for one user name."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            429,
            "too_many_attempts",
            f"too many failed logins for this user name: wait {retry_after_s} s and try "
            "again (ask an administrator if the password is lost)",
            headers={"Retry-After": str(retry_after_s)},
        )


def get_login_limiter(request: Request) -> LoginRateLimiter:
    """The app's login rate limiter (opened by its lifespan)."""
    return request.app.state.login_limiter


@router.post(
    TOKEN_URL,
    responses={
        401: {"model": ErrorAnswer, "description": "wrong user name or password"},
        429: {"model": ErrorAnswer, "description": "too many failed logins; see Retry-After"},
    },
)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    conn: ConnDep,
    settings: SettingsDep,
    limiter: Annotated[LoginRateLimiter, Depends(get_login_limiter)],
) -> TokenAnswer:
    """Log in with ``username`` and ``password`` (form fields) and get an access token."""
    attempt = await run_in_threadpool(limiter.begin, form.username)
    if not attempt.allowed:
        raise TooManyAttempts(attempt.retry_after_s)
    # A name no user can have (NUL bytes, spaces...) is not looked up: it is wrong alike.
    known_form = NAME_RE.fullmatch(form.username) is not None
    credentials = await credentials_by_name(conn, form.username) if known_form else None
    stored_hash = credentials.password_hash if credentials else None
    if not await run_in_threadpool(verify_password, form.password, stored_hash):
        raise Unauthorized(
            "wrong user name or password: check both (an administrator creates users with "
            "`brrr users create NAME`)",
            invalid_token=False,
        )
    await run_in_threadpool(limiter.succeeded, form.username)
    access = issue_token(
        credentials.user.user_id, settings.jwt_secret.get_secret_value(), settings.token_expiry_s
    )
    return TokenAnswer(access_token=access.token, expires_in=access.expires_in)


@router.get(
    "/api/v1/auth/me",
    responses={401: {"model": ErrorAnswer, "description": "no valid access token"}},
)
async def me(user: CurrentUserDep) -> UserAnswer:
    """The user the access token belongs to (a client's check that its token works)."""
    return UserAnswer(user_id=str(user.user_id), name=user.name, role=user.role)
