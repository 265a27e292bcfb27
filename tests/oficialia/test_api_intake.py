"""Filing through the API, end to end on the real database and the filesystem store."""

from __future__ import annotations

import hashlib
import io

import pytest

from oficialia.models import Role
from tests.factories import jpeg_bytes, pdf_bytes, png_bytes, tiff_bytes


def _post(client, token, files, **fields):
    data = {"subject": "Solicitud de reparación de alumbrado", "body": "Texto de la petición",
            "filer_name": "Ana López", "filer_email": "ana@example.mx", "filer_kind": "fisica",
            "filer_gender": "mujer", "procedure": "SP-ALUMB"} | fields
    data["files"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post("/api/v1/filings", data=data, headers={"Authorization": f"Bearer {token}"},
                       content_type="multipart/form-data")


@pytest.fixture
def clerk_token(demo, make_user, make_token):
    return make_token(make_user(Role.CLERK, department="OP"))


def test_filing_gets_folio_receipt_and_tracking(client, clerk_token):
    pdf = pdf_bytes(2)
    response = _post(client, clerk_token, [("escrito.pdf", pdf), ("foto.png", png_bytes())])
    assert response.status_code == 201, response.json
    body = response.json
    assert body["folio"].startswith("OP-") and body["folio"].endswith("-000001")
    assert body["status"] == "received"
    assert len(body["tracking_code"].replace("-", "")) == 12
    docs = body["documents"]
    assert [d["pages"] for d in docs] == [2, 1]
    assert docs[0]["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert all(d["ocr"] == "pending" for d in docs)

    receipt = client.get(body["receipt_url"].replace("http://localhost", ""))
    assert receipt.status_code == 200
    assert receipt.mimetype == "application/pdf" and receipt.data.startswith(b"%PDF")

    tracked = client.get(f"/api/v1/track/{body['folio']}?code={body['tracking_code']}")
    assert tracked.status_code == 200
    assert tracked.json["status"] == "received"
    assert tracked.json["timeline"][0]["event"] == "received"
    assert tracked.json["timeline"][0]["department"] == "Servicios Públicos"


def test_original_is_stored_byte_for_byte(client, clerk_token):
    tif = tiff_bytes(3)
    body = _post(client, clerk_token, [("escaneo.tif", tif)]).json
    doc = body["documents"][0]
    assert doc["pages"] == 3
    download = client.get(f"/api/v1/documents/{doc['id']}", headers={"Authorization": f"Bearer {clerk_token}"})
    assert download.status_code == 200
    assert download.data == tif
    assert download.headers["X-Content-SHA256"] == hashlib.sha256(tif).hexdigest()
    assert download.headers["Content-Disposition"].startswith('attachment; filename="escaneo.tif"')


def test_wrong_code_answers_like_unknown_folio(client, clerk_token):
    body = _post(client, clerk_token, [("a.jpg", jpeg_bytes())]).json
    wrong = client.get(f"/api/v1/track/{body['folio']}?code=AAAA-BBBB-CCCC")
    unknown = client.get("/api/v1/track/OP-1999-999999?code=AAAA-BBBB-CCCC")
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json == unknown.json


def test_code_is_forgiving_about_case_and_confusable_letters(client, clerk_token):
    body = _post(client, clerk_token, [("a.pdf", pdf_bytes())]).json
    code = body["tracking_code"].lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert client.get(f"/api/v1/track/{body['folio'].lower()}?code={code}").status_code == 200


@pytest.mark.parametrize(("files", "status", "fragment"), [
    ([("virus.exe", b"MZ\x90\x00" + b"\x00" * 100)], 415, "Tipo de archivo no admitido"),
    ([("vacio.pdf", b"")], 422, "vacío"),
    ([("roto.pdf", b"%PDF-1.7\n%%EOF")], 422, "PDF"),
])
def test_bad_files_are_refused_and_nothing_is_kept(client, clerk_token, app, files, status, fragment):
    good = ("bueno.pdf", pdf_bytes())
    response = _post(client, clerk_token, [good, *files])
    assert response.status_code == status
    assert fragment in response.json["error"]["message"]
    # nothing half-stored: no filing, no folio consumed, no object written
    listed = client.get("/api/v1/filings", headers={"Authorization": f"Bearer {clerk_token}"}).json
    assert listed["filings"] == []
    storage = app.config["STORAGE_URL"]
    import os
    assert not any(files for _, _, files in os.walk(os.path.join(storage, "originals")))
    ok = _post(client, clerk_token, [good])
    assert ok.json["folio"].endswith("-000001")


@pytest.mark.parametrize(("field", "value", "fragment"), [
    ("subject", "", "asunto"),
    ("filer_kind", "juridica", "tipo de persona"),
    ("filer_gender", "x", "género"),
    ("channel", "fax", "Canal desconocido"),
    ("procedure", "NO-EXISTE", "trámite"),
    ("filer_email", "no-es-correo", "correo"),
])
def test_bad_fields_get_a_spanish_422(client, clerk_token, field, value, fragment):
    response = _post(client, clerk_token, [("a.pdf", pdf_bytes())], **{field: value})
    assert response.status_code == 422
    assert fragment.lower() in response.json["error"]["message"].lower()
    assert response.json["error"]["field"] == field


def test_api_requires_a_token(client, demo):
    response = client.post("/api/v1/filings", data={"subject": "x"})
    assert response.status_code == 401
    assert "token" in response.json["error"]["message"]
    bad = client.get("/api/v1/filings", headers={"Authorization": "Bearer op_nope"})
    assert bad.status_code == 401


def test_too_large_file_is_413(client, clerk_token, app):
    # under Werkzeug's 500 KB spooling threshold, so the test client keeps the body in memory
    app.config["MAX_FILE_MB"] = 0.2
    response = _post(client, clerk_token, [("grande.pdf", pdf_bytes(padding=300_000))])
    assert response.status_code == 413
    assert "MB" in response.json["error"]["message"]


def test_same_sha1_different_sha256_are_two_documents(client, clerk_token):
    from tests.conftest import SHARED
    mini1, mini2 = SHARED / "corkami-pocs" / "mini1.pdf", SHARED / "corkami-pocs" / "mini2.pdf"
    if not mini1.exists():
        pytest.skip("shared corpus absent")
    a = _post(client, clerk_token, [("mini1.pdf", mini1.read_bytes())]).json
    b = _post(client, clerk_token, [("mini2.pdf", mini2.read_bytes())]).json
    assert a["folio"] != b["folio"]
    assert a["documents"][0]["sha256"] != b["documents"][0]["sha256"]


def test_channel_is_recorded_and_window_is_reserved_to_clerks(client, demo, make_user, make_token):
    citizen_token = make_token(make_user(Role.CITIZEN))
    refused = _post(client, citizen_token, [("a.pdf", pdf_bytes())], channel="ventanilla")
    assert refused.status_code == 403
    ok = _post(client, citizen_token, [("a.pdf", pdf_bytes())], channel="chatbot")
    assert ok.status_code == 201
    record = client.get(f"/api/v1/filings/{ok.json['folio']}", headers={"Authorization": f"Bearer {citizen_token}"})
    assert record.json["channel"] == "chatbot"


def test_the_database_writes_the_search_row_with_the_filing(app, client, clerk_token):
    """The subject and body are searchable from the moment of intake, as ``compose_content``
    would write them (the trigger of migration 0011; SQLite's FTS5 row too)."""
    import sqlalchemy as sa

    from oficialia.db import db
    from oficialia.models import Filing, FilingSearch
    from oficialia.search import compose_content

    with_body = _post(client, clerk_token, [("a.pdf", pdf_bytes())]).json["folio"]
    without = _post(client, clerk_token, [("a.pdf", pdf_bytes())], body="").json["folio"]
    with app.app_context():
        for folio in (with_body, without):
            filing = db.session.execute(sa.select(Filing).where(Filing.folio == folio)).scalar_one()
            assert db.session.get(FilingSearch, filing.id).content == compose_content(filing)
            if db.engine.dialect.name == "sqlite":
                fts = db.session.execute(sa.text("SELECT content FROM filing_fts WHERE rowid = :id"),
                                         {"id": filing.id}).scalar_one()
                assert fts == compose_content(filing)
        assert compose_content(filing) == "Solicitud de reparación de alumbrado"
