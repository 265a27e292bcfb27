"""``insert_loaded``: rows written in one statement come back as persistent objects that hold
exactly what the database holds, without reading anything back. Pooled PostgreSQL connections
that the server ended are replaced before a request uses them. A write batch sends its writes
with the commit, in one round trip."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import bindparam, event, func, insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from oficialia.db import db, defer, insert_loaded, utcnow, write_batch
from workflows.models import Notification, NotificationStatus


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def _row(email: str) -> dict[str, object]:
    return {"created_at": utcnow(), "to_email": email, "kind": "received", "subject": "Asunto", "body": "Texto\n"}


def test_objects_are_persistent_and_hold_what_was_written(app: Flask) -> None:
    with app.app_context():
        with counting_statements() as seen:
            [notice] = insert_loaded(db.session, Notification, [_row("ana@example.mx")])
            # every column is known: reading them issues nothing
            values = {c.key: getattr(notice, c.key) for c in Notification.__table__.columns}
        assert len([s for s in seen if s.lstrip().upper().startswith("INSERT")]) == 1
        assert not [s for s in seen if s.lstrip().upper().startswith("SELECT")]
        state = inspect(notice)
        assert state.persistent and not state.modified
        assert notice in db.session and not db.session.dirty
        # defaults the row left out are filled in on both sides
        assert values["attempts"] == 0 and values["status"] is NotificationStatus.PENDING
        assert values["filing_id"] is None and values["sent_at"] is None
        db.session.commit()
        db.session.expire_all()
        stored = db.session.get(Notification, notice.id)
        assert stored is not None
        assert {c.key: getattr(stored, c.key) for c in Notification.__table__.columns} == values


def test_many_rows_keep_their_order_and_nothing_for_none(app: Flask) -> None:
    with app.app_context():
        assert insert_loaded(db.session, Notification, []) == []
        emails = [f"persona{n}@example.mx" for n in range(5)]
        notices = insert_loaded(db.session, Notification, [_row(e) for e in emails])
        assert [n.to_email for n in notices] == emails
        db.session.commit()
        stored = {id_: email for id_, email in db.session.execute(select(Notification.id, Notification.to_email))}
        assert {n.id: n.to_email for n in notices} == stored


def test_pending_changes_are_flushed_first(app: Flask) -> None:
    with app.app_context():
        first = Notification(**_row("antes@example.mx"), status=NotificationStatus.PENDING, attempts=0)
        db.session.add(first)
        [after] = insert_loaded(db.session, Notification, [_row("despues@example.mx")])
        assert first.id is not None and first.id < after.id
        db.session.rollback()
        assert db.session.execute(select(Notification.id)).first() is None


@pytest.mark.postgres
def test_a_connection_the_server_ended_is_replaced_without_a_failed_request(app: Flask, client: FlaskClient,
                                                                            tmp_path: Path) -> None:
    """GIVEN pooled connections whose server sessions were ended (a restart, an administrator)
    THEN the next requests get new ones; and a live pooled connection is taken without a ping."""
    with app.app_context():
        assert db.engine.dialect.name == "postgresql"
        first = db.session.execute(select(func.pg_backend_pid())).scalar_one()
        pgconn = db.session.connection().connection.driver_connection.pgconn
        db.session.remove()
        with (tmp_path / "wire.txt").open("w") as wire:  # what goes over the wire, per libpq
            pgconn.trace(wire.fileno())
            again = db.session.execute(select(func.pg_backend_pid())).scalar_one()
            db.session.remove()
            pgconn.untrace()
        sent = [line for line in (tmp_path / "wire.txt").read_text().splitlines() if line.split("\t")[1] == "F"]
        assert again == first
        assert any("pg_backend_pid" in line for line in sent), sent
        assert not [line for line in sent if "SELECT 1" in line], sent  # taken from the pool without a ping
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        ended = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
    assert ended and all(ok for (ok,) in ended)
    time.sleep(0.2)  # the server's goodbye reaches the pooled sockets
    for _ in range(3):
        assert client.get("/api/v1/procedures").status_code == 200
    with app.app_context():
        assert db.session.execute(select(func.pg_backend_pid())).scalar_one() != first
        db.session.remove()


# --- write batches: writes sent with the commit ------------------------------------------------


def test_a_write_batch_exists_only_where_round_trips_cost(app: Flask) -> None:
    """On PostgreSQL the batch holds writes back; on SQLite (in the process) every write runs at
    once, and the same code serves both."""
    with app.app_context():
        with write_batch(db.session) as batch:
            assert (batch is not None) == (db.engine.dialect.name == "postgresql")
            if batch is not None:
                batch.reserve_ids({Notification: 1})
            [notice] = insert_loaded(db.session, Notification, [_row("ana@example.mx")])
            if batch is not None:
                batch.commit()
            else:
                db.session.commit()
        db.session.expire_all()
        assert db.session.get(Notification, notice.id) is not None


@pytest.mark.postgres
def test_queued_writes_and_the_commit_go_in_one_round_trip(app: Flask, tmp_path: Path) -> None:
    """GIVEN ids set aside before, WHEN rows are inserted in a batch THEN nothing is sent until the
    commit, and then the inserts and the COMMIT leave together, before any answer is awaited."""
    with app.app_context():
        with write_batch(db.session) as batch:
            assert batch is not None
            batch.reserve_ids({Notification: 3})
            pgconn = db.session.connection().connection.driver_connection.pgconn
            with counting_statements() as seen:
                notices = insert_loaded(db.session, Notification, [_row(f"p{n}@example.mx") for n in range(3)])
                defer(db.session, update(Notification.__table__).where(Notification.id == bindparam("nid"))
                      .values(subject=bindparam("new_subject")), {"nid": notices[0].id, "new_subject": "Otro"})
            assert seen == []  # nothing went to the server yet
            with (tmp_path / "wire.txt").open("w") as wire:
                pgconn.trace(wire.fileno())
                batch.commit()
                pgconn.untrace()
        lines = [line.split("\t") for line in (tmp_path / "wire.txt").read_text().splitlines()]
        first_answer = next(n for n, line in enumerate(lines) if line[1] == "B")
        sent = "\n".join("\t".join(line) for line in lines[:first_answer] if line[1] == "F")
        assert sent.count("INSERT INTO notifications") == 1 and "UPDATE notifications" in sent, sent
        assert "COMMIT" in sent, sent  # all sent before the first answer came back
        db.session.expire_all()
        stored = dict(db.session.execute(select(Notification.id, Notification.subject)).all())
        assert stored == {n.id: ("Otro" if n is notices[0] else "Asunto") for n in notices}


@pytest.mark.postgres
def test_a_statement_in_a_batch_sees_the_writes_queued_before_it(app: Flask) -> None:
    with app.app_context():
        with write_batch(db.session) as batch:
            assert batch is not None
            batch.reserve_ids({Notification: 2})
            insert_loaded(db.session, Notification, [_row("uno@example.mx"), _row("dos@example.mx")])
            assert db.session.execute(select(func.count(Notification.id))).scalar_one() == 2
            assert not batch.queued
            [third] = insert_loaded(db.session, Notification, [_row("tres@example.mx")])  # no id left: RETURNING
            batch.commit()
        assert db.session.execute(select(func.count(Notification.id))).scalar_one() == 3
        assert third.id is not None


@pytest.mark.postgres
def test_a_write_that_fails_in_a_batch_is_an_integrity_error_and_keeps_nothing(app: Flask) -> None:
    with app.app_context():
        [existing] = insert_loaded(db.session, Notification, [_row("antes@example.mx")])
        db.session.commit()
        with pytest.raises(IntegrityError), write_batch(db.session) as batch:
            assert batch is not None
            batch.reserve_ids({Notification: 1})
            insert_loaded(db.session, Notification, [_row("nuevo@example.mx")])
            defer(db.session, insert(Notification.__table__),
                  {"id": existing.id} | _row("repetido@example.mx") | {"status": "pending", "attempts": 0})
            batch.commit()
        db.session.rollback()
        assert db.session.execute(select(Notification.to_email)).scalars().all() == ["antes@example.mx"]


@pytest.mark.postgres
def test_ids_and_other_statements_share_one_round_trip(app: Flask) -> None:
    """The ids set aside and the rows of the statements sent with them come back together; a
    statement that cannot be sent that way (a bind its parameters do not name) is refused."""
    with app.app_context():
        with write_batch(db.session) as batch:
            assert batch is not None
            with counting_statements() as seen:
                [numbers, nothing] = batch.reserve_ids({Notification: 2}, together=[
                    (text("SELECT n FROM generate_series(1, :top) AS n"), {"top": 3}),
                    (text("SET LOCAL statement_timeout = 5000"), {})])
            assert seen == []  # on the driver's cursor, past the engine
            assert numbers == [(1,), (2,), (3,)] and nothing == []
            first, second = batch.take_ids(Notification.__table__, 2) or []
            assert second == first + 1 and batch.take_ids(Notification.__table__, 1) is None
            with pytest.raises(ValueError, match="one round trip"):
                batch.reserve_ids({}, together=[(update(Notification.__table__).values(attempts=1), {})])
        db.session.rollback()
