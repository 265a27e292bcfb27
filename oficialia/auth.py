"""Accounts: password hashing (Argon2id), sign-in with throttling, API tokens, role checks.

API tokens are ``op_`` + 43 random URL-safe characters; only their SHA-256 is stored, so a
leaked database does not leak working tokens.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select

from .db import DbSession, utcnow
from .errors import Conflict, InvalidInput, TooManyAttempts, Unauthorized
from .models import ApiToken, Department, Role, User

_hasher = PasswordHasher()
# Verifying against this keeps the time of a login for an unknown e-mail like a real one.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "op_"  # noqa: S105 - a prefix, not a secret

F = TypeVar("F", bound=Callable[..., Any])


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"La contraseña debe tener al menos {MIN_PASSWORD_LENGTH} caracteres.",
                           field="password")
    return _hasher.hash(password)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_user(session: DbSession, *, email: str, name: str, role: Role, password: str | None = None,
                department_code: str | None = None, rfc: str | None = None) -> User:
    """Create an account (flushes only).

    :raises Conflict: if the e-mail is already registered.
    :raises InvalidInput: for a bad e-mail, password, department or RFC.
    """
    email = normalize_email(email)
    if "@" not in email or len(email) > 254 or email.startswith("@") or email.endswith("@"):
        raise InvalidInput("Escriba un correo electrónico válido.", field="email")
    if session.execute(select(User.id).where(User.email == email)).first():
        raise Conflict("Ya existe una cuenta con ese correo electrónico.")
    department = None
    if department_code:
        department = session.execute(
            select(Department).where(Department.code == department_code.upper())).scalar_one_or_none()
        if department is None:
            raise InvalidInput(f"No existe el área «{department_code}».", field="department")
    if rfc is not None:
        rfc = rfc.strip().upper()
        if not 12 <= len(rfc) <= 13 or not rfc.isalnum():
            raise InvalidInput("El RFC debe tener 12 o 13 caracteres alfanuméricos.", field="rfc")
    user = User(email=email, name=name.strip() or email, role=role, department=department, rfc=rfc,
                password_hash=hash_password(password) if password else None)
    session.add(user)
    session.flush()
    return user


def authenticate(session: DbSession, email: str, password: str, *, max_failures: int,
                 lock_minutes: int) -> User:
    """Check a sign-in; lock the account for a while after too many failures.

    The caller commits (a failure also records the failed attempt).

    :raises TooManyAttempts: while the account is locked.
    :raises Unauthorized: for a wrong e-mail or password (the same message for both).
    """
    user = session.execute(select(User).where(User.email == normalize_email(email))).scalar_one_or_none()
    wrong = Unauthorized("Correo o contraseña incorrectos.")
    if user is None or user.password_hash is None or not user.active:
        _verify(_DUMMY_HASH, password)
        raise wrong
    now = utcnow()
    if user.locked_until and user.locked_until > now:
        raise TooManyAttempts()
    if not _verify(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= max_failures:
            user.locked_until = now + timedelta(minutes=lock_minutes)
            user.failed_logins = 0
        raise wrong
    user.failed_logins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: DbSession, user: User, name: str = "api") -> str:
    """Issue a bearer token for ``user`` (flushes only); the token is returned once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user=user, name=name[:100], token_hash=_token_digest(token), prefix=token[:10]))
    session.flush()
    return token


def user_for_token(session: DbSession, token: str) -> User | None:
    """The active user a live token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.execute(
        select(ApiToken).where(ApiToken.token_hash == _token_digest(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None or not row.user.active:
        return None
    now = utcnow()
    # Touch at most once a minute: a write per request would serialise API clients on SQLite.
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
    return row.user


def require_user(*roles: Role) -> User:
    """The signed-in account of the current request (401 without one), with one of ``roles`` when
    any are given (403 otherwise)."""
    from flask import abort
    from flask_login import current_user

    if not current_user.is_authenticated:
        abort(401)
    if roles and current_user.role not in roles:
        abort(403)
    user: User = current_user._get_current_object()
    return user
