"""The workflow's web pages through the test client, on the real database: the department inbox
and its traffic lights, actions from the filing page's forms, permissions, the admin calendar of
rest days and the auditor's logbook."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from oficialia.db import db, utcnow
from oficialia.models import Filing, Role
from tests.factories import pdf_bytes
from workflows.deadlines import traffic_light
from workflows.models import Holiday, LogbookEntry, Routing, RoutingKind
from workflows.routing import working_calendar
from workflows.views import LIGHTS, light_condition

TZ = "America/Mexico_City"
ROW_RE = re.compile(r'data-folio="([^"]+)" data-light="([^"]*)"')


@pytest.fixture
def people(demo, make_user, make_token):
    clerk = make_user(Role.CLERK, department="OP", name="Laura Méndez")
    return {
        "clerk": clerk, "clerk_token": make_token(clerk),
        "obras": make_user(Role.STAFF, department="OBRAS", email="jorge@obras.mx", name="Jorge Ramírez"),
        "obras2": make_user(Role.STAFF, department="OBRAS", email="ana@obras.mx", name="Ana Torres"),
        "du": make_user(Role.STAFF, department="DU", email="paty@du.mx", name="Patricia Núñez"),
        "sp": make_user(Role.STAFF, department="SP", email="sp@sp.mx"),
        "auditor": make_user(Role.AUDITOR, department="CONTRA", name="Elena Ortiz"),
        "admin": make_user(Role.ADMIN, name="Administración"),
        "citizen": make_user(Role.CITIZEN),
    }


def _file(client, token, subject="Bache en la calle Hidalgo", body="Solicito su reparación."):
    response = client.post("/api/v1/filings", headers={"Authorization": f"Bearer {token}"},
                           content_type="multipart/form-data",
                           data={"subject": subject, "body": body, "filer_name": "Ana", "filer_kind": "fisica",
                                 "filer_email": "ana@example.mx", "procedure": "OBRAS-BACHEO",
                                 "files": [(io.BytesIO(pdf_bytes()), "a.pdf")]})
    assert response.status_code == 201, response.json
    return response.json["folio"], response.json["tracking_code"]


def _as(client, login, user):
    client.post("/salir")
    login(user)


def _act(client, folio, **form):
    return client.post(f"/expedientes/{folio}/acciones", data=form)


def _route(client, folio, *departments, due_days=""):
    return _act(client, folio, action="route", route_department=list(departments),
                route_note=["Atender"] * len(departments), route_due_days=[str(due_days)] * len(departments))


def _rows(page: str) -> list[tuple[str, str]]:
    return ROW_RE.findall(page)


def _set_due(app, folio, department, due_at):
    with app.app_context():
        filing_id = db.session.execute(sa.select(Filing.id).where(Filing.folio == folio)).scalar_one()
        routing = db.session.execute(sa.select(Routing).join(Routing.department).where(
            Routing.filing_id == filing_id, Routing.kind == RoutingKind.TURN,
            Routing.department.has(code=department))).scalars().one()
        routing.due_at = due_at
        db.session.commit()


def _local_day_end(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59, 999999), tzinfo=ZoneInfo(TZ)).astimezone(UTC)


def test_inbox_lists_only_the_departments_active_turns_with_their_lights(app, client, login, people):
    """GIVEN filings routed to Obras Públicas with deadlines in each band, one forwarded away,
    one routed elsewhere and one only copied to Obras
    WHEN Obras staff open «Bandeja del área»
    THEN they see exactly their active turns, due date first, each with the right light; the
    filters and the search narrow it; the copy is in its own tab."""
    token = people["clerk_token"]
    overdue, red, yellow, green, away, elsewhere = (
        _file(client, token, subject=s)[0] for s in
        ("Bache vencido", "Bache urgente", "Banqueta levantada frente al mercado", "Bache en tiempo",
         "Uso de suelo", "Luminaria apagada"))
    _as(client, login, people["clerk"])
    for folio in (overdue, red, yellow, green, away):
        assert _route(client, folio, "OBRAS").status_code == 302
    assert _route(client, elsewhere, "SP").status_code == 302
    assert _act(client, elsewhere, action="copy", department="OBRAS", note="Para su conocimiento").status_code == 302

    with app.app_context():
        now, calendar = utcnow(), working_calendar(db.session)
    _set_due(app, overdue, "OBRAS", now - timedelta(hours=1))
    _set_due(app, red, "OBRAS", _local_day_end(now.astimezone(ZoneInfo(TZ)).date()))
    _set_due(app, yellow, "OBRAS", calendar.add_working_days(now, 3, TZ))
    _set_due(app, green, "OBRAS", calendar.add_working_days(now, 10, TZ))

    _as(client, login, people["obras"])
    assert _act(client, away, action="accept").status_code == 302
    assert _act(client, away, action="forward", department="DU", note="Es de uso de suelo").status_code == 302

    page = client.get("/area").get_data(as_text=True)
    assert "Obras Públicas" in page
    assert _rows(page) == [(overdue, "overdue"), (red, "red"), (yellow, "yellow"), (green, "green")]
    for label in ("Vencido", "Urgente", "Por vencer", "En tiempo"):
        assert f">{label}</span>" in page

    for light, folio in zip(LIGHTS, (green, yellow, red, overdue), strict=True):
        assert _rows(client.get(f"/area?semaforo={light}").get_data(as_text=True)) == [(folio, light)]

    # the search runs over the department's turns only (the copied filing also says "Luminaria")
    assert [f for f, _ in _rows(client.get("/area?q=banqueta mercado").get_data(as_text=True))] == [yellow]
    assert [f for f, _ in _rows(client.get(f"/area?q={green.lower()}").get_data(as_text=True))] == [green]
    assert _rows(client.get("/area?q=luminaria").get_data(as_text=True)) == []

    assert _act(client, green, action="accept").status_code == 302
    assert _act(client, green, action="assign", user="jorge@obras.mx").status_code == 302
    assert [f for f, _ in _rows(client.get("/area?mios=1").get_data(as_text=True))] == [green]
    assert [f for f, _ in _rows(client.get("/area?estado=in_progress").get_data(as_text=True))] == [green]
    assert "Jorge Ramírez" in client.get("/area").get_data(as_text=True)

    copies = client.get("/area?vista=copias").get_data(as_text=True)
    assert [f for f, _ in _rows(copies)] == [elsewhere]

    _as(client, login, people["du"])
    assert [f for f, _ in _rows(client.get("/area").get_data(as_text=True))] == [away]


def test_light_filter_agrees_with_the_traffic_light(app, people, client):
    """The inbox filters lights in SQL; for due dates across three weeks, hour by hour around
    each day's end, the SQL band is the one ``traffic_light`` names."""
    folio, _ = _file(client, people["clerk_token"])
    with app.app_context():
        filing = db.session.execute(sa.select(Filing).where(Filing.folio == folio)).scalar_one()
        routing = Routing(filing_id=filing.id, department_id=filing.department_id, kind=RoutingKind.TURN,
                          created_at=utcnow())
        db.session.add(routing)
        db.session.commit()
        now, calendar = utcnow(), working_calendar(db.session)
        start = now.astimezone(ZoneInfo(TZ)).date() - timedelta(days=1)
        moments = [now - timedelta(minutes=1), now, now + timedelta(minutes=1)]
        for n in range(22):
            end = _local_day_end(start + timedelta(days=n))
            moments += [end - timedelta(hours=12), end, end + timedelta(microseconds=1)]
        for due in moments:
            routing.due_at = due
            db.session.commit()
            expected = traffic_light(due, now, calendar, TZ)
            found = [light for light in LIGHTS if db.session.execute(sa.select(Routing.id).where(
                Routing.id == routing.id, light_condition(light, Routing.due_at, now, calendar, TZ))).first()]
            assert found == [expected], (due, expected, found)


