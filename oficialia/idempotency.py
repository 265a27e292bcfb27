"""Idempotent filing over the API: the ``Idempotency-Key`` header of ``POST /api/v1/filings``.

A client that does not know whether its request arrived (a timeout, a dropped connection) sends
it again with the same key, and gets the first result (same status, same body) instead of a
second folio. Keys are scoped per token. The key's row is inserted **in the intake transaction**
(:func:`record`, called by ``receive_filing`` just before its commit), guarded by a unique
constraint on ``(token_id, key)``: of concurrent requests with one key exactly one commits; the
others fail on the constraint, roll back (their folio number with them, so folios keep no gaps)
and answer the committed result. The same key with a different payload is refused (422).
Only successful results are stored: a refused request changed nothing and may be retried as is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask.typing import ResponseReturnValue
from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from .db import DbSession, UTCDateTime, db, utcnow
from .errors import InvalidInput, OficialiaError

HEADER = "Idempotency-Key"
KEY_MAX = 200


class IdempotencyKey(db.Model):  # type: ignore[name-defined,misc]
    """The first result of a request sent with an ``Idempotency-Key``."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("token_id", "key", name="uq_idempotency_keys_token_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"), nullable=False)
    key: Mapped[str] = mapped_column(String(KEY_MAX), nullable=False)
    #: SHA-256 of the request's fields and files: the same key with other data is refused
    request_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    #: the JSON body answered the first time
    response_body: Mapped[str] = mapped_column(Text, nullable=False)
    location: Mapped[str | None] = mapped_column(String(500))
    filing_id: Mapped[int | None] = mapped_column(ForeignKey("filings.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class IdempotencyMismatch(OficialiaError):
    """The key was already used for a request with different data."""

    http_status = 422
    code = "idempotency_key_reused"
    default_message = ("Esa clave de idempotencia ya se usó con datos distintos. Use una clave nueva para "
                       "cada escrito diferente.")


def clean_key(value: str) -> str:
    """:raises InvalidInput: for an empty, too long or non-printable key."""
    key = value.strip()
    if not key or len(key) > KEY_MAX or not all(32 < ord(ch) < 127 for ch in key):
        raise InvalidInput(f"«{HEADER}» debe tener de 1 a {KEY_MAX} caracteres ASCII visibles.", field=HEADER)
    return key


def fingerprint(fields: Mapping[str, Sequence[str]], files: Sequence[tuple[str, str, bytes]]) -> str:
    """A digest of what was sent: every field (in order of name) and every file's name and bytes."""
    h = hashlib.sha256()
    for name in sorted(fields):
        for value in fields[name]:
            h.update(json.dumps(["f", name, value]).encode())
    for field, filename, data in files:
        h.update(json.dumps(["u", field, filename, hashlib.sha256(data).hexdigest()]).encode())
    return h.hexdigest()


def find(session: DbSession, token_id: int, key: str) -> IdempotencyKey | None:
    return session.execute(select(IdempotencyKey).where(
        IdempotencyKey.token_id == token_id, IdempotencyKey.key == key)).scalar_one_or_none()


def record(session: DbSession, *, token_id: int, key: str, request_sha256: str, status_code: int,
           body: Mapping[str, Any], location: str | None, filing_id: int | None) -> None:
    """Store the result inside the caller's transaction (flushes, so a duplicate fails here)."""
    session.add(IdempotencyKey(token_id=token_id, key=key, request_sha256=request_sha256, status_code=status_code,
                               response_body=serialize(body), location=location, filing_id=filing_id))
    session.flush()


def serialize(body: Mapping[str, Any]) -> str:
    """The body's JSON text, as the app's JSON provider writes it (first answer and replays alike)."""
    return str(current_app.json.dumps(body)) + "\n"


def respond(text: str, status: int, location: str | None) -> ResponseReturnValue:
    response = current_app.response_class(text, status=status, mimetype="application/json")
    if location:
        response.headers["Location"] = location
    return response


def replay(row: IdempotencyKey, request_sha256: str) -> ResponseReturnValue:
    """The stored first result, or :class:`IdempotencyMismatch` for other data under the key."""
    if row.request_sha256 != request_sha256:
        raise IdempotencyMismatch()
    response = current_app.make_response(respond(row.response_body, row.status_code, row.location))
    response.headers["Idempotent-Replayed"] = "true"
    return response


def prune(session: DbSession, *, days: int, now: datetime | None = None) -> int:
    """Forget keys older than ``days`` (commits): a retry that late is a new filing."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
