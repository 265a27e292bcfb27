"""Routing through the API on the real database: the walk of a filing between departments."""

from __future__ import annotations

import io
from datetime import datetime

import pytest

from oficialia.models import Role
from tests.factories import pdf_bytes


@pytest.fixture
def actors(demo, make_user, make_token):
    clerk = make_token(make_user(Role.CLERK, department="OP"))
    obras = make_user(Role.STAFF, department="OBRAS", email="jorge@obras.mx")
    obras2 = make_user(Role.STAFF, department="OBRAS", email="ana@obras.mx")
    du = make_user(Role.STAFF, department="DU")
    sp = make_user(Role.STAFF, department="SP")
    return {"clerk": clerk, "obras": make_token(obras), "obras2": make_token(obras2), "du": make_token(du),
            "sp": make_token(sp), "auditor": make_token(make_user(Role.AUDITOR, department="CONTRA"))}


def _file(client, token):
    response = client.post("/api/v1/filings", headers={"Authorization": f"Bearer {token}"},
                           content_type="multipart/form-data",
                           data={"subject": "Bache", "filer_name": "Ana", "filer_kind": "fisica",
                                 "procedure": "OBRAS-BACHEO", "files": [(io.BytesIO(pdf_bytes()), "a.pdf")]})
    assert response.status_code == 201
    return response.json


def act(client, token, folio, **body):
    return client.post(f"/api/v1/filings/{folio}/actions", json=body, headers={"Authorization": f"Bearer {token}"})


def test_walk_between_departments(client, actors):
    filing = _file(client, actors["clerk"])
    folio, code = filing["folio"], filing["tracking_code"]
    # staff of OBRAS cannot see it before it is routed to them
    assert act(client, actors["obras"], folio, action="accept").status_code == 404
    routed = act(client, actors["clerk"], folio, action="route", department="OBRAS", note="Atender", due_days=5)
    assert routed.status_code == 200, routed.json
    assert routed.json["status"] == "routed"
    assert act(client, actors["obras"], folio, action="accept").json["status"] == "in_progress"
    assert act(client, actors["obras"], folio, action="assign", user="ana@obras.mx").status_code == 200
    forwarded = act(client, actors["obras"], folio, action="forward", department="DU", note="Es de uso de suelo")
    assert forwarded.json["status"] == "routed"
    # OBRAS keeps read access to what it handled, but can no longer act
    assert act(client, actors["obras"], folio, action="accept").status_code == 403
    assert act(client, actors["du"], folio, action="accept").json["status"] == "in_progress"
    assert act(client, actors["du"], folio, action="request_info", note="Anexe el croquis").json["status"] \
        == "awaiting_filer"
    assert act(client, actors["du"], folio, action="conclude").status_code == 409
    assert act(client, actors["du"], folio, action="resume").json["status"] == "in_progress"
    done = act(client, actors["du"], folio, action="conclude", note="Atendido")
    assert done.json["status"] == "concluded"
    assert act(client, actors["du"], folio, action="resume").status_code == 409

    timeline = client.get(f"/api/v1/track/{folio}?code={code}").json["timeline"]
    departments = [t["department"] for t in timeline if t["department"]]
    assert "Obras Públicas" in departments and "Desarrollo Urbano" in departments
    assert [t["event"] for t in timeline][0] == "received"
    assert timeline[-1]["event"] == "concluded"


def test_invalid_transition_is_409_in_spanish(client, actors):
    folio = _file(client, actors["clerk"])["folio"]
    response = act(client, actors["clerk"], folio, action="conclude")
    assert response.status_code == 409
    assert "No se puede" in response.json["error"]["message"]


