"""``Idempotency-Key`` on ``POST /api/v1/filings``: a retry answers the first result, never a
second folio — also for 20 requests at once against a live server."""

from __future__ import annotations

import io
import threading
import urllib.request
import uuid

import pytest
import sqlalchemy as sa

from oficialia.db import db
from oficialia.idempotency import IdempotencyKey
from oficialia.models import Filing, FolioCounter, Role
from tests.factories import pdf_bytes
from tests.live import serve

PDF = pdf_bytes(1, "Escrito con clave de idempotencia")


def _post(client, token, key=None, subject="Poda de árbol", pdf=PDF):
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    data = {"subject": subject, "body": "Árbol a punto de caer.", "filer_name": "Luis Pérez",
            "filer_email": "luis@example.mx", "procedure": "SP-ALUMB", "files": [(io.BytesIO(pdf), "escrito.pdf")]}
    return client.post("/api/v1/filings", data=data, headers=headers, content_type="multipart/form-data")


@pytest.fixture
def token(demo, make_user, make_token):
    return make_token(make_user(Role.CLERK, department="OP"))


def _filings(app):
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(Filing)).scalar_one()


def test_a_retry_returns_the_first_result(app, client, token):
    first = _post(client, token, key="envio-1")
    again = _post(client, token, key="envio-1")
    assert first.status_code == again.status_code == 201
    assert again.get_data() == first.get_data()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _filings(app) == 1
    other = _post(client, token, key="envio-2")
    assert other.json["folio"] != first.json["folio"] and _filings(app) == 2
    assert _post(client, token).json["folio"] != _post(client, token).json["folio"]  # no key: no dedup


def test_the_same_key_with_other_data_is_refused(app, client, token):
    assert _post(client, token, key="k").status_code == 201
    changed = _post(client, token, key="k", subject="Otro asunto")
    assert changed.status_code == 422
    assert changed.json["error"]["code"] == "idempotency_key_reused"
    other_file = _post(client, token, key="k", pdf=pdf_bytes(2))
    assert other_file.status_code == 422
    assert _filings(app) == 1


def test_keys_are_scoped_per_token(app, client, token, make_user, make_token):
    other = make_token(make_user(Role.CLERK, department="OP"))
    a = _post(client, token, key="mismo")
    b = _post(client, other, key="mismo")
    assert a.json["folio"] != b.json["folio"] and _filings(app) == 2


def test_bad_keys_and_refused_filings_store_nothing(app, client, token):
    assert _post(client, token, key="con espacio").status_code == 422
    assert _post(client, token, key="x" * 201).status_code == 422
    refused = _post(client, token, key="r", pdf=b"MZ-not-a-pdf")
    assert refused.status_code == 415
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(IdempotencyKey)).scalar_one() == 0
    assert _post(client, token, key="r").status_code == 201  # the corrected retry goes through


def test_old_keys_are_forgotten(app, client, token):
    from datetime import timedelta

    from oficialia.db import utcnow
    from oficialia.idempotency import prune

    first = _post(client, token, key="viejo")
    with app.app_context():
        assert prune(db.session, days=7) == 0
        assert prune(db.session, days=7, now=utcnow() + timedelta(days=8)) == 1
    again = _post(client, token, key="viejo")
    assert again.json["folio"] != first.json["folio"]


@pytest.mark.slow
@pytest.mark.postgres
def test_twenty_concurrent_requests_with_one_key_create_one_folio(app, token):
    """GIVEN a live server WHEN 20 threads send the same filing with one key at once THEN one folio
    exists, every answer is that folio, and the folio counter moved by one (no gaps)."""
    key = str(uuid.uuid4())
    boundary = uuid.uuid4().hex
    fields = {"subject": "Fuga de agua", "body": "Fuga en la esquina.", "filer_name": "Marta",
              "filer_email": "marta@example.mx", "procedure": "SP-ALUMB"}
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="e.pdf"\r\n'
                 f"Content-Type: application/pdf\r\n\r\n".encode() + PDF + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    results: list[tuple[int, bytes]] = []
    barrier = threading.Barrier(20)

    def send(base: str) -> None:
        request = urllib.request.Request(f"{base}/api/v1/filings", data=body, method="POST", headers={  # noqa: S310
            "Authorization": f"Bearer {token}", "Idempotency-Key": key,
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
        barrier.wait()
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback test server
            results.append((response.status, response.read()))

    with serve(app) as base:
        threads = [threading.Thread(target=send, args=(base,)) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == 20
    assert {status for status, _ in results} == {201}
    assert len({content for _, content in results}) == 1
    with app.app_context():
        folios = db.session.execute(sa.select(Filing.folio)).scalars().all()
        assert len(folios) == 1
        assert db.session.execute(sa.select(FolioCounter.value)).scalar_one() == 1
        db.session.remove()
        db.engine.dispose()