def test_actions_through_the_web_forms(app, client, login, people):
    """GIVEN a filing received at the window
    WHEN the clerk routes it to two departments at once and Obras accepts, assigns, forwards,
    Desarrollo Urbano accepts, asks the filer for information, resumes and concludes
    THEN each step is flashed in Spanish and the page shows the turns and what may come next."""
    folio, code = _file(client, people["clerk_token"])
    _as(client, login, people["clerk"])
    page = client.get(f"/expedientes/{folio}").get_data(as_text=True)
    assert 'data-action="route"' in page and 'data-action="accept"' not in page
    response = _act(client, folio, action="route", route_department=["OBRAS", "SP", ""],
                    route_note=["Bacheo urgente", "Revisar alumbrado", ""], route_due_days=["3", "8", ""])
    assert response.status_code == 302
    page = client.get(f"/expedientes/{folio}").get_data(as_text=True)
    assert "Escrito turnado a Obras Públicas, Servicios Públicos." in page
    assert "Bacheo urgente" in page and "Revisar alumbrado" in page
    assert "Por recibir" in page

    _as(client, login, people["obras"])
    page = client.get(f"/expedientes/{folio}").get_data(as_text=True)
    assert 'data-action="accept"' in page and 'data-action="route"' not in page
    assert _act(client, folio, action="accept").status_code == 302
    page = client.get(f"/expedientes/{folio}").get_data(as_text=True)
    assert "Escrito recibido en su área; queda en atención." in page
    assert 'value="ana@obras.mx"' in page  # the department's people to assign
    assert _act(client, folio, action="assign", user="ana@obras.mx").status_code == 302
    assert "Escrito asignado a Ana Torres." in client.get(f"/expedientes/{folio}").get_data(as_text=True)
    assert _act(client, folio, action="forward", department="DU", note="Es de uso de suelo",
                due_days="5").status_code == 302
    page = client.get(f"/expedientes/{folio}").get_data(as_text=True)
    assert "Escrito reasignado a Desarrollo Urbano." in page
    assert "Su área no tiene un turno activo" in page  # Obras reads it, acts no more

    _as(client, login, people["du"])
    assert _act(client, folio, action="accept").status_code == 302
    assert _act(client, folio, action="request_info", note="Anexe el croquis del predio").status_code == 302
    page = client.get(f"/expedientes/{folio}").get_data(as_text=True)
    assert "El plazo queda suspendido" in page and "Plazo suspendido" in page
    tracked = client.get(f"/seguimiento?folio={folio}&code={code}").get_data(as_text=True)
    assert "Anexe el croquis del predio" in tracked
    assert _act(client, folio, action="resume").status_code == 302
    assert "Se reanudó la atención" in client.get(f"/expedientes/{folio}").get_data(as_text=True)
    assert _act(client, folio, action="conclude", note="Atendido en sitio").status_code == 302
    page = client.get(f"/expedientes/{folio}").get_data(as_text=True)
    assert "Trámite concluido." in page and "El trámite está cerrado." in page

    with app.app_context():
        viewers = db.session.execute(sa.select(LogbookEntry.actor_label).where(LogbookEntry.event == "viewed")
                                     ).scalars().all()
    assert any("jorge@obras.mx" in v for v in viewers) and any("paty@du.mx" in v for v in viewers)


