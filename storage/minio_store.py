"""The S3 backend: originals in a bucket with Object Lock, through the ``minio`` SDK.

This is the only module that imports ``minio``. The bucket is created with Object Lock, which
also turns versioning on; every original is written with a retention date, so the server itself
refuses to delete or overwrite it until then (``COMPLIANCE``: nobody can shorten that date;
``GOVERNANCE``: only a caller allowed to bypass governance can). Because the bucket keeps
versions, a later upload under the same key would make a *new* version rather than replace the
original, and reads always ask for the version recorded at ``put`` time.

Every SDK and transport error is translated into :mod:`storage.errors` here, with ``from e``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE, GOVERNANCE
from minio.error import MinioException, S3Error
from minio.retention import Retention

from .base import CHUNK_SIZE, StoredObject, content_disposition, content_key, sha256_hex, verified_chunks, verify_digest
from .errors import ImmutableObject, ObjectNotFound, StorageError

#: user metadata (``x-amz-meta-sha256``) recording the SHA-256 of each object
_SHA256_META = "sha256"
#: S3 error codes that mean "no such object (version)"
_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchObject"})
#: S3 caps presigned URLs at 7 days
_MAX_PRESIGN_SECONDS = 7 * 24 * 3600
#: characters kept in the ASCII fallback ``filename=`` of Content-Disposition


@dataclass(frozen=True)
class MinioSettings:
    """How to reach the bucket and how long to lock what is written to it.

    :param endpoint: ``host:port`` of the S3 server.
    :param access_key: the access key.
    :param secret_key: the secret key.
    :param bucket: the bucket; created with Object Lock if it does not exist.
    :param secure: use HTTPS.
    :param region: the bucket's region; given explicitly so the SDK never has to look it up.
    :param retention_days: how many days each original stays locked after it is written.
    :param retention_mode: ``COMPLIANCE`` or ``GOVERNANCE``.
    """

    endpoint: str
    access_key: str
    #: kept out of repr(): settings end up in logs and tracebacks
    secret_key: str = field(repr=False)
    bucket: str
    secure: bool = True
    region: str = "us-east-1"
    retention_days: int = 3650
    retention_mode: str = COMPLIANCE


def _http_client() -> urllib3.PoolManager:
    # The SDK's default waits 5 minutes to connect and retries 5 times; a server that is down
    # must fail a request in seconds, not stall a web worker.
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5, read=60),
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        retries=urllib3.Retry(total=3, connect=1, read=1, backoff_factor=0.2,
                              status_forcelist=(500, 502, 503, 504)),
    )


def _header(metadata: Mapping[str, str] | None, name: str) -> str | None:
    """Case-insensitive lookup: the SDK hands back either a plain dict or an HTTPHeaderDict."""
    if not metadata:
        return None
    name = name.lower()
    for key, value in metadata.items():
        if key.lower() == name:
            return value
    return None


def _parse_date(value: str) -> datetime:
    """An ISO 8601 retain-until date; an unreadable one counts as already past."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    # S3 dates are UTC; a server that leaves the zone out still means UTC.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _translate(e: Exception, what: str) -> StorageError:
    if isinstance(e, S3Error):
        if e.code in _NOT_FOUND:
            return ObjectNotFound(what)
        return StorageError(f"{what}: S3 error {e.code}")
    return StorageError(f"{what}: {type(e).__name__}: {e}")


@contextmanager
def _boundary(what: str) -> Iterator[None]:
    """Translate SDK and transport errors raised inside the block into :mod:`storage.errors`."""
    try:
        yield
    except (MinioException, urllib3.exceptions.HTTPError) as e:
        raise _translate(e, what) from e


