"""Passwords, access tokens and the login rate limiter, without the stack."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from api.security import ISSUER, InvalidToken, issue_token, read_token
from connectors.db.users import ROLES, InvalidUserError, check_user_fields
from connectors.passwords import WeakPasswordError, hash_password, verify_password
from connectors.rate_limit import LoginRateLimiter
from connectors.settings import Settings
from streams.users_cli import ROLE_CHOICES
from tests.ports import free_port

SECRET = "unit-test-secret-" + "0123456789abcdef" * 3
USER = uuid.UUID("123e4567-e89b-12d3-a456-426614174000")


def test_password_hash_verifies_only_the_password() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert stored != hash_password("correct horse battery")  # a fresh salt each time
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert not verify_password("correct horse battery", None)  # unknown user
    assert not verify_password("correct horse battery", "not-a-hash")


def test_short_password_is_refused_with_the_length_wanted() -> None:
    with pytest.raises(WeakPasswordError, match="at least 12"):
        hash_password("short")


def test_user_names_and_roles() -> None:
    check_user_fields("dr.jane@ward-3", "clinician")
    for bad in ("", "two words", "-dash", "x" * 65):
        with pytest.raises(InvalidUserError, match="not allowed"):
            check_user_fields(bad, "clinician")
    with pytest.raises(InvalidUserError, match="use one of"):
        check_user_fields("jane", "root")
    assert ROLE_CHOICES == ROLES


def test_token_round_trip() -> None:
    access = issue_token(USER, SECRET, 600)
    assert access.expires_in == 600
    assert read_token(access.token, SECRET) == USER
    claims = jwt.decode(access.token, options={"verify_signature": False})
    assert claims["sub"] == str(USER) and claims["iss"] == ISSUER
    assert claims["exp"] - claims["iat"] == 600


def test_expired_token_is_refused() -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    access = issue_token(USER, SECRET, 3600, now=past)
    with pytest.raises(InvalidToken, match="expired"):
        read_token(access.token, SECRET)


def test_token_of_another_key_is_refused() -> None:
    access = issue_token(USER, "another-secret-0123456789abcdef-0123456789", 600)
    with pytest.raises(InvalidToken, match="signature"):
        read_token(access.token, SECRET)


def test_forged_claims_are_refused() -> None:
    header, _, signature = issue_token(USER, SECRET, 600).token.split(".")
    other = uuid.uuid4()
    forged_claims = jwt.encode(
        {"sub": str(other), "iat": 0, "exp": 2**40, "iss": ISSUER}, "x" * 32, algorithm="HS256"
    ).split(".")[1]
    with pytest.raises(InvalidToken, match="signature"):
        read_token(f"{header}.{forged_claims}.{signature}", SECRET)


def test_alg_none_and_other_algorithms_are_refused() -> None:
    claims = {"sub": str(USER), "iat": datetime.now(UTC), "exp": 2**40, "iss": ISSUER}
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(InvalidToken, match="not valid"):
        read_token(unsigned, SECRET)
    hs512 = jwt.encode(claims, SECRET, algorithm="HS512")
    with pytest.raises(InvalidToken, match="not valid"):
        read_token(hs512, SECRET)


def test_token_without_a_claim_or_malformed_is_refused() -> None:
    no_exp = jwt.encode({"sub": str(USER), "iat": 0, "iss": ISSUER}, SECRET, algorithm="HS256")
    with pytest.raises(InvalidToken, match="exp"):
        read_token(no_exp, SECRET)
    not_uuid = jwt.encode(
        {"sub": "admin", "iat": 0, "exp": 2**40, "iss": ISSUER}, SECRET, algorithm="HS256"
    )
    with pytest.raises(InvalidToken, match="not valid"):
        read_token(not_uuid, SECRET)
    with pytest.raises(InvalidToken, match="not valid"):
        read_token("garbage", SECRET)


def test_short_jwt_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="BRRR_JWT_SECRET"):
        issue_token(USER, "short", 600)


def test_limiter_without_redis_limits_per_process_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = Settings(
        redis_url=f"redis://127.0.0.1:{free_port()}/0", login_max_attempts=2, login_window_s=60
    )
    limiter = LoginRateLimiter.from_settings(dead)
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="connectors.rate_limit"):
        assert limiter.begin("Jane").allowed
        limiter.succeeded("Jane")  # a success does not count
        assert limiter.begin("jane").allowed  # names ignore case
        assert limiter.begin("JANE").allowed
        refused = limiter.begin("jane")
        assert not refused.allowed and 1 <= refused.retry_after_s <= 60
        assert limiter.begin("john").allowed  # per name
    assert time.monotonic() - start < 2  # a Redis that is down does not slow logins down
    assert "limited per API process" in caplog.text
    assert caplog.text.count("does not answer") == 1  # warned once, not per attempt
