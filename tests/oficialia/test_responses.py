"""Responses: drafting (uploaded PDF or composed letter), the signers' turns, and the API, on the
real database (PostgreSQL, and SQLite with ``OFICIALIA_TEST_DATABASE=sqlite``)."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from sqlalchemy import func, select

import firma
from firma.loop import outside_event_loop
from oficialia import responses
from oficialia.db import db, utcnow
from oficialia.errors import Conflict
from oficialia.extensions import get_store
from oficialia.models import Response, ResponseSigner, ResponseStatus, Role, SigningThrottle, User
from tests.factories import pdf_bytes
from workflows.models import LogbookEntry, Notification

pytestmark = pytest.mark.db

SAT_RFC = "EKU9003173C9"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def office(demo, make_user, make_token) -> dict[str, Any]:
    """The people of a response: a clerk, Obras Públicas' staff and two signers, a citizen."""
    citizen = make_user(Role.CITIZEN, email="ana@correo.mx", name="Ana Torres")
    people = {
        "clerk": make_user(Role.CLERK, department="OP"),
        "staff": make_user(Role.STAFF, department="OBRAS", email="jorge@obras.mx", name="Jorge Ramírez"),
        "signer": make_user(Role.SIGNER, department="OBRAS", email="titular@obras.mx", name="Roberto Salas",
                            rfc=SAT_RFC),
        "second": make_user(Role.SIGNER, department="OBRAS", email="juridico@obras.mx", name="Lucía Pérez",
                            rfc=SAT_RFC),
        "other": make_user(Role.SIGNER, department="DU", email="titular@du.mx", rfc=SAT_RFC),
        "norfc": make_user(Role.SIGNER, department="OBRAS", email="sinrfc@obras.mx"),
        "citizen": citizen,
    }
    return {"users": people, "tokens": {k: make_token(v) for k, v in people.items()}}


def in_progress(client, office: dict[str, Any]) -> dict[str, Any]:
    """A citizen's filing, routed to Obras Públicas and accepted there."""
    tokens = office["tokens"]
    filed = client.post("/api/v1/filings", headers=bearer(tokens["citizen"]), content_type="multipart/form-data",
                        data={"subject": "Bache en la calle Encino", "body": "Solicito su reparación.",
                              "filer_kind": "fisica", "procedure": "OBRAS-BACHEO",
                              "files": [(io.BytesIO(pdf_bytes()), "escrito.pdf")]})
    assert filed.status_code == 201, filed.json
    folio = filed.json["folio"]
    for token, body in ((tokens["clerk"], {"action": "route", "department": "OBRAS"}),
                        (tokens["staff"], {"action": "accept"})):
        moved = client.post(f"/api/v1/filings/{folio}/actions", json=body, headers=bearer(token))
        assert moved.status_code == 200, moved.json
    return filed.json


def draft(client, token: str, folio: str, **data: Any):
    return client.post(f"/api/v1/filings/{folio}/responses", headers=bearer(token),
                       content_type="multipart/form-data", data=data)


# --- drafting ----------------------------------------------------------------------------------


def test_text_draft_is_rendered_as_a_letter_and_logged(app, client, office):
    filing = in_progress(client, office)
    made = draft(client, office["tokens"]["staff"], filing["folio"], sense="favorable",
                 text="Se programó la reparación del bache.\n\nLa cuadrilla acudirá esta semana.",
                 signers="titular@obras.mx, juridico@obras.mx")
    assert made.status_code == 201, made.json
    assert made.json["status"] == "draft"
    assert [s["email"] for s in made.json["signers"]] == ["titular@obras.mx", "juridico@obras.mx"]
    assert made.json["signers"][0]["due"] is True

    pdf = client.get(f"/api/v1/responses/{made.json['id']}/pdf", headers=bearer(office["tokens"]["staff"]))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    with pikepdf.open(io.BytesIO(pdf.data)) as doc:
        text = b"".join(pikepdf.unparse_content_stream(pikepdf.parse_content_stream(p)) for p in doc.pages)
    assert filing["folio"].encode() in text
    assert b"Favorable" in text and b"Ana Torres" in text
    with app.app_context():
        entry = db.session.execute(select(LogbookEntry).where(LogbookEntry.event == "response_drafted")).scalar_one()
        assert entry.public is False


def test_uploaded_pdf_draft_keeps_its_bytes(client, office):
    filing = in_progress(client, office)
    original = pdf_bytes(2, text="Oficio de respuesta")
    made = draft(client, office["tokens"]["staff"], filing["folio"], sense="parcial",
                 file=(io.BytesIO(original), "oficio.pdf"), signers="titular@obras.mx")
    assert made.status_code == 201, made.json
    pdf = client.get(f"/api/v1/responses/{made.json['id']}/pdf", headers=bearer(office["tokens"]["signer"]))
    assert pdf.data == original


