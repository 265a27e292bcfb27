"""The embedded default: objects as read-only files in a folder.

Each object is written to a temporary file, flushed to disk and linked into place with
``os.link``, which fails if the name exists: a stored object is never replaced, and a crash
half-way leaves only a temporary file, never a short object. Files are made read-only.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .base import CHUNK_SIZE, StoredObject, content_key, sha256_hex, verified_chunks, verify_digest
from .errors import ImmutableObject, ObjectNotFound, StorageError


class FilesystemStore:
    """Objects under ``root``, one file per key.

    :param root: the folder; created if missing.
    """

    backend = "filesystem"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        try:
            (self.root / ".tmp").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(f"cannot create storage folder {self.root}") from e

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise StorageError("key escapes the storage folder")
        return path

    def put(self, data: bytes, *, prefix: str = "originals",
            content_type: str = "application/octet-stream", unseen: bool = False) -> StoredObject:
        digest = sha256_hex(data)
        key = content_key(digest, prefix)
        path = self._path(key)
        obj = StoredObject(key=key, sha256=digest, size=len(data))
        if path.exists():
            return obj
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root / ".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, 0o444)
                # Content-addressed: another writer of the same key wrote the same bytes.
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, path)
            finally:
                os.unlink(tmp)
        except OSError as e:
            raise StorageError(f"cannot write object {key}") from e
        return obj

    def _read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as e:
            raise ObjectNotFound(key) from e
        except OSError as e:
            raise StorageError(f"cannot read object {key}") from e

    def get(self, obj: StoredObject) -> bytes:
        return verify_digest(self._read(obj.key), obj.sha256, obj.key)

    def iter_chunks(self, obj: StoredObject) -> Iterator[bytes]:
        path = self._path(obj.key)
        if not path.is_file():
            raise ObjectNotFound(obj.key)

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as fh:
                while chunk := fh.read(CHUNK_SIZE):
                    yield chunk

        return verified_chunks(chunks(), obj.sha256, obj.key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, obj: StoredObject) -> None:
        raise ImmutableObject(f"{obj.key} is write-once")

    def presigned_url(self, obj: StoredObject, *, filename: str, expires_seconds: int = 300,
                      ) -> str | None:
        return None
