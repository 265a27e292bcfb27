"""``insert_loaded``: rows written in one statement come back as persistent objects that hold
exactly what the database holds, without reading anything back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event, inspect, select

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