class MinioStore:
    """Originals in an Object Lock bucket on an S3 server (MinIO, SeaweedFS, AWS…).

    Build it with :meth:`from_settings`; the constructor takes a ready client so tests can
    hand in their own.
    """

    backend = "minio"

    def __init__(self, client: Minio, settings: MinioSettings,
                 http_client: urllib3.PoolManager | None = None) -> None:
        self.client = client
        self.settings = settings
        self.bucket = settings.bucket
        self._http = http_client

    @classmethod
    def from_settings(cls, settings: MinioSettings) -> MinioStore:
        """Connect, and make sure the bucket exists with Object Lock on.

        :raises StorageError: for invalid retention settings, a server that cannot be reached,
            or an existing bucket without Object Lock (its originals could not be locked).
        """
        if settings.retention_mode not in (COMPLIANCE, GOVERNANCE):
            raise StorageError(f"retention_mode must be {COMPLIANCE} or {GOVERNANCE}")
        if settings.retention_days < 1:
            raise StorageError("retention_days must be at least 1")
        http = _http_client()
        try:
            client = Minio(settings.endpoint, access_key=settings.access_key,
                           secret_key=settings.secret_key, secure=settings.secure,
                           region=settings.region, http_client=http)
        except ValueError as e:
            http.clear()
            raise StorageError(f"invalid S3 endpoint {settings.endpoint!r}") from e
        store = cls(client, settings, http)
        try:
            store._ensure_bucket()
        except BaseException:
            store.close()
            raise
        return store

    def _ensure_bucket(self) -> None:
        with _boundary(f"bucket {self.bucket}"):
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket, object_lock=True)
                except S3Error as e:
                    # Another process created it between the check and now.
                    if e.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            try:
                self.client.get_object_lock_config(self.bucket)
            except S3Error as e:
                if e.code == "ObjectLockConfigurationNotFoundError":
                    raise StorageError(f"bucket {self.bucket} exists without Object Lock") from e
                raise

    def close(self) -> None:
        """Close the pooled connections (the store can still be used; it reconnects)."""
        if self._http is not None:
            self._http.clear()

    def _retain_until(self) -> datetime:
        return datetime.now(UTC) + timedelta(days=self.settings.retention_days)

    def put(self, data: bytes, *, prefix: str = "originals",
            content_type: str = "application/octet-stream", unseen: bool = False) -> StoredObject:
        """Store ``data`` under its content key, locked until ``retention_days`` from now.

        If the newest version under the key already records the same SHA-256 and size, that
        version is returned and its retention extended if it would end sooner; otherwise a new
        version is written. With ``unseen`` the newest version is not looked up (one HEAD request
        less) and a new version is always written.

        :raises StorageError: if the server fails or refuses.
        """
        digest = sha256_hex(data)
        key = content_key(digest, prefix)
        until = self._retain_until()
        existing = None if unseen else self._existing(key, digest, len(data), until)
        if existing is not None:
            return existing
        with _boundary(f"cannot write object {key}"):
            result = self.client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type=content_type,
                metadata={_SHA256_META: digest},
                retention=Retention(self.settings.retention_mode, until),
            )
        return StoredObject(key=key, sha256=digest, size=len(data), version_id=result.version_id)

    def _existing(self, key: str, digest: str, size: int, until: datetime) -> StoredObject | None:
        with _boundary(f"cannot check object {key}"):
            try:
                stat = self.client.stat_object(self.bucket, key)
            except S3Error as e:
                if e.code in _NOT_FOUND:
                    return None
                raise
            if _header(stat.metadata, f"x-amz-meta-{_SHA256_META}") != digest or stat.size != size:
                return None
            # The same bytes may come back years later for another filing: the original must
            # then stay locked at least as long as a fresh upload would be.
            current = _header(stat.metadata, "x-amz-object-lock-retain-until-date")
            mode = _header(stat.metadata, "x-amz-object-lock-mode") or self.settings.retention_mode
            if current is None or _parse_date(current) < until:
                self.client.set_object_retention(self.bucket, key, Retention(mode, until),
                                                 version_id=stat.version_id)
        return StoredObject(key=key, sha256=digest, size=size, version_id=stat.version_id)

    def get(self, obj: StoredObject) -> bytes:
        """Read exactly ``obj.version_id`` (the newest version if it is ``None``) and check it.

        :raises ObjectNotFound: if that key or version is not there.
        :raises IntegrityError: if the bytes do not hash to ``obj.sha256``.
        """
        with _boundary(obj.key):
            response = self.client.get_object(self.bucket, obj.key, version_id=obj.version_id)
            try:
                data = response.read()
            finally:
                response.close()
                response.release_conn()
        return verify_digest(data, obj.sha256, obj.key)

    def iter_chunks(self, obj: StoredObject) -> Iterator[bytes]:
        """Stream ``obj``'s recorded version; :class:`IntegrityError` comes after the last chunk.

        :raises ObjectNotFound: at once, if that key or version is not there.
        """
        # A HEAD now, so a missing object fails here rather than at the first chunk; the body
        # is only requested when iteration starts, so an unused iterator leaks no connection.
        with _boundary(obj.key):
            self.client.stat_object(self.bucket, obj.key, version_id=obj.version_id)

        def chunks() -> Iterator[bytes]:
            with _boundary(obj.key):
                response = self.client.get_object(self.bucket, obj.key, version_id=obj.version_id)
                try:
                    yield from response.stream(CHUNK_SIZE)
                finally:
                    response.close()
                    response.release_conn()

        return verified_chunks(chunks(), obj.sha256, obj.key)

    def exists(self, key: str) -> bool:
        """Whether the newest version under ``key`` is an object (not missing or deleted)."""
        with _boundary(key):
            try:
                self.client.stat_object(self.bucket, key)
            except S3Error as e:
                if e.code in _NOT_FOUND:
                    return False
                raise
        return True

    def delete(self, obj: StoredObject) -> None:
        """Delete ``obj``'s version; the server refuses while its retention lasts.

        Without a ``version_id`` the newest version is deleted, never just hidden behind a
        delete marker.

        :raises ImmutableObject: if the server refuses (Object Lock retention or legal hold).
        :raises ObjectNotFound: if there is no object under the key.
        """
        with _boundary(obj.key):
            version_id = obj.version_id
            if version_id is None:
                version_id = self.client.stat_object(self.bucket, obj.key).version_id
            try:
                self.client.remove_object(self.bucket, obj.key, version_id=version_id)
            except S3Error as e:
                if e.code == "AccessDenied":
                    raise ImmutableObject(f"{obj.key} is locked by the server") from e
                raise

    def presigned_url(self, obj: StoredObject, *, filename: str, expires_seconds: int = 300,
                      ) -> str:
        """A presigned GET for ``obj``'s version that downloads as ``filename``.

        The URL carries the signature, not the secret; it is computed locally.

        :raises ValueError: unless ``1 <= expires_seconds <= 604800`` (S3's limit).
        """
        if not 1 <= expires_seconds <= _MAX_PRESIGN_SECONDS:
            raise ValueError("expires_seconds must be between 1 second and 7 days")
        with _boundary(obj.key):
            return self.client.presigned_get_object(
                self.bucket, obj.key, expires=timedelta(seconds=expires_seconds),
                response_headers={"response-content-disposition": content_disposition(filename)},
                version_id=obj.version_id,
            )
