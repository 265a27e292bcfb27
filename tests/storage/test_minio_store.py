"""MinioStore against a real S3 server (SeaweedFS) with Object Lock: versions pinned at put
time, digests checked on read, retention enforced by the server itself."""

from __future__ import annotations

import io
import os
import socket
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.error import HTTPError

import pytest
import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE, GOVERNANCE
from minio.error import S3Error
from minio.retention import Retention

from storage import (
    ImmutableObject,
    IntegrityError,
    ObjectNotFound,
    StorageError,
    StoredObject,
    content_key,
    open_store,
    sha256_hex,
)
from storage.base import CHUNK_SIZE
from storage.minio_store import MinioSettings, MinioStore, content_disposition
from tests.fixtures.seaweed import S3Server

pytestmark = pytest.mark.minio

MakeStore = Callable[..., MinioStore]


@pytest.fixture
def raw(s3_server: S3Server) -> Minio:
    """The raw SDK with the app's own credentials: what an attacker holding them could do."""
    return s3_server.client()


@pytest.fixture
def make_store(s3_server: S3Server) -> Iterator[MakeStore]:
    """Build stores on new (or given) buckets; closes them afterwards."""
    stores: list[MinioStore] = []

    def make(bucket: str | None = None, *, retention_days: int = 1,
             retention_mode: str = "GOVERNANCE") -> MinioStore:
        url = s3_server.storage_url(bucket or f"test-{uuid.uuid4().hex[:20]}",
                                    retention_days=retention_days, retention_mode=retention_mode)
        store = open_store(url)
        assert isinstance(store, MinioStore)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def _versions(raw: Minio, bucket: str, key: str) -> list[str]:
    return [o.version_id for o in raw.list_objects(bucket, prefix=key, include_version=True)
            if o.object_name == key and o.version_id]


def _raw_put(raw: Minio, bucket: str, key: str, data: bytes) -> str:
    result = raw.put_object(bucket, key, io.BytesIO(data), len(data))
    assert result.version_id
    return result.version_id


def _download(url: str) -> tuple[bytes, str | None]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own http URL
        return response.read(), response.headers.get("Content-Disposition")


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- write, read, content addressing --------------------------------------------------------

def test_put_get_round_trip(minio_store: MinioStore, raw: Minio) -> None:
    data = b"%PDF-1.7 oficio 123/2025"

    obj = minio_store.put(data, content_type="application/pdf")

    assert obj.key == content_key(sha256_hex(data))
    assert obj.sha256 == sha256_hex(data)
    assert obj.size == len(data)
    assert obj.version_id
    assert minio_store.backend == "minio"
    assert minio_store.get(obj) == data
    assert b"".join(minio_store.iter_chunks(obj)) == data
    assert minio_store.exists(obj.key)
    stat = raw.stat_object(minio_store.bucket, obj.key, version_id=obj.version_id)
    assert stat.content_type == "application/pdf"
    assert stat.metadata is not None
    assert stat.metadata["x-amz-meta-sha256"] == obj.sha256


def test_same_bytes_same_key_and_no_new_version(minio_store: MinioStore, raw: Minio) -> None:
    first = minio_store.put(b"same bytes")
    again = minio_store.put(b"same bytes")
    other = minio_store.put(b"other bytes")

    assert again == first
    assert other.key != first.key
    assert _versions(raw, minio_store.bucket, first.key) == [first.version_id]


def test_unseen_content_is_written_without_a_look(minio_store: MinioStore, raw: Minio) -> None:
    """GIVEN bytes the caller's records do not hold, WHEN stored with ``unseen``, THEN a new
    version is written even over a leftover of a failed attempt, which stays as it was."""
    leftover = minio_store.put(b"left by a failed intake")

    fresh = minio_store.put(b"left by a failed intake", unseen=True)

    assert fresh.key == leftover.key and fresh.sha256 == leftover.sha256
    assert fresh.version_id != leftover.version_id
    assert sorted(_versions(raw, minio_store.bucket, fresh.key)) == sorted([leftover.version_id, fresh.version_id])
    assert minio_store.get(fresh) == minio_store.get(leftover) == b"left by a failed intake"


def test_keys_never_come_from_names(minio_store: MinioStore) -> None:
    obj = minio_store.put(b"x", prefix="signed")

    assert obj.key == f"signed/sha256/{obj.sha256[:2]}/{obj.sha256[2:4]}/{obj.sha256}"
    with pytest.raises(ValueError):
        minio_store.put(b"x", prefix="../oficio.pdf")


