"""The reference data each process keeps (catalogue, calendar, webhook subscriptions): intake
stops reading it on every filing, a change made through this process shows at once, one made
elsewhere within ``REFERENCE_CACHE_SECONDS``, and a code not found is never kept."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from oficialia import reference
from oficialia.db import db
from oficialia.models import Department, Filing, Procedure, Role
from oficialia.webhooks import WebhookDelivery, create_subscription
from tests.factories import pdf_bytes
from workflows.models import Holiday

WATCHED = ("procedures", "departments", "holidays", "webhook_subscriptions")


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return app_config | {"REFERENCE_CACHE_SECONDS": 60}


@pytest.fixture
def token(demo: None, make_user: Any, make_token: Any) -> str:
    return str(make_token(make_user(Role.CLERK, department="OP")))


def _post(client: FlaskClient, token: str, **fields: str) -> Any:
    data: dict[str, Any] = {"subject": "Alumbrado", "filer_name": "Ana López", "filer_kind": "fisica",
                            "procedure": "SP-ALUMB", "files": [(io.BytesIO(pdf_bytes()), "escrito.pdf")]} | fields
    return client.post("/api/v1/filings", data=data, headers={"Authorization": f"Bearer {token}"},
                       content_type="multipart/form-data")


@contextmanager
def reads_of_reference(app: Flask) -> Iterator[list[str]]:
    """The SELECTs on the kept tables that the app issues meanwhile."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        head = statement.lstrip().upper()
        if head.startswith("SELECT") and any(f"FROM {t.upper()}" in head for t in WATCHED):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _elsewhere(app: Flask, sql: str, **params: Any) -> None:
    """A change made by another process: a statement on a connection of its own, not a session."""
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _due(app: Flask, folio: str) -> date:
    """The filing's last day to answer, in local time."""
    with app.app_context():
        due = db.session.execute(sa.select(Filing.due_at).where(Filing.folio == folio)).scalar_one()
        assert due is not None
        return due.astimezone(ZoneInfo(app.config["TIMEZONE"])).date()


def test_intake_reads_the_catalogue_calendar_and_subscriptions_once(app, client, token):
    assert _post(client, token).status_code == 201
    with reads_of_reference(app) as reads:
        for _ in range(3):
            assert _post(client, token, department="OBRAS").status_code == 201
    # the department named in the form is read the first time only
    assert len(reads) == 1 and "DEPARTMENTS" in reads[0].upper()
    with reads_of_reference(app) as reads:
        assert _post(client, token, department="OBRAS").status_code == 201
    assert reads == []


def test_kept_objects_are_the_sessions_own(app, demo):
    """What intake gets is an ordinary persistent object of its session, with its department,
    whatever other sessions and threads got before."""
    def load(session: Any) -> Procedure | None:
        return reference.cached_object(
            session, ("procedure", "SP-ALUMB"),
            lambda: session.execute(sa.select(Procedure).where(Procedure.code == "SP-ALUMB")).scalar_one(),
            lambda p: reference.detached_copy(p, department=reference.detached_copy(p.department)))

    with app.app_context():
        first = load(db.session)
        db.session.remove()
        second = load(db.session)
        assert second is not None and first is not second
        assert sa.inspect(second).persistent and second in db.session and not db.session.dirty
        assert second.department.code == "SP" and second.department in db.session
        # already in the session: that instance, untouched
        assert load(db.session) is second
        db.session.remove()


def test_a_change_through_this_process_shows_at_once(app, client, token):
    assert _post(client, token).status_code == 201
    with app.app_context():
        db.session.execute(sa.select(Procedure).where(Procedure.code == "SP-ALUMB")).scalar_one().active = False
        db.session.commit()
    refused = _post(client, token)
    assert refused.status_code == 422 and "SP-ALUMB" in refused.json["error"]["message"]

    first = _post(client, token, procedure="").json["folio"]
    with app.app_context():
        due = _due(app, first)
        db.session.add(Holiday(day=due, name="Día del servidor público"))
        db.session.commit()
    second = _post(client, token, procedure="").json["folio"]
    assert _due(app, second) > due


def test_a_subscription_created_here_gets_the_next_filing(app, client, token):
    assert _post(client, token).status_code == 201  # nobody subscribed yet: kept as such
    with app.app_context():
        create_subscription(db.session, url="https://integrador.example.mx/avisos", events=["filing.received"])
        db.session.commit()
    folio = _post(client, token).json["folio"]
    with app.app_context():
        payloads = db.session.execute(sa.select(WebhookDelivery.payload)).scalars().all()
    assert len(payloads) == 1 and folio in payloads[0]


def test_a_change_elsewhere_shows_within_the_time_kept(app, client, token):
    app.config["REFERENCE_CACHE_SECONDS"] = 0.5
    assert _post(client, token).status_code == 201
    _elsewhere(app, "UPDATE procedures SET active = :no WHERE code = 'SP-ALUMB'", no=False)
    time.sleep(0.6)
    assert _post(client, token).status_code == 422


def test_a_code_not_found_is_never_kept(app, client, token):
    assert _post(client, token, procedure="SP-NUEVO").status_code == 422
    with app.app_context():
        department_id = db.session.execute(sa.select(Department.id).where(Department.code == "SP")).scalar_one()
        db.session.execute(sa.insert(Procedure).values(
            code="SP-NUEVO", name="Trámite recién creado", department_id=department_id, response_days=3))
        db.session.commit()
    assert _post(client, token, procedure="SP-NUEVO").status_code == 201


def test_a_rolled_back_write_drops_what_its_transaction_read(app, demo):
    with app.app_context():
        def calendar() -> Any:
            return reference.cached(db.session, "calendar", lambda: {
                h.day for h in db.session.execute(sa.select(Holiday)).scalars()})

        day = date.today() + timedelta(days=30)
        db.session.add(Holiday(day=day, name="Nunca declarado"))
        db.session.flush()
        assert day in calendar()  # read inside the transaction that wrote it
        db.session.rollback()
        assert day not in calendar()
        db.session.remove()


def test_zero_seconds_keeps_nothing(app, client, token):
    app.config["REFERENCE_CACHE_SECONDS"] = 0
    assert _post(client, token).status_code == 201
    with reads_of_reference(app) as reads:
        assert _post(client, token).status_code == 201
    assert len(reads) == 3  # the procedure, the holidays, the subscriptions
