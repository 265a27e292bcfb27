"""Writing and verifying the hash-chained logbook.

Only this module writes :class:`LogbookEntry` rows. Each entry's ``content`` is canonical JSON
(sorted keys, no spaces, UTF-8) and ``hash = SHA-256(prev_hash + "\\n" + content)``, so changing,
removing or reordering any entry breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, insert, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from oficialia.db import DbSession, defer, utcnow

from .models import GENESIS_HASH, LogbookCheckpoint, LogbookEntry, LogbookHead

log = logging.getLogger(__name__)


def canonical_json(value: Any) -> str:
    """The one serialisation that is hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def chain_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


def _content(seq: int, at: datetime, event: str, filing_folio: str | None, actor_label: str,
             actor_id: int | None, department_id: int | None, public: bool,
             data: dict[str, Any]) -> str:
    return canonical_json({
        "seq": seq, "at": at.isoformat(), "event": event, "folio": filing_folio,
        "actor": actor_label, "actor_id": actor_id, "department_id": department_id,
        "public": public, "data": data,
    })


def ensure_head(session: DbSession) -> None:
    """Create the single head row if it is missing (fresh database)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(LogbookHead).values(id=1, seq=0, hash=GENESIS_HASH).on_conflict_do_nothing())


class ChainLink(NamedTuple):
    """Where an appended entry sits in the chain."""

    seq: int
    hash: str


def append_entry(session: DbSession, *, event: str, actor_label: str, actor_id: int | None = None,
                 filing_id: int | None = None, filing_folio: str | None = None,
                 department_id: int | None = None, public: bool = False,
                 data: dict[str, Any] | None = None, at: datetime | None = None,
                 head: tuple[int, str] | None = None) -> ChainLink:
    """Append one entry to the chain, in the caller's transaction (it flushes what is pending
    first, so the rows the entry names exist).

    Locks the head row until the caller commits, so entries are chained one after another. Two
    statements on PostgreSQL (three on SQLite), in Core: every filing and every action writes
    one, inside the transaction that holds the locks.

    :param head: the head as :data:`ADVANCE_HEAD` just returned it (seq, hash), for a caller that
        ran that statement together with others, in this transaction.
    """
    at = at or utcnow()
    session.flush()  # what the entry names is in the database first
    if head is None:
        row = session.execute(ADVANCE_HEAD).one_or_none()
        if row is None:
            ensure_head(session)
            row = session.execute(ADVANCE_HEAD).one()
        head = (int(row[0]), str(row[1]))
    seq, prev_hash = head
    content = _content(seq, at, event, filing_folio, actor_label, actor_id, department_id, public,
                       data or {})
    digest = chain_hash(prev_hash, content)
    values = {"seq": seq, "at": at, "filing_id": filing_id, "actor_id": actor_id, "actor_label": actor_label,
              "event": event, "department_id": department_id, "public": public, "content": content,
              "prev_hash": prev_hash, "hash": digest}
    if session.get_bind().dialect.name == "postgresql":
        defer(session, _PG_LINK, values | {"head_hash": digest})  # with the commit, in a write batch
    else:
        session.execute(_INSERT_ENTRY, values)
        session.execute(_SET_HEAD_HASH, {"head_hash": digest})
    return ChainLink(seq, digest)


_HEAD = LogbookHead.__table__
_ENTRIES = LogbookEntry.__table__
#: takes the head's lock and the next place in the chain: (seq, hash of the entry before)
ADVANCE_HEAD = (update(_HEAD).where(_HEAD.c.id == literal_column("1")).values(seq=_HEAD.c.seq + literal_column("1"))
                .returning(_HEAD.c.seq, _HEAD.c.hash))
_INSERT_ENTRY = insert(_ENTRIES)
_SET_HEAD_HASH = update(_HEAD).where(_HEAD.c.id == 1).values(hash=bindparam("head_hash"))
#: the entry and the head's new hash in one statement (a data-modifying CTE)
_PG_LINK = text(
    "WITH head AS (UPDATE logbook_head SET hash = :head_hash WHERE id = 1) "
    "INSERT INTO logbook_entries (seq, at, filing_id, actor_id, actor_label, event, department_id, public, "
    "content, prev_hash, hash) VALUES (:seq, :at, :filing_id, :actor_id, :actor_label, :event, :department_id, "
    ":public, :content, :prev_hash, :hash)",
).bindparams(bindparam("at", type_=_ENTRIES.c.at.type))


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    #: sequence number of the first entry that does not verify, or None
    first_bad: int | None
    reason: str | None = None


def verify_chain(session: DbSession, batch: int = 5000) -> ChainReport:
    """Recompute every hash in order and compare with the head.

    :returns: the first entry whose content, link or order does not match.
    """
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    last_seq = 0
    while True:
        rows = session.execute(
            select(LogbookEntry.seq, LogbookEntry.content, LogbookEntry.prev_hash, LogbookEntry.hash)
            .where(LogbookEntry.seq > last_seq).order_by(LogbookEntry.seq).limit(batch)).all()
        if not rows:
            break
        for seq, content, stored_prev, stored_hash in rows:
            count += 1
            if seq != expected_seq:
                return ChainReport(False, count, expected_seq, "missing entry")
            if stored_prev != prev_hash:
                return ChainReport(False, count, seq, "broken link to the previous entry")
            if json.loads(content).get("seq") != seq:
                return ChainReport(False, count, seq, "sequence number altered")
            if chain_hash(prev_hash, content) != stored_hash:
                return ChainReport(False, count, seq, "content altered")
            prev_hash = stored_hash
            expected_seq += 1
            last_seq = seq
    head = session.get(LogbookHead, 1)
    if head is not None and (head.seq != last_seq or head.hash != prev_hash):
        return ChainReport(False, count, last_seq + 1, "entries missing at the end of the chain")
    # Checkpoints are copies of the head taken earlier: a rewritten or truncated chain (head
    # included) no longer matches them.
    for checkpoint in session.execute(select(LogbookCheckpoint).order_by(LogbookCheckpoint.seq)).scalars():
        if checkpoint.seq > last_seq:
            return ChainReport(False, count, last_seq + 1, "chain shorter than a checkpoint: entries removed")
        stored = session.execute(select(LogbookEntry.hash).where(LogbookEntry.seq == checkpoint.seq)).scalar()
        if stored != checkpoint.hash:
            return ChainReport(False, count, checkpoint.seq, "entry differs from its checkpoint")
    return ChainReport(True, count, None)


def checkpoint_digest(seq: int, head_hash: str) -> bytes:
    """SHA-256 of what a checkpoint's timestamp token covers: its position and the head's hash."""
    return hashlib.sha256(canonical_json({"seq": seq, "hash": head_hash}).encode("utf-8")).digest()


def take_checkpoint(
    session: DbSession, *, timestamp: Callable[[bytes], bytes] | None = None
) -> LogbookCheckpoint | None:
    """Store a copy of the current head (only flushes); ``None`` if nothing new was logged.

    :param timestamp: returns an RFC 3161 token over a digest (``firma.timestamp_digest`` bound to
        the TSA); the token is stored with the checkpoint. A TSA that fails leaves the checkpoint
        without one (it is still a checkpoint), and the next one tries again.
    """
    head = session.get(LogbookHead, 1)
    if head is None or head.seq == 0:
        return None
    last = session.execute(select(LogbookCheckpoint).order_by(LogbookCheckpoint.seq.desc()).limit(1)).scalar()
    if last is not None and last.seq == head.seq:
        return None
    checkpoint = LogbookCheckpoint(at=utcnow(), seq=head.seq, hash=head.hash)
    if timestamp is not None:
        from firma import FirmaError

        try:
            checkpoint.tsa_token = timestamp(checkpoint_digest(head.seq, head.hash))
        except FirmaError as e:
            log.warning("logbook checkpoint %s without a timestamp: %s", head.seq, e.message)
    session.add(checkpoint)
    session.flush()
    return checkpoint