def test_twenty_megabytes_go_multipart(minio_store: MinioStore, raw: Minio) -> None:
    data = os.urandom(20 * 1024 * 1024)

    obj = minio_store.put(data)

    assert minio_store.get(obj) == data
    chunks = list(minio_store.iter_chunks(obj))
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= CHUNK_SIZE
    etag = raw.stat_object(minio_store.bucket, obj.key, version_id=obj.version_id).etag
    assert etag is not None
    assert "-" in etag  # multipart ETags are "<md5 of md5s>-<parts>"


# --- reads are pinned to the recorded version and checked -----------------------------------

def test_reads_stay_on_the_recorded_version(minio_store: MinioStore, raw: Minio) -> None:
    """GIVEN an original, WHEN someone with the app's keys uploads other bytes under its key,
    THEN reading the recorded version still gives the original, and reading "the newest"
    with the original's digest is refused."""
    original = b"original filing"
    obj = minio_store.put(original)
    forged_version = _raw_put(raw, minio_store.bucket, obj.key, b"forged filing")

    assert forged_version != obj.version_id
    assert minio_store.get(obj) == original
    assert b"".join(minio_store.iter_chunks(obj)) == original
    latest = StoredObject(key=obj.key, sha256=obj.sha256, size=obj.size, version_id=None)
    with pytest.raises(IntegrityError):
        minio_store.get(latest)
    with pytest.raises(IntegrityError):
        b"".join(minio_store.iter_chunks(latest))


def test_put_after_a_forged_version_writes_a_genuine_one(minio_store: MinioStore, raw: Minio) -> None:
    obj = minio_store.put(b"original filing")
    _raw_put(raw, minio_store.bucket, obj.key, b"forged filing")

    again = minio_store.put(b"original filing")

    assert again.version_id not in (None, obj.version_id)
    assert minio_store.get(again) == b"original filing"
    assert len(_versions(raw, minio_store.bucket, obj.key)) == 3


def test_wrong_recorded_digest_fails_the_check(minio_store: MinioStore) -> None:
    obj = minio_store.put(b"original filing")
    wrong = StoredObject(key=obj.key, sha256=sha256_hex(b"something else"), size=obj.size,
                         version_id=obj.version_id)

    with pytest.raises(IntegrityError):
        minio_store.get(wrong)
    with pytest.raises(IntegrityError):
        b"".join(minio_store.iter_chunks(wrong))


def test_missing_objects(minio_store: MinioStore) -> None:
    digest = sha256_hex(b"never stored")
    missing = StoredObject(key=content_key(digest), sha256=digest, size=12)

    assert not minio_store.exists(missing.key)
    with pytest.raises(ObjectNotFound):
        minio_store.get(missing)
    with pytest.raises(ObjectNotFound):
        minio_store.iter_chunks(missing)  # at once, not at the first chunk


def test_missing_version(minio_store: MinioStore) -> None:
    obj = minio_store.put(b"original filing")
    gone = StoredObject(key=obj.key, sha256=obj.sha256, size=obj.size, version_id=uuid.uuid4().hex)

    with pytest.raises(ObjectNotFound):
        minio_store.get(gone)


# --- retention: the server refuses ----------------------------------------------------------

def test_delete_of_a_retained_original_is_refused(minio_store: MinioStore, raw: Minio) -> None:
    obj = minio_store.put(b"original filing")

    with pytest.raises(ImmutableObject) as excinfo:
        minio_store.delete(obj)
    assert isinstance(excinfo.value.__cause__, S3Error)
    # Without a version the newest one is deleted, which is refused too (no delete marker).
    with pytest.raises(ImmutableObject):
        minio_store.delete(StoredObject(key=obj.key, sha256=obj.sha256, size=obj.size))
    assert minio_store.exists(obj.key)
    assert minio_store.get(obj) == b"original filing"
    assert _versions(raw, minio_store.bucket, obj.key) == [obj.version_id]


def test_governance_retention_is_written(minio_store: MinioStore, raw: Minio) -> None:
    obj = minio_store.put(b"original filing")

    retention = raw.get_object_retention(minio_store.bucket, obj.key, version_id=obj.version_id)

    assert retention is not None
    assert retention.mode == GOVERNANCE
    expected = datetime.now(UTC) + timedelta(days=1)
    assert abs(retention.retain_until_date - expected) < timedelta(minutes=5)