@pytest.mark.parametrize(("data", "field"), [
    ({"sense": "quizá", "text": "Texto"}, "sense"),
    ({"sense": "favorable"}, "text"),
    ({"sense": "favorable", "text": "Texto", "signers": "sinrfc@obras.mx"}, "signers"),
    ({"sense": "favorable", "text": "Texto", "signers": "titular@du.mx"}, "signers"),
    ({"sense": "favorable", "text": "Texto", "signers": "titular@obras.mx,titular@obras.mx"}, "signers"),
])
def test_bad_drafts_are_refused_in_spanish(client, office, data, field):
    filing = in_progress(client, office)
    data.setdefault("signers", "titular@obras.mx")
    refused = draft(client, office["tokens"]["staff"], filing["folio"], **data)
    assert refused.status_code == 422, refused.json
    assert refused.json["error"]["field"] == field
    assert refused.json["error"]["message"]


def test_a_non_pdf_or_an_already_signed_pdf_is_not_a_draft(client, office):
    filing = in_progress(client, office)
    staff = office["tokens"]["staff"]
    png = draft(client, staff, filing["folio"], sense="favorable", signers="titular@obras.mx",
                file=(io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"0" * 100), "oficio.pdf"))
    assert png.status_code in (415, 422), png.json
    buf = io.BytesIO()
    with pikepdf.open(io.BytesIO(pdf_bytes())) as doc:
        doc.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array(), SigFlags=3)
        doc.save(buf)
    signed = draft(client, staff, filing["folio"], sense="favorable", signers="titular@obras.mx",
                   file=(io.BytesIO(buf.getvalue()), "firmado.pdf"))
    assert signed.status_code == 422
    assert "firmas" in signed.json["error"]["message"]


def test_only_the_department_holding_the_filing_drafts_and_only_one_at_a_time(client, office):
    filing = in_progress(client, office)
    folio = filing["folio"]
    assert draft(client, office["tokens"]["other"], folio, sense="favorable", text="x").status_code == 404
    assert draft(client, office["tokens"]["citizen"], folio, sense="favorable", text="x").status_code == 403
    first = draft(client, office["tokens"]["staff"], folio, sense="favorable", text="Uno",
                  signers="titular@obras.mx")
    assert first.status_code == 201
    again = draft(client, office["tokens"]["staff"], folio, sense="favorable", text="Dos",
                  signers="titular@obras.mx")
    assert again.status_code == 409
    assert "en preparación" in again.json["error"]["message"]


def test_signer_alone_is_the_default_signer(client, office):
    filing = in_progress(client, office)
    made = draft(client, office["tokens"]["signer"], filing["folio"], sense="informativa", text="Aviso.")
    assert made.status_code == 201, made.json
    assert [s["email"] for s in made.json["signers"]] == ["titular@obras.mx"]


def test_the_queue_shows_only_whose_turn_it_is_and_the_filer_sees_no_draft(client, office):
    filing = in_progress(client, office)
    made = draft(client, office["tokens"]["staff"], filing["folio"], sense="favorable", text="Texto",
                 signers="juridico@obras.mx,titular@obras.mx")
    rid = made.json["id"]
    first = client.get("/api/v1/signatures/pending", headers=bearer(office["tokens"]["second"])).json
    assert [r["id"] for r in first["responses"]] == [rid]
    assert client.get("/api/v1/signatures/pending", headers=bearer(office["tokens"]["signer"])).json == \
        {"responses": []}
    assert client.get(f"/api/v1/responses/{rid}", headers=bearer(office["tokens"]["citizen"])).status_code == 404
    assert client.get(f"/api/v1/responses/{rid}/pdf",
                      headers=bearer(office["tokens"]["citizen"])).status_code == 404
    # the tracking API shows no response yet
    tracked = client.get(f"/api/v1/track/{filing['folio']}?code={filing['tracking_code']}")
    assert tracked.json["response"] is None


def test_cancel_a_draft(app, client, office, login):
    filing = in_progress(client, office)
    made = draft(client, office["tokens"]["staff"], filing["folio"], sense="favorable", text="Texto",
                 signers="titular@obras.mx")
    login(office["users"]["staff"])
    page = client.get(f"/expedientes/{filing['folio']}")
    assert b"Cancelar borrador" in page.data
    cancelled = client.post(f"/respuestas/{made.json['id']}/cancelar")
    assert cancelled.status_code == 302
    with app.app_context():
        assert db.session.get(Response, made.json["id"]).status is ResponseStatus.CANCELLED
    assert b"Redactar respuesta" in client.get(f"/expedientes/{filing['folio']}").data


def test_draft_through_the_web_form(app, client, office, login):
    filing = in_progress(client, office)
    login(office["users"]["staff"])
    form = client.get(f"/expedientes/{filing['folio']}/respuesta")
    assert form.status_code == 200 and "Roberto Salas" in form.get_data(as_text=True)
    assert "Sin RFC" not in form.get_data(as_text=True)
    bad = client.post(f"/expedientes/{filing['folio']}/respuesta", data={"sense": "favorable", "mode": "text",
                                                                         "text": "Texto", "signer_1": ""})
    assert bad.status_code == 422 and "firme" in bad.get_data(as_text=True)
    with app.app_context():
        signer_id = office["users"]["signer"].id
    made = client.post(f"/expedientes/{filing['folio']}/respuesta",
                       data={"sense": "desfavorable", "mode": "text", "text": "No procede.",
                             "signer_1": str(signer_id)})
    assert made.status_code == 302
    with app.app_context():
        response = db.session.execute(select(Response)).scalar_one()
        signers = db.session.execute(select(ResponseSigner)).scalars().all()
        assert response.sense.value == "desfavorable" and [s.user_id for s in signers] == [signer_id]


