"""Deadlines: the traffic light (pure) and the sweep that warns once and escalates once, on the
real database."""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from oficialia.db import db, utcnow
from oficialia.models import Filing, Role
from oficialia.tracking import public_view
from tests.factories import pdf_bytes
from workflows.calendar import WorkingCalendar
from workflows.deadlines import sweep_deadlines, traffic_light
from workflows.models import LogbookEntry, Notification, Routing

TZ = "America/Mexico_City"
ZONE = ZoneInfo(TZ)


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59, 999999), tzinfo=ZONE)


# Monday 1 June 2026, 10:00 local; no holiday in the fortnight
MONDAY = datetime(2026, 6, 1, 10, 0, tzinfo=ZONE)


@pytest.mark.parametrize(("now", "due", "light"), [
    (MONDAY, _end_of(date(2026, 6, 1)), "red"),          # due today
    (MONDAY, _end_of(date(2026, 6, 2)), "red"),          # next working day
    (MONDAY, _end_of(date(2026, 6, 3)), "yellow"),       # 2 working days
    (MONDAY, _end_of(date(2026, 6, 4)), "yellow"),       # 3
    (MONDAY, _end_of(date(2026, 6, 5)), "green"),        # 4
    (MONDAY, _end_of(date(2026, 6, 15)), "green"),
    (MONDAY, _end_of(date(2026, 5, 29)), "overdue"),
    (MONDAY, MONDAY - timedelta(seconds=1), "overdue"),
    (datetime(2026, 6, 6, 12, 0, tzinfo=ZONE), _end_of(date(2026, 6, 8)), "red"),  # Saturday, due Monday
    (datetime(2026, 6, 5, 9, 0, tzinfo=ZONE), _end_of(date(2026, 6, 10)), "yellow"),  # Fri -> Wed: Mon, Tue, Wed
    # Independence Day (Wednesday 16 September 2026) does not count
    (datetime(2026, 9, 14, 9, 0, tzinfo=ZONE), _end_of(date(2026, 9, 17)), "yellow"),
    (MONDAY, None, None),
])
def test_traffic_light(now, due, light):
    assert traffic_light(due, now, WorkingCalendar(), TZ) == light


# --- the sweep ----------------------------------------------------------------------------------


@pytest.fixture
def actors(demo, make_user, make_token):
    return {"clerk": make_token(make_user(Role.CLERK, department="OP")),
            "obras": make_token(make_user(Role.STAFF, department="OBRAS")),
            "ana": make_user(Role.STAFF, department="OBRAS", email="ana@obras.mx"),
            "auditor": make_user(Role.AUDITOR, department="CONTRA", email="auditora@contraloria.mx")}


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def act(client, token, folio, **body):
    response = client.post(f"/api/v1/filings/{folio}/actions", json=body, headers=auth(token))
    assert response.status_code == 200, response.json
    return response.json


def routed(client, actors, *, due_days=2, assign=True):
    response = client.post("/api/v1/filings", headers=auth(actors["clerk"]), content_type="multipart/form-data",
                           data={"subject": "Bache", "filer_name": "Ana", "filer_kind": "fisica",
                                 "procedure": "OBRAS-BACHEO", "files": [(io.BytesIO(pdf_bytes()), "a.pdf")]})
    folio = response.json["folio"]
    act(client, actors["clerk"], folio, action="route", department="OBRAS", due_days=due_days)
    act(client, actors["obras"], folio, action="accept")
    if assign:
        act(client, actors["obras"], folio, action="assign", user="ana@obras.mx")
    return folio


def sweep(app, now=None, warning_days=2):
    with app.app_context():
        return sweep_deadlines(db.session, now=now or utcnow(), warning_days=warning_days, tz=TZ,
                               audit_department="CONTRA")


def mails(app, kind):
    with app.app_context():
        return sorted(db.session.execute(sa.select(Notification.to_email).where(Notification.kind == kind)
                                         ).scalars().all())


def routing_due(app, folio):
    with app.app_context():
        return db.session.execute(sa.select(Routing.due_at).join(Filing, Filing.id == Routing.filing_id)
                                  .where(Filing.folio == folio)).scalar_one()


def test_warns_the_assignee_once(app, client, actors):
    routed(client, actors, due_days=2)
    routed(client, actors, due_days=30)  # far away: nothing yet
    first = sweep(app)
    assert (first.warned, first.escalated, first.notifications) == (1, 0, 1)
    assert mails(app, "deadline_warning") == ["ana@obras.mx"]
    again = sweep(app)
    assert (again.warned, again.escalated, again.notifications) == (0, 0, 0)
    assert mails(app, "deadline_warning") == ["ana@obras.mx"]


