"""The shared database handle and declarative base. Imports nothing of ours."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeAlias, TypeVar

import psycopg
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Connection, DateTime, Engine, Enum, Executable, Insert, MetaData, Table, event, insert, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
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
    batch = open_batch(session)
    ids = batch.take_ids(table, len(full)) if batch is not None else None
    if batch is not None and ids is not None:  # ids set aside: the insert goes with the commit
        batch.defer(_plain_insert(table), [{"id": pk} | values for pk, values in zip(ids, full, strict=True)])
    else:
        ids = list(session.connection().execute(_returning_id(table), full).scalars())
    objects = []
    for pk, values in zip(ids, full, strict=True):
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
def _plain_insert(table: Table) -> Insert:
    return insert(table)


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


# --- writes sent with the commit -----------------------------------------------------------------


class WriteBatch:
    """Writes held back until the commit and sent with it in one round trip (PostgreSQL's
    pipeline mode): for a transaction that holds a hot lock (the folio counter, the logbook's
    head), whose every round trip between the lock and the commit makes every other one wait.

    Open with :func:`write_batch`. Inside it, :func:`defer` and :func:`insert_loaded` (for a
    table with ids set aside by :meth:`reserve_ids`) queue their statements; any other statement
    on the connection sends the queue first, so it sees what came before it.
    """

    def __init__(self, session: DbSession) -> None:
        self.session = session
        self.queued: list[tuple[Executable, Any]] = []
        self.sending = False
        self._ids: dict[str, list[int]] = {}

    def reserve_ids(self, counts: Mapping[type[Any], int],
                    together: Sequence[tuple[Executable, Mapping[str, Any]]] = ()) -> list[list[tuple[Any, ...]]]:
        """Set ids aside for rows of these models, so their inserts need no ``RETURNING`` (an id
        taken and not used is a gap, as after a rollback).

        :param together: statements to run in the same round trip, after the reservation (such
            as the ones that take the transaction's hot locks); each must name every bind in its
            parameters, and its rows come back as plain tuples, without the types' conversions.
        :returns: the rows of each statement of ``together``.
        """
        if self.queued:
            raise RuntimeError("reserve ids before queuing writes")
        wanted = {model.__table__.name: n for model, n in counts.items() if n > 0}
        statements = list(together)
        if wanted:
            statements.insert(0, (_reserve_statement(tuple(wanted)),
                                  {f"n{i}": n for i, n in enumerate(wanted.values())}))
        connection = self.session.connection()
        for statement, params in statements:
            if _precompiled(connection.dialect, statement, params) is None:
                raise ValueError(f"cannot run in one round trip: {statement}")
        cursors = _pipeline(connection, statements)
        rows = [cursor.fetchall() if cursor is not None and cursor.description is not None else []
                for cursor in cursors]
        if wanted:
            for name, pk in rows.pop(0):
                self._ids.setdefault(name, []).append(int(pk))
        return rows

    def take_ids(self, table: Table, count: int) -> list[int] | None:
        """``count`` ids set aside for ``table``, or None if fewer are left."""
        ids = self._ids.get(table.name, [])
        if len(ids) < count:
            return None
        taken, self._ids[table.name] = ids[:count], ids[count:]
        return taken

    def defer(self, statement: Executable, params: Any = None) -> None:
        self.queued.append((statement, params))

    def send(self, connection: Connection, *, commit: bool = False) -> None:
        """Run what is queued now, pipelined; with ``commit``, the COMMIT goes in the same round
        trip (the session's own commit then finds nothing left to do on the connection)."""
        queued, self.queued = self.queued, []
        if not queued and not commit:
            return
        self.sending = True
        try:
            _pipeline(connection, queued, commit=commit)
        finally:
            self.sending = False

    def commit(self) -> None:
        """Send what is queued and the commit together; the session's objects are kept, as
        :func:`commit_keeping_state` keeps them."""
        self.send(self.session.connection(), commit=True)
        commit_keeping_state(self.session)


def _pipeline(connection: Connection, statements: Sequence[tuple[Executable, Any]], *,
              commit: bool = False) -> list[psycopg.Cursor[Any] | None]:
    """Run ``statements`` (then the COMMIT, with ``commit``) in one psycopg pipeline: one round
    trip. A statement precompiles to a cursor of its own, whose rows can be read afterwards; any
    other runs through the engine (its rows are not kept). Errors come back as SQLAlchemy's.
    """
    driver: psycopg.Connection[Any] = connection.connection.driver_connection  # type: ignore[assignment]
    cursors: list[psycopg.Cursor[Any] | None] = []
    try:
        with driver.pipeline():
            for statement, params in statements:
                raw = _precompiled(connection.dialect, statement, params)
                if raw is None:
                    connection.execute(statement, params)
                    cursors.append(None)
                else:
                    cursor = driver.cursor()
                    raw.run(cursor, params)
                    cursors.append(cursor)
            if commit:
                driver.commit()
    except psycopg.Error as e:  # raised by the pipeline's sync, past SQLAlchemy's wrapping
        failed, params = (str(statements[-1][0]), statements[-1][1]) if statements else ("COMMIT", None)
        raise DBAPIError.instance(failed, params, e, psycopg.Error) from e
    return cursors


@contextlib.contextmanager
def write_batch(session: DbSession) -> Iterator[WriteBatch | None]:
    """Hold this transaction's writes back until :meth:`WriteBatch.commit`, on PostgreSQL; elsewhere
    (SQLite, in the process: no round trips to save) yields None and every write runs at once."""
    if session.get_bind().dialect.name != "postgresql" or open_batch(session) is not None:
        yield None
        return
    batch = WriteBatch(session)
    connection = session.connection()
    info = connection.info  # the pooled connection's: still there once the commit releases it
    session.info["write_batch"] = info["write_batch"] = batch
    try:
        yield batch
        if batch.queued:  # left without a commit: the writes still belong to the transaction
            batch.send(connection)
    finally:
        session.info.pop("write_batch", None)
        info.pop("write_batch", None)


def open_batch(session: DbSession) -> WriteBatch | None:
    batch: WriteBatch | None = session.info.get("write_batch")
    return batch


def defer(session: DbSession, statement: Executable, params: Any = None) -> None:
    """Run a write that returns nothing: with the commit if a :class:`WriteBatch` is open, else now."""
    batch = open_batch(session)
    if batch is not None:
        batch.defer(statement, params)
    else:
        session.execute(statement, params)


@event.listens_for(Engine, "before_cursor_execute")
def _send_queued_first(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any,
                       executemany: bool) -> None:
    """Whatever runs while writes are queued runs after them, as it would have without the batch."""
    batch: WriteBatch | None = conn.info.get("write_batch")
    if batch is not None and batch.queued and not batch.sending:
        batch.send(conn)


@functools.cache
def _reserve_statement(tables: tuple[str, ...]) -> Any:
    return text(" UNION ALL ".join(
        f"SELECT '{name}', nextval(pg_get_serial_sequence('{name}', 'id')) FROM generate_series(1, :n{i})"  # noqa: S608
        for i, name in enumerate(tables)))


@dataclass(frozen=True)
class _Precompiled:
    """A queued write as psycopg runs it: SQLAlchemy compiles it once (its SQL and its types'
    conversions), and each run is one ``execute`` on the driver's cursor, without the engine's
    per-statement work (cache keys, parameter construction, result set-up) for statements
    whose result nobody reads."""

    sql: str
    binds: tuple[tuple[str, Callable[[Any], Any] | None], ...]

    def run(self, cursor: psycopg.Cursor[Any], params: Any) -> None:
        if isinstance(params, list):
            cursor.executemany(self.sql, [self._values(p) for p in params])
        else:
            cursor.execute(self.sql, self._values(params or {}))

    def _values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {name: convert(params[name]) if convert is not None else params[name] for name, convert in self.binds}


_PRECOMPILED: dict[tuple[Executable, tuple[str, ...]], _Precompiled | None] = {}
_PRECOMPILED_MAX = 256


def _precompiled(dialect: Dialect, statement: Executable, params: Any) -> _Precompiled | None:
    """The statement precompiled for these parameter names, or None where only the engine can run
    it (a bind the parameters do not name, such as a literal or a default computed per row)."""
    first = params[0] if isinstance(params, list) else params or {}
    key = (statement, tuple(first))
    if key not in _PRECOMPILED:
        if len(_PRECOMPILED) >= _PRECOMPILED_MAX:  # statements built per call would pile up
            _PRECOMPILED.clear()
        compiled = statement.compile(dialect=dialect, column_keys=list(first)) if isinstance(statement, Insert) \
            else statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        names = set(compiled.binds)
        usable = names <= set(first) and not compiled.positiontup and not compiled.escaped_bind_names
        _PRECOMPILED[key] = _Precompiled(compiled.string, tuple(
            (name, bind.type.bind_processor(dialect)) for name, bind in compiled.binds.items())) if usable else None
    return _PRECOMPILED[key]