def edit_api(client, token: str, response_id: int, **data: Any):
    return client.put(f"/api/v1/responses/{response_id}/draft", headers=bearer(token),
                      content_type="multipart/form-data", data=data)


def test_edit_a_draft_through_the_api(app, client, office):
    """GIVEN a composed draft WHEN its department edits it THEN the new letter replaces it, the
    former one stays in the logbook, the signers are the new ones and the first is told again;
    what is not sent is kept; once cancelled it is no longer a draft to edit."""
    filing = in_progress(client, office)
    staff = office["tokens"]["staff"]
    made = draft(client, staff, filing["folio"], sense="favorable", text="Se programó la reparación.",
                 signers="titular@obras.mx").json
    before = client.get(f"/api/v1/responses/{made['id']}/pdf", headers=bearer(staff)).data
    edited = edit_api(client, staff, made["id"], sense="parcial", text="Se repara la mitad de la calle.",
                      signers="juridico@obras.mx, titular@obras.mx")
    assert edited.status_code == 200, edited.json
    assert edited.json["status"] == "draft" and edited.json["sense"] == "parcial"
    assert [s["email"] for s in edited.json["signers"]] == ["juridico@obras.mx", "titular@obras.mx"]
    after = client.get(f"/api/v1/responses/{made['id']}/pdf", headers=bearer(staff)).data
    with pikepdf.open(io.BytesIO(after)) as doc:
        text = b"".join(pikepdf.unparse_content_stream(pikepdf.parse_content_stream(p)) for p in doc.pages)
    assert b"Parcial" in text and after != before
    with app.app_context():
        entry = db.session.execute(select(LogbookEntry).where(LogbookEntry.event == "response_edited")).scalar_one()
        data = json.loads(entry.content)["data"]
        assert entry.public is False and data["previous_sha256"] != data["sha256"]
        assert data["signers"] == ["juridico@obras.mx", "titular@obras.mx"]
    assert [n.to_email for n in _signature_notices(app)] == ["titular@obras.mx", "juridico@obras.mx"]

    kept = edit_api(client, staff, made["id"])  # nothing sent: the same text, sense and signers
    assert kept.status_code == 200 and kept.json["sense"] == "parcial"
    assert [s["email"] for s in kept.json["signers"]] == ["juridico@obras.mx", "titular@obras.mx"]
    with app.app_context():
        assert db.session.get(Response, made["id"]).text == "Se repara la mitad de la calle."

    bad = edit_api(client, staff, made["id"], sense="quizá")
    assert bad.status_code == 422 and bad.json["error"]["field"] == "sense"
    assert edit_api(client, office["tokens"]["other"], made["id"], text="Otro").status_code in (403, 404)
    with app.app_context():
        responses.cancel_draft(db.session, db.session.get(Response, made["id"]), db.session.get(
            User, office["users"]["staff"].id))
    late = edit_api(client, staff, made["id"], text="Tarde")
    assert late.status_code == 409 and "borrador" in late.json["error"]["message"]


def test_an_uploaded_pdf_draft_keeps_its_pdf_unless_another_is_sent(client, office):
    filing = in_progress(client, office)
    staff = office["tokens"]["staff"]
    original = pdf_bytes(2, text="Oficio de respuesta")
    made = draft(client, staff, filing["folio"], sense="parcial", file=(io.BytesIO(original), "oficio.pdf"),
                 signers="titular@obras.mx").json
    assert edit_api(client, staff, made["id"], sense="favorable").status_code == 200
    assert client.get(f"/api/v1/responses/{made['id']}/pdf", headers=bearer(staff)).data == original
    other = pdf_bytes(1, text="Oficio corregido")
    assert edit_api(client, staff, made["id"], file=(io.BytesIO(other), "v2.pdf")).status_code == 200
    assert client.get(f"/api/v1/responses/{made['id']}/pdf", headers=bearer(staff)).data == other
    refused = edit_api(client, staff, made["id"], file=(io.BytesIO(b"no es un PDF"), "x.pdf"))
    assert refused.status_code in (415, 422)
    assert client.get(f"/api/v1/responses/{made['id']}/pdf", headers=bearer(staff)).data == other


