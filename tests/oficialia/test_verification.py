"""The three doors to the verifier (public page, ``POST /api/v1/verify``, ``flask verify``), the trust
store (admin page, ``flask trust``, the demo's PKI), "is this the document you issued?" and the PDF
report."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from firma.isolation import IsolatedVerifier
from oficialia.db import db, utcnow
from oficialia.models import Filing, Response, ResponseSense, ResponseStatus, Role, TrustAnchor, User
from tests.conftest import IN_CI, SHARED
from tests.firma import signed_material as material

SAT_CERTS = Path(__file__).resolve().parents[1] / "data" / "sat" / "sat.certs"


@pytest.fixture(scope="module")
def pki() -> material.TestPki:
    return material.make_pki()


@pytest.fixture(scope="module")
def signed(pki) -> bytes:
    return material.sign(material.make_document(), pki)


@pytest.fixture(scope="module")
def shared_verifier():
    verifier = IsolatedVerifier(timeout=10, memory_mb=1024, workers=1)
    yield verifier
    verifier.close()


@pytest.fixture
def app(app, shared_verifier):
    app.extensions["verifier"] = shared_verifier
    return app


@pytest.fixture
def trusted(app, pki, tmp_path):
    """The test PKI's root and issuing CA in the trust store, through the command line."""
    bundle = tmp_path / "cas.pem"
    bundle.write_bytes(pki.root.pem + pki.issuing.pem)
    result = app.test_cli_runner().invoke(args=["trust", "add", str(bundle), "--note", "PKI de pruebas"])
    assert result.exit_code == 0, result.output
    return result


def upload(client, pdf: bytes, url: str = "/api/v1/verify", **data):
    return client.post(url, data={"file": (io.BytesIO(pdf), "documento.pdf"), **data},
                       content_type="multipart/form-data")


# --- trust store -----------------------------------------------------------------------------------

def test_trust_add_list_remove(app, trusted, pki):
    assert "Raíz de Prueba del Ayuntamiento" in trusted.output and "AC Emisora de Prueba" in trusted.output
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["trust", "list"])
    assert "PKI de pruebas" in listed.output and "activo" in listed.output
    fingerprint = hashlib.sha256(pki.root.der).hexdigest()
    removed = runner.invoke(args=["trust", "remove", fingerprint])
    assert removed.exit_code == 0, removed.output
    with app.app_context():
        anchor = db.session.execute(sa.select(TrustAnchor).where(TrustAnchor.fingerprint == fingerprint)).scalar_one()
        assert not anchor.active and anchor.deactivated_at is not None


def test_trust_refuses_what_is_not_a_ca(app, pki, tmp_path):
    runner = app.test_cli_runner()
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(pki.signer.pem)
    refused = runner.invoke(args=["trust", "add", str(leaf)])
    assert refused.exit_code != 0 and "no es un certificado de autoridad" in refused.output
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a certificate")
    assert "no contiene un certificado" in runner.invoke(args=["trust", "add", str(junk)]).output


def test_sat_test_cas_are_added(app):
    runner = app.test_cli_runner()
    for name in ("ARC_UAT_2022.crt", "AC_UAT_2022.crt", "ac2_4096_DER.cer"):
        result = runner.invoke(args=["trust", "add", str(SAT_CERTS / name), "--note", "CA de pruebas del SAT"])
        assert result.exit_code == 0, result.output
    with app.app_context():
        kinds = dict(db.session.execute(sa.select(TrustAnchor.subject, TrustAnchor.kind)).all())
    assert len(kinds) == 3
    assert "root" in {k.value for k in kinds.values()} and "intermediate" in {k.value for k in kinds.values()}


