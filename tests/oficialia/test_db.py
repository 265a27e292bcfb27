"""``insert_loaded``: rows written in one statement come back as persistent objects that hold
exactly what the database holds, without reading anything back. Pooled PostgreSQL connections
that the server ended are replaced before a request uses them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, inspect, select

from oficialia.db import db, insert_loaded, utcnow
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
