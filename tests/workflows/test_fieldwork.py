"""Field updates on the real database: who may post, coordinates and photos checked, photos
stored and hashed like documents, and the stages on the filer's timeline."""

from __future__ import annotations

import hashlib
import io

import pytest
import sqlalchemy as sa

from oficialia.db import db
from oficialia.models import Document, Role
from tests.factories import jpeg_bytes, pdf_bytes, png_bytes
from workflows.fieldwork import parse_field_update
from workflows.models import LogbookEntry


@pytest.fixture
def actors(demo, make_user, make_token):
    return {"clerk": make_token(make_user(Role.CLERK, department="OP")),
            "obras": make_token(make_user(Role.STAFF, department="OBRAS", email="cuadrilla@obras.mx")),
            "titular": make_token(make_user(Role.SIGNER, department="OBRAS")),
            "du": make_token(make_user(Role.STAFF, department="DU")),
            "sp": make_token(make_user(Role.STAFF, department="SP")),
            "auditor": make_token(make_user(Role.AUDITOR, department="CONTRA"))}


def auth(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def filing(client, actors):
    """A filing routed to Obras Públicas (accepted), copied to Desarrollo Urbano."""
    response = client.post("/api/v1/filings", headers=auth(actors["clerk"]), content_type="multipart/form-data",
                           data={"subject": "Bache", "filer_name": "Ana", "filer_kind": "fisica",
                                 "procedure": "OBRAS-BACHEO", "files": [(io.BytesIO(pdf_bytes()), "a.pdf")]})
    folio = response.json["folio"]
    for token, body in ((actors["clerk"], {"action": "route", "department": "OBRAS"}),
                        (actors["obras"], {"action": "accept"}),
                        (actors["clerk"], {"action": "copy", "department": "DU"})):
        assert client.post(f"/api/v1/filings/{folio}/actions", json=body, headers=auth(token)).status_code == 200
    return response.json


def post_update(client, folio, token, photos=(), **fields):
    data = {"stage": "avance", **fields, "photos": [(io.BytesIO(d), n) for n, d in photos]}
    return client.post(f"/api/v1/filings/{folio}/updates", headers=auth(token), content_type="multipart/form-data",
                       data=data)


def test_crew_posts_progress_that_the_filer_sees(app, client, actors, filing):
    folio, code = filing["folio"], filing["tracking_code"]
    photo = jpeg_bytes()
    left = post_update(client, folio, actors["obras"], stage="salida", text="Salimos con la cuadrilla 3.",
                       materials="Mezcla asfáltica 2 m³", latitude="19.4326", longitude="-99.1332",
                       photos=[("salida.jpg", photo)])
    assert left.status_code == 201, left.json
    assert left.json["stage_label"] == "La cuadrilla salió" and left.json["department"] == "Obras Públicas"
    assert left.json["latitude"] == pytest.approx(19.4326) and left.json["longitude"] == pytest.approx(-99.1332)
    (stored,) = left.json["photos"]
    assert stored["sha256"] == hashlib.sha256(photo).hexdigest() and stored["content_type"] == "image/jpeg"
    assert post_update(client, folio, actors["titular"], stage="termino", text="Bache reparado.",
                       photos=[("listo.png", png_bytes())]).status_code == 201

    listed = client.get(f"/api/v1/filings/{folio}/updates", headers=auth(actors["auditor"]))
    assert [u["stage"] for u in listed.json["updates"]] == ["salida", "termino"]
    public = client.get(f"/api/v1/track/{folio}/updates?code={code}").json["updates"]
    assert [u["stage_label"] for u in public] == ["La cuadrilla salió", "La cuadrilla terminó"]
    assert "author_id" not in public[0]
    assert client.get(public[0]["photos"][0]["url"]).data == photo

    timeline = client.get(f"/api/v1/track/{folio}?code={code}").json["timeline"]
    crew = [t for t in timeline if t["event"] == "field_update"]
    assert len(crew) == 2 and all(t["department"] == "Obras Públicas" for t in crew)
    assert [t["label"] for t in crew] == ["La cuadrilla salió", "La cuadrilla terminó"]
    with app.app_context():
        entries = db.session.execute(sa.select(LogbookEntry).where(LogbookEntry.event == "field_update")
                                     .order_by(LogbookEntry.seq)).scalars().all()
        assert [e.public for e in entries] == [True, True]
        assert '"stage":"salida"' in entries[0].content and stored["sha256"] in entries[0].content
        sources = db.session.execute(sa.select(Document.source, Document.position).order_by(Document.position)).all()
        assert sources == [("filing", 1), ("field_update", 2), ("field_update", 3)]


def test_only_a_department_handling_the_filing_posts(client, actors, filing, make_user, make_token):
    folio = filing["folio"]
    assert post_update(client, folio, actors["du"]).status_code == 403        # copy for knowledge
    assert post_update(client, folio, actors["sp"]).status_code == 404        # never routed there
    assert post_update(client, folio, actors["auditor"]).status_code == 403   # reads, never acts
    assert post_update(client, folio, actors["clerk"]).status_code == 403     # the mail-room
    assert post_update(client, folio, make_token(make_user(Role.ADMIN))).status_code == 403


@pytest.mark.parametrize(("fields", "field"), [
    ({"latitude": "91", "longitude": "-99"}, "latitude"),
    ({"latitude": "-90.5", "longitude": "0"}, "latitude"),
    ({"latitude": "19.4", "longitude": "-180.01"}, "longitude"),
    ({"latitude": "19.4", "longitude": "200"}, "longitude"),
    ({"latitude": "norte", "longitude": "-99"}, "latitude"),
    ({"latitude": "nan", "longitude": "-99"}, "latitude"),
    ({"latitude": "19.4"}, "longitude"),
    ({"longitude": "-99.1"}, "latitude"),
    ({"stage": "volando"}, "stage"),
])
def test_bad_fields_are_422_and_change_nothing(client, actors, filing, fields, field):
    folio = filing["folio"]
    response = post_update(client, folio, actors["obras"], **fields)
    assert response.status_code == 422, response.json
    assert response.json["error"]["field"] == field
    assert client.get(f"/api/v1/filings/{folio}/updates", headers=auth(actors["obras"])).json["updates"] == []


@pytest.mark.parametrize(("name", "data"), [
    ("foto.jpg", b"Esto es un archivo de texto, no una foto."),
    ("foto.png", pdf_bytes()),
])
def test_photos_must_be_jpeg_or_png(client, actors, filing, name, data):
    folio = filing["folio"]
    response = post_update(client, folio, actors["obras"], photos=[(name, data)])
    assert response.status_code == 415, response.json
    assert name in response.json["error"]["message"]
    assert client.get(f"/api/v1/filings/{folio}/updates", headers=auth(actors["obras"])).json["updates"] == []


def test_edge_coordinates_and_stage_spelling_are_accepted():
    form = parse_field_update({"stage": "Término", "latitude": "-90", "longitude": "180,0", "text": " listo "})
    assert (form.stage, form.latitude, form.longitude, form.text) == ("termino", -90.0, 180.0, "listo")
