"""Signing of PDFs (PAdES with pyHanko): bytes in, bytes out.

A leaf package: no Flask, no database. Identities come from PKCS#12 files or SAT e.firma pairs
(:mod:`firma.identity`), signatures and the institution's seal from :mod:`firma.pades`, a demo
PKI from :mod:`firma.pki`; every error is a :class:`FirmaError` with a Spanish message.

Importing the package applies the SAT fix (:mod:`firma.sat`) before any certificate is parsed.
"""

from . import sat as _sat  # noqa: F401  (must come first: patches asn1crypto for SAT certificates)
from .errors import (
    CertificateExpired,
    CertificateNotYetValid,
    CertificateRevoked,
    CertificateUntrusted,
    CsdNotEfirma,
    FirmaError,
    InvalidCredential,
    KeyMismatch,
    NotForSigning,
    RevocationUnknown,
    RfcMismatch,
    SealUnavailable,
    SigningFailed,
    TimestampFailed,
    WrongPassword,
)
from .identity import SigningIdentity, check_identity, identity_from_key, load_pkcs12, load_sat_pair
from .pades import InstitutionSeal, SignedPdf, sign_pdf
from .settings import LEVELS, Level, SigningSettings, TrustSettings, VisibleStamp, load_certificates
from .tsa import timestamp_digest

__all__ = [
    "LEVELS",
    "CertificateExpired",
    "CertificateNotYetValid",
    "CertificateRevoked",
    "CertificateUntrusted",
    "CsdNotEfirma",
    "FirmaError",
    "InstitutionSeal",
    "InvalidCredential",
    "KeyMismatch",
    "Level",
    "NotForSigning",
    "RevocationUnknown",
    "RfcMismatch",
    "SealUnavailable",
    "SignedPdf",
    "SigningFailed",
    "SigningIdentity",
    "SigningSettings",
    "TimestampFailed",
    "TrustSettings",
    "VisibleStamp",
    "WrongPassword",
    "check_identity",
    "identity_from_key",
    "load_certificates",
    "load_pkcs12",
    "load_sat_pair",
    "sign_pdf",
    "timestamp_digest",
]
