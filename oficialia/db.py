"""The shared database handle and declarative base. Imports nothing of ours."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeAlias, TypeVar

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Enum, Insert, MetaData, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached, scoped_session
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so migrations are the same on PostgreSQL and SQLite.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

#: what services take: a plain Session, or Flask-SQLAlchemy's request-scoped one
DbSession: TypeAlias = Session | scoped_session[Any]


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC timestamp on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


def str_enum(cls: type[StrEnum], length: int = 20) -> Enum:
    """Store a StrEnum by its value, as a plain string column (readable rows, no native type)."""
    return Enum(cls, native_enum=False, create_constraint=False, length=length,
                values_callable=lambda e: [m.value for m in e])


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def commit_keeping_state(session: DbSession) -> None:
    """Commit without expiring the session's objects: what was just written is known, so
    reading it again after the commit (one more transaction, one query per object) would only
    cost time. For hot paths whose objects are used right after their commit."""
    real: Session = session() if isinstance(session, scoped_session) else session
    expire = real.expire_on_commit
    real.expire_on_commit = False
    try:
        real.commit()
    finally:
        real.expire_on_commit = expire


ModelT = TypeVar("ModelT", bound=Base)
#: how a missing column is filled in: its default's value, a callable's result, or left out
_Filler: TypeAlias = tuple[str, Any, bool]


def insert_loaded(session: DbSession, model: type[ModelT], rows: Sequence[Mapping[str, Any]]) -> list[ModelT]:
    """Insert ``rows`` of ``model`` in one statement and give them back as persistent objects.

    For hot paths: the statement is built once per table and runs on the session's connection
    (``INSERT … RETURNING id``) after what is pending is flushed, with nothing read back and no
    unit of work for the new rows. Every column a row leaves out takes its Python-side default,
    or NULL, in the database and on the object alike, so the objects hold exactly what was
    written (a column with only a server default is left to the server and loaded on first
    use). Relationships are not loaded.
    """
    if not rows:
        return []
    table: Table = model.__table__  # type: ignore[assignment]
    fillers = [f for f in _fillers(table) if f[0] in rows[0] or f[1] is not _SERVER]
    full = [{key: row[key] if key in row else (value(None) if call else value) for key, value, call in fillers}
            for row in rows]
    session.flush()  # what the rows refer to is in the database first, as an ORM insert would
    result = session.connection().execute(_returning_id(table), full)
    objects = []
    for pk, values in zip(result.scalars(), full, strict=True):
        obj = model(id=pk, **values)
        make_transient_to_detached(obj)  # as if loaded: every attribute set, no pending change
        session.add(obj)
        objects.append(obj)
    return objects


_SERVER = object()


@functools.cache
def _returning_id(table: Table) -> Insert:
    return insert(table).returning(table.c.id, sort_by_parameter_order=True)


@functools.cache
def _fillers(table: Table) -> tuple[_Filler, ...]:
    fillers: list[_Filler] = []
    for column in table.columns:
        if column.primary_key:
            continue
        default: Any = column.default
        if default is not None:
            fillers.append((column.key, default.arg, bool(default.is_callable)))
        else:
            fillers.append((column.key, _SERVER if column.server_default is not None else None, False))
    return tuple(fillers)