def test_compliance_lock_holds_even_against_the_apps_keys(make_store: MakeStore, raw: Minio) -> None:
    """GIVEN an original under COMPLIANCE retention, WHEN the app's own credentials try to
    delete that version or shorten its retention through the raw SDK, THEN S3 refuses both.
    (The locked object outlives the test; the server's folder is scratch.)"""
    store = make_store(retention_mode="COMPLIANCE")
    obj = store.put(b"compliance original " + uuid.uuid4().bytes)

    with pytest.raises(ImmutableObject):
        store.delete(obj)
    with pytest.raises(S3Error) as deleting:
        raw.remove_object(store.bucket, obj.key, version_id=obj.version_id)
    assert deleting.value.code == "AccessDenied"
    retention = raw.get_object_retention(store.bucket, obj.key, version_id=obj.version_id)
    assert retention is not None
    assert retention.mode == COMPLIANCE
    shorter = Retention(COMPLIANCE, datetime.now(UTC) + timedelta(minutes=1))
    with pytest.raises(S3Error) as shortening:
        raw.set_object_retention(store.bucket, obj.key, shorter, version_id=obj.version_id)
    assert shortening.value.code == "AccessDenied"

    after = raw.get_object_retention(store.bucket, obj.key, version_id=obj.version_id)
    assert after == retention
    assert store.get(obj).startswith(b"compliance original ")


def test_storing_again_extends_a_shorter_retention(make_store: MakeStore, raw: Minio) -> None:
    short = make_store(retention_days=1)
    obj = short.put(b"filed twice")
    longer = make_store(short.bucket, retention_days=3)

    again = longer.put(b"filed twice")

    assert again == obj
    retention = raw.get_object_retention(short.bucket, obj.key, version_id=obj.version_id)
    assert retention is not None
    assert retention.mode == GOVERNANCE
    assert retention.retain_until_date > datetime.now(UTC) + timedelta(days=2)
    # A later put from the short-retention store never shortens it.
    assert short.put(b"filed twice") == obj
    assert raw.get_object_retention(short.bucket, obj.key, version_id=obj.version_id) == retention


# --- presigned downloads --------------------------------------------------------------------

def test_presigned_url_downloads_the_recorded_version(minio_store: MinioStore, raw: Minio) -> None:
    obj = minio_store.put(b"original filing")
    _raw_put(raw, minio_store.bucket, obj.key, b"forged filing")

    url = minio_store.presigned_url(obj, filename="Oficio número 12/2025 \"final\".pdf",
                                    expires_seconds=60)
    body, disposition = _download(url)

    assert body == b"original filing"
    assert disposition == ("attachment; filename=\"Oficio numero 12_2025 _final_.pdf\"; "
                           "filename*=UTF-8''Oficio%20n%C3%BAmero%2012_2025%20%22final%22.pdf")


def test_presigned_url_with_a_tampered_signature_is_refused(minio_store: MinioStore) -> None:
    obj = minio_store.put(b"original filing")
    url = minio_store.presigned_url(obj, filename="oficio.pdf")
    signature = url.rsplit("X-Amz-Signature=", 1)[1]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]

    with pytest.raises(HTTPError) as excinfo:
        _download(url.replace(signature, flipped))
    try:
        assert excinfo.value.code == 403
    finally:
        excinfo.value.close()


@pytest.mark.parametrize("seconds", [0, 7 * 24 * 3600 + 1])
def test_presigned_url_expiry_is_bounded(minio_store: MinioStore, seconds: int) -> None:
    obj = minio_store.put(b"original filing")

    with pytest.raises(ValueError):
        minio_store.presigned_url(obj, filename="oficio.pdf", expires_seconds=seconds)


@pytest.mark.parametrize(("filename", "expected"), [
    ("oficio.pdf", "attachment; filename=\"oficio.pdf\"; filename*=UTF-8''oficio.pdf"),
    ("Añexo ñ.pdf", "attachment; filename=\"Anexo n.pdf\"; filename*=UTF-8''A%C3%B1exo%20%C3%B1.pdf"),
    ("../../etc/passwd", "attachment; filename=\"_.._etc_passwd\"; filename*=UTF-8''_.._etc_passwd"),
    ("C:\\docs\\a\"b;c.pdf",
     "attachment; filename=\"C__docs_a_b_c.pdf\"; filename*=UTF-8''C%3A_docs_a%22b%3Bc.pdf"),
    ("x\r\nSet-Cookie: a=b", "attachment; filename=\"xSet-Cookie_ a_b\"; "
                             "filename*=UTF-8''xSet-Cookie%3A%20a%3Db"),
    ("文書.pdf", "attachment; filename=\"__.pdf\"; filename*=UTF-8''%E6%96%87%E6%9B%B8.pdf"),
    ("", "attachment; filename=\"download\"; filename*=UTF-8''download"),
])
def test_content_disposition_is_safe(filename: str, expected: str) -> None:
    assert content_disposition(filename) == expected


# --- configuration and failures -------------------------------------------------------------