def test_refused_actions_come_back_with_the_message(client, login, people):
    folio, _ = _file(client, people["clerk_token"])
    _as(client, login, people["clerk"])
    response = _act(client, folio, action="conclude")
    assert response.status_code == 409
    assert "No se puede «concluir» un escrito en estado «Recibido»." in response.get_data(as_text=True)

    response = _act(client, folio, action="route", route_department=[""], route_note=["Ver bacheo"],
                    route_due_days=["2"])
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Indique la clave del área." in page
    assert 'value="Ver bacheo"' in page  # what was typed is kept
    response = _route(client, folio, "OBRAS", due_days="muchos")
    assert response.status_code == 422 and "número entero" in response.get_data(as_text=True)
    assert _act(client, folio, action="volar").status_code == 422
    assert _act(client, folio, action="reject").status_code == 422  # a reason is required

    assert _route(client, folio, "OBRAS").status_code == 302
    assert _act(client, folio, action="copy", department="DU").status_code == 302

    _as(client, login, people["du"])  # a copy reads, never acts
    assert "Su área no tiene un turno activo" in client.get(f"/expedientes/{folio}").get_data(as_text=True)
    response = _act(client, folio, action="accept")
    assert response.status_code == 403 and "no está turnado a su área" in response.get_data(as_text=True)

    _as(client, login, people["sp"])  # never routed nor copied to SP: as if it did not exist
    assert client.get(f"/expedientes/{folio}").status_code == 404
    assert _act(client, folio, action="accept").status_code == 404

    _as(client, login, people["auditor"])
    assert "Consulta de solo lectura." in client.get(f"/expedientes/{folio}").get_data(as_text=True)
    assert _act(client, folio, action="accept").status_code == 403

    _as(client, login, people["citizen"])
    assert _act(client, folio, action="accept").status_code == 403
    client.post("/salir")
    assert _act(client, folio, action="accept").status_code == 401


def test_inbox_permissions(client, login, people):
    assert client.get("/area").status_code == 401
    for role in ("citizen", "clerk", "auditor"):
        _as(client, login, people[role])
        assert client.get("/area").status_code == 403
    _as(client, login, people["admin"])
    assert "Elija un área" in client.get("/area").get_data(as_text=True)
    assert client.get("/area?area=OBRAS").status_code == 200
    assert client.get("/area?area=NOPE").status_code == 404


def _next_working_day(app) -> date:
    with app.app_context():
        calendar = working_calendar(db.session)
    day = utcnow().astimezone(ZoneInfo(TZ)).date() + timedelta(days=1)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return day