def test_edit_a_draft_through_the_web_form(app, client, office, login):
    filing = in_progress(client, office)
    made = draft(client, office["tokens"]["staff"], filing["folio"], sense="favorable", text="Primer texto.",
                 signers="titular@obras.mx").json
    login(office["users"]["staff"])
    page = client.get(f"/expedientes/{filing['folio']}").get_data(as_text=True)
    assert "Editar borrador" in page
    form = client.get(f"/respuestas/{made['id']}/editar").get_data(as_text=True)
    assert "Editar el borrador de respuesta" in form and "Primer texto." in form
    with app.app_context():
        signer_id, second_id = office["users"]["signer"].id, office["users"]["second"].id
    assert f'value="{signer_id}" selected' in form
    empty = client.post(f"/respuestas/{made['id']}/editar", data={"sense": "favorable", "mode": "text", "text": " ",
                                                                   "signer_1": str(signer_id)})
    assert empty.status_code == 422 and "Escriba el texto" in empty.get_data(as_text=True)
    saved = client.post(f"/respuestas/{made['id']}/editar",
                        data={"sense": "desfavorable", "mode": "text", "text": "Segundo texto.",
                              "signer_1": str(second_id)})
    assert saved.status_code == 302
    with app.app_context():
        response = db.session.get(Response, made["id"])
        assert response.text == "Segundo texto." and response.sense.value == "desfavorable"
        assert [s.user_id for s in responses.signers_of(db.session, response)] == [second_id]
    login(office["users"]["other"])
    assert client.get(f"/respuestas/{made['id']}/editar").status_code in (302, 404)


# --- signing (service) -------------------------------------------------------------------------

SAT = Path(__file__).resolve().parents[1] / "data" / "sat"
SAT_PASSWORD = "12345678a"


def sat(name: str) -> bytes:
    return (SAT / name).read_bytes()


def sat_trust() -> firma.TrustSettings:
    return firma.TrustSettings(roots=tuple(firma.load_certificates(sat("sat.certs/ARC_UAT_2022.crt"))),
                               intermediates=tuple(firma.load_certificates(sat("sat.certs/AC_UAT_2022.crt"))),
                               allow_fetching=False)


def efirma(password: str = SAT_PASSWORD, cer: str = "fake-fiel/EKU9003173C9.cer",
           key: str = "fake-fiel/EKU9003173C9.key") -> responses.Credentials:
    return responses.Credentials(password=password, certificate=sat(cer), key=sat(key))


class Sealer:
    """Stands for the institution's seal in service tests: a real seal, counted."""

    def __init__(self, identity: firma.SigningIdentity) -> None:
        from firma.signer import LoadedKeySigner

        self.seal = firma.InstitutionSeal(LoadedKeySigner(identity.certificate, identity.private_key,
                                                          firma.pades._store([identity.certificate])))
        self.calls = 0

    def __call__(self, pdf: bytes, folio: str) -> bytes:
        self.calls += 1
        return self.seal.seal(pdf, settings=firma.SigningSettings()).data


def sign_as(app, response_id: int, user_id: int, credentials: responses.Credentials, sealer=None):
    with app.app_context():
        response = db.session.get(Response, response_id)
        actor = db.session.get(User, user_id)
        return responses.sign_response(
            db.session, get_store(), response, actor, credentials, signing=firma.SigningSettings(),
            trust=sat_trust(), settings=responses.ResponseSettings.from_config(app.config),
            seal=sealer or Sealer(efirma().load()))


