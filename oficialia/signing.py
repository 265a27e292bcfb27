"""The Flask side of signing: settings from the configuration, trust store, institution seal.

:mod:`firma` works on bytes and value objects; this module builds those from ``app.config``
(``OFICIALIA_TSA_URL``, ``OFICIALIA_SIGNING_LEVEL``, ``OFICIALIA_SEAL_*``,
``OFICIALIA_TRUST_DIR``) and keeps the institution's seal loaded once per process in
``app.extensions``. Defaults point at the demo PKI that ``flask --app app demo`` writes under
``<instance>/pki/``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from asn1crypto import x509
from flask import Flask, current_app

import firma

__all__ = [
    "get_seal",
    "pki_dir",
    "seal_configured",
    "seal_pdf",
    "signing_settings",
    "trust_dir",
    "trust_roots",
    "trust_settings",
    "verify_url",
]

_SEAL_KEY = "oficialia.seal"
_TRUST_KEY = "oficialia.trust"
_STORED_TRUST_KEY = "oficialia.trust.stored"
_LOCK = threading.Lock()
TRUST_SUFFIXES = {".pem", ".crt", ".cer", ".der"}


def pki_dir(app: Flask | None = None) -> Path:
    """``<instance>/pki``: where the demo PKI lives."""
    return Path((app or current_app).instance_path) / "pki"


def trust_dir(app: Flask | None = None) -> Path:
    """The folder of trusted CA certificates (PEM or DER), ``OFICIALIA_TRUST_DIR``."""
    app = app or current_app
    configured = str(app.config.get("TRUST_DIR") or "")
    return Path(configured) if configured else pki_dir(app) / "trust"


def _trust_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TRUST_SUFFIXES)


def trust_roots(app: Flask | None = None) -> tuple[tuple[x509.Certificate, ...], tuple[x509.Certificate, ...]]:
    """The trust store as ``(anchors, intermediates)``: self-signed certificates are anchors.

    Re-read when a file in the folder changes (``flask trust add``); cached otherwise.

    :raises firma.InvalidCredential: a file in the folder is not a certificate.
    """
    app = app or current_app
    files = _trust_files(trust_dir(app))
    stamp = tuple((str(p), p.stat().st_mtime_ns) for p in files)
    cached = app.extensions.get(_TRUST_KEY)
    if cached is not None and cached[0] == stamp:
        return cached[1]  # type: ignore[no-any-return]
    anchors: list[x509.Certificate] = []
    intermediates: list[x509.Certificate] = []
    for path in files:
        for cert in firma.load_certificates(path.read_bytes()):
            (anchors if cert.self_signed != "no" else intermediates).append(cert)
    result = (tuple(anchors), tuple(intermediates))
    app.extensions[_TRUST_KEY] = (stamp, result)
    return result


def _stored_trust(app: Flask) -> tuple[tuple[x509.Certificate, ...], tuple[x509.Certificate, ...]]:
    """The certificates admins trusted in the verifier's store (``/admin/confianza``, ``flask
    trust add``), parsed again only when the store changes."""
    from .db import db
    from .trust import trust_material

    material = trust_material(db.session)
    stamp = (material.roots, material.intermediates)
    cached = app.extensions.get(_STORED_TRUST_KEY)
    if cached is not None and cached[0] == stamp:
        return cached[1]  # type: ignore[no-any-return]
    result = (tuple(c for der in material.roots for c in firma.load_certificates(der)),
              tuple(c for der in material.intermediates for c in firma.load_certificates(der)))
    app.extensions[_STORED_TRUST_KEY] = (stamp, result)
    return result


def trust_settings(app: Flask | None = None) -> firma.TrustSettings:
    """Trust for the checks before signing, revocation checked where possible: the folder
    (``OFICIALIA_TRUST_DIR``) and the trust store that admins keep for the verifier, so that a CA
    trusted for verification is trusted for signing too."""
    app = app or current_app
    anchors, intermediates = trust_roots(app)
    stored_anchors, stored_intermediates = _stored_trust(app)
    return firma.TrustSettings(
        roots=_unique((*anchors, *stored_anchors)),
        intermediates=_unique((*intermediates, *stored_intermediates)),
        allow_fetching=bool(app.config.get("SIGNING_FETCH_REVOCATION", True)),
        timeout=float(app.config.get("SIGNING_TIMEOUT", 10)),
    )


def _unique(certs: tuple[x509.Certificate, ...]) -> tuple[x509.Certificate, ...]:
    return tuple({c.sha256: c for c in certs}.values())


def signing_settings(app: Flask | None = None) -> firma.SigningSettings:
    """The signing level and services: the highest level the configuration allows.

    B-T needs ``OFICIALIA_TSA_URL``; B-LT and B-LTA also need trust anchors. ``OFICIALIA_SIGNING_LEVEL``
    caps the level (``B-B``, ``B-T``, ``B-LT`` or ``B-LTA``).
    """
    app = app or current_app
    cap = str(app.config.get("SIGNING_LEVEL") or "").strip().upper() or None
    if cap is not None and cap not in firma.LEVELS:
        raise RuntimeError(f"OFICIALIA_SIGNING_LEVEL: use one of {', '.join(firma.LEVELS)}")
    return firma.SigningSettings(
        tsa_url=str(app.config.get("TSA_URL") or "") or None,
        trust=trust_settings(app),
        timeout=float(app.config.get("SIGNING_TIMEOUT", 10)),
        max_level=cap,
    )


def _seal_pkcs12_path(app: Flask) -> Path:
    configured = str(app.config.get("SEAL_PKCS12") or "")
    return Path(configured) if configured else pki_dir(app) / "seal.p12"


def _seal_password(app: Flask) -> str:
    configured = str(app.config.get("SEAL_PASSWORD") or "")
    if configured:
        return configured
    password_file = pki_dir(app) / "seal.password"
    return password_file.read_text().strip() if password_file.exists() else ""


def seal_configured(app: Flask | None = None) -> bool:
    """True when a seal is configured: a PKCS#11 module, or a PKCS#12 file that exists."""
    app = app or current_app
    return bool(app.config.get("SEAL_PKCS11_LIBRARY")) or _seal_pkcs12_path(app).is_file()


