"""The mail-room's error tree.

Every error a user can cause is an :class:`OficialiaError` subclass that carries its HTTP status
and a safe Spanish message; ``app.py`` registers one handler for the root, so no view needs its
own ``try``. Third-party exceptions are translated at the boundary with ``raise ... from e``.
"""

from __future__ import annotations

from typing import ClassVar


class OficialiaError(Exception):
    """Root of the mail-room errors.

    :param message: a safe message in Spanish, shown to the user as it is.
    """

    http_status: ClassVar[int] = 400
    #: stable machine-readable code for the JSON API
    code: ClassVar[str] = "error"
    default_message: ClassVar[str] = "No se pudo completar la solicitud."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidInput(OficialiaError):
    """A form or API field is missing or has a value we do not accept."""

    http_status = 422
    code = "invalid_input"
    default_message = "Los datos enviados no son válidos."

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RejectedFile(OficialiaError):
    """An uploaded file is not acceptable (type, size, pages, pixels, damage, encryption)."""

    http_status = 422
    code = "rejected_file"
    default_message = "El archivo no es válido."

    def __init__(self, message: str | None = None, *, filename: str | None = None) -> None:
        if filename and message:
            message = f"«{filename}»: {message}"
        super().__init__(message)
        self.filename = filename


class UnsupportedFileType(RejectedFile):
    """The file's content (by magic bytes) is not PDF, JPEG, PNG or TIFF."""

    http_status = 415
    code = "unsupported_file_type"
    default_message = "Tipo de archivo no admitido: solo se aceptan PDF, JPEG, PNG y TIFF."


class FileTooLarge(RejectedFile):
    """A file or the whole filing exceeds the configured size."""

    http_status = 413
    code = "file_too_large"
    default_message = "El archivo excede el tamaño máximo permitido."


class NotFound(OficialiaError):
    """Unknown, or not visible to the caller: both answer the same."""

    http_status = 404
    code = "not_found"
    default_message = "No se encontró lo solicitado."


class Forbidden(OficialiaError):
    """The caller is known but their role does not allow the action."""

    http_status = 403
    code = "forbidden"
    default_message = "No tiene permiso para realizar esta acción."


class Unauthorized(OficialiaError):
    """No valid session or token."""

    http_status = 401
    code = "unauthorized"
    default_message = "Debe iniciar sesión o enviar un token válido."


class TooManyAttempts(OficialiaError):
    """Login throttling: too many failed attempts for this account or address."""

    http_status = 429
    code = "too_many_attempts"
    default_message = "Demasiados intentos fallidos. Espere unos minutos e intente de nuevo."


class Conflict(OficialiaError):
    """The request conflicts with the current state (duplicate code, e-mail in use...)."""

    http_status = 409
    code = "conflict"
    default_message = "La solicitud entra en conflicto con el estado actual."


class StorageUnavailable(OficialiaError):
    """Object storage failed; nothing was recorded."""

    http_status = 503
    code = "storage_unavailable"
    default_message = (
        "El almacenamiento de documentos no está disponible. No se registró nada; "
        "intente de nuevo en unos minutos."
    )
