"""Who sees what: citizens only their own filings, department staff only their department's."""

from __future__ import annotations

import io

import pytest

from oficialia.models import Role
from tests.factories import pdf_bytes


def _file(client, token, **fields):
    data = {"subject": "Petición", "filer_kind": "fisica", "files": [(io.BytesIO(pdf_bytes()), "a.pdf")]} | fields
    response = client.post("/api/v1/filings", data=data, headers={"Authorization": f"Bearer {token}"},
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture
def two_citizens(demo, make_user, make_token):
    a, b = make_user(Role.CITIZEN), make_user(Role.CITIZEN)
    return make_token(a), make_token(b)


def test_citizen_cannot_see_another_citizens_filing(client, two_citizens):
    token_a, token_b = two_citizens
    filing = _file(client, token_a)
    headers_b = {"Authorization": f"Bearer {token_b}"}
    assert client.get(f"/api/v1/filings/{filing['folio']}", headers=headers_b).status_code == 404
    doc_id = filing["documents"][0]["id"]
    assert client.get(f"/api/v1/documents/{doc_id}", headers=headers_b).status_code == 404
    assert client.get("/api/v1/filings", headers=headers_b).json["filings"] == []
    # and it answers exactly like something that does not exist
    assert (client.get("/api/v1/filings/OP-2000-000001", headers=headers_b).json
            == client.get(f"/api/v1/filings/{filing['folio']}", headers=headers_b).json)
    headers_a = {"Authorization": f"Bearer {token_a}"}
    assert client.get(f"/api/v1/filings/{filing['folio']}", headers=headers_a).status_code == 200
    assert client.get(f"/api/v1/documents/{doc_id}", headers=headers_a).status_code == 200


def test_citizen_web_pages_404_for_other_filings(client, demo, make_user, make_token, login):
    owner = make_user(Role.CITIZEN)
    filing = _file(client, make_token(owner))
    login(make_user(Role.CITIZEN))
    assert client.get(f"/expedientes/{filing['folio']}").status_code == 404
    assert client.get(f"/documentos/{filing['documents'][0]['id']}").status_code == 404
    assert client.get(f"/acuse/{filing['folio']}.pdf").status_code == 404


def test_staff_see_only_what_was_routed_or_copied_to_them(client, demo, make_user, make_token):
    citizen = make_token(make_user(Role.CITIZEN))
    clerk = make_token(make_user(Role.CLERK, department="OP"))
    obras = _file(client, citizen, department="OBRAS")
    du = _file(client, citizen, department="DU")
    staff = make_token(make_user(Role.STAFF, department="OBRAS"))
    headers = {"Authorization": f"Bearer {staff}"}
    # addressed to OBRAS but still in the mail-room: not theirs yet
    assert client.get("/api/v1/filings", headers=headers).json["filings"] == []
    assert client.get(f"/api/v1/filings/{obras['folio']}", headers=headers).status_code == 404
    for folio, dept in ((obras["folio"], "OBRAS"), (du["folio"], "DU")):
        client.post(f"/api/v1/filings/{folio}/actions", json={"action": "route", "department": dept},
                    headers={"Authorization": f"Bearer {clerk}"})
    listed = client.get("/api/v1/filings", headers=headers).json["filings"]
    assert [f["folio"] for f in listed] == [obras["folio"]]
    assert client.get(f"/api/v1/filings/{du['folio']}", headers=headers).status_code == 404
    assert len(client.get("/api/v1/filings", headers={"Authorization": f"Bearer {clerk}"}).json["filings"]) == 2


def test_auditor_reads_but_cannot_file(client, demo, make_user, make_token):
    auditor = make_token(make_user(Role.AUDITOR, department="CONTRA"))
    response = client.post("/api/v1/filings", data={"subject": "x", "body": "y"},
                           headers={"Authorization": f"Bearer {auditor}"})
    assert response.status_code == 403