def test_without_an_assignee_the_head_is_warned(app, client, actors):
    routed(client, actors, due_days=1, assign=False)
    assert sweep(app).warned == 1
    assert mails(app, "deadline_warning") == ["titular.obras@demo.gob.mx"]


def test_escalates_once_to_the_head_and_the_audit_department(app, client, actors):
    folio = routed(client, actors, due_days=2)
    late = routing_due(app, folio) + timedelta(hours=1)
    first = sweep(app, now=late)
    assert (first.warned, first.escalated) == (0, 1)
    # the audit department's staff too (the demo's control.interno, who resolves protests)
    assert mails(app, "overdue") == ["auditora@contraloria.mx", "contraloria@demo.gob.mx",
                                     "control.interno@demo.gob.mx", "titular.obras@demo.gob.mx"]
    again = sweep(app, now=late + timedelta(days=3))
    assert (again.warned, again.escalated, again.notifications) == (0, 0, 0)
    with app.app_context():
        (entry,) = db.session.execute(sa.select(LogbookEntry).where(LogbookEntry.event == "escalated")
                                      ).scalars().all()
        assert entry.public is False and entry.department_id is not None
        routing = db.session.execute(sa.select(Routing)).scalar_one()
        assert routing.escalated_at == late
    # staff see it in the logbook; the filer's timeline does not show it
    assert "escalated" in [e["event"] for e in client.get(
        f"/api/v1/filings/{folio}", headers=auth(actors["obras"])).json["logbook"]]
    with app.app_context():
        filing = db.session.execute(sa.select(Filing).where(Filing.folio == folio)).scalar_one()
        assert "escalated" not in [t.event for t in public_view(db.session, filing).timeline]


def test_a_stopped_clock_is_not_watched_and_a_moved_deadline_is_watched_again(app, client, actors):
    folio = routed(client, actors, due_days=2)
    assert sweep(app).warned == 1
    act(client, actors["obras"], folio, action="request_info", note="Anexe el croquis")
    due = routing_due(app, folio)
    assert sweep(app, now=due + timedelta(hours=1)).escalated == 0  # waiting for the filer
    with app.app_context():  # the filer took nine days to answer
        filing = db.session.execute(sa.select(Filing).where(Filing.folio == folio)).scalar_one()
        filing.paused_at = utcnow() - timedelta(days=9)
        db.session.commit()
    act(client, actors["obras"], folio, action="resume")
    moved = routing_due(app, folio)
    assert moved > due
    assert sweep(app).warned == 0                                   # far again
    assert sweep(app, now=moved - timedelta(hours=2)).warned == 1   # near again: warned anew
    assert mails(app, "deadline_warning") == ["ana@obras.mx", "ana@obras.mx"]


def test_filings_left_in_the_mail_room_are_escalated_once(app, client, actors):
    response = client.post("/api/v1/filings", headers=auth(actors["clerk"]), content_type="multipart/form-data",
                           data={"subject": "Sin turnar", "filer_name": "Ana", "filer_kind": "fisica",
                                 "body": "Petición"})
    with app.app_context():
        due = db.session.execute(sa.select(Filing.due_at).where(Filing.folio == response.json["folio"])).scalar_one()
    late = due + timedelta(days=1)
    assert sweep(app, now=late).escalated == 1
    assert sweep(app, now=late + timedelta(days=1)).escalated == 0
    told = mails(app, "overdue")
    assert "contraloria@demo.gob.mx" in told and "oficialia@demo.gob.mx" in told


def test_cli_prints_the_counts(app, client, actors, runner):
    routed(client, actors, due_days=1)
    result = runner.invoke(args=["deadlines", "sweep"])
    assert result.exit_code == 0, result.output
    assert "Avisos de vencimiento: 1" in result.output and "escalamientos por plazo vencido: 0" in result.output
    assert "Avisos de vencimiento: 0" in runner.invoke(args=["deadlines", "sweep"]).output


def test_maintenance_runs_every_task_in_the_app_context(app, demo):
    """The worker's (and the embedded default's) periodic maintenance: OCR sweep, deadlines,
    pending e-mail and a logbook checkpoint, each in its own transaction."""
    import sqlalchemy as sa

    from oficialia.db import db
    from oficialia.worker import run_maintenance
    from workflows.logbook import append_entry
    from workflows.models import LogbookCheckpoint

    with app.app_context():
        append_entry(db.session, event="note", actor_label="prueba")
        db.session.commit()
        run_maintenance()
        checkpoints = db.session.execute(sa.select(LogbookCheckpoint)).scalars().all()
        assert [c.seq for c in checkpoints] == [1]
        run_maintenance()  # nothing new logged: no second checkpoint
        assert db.session.execute(sa.select(sa.func.count(LogbookCheckpoint.id))).scalar_one() == 1
