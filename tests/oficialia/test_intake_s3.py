"""Intake against the real S3 backend (SeaweedFS with Object Lock): originals are locked, pinned
to their version and re-checked on every read."""

from __future__ import annotations

import hashlib
import io
import uuid

import pytest
from sqlalchemy import select

from oficialia.db import db
from oficialia.models import Document, Role
from tests.factories import pdf_bytes

pytestmark = pytest.mark.minio


@pytest.fixture
def app_config(app_config, s3_server):
    bucket = f"intake-{uuid.uuid4().hex[:16]}"
    return app_config | {"STORAGE_URL": s3_server.storage_url(bucket, retention_mode="GOVERNANCE"),
                         "_TEST_BUCKET": bucket}


def test_filing_on_s3_is_locked_and_verified(client, app, demo, make_user, make_token, s3_server):
    token = make_token(make_user(Role.CLERK, department="OP"))
    headers = {"Authorization": f"Bearer {token}"}
    original = pdf_bytes(2)
    created = client.post("/api/v1/filings", headers=headers, content_type="multipart/form-data",
                          data={"subject": "Escrito", "filer_name": "Ana", "filer_kind": "fisica",
                                "files": [(io.BytesIO(original), "escrito.pdf")]})
    assert created.status_code == 201, created.json
    doc = created.json["documents"][0]
    assert doc["sha256"] == hashlib.sha256(original).hexdigest()

    raw = s3_server.client()
    bucket = app.config["_TEST_BUCKET"]
    key = f"originals/sha256/{doc['sha256'][:2]}/{doc['sha256'][2:4]}/{doc['sha256']}"
    stat = raw.stat_object(bucket, key)
    retention = raw.get_object_retention(bucket, key, version_id=stat.version_id)
    assert retention.mode == "GOVERNANCE"

    # Someone with the app's own keys uploads other bytes under the same key: the filing's
    # download still returns the original, because reads pin the recorded version.
    raw.put_object(bucket, key, io.BytesIO(b"%PDF-1.7 falsificado"), 20)
    download = client.get(f"/api/v1/documents/{doc['id']}", headers=headers)
    assert download.status_code == 200 and download.data == original


def test_the_same_original_filed_twice_is_one_object(client, app, demo, make_user, make_token, s3_server):
    """GIVEN a PDF already on file, WHEN another filing brings the same bytes, THEN both documents
    point to the one stored version (looked up because the database knows the SHA-256), and a
    new original still gets its own."""
    token = make_token(make_user(Role.CLERK, department="OP"))
    headers = {"Authorization": f"Bearer {token}"}
    shared, other = pdf_bytes(1), pdf_bytes(3)

    def file(*pdfs: bytes) -> list[dict]:
        created = client.post("/api/v1/filings", headers=headers, content_type="multipart/form-data",
                              data={"subject": "Formato", "filer_name": "Ana", "filer_kind": "fisica",
                                    "files": [(io.BytesIO(p), f"f{n}.pdf") for n, p in enumerate(pdfs)]})
        assert created.status_code == 201, created.json
        return created.json["documents"]

    first = file(shared)
    second = file(shared, other)

    with app.app_context():
        docs = {d.id: d for d in db.session.execute(select(Document)).scalars()}
    assert docs[second[0]["id"]].storage_version == docs[first[0]["id"]].storage_version
    assert docs[second[1]["id"]].storage_version is not None
    raw = s3_server.client()
    bucket = app.config["_TEST_BUCKET"]
    key = docs[first[0]["id"]].storage_key
    assert [o.version_id for o in raw.list_objects(bucket, prefix=key, include_version=True)] == [
        docs[first[0]["id"]].storage_version]
