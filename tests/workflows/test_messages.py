"""The message thread on the real database: both ways with attachments (the filer by tracking
code too), who may write, and the clock resuming when the filer answers a request."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa

from oficialia.db import db, utcnow
from oficialia.models import Document, Filing, Role
from tests.factories import pay_fee, pdf_bytes, png_bytes
from workflows.models import LogbookEntry, Notification, Routing
from workflows.routing import working_calendar

FILER = "ana.perez@example.mx"


@pytest.fixture
def actors(demo, make_user, make_token):
    return {"clerk": make_token(make_user(Role.CLERK, department="OP")),
            "obras": make_token(make_user(Role.STAFF, department="OBRAS", email="jorge@obras.mx")),
            "ana": make_user(Role.STAFF, department="OBRAS", email="ana@obras.mx"),
            "du": make_token(make_user(Role.STAFF, department="DU")),
            "sp": make_token(make_user(Role.STAFF, department="SP")),
            "auditor": make_token(make_user(Role.AUDITOR, department="CONTRA"))}


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def file(client, token, procedure="OBRAS-BACHEO"):
    response = client.post("/api/v1/filings", headers=auth(token), content_type="multipart/form-data",
                           data={"subject": "Bache", "filer_name": "Ana Pérez", "filer_kind": "fisica",
                                 "filer_email": FILER, "procedure": procedure,
                                 "files": [(io.BytesIO(pdf_bytes()), "escrito.pdf")]})
    assert response.status_code == 201, response.json
    return response.json


def act(client, token, folio, **body):
    response = client.post(f"/api/v1/filings/{folio}/actions", json=body, headers=auth(token))
    assert response.status_code == 200, response.json
    return response.json


def post(client, url, *, body="Hola", files=(), headers=None):
    return client.post(url, headers=headers or {}, content_type="multipart/form-data",
                       data={"body": body, "files": [(io.BytesIO(data), name) for name, data in files]})


@pytest.fixture
def accepted(client, actors):
    """A filing routed to Obras Públicas and accepted there."""
    filing = file(client, actors["clerk"])
    act(client, actors["clerk"], filing["folio"], action="route", department="OBRAS")
    act(client, actors["obras"], filing["folio"], action="accept")
    return filing


def test_thread_both_ways_with_attachments(app, client, actors, accepted):
    folio, code = accepted["folio"], accepted["tracking_code"]
    letter = pdf_bytes(text="Oficio de la dirección")
    staff = post(client, f"/api/v1/filings/{folio}/messages", body="Le enviamos el oficio de inspección.",
                 files=[("oficio.pdf", letter)], headers=auth(actors["obras"]))
    assert staff.status_code == 201, staff.json
    assert staff.json["from_filer"] is False and staff.json["department"] == "Obras Públicas"
    assert staff.json["attachments"][0]["sha256"] == hashlib.sha256(letter).hexdigest()

    # the filer reads it with the tracking code and downloads the attachment
    seen = client.get(f"/api/v1/track/{folio}/messages?code={code}")
    assert seen.status_code == 200
    (message,) = seen.json["messages"]
    assert message["body"] == "Le enviamos el oficio de inspección."
    download = client.get(message["attachments"][0]["url"])
    assert download.status_code == 200 and download.data == letter
    assert download.headers["X-Content-SHA256"] == hashlib.sha256(letter).hexdigest()

    # the filer answers by code, with a photo
    photo = png_bytes(text="Foto del bache")
    reply = post(client, f"/api/v1/track/{folio}/messages?code={code}", body="Gracias, anexo la foto.",
                 files=[("bache.png", photo)])
    assert reply.status_code == 201, reply.json
    assert reply.json["from_filer"] is True and reply.json["author"] == "Ana Pérez"
    assert reply.json["resumed"] is False and reply.json["resume_pending"] is False

    thread = client.get(f"/api/v1/filings/{folio}/messages", headers=auth(actors["obras"])).json["messages"]
    assert [m["from_filer"] for m in thread] == [False, True]
    photo_doc = thread[1]["attachments"][0]
    assert photo_doc["content_type"] == "image/png" and photo_doc["filename"] == "bache.png"
    assert client.get(photo_doc["url"], headers=auth(actors["obras"])).data == photo

    # attachments are documents of the filing, numbered after its own, not part of the filed set
    record = client.get(f"/api/v1/filings/{folio}", headers=auth(actors["obras"])).json
    assert [d["filename"] for d in record["documents"]] == ["escrito.pdf"]
    with app.app_context():
        docs = db.session.execute(sa.select(Document).order_by(Document.position)).scalars().all()
        assert [(d.position, d.source) for d in docs] == [(1, "filing"), (2, "message"), (3, "message")]
        entries = db.session.execute(sa.select(LogbookEntry).where(LogbookEntry.event == "message")
                                     .order_by(LogbookEntry.seq)).scalars().all()
        assert len(entries) == 2 and all(e.public for e in entries)
        assert "Gracias" not in entries[1].content and hashlib.sha256(photo).hexdigest() in entries[1].content
        told = db.session.execute(sa.select(Notification.kind, Notification.to_email)
                                  .where(Notification.kind.like("message%"))).all()
    # the filer hears of the department's message; the department's head (no assignee) of the reply
    assert sorted(told) == [("message", FILER), ("message_from_filer", "titular.obras@demo.gob.mx")]
    timeline = client.get(f"/api/v1/track/{folio}?code={code}").json["timeline"]
    assert [t["label"] for t in timeline if t["event"] == "message"] == ["Mensaje", "Mensaje"]


def test_wrong_code_is_like_an_unknown_folio(app, client, actors, accepted):
    folio = accepted["folio"]
    assert client.get(f"/api/v1/track/{folio}/messages?code=AAAA-BBBB-CCCC").status_code == 404
    wrong = post(client, f"/api/v1/track/{folio}/messages?code=AAAA-BBBB-CCCC", body="¿Hola?")
    assert wrong.status_code == 404
    assert wrong.json["error"]["message"] == \
        post(client, "/api/v1/track/OP-1999-000001/messages?code=AAAA-BBBB-CCCC").json["error"]["message"]
    assert client.get(f"/api/v1/track/{folio}/documents/1?code=AAAA-BBBB-CCCC").status_code == 404
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(sa.text("messages"))).scalar() == 0


def test_who_may_write(app, client, actors, accepted, make_user, make_token):
    folio = accepted["folio"]
    url = f"/api/v1/filings/{folio}/messages"
    assert post(client, url, headers=auth(actors["auditor"])).status_code == 403
    assert client.get(url, headers=auth(actors["auditor"])).status_code == 200  # auditors read
    # a copy for knowledge reads the filing but does not handle it
    act(client, actors["clerk"], folio, action="copy", department="DU")
    assert post(client, url, headers=auth(actors["du"])).status_code == 403
    # never routed there: as if it did not exist
    assert post(client, url, headers=auth(actors["sp"])).status_code == 404
    # the mail-room routes; it does not converse
    assert post(client, url, headers=auth(actors["clerk"])).status_code == 403
    admin = make_token(make_user(Role.ADMIN))
    assert post(client, url, body="Mensaje de la administración", headers=auth(admin)).status_code == 201


def test_a_citizen_writes_on_their_own_filing_with_a_token(app, client, demo, make_user, make_token, actors):
    owner = make_user(Role.CITIZEN, email="vecina@example.mx", name="Vecina")
    other = make_user(Role.CITIZEN)
    response = client.post("/api/v1/filings", headers=auth(make_token(owner)), content_type="multipart/form-data",
                           data={"subject": "Luminaria", "body": "Apagada", "filer_kind": "fisica",
                                 "procedure": "OBRAS-BACHEO"})
    folio = response.json["folio"]
    mine = post(client, f"/api/v1/filings/{folio}/messages", body="¿Hay novedades?", headers=auth(make_token(owner)))
    assert mine.status_code == 201 and mine.json["from_filer"] is True
    assert post(client, f"/api/v1/filings/{folio}/messages", headers=auth(make_token(other))).status_code == 404


@pytest.mark.parametrize(("body", "files", "status", "fragment"), [
    ("", (), 422, "Escriba el texto"),
    ("x" * 10_001, (), 422, "10 000"),
    ("Anexo", [("notas.pdf", b"esto es texto plano, no un PDF")], 415, "notas.pdf"),
])
def test_bad_messages_are_refused_and_change_nothing(app, client, actors, accepted, body, files, status, fragment):
    folio, code = accepted["folio"], accepted["tracking_code"]
    response = post(client, f"/api/v1/track/{folio}/messages?code={code}", body=body, files=files)
    assert response.status_code == status, response.json
    assert fragment in response.json["error"]["message"]
    assert client.get(f"/api/v1/track/{folio}/messages?code={code}").json["messages"] == []


def test_a_concluded_filing_takes_no_more_messages(client, actors, accepted):
    folio, code = accepted["folio"], accepted["tracking_code"]
    act(client, actors["obras"], folio, action="conclude")
    response = post(client, f"/api/v1/track/{folio}/messages?code={code}", body="Una cosa más")
    assert response.status_code == 409 and "concluido" in response.json["error"]["message"]


def test_the_filer_answering_resumes_the_clock_by_exactly_the_paused_working_days(app, client, actors, accepted):
    folio, code = accepted["folio"], accepted["tracking_code"]
    act(client, actors["obras"], folio, action="assign", user="ana@obras.mx")
    act(client, actors["obras"], folio, action="request_info", note="Anexe una foto del bache")
    paused_at = utcnow() - timedelta(days=9)
    with app.app_context():  # the request was made nine days ago
        filing = db.session.execute(sa.select(Filing).where(Filing.folio == folio)).scalar_one()
        filing.paused_at = paused_at
        db.session.commit()
        due_before = filing.due_at
        routing_due_before = db.session.execute(sa.select(Routing.due_at).where(Routing.filing_id == filing.id)
                                                ).scalar_one()

    reply = post(client, f"/api/v1/track/{folio}/messages?code={code}", body="Anexo la foto.",
                 files=[("bache.png", png_bytes())])
    assert reply.status_code == 201, reply.json
    assert reply.json["resumed"] is True and reply.json["resume_pending"] is False

    with app.app_context():
        filing = db.session.execute(sa.select(Filing).where(Filing.folio == folio)).scalar_one()
        resumed = db.session.execute(sa.select(LogbookEntry).where(
            LogbookEntry.filing_id == filing.id, LogbookEntry.event == "resumed")).scalar_one()
        calendar = working_calendar(db.session)
        tz = app.config["TIMEZONE"]
        assert filing.status.value == "in_progress" and filing.paused_at is None
        assert calendar.working_days_between(paused_at, resumed.at, tz) >= 5
        assert filing.due_at == calendar.shift_for_pause(due_before, paused_at, resumed.at, tz)
        routing_due = db.session.execute(sa.select(Routing.due_at).where(Routing.filing_id == filing.id)).scalar_one()
        assert routing_due == calendar.shift_for_pause(routing_due_before, paused_at, resumed.at, tz)
        # resumed on the department's behalf by the assignee, and said so
        assert "ana@obras.mx" in resumed.actor_label and "automática" in resumed.content
        kinds = db.session.execute(sa.select(Notification.kind, Notification.to_email)
                                   .order_by(Notification.id)).all()
    assert ("resumed", FILER) in kinds and ("message_from_filer", "ana@obras.mx") in kinds


def test_with_nobody_to_resume_it_the_department_is_told(app, client, actors):
    # Desarrollo Urbano has no head in the demo; nobody is assigned
    filing = file(client, actors["clerk"], procedure="DU-USO")
    folio, code = filing["folio"], filing["tracking_code"]
    with app.app_context():
        pay_fee(db.session, folio)  # a procedure with a fee is routed once paid
    act(client, actors["clerk"], folio, action="route", department="DU")
    act(client, actors["du"], folio, action="accept")
    act(client, actors["du"], folio, action="request_info", note="Anexe el croquis")
    reply = post(client, f"/api/v1/track/{folio}/messages?code={code}", body="Aquí está el croquis.")
    assert reply.status_code == 201
    assert reply.json["resumed"] is False and reply.json["resume_pending"] is True
    assert client.get(f"/api/v1/track/{folio}?code={code}").json["status"] == "awaiting_filer"
    with app.app_context():
        told = db.session.execute(sa.select(Notification).where(Notification.kind == "message_from_filer")
                                  ).scalars().all()
        # no head, no assignee: the department's staff are told, and asked to resume it
        assert "urbano@demo.gob.mx" in {n.to_email for n in told} and len(told) == 2
        assert all("reanude la atención" in n.body for n in told)
