"""Object storage behind one interface (:class:`ObjectStore`), with a MinIO/S3 backend and a
local-filesystem backend. A leaf package: it imports nothing of the application and no Flask.

``open_store(url)`` picks the backend from a URL:

* ``/some/folder`` or ``file:///some/folder`` — :class:`FilesystemStore`;
* ``s3://ACCESS:SECRET@host:port/bucket`` or ``minio://…`` — :class:`MinioStore`, with query
  options ``secure`` (``true``/``false``), ``region``, ``retention_days`` and ``retention_mode``
  (``COMPLIANCE`` or ``GOVERNANCE``);
* ``memory://`` — :class:`MemoryStore`, for unit tests.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from .base import ObjectStore, StoredObject, content_disposition, content_key, sha256_hex
from .errors import ImmutableObject, IntegrityError, ObjectNotFound, StorageError
from .fs_store import FilesystemStore
from .memory_store import MemoryStore

__all__ = [
    "FilesystemStore",
    "ImmutableObject",
    "IntegrityError",
    "MemoryStore",
    "ObjectNotFound",
    "ObjectStore",
    "StorageError",
    "StoredObject",
    "content_disposition",
    "content_key",
    "open_store",
    "sha256_hex",
]

_TRUE = {"1", "true", "yes", "on"}


def load_backend(url: str) -> None:
    """Import the backend module a storage URL names, without connecting: a server imports it
    at start-up rather than in its workers' first requests (the S3 SDK takes a third of a second)."""
    if urlsplit(url).scheme.lower() in ("s3", "minio"):
        from . import minio_store  # noqa: F401


def open_store(url: str, *, retention_days: int = 3650,
               retention_mode: str = "COMPLIANCE") -> ObjectStore:
    """Build the store a URL names.

    :param url: see the module docstring.
    :param retention_days: how long S3 keeps each original locked (Object Lock retention);
        the URL's ``retention_days`` overrides it.
    :param retention_mode: ``COMPLIANCE`` (nobody can shorten it) or ``GOVERNANCE``.
    :raises StorageError: for a URL no backend understands.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("", "file"):
        return FilesystemStore(unquote(parts.path) if scheme else url)
    if scheme == "memory":
        return MemoryStore()
    if scheme in ("s3", "minio"):
        from .minio_store import MinioSettings, MinioStore

        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        bucket = parts.path.strip("/")
        if not parts.hostname or not bucket:
            raise StorageError("the storage URL needs a host and a bucket: s3://KEY:SECRET@host:port/bucket")
        endpoint = parts.hostname + (f":{parts.port}" if parts.port else "")
        settings = MinioSettings(
            endpoint=endpoint,
            access_key=unquote(parts.username or ""),
            secret_key=unquote(parts.password or ""),
            bucket=bucket,
            secure=query.get("secure", "true").lower() in _TRUE,
            region=query.get("region", "us-east-1"),
            retention_days=int(query.get("retention_days", retention_days)),
            retention_mode=query.get("retention_mode", retention_mode).upper(),
        )
        return MinioStore.from_settings(settings)
    raise StorageError(f"unknown storage scheme {scheme!r}")