def validate(pdf: bytes) -> list[Any]:
    """Every signature of ``pdf``, validated against the SAT test CAs with pyHanko."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    trust = sat_trust()
    reader = PdfFileReader(io.BytesIO(pdf))
    # a browser test earlier in the session may leave Playwright's loop in this thread
    return [outside_event_loop(validate_pdf_signature)(sig, ValidationContext(trust_roots=list(trust.roots),
                                                          other_certs=list(trust.intermediates)))
            for sig in reader.embedded_signatures]


def test_two_signers_in_sequence_then_sealed_issued_and_answered(app, client, office):
    """GIVEN a letter drafted for two signers WHEN both sign with the SAT test e.firma, in turn
    THEN both signatures validate, the seal is added, the filing is answered, the filer is told
    and downloads the response with the tracking code; every step is in the logbook."""
    filing = in_progress(client, office)
    made = draft(client, office["tokens"]["staff"], filing["folio"], sense="favorable", text="Procede.",
                 signers="titular@obras.mx,juridico@obras.mx")
    rid = made.json["id"]
    users = office["users"]
    # out of turn
    with pytest.raises(Conflict, match="no es su turno"):
        sign_as(app, rid, users["second"].id, efirma())
    sealer = Sealer(efirma().load())
    first = sign_as(app, rid, users["signer"].id, efirma(), sealer)
    assert first.issued is False and first.level == "B-B" and sealer.calls == 0
    with app.app_context():
        assert db.session.get(Response, rid).status is ResponseStatus.SIGNING
    second = sign_as(app, rid, users["second"].id, efirma(), sealer)
    assert second.issued is True and sealer.calls == 1

    with app.app_context():
        response = db.session.get(Response, rid)
        assert response.status is ResponseStatus.ISSUED and response.issued_at is not None
        assert response.filing.status.value == "answered"
        signers = db.session.execute(select(ResponseSigner).order_by(ResponseSigner.position)).scalars().all()
        assert [s.certificate_rfc for s in signers] == [SAT_RFC, SAT_RFC]
        events = db.session.execute(select(LogbookEntry.event).where(LogbookEntry.filing_id == response.filing_id)
                                    .order_by(LogbookEntry.seq)).scalars().all()
        assert "response_sign_refused" not in events  # out of turn is refused before any credential
        assert events.count("response_signed") == 2 and events[-2:] == ["response_issued", "answered"]
        sent = db.session.execute(select(Notification.kind).where(Notification.filing_id == response.filing_id)
                                  ).scalars().all()
        assert "answered" in sent

    pdf = client.get(f"/api/v1/track/{filing['folio']}/response?code={filing['tracking_code']}")
    assert pdf.status_code == 200 and pdf.headers["X-Content-SHA256"] == second.sha256
    statuses = validate(pdf.data)
    assert len(statuses) == 3
    for status in statuses[:2]:
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    from pyhanko.pdf_utils.reader import PdfFileReader

    embedded = PdfFileReader(io.BytesIO(pdf.data)).embedded_signatures
    assert embedded[0].docmdp_level is not None  # the first signature certifies
    assert statuses[1].modification_level is not None
    # any change to the signed bytes breaks them
    tampered = bytearray(pdf.data)
    tampered[200] ^= 0x01  # inside the first revision, covered by every signature
    assert not any(s.intact for s in validate(bytes(tampered)))
    tracked = client.get(f"/api/v1/track/{filing['folio']}?code={filing['tracking_code']}").json
    assert tracked["response"]["sha256"] == second.sha256
    assert client.get(f"/api/v1/track/{filing['folio']}/response?code=AAAA-BBBB-CCCC").status_code == 404


def _signature_notices(app) -> list[Notification]:
    with app.app_context():
        notices = db.session.execute(select(Notification).where(Notification.kind == "signature_due")
                                     .order_by(Notification.id)).scalars().all()
        db.session.expunge_all()
        return list(notices)


def test_each_signer_is_told_by_e_mail_when_their_turn_comes(app, client, office):
    """GIVEN a draft for two signers THEN the first is e-mailed a link to sign it; after the first
    signature the second is, with who signed already; the last signature e-mails no signer."""
    filing = in_progress(client, office)
    rid = draft(client, office["tokens"]["staff"], filing["folio"], sense="favorable", text="Procede.",
                signers="titular@obras.mx,juridico@obras.mx").json["id"]
    [first] = _signature_notices(app)
    assert first.to_email == "titular@obras.mx"
    assert first.subject == f"Respuesta por firmar: folio {filing['folio']}"
    assert "firma 1 de 2" in first.body and "Preparó el borrador: Jorge Ramírez" in first.body
    assert f"http://oficialia.test/respuestas/{rid}/firmar" in first.body and "Ya firmaron" not in first.body
    sign_as(app, rid, office["users"]["signer"].id, efirma())
    second = _signature_notices(app)[1]
    assert second.to_email == "juridico@obras.mx"
    assert "firma 2 de 2" in second.body and "Ya firmaron: Roberto Salas" in second.body
    sign_as(app, rid, office["users"]["second"].id, efirma())
    assert len(_signature_notices(app)) == 2


def test_a_signer_drafting_for_themselves_gets_no_e_mail(app, client, office):
    filing = in_progress(client, office)
    made = draft(client, office["tokens"]["signer"], filing["folio"], sense="informativa", text="Aviso.")
    assert made.status_code == 201, made.json
    assert _signature_notices(app) == []


@pytest.mark.parametrize(("credentials", "error", "words"), [
    (lambda: efirma(password="otra-clave"), firma.WrongPassword, "contraseña"),
    (lambda: efirma(cer="FIEL_AAA010101AAA/certificate.cer", key="FIEL_AAA010101AAA/private_key.key"),
     firma.CertificateExpired, "venció"),
    (lambda: efirma(cer="fake-csd/EKU9003173C9.cer", key="fake-csd/EKU9003173C9.key"), firma.CsdNotEfirma,
     "sello digital (CSD)"),
    (lambda: efirma(cer="CSD01_AAA010101AAA/certificate.cer", key="CSD01_AAA010101AAA/private_key.key"),
     firma.CsdNotEfirma, "sello digital (CSD)"),
    (lambda: efirma(key="fake-csd/EKU9003173C9.key"), firma.KeyMismatch, "no corresponde"),
])
def test_refused_credentials_say_why_and_change_nothing(app, client, office, credentials, error, words):
    filing = in_progress(client, office)
    rid = draft(client, office["tokens"]["staff"], filing["folio"], sense="favorable", text="Procede.",
                signers="titular@obras.mx").json["id"]
    with pytest.raises(error) as refused:
        sign_as(app, rid, office["users"]["signer"].id, credentials())
    assert words in refused.value.message and SAT_PASSWORD not in refused.value.message
    with app.app_context():
        assert db.session.get(Response, rid).status is ResponseStatus.DRAFT
        entry = db.session.execute(select(LogbookEntry).where(LogbookEntry.event == "response_sign_refused")
                                   ).scalar_one()
        assert error.__name__ in entry.content and "otra-clave" not in entry.content


def test_the_rfc_on_the_profile_must_match(app, client, office, make_user):
    filing = in_progress(client, office)
    other = make_user(Role.SIGNER, department="OBRAS", email="otro@obras.mx", rfc="XAXX010101000")
    rid = draft(client, office["tokens"]["staff"], filing["folio"], sense="favorable", text="Procede.",
                signers="otro@obras.mx").json["id"]
    with pytest.raises(firma.RfcMismatch):
        sign_as(app, rid, other.id, efirma())


def test_wrong_passwords_lock_signing_for_a_while(app, client, office):
    filing = in_progress(client, office)
    rid = draft(client, office["tokens"]["staff"], filing["folio"], sense="favorable", text="Procede.",
                signers="titular@obras.mx").json["id"]
    for _ in range(5):
        with pytest.raises(firma.WrongPassword):
            sign_as(app, rid, office["users"]["signer"].id, efirma(password="mal"))
    with pytest.raises(responses.SigningLocked, match="bloqueada") as locked:
        sign_as(app, rid, office["users"]["signer"].id, efirma())
    assert locked.value.http_status == 429
    with app.app_context():
        row = db.session.get(SigningThrottle, office["users"]["signer"].id)
        assert row.locked_until is not None
        row.locked_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert sign_as(app, rid, office["users"]["signer"].id, efirma()).issued is True


def test_credentials_never_show_their_secrets():
    creds = efirma()
    assert SAT_PASSWORD not in repr(creds) and "key=" not in repr(creds)


# --- signing against the live test PKI (TSA, OCSP, CRLs on loopback) ---------------------------


@pytest.mark.pki
def test_a_pkcs12_signer_after_the_efirma_reaches_b_lta_and_both_stay_valid(app, client, office, make_user,
                                                                           test_pki):
    """GIVEN a SAT e.firma signer and then a PKCS#12 signer of the test PKI WHEN both sign, the
    second at B-LTA with the TSA and OCSP, and the test PKI's seal closes it THEN every
    signature validates, and still does with the TSA and OCSP switched off."""
    from tests.fixtures.pki import PASSWORD

    good = make_user(Role.SIGNER, department="OBRAS", email="ana.garcia@obras.mx", rfc="GALA800101AB1")
    filing = in_progress(client, office)
    rid = draft(client, office["tokens"]["staff"], filing["folio"], sense="parcial", text="Procede en parte.",
                signers="titular@obras.mx,ana.garcia@obras.mx").json["id"]
    trust = firma.TrustSettings(roots=(*sat_trust().roots, test_pki.root),
                                intermediates=(*sat_trust().intermediates, test_pki.interm), timeout=5.0)
    seal = firma.InstitutionSeal.from_pkcs12(test_pki.pkcs12["seal"], PASSWORD)

    def sign(user_id: int, credentials: responses.Credentials, settings: firma.SigningSettings):
        with app.app_context():
            return responses.sign_response(
                db.session, get_store(), db.session.get(Response, rid), db.session.get(User, user_id), credentials,
                signing=settings, trust=trust, settings=responses.ResponseSettings.from_config(app.config),
                seal=lambda pdf, folio: seal.seal(pdf, settings=test_pki.settings(trust=trust)).data)

    # the SAT test CA has no reachable OCSP here: the e.firma signs at B-T
    first = sign(office["users"]["signer"].id, efirma(), test_pki.settings(trust=trust, max_level="B-T"))
    assert first.level == "B-T"
    second = sign(good.id, responses.Credentials(password=PASSWORD, pkcs12=test_pki.pkcs12["good"]),
                  test_pki.settings(trust=trust))
    assert second.level == "B-LTA" and second.issued
    with app.app_context():
        pdf = responses.read_version(get_store(), responses.current_version(db.session.get(Response, rid)))

    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    with test_pki.switched_off():
        reader = PdfFileReader(io.BytesIO(pdf))
        context = ValidationContext(trust_roots=list(trust.roots), other_certs=list(trust.intermediates),
                                    allow_fetching=False)
        statuses = [outside_event_loop(validate_pdf_signature)(s, context) for s in reader.embedded_signatures
                    if s.sig_object_type == "/Sig"]
    assert len(statuses) == 3
    assert all(s.intact and s.valid and s.trusted for s in statuses), [s.summary() for s in statuses]


@pytest.mark.pki
def test_a_revoked_certificate_is_refused(app, client, office, make_user, test_pki):
    from tests.fixtures.pki import PASSWORD

    revoked = make_user(Role.SIGNER, department="OBRAS", email="bruno@obras.mx", rfc="DIRB790202CD2")
    filing = in_progress(client, office)
    rid = draft(client, office["tokens"]["staff"], filing["folio"], sense="favorable", text="Procede.",
                signers="bruno@obras.mx").json["id"]
    with app.app_context(), pytest.raises(firma.CertificateRevoked) as refused:
        responses.sign_response(
            db.session, get_store(), db.session.get(Response, rid), db.session.get(User, revoked.id),
            responses.Credentials(password=PASSWORD, pkcs12=test_pki.pkcs12["revoked"]),
            signing=test_pki.settings(), trust=test_pki.trust(),
            settings=responses.ResponseSettings.from_config(app.config), seal=lambda pdf, folio: pdf)
    assert "revocado" in refused.value.message


# --- signing through the API, with the app's own signing configuration ------------------------


def signing_config(folder: Path, test_pki: Any) -> dict[str, Any]:
    """The app signs at B-T with the test PKI's TSA, trusts SAT's test CAs and the test PKI,
    and seals with the test PKI's seal."""
    from asn1crypto import pem

    from tests.fixtures.pki import PASSWORD

    trust = folder / "trust"
    trust.mkdir(parents=True)
    for name in ("ARC_UAT_2022.crt", "AC_UAT_2022.crt"):
        (trust / name).write_bytes(sat(f"sat.certs/{name}"))
    for name, cert in (("pki-root.pem", test_pki.root), ("pki-interm.pem", test_pki.interm)):
        (trust / name).write_bytes(pem.armor("CERTIFICATE", cert.dump()))
    (folder / "seal.p12").write_bytes(test_pki.pkcs12["seal"])
    return {"TSA_URL": test_pki.tsa_url, "SIGNING_LEVEL": "B-T", "TRUST_DIR": str(trust),
            "SEAL_PKCS12": str(folder / "seal.p12"), "SEAL_PASSWORD": PASSWORD, "SIGNING_TIMEOUT": 5}


