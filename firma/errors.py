"""The error tree of :mod:`firma`: one root, named causes, safe Spanish messages.

Every error carries an HTTP status and a message a person can read. Messages never contain a
password, a key or anything read from a private key file: at most the certificate's public data
(name, RFC, dates).
"""

from __future__ import annotations

import re
from typing import ClassVar

__all__ = [
    "CertificateExpired",
    "CertificateNotYetValid",
    "CertificateRevoked",
    "CertificateUntrusted",
    "CsdNotEfirma",
    "FirmaError",
    "InvalidCredential",
    "KeyMismatch",
    "NotForSigning",
    "RevocationUnknown",
    "RfcMismatch",
    "SealUnavailable",
    "SigningFailed",
    "TimestampFailed",
    "WrongPassword",
]


class FirmaError(Exception):
    """Root of the signing errors; ``message`` is safe to show to the user."""

    http_status: ClassVar[int] = 400
    default_message: ClassVar[str] = "No se pudo completar la firma electrónica."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    @property
    def code(self) -> str:
        """A stable machine-readable code: the class name in snake case (``wrong_password``)."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()


class InvalidCredential(FirmaError):
    """The uploaded file is not a certificate, key or PKCS#12 file we can read."""

    http_status = 400
    default_message = "El archivo de la firma electrónica no es válido (se esperaba un .cer, un .key o un .p12/.pfx)."


class WrongPassword(FirmaError):
    """The password does not open the private key."""

    http_status = 400
    default_message = "La contraseña de la clave privada es incorrecta."


class KeyMismatch(FirmaError):
    """The private key does not belong to the certificate."""

    http_status = 400
    default_message = "La clave privada (.key) no corresponde al certificado (.cer)."


class CertificateExpired(FirmaError):
    http_status = 400
    default_message = "El certificado de la firma electrónica está vencido."


class CertificateNotYetValid(FirmaError):
    http_status = 400
    default_message = "El certificado de la firma electrónica todavía no es válido."


class NotForSigning(FirmaError):
    """The key usage of the certificate does not allow signatures."""

    http_status = 400
    default_message = "El uso de clave del certificado no permite firmar documentos."


class CsdNotEfirma(FirmaError):
    """A SAT invoicing seal (CSD) was offered where an e.firma is required."""

    http_status = 400
    default_message = "Este certificado es un sello digital (CSD), no una e.firma."


class RfcMismatch(FirmaError):
    """The certificate belongs to someone else than the signer."""

    http_status = 403
    default_message = "El RFC del certificado no coincide con el RFC registrado en su perfil."


class CertificateRevoked(FirmaError):
    http_status = 400
    default_message = "El certificado de la firma electrónica está revocado."


class CertificateUntrusted(FirmaError):
    http_status = 400
    default_message = "El certificado no fue emitido por una autoridad certificadora de confianza."


class RevocationUnknown(FirmaError):
    """Revocation data was required but could not be obtained."""

    http_status = 503
    default_message = "No se pudo consultar si el certificado está revocado; intente más tarde."


class TimestampFailed(FirmaError):
    """The time-stamping authority did not answer or answered with an error."""

    http_status = 503
    default_message = "No se pudo obtener el sello de tiempo de la autoridad de sellado de tiempo (TSA)."


class SigningFailed(FirmaError):
    """pyHanko could not sign (damaged PDF, locked document, missing validation data...)."""

    http_status = 422
    default_message = "No se pudo firmar el documento PDF."


class SealUnavailable(FirmaError):
    """The institution's seal could not be loaded (file, token or PIN)."""

    http_status = 503
    default_message = "El sello electrónico de la institución no está disponible."
