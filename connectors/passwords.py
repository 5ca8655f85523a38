"""Password hashing with argon2id (argon2-cffi's recommended parameters, RFC 9106).

The database keeps only the encoded hash (``$argon2id$v=19$m=...``: parameters and salt
included), never the password. Used by ``brrr users create`` (which writes users) and by the
API's login (which checks them), so it lives with the connectors, which both may import.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: Shortest password a user may be given.
MIN_PASSWORD_LENGTH = 12
#: Longest password accepted (argon2 would take more, but nobody types it; bounds the work).
MAX_PASSWORD_LENGTH = 1024

_HASHER = PasswordHasher()
#: Verified against when the user name is unknown, so that the answer takes as long as for a
#: known name and does not tell which names exist.
_DUMMY_HASH = _HASHER.hash("not-a-password-of-anyone")


class WeakPasswordError(ValueError):
    """A password too short or too long to be set."""


def check_password_strength(password: str) -> None:
    """Refuse a password that is too short (or absurdly long) to set.

    Raises
    ------
    WeakPasswordError
        Saying the length wanted.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(
            f"the password has {len(password)} characters; use at least {MIN_PASSWORD_LENGTH} "
            "(a few unrelated words make a long password easy to remember)"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(
            f"the password has {len(password)} characters; use at most {MAX_PASSWORD_LENGTH}"
        )


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (a fresh salt each call), after
    :func:`check_password_strength`."""
    check_password_strength(password)
    return _HASHER.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether ``password`` matches ``password_hash``.

    A None hash (unknown user, or a user without a password) is checked against a dummy hash
    and answers False, in the same time as a wrong password. A malformed stored hash answers
    False too (the user cannot log in until given a new password).
    """
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
