"""Signing identities: a certificate, its chain and its private key, loaded from bytes.

Two sources: a PKCS#12 file (``.p12``/``.pfx``) with its password, and a SAT e.firma pair (the
``.cer`` DER certificate and the ``.key`` encrypted PKCS#8 DER key with its password).
:func:`check_identity` applies the house policy before anything is signed.

The private key lives only inside the :class:`SigningIdentity` (out of its ``repr``) for as long
as the caller keeps the object; nothing here stores, logs or echoes a key or a password.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from asn1crypto import keys as akeys
from asn1crypto import x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator import errors as cv_errors

from .errors import (
    CertificateExpired,
    CertificateNotYetValid,
    CertificateRevoked,
    CertificateUntrusted,
    CsdNotEfirma,
    InvalidCredential,
    KeyMismatch,
    NotForSigning,
    RevocationUnknown,
    RfcMismatch,
    WrongPassword,
)
from .revocation import shared_fetchers
from .settings import TrustSettings

__all__ = ["SigningIdentity", "check_identity", "identity_from_key", "load_pkcs12", "load_sat_pair"]

#: Key usages that allow a document signature.
_SIGNING_USAGES = {"digital_signature", "non_repudiation"}


@dataclass(frozen=True)
class SigningIdentity:
    """Who signs: the certificate's public data, its chain, and the key (kept out of ``repr``).

    :ivar name: the subject's common name.
    :ivar rfc: the RFC in ``x500UniqueIdentifier`` (SAT); for a company, the company's RFC.
    :ivar curp: the CURP in ``serialNumber`` (SAT); for a company, its legal representative's.
    """

    name: str
    rfc: str | None
    curp: str | None
    organisation: str | None
    serial: int
    issuer: str
    not_before: datetime
    not_after: datetime
    certificate: x509.Certificate = field(repr=False, compare=False)
    chain: tuple[x509.Certificate, ...] = field(repr=False, compare=False)
    private_key: PrivateKeyTypes = field(repr=False, compare=False)

    @property
    def is_sat_style(self) -> bool:
        """True for certificates that carry the RFC like SAT's (``x500UniqueIdentifier``)."""
        return self.rfc is not None


def _split_sat_field(value: object) -> list[str]:
    """SAT writes "RFC / RFC of the representative" and " / CURP": keep the non-empty parts."""
    if not isinstance(value, str):
        return []
    return [part.strip() for part in value.split("/") if part.strip()]


def _first(value: object) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) and value.strip() else None


def _identity(cert: x509.Certificate, chain: tuple[x509.Certificate, ...], key: PrivateKeyTypes) -> SigningIdentity:
    subject = cert.subject.native
    rfcs = _split_sat_field(_first(subject.get("unique_identifier")))
    curps = _split_sat_field(_first(subject.get("serial_number")))
    validity = cert["tbs_certificate"]["validity"]
    return SigningIdentity(
        name=_first(subject.get("common_name")) or cert.subject.human_friendly,
        rfc=rfcs[0].upper() if rfcs else None,
        curp=curps[0].upper() if curps and len(curps[0]) == 18 else None,
        organisation=_first(subject.get("organization_name")),
        serial=int(cert.serial_number),
        issuer=_first(cert.issuer.native.get("common_name")) or cert.issuer.human_friendly,
        not_before=validity["not_before"].native.astimezone(UTC),
        not_after=validity["not_after"].native.astimezone(UTC),
        certificate=cert,
        chain=chain,
        private_key=key,
    )


def _to_asn1(cert: cx509.Certificate) -> x509.Certificate:
    return x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _check_key_matches(cert: x509.Certificate, key: PrivateKeyTypes) -> None:
    key_spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if key_spki != cert.public_key.dump():
        raise KeyMismatch()


def identity_from_key(
    cert: x509.Certificate, key: PrivateKeyTypes, chain: tuple[x509.Certificate, ...] = ()
) -> SigningIdentity:
    """Build an identity from objects already loaded (used by the institution seal and tests).

    :raises KeyMismatch: when the key is not the certificate's.
    """
    _check_key_matches(cert, key)
    return _identity(cert, chain, key)


def load_pkcs12(data: bytes, password: str) -> SigningIdentity:
    """Load a PKCS#12 file (``.p12``/``.pfx``).

    :raises WrongPassword: the password does not open the file (or the file is not PKCS#12).
    :raises InvalidCredential: the file holds no key or no certificate.
    :raises KeyMismatch: the key is not the certificate's.
    """
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode("utf-8"))
    except ValueError as e:
        raise WrongPassword(
            "La contraseña no abre el archivo PKCS#12 (.p12/.pfx), o el archivo no es válido."
        ) from e
    if key is None or cert is None:
        raise InvalidCredential("El archivo PKCS#12 no contiene una clave privada y su certificado.")
    asn1_cert = _to_asn1(cert)
    _check_key_matches(asn1_cert, key)
    chain = tuple(_to_asn1(c) for c in extra)
    return _identity(asn1_cert, chain, key)