@pytest.fixture
def app_config(app_config, request, tmp_path):
    if "test_pki" in request.fixturenames:
        return app_config | signing_config(tmp_path / "signing", request.getfixturevalue("test_pki"))
    return app_config


def sign_api(client, token: str, response_id: int, **files: Any):
    return client.post(f"/api/v1/responses/{response_id}/sign", headers=bearer(token),
                       content_type="multipart/form-data", data=files)


def sat_files(cer: str = "fake-fiel/EKU9003173C9.cer", key: str = "fake-fiel/EKU9003173C9.key",
              password: str = SAT_PASSWORD) -> dict[str, Any]:
    return {"certificate": (io.BytesIO(sat(cer)), "firma.cer"), "key": (io.BytesIO(sat(key)), "firma.key"),
            "password": password}


@pytest.mark.pki
def test_sign_through_the_api_with_the_sat_efirma(client, office, test_pki, tmp_path):
    """The SAT test e.firma signs through the API; refusals are 4xx JSON in Spanish."""
    filing = in_progress(client, office)
    tokens = office["tokens"]
    rid = draft(client, tokens["staff"], filing["folio"], sense="favorable",
                file=(io.BytesIO(pdf_bytes(1, text="Oficio")), "oficio.pdf"),
                signers="titular@obras.mx").json["id"]
    for files, status, code, words in (
            (sat_files(password="equivocada"), 400, "wrong_password", "contraseña"),
            (sat_files("fake-csd/EKU9003173C9.cer", "fake-csd/EKU9003173C9.key"), 400, "csd_not_efirma", "CSD"),
            (sat_files("FIEL_AAA010101AAA/certificate.cer", "FIEL_AAA010101AAA/private_key.key"), 400,
             "certificate_expired", "venció"),
            (sat_files(key="CSD01_AAA010101AAA/private_key.key"), 400, "key_mismatch", "no corresponde"),
            ({"password": SAT_PASSWORD}, 422, "invalid_input", "e.firma"),
            ({"certificate": (io.BytesIO(b"no soy un certificado"), "x.cer"),
              "key": (io.BytesIO(sat("fake-fiel/EKU9003173C9.key")), "x.key"), "password": SAT_PASSWORD},
             400, "invalid_credential", ".cer")):
        refused = sign_api(client, tokens["signer"], rid, **files)
        assert refused.status_code == status, refused.json
        assert refused.json["error"]["code"] == code
        assert words in refused.json["error"]["message"] and SAT_PASSWORD not in refused.get_data(as_text=True)
    assert sign_api(client, tokens["second"], rid, **sat_files()).status_code == 403

    signed = sign_api(client, tokens["signer"], rid, **sat_files())
    assert signed.status_code == 200, signed.json
    body = signed.json
    assert body["document_id"] == rid and body["level"] == "B-T" and body["issued"] is True
    assert body["signer"] == "ESCUELA KEMPER URGATE SA DE CV"
    pdf = client.get(f"/api/v1/responses/{rid}/pdf", headers=bearer(tokens["citizen"]))
    assert pdf.status_code == 200 and pdf.headers["X-Content-SHA256"] == body["sha256"]
    statuses = validate(pdf.data)
    assert statuses[0].intact and statuses[0].valid and statuses[0].trusted
    assert statuses[0].timestamp_validity is not None and statuses[0].timestamp_validity.intact
    again = sign_api(client, tokens["signer"], rid, **sat_files())
    assert again.status_code == 409 and "emitida" in again.json["error"]["message"]
    listed = client.get(f"/api/v1/filings/{filing['folio']}/responses", headers=bearer(tokens["citizen"])).json
    assert [r["id"] for r in listed["responses"]] == [rid]

    # an independent validator agrees: poppler's pdfsig, with SAT's test root and the test PKI's
    from asn1crypto import pem

    from tests.firma.test_pdfsig import nss_db, pdfsig

    path = tmp_path / "respuesta.pdf"
    path.write_bytes(pdf.data)
    report = pdfsig(nss_db(tmp_path / "nss", sat("sat.certs/ARC_UAT_2022.crt"), sat("sat.certs/AC_UAT_2022.crt"),
                           pem.armor("CERTIFICATE", test_pki.root.dump()),
                           pem.armor("CERTIFICATE", test_pki.interm.dump())), path)
    assert report.count("Signature Validation: Signature is Valid.") == 2, report
    efirma_part = next(part for part in report.split("Signature #") if "ESCUELA KEMPER URGATE SA DE CV" in part)
    assert "Certificate Validation: Certificate is Trusted." in efirma_part, report
    seen = client.get(f"/api/v1/responses/{rid}", headers=bearer(tokens["citizen"])).json
    assert seen["status"] == "issued" and seen["signers"][0]["certificate"]["rfc"] == SAT_RFC
    filing_now = client.get(f"/api/v1/filings/{filing['folio']}", headers=bearer(tokens["staff"])).json
    assert filing_now["status"] == "answered"


