"""The logbook (bitácora): an append-only table whose entries are chained by SHA-256.

Each entry stores the canonical JSON of what happened and ``hash = SHA-256(prev_hash + "\\n" +
canonical)``; :class:`LogbookHead` holds the last sequence number and hash. Appending locks the
head row, so concurrent writers are serialised and the chain has no forks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from oficialia.db import UTCDateTime, db

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