def load_sat_pair(certificate: bytes, key: bytes, password: str) -> SigningIdentity:
    """Load a SAT e.firma pair: ``.cer`` (DER, PEM accepted too) and ``.key`` (encrypted PKCS#8 DER).

    :raises InvalidCredential: a file is not a certificate or an encrypted key.
    :raises WrongPassword: the password does not decrypt the key.
    :raises KeyMismatch: the key is not the certificate's.
    """
    try:
        cert = cx509.load_der_x509_certificate(certificate)
    except ValueError:
        try:
            cert = cx509.load_pem_x509_certificate(certificate)
        except ValueError as e:
            raise InvalidCredential("El archivo .cer no es un certificado X.509 válido.") from e
    # Tell a damaged or foreign .key file apart from a wrong password before decrypting.
    try:
        encrypted = akeys.EncryptedPrivateKeyInfo.load(key)
        _ = encrypted["encryption_algorithm"].native
    except (ValueError, TypeError) as e:
        raise InvalidCredential("El archivo .key no es una clave privada cifrada (PKCS#8 DER) válida.") from e
    try:
        private_key = serialization.load_der_private_key(key, password=password.encode("utf-8"))
    except (ValueError, TypeError) as e:
        raise WrongPassword() from e
    asn1_cert = _to_asn1(cert)
    _check_key_matches(asn1_cert, private_key)
    return _identity(asn1_cert, (), private_key)


def _key_usages(cert: x509.Certificate) -> set[str] | None:
    value = cert.key_usage_value
    return None if value is None else set(value.native)


def _is_csd(identity: SigningIdentity) -> bool:
    """A SAT CSD (invoicing seal) names a branch (OU) and has no e-mail/client EKU, unlike the e.firma."""
    if not identity.is_sat_style:
        return False
    subject = identity.certificate.subject.native
    if subject.get("organizational_unit_name"):
        return True
    eku = identity.certificate.extended_key_usage_value
    return eku is None or "email_protection" not in set(eku.native)


def _day(moment: datetime) -> str:
    return moment.strftime("%d/%m/%Y")


def check_identity(
    identity: SigningIdentity,
    *,
    expected_rfc: str | None,
    trust: TrustSettings | None = None,
    at: datetime | None = None,
) -> None:
    """Refuse an identity that may not sign, with a clear Spanish reason.

    In order: the key matches the certificate; it is an e.firma, not a CSD; its key usage allows
    signing; it is valid at ``at`` (now by default); its RFC is ``expected_rfc`` (when given); and,
    when ``trust`` has roots, it chains to them and is not revoked (OCSP/CRL where they can be had).

    :raises KeyMismatch, CsdNotEfirma, NotForSigning, CertificateExpired, CertificateNotYetValid,
        RfcMismatch, CertificateRevoked, CertificateUntrusted, RevocationUnknown:
    """
    moment = at or datetime.now(UTC)
    _check_key_matches(identity.certificate, identity.private_key)
    if _is_csd(identity):
        raise CsdNotEfirma()
    usages = _key_usages(identity.certificate)
    if usages is not None and not usages & _SIGNING_USAGES:
        raise NotForSigning()
    if moment < identity.not_before:
        raise CertificateNotYetValid(
            f"El certificado de la firma electrónica es válido a partir del {_day(identity.not_before)}."
        )
    if moment > identity.not_after:
        raise CertificateExpired(f"El certificado de la firma electrónica venció el {_day(identity.not_after)}.")
    if expected_rfc is not None:
        if identity.rfc is None:
            raise RfcMismatch("El certificado no contiene un RFC; no se puede comprobar que sea suyo.")
        if identity.rfc != expected_rfc.strip().upper():
            raise RfcMismatch(
                f"El RFC del certificado ({identity.rfc}) no coincide con el RFC registrado en su perfil."
            )
    if trust is not None and trust.roots:
        asyncio.run(_check_chain(identity, trust, None if at is None else moment))


async def _check_chain(identity: SigningIdentity, trust: TrustSettings, moment: datetime | None) -> None:
    context = ValidationContext(
        trust_roots=list(trust.roots),
        other_certs=[*trust.intermediates, *identity.chain],
        allow_fetching=trust.allow_fetching and moment is None,
        revocation_mode=trust.revocation_mode,
        moment=moment,
        fetchers=shared_fetchers(trust.timeout, trust.revocation_cache_seconds),
    )
    validator = CertificateValidator(identity.certificate, validation_context=context)
    try:
        await validator.async_validate_usage(set())  # type: ignore[no-untyped-call]
    except cv_errors.RevokedError as e:
        raise CertificateRevoked() from e
    except cv_errors.InsufficientRevinfoError as e:
        raise RevocationUnknown() from e
    except cv_errors.ExpiredError as e:
        raise CertificateExpired("Un certificado de la cadena de confianza está vencido.") from e
    except cv_errors.NotYetValidError as e:
        raise CertificateNotYetValid() from e
    except cv_errors.PathBuildingError as e:
        if trust.require_trusted:
            raise CertificateUntrusted() from e
    except cv_errors.PathValidationError as e:
        raise CertificateUntrusted(
            "El certificado no pudo validarse contra las autoridades certificadoras de confianza."
        ) from e
