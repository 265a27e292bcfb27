"""An in-memory store for pure unit tests: same contract, no disk, no server."""

from __future__ import annotations

from collections.abc import Iterator

from .base import CHUNK_SIZE, StoredObject, content_key, sha256_hex, verified_chunks, verify_digest
from .errors import ImmutableObject, ObjectNotFound


class MemoryStore:
    """Keeps objects in a dict; write-once like the real backends."""

    backend = "memory"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, data: bytes, *, prefix: str = "originals",
            content_type: str = "application/octet-stream", unseen: bool = False) -> StoredObject:
        digest = sha256_hex(data)
        key = content_key(digest, prefix)
        self.objects.setdefault(key, bytes(data))
        return StoredObject(key=key, sha256=digest, size=len(data))

    def _raw(self, key: str) -> bytes:
        try:
            return self.objects[key]
        except KeyError as e:
            raise ObjectNotFound(key) from e

    def get(self, obj: StoredObject) -> bytes:
        return verify_digest(self._raw(obj.key), obj.sha256, obj.key)

    def iter_chunks(self, obj: StoredObject) -> Iterator[bytes]:
        data = self._raw(obj.key)
        chunks = (data[i:i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE))
        return verified_chunks(chunks, obj.sha256, obj.key)

    def exists(self, key: str) -> bool:
        return key in self.objects

    def delete(self, obj: StoredObject) -> None:
        raise ImmutableObject(obj.key)

    def presigned_url(self, obj: StoredObject, *, filename: str, expires_seconds: int = 300,
                      ) -> str | None:
        return None
