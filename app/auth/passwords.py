"""Password hashes: argon2id (made and checked) and bcrypt (checked, when the bcrypt package is installed).

Plain passwords never reach a file: `python -m app.auth hash-password` prints the hash to paste.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()  # argon2id with the library's RFC 9106 "low memory" profile
# Verified against when a user is unknown, so that a wrong name takes as long as a wrong password.
_DECOY = _HASHER.hash("touchpoint-decoy-password")

ARGON2_PREFIX = "$argon2"
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


def hash_password(password: str) -> str:
    """An argon2id hash of `password`, ready for the users file."""
    return _HASHER.hash(password)


def hash_problem(encoded: str) -> str | None:
    """Why `encoded` cannot serve as a password hash, or None when it can."""
    if encoded.startswith(ARGON2_PREFIX):
        try:
            _HASHER.check_needs_rehash(encoded)  # parses the parameters
        except (InvalidHashError, ValueError) as exc:
            return f"is not a well-formed argon2 hash ({exc})"
        return None
    if encoded.startswith(BCRYPT_PREFIXES):
        try:
            import bcrypt  # type: ignore[import-not-found, unused-ignore]  # noqa: F401 - optional: bcrypt hashes only
        except ModuleNotFoundError:
            return "is a bcrypt hash, but the bcrypt package is not installed (pip install bcrypt)"
        return None
    return (
        "is not an argon2 ($argon2id$…) or bcrypt ($2b$…) hash; never put a plain password here — "
        "`python -m app.auth hash-password` prints a hash"
    )


def verify_password(encoded: str | None, password: str) -> bool:
    """True when `password` matches the hash; with no hash (unknown user) it takes as long, then False."""
    if encoded is None:
        _verify_argon2(_DECOY, password)
        return False
    if encoded.startswith(BCRYPT_PREFIXES):
        import bcrypt  # type: ignore[import-not-found, unused-ignore]

        try:
            return bool(bcrypt.checkpw(password.encode(), encoded.encode()))
        except ValueError:
            return False
    return _verify_argon2(encoded, password)


def _verify_argon2(encoded: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(encoded, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