def test_open_store_parses_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[MinioSettings] = []
    monkeypatch.setattr(MinioStore, "from_settings", classmethod(lambda cls, s: seen.append(s)))

    open_store("s3://AK%2F1:se%40cret@s3.example.org:9000/originales"
               "?region=mx-central-1&retention_days=30&retention_mode=governance")
    open_store("minio://k:s@minio.local/b/", retention_days=7)

    assert seen == [
        MinioSettings(endpoint="s3.example.org:9000", access_key="AK/1", secret_key="se@cret",
                      bucket="originales", secure=True, region="mx-central-1",
                      retention_days=30, retention_mode="GOVERNANCE"),
        MinioSettings(endpoint="minio.local", access_key="k", secret_key="s", bucket="b",
                      secure=True, region="us-east-1", retention_days=7,
                      retention_mode="COMPLIANCE"),
    ]
    assert "se@cret" not in repr(seen[0])


@pytest.mark.parametrize("url", ["s3://k:s@host:9000/", "s3://k:s@/bucket"])
def test_open_store_needs_host_and_bucket(url: str) -> None:
    with pytest.raises(StorageError, match="host and a bucket"):
        open_store(url)


@pytest.mark.parametrize("query", ["retention_mode=FOREVER", "retention_days=0"])
def test_bad_retention_settings_are_refused(s3_server: S3Server, query: str) -> None:
    url = s3_server.storage_url(f"test-{uuid.uuid4().hex[:20]}").split("?")[0]

    with pytest.raises(StorageError, match="retention"):
        open_store(f"{url}?secure=false&{query}")


def test_open_store_on_the_live_server(s3_server: S3Server, raw: Minio) -> None:
    bucket = f"test-{uuid.uuid4().hex[:20]}"

    store = open_store(s3_server.storage_url(bucket, retention_mode="COMPLIANCE"))

    assert isinstance(store, MinioStore)
    store.close()
    assert store.settings.retention_mode == "COMPLIANCE"
    assert raw.bucket_exists(bucket)
    assert raw.get_object_lock_config(bucket) is not None
    # Opening an existing bucket again is fine.
    again = open_store(s3_server.storage_url(bucket))
    assert isinstance(again, MinioStore)
    again.close()


def test_bucket_without_object_lock_is_refused(s3_server: S3Server, raw: Minio) -> None:
    bucket = f"test-{uuid.uuid4().hex[:20]}"
    raw.make_bucket(bucket)

    with pytest.raises(StorageError, match="without Object Lock"):
        open_store(s3_server.storage_url(bucket))


def test_wrong_credentials_are_a_storage_error(s3_server: S3Server) -> None:
    url = s3_server.storage_url(f"test-{uuid.uuid4().hex[:20]}")
    url = url.replace(f":{s3_server.secret_key}@", ":not-the-secret@")

    with pytest.raises(StorageError) as excinfo:
        open_store(url)

    assert isinstance(excinfo.value.__cause__, S3Error)
    assert "not-the-secret" not in str(excinfo.value)


def test_closed_port_fails_fast() -> None:
    url = f"s3://k:s@127.0.0.1:{_closed_port()}/bucket?secure=false"
    started = time.monotonic()

    with pytest.raises(StorageError) as excinfo:
        open_store(url)

    assert time.monotonic() - started < 15
    assert isinstance(excinfo.value.__cause__, urllib3.exceptions.HTTPError)


def test_server_gone_after_start_is_a_storage_error(s3_server: S3Server) -> None:
    port = _closed_port()
    settings = MinioSettings(endpoint=f"127.0.0.1:{port}", access_key="k", secret_key="s",
                             bucket="bucket", secure=False, retention_days=1,
                             retention_mode="GOVERNANCE")
    http = urllib3.PoolManager(retries=urllib3.Retry(total=0))
    store = MinioStore(Minio(settings.endpoint, access_key="k", secret_key="s", secure=False,
                             region="us-east-1", http_client=http), settings, http)
    digest = sha256_hex(b"x")
    obj = StoredObject(key=content_key(digest), sha256=digest, size=1, version_id="v1")
    started = time.monotonic()

    for call in (lambda: store.put(b"x"), lambda: store.get(obj), lambda: store.exists(obj.key),
                 lambda: store.delete(obj), lambda: store.iter_chunks(obj)):
        with pytest.raises(StorageError) as excinfo:
            call()
        assert not isinstance(excinfo.value, ObjectNotFound)
        assert excinfo.value.__cause__ is not None
    assert time.monotonic() - started < 15
    # Presigning is local arithmetic: it needs no server.
    assert store.presigned_url(obj, filename="a.pdf").startswith(f"http://127.0.0.1:{port}/")
    store.close()