def _routing_due(app, folio) -> date:
    with app.app_context():
        due = db.session.execute(sa.select(Routing.due_at).join(Filing, Filing.id == Routing.filing_id)
                                 .where(Filing.folio == folio)).scalar_one()
    return due.astimezone(ZoneInfo(TZ)).date()


def test_calendar_admin_adds_and_removes_rest_days_and_deadlines_follow(app, client, login, people):
    """GIVEN the next working day declared a municipal rest day
    THEN a one-day term ends a working day later; once removed, it ends on that day again."""
    day = _next_working_day(app)
    _as(client, login, people["admin"])
    page = client.get(f"/admin/dias-inhabiles?anio={day.year}").get_data(as_text=True)
    assert "Día de la Independencia" in page and f"16/09/{day.year}" in page

    response = client.post("/admin/dias-inhabiles", data={"op": "add", "day": day.isoformat(),
                                                          "name": "Fiesta patronal"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "quedó registrado como día inhábil" in page and "Fiesta patronal" in page

    _as(client, login, people["clerk"])
    first, _ = _file(client, people["clerk_token"])
    assert _route(client, first, "OBRAS", due_days=1).status_code == 302
    assert _routing_due(app, first) > day

    _as(client, login, people["admin"])
    with app.app_context():
        holiday_id = db.session.execute(sa.select(Holiday.id).where(Holiday.day == day)).scalar_one()
    assert client.post("/admin/dias-inhabiles", data={"op": "remove", "holiday": holiday_id}).status_code == 302
    _as(client, login, people["clerk"])
    second, _ = _file(client, people["clerk_token"])
    assert _route(client, second, "OBRAS", due_days=1).status_code == 302
    assert _routing_due(app, second) == day

    # an official rest day marked as worked, then restored
    _as(client, login, people["admin"])
    independence = date(2030, 9, 16)  # a Monday
    assert client.post("/admin/dias-inhabiles", data={"op": "work", "day": independence.isoformat()}
                       ).status_code == 302
    assert "Se labora" in client.get("/admin/dias-inhabiles?anio=2030").get_data(as_text=True)
    with app.app_context():
        assert working_calendar(db.session).is_working_day(independence)
        worked_id = db.session.execute(sa.select(Holiday.id).where(Holiday.day == independence)).scalar_one()
    assert client.post("/admin/dias-inhabiles", data={"op": "remove", "holiday": worked_id}).status_code == 302
    with app.app_context():
        assert not working_calendar(db.session).is_working_day(independence)
        ops = [e.content for e in db.session.execute(
            sa.select(LogbookEntry).where(LogbookEntry.event == "calendar_changed")).scalars()]
    assert len(ops) == 4 and "Fiesta patronal" in ops[0]


@pytest.mark.parametrize(("form", "fragment"), [
    ({"op": "add", "day": "2030-09-14", "name": "Sábado"}, "sábado: ya es inhábil"),
    ({"op": "add", "day": "2030-09-16", "name": "Otra"}, "ya es día de descanso obligatorio"),
    ({"op": "add", "day": "16/09/2030", "name": "X"}, "Escriba una fecha válida"),
    ({"op": "add", "day": "2030-09-17", "name": ""}, "Escriba el motivo"),
    ({"op": "work", "day": "2030-09-17"}, "no es un día de descanso obligatorio"),
])
def test_calendar_refuses_bad_input(client, login, people, form, fragment):
    _as(client, login, people["admin"])
    response = client.post("/admin/dias-inhabiles", data=form)
    assert response.status_code == 422
    assert fragment in response.get_data(as_text=True)


def test_calendar_is_for_admins(client, login, people):
    _as(client, login, people["clerk"])
    assert client.get("/admin/dias-inhabiles").status_code == 403
    assert client.post("/admin/dias-inhabiles", data={"op": "add", "day": "2030-09-17", "name": "X"}
                       ).status_code == 403


def test_logbook_page_filters_and_verifies(app, client, login, people):
    folio, _ = _file(client, people["clerk_token"])
    other, _ = _file(client, people["clerk_token"])
    _as(client, login, people["clerk"])
    _route(client, folio, "OBRAS")
    _as(client, login, people["obras"])
    client.get(f"/expedientes/{folio}")  # recorded: who viewed what

    for role in ("obras", "clerk", "citizen"):
        _as(client, login, people[role])
        assert client.get("/auditoria/bitacora").status_code == 403
    _as(client, login, people["auditor"])
    page = client.get("/auditoria/bitacora").get_data(as_text=True)
    assert folio in page and other in page and "Turnado al área competente" in page

    page = client.get(f"/auditoria/bitacora?folio={folio.lower()}").get_data(as_text=True)
    assert folio in page and f">{other}<" not in page
    viewed = client.get(f"/auditoria/bitacora?folio={folio}&evento=viewed").get_data(as_text=True)
    assert re.findall(r'data-event="([^"]+)"', viewed) == ["viewed"]
    assert "jorge@obras.mx" in viewed
    assert "jorge@obras.mx" in client.get("/auditoria/bitacora?persona=JORGE").get_data(as_text=True)

    verified = client.get("/auditoria/bitacora?verificar=1").get_data(as_text=True)
    assert "Cadena íntegra." in verified

    with app.app_context(), db.engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.execute(sa.text("ALTER TABLE logbook_entries DISABLE TRIGGER logbook_entries_append_only"))
        conn.execute(sa.update(LogbookEntry).where(LogbookEntry.seq == 2)
                     .values(content=LogbookEntry.content + " "))
        if postgres:
            conn.execute(sa.text("ALTER TABLE logbook_entries ENABLE TRIGGER logbook_entries_append_only"))
    tampered = client.get("/auditoria/bitacora?verificar=1").get_data(as_text=True)
    assert "Cadena alterada." in tampered and "n.º 2 no verifica: el contenido fue alterado" in tampered


def test_filer_reads_the_request_and_answers_with_the_code(app, client, login, people):
    """The tracking page shows what the department asked for; the filer's answer, sent with the
    folio and code, joins the thread and resumes the clock on behalf of the assignee."""
    folio, code = _file(client, people["clerk_token"])
    _as(client, login, people["clerk"])
    _route(client, folio, "OBRAS")
    _as(client, login, people["obras"])
    _act(client, folio, action="accept")
    _act(client, folio, action="assign", user="jorge@obras.mx")
    _act(client, folio, action="request_info", note="Indique entre qué calles está el bache")
    client.post("/salir")

    page = client.get(f"/seguimiento?folio={folio}&code={code}").get_data(as_text=True)
    assert "Indique entre qué calles está el bache" in page and 'id="message-form"' in page
    assert client.post(f"/seguimiento/{folio}/mensajes", data={"code": "0000-0000-0000", "body": "x"}
                       ).status_code == 404
    response = client.post(f"/seguimiento/{folio}/mensajes", data={"code": "", "body": "x"})
    assert response.status_code == 404
    empty = client.post(f"/seguimiento/{folio}/mensajes", data={"code": code, "body": "  "})
    assert empty.status_code == 422 and "Escriba el texto del mensaje." in empty.get_data(as_text=True)

    response = client.post(f"/seguimiento/{folio}/mensajes", data={
        "code": code, "body": "Entre Juárez y Morelos.", "files": [(io.BytesIO(pdf_bytes()), "croquis.pdf")]},
        content_type="multipart/form-data")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "la atención de su trámite se reanudó" in page
    assert "Entre Juárez y Morelos." in page and "croquis.pdf" in page
    assert 'id="requested-info"' not in page

    _as(client, login, people["obras"])
    page = client.get(f"/expedientes/{folio}").get_data(as_text=True)
    assert "Entre Juárez y Morelos." in page and "En atención" in page
    response = client.post(f"/expedientes/{folio}/mensajes", data={"body": "Gracias, programamos la visita."})
    assert response.status_code == 302
    client.post("/salir")
    assert "Gracias, programamos la visita." in client.get(
        f"/seguimiento?folio={folio}&code={code}").get_data(as_text=True)


def test_answered_filing_offers_conclude_to_the_department_that_held_it(app, client, login, people):
    from workflows.routing import ActionRequest, perform_action
    from workflows.states import Action

    folio, _code = _file(client, people["clerk_token"])
    _as(client, login, people["clerk"])
    assert _route(client, folio, "OBRAS").status_code == 302
    _as(client, login, people["obras"])
    assert _act(client, folio, action="accept").status_code == 302
    with app.app_context():
        filing = db.session.execute(sa.select(Filing).where(Filing.folio == folio)).scalar_one()
        perform_action(db.session, filing, db.session.merge(people["obras"]), ActionRequest(Action.ANSWER), tz=TZ)
    _as(client, login, people["obras2"])
    page = client.get(f"/expedientes/{folio}").get_data(as_text=True)
    assert 'data-action="conclude"' in page
    assert _act(client, folio, action="conclude", note="Archivado").status_code == 302
    with app.app_context():
        assert db.session.execute(sa.select(Filing.status).where(Filing.folio == folio)).scalar_one().value \
            == "concluded"