def test_demo_includes_a_filing_answered_with_a_signed_sealed_response(app, runner):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "respuesta firmada y sellada" in first.output
    with app.app_context():
        response = db.session.execute(select(Response)).scalar_one()
        assert response.status is ResponseStatus.ISSUED and response.filing.status.value == "answered"
        pdf = responses.read_version(get_store(), responses.current_version(response))
        from oficialia.signing import pki_dir

        root = firma.load_certificates((pki_dir() / "trust" / "root.pem").read_bytes())
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    signatures = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    assert len(signatures) == 2  # the titular's and the institution's seal
    for embedded in signatures:
        status = outside_event_loop(validate_pdf_signature)(embedded, ValidationContext(trust_roots=root))
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Response)).scalar_one() == 1


def test_without_an_institution_seal_the_last_signature_is_refused_before_signing(client, office):
    filing = in_progress(client, office)
    rid = draft(client, office["tokens"]["staff"], filing["folio"], sense="favorable", text="Procede.",
                signers="titular@obras.mx").json["id"]
    refused = sign_api(client, office["tokens"]["signer"], rid, **sat_files())
    assert refused.status_code == 503
    assert "sello electrónico de la institución" in refused.json["error"]["message"]
    assert client.get(f"/api/v1/responses/{rid}", headers=bearer(office["tokens"]["staff"])).json["status"] == "draft"


