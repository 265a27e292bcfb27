"""The object-store interface shared by every backend.

Objects are content-addressed: the key is derived from the SHA-256 of the bytes, never from a
name a user chose, so identical content shares one object and every read can be checked
against its own key. Originals are written once; a store refuses to change or remove them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from .errors import IntegrityError

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")

_SAFE_FILENAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._- ()")

#: read and hash in chunks of this size
CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class StoredObject:
    """Where an object lives and what it must hash to.

    :param key: the object key, from :func:`content_key`.
    :param sha256: hex SHA-256 of the content.
    :param size: length in bytes.
    :param version_id: the backend's version of the object, where it keeps versions; reads ask
        for exactly this version, so a later upload under the same key cannot replace it.
    """

    key: str
    sha256: str
    size: int
    version_id: str | None = None


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def content_key(sha256: str, prefix: str = "originals") -> str:
    """The one place object keys are built: ``{prefix}/sha256/ab/cd/abcd…``.

    :raises ValueError: if ``sha256`` is not 64 lowercase hex digits or ``prefix`` is not a
        short lowercase word.
    """
    if not _SHA256_RE.match(sha256):
        raise ValueError("not a SHA-256 hex digest")
    if not _PREFIX_RE.match(prefix):
        raise ValueError("invalid key prefix")
    return f"{prefix}/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def verify_digest(data: bytes, expected_sha256: str, key: str) -> bytes:
    """Return ``data`` if it hashes to ``expected_sha256``.

    :raises IntegrityError: on a mismatch.
    """
    actual = sha256_hex(data)
    if actual != expected_sha256:
        raise IntegrityError(f"object {key} hashes to {actual}, expected {expected_sha256}")
    return data


def verified_chunks(chunks: Iterator[bytes], expected_sha256: str, key: str) -> Iterator[bytes]:
    """Yield ``chunks`` and raise :class:`IntegrityError` at the end if they do not hash right.

    A consumer that must not act on bad bytes reads the whole stream before using it.
    """
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != expected_sha256:
        raise IntegrityError(f"object {key} does not hash to {expected_sha256}")


def content_disposition(filename: str) -> str:
    """An ``attachment`` Content-Disposition that is safe whatever ``filename`` holds.

    ``filename=`` gets a quoted ASCII fallback (accents dropped, anything else replaced by
    ``_``), ``filename*=`` the full name percent-encoded as UTF-8 (RFC 5987/6266). Slashes
    become ``_`` (folios such as ``12/2025`` are common in names); quotes, control characters
    and line breaks never reach the header.
    """
    name = filename.replace("/", "_").replace("\\", "_")
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    name = name[:200] or "download"
    decomposed = unicodedata.normalize("NFKD", name)
    base = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    fallback = "".join(ch if ch in _SAFE_FILENAME_CHARS else "_" for ch in base).strip(" .")
    return f"attachment; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{quote(name, safe='')}"


class ObjectStore(Protocol):
    """What every backend provides."""

    #: short name for logs and the admin page ("filesystem", "minio", "memory")
    backend: str

    def put(self, data: bytes, *, prefix: str = "originals",
            content_type: str = "application/octet-stream", unseen: bool = False) -> StoredObject:
        """Store ``data`` write-once under its content key and return where it lives.

        Storing content that is already there returns the existing object.

        :param unseen: the caller's records hold no object with this content, so a backend for
            which looking is a round trip (S3) may skip the look and write a new version; one
            that an earlier, failed attempt left behind stays as it is.
        """
        ...

    def get(self, obj: StoredObject) -> bytes:
        """Read the whole object and check its SHA-256.

        :raises ObjectNotFound: if it is not there.
        :raises IntegrityError: if the bytes do not hash to ``obj.sha256``.
        """
        ...

    def iter_chunks(self, obj: StoredObject) -> Iterator[bytes]:
        """Stream the object in chunks; :class:`IntegrityError` is raised after the last one."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    def delete(self, obj: StoredObject) -> None:
        """Remove an object that is not under retention.

        :raises ImmutableObject: if the store keeps it write-once.
        """
        ...

    def presigned_url(self, obj: StoredObject, *, filename: str, expires_seconds: int = 300,
                      ) -> str | None:
        """A time-limited URL to download the object directly, or ``None`` where the backend
        has none (the application then streams it itself)."""
        ...
