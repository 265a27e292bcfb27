"""Reference data that every filing reads, kept per process for a few seconds.

The procedure catalogue, the departments, the working calendar and the webhook subscriptions
change a few times a year, while every intake reads them: four of its statements. Each process
keeps what it read for ``REFERENCE_CACHE_SECONDS`` (default 5):

- a commit through this process's sessions that writes one of these tables drops everything at
  once, so an admin's own process never serves the old catalogue;
- another process (another gunicorn worker, the CLI) sees the change within that time;
- a code that is not found is never kept: a procedure or department created elsewhere is found
  on its first use.

Entries belong to one engine (one database). Objects handed out are the caller's session's
own: a kept ORM object is a detached copy, merged into the session without a statement.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from itertools import chain
from typing import Any, TypeVar

from flask import current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from .db import DbSession

T = TypeVar("T")
M = TypeVar("M")

#: the tables whose rows are kept here
TABLES = frozenset({"procedures", "departments", "holidays", "webhook_subscriptions"})
_WRITTEN = "reference_written"


@dataclass(frozen=True)
class _Entry:
    value: Any
    loaded_at: float
    generation: int


class _EngineCache:
    __slots__ = ("entries", "generation", "__weakref__")

    def __init__(self) -> None:
        self.entries: dict[Hashable, _Entry] = {}
        #: bumped by every commit that wrote a reference table: older entries are stale
        self.generation = 0


_caches: weakref.WeakKeyDictionary[Engine, _EngineCache] = weakref.WeakKeyDictionary()


def _cache(session: DbSession | Session) -> _EngineCache:
    engine = session.get_bind().engine
    cache = _caches.get(engine)
    if cache is None:
        cache = _caches.setdefault(engine, _EngineCache())
    return cache


def _ttl() -> float:
    return float(current_app.config["REFERENCE_CACHE_SECONDS"]) if has_app_context() else 0.0


def cached(session: DbSession, key: Hashable, load: Callable[[], T]) -> T:
    """``load()``'s value, kept under ``key``; ``None`` (not found) is never kept."""
    ttl = _ttl()
    if ttl <= 0:
        return load()
    cache = _cache(session)
    generation, now = cache.generation, time.monotonic()
    entry = cache.entries.get(key)
    if entry is not None and entry.generation == generation and now - entry.loaded_at < ttl:
        value: T = entry.value
        return value
    loaded = load()
    # a commit of new reference data during the load: what was read may predate it
    if loaded is not None and cache.generation == generation:
        cache.entries[key] = _Entry(loaded, now, generation)
    return loaded


def detached_copy(obj: M, **loaded: Any) -> M:
    """A detached copy of ``obj``'s columns (plus ``loaded`` relationships), safe to keep and
    to share between threads: it is only ever read, and :func:`attach` merges a copy of it."""
    mapper = inspect(obj).mapper
    copy = mapper.class_manager.new_instance()
    for attr in mapper.column_attrs:
        set_committed_value(copy, attr.key, getattr(obj, attr.key))
    for key, value in loaded.items():
        set_committed_value(copy, key, value)
    make_transient_to_detached(copy)
    return copy  # type: ignore[no-any-return]


def attach(session: DbSession, kept: M) -> M:
    """The session's own instance of a kept copy: the one it already holds, else a merged copy
    (``load=False``: no statement)."""
    identity = inspect(kept).key
    present = session.identity_map.get(identity) if identity is not None else None
    if present is not None:
        return present  # type: ignore[no-any-return]
    return session.merge(kept, load=False)


def cached_object(session: DbSession, key: Hashable, load: Callable[[], M | None],
                  copy: Callable[[M], M] = detached_copy) -> M | None:
    """An ORM object kept as a detached copy and attached to ``session``; ``None`` if not found."""
    def load_copy() -> M | None:
        found = load()
        return copy(found) if found is not None else None

    kept = cached(session, key, load_copy)
    return attach(session, kept) if kept is not None else None


def invalidate(session: DbSession | Session) -> None:
    """Drop everything this process keeps for ``session``'s database."""
    cache = _cache(session)
    cache.generation += 1
    cache.entries = {}


# --- what drops the kept data --------------------------------------------------------------


def _writes_reference(objects: Any) -> bool:
    return any(getattr(getattr(type(o), "__table__", None), "name", None) in TABLES for o in objects)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    if _writes_reference(chain(session.new, session.dirty, session.deleted)):
        session.info[_WRITTEN] = True


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in TABLES:
            state.session.info[_WRITTEN] = True


@event.listens_for(Session, "after_transaction_end")
def _after_end(session: Session, transaction: SessionTransaction) -> None:
    # after a commit; and after a rollback or a close too: a load in that transaction may have
    # read its own uncommitted rows
    if transaction.parent is None and session.info.pop(_WRITTEN, False):
        invalidate(session)
