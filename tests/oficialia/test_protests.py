"""Protesta ciudadana on the real database: the filer protests from the tracking page or the API;
the protest takes the next folio of the same sequence, is routed at once to internal audit with
its legal term, is resolved there, and its outcome reaches the filer and the statistics."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from oficialia.db import db
from oficialia.models import Filing, Role, User
from oficialia.protests import Protest, ProtestOutcome, ProtestReason
from workflows.logbook import verify_chain
from workflows.models import LogbookEntry, Routing, RoutingKind, RoutingStatus
from workflows.routing import ActionRequest, Target, perform_action, working_calendar
from workflows.states import Action, FilingState

pytestmark = pytest.mark.db

TZ = "America/Mexico_City"
TEXT = "El personal de ventanilla se negó a recibir mi solicitud sin darme ningún fundamento."


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def refused(app, demo, client, make_user, make_token) -> dict[str, Any]:
    """A guest's filing routed to Obras Públicas and refused there."""
    clerk = make_user(Role.CLERK)
    data = {"subject": "Bache", "body": "Solicito la reparación del bache.", "filer_name": "Ana Ruiz",
            "filer_email": "ana@example.mx", "filer_kind": "fisica", "procedure": "OBRAS-BACHEO", "channel": "web"}
    response = client.post("/api/v1/filings", headers=bearer(make_token(clerk)), data=data,
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    folio, code = response.json["folio"], response.json["tracking_code"]
    with app.app_context():
        filing = db.session.execute(select(Filing).where(Filing.folio == folio)).scalar_one()
        admin = db.session.execute(select(User).where(User.email == "admin@demo.gob.mx")).scalar_one()
        perform_action(db.session, filing, admin, ActionRequest(action=Action.ROUTE, targets=(Target("OBRAS"),)),
                       tz=TZ)
        obras = db.session.execute(select(User).where(User.email == "obras@demo.gob.mx")).scalar_one()
        perform_action(db.session, filing, obras, ActionRequest(action=Action.REJECT, note="No procede."), tz=TZ)
    return {"folio": folio, "code": code}


def protest_web(client, folio: str, code: str, reason: str = "negativa", text: str = TEXT):
    return client.post("/seguimiento/protesta", data={"folio": folio, "code": code, "reason": reason, "text": text})


def test_a_protest_takes_the_next_folio_and_goes_to_internal_audit(app, client, refused):
    response = protest_web(client, refused["folio"], refused["code"])
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    with app.app_context():
        protest = db.session.execute(select(Protest)).scalar_one()
        original = protest.original
        own = protest.filing
        assert original.folio == refused["folio"]
        assert own.folio in page and "Contraloría Municipal" in page
        # same sequence: the very next number, same office and year
        assert (own.office, own.year, own.number) == (original.office, original.year, original.number + 1)
        assert protest.reason is ProtestReason.REFUSAL and protest.outcome is None
        assert protest.department.code == "OBRAS"  # the department that refused it
        assert own.department.code == "CONTRA" and own.status is FilingState.ROUTED
        assert own.body == TEXT and own.filer_email == "ana@example.mx"
        routing = db.session.execute(select(Routing).where(Routing.filing_id == own.id)).scalar_one()
        assert (routing.department.code, routing.kind, routing.status) == ("CONTRA", RoutingKind.TURN,
                                                                          RoutingStatus.PENDING)
        expected_due = working_calendar(db.session).add_working_days(own.received_at, 5, TZ)
        assert own.due_at == expected_due and routing.due_at == expected_due
        events = db.session.execute(select(LogbookEntry.filing_id, LogbookEntry.event, LogbookEntry.public)
                                    .order_by(LogbookEntry.seq)).all()
        assert (own.id, "received", True) in events and (own.id, "routed", True) in events
        assert (original.id, "protest_filed", True) in events
        assert verify_chain(db.session).ok
        own_folio = own.folio
    # the protest's own tracking code opens it
    code = page.split('id="protest-code">')[1].split("<")[0]
    tracked = client.get("/seguimiento", query_string={"folio": own_folio, "code": code}).get_data(as_text=True)
    assert "Protesta ciudadana sobre el folio" in tracked and "En revisión" in tracked
    # the original's tracking page lists it, with no form while it is open
    tracked = client.get("/seguimiento", query_string=refused).get_data(as_text=True)
    assert own_folio in tracked and "Protesta ciudadana presentada" in tracked
    assert 'id="protest-form"' not in tracked


def test_the_next_filing_after_a_protest_continues_the_sequence(app, client, refused, make_user, make_token):
    protest_web(client, refused["folio"], refused["code"])
    response = client.post("/api/v1/filings", headers=bearer(make_token(make_user(Role.CLERK))),
                           data={"subject": "Otro", "body": "Texto", "filer_name": "X", "filer_kind": "fisica"},
                           content_type="multipart/form-data")
    with app.app_context():
        numbers = db.session.execute(select(Filing.number).order_by(Filing.number)).scalars().all()
    assert numbers == [1, 2, 3]
    assert response.json["folio"].endswith("000003")


def test_bad_protests_are_refused_with_a_message_and_nothing_is_kept(app, client, refused):
    wrong = protest_web(client, refused["folio"], "0000-0000-0000")
    assert wrong.status_code == 404
    short = protest_web(client, refused["folio"], refused["code"], text="muy corto")
    assert short.status_code == 302
    no_reason = protest_web(client, refused["folio"], refused["code"], reason="otra")
    assert no_reason.status_code == 302
    page = client.get("/seguimiento", query_string=refused).get_data(as_text=True)
    assert "al menos 20 caracteres" in page or "Elija el motivo" in page
    with app.app_context():
        assert db.session.execute(select(Protest)).first() is None
        assert db.session.execute(select(Filing.id)).scalars().all() == [1]
    # one open protest at a time
    assert protest_web(client, refused["folio"], refused["code"]).status_code == 201
    again = protest_web(client, refused["folio"], refused["code"])
    assert again.status_code == 302
    assert "Ya hay una protesta en revisión" in client.get(again.location).get_data(as_text=True)
    with app.app_context():
        assert len(db.session.execute(select(Protest)).all()) == 1


def test_internal_audit_resolves_and_the_filer_and_the_statistics_see_it(app, client, refused, make_user,
                                                                         make_token, login):
    filed = client.post(f"/api/v1/track/{refused['folio']}/protests",
                        json={"code": refused["code"], "reason": "exigencia", "text": TEXT})
    assert filed.status_code == 201, filed.json
    body = filed.json
    assert body["protest_of"] == refused["folio"] and body["tracking_code"] and body["outcome"] is None
    assert body["department"] == "OBRAS" and body["status"] == "routed"
    folio = body["folio"]

    # a member of another department may not resolve it
    obras = make_user(Role.STAFF, department="OBRAS")
    login(obras)
    assert client.get(f"/protestas/{folio}").status_code == 404
    client.post("/salir")

    audit = make_user(Role.STAFF, department="CONTRA")
    login(audit)
    assert folio in client.get("/protestas").get_data(as_text=True)
    # before the department receives it, it cannot be resolved
    client.post(f"/protestas/{folio}", data={"outcome": "fundada", "resolution": "Se instruye recibir el trámite."})
    with app.app_context():
        assert db.session.execute(select(Protest)).scalar_one().outcome is None
        protest_filing = db.session.execute(select(Filing).where(Filing.folio == folio)).scalar_one()
        perform_action(db.session, protest_filing, db.session.get(User, audit.id),
                       ActionRequest(action=Action.ACCEPT), tz=TZ)
    response = client.post(f"/protestas/{folio}", data={"outcome": "fundada",
                                                        "resolution": "Se instruye recibir el trámite."})
    assert response.status_code == 302
    with app.app_context():
        protest = db.session.execute(select(Protest)).scalar_one()
        assert protest.outcome is ProtestOutcome.FOUNDED and protest.resolved_by_id == audit.id
        assert protest.filing.status is FilingState.CONCLUDED
        events = db.session.execute(select(LogbookEntry.event).where(
            LogbookEntry.filing_id == protest.original_id)).scalars().all()
        assert "protest_resolved" in events
        assert verify_chain(db.session).ok
        from workflows.models import Notification

        told = db.session.execute(select(Notification).where(Notification.kind == "protest_resolved")).scalar_one()
        assert told.to_email == "ana@example.mx" and "Fundada" in told.body and refused["folio"] in told.subject
    # twice is refused
    client.post(f"/protestas/{folio}", data={"outcome": "infundada", "resolution": "Otra."})
    with app.app_context():
        assert db.session.execute(select(Protest)).scalar_one().outcome is ProtestOutcome.FOUNDED
    client.post("/salir")

    # the filer sees the outcome on the original's tracking page, and may protest again
    page = client.get("/seguimiento", query_string=refused).get_data(as_text=True)
    assert "Fundada" in page and "Se instruye recibir el trámite." in page and 'id="protest-form"' in page
    listed = client.get(f"/api/v1/track/{refused['folio']}/protests", query_string={"code": refused["code"]})
    assert listed.json["protests"][0]["outcome"] == "fundada"
    assert client.get(f"/api/v1/track/{refused['folio']}/protests",
                      query_string={"code": "X"}).status_code == 404

    # statistics per protested department
    admin_token = make_token(make_user(Role.ADMIN))
    stats = client.get("/api/v1/stats/protests", headers=bearer(admin_token)).json
    assert stats["rows"] == [{"department": "OBRAS", "department_name": "Obras Públicas", "filed": 1,
                              "pending": 0, "founded": 1, "unfounded": 0}]
    assert client.get("/api/v1/stats/protests", headers=bearer(make_token(obras))).status_code == 403
    login(make_user(Role.AUDITOR))
    dashboard = client.get("/estadisticas").get_data(as_text=True)
    assert 'id="protest-stats"' in dashboard and "Obras Públicas" in dashboard


def test_api_protest_validation(client, refused):
    url = f"/api/v1/track/{refused['folio']}/protests"
    assert client.post(url, json={"code": "0000-0000-0000", "reason": "negativa", "text": TEXT}).status_code == 404
    bad = client.post(url, json={"code": refused["code"], "reason": "queja", "text": TEXT})
    assert bad.status_code == 422 and bad.json["error"]["field"] == "reason"
    assert client.post(url, json={"code": refused["code"]}).status_code == 422
    made = client.post(url, json={"code": refused["code"], "reason": "negativa", "text": TEXT})
    assert made.status_code == 201
    # a protest about a protest is refused
    again = client.post(f"/api/v1/track/{made.json['folio']}/protests",
                        json={"code": made.json["tracking_code"], "reason": "negativa", "text": TEXT})
    assert again.status_code == 422


def test_no_audit_department_is_a_clear_503(app, client, refused):
    app.config["AUDIT_DEPARTMENT"] = "NOEXISTE"
    response = client.post(f"/api/v1/track/{refused['folio']}/protests",
                           json={"code": refused["code"], "reason": "negativa", "text": TEXT})
    assert response.status_code == 503 and "control interno" in response.json["error"]["message"]
