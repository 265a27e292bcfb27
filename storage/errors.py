"""Errors of the object store; backends wrap their SDK's exceptions in these with ``from e``."""

from __future__ import annotations


class StorageError(Exception):
    """Root of the storage errors: the store failed or refused."""


class ObjectNotFound(StorageError):
    """No object under that key (or that version)."""


class IntegrityError(StorageError):
    """The bytes read back do not hash to the SHA-256 recorded when they were stored."""


class ImmutableObject(StorageError):
    """A write-once object cannot be overwritten or deleted (retention / Object Lock)."""