def _load_seal(app: Flask) -> firma.InstitutionSeal:
    library = str(app.config.get("SEAL_PKCS11_LIBRARY") or "")
    if library:
        chain = [*trust_roots(app)[1]]
        return firma.InstitutionSeal.from_pkcs11(
            library,
            str(app.config.get("SEAL_PKCS11_TOKEN") or ""),
            str(app.config.get("SEAL_PKCS11_PIN") or ""),
            str(app.config.get("SEAL_PKCS11_KEY_LABEL") or ""),
            str(app.config.get("SEAL_PKCS11_CERT_LABEL") or "") or None,
            chain=chain,
        )
    path = _seal_pkcs12_path(app)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise firma.SealUnavailable() from e
    try:
        return firma.InstitutionSeal.from_pkcs12(data, _seal_password(app))
    except firma.WrongPassword as e:
        raise firma.SealUnavailable(
            "El sello de la institución no se pudo abrir: revise OFICIALIA_SEAL_PASSWORD."
        ) from e


def get_seal(app: Flask | None = None) -> firma.InstitutionSeal:
    """The institution's seal, loaded once per process and kept in ``app.extensions``.

    :raises firma.SealUnavailable: no seal is configured, or it cannot be opened.
    """
    app = app or current_app
    seal: firma.InstitutionSeal | None = app.extensions.get(_SEAL_KEY)
    if seal is not None:
        return seal
    if not seal_configured(app):
        raise firma.SealUnavailable("No hay un sello electrónico de la institución configurado.")
    with _LOCK:
        seal = app.extensions.get(_SEAL_KEY)
        if seal is None:
            seal = _load_seal(app)
            app.extensions[_SEAL_KEY] = seal
    return seal


def verify_url(folio: str, app: Flask | None = None) -> str:
    """The public verifier's address for a folio (printed in QR codes)."""
    app = app or current_app
    return f"{str(app.config['PUBLIC_URL']).rstrip('/')}/verificar?{urlencode({'folio': folio})}"


def seal_pdf(pdf: bytes, *, folio: str, visible: bool = False, label: str | None = None) -> firma.SignedPdf:
    """Seal ``pdf`` with the institution's certificate at the configured level.

    :param folio: the filing's folio (in the visible stamp and its QR code).
    :param visible: draw the seal on the last page (the acuse carries its own QR and stays clean).
    :raises firma.SealUnavailable: no seal configured or it cannot be opened.
    :raises firma.FirmaError: signing failed (TSA down, damaged PDF...).
    """
    stamp = None
    if visible:
        extra: dict[str, Any] = {"label": label} if label else {"label": "Sello electrónico de la institución"}
        stamp = firma.VisibleStamp(folio=folio, verify_url=verify_url(folio), **extra)
    return get_seal().seal(pdf, settings=signing_settings(), stamp=stamp)
