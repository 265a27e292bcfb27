"""Turns and appointments on the real database: booking on the working-day calendar, the race for
the last place, walk-in tickets, «call next», the turn screen, no-shows and waiting times."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from oficialia.db import db, utcnow
from oficialia.errors import Conflict
from oficialia.models import Role
from oficialia.turns import Turn, TurnCounter, TurnSettings, TurnStatus, book, expire_no_shows, free_places, open_desk
from workflows.models import Holiday
from workflows.routing import working_calendar

pytestmark = pytest.mark.db

TZ = "America/Mexico_City"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # slots all day long, so the tests can book (and call) today at any hour
    return app_config | {"TURN_OPENS": "00:00", "TURN_CLOSES": "23:59", "TURN_SLOT_MINUTES": 5,
                         "TURN_WEEKDAYS": "0,1,2,3,4,5,6"}


@pytest.fixture
def desk(app, demo) -> dict[str, Any]:
    """Obras Públicas gives appointments (capacity 3), every day of the week; today is not a rest day."""
    with app.app_context():
        today = utcnow().astimezone(ZoneInfo(TZ)).date()
        for holiday in db.session.execute(select(Holiday).where(Holiday.day == today)).scalars():
            db.session.delete(holiday)
        if working_calendar(db.session).holiday_name(today):
            db.session.add(Holiday(day=today, name="Se trabaja", working=True))
        open_desk(db.session, "OBRAS", 3)
        db.session.commit()
        settings = TurnSettings.from_config(app.config)
        from oficialia.turns import desk_for

        places = free_places(db.session, desk_for(db.session, "OBRAS"), today, settings, utcnow())
        return {"today": today, "slot": next(iter(places)), "slots": list(places), "settings": settings}


def test_racing_for_the_last_places_exactly_the_capacity_gets_them(app, desk):
    results: list[str] = []
    barrier = threading.Barrier(8)

    def run(n: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                book(db.session, department="OBRAS", day=desk["today"].isoformat(), slot=desk["slot"],
                     name=f"Persona {n}", email=None, calendar=working_calendar(db.session),
                     settings=desk["settings"])
                results.append("ok")
            except Conflict:
                results.append("full")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["full"] * 5 + ["ok"] * 3
    with app.app_context():
        assert len(db.session.execute(select(Turn)).all()) == 3
        counter = db.session.execute(select(TurnCounter).where(TurnCounter.slot == desk["slot"])).scalar_one()
        assert counter.value == 3
        numbers = sorted(db.session.execute(select(Turn.number)).scalars())
        assert numbers == [1, 2, 3]


def test_booking_on_the_web_gives_a_qr_ticket(app, client, desk):
    day = desk["today"].isoformat()
    page = client.get("/turnos/cita", query_string={"area": "OBRAS", "dia": day}).get_data(as_text=True)
    assert desk["slot"] in page and "3 lugares" in page
    response = client.post("/turnos/cita", data={"department": "OBRAS", "day": day, "slot": desk["slot"],
                                                 "name": "Ana Ruiz", "email": "ana@example.mx"})
    assert response.status_code == 302 and "/turnos/boleto/" in response.location
    ticket = client.get(response.location).get_data(as_text=True)
    assert "C-OBRAS-001" in ticket and "data:image/png;base64," in ticket and "En espera" in ticket
    # the confirmation e-mail carries the ticket's link; the reminder is written once
    with app.app_context():
        from oficialia.turns import send_reminders
        from workflows.models import Notification

        mail = db.session.execute(select(Notification).where(Notification.kind == "appointment_booked")).scalar_one()
        assert mail.to_email == "ana@example.mx" and "C-OBRAS-001" in mail.subject
        assert response.location.split("/turnos/")[1] in mail.body
        kwargs = {"institution": "Ayuntamiento", "office": "Oficialía"}
        assert send_reminders(db.session, desk["settings"], **kwargs) == 1
        assert send_reminders(db.session, desk["settings"], **kwargs) == 0
        reminder = db.session.execute(select(Notification).where(Notification.kind == "appointment_reminder")
                                      ).scalar_one()
        assert "Recordatorio de su cita: C-OBRAS-001" in reminder.subject
    # a wrong secret is a 404; a day that is not offered, a slot not in the list: clear messages
    assert client.get(response.location.rsplit("/", 1)[0] + "/otro").status_code == 404
    bad = client.post("/turnos/cita", data={"department": "OBRAS", "day": "2020-01-01", "slot": "09:00",
                                            "name": "X"}, follow_redirects=True)
    assert "Ese día no hay citas" in bad.get_data(as_text=True)
    bad = client.post("/turnos/cita", data={"department": "SP", "day": day, "slot": desk["slot"], "name": "X"},
                      follow_redirects=True)
    assert "no da citas" in bad.get_data(as_text=True)


def test_the_citizen_cancels_and_the_place_goes_back(app, client, desk):
    """GIVEN a booked appointment, WHEN its holder cancels it from the ticket page, THEN it is
    cancelled, its place is free again, and a second cancellation or a wrong secret changes nothing."""
    day = desk["today"].isoformat()
    later = sorted(desk["slots"])[-1]  # the last slot of the day: still ahead
    booked = client.post("/turnos/cita", data={"department": "OBRAS", "day": day, "slot": later, "name": "Ana Ruiz"})
    ticket = booked.location
    assert "Cancelar mi cita" in client.get(ticket).get_data(as_text=True)
    with app.app_context():
        from oficialia.turns import desk_for

        assert free_places(db.session, desk_for(db.session, "OBRAS"), desk["today"], desk["settings"],
                           utcnow())[later] == 2

    assert client.post(ticket.rsplit("/", 1)[0] + "/otro/cancelar").status_code == 404
    done = client.post(ticket + "/cancelar", follow_redirects=True).get_data(as_text=True)

    assert "Su cita quedó cancelada" in done and "Cancelado" in done and "Cancelar mi cita" not in done
    again = client.post(ticket + "/cancelar", follow_redirects=True).get_data(as_text=True)
    assert "ya fue cancelada" in again
    with app.app_context():
        from oficialia.turns import desk_for

        assert free_places(db.session, desk_for(db.session, "OBRAS"), desk["today"], desk["settings"],
                           utcnow())[later] == 3
        turn = db.session.execute(select(Turn)).scalar_one()
        assert turn.status is TurnStatus.CANCELLED and turn.closed_at is not None


def test_an_appointment_whose_time_came_cannot_be_cancelled(app, client, desk):
    booked = client.post("/turnos/cita", data={"department": "OBRAS", "day": desk["today"].isoformat(),
                                               "slot": desk["slot"], "name": "Ana Ruiz"})
    with app.app_context():
        turn = db.session.execute(select(Turn)).scalar_one()
        turn.slot_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    page = client.post(booked.location + "/cancelar", follow_redirects=True).get_data(as_text=True)
    assert "ya no puede cancelarse" in page and "En espera" in page


def test_staff_call_next_the_screen_shows_it_and_no_shows_expire(app, client, desk, make_user, login):
    staff = make_user(Role.STAFF, department="OBRAS")
    login(staff)
    client.post("/turnos/cita", data={"department": "OBRAS", "day": desk["today"].isoformat(),
                                      "slot": desk["slot"], "name": "Ana Ruiz"})
    ticket = client.post("/turnos/ventanilla", data={"department": "OBRAS", "name": "Luis"})
    assert ticket.status_code == 302
    # the appointment whose time has come goes first, then tickets in order
    client.post("/turnos/llamar", data={"window": "Ventanilla 2"})
    calls = client.get("/turnos/pantalla.json").json["calls"]
    assert calls == [{"code": "C-OBRAS-001", "window": "Ventanilla 2", "department": "Obras Públicas",
                      "current": True}]
    client.post("/turnos/llamar", data={"window": "Ventanilla 2"})
    calls = client.get("/turnos/pantalla.json").json["calls"]
    assert [c["code"] for c in calls] == ["T-OBRAS-002", "C-OBRAS-001"] and calls[0]["current"]
    assert "T-OBRAS-002" in client.get("/turnos/pantalla").get_data(as_text=True)
    with app.app_context():
        statuses = {t.number: t.status for t in db.session.execute(select(Turn)).scalars()}
        assert statuses == {1: TurnStatus.ATTENDED, 2: TurnStatus.CALLED}
        # nobody answers the call: past the grace time it expires
        later = utcnow() + timedelta(minutes=desk["settings"].no_show_minutes + 1)
        assert expire_no_shows(db.session, desk["settings"], later) == 1
        db.session.commit()
        assert db.session.execute(select(Turn.status).where(Turn.number == 2)).scalar_one() is TurnStatus.NO_SHOW
    assert client.post("/turnos/llamar", data={"window": "Ventanilla 2"}, follow_redirects=True).status_code == 200
    # waiting times and outcomes on the statistics dashboard
    login(make_user(Role.AUDITOR))
    dashboard = client.get("/estadisticas").get_data(as_text=True)
    assert 'id="turn-stats"' in dashboard and "Obras Públicas" in dashboard


def test_the_cli_opens_a_desk(runner, demo):
    result = runner.invoke(args=["turns", "open", "DU", "--capacity", "2"])
    assert result.exit_code == 0 and "Desarrollo Urbano: 2 cita(s)" in result.output
    assert runner.invoke(args=["turns", "open", "NOPE"]).exit_code != 0
    assert "Turnos vencidos: 0. Recordatorios: 0." in runner.invoke(args=["turns", "sweep"]).output


def test_booking_days_follow_the_working_day_calendar() -> None:
    from datetime import date, datetime, time

    from oficialia.turns import booking_days
    from workflows.calendar import WorkingCalendar

    settings = TurnSettings(tz=TZ, opens=time(9), closes=time(14), slot_minutes=30, booking_days=3,
                            no_show_minutes=15)
    friday = datetime(2026, 11, 13, 12, tzinfo=ZoneInfo(TZ))
    # the weekend and Monday 16 November (Revolution Day, third Monday) are skipped
    assert booking_days(WorkingCalendar(), settings, friday) == [date(2026, 11, 13), date(2026, 11, 17),
                                                                  date(2026, 11, 18)]
    closed = WorkingCalendar({date(2026, 11, 17): "Día del municipio"})
    assert booking_days(closed, settings, friday)[1] == date(2026, 11, 18)


def test_an_admin_opens_a_department_for_appointments(app, client, demo, make_user, login):
    login(make_user(Role.ADMIN))
    assert 'id="turn-desks"' in client.get("/turnos/atender").get_data(as_text=True)
    page = client.post("/turnos/areas", data={"department": "CAT", "capacity": "4"}, follow_redirects=True)
    assert "Catastro da citas: 4 por horario" in page.get_data(as_text=True)
    bad = client.post("/turnos/areas", data={"department": "CAT", "capacity": "0"}, follow_redirects=True)
    assert "entre 1 y 100" in bad.get_data(as_text=True)
    login(make_user(Role.STAFF, department="OBRAS"))
    assert client.post("/turnos/areas", data={"department": "CAT", "capacity": "4"}).status_code == 403



def test_the_api_offers_slots_and_books_until_full(app, client, desk):
    day = desk["today"].isoformat()
    listed = client.get("/api/v1/turns/slots", query_string={"department": "OBRAS", "day": day}).json
    assert listed["department"] == "OBRAS" and day in listed["days"] and listed["slots"][desk["slot"]] == 3
    body = {"department": "OBRAS", "day": day, "slot": desk["slot"], "name": "Ana", "email": "ana@example.mx"}
    codes = []
    for _ in range(3):
        made = client.post("/api/v1/turns/appointments", json=body)
        assert made.status_code == 201, made.json
        codes.append(made.json["code"])
    assert codes == ["C-OBRAS-001", "C-OBRAS-002", "C-OBRAS-003"]
    full = client.post("/api/v1/turns/appointments", json=body)
    assert full.status_code == 409 and "se llenó" in full.json["error"]["message"]
    assert desk["slot"] not in client.get("/api/v1/turns/slots",
                                          query_string={"department": "OBRAS", "day": day}).json["slots"]
    assert client.get("/api/v1/turns/slots", query_string={"department": "SP"}).status_code == 422
    assert client.post("/api/v1/turns/appointments", json={"department": "OBRAS"}).status_code == 422
    ticket = client.get(made.json["ticket_url"].replace("http://oficialia.test", ""))
    assert ticket.status_code == 200 and "C-OBRAS-003" in ticket.get_data(as_text=True)


@pytest.mark.postgres
def test_concurrent_http_requests_for_the_last_places(app, desk):
    """GIVEN the app served over HTTP WHEN 6 clients post the same slot (3 places) at once THEN
    exactly 3 get 201 and 3 get 409."""
    import json
    import urllib.error
    import urllib.request

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/api/v1/turns/appointments"
    body = json.dumps({"department": "OBRAS", "day": desk["today"].isoformat(), "slot": desk["slot"],
                       "name": "Persona"}).encode()
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def post() -> None:
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        barrier.wait()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own local server
                statuses.append(response.status)
        except urllib.error.HTTPError as e:
            statuses.append(e.code)
            e.close()

    try:
        clients = [threading.Thread(target=post) for _ in range(6)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert sorted(statuses) == [201, 201, 201, 409, 409, 409]
    with app.app_context():
        assert len(db.session.execute(select(Turn)).all()) == 3