def test_a_tsa_that_does_not_answer_leaves_the_draft_as_it_was_and_is_logged(app, client, office):
    filing = in_progress(client, office)
    rid = draft(client, office["tokens"]["staff"], filing["folio"], sense="favorable", text="Procede.",
                signers="titular@obras.mx").json["id"]
    with app.app_context(), pytest.raises(firma.TimestampFailed) as failed:
        responses.sign_response(
            db.session, get_store(), db.session.get(Response, rid), db.session.get(User, office["users"]["signer"].id),
            efirma(), signing=firma.SigningSettings(tsa_url="http://127.0.0.1:9/tsa", timeout=2), trust=sat_trust(),
            settings=responses.ResponseSettings.from_config(app.config), seal=lambda pdf, folio: pdf)
    assert "sellado de tiempo" in failed.value.message
    with app.app_context():
        assert db.session.get(Response, rid).status is ResponseStatus.DRAFT
        entry = db.session.execute(select(LogbookEntry).where(LogbookEntry.event == "response_sign_refused")
                                   ).scalar_one()
        assert "TimestampFailed" in entry.content


@pytest.mark.pki
def test_sign_through_the_api_with_a_pkcs12(client, office, make_user, make_token, test_pki):
    from tests.fixtures.pki import PASSWORD

    ana = make_user(Role.SIGNER, department="OBRAS", email="ana.garcia@obras.mx", rfc="GALA800101AB1")
    filing = in_progress(client, office)
    rid = draft(client, office["tokens"]["staff"], filing["folio"], sense="informativa", text="Aviso.",
                signers="ana.garcia@obras.mx").json["id"]
    token = make_token(ana)
    wrong = sign_api(client, token, rid, pkcs12=(io.BytesIO(test_pki.pkcs12["good"]), "firma.p12"), password="x")
    assert wrong.status_code == 400 and wrong.json["error"]["code"] == "wrong_password"
    signed = sign_api(client, token, rid, pkcs12=(io.BytesIO(test_pki.pkcs12["good"]), "firma.p12"),
                      password=PASSWORD)
    assert signed.status_code == 200, signed.json
    assert signed.json["signer"] == "ANA GARCIA LOPEZ" and signed.json["issued"] is True
