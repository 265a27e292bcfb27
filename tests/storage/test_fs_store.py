"""FilesystemStore: read-only files under content keys, checked on every read."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from storage import (
    FilesystemStore,
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


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStore:
    return FilesystemStore(tmp_path / "objects")


def test_put_get_round_trip(store: FilesystemStore) -> None:
    data = b"%PDF-1.7 oficio 123/2025"

    obj = store.put(data, content_type="application/pdf")

    assert obj == StoredObject(key=content_key(sha256_hex(data)), sha256=sha256_hex(data),
                               size=len(data))
    assert store.get(obj) == data
    assert b"".join(store.iter_chunks(obj)) == data
    assert store.exists(obj.key)


def test_object_is_a_read_only_file_at_its_content_key(store: FilesystemStore) -> None:
    obj = store.put(b"original")

    path = store.root / obj.key
    assert path.read_bytes() == b"original"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    # The temporary file was linked into place and removed.
    assert list((store.root / ".tmp").iterdir()) == []


def test_keys_come_from_the_content(store: FilesystemStore) -> None:
    first = store.put(b"same bytes")
    again = store.put(b"same bytes")
    other = store.put(b"other bytes")

    assert again == first
    assert other.key != first.key
    assert first.key == f"originals/sha256/{first.sha256[:2]}/{first.sha256[2:4]}/{first.sha256}"
    files = [p for p in (store.root / "originals").rglob("*") if p.is_file()]
    assert len(files) == 2


def test_large_object(store: FilesystemStore) -> None:
    data = os.urandom(20 * 1024 * 1024)

    obj = store.put(data)
    chunks = list(store.iter_chunks(obj))

    assert obj.size == len(data)
    assert store.get(obj) == data
    assert len(chunks) == 20
    assert all(len(c) == CHUNK_SIZE for c in chunks)
    assert b"".join(chunks) == data


def test_tampered_file_fails_the_check(store: FilesystemStore) -> None:
    """GIVEN an object on disk, WHEN someone makes it writable and changes it,
    THEN reads refuse it instead of returning the changed bytes."""
    obj = store.put(b"original content")
    path = store.root / obj.key
    path.chmod(path.stat().st_mode | stat.S_IWUSR)
    path.write_bytes(b"tampered content")

    with pytest.raises(IntegrityError):
        store.get(obj)
    chunks = store.iter_chunks(obj)
    assert next(chunks) == b"tampered content"  # streamed chunks come first...
    with pytest.raises(IntegrityError):        # ...and the check fails at the end
        next(chunks)


def test_put_does_not_repair_or_replace_an_existing_file(store: FilesystemStore) -> None:
    obj = store.put(b"original content")
    path = store.root / obj.key
    path.chmod(0o644)
    path.write_bytes(b"tampered content")

    assert store.put(b"original content") == obj
    assert path.read_bytes() == b"tampered content"


def test_delete_is_refused(store: FilesystemStore) -> None:
    obj = store.put(b"original")

    with pytest.raises(ImmutableObject):
        store.delete(obj)
    assert store.get(obj) == b"original"


def test_missing_object(store: FilesystemStore) -> None:
    digest = sha256_hex(b"never stored")
    missing = StoredObject(key=content_key(digest), sha256=digest, size=12)

    assert not store.exists(missing.key)
    with pytest.raises(ObjectNotFound):
        store.get(missing)
    with pytest.raises(ObjectNotFound):
        store.iter_chunks(missing)


@pytest.mark.parametrize("key", ["../outside", "originals/../../outside", "/etc/passwd"])
def test_keys_cannot_escape_the_folder(store: FilesystemStore, key: str) -> None:
    obj = StoredObject(key=key, sha256=sha256_hex(b""), size=0)

    with pytest.raises(StorageError, match="escapes"):
        store.get(obj)


def test_unusable_folder_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")

    with pytest.raises(StorageError) as excinfo:
        FilesystemStore(blocker / "objects")
    assert isinstance(excinfo.value.__cause__, OSError)


def test_no_presigned_url(store: FilesystemStore) -> None:
    obj = store.put(b"original")

    assert store.presigned_url(obj, filename="oficio.pdf") is None


def test_open_store_plain_path(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "plain"))

    assert isinstance(store, FilesystemStore)
    assert store.backend == "filesystem"
    assert store.root == tmp_path / "plain"


def test_open_store_file_url(tmp_path: Path) -> None:
    folder = tmp_path / "with space"
    store = open_store(folder.as_uri())

    assert isinstance(store, FilesystemStore)
    assert store.root == folder
    obj = store.put(b"x")
    assert (folder / obj.key).is_file()
