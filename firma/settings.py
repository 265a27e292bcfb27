"""Value objects that configure signing: trust, signature level, visible stamp.

The Flask side builds these once from its configuration and hands them to :func:`firma.sign_pdf`
and :class:`firma.InstitutionSeal`; nothing here reads files or the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from asn1crypto import pem, x509

from .errors import InvalidCredential

__all__ = [
    "LEVELS",
    "Level",
    "SigningSettings",
    "TrustSettings",
    "VisibleStamp",
    "load_certificates",
]

Level = Literal["B-B", "B-T", "B-LT", "B-LTA"]
LEVELS: tuple[Level, ...] = ("B-B", "B-T", "B-LT", "B-LTA")


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Read one DER certificate or one or more PEM certificates.

    :raises InvalidCredential: when ``data`` holds no certificate.
    """
    try:
        if pem.detect(data):
            certs = [
                x509.Certificate.load(der) for kind, _headers, der in pem.unarmor(data, multiple=True)
                if kind == "CERTIFICATE"
            ]
        else:
            certs = [x509.Certificate.load(data)]
        for cert in certs:
            # Force the lazy parser now, so a broken file fails here and not while signing.
            _ = cert.subject.native, cert.public_key.native
    except (ValueError, TypeError, KeyError) as e:
        raise InvalidCredential("El archivo no contiene un certificado X.509 válido.") from e
    if not certs:
        raise InvalidCredential("El archivo no contiene un certificado X.509 válido.")
    return certs


@dataclass(frozen=True)
class TrustSettings:
    """Trust anchors and revocation policy for checking certificates before signing.

    :param roots: trust anchors (self-signed roots or pinned intermediates).
    :param intermediates: extra CA certificates to build paths with (not trusted by themselves).
    :param allow_fetching: fetch OCSP responses and CRLs over the network.
    :param revocation_mode: pyhanko-certvalidator's mode: ``soft-fail`` (the default: use revocation
        data when it can be had), ``hard-fail`` or ``require``.
    :param require_trusted: refuse certificates that do not chain to :attr:`roots`.
    :param timeout: seconds for each OCSP/CRL request.
    :param revocation_cache_seconds: reuse fetched OCSP responses and CRLs for this long (per
        thread; see :mod:`firma.revocation`); ``0`` fetches afresh every time.
    """

    roots: tuple[x509.Certificate, ...] = ()
    intermediates: tuple[x509.Certificate, ...] = ()
    allow_fetching: bool = True
    revocation_mode: str = "soft-fail"
    require_trusted: bool = False
    timeout: float = 10.0
    revocation_cache_seconds: float = 60.0


@dataclass(frozen=True)
class SigningSettings:
    """How far a signature goes along the PAdES baseline levels.

    * B-B: always;
    * B-T: with :attr:`tsa_url` (an RFC 3161 timestamp on the signature);
    * B-LT: with a TSA, trust roots and :attr:`embed_validation` (OCSP/CRL embedded in the DSS);
    * B-LTA: B-LT plus :attr:`archive_timestamp` (a document timestamp over everything).

    The highest level the configuration allows is used unless :attr:`max_level` caps it.
    """

    tsa_url: str | None = None
    trust: TrustSettings = field(default_factory=TrustSettings)
    embed_validation: bool = True
    archive_timestamp: bool = True
    timeout: float = 10.0
    max_level: Level | None = None
    md_algorithm: str = "sha256"

    @property
    def level(self) -> Level:
        """The PAdES baseline level a signature made with these settings reaches."""
        best: Level = "B-B"
        if self.tsa_url:
            best = "B-T"
            if self.embed_validation and self.trust.roots:
                best = "B-LT"
                if self.archive_timestamp:
                    best = "B-LTA"
        if self.max_level is not None and LEVELS.index(self.max_level) < LEVELS.index(best):
            return self.max_level
        return best


@dataclass(frozen=True)
class VisibleStamp:
    """The visible signature drawn on the last page of the document.

    The stamp shows the signer's name, RFC/CURP (from the certificate), the date and time of
    signing, the folio and a QR code pointing to :attr:`verify_url`.
    """

    folio: str
    verify_url: str
    label: str = "Documento firmado con firma electrónica avanzada"
