"""MemoryStore: the same write-once, content-addressed contract as the real backends, in a dict."""

from __future__ import annotations

import re

import pytest

from storage import (
    ImmutableObject,
    IntegrityError,
    MemoryStore,
    ObjectNotFound,
    StorageError,
    StoredObject,
    content_key,
    open_store,
    sha256_hex,
)
from storage.base import CHUNK_SIZE

KEY_RE = re.compile(r"^originals/sha256/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})$")


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def test_put_get_round_trip(store: MemoryStore) -> None:
    data = b"%PDF-1.7 oficio 123/2025"

    obj = store.put(data, content_type="application/pdf")

    assert obj == StoredObject(key=content_key(sha256_hex(data)), sha256=sha256_hex(data),
                               size=len(data), version_id=None)
    assert store.get(obj) == data
    assert b"".join(store.iter_chunks(obj)) == data
    assert store.exists(obj.key)


def test_keys_come_from_the_content(store: MemoryStore) -> None:
    first = store.put(b"same bytes")
    again = store.put(b"same bytes")
    other = store.put(b"other bytes")

    assert again == first
    assert other.key != first.key
    match = KEY_RE.match(first.key)
    assert match is not None
    assert match.group(3) == first.sha256
    assert match.group(1) + match.group(2) == first.sha256[:4]
    assert len(store.objects) == 2


def test_prefix_selects_the_key_space(store: MemoryStore) -> None:
    obj = store.put(b"signed", prefix="signed")

    assert obj.key == content_key(sha256_hex(b"signed"), "signed")
    assert obj.key.startswith("signed/sha256/")


@pytest.mark.parametrize("prefix", ["", "Originals", "../x", "a/b", "x" * 40])
def test_bad_prefix_is_refused(store: MemoryStore, prefix: str) -> None:
    with pytest.raises(ValueError):
        store.put(b"data", prefix=prefix)


def test_large_object_streams_in_chunks(store: MemoryStore) -> None:
    data = bytes(range(256)) * (20 * 1024 * 1024 // 256)

    obj = store.put(data)
    chunks = list(store.iter_chunks(obj))

    assert len(chunks) == 20
    assert all(len(c) == CHUNK_SIZE for c in chunks)
    assert b"".join(chunks) == data


def test_tampered_bytes_fail_the_check(store: MemoryStore) -> None:
    obj = store.put(b"original")
    store.objects[obj.key] = b"tampered"

    with pytest.raises(IntegrityError):
        store.get(obj)
    with pytest.raises(IntegrityError):
        b"".join(store.iter_chunks(obj))


def test_wrong_recorded_digest_fails_the_check(store: MemoryStore) -> None:
    obj = store.put(b"original")
    wrong = StoredObject(key=obj.key, sha256=sha256_hex(b"something else"), size=obj.size)

    with pytest.raises(IntegrityError):
        store.get(wrong)


def test_delete_is_refused(store: MemoryStore) -> None:
    obj = store.put(b"original")

    with pytest.raises(ImmutableObject):
        store.delete(obj)
    assert store.get(obj) == b"original"


def test_missing_object(store: MemoryStore) -> None:
    digest = sha256_hex(b"never stored")
    missing = StoredObject(key=content_key(digest), sha256=digest, size=12)

    assert not store.exists(missing.key)
    with pytest.raises(ObjectNotFound):
        store.get(missing)
    with pytest.raises(ObjectNotFound):
        store.iter_chunks(missing)


def test_no_presigned_url(store: MemoryStore) -> None:
    obj = store.put(b"original")

    assert store.presigned_url(obj, filename="oficio.pdf") is None


def test_storage_errors_share_one_root() -> None:
    for error in (ObjectNotFound, IntegrityError, ImmutableObject):
        assert issubclass(error, StorageError)


def test_open_store_memory_url() -> None:
    store = open_store("memory://")

    assert isinstance(store, MemoryStore)
    assert store.backend == "memory"


@pytest.mark.parametrize("url", ["ftp://host/x", "http://127.0.0.1:9000/bucket", "gs://bucket"])
def test_open_store_unknown_scheme(url: str) -> None:
    with pytest.raises(StorageError, match="unknown storage scheme"):
        open_store(url)