def test_demo_trusts_the_demo_pki_idempotently(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "Almacén de confianza: 2 certificado(s)" in first.output
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0 and "Almacén de confianza" not in again.output
    with app.app_context():
        anchors = db.session.execute(sa.select(TrustAnchor)).scalars().all()
    assert len(anchors) == 2 and all(a.note == "PKI de demostración (flask demo)" for a in anchors)


def test_demo_trust_step_without_a_pki_folder_does_nothing(app):
    from oficialia.trust import import_trust_folder

    with app.app_context():
        assert import_trust_folder(db.session, Path(app.instance_path) / "nowhere", note="x") == 0


def test_a_pdf_sealed_by_the_demo_institution_is_valid_and_the_report_is_sealed(app, client):
    assert app.test_cli_runner().invoke(args=["demo"]).exit_code == 0
    with app.app_context():
        from oficialia.signing import seal_pdf

        sealed = seal_pdf(material.make_document(), folio="OP-2026-000001", visible=True).data
    body = upload(client, sealed).get_json()
    assert body["verdict"] == "valid", body["reason"]
    assert body["signatures"][0]["trusted"] is True
    assert body["signatures"][0]["institution_seal"] is True and body["sealed_by_us"] is True
    page = upload(client, sealed, url="/verificar").get_data(as_text=True)
    assert "sello electrónico de esta institución" in page

    report = client.post("/api/v1/verify?format=pdf", data={"file": (io.BytesIO(sealed), "d.pdf")},
                         content_type="multipart/form-data").get_data()
    checked = upload(client, report).get_json()
    assert checked["verdict"] == "valid", checked["reason"]  # the report itself carries the institution's seal


def test_admin_trust_page(app, client, make_user, login, pki):
    admin = make_user(Role.ADMIN)
    assert client.get("/admin/confianza").status_code == 401
    login(admin)
    page = client.get("/admin/confianza")
    assert page.status_code == 200 and "almacén está vacío" in page.get_data(as_text=True)
    added = client.post("/admin/confianza", data={"certificate": (io.BytesIO(pki.root.der), "raiz.cer"),
                                                  "note": "Raíz del ayuntamiento"},
                        content_type="multipart/form-data", follow_redirects=True)
    text = added.get_data(as_text=True)
    assert "Raíz de Prueba del Ayuntamiento" in text and "Raíz del ayuntamiento" in text
    assert admin.name in text
    bad = client.post("/admin/confianza", data={"certificate": (io.BytesIO(b"junk"), "x.cer"), "note": "x"},
                      content_type="multipart/form-data")
    assert bad.status_code == 422 and "no contiene un certificado" in bad.get_data(as_text=True)
    with app.app_context():
        anchor_id = db.session.execute(sa.select(TrustAnchor.id)).scalar_one()
    gone = client.post(f"/admin/confianza/{anchor_id}/desactivar", follow_redirects=True)
    assert "Ya no se confía" in gone.get_data(as_text=True)


def test_only_admins_manage_trust(app, client, make_user, login):
    login(make_user(Role.AUDITOR))
    assert client.get("/admin/confianza").status_code == 403


# --- the three doors --------------------------------------------------------------------------------

def test_api_answers_valid_for_a_trusted_signature(client, trusted, signed):
    response = upload(client, signed)
    assert response.status_code == 200
    body = response.get_json()
    assert body["verdict"] == "valid" and body["verdict_label"] == "VÁLIDA"
    (sig,) = body["signatures"]
    assert sig["signer"] == "Roberto Salas Prueba" and sig["signer_rfc"] == "SAPR800101AB1"
    assert sig["intact"] is True and sig["trusted"] is True
    assert sig["changes_after_signing"] == "none" and sig["level"] == "B-T" and sig["verdict"] == "valid"
    assert "Raíz de Prueba del Ayuntamiento" in sig["chain"][-1]["subject"]
    assert body["sha256"] == hashlib.sha256(signed).hexdigest()
    assert body["issued_by_us"] is None


def test_api_without_trust_cannot_verify(client, signed):
    body = upload(client, signed).get_json()
    assert body["verdict"] == "cannot_verify"
    assert body["signatures"][0]["intact"] is True and body["signatures"][0]["trusted"] is False


def test_api_attacked_document_is_not_valid(client, trusted, signed):
    body = upload(client, material.form_value_changed(signed)).get_json()
    assert body["verdict"] == "not_valid"
    assert body["signatures"][0]["changes_after_signing"] == "form_filling"
    assert any(c["page"] == 1 and c["object"] for c in body["changes_after_last_signature"])


def test_api_with_a_token(client, make_user, make_token, signed):
    token = make_token(make_user(Role.AUDITOR))
    ok = client.post("/api/v1/verify", headers={"Authorization": f"Bearer {token}"},
                     data={"file": (io.BytesIO(signed), "d.pdf")}, content_type="multipart/form-data")
    assert ok.status_code == 200
    bad = client.post("/api/v1/verify", headers={"Authorization": "Bearer nope"},
                      data={"file": (io.BytesIO(signed), "d.pdf")}, content_type="multipart/form-data")
    assert bad.status_code == 401


def test_api_bad_input_is_a_clear_4xx(client):
    missing = client.post("/api/v1/verify", data={}, content_type="multipart/form-data")
    assert missing.status_code == 422 and "Adjunte" in missing.get_json()["error"]["message"]
    not_pdf = upload(client, b"\x89PNG\r\n\x1a\nnot a pdf")
    assert not_pdf.status_code == 415 and "PDF" in not_pdf.get_json()["error"]["message"]


def test_api_pdf_report(client, trusted, signed):
    response = client.post("/api/v1/verify?format=pdf", data={"file": (io.BytesIO(signed), "d.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pdf = response.get_data()
    assert pdf.startswith(b"%PDF-")
    import pypdf

    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert "VÁLIDA" in text and "Roberto Salas Prueba" in text


def test_public_page(client, trusted, signed):
    page = client.get("/verificar")
    assert page.status_code == 200 and "Verificar un documento firmado" in page.get_data(as_text=True)
    valid = upload(client, signed, url="/verificar", format="html").get_data(as_text=True)
    assert 'id="verdict">VÁLIDA<' in valid and "SAPR800101AB1" in valid
    broken = upload(client, material.annotation_over_text(signed), url="/verificar").get_data(as_text=True)
    assert 'id="verdict">NO VÁLIDA<' in broken and "página 1" in broken
    pdf = upload(client, signed, url="/verificar", format="pdf")
    assert pdf.mimetype == "application/pdf"
    empty = client.post("/verificar", data={}, content_type="multipart/form-data")
    assert empty.status_code == 422 and "Adjunte" in empty.get_data(as_text=True)


def test_cli_exit_codes_and_json(app, trusted, signed, tmp_path, pki):
    runner = app.test_cli_runner()
    good = tmp_path / "good.pdf"
    good.write_bytes(signed)
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(material.page_appended(signed))
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.7\nnothing")

    assert runner.invoke(args=["verify", str(good)]).exit_code == 0
    assert runner.invoke(args=["verify", str(bad)]).exit_code == 1
    assert runner.invoke(args=["verify", str(junk)]).exit_code == 2
    as_json = runner.invoke(args=["verify", str(good), "--json", "--pdf", str(tmp_path / "r.pdf")])
    assert as_json.exit_code == 0
    assert json.loads(as_json.output)["verdict"] == "valid"
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-")
    text = runner.invoke(args=["verify", str(bad)]).output
    assert "NO VÁLIDA" in text and "página" in text


# --- "is this the document you issued?" -------------------------------------------------------------

def _issue_response(app, pdf: bytes, make_user) -> str:
    clerk = make_user(Role.CLERK)
    with app.app_context():
        from oficialia.models import Channel, Department, FilerKind

        department = Department(code="OBRAS", name="Obras Públicas")
        db.session.add(department)
        db.session.flush()
        filing = Filing(folio="OP-2026-000777", office="OP", year=2026, number=777, subject="Bacheo",
                        filer_name="María", filer_kind=FilerKind.NATURAL, channel=Channel.WEB, received_at=utcnow(),
                        tracking_code_hash="0" * 64, department_id=department.id)
        db.session.add(filing)
        db.session.flush()
        author = db.session.get(User, clerk.id)
        from oficialia.extensions import get_store

        stored = get_store().put(pdf, prefix="responses", content_type="application/pdf")
        db.session.add(Response(filing_id=filing.id, department_id=department.id, author_id=author.id,
                                sense=ResponseSense.FAVORABLE, status=ResponseStatus.ISSUED, draft_key="d",
                                draft_sha256="0" * 64, signed_key=stored.key, signed_sha256=stored.sha256,
                                signed_version=stored.version_id, signed_size=stored.size, issued_at=utcnow()))
        db.session.commit()
        return filing.folio


def test_the_document_we_issued_is_recognised(app, client, trusted, signed, make_user):
    folio = _issue_response(app, signed, make_user)

    body = upload(client, signed).get_json()
    assert body["issued_by_us"]["folio"] == folio and body["issued_by_us"]["kind"] == "response"

    from_qr = upload(client, signed, folio=folio.lower()).get_json()
    assert from_qr["folio"]["matches"] is True

    other = upload(client, material.sign(material.make_document(pages=1), material.make_pki()), folio=folio).get_json()
    assert other["issued_by_us"] is None and other["folio"]["matches"] is False

    page = client.get(f"/verificar?folio={folio}").get_data(as_text=True)
    assert folio in page and hashlib.sha256(signed).hexdigest() in page
    result = upload(client, signed, url=f"/verificar?folio={folio}", folio=folio).get_data(as_text=True)
    assert "exactamente el documento que emitió" in result


def test_the_stored_copy_of_an_issued_response_can_be_verified_from_its_folio(app, client, trusted, signed,
                                                                              make_user):
    folio = _issue_response(app, signed, make_user)
    page = client.get(f"/verificar?folio={folio}").get_data(as_text=True)
    assert "Verificar la copia emitida" in page and "favorable" not in page
    with app.app_context():
        response_id = db.session.execute(sa.select(Response.id)).scalar_one()
    result = client.post(f"/verificar/emitido/{response_id}", data={"format": "html"}).get_data(as_text=True)
    assert 'id="verdict">VÁLIDA<' in result and "copia que guarda la institución" in result
    assert "exactamente el documento que emitió" in result
    assert client.post("/verificar/emitido/999", data={}).status_code == 404


def test_unknown_folio_lists_nothing(client):
    page = client.get("/verificar?folio=OP-2026-999999").get_data(as_text=True)
    assert "No hay documentos firmados emitidos" in page
    assert client.get("/verificar?folio=<script>").status_code == 200


# --- limits -----------------------------------------------------------------------------------------

def test_the_public_api_is_rate_limited(app_config, shared_verifier, signed):
    from app import create_app

    app = create_app({**app_config, "RATELIMIT_ENABLED": True, "RATELIMIT_VERIFY": "2 per minute"})
    app.extensions["verifier"] = shared_verifier
    client = app.test_client()
    try:
        statuses = [upload(client, signed).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert "Demasiadas solicitudes" in upload(client, signed).get_json()["error"]["message"]
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.corpus
def test_no_file_of_the_corpus_causes_a_500(client):
    if not SHARED.is_dir():
        assert not IN_CI
        pytest.skip("../shared/external-data is absent")
    files = sorted(SHARED.rglob("*.pdf"))
    assert files
    for path in files:
        response = upload(client, path.read_bytes())
        assert response.status_code in (200, 413, 415, 422), (path, response.status_code)
        if response.status_code == 200:
            assert response.get_json()["verdict"] != "valid", path