@pytest.mark.parametrize(("body", "fragment"), [
    ({"action": "volar"}, "Acción desconocida"),
    ({"action": "route"}, "área"),
    ({"action": "route", "department": "NOPE"}, "No existe el área"),
    ({"action": "route", "department": "OBRAS", "due_days": "muchos"}, "número entero"),
    ({"action": "route", "department": "OBRAS", "due_days": 0}, "entre 1 y"),
    ({"action": "reject"}, "motivo"),
])
def test_bad_action_input_is_422(client, actors, body, fragment):
    folio = _file(client, actors["clerk"])["folio"]
    response = act(client, actors["clerk"], folio, **body)
    assert response.status_code == 422, response.json
    assert fragment in response.json["error"]["message"]


def test_route_to_several_departments_each_with_its_term(client, actors):
    folio = _file(client, actors["clerk"])["folio"]
    response = act(client, actors["clerk"], folio, action="route",
                   routes=[{"department": "OBRAS", "note": "Bacheo", "due_days": 3},
                           {"department": "SP", "note": "Alumbrado", "due_days": 8}])
    assert response.status_code == 200, response.json
    routing = {r["department"]: r for r in response.json["routing"]}
    assert routing["OBRAS"]["instruction"] == "Bacheo"
    assert datetime.fromisoformat(routing["OBRAS"]["due_at"]) < datetime.fromisoformat(routing["SP"]["due_at"])
    assert act(client, actors["obras"], folio, action="accept").status_code == 200
    assert act(client, actors["sp"], folio, action="accept").status_code == 200


def test_copy_gives_read_access_only(client, actors):
    folio = _file(client, actors["clerk"])["folio"]
    act(client, actors["clerk"], folio, action="route", department="OBRAS")
    assert act(client, actors["clerk"], folio, action="copy", department="DU").status_code == 200
    headers = {"Authorization": f"Bearer {actors['du']}"}
    assert client.get(f"/api/v1/filings/{folio}", headers=headers).status_code == 200
    assert act(client, actors["du"], folio, action="accept").status_code == 403
    # SP never had it: 404, as for a folio that does not exist
    assert client.get(f"/api/v1/filings/{folio}", headers={"Authorization": f"Bearer {actors['sp']}"}) \
        .status_code == 404


def test_auditor_reads_but_never_acts(client, actors):
    folio = _file(client, actors["clerk"])["folio"]
    assert client.get(f"/api/v1/filings/{folio}", headers={"Authorization": f"Bearer {actors['auditor']}"}) \
        .status_code == 200
    assert act(client, actors["auditor"], folio, action="route", department="OBRAS").status_code == 403
    verified = client.get("/api/v1/logbook/verify", headers={"Authorization": f"Bearer {actors['auditor']}"})
    assert verified.json["ok"] is True and verified.json["first_bad"] is None


def test_the_department_that_answered_concludes(app, client, actors):
    """GIVEN a filing answered by OBRAS (answering closes every turn) and copied to DU
    WHEN each tries to conclude it THEN OBRAS may, DU (a copy only) may not."""
    from oficialia.db import db
    from oficialia.models import Filing, User
    from workflows.routing import ActionRequest, perform_action
    from workflows.states import Action

    folio = _file(client, actors["clerk"])["folio"]
    act(client, actors["clerk"], folio, action="route", department="OBRAS")
    act(client, actors["clerk"], folio, action="copy", department="DU")
    assert act(client, actors["obras"], folio, action="accept").status_code == 200
    with app.app_context():
        filing = db.session.query(Filing).filter_by(folio=folio).one()
        staff = db.session.query(User).filter_by(email="jorge@obras.mx").one()
        result = perform_action(db.session, filing, staff, ActionRequest(Action.ANSWER, note="Respondido"),
                                tz="America/Mexico_City")
        assert result.state.value == "answered"
    refused = act(client, actors["du"], folio, action="conclude")
    assert refused.status_code == 403
    assert "concluirlo" in refused.json["error"]["message"]
    done = act(client, actors["obras2"], folio, action="conclude", note="Archivado")
    assert done.status_code == 200, done.json
    assert done.json["status"] == "concluded"
