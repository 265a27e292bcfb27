"""The logbook (bitácora): an append-only table whose entries are chained by SHA-256.

Each entry stores the canonical JSON of what happened and ``hash = SHA-256(prev_hash + "\\n" +
canonical)``; :class:`LogbookHead` holds the last sequence number and hash. Appending locks the
head row, so concurrent writers are serialised and the chain has no forks.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Date, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from oficialia.db import UTCDateTime, db, str_enum

if TYPE_CHECKING:
    from oficialia.models import Department, User

GENESIS_HASH = "0" * 64


class LogbookEntry(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "logbook_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: position in the chain, from 1, without gaps
    seq: Mapped[int] = mapped_column(Integer, unique=True, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    filing_id: Mapped[int | None] = mapped_column(ForeignKey("filings.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: who acted, as text, so the entry reads the same if the user is renamed
    actor_label: Mapped[str] = mapped_column(String(200), nullable=False)
    #: what happened: "received", "routed", ...
    event: Mapped[str] = mapped_column(String(40), nullable=False)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    #: whether the filer sees this entry on the tracking page
    public: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: canonical JSON of the entry's content; this is what is hashed
    content: Mapped[str] = mapped_column(Text, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)


class LogbookHead(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "logbook_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, default=GENESIS_HASH)


class RoutingKind(StrEnum):
    #: the department must attend it (turno)
    TURN = "turno"
    #: for knowledge only: read access (copia para conocimiento)
    COPY = "copia"


class RoutingStatus(StrEnum):
    PENDING = "pending"        # sent, not yet accepted by the department
    ACCEPTED = "accepted"      # the department is attending it
    FORWARDED = "forwarded"    # passed on to another department
    RETURNED = "returned"      # not competent: back to the mail-room
    CLOSED = "closed"          # the filing was answered, concluded or rejected


#: routings whose department still holds the filing
ACTIVE_ROUTING = (RoutingStatus.PENDING, RoutingStatus.ACCEPTED)


class Routing(db.Model):  # type: ignore[name-defined,misc]
    """One department's turn (or copy) of a filing, with its instruction and deadline."""

    __tablename__ = "routings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("filings.id"), nullable=False, index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), nullable=False, index=True)
    kind: Mapped[RoutingKind] = mapped_column(str_enum(RoutingKind, 10), nullable=False)
    status: Mapped[RoutingStatus] = mapped_column(str_enum(RoutingStatus, 12), nullable=False,
                                                  default=RoutingStatus.PENDING, index=True)
    #: what the department is asked to do
    instruction: Mapped[str] = mapped_column(Text, nullable=False, default="")
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the routing this one was forwarded from
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("routings.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: when the deadline warning was sent, so it is sent once
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    department: Mapped[Department] = relationship(foreign_keys=[department_id])
    assigned_to: Mapped[User | None] = relationship(foreign_keys=[assigned_to_id])

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_ROUTING


class Holiday(db.Model):  # type: ignore[name-defined,misc]
    """A day that is not a working day beyond the official rest days (municipal holidays,
    office closures), or an official one declared a working day (``working=True``)."""

    __tablename__ = "holidays"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    #: True: an official rest day that this administration works anyway
    working: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class LogbookCheckpoint(db.Model):  # type: ignore[name-defined,misc]
    """A copy of the chain head taken periodically; a chain shorter than a checkpoint, or whose
    entry at the checkpoint's position has another hash, was truncated or rewritten."""

    __tablename__ = "logbook_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    #: RFC 3161 timestamp token (DER) over :func:`workflows.logbook.checkpoint_digest`, when a TSA
    #: is configured (``OFICIALIA_TSA_URL``): proof that the head existed at that time
    tsa_token: Mapped[bytes | None] = mapped_column(LargeBinary)


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Notification(db.Model):  # type: ignore[name-defined,misc]
    """An e-mail to a filer or an official, sent by a job (the outbox)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    filing_id: Mapped[int | None] = mapped_column(ForeignKey("filings.id"), index=True)
    to_email: Mapped[str] = mapped_column(String(254), nullable=False)
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: what it is about: "received", "routed", "info_requested", "deadline_warning", ...
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[NotificationStatus] = mapped_column(str_enum(NotificationStatus, 10), nullable=False,
                                                       default=NotificationStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class Message(db.Model):  # type: ignore[name-defined,misc]
    """A message in the thread between the filer and the department handling the filing."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("filings.id"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: the official who wrote it; None when the filer wrote it
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    author_label: Mapped[str] = mapped_column(String(200), nullable=False)
    from_filer: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    body: Mapped[str] = mapped_column(Text, nullable=False)


class FieldUpdate(db.Model):  # type: ignore[name-defined,misc]
    """Progress posted by a field crew (text, photos, materials, coordinates), shown to the filer."""

    __tablename__ = "field_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("filings.id"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    #: "salida", "llegada", "avance", "termino"
    stage: Mapped[str] = mapped_column(String(20), nullable=False, default="avance")
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    materials: Mapped[str] = mapped_column(Text, nullable=False, default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
