"""The Spanish web UI: portal, window, receipt, tracking, catalogue and administration."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from oficialia.models import Role
from tests.factories import pdf_bytes, tiff_bytes


def _web_file(client, files, **fields):
    data = {"subject": "Bache en la calle Hidalgo", "body": "Solicito su reparación.", "filer_kind": "fisica",
            "procedure": "OBRAS-BACHEO"} | fields
    data["files"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post("/presentar", data=data, content_type="multipart/form-data")


def test_guest_files_and_gets_code_and_acuse(client, demo):
    response = _web_file(client, [("peticion.pdf", pdf_bytes())], filer_name="Luis Pérez",
                         filer_email="luis@correo.mx")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    folio = re.search(r'id="folio">([^<]+)<', page).group(1)
    code = re.search(r'id="tracking-code">([^<]+)<', page).group(1)
    acuse = client.get(f"/acuse/{folio}.pdf")
    assert acuse.status_code == 200 and acuse.mimetype == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(acuse.data)).pages)
    assert folio in text and code in text and "Luis Pérez" in text
    # a stranger with the folio and code gets the same acuse; without the code, nothing
    stranger = client.application.test_client()
    assert stranger.get(f"/acuse/{folio}.pdf?code={code}").status_code == 200
    assert stranger.get(f"/acuse/{folio}.pdf").status_code == 404
    assert stranger.get(f"/seguimiento?folio={folio}&code={code}").status_code == 200
    wrong = stranger.get(f"/seguimiento?folio={folio}&code=ZZZZ-ZZZZ-ZZZZ")
    assert wrong.status_code == 404 and "No encontramos" in wrong.get_data(as_text=True)


def test_guest_must_leave_an_email(client, demo):
    response = _web_file(client, [("a.pdf", pdf_bytes())], filer_name="Sin correo")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "correo electrónico" in page
    assert "Bache en la calle Hidalgo" in page  # what was typed is kept


def test_hostile_upload_in_the_portal_is_a_clear_4xx(client, demo):
    response = _web_file(client, [("factura.pdf", b"hola, no soy un PDF")], filer_name="X", filer_email="x@y.mx")
    assert response.status_code == 415
    assert "Tipo de archivo no admitido" in response.get_data(as_text=True)


def test_window_needs_a_clerk_and_records_the_clerk(client, demo, make_user, login):
    assert client.get("/ventanilla").status_code == 401
    login(make_user(Role.CITIZEN))
    assert client.get("/ventanilla").status_code == 403
    client.post("/salir")
    clerk = make_user(Role.CLERK, department="OP", name="Laura Méndez")
    login(clerk)
    data = {"filer_name": "Constructora del Bajío SA de CV", "filer_kind": "moral", "subject": "Licencia",
            "procedure": "DU-LC", "physical_annexes": "1 juego de planos",
            "files": [(io.BytesIO(tiff_bytes(3)), "escaneo.tif")]}
    response = client.post("/ventanilla", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "3 página(s)" in page
    folio = re.search(r'id="folio">([^<]+)<', page).group(1)
    detail = client.get(f"/expedientes/{folio}").get_data(as_text=True)
    assert "Laura Méndez" in detail and "1 juego de planos" in detail and "Ventanilla" in detail


def test_window_without_scans_is_refused(client, demo, make_user, login):
    login(make_user(Role.CLERK, department="OP"))
    response = client.post("/ventanilla", data={"filer_name": "A", "subject": "B", "body": "C"},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and "escaneo" in response.get_data(as_text=True)


def test_request_over_the_size_limit_is_413_in_spanish(app_config):
    from app import create_app
    from oficialia.db import db

    app = create_app(app_config | {"MAX_CONTENT_LENGTH": 100_000})
    try:
        response = app.test_client().post("/presentar", data={"files": [(io.BytesIO(b"x" * 300_000), "a.pdf")]},
                                          content_type="multipart/form-data")
        assert response.status_code == 413
        assert "tamaño máximo" in response.get_data(as_text=True)
    finally:
        with app.app_context():
            db.engine.dispose()


def test_catalogue_is_public_and_searchable(client, demo):
    moved = client.get("/catalogo?q=construcción")
    assert moved.status_code == 301 and moved.headers["Location"].startswith("/tramites?q=construcci")
    page = client.get("/tramites?q=construcción").get_data(as_text=True)
    assert "Licencia de construcción" in page and "/tramites/DU-LC" in page
    assert "Certificado médico" not in page
    api = client.get("/api/v1/procedures").json["procedures"]
    assert any(p["code"] == "DU-LC" and p["cost"] == "1250.00" for p in api)


def test_admin_edits_departments_and_procedures(client, demo, make_user, login):
    login(make_user(Role.ADMIN))
    assert client.post("/admin/areas", data={"code": "MOV", "name": "Movilidad", "parent": "PRES"}).status_code == 302
    assert "Movilidad" in client.get("/admin/areas").get_data(as_text=True)
    created = client.post("/admin/tramites", data={"code": "MOV-PERM", "name": "Permiso de carga y descarga",
                                                   "department": "MOV", "response_days": "7", "cost": "300",
                                                   "requirements": "Solicitud\nTarjeta de circulación"})
    assert created.status_code == 302
    assert "Permiso de carga y descarga" in client.get("/tramites").get_data(as_text=True)
    bad = client.post("/admin/tramites", data={"code": "X", "name": "Y", "department": "MOV",
                                               "response_days": "cero"})
    assert bad.status_code == 422 and "días hábiles" in bad.get_data(as_text=True)
    assert client.post("/admin/usuarios", data={"email": "nuevo@demo.gob.mx", "name": "Nuevo", "role": "staff",
                                                "department": "MOV", "password": "clave-larga-1"}).status_code == 302


def test_non_admins_cannot_administer(client, demo, make_user, login):
    login(make_user(Role.STAFF, department="OBRAS"))
    assert client.get("/admin/areas").status_code == 403
    assert client.post("/admin/tramites", data={}).status_code == 403


@pytest.mark.parametrize("path", ["/", "/presentar", "/seguimiento", "/tramites", "/entrar", "/registro"])
def test_public_pages_render(client, demo, path):
    response = client.get(path)
    assert response.status_code == 200
    assert "Oficialía de Partes" in response.get_data(as_text=True)


def test_tracking_is_rate_limited(app_config, demo):
    from app import create_app
    from oficialia.db import db

    app = create_app(app_config | {"RATELIMIT_ENABLED": True, "RATELIMIT_TRACK": "3 per minute"})
    client = app.test_client()
    statuses = [client.get("/api/v1/track/OP-2026-000001?code=AAAA").status_code for _ in range(5)]
    assert statuses[:3] == [404, 404, 404] and statuses[3:] == [429, 429]
    limited = client.get("/api/v1/track/OP-2026-000001?code=AAAA")
    assert "Retry-After" in limited.headers
    assert "Demasiadas solicitudes" in limited.json["error"]["message"]
    with app.app_context():
        db.engine.dispose()
